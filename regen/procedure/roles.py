"""A node role, one type: the image it runs, its main Debian package, its services, where it
keeps its certificate, key and the CA bundle it trusts, the names it also answers to, the
port a lab may publish. The lab builds nodes from it; the procedure and the proof read a
host's files from it. Adding a role: one entry here and its image folder (then the steps
that touch it)."""

from __future__ import annotations

from dataclasses import dataclass

from ..ops import puppet
from ..ops.postgres import PG_SSL


@dataclass(frozen=True)
class Role:
    name: str
    image: str  # its folder under images/
    package: str  # the Debian package whose version `lab.status` shows
    services: tuple[str, ...]  # as `puppet resource service NAME` knows them, in start order
    aliases: tuple[str, ...] = ()  # other names it answers to on the lab network
    port: int | None = None  # what `lab.up --publish` publishes on 127.0.0.1
    puppet_host: bool = True  # enrolled with the CA as a Puppet host (its files in the ssldir)
    # the lab's CPU shares (Docker's default 1024). On a real site each server has its cores;
    # in a lab every node shares the machine's, and agents' Ruby work (keys, facter, runs)
    # slowed the servers' JVM starts that the downtime waits on (docs/profile.md)
    cpu_shares: int = 1024

    # a Puppet host's files where its Layout says; PostgreSQL's have fixed names (ops/postgres.py)
    def cert(self, certname: str, where: puppet.Layout | None) -> str:
        return where.hostcert(certname) if self.puppet_host and where else f"{PG_SSL}/postgres.crt"

    def key(self, certname: str, where: puppet.Layout | None) -> str:
        return where.hostkey(certname) if self.puppet_host and where else f"{PG_SSL}/postgres.key"

    def bundle(self, where: puppet.Layout | None) -> str:
        return where.localcacert if self.puppet_host and where else f"{PG_SSL}/ca.pem"


ROLES: dict[str, Role] = {r.name: r for r in (
    Role("server", "server", "puppetserver", ("puppetserver", "puppet"), aliases=("puppet",), port=8140),
    # a Puppet Server without the CA (the master's), behind a shared name such as `puppet`
    Role("compiler", "server", "puppetserver", ("puppetserver", "puppet")),
    Role("puppetdb", "puppetdb", "puppetdb", ("puppetdb", "puppet"), port=8081),
    Role("postgres", "postgres", "postgresql", ("postgresql",), puppet_host=False),
    Role("broker", "broker", "activemq", ("activemq",)),
    Role("agent", "agent", "puppet-agent", ("puppet", "mcollective"), cpu_shares=256),
)}
ORDER = tuple(ROLES)  # how nodes are listed


def cert_paths(role: str, certname: str, where: puppet.Layout | None) -> tuple[str, str]:
    """Where a host of this role (with this Layout) keeps its own certificate and the CA
    bundle it trusts."""
    r = ROLES[role]
    return r.cert(certname, where), r.bundle(where)
