"""One scenario as a job: on a fresh lab of its topology (or on a lab that is up), its
actions and expectations, its report written and shown."""

from __future__ import annotations

from ..core.config import state_dir
from ..core.lock import hold
from ..core.progress import Progress
from ..lab.lab import Lab
from ..scenarios.model import Scenario
from ..scenarios.runner import Runner, ScenarioReport, summary, write
from .labs import fresh_lab


def rehearse(scn: Scenario, name: str, keep: bool = False, progress: Progress | None = None,
             lab: Lab | None = None) -> ScenarioReport:
    """A scenario on a fresh lab of its topology (or on ``lab``, one that is up). A lab made
    here is removed when the scenario passes, kept when it fails (or with ``keep``)."""
    progress = progress or Progress()
    if lab is not None:
        with hold(lab.name):
            return _run(scn, lab, progress)
    with fresh_lab(scn.lab_spec(name), progress, keep) as (made, verdict):
        result = _run(scn, made, progress)
        verdict.passed = result.passed
        return result


def _run(scn: Scenario, lab: Lab, progress: Progress) -> ScenarioReport:
    result = Runner(scn, lab, progress).run()
    path = write(result, state_dir())
    progress.show(summary(result))
    progress.say(f"scenario report: {path}")
    return result
