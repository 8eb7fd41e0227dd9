"""Running a scenario on a lab that is up: each action in order, each `expect` checked
against the outcome of the last action (a run's steps and proofs, or a command's output),
scoped to where its evidence must appear; the scenario's report."""

from __future__ import annotations

import json
import os
import random
import shlex
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.config import state_dir
from ..core.console import table
from ..core.errors import RegenLabError
from ..core.executor import ExecResult
from ..core.files import write_private
from ..core.progress import Progress
from ..lab.lab import Lab, site_of
from ..ops import puppet
from ..procedure import faults
from ..procedure import steps as procedure
from ..procedure.proof import ProofResult
from ..procedure.proven import regenerate, roll_back
from ..procedure.report import Report
from ..procedure.runner import Step, StepResult, now
from ..procedure.steps import RunState
from .format import COMMAND_ACTIONS, RUN_ACTIONS, VERSION_RE, Action, Needle, Scenario  # noqa: F401

SEED_ENV = "REGENLAB_SEED"  # replays a scenario's random choices (the stop point of `stop_after: random`)


@dataclass
class Outcome:
    """What the last action did, for the next `expect`: a run's every step attempt and
    its proofs, or a command's output."""

    what: str
    passed: bool
    output: str = ""
    interrupted: bool = False
    failed_step: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    proofs: list[ProofResult] = field(default_factory=list)

    @property
    def proofs_failed(self) -> list[str]:
        return [p.name for p in self.proofs if not p.passed]

    def text_of(self, needle: Needle) -> str | None:
        """Where a needle must be found (None: that step or proof is not in this outcome)."""
        if needle.step:
            attempts = [s for s in self.steps if s.id == needle.step]
            return attempts[-1].detail if attempts else None
        if needle.proof:
            return next((p.evidence for p in self.proofs if p.name == needle.proof), None)
        return self.output


@dataclass(frozen=True)
class Held:
    """One expectation and whether it held, with its evidence."""

    line: int
    claim: str
    held: bool
    evidence: str


@dataclass
class ScenarioReport:
    scenario: str
    description: str
    lab: str
    started: str
    finished: str = ""
    actions: list[dict] = field(default_factory=list)
    expectations: list[Held] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    error: str = ""
    lab_healthy: bool = False  # the last action succeeded: the lab can serve another scenario
    seed: int = 0  # of its random choices (REGENLAB_SEED=N replays them)

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.expectations) and all(e.held for e in self.expectations)


def _from_report(what: str, report: Report) -> Outcome:
    return Outcome(what, report.passed, failed_step=report.failed_step, steps=list(report.steps),
                   proofs=list(report.proofs))


def _from_command(what: str, res: ExecResult, ok: tuple[int, ...] = (0,)) -> Outcome:
    return Outcome(what, res.exit_code in ok, output=f"exit {res.exit_code}\n{res.output}")


def _line_with(text: str, needle: str) -> str:
    """The line of ``text`` holding ``needle`` (case as written), cut around it; "" if none."""
    for line in text.splitlines():
        if needle in line:
            i = line.index(needle)
            return line[max(0, i - 150): i + len(needle) + 150].strip()
    return ""


def _errors(text: str) -> str:
    return " | ".join(line for line in text.splitlines() if "rror" in line or "fail" in line.lower())[-600:]


def _proof_names(wanted: list[str], last: Outcome) -> set[str]:
    """Proofs named by name or by their number in the run's list."""
    by_id = {p.id: p.name for p in last.proofs}
    return {by_id.get(w, f"#{w}") if w.isdigit() else w for w in wanted}


def _version_check(want: str, output: str) -> tuple[bool, str]:
    found = sorted(set(VERSION_RE.findall(output)))
    if len(found) != 1:
        return False, f"the output holds {len(found)} versions ({', '.join(found) or 'none'}), not one"
    have = [int(x) for x in found[0].split(".")]
    wanted = [int(x) for x in want.split(".")]
    return have[:len(wanted)] == wanted, f"version {found[0]}"


def check(expect: Action, last: Outcome) -> list[Held]:
    """Each field of an `expect` against the last outcome, with the evidence found."""
    out = []
    a = expect.args
    if "passed" in a:
        summary = "passed" if last.passed else \
            f"failed (step {last.failed_step or '-'}, proofs failed: {', '.join(last.proofs_failed) or '-'})"
        out.append(Held(expect.line, f"{last.what} {'passes' if a['passed'] else 'fails'}",
                        last.passed == a["passed"], summary))
    if "interrupted" in a:
        out.append(Held(expect.line, f"{last.what} is interrupted" if a["interrupted"] else "not interrupted",
                        last.interrupted == a["interrupted"], "interrupted" if last.interrupted else "ran to its end"))
    if "failed_step" in a:
        want = None if a["failed_step"] == "none" else a["failed_step"]
        out.append(Held(expect.line, f"step {want} fails" if want else "no step fails", last.failed_step == want,
                        f"failed step: {last.failed_step or 'none'}"))
    if "proofs_failed" in a:
        want = _proof_names(a["proofs_failed"], last)
        out.append(Held(expect.line, f"exactly these proofs fail: {', '.join(sorted(want)) or 'none'}",
                        want == set(last.proofs_failed), f"proofs failed: {', '.join(last.proofs_failed) or 'none'}"))
    if "version" in a:
        held, seen = _version_check(a["version"], last.output)
        out.append(Held(expect.line, f"the output's version is {a['version']}", held, seen))
    if "steps_done_once" in a:
        twice = sorted(i for i, n in Counter(s.id for s in last.steps if s.result == "done").items() if n > 1)
        held = not twice if a["steps_done_once"] else bool(twice)
        out.append(Held(expect.line, "no step is done twice", held,
                        f"done twice: {', '.join(twice)}" if twice else
                        f"{len(last.steps)} step records, each step done at most once"))
    for needle in a.get("evidence", []):
        text = last.text_of(needle)
        found = _line_with(text, needle.text) if text is not None else ""
        why = f"{needle.where} is not in this outcome" if text is None else \
            f"not found in {needle.where}; its errors: {_errors(text) or text[-300:]}"
        out.append(Held(expect.line, f"{needle.where} shows {needle.text!r}", bool(found), found or why))
    return out


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
        procedure.state_path(state_dir(), self.lab.name).unlink(missing_ok=True)
        try:
            for action in self.scenario.actions:
                t0 = time.monotonic()
                with self.progress.step(f"{self.scenario.name}: {action.describe()}"):
                    summary = self._do(action)
                self.report.actions.append({"line": action.line, "action": action.describe(), "result": summary,
                                            "seconds": round(time.monotonic() - t0, 1)})
        except RegenLabError as exc:
            self.report.error = str(exc)[:2000]
        self.report.lab_healthy = not self.report.error and self.last is not None and self.last.passed \
            and not self.moved
        self.report.finished = now()
        return self.report

    def _do(self, action: Action) -> str:
        kind, a = action.kind, action.args
        if kind == "expect":
            assert self.last is not None
            held = check(action, self.last)
            self.report.expectations.extend(held)
            return f"{sum(h.held for h in held)}/{len(held)} held"
        if kind in ("regen", "resume"):
            return self._regen(action)
        if kind == "rollback":
            return self._record(action.kind, roll_back(site_of(self.lab), state_dir(), self.progress))
        if kind == "move-master":
            self.lab.move_server(a["name"])
            self.moved = True
            return f"server answers as {a['name']}; `puppet` no longer resolves"
        node = self.lab.node(a["node"])
        if kind in ("stop-node", "start-node"):
            (self.lab.stop_node if kind == "stop-node" else self.lab.start_node)(node.name)
            return f"{node.name}: {self.lab.state(node)}"
        if kind == "run":
            res = node.executor.run(shlex.split(a["command"]), check=False, timeout=300)
            self.last = _from_command(f"`{a['command']}` on {node.name}", res)
        elif kind == "agent-run":
            res = puppet.agent_test(node.executor, check=False, clock=a.get("clock"))
            self.last = _from_command(f"`puppet agent -t` on {node.name}", res, ok=puppet.AGENT_RUN_OK)
        return f"exit {res.exit_code}"

    def _regen(self, action: Action) -> str:
        a = dict(action.args)
        options: dict = {"resume": action.kind == "resume"}
        if action.kind == "regen":
            options.update({k: a[k] for k in ("agents", "autosign", "reports_timeout", "server_name") if k in a})
            mode = "partial" if a.get("agents") else "full"
            steps = procedure.steps_for(mode, tuple(a.get("skip", ())), mcollective=self.lab.broker is not None)
            self.run_steps = faults.apply(steps, a.get("faults", {}))
            stop = a.get("stop_after")
            if stop == "random":  # any step, the last one included
                stop = self.random.choice([s.id for s in steps])
                self.progress.say(f"{self.scenario.name}: the run will be killed after step {stop} (random; "
                                  f"{SEED_ENV}={self.seed} replays it)")
            options["stop_after"] = stop
        if self.run_steps is not None:
            options["steps"] = self.run_steps
        try:
            result = regenerate(site_of(self.lab), state_dir(), self.progress, **options)
        except procedure.Interrupted as exc:
            state = RunState.load(procedure.state_path(state_dir(), self.lab.name))
            self.last = Outcome(action.kind, False, output=str(exc), interrupted=True, steps=list(state.steps))
            return str(exc)
        return self._record(action.kind, result)

    def _record(self, what: str, result: Report) -> str:
        if result.finished:
            self.run_steps = None  # the run is over: a later `regen` starts a new one
        self.report.reports.append(f"{result.lab}-{result.started}")
        self.last = _from_report(what, result)
        return "passed" if result.passed else f"failed at step {self.last.failed_step or '-'} / proofs " \
                                              f"{', '.join(self.last.proofs_failed) or '-'}"


# --- report ------------------------------------------------------------------------------

def summary(report: ScenarioReport) -> str:
    rows = [(f"line {e.line}", "HELD" if e.held else "NOT HELD", e.claim[:70], e.evidence[:110])
            for e in report.expectations]
    text = table(rows, ["where", "", "expectation", "evidence"]) if rows else "no expectation was checked"
    if report.error:
        text += f"\n\nthe scenario stopped: {report.error}"
    return f"{text}\n\nSCENARIO {report.scenario} {'PASSED' if report.passed else 'FAILED'}"


def write(report: ScenarioReport, root: Path) -> Path:
    path = root / "reports" / f"scenario-{report.scenario}-{report.started.replace(':', '').replace('.', '')}.json"
    return write_private(path, json.dumps(asdict(report) | {"passed": report.passed}, indent=2))
