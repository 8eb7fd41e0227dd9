"""The seed's literal sequence, for the benchmark's comparison: every step after the one
before it, each service through ``puppet resource``, every host re-enrolled with the
seed's own moves, the agents one after another.

Step 3 is the seed's: on each agent in turn, stop the service, delete everything in the
ssldir, start the service (the daemon makes a key and requests a cert), then sign its
request on the CA with ``puppetserver ca sign``; the daemon fetches its cert on its next
try (``waitforcert``, 120 s by default: "within a few minutes") and runs. The proof is the
same as for the procedure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..core.wait import wait_until
from ..ops import mcollective, puppet, puppet_ca, puppetdb
from .ids import StepId as I  # noqa: N814
from .runner import Context, Step, now
from .site import Host
from .steps.common import clean_ssldir, fingerprint_of_ca
from .steps.plan import FULL

SIGN_TIMEOUT = 60  # how long to wait for an agent's request to reach the CA


def sign(ctx: Context, host: Host) -> None:
    """On the CA: `puppetserver ca list` until the host's request is there, then
    `puppetserver ca sign --certname HOST`."""
    authority = ctx.site.authority
    wait_until(f"{host.certname}'s request on the CA", lambda: host.certname in puppet_ca.pending_requests(authority),
               SIGN_TIMEOUT, interval=1.0)
    ctx.ca.run(["puppetserver", "ca", "sign", "--certname", host.certname])


def reenroll(ctx: Context, host: Host) -> None:
    """An extension's host: ssldir deleted, a request (`puppet ssl submit_request`), signed
    on the CA, the cert downloaded (`puppet ssl download_cert`)."""
    clean_ssldir(host)
    host.executor.run(["puppet", "ssl", "submit_request"], timeout=120)
    sign(ctx, host)
    host.executor.run(["puppet", "ssl", "download_cert"], timeout=120)


def service_step(name: str, ensure: str):
    def run(ctx: Context) -> str:
        times = ctx.state.facts.times
        if name == "puppetserver" and ensure == "stopped":  # the downtime starts
            times.server_stopped_at = times.server_stopped_at or now()
        puppet.service(ctx.ca, name, ensure)
        if name == "puppetserver" and ensure == "running":
            ctx.state.facts.new_ca_fingerprint = fingerprint_of_ca(ctx) or ""
        return f"puppet resource service {name} ensure={ensure}"
    return run


def redo_host(ctx: Context, host: Host, service: str, configure: Callable[[], object]) -> str:
    """An extension's host, as the seed says: its service stopped, the host re-enrolled,
    the service's TLS files made from the new cert (``configure``), the service started."""
    puppet.service(host.executor, service, "stopped")
    reenroll(ctx, host)
    configure()
    puppet.service(host.executor, service, "running")
    return f"puppet resource service {service} ensure=stopped; re-enrolled; configured; ensure=running"


def puppetdb_redo(ctx: Context) -> str:
    host = ctx.site.puppetdb
    return redo_host(ctx, host, "puppetdb", lambda: puppetdb.configure_ssl(host.executor, host.layout, host.certname))


def broker_redo(ctx: Context) -> str:
    host = ctx.site.broker
    detail = redo_host(ctx, host, "activemq",
                       lambda: mcollective.build_broker_stores(host.executor, host.layout, host.certname))
    mcollective.wait_broker(host.executor, host.layout)
    return detail


def agents_one_by_one(ctx: Context) -> str:
    for host in ctx.agents():
        ex = host.executor
        puppet.service(ex, "puppet", "stopped")
        clean_ssldir(host)
        puppet.service(ex, "puppet", "running")
        sign(ctx, host)
        ctx.state.facts.agents_done.append(host.name)
    return f"{len(ctx.agents())} agents, one after another: stopped, ssldir deleted, started, signed on the CA"


_REPLACED = {
    I.STOP_MASTER_AGENT: service_step("puppet", "stopped"),
    I.STOP_SERVER: service_step("puppetserver", "stopped"),
    I.START_SERVER: service_step("puppetserver", "running"),
    I.START_MASTER_AGENT: service_step("puppet", "running"),
    I.PUPPETDB: puppetdb_redo,
    I.BROKER: broker_redo,
    I.AGENTS: agents_one_by_one,
}
_TITLES = {
    I.PUPPETDB: "PuppetDB host re-enrolled, PuppetDB restarted",
    I.AGENTS: "agents one after another: stop, delete the ssldir, start, sign on the CA",
}
# the seed's numbering, in its order (1.0, the other hosts' backup, and 3.s are the tool's own)
ORDER = (I.RECORD, I.MASTER_BACKUP, I.STOP_MASTER_AGENT, I.STOP_SERVER, I.WIPE, I.NEW_CA, I.START_SERVER,
         I.START_MASTER_AGENT, I.POSTGRES, I.PUPPETDB, I.BROKER, I.MCO_CREDENTIALS, I.AGENTS, I.AGENTS_BACK,
         I.MCO_RESTART)


def steps(mcollective_site: bool = True) -> tuple[Step, ...]:
    """The seed's order: 0, 1.1-1.9, 2.1-2.4, 3 (which starts the agents), 3.w, 3.m."""
    by_id = {s.id: s for s in FULL}
    out: list[Step] = []
    for i in ORDER:
        step = by_id[i]
        if step.role == "broker" and not mcollective_site:
            continue
        out.append(replace(step, run=_REPLACED.get(i, step.run), title=_TITLES.get(i, step.title),
                           needs=(out[-1].id,) if out else ()))
    return tuple(out)
