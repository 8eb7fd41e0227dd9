"""The transcript and the runbook: every command noted with its step and host (threads
included), a written file noted without its content; the runbook writes Puppet's paths as
variables (so a Debian rehearsal reads right on the all-in-one packages), run-time values as
placeholders, a repeated command as a wait; each host's script parses; the SSH executor and a
site file's hosts over SSH refuse what they cannot do safely."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from regen.core.errors import BadInput, CommandFailed
from regen.core.transcript import Command, Recording, Transcript, within
from regen.core.wait import parallel
from regen.ops import puppet
from regen.procedure import runbook
from regen.procedure.runner import Step
from regen.sites.format import find
from regen.ssh import site as ssh_site
from regen.ssh.executor import SSHExecutor
from tests.unit.fakes import Scripted

DEBIAN = {k: getattr(puppet.DEBIAN, k) for k in ("ssldir", "certdir", "privatekeydir", "publickeydir",
                                                  "localcacert", "hostcrl", "cadir", "confdir")}
AIO = {**{k: v.replace("/var/lib/puppet/ssl", "/etc/puppetlabs/puppet/ssl") for k, v in DEBIAN.items()},
       "cadir": "/etc/puppetlabs/puppetserver/ca", "confdir": "/etc/puppetlabs/puppet"}


def test_every_command_is_noted_with_its_step_and_host_even_from_threads_and_never_a_files_content():
    transcript = Transcript()
    class Host(Scripted):
        def write_file(self, path, data, *, mode=0o644, owner="root:root"):
            self.files[path] = data

    hosts = [Recording(Host(n, rules=[(lambda argv: True, (0, "", ""))]), transcript) for n in ("a", "b")]
    with within("1.5", "run"):
        parallel(hosts, lambda h: h.run(["puppet", "ssl", "clean"]))
        hosts[0].write_file("/etc/x/key.pem", b"-----BEGIN PRIVATE KEY-----\nsecret\n", mode=0o600)
    hosts[1].run(["true"])
    steps = {(c.step, c.phase, c.host, c.kind) for c in transcript.commands}
    assert steps == {("1.5", "run", "a", "run"), ("1.5", "run", "b", "run"), ("1.5", "run", "a", "write"),
                     ("", "", "b", "run")}
    write = next(c for c in transcript.commands if c.kind == "write")
    assert write.argv == ("/etc/x/key.pem", "600", "root:root") and write.stdin > 0
    assert "secret" not in repr(transcript.commands)


def test_a_failed_command_is_noted_and_raised_as_before():
    transcript = Transcript()
    host = Recording(Scripted("a", rules=[(lambda argv: True, (3, "", "stopped"))]), transcript)
    with pytest.raises(CommandFailed):
        host.run(["/etc/init.d/puppet", "status"])
    assert host.run(["/etc/init.d/puppet", "status"], ok_codes=(0, 3)).exit_code == 3
    assert [c.exit_code for c in transcript.commands] == [3, 3]


def test_a_transcript_is_saved_owner_only_and_read_back(tmp_path):
    transcript = Transcript([Command("0", "run", "a", "run", ("ls", "/"), 0)])
    path = transcript.save(tmp_path / "t.json")
    assert path.stat().st_mode & 0o077 == 0
    assert Transcript.load(path).commands == transcript.commands


def _cmd(step: str, host: str, *argv: str, phase: str = "run", kind: str = "run", code: int = 0) -> Command:
    return Command(step, phase, host, kind, argv, code)


def _render(commands: list[Command], layouts: dict) -> runbook.Runbook:
    steps = (Step("1.4", "delete the ssldir and the cadir", lambda ctx: None),
             Step("3", "agents re-enrolled", lambda ctx: None, needs=("1.4",)))
    return runbook.render(Transcript(commands), steps, {"server": ("server", "puppet.lan"),
                                                        "web1": ("agent", "web1.lan")},
                          {"server": layouts, "web1": layouts}, "a site", "a test")


@pytest.mark.parametrize("layout", [DEBIAN, AIO], ids=["debian", "all-in-one"])
def test_puppets_paths_become_variables_and_run_time_values_placeholders(layout, tmp_path):
    ssldir, cadir = layout["ssldir"], layout["cadir"]
    book = _render([
        _cmd("1.4", "server", "cat", f"{cadir}/ca_crt.pem", phase="check", code=1),
        _cmd("1.4", "server", "rm", "-rf", ssldir, cadir),
        _cmd("1.4", "server", "sh", "-c", "tar", "sh", "/root/regen-backup-8812345678901.tar.gz",
             cadir.lstrip("/")),
        _cmd("3", "server", "sh", "-c", 'tail -n +"$1"', "sh", "193", "103", "/var/log/puppetserver/puppetserver.log"),
        *[_cmd("3", "server", "ls", f"{cadir}/requests")] * 4,
        _cmd("3", "server", "curl", "-X", "PUT", "https://puppet.lan:8140/puppet-ca/v1/certificate_status/web1.lan",
             "https://puppet.lan:8140/puppet-ca/v1/certificate_status/web2.lan"),
        _cmd("3", "web1", f"{ssldir}/certs/web1.lan.pem", kind="read"),
        _cmd("3", "web1", "/etc/mcollective/ssl/server_private.pem", "600", "root:root", kind="write"),
    ], layout)
    md = book.markdown
    assert 'rm -rf "${SSLDIR}" "${CADIR}"' in md and ssldir not in md.split("## Step")[2]
    assert '"${CADIR#/}"' in md  # a path relative to / (in a tar)
    assert "/root/regen-backup-<RANDOM>.tar.gz" in md and "<LOG_LINE> <LOG_LINE>" in md
    assert 'ls "${CADIR}/requests"  # WAIT: sent 4 times' in md
    assert md.count("certificate_status/web") == 2 and "certificate_status/web2.lan" in md  # one call per request
    assert "exited 1 in the rehearsal" in md and "**Check first**" in md
    assert "install -m 600 -o root -g root /dev/stdin /etc/mcollective/ssl/server_private.pem" in md
    assert "A rollback is refused from here" in md.split("## Step 3:")[1]
    for host, script in book.scripts.items():
        path = tmp_path / f"{host}.sh"
        path.write_text(script)
        assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0, script
    assert "# (needs the run's own value) sh -c" in book.scripts["server"]


def test_two_runs_that_differ_only_in_run_time_values_and_timing_normalize_the_same():
    one = Transcript([_cmd("1.1", "server", "cat", "/root/regen-backup-111111111111.tar.gz", kind="read"),
                      _cmd("3", "server", "curl", "https://ca:8140/a", "https://ca:8140/b")])
    two = Transcript([_cmd("1.1", "server", "cat", "/root/regen-backup-222222222222.tar.gz", kind="read"),
                      _cmd("3", "server", "curl", "https://ca:8140/b"),
                      _cmd("3", "server", "curl", "https://ca:8140/a")])
    assert runbook.normalized(one, {}) == runbook.normalized(two, {})
    three = Transcript([*two.commands, _cmd("3", "server", "rm", "-rf", "/")])
    assert runbook.normalized(one, {}) != runbook.normalized(three, {})


def test_the_ssh_executor_needs_known_host_keys_and_says_when_a_host_does_not_answer(tmp_path):
    with pytest.raises(BadInput, match="known_hosts"):
        SSHExecutor("web1", "127.0.0.1", known_hosts=tmp_path / "none")
    known = tmp_path / "known_hosts"
    known.write_text("")
    down = SSHExecutor("web1", "127.0.0.1", port=1, known_hosts=known, connect_timeout=2)
    with pytest.raises(CommandFailed) as failed:
        down.run(["true"])
    assert failed.value.exit_code == 255 and "cannot connect" in str(failed.value)
    sudo = SSHExecutor("web1", "web1.lan", known_hosts=known, user="admin", sudo=True)
    assert sudo.command_line(["sh", "-c", "rm -rf \"$1\"/*", "sh", "/var/lib/puppet/ssl"], 60) == \
        "sudo -n -- timeout -k 5 60 sh -c 'rm -rf \"$1\"/*' sh /var/lib/puppet/ssl"


def test_a_site_files_hosts_are_reached_as_its_connect_entries_say(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    site = ssh_site.site_of(find("compilers"), known)
    ca = site.ca.executor
    assert (ca.address, ca.user, ca.sudo, ca.port) == ("10.1.0.10", "admin", True, 22)
    agent = site.agents[0].executor
    assert (agent.address, agent.user, agent.sudo) == (site.agents[0].certname, "root", False)
    assert [h.name for h, _ in site.roles()][:3] == ["ca.prod.example", "compiler01.prod.example",
                                                     "compiler02.prod.example"]


def test_puppetdb_on_the_master_is_refused_over_ssh(tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    spec = Path(tmp_path / "s.yaml")
    spec.write_text("master: {certname: puppet.lan}\npuppetdb: {on_master: true, postgres: pg.lan}\nmcollective: none\n"
                    "agents: [a.lan]\n")
    with pytest.raises(BadInput, match="PuppetDB on the master"):
        ssh_site.site_of(find(str(spec)), known)
