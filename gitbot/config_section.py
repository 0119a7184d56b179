"""The base of every `config.yaml` section and the checks several sections share.

Called by gitbot/config.py, gitbot/config_git.py and gitbot/config_forge.py: a section refuses
unknown keys, is frozen and accepts its camelCase aliases; a URL never carries credentials in its
query string; a duration reads like `30s` or `1m30s`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gitbot.adapters.git_credentials import query_credentials
from gitbot.core.durations import parse_duration


# The base of every section: unknown keys refused, frozen, camelCase aliases accepted.
class StrictSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def no_query_credentials(url: str, instead: str) -> None:
    """Refuse `?access_token=…` and the like, naming the parameter, never its value."""
    names = query_credentials(url)
    if names:
        raise ValueError(
            f"must not carry credentials in its query string ({', '.join(names)}); {instead}"
        )


def check_duration(value: str, minimum: int) -> str:
    seconds = parse_duration(value)
    if seconds is None or seconds < minimum:
        raise ValueError(f"must be a duration such as 30s, 1m or 1m30s (at least {minimum}s)")
    return value
