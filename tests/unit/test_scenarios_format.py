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
    (GOOD.format(name="s") + "lab:\n  puppet: 8\n", ":9: lab.puppet: Puppet 8 labs are not available"),
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
