"""Named errors. Each message says what is wrong and what to do; the CLI prints it as one
line and exits with the error's ``exit_code``:

    0 passed, 1 a proof failed, 2 a usage mistake, 3 the lab or the engine is not in a state
    to proceed, 4 a run failed and can be resumed or rolled back.
"""

from __future__ import annotations

EXIT_PASSED, EXIT_PROOF_FAILED, EXIT_USAGE, EXIT_NOT_READY, EXIT_RUN_FAILED = 0, 1, 2, 3, 4


class RegenLabError(Exception):
    """Base of every error that is meant for the user (no traceback)."""

    exit_code = EXIT_NOT_READY


class BadInput(RegenLabError, ValueError):
    """An argument or a file given by the user is wrong."""

    exit_code = EXIT_USAGE


class EngineUnavailable(RegenLabError):
    """No Docker daemon answers and none can be started here."""


class LabNotFound(RegenLabError):
    """No container carries this lab's label."""


class LabExists(RegenLabError):
    """A lab with this name is already up."""


class Locked(RegenLabError):
    """Another command holds this lab (its pid, command and since when are in the message)."""


class NodeNotFound(RegenLabError):
    """The lab has no node of this name."""

    exit_code = EXIT_USAGE


class ImageBuildFailed(RegenLabError):
    """``docker build`` (or the debootstrap of the base) failed."""


class CommandFailed(RegenLabError):
    """A command run on a node exited with an unexpected status (inside a run: resumable)."""

    exit_code = EXIT_RUN_FAILED

    def __init__(self, node: str, argv: list[str], exit_code: int, output: str) -> None:
        self.node = node
        self.argv = list(argv)
        self.exit_code = exit_code
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(f"{node}: `{' '.join(argv)}` exited {exit_code}" + (f":\n{tail}" if tail else ""))


class HostsFailed(RegenLabError):
    """The work done on several hosts side by side failed on more than one: each host's own
    error, quoted in turn (an operator fixes each on its own host)."""

    PER_HOST = 600  # characters of each host's error (its first line names the host)

    def __init__(self, errors: list[RegenLabError]) -> None:
        self.errors = list(errors)
        self.exit_code = type(self.errors[0]).exit_code  # what the CLI exits with, not a command's own code

        def quoted(exc: RegenLabError) -> str:
            text = str(exc)
            if len(text) <= self.PER_HOST:
                return text
            head, _, rest = text.partition("\n")  # the host and its command, then the end of its output
            return f"{head}\n...{rest[-(self.PER_HOST - len(head)):]}"

        super().__init__(f"{len(self.errors)} hosts failed:\n" + "\n".join(f"- {quoted(e)}" for e in self.errors))


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
