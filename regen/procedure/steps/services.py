"""Step 2, the services: PostgreSQL's cert, PuppetDB's host re-enrolled and started again, the
ActiveMQ broker re-enrolled with its stores rebuilt, the compilers, MCollective's keys, and
3.m, every mcollectived restarted until each agent answers `mco ping`."""

from __future__ import annotations

from collections.abc import Callable

from ...core.wait import parallel
from ...ops import mcollective, pki, puppet, puppet_reports, puppetdb
from ...ops.postgres import postgres_tls
from ..runner import Context
from ..site import Host
from .common import AGENT_PARALLEL, chains_to_new_ca, reenroll, reenroll_all

MCO_TIMEOUT = 60  # step 3.m: how long to wait for every agent's reply to `mco ping`


def postgres_cert(ctx: Context) -> str:
    pg = ctx.site.postgres
    postgres_tls(ctx.site.authority, pg.executor, pg.certname)
    return f"puppetserver ca generate --certname {pg.certname}; installed; pg_ctlcluster reload"


def postgres_done(ctx: Context) -> bool:
    return chains_to_new_ca(ctx, ctx.site.postgres, ctx.site.cert_paths(ctx.site.postgres)[0])


def puppetdb_reenroll(ctx: Context, trust: Callable[[Host], str] | None = None) -> str:
    """2.2: PuppetDB stopped, its host re-enrolled; PuppetDB's SSL configuration (jetty.ini)
    pointed at the host's new cert, key and CA bundle, as PuppetDB's ssl-setup does. It
    starts in 2.5, once PostgreSQL serves its new cert (PuppetDB verifies it against the
    host's CA bundle). ``trust`` replaces that configuration (a scenario's fault) and says
    what it did."""
    host = ctx.site.puppetdb
    puppet.stop(host.executor, "puppetdb")
    reenroll(ctx, host)
    configured = trust(host) if trust else puppetdb.configure_ssl(host.executor, host.layout, host.certname)
    return f"stopped, ssldir emptied, ssl bootstrap (request signed on the CA); {configured}"


def puppetdb_done(ctx: Context) -> bool:
    host = ctx.site.puppetdb
    return chains_to_new_ca(ctx, host, host.cert) and \
        puppetdb.ssl_settings(host.executor) == puppetdb.expected_ssl(host.layout, host.certname)


def server_serves_new_cert(ctx: Context) -> bool:
    return puppet_reports.server_status(ctx.ca) == "running" and \
        puppet.serves(ctx.ca, 8140, ctx.site.ca.cert)


def puppetdb_serves_new_cert(ctx: Context) -> bool:
    host = ctx.site.puppetdb
    return puppet_reports.puppetdb_state(host.executor) == "running" and \
        puppet.serves(host.executor, 8081, host.cert)


def start_puppetdb(ctx: Context) -> str:
    """2.5: PuppetDB started with its new cert (its init script returns when it is ready).
    One a reboot started before its files were new is stopped first; one still starting
    (an interrupted attempt's) is waited for by the init script."""
    if puppet_reports.puppetdb_state(ctx.site.puppetdb.executor) == "running":
        puppet.stop(ctx.site.puppetdb.executor, "puppetdb")
    puppet.start_jvm(ctx.site.puppetdb.executor, "puppetdb")
    return f"service puppetdb start: {puppet_reports.puppetdb_state(ctx.site.puppetdb.executor)}"


def broker_redo(ctx: Context, stores: Callable[[Host], str] | None = None) -> str:
    """2.3: the broker host re-enrolled; its keystore and truststore rebuilt; restarted.
    ``stores`` replaces the rebuilding of the stores (a scenario's fault)."""
    host = ctx.site.broker
    puppet.stop(host.executor, "activemq")
    reenroll(ctx, host)
    if stores:
        built = stores(host)
    else:
        mcollective.build_broker_stores(host.executor, host.layout, host.certname)
        built = "keystore and truststore rebuilt (keytool)"
    waited = mcollective.start_broker(host.executor, host.layout)
    return f"stopped, re-enrolled, {built}, started; STOMP+TLS in {waited:.1f}s"


def broker_done(ctx: Context) -> bool:
    host = ctx.site.broker
    if not chains_to_new_ca(ctx, host, host.cert):
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
    return all(chains_to_new_ca(ctx, h, h.cert) and
               puppet.serves(h.executor, 8140, h.cert) for h in ctx.site.compilers)


def mco_credentials(ctx: Context) -> str:
    """2.4: a new MCollective server keypair and admin client cert from the new CA."""
    ids = mcollective.install_credentials(ctx.site.authority, ctx.site.admin.executor,
                                          [a.executor for a in ctx.site.agents])
    ctx.state.facts.mco.new_server_public = ids["server_public"]
    return (f"puppetserver ca generate --certname {mcollective.SERVER_KEYPAIR},{mcollective.ADMIN}; server keypair "
            f"on {len(ctx.site.agents)} agents, admin cert and key on {ctx.site.admin.name}")


def mco_credentials_done(ctx: Context) -> bool:
    admin = ctx.site.admin
    current = mcollective.public_key_id(admin.executor.read_file(mcollective.SERVER_PUBLIC))
    return current != ctx.state.facts.mco.old_server_public and \
        chains_to_new_ca(ctx, admin, mcollective.ADMIN_CERT)


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
