"""Bad input through the real command line: one line, what is wrong and what to do, no
traceback, exit status 2. None of these needs a Docker engine."""

from __future__ import annotations

import pytest

from tests.unit.fakes import run


@pytest.mark.parametrize(("args", "message"), [
    (["lab.up", "--agents", "0"], "--agents must be from 1 to 200, not 0"),
    (["lab.up", "--name", "Not A Name!"], "lab name 'Not A Name!' is not valid"),
    (["lab.status", "--name", "a/b"], "is not valid"),
    (["lab.down", "--name", "-x"], "is not valid"),
    (["lab.logs", "--name", "UP", "all"], "is not valid"),
    (["lab.up", "--name", "x\n"], "lab name 'x\\n' is not valid"),  # `$` would have let the newline in
    (["regen.run", "--name", "lab1", "--server-name", "new\n"], "--server-name 'new\\n' is not a DNS name"),
    (["regen.run", "--name", "lab1", "--agents", "agent-1,../x"], "--agents '../x' is not a node name"),
    (["regen.run", "--name", "lab1", "--agents", "agent-1", "--server-name", "new"], "not with --agents"),
    (["rehearse", "--scenario", "../../etc/passwd"], "is not a scenario's name"),
    (["soak.kill", "--disturb", "kill,reboot"], "--disturb takes some of kill,node,engine, not 'kill,reboot'"),
    (["regen.run", "--site", "small"], "--site names real hosts here: they are reached over SSH; add --ssh"),
    (["regen.check", "--known-hosts", "/tmp/k"], "--known-hosts and --identity go with --site FILE --ssh"),
    (["regen.run", "--dry-run"], "--dry-run goes with --site FILE --ssh"),
    (["regen.run", "--site", "small", "--ssh", "--known-hosts", "/nonexistent/k"],
     "no known_hosts file /nonexistent/k"),
    (["regen.run", "--site", "small", "--ssh", "--name", "x"], "--name do not go with --site"),
    (["regen.check", "--site", "nosuchsite", "--ssh"], "nosuchsite"),
    (["regen.run", "--mode", "renew"], "--mode 'renew': use full"),
    (["regen.run", "--mode", "extend", "--agents", "agent-1"], "--mode extend renews the CA's own certificates"),
    (["rehearse", "--mode", "extend", "--scenario", "wrong-alt-names"], "--mode do not go with --scenario"),
    (["regen.run", "--ca-import", "/nonexistent/set"], "--ca-import /nonexistent/set: no such folder"),
    (["regen.run", "--ca-import", "/tmp", "--mode", "extend"], "--ca-import go with the full regeneration"),
    (["regen.run", "--ca-import", "/tmp", "--agents", "agent-1"], "--ca-import makes a new CA"),
    (["regen.root", "--root-crl-days", "0"], "--root-crl-days must be 1 or more"),
])
def test_bad_arguments_get_one_clear_line(args, message):
    """Checked before any engine is reached: with none answering, the mistake is still what is said."""
    done = run(*args, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["soak.kill", "--trials", "many"], ["lab.logs", "--tail", "x", "all"],
                                  ["lab.up", "--agents", "many"], ["rehearse", "--agents", "2.5"],
                                  ["soak.kill", "--horizon", "soon"], ["regen.root", "--root-crl-days", "1.5"]])
def test_a_number_option_given_a_word_is_one_line_not_a_traceback(args):
    done = run(*args, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: a ") and "is needed here, not '" in done.stderr


def test_a_short_flag_means_one_thing_in_every_task():
    """-n is the lab's name everywhere (lab.logs' node included), -s a scenario, -u a suite; the
    options without a letter of the table are long only."""
    import re

    seen: dict[str, set[str]] = {}
    for name in ("lab.up", "lab.status", "lab.logs", "lab.down", "regen.run", "regen.check", "regen.plan",
                 "regen.rollback", "regen.root", "rehearse", "soak.kill", "scenarios.list"):
        helped = run("--help", name).stdout
        for short, long in re.findall(r"^\s+-(\w)(?: \w+)?, --([\w-]+)", helped, re.M):
            seen.setdefault(short, set()).add(long)
    assert seen["n"] == {"name"} and seen["a"] == {"agents"} and seen["s"] == {"scenario"}
    assert all(len(longs) == 1 for longs in seen.values()), seen


def test_no_daemon_is_a_clear_error():
    done = run("lab.status", "--name", "x", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert done.returncode == 3  # not a usage mistake: the engine cannot proceed
    assert "no Docker daemon answers at unix:///nonexistent/docker.sock" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_task_says_what_it_does_in_one_whole_line_of_the_list():
    """`invoke --list` shows the first line of each task's text: a whole sentence, never cut."""
    from regen.front.cli import ns

    names = ns.task_names
    assert len(names) >= 18
    for name in names:
        first = ns[name].__doc__.strip().splitlines()[0]
        assert first.endswith("."), f"{name}: {first!r}"
