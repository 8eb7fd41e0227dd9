"""Step 1, the master: its agent and Puppet Server stopped, the cadir and ssldir backed up
(verified, read back), wiped, a new CA and master cert (`puppetserver ca setup`, or `import`),
started."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...core.errors import RegenLabError
from ...ops import pki, puppet, puppet_ca, rootca
from .. import hostbackup
from ..runner import Context, now
from .common import fingerprint_of_ca


def quiesce_master(ctx: Context) -> None:
    """The master's agent and Puppet Server stopped if they run: 1.3 stopped them, but a
    master that rebooted since has started them again (its services are enabled)."""
    ctx.ca.run(["sh", "-c", 'for s in puppet puppetserver; do service $s status >/dev/null 2>&1 && '
                '{ service $s stop || exit 1; }; done; exit 0'], timeout=300)


def backup(ctx: Context) -> str:
    """1.1, once Puppet Server has stopped (nothing writes to the CA while it is copied): the
    master's part (hostbackup.master_part: the cadir, ssldir and puppet.conf) tarred on the
    master, checked (every file present, the CA key and the master's key each matching their
    certs), written owner-only and fsynced on this machine, read back and checked against what
    was taken. The temporary tarball on the master is this attempt's own and removed (a `tar`
    of an interrupted attempt may still write its own; the lab's lock says no other run is on)."""
    quiesce_master(ctx)
    return hostbackup.take_master(ctx)


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
            puppet_ca.ca_import(ctx.site.authority, alt, found.bundle, found.key,
                                crl_chain(found) if crl_chain else found.crls)
        else:
            puppet_ca.ca_setup(ctx.site.authority, alt)
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
