"""The main job, end to end: images (cached) -> lab up -> procedure -> proof -> report ->
lab down (kept on failure, or when asked); and the procedure or a rollback on a lab that is up."""

from __future__ import annotations

from ..core.config import state_dir
from ..core.progress import Progress
from ..lab.lab import Lab, LabSpec, site_of
from ..procedure import proven
from ..procedure.report import Report
from .labs import fresh_lab


def regenerate(lab: Lab, progress: Progress, **options) -> Report:
    """Run (or resume) the procedure on a lab that is up, prove it, write the report."""
    return proven.regenerate(site_of(lab), state_dir(), progress, **options)


def roll_back(lab: Lab, progress: Progress) -> Report:
    """Roll a run that failed in step 1 back, prove it, write the report."""
    return proven.roll_back(site_of(lab), state_dir(), progress)


def rehearse(spec: LabSpec, keep: bool = False, progress: Progress | None = None,
             skip: tuple[str, ...] = ()) -> Report:
    """A fresh lab, the full procedure, its proof and report. The lab is removed when the
    rehearsal passes, and kept when it fails (or with ``keep``) for inspection."""
    progress = progress or Progress()
    with fresh_lab(spec, progress, keep) as (lab, verdict):
        result = regenerate(lab, progress, skip=skip)
        verdict.passed = result.passed
        return result
