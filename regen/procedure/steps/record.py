"""Step 0: what the proof needs from before (the old CA, the master's alt names, each host's
layout and serial, one agent's old credentials, MCollective's replies and keys)."""

from __future__ import annotations

from dataclasses import asdict

from ...core.wait import parallel
from ...ops import mcollective, pki, puppet
from ..runner import Context
from .common import AGENT_PARALLEL


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
