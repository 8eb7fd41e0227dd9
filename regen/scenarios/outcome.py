"""What an action did (an Outcome: a run's every step attempt and its proofs, or a
command's output) and each `expect` checked against it, scoped to where its evidence must
appear, with the evidence found."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..core.executor import ExecResult
from ..procedure.proof import ProofResult
from ..procedure.report import Report
from ..procedure.runner import StepResult
from .model import Action, Needle

VERSION_RE = re.compile(r"(?<![\d.])\d+(?:\.\d+)+(?![\d.])")


@dataclass
class Outcome:
    """What the last action did, for the next `expect`: a run's every step attempt and
    its proofs, or a command's output."""

    what: str
    passed: bool
    output: str = ""
    interrupted: bool = False
    failed_step: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    proofs: list[ProofResult] = field(default_factory=list)

    @property
    def proofs_failed(self) -> list[str]:
        return [p.name for p in self.proofs if not p.passed]

    def text_of(self, needle: Needle) -> str | None:
        """Where a needle must be found (None: that step or proof is not in this outcome)."""
        if needle.step:
            attempts = [s for s in self.steps if s.id == needle.step]
            return attempts[-1].detail if attempts else None
        if needle.proof:
            return next((p.evidence for p in self.proofs if p.name == needle.proof), None)
        return self.output


@dataclass(frozen=True)
class Held:
    """One expectation and whether it held, with its evidence."""

    line: int
    claim: str
    held: bool
    evidence: str


def from_report(what: str, report: Report) -> Outcome:
    return Outcome(what, report.passed, failed_step=report.failed_step, steps=list(report.steps),
                   proofs=list(report.proofs))


def from_command(what: str, res: ExecResult, ok: tuple[int, ...] = (0,)) -> Outcome:
    return Outcome(what, res.exit_code in ok, output=f"exit {res.exit_code}\n{res.output}")


def _line_with(text: str, needle: str) -> str:
    """The line of ``text`` holding ``needle`` (case as written), cut around it; "" if none."""
    for line in text.splitlines():
        if needle in line:
            i = line.index(needle)
            return line[max(0, i - 150): i + len(needle) + 150].strip()
    return ""


def _errors(text: str) -> str:
    return " | ".join(line for line in text.splitlines() if "rror" in line or "fail" in line.lower())[-600:]


def _proof_names(wanted: list[str], last: Outcome) -> set[str]:
    """Proofs named by name or by their number in the run's list."""
    by_id = {p.id: p.name for p in last.proofs}
    return {by_id.get(w, f"#{w}") if w.isdigit() else w for w in wanted}


def _version_check(want: str, output: str) -> tuple[bool, str]:
    found = sorted(set(VERSION_RE.findall(output)))
    if len(found) != 1:
        return False, f"the output holds {len(found)} versions ({', '.join(found) or 'none'}), not one"
    have = [int(x) for x in found[0].split(".")]
    wanted = [int(x) for x in want.split(".")]
    return have[:len(wanted)] == wanted, f"version {found[0]}"


def check(expect: Action, last: Outcome) -> list[Held]:
    """Each field of an `expect` against the last outcome, with the evidence found."""
    out = []
    a = expect.args
    if "passed" in a:
        summary = "passed" if last.passed else \
            f"failed (step {last.failed_step or '-'}, proofs failed: {', '.join(last.proofs_failed) or '-'})"
        out.append(Held(expect.line, f"{last.what} {'passes' if a['passed'] else 'fails'}",
                        last.passed == a["passed"], summary))
    if "interrupted" in a:
        out.append(Held(expect.line, f"{last.what} is interrupted" if a["interrupted"] else "not interrupted",
                        last.interrupted == a["interrupted"], "interrupted" if last.interrupted else "ran to its end"))
    if "failed_step" in a:
        want = None if a["failed_step"] == "none" else a["failed_step"]
        out.append(Held(expect.line, f"step {want} fails" if want else "no step fails", last.failed_step == want,
                        f"failed step: {last.failed_step or 'none'}"))
    if "proofs_failed" in a:
        want = _proof_names(a["proofs_failed"], last)
        out.append(Held(expect.line, f"exactly these proofs fail: {', '.join(sorted(want)) or 'none'}",
                        want == set(last.proofs_failed), f"proofs failed: {', '.join(last.proofs_failed) or 'none'}"))
    if "version" in a:
        held, seen = _version_check(a["version"], last.output)
        out.append(Held(expect.line, f"the output's version is {a['version']}", held, seen))
    if "steps_done_once" in a:
        twice = sorted(i for i, n in Counter(s.id for s in last.steps if s.result == "done").items() if n > 1)
        held = not twice if a["steps_done_once"] else bool(twice)
        out.append(Held(expect.line, "no step is done twice", held,
                        f"done twice: {', '.join(twice)}" if twice else
                        f"{len(last.steps)} step records, each step done at most once"))
    for needle in a.get("evidence", []):
        text = last.text_of(needle)
        found = _line_with(text, needle.text) if text is not None else ""
        why = f"{needle.where} is not in this outcome" if text is None else \
            f"not found in {needle.where}; its errors: {_errors(text) or text[-300:]}"
        out.append(Held(expect.line, f"{needle.where} shows {needle.text!r}", bool(found), found or why))
    return out
