"""The front's command lines, for messages that tell a user what to run next. One place: a
front of another name (a `regenlab` command) changes them here only."""

from __future__ import annotations

PROGRAM = "invoke"


def command(task: str, *args: str, **options: str) -> str:
    """`invoke TASK --OPTION VALUE ... ARGS`, quoted as the messages show it."""
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in options.items()]
    return "`" + " ".join([PROGRAM, task, *flags, *args]) + "`"
