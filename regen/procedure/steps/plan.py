"""The procedures as tables of Steps (full, partial, extend; the import of an external
intermediate), and the steps of one on a site: those of roles it lacks left out."""

from __future__ import annotations

from ...core.errors import BadInput
from ...ops import puppet
from .. import hostbackup
from ..runner import Step
from ..site import Site
from .agents import agents_back, agents_start, agents_step, ca_clean_agents, signing_policy, signing_policy_done
from .extend import distribute, extend, extend_done
from .master import (
    backup,
    backup_done,
    new_ca,
    new_ca_done,
    start_master_agent,
    start_server,
    stop_master_agent,
    stop_server,
    wipe,
    wiped,
)
from .record import record_before
from .services import (
    broker_done,
    broker_redo,
    compilers_done,
    compilers_redo,
    mco_credentials,
    mco_credentials_done,
    mco_restart,
    postgres_cert,
    postgres_done,
    puppetdb_done,
    puppetdb_reenroll,
    puppetdb_serves_new_cert,
    server_serves_new_cert,
    start_puppetdb,
)

MCOLLECTIVE_STEPS = ("2.3", "2.4", "3.m")  # left out on a site without MCollective
COMPILER_STEPS = ("2.6",)  # only on a site with compilers
PUPPETDB_STEPS = ("2.1", "2.2", "2.5")  # left out on a site without PuppetDB


# Once Puppet Server answers (1.8), PostgreSQL's cert and PuppetDB's host go first, side
# by side: PuppetDB's restart (2.5) is the long pole that the agents' first runs wait for.
# The broker, the MCollective keys and the agents follow once PuppetDB's host is
# re-enrolled, side by side with PuppetDB's start: on separate hosts that costs nothing
# (the agents wait for 2.5 anyway); on one box it leaves PuppetDB's branch the CPU first.
EXTENSIONS = (
    Step("2.1", "PostgreSQL: certificate from the new CA", postgres_cert, postgres_done, needs=("1.8",),
         shows="PostgreSQL's cert chains to the new CA"),
    Step("2.2", "PuppetDB stopped, its host re-enrolled, jetty.ini on the new cert", puppetdb_reenroll,
         puppetdb_done, needs=("1.8",), shows="PuppetDB's host cert chains to the new CA and jetty.ini points at it"),
    Step("2.3", "ActiveMQ broker re-enrolled, keystore and truststore rebuilt, restarted", broker_redo, broker_done,
         needs=("1.8", "2.2"), recheck=True,
         shows="the broker's cert chains to the new CA, its truststore holds the new CA and not the old, and "
               "ActiveMQ runs, serving that cert on the STOMP port"),
    Step("2.4", "MCollective: new server keypair and admin client cert installed", mco_credentials,
         mco_credentials_done, needs=("1.8", "2.2"),
         shows="the MCollective server public key is not the old one, and the admin's cert chains to the new CA"),
    Step("2.5", "PuppetDB started (once PostgreSQL has its new cert)", start_puppetdb, puppetdb_serves_new_cert,
         needs=("2.1", "2.2"), recheck=True, shows="PuppetDB's status is running and port 8081 serves its new cert"),
    Step("2.6", "compilers re-enrolled with their alt names, restarted", compilers_redo, compilers_done,
         needs=("1.8",), recheck=True, shows="each compiler's cert chains to the new CA and its port 8140 serves it"),
)
AGENTS = (
    Step("3", "agents: stop, clean (with local CA and CRL), request, sign", agents_step,
         lambda ctx: set(ctx.state.facts.agents_done) >= set(ctx.state.agents), needs=("1.8", "2.2", "p.1")),
    # the agents' runs go through the compilers, where the site has them
    Step("3.s", "agents' services started (once PuppetDB is back)", agents_start, needs=("3", "2.5", "2.6")),
    # reported to PuppetDB, or, in a site without it, to the servers' own store
    Step("3.w", "every agent's first run under the new CA reported", agents_back, needs=("3.s",)),
    Step("3.m", "every mcollectived restarted; every agent answers `mco ping`", mco_restart,
         needs=("3", "2.3", "2.4")),
)

FULL = (
    Step("0", "record the old CA, the master's alt names, one agent's old credentials", record_before,
         lambda ctx: bool(ctx.state.facts.before.ca_fingerprint and ctx.state.facts.before.witness)),
    # the other hosts' TLS material, while Puppet Server still serves (nothing of theirs changes before step 2)
    Step("1.0", "back up the other hosts' TLS files (PostgreSQL, PuppetDB, broker, MCollective keys)",
         hostbackup.take, hostbackup.taken),
    Step("1.2", "stop the master's agent service", stop_master_agent,
         lambda ctx: not puppet.service_running(ctx.ca, "puppet"),
         shows="`service puppet status` exits 3 (stopped)"),
    Step("1.3", "stop Puppet Server", stop_server, lambda ctx: not puppet.service_running(ctx.ca, "puppetserver"),
         shows="`service puppetserver status` exits 3 (stopped)"),
    # the backup once nothing writes to the CA (the seed takes it first, with the server running)
    Step("1.1", "back up ssldir and cadir, Puppet Server stopped (verified, read back)", backup, backup_done),
    Step("1.4", "delete the ssldir and the cadir", wipe, wiped,
         shows="the cadir holds no CA cert, or one that is not the old CA (its fingerprint differs from step 0's)"),
    Step("1.5", "new CA and master cert (`puppetserver ca setup`, its alt names)", new_ca, new_ca_done,
         shows="a new CA cert, the master's cert (with the alt names asked for) and key, the cadir owned by "
               "`puppet`, and `autosign` in puppet.conf as the run says"),
    Step("1.8", "start Puppet Server", start_server, server_serves_new_cert, recheck=True,
         shows="Puppet Server's status is running and port 8140 serves the master's new cert (`openssl s_client`)"),
    *EXTENSIONS,
    # the master's agent too starts once PuppetDB is back: its first run stores there
    Step("1.9", "start the master's agent service", start_master_agent,
         lambda ctx: puppet.service_running(ctx.ca, "puppet"), needs=("1.8", "2.5", "2.6"), recheck=True,
         shows="`service puppet status` exits 0 (running)"),
    *AGENTS,
)

PARTIAL = (
    Step("0", "record the CA and the agents' old credentials", record_before,
         lambda ctx: bool(ctx.state.facts.before.ca_fingerprint)),
    Step("p.0", "the CA's signing policy is this run's (autosign or by hand)", signing_policy, signing_policy_done,
         shows="`autosign` in the CA's puppet.conf is as the run says"),
    Step("p.1", "revoke and remove the agents' certs on the CA (`puppetserver ca clean`)", ca_clean_agents),
    *AGENTS,
)


_FULL = {s.id: s for s in FULL}
# The extension: the CA's certificates renewed with their own keys, every host's CA bundle
# replaced, no host re-enrolled (puppetlabs/ca_extend's remedy for a CA about to expire).
EXTEND = (
    _FULL["0"],
    _FULL["1.3"],
    _FULL["1.1"],
    Step("e.1", "the CA's certificates signed anew with its own keys (15 years), the master's CA bundle", extend,
         extend_done, shows="`$cadir/ca_crt.pem` holds certs with the old public keys and a later end, and the "
                            "master's CA bundle is that file"),
    _FULL["1.8"],
    Step("e.2", "every other host's CA bundle replaced by the extended one; its services restarted", distribute,
         needs=("1.8",)),
    Step("1.9", "start the master's agent service", start_master_agent,
         lambda ctx: puppet.service_running(ctx.ca, "puppet"), needs=("e.2",), recheck=True,
         shows="`service puppet status` exits 0 (running)"),
    Step("3.w", "every agent's first run after the extension reported", agents_back, needs=("e.2",)),
    Step("3.m", "every mcollectived restarted; every agent answers `mco ping`", mco_restart, needs=("e.2",)),
)
MODES = {"full": FULL, "partial": PARTIAL, "extend": EXTEND}
# the whole procedure onto an intermediate under an external root: 1.5 imports it
IMPORT_CA = Step("1.5", "new CA and master cert (`puppetserver ca import` of the external intermediate, its alt "
                 "names)", new_ca, new_ca_done, shows=_FULL["1.5"].shows)


def steps_for(mode: str, skip: tuple[str, ...] = (), mcollective: bool = True,
              compilers: bool = False, puppetdb: bool = True, ca_import: bool = False) -> tuple[Step, ...]:
    """The steps of a procedure (``full``, ``partial`` or ``extend``) on a site with these roles, less ``skip``."""
    steps = MODES[mode]
    if ca_import:
        steps = tuple(IMPORT_CA if s.id == "1.5" else s for s in steps)
    absent = {*(() if mcollective else MCOLLECTIVE_STEPS), *(() if compilers else COMPILER_STEPS),
              *(() if puppetdb else PUPPETDB_STEPS)}
    steps = tuple(s for s in steps if s.id not in absent)
    unknown = set(skip) - {s.id for s in steps}
    if unknown:
        raise BadInput(f"unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(s.id for s in steps)}")
    return tuple(s for s in steps if s.id not in skip)


def steps_of(site: Site, mode: str, skip: tuple[str, ...] = (), ca_import: bool = False) -> tuple[Step, ...]:
    """The steps of a procedure on this site: those of roles it lacks left out."""
    return steps_for(mode, skip, mcollective=site.broker is not None, compilers=bool(site.compilers),
                     puppetdb=site.puppetdb is not None, ca_import=ca_import)
