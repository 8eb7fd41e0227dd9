"""A Lab: a named set of Nodes (containers) on its own Docker network, all labelled
``regenlab.lab=<name>``, running a real Puppet deployment from Debian's packages.

``up`` brings one up the way an operator builds a site: the master creates its CA,
PostgreSQL gets a certificate from it, PuppetDB and the agents send certificate
requests that the operator signs on the CA, PuppetDB starts with its host's cert,
the agent services start, and every first catalog run is reported to PuppetDB.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from ..core.commands import command
from ..core.config import DEFAULT_SUITE, LABEL_LAB, LABEL_NODE, LABEL_ROLE, LABEL_SITE, state_dir
from ..core.errors import BadInput, CommandFailed, LabExists, LabNotFound, NodeNotFound, NotReady, RegenLabError
from ..core.executor import Executor
from ..core.lock import hold
from ..core.progress import Progress
from ..core.wait import parallel, wait_until
from ..ops import mcollective, pki, puppet
from ..ops.postgres import postgres_tls
from ..procedure.roles import ORDER as ROLE_ORDER
from ..procedure.roles import ROLES, cert_paths
from ..procedure.site import Host, Site
from ..sites.format import NO_EC_ERROR, AgentKeys, SiteSpec, check_keylength
from . import sshd
from .docker import DockerExecutor
from .images import MCOLLECTIVE_SUITES, check_suite, ensure_images

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")  # fullmatch: `$` would let a final newline in
MAX_AGENTS = 200
SERVER_ALT_NAMES = ("puppet", "server")

SERVER_READY_TIMEOUT = 240
PUPPETDB_READY_TIMEOUT = 300
BROKER_READY_TIMEOUT = 120
MCO_READY_TIMEOUT = 90
FIRST_RUNS_TIMEOUT = 300

@dataclass(frozen=True)
class NodeSpec:
    """A node to create: its name in the lab (also hostname and certname) and role."""

    name: str
    role: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabSpec:
    """What ``lab.up`` is asked for, validated. ``suite`` is the Debian suite of the server,
    PuppetDB and PostgreSQL nodes; ``agent_suite`` the agents' (a mixed fleet when they differ)."""

    name: str = "regenlab"
    agents: int = 3
    suite: str = DEFAULT_SUITE
    publish: bool = False
    agent_suite: str = ""  # "": the same as suite
    site: SiteSpec | None = None  # the lab in the shape of a site file (its names, roles, versions)
    ssh: bool = False  # every node's sshd on a loopback port: the procedure can run over SSH (lab/sshd.py)
    agent_keys: AgentKeys = AgentKeys()  # the agents' key_type/keylength (default: Puppet's, RSA 4096)
    keylength: int = 0  # every Puppet host's RSA keys, the CA's too (agents: unless agent_keys); 0: Puppet's 4096

    @classmethod
    def parse(cls, name: str, agents: object = 3, suite: str = DEFAULT_SUITE, publish: bool = False,
              agent_suite: str = "", ssh: bool = False, agent_keys: str = "") -> LabSpec:
        check_name(name)
        try:
            keys = AgentKeys.parse(agent_keys)
        except ValueError as exc:
            raise BadInput(f"--agent-keys {agent_keys!r}: {exc}") from None
        try:
            count = int(str(agents).strip())
        except ValueError:
            raise BadInput(f"--agents must be a whole number from 1 to {MAX_AGENTS}, not {agents!r}") from None
        if not 1 <= count <= MAX_AGENTS:
            raise BadInput(f"--agents must be from 1 to {MAX_AGENTS}, not {count}")
        agent_suite = check_suite(agent_suite) if agent_suite and agent_suite != suite else ""
        if keys.key_type == "ec" and (agent_suite or suite) == "bookworm":
            raise BadInput(f"--agent-keys {agent_keys!r}: Puppet 7's agents (bookworm) cannot make an EC key on "
                           f"Debian's OpenSSL 3 (\"{NO_EC_ERROR}\")")
        return cls(name=name, agents=count, suite=check_suite(suite), publish=publish, agent_suite=agent_suite,
                   ssh=ssh, agent_keys=keys)

    @classmethod
    def of_site(cls, site: SiteSpec, name: str = "", publish: bool = False, ssh: bool = False) -> LabSpec:
        """A lab of the site file's shape, named as the site unless ``name``. What the lab cannot
        build yet is refused here, before anything starts."""
        if site.puppetdb_on_master:
            raise BadInput(f"{site.path}: PuppetDB on the master: not in the lab yet (the format accepts it; the lab "
                           "builds PuppetDB and PostgreSQL on their own hosts, or no PuppetDB)")
        suites = {7: "bookworm", 8: "trixie"}
        return cls.parse(name or site.name, len(site.agents), suite=suites[site.puppet],
                         agent_suite=suites[site.agent_puppet], publish=publish, ssh=ssh).with_site(site)

    def with_site(self, site: SiteSpec) -> LabSpec:
        return replace(self, site=site, agent_keys=site.agent_keys, keylength=site.keylength)

    def with_keylength(self, bits: int) -> LabSpec:
        """The same lab with every Puppet host's RSA keys of ``bits`` (Puppet's ``keylength``)."""
        try:
            check_keylength(bits)
        except ValueError as exc:
            raise BadInput(f"keylength: {exc}") from None
        return replace(self, keylength=bits)

    @property
    def mcollective(self) -> bool:
        """MCollective needs its package on the admin's host (the master) and on every agent."""
        if self.site is not None:
            return bool(self.site.broker)
        return self.suite in MCOLLECTIVE_SUITES and self.suite_of("agent") in MCOLLECTIVE_SUITES

    def suite_of(self, role: str) -> str:
        return (self.agent_suite or self.suite) if role == "agent" else self.suite

    @property
    def server_alt_names(self) -> tuple[str, ...]:
        return self.site.master.dns_alt_names if self.site else SERVER_ALT_NAMES

    def env_of(self, ns: NodeSpec) -> dict[str, str]:
        """A node's boot settings (images/*/files/*.sh): its alt names; in a site's lab, the
        name its agent asks for catalogs (`puppet` where the master or the compilers answer to
        it, else the master's certname), behind compilers the CA's host, and the agents' MCollective
        broker."""
        env: dict[str, str] = {}
        if self.keylength and ns.role != "postgres":  # its cert comes from the CA (`puppetserver ca generate`)
            env["REGENLAB_KEYLENGTH"] = str(self.keylength)
        if ns.role == "agent":
            env.update({f"REGENLAB_{k.upper()}": v for k, v in self.agent_keys.settings().items()})
        if ns.role == "server":
            env["REGENLAB_DNS_ALT_NAMES"] = ",".join(self.server_alt_names or (ns.name,))
        site = self.site
        if site is None or ns.role == "postgres":
            return env
        if ns.role == "agent" and site.broker:
            env["REGENLAB_BROKER"] = site.broker
        if ns.role == "compiler":
            env.update(REGENLAB_COMPILER="1", REGENLAB_BOOT="",
                       REGENLAB_DNS_ALT_NAMES=",".join(ns.aliases or (ns.name,)))
        if ns.role == "server" and not site.puppetdb:  # started once its configs drop PuppetDB (_wire)
            env["REGENLAB_BOOT"] = ""
        puppet_answers = "puppet" in site.master.dns_alt_names or \
            bool(site.compilers) and all("puppet" in c.dns_alt_names for c in site.compilers)
        env["REGENLAB_SERVER"] = "puppet" if puppet_answers else site.master.certname
        if site.compilers:
            env["REGENLAB_CA_SERVER"] = site.master.certname
        return env

    def nodes(self) -> list[NodeSpec]:
        if self.site is not None:
            site = self.site
            return [
                *([NodeSpec(site.postgres, "postgres")] if site.postgres else []),
                NodeSpec(site.master.certname, "server", aliases=site.master.dns_alt_names),
                *(NodeSpec(c.certname, "compiler", aliases=c.dns_alt_names) for c in site.compilers),
                *([NodeSpec(site.puppetdb, "puppetdb")] if site.puppetdb else []),
                # MCollective's configs and probes reach the broker as `broker`
                *([NodeSpec(site.broker, "broker", aliases=("broker",))] if site.broker else []),
                *(NodeSpec(a, "agent") for a in site.agents),
            ]
        return [
            NodeSpec("postgres", "postgres"),
            NodeSpec("server", "server", aliases=ROLES["server"].aliases),
            NodeSpec("puppetdb", "puppetdb"),
            *([NodeSpec("broker", "broker")] if self.mcollective else []),
            *(NodeSpec(f"agent-{i}", "agent") for i in range(1, self.agents + 1)),
        ]


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise BadInput(
            f"lab name {name!r} is not valid: use 1-40 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Node:
    """A host of the lab. Its hostname is its certname and its name in the lab."""

    lab: str
    name: str
    role: str
    container: str

    @property
    def certname(self) -> str:
        return self.name

    @property
    def executor(self) -> Executor:
        return DockerExecutor(self.container, node=self.name)


@dataclass(frozen=True)
class NodeStatus:
    """One row of ``lab.status``."""

    node: str
    role: str
    certname: str
    cert_serial: str
    ca_fingerprint: str
    state: str
    mco: str = "-"  # agents: their `mco ping` reply; "none" in a lab without MCollective
    version: str = "-"  # the role's Debian package and its version (a mixed fleet shows two)
    expires: str = "-"  # the node's own cert's last day (YYYY-MM-DD)


@dataclass
class Lab:
    """A lab that exists (its containers carry its label)."""

    client: docker.DockerClient
    name: str
    _nodes: list[Node] = field(default_factory=list)

    @classmethod
    def open(cls, client: docker.DockerClient, name: str) -> Lab:
        check_name(name)
        lab = cls(client, name)
        if not lab.nodes:
            known = sorted(lab_names(client))
            hint = f" (labs up: {', '.join(known)})" if known else " (no lab is up)"
            raise LabNotFound(f"no lab named {name!r}{hint}; start one with {command('lab.up', name=name)}")
        return lab

    @classmethod
    @contextmanager
    def up(cls, spec: LabSpec, progress: Progress | None = None, keep: bool = False) -> Iterator[Lab]:
        """A lab for plain Python, testcontainers' way: ``with Lab.up(LabSpec(...)) as lab:``
        starts the engine if none answers, makes the lab, and removes it on leaving (kept with
        ``keep``, and its nodes' logs under ``.regenlab/artifacts/NAME/`` if the block raised)."""
        from .engine import ensure

        client = ensure(progress or Progress(quiet=True))
        lab = up(client, spec, progress)
        try:
            yield lab
        except BaseException:
            lab.keep_logs()
            raise
        finally:
            if not keep:
                remove(client, spec.name)

    def keep_logs(self, tail: int = 2000) -> Path:
        """A failed test's evidence under ``.regenlab/artifacts/NAME/`` (owner-only): every
        node's log, the CA's public files (its certificates and CRL, never a key) and the lab's
        last reports."""
        out = state_dir() / "artifacts" / self.name
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        for node in self.nodes:
            (out / f"{node.name}.log").write_text(self.logs(node.name, tail=tail))
        ca = self.server.executor
        for name in ("ca_crt.pem", "ca_crl.pem"):
            try:
                (out / name).write_bytes(ca.read_file(f"{puppet.DEBIAN.cadir}/{name}"))
            except CommandFailed:  # no CA there (a run failed half-way): nothing to keep
                pass
        for report in sorted((state_dir() / "reports").glob(f"{self.name}-*"))[-4:]:
            (out / report.name).write_bytes(report.read_bytes())
        return out

    @property
    def site_description(self) -> str:
        """The site file the lab was made from, with its topology ("" for a lab of options)."""
        try:
            return self.container(self.server).labels.get(LABEL_SITE, "")
        except NotFound:
            return ""

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    @property
    def nodes(self) -> list[Node]:
        if not self._nodes:
            found = []
            for name, labels in _listed(self.client, f"{LABEL_LAB}={self.name}"):
                found.append(Node(self.name, labels[LABEL_NODE], labels[LABEL_ROLE], name))
            self._nodes = sorted(found, key=_node_order)
        return self._nodes

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        names = ", ".join(n.name for n in self.nodes)
        raise NodeNotFound(f"lab {self.name!r} has no node {name!r}; its nodes: {names}")

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def one(self, role: str) -> Node:
        found = self.by_role(role)
        if not found:
            raise NodeNotFound(f"lab {self.name!r} has no {role} node; its nodes: "
                               f"{', '.join(n.name for n in self.nodes)}")
        return found[0]

    @property
    def server(self) -> Node:
        return self.one("server")

    @property
    def puppetdb(self) -> Node | None:
        """PuppetDB's host; None in a lab of a site without PuppetDB."""
        found = self.by_role("puppetdb")
        return found[0] if found else None

    @property
    def postgres(self) -> Node | None:
        found = self.by_role("postgres")
        return found[0] if found else None

    def ssh_port(self, node: Node) -> int:
        """The loopback port a node's sshd is published on (a lab started with ``--ssh``)."""
        bound = self.container(node).attrs["NetworkSettings"]["Ports"].get(f"{sshd.PORT}/tcp") or []
        if not bound:
            raise LabNotFound(f"lab {self.name!r} was not started with --ssh: {node.name} publishes no SSH port")
        return int(bound[0]["HostPort"])

    @property
    def reports(self) -> puppet.Reports:
        """Where the agents' reports are: PuppetDB, or the servers' own store without it."""
        if self.puppetdb is not None:
            return puppet.Reports(self.puppetdb.executor)
        return puppet.Reports(servers=tuple((n.executor, puppet.DEBIAN, n.certname)  # the lab's images: Debian's
                                            for n in (self.server, *self.compilers)))

    @property
    def agents(self) -> list[Node]:
        return self.by_role("agent")

    @property
    def compilers(self) -> list[Node]:
        return self.by_role("compiler")

    @property
    def broker(self) -> Node | None:
        """The ActiveMQ broker of MCollective; None in a lab without MCollective (Puppet 8)."""
        found = self.by_role("broker")
        return found[0] if found else None

    def ca_bundle(self) -> bytes:
        """The CA bundle the master hands out to agents (its ``localcacert``)."""
        return self.server.executor.read_file(puppet.DEBIAN.localcacert)  # the lab's images: Debian's

    def container(self, node: Node) -> Container:
        return self.client.containers.get(node.container)

    def stop_node(self, name: str) -> None:
        """The node's container stopped (a host down): its services and files stay as they were."""
        self.container(self.node(name)).stop(timeout=20)

    def start_node(self, name: str) -> None:
        """The node's container started again: its entrypoint starts its services, as a boot does."""
        node = self.node(name)
        self.container(node).start()
        wait_until(f"{name} running", lambda: self.container(node).status not in ("created", "restarting"), 60,
                   interval=1.0)

    def move_server(self, name: str) -> None:
        """The master moves to another network: its container leaves the lab's network and
        joins it again, known as ``name`` instead of ``puppet`` (the old name no longer
        resolves, as after a DNS change; its certname and hostname stay ``server``)."""
        network = self.client.networks.get(self.network)
        container = self.container(self.server)
        network.disconnect(container)
        network.connect(container, aliases=[self.server.name, name])

    def state(self, node: Node, tries: int = 3) -> str:
        """The container's status; a running one is "ready" when its image's HEALTHCHECK
        command passes now, within ``tries`` a second apart (Docker's `--retries`: the broker's
        STOMP probe can miss once on a busy machine). The harness runs that command itself,
        when it asks: Docker runs it only once a minute (for `docker ps`), as checks every 3 s
        cost an idle lab ~10 CPU-seconds a minute, and every regeneration and test with it."""
        try:
            attrs = self.client.api.inspect_container(node.container)
        except NotFound:
            return "gone"
        if attrs["State"].get("Status") != "running":
            return str(attrs["State"].get("Status"))
        test = (attrs["Config"].get("Healthcheck") or {}).get("Test") or ["NONE"]
        if test[0] not in ("CMD", "CMD-SHELL"):
            return "running"
        argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        for attempt in range(tries):
            if attempt:
                time.sleep(1)
            if node.executor.run(argv, check=False, timeout=15).exit_code == 0:
                return "ready"
        return "not ready"

    def logs(self, node_name: str, tail: int = 200) -> str:
        node = self.node(node_name)
        return self.container(node).logs(tail=tail).decode(errors="replace")

    def status(self) -> list[NodeStatus]:
        rows = parallel(self.nodes, self._status_of)
        if self.broker is None:
            return [replace(r, mco="none") if r.role == "agent" else r for r in rows]
        if next(r.state for r in rows if r.node == self.server.name) != "ready":
            return rows
        replies = mcollective.ping(self.server.executor, mcollective.ping_wait(len(self.agents))).replies
        return [replace(r, mco=f"{replies[r.certname]:.0f} ms" if r.certname in replies else "no reply")
                if r.role == "agent" else r for r in rows]

    def _status_of(self, node: Node) -> NodeStatus:
        state = self.state(node)
        serial = ca = version = expires = "-"
        if state not in ("exited", "gone", "created", "dead"):
            cert_path, ca_path = cert_paths(node.role, node.certname, puppet.DEBIAN)  # the lab's: Debian's
            ex = node.executor
            try:
                cert = pki.info(pki.load_certs(ex.read_file(cert_path))[0])
                serial, expires = f"{cert.serial:X}", cert.not_after.strftime("%Y-%m-%d")
            except (CommandFailed, BadInput):
                pass
            try:
                ca = pki.ca_fingerprint(ex.read_file(ca_path)).replace(":", "")[:16]
            except (CommandFailed, BadInput):
                pass
            package = ROLES[node.role].package
            res = node.executor.run(["dpkg-query", "-W", "-f", "${Version}", package], check=False)
            if res.exit_code == 0:
                version = f"{package} {re.split(r'[-+~]', res.stdout.strip())[0]}"
        return NodeStatus(node.name, node.role, node.certname, serial, ca, state, version=version, expires=expires)


def mcollective_line(rows: list[NodeStatus]) -> str:
    """One line under ``lab.status``: who answers ``mco ping``, or why there is no MCollective."""
    agents = [r for r in rows if r.role == "agent"]
    if any(r.mco == "none" for r in agents):
        return "MCollective: none in this lab (Debian trixie, Puppet 8, has no mcollective package)"
    answered = [r for r in agents if r.mco.endswith(" ms")]
    return f"MCollective: {len(answered)}/{len(agents)} agents answer `mco ping` from the admin (server)"


def site_of(lab: Lab) -> Site:
    """The Site of a running Lab: its hosts by their part, reached with ``docker exec``."""

    def host(node: Node) -> Host:
        return Host(node.name, node.certname, node.executor)

    return Site(lab.name, host(lab.server), host(lab.puppetdb) if lab.puppetdb else None,
                host(lab.postgres) if lab.postgres else None,
                tuple(host(a) for a in lab.agents), host(lab.broker) if lab.broker else None, lab.site_description,
                tuple(host(c) for c in lab.compilers))


def ssh_site_of(lab: Lab) -> Site:
    """The Site of a lab started with ``--ssh``, its hosts reached over SSH (``lab/sshd.py``)."""
    return sshd.over_ssh(lab.name, site_of(lab), {n.name: lab.ssh_port(n) for n in lab.nodes})


def _node_order(node: Node) -> tuple[int, int, str]:
    num = int(node.name.rsplit("-", 1)[1]) if node.role == "agent" and node.name[-1].isdigit() else 0
    return (ROLE_ORDER.index(node.role) if node.role in ROLE_ORDER else 99, num, node.name)


def _listed(client: docker.DockerClient, label: str) -> list[tuple[str, dict[str, str]]]:
    """(name, labels) of every container with ``label``, read from the list itself (sparse):
    docker-py would otherwise inspect each container after listing it, and raise NotFound for
    one removed in between (another run's labs come and go)."""
    return [((c.attrs.get("Names") or ["/"])[0].lstrip("/"), c.attrs.get("Labels") or {})
            for c in client.containers.list(all=True, sparse=True, filters={"label": label})]


def lab_names(client: docker.DockerClient) -> set[str]:
    names = {labels.get(LABEL_LAB, "") for _, labels in _listed(client, LABEL_LAB)}
    names |= {n.attrs["Labels"].get(LABEL_LAB, "") for n in client.networks.list(filters={"label": LABEL_LAB})}
    return names - {""}


# --- lifecycle -----------------------------------------------------------------------------

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
    roles = {ns.role for ns in spec.nodes()}
    images = {suite: ensure_images(client, suite, progress,
                                   names=tuple(ROLES[r].image for r in roles if spec.suite_of(r) == suite))
              for suite in dict.fromkeys(spec.suite_of(r) for r in sorted(roles))}
    lab = Lab(client, spec.name)
    try:
        with progress.step(f"lab {spec.name}: network and {len(spec.nodes())} containers"):
            # an internal network publishes no port: one that publishes is still reached on 127.0.0.1 only
            client.networks.create(lab.network, driver="bridge", internal=not (spec.publish or spec.ssh),
                                   labels={LABEL_LAB: spec.name})
            parallel(spec.nodes(), lambda ns: _create_node(client, spec, ns,
                                                            images[spec.suite_of(ns.role)][ROLES[ns.role].image].tag))
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
        cap_add=["SYS_PTRACE"], environment=env, ports=ports,
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
                parallel([lambda: postgres_tls(server.executor, server.certname, pg.executor, pg.certname),
                          lambda: enroll(lab, servers)],
                         lambda f: f())
        elif servers:
            with progress.step(f"{enrolled} enrolled"):
                enroll(lab, servers)
        pdb_started = pool.submit(start_puppetdb, lab, pdb) if pdb else None
        compilers_started = pool.submit(parallel, compilers, lambda n: start_compiler(lab, n)) if compilers else None
        others_enrolled = pool.submit(enroll, lab, others)
        credentials = pool.submit(mcollective.install_credentials, server.executor, server.certname, server.executor,
                                  [a.executor for a in agents]) if broker else None
        with progress.step(f"{' and '.join(filter(None, [f'{len(agents)} agents', broker and 'the broker']))} "
                           "enrolled (`puppet ssl bootstrap`, signed on the CA as they ask)"):
            others_enrolled.result()
        if broker and credentials:
            with progress.step("ActiveMQ broker: keystore and truststore from its Puppet cert, started"):
                mcollective.build_broker_stores(broker.executor, broker.certname)
                mcollective.start_broker(broker.executor, BROKER_READY_TIMEOUT)  # a STOMP CONNECT over TLS answered
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


def enroll(lab: Lab, nodes: list[Node]) -> None:
    """Nodes enrolled as an operator does: each requests with `puppet ssl bootstrap`, and
    their requests, and only theirs, are signed on the CA as they arrive. A lab's first
    enrolment has no TLS fault to wait out, only a slow machine: twice the procedure's bound
    (in the suite, 4 agents with 4096-bit keys beside another lab's start and the unit tests
    missed 83 s by one second: the CA signed them 30 s after they asked)."""
    maxwait = 2 * puppet.maxwait_for(len(nodes))
    puppet.enroll_all(lab.server.executor, lab.server.certname,
                      [(n.certname, lambda n=n: puppet.bootstrap(n.executor, maxwait)) for n in nodes])


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
        return puppet.wait_reports(reports, certnames, since, timeout, log=missing_log)
    except puppet.RunFailed as exc:
        raise RegenLabError(f"{exc}; see {command('lab.logs', exc.certnames[0], name=lab.name)}") from None


def remove(client: docker.DockerClient, name: str) -> dict[str, int]:
    """Remove every container, network and volume labelled with the lab's name."""
    label = {"label": f"{LABEL_LAB}={name}"}
    counts = {"containers": 0, "networks": 0, "volumes": 0}
    for c in client.containers.list(all=True, filters=label):
        try:
            c.remove(force=True, v=True)
            counts["containers"] += 1
        except NotFound:
            pass
    for n in client.networks.list(filters=label):
        try:
            n.remove()
            counts["networks"] += 1
        except (NotFound, APIError):
            time.sleep(1)
            n.remove()
            counts["networks"] += 1
    for v in client.volumes.list(filters=label):
        v.remove(force=True)
        counts["volumes"] += 1
    sshd.forget(name)
    return counts


def down(client: docker.DockerClient, name: str) -> dict[str, int]:
    """``lab.down``: an error if nothing carries the label (safe to repeat: the second
    time it says there is no such lab and removes nothing)."""
    check_name(name)
    with hold(name):
        if name not in lab_names(client):
            raise LabNotFound(f"no lab named {name!r} is up; nothing to remove")
        return remove(client, name)


__all__ = [
    "Lab", "LabSpec", "Node", "NodeSpec", "NodeStatus", "up", "down", "remove", "lab_names", "site_of",
    "wait_ready", "wait_for_reports", "NotReady",
]
