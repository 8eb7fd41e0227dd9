"""Running a scenario on a lab that is up: each action in order, each `expect` checked
against the outcome of the last action (a run's steps and proofs, or a command's output),
scoped to where its evidence must appear; the scenario's report."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core import junit as junit_xml
from ..core.config import state_dir
from ..core.console import clip, table
from ..core.errors import RegenLabError
from ..core.files import write_private
from ..core.progress import Progress
from ..lab.lab import Lab
from ..procedure import report as report_of
from ..procedure.report import Report
from ..procedure.runner import Step, now, state_path
from .actions import KINDS, SEED_ENV, describe
from .model import Scenario
from .outcome import Held, Outcome, from_report


@dataclass(frozen=True)
class ActionDone:
    """One action as the scenario's report lists it: its line, how it reads, what it gave."""

    line: int
    action: str
    result: str
    seconds: float


@dataclass
class ScenarioReport:
    scenario: str
    description: str
    lab: str
    started: str
    finished: str = ""
    actions: list[ActionDone] = field(default_factory=list)
    expectations: list[Held] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    error: str = ""
    lab_healthy: bool = False  # the last action succeeded: the lab can serve another scenario
    seed: int = 0  # of its random choices (REGENLAB_SEED=N replays them)
    remedies: list[dict] = field(default_factory=list)  # each finished run: its cost and what it leaves

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.expectations) and all(e.held for e in self.expectations)


class Runner:
    """Runs a scenario's actions on a lab that is up (made for its topology)."""

    def __init__(self, scenario: Scenario, lab: Lab, progress: Progress, seed: int | None = None) -> None:
        self.scenario, self.lab, self.progress = scenario, lab, progress
        if seed is None:
            seed = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(1_000_000))
        self.seed = seed
        self.random = random.Random(seed)
        self.report = ScenarioReport(scenario.name, scenario.description, lab.name, now(), seed=seed)
        self.last: Outcome | None = None
        self.moved = False  # the master moved: the lab cannot serve a scenario that expects `puppet`
        # the steps of the run under way, faults and skips included: a resume goes on with
        # them (an operator's mistake stays in force unless a fix of the scenario undid it)
        self.run_steps: tuple[Step, ...] | None = None

    def run(self) -> ScenarioReport:
        state_path(state_dir(), self.lab.name).unlink(missing_ok=True)
        try:
            for action in self.scenario.actions:
                t0 = time.monotonic()
                text = describe(action)
                with self.progress.step(f"{self.scenario.name}: {text}"):
                    summary = KINDS[action.kind].run(self, action)
                self.report.actions.append(ActionDone(action.line, text, summary, round(time.monotonic() - t0, 1)))
        except RegenLabError as exc:
            self.report.error = str(exc)[:2000]
        self.report.lab_healthy = not self.report.error and self.last is not None and self.last.passed \
            and not self.moved
        self.report.finished = now()
        return self.report

    def record(self, what: str, result: Report) -> str:
        """A run's report is the outcome the next `expect` checks."""
        if result.finished:
            self.run_steps = None  # the run is over: a later `regen` starts a new one
            if result.mode != "rollback":
                self.report.remedies.append(report_of.remedy(result))
        self.report.reports.append(f"{result.lab}-{result.started}")
        self.last = from_report(what, result)
        return "passed" if result.passed else f"failed at step {self.last.failed_step or '-'} / proofs " \
                                              f"{', '.join(self.last.proofs_failed) or '-'}"


# --- report ------------------------------------------------------------------------------

def summary(report: ScenarioReport) -> str:
    rows = [(f"line {e.line}", "HELD" if e.held else "NOT HELD", clip(e.claim, 70), clip(e.evidence, 110))
            for e in report.expectations]
    text = table(rows, ["where", "verdict", "expectation", "evidence"]) if rows else "no expectation was checked"
    if len({r["remedy"] for r in report.remedies}) > 1:  # both remedies rehearsed: side by side
        text += "\n\nthe remedies compared:\n" + report_of.comparison(report.remedies)
    if report.error:
        text += f"\n\nthe scenario stopped: {report.error}"
    return f"{text}\n\nSCENARIO {report.scenario} {'PASSED' if report.passed else 'FAILED'}"


def write(report: ScenarioReport, root: Path) -> Path:
    path = root / "reports" / f"scenario-{report.scenario}-{report.started.replace(':', '').replace('.', '')}.json"
    return write_private(path, json.dumps(asdict(report) | {"passed": report.passed}, indent=2))


def junit(report: ScenarioReport) -> junit_xml.Suite:
    """The scenario as a JUnit test suite: each expectation a test case (not held: its
    evidence), and one more if the scenario stopped before its end."""
    cases = [junit_xml.Case(f"line {e.line}: {e.claim}", f"regenlab.scenario.{report.scenario}",
                            failure="" if e.held else (e.evidence or "not held"), message=e.claim, output=e.evidence)
             for e in report.expectations]
    if report.error:
        cases.append(junit_xml.Case("the scenario ran to its end", f"regenlab.scenario.{report.scenario}",
                                    error=report.error, message="the scenario stopped"))
    seconds = sum(a.seconds for a in report.actions)
    return junit_xml.Suite(f"scenario {report.scenario}", report.started, cases, round(seconds, 3),
                           {"lab": report.lab, "seed": str(report.seed)})
