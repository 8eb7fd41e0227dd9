"""What a lab is made of, before it exists: a LabSpec (its nodes with their roles, names and
aliases, its suite, its keys, a site file's shape) and each node's boot settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..core.config import DEFAULT_SUITE, SUITE_OF_PUPPET
from ..core.errors import BadInput
from ..procedure.roles import ROLES
from ..sites.agents import NO_EC_ERROR, AgentKeys, check_keylength
from ..sites.format import SiteSpec
from .images import MCOLLECTIVE_SUITES, check_suite

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")  # fullmatch: `$` would let a final newline in
MAX_AGENTS = 200
SERVER_ALT_NAMES = ("puppet", "server")


@dataclass(frozen=True)
class NodeSpec:
    """A node to create: its name in the lab (also hostname and certname) and role; ``suite``
    where it is not its role's in the lab (an agent of a site's other group: a mixed fleet)."""

    name: str
    role: str
    aliases: tuple[str, ...] = ()
    suite: str = ""


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
    agent_keys: AgentKeys = AgentKeys()  # a lab without a site's: the agents' key_type/keylength (Puppet's, RSA 4096)
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
        first = site.agent_groups[0]  # the agents' suite; a node of another group says its own (nodes)
        return cls.parse(name or site.name, len(site.agents), suite=SUITE_OF_PUPPET[site.puppet],
                         agent_suite=SUITE_OF_PUPPET[first.puppet], publish=publish, ssh=ssh).with_site(site)

    def with_site(self, site: SiteSpec) -> LabSpec:
        """The lab in a site file's shape; its agents' keys are their groups' (``env_of``)."""
        return replace(self, site=site, keylength=site.keylength)

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

    def suite_of_node(self, ns: NodeSpec) -> str:
        return ns.suite or self.suite_of(ns.role)

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
            keys = self.site.group_of(ns.name).keys if self.site else self.agent_keys
            env.update({f"REGENLAB_{k.upper()}": v for k, v in keys.settings().items()})
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
                *(NodeSpec(a, "agent", suite=SUITE_OF_PUPPET[g.puppet]) for g in site.agent_groups for a in g.names),
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
