"""gitbot: progressive delivery where Git is the only writer to the cluster."""

__version__ = "0.1.0"
