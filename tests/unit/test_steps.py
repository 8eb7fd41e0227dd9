"""The real steps' "already done?" checks, the report's content, rollback's failure paths,
waiting for reports and the CRL helpers, against scripted hosts (no container)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from regen.core.errors import CommandFailed, NotReady, RegenLabError
from regen.core.executor import ExecResult
from regen.core.progress import Progress
from regen.ops import pki, puppet, puppet_ca, puppet_reports, puppetdb
from regen.procedure import hostbackup, proof, report, rollback, runner
from regen.procedure.runner import Backup, Before, Context, RunState, StepResult, Times
from regen.procedure.site import Host, Site
from regen.procedure.steps import agents, common, master, plan, running
from regen.procedure.steps.options import RunOptions
from tests.unit.fakes import Scripted, cert, crl_of, has, make_puppet_ca, pem

JETTY = ("/files/etc/puppetdb/conf.d/jetty.ini/jetty/ssl-cert = \"/var/lib/puppet/ssl/certs/puppetdb.pem\"\n"
         "/files/etc/puppetdb/conf.d/jetty.ini/jetty/ssl-key = \"/var/lib/puppet/ssl/private_keys/puppetdb.pem\"\n"
         "/files/etc/puppetdb/conf.d/jetty.ini/jetty/ssl-ca-cert = \"{ca}\"\n")
RUNNING = (0, '{"state": "running"}', "")


@pytest.fixture(scope="module")
def cas():
    return make_puppet_ca(), make_puppet_ca()


def ctx_for(old, new, *, ca_rules=(), pdb_rules=(), broker_rules=(), pdb_files=None, broker_files=None,
            done=(), mode="full", autosign=False) -> Context:
    """A site after step 1: the CA serves the new CA's bundle; ``old`` is what step 0 recorded."""
    ca = Scripted("server", {puppet.DEBIAN.cacert: pem(new[1], new[0]), puppet.DEBIAN.hostcert("server"): pem(new[2])},
                  list(ca_rules))
    pdb = Scripted("puppetdb", pdb_files or {}, list(pdb_rules))
    broker = Scripted("broker", broker_files or {}, list(broker_rules))
    site = Site.of("l", Host("server", "server", ca), Host("puppetdb", "puppetdb", pdb),
                Host("postgres", "postgres", Scripted("postgres")), (Host("agent-1", "agent-1", Scripted("a")),),
                broker=Host("broker", "broker", broker))
    state = RunState(lab="l", mode=mode, agents=["agent-1"], autosign=autosign)
    state.facts.before = Before(ca_fingerprint=pki.fingerprint(old[0]),
                                ca_certs=[pki.fingerprint(c) for c in (old[1], old[0])])
    state.facts.agents_done = list(done)
    return Context(site, state, backup_dir=None, progress=Progress(quiet=True), autosign=autosign)  # type: ignore


def step(id_: str, steps=plan.FULL) -> runner.Step:
    return next(s for s in steps if s.id == id_)


# --- step 1: the master ------------------------------------------------------------------------

AUTOSIGN_FALSE = (has("config", "print", "autosign"), (0, "false\n", ""))


def test_the_wipe_and_the_new_ca_are_done_only_once_the_ca_really_changed(cas):
    old, new = cas
    made, half = (has("test -s"), (0, "", "")), (has("test -s"), (1, "", ""))
    assert step("1.5").check(ctx_for(old, new, ca_rules=[made, AUTOSIGN_FALSE]))
    assert not step("1.5").check(ctx_for(old, new, ca_rules=[half, AUTOSIGN_FALSE]))  # no master cert, or not chowned
    assert not step("1.5").check(ctx_for(new, new, ca_rules=[made, AUTOSIGN_FALSE]))  # the CA is the old
    # killed after `ca setup`, before the signing policy: 1.5 is not done
    assert not step("1.5").check(ctx_for(old, new, ca_rules=[made, (has("config", "print"), (0, "true\n", ""))]))
    assert step("1.4").check(ctx_for(old, new))
    assert not step("1.4").check(ctx_for(new, new))  # the old CA is still there: not wiped


def test_a_repeated_new_ca_clears_a_half_made_ca_and_keeps_a_whole_one(cas):
    """1.5 after a kill: a `ca setup` that did not finish is cleared and run again; one that
    finished is kept, and only what follows it (the signing policy) is done."""
    old, new = cas
    ok = (lambda argv: argv[0] != "cat", (0, "", ""))
    half = ctx_for(old, new, ca_rules=[(has("test -s"), (1, "", "")), ok])
    master.new_ca(half)
    ran = [" ".join(a) for a in half.site.ca.executor.log]
    clear = ran.index(f"rm -rf {puppet.DEBIAN.ssldir} {puppet.DEBIAN.cadir}")
    assert clear < next(i for i, a in enumerate(ran) if a.startswith("puppetserver ca setup"))
    assert any(a.startswith("puppet config set autosign false") for a in ran)

    whole = ctx_for(old, new, ca_rules=[(has("test -s"), (0, "", "")), ok])
    master.new_ca(whole)
    ran = [" ".join(a) for a in whole.site.ca.executor.log]
    assert not any(a.startswith(("puppetserver ca setup", "rm -rf")) for a in ran), ran
    assert any(a.startswith("puppet config set autosign false") for a in ran)

    still_old = ctx_for(new, new, ca_rules=[ok])
    with pytest.raises(RegenLabError, match="the old CA is still in place"):
        master.new_ca(still_old)
    assert not any(a[0] == "rm" for a in still_old.site.ca.executor.log)


def test_services_are_stopped_or_started_by_what_their_init_script_says(cas):
    ctx = ctx_for(*cas, ca_rules=[(lambda argv: argv == ["service", "puppet", "status"], (3, "", "")),
                                  (lambda argv: argv == ["service", "puppetserver", "status"], (0, "", ""))])
    assert step("1.2").check(ctx) and not step("1.3").check(ctx) and not step("1.9").check(ctx)


# --- step 2: extensions -------------------------------------------------------------------------

@pytest.mark.parametrize(("trusted", "done"), [
    ("/var/lib/puppet/ssl/certs/ca.pem", True),
    ("/etc/puppetdb/ssl/ca-bundle.pem", False),  # jetty trusts a bundle of its own: not what ssl-setup writes
])
def test_puppetdb_is_done_only_with_its_new_cert_its_jetty_ini_and_running(cas, trusted, done):
    old, new = cas
    ctx = ctx_for(old, new, pdb_files={puppet.DEBIAN.hostcert("puppetdb"): pem(new[2])},
                  pdb_rules=[(has("augtool"), (0, JETTY.format(ca=trusted), "")), (has("curl"), RUNNING)])
    assert step("2.2").check(ctx) is done
    old_cert = ctx_for(old, new, pdb_files={puppet.DEBIAN.hostcert("puppetdb"): pem(old[2])},
                       pdb_rules=[(has("augtool"), (0, JETTY.format(ca=trusted), "")), (has("curl"), RUNNING)])
    assert not step("2.2").check(old_cert)


def test_jetty_ini_is_read_back_with_its_three_ssl_settings():
    ex = Scripted("puppetdb", rules=[(has("augtool"), (0, JETTY.format(ca=puppet.DEBIAN.localcacert), ""))])
    assert puppetdb.ssl_settings(ex) == puppetdb.expected_ssl(puppet.DEBIAN, "puppetdb")


def keytool_rfc(*certs) -> tuple[int, str, str]:
    return 0, "Keystore type: JKS\n" + pem(*certs).decode(), ""


@pytest.mark.parametrize(("store", "done"), [("new", True), ("both", False), ("old", False)])
def test_the_broker_is_done_only_when_its_truststore_holds_the_new_ca_and_not_the_old(cas, store, done):
    old, new = cas
    certs = {"new": (new[1], new[0]), "both": (new[1], new[0], old[1], old[0]), "old": (old[1], old[0])}[store]
    ctx = ctx_for(old, new, broker_files={puppet.DEBIAN.hostcert("broker"): pem(new[2])},
                  broker_rules=[(has("keytool", "-list"), keytool_rfc(*certs)),
                                (has("service", "activemq", "status"), (0, "", "")),
                                (has("openssl s_client"), (0, "", ""))])  # it serves its cert on disk
    assert step("2.3").check(ctx) is done


def test_a_broker_serving_another_cert_than_its_new_one_is_not_done(cas):
    """A broker a reboot started before its stores were rebuilt: files right, served cert not."""
    old, new = cas
    ctx = ctx_for(old, new, broker_files={puppet.DEBIAN.hostcert("broker"): pem(new[2])},
                  broker_rules=[(has("keytool", "-list"), keytool_rfc(new[1], new[0])),
                                (has("service", "activemq", "status"), (0, "", "")),
                                (has("openssl s_client"), (1, "", ""))])
    assert step("2.3").check(ctx) is False


# --- step 3 and the partial case --------------------------------------------------------------------

def test_agents_are_done_when_every_one_of_the_run_is(cas):
    old, new = cas
    ctx = ctx_for(old, new, done=["agent-2"])
    assert not step("3").check(ctx)
    ctx.state.facts.agents_done.append("agent-1")
    assert step("3").check(ctx)


@pytest.mark.parametrize(("setting", "autosign", "done"), [
    ("true", True, True), ("false", False, True), ("true", False, False),
    ("/etc/puppet/autosign.conf", False, False),  # the default: set it, do not guess what the file says
])
def test_a_partial_run_sets_the_cas_signing_policy_unless_it_is_already_its_own(cas, setting, autosign, done):
    old, new = cas
    ctx = ctx_for(old, new, ca_rules=[(has("config", "print", "autosign"), (0, setting + "\n", ""))],
                  autosign=autosign, mode="partial")
    assert step("p.0", plan.PARTIAL).check(ctx) is done


class LocalShell:
    """Runs the command here (sh, tail, sed, wc are the same tools as on a node)."""

    node = "local"

    def run(self, argv, *, check=True, timeout=120, input=None, ok_codes=(0,)):
        import subprocess

        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return ExecResult("local", tuple(argv), done.returncode, done.stdout, done.stderr)


def test_the_cas_log_tells_manual_signing_from_autosign(tmp_path, monkeypatch):
    server_log, access = tmp_path / "puppetserver.log", tmp_path / "access.log"
    monkeypatch.setattr(puppet, "SERVER_LOG", str(server_log))
    monkeypatch.setattr(puppet, "ACCESS_LOG", str(access))
    server_log.write_text("2026 INFO [p.p.certificate-authority] Signed certificate request for agent-9\n")
    access.write_text('10.0.0.3 - - [t] "PUT /puppet-ca/v1/certificate_status/agent-9 HTTP/1.1" 204 0 "-" '
                      '"PuppetserverCaCli" 837 26 -\n')
    mark = puppet_ca.ca_log_mark(LocalShell())
    assert mark == (1, 1)
    with server_log.open("a") as f:  # seen on a lab's CA: the same line whether signed by hand or autosigned
        f.write("2026 INFO [p.p.certificate-authority] Signed certificate request for agent-1\n"
                "2026 INFO [p.p.certificate-authority] Signed certificate request for agent-2\n")
    with access.open("a") as f:  # a signing by name is a PUT of the status (from the CLI or curl); a refused one is not
        f.write('10.0.0.3 - - [t] "PUT /puppet-ca/v1/certificate_status/agent-1 HTTP/1.1" 204 0 "-" '
                '"PuppetserverCaCli" 837 26 -\n'
                '10.0.0.3 - - [t] "PUT /puppet-ca/v1/certificate_status/agent-4 HTTP/1.1" 204 0 "-" '
                '"curl/7.88.1" 837 26 -\n'
                '10.0.0.3 - - [t] "PUT /puppet-ca/v1/certificate_status/agent-3 HTTP/1.1" 409 0 "-" '
                '"PuppetserverCaCli" 837 26 -\n'
                '10.0.0.5 - - [t] "PUT /puppet-ca/v1/certificate_request/agent-2?environment=x HTTP/1.1" 200 0 "-" '
                '"Puppet/7.23.0 Ruby/3.1.2" 900 0 -\n')
    signings = puppet_ca.ca_signed_since(LocalShell(), mark)
    assert signings == puppet_ca.Signings(signed=("agent-1", "agent-2"), by_hand=("agent-1", "agent-4"))
    assert signings.describe(["agent-1", "agent-2", "agent-3"]) == (
        "the CA's log: signed agent-1, agent-2; signed by name on the CA: agent-1; autosigned on request: agent-2")


def test_puppetserver_8s_signing_lines_are_read_too(tmp_path, monkeypatch):
    """puppetserver 8 logs "Entity WHO signed N certificate(s): ..." (WHO is CA when it
    autosigns), as seen on a trixie lab's CA; before, step 3 read "autosigned on request: none"."""
    server_log, access = tmp_path / "puppetserver.log", tmp_path / "access.log"
    monkeypatch.setattr(puppet, "SERVER_LOG", str(server_log))
    monkeypatch.setattr(puppet, "ACCESS_LOG", str(access))
    server_log.write_text(
        "2026-11-29T19:45:22.755Z INFO  [qtp1-46] [p.p.certificate-authority] Entity server signed 1 certificate: "
        "agent-1.\n"
        "2026-11-29T19:45:22.869Z ERROR [qtp1-44] [p.s.c.certificate-authority-core] agent-1 already has a signed "
        "certificate; ignoring certificate request\n"
        "2026-11-29T19:45:57.511Z INFO  [qtp5-88] [p.p.certificate-authority] Entity CA signed 1 certificate: probe1.\n"
        "2026-11-29T19:46:00.000Z INFO  [qtp5-89] [p.p.certificate-authority] Entity server signed 2 certificates: "
        "web1, web2.\n")
    access.write_text('10.0.0.3 - - [t] "PUT /puppet-ca/v1/certificate_status/agent-1 HTTP/1.1" 204 0 "-" '
                      '"PuppetserverCaCli" 837 26 -\n')
    signings = puppet_ca.ca_signed_since(LocalShell(), (0, 0))
    assert signings == puppet_ca.Signings(signed=("agent-1", "probe1", "web1", "web2"), by_hand=("agent-1",))
    assert signings.describe(["agent-1", "probe1"]).endswith("autosigned on request: probe1")


# --- waiting for reports ------------------------------------------------------------------------

def reports(*rows) -> tuple[int, str, str]:
    return 0, json.dumps([{"certname": c, "status": s, "receive_time": t} for c, s, t in rows]), ""


def test_waiting_for_reports_says_whether_puppetdb_answered():
    since = "2026-11-29T05:00:00.000Z"
    answered = Scripted("puppetdb", rules=[(has("curl"), reports(("agent-1", "changed", "2026-11-29T05:01:00.000Z"),
                                                                 ("agent-3", "changed", "2026-11-29T04:00:00.000Z")))])
    with pytest.raises(NotReady) as err:
        puppet_reports.wait_reports(puppet_reports.Reports(answered), ["agent-1", "agent-3"], since, timeout=0)
    assert f"PuppetDB answered, with no report from agent-3 since {since}" in str(err.value)
    down = Scripted("puppetdb", rules=[(has("curl"), (7, "", "curl: (7) Failed to connect"))])
    with pytest.raises(NotReady) as err:
        puppet_reports.wait_reports(puppet_reports.Reports(down), ["agent-3"], since, timeout=0)
    assert "PuppetDB did not answer the query (exit 7" in str(err.value) and "no report from" not in str(err.value)
    heard: list[tuple[int, int]] = []
    both = Scripted("puppetdb", rules=[(has("curl"), reports(("agent-1", "changed", "2026-11-29T05:01:00.000Z"),
                                                             ("agent-3", "changed", "2026-11-29T05:01:02.000Z")))])
    puppet_reports.wait_reports(puppet_reports.Reports(both), ["agent-1", "agent-3"], since, timeout=5,
                        counted=lambda n, total: heard.append((n, total)))
    assert heard == [(2, 2)]  # what the user sees: how many of how many have reported
    failed = Scripted("puppetdb", rules=[(has("curl"), reports(("agent-3", "failed", "2026-11-29T05:01:00.000Z")))])
    with pytest.raises(puppet_reports.RunFailed, match="catalog run failed on agent-3"):
        puppet_reports.wait_reports(puppet_reports.Reports(failed), ["agent-3"], since, timeout=60)


# --- the report -------------------------------------------------------------------------------------

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecret\n-----END RSA PRIVATE KEY-----"


def test_the_report_has_the_downtime_window_and_no_key_material(tmp_path):
    state = RunState(lab="l", mode="full", agents=["agent-1"], autosign=False, started="2026-11-29T05:00:00.000Z",
                     finished="2026-11-29T05:05:00.000Z")
    state.facts.times = Times(server_stopped_at="2026-11-29T05:00:10.000Z",
                              last_agent_back_at="2026-11-29T05:01:40.500Z")
    state.steps = [StepResult("3", "agents", "", "", 1.0, "done", f"a command printed\n{KEY}\nand more")]
    proofs = [proof.ProofResult("agents-run", "claim", proof.PASS, f"evidence {KEY}", id="2")]
    built = report.build(state, proofs)
    assert built.downtime_seconds == 90.5 and built.downtime_from == "2026-11-29T05:00:10.000Z"
    json_path, md_path = report.write(built, tmp_path)
    for path in (json_path, md_path):
        text = path.read_text()
        assert "PRIVATE KEY" not in text and "MIIEpAIBAAKCAQEAsecret" not in text and "[private key removed]" in text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "downtime: 2026-11-29T05:00:10.000Z -> 2026-11-29T05:01:40.500Z (90.5 s)" in md_path.read_text()
    assert json.loads(json_path.read_text())["proofs"][0] | {} == {
        "name": "agents-run", "claim": "claim", "verdict": "pass", "evidence": "evidence [private key removed]",
        "id": "2", "passed": True}
    assert "downtime (server stopped -> last agent back): 90.5s" in report.summary(built)


def test_a_failed_steps_recorded_detail_holds_no_key(tmp_path):
    def leaky(ctx):
        raise RegenLabError(f"`cat` printed:\n{KEY}")

    site = Site.of("l", *(Host(n, n, Scripted(n)) for n in ("server", "puppetdb", "postgres")), agents=())
    with pytest.raises(RegenLabError):
        running.run(site, tmp_path, RunOptions(steps=(runner.Step("1.1", "leaky", leaky),), check=False),
                    progress=Progress(quiet=True))
    recorded = (tmp_path / "runs" / "l.json").read_text()
    assert "PRIVATE KEY" not in recorded and "[private key removed]" in recorded


# --- rollback's failure paths --------------------------------------------------------------------

def failed_run(tmp_path, data: bytes, recorded_sha: str) -> Site:
    path = tmp_path / "backup.tar.gz"
    path.write_bytes(data)
    state = RunState(lab="l", mode="full", agents=["agent-1"], autosign=False)
    state.facts.backup = Backup(str(path), recorded_sha)
    state.facts.before.ca_fingerprint = "AA"
    state.steps = [StepResult(i, "", "", "", 1.0, "done") for i in ("0", "1.1", "1.3", "1.4", "1.5")] + \
        [StepResult("1.8", "", "", "", 1.0, "failed")]
    state.save(runner.state_path(tmp_path, "l"))
    return Site.of("l", *(Host(n, n, Scripted(n)) for n in ("server", "puppetdb", "postgres")), agents=())


def test_a_rollback_with_nothing_to_roll_back_says_so(tmp_path):
    site = Site.of("l", *(Host(n, n, Scripted(n)) for n in ("server", "puppetdb", "postgres")), agents=())
    with pytest.raises(runner.ProcedureStateError, match="nothing to roll back for 'l'"):
        rollback.rollback(site, tmp_path, Progress(quiet=True))


@pytest.mark.parametrize(("data", "sha", "error"), [
    (b"not what was verified", hashlib.sha256(b"the backup").hexdigest(), "sha256 differs"),
    (b"not a tarball", hashlib.sha256(b"not a tarball").hexdigest(), "not a readable tar.gz"),
])
def test_a_rollback_from_a_changed_backup_stops_before_touching_the_master(tmp_path, data, sha, error):
    site = failed_run(tmp_path, data, sha)
    with pytest.raises(Exception, match=error):
        rollback.rollback(site, tmp_path, Progress(quiet=True))
    assert site.ca.executor.log == []  # Puppet Server was not even stopped
    assert json.loads(runner.state_path(tmp_path, "l").read_text())["mode"] == "full"


def test_a_rollback_whose_backup_is_gone_changes_nothing(tmp_path):
    site = failed_run(tmp_path, b"x", hashlib.sha256(b"x").hexdigest())
    (tmp_path / "backup.tar.gz").unlink()
    with pytest.raises(RegenLabError, match="cannot be read .*nothing was changed"):
        rollback.rollback(site, tmp_path, Progress(quiet=True))
    assert site.ca.executor.log == []


# --- CRLs ------------------------------------------------------------------------------------------

def test_a_crl_file_with_two_crls_is_read_whole_and_checked_by_signature():
    root_key, int_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = cert("Puppet Root CA: lab", root_key, "Puppet Root CA: lab", root_key, ca=True)
    inter = cert("Puppet CA: server", int_key, "Puppet Root CA: lab", root_key, ca=True)
    crls = pki.load_crls(crl_of(inter, int_key) + crl_of(root, root_key))
    assert len(crls) == 2 and all(pki.crl_signed_by_one_of(c, [inter, root]) for c in crls)
    other_key = ec.generate_private_key(ec.SECP256R1())  # same names, another key: a regenerated CA
    other = cert("Puppet CA: server", other_key, "Puppet Root CA: lab", root_key, ca=True)
    assert not pki.crl_signed_by_one_of(pki.load_crls(crl_of(other, other_key))[0], [inter, root])
    assert pki.load_crls(b"") == []


def test_a_docker_exec_that_never_answers_is_a_command_failure_not_a_traceback(monkeypatch):
    """The node's own `timeout` ends a hung command; when the container or the engine hangs
    instead, the host-side bound gives exit 124 with what happened."""
    import subprocess

    from regen.core.errors import CommandFailed
    from regen.lab.docker import DockerExecutor

    def hung(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", hung)
    ex = DockerExecutor("lab1-server", "server")
    res = ex.run(["true"], check=False, timeout=5)
    assert res.exit_code == 124 and "no answer from `docker exec` into lab1-server after 35s" in res.stderr
    with pytest.raises(CommandFailed, match="exited 124"):
        ex.run(["true"], timeout=5)
    with pytest.raises(CommandFailed, match="no answer"):
        ex.read_file("/etc/hostname")


def _ca_api(signed: set[str], pending: set[str] = frozenset()):
    """A CA whose `signed` folder holds ``signed``, `requests` ``pending``, and whose API
    answers 204 to each URL."""
    def curl(argv):
        urls = [a for a in argv if a.startswith("https://")]
        return 0, "".join(f"204 {u}\n" for u in urls), ""
    return [(lambda argv: argv[:2] == ["ls", f"{puppet.DEBIAN.cadir}/signed"],
             (0, " ".join(f"{n}.pem" for n in sorted(signed)), "")),
            (lambda argv: argv[:2] == ["ls", f"{puppet.DEBIAN.cadir}/requests"],
             (0, " ".join(f"{n}.pem" for n in sorted(pending)), "")),
            (lambda argv: argv[0] == "curl", curl),
            (lambda argv: argv[0] != "cat", (0, "", ""))]


def _cleaned(ca) -> list[str]:
    """The certnames a `puppetserver ca clean` (revoke, then delete) was sent for."""
    return sorted(a.rsplit("/", 1)[1] for argv in ca.log if argv[0] == "curl" and "DELETE" in argv
                  for a in argv if a.startswith("https://"))


def test_a_repeated_reenrolment_first_cleans_what_the_ca_signed_before(cas, tmp_path):
    """Killed after the CA signed agent-1 but before the run recorded it: on resume the CA
    would ignore agent-1's new request ("already has a signed certificate"), so its cert is
    cleaned first; agents done are saved one by one, each as it ends."""
    old, new = cas
    ctx = ctx_for(old, new, autosign=True, ca_rules=_ca_api({"server", "agent-1"}))
    ctx.site.agents[0].executor.rules.append((lambda argv: True, (0, "", "")))
    ctx.path = tmp_path / "run.json"
    agents.agents_step(ctx)
    assert _cleaned(ctx.site.ca.executor) == ["agent-1"]
    assert RunState.load(ctx.path).facts.agents_done == ["agent-1"]  # saved before the step ends

    fresh = ctx_for(old, new, autosign=True, ca_rules=_ca_api({"server"}))
    fresh.site.agents[0].executor.rules.append((lambda argv: True, (0, "", "")))
    agents.agents_step(fresh)
    assert _cleaned(fresh.site.ca.executor) == []  # nothing of theirs on the new CA: nothing cleaned


def test_a_request_left_pending_by_an_interrupted_attempt_is_deleted_before_the_host_asks_again(cas):
    """Killed while agent-1's request waited: the CA must not sign that old request (its key
    is gone with the emptied ssldir), so it is deleted, never revoked, before agent-1 asks again."""
    old, new = cas
    ctx = ctx_for(old, new, autosign=True, ca_rules=_ca_api({"server"}, pending={"agent-1"}))
    ctx.site.agents[0].executor.rules.append((lambda argv: True, (0, "", "")))
    agents.agents_step(ctx)
    calls = [a for a in ctx.site.ca.executor.log if a[0] == "curl"]
    assert _cleaned(ctx.site.ca.executor) == ["agent-1"] and not any("PUT" in a for a in calls)


def test_the_partial_clean_cleans_only_what_is_still_there(cas):
    """p.1 killed between two agents' clean: run again, it cleans the rest and never fails
    on a cert already gone (the CA answers 404 to that one)."""
    old, new = cas
    ctx = ctx_for(old, new, mode="partial", ca_rules=_ca_api({"server", "agent-1"}))
    agents.ca_clean_agents(ctx)
    assert _cleaned(ctx.site.ca.executor) == ["agent-1"]
    gone = ctx_for(old, new, mode="partial", ca_rules=_ca_api({"server"}))
    assert "none left to clean" in agents.ca_clean_agents(gone)
    assert _cleaned(gone.site.ca.executor) == []


def test_a_file_is_put_in_place_only_whole(tmp_path):
    """write_file's shell script, run here for real: a stream cut short (its controller killed
    mid-way, `cat` sees the end early) leaves the old file as it was."""
    import os
    import subprocess

    from regen.core.errors import CommandFailed
    from regen.core.executor import _OverShell

    class Local(_OverShell):
        node = "here"

        def __init__(self, cut: int = 0) -> None:
            self.cut = cut  # bytes of the stream lost on the way

        def run(self, argv, *, check=True, timeout=120, input=None, ok_codes=(0,)):
            argv = [f"{os.getuid()}:{os.getgid()}" if a == "root:root" else a for a in argv]
            done = subprocess.run(argv, input=input[: len(input) - self.cut], capture_output=True)
            if check and done.returncode not in ok_codes:
                raise CommandFailed(self.node, argv, done.returncode, done.stderr.decode())
            return ExecResult("here", tuple(argv), done.returncode, done.stdout.decode(), done.stderr.decode())

    target = tmp_path / "key.pem"
    Local().write_file(str(target), b"new key\n", mode=0o600)
    assert target.read_bytes() == b"new key\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(CommandFailed):
        Local(cut=3).write_file(str(target), b"newer key\n", mode=0o600)
    assert target.read_bytes() == b"new key\n"


def _ca_where_a_late_arrival_lands(folder: str, name: str, error: str, held: set[str], method: str = "") -> Scripted:
    """A CA whose first `puppetserver ca generate` of ``name`` fails with ``error`` because
    what a killed attempt had sent lands in its ``folder`` (signed, requests) just then; a
    curl to the CA (with ``method``, if given) discards what the folder holds."""
    answers = iter([(1, "", error), (0, "", "")])

    def generate(argv):
        code, out, err = next(answers)
        if code:
            held.add(name)  # the late arrival
        return code, out, err

    def curl(argv):
        assert not method or method in argv
        held.clear()
        return 0, "".join(f"204 {u}\n" for u in argv if u.startswith("https://")), ""

    return Scripted("server", {}, [
        (lambda argv: argv[:2] == ["ls", f"{puppet.DEBIAN.cadir}/{folder}"],
         lambda argv: (0, " ".join(f"{n}.pem" for n in held), "")),
        (lambda argv: argv[:3] == ["puppetserver", "ca", "generate"], generate),
        (lambda argv: argv[0] == "curl", curl),
        (lambda argv: True, (0, "", ""))])


def test_a_generate_whose_name_gets_signed_meanwhile_is_cleaned_and_tried_again(cas):
    """An ended `generate` of an interrupted attempt had asked the server to sign: the cert
    lands just after the check (the kill soak saw it); the second try cleans it first."""
    ca = _ca_where_a_late_arrival_lands("signed", "admin", "Error:\nExisting file at "
                                        "'/etc/puppet/puppetserver/ca/signed/admin.pem'", set())
    puppet_ca.ca_generate_anew(puppet_ca.CA(ca, "server", puppet.DEBIAN), "admin")
    assert sum(a[:3] == ["puppetserver", "ca", "generate"] for a in ca.log) == 2
    assert _cleaned(ca) == ["admin"]


def test_a_generate_whose_request_the_killed_attempt_left_pending_deletes_it_first_and_again(cas):
    """The killed attempt's `generate` had sent its request: pending on the CA, it makes the
    next `generate` fail with "already has a requested certificate" (the kill soak, seed
    174971, trial 4); the request is deleted first, and again if it lands late."""
    ca = _ca_where_a_late_arrival_lands("requests", "mcollective-servers", "Error:\n  code: 400\n  body: "
                                        "mcollective-servers already has a requested certificate; ignoring "
                                        "certificate request", {"mcollective-servers"}, method="DELETE")
    puppet_ca.ca_generate_anew(puppet_ca.CA(ca, "server", puppet.DEBIAN), "mcollective-servers")
    assert sum(a[:3] == ["puppetserver", "ca", "generate"] for a in ca.log) == 2
    assert sum(a[0] == "curl" for a in ca.log) == 2  # the pending request deleted before each try


def test_the_report_names_the_site_and_each_hosts_package_and_version():
    from regen.procedure.runner import RunState

    state = RunState(lab="small", mode="full", agents=["web01.example.com"], autosign=False)
    hosts = [report.HostRow("puppet.example.com", "server", "puppetserver", "7.17.3-1"),
             report.HostRow("web01.example.com", "agent", "puppet-agent", "7.23.0-1"),
             report.HostRow("web02.example.com", "agent", "puppet-agent", "7.23.0-1")]
    built = report.build(state, [], "examples/small.yaml (master puppet.example.com ...)", hosts)
    md = report.markdown(built)
    assert "- site: examples/small.yaml (master puppet.example.com ...)" in md
    assert "| web01.example.com | agent | puppet-agent | 7.23.0-1 |" in md
    assert "hosts: puppetserver 7.17.3-1 (1), puppet-agent 7.23.0-1 (2)" in report.summary(built)
    assert "site:" not in report.summary(report.build(state, []))  # a lab of options: no site line


def test_the_report_says_when_the_ca_the_master_and_the_earliest_host_cert_expire():
    from cryptography.hazmat.primitives.asymmetric import ec

    from regen.procedure import proven
    from tests.unit.fakes import NOW, cert, make_puppet_ca, pem

    root, inter, master, _ = make_puppet_ca()
    int_key = ec.generate_private_key(ec.SECP256R1())
    soon = cert("agent-2", int_key, "Puppet CA: server", int_key, ca=False, days=9)
    ssl = "/var/lib/puppet/ssl/certs"
    hosts = {"server": Scripted("server", files={"/etc/puppet/puppetserver/ca/ca_crt.pem": pem(inter, root),
                                                 f"{ssl}/server.pem": pem(master)}),
             "agent-1": Scripted("agent-1", files={f"{ssl}/agent-1.pem": pem(master)}),
             "agent-2": Scripted("agent-2", files={f"{ssl}/agent-2.pem": pem(soon)}),
             "agent-3": Scripted("agent-3")}  # its cert cannot be read: left out of the earliest

    class Down:  # a host whose container is stopped: every command fails, `puppet config print` too
        node = "agent-4"

        def run(self, argv, *, check=True, timeout=120, input=None, ok_codes=(0,)):
            raise CommandFailed("agent-4", list(argv), 1, "Error response from daemon: Container is not running")

        read_file = run

    hosts["agent-4"] = Down()
    site = Site.of("l", Host("server", "server", hosts["server"]), None, None,
                tuple(Host(n, n, hosts[n]) for n in ("agent-1", "agent-2", "agent-3", "agent-4")))
    day = (NOW + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    found = proven.expiry(site)
    assert found == report.Expiry(ca=day, master=day,
                                  earliest_host=f"{(NOW + dt.timedelta(days=9)).strftime('%Y-%m-%d')} (agent-2)")
    state = RunState(lab="l", mode="full", agents=["agent-1"], autosign=False)
    built = report.build(state, [], "", [], found)
    assert f"expiry: CA {day}, master {day}, earliest host cert" in report.summary(built)
    assert f"- expiry: CA {day}" in report.markdown(built)


# --- paths from the host ----------------------------------------------------------------------------

AIO_CONFIG_PRINT = """\
cadir = /etc/puppetlabs/puppetserver/ca
certdir = /etc/puppetlabs/puppet/ssl/certs
confdir = /etc/puppetlabs/puppet
hostcrl = /etc/puppetlabs/puppet/ssl/crl.pem
localcacert = /etc/puppetlabs/puppet/ssl/certs/ca.pem
privatekeydir = /etc/puppetlabs/puppet/ssl/private_keys
publickeydir = /etc/puppetlabs/puppet/ssl/public_keys
ssldir = /etc/puppetlabs/puppet/ssl
"""


def test_on_hosts_of_puppets_own_packages_the_procedure_uses_their_paths(tmp_path):
    """What `puppet config print` says on an all-in-one (AIO) host, not Debian's paths."""
    from regen.core.progress import Progress
    from regen.ops import puppetdb
    from regen.procedure.runner import Context, RunState

    aio = puppet.parse_layout(AIO_CONFIG_PRINT, "aio")
    assert (aio.ssldir, aio.cadir, aio.cacert, aio.puppet_conf) == (
        "/etc/puppetlabs/puppet/ssl", "/etc/puppetlabs/puppetserver/ca", "/etc/puppetlabs/puppetserver/ca/ca_crt.pem",
        "/etc/puppetlabs/puppet/puppet.conf")
    hosts = {n: Scripted(n, rules=[(lambda argv: True, (0, "", ""))], where=aio) for n in ("ca", "pdb", "agent-1")}
    site = Site.of("aio", Host("ca", "ca.example", hosts["ca"]), Host("pdb", "pdb.example", hosts["pdb"]),
                Host("postgres", "postgres", Scripted("postgres")), (Host("agent-1", "agent-1", hosts["agent-1"]),))
    ctx = Context(site, RunState(lab="aio", mode="full", agents=["agent-1"], autosign=False), tmp_path,
                  Progress(quiet=True))
    assert master.wipe(ctx) == "rm -rf /etc/puppetlabs/puppet/ssl /etc/puppetlabs/puppetserver/ca"
    common.clean_ssldir(site.agents[0])
    assert ["sh", "-c", 'rm -rf "$1"/*', "sh", "/etc/puppetlabs/puppet/ssl"] in hosts["agent-1"].log
    assert hostbackup.master_part(site.ca).paths == ("/etc/puppetlabs/puppetserver/ca", "/etc/puppetlabs/puppet/ssl",
                                                     "/etc/puppetlabs/puppet/puppet.conf")
    assert puppetdb.expected_ssl(site.puppetdb.layout, "pdb.example") == {
        "ssl-cert": "/etc/puppetlabs/puppet/ssl/certs/pdb.example.pem",
        "ssl-key": "/etc/puppetlabs/puppet/ssl/private_keys/pdb.example.pem",
        "ssl-ca-cert": "/etc/puppetlabs/puppet/ssl/certs/ca.pem"}
    assert site.cert_paths(site.agents[0]) == ("/etc/puppetlabs/puppet/ssl/certs/agent-1.pem",
                                               "/etc/puppetlabs/puppet/ssl/certs/ca.pem")
    assert site.ca.known.value == aio and "layout" not in hosts["ca"].__dict__  # kept with the run's Host
    assert site.through(lambda ex: ex).ca.known is site.ca.known  # and shared by its copies


def test_a_resumed_run_gives_each_host_the_layout_step_0_read_and_asks_no_host_again(tmp_path):
    from regen.core.progress import Progress
    from regen.procedure.runner import Context, RunState

    aio = puppet.parse_layout(AIO_CONFIG_PRINT, "aio")
    ca = Scripted("ca")  # asked, it would say Debian's paths
    site = Site.of("aio", Host("ca", "ca.example", ca), None, None, ())
    state = RunState(lab="aio", mode="full", agents=[], autosign=False)
    state.facts.layouts["ca"] = dict(aio.__dict__)
    Context(site, state, tmp_path, Progress(quiet=True))
    assert site.ca.layout == aio and site.authority.where == aio


def test_a_host_without_puppet_is_one_clear_error():
    with pytest.raises(RegenLabError, match="postgres: `puppet config print` did not give ssldir"):
        puppet.parse_layout("sh: 1: puppet: not found\n", "postgres")


def test_a_rollback_of_a_run_stopped_before_its_backup_restores_nothing_and_starts_the_services(tmp_path):
    """Killed in step 1.2 or 1.3 (the soak's trial 2, seed 174971, first killed in step 0):
    nothing was deleted, so r.2 has nothing to restore and is found done without a backup."""
    from regen.core.progress import Progress
    from regen.procedure.runner import Context, RunState

    ca = Scripted("ca", rules=[(lambda argv: True, (1, "", "must not run"))])
    site = Site.of("l", Host("ca", "ca", ca), Host("pdb", "pdb", ca), Host("pg", "pg", ca), ())
    state = RunState(lab="l", mode="full", agents=[], autosign=False)
    state.begun = ["0", "1.2", "1.3"]
    assert rollback.restored(Context(site, state, tmp_path, Progress(quiet=True)))
    assert [a for a in ca.log if a[0] != "sh" or "config print" not in a[2]] == []


# --- a site without PuppetDB ------------------------------------------------------------------------

PUPPETSERVER_CONF = 'jruby-puppet: {\n    server-var-dir: /var/lib/puppetserver\n    server-run-dir: /run/x\n}\n'


def _server_store(rows: str):
    """A Puppet Server whose puppetserver.conf and report store answer as a real one's do."""
    def conf(argv):  # the sed of SERVER_VAR_DIR run over conf.d/*.conf: its one match
        return 0, _sed(argv[4], PUPPETSERVER_CONF), ""

    return [(has("server-var-dir"), conf), (has("/var/lib/puppetserver/reports"), (0, rows, ""))]


def test_without_puppetdb_the_servers_own_store_gives_each_agents_newest_report():
    """Reports kept by the master and a compiler (`reports = store`): each node's newest of
    the two, with the server that holds it as its producer."""
    master = Scripted("master", rules=_server_store("ws1\t2026-11-29T05:01:00.000Z\tchanged\n"
                                                    "ws2\t2026-11-29T05:00:30.000Z\tunchanged\n"))
    compiler = Scripted("compiler", rules=_server_store("ws2\t2026-11-29T05:02:00.000Z\tfailed\n"))
    store = puppet_reports.Reports(servers=((master, puppet.DEBIAN, "master.lan"), (compiler, puppet.DEBIAN, "c1.lan")))
    assert store.where == "the servers' report store"
    latest = store.latest()
    assert latest["ws1"] == puppet_reports.ReportSummary("ws1", "changed", "2026-11-29T05:01:00.000Z", "master.lan")
    assert latest["ws2"] == puppet_reports.ReportSummary("ws2", "failed", "2026-11-29T05:02:00.000Z", "c1.lan")
    assert any(a[-1] == "/var/lib/puppetserver/reports" for a in master.log)  # server-var-dir's, not the CLI's
    with pytest.raises(puppet_reports.RunFailed, match=r"failed on ws2 \(its report in the servers' report store says"):
        puppet_reports.wait_reports(store, ["ws1", "ws2"], "2026-11-29T05:00:00.000Z", timeout=60)
    with pytest.raises(NotReady, match="the servers' report store answered, with no report from ws3"):
        puppet_reports.wait_reports(store, ["ws1", "ws3"], "2026-11-29T05:00:00.000Z", timeout=0)


def _sed(program: str, text: str) -> str:
    return subprocess.run(["sed", "-n", program], input=text, capture_output=True, text=True, check=True).stdout


def test_server_var_dir_is_read_as_debian_and_the_all_in_one_packages_write_it():
    debian = "    server-var-dir: /var/lib/puppetserver\n"
    aio = '    server-var-dir = "/opt/puppetlabs/server/data/puppetserver"\n    server-run-dir: /x\n'
    assert _sed(puppet_reports.SERVER_VAR_DIR, debian) == "/var/lib/puppetserver\n"
    assert _sed(puppet_reports.SERVER_VAR_DIR, aio) == "/opt/puppetlabs/server/data/puppetserver\n"


def test_a_server_without_server_var_dir_is_one_clear_error():
    bare = Scripted("compiler", rules=[(has("server-var-dir"), (0, "", ""))])
    with pytest.raises(RegenLabError, match=r"compiler: no server-var-dir in /etc/puppet/puppetserver/conf.d/\*.conf"):
        puppet_reports.server_reportdir(bare, puppet.DEBIAN)


def test_a_site_without_puppetdb_leaves_out_its_steps_backup_and_hosts(tmp_path):
    from regen.procedure.runner import needs_of

    ca, agent = Scripted("ca"), Scripted("ws1")
    site = Site.of("bare", Host("puppet.lan", "puppet.lan", ca), None, None, (Host("ws1", "ws1.lan", agent),))
    assert [r for _, r in site.roles()] == ["server", "agent"] and len(site.all_hosts) == 2
    assert site.reports.puppetdb is None and [s[2] for s in site.reports.servers] == ["puppet.lan"]
    steps = plan.steps_of(site, "full")
    assert not {"2.1", "2.2", "2.5", "2.3", "2.4", "3.m", "2.6"} & {s.id for s in steps}
    needs = needs_of(steps)
    assert needs["3"] == {"1.8"} and needs["3.s"] == {"3"} and needs["1.9"] == {"1.8"}
    assert hostbackup.parts(site) == []  # nothing of another host changes: only the master's backup


def test_the_reports_json_has_its_schema_version_and_validates_against_the_published_schema(tmp_path):
    import jsonschema

    from regen.core.config import ROOT

    schema = json.loads((ROOT / "docs" / "schemas" / f"report-{report.SCHEMA_VERSION}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    state = RunState(lab="l", mode="extend", agents=["agent-1"], autosign=False, started="2026-11-29T05:00:00.000Z",
                     finished="2026-11-29T05:05:00.000Z")
    state.facts.times = Times(server_stopped_at="2026-11-29T05:00:10.000Z",
                              last_agent_back_at="2026-11-29T05:00:45.400Z")
    state.steps = [StepResult("e.1", "extend", "2026-11-29T05:00:11.000Z", "2026-11-29T05:00:12.500Z", 1.5, "done",
                              "renewed"),
                   StepResult("1.8", "start", "2026-11-29T05:00:12.500Z", "2026-11-29T05:00:30.000Z", 17.5, "skipped",
                              "already done")]
    proofs = [proof.ProofResult("ca-key-kept", "claim", proof.PASS, "same keys", id="1"),
              proof.ProofResult("mco-ping", "claim", proof.UNKNOWN, "could not check: no broker", id="2")]
    hosts = [report.HostRow("server", "server", "puppetserver", "7.9.5-2+deb12u1")]
    built = report.build(state, proofs, "", hosts, report.Expiry("2041-11-25", "2026-12-19", "2026-12-19 (postgres)"))
    json_path, _ = report.write(built, tmp_path)
    data = json.loads(json_path.read_text())
    assert next(iter(data)) == "schema_version" and data["schema_version"] == 1
    jsonschema.validate(data, schema)
    assert data["expiry"] == {"CA": "2041-11-25", "master": "2026-12-19", "earliest host cert": "2026-12-19 (postgres)"}
    assert data["hosts"] == [{"host": "server", "part": "server", "package": "puppetserver",
                              "version": "7.9.5-2+deb12u1"}]
    # a run that did not finish: no end, no downtime, a failed step
    unfinished = RunState(lab="l", mode="full", agents=[], autosign=True, started="2026-11-29T05:00:00.000Z")
    unfinished.steps = [StepResult("1.5", "new CA", "2026-11-29T05:00:11.000Z", "2026-11-29T05:00:12.000Z", 1.0,
                                   "failed", "exited 1")]
    jsonschema.validate(report.to_json(report.build(unfinished, [], expiry=report.Expiry())), schema)
    # the schema can fail: a field of another meaning, or one it does not know
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data | {"mode": "renew"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data | {"surprise": 1}, schema)
