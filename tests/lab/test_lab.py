"""A real 2-agent lab (Debian's Puppet 7 packages, real TLS), shared by this module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from regen import lab as lab_lib
from regen import pki, procedure, puppet
from regen.errors import LabExists, LabNotFound, NotReady
from regen.lab import LabSpec, cert_paths
from regen.progress import Progress
from regen.rehearsal import regenerate
from tests.conftest import lab_ca_fingerprint, lab_name
from tests.unit.test_cli import ROOT

pytestmark = [pytest.mark.docker]


def test_every_agent_run_succeeds_and_converges(lab):
    for agent in lab.agents:
        run = puppet.agent_test(agent.executor)
        assert run.exit_code == 0, f"{agent.name}: a second run changed something:\n{run.output}"
        assert "Applied catalog" in run.output
        managed = agent.executor.read_file("/etc/regenlab-managed").decode()
        assert managed == f"Managed by Puppet for {agent.certname}\n"


def test_puppetdb_has_every_node_and_a_report_from_every_agent(lab):
    pdb = lab.puppetdb.executor
    reports = puppet.latest_reports(pdb)
    nodes = {row["certname"] for row in puppet.puppetdb_query(pdb, "nodes")}
    for certname in [a.certname for a in lab.agents] + ["server"]:
        assert certname in nodes
        assert reports[certname].status in ("changed", "unchanged")


def test_every_node_cert_chains_to_the_lab_ca(lab, tmp_path):
    ca_fp = lab_ca_fingerprint(lab)
    for node in lab.nodes:
        cert_path, bundle_path = cert_paths(node)
        (tmp_path / f"{node.name}.pem").write_bytes(node.executor.read_file(cert_path))
        (tmp_path / f"{node.name}-ca.pem").write_bytes(node.executor.read_file(bundle_path))
        leaf = pki.load_certs((tmp_path / f"{node.name}.pem").read_bytes())[0]
        bundle = pki.load_certs((tmp_path / f"{node.name}-ca.pem").read_bytes())
        assert pki.chain_to(leaf, bundle) is not None, f"{node.name}'s cert does not chain to its CA bundle"
        assert pki.fingerprint(pki.root_of(bundle)) == ca_fp, f"{node.name} trusts another CA"
        assert pki.info(leaf).subject == node.certname


def test_services_talk_real_tls_verified_against_the_lab_ca(lab):
    agent = lab.agents[0].executor
    ca = puppet.LOCALCACERT
    # the master, reached by the name agents use ("puppet", an alt name of its cert)
    status = agent.run(["curl", "-sS", "--cacert", ca, "https://puppet:8140/status/v1/simple"])
    assert status.stdout.strip() == "running"
    # PuppetDB over HTTPS with the agent's own client certificate
    cert, key = puppet.hostcert(lab.agents[0].certname), puppet.hostkey(lab.agents[0].certname)
    pdb = agent.run(["curl", "-sS", "--cacert", ca, "--cert", cert, "--key", key,
                     "https://puppetdb:8081/status/v1/services/puppetdb-status"])
    assert '"state":"running"' in pdb.stdout.replace(" ", "")
    # PostgreSQL's certificate, verified by name through STARTTLS
    pg = lab.puppetdb.executor.run(
        ["openssl", "s_client", "-starttls", "postgres", "-connect", "postgres:5432", "-CAfile", ca,
         "-verify_hostname", "postgres", "-verify_return_error", "-brief"], input=b"", check=False)
    assert "Verification: OK" in pg.output, pg.output


def test_status_shows_every_node_ready_under_one_ca(lab):
    rows = lab.status()
    assert [r.role for r in rows] == ["server", "puppetdb", "postgres", "agent", "agent"]
    assert {r.state for r in rows} == {"ready"}
    assert {r.ca_fingerprint for r in rows} == {lab_ca_fingerprint(lab).replace(":", "")[:16]}
    assert all(r.cert_serial != "-" for r in rows)


def test_no_port_is_published_and_the_network_is_internal(lab, docker_client):
    for node in lab.nodes:
        bindings = docker_client.api.inspect_container(node.container)["HostConfig"]["PortBindings"]
        assert not bindings, f"{node.name} publishes {bindings}"
    assert docker_client.networks.get(lab.network).attrs["Internal"] is True


def test_services_stop_and_start_with_the_operators_command(lab):
    agent = lab.agents[1].executor
    puppet.service(agent, "puppet", "stopped")
    assert not puppet.service_running(agent, "puppet")
    puppet.service(agent, "puppet", "running")
    assert puppet.service_running(agent, "puppet")


def test_two_labs_side_by_side_then_down_leaves_nothing(lab, docker_client, worker_id):
    other = lab_name(worker_id, "-b")
    try:
        b = lab_lib.up(docker_client, LabSpec(name=other, agents=1), Progress())
        assert lab_ca_fingerprint(b) != lab_ca_fingerprint(lab)
        # one network per lab, holding that lab's containers only
        for one in (lab, b):
            attached = docker_client.networks.get(one.network).attrs["Containers"].values()
            assert sorted(c["Name"] for c in attached) == sorted(n.container for n in one.nodes)
    finally:
        counts = lab_lib.down(docker_client, other)
    assert counts["containers"] == 4 and counts["networks"] == 1
    label = {"label": f"regenlab.lab={other}"}
    assert not docker_client.containers.list(all=True, filters=label)
    assert not docker_client.networks.list(filters=label)
    assert not docker_client.volumes.list(filters=label)
    with pytest.raises(LabNotFound):
        lab_lib.down(docker_client, other)
    # A was not touched
    assert puppet.agent_test(lab.agents[0].executor).exit_code == 0


def test_a_name_already_up_is_refused(lab, docker_client):
    with pytest.raises(LabExists, match="already up"):
        lab_lib.up(docker_client, LabSpec(name=lab.name, agents=1), Progress(quiet=True))
    done = subprocess.run([sys.executable, "-m", "invoke", "lab.up", "--name", lab.name], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"lab '{lab.name}' is already up" in done.stderr


def test_status_down_and_logs_of_unknown_labs_and_nodes(lab, docker_client):
    for task in ("lab.status", "lab.down"):
        done = subprocess.run([sys.executable, "-m", "invoke", task, "--name", "no-such-lab"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "no lab named 'no-such-lab'" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "invoke", "lab.logs", "--name", lab.name, "agent-99"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "has no node 'agent-99'" in done.stderr


def test_logs_show_the_services_own_log(lab):
    assert "Puppet Server has successfully started" in lab.logs("server", tail=5000)
    assert "PuppetDB" in lab.logs("puppetdb", tail=5000) or "puppetdb" in lab.logs("puppetdb", tail=5000)


@pytest.mark.parametrize("keep", [False, True])
def test_a_failed_up_shows_the_service_log_and_cleans_up_unless_kept(docker_client, worker_id, monkeypatch, keep):
    monkeypatch.setattr(lab_lib, "SERVER_READY_TIMEOUT", 2)
    name = lab_name(worker_id, f"-fail{int(keep)}")
    try:
        with pytest.raises(NotReady) as failure:
            lab_lib.up(docker_client, LabSpec(name=name, agents=1), Progress(quiet=True), keep=keep)
        assert "server (server) not ready" in str(failure.value)
        assert "regenlab-node: boot hook" in failure.value.log  # the node's own log, not just "timeout"
        left = docker_client.containers.list(all=True, filters={"label": f"regenlab.lab={name}"})
        assert len(left) == (4 if keep else 0)
    finally:
        lab_lib.remove(docker_client, name)


def test_zz_interrupted_after_step_1_resumes_and_proves(lab):
    """Last in this file: it changes the shared lab's CA."""
    with pytest.raises(procedure.Interrupted):
        regenerate(lab, Progress(), stop_after="1.9")
    report = regenerate(lab, Progress(), resume=True)
    assert report.passed, [p for p in report.proofs if not p.passed]
    ids = [s["id"] for s in report.steps]
    assert ids.count("1.5") == 1 and ids[-1] == "3.w"  # nothing of step 1 was done twice
