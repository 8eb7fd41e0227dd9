"""``up`` brings a lab up the way an operator builds a site: the master creates its CA,
PostgreSQL gets a certificate from it, PuppetDB and the agents send certificate
requests that the operator signs on the CA, PuppetDB starts with its host's cert,
the agent services start, and every first catalog run is reported to PuppetDB."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import docker
from docker.errors import NotFound
from docker.models.containers import Container

from ..core.commands import command
from ..core.config import LABEL_LAB, LABEL_NODE, LABEL_ROLE, LABEL_SITE
from ..core.errors import CommandFailed, LabExists, RegenLabError
from ..core.lock import hold
from ..core.progress import Progress
from ..core.wait import parallel, wait_until
from ..ops import mcollective, puppet, puppet_ca, puppet_reports
from ..ops.postgres import postgres_tls
from ..procedure.roles import ROLES
from ..sites.format import SiteSpec
from . import sshd
from .images import ensure_images
from .lab import Lab, Node, lab_names, remove
from .spec import LabSpec, NodeSpec

SERVER_READY_TIMEOUT = 240
PUPPETDB_READY_TIMEOUT = 300
BROKER_READY_TIMEOUT = 120
MCO_READY_TIMEOUT = 90
FIRST_RUNS_TIMEOUT = 300


def up(client: docker.DockerClient, spec: LabSpec, progress: Progress | None = None, keep: bool = False) -> Lab:
    """Create the lab and return when every agent's first catalog run is in PuppetDB.
    On failure the lab is removed (unless ``keep``) and the error carries the failing
    service's own log. The lab's lock is held throughout: a second ``up`` of the same name
    is refused before it looks, so its clean-up can never remove the first one's containers."""
    with hold(spec.name):
        return _up(client, spec, progress or Progress(), keep)


def _up(client: docker.DockerClient, spec: LabSpec, progress: Progress, keep: bool) -> Lab:
    if spec.name in lab_names(client):  # its containers or its network
        raise LabExists(
            f"lab {spec.name!r} is already up; use it ({command('lab.status', name=spec.name)}), "
            f"pick another --name, or remove it with {command('lab.down', name=spec.name)}"
        )
    wanted = {(spec.suite_of_node(ns), ROLES[ns.role].image) for ns in spec.nodes()}  # suite, image
    images = {suite: ensure_images(client, suite, progress, names=tuple(sorted(i for s, i in wanted if s == suite)))
              for suite in sorted({s for s, _ in wanted})}
    lab = Lab(client, spec.name)
    try:
        with progress.step(f"lab {spec.name}: network and {len(spec.nodes())} containers"):
            # an internal network publishes no port: one that publishes is still reached on 127.0.0.1 only
            client.networks.create(lab.network, driver="bridge", internal=not (spec.publish or spec.ssh),
                                   labels={LABEL_LAB: spec.name})
            parallel(spec.nodes(), lambda ns: _create_node(client, spec, ns,
                                                            images[spec.suite_of_node(ns)][ROLES[ns.role].image].tag))
        if spec.site is not None:
            _wire(lab, spec.site)
        _provision(lab, progress)
        if spec.ssh:
            sshd.enable(spec.name, [(n.name, n.executor, lab.ssh_port(n)) for n in lab.nodes], progress)
    except BaseException:
        if keep:
            progress.say(f"lab {spec.name} kept for inspection ({command('lab.down', name=spec.name)} removes it)")
        else:
            progress.say(f"removing lab {spec.name} (use --keep to inspect a failed lab)")
            remove(client, spec.name)
        raise
    return lab


def _create_node(client: docker.DockerClient, spec: LabSpec, ns: NodeSpec, image: str) -> Container:
    env = spec.env_of(ns)
    ports = {}
    port = ROLES[ns.role].port
    if spec.publish and port:
        ports = {f"{port}/tcp": ("127.0.0.1", None)}  # loopback only, a free port
    if spec.ssh:
        ports[f"{sshd.PORT}/tcp"] = ("127.0.0.1", None)
    container = client.containers.create(
        image, name=f"{spec.name}-{ns.name}", hostname=ns.name, detach=True, init=True,
        # start-stop-daemon matches processes of other users through /proc/PID/exe, which
        # needs ptrace rights; root on a real host has them.
        cap_add=["SYS_PTRACE"], environment=env, ports=ports, cpu_shares=ROLES[ns.role].cpu_shares,
        # a node comes back when the engine does (as a host after a power cut), with its
        # enabled services (regenlab-node); one stopped on purpose stays down
        restart_policy={"Name": "unless-stopped"},
        labels={LABEL_LAB: spec.name, LABEL_ROLE: ns.role, LABEL_NODE: ns.name,
                **({LABEL_SITE: f"{spec.site.path} ({spec.site.topology()})"} if spec.site else {})},
        network=f"{spec.name}-net",
        networking_config={f"{spec.name}-net": client.api.create_endpoint_config(aliases=[ns.name, *ns.aliases])},
    )
    container.start()
    return container


def _wire(lab: Lab, site: SiteSpec) -> None:
    """The names of a site file's hosts in the configs the images ship with the lab's own
    names: the servers' `puppetdb.conf`, PuppetDB's `database.ini`, MCollective's broker in
    the clients' and daemons' configs (each host's `server` and `ca_server` are boot settings:
    ``LabSpec.env_of``)."""
    servers = (lab.server, *lab.compilers)
    if lab.puppetdb:
        edits = [(n, "/etc/puppet/puppetdb.conf", f"s#https://puppetdb:8081#https://{site.puppetdb}:8081#")
                 for n in servers]
        edits.append((lab.puppetdb, "/etc/puppetdb/conf.d/database.ini",
                      f"s#//postgres:5432/#//{site.postgres}:5432/#"))
    else:  # no PuppetDB: the servers store reports themselves, and facts and catalogs nowhere
        edits = [(n, "/etc/puppet/puppet.conf", "/^storeconfigs/d; s/^reports = store,puppetdb$/reports = store/")
                 for n in servers]
        parallel(servers, lambda n: n.executor.run(["rm", "-f", "/etc/puppet/routes.yaml",
                                                    "/etc/puppet/puppetdb.conf"]))
    if site.broker:  # MCollective's clients check the broker's cert against the name they connect to;
        # the agents' server.cfg is written at boot with it (REGENLAB_BROKER: env_of)
        edits.append((lab.server, "/etc/mcollective/client.cfg",
                      f"s/^plugin.activemq.pool.1.host = broker$/plugin.activemq.pool.1.host = {site.broker}/"))
    parallel(edits, lambda e: e[0].executor.run(["sed", "-i", e[2], e[1]]))


def _provision(lab: Lab, progress: Progress) -> None:
    server, pdb, pg, broker = lab.server, lab.puppetdb, lab.postgres, lab.broker
    agents, compilers = lab.agents, lab.compilers
    with progress.step("Puppet Server ready (CA created by `puppetserver ca setup`)"):
        if pdb is None:  # a site without PuppetDB: its master boots idle (its CA made), and starts once wired
            wait_until(f"{server.name} booted", lambda: b"regenlab-node: ready" in lab.container(server).logs(),
                       SERVER_READY_TIMEOUT, interval=1.0, log=lambda: lab.logs(server.name, tail=40))
            puppet.start_jvm(server.executor, "puppetserver")
        wait_ready(lab, server, SERVER_READY_TIMEOUT)
    # PuppetDB's JVM start is the long pole: PostgreSQL's cert and the PuppetDB host come
    # first (alone, they take a few seconds; beside every other host's enrolment on 2 cores,
    # three times as long); the agents and the broker enroll, and MCollective is set up,
    # while PuppetDB starts.
    others = [*([broker] if broker else []), *agents]
    with ThreadPoolExecutor(max_workers=4) as pool:
        servers = [*([pdb] if pdb else []), *compilers]
        enrolled = " and ".join(filter(None, [pdb and pdb.name, compilers and f"{len(compilers)} compilers"]))
        if pdb and pg:
            with progress.step(f"PostgreSQL: certificate from the lab's CA, TLS on; {enrolled} enrolled"):
                parallel([lambda: postgres_tls(lab_ca(lab), pg.executor, pg.certname),
                          lambda: enroll(lab, servers)],
                         lambda f: f())
        elif servers:
            with progress.step(f"{enrolled} enrolled"):
                enroll(lab, servers)
        pdb_started = pool.submit(start_puppetdb, lab, pdb) if pdb else None
        compilers_started = pool.submit(parallel, compilers, lambda n: start_compiler(lab, n)) if compilers else None
        others_enrolled = pool.submit(enroll, lab, others)
        credentials = pool.submit(mcollective.install_credentials, lab_ca(lab), server.executor,
                                  [a.executor for a in agents]) if broker else None
        with progress.step(f"{' and '.join(filter(None, [f'{len(agents)} agents', broker and 'the broker']))} "
                           "enrolled (`puppet ssl bootstrap`, signed on the CA as they ask)"):
            others_enrolled.result()
        if broker and credentials:
            with progress.step("ActiveMQ broker: keystore and truststore from its Puppet cert, started"):
                mcollective.build_broker_stores(broker.executor, puppet.DEBIAN, broker.certname)
                # ready once a STOMP CONNECT over TLS is answered
                mcollective.start_broker(broker.executor, puppet.DEBIAN, BROKER_READY_TIMEOUT)
            with progress.step("MCollective: server keypair and admin client cert issued on the CA, installed"):
                credentials.result()
            # mcollectived needs the broker and its keys, not PuppetDB: it starts while PuppetDB does
            with progress.step(f"mcollectived started on {len(agents)} agents"):
                parallel(agents, lambda n: puppet.start(n.executor, "mcollective"))
        if pdb_started:
            with progress.step("PuppetDB running (`service puppetdb start`)"):
                pdb_started.result()
        if compilers_started:
            with progress.step(f"{len(compilers)} compilers' Puppet Server running (CA service disabled)"):
                compilers_started.result()
    runners = [server, *agents]
    with progress.step(f"agent service started on {len(runners)} nodes (`service puppet start`)"):
        parallel(runners, lambda n: puppet.start(n.executor, "puppet"))
    with progress.step(f"first catalog runs reported to {lab.reports.where}"):
        wait_for_reports(lab, [n.certname for n in runners], since=None,
                         timeout=FIRST_RUNS_TIMEOUT + 3 * len(runners))  # 2 cores: about 3 s of CPU a run
    if broker:
        with progress.step(f"`mco ping` answered by every agent ({len(agents)})"):
            wait_mco(lab, [a.certname for a in agents], MCO_READY_TIMEOUT + len(agents))


def wait_mco(lab: Lab, identities: list[str], timeout: float = MCO_READY_TIMEOUT) -> mcollective.Ping:
    """Wait until ``mco ping`` on the admin's host gets a reply from every identity; on
    timeout the error shows the daemons' and the broker's own errors."""

    daemons = [(n, lab.node(n).executor) for n in identities]
    broker = lab.broker.executor if lab.broker else None
    return mcollective.wait_ping(lab.server.executor, identities, timeout,
                                 log=lambda: "\n".join(mcollective.errors_of(daemons, broker)))


def lab_ca(lab: Lab) -> puppet_ca.CA:
    """The lab's CA, on its server: the images' Debian paths (the lab builds them, so it knows)."""
    return puppet_ca.CA(lab.server.executor, lab.server.certname, puppet.DEBIAN)


def enroll(lab: Lab, nodes: list[Node]) -> None:
    """Nodes enrolled as an operator does: each requests with `puppet ssl bootstrap`, and
    their requests, and only theirs, are signed on the CA as they arrive. A lab's first
    enrolment has no TLS fault to wait out, only a slow machine: twice the procedure's bound
    (in the suite, 4 agents with 4096-bit keys beside another lab's start and the unit tests
    missed 83 s by one second: the CA signed them 30 s after they asked)."""
    maxwait = 2 * puppet.maxwait_for(len(nodes))
    puppet_ca.enroll_all(lab_ca(lab), [(n.certname, lambda n=n: puppet.bootstrap(n.executor, maxwait)) for n in nodes])


def start_compiler(lab: Lab, compiler: Node) -> None:
    puppet.start_jvm(compiler.executor, "puppetserver")
    wait_ready(lab, compiler, SERVER_READY_TIMEOUT)


def start_puppetdb(lab: Lab, pdb: Node) -> None:
    puppet.start_jvm(pdb.executor, "puppetdb")
    wait_ready(lab, pdb, PUPPETDB_READY_TIMEOUT)


def wait_ready(lab: Lab, node: Node, timeout: float) -> float:
    """Wait for the node's HEALTHCHECK command to pass (run by the harness each second); fail
    fast if its container exited."""

    def gone() -> str | None:
        try:
            state = lab.container(node).status
        except NotFound:
            state = "gone"
        return f"container {state}" if state in ("exited", "dead", "gone") else None

    return wait_until(
        f"{node.name} ({node.role})", lambda: lab.state(node, tries=1) == "ready", timeout, interval=1.0,
        log=lambda: lab.logs(node.name, tail=60), give_up=gone,
    )


def wait_for_reports(lab: Lab, certnames: list[str], since: str | None, timeout: float) -> dict:
    """Wait for every certname's report in the lab's PuppetDB (or its servers' store); on
    timeout or a failed run, the error shows the log of (up to three of) the nodes whose
    report is missing."""

    reports = lab.reports

    def missing_log() -> str:
        try:
            have = reports.latest()
        except CommandFailed:
            have = {}
        missing = [c for c in certnames if c not in have] or certnames
        return "\n".join(f"--- {c}\n{lab.logs(c, tail=20)}" for c in missing[:3])

    try:
        return puppet_reports.wait_reports(reports, certnames, since, timeout, log=missing_log)
    except puppet_reports.RunFailed as exc:
        raise RegenLabError(f"{exc}; see {command('lab.logs', exc.certnames[0], name=lab.name)}") from None
