"""Global options after the command, as kubectl accepts them: `gitbot validate --config c.yaml`,
`gitbot reconcile -v` mean what `gitbot --config c.yaml validate` and `gitbot -v reconcile` mean.

Called by gitbot/cli.py (`KubectlGroup.parse_args`): before click parses, the group's own options
found after the command name (`--config PATH`, `--config=PATH`, `-v`/`-vv`, `--verbose`) are moved
in front of it. A value of one of the command's own options is never taken for one (`validate
--path -v` keeps `-v` as the path), nor is anything after `--`. `-o/--output` stays where it is:
`status` declares it itself.
"""

from __future__ import annotations

import re

import click

_VERBOSE = re.compile(r"-v+")
_VALUED = ("--config", "-o", "--output")  # the group's options that take a value


def _command_at(args: list[str]) -> int:
    """Index of the command name in `args` (after the group's options), or len(args)."""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--" or not word.startswith("-"):
            return i
        i += 2 if word in _VALUED else 1
    return len(args)


def _valued_options(command: click.Command | None) -> set[str]:
    """The command's own options that take a value (their next word is never hoisted)."""
    if command is None:
        return set()
    return {opt for param in command.params if isinstance(param, click.Option)
            and not param.is_flag and not param.count for opt in param.opts}


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """`args` with the group's options that follow the command moved in front of it."""
    at = _command_at(args)
    if at >= len(args) or args[at] == "--":
        return args
    valued = _valued_options(group.get_command(ctx, args[at]))
    hoisted: list[str] = []
    rest: list[str] = []
    words = iter(args[at + 1:])
    for word in words:
        if word == "--":
            rest += [word, *words]
            break
        value = next(words, None) if word == "--config" or word in valued else None
        if word == "--config" and value is not None:
            hoisted += [word, value]
        elif word.startswith("--config=") or word == "--verbose" or _VERBOSE.fullmatch(word):
            hoisted.append(word)
        else:  # a missing value is left for click to report
            rest += [word] if value is None else [word, value]
    return args[:at] + hoisted + [args[at]] + rest


class KubectlGroup(click.Group):
    """A click group whose own options may also follow the command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))
