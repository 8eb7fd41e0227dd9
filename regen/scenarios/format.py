"""Scenarios: declarative rehearsals (``scenarios/*.yaml``), each a lab topology, a sequence
of actions (Molecule's idea: the lab is created, faults are injected, the procedure runs,
fixes are applied, expectations are checked) and what must be observed, with evidence.

A file is validated whole before anything runs: a mistake is reported with the file, the
line and the field. See ``scenarios/README.md`` for the format."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from ..core.commands import command
from ..core.config import SCENARIOS_DIR
from ..core.errors import BadInput
from ..core.yamlfile import Checker, read_yaml
from ..lab.spec import MAX_AGENTS, LabSpec
from ..procedure import faults, proof
from ..procedure.steps.options import DNS_NAME_RE
from ..sites import format as sites
from .actions import KINDS
from .model import DEFAULT_AGENTS, DEFAULT_PUPPET, PUPPET_VERSIONS, STEP_IDS, Action, Needle, Scenario
from .model import DEFAULT_TOPOLOGY as DEFAULT_TOPOLOGY  # the scenarios test orders by it

NODES = ("server", "puppetdb", "postgres", "broker")
MAX_BYTES = 64 * 1024  # the longest scenario here is under 3 KiB
MAX_DEPTH = 16  # nesting of mappings and lists; a scenario needs 5
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


ACTION_FIELDS: dict[str, dict[str, bool]] = {name: kind.fields for name, kind in KINDS.items()}
RUN_ACTIONS = tuple(n for n, k in KINDS.items() if k.outcome == "run")  # their outcome: steps and proofs
COMMAND_ACTIONS = tuple(n for n, k in KINDS.items() if k.outcome == "command")  # their outcome: an output


def load(path: Path) -> Scenario:
    """Read and validate one scenario file; raise BadInput naming the file, line and field."""
    check = Checker(path, "scenario")
    root = read_yaml(path, MAX_BYTES, MAX_DEPTH, "a scenario")
    top = check.mapping(root, "", {"name": True, "description": True, "lab": False, "sequence": True, "fix": False})
    name = check.scalar(top["name"], "name", str)
    if name != path.stem:
        raise check.fail(top["name"], "name", f"must be the file's name {path.stem!r}, not {name!r}")
    description = check.scalar(top["description"], "description", str).strip()
    if not description:
        raise check.fail(top["description"], "description", "must say what the scenario rehearses")
    agents, versions, site = DEFAULT_AGENTS, {}, None
    if "lab" in top:
        lab = check.mapping(top["lab"], "lab", {"agents": False, "puppet": False, "agent_puppet": False,
                                                "site": False})
        if "site" in lab:
            if len(lab) > 1:
                raise check.fail(top["lab"], "lab", "`site` sets the whole lab: nothing beside it")
            try:
                site = sites.find(check.scalar(lab["site"], "lab.site", str), path.parent)
                LabSpec.of_site(site)  # what the lab cannot build is refused now
            except BadInput as exc:
                raise check.fail(lab["site"], "lab.site", str(exc)) from None
            agents, versions = len(site.agents), {"puppet": site.puppet}
            if len(site.agent_versions) == 1:  # a mixed fleet's versions are its site's groups'
                versions["agent_puppet"] = site.agent_versions[0]
        if "agents" in lab:
            agents = check.scalar(lab["agents"], "lab.agents", int)
            if not 1 <= agents <= MAX_AGENTS:
                raise check.fail(lab["agents"], "lab.agents", f"must be from 1 to {MAX_AGENTS}, not {agents}")
        for key in ("puppet", "agent_puppet"):
            if key in lab:
                value = check.scalar(lab[key], f"lab.{key}", int)
                if value not in PUPPET_VERSIONS:
                    raise check.fail(lab[key], f"lab.{key}", f"Puppet {value} is not available (available: "
                                     f"{', '.join(map(str, PUPPET_VERSIONS))})")
                versions[key] = value
    version = versions.get("puppet", DEFAULT_PUPPET)
    agent_version = versions.get("agent_puppet", version)
    nodes = site.roles() if site else {**{n: n for n in NODES}, **{f"agent-{i}": "agent" for i in range(1, agents + 1)}}
    seq = top["sequence"]
    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise check.fail(seq, "sequence", "must be a non-empty list of actions")
    actions: list[Action] = []
    for i, item in enumerate(seq.value):
        before = next((a.kind for a in reversed(actions) if a.kind in RUN_ACTIONS + COMMAND_ACTIONS), "")
        actions.append(_action(check, item, f"sequence[{i}]", nodes, before))
    if not any(a.kind == "expect" for a in actions):
        raise check.fail(seq, "sequence", "has no `expect`: a scenario must state what must be observed")
    if actions[0].kind == "expect":
        raise check.fail(seq.value[0], "sequence[0]", "an `expect` needs an action before it")
    fix = check.scalar(top["fix"], "fix", str) if "fix" in top else ""
    return Scenario(name, description, path, agents, version, tuple(actions), fix,
                    agent_version if agent_version != version else 0, site)


def _action(check: Checker, node: yaml.Node, where: str, nodes: dict[str, str], before: str = "") -> Action:
    """One action; ``before`` is the kind of the last action with an outcome (what an
    ``expect`` is checked against: a run's steps and proofs, or a command's output)."""
    if isinstance(node, yaml.ScalarNode) and node.value in KINDS and KINDS[node.value].bare:
        return Action(node.value, {}, node.start_mark.line + 1)
    if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
        raise check.fail(node, where, f"must be one of: {', '.join(ACTION_FIELDS)} (a mapping with one key)")
    key_node, body = node.value[0]
    kind = key_node.value
    if kind not in ACTION_FIELDS:
        raise check.fail(key_node, where, f"unknown action {kind!r}; actions: {', '.join(ACTION_FIELDS)}")
    where = f"{where}.{kind}"
    fields = {} if isinstance(body, yaml.ScalarNode) and body.value in ("", "null", "~") else \
        check.mapping(body, where, ACTION_FIELDS[kind])
    args = {key: _field(check, key, value, f"{where}.{key}", nodes, before) for key, value in fields.items()}

    def fail(key: str, message: str) -> None:
        raise check.fail(fields.get(key, body), f"{where}.{key}" if key else where, message)

    KINDS[kind].validate(args, fail)
    return Action(kind, args, key_node.start_mark.line + 1)


def _field(check: Checker, key: str, value: yaml.Node, w: str, nodes: dict[str, str], before: str):
    """One field of an action, read and checked; a field means the same in every action."""

    def node_name(n: yaml.Node, where: str) -> str:
        name = check.scalar(n, where, str)
        if name not in nodes:
            raise check.fail(n, where, f"unknown node {name!r}; this lab's nodes: {', '.join(sorted(nodes))}")
        return name

    if key in ("autosign", "passed", "interrupted", "steps_done_once", "ca_import"):
        return check.scalar(value, w, bool)
    if key == "evidence":
        return _needles(check, value, w, before)
    if key == "proofs_failed":
        names = check.str_list(value, w)
        for item in names:
            if not item.isdigit() and item not in proof.NAMES:
                raise check.fail(value, w, f"unknown proof {item!r}; proofs: a number or one of "
                                 f"{', '.join(sorted(proof.NAMES))}")
        return names
    if key == "version":
        version = check.scalar(value, w, str)
        if not re.fullmatch(r"\d+(\.\d+)*", version) or before not in COMMAND_ACTIONS:
            raise check.fail(value, w, "compares a command's output with a version such as \"8\" or \"7.23\" "
                             "(after a `run` or `agent-run`)")
        return version
    if key == "agents":
        agents = [node_name(v, w) for v in value.value] if isinstance(value, yaml.SequenceNode) else \
            [node_name(value, w)]
        if not all(nodes[a] == "agent" for a in agents):
            raise check.fail(value, w, "lists agents only")
        return agents
    if key == "node":
        return node_name(value, w)
    if key in ("reports_timeout", "days", "root_crl_days"):
        number = check.scalar(value, w, int)
        if number < 1:
            raise check.fail(value, w, "must be 1 or more")
        return number
    if key in ("skip", "redo"):
        return check.str_list(value, w)
    if key in ("name", "server_name"):
        name = check.scalar(value, w, str)
        if not DNS_NAME_RE.fullmatch(name):
            raise check.fail(value, w, f"{name!r} is not a DNS name")
        return name
    if key == "faults":
        found = check.mapping(value, w, {name: False for name in faults.FAULTS})
        return {fname: node_name(target, f"{w}.{fname}") if faults.FAULTS[fname].takes_node else None
                for fname, target in found.items()}
    return check.scalar(value, w, str)  # failed_step, stop_after, command, clock: plain text


def _needles(check: Checker, node: yaml.Node, where: str, before: str) -> list[Needle]:
    """``evidence``: after a command, texts of its output; after a run, each text with
    where it must appear (``{step: ID, shows: TEXT}`` or ``{proof: NAME, shows: TEXT}``),
    never anywhere: the tool's own titles and echoed options must not count."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    out = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if isinstance(item, yaml.ScalarNode):
            if before in RUN_ACTIONS:
                raise check.fail(item, w, f"after `{before}`, say where the text must appear: "
                                 "{step: ID, shows: TEXT} or {proof: NAME, shows: TEXT}")
            out.append(Needle(check.scalar(item, w, str)))
            continue
        fields = check.mapping(item, w, {"step": False, "proof": False, "shows": True})
        if ("step" in fields) == ("proof" in fields) or before not in RUN_ACTIONS:
            raise check.fail(item, w, "names one step or one proof, after a `regen`, `resume` or `rollback`")
        text = check.scalar(fields["shows"], f"{w}.shows", str)
        if "step" in fields:
            step = check.scalar(fields["step"], f"{w}.step", str)
            if step not in STEP_IDS:
                raise check.fail(fields["step"], f"{w}.step", f"unknown step {step!r}; steps: "
                                 f"{', '.join(sorted(STEP_IDS))}")
            out.append(Needle(text, step=step))
        else:
            name = check.scalar(fields["proof"], f"{w}.proof", str)
            if name not in proof.NAMES:
                raise check.fail(fields["proof"], f"{w}.proof", f"unknown proof {name!r}; proofs: "
                                 f"{', '.join(sorted(proof.NAMES))}")
            out.append(Needle(text, proof=name))
    return out


def find(name: str, folders: Sequence[Path] = ()) -> Scenario:
    """A scenario by its name, from scenarios/ or from the user's own ``folders`` (never a path:
    nothing outside those folders is read)."""
    if not NAME_RE.fullmatch(name):
        raise BadInput(f"--scenario {name!r} is not a scenario's name (lower-case letters, digits and '-'; "
                       f"see {command('scenarios.list')})")
    found = {p.stem: p for p in all_paths(folders)}
    if name not in found:
        where = ", ".join(str(f) for f in (SCENARIOS_DIR, *folders))
        raise BadInput(f"no scenario named {name!r} in {where} (scenarios: {', '.join(found) or 'none'})")
    return load(found[name])


def all_paths(folders: Sequence[Path] = ()) -> list[Path]:
    """Every scenario file: scenarios/ and then each of the user's ``folders`` (``--scenarios
    DIR``, several allowed), by name; one name in two places is refused."""
    paths: dict[str, Path] = {}
    for folder in (SCENARIOS_DIR, *folders):
        if not Path(folder).is_dir():
            raise BadInput(f"--scenarios {folder}: no such folder")
        for path in sorted(Path(folder).glob("*.yaml")):
            if path.stem in paths:
                raise BadInput(f"two scenarios named {path.stem!r}: {paths[path.stem]} and {path}; rename one")
            paths[path.stem] = path
    return sorted(paths.values(), key=lambda p: p.stem)
