"""A real 2-agent lab (Debian's Puppet 7 packages, real TLS, sshd on 127.0.0.1), shared by this module; its
last tests run the procedure on it over SSH, then extend its CA."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time

import jsonschema
import pytest

from regen.core.config import state_dir
from regen.core.errors import CommandFailed, LabExists, LabNotFound, NotReady
from regen.core.progress import Progress
from regen.core.transcript import Transcript
from regen.jobs import production, rehearsal
from regen.lab import lab as lab_lib
from regen.lab import provision, sshd
from regen.lab.lab import ssh_site_of
from regen.lab.spec import LabSpec
from regen.ops import mcollective, pki, puppet, puppet_ca, puppet_reports
from regen.procedure import runbook
from regen.procedure.roles import cert_paths
from regen.procedure.runner import RunState, state_path, transcript_path
from regen.sites.format import find as find_site
from regen.ssh.executor import SSHExecutor
from tests.conftest import SCENARIO_KEYLENGTH, lab_ca_fingerprint, lab_name
from tests.unit.fakes import ROOT

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
    reports = puppet_reports.latest_reports(pdb)
    nodes = {row["certname"] for row in puppet_reports.puppetdb_query(pdb, "nodes")}
    for certname in [a.certname for a in lab.agents] + ["server"]:
        assert certname in nodes
        assert reports[certname].status in ("changed", "unchanged")


def test_every_node_cert_chains_to_the_lab_ca(lab, tmp_path):
    ca_fp = lab_ca_fingerprint(lab)
    for node in lab.nodes:
        where = None if node.role == "postgres" else puppet.read_layout(node.executor)  # read on the node
        cert_path, bundle_path = cert_paths(node.role, node.certname, where)
        (tmp_path / f"{node.name}.pem").write_bytes(node.executor.read_file(cert_path))
        (tmp_path / f"{node.name}-ca.pem").write_bytes(node.executor.read_file(bundle_path))
        leaf = pki.load_certs((tmp_path / f"{node.name}.pem").read_bytes())[0]
        bundle = pki.load_certs((tmp_path / f"{node.name}-ca.pem").read_bytes())
        assert pki.chain_to(leaf, bundle) is not None, f"{node.name}'s cert does not chain to its CA bundle"
        assert pki.fingerprint(pki.root_of(bundle)) == ca_fp, f"{node.name} trusts another CA"
        assert pki.info(leaf).subject == node.certname


def test_services_talk_real_tls_verified_against_the_lab_ca(lab):
    agent = lab.agents[0].executor
    ca = puppet.DEBIAN.localcacert
    # the master, reached by the name agents use ("puppet", an alt name of its cert)
    status = agent.run(["curl", "-sS", "--cacert", ca, "https://puppet:8140/status/v1/simple"])
    assert status.stdout.strip() == "running"
    # PuppetDB over HTTPS with the agent's own client certificate
    cert, key = puppet.DEBIAN.hostcert(lab.agents[0].certname), puppet.DEBIAN.hostkey(lab.agents[0].certname)
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
    assert [r.role for r in rows] == ["server", "puppetdb", "postgres", "broker", "agent", "agent"]
    assert {r.state for r in rows} == {"ready"}
    assert [r.mco.endswith(" ms") for r in rows if r.role == "agent"] == [True, True]
    assert lab_lib.mcollective_line(rows).startswith("MCollective: 2/2 agents answer `mco ping`")
    assert {r.ca_fingerprint for r in rows} == {lab_ca_fingerprint(lab).replace(":", "")[:16]}
    assert all(r.cert_serial != "-" for r in rows)
    # each node's cert's last day, and the lab's line of expiry dates (the CA: Puppet's 15 years, the
    # master's likewise, the other hosts' 5 years: `ca_ttl`)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r.expires) for r in rows)
    line = rehearsal.expiry_line(lab)
    assert re.fullmatch(r"expiry: CA \S+, master \S+, earliest host cert \S+ \((puppetdb|postgres|broker|agent-\d)\)",
                        line), line


def test_services_stop_and_start_with_the_operators_command(lab):
    agent = lab.agents[1].executor
    puppet.service(agent, "puppet", "stopped")
    assert not puppet.service_running(agent, "puppet")
    puppet.service(agent, "puppet", "running")
    assert puppet.service_running(agent, "puppet")


def test_the_init_scripts_stop_and_start_as_ensure_does_and_start_leaves_a_running_agent_be(lab):
    agent = lab.agents[1].executor
    puppet.stop(agent, "puppet")
    assert not puppet.service_running(agent, "puppet")
    puppet.start(agent, "puppet")
    pid = agent.run(["cat", "/run/puppet/agent.pid"]).stdout
    puppet.start(agent, "puppet")  # `service puppet start` alone exits 1 on a running agent
    assert puppet.service_running(agent, "puppet") and agent.run(["cat", "/run/puppet/agent.pid"]).stdout == pid


def test_enrolling_signs_the_expected_requests_and_leaves_a_strangers_unsigned(lab):
    """The run's hosts are signed by name as their requests arrive; a request nobody
    expected (a stranger on the network) stays pending for the operator to judge."""
    ca, host = lab.server.executor, lab.agents[0].executor
    authority = puppet_ca.CA(ca, lab.server.certname, puppet.DEBIAN)
    suffix = str(time.monotonic_ns())[-6:]
    stranger, newcomer = f"stranger-{suffix}", f"newcomer-{suffix}"
    host.run(["puppet", "ssl", "submit_request", "--certname", stranger, "--ssldir", f"/tmp/{stranger}"])
    assert stranger in puppet_ca.pending_requests(authority)
    bootstrap = ["puppet", "ssl", "bootstrap", "--certname", newcomer, "--ssldir", f"/tmp/{newcomer}",
                 "--waitforcert", "1", "--maxwaitforcert", "60"]
    puppet_ca.enroll_all(authority, [(newcomer, lambda: host.run(bootstrap, timeout=120))])
    assert host.run(["test", "-s", f"/tmp/{newcomer}/certs/{newcomer}.pem"], check=False).exit_code == 0
    listed = ca.run(["puppetserver", "ca", "list", "--all"]).stdout
    assert stranger in puppet_ca.pending_requests(authority), listed
    assert f"+ {newcomer}" in listed or newcomer in ca.run(["ls", f"{puppet.DEBIAN.cadir}/signed"]).stdout


def test_two_labs_side_by_side_then_down_leaves_nothing(lab, docker_client, worker_id):
    other = lab_name(worker_id, "-b")
    try:
        # the second lab is the smallest a site can be (a master and 2 agents, no PuppetDB, no
        # MCollective), with 2048-bit keys (conftest.SCENARIO_KEYLENGTH): what is checked here is
        # the labs' isolation, not their services
        spec = LabSpec.of_site(find_site("minimal"), other).with_keylength(SCENARIO_KEYLENGTH)
        b = provision.up(docker_client, spec, Progress())
        assert lab_ca_fingerprint(b) != lab_ca_fingerprint(lab)
        # a lab of the defaults publishes no port, and its network is internal
        for node in b.nodes:
            bindings = docker_client.api.inspect_container(node.container)["HostConfig"]["PortBindings"]
            assert not bindings, f"{node.name} publishes {bindings}"
        assert docker_client.networks.get(b.network).attrs["Internal"] is True
        # one network per lab, holding that lab's containers only
        for one in (lab, b):
            attached = docker_client.networks.get(one.network).attrs["Containers"].values()
            assert sorted(c["Name"] for c in attached) == sorted(n.container for n in one.nodes)
    finally:
        counts = lab_lib.down(docker_client, other)
    assert counts["containers"] == 3 and counts["networks"] == 1
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
        provision.up(docker_client, LabSpec(name=lab.name, agents=1), Progress(quiet=True))
    done = subprocess.run([sys.executable, "-m", "invoke", "lab.up", "--name", lab.name], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and f"lab '{lab.name}' is already up" in done.stderr  # 3: not in a state to proceed


def test_rehearse_on_a_name_already_up_keeps_that_labs_state_file(lab):
    """The state file points resume and rollback at a run's backup: a rehearsal refused
    because the lab exists must leave it as it was."""
    from regen.core.config import state_dir
    from regen.procedure.runner import state_path

    path = state_path(state_dir(), lab.name)
    before = path.read_bytes() if path.exists() else None
    if before is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"schema": 2}')
    done = subprocess.run([sys.executable, "-m", "invoke", "rehearse", "--name", lab.name], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and "is already up" in done.stderr, done.stderr
    assert path.read_bytes() == (before if before is not None else b'{"schema": 2}')
    if before is None:
        path.unlink()


def test_status_down_and_logs_of_unknown_labs_and_nodes(lab, docker_client):
    for task in ("lab.status", "lab.down"):
        done = subprocess.run([sys.executable, "-m", "invoke", task, "--name", "no-such-lab"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 3 and "no lab named 'no-such-lab'" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "invoke", "lab.logs", "--name", lab.name, "agent-99"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "has no node 'agent-99'" in done.stderr  # 2: a usage mistake


def test_logs_show_the_services_own_log(lab):
    assert "Puppet Server has successfully started" in lab.logs("server", tail=5000)
    pdb = lab.logs("puppetdb", tail=5000)
    assert "PuppetDB finished starting, disabling maintenance mode" in pdb
    assert "Started ServerConnector" in pdb and "{0.0.0.0:8081}" in pdb  # its TLS port


@pytest.mark.parametrize("keep", [False, True])
def test_a_failed_up_shows_the_service_log_and_cleans_up_unless_kept(docker_client, worker_id, monkeypatch, keep):
    monkeypatch.setattr(provision, "SERVER_READY_TIMEOUT", 2)
    name = lab_name(worker_id, f"-fail{int(keep)}")
    try:
        with pytest.raises(NotReady) as failure:
            provision.up(docker_client, LabSpec(name=name, agents=1), Progress(quiet=True), keep=keep)
        assert "server (server) not ready" in str(failure.value)
        assert "regenlab-node: boot hook" in failure.value.log  # the node's own log, not just "timeout"
        left = docker_client.containers.list(all=True, filters={"label": f"regenlab.lab={name}"})
        assert len(left) == (5 if keep else 0)
    finally:
        lab_lib.remove(docker_client, name)


def test_every_agent_answers_mco_ping_through_the_tls_broker(lab):
    ping = mcollective.ping(lab.server.executor)
    assert sorted(ping.replies) == [a.certname for a in lab.agents], mcollective.describe(ping)
    # the daemons really talk STOMP over TLS to the broker with their Puppet certs
    for agent in lab.agents:
        conf = agent.executor.read_file("/etc/mcollective/server.cfg").decode()
        assert f"plugin.activemq.pool.1.ssl.cert = {puppet.DEBIAN.hostcert(agent.certname)}" in conf
        assert "securityprovider = ssl" in conf


def test_broker_wants_a_client_cert_from_the_lab_ca(lab):
    agent = lab.agents[0]
    ok, out = mcollective.stomp_connect(agent.executor, puppet.DEBIAN.hostcert(agent.certname),
                                        puppet.DEBIAN.hostkey(agent.certname), puppet.DEBIAN.localcacert)
    assert ok, out
    # no client cert: the broker's TLS layer refuses before any STOMP frame
    script = ('(printf "CONNECT\\n\\n\\000"; sleep 1) | openssl s_client -quiet -no_ign_eof '
              '-connect broker:61614 -CAfile "$1" 2>&1')
    bare = agent.executor.run(["sh", "-c", script, "sh", puppet.DEBIAN.localcacert], check=False, timeout=20)
    assert "CONNECTED" not in bare.stdout
    assert "alert certificate required" in bare.output, bare.output
    # the broker's stores: its own Puppet cert, and the lab's CA as the only trust
    trusted = {pki.fingerprint(c) for c in mcollective.truststore_certs(lab.broker.executor)}
    assert trusted == {pki.fingerprint(c) for c in pki.load_certs(lab.server.executor.read_file(puppet.DEBIAN.cacert))}
    modes = lab.broker.executor.run(["stat", "-c", "%a %U", mcollective.KEYSTORE, mcollective.TRUSTSTORE]).stdout
    assert modes.split("\n")[:2] == ["600 activemq", "600 activemq"]


def test_mco_is_killed_when_tls_fails_instead_of_hanging(lab):
    """A client whose CA bundle is not the broker's: mco never gives up by itself. The same
    call with the right bundle exits by itself within the bound (the control): what differs
    is only the CA, so the kill is what ends the hung call."""
    admin = lab.server.executor
    admin.run(["sh", "-c", "sed 's|ssl.ca = .*|ssl.ca = /etc/ssl/certs/ca-certificates.crt|' "
               "/etc/mcollective/client.cfg > /root/wrong-ca.cfg"])
    right = admin.run(["mco", "ping", "-t", "1", "--config", "/etc/mcollective/client.cfg"], check=False, timeout=8)
    assert right.exit_code == 0 and "time=" in right.stdout, right.output
    started = time.monotonic()
    res = admin.run(["mco", "ping", "-t", "1", "--config", "/root/wrong-ca.cfg"], check=False, timeout=8)
    assert res.exit_code == 124 and time.monotonic() - started < 20
    assert "time=" not in res.stdout



def test_leftovers_of_a_killed_controller_are_ended_and_services_kept(lab):
    """A command whose controller died keeps running on the node (here: started detached,
    as a killed `docker exec` client leaves it); before a resume it is ended, while the
    services that commands started (the agent daemon) keep running."""
    agent = lab.agents[0]
    subprocess.run(["docker", "exec", "-d", agent.container, "timeout", "-k", "5", "300", "sleep", "300"], check=True)
    assert puppet.service_running(agent.executor, "puppet")
    assert agent.executor.stop_leftovers() == 1
    left = agent.executor.run(["pgrep", "-f", "[s]leep 300"], check=False)  # (not this pgrep's own wrapper)
    assert left.exit_code == 1, left.stdout  # gone
    assert puppet.service_running(agent.executor, "puppet")
    assert agent.executor.stop_leftovers() == 0


def test_preflight_names_a_stopped_puppetdb_and_a_skewed_clock_and_no_run_starts(lab, tmp_path):
    """The lab as it is passes its preflight; with PuppetDB stopped and one agent's clock 3 hours
    behind (libfaketime preloaded into every process there, as a host with a wrong clock), each
    is named, and `regen.run` refuses to start: no state file, nothing changed."""
    from regen.lab.lab import site_of
    from regen.procedure import preflight, runner
    from regen.procedure.steps import running

    agent, pdb = lab.agents[0], lab.puppetdb
    healthy = preflight.check(site_of(lab), tmp_path)
    assert healthy.ok, healthy.failed
    skew = ('echo "$(find /usr/lib -name libfaketime.so.1 | head -n 1)" > /etc/ld.so.preload '
            '&& echo -10800 > /etc/faketimerc')
    agent.executor.run(["sh", "-c", skew])
    puppet.stop(pdb.executor, "puppetdb")
    try:
        result = preflight.check(site_of(lab), tmp_path)
        failed = {(c.host, c.check): c.detail for c in result.failed}
        assert set(failed) == {(pdb.name, "service"), (agent.name, "clock")}, result.checks
        assert failed[(pdb.name, "service")] == "puppetdb NOT running"
        assert -10810 < float(failed[(agent.name, "clock")].split()[0]) < -10790  # 3 hours behind
        with pytest.raises(preflight.PreflightFailed, match="puppetdb NOT running") as err:
            running.run(site_of(lab), tmp_path, progress=Progress(quiet=True))
        assert err.value.exit_code == 3 and not runner.state_path(tmp_path, lab.name).exists()
    finally:
        agent.executor.run(["rm", "-f", "/etc/ld.so.preload", "/etc/faketimerc"])
        puppet.start_jvm(pdb.executor, "puppetdb")
    assert preflight.check(site_of(lab), tmp_path).ok


# --- the procedure over SSH, its runbook, the extension: last, since they change the lab's CA ------

def test_sshd_is_on_loopback_only_and_an_unknown_host_key_is_refused(lab, tmp_path):
    for node in lab.nodes:
        bound = lab.container(node).attrs["NetworkSettings"]["Ports"]["22/tcp"]
        assert {b["HostIp"] for b in bound} == {"127.0.0.1"}, node.name
    site = ssh_site_of(lab)
    assert all(isinstance(h.executor, SSHExecutor) for h in site.all_hosts)
    master = site.ca.executor
    assert master.run(["id", "-un"]).stdout.strip() == "root"  # regen, through sudo
    assert master.run(["sudo", "-k"], check=False).exit_code == 0
    # another known_hosts: the master's key is not there, and the connection is refused
    stranger = tmp_path / "known_hosts"
    shutil.copy(sshd.known_hosts(lab.name), stranger)
    stranger.write_text("".join(ln for ln in stranger.read_text().splitlines(keepends=True)
                                if f":{master.port} " not in ln))
    unknown = SSHExecutor("server", "127.0.0.1", port=master.port, user=sshd.USER, sudo=True, known_hosts=stranger,
                          identity=sshd.identity(lab.name))
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


def test_the_procedure_over_ssh_passes_every_proof_and_sends_the_runbooks_commands(lab, regen_run, tmp_path):
    name = lab.name
    # the first run's new CA lives 20 days (`ca_ttl`, read by `puppetserver ca setup`): the
    # preflight before the second names a CA close to expiry, and lets the run go ahead
    lab.server.executor.run(["puppet", "config", "set", "ca_ttl", "20d", "--section", "server"])
    # over `docker exec`, through the pytest plugin's fixture (the same lab): the runbook is made of it
    first = regen_run()
    assert first.passed, first.failed_step
    book = (runbook.folder_of(state_dir(), name) / "runbook.md").read_text()
    layouts = RunState.load(state_path(state_dir(), name)).facts.layouts
    planned = runbook.normalized(Transcript.load(transcript_path(state_dir(), name)), layouts)

    # the second run as on real hosts: a site file, its `connect:` entries, a known_hosts file and a key
    site_file = _site_file(lab, tmp_path)
    options = ["--site", site_file, "--ssh", "--known-hosts", str(sshd.known_hosts(name)),
               "--identity", str(sshd.identity(name))]
    dry = subprocess.run([sys.executable, "-m", "invoke", "regen.run", *options, "--dry-run"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"preflight of {name}-prod:" in dry.stdout and "the run can go ahead" in dry.stdout
    assert re.search(r"site +CA +warn +expires \S+ \(in (19|20) days\)", dry.stdout), dry.stdout
    # the site's runbook: the one the first run made (the site file names the lab's site)
    assert "2.3   ActiveMQ broker re-enrolled" in dry.stdout
    assert f"the commands, host by host: {runbook.folder_of(state_dir(), name) / 'runbook.md'}" in dry.stdout

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


def test_a_ca_close_to_expiry_is_extended_keeping_its_keys_and_every_hosts_cert(lab, tmp_path):
    """After the runs above, the lab's CA (and every host's cert) ends in 20 days (`ca_ttl`): the
    extension over SSH renews the CA's certificates with their keys; every proof of an extension
    passes, and the report shows the CA's new end beside the hosts' own, unchanged."""
    name = lab.name
    real = production.site(_site_file(lab, tmp_path), str(sshd.known_hosts(name)), str(sshd.identity(name)))
    before = production.check(real)
    assert [c.status for c in before.checks if c.check == "CA"] == ["warn"]
    # as a script runs it: the command with --json (its report on stdout, nothing else), checked
    # against the report's published schema
    done = subprocess.run([sys.executable, "-m", "invoke", "regen.run", "--site", str(tmp_path / "site.yaml"), "--ssh",
                           "--known-hosts", str(sshd.known_hosts(name)), "--identity", str(sshd.identity(name)),
                           "--mode", "extend", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    result = json.loads(done.stdout)
    jsonschema.validate(result, json.loads((ROOT / "docs" / "schemas" / "report-1.schema.json").read_text()))
    assert done.returncode == 0 and result["passed"], (done.stderr[-3000:], result["proofs"])
    assert [p["name"] for p in result["proofs"]] == ["ca-key-kept", "expiring-ca-replaced", "host-certs-kept",
                                                     "agents-run", "mco-ping", "broker-truststore"]
    assert {s["id"] for s in result["steps"]} == {"0", "1.3", "1.1", "e.1", "1.8", "e.2", "1.9", "3.w", "3.m"}
    ca_until = dt.date.fromisoformat(result["expiry"]["CA"])
    host_until = dt.date.fromisoformat(result["expiry"]["earliest host cert"].split()[0])
    today = dt.datetime.now(dt.UTC).date()
    assert ca_until > today + dt.timedelta(days=3650) and host_until <= today + dt.timedelta(days=20)
    assert [c.status for c in production.check(real).checks if c.check == "CA"] == ["ok"]
