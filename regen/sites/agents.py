"""A site file's agents: their certnames (a list, or a pattern such as ``web{01..40}.prod.example``),
in one group or several, each group with its own Puppet version and keys (a fleet half upgraded:
Puppet 8 servers with agents of 8 and of 7), validated as the rest of the file is."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import yaml

MAX_AGENTS = 200  # what one machine's lab holds (the lab's own bound)
NO_EC_KEYS = (7,)  # bookworm's puppet-agent 7.23 cannot make an EC key: NO_EC_ERROR
# what bookworm's puppet-agent 7.23 says when `puppet ssl bootstrap` makes an EC key (Debian's OpenSSL 3)
NO_EC_ERROR = "Error: pkeys are immutable on OpenSSL 3.0"
# a DNS name (lower case); a lab node's hostname is at most 63 characters
DNS_NAME_RE = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
RANGE_RE = re.compile(r"\{(\d+)\.\.(\d+)\}")
KEY_TYPES = ("rsa", "ec")
RSA_KEYLENGTHS = (2048, 3072, 4096, 8192)
GROUP_FIELDS = {"names": False, "pattern": False, "puppet": False, "key_type": False, "keylength": False}


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
class AgentGroup:
    """Agents alike: their certnames, their Puppet version and their keys."""

    names: tuple[str, ...]
    puppet: int = 7
    keys: AgentKeys = AgentKeys()

    def describe(self) -> str:
        keys = "" if str(self.keys) == "default" else f", {self.keys} keys"
        return f"{len(self.names)} Puppet {self.puppet}{keys}"


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


def read(site, node: yaml.Node, puppet: int) -> tuple[AgentGroup, ...]:
    """The file's ``agents``: a list of certnames, one group's mapping, or a list of groups
    (mappings); ``puppet`` is the servers' version, each group's unless it sets its own.
    ``site`` is the file's reading (format._Site: its checker, certnames and versions)."""
    if isinstance(node, yaml.SequenceNode) and node.value and isinstance(node.value[0], yaml.MappingNode):
        groups = tuple(_group(site, item, f"agents[{i}]", puppet) for i, item in enumerate(node.value))
    else:
        groups = (_group(site, node, "agents", puppet),)
    total = sum(len(g.names) for g in groups)
    if total > MAX_AGENTS:
        raise site.check.fail(node, "agents", f"{total} agents: at most {MAX_AGENTS}")
    return groups


def _group(site, node: yaml.Node, where: str, puppet: int) -> AgentGroup:
    check = site.check
    keys = AgentKeys()
    if isinstance(node, yaml.SequenceNode):
        listed, pattern_node, names_at = node, None, where
    else:
        fields = check.mapping(node, where, GROUP_FIELDS)
        if ("names" in fields) == ("pattern" in fields):
            raise check.fail(node, where, "give `names` (a list of certnames) or a `pattern` such as "
                             "web{01..40}.example")
        listed, pattern_node, names_at = fields.get("names"), fields.get("pattern"), f"{where}.names"
        if "puppet" in fields:
            puppet = site.version(fields["puppet"], f"{where}.puppet")
        keys = _keys(check, fields, where)
        if keys.key_type == "ec" and puppet in NO_EC_KEYS:
            raise check.fail(node, f"{where}.key_type", f"Puppet {puppet}'s agents cannot make an EC "
                             f"key on Debian's OpenSSL 3 (`puppet ssl bootstrap`: \"{NO_EC_ERROR}\")")
    if listed is not None:
        if not isinstance(listed, yaml.SequenceNode) or not listed.value:
            raise check.fail(listed, where, "must list at least one agent's certname")
        at = "agents" if where == "agents" else names_at  # a bare list's names are agents[i], as they were
        return AgentGroup(tuple(site.certname(n, f"{at}[{i}]") for i, n in enumerate(listed.value)), puppet, keys)
    assert pattern_node is not None
    return AgentGroup(tuple(_pattern(site, pattern_node, f"{where}.pattern")), puppet, keys)


def _pattern(site, node: yaml.Node, where: str) -> list[str]:
    check = site.check
    try:
        expanded = expand(check.scalar(node, where, str))
    except ValueError as exc:
        raise check.fail(node, where, str(exc)) from None
    for agent in expanded:
        if not DNS_NAME_RE.fullmatch(agent) or len(agent) > 63:
            raise check.fail(node, where, f"gives {agent!r}, not a DNS name of at most 63 characters")
        if agent in site.seen:
            raise check.fail(node, where, f"gives {agent!r}, already {site.seen[agent]}")
        site.seen[agent] = where
    return expanded


def _keys(check, fields: dict, where: str) -> AgentKeys:
    key_type = check.scalar(fields["key_type"], f"{where}.key_type", str) if "key_type" in fields else ""
    keylength = check.scalar(fields["keylength"], f"{where}.keylength", int) if "keylength" in fields else 0
    if key_type not in ("", *KEY_TYPES):
        raise check.fail(fields["key_type"], f"{where}.key_type", f"must be one of {', '.join(KEY_TYPES)}, "
                         f"not {key_type!r}")
    try:
        return AgentKeys(key_type, keylength)
    except ValueError as exc:
        raise check.fail(fields["keylength"], f"{where}.keylength", str(exc)) from None
