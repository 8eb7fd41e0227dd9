"""The actions of a scenario, one small class each: its fields (True: required), its own
checks beyond the fields' types, how it reads in a report, and what it does on a lab.

A field means the same in every action that has it (``node`` is a node of the lab,
``agents`` lists agents, ...): ``format`` reads fields; an action adds only its own rules.
To add an action: a class here, in ``KINDS``; its fields' readers in ``format._field``
if they are new."""

from __future__ import annotations

import random
import shlex
from typing import Any, ClassVar, Protocol

from ..core.config import state_dir
from ..core.errors import BadInput
from ..core.progress import Progress
from ..core.wait import parallel
from ..lab.lab import Lab, site_of
from ..ops import pki, puppet, puppet_ca, rootca
from ..procedure import faults, proven
from ..procedure.report import Report
from ..procedure.runner import Interrupted, RunState, Step, state_path
from ..procedure.steps.options import RunOptions, check_mode
from ..procedure.steps.plan import steps_of
from .model import RUN_STEP_IDS, Action, Scenario
from .outcome import Held, Outcome, check, from_command

SEED_ENV = "REGENLAB_SEED"  # replays a scenario's random choices (the stop point of `stop_after: random`)


class Expectations(Protocol):
    expectations: list[Held]


class Stage(Protocol):
    """What an action may use and change while its scenario runs (the runner is one)."""

    scenario: Scenario
    lab: Lab
    progress: Progress
    seed: int
    random: random.Random
    report: Expectations  # each `expect` adds what it found
    last: Outcome | None  # the outcome the next `expect` checks
    moved: bool  # the master moved: the lab cannot serve a scenario that expects `puppet`
    run_steps: tuple[Step, ...] | None  # the steps of the run under way, faults included

    def record(self, what: str, result: Report) -> str:
        """A run's report made the outcome the next `expect` checks; its one-line summary."""


class Kind:
    name: ClassVar[str]
    fields: ClassVar[dict[str, bool]] = {}
    outcome: ClassVar[str] = ""  # "run": steps and proofs; "command": an output; "": none (the last one stands)
    bare: ClassVar[bool] = False  # may be written as a bare word (`- resume`)

    def validate(self, args: dict[str, Any], fail) -> None:
        """Rules of this action beyond its fields' types; ``fail(field, message)`` raises."""

    def describe(self, args: dict[str, Any]) -> str:
        return self.name

    def run(self, runner: Stage, action: Action) -> str:
        raise NotImplementedError


class Regen(Kind):
    name = "regen"
    fields = {"agents": False, "autosign": False, "skip": False, "stop_after": False, "faults": False,
              "reports_timeout": False, "server_name": False, "mode": False, "ca_import": False,
              "root_crl_days": False}
    outcome, bare = "run", True

    def validate(self, args, fail) -> None:
        try:
            check_mode(args.get("mode", "full"), args.get("agents"), args.get("server_name"),
                                 "yes" if args.get("ca_import") else None)
        except BadInput as exc:
            fail("mode" if "mode" in args else "ca_import", str(exc).replace("--", ""))
        if "root_crl_days" in args and not args.get("ca_import"):
            fail("root_crl_days", "goes with `ca_import: true` (the external root's CRL)")
        if "crl-chain-missing" in args.get("faults", {}) and not args.get("ca_import"):
            fail("faults", "crl-chain-missing is a fault of the import: it goes with `ca_import: true`")
        for key in ("skip", "stop_after"):
            _known_steps(args.get(key, []) if key == "skip" else [args[key]] if key in args else [],
                         lambda m, key=key: fail(key, m), extra={"random"} if key == "stop_after" else set())

    def describe(self, args) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in args.items())
        return f"regen ({opts})" if opts else "regen (the whole procedure)"

    def run(self, runner, action) -> str:
        a = action.args
        options: dict = {k: a[k] for k in ("agents", "autosign", "reports_timeout", "server_name", "mode") if k in a}
        if runner.scenario.site is not None:  # a site's lab signs as its site file says, unless told
            options.setdefault("autosign", runner.scenario.site.autosign)
        if a.get("ca_import"):  # the organisation's root, new for this run, and an intermediate it signs
            made = rootca.issue(rootca.folder_of(state_dir(), runner.lab.name), new_root=True,
                                root_crl_days=a.get("root_crl_days", rootca.CRL_DAYS))
            options["ca_import"] = str(made.folder)
            runner.progress.say(f"an external root and its intermediate for Puppet: {made.folder}")
        steps = steps_of(site_of(runner.lab), "partial" if a.get("agents") else a.get("mode", "full"),
                                   tuple(a.get("skip", ())), ca_import=bool(a.get("ca_import")))
        runner.run_steps = faults.apply(steps, a.get("faults", {}))
        stop = a.get("stop_after")
        if stop == "random":  # any step, the last one included
            stop = runner.random.choice([s.id for s in steps])
            runner.progress.say(f"{runner.scenario.name}: the run will be killed after step {stop} (random; "
                                f"{SEED_ENV}={runner.seed} replays it)")
        return _procedure(runner, "regen", {**options, "stop_after": stop})


def _known_steps(ids, fail, extra: set[str] = frozenset()) -> None:
    known = RUN_STEP_IDS | extra
    for step_id in ids:
        if step_id not in known:
            fail(f"unknown step {step_id!r}; steps: {', '.join(sorted(known))}")


class Resume(Kind):
    """The run under way goes on; with ``redo``, the operator's fix first: those steps run
    again as the procedure does them (a step skipped is put back, a fault on it undone),
    even in a run that had finished."""

    name, fields, outcome, bare = "resume", {"redo": False}, "run", True

    def validate(self, args, fail) -> None:
        _known_steps(args.get("redo", []), lambda m: fail("redo", m))

    def describe(self, args) -> str:
        return f"resume, redoing steps {', '.join(args['redo'])}" if args.get("redo") else "resume"

    def run(self, runner, action) -> str:
        redo = tuple(action.args.get("redo", ()))
        if redo:
            state = RunState.load(state_path(state_dir(), runner.lab.name))
            plan = steps_of(site_of(runner.lab), state.mode, ca_import=bool(state.ca_import))
            under_way = {s.id: s for s in runner.run_steps or plan}
            runner.run_steps = tuple(s if s.id in redo else under_way[s.id] for s in plan
                                     if s.id in redo or s.id in under_way)
        return _procedure(runner, "resume", {"resume": True, "redo": redo})


def _procedure(runner: Stage, what: str, options: dict) -> str:
    """The procedure with its proof and report; a resume goes on with the steps of the run
    under way, faults and skips included (a mistake stays in force unless a fix undid it)."""
    try:
        result = proven.regenerate(site_of(runner.lab), state_dir(), runner.progress,
                                   RunOptions(**options, steps=runner.run_steps))
    except Interrupted as exc:
        state = RunState.load(state_path(state_dir(), runner.lab.name))
        runner.last = Outcome(what, False, output=str(exc), interrupted=True, steps=list(state.steps))
        return str(exc)
    return runner.record(what, result)


class Rollback(Kind):
    name, outcome, bare = "rollback", "run", True

    def run(self, runner, action) -> str:
        return runner.record("rollback", proven.roll_back(site_of(runner.lab), state_dir(), runner.progress))


class Run(Kind):
    name, fields, outcome = "run", {"node": True, "command": True}, "command"

    def validate(self, args, fail) -> None:
        try:
            words = shlex.split(args["command"])
        except ValueError as exc:  # an unbalanced quote: found here, not mid-run
            fail("command", f"cannot be split into words as a shell would: {exc}")
        if not words:
            fail("command", "is empty")

    def describe(self, args) -> str:
        return f"on {args['node']}: `{args['command']}`"

    def run(self, runner, action) -> str:
        node = runner.lab.node(action.args["node"])
        res = node.executor.run(shlex.split(action.args["command"]), check=False, timeout=300)
        runner.last = from_command(f"`{action.args['command']}` on {node.name}", res)
        return f"exit {res.exit_code}"


class AgentRun(Kind):
    name, fields, outcome = "agent-run", {"node": True, "clock": False}, "command"

    def describe(self, args) -> str:
        clock = f" with its clock at {args['clock']}" if args.get("clock") else ""
        return f"`puppet agent -t` on {args['node']}{clock}"

    def run(self, runner, action) -> str:
        node = runner.lab.node(action.args["node"])
        res = puppet.agent_test(node.executor, check=False, clock=action.args.get("clock"))
        runner.last = from_command(f"`puppet agent -t` on {node.name}", res, ok=puppet.AGENT_RUN_OK)
        return f"exit {res.exit_code}"


class StopNode(Kind):
    """A host down: its container stopped (its files stay); `start-node` boots it again."""

    name, fields = "stop-node", {"node": True}
    done = "stopped"

    def describe(self, args) -> str:
        return f"{args['node']}'s container {self.done}"

    def run(self, runner, action) -> str:
        node = runner.lab.node(action.args["node"])
        getattr(runner.lab, self.name.replace("-", "_"))(node.name)  # Lab.stop_node, Lab.start_node
        return f"{node.name}: {runner.lab.state(node)}"


class StartNode(StopNode):
    name, done = "start-node", "started"


class MoveMaster(Kind):
    name, fields = "move-master", {"name": True}

    def describe(self, args) -> str:
        return f"the master moves: known as {args['name']} instead of puppet"

    def run(self, runner, action) -> str:
        runner.lab.move_server(action.args["name"])
        runner.moved = True
        return f"server answers as {action.args['name']}; `puppet` no longer resolves"


class AgeCA(Kind):
    """The CA's certificates re-made from their own keys to end in ``days`` days, in place on
    every host (no service restarted): the lab's CA is then one made years ago, close to its
    end, while the hosts' certs, signed since, outlive it."""

    name, fields = "age-ca", {"days": True}

    def describe(self, args) -> str:
        return f"the CA's certificates re-made to end in {args['days']} day(s), on every host"

    def run(self, runner, action) -> str:
        site = site_of(runner.lab)
        puppet_ca.extend_ca(site.ca.executor, site.ca.layout, site.ca.cert, days=action.args["days"])
        bundle = site.ca.executor.read_file(site.ca.layout.cacert)
        parallel(list(site.all_hosts), lambda h: puppet_ca.replace_bundle(h.executor, site.cert_paths(h)[1], bundle))
        until = min(pki.info(c).not_after for c in pki.load_certs(bundle))
        return f"the CA ends {until:%Y-%m-%d %H:%M} UTC; its bundle replaced on {len(site.all_hosts)} hosts"


class RootCRL(Kind):
    """The external root's owner issues a new CRL (valid ``days``), and it is submitted to
    Puppet Server's CRL endpoint (`PUT /puppet-ca/v1/certificate_revocation_list`), as Puppet's
    docs ask of an external chain. Agents fetch it when they refresh their CRL, unless theirs
    has expired already: that refresh fails on it (scenario `crl-expired`)."""

    name, fields, outcome = "root-crl", {"days": True}, "command"

    def describe(self, args) -> str:
        return f"a new CRL of the external root (valid {args['days']} days), submitted to Puppet Server"

    def run(self, runner, action) -> str:
        site = site_of(runner.lab)
        res = rootca.submit_renewed_crl(rootca.folder_of(state_dir(), runner.lab.name), action.args["days"],
                                        site.authority)
        runner.last = from_command("the CRL chain submitted to Puppet Server", res)
        return f"exit {res.exit_code}"


class Expect(Kind):
    name = "expect"
    fields = {"passed": False, "interrupted": False, "failed_step": False, "evidence": False,
              "proofs_failed": False, "version": False, "steps_done_once": False}

    def validate(self, args, fail) -> None:
        if not args:
            fail("", "states nothing to check")

    def describe(self, args) -> str:
        return "expect " + ", ".join(f"{k}={v}" for k, v in args.items() if k != "evidence") + \
            "".join(f", {n.where} shows {n.text!r}" for n in args.get("evidence", ()))

    def run(self, runner, action) -> str:
        assert runner.last is not None  # format: an `expect` needs an action before it
        held = check(action, runner.last)
        runner.report.expectations.extend(held)
        return f"{sum(h.held for h in held)}/{len(held)} held"


KINDS: dict[str, Kind] = {k.name: k() for k in (Regen, Resume, Rollback, Run, AgentRun, StopNode, StartNode,
                                                 MoveMaster, AgeCA, RootCRL, Expect)}


def describe(action: Action) -> str:
    """How an action reads in a report."""
    return KINDS[action.kind].describe(action.args)
