"""The benchmark's tables: a marginal agent is a slope between sizes of one kind of keys,
never across kinds; each kind is named in its rows and columns."""

from __future__ import annotations

from regen.jobs.bench import Measured, tables


def run(agents: int, downtime: float, cpu: float, keys: str = "default", keylength: int = 0) -> Measured:
    return Measured(agents, "graph", 60.0, downtime + 20, downtime, cpu, True, keys=keys, keylength=keylength)


def test_slopes_are_within_one_kind_of_keys_and_each_kind_is_named():
    text = tables([run(3, 50.0, 100.0), run(10, 85.0, 170.0), run(3, 40.0, 80.0, keylength=2048),
                   run(10, 61.0, 122.0, "rsa:2048", 2048)])
    rows = [line for line in text.splitlines() if line.lstrip().startswith(("3 ", "10 "))][:4]
    assert "5.00" in rows[1] and "10.0" in rows[1]  # 3 -> 10 at Puppet's keys: 35 s and 70 CPU-s over 7 agents
    assert "hosts rsa:2048" in rows[2] and "-" in rows[2].split()[-6:]  # a new kind starts with no slope
    assert "hosts rsa:2048, agents rsa:2048" in rows[3] and "3.00" not in rows[3]  # its keys differ from the row above
    assert "10 agents, hosts rsa:2048, agents rsa:2048" in text  # the per-kind columns name it
