"""What several steps do: a host cleaned and re-enrolled (its request signed on the CA as it
arrives), the CA's fingerprint, whether a host's cert chains to the new CA."""

from __future__ import annotations

from collections.abc import Callable

from ...ops import pki, puppet, puppet_ca
from ..runner import Context
from ..site import Host

AGENT_PARALLEL = 8


def fingerprint_of_ca(ctx: Context) -> str | None:
    res = ctx.ca.run(["cat", ctx.site.ca.layout.cacert], check=False)
    if res.exit_code != 0:
        return None
    return pki.ca_fingerprint(res.stdout.encode())


def chains_to_new_ca(ctx: Context, host: Host, cert_path: str) -> bool:
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
    puppet_ca.ca_forget(ctx.site.authority, [h.certname for h in hosts])

    def job(host: Host) -> Callable[[], None]:
        def run() -> None:
            before(host)
            prepare(ctx, host, clean)
            puppet.bootstrap(host.executor, maxwait)
            after(host)
        return run

    puppet_ca.enroll_all(ctx.site.authority, [(h.certname, job(h)) for h in hosts],
                         sign=not ctx.autosign, limit=limit)


def reenroll(ctx: Context, host: Host) -> None:
    """One host cleaned; it requests with ``puppet ssl bootstrap`` while the CA signs its
    request (unless autosign)."""
    reenroll_all(ctx, [host])
