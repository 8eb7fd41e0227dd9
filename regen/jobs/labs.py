"""The lab of a job: the engine, a new lab of the spec, and at the end the lab removed when
the job passed, kept for inspection when it failed (or when asked)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..core.commands import command
from ..core.config import state_dir
from ..core.lock import hold
from ..core.progress import Progress
from ..lab import engine
from ..lab.lab import Lab, remove
from ..lab.provision import up
from ..lab.spec import LabSpec
from ..procedure.runner import state_path


@dataclass
class Verdict:
    """What the job says of itself before its lab is kept or removed."""

    passed: bool = False


@contextmanager
def fresh_lab(spec: LabSpec, progress: Progress, keep: bool = False) -> Iterator[tuple[Lab, Verdict]]:
    """The lab's lock is held from before it is made until it is removed or kept."""
    with hold(spec.name):
        with _fresh_lab(spec, progress, keep) as made:
            yield made


@contextmanager
def _fresh_lab(spec: LabSpec, progress: Progress, keep: bool) -> Iterator[tuple[Lab, Verdict]]:
    client = engine.ensure(progress)
    lab = up(client, spec, progress, keep=keep)
    state_path(state_dir(), spec.name).unlink(missing_ok=True)  # a new lab: no earlier run of that name to resume
    verdict = Verdict()
    try:
        yield lab, verdict
    finally:
        if keep or not verdict.passed:
            progress.say(f"lab {spec.name} kept ({command('lab.down', name=spec.name)} removes it)")
        else:
            with progress.step(f"removing lab {spec.name}"):
                remove(client, spec.name)
