"""A Site: the hosts the procedure works on, each reached through an Executor.

The procedure knows hosts by their role (the CA master, the PuppetDB host and its
PostgreSQL if the site has PuppetDB, the MCollective broker if it has one, compilers,
agents), never by how they are reached. The MCollective admin (where ``mco`` runs) is the CA
master. A Lab gives a Site of ``docker exec`` executors (``lab.site_of``); a site file's real
hosts one of SSH executors (``ssh/site.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

from ..core.errors import NodeNotFound
from ..core.executor import Executor
from ..ops import puppet, puppet_ca, puppet_reports
from .roles import ORDER, cert_paths


class KnownLayout:
    """A host's Layout once read (or given back from a run's state): held by the run's
    ``Host``, and shared by the copies of it (a ``through`` that wraps its executor)."""

    def __init__(self) -> None:
        self.value: puppet.Layout | None = None


@dataclass(frozen=True)
class Host:
    name: str
    certname: str
    executor: Executor
    known: KnownLayout = field(default_factory=KnownLayout, compare=False, repr=False)

    @property
    def layout(self) -> puppet.Layout:
        """Where Puppet keeps its files here, read on the host the first time it is asked."""
        if self.known.value is None:
            self.known.value = puppet.read_layout(self.executor)
        return self.known.value

    def remember(self, layout: puppet.Layout) -> None:
        """A Layout read before (kept in a run's state): the host is not asked again."""
        self.known.value = layout

    @property
    def cert(self) -> str:
        return self.layout.hostcert(self.certname)

    @property
    def key(self) -> str:
        return self.layout.hostkey(self.certname)


@dataclass(frozen=True)
class Site:
    """A site's name and its hosts, each with its role (``roles.ROLES``), listed in the roles'
    order (the master first) and looked up by role: a new role adds no field here. A host that
    plays two roles is listed with each."""

    name: str
    hosts: tuple[tuple[Host, str], ...]  # (host, role name)
    description: str = ""  # the site file it was made from and its topology ("": the default lab)

    def __post_init__(self) -> None:
        unknown = sorted({r for _, r in self.hosts} - set(ORDER))
        if unknown:
            raise ValueError(f"unknown roles: {', '.join(unknown)}")
        if len(self.by_role("server")) != 1:
            raise ValueError(f"a site has one CA master, not {len(self.by_role('server'))}")
        ordered = tuple(sorted(self.hosts, key=lambda hr: ORDER.index(hr[1])))  # stable within a role
        object.__setattr__(self, "hosts", ordered)

    @classmethod
    def of(cls, name: str, ca: Host, puppetdb: Host | None, postgres: Host | None, agents: tuple[Host, ...],
           broker: Host | None = None, description: str = "", compilers: tuple[Host, ...] = ()) -> Site:
        """A site from its parts as the procedure names them (``None``: the site has none)."""
        hosts = [(ca, "server"), *((c, "compiler") for c in compilers),
                 *((h, r) for h, r in ((puppetdb, "puppetdb"), (postgres, "postgres"), (broker, "broker"))
                   if h is not None),
                 *((a, "agent") for a in agents)]
        return cls(name, tuple(hosts), description)

    def by_role(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h, r in self.hosts if r == role)

    def one(self, role: str) -> Host | None:
        found = self.by_role(role)
        return found[0] if found else None

    @property
    def ca(self) -> Host:
        """The CA master."""
        return self.by_role("server")[0]

    @property
    def puppetdb(self) -> Host | None:  # None: the site has no PuppetDB (nor its PostgreSQL)
        return self.one("puppetdb")

    @property
    def postgres(self) -> Host | None:
        return self.one("postgres")

    @property
    def broker(self) -> Host | None:  # ActiveMQ for MCollective; None: the site has no MCollective
        return self.one("broker")

    @property
    def compilers(self) -> tuple[Host, ...]:  # Puppet Servers without the CA (theirs is the master's)
        return self.by_role("compiler")

    @property
    def agents(self) -> tuple[Host, ...]:
        return self.by_role("agent")

    @property
    def authority(self) -> puppet_ca.CA:
        """The CA on the master, as the CA's commands and API reach it."""
        return puppet_ca.CA(self.ca.executor, self.ca.certname, self.ca.layout)

    @property
    def admin(self) -> Host:
        """Where the MCollective admin runs ``mco`` (the master, in the lab)."""
        return self.ca

    def agent(self, name: str) -> Host:
        for a in self.agents:
            if a.name == name:
                return a
        raise NodeNotFound(f"{self.name} has no agent {name!r}; its agents: {', '.join(a.name for a in self.agents)}")

    @cached_property
    def reports(self) -> puppet_reports.Reports:
        """Where the agents' reports are: PuppetDB, or the servers' own store without it (each
        server's folder read once for this site)."""
        if self.puppetdb is not None:
            return puppet_reports.Reports(self.puppetdb.executor)
        return puppet_reports.Reports(servers=tuple((h.executor, h.layout, h.certname)
                                                    for h in (self.ca, *self.compilers)))

    def cert_paths(self, host: Host) -> tuple[str, str]:
        """Where a host keeps its own certificate and the CA bundle it trusts."""
        if host is self.postgres:
            return cert_paths("postgres", host.certname, None)
        return cert_paths("agent", host.certname, host.layout)

    def roles(self) -> list[tuple[Host, str]]:
        """Every host with its role (roles.ROLES), the master first."""
        return list(self.hosts)

    @property
    def all_hosts(self) -> tuple[Host, ...]:
        return tuple(h for h, _ in self.hosts)

    def through(self, wrap: Callable[[Executor], Executor]) -> Site:
        """The same site, each host's executor wrapped (a transcript's ``Recording``); a host
        that plays two parts stays one host."""
        made: dict[int, Host] = {}

        def host(h: Host) -> Host:
            if id(h) not in made:
                made[id(h)] = replace(h, executor=wrap(h.executor))
            return made[id(h)]

        return replace(self, hosts=tuple((host(h), r) for h, r in self.hosts))
