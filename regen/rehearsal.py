"""The main job, end to end: images (cached) -> lab up -> (procedure: issue 3) -> lab down."""

from __future__ import annotations

from . import engine
from .console import table
from .lab import LabSpec, remove, up
from .progress import Progress


def rehearse(spec: LabSpec, keep: bool = False, progress: Progress | None = None) -> bool:
    """Bring a lab up, print its table, take it down (kept with ``keep``). Returns success.

    The regeneration procedure and its proof are not implemented yet: this rehearses
    the lab itself, and says so."""
    progress = progress or Progress()
    client = engine.ensure(progress)
    lab = up(client, spec, progress, keep=keep)
    try:
        print(table(lab.status()), flush=True)
        progress.say("the regeneration procedure is not implemented yet: this rehearsal stops at the lab")
        return True
    finally:
        if keep:
            progress.say(f"lab {spec.name} kept (`invoke lab.down --name {spec.name}` removes it)")
        else:
            with progress.step(f"removing lab {spec.name}"):
                remove(client, spec.name)
