"""Named errors. Each message says what is wrong and what to do; the CLI prints it as one line."""

from __future__ import annotations


class RegenLabError(Exception):
    """Base of every error that is meant for the user (no traceback)."""


class BadInput(RegenLabError, ValueError):
    """An argument or a file given by the user is wrong."""


class EngineUnavailable(RegenLabError):
    """No Docker daemon answers and none can be started here."""


class LabNotFound(RegenLabError):
    """No container carries this lab's label."""


class LabExists(RegenLabError):
    """A lab with this name is already up."""


class NodeNotFound(RegenLabError):
    """The lab has no node of this name."""


class ImageBuildFailed(RegenLabError):
    """``docker build`` (or the debootstrap of the base) failed."""


class CommandFailed(RegenLabError):
    """A command run on a node exited with an unexpected status."""

    def __init__(self, node: str, argv: list[str], exit_code: int, output: str) -> None:
        self.node = node
        self.argv = list(argv)
        self.exit_code = exit_code
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(f"{node}: `{' '.join(argv)}` exited {exit_code}" + (f":\n{tail}" if tail else ""))


class NotReady(RegenLabError):
    """A node or service did not become ready in time; carries the service's own log."""

    def __init__(self, what: str, waited: float, log: str = "") -> None:
        self.what = what
        self.waited = waited
        self.log = log
        msg = f"{what} not ready after {waited:.0f}s"
        if log:
            msg += "; its log ends with:\n" + "\n".join(log.rstrip().splitlines()[-30:])
        super().__init__(msg)
