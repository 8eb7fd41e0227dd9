"""The extension (mode "extend"): the CA's certificates signed anew with its own keys, every
other host's CA bundle replaced (puppetlabs/ca_extend's remedy for a CA about to expire)."""

from __future__ import annotations

from datetime import datetime

from ...core.wait import parallel
from ...ops import mcollective, pki, puppet, puppet_ca
from ...ops.postgres import reload as postgres_reload
from ..runner import Context, now
from ..site import Host
from .common import AGENT_PARALLEL


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
        puppet_ca.extend_ca(ctx.ca, where, ctx.site.ca.cert)
    bundle = ctx.ca.read_file(where.cacert)
    puppet_ca.replace_bundle(ctx.ca, where.localcacert, bundle)
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
        puppet_ca.replace_bundle(ex, ctx.site.cert_paths(host)[1], bundle)
        if role == "postgres":
            postgres_reload(ex)
        elif role in ("puppetdb", "compiler"):
            service = "puppetdb" if role == "puppetdb" else "puppetserver"
            puppet.stop(ex, service)
            puppet.start_jvm(ex, service)
        elif role == "broker":
            mcollective.build_broker_stores(ex, host.layout, host.certname)
            puppet.stop(ex, "activemq")
            mcollective.start_broker(ex, host.layout)
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
