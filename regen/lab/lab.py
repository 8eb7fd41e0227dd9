"""A Lab: a named set of Nodes (containers) on its own Docker network, all labelled
``regenlab.lab=<name>``, running a real Puppet deployment from Debian's packages. A lab that
exists is opened by its name (``Lab.open``), read (its nodes, their state, status and logs),
turned into a ``Site`` for the procedure, and removed (``remove``, ``down``). Bringing one up
is ``provision.up``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from ..core.commands import command
from ..core.config import LABEL_LAB, LABEL_NODE, LABEL_ROLE, LABEL_SITE, state_dir
from ..core.errors import BadInput, CommandFailed, LabNotFound, NodeNotFound
from ..core.executor import Executor
from ..core.lock import hold
from ..core.progress import Progress
from ..core.wait import parallel, wait_until
from ..ops import mcollective, pki, puppet, puppet_reports
from ..procedure.roles import ORDER as ROLE_ORDER
from ..procedure.roles import ROLES, cert_paths
from ..procedure.site import Host, Site
from . import sshd
from .docker import DockerExecutor
from .spec import LabSpec, check_name


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
        from .provision import up  # the one way a lab is made (provision imports this module)

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
    def reports(self) -> puppet_reports.Reports:
        """Where the agents' reports are: PuppetDB, or the servers' own store without it."""
        if self.puppetdb is not None:
            return puppet_reports.Reports(self.puppetdb.executor)
        # the lab's images: Debian's paths
        return puppet_reports.Reports(servers=tuple((n.executor, puppet.DEBIAN, n.certname)
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
    """The Site of a running Lab: each node with its role, reached with ``docker exec``."""

    def host(node: Node) -> Host:
        return Host(node.name, node.certname, node.executor)

    return Site(lab.name, tuple((host(n), n.role) for n in lab.nodes), lab.site_description)


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
