"""Scenario files: every shipped file loads; a file with a mistake is refused with its file,
line and field, and nothing runs (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from regen.core.errors import BadInput
from regen.core.progress import Progress
from regen.scenarios import actions, outcome, runner
from regen.scenarios import format as scenario
from tests.unit.fakes import run

GOOD = """\
name: {name}
description: A rehearsal.
sequence:
  - regen:
      agents: [agent-1]
  - expect:
      passed: true
"""


def write(tmp_path: Path, text: str, name: str = "s") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_every_shipped_scenario_loads_and_is_listed():
    paths = scenario.all_paths()
    assert len(paths) >= 10
    names = [scenario.load(p).name for p in paths]
    assert names == [p.stem for p in paths]  # each named as its file
    listed = run("scenarios.list")
    assert listed.returncode == 0
    for name in names:
        assert f"\n{name} " in listed.stdout


def test_a_good_file_loads(tmp_path):
    s = scenario.load(write(tmp_path, GOOD.format(name="s")))
    assert (s.name, s.agents, s.puppet) == ("s", 3, 7)
    assert [a.kind for a in s.actions] == ["regen", "expect"]
    assert s.actions[0].args == {"agents": ["agent-1"]} and s.actions[0].line == 4


def test_a_mixed_fleet_is_a_lab_of_two_suites(tmp_path):
    s = scenario.load(write(tmp_path, GOOD.format(name="s") + "lab:\n  puppet: 8\n  agent_puppet: 7\n  agents: 2\n"))
    spec = s.lab_spec("m")
    assert (spec.suite, spec.suite_of("agent"), spec.mcollective) == ("trixie", "bookworm", False)
    assert [n.name for n in spec.nodes()] == ["postgres", "server", "puppetdb", "agent-1", "agent-2"]
    same = scenario.load(write(tmp_path, GOOD.format(name="s") + "lab:\n  puppet: 7\n  agent_puppet: 7\n"))
    assert (same.agent_puppet, same.lab_spec("m").mcollective) == (0, True)


@pytest.mark.parametrize(("text", "where"), [
    (GOOD.format(name="s").replace("  - regen:\n      agents: [agent-1]", "  - regenerate:"),
     ":4: sequence[0]: unknown action 'regenerate'"),
    (GOOD.format(name="s").replace("agents: [agent-1]", "agents: [agent-9]"),
     ":5: sequence[0].regen.agents: unknown node 'agent-9'"),
    (GOOD.format(name="s").replace("passed: true", "passed: maybe"),
     ":7: sequence[1].expect.passed: must be true or false, not 'maybe'"),
    (GOOD.format(name="s").replace("passed: true", "pased: true"),
     ":7: sequence[1].expect.pased: unknown field"),
    (GOOD.format(name="other"), ":1: name: must be the file's name 's', not 'other'"),
    (GOOD.format(name="s").replace("description: A rehearsal.\n", ""), ":1: scenario: missing field 'description'"),
    (GOOD.format(name="s") + "lab:\n  puppet: 6\n", ":9: lab.puppet: Puppet 6 is not available (available: 7, 8)"),
    (GOOD.format(name="s") + "lab:\n  agent_puppet: 9\n", ":9: lab.agent_puppet: Puppet 9 is not available"),
    (GOOD.format(name="s").replace("agents: [agent-1]", "server_name: Puppet_New"),
     ":5: sequence[0].regen.server_name: 'Puppet_New' is not a DNS name"),
    (GOOD.format(name="s").replace("  - regen:\n      agents: [agent-1]", "  - move-master:\n      node: x"),
     ":5: sequence[0].move-master.node: unknown field"),
    (GOOD.format(name="s") + "lab:\n  agents: 0\n", ":9: lab.agents: must be from 1 to 200, not 0"),
    (GOOD.format(name="s").replace("agents: [agent-1]", "skip: ['9.9']"),
     ":5: sequence[0].regen.skip: unknown step '9.9'"),
    (GOOD.format(name="s").replace("agents: [agent-1]", "faults: {wrong-fault: agent-1}"),
     ":5: sequence[0].regen.faults.wrong-fault: unknown field"),
    ("name: s\ndescription: x\nsequence:\n  - regen\n", ":4: sequence: has no `expect`"),
    ("name: s\ndescription: [unclosed\n", ":3: not valid YAML"),
    (GOOD.format(name="s").replace("passed: true", "passed: !!bool true"), ":7: YAML tags"),
    (GOOD.format(name="s").replace("  - regen:", "  - !foo regen:"), ":4: YAML tags"),
    ("name: s\ndescription: x\n? [a, b]\n: 1\n", ":3: scenario: keys must be plain words"),
    ("name: s\ndescription: x\nsequence: " + "[" * 20000 + "]" * 20000 + "\n", ":3: nested deeper than 16"),
    ("name: s\ndescription: &d x\nfix: *d\n", ":2: anchors"),
    (GOOD.format(name="s").replace("  - regen:\n      agents: [agent-1]",
                                   "  - run: {node: server, command: 'echo \"a'}"),
     ":4: sequence[0].run.command: cannot be split into words as a shell would: No closing quotation"),
])
def test_a_mistake_names_the_file_line_and_field(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as err:
        scenario.load(path)
    assert str(err.value).startswith(f"{path}{where}"), str(err.value)


def test_a_file_that_is_not_a_small_utf8_text_is_refused_before_it_is_parsed(tmp_path):
    binary = tmp_path / "s.yaml"
    binary.write_bytes(b"name: s\ndescription: \xff\xfe\n")
    with pytest.raises(BadInput, match=r"s.yaml:2: not UTF-8 text \(byte 0xff\)"):
        scenario.load(binary)
    huge = write(tmp_path, GOOD.format(name="s") + "#" * (scenario.MAX_BYTES + 1), name="s")
    with pytest.raises(BadInput, match="larger than 64 KiB"):
        scenario.load(huge)


def test_rehearse_refuses_an_unknown_scenario_and_runs_nothing():
    done = run("rehearse", "--scenario", "no-such-scenario")
    assert done.returncode == 2
    assert "no scenario named 'no-such-scenario'" in done.stderr and "full-regen" in done.stderr


def _step(id_: str, detail: str, result: str = "done", title: str = ""):
    from regen.procedure.runner import StepResult

    return StepResult(id_, title or f"step {id_}", "", "", 1.0, result, detail)


def _proof(id_: str, name: str, verdict: str, evidence: str):
    from regen.procedure.proof import ProofResult

    return ProofResult(name, "claim", verdict, evidence, id=id_)


def _expect(**args) -> scenario.Action:
    return scenario.Action("expect", args, 9)


def test_expectations_hold_or_not_with_the_evidence_line():
    last = outcome.Outcome("regen", passed=False, failed_step="3", steps=[
        _step("3", "agent-2: `puppet ssl submit_request` exited 1:\nError: certificate verify failed "
              "[unable to get local issuer certificate for CN=server]", result="failed")],
        proofs=[_proof("1", "chain-to-new-ca", "pass", "7/7 hosts chain to it"),
                _proof("2", "agents-run", "fail", "2/3 `puppet agent -t` succeeded")])
    needles = [scenario.Needle("unable to get local issuer certificate", step="3"), scenario.Needle("no such text",
                                                                                                     step="3")]
    held = outcome.check(_expect(passed=False, failed_step="3", proofs_failed=["agents-run"], evidence=needles),
                          last)
    assert [h.held for h in held] == [True, True, True, True, False]
    assert "certificate verify failed [unable to get local issuer" in held[3].evidence
    assert held[4].evidence.startswith("not found in step 3; its errors: ") and all(h.line == 9 for h in held)


def test_proofs_failed_is_an_exact_set_by_name_or_number():
    last = outcome.Outcome("regen", passed=False, proofs=[
        _proof("1", "chain-to-new-ca", "fail", ""), _proof("3", "old-cert-refused", "could not tell", ""),
        _proof("5", "mco-ping", "pass", "")])
    assert outcome.check(_expect(proofs_failed=["chain-to-new-ca", "old-cert-refused"]), last)[0].held
    assert outcome.check(_expect(proofs_failed=["1", "3"]), last)[0].held
    assert not outcome.check(_expect(proofs_failed=["chain-to-new-ca"]), last)[0].held  # not a subset
    assert not outcome.check(_expect(proofs_failed=["1", "3", "5"]), last)[0].held
    assert not outcome.check(_expect(proofs_failed=["7"]), last)[0].held  # no proof 7 in this run


@pytest.mark.parametrize(("needle", "last"), [
    # the 3.w timeout's own title names agent-3; PuppetDB down is another cause than a missing report
    (scenario.Needle("PuppetDB answered, with no report from agent-3", step="3.w"),
     outcome.Outcome("regen", False, steps=[_step("3.w", "reports in PuppetDB from agent-3 not ready after 60s; its "
                                                   "log ends with:\nPuppetDB did not answer the query (exit 7: )",
                                                   result="failed", title="reports from agent-3")])),
    # "NOT revoked" is not "revoked"
    (scenario.Needle("in the CA's CRL: agent-1", proof="old-certs-revoked"),
     outcome.Outcome("regen", False, proofs=[_proof("4", "old-certs-revoked", "fail",
                                                     "in the CA's CRL: none; not in it: agent-1 (serial 5)")])),
    # step 0 reads the old cert's names: only step 1.5 (the new cert) counts
    (scenario.Needle("new master cert's DNS names: [server, puppet]", step="1.5"),
     outcome.Outcome("regen", False, steps=[_step("0", "new master cert's DNS names: [server, puppet]"),
                                             _step("1.5", "new master cert's DNS names: [server]")])),
    # only the latest attempt of a step counts
    (scenario.Needle("unable to get certificate CRL", step="3"),
     outcome.Outcome("resume", True, steps=[_step("3", "unable to get certificate CRL", result="failed"),
                                             _step("3", "1 agents re-enrolled")])),
    # a step or proof that is not in the outcome
    (scenario.Needle("STILL TRUSTED", proof="broker-truststore"), outcome.Outcome("regen", False)),
    # a command's output: case as written
    (scenario.Needle("Certificate Verify Failed"), outcome.Outcome("run", False, output="certificate verify failed")),
])
def test_a_needle_matches_only_where_it_is_scoped(needle, last):
    held = outcome.check(_expect(evidence=[needle]), last)
    assert [h.held for h in held] == [False], held


@pytest.mark.parametrize(("output", "want", "held"), [
    ("exit 0\n7.28.0", "8", False),  # "8." is in 7.28.0, the version is not 8
    ("exit 0\n8.10.0", "8", True),
    ("exit 0\n8.7.1", "7", False),
    ("exit 0\n8.7.0-2", "8.7", True),
    ("exit 0\n7.23.0 (ruby 3.1.2)", "7", False),  # two versions: which one is meant?
])
def test_versions_are_compared_as_versions(output, want, held):
    assert outcome.check(_expect(version=want), outcome.Outcome("run", True, output=output))[0].held is held


def test_a_step_done_twice_is_seen():
    steps = [_step("0", ""), _step("1.5", ""), _step("1.8", "", result="failed"), _step("1.8", ""), _step("1.5", "")]
    held = outcome.check(_expect(steps_done_once=True), outcome.Outcome("resume", True, steps=steps))[0]
    assert not held.held and held.evidence == "done twice: 1.5"
    assert outcome.check(_expect(steps_done_once=True), outcome.Outcome("resume", True, steps=steps[:4]))[0].held


@pytest.mark.parametrize(("expect", "where"), [
    ("      evidence: \"some text\"\n", ":7: sequence[1].expect.evidence[0]: after `regen`, say where"),
    ("      evidence:\n        - step: \"9.9\"\n          shows: x\n", ":8: sequence[1].expect.evidence[0].step: "
     "unknown step '9.9'"),
    ("      evidence:\n        - proof: no-such\n          shows: x\n", ":8: sequence[1].expect.evidence[0].proof: "
     "unknown proof 'no-such'"),
    ("      evidence:\n        - step: \"3\"\n          proof: agents-run\n          shows: x\n",
     ":8: sequence[1].expect.evidence[0]: names one step or one proof"),
    ("      proofs_failed: [old-cert-refusd]\n", ":7: sequence[1].expect.proofs_failed: unknown proof"),
    ("      version: \"8\"\n", ":7: sequence[1].expect.version: compares a command's output"),
])
def test_an_expectation_must_say_where_and_name_what_exists(tmp_path, expect, where):
    text = "name: s\ndescription: x\nsequence:\n  - regen\n  - expect:\n      passed: false\n" + expect
    with pytest.raises(BadInput) as err:
        scenario.load(write(tmp_path, text))
    assert str(err.value).startswith(f"{tmp_path / 's.yaml'}{where}"), str(err.value)


@pytest.mark.parametrize("step", ["e.1", "r.2", "3.w"])
def test_an_expectation_may_quote_any_mode_s_step_and_a_rollback_s(tmp_path, step):
    text = ("name: s\ndescription: x\nsequence:\n  - regen\n  - expect:\n      passed: false\n"
            f"      evidence:\n        - step: \"{step}\"\n          shows: x\n")
    assert scenario.load(write(tmp_path, text)).actions[1].args["evidence"][0].step == step


def test_a_run_may_skip_an_extend_step_but_not_a_rollback_s(tmp_path):
    ok = ("name: s\ndescription: x\nsequence:\n  - regen:\n      mode: extend\n      skip: [e.2]\n"
          "  - expect:\n      passed: true\n")
    assert scenario.load(write(tmp_path, ok)).actions[0].args["skip"] == ["e.2"]
    with pytest.raises(BadInput, match="unknown step 'r.2'"):
        scenario.load(write(tmp_path, ok.replace("e.2", "r.2")))


class _FakeLab:
    name, broker, compilers, puppetdb = "fake", object(), [], object()

    def roles(self):  # the default lab's shape: a master, PuppetDB, its PostgreSQL, a broker, agents
        return [(object(), role) for role in ("server", "puppetdb", "postgres", "broker", "agent")]


def test_a_fault_stays_in_force_on_resume_and_the_stop_point_can_be_the_last_step(monkeypatch):
    from regen.procedure import report
    from regen.procedure.steps import plan

    calls = []

    def regenerate(site, state_root, progress, options):
        calls.append(vars(options))
        return report.Report("fake", "full", [], "t", "", "", "", None, [], [])

    monkeypatch.setattr(actions.proven, "regenerate", regenerate)
    monkeypatch.setattr(actions, "site_of", lambda lab: lab)
    scn = scenario.find("stale-agent-ssl")
    run = runner.Runner(scn, _FakeLab(), Progress(quiet=True), seed=1)
    for action in (scn.actions[0], next(a for a in scn.actions if a.kind == "resume")):
        actions.KINDS[action.kind].run(run, action)
    faulty = [s for s in calls[0]["steps"] if s.id == "3"][0]
    assert faulty is not [s for s in plan.steps_for("full") if s.id == "3"][0]
    assert calls[1]["resume"] and calls[1]["steps"] is calls[0]["steps"]  # the fix must undo it, not the tool
    stops = set()
    for seed in range(300):
        run = runner.Runner(scenario.find("master-moves"), _FakeLab(), Progress(quiet=True), seed=seed)
        actions.KINDS["regen"].run(run, next(a for a in run.scenario.actions if a.kind == "regen"))
        stops.add(calls[-1]["stop_after"])
    assert stops == {s.id for s in plan.steps_for("full")}  # every step, the last one included


def test_a_resume_that_redoes_steps_puts_them_back_as_the_procedure_does_them_and_keeps_the_other_faults(
        monkeypatch):
    from types import SimpleNamespace

    from regen.procedure import report
    from regen.procedure.steps import plan

    calls = []

    def regenerate(site, state_root, progress, options):
        calls.append(options)
        return report.Report("fake", "full", [], "t", "", "", "", None, [], [])

    monkeypatch.setattr(actions.proven, "regenerate", regenerate)
    monkeypatch.setattr(actions, "site_of", lambda lab: lab)
    monkeypatch.setattr(actions.RunState, "load", lambda path: SimpleNamespace(mode="full", ca_import=""))
    scn = scenario.find("old-ca-still-trusted")
    run = runner.Runner(scn, _FakeLab(), Progress(quiet=True), seed=1)
    for action in (scn.actions[0], next(a for a in scn.actions if a.kind == "resume")):
        actions.KINDS[action.kind].run(run, action)
    first, fix = calls
    clean = {s.id: s for s in plan.steps_for("full")}
    assert {s.id for s in first.steps if s is not clean[s.id]} == {"2.2", "2.3"}  # the two faults
    assert fix.resume and fix.redo == ("2.2", "2.3", "2.5")
    assert [s.id for s in fix.steps] == [s.id for s in first.steps]  # the procedure's order, nothing added
    assert all(s is clean[s.id] for s in fix.steps if s.id in ("2.2", "2.3"))  # the faults undone by the fix
    # a skipped step is put back by a redo, in its place; a step skipped and not redone stays out
    scn = scenario.find("puppetdb-and-broker-not-redone")
    run = runner.Runner(scn, _FakeLab(), Progress(quiet=True), seed=1)
    for action in (scn.actions[0], *(a for a in scn.actions if a.kind == "resume")):
        actions.KINDS[action.kind].run(run, action)
    skipped, puppetdb_fixed, redone = calls[2:]
    assert {"2.2", "2.3"}.isdisjoint(s.id for s in skipped.steps)
    ids = [s.id for s in plan.steps_for("full")]
    assert [s.id for s in puppetdb_fixed.steps] == [i for i in ids if i != "2.3"]
    assert puppetdb_fixed.redo == ("2.2", "2.5", "3.s")
    assert [s.id for s in redone.steps] == ids and redone.redo == ("2.3",)


def test_a_fault_replaces_only_its_step():
    from regen.procedure import faults
    from regen.procedure.steps import plan

    steps = plan.steps_for("full")
    changed = faults.apply(steps, {"clean-without-localca": "agent-2", "drop-alt-names": None})
    assert [s.id for s in changed] == [s.id for s in steps]
    differs = [a.id for a, b in zip(steps, changed, strict=True) if a is not b]
    assert differs == ["1.5", "3"]


def test_two_agent_faults_of_one_run_add_up_each_on_its_own_host():
    from regen.procedure import faults
    from regen.procedure.steps import plan

    changed = faults.apply(plan.steps_for("full"), {"stale-crl": "agent-1", "clean-without-localca": "agent-2"})
    agents = next(s for s in changed if s.id == "3").run
    assert agents.clean_for == {"agent-1": faults._rm_keeping_crl, "agent-2": faults._clean_without_localca}


def test_a_lab_without_mcollective_says_so():
    from regen.lab.lab import NodeStatus, mcollective_line

    rows = [NodeStatus("agent-1", "agent", "agent-1", "5", "AB", "ready", "none")]
    assert "none in this lab" in mcollective_line(rows)
    rows = [NodeStatus(f"agent-{i}", "agent", f"agent-{i}", "5", "AB", "ready", m) for i, m in
            ((1, "40 ms"), (2, "no reply"))]
    assert mcollective_line(rows).startswith("MCollective: 1/2 agents answer")


def test_each_action_is_one_class_that_reads_describes_and_runs_itself():
    assert set(actions.KINDS) == set(scenario.ACTION_FIELDS)
    assert scenario.RUN_ACTIONS == ("regen", "resume", "rollback") and scenario.COMMAND_ACTIONS == ("run", "agent-run",
                                                                                             "root-crl")
    seen = set()
    for path in scenario.all_paths():
        for action in scenario.load(path).actions:
            seen.add(action.kind)
            text = actions.describe(action)
            assert text and all(str(v) in text for k, v in action.args.items() if k in ("node", "command", "name"))
    assert seen == set(actions.KINDS)  # every action is used by a shipped scenario


def test_a_scenario_may_name_a_site_file_and_then_knows_its_hosts(tmp_path):
    site_file = tmp_path / "mine.yaml"
    site_file.write_text("master: {certname: m.example, dns_alt_names: [puppet]}\n"
                         "puppetdb: {certname: db.example, postgres: pg.example}\nagents: [a1.example, a2.example]\n")
    path = write(tmp_path, "name: s\ndescription: x\nlab:\n  site: mine.yaml\nsequence:\n"
                           "  - regen: {agents: [a2.example]}\n  - expect: {passed: true}\n", name="s")
    scn = scenario.load(path)
    assert scn.site is not None and scn.site.name == "mine" and scn.agents == 2
    assert scn.topology == ("site", str(site_file)) and scn.lab_spec("lab1").site == scn.site
    assert [n.name for n in scn.lab_spec("lab1").nodes() if n.role == "agent"] == ["a1.example", "a2.example"]


@pytest.mark.parametrize(("lab", "error"), [
    ("  site: nowhere\n", ":4: lab.site: --site 'nowhere': no such file"),
    ("  site: small\n  agents: 2\n", ":4: lab: `site` sets the whole lab: nothing beside it"),
])
def test_a_site_a_scenario_names_is_checked_with_its_line(tmp_path, lab, error):
    path = write(tmp_path, f"name: s\ndescription: x\nlab:\n{lab}sequence:\n  - regen\n  - expect: {{passed: true}}\n",
                 name="s")
    with pytest.raises(BadInput, match=re.escape(error)):
        scenario.load(path)


def test_on_a_site_the_agents_of_an_action_are_the_sites_own():
    scn = scenario.find("puppet8")
    assert scn.actions[0].args["node"] == "app1.example.net"
    with pytest.raises(BadInput, match="unknown node 'agent-1'"):
        scenario.load(_rewrite(scn.path, "app1.example.net", "agent-1"))


def _rewrite(path, old, new):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    out = folder / path.name
    out.write_text(path.read_text().replace(old, new))
    return out


@pytest.mark.parametrize(("regen", "where"), [
    ("  - regen:\n      mode: extend\n      ca_import: true\n",
     ":5: sequence[0].regen.mode: mode extend renews the CA's own certificates"),
    ("  - regen:\n      mode: partial\n", ":5: sequence[0].regen.mode: mode 'partial': use full"),
    ("  - regen:\n      root_crl_days: 1\n", ":5: sequence[0].regen.root_crl_days: goes with `ca_import: true`"),
    ("  - regen:\n      faults:\n        crl-chain-missing:\n",
     ":6: sequence[0].regen.faults: crl-chain-missing is a fault of the import"),
    ("  - regen:\n      ca_import: true\n      root_crl_days: 0\n", ":6: sequence[0].regen.root_crl_days: must be 1"),
    ("  - age-ca:\n      days: -1\n", ":5: sequence[0].age-ca.days: must be 1 or more"),
])
def test_the_modes_and_the_import_of_a_regen_are_checked_before_anything_runs(tmp_path, regen, where):
    text = "name: s\ndescription: x\nsequence:\n" + regen + "  - expect:\n      passed: true\n"
    with pytest.raises(BadInput) as err:
        scenario.load(write(tmp_path, text))
    assert str(err.value).startswith(f"{tmp_path / 's.yaml'}{where}"), str(err.value)


def test_a_scenario_that_rehearses_both_remedies_compares_them(monkeypatch):
    from regen.procedure import report

    def regenerate(site, state_root, progress, options):
        mode = options.mode
        return report.Report("fake", mode, [], "t", "t2", "", "", 35.4 if mode == "extend" else 58.0, [], [],
                             hosts=[report.HostRow(h, "agent", "puppet-agent", "7") for h in "ab"],
                             expiry=report.Expiry(ca="2041-11-25", earliest_host="2031-01-01 (agent-1)"))

    monkeypatch.setattr(actions.proven, "regenerate", regenerate)
    monkeypatch.setattr(actions, "site_of", lambda lab: lab)
    done = runner.Runner(scenario.find("ca-expired"), _FakeLab(), Progress(quiet=True), seed=1)
    monkeypatch.setattr(actions.KINDS["age-ca"], "run", lambda r, a: "aged")
    monkeypatch.setattr(actions.KINDS["agent-run"], "run", lambda r, a: "skipped")
    done.last = None
    for action in done.scenario.actions:
        if action.kind == "regen":
            actions.KINDS["regen"].run(done, action)
    text = runner.summary(done.report)
    assert [r["remedy"] for r in done.report.remedies] == ["extend", "full"]
    assert "the remedies compared:" in text
    extend, full = (line for line in text.splitlines() if line.startswith(("extend ", "full ")))
    assert "35.4s" in extend and "every host its own cert" in extend and "58.0s" in full and "a new CA" in full
