"""Every file of scenarios/ is a test (ids = scenario names): a new file is a new test, with
no code. Scenarios of one topology share a lab on each xdist worker; a scenario that leaves
its lab broken (its last action failed, as it meant to) gets the next one a fresh lab.

The order saves lab starts (each costs minutes of CPU on 2 cores): scenarios with a
topology of their own first (each makes its lab anyway, and the long ones go first), then
those that share the default lab, and last those that leave it broken. Within a group they
go by name, and a worker runs what it is handed in that order: `ca-expired`, which renews
Puppet's own CA with the root key on the CA host, comes before the scenarios that leave the
lab on an imported intermediate (`crl-chain-missing`'s rollback does not; `crl-expired` does),
whose root key is elsewhere."""

from __future__ import annotations

import pytest

from regen.core.progress import Progress
from regen.jobs import scenario as scenario_job
from regen.scenarios import format as scenario
from regen.scenarios import runner

pytestmark = [pytest.mark.docker]



def _order(path):
    scn = scenario.load(path)
    own = scn.topology != scenario.DEFAULT_TOPOLOGY
    return (0 if own else 2 if scn.leaves_lab_broken else 1, path.stem)


PATHS = sorted(scenario.all_paths(), key=_order)
_NAMES = [p.stem for p in PATHS]
assert _NAMES.index("ca-expired") < _NAMES.index("crl-expired")


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_scenario(path, scenario_labs):
    scn = scenario.load(path)
    lab = scenario_labs.get(scn)
    result = scenario_job.rehearse(scn, lab.name, lab=lab, progress=Progress())
    scenario_labs.release(lab, healthy=result.lab_healthy)
    assert result.expectations, "the scenario checked nothing"
    assert result.passed, runner.summary(result)
