"""The pure decision core: standard library only, no I/O, no clock, no logging.

Import-linter (pyproject.toml) keeps it that way.
"""
