"""Site files: a deployment described in YAML (in the spirit of Bolt's ``inventory.yaml``
and Litmus's ``provision.yaml``): the CA master with its certname and DNS alt names, its
compilers, PuppetDB (its own host, on the master, or none) and its PostgreSQL, MCollective's
broker (or none), the agents (a list, or a pattern such as ``web{01..40}.prod.example``), the
Puppet version of the servers and of the agents, the signing policy, and how each host is
reached on real hosts. A file is validated whole; a mistake names the file, line and field.
Format: ``examples/README.md``."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..core.config import EXAMPLES_DIR, SUITE_OF_PUPPET
from ..core.errors import BadInput
from ..core.yamlfile import Checker, read_yaml

MAX_BYTES = 64 * 1024
MAX_DEPTH = 8
MAX_AGENTS = 200  # what one machine's lab holds (the lab's own bound)
PUPPET_VERSIONS = tuple(SUITE_OF_PUPPET)
NO_MCOLLECTIVE = (8,)  # Debian's Puppet 8 (trixie) ships no MCollective
NO_EC_KEYS = (7,)  # bookworm's puppet-agent 7.23 cannot make an EC key: NO_EC_ERROR
# a DNS name (lower case); a lab node's hostname is at most 63 characters
DNS_NAME_RE = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
RANGE_RE = re.compile(r"\{(\d+)\.\.(\d+)\}")
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


KEY_TYPES = ("rsa", "ec")
RSA_KEYLENGTHS = (2048, 3072, 4096, 8192)
# what bookworm's puppet-agent 7.23 says when `puppet ssl bootstrap` makes an EC key (Debian's OpenSSL 3)
NO_EC_ERROR = "Error: pkeys are immutable on OpenSSL 3.0"


def check_keylength(bits: int) -> None:
    """An RSA key size Puppet's ``keylength`` may take here; ValueError otherwise."""
    if bits not in RSA_KEYLENGTHS:
        raise ValueError(f"RSA keys of {', '.join(map(str, RSA_KEYLENGTHS))} bits, not {bits}")


@dataclass(frozen=True)
class AgentKeys:
    """The agents' private keys, as Puppet's own settings ``key_type`` and ``keylength`` say
    (written into each agent's puppet.conf); empty: Puppet's defaults (RSA 4096)."""

    key_type: str = ""  # "", "rsa" or "ec" (EC: Puppet's `named_curve`, prime256v1)
    keylength: int = 0  # RSA only; 0: Puppet's default

    def __post_init__(self) -> None:
        if self.key_type not in ("", *KEY_TYPES):
            raise ValueError(f"key_type must be one of {', '.join(KEY_TYPES)}, not {self.key_type!r}")
        if self.keylength and self.key_type == "ec":
            raise ValueError("an EC key's size is its curve (Puppet's `named_curve`): no keylength with it")
        if self.keylength:
            check_keylength(self.keylength)

    @classmethod
    def parse(cls, text: str) -> AgentKeys:
        """``rsa:2048``, ``rsa``, ``ec``, or ``""``/``default`` (Puppet's defaults)."""
        text = text.strip().lower()
        if text in ("", "default"):
            return cls()
        kind, _, length = text.partition(":")
        if length and not length.isdigit():
            raise ValueError(f"{text!r}: give rsa:BITS (e.g. rsa:2048), rsa, ec or default")
        return cls(kind, int(length) if length else 0)

    def settings(self) -> dict[str, str]:
        """The puppet.conf [main] settings these keys take."""
        out = {"key_type": self.key_type} if self.key_type else {}
        return {**out, **({"keylength": str(self.keylength)} if self.keylength else {})}

    def __str__(self) -> str:
        if not self.key_type and not self.keylength:
            return "default"
        return f"{self.key_type or 'rsa'}" + (f":{self.keylength}" if self.keylength else "")


@dataclass(frozen=True)
class SiteSpec:
    name: str
    path: Path
    master: Server
    agents: tuple[str, ...]
    puppet: int = 7  # the servers' (master, compilers, PuppetDB)
    agent_puppet: int = 7
    compilers: tuple[Server, ...] = ()
    puppetdb: str = ""  # its host's certname; "" none; the master's certname: on the master
    postgres: str = ""  # PostgreSQL's host ("" with no PuppetDB)
    broker: str = ""  # MCollective's broker; "" no MCollective
    autosign: bool = False
    reach: dict[str, Reach] = field(default_factory=dict)
    agent_keys: AgentKeys = AgentKeys()
    keylength: int = 0  # every Puppet host's RSA keys (the CA's too; agents': unless agent_keys); 0: Puppet's 4096

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
        keys = "" if str(self.agent_keys) == "default" else f" ({self.agent_keys} keys)"
        parts.append(f"{len(self.agents)} agents{keys}")
        versions = f"Puppet {self.puppet}" + (f", agents Puppet {self.agent_puppet}"
                                             if self.agent_puppet != self.puppet else "")
        keys = f"; RSA {self.keylength}-bit keys" if self.keylength else ""
        return f"{'; '.join(parts)}; {versions}; signing {'autosign' if self.autosign else 'manual'}{keys}"


def expand(pattern: str) -> list[str]:
    """``web{01..03}.example`` -> web01.example, web02.example, web03.example (as a shell's
    brace ranges: the width of the first bound pads every number; several ranges multiply)."""
    ranges = RANGE_RE.findall(pattern)
    if not ranges:
        return [pattern]
    pieces = RANGE_RE.split(pattern)[::3]
    numbers = []
    for first, last in ranges:
        lo, hi = int(first), int(last)
        if hi < lo:
            raise ValueError(f"the range {{{first}..{last}}} counts down")
        if (hi - lo + 1) > MAX_AGENTS:
            raise ValueError(f"the range {{{first}..{last}}} gives more than {MAX_AGENTS} names")
        width = len(first) if first.startswith("0") else 0
        numbers.append([str(n).zfill(width) for n in range(lo, hi + 1)])
    out = []
    for combo in itertools.product(*numbers):
        out.append("".join(p + n for p, n in itertools.zip_longest(pieces, combo, fillvalue="")))
        if len(out) > MAX_AGENTS:
            raise ValueError(f"the pattern gives more than {MAX_AGENTS} names")
    return out


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

    agent_puppet = puppet
    agent_keys = AgentKeys()
    node = top["agents"]
    if isinstance(node, yaml.SequenceNode):
        listed = node
        pattern_node = None
    else:
        fields = check.mapping(node, "agents", {"names": False, "pattern": False, "puppet": False,
                                                "key_type": False, "keylength": False})
        if ("names" in fields) == ("pattern" in fields):
            raise check.fail(node, "agents", "give `names` (a list of certnames) or a `pattern` such as "
                             "web{01..40}.example")
        listed, pattern_node = fields.get("names"), fields.get("pattern")
        if "puppet" in fields:
            agent_puppet = site.version(fields["puppet"], "agents.puppet")
        agent_keys = _agent_keys(check, fields)
    agents: list[str] = []
    if listed is not None:
        if not isinstance(listed, yaml.SequenceNode) or not listed.value:
            raise check.fail(listed, "agents", "must list at least one agent's certname")
        agents = [site.certname(n, f"agents[{i}]") for i, n in enumerate(listed.value)]
    else:
        assert pattern_node is not None
        pattern = check.scalar(pattern_node, "agents.pattern", str)
        try:
            expanded = expand(pattern)
        except ValueError as exc:
            raise check.fail(pattern_node, "agents.pattern", str(exc)) from None
        for agent in expanded:
            if not DNS_NAME_RE.fullmatch(agent) or len(agent) > 63:
                raise check.fail(pattern_node, "agents.pattern", f"gives {agent!r}, not a DNS name of at most 63 "
                                 "characters")
            if agent in site.seen:
                raise check.fail(pattern_node, "agents.pattern", f"gives {agent!r}, already {site.seen[agent]}")
            site.seen[agent] = "agents.pattern"
        agents = expanded
    if len(agents) > MAX_AGENTS:
        raise check.fail(node, "agents", f"{len(agents)} agents: at most {MAX_AGENTS}")

    if agent_keys.key_type == "ec" and agent_puppet in NO_EC_KEYS:
        raise check.fail(node, "agents.key_type", f"Puppet {agent_puppet}'s agents cannot make an EC key on Debian's "
                         f"OpenSSL 3 (`puppet ssl bootstrap`: \"{NO_EC_ERROR}\")")
    if broker and (puppet in NO_MCOLLECTIVE or agent_puppet in NO_MCOLLECTIVE):
        raise check.fail(top["mcollective"], "mcollective", "Debian's Puppet 8 ships no MCollective: "
                         "`mcollective: none` on a Puppet 8 site")

    autosign = False
    if "signing" in top:
        signing = check.scalar(top["signing"], "signing", str)
        if signing not in SIGNING:
            raise check.fail(top["signing"], "signing", f"must be one of {', '.join(SIGNING)}, not {signing!r}")
        autosign = signing == "autosign"

    spec = SiteSpec(name, path, master, tuple(agents), puppet, agent_puppet, tuple(compilers), puppetdb, postgres,
                    broker, autosign, agent_keys=agent_keys, keylength=_keylength(check, top))
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
        spec = SiteSpec(**{**spec.__dict__, "reach": reach})
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


def _agent_keys(check: Checker, fields: dict) -> AgentKeys:
    key_type = check.scalar(fields["key_type"], "agents.key_type", str) if "key_type" in fields else ""
    keylength = check.scalar(fields["keylength"], "agents.keylength", int) if "keylength" in fields else 0
    if key_type not in ("", *KEY_TYPES):
        raise check.fail(fields["key_type"], "agents.key_type", f"must be one of {', '.join(KEY_TYPES)}, "
                         f"not {key_type!r}")
    try:
        return AgentKeys(key_type, keylength)
    except ValueError as exc:
        raise check.fail(fields["keylength"], "agents.keylength", str(exc)) from None


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
