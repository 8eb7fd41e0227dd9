"""The seed's procedure as ordered Steps, resumable through a state file.

Each Step has an id in the seed's numbering, a ``check`` that tells whether its effect
is already there, a ``run``, and a timing. The Procedure records every finished step in
a state file under the state folder: killed anywhere, it continues with ``resume``.

Step 1 (the master): back up, stop the agent and the server, wipe the ssldir and the
cadir, create the new CA and the master's cert with the old cert's alt names (or, when the
master has moved, its new name, which every re-enrolled host is then pointed at), start.
Step 2 (extensions): PostgreSQL's cert, the PuppetDB host re-enrolled and restarted; where
the site has MCollective, the ActiveMQ broker re-enrolled with its keystore and truststore
rebuilt, and a new MCollective server keypair and admin client cert.
Step 3 (agents): each agent stopped, cleaned (with its local CA and CRL), re-enrolled
(``puppet ssl bootstrap``, the requests signed on the CA as they arrive), concurrently with a
bound; 3.s starts them once PuppetDB is back; every ``mcollectived`` restarted (3.m).

The steps form a graph (``Step.needs``): once Puppet Server answers under the new CA,
PostgreSQL's cert and PuppetDB's host (2.1, 2.2) go side by side; then PuppetDB's start
(2.5), the broker (2.3), the MCollective keys (2.4) and the agents' re-enrolment (3); the
agents' services (3.s) and the master's agent (1.9) start once PuppetDB is back, since
their first runs store facts and reports there.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from ..core.errors import BadInput, CommandFailed, RegenLabError
from ..core.files import write_private
from ..core.progress import Progress
from ..core.transcript import Recording, Transcript, within
from ..core.wait import parallel
from ..ops import mcollective, pki, puppet, puppetdb, rootca
from ..ops.postgres import postgres_tls
from ..ops.postgres import reload as postgres_reload
from . import hostbackup, preflight
from .runner import (  # noqa: F401 (re-exported: the procedure's types, for its users)
    REPORTS_TIMEOUT,
    Context,
    Interrupted,
    ProcedureStateError,
    RunState,
    Step,
    StepResult,
    execute,
    now,
    state_path,
    transcript_path,
)
from .site import Host, Site

AGENT_PARALLEL = 8
MCO_TIMEOUT = 60  # step 3.m: how long to wait for every agent's reply to `mco ping`
MCOLLECTIVE_STEPS = ("2.3", "2.4", "3.m")  # left out on a site without MCollective
COMPILER_STEPS = ("2.6",)  # only on a site with compilers
PUPPETDB_STEPS = ("2.1", "2.2", "2.5")  # left out on a site without PuppetDB
# used with fullmatch (`$` would let a final newline in)
DNS_NAME_RE = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


# --- helpers ------------------------------------------------------------------------------

def fingerprint_of_ca(ctx: Context) -> str | None:
    res = ctx.ca.run(["cat", ctx.site.ca.layout.cacert], check=False)
    if res.exit_code != 0:
        return None
    return pki.ca_fingerprint(res.stdout.encode())


def _host_chains_to_new_ca(ctx: Context, host: Host, cert_path: str) -> bool:
    bundle_pem = ctx.ca.read_file(ctx.site.ca.layout.cacert)
    res = host.executor.run(["cat", cert_path], check=False)
    if res.exit_code != 0 or pki.ca_fingerprint(bundle_pem) == ctx.state.facts.before.ca_fingerprint:
        return False
    return pki.chain_to(pki.load_certs(res.stdout.encode())[0], pki.load_certs(bundle_pem)) is not None


def clean_ssldir(host: Host) -> None:
    """The seed's "delete everything in the SSL directory": the host's cert, key and
    requests, its local CA bundle and its CRL (what `puppet ssl clean --localca` removes).
    (What an interrupted attempt left running there is ended before a resume: ``stop_leftovers``.)"""
    host.executor.run(["sh", "-c", 'rm -rf "$1"/*', "sh", host.layout.ssldir])


def prepare(ctx: Context, host: Host, clean: Callable[[Host], object] | None = None) -> None:
    """A host made ready to request: pointed at the master's new name if it moved, its
    ssldir emptied. ``clean`` replaces the cleaning (a scenario's fault: what an operator
    gets wrong)."""
    if ctx.state.server_name:
        puppet.set_server(host.executor, ctx.state.server_name)
    (clean or clean_ssldir)(host)


def reenroll_all(ctx: Context, hosts: list[Host], clean: Callable[[Host], object] | None = None,
                 before: Callable[[Host], object] = lambda host: None,
                 after: Callable[[Host], object] = lambda host: None, limit: int = AGENT_PARALLEL) -> None:
    """Hosts re-enrolled side by side, ``limit`` at a time: on each, ``before``, then
    ``prepare`` (``clean`` as there), ``puppet ssl bootstrap``, ``after``; meanwhile the CA
    signs exactly these hosts' requests as they arrive (unless autosign)."""
    maxwait = puppet.maxwait_for(len(hosts))
    # an interrupted attempt may have left these hosts' certs signed (the CA would ignore their
    # new requests: "already has a signed certificate") or their old requests pending (the CA
    # would sign those, for keys the hosts no longer have): both go first
    puppet.ca_forget(ctx.ca, ctx.site.ca.certname, [h.certname for h in hosts])

    def job(host: Host) -> Callable[[], None]:
        def run() -> None:
            before(host)
            prepare(ctx, host, clean)
            puppet.bootstrap(host.executor, maxwait)
            after(host)
        return run

    puppet.enroll_all(ctx.ca, ctx.site.ca.certname, [(h.certname, job(h)) for h in hosts],
                      sign=not ctx.autosign, limit=limit)


def reenroll(ctx: Context, host: Host) -> None:
    """One host cleaned; it requests with ``puppet ssl bootstrap`` while the CA signs its
    request (unless autosign)."""
    reenroll_all(ctx, [host])


# --- step 0: what the proof needs from before ----------------------------------------------

def record_before(ctx: Context) -> str:
    """The old CA fingerprint and the master's alt names (read from its cert); one
    agent's old cert and key kept on that agent, owner-only, for the refusal proof."""
    before = ctx.state.facts.before
    # where Puppet keeps its files on each Puppet host (PostgreSQL's are its own), read there
    # now, before the downtime, and kept: the steps, a resume and the proof use these paths
    hosts = [h for h in ctx.site.all_hosts if h is not ctx.site.postgres]
    layouts = parallel(hosts, lambda h: h.layout, limit=AGENT_PARALLEL)
    ctx.state.facts.layouts = {h.name: asdict(w) for h, w in zip(hosts, layouts, strict=True)}
    bundle = ctx.ca.read_file(ctx.site.ca.layout.cacert)
    before.ca_fingerprint = pki.ca_fingerprint(bundle)
    before.ca_certs = [pki.fingerprint(c) for c in pki.load_certs(bundle)]
    before.ca_keys = [pki.key_fingerprint(c) for c in pki.load_certs(bundle)]
    before.ca_expires = min(pki.info(c).not_after for c in pki.load_certs(bundle)).isoformat()
    master = pki.info(pki.load_certs(ctx.ca.read_file(ctx.site.ca.cert))[0])
    before.master_alt_names = [n for n in master.dns_names if n != ctx.site.ca.certname] or ["puppet"]
    every = list(ctx.site.all_hosts)
    serials = dict(zip((h.name for h in every), parallel(every, lambda h: pki.info(pki.load_certs(
        h.executor.read_file(ctx.site.cert_paths(h)[0]))[0]).serial), strict=True))
    before.agent_serials = {h.name: serials[h.name] for h in ctx.site.agents}
    before.host_serials = {n: serial for n, serial in serials.items() if n not in before.agent_serials}
    witness = ctx.agents()[0]
    before.witness = witness.name
    witness.executor.run(["sh", "-c", 'umask 077 && mkdir -p "$1" && cp "$2" "$1/cert.pem" && cp "$3" "$1/key.pem"',
                          "sh", puppet.OLD_CREDS, witness.cert, witness.key])
    if ctx.site.compilers:
        compiler = ctx.site.compilers[0]
        before.compiler_witness = compiler.name
        before.compiler_serial = pki.info(pki.load_certs(
            compiler.executor.read_file(compiler.cert))[0]).serial
        compiler.executor.run(["sh", "-c", 'umask 077 && mkdir -p "$1" && cp "$2" "$1/cert.pem" && cp "$3" '
                               '"$1/key.pem"', "sh", puppet.OLD_CREDS, compiler.cert,
                               compiler.key])
    if ctx.site.broker:
        record_mcollective(ctx)
    ssldirs = sorted({w["ssldir"] for w in ctx.state.facts.layouts.values()})
    return f"old CA {before.ca_fingerprint[:23]}...; master alt names {','.join(before.master_alt_names)}; " \
           f"ssldir {', '.join(ssldirs)}, cadir {ctx.site.ca.layout.cadir} (`puppet config print`)"


def record_mcollective(ctx: Context) -> None:
    """Who answers `mco ping` before; the admin's old client cert and key kept on the
    admin's host (owner-only) for the broker's refusal proof; the old server public key."""
    mco, admin = ctx.state.facts.mco, ctx.site.admin.executor
    mco.replies_before = mcollective.ping(admin, mcollective.ping_wait(len(ctx.site.agents))).replies
    admin.run(["sh", "-c", 'umask 077 && mkdir -p "$1" && cp "$2" "$1/mco-admin-cert.pem" && '
               'cp "$3" "$1/mco-admin-key.pem"', "sh", puppet.OLD_CREDS, mcollective.ADMIN_CERT, mcollective.ADMIN_KEY])
    mco.old_server_public = mcollective.public_key_id(admin.read_file(mcollective.SERVER_PUBLIC))
    mco.old_admin_serial = pki.load_certs(admin.read_file(mcollective.ADMIN_CERT))[0].serial_number


# --- step 1: the master ------------------------------------------------------------------

def backup_paths(where: puppet.Layout) -> tuple[str, ...]:
    """What step 1.1 keeps of the master (relative to /, as in its tar): the cadir, the ssldir
    and puppet.conf (step 1.5 sets the master's autosign, and its server name if it moved)."""
    return tuple(p.lstrip("/") for p in (where.cadir, where.ssldir, where.puppet_conf))


def backup_required(where: puppet.Layout, master_certname: str) -> tuple[str, ...]:
    """The files a backup of the master must hold: the CA's cert (first), key, CRL and
    serial, the master's CA bundle, cert and key."""
    return tuple(p.lstrip("/") for p in (where.cacert, f"{where.cadir}/ca_key.pem", f"{where.cadir}/ca_crl.pem",
                                         f"{where.cadir}/serial", where.localcacert,
                                         where.hostcert(master_certname), where.hostkey(master_certname)))


def quiesce_master(ctx: Context) -> None:
    """The master's agent and Puppet Server stopped if they run: 1.3 stopped them, but a
    master that rebooted since has started them again (its services are enabled)."""
    ctx.ca.run(["sh", "-c", 'for s in puppet puppetserver; do service $s status >/dev/null 2>&1 && '
                '{ service $s stop || exit 1; }; done; exit 0'], timeout=300)


def backup(ctx: Context) -> str:
    """1.1, once Puppet Server has stopped (nothing writes to the CA while it is copied): the
    cadir and ssldir tarred on the master, checked (every file present, the CA key and the
    master's key each matching their certs), written owner-only and fsynced on this machine,
    read back and checked against what was taken. The temporary tarball on the master is
    this attempt's own and removed."""
    quiesce_master(ctx)
    # this attempt's own file: a `tar` of an interrupted attempt may still write its own (the
    # lab's lock says no other run is on), which is removed with any other left behind
    where = ctx.site.ca.layout
    data = hostbackup.tar_on(ctx.ca, "/root/regen-backup", tuple(f"/{p}" for p in backup_paths(where)))
    files = verify_backup(data, ctx.site.ca.certname, where)
    path = write_private(ctx.backup_dir / backup_name(ctx.site.name, ctx.state.started), data)
    digest = hashlib.sha256(data).hexdigest()
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:  # read back: what is on disk is what was taken
        path.unlink(missing_ok=True)
        raise RegenLabError(f"the backup {path} read back differs from what was written; nothing was deleted")
    ctx.state.facts.backup.path = str(path)
    ctx.state.facts.backup.sha256 = digest
    ctx.state.facts.backup.files = files
    return f"{path} ({len(data) // 1024} KiB, {len(files)} files; CA key and master key match their certs; " \
           "read back)"


def backup_name(lab: str, started: str) -> str:
    return f"{lab}-{started.replace(':', '')}.tar.gz"


def verify_backup(data: bytes, master_certname: str, where: puppet.Layout) -> dict[str, str]:
    """The backup (of a master of that Layout) holds every file, its CA cert parses, the CA
    key and the master's key match their certs; returns each regular file's sha256."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RegenLabError(f"backup is not a readable tar.gz ({exc}); nothing was deleted") from None
    with tar:
        names = {m.name for m in members}
        required = backup_required(where, master_certname)
        ca_crt, ca_key, master_cert, master_key = required[0], required[1], required[-2], required[-1]
        missing = [n for n in required if n not in names]
        if missing:
            raise RegenLabError(f"backup is incomplete, missing: {', '.join(missing)}; nothing was deleted")

        def read(name: str) -> bytes:
            member = tar.extractfile(name)
            assert member is not None
            return member.read()

        ca_cert = pki.load_certs(read(ca_crt), "the backed-up CA cert")[0]
        if not pki.key_matches_cert(read(ca_key), ca_cert):
            raise RegenLabError("backup: the CA key does not match the CA cert; nothing was deleted")
        if not pki.key_matches_cert(read(master_key), pki.load_certs(read(master_cert), "the master's cert")[0]):
            raise RegenLabError("backup: the master's key does not match its cert; nothing was deleted")
        return {m.name: hashlib.sha256(read(m.name)).hexdigest() for m in members if m.isfile()}


def backup_done(ctx: Context) -> bool:
    backup = ctx.state.facts.backup
    return bool(backup.path) and hostbackup.whole(Path(backup.path), backup.sha256)


def stop_master_agent(ctx: Context) -> str:
    puppet.stop(ctx.ca, "puppet")
    return "service puppet stop"


def stop_server(ctx: Context) -> str:
    """1.3 (and a rollback's r.1): the downtime starts at the first stop."""
    times = ctx.state.facts.times
    times.server_stopped_at = times.server_stopped_at or now()
    puppet.stop(ctx.ca, "puppetserver")
    return "service puppetserver stop"


def wipe(ctx: Context) -> str:
    quiesce_master(ctx)
    where = ctx.site.ca.layout
    ctx.ca.run(["rm", "-rf", where.ssldir, where.cadir])
    return f"rm -rf {where.ssldir} {where.cadir}"


def wiped(ctx: Context) -> bool:
    return fingerprint_of_ca(ctx) != ctx.state.facts.before.ca_fingerprint


def new_ca(ctx: Context, alt_names: list[str] | None = None,
           crl_chain: Callable[[rootca.ImportSet], bytes] | None = None) -> str:
    """1.5: a new CA (`puppetserver ca setup`, or `ca import` of the run's import set: an
    intermediate under an external root) and the master's cert. That cert carries the old
    cert's alt names, or its new name only if it moved (the old name is someone else's now),
    and the master's own agent and `puppetserver ca` are pointed at that name. ``alt_names``
    replaces both, ``crl_chain`` the CRL chain imported (a scenario's faults)."""
    moved = ctx.state.server_name
    alt = alt_names if alt_names is not None else wanted_alt_names(ctx)
    if moved:
        puppet.set_server(ctx.ca, moved)
    if not ca_made(ctx, alt):
        fp = fingerprint_of_ca(ctx)
        if fp == ctx.state.facts.before.ca_fingerprint:  # never: 1.4 wiped it; but the old CA is never touched here
            raise RegenLabError("the old CA is still in place: step 1.4 has not wiped it")
        # a `ca setup` killed half-way leaves a cadir it refuses to overwrite, and a master that
        # rebooted made a CA of its own at start (as Puppet Server does with none): both cleared
        quiesce_master(ctx)
        ctx.ca.run(["rm", "-rf", ctx.site.ca.layout.ssldir, ctx.site.ca.layout.cadir])
        if ctx.state.ca_import:
            found = rootca.read_import(Path(ctx.state.ca_import))
            puppet.ca_import(ctx.ca, ctx.site.ca.certname, alt, found.bundle, found.key,
                             crl_chain(found) if crl_chain else found.crls)
        else:
            puppet.ca_setup(ctx.ca, ctx.site.ca.certname, alt)
    # the new CA's signing policy is the run's: autosign, or every request signed by hand
    puppet.set_autosign(ctx.ca, ctx.autosign)
    fp = fingerprint_of_ca(ctx)
    ctx.state.facts.new_ca_fingerprint = fp or ""
    if ctx.state.ca_import:
        signing = pki.info(pki.load_certs(ctx.ca.read_file(ctx.site.ca.layout.cacert))[0])
        return f"imported CA {signing.subject!r} under root {fp[:23]}...; asked for alt names " \
               f"{','.join(alt) or '(none)'}; {master_names(ctx)}"
    return f"new CA {fp[:23]}...; asked for alt names {','.join(alt) or '(none)'}; {master_names(ctx)}"


def master_names(ctx: Context) -> str:
    """The DNS names the master's cert really carries (read from the cert, not the options)."""
    cert = pki.info(pki.load_certs(ctx.ca.read_file(ctx.site.ca.cert))[0])
    return f"new master cert's DNS names: [{', '.join(dict.fromkeys(cert.dns_names))}]"


def wanted_alt_names(ctx: Context) -> list[str]:
    """The old cert's alt names, or the master's new name only if it moved."""
    moved = ctx.state.server_name
    return [moved] if moved else ctx.state.facts.before.master_alt_names


def ca_made(ctx: Context, alt: list[str]) -> bool:
    """`ca setup` ran to its end: a new CA, the master's cert (with the alt names asked
    for) and key, owned by `puppet`."""
    fp = fingerprint_of_ca(ctx)
    script = 'test -s "$1" && test -s "$2" && test "$(stat -c %U "$3")" = puppet'
    if fp is None or fp == ctx.state.facts.before.ca_fingerprint or ctx.ca.run(
            ["sh", "-c", script, "sh", ctx.site.ca.cert, ctx.site.ca.key,
             ctx.site.ca.layout.cadir], check=False).exit_code != 0:
        return False
    cert = pki.info(pki.load_certs(ctx.ca.read_file(ctx.site.ca.cert))[0])
    return set(alt) <= set(cert.dns_names)


def new_ca_done(ctx: Context) -> bool:
    """1.5 whole: the CA made, and what follows `ca setup` (the signing policy) in place."""
    return ca_made(ctx, wanted_alt_names(ctx)) and puppet.autosign_setting(ctx.ca) == str(ctx.autosign).lower()


def start_server(ctx: Context) -> str:
    """1.8; a Puppet Server that runs already (a reboot started it) but serves another cert
    than the master's new one is stopped first."""
    if puppet.service_running(ctx.ca, "puppetserver"):
        puppet.stop(ctx.ca, "puppetserver")
    puppet.start_server(ctx.ca)
    ctx.state.facts.new_ca_fingerprint = fingerprint_of_ca(ctx) or ""
    return "service puppetserver start (returns when ready)"


def start_master_agent(ctx: Context) -> str:
    puppet.start(ctx.ca, "puppet")
    return "service puppet start"


# --- step 2: extensions -----------------------------------------------------------------

def postgres_cert(ctx: Context) -> str:
    pg = ctx.site.postgres
    postgres_tls(ctx.ca, ctx.site.ca.certname, pg.executor, pg.certname)
    return f"puppetserver ca generate --certname {pg.certname}; installed; pg_ctlcluster reload"


def postgres_done(ctx: Context) -> bool:
    return _host_chains_to_new_ca(ctx, ctx.site.postgres, ctx.site.cert_paths(ctx.site.postgres)[0])


def puppetdb_reenroll(ctx: Context, trust: Callable[[Host], str] | None = None) -> str:
    """2.2: PuppetDB stopped, its host re-enrolled; PuppetDB's SSL configuration (jetty.ini)
    pointed at the host's new cert, key and CA bundle, as PuppetDB's ssl-setup does. It
    starts in 2.5, once PostgreSQL serves its new cert (PuppetDB verifies it against the
    host's CA bundle). ``trust`` replaces that configuration (a scenario's fault) and says
    what it did."""
    host = ctx.site.puppetdb
    puppet.stop(host.executor, "puppetdb")
    reenroll(ctx, host)
    configured = trust(host) if trust else puppetdb.configure_ssl(host.executor, host.certname)
    return f"stopped, ssldir emptied, ssl bootstrap (request signed on the CA); {configured}"


def puppetdb_done(ctx: Context) -> bool:
    host = ctx.site.puppetdb
    return _host_chains_to_new_ca(ctx, host, host.cert) and \
        puppetdb.ssl_settings(host.executor) == puppetdb.expected_ssl(host.executor, host.certname)


def server_serves_new_cert(ctx: Context) -> bool:
    return puppet.server_status(ctx.ca) == "running" and \
        puppet.serves(ctx.ca, 8140, ctx.site.ca.cert)


def puppetdb_serves_new_cert(ctx: Context) -> bool:
    host = ctx.site.puppetdb
    return puppet.puppetdb_state(host.executor) == "running" and \
        puppet.serves(host.executor, 8081, host.cert)


def start_puppetdb(ctx: Context) -> str:
    """2.5: PuppetDB started with its new cert (its init script returns when it is ready).
    One a reboot started before its files were new is stopped first; one still starting
    (an interrupted attempt's) is waited for by the init script."""
    if puppet.puppetdb_state(ctx.site.puppetdb.executor) == "running":
        puppet.stop(ctx.site.puppetdb.executor, "puppetdb")
    puppet.start_jvm(ctx.site.puppetdb.executor, "puppetdb")
    return f"service puppetdb start: {puppet.puppetdb_state(ctx.site.puppetdb.executor)}"


def broker_redo(ctx: Context, stores: Callable[[Host], str] | None = None) -> str:
    """2.3: the broker host re-enrolled; its keystore and truststore rebuilt; restarted.
    ``stores`` replaces the rebuilding of the stores (a scenario's fault)."""
    host = ctx.site.broker
    puppet.stop(host.executor, "activemq")
    reenroll(ctx, host)
    if stores:
        built = stores(host)
    else:
        mcollective.build_broker_stores(host.executor, host.certname)
        built = "keystore and truststore rebuilt (keytool)"
    waited = mcollective.start_broker(host.executor)
    return f"stopped, re-enrolled, {built}, started; STOMP+TLS in {waited:.1f}s"


def broker_done(ctx: Context) -> bool:
    host = ctx.site.broker
    if not _host_chains_to_new_ca(ctx, host, host.cert):
        return False
    trusted = {pki.fingerprint(c) for c in mcollective.truststore_certs(host.executor)}
    new = {pki.fingerprint(c) for c in pki.load_certs(ctx.ca.read_file(ctx.site.ca.layout.cacert))}
    old = set(ctx.state.facts.before.ca_certs)
    return new <= trusted and not old & trusted and puppet.service_running(host.executor, "activemq") and \
        puppet.serves(host.executor, mcollective.STOMP_PORT, host.cert)


def compilers_redo(ctx: Context) -> str:
    """2.6: each compiler's Puppet Server stopped, its host re-enrolled (its request carries
    its `dns_alt_names`, such as `puppet`: the CA allows alt names), started again, serving
    its new cert."""
    compilers = list(ctx.site.compilers)
    parallel(compilers, lambda h: puppet.stop(h.executor, "puppetserver"))
    reenroll_all(ctx, compilers)
    parallel(compilers, lambda h: puppet.start_jvm(h.executor, "puppetserver"))
    names = {h.name: ",".join(pki.info(pki.load_certs(h.executor.read_file(h.cert))[0]).dns_names)
             for h in compilers}
    return "stopped, re-enrolled, started: " + "; ".join(f"{n} (DNS names {d})" for n, d in names.items())


def compilers_done(ctx: Context) -> bool:
    return all(_host_chains_to_new_ca(ctx, h, h.cert) and
               puppet.serves(h.executor, 8140, h.cert) for h in ctx.site.compilers)


def mco_credentials(ctx: Context) -> str:
    """2.4: a new MCollective server keypair and admin client cert from the new CA."""
    ids = mcollective.install_credentials(ctx.ca, ctx.site.ca.certname, ctx.site.admin.executor,
                                          [a.executor for a in ctx.site.agents])
    ctx.state.facts.mco.new_server_public = ids["server_public"]
    return (f"puppetserver ca generate --certname {mcollective.SERVER_KEYPAIR},{mcollective.ADMIN}; server keypair "
            f"on {len(ctx.site.agents)} agents, admin cert and key on {ctx.site.admin.name}")


def mco_credentials_done(ctx: Context) -> bool:
    admin = ctx.site.admin
    current = mcollective.public_key_id(admin.executor.read_file(mcollective.SERVER_PUBLIC))
    return current != ctx.state.facts.mco.old_server_public and \
        _host_chains_to_new_ca(ctx, admin, mcollective.ADMIN_CERT)


def mco_restart(ctx: Context) -> str:
    """3.m: every re-enrolled agent's mcollectived restarted (it reads its new cert and
    keys); then `mco ping` from the admin until every agent of the site replies."""
    parallel(ctx.agents(), lambda h: mcollective.restart_daemon(h.executor), limit=AGENT_PARALLEL)
    identities = [a.certname for a in ctx.site.agents]

    daemons = [(a.name, a.executor) for a in ctx.agents()]
    ping = mcollective.wait_ping(ctx.site.admin.executor, identities, MCO_TIMEOUT + len(identities),
                                 log=lambda: "\n".join(mcollective.errors_of(daemons, ctx.site.broker.executor)))
    ctx.state.facts.mco.replies_after = ping.replies
    return f"{len(ctx.agents())} daemons restarted; {len(ping.replies)}/{len(identities)} agents answer mco ping " \
           f"(max {max(ping.replies.values()):.1f} ms)"


# --- step 3: agents ----------------------------------------------------------------------

def agents_step(ctx: Context, clean: Callable[[Host], object] | None = None,
                restart: Callable[[Host], bool] = lambda host: True) -> str:
    """3: each agent's service stopped and the agent re-enrolled, side by side, its request
    signed on the CA as it arrives. A scenario's fault may replace the cleaning or leave a
    daemon running (``restart``)."""
    done_before = set(ctx.state.facts.agents_done)
    todo = [a for a in ctx.agents() if a.name not in done_before]
    mark = puppet.ca_log_mark(ctx.ca)

    started: dict[str, float] = {}

    def stop(host: Host) -> None:
        # saved before the agent is touched: a rollback is possible only while this is empty
        ctx.save(lambda: ctx.state.facts.agents_touched.append(host.name)  # type: ignore[union-attr]
                 if host.name not in (ctx.state.facts.agents_touched or []) else None)
        started[host.name] = time.monotonic()
        if restart(host):
            puppet.stop(host.executor, "puppet")

    def record(host: Host) -> None:
        ctx.save(lambda: ctx.state.facts.agents_done.append(host.name))  # a kill now loses no agent done
        ctx.progress.say(f"  {host.name}: re-enrolled ({time.monotonic() - started[host.name]:.1f}s; "
                         f"{len(ctx.state.facts.agents_done)}/{len(ctx.state.agents)} agents done)")

    reenroll_all(ctx, todo, clean, before=stop, after=record)
    signed = puppet.ca_signed_since(ctx.ca, mark).describe([a.certname for a in todo])
    return f"{len(todo)} agents re-enrolled" + \
        (f" ({len(done_before)} were done before)" if done_before else "") + f"; {signed}"


def agents_start(ctx: Context) -> str:
    """3.s: every re-enrolled agent's service started (a running one is left as it is):
    its first run stores facts and a report in PuppetDB, so this waits for 2.5."""
    parallel(ctx.agents(), lambda h: puppet.start(h.executor, "puppet"), limit=AGENT_PARALLEL)
    return f"service puppet start on {len(ctx.agents())} agents"


def agents_back(ctx: Context) -> str:
    """Wait until each re-enrolled agent's first run under the new CA is in PuppetDB (or, in a
    site without it, in the servers' own report store)."""
    times = ctx.state.facts.times
    since = times.agents_started_at = times.agents_started_at or times.server_stopped_at or ctx.state.started
    store = ctx.site.reports
    reports = puppet.wait_reports(store, [a.certname for a in ctx.agents()], since, ctx.reports_timeout,
                                  counted=lambda n, total: ctx.progress.say(f"  {n}/{total} agents reported"))
    last = max(r.receive_time for r in reports.values())
    times.last_agent_back_at = last
    return f"{len(reports)} fresh reports in {store.where}, the last received {last}"


def signing_policy(ctx: Context) -> str:
    """p.0: the CA signs as this run says (autosign or by hand), whatever ran before on it;
    Puppet Server reads the setting at start, so a change is followed by a reload."""
    puppet.set_autosign(ctx.ca, ctx.autosign)
    puppet.reload_server(ctx.ca)
    return f"autosign = {str(ctx.autosign).lower()} in the CA's puppet.conf; Puppet Server reloaded"


def signing_policy_done(ctx: Context) -> bool:
    return puppet.autosign_setting(ctx.ca) == str(ctx.autosign).lower()


def ca_clean_agents(ctx: Context) -> str:
    """The seed's partial case: the old certs revoked (on the CRL) and removed on the CA,
    as `puppetserver ca clean` does, for every agent of the run in two API calls."""
    # an interrupted p.1 may have cleaned some already
    names = puppet.ca_clean_signed(ctx.ca, ctx.site.ca.certname, [host.certname for host in ctx.agents()])
    return "revoked and deleted on the CA (what `puppetserver ca clean --certname` does): " + \
        (",".join(names) or "none left to clean")


# --- the extension (mode "extend"): the CA's certificates signed anew with its own keys -----

def _until(certs: list) -> datetime:
    return min(pki.info(c).not_after for c in certs)


def ca_extended(ctx: Context) -> bool:
    """The CA's certificates have the old public keys, in the same order, and outlive the old ones."""
    before = ctx.state.facts.before
    res = ctx.ca.run(["cat", ctx.site.ca.layout.cacert], check=False)
    if res.exit_code != 0:
        return False
    certs = pki.load_certs(res.stdout.encode())
    return [pki.key_fingerprint(c) for c in certs] == before.ca_keys and \
        _until(certs) > datetime.fromisoformat(before.ca_expires)


def extend(ctx: Context) -> str:
    """e.1, Puppet Server stopped: the CA's certificates signed anew with the same keys for
    15 years (on the CA host: the keys never leave it), installed as the CA's and as the
    master's own CA bundle. The hosts' certs stay valid: their issuer's key is the same."""
    where, before = ctx.site.ca.layout, ctx.state.facts.before
    if not ca_extended(ctx):
        puppet.extend_ca(ctx.ca, where, ctx.site.ca.cert)
    bundle = ctx.ca.read_file(where.cacert)
    puppet.replace_bundle(ctx.ca, where.localcacert, bundle)
    ctx.state.facts.new_ca_fingerprint = pki.ca_fingerprint(bundle)
    return (f"CA certificates signed anew with their own keys (root key {before.ca_keys[-1][:23]}... kept): valid "
            f"until {_until(pki.load_certs(bundle)):%Y-%m-%d}, were until {before.ca_expires[:10]}; the master's CA "
            "bundle replaced")


def extend_done(ctx: Context) -> bool:
    return ca_extended(ctx) and ctx.ca.read_file(ctx.site.ca.layout.localcacert) == \
        ctx.ca.read_file(ctx.site.ca.layout.cacert)


def distribute(ctx: Context) -> str:
    """e.2: every other host's CA bundle replaced by the extended one, and what reads it at
    start restarted: PostgreSQL reloaded, PuppetDB, the broker (its stores rebuilt) and the
    compilers' Puppet Server restarted, each agent's daemon restarted (it runs at once). Safe
    to repeat: the same bundle again, the same restarts."""
    bundle = ctx.ca.read_file(ctx.site.ca.layout.cacert)
    times = ctx.state.facts.times

    def one(item: tuple[Host, str]) -> None:
        host, role = item
        ex = host.executor
        puppet.replace_bundle(ex, ctx.site.cert_paths(host)[1], bundle)
        if role == "postgres":
            postgres_reload(ex)
        elif role in ("puppetdb", "compiler"):
            service = "puppetdb" if role == "puppetdb" else "puppetserver"
            puppet.stop(ex, service)
            puppet.start_jvm(ex, service)
        elif role == "broker":
            mcollective.build_broker_stores(ex, host.certname)
            puppet.stop(ex, "activemq")
            mcollective.start_broker(ex)
        elif role == "agent":
            puppet.stop(ex, "puppet")
            puppet.start(ex, "puppet")

    # the servers first: an agent's first run needs PuppetDB back (as 3.s waits for 2.5)
    servers = [(h, r) for h, r in ctx.site.roles() if h is not ctx.site.ca and r != "agent"]
    agents = [(h, r) for h, r in ctx.site.roles() if r == "agent"]
    parallel(servers, one, limit=AGENT_PARALLEL)
    ctx.save(lambda: setattr(times, "agents_started_at", now()))
    parallel(agents, one, limit=AGENT_PARALLEL)
    return (f"the extended CA bundle on {len(servers)} servers (restarted: PuppetDB, compilers, the broker with its "
            f"stores rebuilt; PostgreSQL reloaded), then on {len(agents)} agents (their daemons restarted: each runs "
            "at once)")


# --- the procedures ----------------------------------------------------------------------

# Once Puppet Server answers (1.8), PostgreSQL's cert and PuppetDB's host go first, side
# by side: PuppetDB's restart (2.5) is the long pole that the agents' first runs wait for.
# The broker, the MCollective keys and the agents follow once PuppetDB's host is
# re-enrolled, side by side with PuppetDB's start: on separate hosts that costs nothing
# (the agents wait for 2.5 anyway); on one box it leaves PuppetDB's branch the CPU first.
EXTENSIONS = (
    Step("2.1", "PostgreSQL: certificate from the new CA", postgres_cert, postgres_done, needs=("1.8",),
         shows="PostgreSQL's cert chains to the new CA"),
    Step("2.2", "PuppetDB stopped, its host re-enrolled, jetty.ini on the new cert", puppetdb_reenroll,
         puppetdb_done, needs=("1.8",), shows="PuppetDB's host cert chains to the new CA and jetty.ini points at it"),
    Step("2.3", "ActiveMQ broker re-enrolled, keystore and truststore rebuilt, restarted", broker_redo, broker_done,
         needs=("1.8", "2.2"), recheck=True,
         shows="the broker's cert chains to the new CA, its truststore holds the new CA and not the old, and "
               "ActiveMQ runs, serving that cert on the STOMP port"),
    Step("2.4", "MCollective: new server keypair and admin client cert installed", mco_credentials,
         mco_credentials_done, needs=("1.8", "2.2"),
         shows="the MCollective server public key is not the old one, and the admin's cert chains to the new CA"),
    Step("2.5", "PuppetDB started (once PostgreSQL has its new cert)", start_puppetdb, puppetdb_serves_new_cert,
         needs=("2.1", "2.2"), recheck=True, shows="PuppetDB's status is running and port 8081 serves its new cert"),
    Step("2.6", "compilers re-enrolled with their alt names, restarted", compilers_redo, compilers_done,
         needs=("1.8",), recheck=True, shows="each compiler's cert chains to the new CA and its port 8140 serves it"),
)
AGENTS = (
    Step("3", "agents: stop, clean (with local CA and CRL), request, sign", agents_step,
         lambda ctx: set(ctx.state.facts.agents_done) >= set(ctx.state.agents), needs=("1.8", "2.2", "p.1")),
    # the agents' runs go through the compilers, where the site has them
    Step("3.s", "agents' services started (once PuppetDB is back)", agents_start, needs=("3", "2.5", "2.6")),
    # reported to PuppetDB, or, in a site without it, to the servers' own store
    Step("3.w", "every agent's first run under the new CA reported", agents_back, needs=("3.s",)),
    Step("3.m", "every mcollectived restarted; every agent answers `mco ping`", mco_restart,
         needs=("3", "2.3", "2.4")),
)

FULL = (
    Step("0", "record the old CA, the master's alt names, one agent's old credentials", record_before,
         lambda ctx: bool(ctx.state.facts.before.ca_fingerprint and ctx.state.facts.before.witness)),
    # the other hosts' TLS material, while Puppet Server still serves (nothing of theirs changes before step 2)
    Step("1.0", "back up the other hosts' TLS files (PostgreSQL, PuppetDB, broker, MCollective keys)",
         hostbackup.take, hostbackup.taken),
    Step("1.2", "stop the master's agent service", stop_master_agent,
         lambda ctx: not puppet.service_running(ctx.ca, "puppet"),
         shows="`service puppet status` exits 3 (stopped)"),
    Step("1.3", "stop Puppet Server", stop_server, lambda ctx: not puppet.service_running(ctx.ca, "puppetserver"),
         shows="`service puppetserver status` exits 3 (stopped)"),
    # the backup once nothing writes to the CA (the seed takes it first, with the server running)
    Step("1.1", "back up ssldir and cadir, Puppet Server stopped (verified, read back)", backup, backup_done),
    Step("1.4", "delete the ssldir and the cadir", wipe, wiped,
         shows="the cadir holds no CA cert, or one that is not the old CA (its fingerprint differs from step 0's)"),
    Step("1.5", "new CA and master cert (`puppetserver ca setup`, its alt names)", new_ca, new_ca_done,
         shows="a new CA cert, the master's cert (with the alt names asked for) and key, the cadir owned by "
               "`puppet`, and `autosign` in puppet.conf as the run says"),
    Step("1.8", "start Puppet Server", start_server, server_serves_new_cert, recheck=True,
         shows="Puppet Server's status is running and port 8140 serves the master's new cert (`openssl s_client`)"),
    *EXTENSIONS,
    # the master's agent too starts once PuppetDB is back: its first run stores there
    Step("1.9", "start the master's agent service", start_master_agent,
         lambda ctx: puppet.service_running(ctx.ca, "puppet"), needs=("1.8", "2.5", "2.6"), recheck=True,
         shows="`service puppet status` exits 0 (running)"),
    *AGENTS,
)

PARTIAL = (
    Step("0", "record the CA and the agents' old credentials", record_before,
         lambda ctx: bool(ctx.state.facts.before.ca_fingerprint)),
    Step("p.0", "the CA's signing policy is this run's (autosign or by hand)", signing_policy, signing_policy_done,
         shows="`autosign` in the CA's puppet.conf is as the run says"),
    Step("p.1", "revoke and remove the agents' certs on the CA (`puppetserver ca clean`)", ca_clean_agents),
    *AGENTS,
)


_FULL = {s.id: s for s in FULL}
# The extension: the CA's certificates renewed with their own keys, every host's CA bundle
# replaced, no host re-enrolled (puppetlabs/ca_extend's remedy for a CA about to expire).
EXTEND = (
    _FULL["0"],
    _FULL["1.3"],
    _FULL["1.1"],
    Step("e.1", "the CA's certificates signed anew with its own keys (15 years), the master's CA bundle", extend,
         extend_done, shows="`$cadir/ca_crt.pem` holds certs with the old public keys and a later end, and the "
                            "master's CA bundle is that file"),
    _FULL["1.8"],
    Step("e.2", "every other host's CA bundle replaced by the extended one; its services restarted", distribute,
         needs=("1.8",)),
    Step("1.9", "start the master's agent service", start_master_agent,
         lambda ctx: puppet.service_running(ctx.ca, "puppet"), needs=("e.2",), recheck=True,
         shows="`service puppet status` exits 0 (running)"),
    Step("3.w", "every agent's first run after the extension reported", agents_back, needs=("e.2",)),
    Step("3.m", "every mcollectived restarted; every agent answers `mco ping`", mco_restart, needs=("e.2",)),
)
MODES = {"full": FULL, "partial": PARTIAL, "extend": EXTEND}
# the whole procedure onto an intermediate under an external root: 1.5 imports it
IMPORT_CA = Step("1.5", "new CA and master cert (`puppetserver ca import` of the external intermediate, its alt "
                 "names)", new_ca, new_ca_done, shows=_FULL["1.5"].shows)


def steps_for(mode: str, skip: tuple[str, ...] = (), mcollective: bool = True,
              compilers: bool = False, puppetdb: bool = True, ca_import: bool = False) -> tuple[Step, ...]:
    """The steps of a procedure (``full``, ``partial`` or ``extend``) on a site with these roles, less ``skip``."""
    steps = MODES[mode]
    if ca_import:
        steps = tuple(IMPORT_CA if s.id == "1.5" else s for s in steps)
    absent = {*(() if mcollective else MCOLLECTIVE_STEPS), *(() if compilers else COMPILER_STEPS),
              *(() if puppetdb else PUPPETDB_STEPS)}
    steps = tuple(s for s in steps if s.id not in absent)
    unknown = set(skip) - {s.id for s in steps}
    if unknown:
        raise BadInput(f"unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(s.id for s in steps)}")
    return tuple(s for s in steps if s.id not in skip)


def steps_of(site: Site, mode: str, skip: tuple[str, ...] = (), ca_import: bool = False) -> tuple[Step, ...]:
    """The steps of a procedure on this site: those of roles it lacks left out."""
    return steps_for(mode, skip, mcollective=site.broker is not None, compilers=bool(site.compilers),
                     puppetdb=site.puppetdb is not None, ca_import=ca_import)


def stop_leftovers(site: Site, progress: Progress) -> None:
    """Before a resume or a rollback: the commands an interrupted run left running on its hosts
    (its controller was killed, not they: a `puppet ssl bootstrap`, a `ca generate`, a `tar`)
    are ended, so that none of them races the steps run again."""
    unreachable: list[str] = []

    def one(host: Host) -> int:
        try:
            return host.executor.stop_leftovers()
        except CommandFailed:  # a host that is down runs nothing; the step that needs it says so
            unreachable.append(host.name)
            return 0

    ended = parallel(list(site.all_hosts), one, limit=AGENT_PARALLEL)
    if sum(ended):
        progress.say(f"ended {sum(ended)} command(s) an interrupted run left running on its hosts")
    if unreachable:
        progress.say(f"could not look for commands left running on {', '.join(sorted(unreachable))} (unreachable)")


def settle(site: Site, state: RunState, progress: Progress) -> None:
    """Before a resume: the agents step 3 re-enrolled keep their daemons stopped until 3.s
    starts them (their first run must find PuppetDB back); one that rebooted since has
    started its daemon early, and is stopped again."""
    if "3.s" in state.done:
        return
    done = [site.agent(a) for a in state.facts.agents_done]
    running = [h for h, up in zip(done, parallel(done, lambda h: puppet.service_running(h.executor, "puppet"),
                                                 limit=AGENT_PARALLEL), strict=True) if up]
    if running:
        parallel(running, lambda h: puppet.stop(h.executor, "puppet"), limit=AGENT_PARALLEL)
        progress.say(f"stopped the agent daemon a restart had started early on {', '.join(h.name for h in running)}")


def check_server_name(name: str | None, agents: list[str] | None) -> None:
    if not name:
        return
    if not DNS_NAME_RE.fullmatch(name):
        raise BadInput(f"--server-name {name!r} is not a DNS name (lower-case labels of letters, digits and '-', "
                       "separated by dots)")
    if agents:
        raise BadInput("--server-name goes with the whole procedure, not with --agents: "
                       "the master's cert is what carries its name")


def check_mode(mode: str, agents: list[str] | None, server_name: str | None, ca_import: str | None = None) -> None:
    if mode not in ("full", "extend"):
        raise BadInput(f"--mode {mode!r}: use full (every certificate anew) or extend (the CA's certificates "
                       "renewed with the same keys)")
    if mode == "extend" and (agents or server_name or ca_import):
        raise BadInput("--mode extend renews the CA's own certificates and keeps every host's: "
                       "--agents, --server-name and --ca-import go with the full regeneration")
    if ca_import and agents:
        raise BadInput("--ca-import makes a new CA: it goes with the whole procedure, not with --agents")


def check_import(site: Site, folder: str) -> str:
    """The import set's folder, checked whole before anything changes; its root must not be
    the CA's root already (a new intermediate under the same root is not rehearsed: the
    proofs tell the old CA from the new by their roots)."""
    found = rootca.read_import(Path(folder))
    root = pki.root_of(pki.load_certs(found.bundle))
    try:
        current = pki.ca_fingerprint(site.ca.executor.read_file(site.ca.layout.cacert))
    except (CommandFailed, BadInput):
        current = ""  # the preflight names a CA that cannot be read
    if pki.fingerprint(root) == current:
        raise BadInput(f"--ca-import {folder}: its root ({pki.info(root).subject}) is the CA's root already; a new "
                       "intermediate under the same root is not supported yet: make the import set under a new root")
    return str(Path(folder).resolve())


def run(
    site: Site, state_root: Path, *, agents: list[str] | None = None, autosign: bool = False,
    resume: bool = False, skip: tuple[str, ...] = (), stop_after: str | None = None,
    progress: Progress | None = None, steps: tuple[Step, ...] | None = None, reports_timeout: float | None = None,
    server_name: str | None = None, check: bool = True, mode: str = "full", ca_import: str | None = None,
) -> RunState:
    """Run (or resume) the procedure on a site; return the final state with every step's result.
    ``mode``: ``full`` (every certificate anew; ``partial`` with ``agents``) or ``extend`` (the
    CA's certificates renewed with the same keys, every host keeping its cert).
    ``server_name``: the master moved; its new cert carries this name and every host uses it.
    A new run starts only once the site passes its preflight (``check``; a resume does not:
    its site is mid-run)."""
    progress = progress or Progress()
    check_server_name(server_name, agents)
    check_mode(mode, agents, server_name, ca_import)
    path, commands = state_path(state_root, site.name), transcript_path(state_root, site.name)
    previous = RunState.load(path) if path.exists() else None
    # every command sent is noted, by step: the runbook (`regen.plan`) is made of them
    transcript = Transcript.load(commands) if resume and commands.exists() else Transcript()
    site = site.through(lambda ex: Recording(ex, transcript))
    try:
        if resume:
            if previous is None or previous.finished:
                raise ProcedureStateError(f"nothing to resume for {site.name!r}: no unfinished run in {path}")
            state = previous
            stop_leftovers(site, progress)
            settle(site, state, progress)
        else:
            if previous is not None and not previous.finished:
                raise ProcedureStateError(
                    f"a regeneration of {site.name!r} was interrupted after step "
                    f"{previous.steps[-1].id if previous.steps else '(none)'}; continue it with --resume"
                )
            names = agents if agents else [a.name for a in site.agents]
            for n in names:
                site.agent(n)
            imported = check_import(site, ca_import) if ca_import else ""
            if check:
                with progress.step(preflight.TITLE), within(preflight.STEP_ID, "preflight"):
                    found = preflight.require(site, state_root)
                for c in found.checks:
                    if c.status == preflight.WARN:
                        progress.say(f"preflight warning: {c.host}: {c.check}: {c.detail}")
            state = RunState(lab=site.name, mode="partial" if agents else mode, agents=names, autosign=autosign,
                             server_name=server_name or "", ca_import=imported)
        if reports_timeout is None:  # 2 cores: about 3 s of CPU for each agent's first run
            reports_timeout = REPORTS_TIMEOUT + 3 * len(state.agents)
        ctx = Context(site, state, state_root / "backups", progress, autosign=state.autosign,
                      reports_timeout=reports_timeout)
        execute(ctx, steps if steps is not None else steps_of(site, state.mode, skip, bool(state.ca_import)), path,
                stop_after)
        return state
    finally:
        if transcript.commands:
            transcript.save(commands)
