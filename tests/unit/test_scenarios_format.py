"""Scenario files: every shipped file loads; a file with a mistake is refused with its file,
line and field, and nothing runs (no Docker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from regen import scenario
from regen.errors import BadInput
from tests.unit.test_cli import run

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
    assert names == sorted(p.stem for p in paths)
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
])
def test_a_mistake_names_the_file_line_and_field(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as err:
        scenario.load(path)
    assert str(err.value).startswith(f"{path}{where}"), str(err.value)


def test_rehearse_refuses_an_unknown_scenario_and_runs_nothing():
    done = run("rehearse", "--scenario", "no-such-scenario")
    assert done.returncode == 2
    assert "no scenario named 'no-such-scenario'" in done.stderr and "full-regen" in done.stderr


def test_expectations_hold_or_not_with_the_evidence_line():
    text = ("step 3: failed: agent-2: `puppet ssl submit_request` exited 1:\n"
            "Error: certificate verify failed [unable to get local issuer certificate for CN=server]")
    last = scenario.Outcome("regen", passed=False, failed_step="3", proofs_failed=["2"], text=text)
    expect = scenario.Action("expect", {"passed": False, "failed_step": "3", "proofs_failed": ["2"],
                                        "evidence": ["unable to get local issuer certificate", "no such text"]}, 9)
    held = scenario.check(expect, last)
    assert [h.held for h in held] == [True, True, True, True, False]
    assert "certificate verify failed [unable to get local issuer" in held[3].evidence
    assert held[4].evidence.startswith("not found; the output's errors: ") and all(h.line == 9 for h in held)


def test_a_fault_replaces_only_its_step():
    from regen import faults, procedure

    steps = procedure.steps_for("full")
    changed = faults.apply(steps, {"clean-without-localca": "agent-2", "drop-alt-names": None})
    assert [s.id for s in changed] == [s.id for s in steps]
    differs = [a.id for a, b in zip(steps, changed, strict=True) if a is not b]
    assert differs == ["1.5", "3"]


def test_a_lab_without_mcollective_says_so():
    from regen.lab import NodeStatus, mcollective_line

    rows = [NodeStatus("agent-1", "agent", "agent-1", "5", "AB", "ready", "none")]
    assert "none in this lab" in mcollective_line(rows)
    rows = [NodeStatus(f"agent-{i}", "agent", f"agent-{i}", "5", "AB", "ready", m) for i, m in
            ((1, "40 ms"), (2, "no reply"))]
    assert mcollective_line(rows).startswith("MCollective: 1/2 agents answer")
