"""Hosts enrolled side by side: every failing host is quoted, not only the first."""

from __future__ import annotations

import pytest

from regen.core.errors import EXIT_RUN_FAILED, CommandFailed, HostsFailed
from regen.ops import puppet_ca


def _fails(node: str, error: str):
    def job():
        raise CommandFailed(node, ["puppet", "ssl", "bootstrap"], 1, f"Info: Creating a new RSA SSL key\n{error}")
    return job


def test_several_hosts_failing_are_each_quoted_with_their_own_error():
    jobs = [("agent-1", _fails("agent-1", "Error: certificate verify failed [unable to get certificate CRL]")),
            ("agent-2", _fails("agent-2", "Error: certificate verify failed [unable to get local issuer certificate]")),
            ("agent-3", lambda: "enrolled")]
    with pytest.raises(HostsFailed) as caught:
        puppet_ca.enroll_all(None, jobs, sign=False)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith("2 hosts failed:\n- agent-1: `puppet ssl bootstrap` exited 1")
    assert "unable to get certificate CRL" in text and "- agent-2: `puppet ssl bootstrap`" in text
    assert "unable to get local issuer certificate" in text
    assert caught.value.exit_code == EXIT_RUN_FAILED  # the CLI's "resume or roll back", not the command's 1


def test_one_host_failing_raises_its_own_error_and_a_long_one_keeps_its_end():
    with pytest.raises(CommandFailed, match="agent-2: `puppet ssl bootstrap` exited 1"):
        puppet_ca.enroll_all(None, [("agent-1", lambda: 1), ("agent-2", _fails("agent-2", "Error: x"))],  # type: ignore[arg-type]
                          sign=False)
    noisy = "\n".join(f"Warning: line {i}" for i in range(14)) + "\nError: the cause " + "x" * 700
    jobs = [(n, _fails(n, noisy)) for n in ("a", "b")]
    with pytest.raises(HostsFailed) as caught:
        puppet_ca.enroll_all(None, jobs, sign=False)  # type: ignore[arg-type]
    quoted = str(caught.value).split("\n- ")
    assert len(quoted) == 3 and all(len(q) <= HostsFailed.PER_HOST + 4 for q in quoted[1:])
    assert all(q.startswith(("a: `puppet", "b: `puppet")) and q.endswith("x" * 50) for q in quoted[1:])
