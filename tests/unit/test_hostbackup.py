"""Step 1.0's backup of the other hosts and a rollback's r.4 restoring it, on scripted hosts
(no Docker): what is kept of each part, the keys checked, owner-only and read back, which
parts a rollback restores, PostgreSQL first, services stopped around the unpacking, and a
backup that changed refused before any host is touched."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from regen.core.errors import RegenLabError
from regen.core.progress import Progress
from regen.procedure import hostbackup
from regen.procedure.runner import Context, RunState
from regen.procedure.site import Host, Site
from tests.unit.fakes import Scripted, cert, pem

TMP = "/root/regen-keep-7.tar.gz"  # time.time_ns() is 7


def _key():
    key = ec.generate_private_key(ec.SECP256R1())
    return key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())


def _pair(name: str) -> tuple[bytes, bytes]:
    key, key_pem = _key()
    return pem(cert(name, key, name, key, ca=False)), key_pem


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _part_files(site: Site) -> dict[str, dict[str, bytes]]:
    """What each part's tarball holds: its paths, with each pair matching."""
    out = {}
    for part in hostbackup.parts(site):
        files = {p: b"setting = 1\n" for p in part.paths}  # a path given whole (a directory stands for itself)
        for public, private in part.pairs:
            if "server_public" in public:
                key, key_pem = _key()
                files[public] = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo)
                files[private] = key_pem
            else:
                files[public], files[private] = _pair(part.host.certname)
        out[part.name] = files
    return out


class Host_(Scripted):
    """A scripted host that also writes its commands to one log shared by every host."""

    def __init__(self, node, shared, files=None, rules=None):
        super().__init__(node, files, rules)
        self.shared = shared

    def run(self, argv, **kw):
        if "config print" not in " ".join(argv):  # reading where Puppet's files are changes nothing
            self.shared.append((self.node, list(argv)))
        return super().run(argv, **kw)

    def write_file(self, path, data, *, mode=0o644, owner="root:root"):
        self.shared.append((self.node, ["write", path, oct(mode)]))


def _site(shared: list, tarballs: dict[str, bytes] | None = None) -> Site:
    ok = [(lambda argv: argv == ["ls", "/etc/postgresql"], (0, "15\n", "")),
          (lambda argv: argv[0] != "cat", (0, "", ""))]

    def host(name: str) -> Host:
        files = {TMP: tarballs[name]} if tarballs and name in tarballs else {}
        return Host(name, name, Host_(name, shared, files, ok))

    return Site.of("lab1", host("server"), host("puppetdb"), host("postgres"), agents=(host("agent-1"),),
                broker=host("broker"))


@pytest.fixture
def ns7(monkeypatch):
    import time

    monkeypatch.setattr(time, "time_ns", lambda: 7)


def _ctx(tmp_path, site: Site, begun: list[str] = ()) -> Context:
    state = RunState(lab="lab1", mode="full", agents=["agent-1"], autosign=False, started="2026-11-29T10:00:00.000Z")
    state.begun = list(begun)
    return Context(site, state, tmp_path / "backups", Progress(quiet=True))


def _taken(tmp_path) -> tuple[Context, dict[str, dict[str, bytes]]]:
    """Step 1.0 taken on a site whose hosts serve their parts' tarballs."""
    files = _part_files(_site([]))
    by_host = {"server": "mco-admin", "agent-1": "mco-agent-1"}
    tarballs = {h: _tgz(files[by_host.get(h, h)]) for h in ("server", "puppetdb", "postgres", "broker", "agent-1")}
    ctx = _ctx(tmp_path, _site([], tarballs))
    hostbackup.take(ctx)
    return ctx, files


def test_every_part_is_kept_checked_owner_only_and_read_back(tmp_path, ns7):
    ctx, files = _taken(tmp_path)
    backup = ctx.state.facts.backup
    path = tmp_path / "backups" / "lab1-2026-11-29T100000.000Z.hosts.tar"
    assert backup.hosts_path == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert backup.hosts_sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and hostbackup.taken(ctx)
    assert set(backup.hosts) == {"postgres", "puppetdb", "broker", "mco-admin", "mco-agent-1"}
    assert backup.hosts["puppetdb"] == {p.lstrip("/"): hashlib.sha256(d).hexdigest()
                                        for p, d in files["puppetdb"].items()}
    assert set(hostbackup.members(path.read_bytes())) == set(backup.hosts)
    for host in ctx.site.all_hosts:  # the temporary tarball is removed on every host
        assert ["rm", "-f", TMP] in host.executor.log


def test_a_key_that_is_not_its_certs_stops_the_backup_before_anything_is_written(tmp_path, ns7):
    files = _part_files(_site([]))
    files["puppetdb"]["/var/lib/puppet/ssl/private_keys/puppetdb.pem"] = _key()[1]  # another key
    by_host = {"server": "mco-admin", "agent-1": "mco-agent-1"}
    tarballs = {h: _tgz(files[by_host.get(h, h)]) for h in ("server", "puppetdb", "postgres", "broker", "agent-1")}
    ctx = _ctx(tmp_path, _site([], tarballs))
    with pytest.raises(RegenLabError, match=r"backup of puppetdb \(puppetdb\): .*private_keys/puppetdb.pem does not "
                                            "match"):
        hostbackup.take(ctx)
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())
    assert not ctx.state.facts.backup.hosts_path


def test_a_part_missing_a_path_stops_the_backup(tmp_path, ns7):
    files = _part_files(_site([]))
    del files["postgres"]["/etc/postgresql/ssl/postgres.key"]
    tarballs = {"postgres": _tgz(files["postgres"])}
    site = _site([], tarballs)
    with pytest.raises(RegenLabError, match="the backup of postgres .* lacks /etc/postgresql/ssl/postgres.key"):
        hostbackup.verify_part(hostbackup.parts(site)[0], tarballs["postgres"])


@pytest.mark.parametrize("begun, parts", [
    (["0", "1.0", "1.1", "1.4", "1.5", "1.8"], []),
    (["2.1"], ["postgres"]),
    (["2.2"], ["puppetdb"]),
    (["2.2", "2.5"], ["puppetdb"]),
    (["2.3"], ["broker", "mco-agent-1"]),  # the daemons reconnect at once to the broker put back
    (["2.4"], ["mco-admin", "mco-agent-1"]),
    (["2.1", "2.2", "2.3", "2.4", "2.5"], ["postgres", "puppetdb", "broker", "mco-admin", "mco-agent-1"]),
])
def test_a_rollback_restores_exactly_the_parts_whose_steps_began(tmp_path, begun, parts):
    ctx = _ctx(tmp_path, _site([]), begun)
    assert [p.name for p in hostbackup.to_restore(ctx.site, ctx.state)] == parts


def test_a_restore_puts_postgres_back_first_and_stops_each_service_around_its_files(tmp_path, ns7):
    ctx, _ = _taken(tmp_path)
    shared: list = []
    site = _site(shared)
    ctx = Context(site, ctx.state, ctx.backup_dir, ctx.progress)
    ctx.state.begun = ["0", "1.0", "1.1", "1.8", "2.1", "2.2"]
    detail = hostbackup.restore(ctx)
    assert "postgres, puppetdb" in detail
    hosts = [node for node, _ in shared]
    assert hosts[: hosts.index("puppetdb")] == ["postgres"] * hosts.index("puppetdb")  # PostgreSQL whole, first
    pdb = [argv for node, argv in shared if node == "puppetdb"]
    stop = pdb.index(["service", "puppetdb", "stop"])
    unpack = next(i for i, a in enumerate(pdb) if a[0] == "sh" and "tar -C / -xzpf" in a[2])
    start = next(i for i, a in enumerate(pdb) if a == ["service", "puppetdb", "start"])
    assert stop < unpack < start
    assert pdb[unpack][5:] == ["/var/lib/puppet/ssl", "/etc/puppetdb/conf.d/jetty.ini", "/etc/puppet/puppet.conf"]
    assert ["write", "/root/regen-restore-puppetdb.tar.gz", "0o600"] in pdb
    assert ["pg_ctlcluster", "15", "main", "reload"] in [a for n, a in shared if n == "postgres"]
    assert not [n for n, _ in shared if n in ("broker", "agent-1", "server")]  # their steps never began


def test_a_backup_that_changed_is_refused_before_any_host_is_touched(tmp_path, ns7):
    ctx, _ = _taken(tmp_path)
    shared: list = []
    ctx = Context(_site(shared), ctx.state, ctx.backup_dir, ctx.progress)
    ctx.state.begun = ["2.1"]
    path = ctx.state.facts.backup.hosts_path
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(RegenLabError, match="not the one step 1.0 verified"):
        hostbackup.restore(ctx)
    assert shared == []


def test_the_restore_is_done_only_when_every_file_is_back_and_the_services_run(tmp_path, ns7):
    ctx, files = _taken(tmp_path)
    wanted = ctx.state.facts.backup.hosts["postgres"]
    listing = "".join(f"{digest}  {path}\n" for path, digest in wanted.items())
    back = [(lambda argv: "sha256sum" in argv[2] if argv[0] == "sh" else False, (0, listing, ""))]
    site = Site.of("lab1", *(Host(n, n, Scripted(n, rules=back)) for n in ("server", "puppetdb", "postgres")),
                agents=())
    ctx = Context(site, ctx.state, ctx.backup_dir, ctx.progress)
    ctx.state.begun = ["2.1"]
    assert hostbackup.restored(ctx)
    one_off = listing.replace(next(iter(wanted.values())), "0" * 64, 1)
    site.postgres.executor.rules = [(back[0][0], (0, one_off, ""))]
    assert not hostbackup.restored(ctx)
    ctx.state.begun = ["0", "1.8"]
    assert not hostbackup.restored(ctx)  # nothing to restore: r.4 runs and says so
    assert hostbackup.restore(ctx).startswith("no step past 1.8 began")
