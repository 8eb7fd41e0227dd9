"""The kill-anywhere soak, short: `invoke regen.run` killed with SIGKILL at two random
instants (seeded), resumed the first time, rolled back (or, once agents were touched,
resumed) the second; the third run has one node's container restarted under it, then goes
on or is resumed. After each, the proof passes and every backup of the lab is whole. On
this worker's default scenario lab (its topology: 3 agents, Puppet 7, MCollective), reused
as it is. (The engine is never restarted here: the other worker's labs run on it.)"""

from __future__ import annotations

import os

import pytest

from regen.core.progress import Progress
from regen.jobs import soak
from regen.scenarios import format as scenario

pytestmark = [pytest.mark.docker]

# kills at 41.7 s (step 3, then a resume) and 14.3 s (step 1, then a rollback)
SEED = int(os.environ.get("REGENLAB_SOAK_SEED", "20261275"))


def test_a_run_killed_anywhere_is_resumed_or_rolled_back_with_nothing_lost(scenario_labs):
    lab = scenario_labs.get(scenario.find("interrupted-resume"))  # the default topology
    trials = soak.soak(lab, trials=3, seed=SEED, horizon=70.0, progress=Progress(), disturbances=("kill", "node"))
    scenario_labs.release(lab, healthy=all(t.passed for t in trials))
    assert [t.n for t in trials] == [1, 2, 3] and trials[2].what.startswith("node "), trials
    for t in trials:
        assert t.passed, f"trial {t.n} (seed {SEED}), killed at {t.kill_at}s in {t.killed_in}: {t.action}: " \
                         f"{t.backups}; {t.detail}"
