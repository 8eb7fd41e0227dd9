"""`puppet.bootstrap`: a TLS error is the host's answer at once (Puppet's own loop would retry it
until maxwaitforcert); any other error gets Puppet's loop; a success is one command."""

from __future__ import annotations

import pytest

from regen.core.errors import CommandFailed
from regen.ops import puppet
from tests.unit.fakes import Scripted

STALE_CRL = ("Error: certificate verify failed [unable to get certificate CRL for CN=Puppet CA: server]\n"
             "Error: Could not run: certificate verify failed [unable to get certificate CRL for CN=Puppet CA: server]")
REFUSED = ("Error: Connection to https://puppet:8140/puppet-ca/v1 failed, trying next route: Failed to open TCP "
           "connection to puppet:8140 (Connection refused - connect(2) for \"puppet\" port 8140)\n"
           "Error: Could not run: No more routes to ca")


HOSTNAME = ("Error: Server hostname 'puppet' did not match server certificate; expected one of server, DNS:server\n"
            "Error: Could not run: Server hostname 'puppet' did not match server certificate; expected one of server, "
            "DNS:server")
EXPIRED_CRL = "Error: Could not run: The CRL issued by 'CN=Puppet CA: server' has expired, verify time is synchronized"


def onetime(argv) -> bool:
    return argv[:3] == ["puppet", "ssl", "bootstrap"] and "--onetime" in argv


def looping(argv) -> bool:
    return argv[:3] == ["puppet", "ssl", "bootstrap"] and "--onetime" not in argv


@pytest.mark.parametrize("error", [STALE_CRL, HOSTNAME, EXPIRED_CRL], ids=["stale-crl", "hostname", "expired-crl"])
def test_a_tls_failure_is_raised_at_once_with_puppets_error(error):
    host = Scripted("agent-1", rules=[(onetime, (1, "", error)), (looping, (0, "", ""))])
    with pytest.raises(CommandFailed, match=error.splitlines()[-1][:40]) as failed:
        puppet.bootstrap(host, maxwait=75)
    assert failed.value.node == "agent-1"
    assert [a[:3] for a in host.log] == [["puppet", "ssl", "bootstrap"]]  # no second try


def test_a_ca_not_answering_yet_gets_puppets_own_loop():
    done = (0, "Notice: Completed SSL initialization", "")
    host = Scripted("agent-1", rules=[(onetime, (1, "", REFUSED)), (looping, done)])
    res = puppet.bootstrap(host, maxwait=75)
    assert res.exit_code == 0
    assert [onetime(a) for a in host.log] == [True, False]
    assert "--maxwaitforcert=75" in host.log[1]


def test_the_loop_failing_too_is_the_error_raised():
    host = Scripted("agent-1", rules=[(onetime, (1, "", REFUSED)), (looping, (1, "", REFUSED))])
    with pytest.raises(CommandFailed, match="No more routes to ca"):
        puppet.bootstrap(host, maxwait=75)


def test_a_success_is_one_command_that_still_waits_for_signing():
    host = Scripted("agent-1", rules=[(onetime, (0, "Notice: Completed SSL initialization", ""))])
    puppet.bootstrap(host)
    assert len(host.log) == 1 and "--waitforcert=1" in host.log[0]
    assert f"--maxwaitforcert={puppet.MAXWAITFORCERT}" in host.log[0]


def test_the_two_tries_together_wait_no_longer_than_maxwait(monkeypatch):
    """A first try that used up the wait (the CA never signed) is the answer; one that failed
    after 30 s of a 75 s wait leaves Puppet's loop the 45 s left."""
    clock = iter([0.0, 75.5])
    monkeypatch.setattr(puppet.time, "monotonic", lambda: next(clock))
    unsigned = "Error: Couldn't fetch certificate from CA server; you might still need to sign this agent's certificate"
    host = Scripted("agent-1", rules=[(onetime, (1, unsigned, "")), (looping, (0, "", ""))])
    with pytest.raises(CommandFailed, match="you might still need to sign"):
        puppet.bootstrap(host, maxwait=75)
    assert len(host.log) == 1

    clock = iter([0.0, 30.0])
    host = Scripted("agent-1", rules=[(onetime, (1, "", REFUSED)), (looping, (0, "", ""))])
    puppet.bootstrap(host, maxwait=75)
    assert "--maxwaitforcert=45" in host.log[1] and "--onetime" not in host.log[1]
