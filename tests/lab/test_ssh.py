"""The procedure over SSH, on a lab whose nodes run sshd (as real hosts: each host's key
checked, the operator's account reaching root with sudo), and the runbook: a run over
`docker exec`, then a run over SSH on the same lab; every proof passes, and the second run
sent each host exactly the commands of the runbook the first one made."""

from __future__ import annotations

import re
import shutil

import pytest

from regen.core.config import state_dir
from regen.core.errors import CommandFailed
from regen.core.progress import Progress
from regen.core.transcript import Transcript
from regen.jobs import rehearsal
from regen.lab import sshd
from regen.lab.lab import LabSpec, ssh_site_of
from regen.procedure import runbook
from regen.procedure.runner import RunState, state_path, transcript_path
from regen.ssh.executor import SSHExecutor
from tests.conftest import lab_name, running_lab

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def ssh_lab(request, docker_client, worker_id):
    with running_lab(request, docker_client, LabSpec(name=lab_name(worker_id, "-ssh"), agents=2, ssh=True)) as made:
        yield made


def test_sshd_is_on_loopback_only_and_an_unknown_host_key_is_refused(ssh_lab, tmp_path):
    for node in ssh_lab.nodes:
        bound = ssh_lab.container(node).attrs["NetworkSettings"]["Ports"]["22/tcp"]
        assert {b["HostIp"] for b in bound} == {"127.0.0.1"}, node.name
    site = ssh_site_of(ssh_lab)
    assert all(isinstance(h.executor, SSHExecutor) for h in site.all_hosts)
    master = site.ca.executor
    assert master.run(["id", "-un"]).stdout.strip() == "root"  # regen, through sudo
    assert master.run(["sudo", "-k"], check=False).exit_code == 0
    # another known_hosts: the master's key is not there, and the connection is refused
    stranger = tmp_path / "known_hosts"
    shutil.copy(sshd.known_hosts(ssh_lab.name), stranger)
    stranger.write_text("".join(ln for ln in stranger.read_text().splitlines(keepends=True)
                                if f":{master.port} " not in ln))
    unknown = SSHExecutor("server", "127.0.0.1", port=master.port, user=sshd.USER, sudo=True, known_hosts=stranger,
                          identity=sshd.identity(ssh_lab.name))
    with pytest.raises(CommandFailed) as refused:
        unknown.run(["true"])
    assert "not found in known_hosts" in str(refused.value)


def test_the_procedure_over_ssh_passes_every_proof_and_sends_the_runbooks_commands(ssh_lab):
    name = ssh_lab.name
    # the first run's new CA lives 20 days (`ca_ttl`, read by `puppetserver ca setup`): the
    # preflight before the second names a CA close to expiry, and lets the run go ahead
    ssh_lab.server.executor.run(["puppet", "config", "set", "ca_ttl", "20d", "--section", "server"])
    first = rehearsal.regenerate(ssh_lab, Progress())  # over `docker exec`: the runbook is made of it
    assert first.passed, first.failed_step
    found = rehearsal.check(ssh_lab, ssh=True)
    ca = [c for c in found.checks if c.check == "CA"]
    assert found.ok and len(ca) == 1 and ca[0].status == "warn" and re.search(r"\(in (19|20) days\)", ca[0].detail), \
        found.checks
    book = (runbook.folder_of(state_dir(), name) / "runbook.md").read_text()
    layouts = RunState.load(state_path(state_dir(), name)).facts.layouts
    planned = runbook.normalized(Transcript.load(transcript_path(state_dir(), name)), layouts)

    second = rehearsal.regenerate(ssh_lab, Progress(), ssh=True)
    assert second.passed, second.failed_step
    assert all(p.passed for p in second.proofs) and len(second.proofs) >= 7
    ran = runbook.normalized(Transcript.load(transcript_path(state_dir(), name)), layouts)

    assert ran.keys() == planned.keys()
    differ = {k: (sorted(planned[k] - ran[k]), sorted(ran[k] - planned[k])) for k in ran if ran[k] != planned[k]}
    assert not differ, differ
    missing = [line for lines in ran.values() for line in lines if line not in book]
    assert not missing, missing
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", book)  # a file written is noted, never its content
