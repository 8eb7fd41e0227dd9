"""Regen Lab's commands (invoke's tasks): ``invoke TASK`` in the checkout (``tasks.py``), or
``regenlab TASK`` from any folder once the package is installed. Thin: parse arguments, call
one job or library function, print.

    invoke lab.up [--name NAME] [--agents N] [--suite SUITE] [--agent-suite SUITE] [--keep] [--publish] [--ssh]
    invoke lab.status [--name NAME] [--json]
    invoke lab.logs [--name NAME] NODE|all
    invoke lab.down [--name NAME]
    invoke images.build [--suite SUITE]
    invoke engine.ensure
    invoke regen.run [--name NAME] [--agents a,b] [--autosign] [--server-name DNS] [--resume [--redo 2.3,3.m]] [--ssh]
    invoke regen.run --site FILE --ssh [--known-hosts F] [--identity F] [--dry-run] [--autosign] [--resume]
    invoke regen.check [--name NAME] [--ssh] | --site FILE --ssh [--known-hosts F] [--identity F]
    invoke regen.plan [--name NAME] | --site FILE
    invoke regen.rollback [--name NAME] [--ssh] | --site FILE --ssh [--known-hosts F] [--identity F]
    invoke regen.backups [--name NAME] [--keep N]
    invoke rehearse [--agents N] [--suite SUITE] [--agent-suite SUITE] [--keep] [--scenario NAME] [--ssh]
    invoke scenarios.list
    invoke bench.lab [--cold] [--agents 3,10] [--no-regen]
    invoke bench.regen [--agents 3,10,30,100] [--seed-at 10]
    invoke soak.kill [--trials 30] [--seed S] [--agents 1] [--horizon 60] [--disturb kill,node,engine] [--keep]

The commands by collection: ``lab_tasks``, ``regen_tasks``, ``rehearse_tasks`` (and
``scenarios.list``), ``tool_tasks`` (images, engine, bench, soak); ``common``: what they share.
"""

from __future__ import annotations

from invoke import Collection, Program

from .lab_tasks import lab
from .regen_tasks import regen
from .rehearse_tasks import rehearse, scenarios
from .tool_tasks import bench, engine, images, soak

ns = Collection(rehearse, lab, regen, images, engine, bench, soak, scenarios)
ns.configure({"regenlab": {"name": "regenlab"}})


def main() -> None:
    """The `regenlab` command: the same tasks as `invoke` in the checkout, from any folder."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("regenlab")
    except PackageNotFoundError:  # run from a checkout that was never installed
        release = "unknown"
    Program(namespace=ns, name="Regen Lab", binary="regenlab", version=release).run()
