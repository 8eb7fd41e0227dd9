"""`regen.run --resume --redo`: the operator's fix of a step skipped or done wrong, then the
run goes on (a finished one too) and is proven again."""

from __future__ import annotations

import json

import pytest

from regen.core.errors import BadInput
from regen.procedure.runner import ProcedureStateError
from regen.procedure.steps import running
from regen.procedure.steps.options import RunOptions
from regen.scenarios import format as scenario_format
from tests.unit.fakes import quiet
from tests.unit.test_procedure import fake_site, steps


@pytest.fixture
def log():
    return []


def test_a_redone_step_runs_again_even_when_its_check_says_done_and_the_finished_run_goes_on(tmp_path, log):
    site = fake_site(log)
    running.run(site, tmp_path, RunOptions(steps=steps(log), check=False), progress=quiet())
    with pytest.raises(ProcedureStateError, match="nothing to resume"):
        running.run(site, tmp_path, RunOptions(steps=steps(log), resume=True, check=False), progress=quiet())
    del log[:]
    # every step's check says "done": the redone one runs anyway, the others are not run again
    state = running.run(site, tmp_path, RunOptions(steps=steps(log, done={"1.1", "1.3", "1.5", "3"}), resume=True,
                                                   redo=("1.5",), check=False), progress=quiet())
    assert [line for line in log if "leftovers" not in line] == ["server: puppetserver ca setup"]
    assert [s.result for s in state.steps if s.id == "1.5"] == ["done", "done"] and state.finished


def test_an_unknown_step_to_redo_is_refused_before_any_host_is_touched_the_state_file_as_it_was(tmp_path, log):
    site = fake_site(log)
    running.run(site, tmp_path, RunOptions(steps=steps(log), check=False), progress=quiet())
    path = tmp_path / "runs" / "fake.json"
    before = path.read_text()
    del log[:]
    with pytest.raises(BadInput, match=r"--redo 9\.9: not a step of this run; its steps: 1\.1, 1\.3, 1\.5, 3"):
        running.run(site, tmp_path, RunOptions(steps=steps(log), resume=True, redo=("9.9",), check=False),
                    progress=quiet())
    assert path.read_text() == before and json.loads(before)["finished"]
    assert log == []  # refused before any host was touched (no leftovers looked for)


def test_redo_goes_with_resume_and_never_with_skip():
    with pytest.raises(BadInput, match="--redo goes with --resume"):
        RunOptions(redo=("2.3",))
    with pytest.raises(BadInput, match="--redo and --skip both name 2.3"):
        RunOptions(resume=True, redo=("2.3",), skip=("2.3",))


def test_a_scenarios_resume_names_known_steps_to_redo(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nsequence:\n  - regen\n  - resume:\n      redo: ['9.9']\n"
                   "  - expect:\n      passed: true\n")
    with pytest.raises(BadInput, match=r"bad.yaml:6: .*redo: unknown step '9\.9'"):
        scenario_format.load(bad)
