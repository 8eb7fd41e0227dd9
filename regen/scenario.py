"""Scenarios: declarative rehearsals (``scenarios/*.yaml``), each a lab topology, a sequence
of actions (Molecule's idea: the lab is created, faults are injected, the procedure runs,
fixes are applied, expectations are checked) and what must be observed, with evidence.

A file is validated whole before anything runs: a mistake is reported with the file, the
line and the field. See ``scenarios/README.md`` for the format."""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import engine, faults, procedure, proof, rollback
from .config import ROOT, state_dir
from .console import table
from .errors import BadInput, RegenLabError
from .executor import ExecResult
from .lab import MAX_AGENTS, Lab, LabSpec, remove, up
from .procedure import Step, now
from .progress import Progress
from .proof import ProofResult
from .rehearsal import regenerate, roll_back
from .report import Report

SCENARIOS_DIR = ROOT / "scenarios"
SEED_ENV = "REGENLAB_SEED"  # replays a scenario's random choices (the stop point of `stop_after: random`)
PUPPET_VERSIONS = {7: "bookworm", 8: "trixie"}  # the Debian suite that ships each
DEFAULT_AGENTS, DEFAULT_PUPPET = 3, 7
DEFAULT_TOPOLOGY = (DEFAULT_AGENTS, PUPPET_VERSIONS[DEFAULT_PUPPET], PUPPET_VERSIONS[DEFAULT_PUPPET])
NODES = ("server", "puppetdb", "postgres", "broker")


# --- the format --------------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    kind: str
    args: dict
    line: int

    def describe(self) -> str:
        if self.kind == "regen":
            opts = ", ".join(f"{k}={v}" for k, v in self.args.items())
            return f"regen ({opts})" if opts else "regen (the whole procedure)"
        if self.kind == "run":
            return f"on {self.args['node']}: `{self.args['command']}`"
        if self.kind == "agent-run":
            clock = f" with its clock at {self.args['clock']}" if self.args.get("clock") else ""
            return f"`puppet agent -t` on {self.args['node']}{clock}"
        if self.kind == "move-master":
            return f"the master moves: known as {self.args['name']} instead of puppet"
        if self.kind in ("stop-node", "start-node"):
            return f"{self.args['node']}'s container {'stopped' if self.kind == 'stop-node' else 'started'}"
        if self.kind == "expect":
            return "expect " + ", ".join(f"{k}={v}" for k, v in self.args.items() if k != "evidence") + \
                "".join(f", {n.where} shows {n.text!r}" for n in self.args.get("evidence", ()))
        return self.kind


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
    def topology(self) -> tuple[int, str, str]:
        """What decides the lab a scenario runs on: scenarios of one topology can share a lab."""
        return (self.agents, self.suite, self.agent_suite)

    def lab_spec(self, name: str) -> LabSpec:
        return LabSpec.parse(name, self.agents, suite=self.suite, agent_suite=self.agent_suite)

    @property
    def leaves_lab_broken(self) -> bool:
        """As written: its last action is meant to fail, or the master moves (a hint for
        ordering; whether a lab is reused is decided by what really happened)."""
        last = [a for a in self.actions if a.kind == "expect"][-1]
        return last.args.get("passed") is False or any(a.kind == "move-master" for a in self.actions)


class _Checker:
    """Walks a composed YAML document; every error names the file, line and field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, where: str, msg: str) -> BadInput:
        line = node.start_mark.line + 1 if node is not None else 1
        return BadInput(f"{self.path}:{line}: {where}: {msg}")

    def mapping(self, node: yaml.Node, where: str, allowed: dict[str, bool]) -> dict[str, yaml.Node]:
        """A mapping with only ``allowed`` keys (True: required)."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "must be a mapping (key: value lines)")
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value
            if key not in allowed:
                raise self.fail(key_node, f"{where}.{key}" if where else key,
                                f"unknown field; allowed: {', '.join(allowed)}")
            if key in out:
                raise self.fail(key_node, f"{where}.{key}" if where else key, "given twice")
            out[key] = value
        missing = [k for k, req in allowed.items() if req and k not in out]
        if missing:
            raise self.fail(node, where or "scenario", f"missing field {missing[0]!r}")
        return out

    def scalar(self, node: yaml.Node, where: str, kind: type):
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, where, f"must be a {kind.__name__}")
        value = yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value
        if kind is str:
            return str(value)
        if kind is bool and not isinstance(value, bool):
            raise self.fail(node, where, f"must be true or false, not {node.value!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(node, where, f"must be a whole number, not {node.value!r}")
        return value

    def str_list(self, node: yaml.Node, where: str) -> list[str]:
        if isinstance(node, yaml.ScalarNode):
            return [self.scalar(node, where, str)]
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "must be a string or a list of strings")
        return [self.scalar(item, f"{where}[{i}]", str) for i, item in enumerate(node.value)]


ACTION_FIELDS: dict[str, dict[str, bool]] = {
    "regen": {"agents": False, "autosign": False, "skip": False, "stop_after": False, "faults": False,
              "reports_timeout": False, "server_name": False},
    "resume": {},
    "rollback": {},
    "run": {"node": True, "command": True},
    "agent-run": {"node": True, "clock": False},
    "stop-node": {"node": True},
    "move-master": {"name": True},
    "start-node": {"node": True},
    "expect": {"passed": False, "interrupted": False, "failed_step": False, "evidence": False,
               "proofs_failed": False, "version": False, "steps_done_once": False},
}
RUN_ACTIONS = ("regen", "resume", "rollback")  # their outcome is a run: steps and proofs
COMMAND_ACTIONS = ("run", "agent-run")  # their outcome is a command's output
VERSION_RE = re.compile(r"(?<![\d.])\d+(?:\.\d+)+(?![\d.])")


def step_ids() -> set[str]:
    return {s.id for s in (*procedure.FULL, *procedure.PARTIAL, *rollback.STEPS)}


def load(path: Path) -> Scenario:
    """Read and validate one scenario file; raise BadInput naming the file, line and field."""
    check = _Checker(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise BadInput(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise BadInput(f"{path}:1: the file is empty")
    top = check.mapping(root, "", {"name": True, "description": True, "lab": False, "sequence": True, "fix": False})
    name = check.scalar(top["name"], "name", str)
    if name != path.stem:
        raise check.fail(top["name"], "name", f"must be the file's name {path.stem!r}, not {name!r}")
    description = check.scalar(top["description"], "description", str).strip()
    if not description:
        raise check.fail(top["description"], "description", "must say what the scenario rehearses")
    agents, versions = DEFAULT_AGENTS, {}
    if "lab" in top:
        lab = check.mapping(top["lab"], "lab", {"agents": False, "puppet": False, "agent_puppet": False})
        if "agents" in lab:
            agents = check.scalar(lab["agents"], "lab.agents", int)
            if not 1 <= agents <= MAX_AGENTS:
                raise check.fail(lab["agents"], "lab.agents", f"must be from 1 to {MAX_AGENTS}, not {agents}")
        for key in ("puppet", "agent_puppet"):
            if key in lab:
                value = check.scalar(lab[key], f"lab.{key}", int)
                if value not in PUPPET_VERSIONS:
                    raise check.fail(lab[key], f"lab.{key}", f"Puppet {value} is not available (available: "
                                     f"{', '.join(map(str, PUPPET_VERSIONS))})")
                versions[key] = value
    version = versions.get("puppet", DEFAULT_PUPPET)
    agent_version = versions.get("agent_puppet", version)
    nodes = {*NODES, *(f"agent-{i}" for i in range(1, agents + 1))}
    seq = top["sequence"]
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise check.fail(seq, "sequence", "must be a non-empty list of actions")
    actions: list[Action] = []
    for i, item in enumerate(seq.value):
        before = next((a.kind for a in reversed(actions) if a.kind in RUN_ACTIONS + COMMAND_ACTIONS), "")
        actions.append(_action(check, item, f"sequence[{i}]", nodes, before))
    if not any(a.kind == "expect" for a in actions):
        raise check.fail(seq, "sequence", "has no `expect`: a scenario must state what must be observed")
    if actions[0].kind == "expect":
        raise check.fail(seq.value[0], "sequence[0]", "an `expect` needs an action before it")
    fix = check.scalar(top["fix"], "fix", str) if "fix" in top else ""
    return Scenario(name, description, path, agents, version, tuple(actions), fix,
                    agent_version if agent_version != version else 0)


def _action(check: _Checker, node: yaml.Node, where: str, nodes: set[str], before: str = "") -> Action:
    """One action; ``before`` is the kind of the last action with an outcome (what an
    ``expect`` is checked against: a run's steps and proofs, or a command's output)."""
    if isinstance(node, yaml.ScalarNode) and node.value in ("regen", "resume", "rollback"):
        return Action(node.value, {}, node.start_mark.line + 1)
    if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
        raise check.fail(node, where, f"must be one of: {', '.join(ACTION_FIELDS)} (a mapping with one key)")
    key_node, body = node.value[0]
    kind = key_node.value
    if kind not in ACTION_FIELDS:
        raise check.fail(key_node, where, f"unknown action {kind!r}; actions: {', '.join(ACTION_FIELDS)}")
    where = f"{where}.{kind}"
    fields = {} if isinstance(body, yaml.ScalarNode) and body.value in ("", "null", "~") else \
        check.mapping(body, where, ACTION_FIELDS[kind])
    args: dict = {}

    def node_name(n: yaml.Node, w: str) -> str:
        name = check.scalar(n, w, str)
        if name not in nodes:
            raise check.fail(n, w, f"unknown node {name!r}; this lab's nodes: {', '.join(sorted(nodes))}")
        return name

    for key, value in fields.items():
        w = f"{where}.{key}"
        if key in ("autosign", "passed", "interrupted", "steps_done_once"):
            args[key] = check.scalar(value, w, bool)
        elif key == "evidence":
            args[key] = _needles(check, value, w, before)
        elif key == "proofs_failed":
            args[key] = check.str_list(value, w)
            for item in args[key]:
                if not item.isdigit() and item not in proof.NAMES:
                    raise check.fail(value, w, f"unknown proof {item!r}; proofs: a number or one of "
                                     f"{', '.join(sorted(proof.NAMES))}")
        elif key == "version":
            args[key] = check.scalar(value, w, str)
            if not re.fullmatch(r"\d+(\.\d+)*", args[key]) or before not in COMMAND_ACTIONS:
                raise check.fail(value, w, "compares a command's output with a version such as \"8\" or \"7.23\" "
                                 "(after a `run` or `agent-run`)")
        elif key == "agents":
            args[key] = [node_name(v, w) for v in value.value] if isinstance(value, yaml.SequenceNode) else \
                [node_name(value, w)]
            if not all(a.startswith("agent-") for a in args[key]):
                raise check.fail(value, w, "lists agents only")
        elif key == "node":
            args[key] = node_name(value, w)
        elif key == "reports_timeout":
            args[key] = check.scalar(value, w, int)
        elif key == "skip":
            args[key] = check.str_list(value, w)
        elif key in ("failed_step", "stop_after", "command", "clock"):
            args[key] = check.scalar(value, w, str)
        elif key in ("name", "server_name"):
            args[key] = check.scalar(value, w, str)
            if not procedure.DNS_NAME_RE.match(args[key]):
                raise check.fail(value, w, f"{args[key]!r} is not a DNS name")
        elif key == "faults":
            found = check.mapping(value, w, {name: False for name in faults.FAULTS})
            args[key] = {}
            for fname, target in found.items():
                if faults.FAULTS[fname].takes_node:
                    args[key][fname] = node_name(target, f"{w}.{fname}")
                else:
                    args[key][fname] = None
        if key in ("skip", "stop_after"):
            ids = {s.id for s in procedure.FULL} | {s.id for s in procedure.PARTIAL} | {"random"}
            for step_id in args[key] if key == "skip" else [args[key]]:
                if step_id not in ids:
                    raise check.fail(value, w, f"unknown step {step_id!r}; steps: {', '.join(sorted(ids))}")
    if kind == "expect" and not fields:
        raise check.fail(body, where, "states nothing to check")
    return Action(kind, args, key_node.start_mark.line + 1)


def _needles(check: _Checker, node: yaml.Node, where: str, before: str) -> list[Needle]:
    """``evidence``: after a command, texts of its output; after a run, each text with
    where it must appear (``{step: ID, shows: TEXT}`` or ``{proof: NAME, shows: TEXT}``),
    never anywhere: the tool's own titles and echoed options must not count."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if isinstance(item, yaml.ScalarNode):
            if before in RUN_ACTIONS:
                raise check.fail(item, w, f"after `{before}`, say where the text must appear: "
                                 "{step: ID, shows: TEXT} or {proof: NAME, shows: TEXT}")
            out.append(Needle(check.scalar(item, w, str)))
            continue
        fields = check.mapping(item, w, {"step": False, "proof": False, "shows": True})
        if ("step" in fields) == ("proof" in fields) or before not in RUN_ACTIONS:
            raise check.fail(item, w, "names one step or one proof, after a `regen`, `resume` or `rollback`")
        text = check.scalar(fields["shows"], f"{w}.shows", str)
        if "step" in fields:
            step = check.scalar(fields["step"], f"{w}.step", str)
            if step not in step_ids():
                raise check.fail(fields["step"], f"{w}.step", f"unknown step {step!r}; steps: "
                                 f"{', '.join(sorted(step_ids()))}")
            out.append(Needle(text, step=step))
        else:
            name = check.scalar(fields["proof"], f"{w}.proof", str)
            if name not in proof.NAMES:
                raise check.fail(fields["proof"], f"{w}.proof", f"unknown proof {name!r}; proofs: "
                                 f"{', '.join(sorted(proof.NAMES))}")
            out.append(Needle(text, proof=name))
    return out


def find(name: str) -> Scenario:
    path = SCENARIOS_DIR / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(p.stem for p in all_paths()) or "none"
        raise BadInput(f"no scenario named {name!r} in {SCENARIOS_DIR} (scenarios: {known})")
    return load(path)


def all_paths() -> list[Path]:
    return sorted(SCENARIOS_DIR.glob("*.yaml"))


# --- running -----------------------------------------------------------------------------

@dataclass
class Outcome:
    """What the last action did, for the next `expect`: a run's every step attempt and
    its proofs, or a command's output."""

    what: str
    passed: bool
    output: str = ""
    interrupted: bool = False
    failed_step: str | None = None
    steps: list[dict] = field(default_factory=list)
    proofs: list[ProofResult] = field(default_factory=list)

    @property
    def proofs_failed(self) -> list[str]:
        return [p.name for p in self.proofs if not p.passed]

    def text_of(self, needle: Needle) -> str | None:
        """Where a needle must be found (None: that step or proof is not in this outcome)."""
        if needle.step:
            attempts = [s for s in self.steps if s["id"] == needle.step]
            return attempts[-1]["detail"] if attempts else None
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
        twice = sorted(i for i, n in Counter(s["id"] for s in last.steps if s["result"] == "done").items() if n > 1)
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
            return self._record(action.kind, roll_back(self.lab, self.progress))
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
            argv = ["puppet", "agent", "--test", "--color=false"]
            if a.get("clock"):
                argv = ["faketime", a["clock"], *argv]
            res = node.executor.run(argv, check=False, timeout=300)
            self.last = _from_command(f"`puppet agent -t` on {node.name}", res, ok=(0, 2))
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
            result = regenerate(self.lab, self.progress, **options)
        except procedure.Interrupted as exc:
            state = procedure.RunState.load(procedure.state_path(state_dir(), self.lab.name))
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
    folder = root / "reports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"scenario-{report.scenario}-{report.started.replace(':', '').replace('.', '')}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(report) | {"passed": report.passed}, f, indent=2)
    return path


# --- the main job for one scenario --------------------------------------------------------

def rehearse(scn: Scenario, name: str, keep: bool = False, progress: Progress | None = None,
             lab: Lab | None = None) -> ScenarioReport:
    """A scenario on a fresh lab of its topology (or on ``lab``, one that is up): its
    actions, its expectations with evidence, its report. A lab made here is removed when
    the scenario passes, kept when it fails (or with ``keep``)."""
    progress = progress or Progress()
    client = engine.ensure(progress)
    made = lab is None
    if lab is None:
        procedure.state_path(state_dir(), name).unlink(missing_ok=True)
        lab = up(client, scn.lab_spec(name), progress, keep=keep)
    result = Runner(scn, lab, progress).run()
    path = write(result, state_dir())
    print(summary(result), flush=True)
    progress.say(f"scenario report: {path}")
    if made:
        if keep or not result.passed:
            progress.say(f"lab {name} kept (`invoke lab.down --name {name}` removes it)")
        else:
            with progress.step(f"removing lab {name}"):
                remove(client, name)
    return result
