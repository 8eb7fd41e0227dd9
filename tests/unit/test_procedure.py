"""The procedure's runner with a fake executor (no Docker): order, skip-when-done,
interruption and resume, failure; and the backup verification on CAs made here."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regen.core.errors import BadInput, RegenLabError
from regen.ops import pki
from regen.ops.puppet import DEBIAN
from regen.procedure import hostbackup, runner
from regen.procedure.runner import Interrupted, ProcedureStateError, Step, StepResult
from regen.procedure.site import Host, Site
from regen.procedure.steps import master, options, plan, running
from regen.procedure.steps.options import RunOptions
from tests.unit.fakes import Recorder, cert, make_puppet_ca, pem, quiet


def fake_site(log: list[str]) -> Site:
    def host(name):
        return Host(name, name, Recorder(name, log))

    return Site.of("fake", host("server"), host("puppetdb"), host("postgres"), (host("agent-1"), host("agent-2")))


def steps(log: list[str], fail: set[str] | None = None, done: set[str] | None = None):
    def make(id_, cmd):
        def run(ctx):
            if fail and id_ in fail:
                raise RegenLabError(f"step {id_} broke")
            ctx.site.ca.executor.run(cmd.split())
            return cmd

        return Step(id_, f"step {id_}", run, lambda ctx: bool(done) and id_ in done)

    return (make("1.1", "tar backup"), make("1.3", "puppet resource service puppetserver ensure=stopped"),
            make("1.5", "puppetserver ca setup"), make("3", "puppet ssl clean --localca"))


def attempt(id_: str, result: str, detail: str = "") -> StepResult:
    return StepResult(id_, f"step {id_}", "", "", 1.0, result, detail)


@pytest.fixture
def log():
    return []


def test_steps_run_in_order_and_are_recorded(tmp_path, log):
    state = running.run(fake_site(log), tmp_path, RunOptions(steps=steps(log), check=False), progress=quiet())
    assert log == ["server: tar backup", "server: puppet resource service puppetserver ensure=stopped",
                   "server: puppetserver ca setup", "server: puppet ssl clean --localca"]
    assert [s.id for s in state.steps] == ["1.1", "1.3", "1.5", "3"] and state.finished
    saved = json.loads((tmp_path / "runs" / "fake.json").read_text())
    assert [s["result"] for s in saved["steps"]] == ["done"] * 4
    assert stat.S_IMODE((tmp_path / "runs" / "fake.json").stat().st_mode) == 0o600


def test_a_step_already_done_is_skipped(tmp_path, log):
    state = running.run(fake_site(log), tmp_path, RunOptions(steps=steps(log, done={"1.3"}), check=False),
                        progress=quiet())
    assert "server: puppet resource service puppetserver ensure=stopped" not in log
    assert [s.result for s in state.steps] == ["done", "skipped", "done", "done"]


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, log):
    site = fake_site(log)
    with pytest.raises(Interrupted):
        running.run(site, tmp_path, RunOptions(steps=steps(log), stop_after="1.3", check=False), progress=quiet())
    assert len(log) == 2
    with pytest.raises(ProcedureStateError, match="interrupted after step 1.3; continue it with --resume"):
        running.run(site, tmp_path, RunOptions(steps=steps(log), check=False), progress=quiet())
    state = running.run(site, tmp_path, RunOptions(steps=steps(log), resume=True, check=False), progress=quiet())
    # what the interrupted run left running is ended on every host first
    assert sorted(log[2:7]) == [f"{h}: (leftovers stopped)" for h in ("agent-1", "agent-2", "postgres", "puppetdb",
                                                                      "server")]
    assert log[7:] == ["server: puppetserver ca setup", "server: puppet ssl clean --localca"]
    assert [s.id for s in state.steps] == ["1.1", "1.3", "1.5", "3"]
    with pytest.raises(ProcedureStateError, match="nothing to resume"):
        running.run(site, tmp_path, RunOptions(steps=steps(log), resume=True, check=False), progress=quiet())


def test_a_failed_step_is_recorded_and_rerun_on_resume(tmp_path, log):
    site = fake_site(log)
    with pytest.raises(RegenLabError, match="step 1.5 broke"):
        running.run(site, tmp_path, RunOptions(steps=steps(log, fail={"1.5"}), check=False), progress=quiet())
    saved = json.loads((tmp_path / "runs" / "fake.json").read_text())
    assert [(s["id"], s["result"]) for s in saved["steps"]] == [("1.1", "done"), ("1.3", "done"), ("1.5", "failed")]
    state = running.run(site, tmp_path, RunOptions(steps=steps(log), resume=True, check=False), progress=quiet())
    assert [s.result for s in state.steps if s.id == "1.5"] == ["failed", "done"]


def graph(events: list[str], fail: set[str] = frozenset(), hold: dict | None = None):
    """1 -> {a, b, c} side by side; d needs a and b. A step in ``hold`` waits for its event,
    so a test can see which steps run at the same time."""
    import threading
    import time

    hold = hold or {}
    gate = threading.Lock()

    def make(id_, needs=None):
        def run(ctx):
            with gate:
                events.append(f"start {id_}")
            if id_ in hold:
                assert hold[id_].wait(5), f"{id_} was never released"
            time.sleep(0.01)
            if id_ in fail:
                raise RegenLabError(f"step {id_} broke")
            with gate:
                events.append(f"end {id_}")
        return Step(id_, f"step {id_}", run, **({"needs": needs} if needs is not None else {}))

    return (make("1"), make("a", ("1",)), make("b", ("1",)), make("c", ("1",)), make("d", ("a", "b")))


def test_steps_whose_needs_are_met_run_side_by_side(tmp_path, log):
    import threading

    b_started = threading.Event()
    # a may only end once b has started: a and b must run at the same time, or this hangs
    release = {"a": b_started}

    class Watch(list):
        def append(self, item):
            super().append(item)
            if item == "start b":
                b_started.set()

    events = Watch()
    state = running.run(fake_site(log), tmp_path, RunOptions(steps=graph(events, hold=release), check=False),
                        progress=quiet())
    assert events.index("end 1") < min(events.index(f"start {x}") for x in "abc")
    assert events.index("start d") > max(events.index("end a"), events.index("end b"))
    assert sorted(s.id for s in state.steps) == ["1", "a", "b", "c", "d"] and state.finished


def test_after_a_failure_nothing_new_starts_and_the_running_steps_are_recorded(tmp_path, log):
    events: list[str] = []
    with pytest.raises(RegenLabError, match="step a broke"):
        running.run(fake_site(log), tmp_path, RunOptions(steps=graph(events, fail={"a"}), check=False),
                    progress=quiet())
    assert "start d" not in events
    saved = json.loads((tmp_path / "runs" / "fake.json").read_text())
    results = {s["id"]: s["result"] for s in saved["steps"]}
    assert results == {"1": "done", "a": "failed", "b": "done", "c": "done"}
    state = running.run(fake_site(log), tmp_path, RunOptions(steps=graph(events), resume=True, check=False),
                        progress=quiet())
    assert [s.id for s in state.steps][-2:] == ["a", "d"] and state.finished


def test_stop_after_runs_the_steps_up_to_it_in_the_procedures_order(tmp_path, log):
    events: list[str] = []
    with pytest.raises(Interrupted):
        running.run(fake_site(log), tmp_path, RunOptions(steps=graph(events), stop_after="b", check=False),
                    progress=quiet())
    assert sorted(e for e in events if e.startswith("end")) == ["end 1", "end a", "end b"]
    state = running.run(fake_site(log), tmp_path, RunOptions(steps=graph(events), resume=True, check=False),
                        progress=quiet())
    assert sorted(s.id for s in state.steps) == ["1", "a", "b", "c", "d"]


def test_a_need_left_out_of_the_run_counts_as_met():
    from regen.procedure.runner import needs_of

    full = plan.steps_for("full")
    assert needs_of(full)["3.s"] == {"3", "2.5"} and needs_of(full)["3"] == {"1.8", "2.2"}
    assert needs_of(plan.steps_for("full", skip=("2.2",)))["3"] == {"1.8"}  # never before the new CA
    assert needs_of(full)["2.5"] == {"2.1", "2.2"} and needs_of(full)["1.9"] == {"1.8", "2.5"}
    assert needs_of(full)["3.m"] == {"3", "2.3", "2.4"}
    assert needs_of(full)["1.1"] == {"1.3"}  # the backup once the server is stopped
    partial = plan.steps_for("partial")
    assert needs_of(partial)["3"] == {"p.1"} and needs_of(partial)["3.s"] == {"3"}
    assert needs_of(plan.steps_for("full", skip=("2.5",)))["3.s"] == {"3"}
    with_compilers = plan.steps_for("full", compilers=True)
    assert needs_of(with_compilers)["2.6"] == {"1.8"} and needs_of(with_compilers)["3.s"] == {"3", "2.5", "2.6"}
    assert needs_of(with_compilers)["1.9"] == {"1.8", "2.5", "2.6"} and "2.6" not in {s.id for s in full}


def test_the_extension_renews_the_ca_then_its_bundle_everywhere_and_reenrolls_nobody():
    from regen.procedure.runner import needs_of

    extend = plan.steps_for("extend")
    assert [s.id for s in extend] == ["0", "1.3", "1.1", "e.1", "1.8", "e.2", "1.9", "3.w", "3.m"]
    needs = needs_of(extend)
    assert needs["1.1"] == {"1.3"} and needs["e.1"] == {"1.1"} and needs["1.8"] == {"e.1"}
    assert needs["e.2"] == {"1.8"} and needs["1.9"] == needs["3.w"] == needs["3.m"] == {"e.2"}
    assert [s.id for s in plan.steps_for("extend", mcollective=False)][-1] == "3.w"
    with pytest.raises(RegenLabError, match="--mode extend renews the CA's own certificates"):
        options.check_mode("extend", ["agent-1"], None)
    with pytest.raises(RegenLabError, match="use full .* or extend"):
        options.check_mode("renew", None, None)


def test_unknown_steps_and_agents_are_refused(tmp_path, log):
    with pytest.raises(RegenLabError, match="unknown step"):
        plan.steps_for("full", skip=("9.9",))
    with pytest.raises(RegenLabError, match="has no agent 'agent-7'"):
        running.run(fake_site(log), tmp_path, RunOptions(agents=["agent-7"], check=False), progress=quiet())


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _backup_files():
    root, inter, leaf, leaf_key = make_puppet_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    ca_crt = cert("Puppet CA: server", key, "Puppet CA: server", key, ca=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    part = _master_part()
    files = {p.lstrip("/"): b"x" for p in (*part.files, *(p for pair in part.pairs for p in pair), DEBIAN.puppet_conf)}
    files["etc/puppet/puppetserver/ca/ca_crt.pem"] = pem(ca_crt)
    files["etc/puppet/puppetserver/ca/ca_key.pem"] = key_pem
    files["var/lib/puppet/ssl/certs/server.pem"] = pem(leaf)
    files["var/lib/puppet/ssl/private_keys/server.pem"] = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return files


def _master_part():
    server = Host("server", "server", Recorder("server", []))
    server.remember(DEBIAN)
    return hostbackup.master_part(server)


def test_backup_verification_accepts_a_whole_backup_and_hashes_every_file():
    files = _backup_files()
    hashed = hostbackup.verify_part(_master_part(), _tar(files))
    assert hashed == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def test_backup_verification_refuses_a_missing_file_or_a_foreign_key():
    files = _backup_files()
    del files["etc/puppet/puppetserver/ca/serial"]
    with pytest.raises(RegenLabError, match="lacks /etc/puppet/puppetserver/ca/serial; nothing was changed"):
        hostbackup.verify_part(_master_part(), _tar(files))
    files = _backup_files()
    del files["etc/puppet/puppet.conf"]
    with pytest.raises(RegenLabError, match="lacks /etc/puppet/puppet.conf"):
        hostbackup.verify_part(_master_part(), _tar(files))
    files = _backup_files()
    files["etc/puppet/puppetserver/ca/ca_key.pem"] = _backup_files()["etc/puppet/puppetserver/ca/ca_key.pem"]
    with pytest.raises(RegenLabError, match="ca_key.pem does not match /etc/puppet/puppetserver/ca/ca_crt.pem"):
        hostbackup.verify_part(_master_part(), _tar(files))
    files = _backup_files()
    files["var/lib/puppet/ssl/private_keys/server.pem"] = _backup_files()["var/lib/puppet/ssl/private_keys/server.pem"]
    with pytest.raises(RegenLabError, match="private_keys/server.pem does not match /var/lib/puppet/ssl/certs/server"):
        hostbackup.verify_part(_master_part(), _tar(files))


def test_a_step_failed_then_done_on_resume_does_not_fail_the_report():
    from regen.procedure.proof import ProofResult
    from regen.procedure.report import Report

    def step(result):
        return attempt("3", result)

    proofs = [ProofResult("agents-run", "claim", "pass", "evidence", id="1")]
    resumed = Report("l", "full", ["agent-1"], "", "", "", "", None, [step("failed"), step("done")], proofs)
    assert resumed.failed_step is None and resumed.passed
    stopped = Report("l", "full", ["agent-1"], "", "", "", "", None, [step("done"), step("failed")], proofs)
    assert stopped.failed_step == "3" and not stopped.passed


def _state(done: list[str], mode: str = "full", backup: bool = True, hosts: bool = True) -> runner.RunState:
    state = runner.RunState(lab="l", mode=mode, agents=["agent-1"], autosign=False)
    state.steps = [attempt(i, "done") for i in done] + [attempt("1.8", "failed")]
    if backup:
        state.facts.backup.path = "/nowhere.tar.gz"
    if hosts:
        state.facts.backup.hosts_path = "/nowhere.hosts.tar"
    return state


def _touched(state: runner.RunState, agents: list[str] | None) -> runner.RunState:
    """Step 3 began; ``agents``: those it had touched (None: a state file older than that record)."""
    state.begun = [s.id for s in state.steps] + ["3"]
    state.facts.agents_touched = agents
    return state


def _failed_in(state: runner.RunState, step_id: str) -> runner.RunState:
    """A run whose ``step_id`` failed half-way (PostgreSQL may already hold the new CA's cert)."""
    state.steps = [s for s in state.steps if s.result != "failed"] + [attempt(step_id, "failed")]
    return state


def _begun(state: runner.RunState, step_id: str) -> runner.RunState:
    """A run killed inside ``step_id``: the step began (saved before it ran), no attempt recorded."""
    state.steps = [s for s in state.steps if s.result != "failed"]
    state.begun = [s.id for s in state.steps] + [step_id]
    return state


def _finished(state: runner.RunState) -> runner.RunState:
    state.finished = "2026-11-28T07:00:00.000Z"
    return state


def test_a_run_that_failed_in_step_1_can_be_rolled_back():
    from regen.procedure import rollback

    rollback.restorable(_state(["0", "1.1", "1.3", "1.4", "1.5"]))
    stopped = _state(["0", "1.2", "1.3"], backup=False)  # killed before its backup: nothing deleted
    stopped.steps = stopped.steps[:-1]
    rollback.restorable(stopped)  # the services are started again
    again = _state(["0", "1.1", "1.3", "1.4", "1.5"])  # a rollback killed in r.2, run again
    again.begun = ["0", "1.1", "1.3", "1.4", "1.5", "1.8", "r.1", "r.2"]
    rollback.restorable(again)


@pytest.mark.parametrize("state", [
    _state(["0", "1.0", "1.1", "1.8", "2.1", "2.2", "2.3", "2.4", "2.5", "1.9"]),  # every server changed
    _failed_in(_state(["0", "1.0", "1.1", "1.8"]), "2.1"),  # PostgreSQL may hold the new CA's cert
    _begun(_state(["0", "1.0", "1.1", "1.5"]), "2.2"),  # killed inside 2.2: no attempt recorded
    _touched(_state(["0", "1.0", "1.1", "1.8", "2.2"]), []),  # step 3 began, no agent stopped yet
])
def test_a_run_can_be_rolled_back_until_its_first_agent_is_touched(state):
    from regen.procedure import rollback

    rollback.restorable(state)


@pytest.mark.parametrize("state, why", [
    (_touched(_state(["0", "1.1", "1.8", "2.2"]), ["agent-1"]), r"step 3 has begun re-enrolling agents \(agent-1\)"),
    (_touched(_state(["0", "1.1", "1.8", "2.2"]), None), "steps 3 were started, and may have moved agents"),
    (_state(["0", "1.1", "1.8", "2.2", "3", "3.s"]), "steps 3.s were started"),
    (_state(["0", "1.1", "1.8", "2.1", "2.2"], hosts=False), "steps 2.1, 2.2 changed other hosts and this run kept "
                                                             r"no backup of them \(step 1.0\)"),
    (_state(["0", "1.1", "1.8", "2.6"], hosts=False), "steps 2.6 changed other hosts"),  # a compiler too
    (_state(["0", "1.1", "1.8", "9.9"]), "steps 9.9 were started"),  # a step this Regen Lab does not know
    (_state(["0"], backup=False), "the run has no backup, yet steps 1.8 were started"),
    (_begun(_state([], backup=False), "0"), "nothing to roll back: the run of 'l' stopped in step 0 and changed "
                                             "nothing; continue it with --resume"),
    (_state(["0", "p.1"], mode="partial"), "a partial run keeps the CA"),
    (_state(["0", "1.1", "r.1", "r.2"], mode="rollback"), "already rolled back"),
    (_finished(_state(["0", "1.1", "1.8", "3"])), "finished at .*: a rollback undoes only a run that failed before"),
])
def test_a_rollback_is_refused_once_agents_were_touched_or_with_nothing_to_restore(state, why):
    from regen.procedure import rollback

    with pytest.raises(ProcedureStateError, match=why):
        rollback.restorable(state)


def test_a_rolled_back_run_is_judged_on_its_rollback_steps():
    from regen.procedure.proof import ProofResult
    from regen.procedure.report import Report

    def step(id_, result):
        return attempt(id_, result)

    proofs = [ProofResult("agents-run", "claim", "pass", "evidence", id="1")]
    steps = [step("1.5", "done"), step("1.8", "failed"), step("r.1", "done"), step("r.2", "done")]
    assert Report("l", "rollback", [], "", "", "", "", None, steps, proofs).passed
    assert Report("l", "full", [], "", "", "", "", None, steps, proofs).failed_step == "1.8"
    broken = Report("l", "rollback", [], "", "", "", "", None, [*steps, step("r.3", "failed")], proofs)
    assert broken.failed_step == "r.3" and not broken.passed


@pytest.mark.parametrize(("name", "agents", "error"), [
    ("Puppet.DC2", None, "is not a DNS name"),
    ("puppet..dc2", None, "is not a DNS name"),
    ("-puppet", None, "is not a DNS name"),
    ("puppet.dc2.example", ["agent-1"], "not with --agents"),
])
def test_a_new_server_name_is_checked_before_anything_runs(name, agents, error):
    with pytest.raises(BadInput, match=error):
        options.check_server_name(name, agents)
    options.check_server_name("puppet.dc2.example", None)
    options.check_server_name(None, ["agent-1"])


def test_the_state_file_round_trips_typed_and_names_its_schema(tmp_path):
    from regen.procedure.runner import SCHEMA, RunState

    state = runner.RunState(lab="l", mode="full", agents=["agent-1"], autosign=False)
    state.facts.before.agent_serials = {"agent-1": 5}
    state.facts.mco.replies_before = {"agent-1": 31.5}
    state.facts.times.server_stopped_at = "2026-11-29T05:00:00.000Z"
    state.steps.append(attempt("0", "done", "old CA AB..."))
    path = tmp_path / "runs" / "l.json"
    state.save(path)
    assert json.loads(path.read_text())["schema"] == SCHEMA
    again = RunState.load(path)
    assert again == state and again.steps[0].detail == "old CA AB..." and again.facts.before.agent_serials == {
        "agent-1": 5}


@pytest.mark.parametrize(("text", "error"), [
    ('{"lab": "l", "mode": "full", "agents": [], "autosign": false, "facts": {}, "steps": []}',
     "is of schema 1; this Regen Lab reads schema 2: finish or roll back that run"),
    ('{"schema": 2, "lab": "l"}', "is not a run's state"),
    ("{not json", "cannot be read"),
    ("", "cannot be read"),  # empty
    ('{"schema": 2, "lab": "l", "mode": "full", "agents": [], "autos', "cannot be read"),  # truncated
    ("[1, 2]", "is of schema \\?"),  # foreign
    ('{"schema": 2, "lab": "l", "mode": "full", "agents": [], "autosign": false, "facts": {"before": 3}, '
     '"steps": []}', "is not a run's state"),
])
def test_a_state_file_of_another_schema_or_damaged_is_refused_with_what_to_do(tmp_path, text, error):
    from regen.procedure import rollback

    path = tmp_path / "runs" / "fake.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    for attempt in (lambda: running.run(fake_site([]), tmp_path, RunOptions(steps=(), check=False), progress=quiet()),
                    lambda: running.run(fake_site([]), tmp_path, RunOptions(steps=(), resume=True), progress=quiet()),
                    lambda: rollback.rollback(fake_site([]), tmp_path, quiet())):
        with pytest.raises(ProcedureStateError, match=error):
            attempt()


def _backup_ctx(tmp_path, files: dict[str, bytes]):
    from regen.procedure.runner import Context, RunState
    from regen.procedure.site import Host, Site
    from tests.unit.fakes import Scripted

    data = _tar(files)
    ca = Scripted("server", {"/root/regen-backup-7.tar.gz": data},
                  [(lambda argv: argv[0] != "cat", (0, "", ""))])
    site = Site.of("lab1", Host("server", "server", ca), *(Host(n, n, Scripted(n)) for n in ("puppetdb", "postgres")),
                agents=())
    state = RunState(lab="lab1", mode="full", agents=[], autosign=False, started="2026-11-29T10:00:00.000Z")
    return Context(site, state, tmp_path / "backups", quiet()), data


@pytest.fixture
def ns7(monkeypatch):
    """time.time_ns() is 7: the backup's temporary file on the master has a known name."""
    import time

    monkeypatch.setattr(time, "time_ns", lambda: 7)


def test_the_backup_is_owner_only_read_back_and_leaves_nothing_on_the_master(tmp_path, ns7):
    ctx, data = _backup_ctx(tmp_path, _backup_files())
    detail = master.backup(ctx)
    path = tmp_path / "backups" / "lab1-2026-11-29T100000.000Z.tar.gz"
    assert path.read_bytes() == data and ctx.state.facts.backup.path == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(ctx.state.facts.backup.files) == len(_backup_files()) and "read back" in detail
    assert ["rm", "-f", "/root/regen-backup-7.tar.gz"] in ctx.site.ca.executor.log
    tar = next(a for a in ctx.site.ca.executor.log if a[0] == "sh" and "tar -C /" in a[2])
    assert 'rm -f "$p"-*.tar.gz;' in tar[2] and tar[4:6] == ["/root/regen-backup", "/root/regen-backup-7.tar.gz"]
    assert tar[6:] == ["etc/puppet/puppetserver/ca", "var/lib/puppet/ssl", "etc/puppet/puppet.conf"]


def test_a_full_disk_is_one_clear_error_and_leaves_no_partial_backup(tmp_path, monkeypatch, ns7):
    import errno
    import os

    ctx, _ = _backup_ctx(tmp_path, _backup_files())

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RegenLabError, match="cannot write .*lab1-.*tar.gz: No space left on device"):
        master.backup(ctx)
    assert list((tmp_path / "backups").iterdir()) == [] and not ctx.state.facts.backup.path


def test_backups_are_listed_with_their_ca_and_pruned_keeping_the_newest_and_the_one_in_use(tmp_path):
    from regen.procedure import backups
    from regen.procedure.runner import RunState

    files = _backup_files()
    folder = tmp_path / "backups"
    folder.mkdir()
    runs = ["2026-11-27T100000.000Z", "2026-11-28T100000.000Z", "2026-11-29T100000.000Z"]
    for run in runs:
        (folder / f"lab1-{run}.tar.gz").write_bytes(_tar(files))
    hosts = io.BytesIO()
    with tarfile.open(fileobj=hosts, mode="w") as tar:
        for part in ("postgres", "puppetdb"):
            info = tarfile.TarInfo(f"{part}.tar.gz")
            info.size = len(_tar({"etc/x": b"x"}))
            tar.addfile(info, io.BytesIO(_tar({"etc/x": b"x"})))
    for run in runs[:2]:
        (folder / f"lab1-{run}.hosts.tar").write_bytes(hosts.getvalue())
    (folder / f"lab2-{runs[0]}.tar.gz").write_bytes(b"not a tarball")
    (folder / "notes.tar.gz").write_bytes(b"")  # not a backup's name: never listed, never removed
    unfinished = RunState(lab="lab1", mode="full", agents=[], autosign=False)
    unfinished.facts.backup.path = str(folder / f"lab1-{runs[0]}.tar.gz")
    unfinished.facts.backup.hosts_path = str(folder / f"lab1-{runs[0]}.hosts.tar")
    unfinished.save(runner.state_path(tmp_path, "lab1"))

    listed = backups.find(tmp_path)
    assert [(b.lab, b.run, b.kind, b.in_use) for b in listed] == [
        ("lab1", runs[0], "master", True), ("lab1", runs[0], "other hosts", True),
        ("lab1", runs[1], "master", False), ("lab1", runs[1], "other hosts", False),
        ("lab1", runs[2], "master", False), ("lab2", runs[0], "master", False)]
    ca_crt = files["etc/puppet/puppetserver/ca/ca_crt.pem"]
    assert listed[0].holds == pki.ca_fingerprint(ca_crt) and listed[5].holds == "unreadable"
    assert listed[1].holds == "postgres, puppetdb"

    removed = backups.prune(tmp_path, keep=1)  # runs: the newest one kept, and the one in use
    assert sorted(b.path.name for b in removed) == [f"lab1-{runs[1]}.hosts.tar", f"lab1-{runs[1]}.tar.gz"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"lab1-{runs[0]}.hosts.tar", f"lab1-{runs[0]}.tar.gz", f"lab1-{runs[2]}.tar.gz", f"lab2-{runs[0]}.tar.gz",
         "notes.tar.gz"])
    with pytest.raises(BadInput, match="--keep must be 0 or more"):
        backups.prune(tmp_path, keep=-1)


def test_a_resume_goes_on_when_a_host_is_down(tmp_path, log):
    """Looking for what the interrupted run left running cannot reach a host that is down
    (the agent-offline scenario): the resume goes on, and the step that needs it says why."""
    from regen.core.errors import CommandFailed

    site = fake_site(log)

    def down():
        raise CommandFailed("agent-2", ["sh"], 1, "Error response from daemon: container is not running")

    site.agents[1].executor.stop_leftovers = down
    with pytest.raises(Interrupted):
        running.run(site, tmp_path, RunOptions(steps=steps(log), stop_after="1.3", check=False), progress=quiet())
    state = running.run(site, tmp_path, RunOptions(steps=steps(log), resume=True, check=False), progress=quiet())
    assert state.finished and log[-2:] == ["server: puppetserver ca setup", "server: puppet ssl clean --localca"]


def test_a_resume_runs_again_a_done_service_step_that_no_longer_holds(tmp_path, log):
    """A host rebooted after its service step was done: the step is checked again on resume
    (``recheck``) and run again; a done step without ``recheck`` is never looked at again."""
    from regen.procedure.runner import Context, RunState, execute

    serving = {"server": True}
    ran: list[str] = []

    def start(ctx):
        ran.append("1.8")
        serving["server"] = True

    steps = (Step("1.3", "stop", lambda ctx: ran.append("1.3"), lambda ctx: False),
             Step("1.8", "start", start, lambda ctx: serving["server"], recheck=True),
             Step("2.1", "cert", lambda ctx: ran.append("2.1")))
    state = RunState(lab="l", mode="full", agents=[], autosign=False)
    path = tmp_path / "run.json"
    ctx = Context(fake_site(log), state, tmp_path, quiet())
    with pytest.raises(Interrupted):
        execute(ctx, steps, path, stop_after="1.8")
    assert ran == ["1.3"]  # 1.8 was found done (skipped)
    serving["server"] = False  # the master rebooted: its server serves an old cert, or nothing
    execute(Context(fake_site(log), RunState.load(path), tmp_path, quiet()), steps, path)
    assert ran == ["1.3", "1.8", "2.1"]  # 1.3 (done, no recheck) not again
    assert [(s.id, s.result) for s in RunState.load(path).steps] == [("1.3", "done"), ("1.8", "skipped"),
                                                                     ("1.8", "done"), ("2.1", "done")]


def test_a_resume_stops_the_daemons_a_restart_started_early_on_agents_already_re_enrolled(log):
    """Agents re-enrolled in step 3 keep their daemons stopped until 3.s; one that restarted
    since runs its daemon (enabled at boot) and is stopped again; once 3.s is done, none is."""
    site = fake_site(log)  # every `status` answers 0: every daemon runs
    state = runner.RunState(lab="l", mode="full", agents=[a.name for a in site.agents], autosign=False)
    state.facts.agents_done = [site.agents[0].name]
    running.settle(site, state, quiet())
    stops = [line for line in log if line.endswith("service puppet stop")]
    assert stops == [f"{site.agents[0].name}: service puppet stop"]
    log.clear()
    state.steps = [attempt("3.s", "done")]
    running.settle(site, state, quiet())
    assert log == []


def test_a_ca_whose_master_cert_lacks_the_alt_names_asked_for_is_not_kept():
    """A master that rebooted between 1.4 and 1.5 made a CA of its own at start: kept only if
    its master cert carries the alt names the run asks for."""
    from tests.unit.fakes import Scripted

    root, inter, _, _ = make_puppet_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    master_cert = cert("server", key, "Puppet CA: server", key, ca=False, sans=("server", "puppet"))
    files = {"/etc/puppet/puppetserver/ca/ca_crt.pem": pem(inter, root),
             "/var/lib/puppet/ssl/certs/server.pem": pem(master_cert)}
    ca = Scripted("server", files, [(lambda argv: argv[0] == "sh", (0, "", ""))])
    site = Site.of("l", Host("server", "server", ca), *(Host(n, n, ca) for n in ("puppetdb", "postgres")), agents=())
    state = runner.RunState(lab="l", mode="full", agents=[], autosign=False)
    state.facts.before.ca_fingerprint = "AA:old"
    ctx = runner.Context(site, state, Path("/nowhere"), quiet())
    assert master.ca_made(ctx, ["puppet"])
    assert not master.ca_made(ctx, ["puppet.dc2.example"])


def test_the_soak_restarts_the_engine_every_10th_trial_a_node_every_5th_from_the_3rd_and_kills_otherwise():
    from regen.jobs.soak import plan

    every = ("kill", "node", "engine")
    assert [plan(n, every) for n in range(1, 11)] == ["kill", "kill", "node", "kill", "kill", "kill", "kill",
                                                      "node", "kill", "engine"]
    assert {plan(n, ("kill",)) for n in range(1, 31)} == {"kill"}
    assert plan(10, ("kill", "node")) == "kill" and plan(13, ("kill", "node")) == "node"
