"""The kill-anywhere soak, short: trials 2 and 3 of the seeded soak (`invoke soak.kill --seed
20261275 --first 2 --trials 3 --horizon 70 --disturb kill,node --agents 3` replays them).
Trial 2: `invoke regen.run` killed with SIGKILL at a random instant, then rolled back (or,
once agents were touched, resumed);
trial 3: one node's container restarted under the run, which goes on or is resumed. After
each, the proof passes and every backup of the lab is whole. On this worker's default
scenario lab (its topology: 3 agents, Puppet 7, MCollective), reused as it is. (The engine
is never restarted here: the other worker's labs run on it.)

Trial 1 (a kill, then a resume) is left to the long soak (`invoke soak.kill`): a run stopped
and resumed is in the scenario `master-moves`, a kill's leftovers ended before a resume
are `tests/lab/`'s, and trial 3's run is resumed when the restart failed it. Each trial is a
regeneration with its proof, about 3 minutes of the suite."""

from __future__ import annotations

import os

import pytest

from regen.core.progress import Progress
from regen.jobs import soak
from regen.scenarios import format as scenario

pytestmark = [pytest.mark.docker]

# trial 2 kills at 14.3 s (step 1, then a rollback); trial 3 restarts a node
SEED = int(os.environ.get("REGENLAB_SOAK_SEED", "20261275"))


def test_a_run_killed_anywhere_is_resumed_or_rolled_back_with_nothing_lost(scenario_labs):
    lab = scenario_labs.get(scenario.find("clock-skew"))  # the default topology
    trials = soak.soak(lab, trials=3, seed=SEED, horizon=70.0, progress=Progress(), disturbances=("kill", "node"),
                       first=2)
    scenario_labs.release(lab, healthy=all(t.passed for t in trials))
    assert [t.n for t in trials] == [2, 3] and trials[0].what == "kill" and trials[1].what.startswith("node "), \
        trials
    for t in trials:
        assert t.passed, f"trial {t.n} (seed {SEED}), killed at {t.kill_at}s in {t.killed_in}: {t.action}: " \
                         f"{t.backups}; {t.detail}"
