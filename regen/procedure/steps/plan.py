"""The procedures as tables of Steps (full, partial, extend; the import of an external
intermediate), and the steps of one on a site: those of roles it lacks left out."""

from __future__ import annotations

from dataclasses import replace

from ...core.errors import BadInput
from ...ops import puppet
from .. import hostbackup
from ..ids import Change, Mode, StepId
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

I = StepId  # noqa: E741 (the tables read as the seed's numbers do)
NOTHING, MASTER, HOSTS = Change.NOTHING, Change.MASTER, Change.HOSTS


# Once Puppet Server answers (1.8), PostgreSQL's cert and PuppetDB's host go first, side
# by side: PuppetDB's restart (2.5) is the long pole that the agents' first runs wait for.
# The broker, the MCollective keys and the agents follow once PuppetDB's host is
# re-enrolled, side by side with PuppetDB's start: on separate hosts that costs nothing
# (the agents wait for 2.5 anyway); on one box it leaves PuppetDB's branch the CPU first.
EXTENSIONS = (
    Step(I.POSTGRES, "PostgreSQL: certificate from the new CA", postgres_cert, postgres_done,
         needs=(I.START_SERVER,), changes=HOSTS, role="puppetdb",
         shows="PostgreSQL's cert chains to the new CA"),
    Step(I.PUPPETDB, "PuppetDB stopped, its host re-enrolled, jetty.ini on the new cert", puppetdb_reenroll,
         puppetdb_done, needs=(I.START_SERVER,), changes=HOSTS, role="puppetdb",
         shows="PuppetDB's host cert chains to the new CA and jetty.ini points at it"),
    Step(I.BROKER, "ActiveMQ broker re-enrolled, keystore and truststore rebuilt, restarted", broker_redo, broker_done,
         needs=(I.START_SERVER, I.PUPPETDB), recheck=True, changes=HOSTS, role="broker",
         shows="the broker's cert chains to the new CA, its truststore holds the new CA and not the old, and "
               "ActiveMQ runs, serving that cert on the STOMP port"),
    Step(I.MCO_CREDENTIALS, "MCollective: new server keypair and admin client cert installed", mco_credentials,
         mco_credentials_done, needs=(I.START_SERVER, I.PUPPETDB), changes=HOSTS, role="broker",
         shows="the MCollective server public key is not the old one, and the admin's cert chains to the new CA"),
    Step(I.START_PUPPETDB, "PuppetDB started (once PostgreSQL has its new cert)", start_puppetdb,
         puppetdb_serves_new_cert, needs=(I.POSTGRES, I.PUPPETDB), recheck=True, changes=HOSTS, role="puppetdb",
         shows="PuppetDB's status is running and port 8081 serves its new cert"),
    Step(I.COMPILERS, "compilers re-enrolled with their alt names, restarted", compilers_redo, compilers_done,
         needs=(I.START_SERVER,), recheck=True, changes=HOSTS, role="compiler",
         shows="each compiler's cert chains to the new CA and its port 8140 serves it"),
)
AGENTS = (
    Step(I.AGENTS, "agents: stop, clean (with local CA and CRL), request, sign", agents_step,
         lambda ctx: set(ctx.state.facts.agents_done) >= set(ctx.state.agents),
         needs=(I.START_SERVER, I.PUPPETDB, I.CA_CLEAN), changes=Change.AGENTS_NAMED),
    # the agents' runs go through the compilers, where the site has them
    Step(I.START_AGENTS, "agents' services started (once PuppetDB is back)", agents_start,
         needs=(I.AGENTS, I.START_PUPPETDB, I.COMPILERS)),
    # reported to PuppetDB, or, in a site without it, to the servers' own store
    Step(I.AGENTS_BACK, "every agent's first run under the new CA reported", agents_back, needs=(I.START_AGENTS,)),
    Step(I.MCO_RESTART, "every mcollectived restarted; every agent answers `mco ping`", mco_restart,
         needs=(I.AGENTS, I.BROKER, I.MCO_CREDENTIALS), role="broker"),
)

FULL = (
    Step(I.RECORD, "record the old CA, the master's alt names, one agent's old credentials", record_before,
         lambda ctx: bool(ctx.state.facts.before.ca_fingerprint and ctx.state.facts.before.witness), changes=NOTHING),
    # the other hosts' TLS material, while Puppet Server still serves (nothing of theirs changes before step 2)
    Step(I.HOST_BACKUP, "back up the other hosts' TLS files (PostgreSQL, PuppetDB, broker, MCollective keys)",
         hostbackup.take, hostbackup.taken, changes=NOTHING),
    Step(I.STOP_MASTER_AGENT, "stop the master's agent service", stop_master_agent,
         lambda ctx: not puppet.service_running(ctx.ca, "puppet"),
         shows="`service puppet status` exits 3 (stopped)", changes=Change.SERVICES),
    Step(I.STOP_SERVER, "stop Puppet Server", stop_server,
         lambda ctx: not puppet.service_running(ctx.ca, "puppetserver"),
         shows="`service puppetserver status` exits 3 (stopped)", changes=Change.SERVICES),
    # the backup once nothing writes to the CA (the seed takes it first, with the server running)
    Step(I.MASTER_BACKUP, "back up ssldir and cadir, Puppet Server stopped (verified, read back)", backup, backup_done,
         changes=NOTHING),
    Step(I.WIPE, "delete the ssldir and the cadir", wipe, wiped, changes=MASTER,
         shows="the cadir holds no CA cert, or one that is not the old CA (its fingerprint differs from step 0's)"),
    Step(I.NEW_CA, "new CA and master cert (`puppetserver ca setup`, its alt names)", new_ca, new_ca_done,
         changes=MASTER, shows="a new CA cert, the master's cert (with the alt names asked for) and key, the "
                               "cadir owned by `puppet`, and `autosign` in puppet.conf as the run says"),
    Step(I.START_SERVER, "start Puppet Server", start_server, server_serves_new_cert, recheck=True, changes=MASTER,
         shows="Puppet Server's status is running and port 8140 serves the master's new cert (`openssl s_client`)"),
    *EXTENSIONS,
    # the master's agent too starts once PuppetDB is back: its first run stores there
    Step(I.START_MASTER_AGENT, "start the master's agent service", start_master_agent,
         lambda ctx: puppet.service_running(ctx.ca, "puppet"), needs=(I.START_SERVER, I.START_PUPPETDB, I.COMPILERS),
         recheck=True, shows="`service puppet status` exits 0 (running)", changes=MASTER),
    *AGENTS,
)

PARTIAL = (
    Step(I.RECORD, "record the CA and the agents' old credentials", record_before,
         lambda ctx: bool(ctx.state.facts.before.ca_fingerprint), changes=NOTHING),
    Step(I.SIGNING_POLICY, "the CA's signing policy is this run's (autosign or by hand)", signing_policy,
         signing_policy_done, changes=MASTER, shows="`autosign` in the CA's puppet.conf is as the run says"),
    Step(I.CA_CLEAN, "revoke and remove the agents' certs on the CA (`puppetserver ca clean`)", ca_clean_agents),
    *AGENTS,
)


_FULL = {s.id: s for s in FULL}
# The extension: the CA's certificates renewed with their own keys, every host's CA bundle
# replaced, no host re-enrolled (puppetlabs/ca_extend's remedy for a CA about to expire).
EXTEND = (
    _FULL[I.RECORD],
    _FULL[I.STOP_SERVER],
    _FULL[I.MASTER_BACKUP],
    Step(I.EXTEND, "the CA's certificates signed anew with its own keys (15 years), the master's CA bundle", extend,
         extend_done, changes=MASTER, shows="`$cadir/ca_crt.pem` holds certs with the old public keys and a later "
                                            "end, and the master's CA bundle is that file"),
    _FULL[I.START_SERVER],
    # every host's bundle, the agents' too
    Step(I.DISTRIBUTE, "every other host's CA bundle replaced by the extended one; its services restarted",
         distribute, needs=(I.START_SERVER,)),
    replace(_FULL[I.START_MASTER_AGENT], needs=(I.DISTRIBUTE,)),
    Step(I.AGENTS_BACK, "every agent's first run after the extension reported", agents_back, needs=(I.DISTRIBUTE,)),
    replace(_FULL[I.MCO_RESTART], needs=(I.DISTRIBUTE,)),
)
MODES = {Mode.FULL: FULL, Mode.PARTIAL: PARTIAL, Mode.EXTEND: EXTEND}
# the whole procedure onto an intermediate under an external root: 1.5 imports it
IMPORT_CA = replace(_FULL[I.NEW_CA], title="new CA and master cert (`puppetserver ca import` of the external "
                   "intermediate, its alt names)")


def steps_for(mode: str, skip: tuple[str, ...] = (), mcollective: bool = True,
              compilers: bool = False, puppetdb: bool = True, ca_import: bool = False) -> tuple[Step, ...]:
    """The steps of a procedure (``full``, ``partial`` or ``extend``) on a site with these roles, less ``skip``."""
    roles = {"server", "agent", *(("broker",) if mcollective else ()), *(("compiler",) if compilers else ()),
             *(("puppetdb", "postgres") if puppetdb else ())}
    return _steps(mode, skip, roles, ca_import)


def _steps(mode: str, skip: tuple[str, ...], roles: set[str], ca_import: bool) -> tuple[Step, ...]:
    steps = MODES[Mode(mode)]
    if ca_import:
        steps = tuple(IMPORT_CA if s.id == I.NEW_CA else s for s in steps)
    steps = tuple(s for s in steps if not s.role or s.role in roles)
    unknown = set(skip) - {s.id for s in steps}
    if unknown:
        raise BadInput(f"unknown step(s) {', '.join(sorted(unknown))}; steps: {', '.join(s.id for s in steps)}")
    return tuple(s for s in steps if s.id not in skip)


def steps_of(site: Site, mode: str, skip: tuple[str, ...] = (), ca_import: bool = False) -> tuple[Step, ...]:
    """The steps of a procedure on this site: those of roles it lacks left out."""
    return _steps(mode, skip, {role for _, role in site.roles()}, ca_import)


def step(step_id: str, mode: str = Mode.FULL) -> Step:
    """A step of a mode's table by its id."""
    return next(s for s in MODES[Mode(mode)] if s.id == step_id)
