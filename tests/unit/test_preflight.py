"""Preflight: a healthy site may go ahead; a stopped PuppetDB, a skewed clock and a host that
does not answer each bar the run with its own line; an expiring CA and pending requests are
named as warnings; nothing on any host is changed."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from regen.procedure import preflight
from regen.procedure.site import Host, Site
from tests.unit.fakes import NOW, Scripted, has, make_puppet_ca, pem

DEBIAN_CA = "/etc/puppet/puppetserver/ca"
SSL = "/var/lib/puppet/ssl"


def _clock(skew: float = 0.0):
    return lambda argv: (0, f"{time.time() + skew:.3f}\n", "")


def _host(name: str, role: str, files: dict[str, bytes], skew: float = 0.0, running: bool = True,
          pending: str = "") -> Scripted:
    rules = [
        (lambda argv: argv[:2] == ["date", "+%s.%N"], _clock(skew)),
        (has("puppetdb-status"), (0, '{"state": "%s"}' % ("running" if running else "stopping"), "")),
        (lambda argv: argv[-1] == "status", (0 if running else 3, "", "")),
        (has("puppet --version"), (0, "7.23.0\n", "")),
        (lambda argv: argv[:2] == ["ls", f"{DEBIAN_CA}/requests"], (0, pending, "")),
        (has("du -sk"), (0, "120\n900000\n", "")),
    ]
    return Scripted(name, files=files, rules=rules)


def _site(**faults) -> tuple[Site, dict[str, Scripted]]:
    root, inter, leaf, _ = make_puppet_ca()
    ca_files = {f"{DEBIAN_CA}/ca_crt.pem": pem(inter, root), f"{SSL}/certs/server.pem": pem(leaf)}
    hosts = {
        "server": _host("server", "server", ca_files, pending=faults.get("pending", "")),
        "puppetdb": _host("puppetdb", "puppetdb", {f"{SSL}/certs/puppetdb.pem": pem(leaf)},
                          running=not faults.get("puppetdb_stopped")),
        "postgres": _host("postgres", "postgres", {}),
        "agent-1": _host("agent-1", "agent", {f"{SSL}/certs/agent-1.pem": pem(leaf)}, skew=faults.get("skew", 0.0)),
    }
    if faults.get("agent_down"):
        hosts["agent-1"] = Scripted("agent-1", rules=[(lambda argv: True, (1, "", "Error: container is not running"))])
    site = Site.of("lab", Host("server", "server", hosts["server"]), Host("puppetdb", "puppetdb", hosts["puppetdb"]),
                Host("postgres", "postgres", hosts["postgres"]), (Host("agent-1", "agent-1", hosts["agent-1"]),))
    return site, hosts


def _status(result: preflight.Preflight, host: str, check: str) -> tuple[str, str]:
    found = [c for c in result.checks if c.host == host and c.check == check]
    assert len(found) == 1, f"{host} {check}: {found}"
    return found[0].status, found[0].detail


def test_a_healthy_site_may_go_ahead_and_nothing_is_changed(tmp_path):
    site, hosts = _site()
    result = preflight.check(site, tmp_path, now=NOW - dt.timedelta(days=60))
    assert result.ok and not result.failed, result.failed
    assert _status(result, "site", "CA")[0] == preflight.OK
    assert _status(result, "server", "alt names") == (preflight.OK, "agent-1")  # the test cert's names
    assert _status(result, "puppetdb", "service") == (preflight.OK, "puppetdb running")
    assert _status(result, "agent-1", "clock")[0] == preflight.OK
    assert _status(result, "agent-1", "puppet") == (preflight.OK, "Puppet 7.23.0")
    assert "0 failed: the run can go ahead" in result.summary()
    writes = [a for h in hosts.values() for a in h.log
              if a[0] in ("rm", "mv", "cp", "tee", "chown", "chmod", "puppetserver") or
              a[0] == "service" and a[-1] != "status"]
    assert writes == []


def test_a_stopped_puppetdb_a_skewed_clock_and_a_host_down_each_bar_the_run(tmp_path):
    site, _ = _site(puppetdb_stopped=True, skew=-120.0)
    result = preflight.check(site, tmp_path, now=NOW - dt.timedelta(days=60))
    assert {(c.host, c.check) for c in result.failed} == {("puppetdb", "service"), ("agent-1", "clock")}
    assert _status(result, "puppetdb", "service") == (preflight.FAIL, "puppetdb NOT running")
    assert _status(result, "agent-1", "clock")[1].startswith("-120.")
    with pytest.raises(preflight.PreflightFailed, match=r"puppetdb: service: puppetdb NOT running; agent-1: clock"):
        preflight.require(site, tmp_path)
    down, _ = _site(agent_down=True)
    result = preflight.check(down, tmp_path, now=NOW - dt.timedelta(days=60))
    assert [(c.host, c.check) for c in result.failed] == [("agent-1", "reachable")]
    assert "container is not running" in result.failed[0].detail


def test_an_expiring_ca_and_pending_requests_are_warnings_that_do_not_bar_the_run(tmp_path):
    site, _ = _site(pending="web9.pem\n")
    result = preflight.check(site, tmp_path, now=NOW + dt.timedelta(days=20))
    assert result.ok
    status, detail = _status(result, "site", "CA")
    assert status == preflight.WARN and "(in 10 days)" in detail
    assert _status(result, "server", "requests") == (
        preflight.WARN, "1 pending, made for the old CA (lost by the wipe): web9")
    later = preflight.check(site, tmp_path, now=NOW + dt.timedelta(days=45))
    assert "EXPIRED on" in _status(later, "site", "CA")[1] and later.ok


def test_a_run_does_not_start_on_a_site_that_fails_its_preflight(tmp_path):
    from regen.core.progress import Progress
    from regen.procedure import runner
    from regen.procedure.steps import running

    site, hosts = _site(puppetdb_stopped=True)
    with pytest.raises(preflight.PreflightFailed, match="puppetdb NOT running") as err:
        running.run(site, tmp_path, progress=Progress(quiet=True))
    assert err.value.exit_code == 3
    assert not runner.state_path(tmp_path, "lab").exists()  # no run begun: nothing to resume or roll back
    changed = [a for h in hosts.values() for a in h.log
               if a[0] in ("tar", "rm") or a[0] == "service" and a[-1] != "status"]
    assert changed == []
