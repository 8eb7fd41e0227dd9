"""One command at a time per lab: a second caller is refused at once, naming the holder,
and nothing of the first is touched; a killed holder leaves no stale lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from regen.core import lock
from regen.core.errors import EXIT_NOT_READY, Locked

HOLDER = textwrap.dedent("""
    import sys, time
    from regen.core import lock
    with lock.hold("lab1"):
        print("held", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def holder(tmp_path):
    """Another process holding lab1's lock (the state folder is tmp_path)."""
    env = {**os.environ, "REGENLAB_STATE": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, "regen.run", "--name", "lab1"], env=env,
                            stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_caller_is_refused_with_the_holder_named(holder, tmp_path, monkeypatch):
    monkeypatch.setenv("REGENLAB_STATE", str(tmp_path))
    with pytest.raises(Locked) as err:
        with lock.hold("lab1"):
            pytest.fail("ran beside the holder")
    message = str(err.value)
    assert f"lab 'lab1' is busy: pid {holder.pid} (`-c regen.run --name lab1`, since " in message
    assert err.value.exit_code == EXIT_NOT_READY == 3
    with lock.hold("lab2"):  # another lab is free
        pass


def test_a_killed_holder_leaves_no_stale_lock(holder, tmp_path, monkeypatch):
    monkeypatch.setenv("REGENLAB_STATE", str(tmp_path))
    holder.kill()
    holder.wait()
    with lock.hold("lab1"):
        assert lock.holder(lock.lock_path("lab1")).startswith(f"pid {os.getpid()} ")


def test_the_lock_is_reentrant_in_one_process_and_released_at_the_end(tmp_path, monkeypatch):
    monkeypatch.setenv("REGENLAB_STATE", str(tmp_path))
    with lock.hold("lab1"):
        with lock.hold("lab1"):  # a job that holds it calls another that takes it
            pass
        assert "lab1" in lock._held
    assert "lab1" not in lock._held
    probe = subprocess.run([sys.executable, "-c", "from regen.core import lock\nwith lock.hold('lab1'): print('ok')"],
                           env={**os.environ, "REGENLAB_STATE": str(tmp_path)}, capture_output=True, text=True)
    assert probe.stdout.strip() == "ok", probe.stderr
    assert oct(lock.lock_path("lab1").stat().st_mode & 0o777) == "0o600"


def test_up_down_run_and_rollback_of_a_held_lab_touch_nothing(holder, tmp_path, monkeypatch):
    """The engine is never asked: a client that fails on any use shows nothing was looked at."""
    from regen.jobs import rehearsal
    from regen.lab import lab as lab_lib
    from regen.lab import provision
    from regen.lab import spec as lab_spec

    class Untouchable:
        def __getattr__(self, name):
            pytest.fail(f"the engine was used ({name}) while another command held the lab")

    monkeypatch.setenv("REGENLAB_STATE", str(tmp_path))
    lab = lab_lib.Lab(Untouchable(), "lab1")
    for attempt in (lambda: provision.up(Untouchable(), lab_spec.LabSpec(name="lab1")),
                    lambda: lab_lib.down(Untouchable(), "lab1"),
                    lambda: rehearsal.regenerate(lab, None),
                    lambda: rehearsal.roll_back(lab, None)):
        with pytest.raises(Locked, match=f"pid {holder.pid} "):
            attempt()
