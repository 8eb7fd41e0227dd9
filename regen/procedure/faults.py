"""Faults: what operators really get wrong during a regeneration, as variants of the
procedure's own steps. A scenario names them (``regen: {faults: {NAME: NODE}}``); each
replaces one step by the same step done wrong, with the operator's real commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..ops import mcollective, puppetdb, rootca
from .ids import StepId as I  # noqa: N814
from .runner import Context, Step
from .site import Host
from .steps.agents import agents_step
from .steps.common import clean_ssldir
from .steps.master import new_ca
from .steps.services import broker_redo, puppetdb_reenroll


@dataclass(frozen=True)
class Fault:
    name: str
    what: str  # one line: the mistake
    step: str  # the step it replaces
    takes_node: bool
    make: Callable[[Step, str | None], Step]


@dataclass(frozen=True)
class _AgentsStepWith:
    """Step 3 with some agents cleaned wrong (``clean_for``: host name -> its cleaning), the
    others as the procedure cleans them. Two agent faults of one run add up."""

    clean_for: dict[str, Callable[[Host], object]]

    def clean(self, host: Host) -> None:
        self.clean_for.get(host.name, clean_ssldir)(host)

    def __call__(self, ctx: Context) -> str:
        return agents_step(ctx, clean=self.clean)


def _clean_without_localca(host: Host) -> None:
    """`puppet ssl clean` without `--localca`: the host keeps the old CA bundle and CRL."""
    host.executor.run(["puppet", "ssl", "clean"])


def _rm_keeping_crl(host: Host) -> None:
    """The ssldir emptied by hand, all but `crl.pem`: the old CRL stays."""
    host.executor.run(["sh", "-c", 'cd "$1" && rm -rf certs private_keys public_keys certificate_requests',
                       "sh", host.layout.ssldir])


def _agent_fault(clean: Callable[[Host], None]) -> Callable[[Step, str | None], Step]:
    def make(step: Step, node: str | None) -> Step:
        assert node is not None
        before = step.run.clean_for if isinstance(step.run, _AgentsStepWith) else {}
        return replace(step, run=_AgentsStepWith({**before, node: clean}))

    return make


def _daemon_left_running(step: Step, node: str | None) -> Step:
    def run(ctx: Context) -> str:
        return agents_step(ctx, restart=lambda host: host.name != node)

    return replace(step, title=step.title + f" [fault: {node}'s daemon left running]", run=run)


def _drop_alt_names(step: Step, node: str | None) -> Step:
    # `puppetserver ca setup` with no --subject-alt-names adds `puppet` by itself: the
    # mistake is giving only the certname
    return replace(step, title=step.title + " [fault: no alt names]",
                   run=lambda ctx: new_ca(ctx, alt_names=[ctx.site.ca.certname]))


def _cadir_owned_by_root(step: Step, node: str | None) -> Step:
    def run(ctx: Context) -> str:
        detail = new_ca(ctx)
        # the new CA put in place from a root shell (`cp -r`, `tar` without owners): root's, 0600
        cadir = ctx.site.ca.layout.cadir
        ctx.ca.run(["sh", "-c", 'chown -R root:root "$1" && chmod -R go-rwx "$1"', "sh", cadir])
        return detail + f"; [fault] chown -R root:root {cadir}"

    return replace(step, title=step.title + " [fault: the new CA's files left owned by root]", run=run)


def _crl_chain_missing(step: Step, node: str | None) -> Step:
    """The import given a CRL chain without the root's CRL (only the intermediate's own):
    `puppetserver ca import` checks every CA of the bundle against the chain."""
    return replace(step, title=step.title + " [fault: the root's CRL left out of the CRL chain]",
                   run=lambda ctx: new_ca(ctx, crl_chain=rootca.ImportSet.without_root_crl))


PUPPETDB_SSL = "/etc/puppetdb/ssl"


def _puppetdb_trusts_old_ca(step: Step, node: str | None) -> Step:
    """PuppetDB's jetty pointed at a bundle of its own holding the new CA and the old one (a
    "bridge" kept for the rotation and never removed): everything works, old certs too."""

    def run(ctx: Context) -> str:
        ex = ctx.site.puppetdb.executor
        ex.run(["sh", "-c", 'mkdir -p "$1" && cp "$2" "$1/old-ca.pem"', "sh", PUPPETDB_SSL,
                ctx.site.puppetdb.layout.localcacert])

        def trust(host) -> str:
            host.executor.run(["sh", "-c", 'cat "$2" "$1/old-ca.pem" > "$1/ca-bundle.pem"', "sh", PUPPETDB_SSL,
                               host.layout.localcacert])
            puppetdb.set_ssl(host.executor, {**puppetdb.expected_ssl(host.layout, host.certname),
                                             "ssl-ca-cert": f"{PUPPETDB_SSL}/ca-bundle.pem"})
            return f"[fault] jetty.ini ssl-ca-cert = {PUPPETDB_SSL}/ca-bundle.pem (the new CA and the old one)"

        return puppetdb_reenroll(ctx, trust=trust)

    return replace(step, title=step.title + " [fault: PuppetDB keeps trusting the old CA]", run=run)


_IMPORT_NEW_CA = r"""
set -e
umask 077
old=$1 pw=$2 d=/etc/activemq/ssl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$old" "$tmp/truststore.jks"
awk -v d="$tmp" '/BEGIN CERTIFICATE/ {n++} n {print > (d "/ca-" n ".pem")}' /var/lib/puppet/ssl/certs/ca.pem
for f in "$tmp"/ca-*.pem; do
  keytool -importcert -noprompt -alias "new-$(basename "$f" .pem)" -file "$f" \
    -keystore "$tmp/truststore.jks" -storetype JKS -storepass "$pw"
done
install -o activemq -g activemq -m 0600 "$tmp/truststore.jks" "$d/truststore.jks"
rm -f "$old"
"""


def _broker_truststore_kept(step: Step, node: str | None) -> Step:
    """The broker's keystore rebuilt, but the new CA imported into its old truststore
    instead of a new one: the broker trusts both CAs."""

    def run(ctx: Context) -> str:
        ex, kept = ctx.site.broker.executor, "/root/truststore-before.jks"
        ex.run(["cp", "-p", mcollective.TRUSTSTORE, kept])

        def stores(host) -> str:
            mcollective.build_broker_stores(host.executor, host.layout, host.certname)
            host.executor.run(["sh", "-c", _IMPORT_NEW_CA, "sh", kept, mcollective.STORE_PASSWORD], timeout=120)
            return "keystore rebuilt; [fault] the new CA imported into the old truststore (keytool -importcert)"

        return broker_redo(ctx, stores=stores)

    return replace(step, title=step.title + " [fault: the broker's old truststore kept]", run=run)


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("clean-without-localca", "the agent is cleaned with `puppet ssl clean`, without `--localca`", I.AGENTS, True,
          _agent_fault(_clean_without_localca)),
    Fault("stale-crl", "the agent's ssldir is emptied by hand and its old `crl.pem` is left", I.AGENTS, True,
          _agent_fault(_rm_keeping_crl)),
    Fault("daemon-not-restarted", "the agent is re-enrolled while its `puppet agent` daemon keeps running", I.AGENTS,
          True, _daemon_left_running),
    Fault("drop-alt-names", "the master's new cert is made without its alt names (`puppet`)", I.NEW_CA, False,
          _drop_alt_names),
    Fault("cadir-owned-by-root", "the new CA's files are left owned by root: Puppet Server (user `puppet`) cannot "
          "use them", I.NEW_CA, False, _cadir_owned_by_root),
    Fault("crl-chain-missing", "the intermediate imported with a CRL chain that lacks the root's CRL", I.NEW_CA, False,
          _crl_chain_missing),
    Fault("puppetdb-trusts-old-ca", "PuppetDB's jetty trusts a bundle of the new CA and the old one", I.PUPPETDB, False,
          _puppetdb_trusts_old_ca),
    Fault("broker-truststore-kept", "the new CA imported into the broker's old truststore instead of a new one",
          I.BROKER, False, _broker_truststore_kept),
)}


def apply(steps: tuple[Step, ...], faults: dict[str, str | None]) -> tuple[Step, ...]:
    """The procedure's steps with each named fault's step replaced."""
    out = list(steps)
    for name, node in faults.items():
        fault = FAULTS[name]
        for i, step in enumerate(out):
            if step.id == fault.step:
                out[i] = fault.make(step, node)
    return tuple(out)
