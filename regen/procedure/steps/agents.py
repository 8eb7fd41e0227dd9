"""Step 3, the agents: stopped and re-enrolled side by side, their services started once
PuppetDB is back, their first runs reported; the partial case's signing policy and clean."""

from __future__ import annotations

import time
from collections.abc import Callable

from ...core.wait import parallel
from ...ops import puppet, puppet_ca, puppet_reports
from ..runner import Context
from ..site import Host
from .common import AGENT_PARALLEL, reenroll_all


def agents_step(ctx: Context, clean: Callable[[Host], object] | None = None,
                restart: Callable[[Host], bool] = lambda host: True) -> str:
    """3: each agent's service stopped and the agent re-enrolled, side by side, its request
    signed on the CA as it arrives. A scenario's fault may replace the cleaning or leave a
    daemon running (``restart``)."""
    done_before = set(ctx.state.facts.agents_done)
    todo = [a for a in ctx.agents() if a.name not in done_before]
    mark = puppet_ca.ca_log_mark(ctx.ca)

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
    signed = puppet_ca.ca_signed_since(ctx.ca, mark).describe([a.certname for a in todo])
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
    reports = puppet_reports.wait_reports(store, [a.certname for a in ctx.agents()], since, ctx.reports_timeout,
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
    names = puppet_ca.ca_clean_signed(ctx.site.authority, [host.certname for host in ctx.agents()])
    return "revoked and deleted on the CA (what `puppetserver ca clean --certname` does): " + \
        (",".join(names) or "none left to clean")
