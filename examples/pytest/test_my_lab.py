"""Tests of your own against a lab, with Regen Lab's pytest plugin (installed with the
package: `pip install regenlab`, then `pytest` finds its fixtures). `make test` runs this
folder too, on the lab the suite shares (same shape: 2 agents)."""

import pytest

from regen.jobs import rehearsal

pytestmark = pytest.mark.regen_lab(agents=2)  # the lab these tests need; Puppet 7 unless puppet=8


def test_every_node_is_ready_under_one_ca(regen_lab):
    rows = regen_lab.status()
    assert {r.state for r in rows} == {"ready"}
    assert len({r.ca_fingerprint for r in rows}) == 1
    assert sum(r.role == "agent" for r in rows) == 2


def test_the_preflight_lets_a_regeneration_go_ahead(regen_lab):
    found = rehearsal.check(regen_lab)
    assert found.ok, found.summary()
    assert {c.host for c in found.checks} >= {"server", "puppetdb", "agent-1", "agent-2"}
