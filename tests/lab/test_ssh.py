"""The procedure over SSH, on a lab whose nodes run sshd (as real hosts: each host's key
checked, the operator's account reaching root with sudo), and the runbook: a run over
`docker exec`, then a run over SSH on the same lab; every proof passes, and the second run
sent each host exactly the commands of the runbook the first one made."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from regen.core.config import state_dir
from regen.core.errors import CommandFailed
from regen.core.progress import Progress
from regen.core.transcript import Transcript
from regen.jobs import production, rehearsal
from regen.lab import sshd
from regen.lab.lab import LabSpec, ssh_site_of
from regen.procedure import runbook
from regen.procedure.runner import RunState, state_path, transcript_path
from regen.ssh.executor import SSHExecutor
from tests.conftest import lab_name, running_lab

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
INVOKE = ROOT / ".venv" / "bin" / "invoke"


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


def _site_file(lab, folder) -> str:
    """The lab described as a user describes real hosts: a site file whose `connect:` says how
    each host is reached (its loopback port, as `regen` with sudo)."""
    site = ssh_site_of(lab)
    reach = "".join(f"  {h.name}: {{address: 127.0.0.1, port: {h.executor.port}, user: {sshd.USER}, sudo: true}}\n"
                    for h in site.all_hosts)
    path = folder / "site.yaml"
    path.write_text(f"name: {lab.name}\nmaster: {{certname: server, dns_alt_names: [puppet]}}\n"
                    "puppetdb: {certname: puppetdb, postgres: postgres}\nmcollective: {broker: broker}\n"
                    f"agents: [{', '.join(a.name for a in site.agents)}]\nsigning: manual\nconnect:\n{reach}")
    return str(path)


def test_the_procedure_over_ssh_passes_every_proof_and_sends_the_runbooks_commands(ssh_lab, tmp_path):
    name = ssh_lab.name
    # the first run's new CA lives 20 days (`ca_ttl`, read by `puppetserver ca setup`): the
    # preflight before the second names a CA close to expiry, and lets the run go ahead
    ssh_lab.server.executor.run(["puppet", "config", "set", "ca_ttl", "20d", "--section", "server"])
    first = rehearsal.regenerate(ssh_lab, Progress())  # over `docker exec`: the runbook is made of it
    assert first.passed, first.failed_step
    book = (runbook.folder_of(state_dir(), name) / "runbook.md").read_text()
    layouts = RunState.load(state_path(state_dir(), name)).facts.layouts
    planned = runbook.normalized(Transcript.load(transcript_path(state_dir(), name)), layouts)

    # the second run as on real hosts: a site file, its `connect:` entries, a known_hosts file and a key
    site_file = _site_file(ssh_lab, tmp_path)
    options = ["--site", site_file, "--ssh", "--known-hosts", str(sshd.known_hosts(name)),
               "--identity", str(sshd.identity(name))]
    dry = subprocess.run([str(INVOKE), "regen.run", *options, "--dry-run"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"preflight of {name}-prod:" in dry.stdout and "the run can go ahead" in dry.stdout
    assert re.search(r"site +CA +warn +expires \S+ \(in (19|20) days\)", dry.stdout), dry.stdout
    assert "2.3   ActiveMQ broker re-enrolled" in dry.stdout and "no runbook of this site yet" in dry.stdout

    real = production.site(site_file, str(sshd.known_hosts(name)), str(sshd.identity(name)))
    assert all(isinstance(h.executor, SSHExecutor) and h.executor.sudo for h in real.all_hosts)
    second = production.regenerate(real, Progress())
    assert second.passed, second.failed_step
    assert all(p.passed for p in second.proofs) and len(second.proofs) == 7
    ran = runbook.normalized(Transcript.load(transcript_path(state_dir(), real.name)), layouts)

    assert ran.keys() == planned.keys()
    differ = {k: (sorted(planned[k] - ran[k]), sorted(ran[k] - planned[k])) for k in ran if ran[k] != planned[k]}
    assert not differ, differ
    missing = [line for lines in ran.values() for line in lines if line not in book]
    assert not missing, missing
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", book)  # a file written is noted, never its content


def test_a_ca_close_to_expiry_is_extended_keeping_its_keys_and_every_hosts_cert(ssh_lab, tmp_path):
    """After the runs above, the lab's CA (and every host's cert) ends in 20 days (`ca_ttl`): the
    extension over SSH renews the CA's certificates with their keys; every proof of an extension
    passes, and the report shows the CA's new end beside the hosts' own, unchanged."""
    name = ssh_lab.name
    real = production.site(_site_file(ssh_lab, tmp_path), str(sshd.known_hosts(name)), str(sshd.identity(name)))
    before = production.check(real)
    assert [c.status for c in before.checks if c.check == "CA"] == ["warn"]
    result = production.regenerate(real, Progress(), mode="extend")
    assert result.passed, (result.failed_step, [(p.name, p.evidence) for p in result.proofs])
    assert [p.name for p in result.proofs] == ["ca-key-kept", "expiring-ca-replaced", "host-certs-kept", "agents-run",
                                               "mco-ping", "broker-truststore"]
    assert {s.id for s in result.steps} == {"0", "1.3", "1.1", "e.1", "1.8", "e.2", "1.9", "3.w", "3.m"}
    ca_until = dt.date.fromisoformat(result.expiry["CA"])
    host_until = dt.date.fromisoformat(result.expiry["earliest host cert"].split()[0])
    today = dt.datetime.now(dt.UTC).date()
    assert ca_until > today + dt.timedelta(days=3650) and host_until <= today + dt.timedelta(days=20)
    assert [c.status for c in production.check(real).checks if c.check == "CA"] == ["ok"]
