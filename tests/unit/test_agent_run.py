"""`puppet agent -t` as the harness runs it: success codes, and Puppet 7's pidlock race
(the lock's holder ends between `kill -0` and `ps`) run again instead of reported."""

from __future__ import annotations

import pytest

from regen.core.errors import CommandFailed
from regen.core.executor import ExecResult
from regen.ops import puppet

RACE = ("Error: Could not run Puppet configuration client: Execution of 'ps -p 1510 -o comm=' "
        "returned 1: ")


class Answers:
    """An agent host that answers each `puppet agent -t` with the next (exit code, stderr)."""

    node = "agent-3"

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers, self.argvs = list(answers), []

    def run(self, argv, *, check=True, timeout=120, input=None, ok_codes=(0,)):
        self.argvs.append(list(argv))
        code, err = self.answers.pop(0)
        return ExecResult(self.node, tuple(argv), code, "", err)


def test_a_run_that_lost_the_lock_race_is_run_again_and_its_second_result_counts():
    host = Answers((1, RACE), (2, ""))
    res = puppet.agent_test(host)
    assert res.exit_code == 2 and len(host.argvs) == 2 and host.argvs[0] == host.argvs[1]
    assert "--waitforlock" in host.argvs[0]


def test_a_run_that_fails_otherwise_is_not_run_again():
    host = Answers((1, "Error: Could not request certificate: certificate verify failed"))
    assert puppet.agent_test(host, check=False).exit_code == 1 and len(host.argvs) == 1
    with pytest.raises(CommandFailed, match="certificate verify failed"):
        puppet.agent_test(Answers((1, "Error: certificate verify failed")))


def test_the_race_is_run_again_once_only():
    host = Answers((1, RACE), (1, RACE))
    assert puppet.agent_test(host, check=False).exit_code == 1 and len(host.argvs) == 2
