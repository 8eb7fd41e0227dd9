"""The proof: after the procedure, the deployment works under the new CA and nothing of
the old CA is trusted. Every check quotes its evidence (fingerprints, the real errors).

The checks, by what they prove: ``chains`` (trust), ``runs`` (agent runs), ``refusals`` (old
certs refused), ``mco`` (MCollective), ``lost`` (a rollback's); ``verdict`` (a result and its
verdict). This module: each mode's proofs in order, and ``prove``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ...core.errors import RegenLabError
from ...ops import puppet_reports
from ..ids import Mode
from ..runner import RunState
from ..site import Host, Site
from .chains import (
    ca_key_kept,
    certs_chain_to_ca,
    chain_to_root,
    crl_per_ca,
    host_certs_kept,
    nothing_trusts_the_old_ca,
    revoked_in_crl,
)
from .lost import nothing_lost
from .mco import broker_trusts_only_the_new_ca, mco_ping_answers, old_mco_client_refused
from .refusals import old_compiler_cert_refused, old_credentials_refused
from .runs import agents_run, compilers_serve, others_untouched, revocation_leaf
from .verdict import EMPTY, FAIL, PASS, UNKNOWN, Found, ProofResult

__all__ = ["EMPTY", "FAIL", "PASS", "UNKNOWN", "NAMES", "PROOFS", "Found", "Proof", "ProofResult", "proofs_of",
           "prove"]


@dataclass(frozen=True)
class Proof:
    """One proof: its stable name, its claim (``{reports}``: where the site keeps the agents'
    reports), and its check (site, state, the run's agents), which says what it found."""

    name: str
    claim: str
    check: Callable[[Site, RunState, list[Host]], Found]
    needs_broker: bool = False
    needs_compilers: bool = False
    needs_import: bool = False  # only for a run onto an imported intermediate (`--ca-import`)


def _chain(expect_new_ca: bool, name: str, claim: str, every_host: bool) -> Proof:
    return Proof(name, claim, lambda site, state, agents: certs_chain_to_ca(
        site, state, list(site.all_hosts) if every_host else agents, expect_new_ca))


AGENTS_RUN = Proof("agents-run", "every agent's run succeeds and {reports} has its report from after the regeneration",
                   lambda site, state, agents: agents_run(site, state, agents))
MCO_PING = Proof("mco-ping", "every agent answers `mco ping` from the admin, before and after",
                 lambda site, state, agents: mco_ping_answers(site, state), needs_broker=True)

# The proofs of each mode, in order: a proof's number is its place in its list (one place).
PROOFS: dict[str, tuple[Proof, ...]] = {
    Mode.FULL: (
        _chain(True, "chain-to-new-ca", "the CA changed and every host's cert chains to the new CA", True),
        AGENTS_RUN,
        Proof("old-cert-refused", "the old agent cert is refused by Puppet Server and PuppetDB (where the site has "
              "it)", lambda site, state, agents: old_credentials_refused(site, state)),
        Proof("old-ca-untrusted", "no host trusts the old CA (CA bundles and CRLs)",
              lambda site, state, agents: nothing_trusts_the_old_ca(site, state)),
        MCO_PING,
        Proof("old-mco-client-refused", "the admin's old MCollective client cert is refused by the broker, the new "
              "one accepted", lambda site, state, agents: old_mco_client_refused(site, state), needs_broker=True),
        Proof("broker-truststore", "the broker's truststore holds the new CA and not the old one (keytool -list -rfc)",
              lambda site, state, agents: broker_trusts_only_the_new_ca(site, state), needs_broker=True),
        Proof("compilers-serve", "every agent's run goes through a compiler that serves its new cert with its alt "
              "names", compilers_serve, needs_compilers=True),
        Proof("old-compiler-cert-refused", "a compiler's old cert is refused by the master and PuppetDB",
              lambda site, state, agents: old_compiler_cert_refused(site, state), needs_compilers=True),
        Proof("chain-to-root", "every host's cert chains through the imported intermediate to the external root",
              lambda site, state, agents: chain_to_root(site, state), needs_import=True),
        Proof("crl-per-ca", "every Puppet host holds a current CRL of each CA in the chain",
              lambda site, state, agents: crl_per_ca(site, state), needs_import=True),
        Proof("revocation-leaf", "an agent's run also succeeds with `certificate_revocation = leaf`", revocation_leaf,
              needs_import=True),
    ),
    Mode.PARTIAL: (
        _chain(False, "ca-kept", "the CA is unchanged and the re-enrolled agents' certs chain to it", False),
        AGENTS_RUN,
        Proof("old-cert-refused", "the old agent cert is refused by Puppet Server",
              lambda site, state, agents: old_credentials_refused(site, state, where=("server",))),
        Proof("old-certs-revoked", "the re-enrolled agents' old certs are revoked in the CA's CRL",
              lambda site, state, agents: revoked_in_crl(site, state)),
        Proof("others-untouched", "the other agents keep their certs and keep working",
              lambda site, state, agents: others_untouched(site, state)),
        MCO_PING,
    ),
    Mode.EXTEND: (
        Proof("ca-key-kept", "the CA keeps its keys, its certificates now outlive the old ones, every host chains",
              lambda site, state, agents: ca_key_kept(site, state)),
        Proof("expiring-ca-replaced", "no host holds the expiring CA certificates any more (CA bundles; CRLs verify)",
              lambda site, state, agents: nothing_trusts_the_old_ca(site, state)),
        Proof("host-certs-kept", "every host keeps its own certificate (same serial)",
              lambda site, state, agents: host_certs_kept(site, state)),
        AGENTS_RUN,
        MCO_PING,
        Proof("broker-truststore", "the broker's truststore holds the extended CA and not the expiring one",
              lambda site, state, agents: broker_trusts_only_the_new_ca(site, state), needs_broker=True),
    ),
    Mode.ROLLBACK: (
        _chain(False, "old-ca-back", "the CA is the old one again and every host's cert chains to it", True),
        AGENTS_RUN,
        Proof("nothing-lost", "nothing lost: the backups' files are back byte for byte, every agent keeps its cert",
              lambda site, state, agents: nothing_lost(site, state)),
        MCO_PING,
    ),
}
NAMES = frozenset(p.name for proofs in PROOFS.values() for p in proofs)


def proofs_of(mode: str, broker: bool, compilers: bool = False, imported: bool = False) -> tuple[Proof, ...]:
    return tuple(p for p in PROOFS[mode] if (broker or not p.needs_broker) and (compilers or not p.needs_compilers)
                 and (imported or not p.needs_import))


def _guarded(proof: Proof, site: Site, state: RunState, agents: list[Host]) -> ProofResult:
    """The check's finding under the proof's name and claim; a check that cannot even be made
    (a host unreachable, a file missing) could not tell."""
    claim = proof.claim.format(reports=puppet_reports.store_name(site.puppetdb is not None))
    try:
        found = proof.check(site, state, agents)
    except (RegenLabError, KeyError, ValueError) as exc:
        found = Found(UNKNOWN, f"could not check: {str(exc).splitlines()[0][:300]}")
    return ProofResult(proof.name, claim, found.verdict, found.evidence)


def prove(site: Site, state: RunState) -> list[ProofResult]:
    """The proof of a run (also of a failed or deliberately broken one: it shows what broke)."""
    if not state.facts.before.ca_fingerprint:
        return []
    agents = [site.agent(a) for a in state.agents]
    return [replace(_guarded(p, site, state, agents), id=str(i))
            for i, p in enumerate(proofs_of(state.mode, site.broker is not None, bool(site.compilers),
                                            bool(state.ca_import)), 1)]
