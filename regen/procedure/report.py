"""The Report of a rehearsal: every step with its times and result, the downtime window,
every proof with its evidence. Written as JSON and Markdown under the state folder; no
private key is ever in it (it holds fingerprints, serials and quoted errors only)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

import jinja2

from ..core import junit as junit_xml
from ..core.console import clip, table
from ..core.files import write_private
from ..ops.pki import redact_keys
from .proof import ProofResult
from .runner import RunState, StepResult


@dataclass(frozen=True)
class HostRow:
    """One host as the report lists it: its part, its role's Debian package and that package's
    version ("?" where the host did not answer)."""

    host: str
    part: str
    package: str
    version: str


@dataclass(frozen=True)
class Expiry:
    """When the CA, the master's cert and the earliest of the other hosts' certs end (days,
    "?" where one could not be read); ``earliest_host`` names its host: ``2031-11-28 (agent-1)``."""

    ca: str = "?"
    master: str = "?"
    earliest_host: str = "?"

    def labelled(self) -> dict[str, str]:
        """As the report's text and JSON name them."""
        return {"CA": self.ca, "master": self.master, "earliest host cert": self.earliest_host}


@dataclass(frozen=True)
class Report:
    lab: str
    mode: str
    agents: list[str]
    started: str
    finished: str
    downtime_from: str
    downtime_to: str
    downtime_seconds: float | None
    steps: list[StepResult]
    proofs: list[ProofResult]
    site: str = ""  # the site file and its topology ("": a lab of options)
    hosts: list[HostRow] = field(default_factory=list)  # each host: its part, package and version
    expiry: Expiry | None = None  # the CA's, the master's, the earliest host cert's (None: not read)

    @property
    def failed_step(self) -> str | None:
        """The step whose last attempt failed (a step that failed, then was done on resume, did not)."""
        steps = self.steps
        if self.mode == "rollback":  # what failed before is why it was rolled back; the rollback's own steps count
            steps = [s for s in steps if s.id.startswith("r.")]
        last = {s.id: s.result for s in steps}
        return next((i for i, result in last.items() if result == "failed"), None)

    @property
    def passed(self) -> bool:
        return bool(self.proofs) and all(p.passed for p in self.proofs) and self.failed_step is None


def _parse(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def build(state: RunState, proofs: list[ProofResult], site: str = "",
          hosts: list[HostRow] | None = None, expiry: Expiry | None = None) -> Report:
    times = state.facts.times
    start = times.server_stopped_at
    end = times.restored_at if state.mode == "rollback" else times.last_agent_back_at
    a, b = _parse(start), _parse(end)
    return Report(
        lab=state.lab, mode=state.mode, agents=state.agents, started=state.started, finished=state.finished,
        downtime_from=start, downtime_to=end,
        downtime_seconds=round((b - a).total_seconds(), 1) if a and b else None,
        # by start time: steps that ran side by side show as overlapping spans
        steps=[replace(s, detail=redact_keys(s.detail)) for s in sorted(state.steps, key=lambda s: s.started)],
        proofs=[replace(p, evidence=redact_keys(p.evidence)) for p in proofs],
        site=site, hosts=hosts or [], expiry=expiry,
    )


def expiry_line(expiry: Expiry) -> str:
    """``expiry: CA 2041-11-25, master 2041-11-25, earliest host cert 2031-11-28 (agent-1)``."""
    return "expiry: " + ", ".join(f"{what} {when}" for what, when in expiry.labelled().items())


def versions(hosts: list[HostRow]) -> str:
    """One line: each package's versions with how many hosts run it."""
    count: dict[str, int] = {}
    for h in hosts:
        key = f"{h.package} {h.version}"
        count[key] = count.get(key, 0) + 1
    return ", ".join(f"{k} ({n})" for k, n in count.items())


def summary(report: Report) -> str:
    t0 = _parse(report.steps[0].started) if report.steps else None

    def at(ts: str) -> str:
        t = _parse(ts)
        return f"{(t - t0).total_seconds():.1f}" if t and t0 else "-"

    steps = table([(s.id, clip(s.title, 60), s.result, at(s.started), at(s.ended), f"{s.seconds:.1f}s")
                   for s in report.steps], ["step", "title", "result", "from", "to", "time"])
    proofs = table([(p.id, p.name, p.verdict.upper(), p.claim) for p in report.proofs],
                   ["proof", "name", "verdict", "claim"])
    back = "server back under the old CA" if report.mode == "rollback" else "last agent back"
    down = (f"downtime (server stopped -> {back}): {report.downtime_seconds}s"
            if report.downtime_seconds is not None else "downtime: not measured (the server was not stopped)")
    evidence = "\n".join(f"  proof {p.id} ({p.name}): {p.evidence}" for p in report.proofs)
    verdict = "REHEARSAL PASSED" if report.passed else "REHEARSAL FAILED"
    site = (f"site: {report.site}\n" if report.site else "") + \
        (f"hosts: {versions(report.hosts)}\n" if report.hosts else "") + \
        (f"{expiry_line(report.expiry)}\n" if report.expiry else "")
    site += "\n" if site else ""
    return f"{site}{steps}\n\n{down}\n\n{proofs}\n{evidence}\n\n{verdict}"


def markdown(report: Report) -> str:
    lines = [f"# Certificate regeneration rehearsal: {report.lab}", "",
             f"- mode: {report.mode} ({', '.join(report.agents)})",
             f"- started {report.started}, finished {report.finished}",
             f"- downtime: {report.downtime_from or '-'} -> {report.downtime_to or '-'}"
             f" ({report.downtime_seconds if report.downtime_seconds is not None else '-'} s)",
             f"- verdict: **{'passed' if report.passed else 'FAILED'}**",
             *([f"- site: {report.site}"] if report.site else []),
             *([f"- {expiry_line(report.expiry)}"] if report.expiry else []), "",
             *(["## Hosts", "", "| host | part | package | version |", "|---|---|---|---|",
                *(f"| {h.host} | {h.part} | {h.package} | {h.version} |" for h in report.hosts), ""]
               if report.hosts else []),
             "## Steps", "",
             "| step | title | started | ended | seconds | result | detail |", "|---|---|---|---|---|---|---|"]
    for s in report.steps:
        detail = s.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {s.id} | {s.title} | {s.started} | {s.ended} | {s.seconds} | {s.result} | {detail} |")
    lines += ["", "## Proof", "", "| proof | name | verdict | claim | evidence |", "|---|---|---|---|---|"]
    for p in report.proofs:
        lines.append(f"| {p.id} | {p.name} | {p.verdict if p.passed else p.verdict.upper()} | {p.claim} | "
                     f"{p.evidence.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


# What each procedure leaves on the hosts it touches (the reports compare remedies by it)
LEAVES = {"full": "a new CA; every host a new key and cert",
          "partial": "the CA kept; the agents named a new key and cert",
          "extend": "the CA's keys kept, its certs renewed; every host its own cert, the new CA bundle"}


def remedy(report: Report) -> dict[str, str]:
    """One row of a comparison of remedies: what the run cost and what it leaves."""
    expiry = report.expiry or Expiry()
    return {"remedy": report.mode, "passed": "yes" if report.passed else "no",
            "downtime": f"{report.downtime_seconds}s" if report.downtime_seconds is not None else "-",
            "hosts touched": str(len(report.hosts) or "?"), "leaves": LEAVES.get(report.mode, "-"),
            "CA ends": expiry.ca, "earliest host cert": expiry.earliest_host}


def comparison(rows: list[dict[str, str]]) -> str:
    """The remedies side by side (a scenario that rehearses both the extension and the
    regeneration)."""
    heads = ["remedy", "passed", "downtime", "hosts touched", "CA ends", "earliest host cert", "leaves"]
    return table([tuple(r[h] for h in heads) for r in rows], heads)


def junit(report: Report) -> junit_xml.Suite:
    """The run as a JUnit test suite: each proof a test case (failed: its evidence; could not
    tell or nothing to check: an error), and each failed step attempt one more."""
    cases = [junit_xml.Case(f"proof {p.id}: {p.name}", f"regenlab.{report.lab}.proof", 0.0,
                            failure=(p.evidence or p.verdict) if p.verdict == "fail" else "",
                            error=(p.evidence or p.verdict) if p.verdict not in ("pass", "fail") else "",
                            message=f"{p.claim}: {p.verdict}", output=p.evidence)
             for p in report.proofs]
    cases += [junit_xml.Case(f"step {s.id}: {s.title}", f"regenlab.{report.lab}.step", s.seconds,
                             failure=s.detail or "failed", message=f"step {s.id} failed")
              for s in report.steps if s.result == "failed"]
    a, b = _parse(report.started), _parse(report.finished)
    return junit_xml.Suite(f"{report.lab}: {report.mode}", report.started, cases,
                           round((b - a).total_seconds(), 3) if a and b else 0.0,
                           {"lab": report.lab, "mode": report.mode, "downtime_seconds": str(report.downtime_seconds)})


SCHEMA_VERSION = 1  # of the JSON written: docs/schemas/report-1.schema.json describes it


def to_json(report: Report) -> dict:
    """The report as its JSON has it (``schema_version`` first; every proof with ``passed``)."""
    return {"schema_version": SCHEMA_VERSION} | asdict(report) | {
        "passed": report.passed, "proofs": [asdict(p) | {"passed": p.passed} for p in report.proofs],
        "expiry": report.expiry.labelled() if report.expiry else {}}


def _stem(report: Report) -> str:
    stem = f"{report.lab}-{report.started.replace(':', '').replace('.', '')}"
    return stem + "-rollback" if report.mode == "rollback" else stem  # the failed run's own report stays beside it


# --- the HTML report: a page with the timeline (SVG), the proof, the hosts and the steps --------

COLORS = {"0": "#9e9e9e", "1": "#1f6fb5", "2": "#2e9d4f", "3": "#e08a1e", "p": "#e08a1e", "e": "#7b4fb0",
          "r": "#1f6fb5", "failed": "#b3261e", "down": "#f6d5d3"}
WIDTH, LEFT, ROW, TOP = 1000, 150, 26, 30


def timeline(report: Report, touched: dict[str, list[str]]) -> dict:
    """Where each bar goes: one row per host, each step's span on every host it sent commands
    to (``touched``: step id -> hosts, from the run's transcript), the downtime as a band."""
    t0 = _parse(report.steps[0].started) if report.steps else None
    ends = [_parse(s.ended) for s in report.steps if _parse(s.ended)]
    total = max(((max(ends) - t0).total_seconds() if t0 and ends else 0.0), 1.0)
    scale = (WIDTH - LEFT - 10) / total

    def x(ts: str) -> float:
        when = _parse(ts)
        return round(LEFT + ((when - t0).total_seconds() if when and t0 else 0.0) * scale, 1)

    order = [h.host for h in report.hosts] or sorted({h for hs in touched.values() for h in hs})
    rows = []
    for i, host in enumerate(order):
        bars = [{"id": s.id, "title": s.title, "seconds": s.seconds, "result": s.result, "x": x(s.started),
                 "w": max(round(x(s.ended) - x(s.started), 1), 2.0),
                 "color": COLORS["failed"] if s.result == "failed" else COLORS.get(s.id[:1], "#555555")}
                for s in report.steps if host in touched.get(s.id, ())]
        rows.append({"host": host, "y": TOP + i * ROW, "bars": bars})
    down = None
    if report.downtime_from and report.downtime_to:
        down = {"x": x(report.downtime_from), "w": max(round(x(report.downtime_to) - x(report.downtime_from), 1), 2.0)}
    step = max(10, int(total / 8 // 10 * 10) or 10)
    ticks = [{"x": round(LEFT + t * scale, 1), "label": f"{t} s"} for t in range(0, int(total) + 1, step)]
    return {"width": WIDTH, "height": TOP + len(rows) * ROW + 24, "left": LEFT, "row": ROW, "top": TOP,
            "rows": rows, "down": down, "ticks": ticks, "colors": COLORS}


def touched_hosts(transcript) -> dict[str, list[str]]:
    """Each step's hosts: those it sent a command to while it ran (its checks left out)."""
    out: dict[str, list[str]] = {}
    for c in transcript.commands:
        if c.phase == "run" and c.step and c.host not in out.setdefault(c.step, []):
            out[c.step].append(c.host)
    return out


def html(report: Report, touched: dict[str, list[str]]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2").render(r=report, t=timeline(report, touched))


def write_html(report: Report, state_root: Path, touched: dict[str, list[str]]) -> Path:
    return write_private(state_root / "reports" / f"{_stem(report)}.html", html(report, touched))


def write(report: Report, state_root: Path) -> tuple[Path, Path]:
    folder = state_root / "reports"
    stem = _stem(report)
    paths = folder / f"{stem}.json", folder / f"{stem}.md"
    for path, text in zip(paths, (json.dumps(to_json(report), indent=2), markdown(report)), strict=True):
        write_private(path, text)
    return paths
