"""The regeneration procedure on a real 3-agent lab of its own, proved the way a user cares
about: agents run under the new CA, old credentials are refused with the servers' real errors.
(The interrupted-and-resumed run is in test_lab.py, on the shared lab: `--dist loadfile` keeps
each file's labs on one worker.)"""

from __future__ import annotations

import pytest

from regen import pki, procedure, puppet
from regen.progress import Progress
from regen.rehearsal import regenerate
from tests.conftest import lab_ca_fingerprint, lab_name, running_lab

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def lab3(request, docker_client, worker_id):
    """A 3-agent lab of its own: the procedures below change its CA."""
    with running_lab(request, docker_client, lab_name(worker_id, "-regen"), agents=3) as lab:
        yield lab


def serials(lab) -> dict[str, int]:
    return {a.name: pki.load_certs(a.executor.read_file(puppet.hostcert(a.certname)))[0].serial_number
            for a in lab.agents}


def test_partial_regeneration_of_one_agent_keeps_the_ca(lab3):
    before, fp = serials(lab3), lab_ca_fingerprint(lab3)
    report = regenerate(lab3, Progress(), agents=["agent-2"])
    assert report.passed, [p for p in report.proofs if not p.passed]
    after = serials(lab3)
    assert lab_ca_fingerprint(lab3) == fp
    assert after["agent-2"] != before["agent-2"]
    assert {k: v for k, v in after.items() if k != "agent-2"} == {k: v for k, v in before.items() if k != "agent-2"}
    revoked = next(p for p in report.proofs if "revoked" in p.claim)
    assert f"agent-2 serial {before['agent-2']:X} revoked" in revoked.evidence
    refused = next(p for p in report.proofs if "refused" in p.claim)
    assert "old cert refused" in refused.evidence and "new cert accepted" in refused.evidence


def test_full_regeneration_every_proof_passes(lab3):
    old = lab_ca_fingerprint(lab3)
    report = regenerate(lab3, Progress())
    assert report.passed, [p for p in report.proofs if not p.passed]
    assert [p.id for p in report.proofs] == ["1", "2", "3", "4"]
    assert lab_ca_fingerprint(lab3) != old
    assert report.downtime_seconds and report.downtime_seconds > 0
    refused = next(p for p in report.proofs if p.id == "3")
    # the real TLS error of each server, quoted
    assert "server: old cert refused (curl exit" in refused.evidence
    assert "puppetdb: old cert refused (curl exit" in refused.evidence
    # nothing of the old CA is left on any node
    for node in lab3.nodes:
        if node.role != "postgres":
            bundle = pki.load_certs(node.executor.read_file(puppet.LOCALCACERT))
            assert pki.fingerprint(pki.root_of(bundle)) == lab_ca_fingerprint(lab3)


def test_skipping_step_2_fails_the_proof_with_the_real_puppetdb_error(lab3, monkeypatch):
    monkeypatch.setattr(procedure, "REPORTS_TIMEOUT", 45)  # no report can reach PuppetDB: do not wait long
    report = regenerate(lab3, Progress(), skip=("2.2",))
    assert not report.passed
    runs = next(p for p in report.proofs if p.id == "2")
    assert not runs.passed
    # the agent run's own error: the master cannot talk to PuppetDB under the new CA
    assert "Error" in runs.evidence and ("puppetdb" in runs.evidence.lower() or "500" in runs.evidence)
    chains = next(p for p in report.proofs if p.id == "1")
    assert "puppetdb: cert does not chain to the CA" in chains.evidence
