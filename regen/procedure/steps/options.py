"""A run's options, made once where a run is asked for (the front, a job, a scenario) and
checked as they are made, before anything changes: the master's new name, the mode, the
agents, the import set (read whole on the site, once it is known: ``check_import``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import BadInput, CommandFailed
from ...ops import pki, rootca
from ..ids import Mode
from ..runner import Step
from ..site import Site

# used with fullmatch (`$` would let a final newline in)
DNS_NAME_RE = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def check_server_name(name: str | None, agents: list[str] | None) -> None:
    if not name:
        return
    if not DNS_NAME_RE.fullmatch(name):
        raise BadInput(f"--server-name {name!r} is not a DNS name (lower-case labels of letters, digits and '-', "
                       "separated by dots)")
    if agents:
        raise BadInput("--server-name goes with the whole procedure, not with --agents: "
                       "the master's cert is what carries its name")


def check_mode(mode: str, agents: list[str] | None, server_name: str | None, ca_import: str | None = None) -> None:
    if mode not in (Mode.FULL, Mode.EXTEND):
        raise BadInput(f"--mode {mode!r}: use full (every certificate anew) or extend (the CA's certificates "
                       "renewed with the same keys)")
    if mode == Mode.EXTEND and (agents or server_name or ca_import):
        raise BadInput("--mode extend renews the CA's own certificates and keeps every host's: "
                       "--agents, --server-name and --ca-import go with the full regeneration")
    if ca_import and agents:
        raise BadInput("--ca-import makes a new CA: it goes with the whole procedure, not with --agents")


def check_import(site: Site, folder: str) -> str:
    """The import set's folder, checked whole before anything changes; its root must not be
    the CA's root already (a new intermediate under the same root is not rehearsed: the
    proofs tell the old CA from the new by their roots)."""
    found = rootca.read_import(Path(folder))
    root = pki.root_of(pki.load_certs(found.bundle))
    try:
        current = pki.ca_fingerprint(site.ca.executor.read_file(site.ca.layout.cacert))
    except (CommandFailed, BadInput):
        current = ""  # the preflight names a CA that cannot be read
    if pki.fingerprint(root) == current:
        raise BadInput(f"--ca-import {folder}: its root ({pki.info(root).subject}) is the CA's root already; a new "
                       "intermediate under the same root is not supported yet: make the import set under a new root")
    return str(Path(folder).resolve())


@dataclass(frozen=True)
class RunOptions:
    """What a run is asked to do (``regen.run``'s options), checked as it is made."""

    agents: tuple[str, ...] = ()  # the agents to re-enroll (a partial run); (): every host, the whole procedure
    autosign: bool = False  # the CA signs every request itself (else the run signs exactly its hosts')
    resume: bool = False  # go on with the unfinished run of the state file
    skip: tuple[str, ...] = ()  # steps left out
    stop_after: str | None = None  # stop (``Interrupted``) once this step is done: a test's hook
    server_name: str = ""  # the master moved: its new cert carries this name and every host uses it
    mode: str = Mode.FULL  # full (every certificate anew; partial with ``agents``) or extend
    ca_import: str = ""  # the import set's folder: the new CA an intermediate under an external root
    check: bool = True  # the preflight before a new run (a resume has none: its site is mid-run)
    reports_timeout: float | None = None  # step 3.w's wait; None: 300 s and 3 s per agent
    steps: tuple[Step, ...] | None = None  # the steps themselves (a scenario's, with faults); None: the plan's
    redo: tuple[str, ...] = ()  # with resume: these steps run again (an operator's fix), the run finished or not

    def __post_init__(self) -> None:
        object.__setattr__(self, "agents", tuple(self.agents))
        object.__setattr__(self, "skip", tuple(self.skip))
        object.__setattr__(self, "redo", tuple(self.redo))
        if self.redo and not self.resume:
            raise BadInput("--redo goes with --resume: it runs steps of the last run again")
        if set(self.redo) & set(self.skip):
            raise BadInput(f"--redo and --skip both name {', '.join(sorted(set(self.redo) & set(self.skip)))}")
        check_server_name(self.server_name or None, list(self.agents) or None)
        check_mode(self.mode, list(self.agents) or None, self.server_name or None, self.ca_import or None)
        object.__setattr__(self, "mode", Mode(self.mode))

    @property
    def run_mode(self) -> Mode:
        """The mode of the run's state: partial when it names agents."""
        return Mode.PARTIAL if self.agents else Mode(self.mode)
