"""Site files: a deployment described in YAML (in the spirit of Bolt's ``inventory.yaml``
and Litmus's ``provision.yaml``): the CA master with its certname and DNS alt names, its
compilers, PuppetDB (its own host, on the master, or none) and its PostgreSQL, MCollective's
broker (or none), the agents (``agents.py``: certnames or a pattern, in one group or several,
each with its Puppet version and keys), the servers' Puppet version, the signing policy, and
how each host is reached on real hosts. A file is validated whole; a mistake names the file, line and field.
Format: ``examples/README.md``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..core.config import EXAMPLES_DIR, SUITE_OF_PUPPET
from ..core.errors import BadInput
from ..core.yamlfile import Checker, read_yaml
from .agents import DNS_NAME_RE, MAX_AGENTS, NO_EC_ERROR, AgentGroup, AgentKeys, check_keylength, expand
from .agents import read as read_agents

__all__ = ["MAX_AGENTS", "NO_EC_ERROR", "AgentGroup", "AgentKeys", "Reach", "Server", "SiteSpec", "check_keylength",
           "expand", "find", "load"]

MAX_BYTES = 64 * 1024
MAX_DEPTH = 8
PUPPET_VERSIONS = tuple(SUITE_OF_PUPPET)
NO_MCOLLECTIVE = (8,)  # Debian's Puppet 8 (trixie) ships no MCollective
SIGNING = ("manual", "autosign")


@dataclass(frozen=True)
class Reach:
    """How a real host is reached (SSH); unused by the lab."""

    address: str
    user: str = "root"
    port: int = 22
    sudo: bool = False


@dataclass(frozen=True)
class Server:
    """A Puppet Server: the CA master or a compiler."""

    certname: str
    dns_alt_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteSpec:
    name: str
    path: Path
    master: Server
    agent_groups: tuple[AgentGroup, ...]  # each with its certnames, Puppet version and keys
    puppet: int = 7  # the servers' (master, compilers, PuppetDB)
    compilers: tuple[Server, ...] = ()
    puppetdb: str = ""  # its host's certname; "" none; the master's certname: on the master
    postgres: str = ""  # PostgreSQL's host ("" with no PuppetDB)
    broker: str = ""  # MCollective's broker; "" no MCollective
    autosign: bool = False
    reach: dict[str, Reach] = field(default_factory=dict)
    keylength: int = 0  # every Puppet host's RSA keys (the CA's too; agents': unless their keys); 0: Puppet's 4096

    @property
    def agents(self) -> tuple[str, ...]:
        """Every agent's certname, group after group."""
        return tuple(a for g in self.agent_groups for a in g.names)

    def group_of(self, agent: str) -> AgentGroup:
        return next(g for g in self.agent_groups if agent in g.names)

    @property
    def agent_versions(self) -> tuple[int, ...]:
        """The agents' Puppet versions, each once (two: a mixed fleet)."""
        return tuple(dict.fromkeys(g.puppet for g in self.agent_groups))

    @property
    def puppetdb_on_master(self) -> bool:
        return self.puppetdb == self.master.certname

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host's certname, each once, the master first."""
        names = [self.master.certname, *(c.certname for c in self.compilers), self.puppetdb, self.postgres,
                 self.broker, *self.agents]
        return tuple(dict.fromkeys(n for n in names if n))

    def roles(self) -> dict[str, str]:
        """Every host's certname with its role (as ``procedure/roles.py`` names them)."""
        out = {self.master.certname: "server", **{c.certname: "compiler" for c in self.compilers}}
        out.update({n: r for n, r in ((self.puppetdb, "puppetdb"), (self.postgres, "postgres"),
                                      (self.broker, "broker")) if n and n not in out})
        return {**out, **{a: "agent" for a in self.agents}}

    def topology(self) -> str:
        """One line: what the site is made of."""
        parts = [f"master {self.master.certname} (alt names {', '.join(self.master.dns_alt_names) or 'none'})"]
        if self.compilers:
            parts.append(f"{len(self.compilers)} compilers")
        parts.append("PuppetDB on the master" if self.puppetdb_on_master else
                     f"PuppetDB {self.puppetdb} with PostgreSQL {self.postgres}" if self.puppetdb else "no PuppetDB")
        parts.append(f"MCollective broker {self.broker}" if self.broker else "no MCollective")
        versions = f"Puppet {self.puppet}"
        if len(self.agent_groups) > 1:
            parts.append(f"{len(self.agents)} agents ({'; '.join(g.describe() for g in self.agent_groups)})")
        else:
            group = self.agent_groups[0]
            keys = "" if str(group.keys) == "default" else f" ({group.keys} keys)"
            parts.append(f"{len(self.agents)} agents{keys}")
            versions += f", agents Puppet {group.puppet}" if group.puppet != self.puppet else ""
        keys = f"; RSA {self.keylength}-bit keys" if self.keylength else ""
        return f"{'; '.join(parts)}; {versions}; signing {'autosign' if self.autosign else 'manual'}{keys}"


class _Site:
    """The reading of one file (its checker and the certnames seen, for unique names)."""

    def __init__(self, path: Path) -> None:
        self.check = Checker(path, "site")
        self.seen: dict[str, str] = {}  # certname -> where it was given

    def dns(self, node: yaml.Node, where: str, host: bool = True) -> str:
        name = self.check.scalar(node, where, str)
        if not DNS_NAME_RE.fullmatch(name):
            raise self.check.fail(node, where, f"{name!r} is not a DNS name (lower-case labels of letters, digits "
                                  "and '-', separated by dots)")
        if host and len(name) > 63:
            raise self.check.fail(node, where, f"{name!r} is longer than 63 characters: a lab node's hostname "
                                  "cannot be")
        return name

    def certname(self, node: yaml.Node, where: str, shared: bool = False) -> str:
        """A host's certname, unique in the site (``shared``: may name a host given before)."""
        name = self.dns(node, where)
        if name in self.seen and not shared:
            raise self.check.fail(node, where, f"{name!r} is already {self.seen[name]}")
        self.seen.setdefault(name, where)
        return name

    def version(self, node: yaml.Node, where: str) -> int:
        value = self.check.scalar(node, where, int)
        if value not in PUPPET_VERSIONS:
            raise self.check.fail(node, where, f"Puppet {value} is not available (available: "
                                  f"{', '.join(map(str, PUPPET_VERSIONS))})")
        return value

    def names(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        return tuple(self.dns(n, f"{where}[{i}]", host=False) if isinstance(n, yaml.ScalarNode) else
                     self.check.scalar(n, f"{where}[{i}]", str)
                     for i, n in enumerate(node.value if isinstance(node, yaml.SequenceNode) else [node]))

    def server(self, node: yaml.Node, where: str, extra: dict[str, bool] | None = None) -> tuple[Server, dict]:
        fields = self.check.mapping(node, where, {"certname": True, "dns_alt_names": False, **(extra or {})})
        certname = self.certname(fields["certname"], f"{where}.certname")
        alt = self.names(fields["dns_alt_names"], f"{where}.dns_alt_names") if "dns_alt_names" in fields else ()
        return Server(certname, tuple(a for a in alt if a != certname)), fields

    def none_or(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.value in ("none", "~", "null", "")


def load(path: Path) -> SiteSpec:
    """Read and validate one site file; raise BadInput naming the file, line and field."""
    site = _Site(path)
    check = site.check
    root = read_yaml(path, MAX_BYTES, MAX_DEPTH, "a site")
    top = check.mapping(root, "", {"name": False, "puppet": False, "master": True, "compilers": False,
                                   "puppetdb": False, "mcollective": False, "agents": True, "signing": False,
                                   "connect": False, "keylength": False})
    name = site.dns(top["name"], "name") if "name" in top else path.stem
    if "name" in top and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", name):
        raise check.fail(top["name"], "name", f"{name!r} is not a lab name (1-40 lower-case letters, digits, '-')")
    puppet = site.version(top["puppet"], "puppet") if "puppet" in top else 7
    master, _ = site.server(top["master"], "master")

    compilers: list[Server] = []
    if "compilers" in top:
        node = top["compilers"]
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise check.fail(node, "compilers", "must be a list of compilers ({certname, dns_alt_names, ca_server})")
        for i, item in enumerate(node.value):
            server, fields = site.server(item, f"compilers[{i}]", {"ca_server": False})
            if "ca_server" in fields:
                ca = check.scalar(fields["ca_server"], f"compilers[{i}].ca_server", str)
                if ca != master.certname:
                    raise check.fail(fields["ca_server"], f"compilers[{i}].ca_server",
                                     f"must be the master's certname {master.certname!r}: the CA is on the master")
            compilers.append(server)

    puppetdb = postgres = ""
    if "puppetdb" not in top:
        raise check.fail(root, "site", "missing field 'puppetdb' (a mapping, or `none` for a site without one)")
    if not site.none_or(top["puppetdb"]):
        fields = check.mapping(top["puppetdb"], "puppetdb", {"certname": False, "on_master": False,
                                                              "postgres": False})
        on_master = check.scalar(fields["on_master"], "puppetdb.on_master", bool) if "on_master" in fields else False
        if on_master == ("certname" in fields):
            raise check.fail(top["puppetdb"], "puppetdb", "give its host's `certname`, or `on_master: true`")
        puppetdb = master.certname if on_master else site.certname(fields["certname"], "puppetdb.certname")
        if "postgres" not in fields:
            raise check.fail(top["puppetdb"], "puppetdb", "missing field 'postgres' (its PostgreSQL host's certname)")
        postgres = site.certname(fields["postgres"], "puppetdb.postgres")

    broker = ""
    if "mcollective" in top and not site.none_or(top["mcollective"]):
        fields = check.mapping(top["mcollective"], "mcollective", {"broker": True})
        broker = site.certname(fields["broker"], "mcollective.broker")

    groups = read_agents(site, top["agents"], puppet)
    if broker and any(v in NO_MCOLLECTIVE for v in (puppet, *(g.puppet for g in groups))):
        raise check.fail(top["mcollective"], "mcollective", "Debian's Puppet 8 ships no MCollective: "
                         "`mcollective: none` on a Puppet 8 site")

    autosign = False
    if "signing" in top:
        signing = check.scalar(top["signing"], "signing", str)
        if signing not in SIGNING:
            raise check.fail(top["signing"], "signing", f"must be one of {', '.join(SIGNING)}, not {signing!r}")
        autosign = signing == "autosign"

    spec = SiteSpec(name, path, master, groups, puppet, tuple(compilers), puppetdb, postgres, broker, autosign,
                    keylength=_keylength(check, top))
    if "connect" in top:
        reach = {}
        hosts = set(spec.hosts)
        fields = check.mapping(top["connect"], "connect", {h: False for h in spec.hosts})
        for host, value in fields.items():
            w = f"connect.{host}"
            f = check.mapping(value, w, {"address": True, "user": False, "port": False, "sudo": False})
            port = check.scalar(f["port"], f"{w}.port", int) if "port" in f else 22
            if not 1 <= port <= 65535:
                raise check.fail(f["port"], f"{w}.port", f"must be a TCP port (1-65535), not {port}")
            reach[host] = Reach(check.scalar(f["address"], f"{w}.address", str),
                                check.scalar(f["user"], f"{w}.user", str) if "user" in f else "root", port,
                                check.scalar(f["sudo"], f"{w}.sudo", bool) if "sudo" in f else False)
        assert set(reach) <= hosts
        spec = replace(spec, reach=reach)
    return spec



def _keylength(check: Checker, top: dict) -> int:
    if "keylength" not in top:
        return 0
    value = check.scalar(top["keylength"], "keylength", int)
    try:
        check_keylength(value)
    except ValueError as exc:
        raise check.fail(top["keylength"], "keylength", str(exc)) from None
    return value


def find(value: str, base: Path | None = None) -> SiteSpec:
    """A site file by its path (a user's own file; relative to ``base`` if given), or by the
    name of one of ``examples/``."""
    path = Path(value)
    if not path.suffix and "/" not in value:
        path = EXAMPLES_DIR / f"{value}.yaml"
    elif base is not None and not path.is_absolute():
        path = base / path
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(EXAMPLES_DIR.glob("*.yaml"))) or "none"
        raise BadInput(f"--site {value!r}: no such file (or example: {known})")
    return load(path)
