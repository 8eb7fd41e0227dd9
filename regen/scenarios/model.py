"""A scenario as data: its actions, what an expectation looks for, the scenario itself, and
the scenario itself. The format (``format``) reads files into these; the actions
(``actions``, with the ``Stage`` they play on) and the runner (``runner``, one such stage)
use them, so no module of the folder needs one that needs it back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.config import SUITE_OF_PUPPET
from ..lab.spec import LabSpec
from ..procedure import rollback
from ..procedure.steps.plan import EXTEND, FULL, PARTIAL
from ..sites import format as sites

PUPPET_VERSIONS = SUITE_OF_PUPPET
DEFAULT_AGENTS, DEFAULT_PUPPET = 3, 7
DEFAULT_TOPOLOGY = (DEFAULT_AGENTS, PUPPET_VERSIONS[DEFAULT_PUPPET], PUPPET_VERSIONS[DEFAULT_PUPPET])

# The steps a scenario may name, from the procedure's own tables: a run's (every mode's) steps
# can be skipped, redone or broken; an expectation may quote those and a rollback's steps too.
RUN_STEP_IDS = frozenset(s.id for s in (*FULL, *PARTIAL, *EXTEND))
STEP_IDS = RUN_STEP_IDS | {s.id for s in rollback.STEPS}


@dataclass(frozen=True)
class Action:
    kind: str
    args: dict
    line: int


@dataclass(frozen=True)
class Needle:
    """A text an expectation must find, and where: in one step's detail (its latest
    attempt), in one proof's evidence, or ("" for both) in a command's output."""

    text: str
    step: str = ""
    proof: str = ""

    @property
    def where(self) -> str:
        return f"step {self.step}" if self.step else f"proof {self.proof}" if self.proof else "the output"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    agents: int
    puppet: int
    actions: tuple[Action, ...]
    fix: str = ""
    agent_puppet: int = 0  # the agents' Puppet version when not the server's (a mixed fleet)
    site: sites.SiteSpec | None = None  # the lab in a site file's shape (its names, roles, versions)

    @property
    def summary(self) -> str:
        return self.description.strip().splitlines()[0]

    @property
    def suite(self) -> str:
        return PUPPET_VERSIONS[self.puppet]

    @property
    def agent_suite(self) -> str:
        return PUPPET_VERSIONS[self.agent_puppet or self.puppet]

    @property
    def topology(self) -> tuple:
        """What decides the lab a scenario runs on: scenarios of one topology can share a lab."""
        if self.site is not None:
            return ("site", str(self.site.path))
        return (self.agents, self.suite, self.agent_suite)

    def lab_spec(self, name: str) -> LabSpec:
        if self.site is not None:
            return LabSpec.of_site(self.site, name)
        return LabSpec.parse(name, self.agents, suite=self.suite, agent_suite=self.agent_suite)

    @property
    def leaves_lab_broken(self) -> bool:
        """As written: its last action is meant to fail, or the master moves (a hint for
        ordering; whether a lab is reused is decided by what really happened)."""
        last = [a for a in self.actions if a.kind == "expect"][-1]
        return last.args.get("passed") is False or any(a.kind == "move-master" for a in self.actions)

