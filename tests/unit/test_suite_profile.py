"""The suite's profile: a container removed keeps its last CPU reading, other workers' labs
are not counted, each test is one row, and the summary ranks and groups them."""

from __future__ import annotations

from types import SimpleNamespace

from regen.lab import metrics
from tests import suite_profile


class Engine:
    def __init__(self, containers: dict[str, str]) -> None:
        self.containers_by_id = containers  # id -> name
        self.api = SimpleNamespace(containers=lambda all: [{"Id": i, "Names": [f"/{n}"]}
                                                           for i, n in self.containers_by_id.items()])


def test_the_meter_counts_this_workers_containers_and_keeps_a_removed_ones_last_reading(monkeypatch):
    cpu = {"a": 10.0, "b": 4.0, "c": 99.0}
    monkeypatch.setattr(metrics, "_cgroup_cpu", lambda cid: cpu.get(cid))
    engine = Engine({"a": "tabc-gw0-server", "b": "rlxyz-gw0-1-agent-1", "c": "tabc-gw1-server"})
    meter = metrics.CpuMeter(engine, ("tabc-gw0", "rlxyz-gw0-"))
    assert meter.total() == 14.0  # gw1's lab is the other worker's
    cpu["a"] = 25.0
    del engine.containers_by_id["b"]  # removed: its 4 CPU-seconds stay counted
    assert meter.total() == 29.0


def test_each_test_is_one_row_with_its_wall_time_and_lab_cpu(tmp_path):
    readings = iter([100.0, 130.5])
    meter = SimpleNamespace(total=lambda: next(readings), stop=lambda: None)
    recorder = suite_profile.Recorder(tmp_path / "suite" / "r.jsonl", "gw0", meter)
    with recorder.timing("tests/scenarios/test_scenarios.py::test_scenario[stale-crl]", lambda: "failed"):
        pass
    with recorder.timing("tests/unit/test_x.py::test_y"):  # the meter is spent: unmeasured, not zero
        pass
    rows = suite_profile.load(tmp_path / "suite" / "r.jsonl")
    assert [(r.group, r.cpu, r.worker, r.outcome) for r in rows] == [("scenarios", 30.5, "gw0", "failed"),
                                                                      ("unit", None, "gw0", "")]


def test_the_summary_ranks_the_slowest_and_adds_up_each_group():
    rows = [suite_profile.Row("tests/unit/test_a.py::t", 0.5, None, "gw0"),
            suite_profile.Row("tests/scenarios/test_soak.py::t", 400.0, 900.0, "gw1"),
            suite_profile.Row("tests/scenarios/test_scenarios.py::test_scenario[a]", 200.0, 300.0, "gw0"),
            suite_profile.Row("tests/scenarios/test_scenarios.py::test_scenario[b]", 100.0, 150.0, "gw1")]
    text = suite_profile.summary(rows, wall=360.0, top=2)
    slowest = text.split("| the 2 slowest tests")[1].split("| group")[0]
    assert "test_soak.py" in slowest and "[a]" in slowest and "[b]" not in slowest
    assert "| scenarios | 2 | 300 | 450 |" in text and "| unit | 1 | 0 | - |" in text
    assert text.startswith("suite: 4 tests (0 failed) in 6.0 min")
