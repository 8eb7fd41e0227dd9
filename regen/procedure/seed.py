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
from .runner import Context, Step, now
from .site import Host
from .steps.common import clean_ssldir, fingerprint_of_ca
from .steps.plan import FULL

SIGN_TIMEOUT = 60  # how long to wait for an agent's request to reach the CA


def sign(ctx: Context, host: Host) -> None:
    """On the CA: `puppetserver ca list` until the host's request is there, then
    `puppetserver ca sign --certname HOST`."""
    wait_until(f"{host.certname}'s request on the CA", lambda: host.certname in puppet_ca.pending_requests(ctx.ca),
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
    return redo_host(ctx, host, "puppetdb", lambda: puppetdb.configure_ssl(host.executor, host.certname))


def broker_redo(ctx: Context) -> str:
    host = ctx.site.broker
    detail = redo_host(ctx, host, "activemq", lambda: mcollective.build_broker_stores(host.executor, host.certname))
    mcollective.wait_broker(host.executor)
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
    "1.2": service_step("puppet", "stopped"),
    "1.3": service_step("puppetserver", "stopped"),
    "1.8": service_step("puppetserver", "running"),
    "1.9": service_step("puppet", "running"),
    "2.2": puppetdb_redo,
    "2.3": broker_redo,
    "3": agents_one_by_one,
}


def steps(mcollective_site: bool = True) -> tuple[Step, ...]:
    """The seed's order: 0, 1.1-1.9, 2.1-2.4, 3 (which starts the agents), 3.w, 3.m."""
    by_id = {s.id: s for s in FULL}
    order = ["0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.8", "1.9", "2.1", "2.2", "2.3", "2.4", "3", "3.w", "3.m"]
    if not mcollective_site:
        order = [i for i in order if i not in ("2.3", "2.4", "3.m")]
    out = []
    for i in order:
        step = by_id[i]
        step = replace(step, run=_REPLACED.get(i, step.run), needs=(out[-1].id,) if out else ())
        if i == "2.2":
            step = replace(step, title="PuppetDB host re-enrolled, PuppetDB restarted")
        if i == "3":
            step = replace(step, title="agents one after another: stop, delete the ssldir, start, sign on the CA")
        out.append(step)
    return tuple(out)
