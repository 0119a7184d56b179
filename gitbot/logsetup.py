"""Logging for the command line and the daemon; called once by the CLI (gitbot/cli.py).

Commands are quiet by default: warnings and their results only; `-v` adds progress (INFO) and
`-vv` debug. The daemon (`gitbot run`) logs progress by default, as JSON lines (one object per
event: time, level, logger, message) when stderr is not a terminal, plain text on one.
APScheduler's per-job lines ("Running job ...", "executed successfully") are silenced below
`-vv`, and so is its warning that a job was skipped because the previous run still goes on
(by design: one worker, `max_instances=1`, a long tick makes the next cycles skip).
Secrets are masked in every line: the userinfo of URLs, and the values of environment variables
that hold secrets (GITBOT_SECRET_*, *TOKEN*, *PASSWORD*, *WEBHOOK*, ... and those the
config names).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

_SECRET_NAME = re.compile(r"^GITBOT_SECRET_|TOKEN|PASSWORD|PASSWD|SECRET|WEBHOOK|API_?KEY",
                          re.IGNORECASE)
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_MASK = "***"
_extra_names: set[str] = set()


def mask_env(names: Iterable[str]) -> None:
    """Also mask the values of these environment variables (named by the config)."""
    _extra_names.update(n for n in names if n)


def mask(text: str) -> str:
    """`text` with URL userinfo and secret environment values replaced by ***."""
    text = _USERINFO.sub(lambda m: m["scheme"] + _MASK + "@", text)
    for name, value in os.environ.items():
        if len(value) >= 6 and (name in _extra_names or _SECRET_NAME.search(name)):
            text = text.replace(value, _MASK)
    return text


class PlainFormatter(logging.Formatter):
    """`warning: message` for commands; with time and logger for the daemon."""

    def __init__(self, daemon: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s" if daemon else None)
        self.daemon = daemon

    def format(self, record: logging.LogRecord) -> str:
        if self.daemon:
            return mask(super().format(record))
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.levelno in (logging.DEBUG, logging.ERROR, logging.CRITICAL):
            text += "\n" + self.formatException(record.exc_info)
        return mask(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and error, when one)."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        if record.exc_info:
            event["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(event, ensure_ascii=False)


def setup(verbose: int, *, daemon: bool = False, stream: TextIO | None = None) -> None:
    """Configure the root logger for this process (replaces any handler already there)."""
    if verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1 or daemon:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler: logging.StreamHandler[TextIO] = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler())
    json_lines = daemon and not _isatty(handler.stream)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter(daemon))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    chatter = logging.DEBUG if verbose >= 2 else logging.WARNING
    for name in ("apscheduler", "urllib3", "git", "github"):
        logging.getLogger(name).setLevel(chatter)
    # "Execution of job ... skipped: maximum number of running instances reached" (a WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(
        logging.DEBUG if verbose >= 2 else logging.ERROR)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each event (tests swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        return


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
