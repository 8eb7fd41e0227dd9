"""Proofs by agent runs: every agent's run succeeds and is reported, the runs go through the
compilers, the agents not re-enrolled keep working, a run with leaf-only revocation."""

from __future__ import annotations

from collections.abc import Sequence

from ...core.errors import CommandFailed
from ...core.wait import parallel
from ...ops import pki, puppet, puppet_reports
from ..runner import RunState
from ..site import Host, Site
from .verdict import Found, error_lines, judged, nothing_to_check


def run_failures(agents: list[Host]) -> list[str]:
    """`puppet agent -t` on each agent; the failures, each with the run's own error lines."""

    def one(host: Host) -> str | None:
        res = puppet.agent_test(host.executor, check=False)
        return None if res.exit_code in puppet.AGENT_RUN_OK else \
            f"{host.name}: exit {res.exit_code}: {error_lines(res.output)}"

    return [f for f in parallel(agents, one, limit=4) if f]


def agents_run(site: Site, state: RunState, agents: list[Host]) -> Found:
    store = site.reports
    if not agents:
        return nothing_to_check("no agent in this run")
    since = state.facts.times.server_stopped_at or state.started
    failures = run_failures(agents)
    try:
        reports = store.latest()
    except CommandFailed as exc:
        return judged(False, "; ".join(failures + [f"{store.where} query failed: "
                                                                 f"{error_lines(exc.output)}"]))
    stale = [a.name for a in agents if a.certname not in reports or reports[a.certname].receive_time <= since]
    evidence = f"{len(agents) - len(failures)}/{len(agents)} `puppet agent -t` succeeded"
    evidence += f"; reports in {store.where} after {since}: {len(agents) - len(stale)}/{len(agents)}"
    if failures:
        evidence += "; " + "; ".join(failures)
        evidence += "".join(f"; the master's log: {line}" for line in puppet_reports.server_errors(site.ca.executor))
    if stale:
        evidence += f"; no fresh report from {', '.join(stale)}"
    return judged(not failures and not stale, evidence)


# --- refusals, observed -----------------------------------------------------------------------


def compilers_serve(site: Site, state: RunState, agents: list[Host]) -> Found:
    """Each compiler serves its cert on disk, which chains to the new CA and carries the alt
    names it asks for (its `dns_alt_names`), and each agent's latest report (in PuppetDB, or
    in a compiler's own store) was sent by a compiler (its `producer`) after the
    regeneration began."""
    if not site.compilers:
        return nothing_to_check("no compiler")
    bundle = pki.load_certs(site.ca.executor.read_file(site.ca.layout.cacert))
    bad, fine = [], []
    for c in site.compilers:
        ex = c.executor
        cert = pki.load_certs(ex.read_file(c.cert))[0]
        names = set(pki.info(cert).dns_names)
        asked = {n.strip() for n in ex.run(["puppet", "config", "print", "dns_alt_names"]).stdout.split(",")
                 if n.strip()}
        problems = [what for what, wrong in (
            ("does not chain to the new CA", pki.fingerprint(pki.root_of(bundle)) == state.facts.before.ca_fingerprint
             or pki.chain_to(cert, bundle) is None),
            (f"lacks alt names {', '.join(sorted(asked - names))}", not asked <= names),
            ("serves another cert than its own on disk", not puppet.serves(ex, 8140, c.cert)),
        ) if wrong]
        (bad if problems else fine).append(f"{c.name}: {'; '.join(problems)}" if problems else
                                           f"{c.name} (DNS names {', '.join(sorted(names))})")
    since = state.facts.times.server_stopped_at or state.started
    compilers = {c.certname for c in site.compilers}
    reports = site.reports.latest()
    via = {a.name: reports[a.certname].producer if a.certname in reports else "" for a in agents}
    astray = [f"{a.name} (report {'from ' + via[a.name] if via[a.name] else 'missing'})" for a in agents
              if via[a.name] not in compilers or reports[a.certname].receive_time <= since]
    used = sorted({p for p in via.values() if p in compilers})
    evidence = (f"{len(fine)}/{len(site.compilers)} compilers serve their new cert: {'; '.join(fine + bad)}; "
                f"{len(agents) - len(astray)}/{len(agents)} agents' fresh reports sent by a compiler "
                f"({', '.join(used) or 'none'})")
    if astray:
        evidence += f"; not through a compiler: {', '.join(astray)}"
    return judged(not bad and not astray, evidence)


def with_new_certs(agents: Sequence[Host], state: RunState) -> list[str]:
    """The agents whose cert is no longer the one step 0 recorded (by serial)."""
    changed = []
    for host in agents:
        cert = pki.load_certs(host.executor.read_file(host.cert))[0]
        if cert.serial_number != state.facts.before.agent_serials[host.name]:
            changed.append(host.name)
    return changed


def others_untouched(site: Site, state: RunState) -> Found:
    others = [a for a in site.agents if a.name not in state.agents]
    if not others:
        return nothing_to_check("every agent was re-enrolled, none was left to stay untouched")
    changed = with_new_certs(others, state)
    failures = run_failures(others)
    evidence = f"{len(others) - len(changed)}/{len(others)} other agents keep their certs; " \
               f"{len(others) - len(failures)}/{len(others)} runs succeed"
    if changed or failures:
        evidence += "; " + "; ".join([f"{n}: cert changed" for n in changed] + failures)
    return judged(not changed and not failures, evidence)


def revocation_leaf(site: Site, state: RunState, agents: list[Host]) -> Found:
    """Puppet's default checks the CRL of every CA of the chain (`chain`: the agents' runs
    above); one agent's run with `certificate_revocation = leaf` succeeds too."""
    if not agents:
        return nothing_to_check("no agent in this run")
    res = puppet.agent_test(agents[0].executor, check=False, extra=["--certificate_revocation", "leaf"])
    ok = res.exit_code in puppet.AGENT_RUN_OK
    return judged(ok, f"{agents[0].name}: `puppet agent -t --certificate_revocation leaf` exit "
                                    f"{res.exit_code}" + ("" if ok else f": {error_lines(res.output)}"))
