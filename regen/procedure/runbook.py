"""The runbook: the commands a run sent to each host, step by step, for a person to follow.

It is made from a run's transcript (``core/transcript.py``), never written by hand: the
commands are those the steps sent, in the order they sent them on each host. What changes
from one run to the next is shown as a named placeholder (``PLACEHOLDERS``), and each host's
Puppet paths as variables read on that host with ``puppet config print`` (``VARIABLES``), so
that the runbook of a rehearsal on Debian's packages reads right on Puppet's all-in-one
packages too. A command sent again and again is a wait: it is shown once, with how many
times the rehearsal sent it. ``normalized`` is what a second run is compared with: the
runbook-equals-rehearsal test."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..core.files import write_private
from ..core.transcript import Command, Transcript
from .preflight import STEP_ID as PREFLIGHT
from .preflight import TITLE as PREFLIGHT_TITLE
from .runner import ProcedureStateError, RunState, Step, needs_of, state_path, transcript_path
from .site import Site
from .steps.plan import steps_of

# (name, pattern over the command line, what it stands for): values known only at run time
PLACEHOLDERS = (
    ("RANDOM", re.compile(r"(?<=/regen-keep-)\d+|(?<=/regen-backup-)\d+"),
     "a temporary file's unique part (the run makes its own)"),
    ("LOG_LINE", re.compile(r"(?<= sh )\d+ \d+(?= \S*puppetserver\.log)"),
     "the lines Puppet Server's logs had when the step began (`wc -l` of each, the step's first command)"),
    ("FINGERPRINT", re.compile(r"\b(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\b"), "a certificate's SHA-256 fingerprint"),
    ("TIME", re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?\b"), "a moment of the run"),
)
# Puppet's paths on a host, longest first: a path under one is written as the variable
VARIABLES = (("LOCALCACERT", "localcacert"), ("HOSTCRL", "hostcrl"), ("CERTDIR", "certdir"),
             ("PRIVATEKEYDIR", "privatekeydir"), ("PUBLICKEYDIR", "publickeydir"), ("CADIR", "cadir"),
             ("SSLDIR", "ssldir"), ("CONFDIR", "confdir"))
PLACEHOLDER_RE = re.compile("<(" + "|".join(n for n, _, _ in PLACEHOLDERS) + ")>")


@dataclass(frozen=True)
class Runbook:
    markdown: str
    scripts: dict[str, str]  # host -> its shell script


def _dq(text: str) -> str:
    return '"' + re.sub(r'(["\\$`])', r"\\\1", text) + '"'


def word(token: str, paths: dict[str, str]) -> str:
    """One argument as a shell word: a Puppet path as its variable ("$SSLDIR/certs/x.pem")."""
    for var, setting in VARIABLES:
        value = paths.get(setting, "")
        # as given, or relative to / (as in a tar of the host's files)
        for known, expr in ((value, var), (value.lstrip("/"), f"{var}#/")):
            if known and (token == known or token.startswith(known + "/")):
                return _dq(token[len(known):]).replace('"', f'"${{{expr}}}', 1)
    return shlex.quote(token)


def line(cmd: Command, paths: dict[str, str]) -> str:
    """A command as a person types it on its host, with its placeholders."""
    if cmd.kind == "read":
        text = f"cat {word(cmd.argv[0], paths)}"
    elif cmd.kind == "write":
        path, mode, owner = cmd.argv
        text = f"install -m {mode} -o {owner.split(':')[0]} -g {owner.split(':')[1]} /dev/stdin {word(path, paths)}"
    else:
        text = " ".join(word(a, paths) for a in _split_curl(cmd.argv)[0])
    for name, pattern, _ in PLACEHOLDERS:
        text = pattern.sub(lambda m, n=name: " ".join(f"<{n}>" for _ in m.group(0).split()), text)
    return text


def _split_curl(argv: tuple[str, ...]) -> list[tuple[str, ...]]:
    """A curl of several URLs (the CA's status API, one call for the requests pending then) as
    one call per URL: which requests were pending together is the run's timing, not the plan."""
    if not argv or argv[0] != "curl":
        return [argv]
    urls = [a for a in argv if a.startswith("https://")]
    if len(urls) < 2:
        return [argv]
    rest = tuple(a for a in argv if not a.startswith("https://"))
    return [(*rest, u) for u in urls]


def expanded(commands: list[Command]) -> list[Command]:
    return [Command(c.step, c.phase, c.host, c.kind, argv, c.exit_code, c.stdin, c.at)
            for c in commands for argv in _split_curl(c.argv)]


def normalized(transcript: Transcript, layouts: dict[str, dict[str, str]]) -> dict[tuple[str, str, str], set[str]]:
    """Each (step, phase, host) with the set of commands sent there, as the runbook writes them."""
    out: dict[tuple[str, str, str], set[str]] = {}
    for c in expanded(transcript.commands):
        out.setdefault((c.step, c.phase, c.host), set()).add(line(c, layouts.get(c.host, {})))
    return out


def _blocks(commands: list[Command],
            layouts: dict[str, dict[str, str]]) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """Per host (in the order the step first reached it): each command once, in the order first
    sent, with how many times it was sent and its first exit code."""
    hosts: dict[str, dict[str, list[int]]] = {}
    for c in expanded(commands):
        seen = hosts.setdefault(c.host, {})
        text = line(c, layouts.get(c.host, {}))
        if text in seen:
            seen[text][0] += 1
        else:
            seen[text] = [1, c.exit_code]
    return [(h, [(t, n, code) for t, (n, code) in cmds.items()]) for h, cmds in hosts.items()]


def _shows(step: Step) -> str:
    return step.shows or f"the effect of \"{step.title}\" is in place"


def _recovery(step: Step | None) -> str:
    if step is None:  # the preflight
        return "nothing has changed yet: fix what the preflight names, and start again."
    if step.changes.touches_agents:
        return ("resume (`regen.run --resume`; by hand: this step again from its first command, for the hosts "
                "not done). A rollback is refused from here: an agent is touched.")
    return ("resume (`regen.run --resume`; by hand: this step again from its first command: every step is safe "
            "to repeat), or roll back (`regen.rollback`: the master from step 1.1's backup, the other hosts from "
            "step 1.0's).")


def render(transcript: Transcript, steps: tuple[Step, ...], roles: dict[str, tuple[str, str]],
           layouts: dict[str, dict[str, str]], title: str, source: str) -> Runbook:
    """The runbook of a run: ``steps`` in the procedure's order, ``roles`` each host's (role,
    certname), ``layouts`` each host's Puppet paths as the run read them; ``source`` says which
    rehearsal it comes from."""
    by_step: dict[str, list[Command]] = {}
    for c in transcript.commands:
        by_step.setdefault(c.step, []).append(c)
    order = [(PREFLIGHT, PREFLIGHT_TITLE, None),
             *((s.id, s.title, s) for s in steps)]
    md = [f"# Runbook: {title}", "", f"Made from {source}: every command below is one the procedure sent, "
          "in the order it sent them on each host. Run the steps in this order; a step starts once the "
          "steps it needs are done (steps whose needs are met may run side by side, as the tool does).", "",
          "## Placeholders", "", "| placeholder | what it stands for |", "|---|---|",
          *(f"| `<{n}>` | {what} |" for n, _, what in PLACEHOLDERS), "",
          "## Puppet's paths on each host", "",
          "Read on the host with `puppet config print SETTING --section server`; each host's script sets them "
          "first. The rehearsal's values:", "",
          "| host | role | " + " | ".join(f"`${v}`" for v, _ in VARIABLES) + " |",
          "|---|---|" + "---|" * len(VARIABLES),
          *(f"| {h} | {roles[h][0]} | " + " | ".join(f"`{lay.get(s, '')}`" for _, s in VARIABLES) + " |"
            for h, lay in layouts.items() if h in roles), ""]
    scripts: dict[str, list[str]] = {h: _script_head(h, roles[h], title, source) for h in roles}
    needs = needs_of(steps)
    for step_id, step_title, step in order:
        commands = by_step.get(step_id, [])
        if not commands and step is None:
            continue
        md += [f"## Step {step_id}: {step_title}", ""]
        if step is not None:
            wanted = sorted(needs[step_id], key=[s.id for s in steps].index)
            md += [f"Needs: {', '.join(wanted) if wanted else 'nothing (after the preflight)'}.", ""]
        checks = [c for c in commands if c.phase == "check"]
        runs = [c for c in commands if c.phase != "check"]
        if checks and step is not None:
            md += [f"**Check first** (done already? skip the step): it should show that {_shows(step)}.", ""]
            md += _md_blocks(checks, layouts, roles)
        if runs:
            md += ["**Do**:", ""] + _md_blocks(runs, layouts, roles)
            for host, cmds in _blocks(runs, layouts):
                scripts[host] += ["", f"# --- step {step_id}: {step_title}"]
                scripts[host] += [_script_command(t, n, code) for t, n, code in cmds]
        elif step is not None:
            md += ["Nothing to do: the check found it done.", ""]
        md += [f"**If it fails**: {_recovery(step)}", ""]
    return Runbook("\n".join(md), {h: "\n".join(lines) + "\n" for h, lines in scripts.items()})


def _md_blocks(commands: list[Command], layouts: dict[str, dict[str, str]],
               roles: dict[str, tuple[str, str]]) -> list[str]:
    out: list[str] = []
    for host, cmds in _blocks(commands, layouts):
        out += [f"On **{host}** ({roles.get(host, ('?', host))[0]}):", "", "```sh"]
        out += [_script_line(t, n, code) for t, n, code in cmds]
        out += ["```", ""]
    return out


def _script_line(text: str, times: int, code: int) -> str:
    notes = []
    if times > 2:
        notes.append(f"WAIT: sent {times} times in the rehearsal, until it showed what the step awaits")
    elif times == 2:
        notes.append("sent twice in the rehearsal")
    if code != 0:
        notes.append(f"exited {code} in the rehearsal" + (": expected" if code > 0 else ""))
    if text.startswith("install ") and "/dev/stdin" in text:
        notes.append("its content comes from the operator's machine (read before from another host)")
    elif text.startswith("cat "):
        notes.append("copied to the operator's machine")
    text += f"  # {'; '.join(notes)}" if notes else ""
    return text


def _script_command(text: str, times: int, code: int) -> str:
    """A runbook line in a host's script: one with a placeholder is left commented out."""
    shown = _script_line(text, times, code)
    return f"# (needs the run's own value) {shown}" if PLACEHOLDER_RE.search(text) else shown


def _script_head(host: str, role: tuple[str, str], title: str, source: str) -> list[str]:
    return ["#!/bin/sh", f"# {title}: the commands on {host} ({role[0]}, certname {role[1]}), step by step.",
            f"# Made from {source}. The order across hosts, the checks and the waits: runbook.md.",
            "# A line that needs a value of the run's own (a <PLACEHOLDER>: runbook.md says which) is commented out.",
            "# Not meant to run unattended: the steps of several hosts interleave, and some wait on others.",
            "set -u", 'PATH="$PATH:/opt/puppetlabs/bin"',
            "if command -v puppet >/dev/null; then",
            *(f"  {var}=$(puppet config print {setting} --section server)" for var, setting in VARIABLES), "fi"]


def of_last_run(site: Site, state_root: Path, source: str) -> Runbook:
    """The runbook of the site's last run (its state and transcript under ``state_root``)."""
    state_file, commands = state_path(state_root, site.name), transcript_path(state_root, site.name)
    if not state_file.exists() or not commands.exists():
        raise ProcedureStateError(f"no run of {site.name!r} to make a runbook of: run it first (no {commands})")
    state = RunState.load(state_file)
    roles = {h.name: (role, h.certname) for h, role in site.roles()}
    title = f"regenerating every certificate of {site.description or site.name}"
    return render(Transcript.load(commands), steps_of(site, state.mode), roles, state.facts.layouts, title, source)


def write(book: Runbook, folder: Path) -> Path:
    """runbook.md and one HOST.sh per host in ``folder`` (what was there before is replaced);
    returns runbook.md's path."""
    if folder.exists():
        for old in folder.glob("*"):
            old.unlink()
    for host, script in book.scripts.items():
        write_private(folder / f"{host}.sh", script.encode()).chmod(0o700)
    return write_private(folder / "runbook.md", book.markdown.encode())


def folder_of(state_root: Path, name: str) -> Path:
    return state_root / "runbooks" / name


def path_of(state_root: Path, name: str) -> Path:
    """Where the runbook of the runs named ``name`` is (its scripts beside it)."""
    return folder_of(state_root, name) / "runbook.md"
