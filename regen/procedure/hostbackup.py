"""What a run keeps of each host before changing it, as ``Part``s (one host's files for one
purpose, and how they are put back), and the one way a part is taken, checked, kept and
restored:

- the master's (``master_part``): its cadir, ssldir and puppet.conf, kept by step 1.1 once
  Puppet Server has stopped (nothing writes to the CA while it is copied), in a gzipped tar of
  its own, and put back by a rollback's r.2;
- the other hosts' (``parts``), kept by step 1.0 before anything of theirs changes, one tar
  holding one gzipped tar per part, put back by a rollback's r.4: PostgreSQL's cert, key and
  configuration (changed in 2.1), PuppetDB's ssldir, jetty.ini and puppet.conf (2.2, 2.5), the
  broker's ssldir, stores and puppet.conf (2.3), MCollective's keys on the admin's host and on
  every agent (2.4), each compiler's ssldir and puppet.conf (2.6).

Each part is checked when taken (its paths and files there, each private key matching its cert
or public key), written owner-only on this machine and read back, and checked again before a
restore. A rollback restores only the parts whose steps began."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import RegenLabError
from ..core.executor import Executor
from ..core.files import write_private
from ..core.wait import parallel
from ..ops import mcollective, pki, puppet, puppet_reports, puppetdb
from ..ops.postgres import PG_SSL
from ..ops.postgres import reload as reload_postgres
from .ids import StepId as I  # noqa: N814
from .runner import Context, RunState
from .site import Host, Site

LIMIT = 8  # hosts backed up or restored side by side


def _always(ex: Executor) -> bool:
    return True


def _nothing(ex: Executor) -> None:
    return None


@dataclass(frozen=True)
class Part:
    """What the procedure changes on one host for one purpose, and how it is put back."""

    name: str  # its member in the backup: master, postgres, puppetdb, broker, mco-admin, mco-<agent>
    host: Host
    paths: tuple[str, ...]  # absolute
    steps: tuple[str, ...]  # the steps that change them: a rollback restores them once one began
    pairs: tuple[tuple[str, str], ...] = ()  # (a cert or public key, its private key): must match in the backup
    services: tuple[str, ...] = ()  # stopped before the restore
    start: Callable[[Executor], object] = _nothing  # after the restore
    running: Callable[[Executor], bool] = _always  # what the restore's check asks of the services
    files: tuple[str, ...] = ()  # besides the pairs', files that must be in the backup


def master_part(master: Host) -> Part:
    """The master's cadir, ssldir and puppet.conf (step 1.5 sets its autosign, and its server
    name if it moved): the CA's cert (first) and key, the master's cert and key, the CA's CRL
    and serial, the master's CA bundle. Its services are stopped by steps of their own (1.3,
    r.1: the downtime starts there) and started by r.3."""
    where = master.layout
    return Part("master", master, (where.cadir, where.ssldir, where.puppet_conf), (I.WIPE, I.NEW_CA),
                ((where.cacert, f"{where.cadir}/ca_key.pem"), (master.cert, master.key)),
                files=(f"{where.cadir}/ca_crl.pem", f"{where.cadir}/serial", where.localcacert))


def parts(site: Site) -> list[Part]:
    """Every part of the site, PostgreSQL first (PuppetDB checks its cert when it starts)."""
    pg, pdb = site.postgres, site.puppetdb
    out = []
    if pg is not None:
        out.append(Part("postgres", pg, ("/etc/postgresql",), (I.POSTGRES,),
                        ((f"{PG_SSL}/postgres.crt", f"{PG_SSL}/postgres.key"),), start=reload_postgres))
    if pdb is not None:
        out.append(Part("puppetdb", pdb, (pdb.layout.ssldir, puppetdb.JETTY_INI, pdb.layout.puppet_conf),
                        (I.PUPPETDB, I.START_PUPPETDB), ((pdb.cert, pdb.key),), ("puppetdb",),
                        start=lambda ex: puppet.start_jvm(ex, "puppetdb"),
                        running=lambda ex: puppet_reports.puppetdb_state(ex) == "running"))
    out += [Part(f"compiler-{c.name}", c, (c.layout.ssldir, c.layout.puppet_conf), (I.COMPILERS,),
                 ((c.cert, c.key),), ("puppetserver",),
                 start=lambda ex: puppet.start_jvm(ex, "puppetserver"),
                 running=lambda ex: puppet.service_running(ex, "puppetserver"))
            for c in site.compilers]
    if site.broker:
        broker, admin = site.broker, site.admin
        out += [
            Part("broker", broker, (broker.layout.ssldir, mcollective.BROKER_SSL, broker.layout.puppet_conf),
                 (I.BROKER,), ((broker.cert, broker.key),), ("activemq",),
                 start=lambda ex, where=broker.layout: mcollective.start_broker(ex, where),
                 running=lambda ex: puppet.service_running(ex, "activemq")),
            Part("mco-admin", admin, (mcollective.ADMIN_DIR, mcollective.MCO_SSL), (I.MCO_CREDENTIALS,),
                 ((mcollective.ADMIN_CERT, mcollective.ADMIN_KEY),)),
            # the daemons restarted also after the broker alone is restored: they reconnect at once
            *(Part(f"mco-{a.name}", a, (mcollective.MCO_SSL,), (I.BROKER, I.MCO_CREDENTIALS),
                   ((mcollective.SERVER_PUBLIC, mcollective.SERVER_PRIVATE),),
                   start=mcollective.restart_daemon, running=lambda ex: puppet.service_running(ex, "mcollective"))
              for a in site.agents),
        ]
    return out


def tar_on(ex: Executor, prefix: str, paths: tuple[str, ...]) -> bytes:
    """``tar -czf`` of ``paths`` on a host, into an owner-only file of this attempt's own
    (one an interrupted attempt left, with the same prefix, is removed), read, removed."""
    tmp = f"{prefix}-{time.time_ns()}.tar.gz"
    ex.run(["sh", "-c", 'p=$1 t=$2; shift 2; rm -f "$p"-*.tar.gz; umask 077 && tar -C / -czf "$t" "$@"', "sh",
            prefix, tmp, *(p.lstrip("/") for p in paths)])
    try:
        return ex.read_file(tmp)
    finally:
        ex.run(["rm", "-f", tmp], check=False)


def verify_part(part: Part, data: bytes) -> dict[str, str]:
    """A part's tarball is readable, holds each of its paths, each private key matches its
    cert or public key; returns every regular file's sha256 by path (relative to /)."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RegenLabError(f"the backup of {part.name} is not a readable tar.gz ({exc}); nothing was changed") \
            from None
    with tar:
        names = {m.name for m in members}
        missing = [p for p in part.paths if p.lstrip("/") not in names and
                   not any(n.startswith(p.lstrip("/") + "/") for n in names)]
        missing += [p for pair in part.pairs for p in pair if p.lstrip("/") not in names]
        missing += [p for p in part.files if p.lstrip("/") not in names]
        if missing:
            raise RegenLabError(f"the backup of {part.name} ({part.host.name}) lacks {', '.join(missing)}; "
                                "nothing was changed")

        def read(path: str) -> bytes:
            member = tar.extractfile(path.lstrip("/"))
            assert member is not None
            return member.read()

        for public, private in part.pairs:
            pem = read(public)
            ok = pki.key_matches_cert(read(private), pki.load_certs(pem, public)[0]) if b"CERTIFICATE" in pem \
                else pki.key_matches_public(read(private), pem)
            if not ok:
                raise RegenLabError(f"the backup of {part.name} ({part.host.name}): {private} does not match "
                                    f"{public}; nothing was changed")
        return {m.name: hashlib.sha256(read(m.name)).hexdigest() for m in members if m.isfile()}


def file_name(lab: str, started: str, suffix: str = ".hosts.tar") -> str:
    """A run's backup on this machine: the other hosts' (``.hosts.tar``) or the master's (``.tar.gz``)."""
    return f"{lab}-{started.replace(':', '')}{suffix}"


def keep(path: Path, data: bytes) -> str:
    """A backup written owner-only and fsynced on this machine, then read back: its sha256 (a
    file that reads back otherwise is removed, and nothing is changed)."""
    path = write_private(path, data)
    digest = hashlib.sha256(data).hexdigest()
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        path.unlink(missing_ok=True)
        raise RegenLabError(f"the backup {path} read back differs from what was written; nothing was changed")
    return digest


def read_kept(path: Path, sha256: str, step: str) -> bytes:
    """A backup read again, and refused unless it is the one ``step`` verified (its sha256)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegenLabError(f"the backup {path} cannot be read ({exc.strerror}): nothing was changed") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RegenLabError(f"the backup {path} is not the one step {step} verified (sha256 differs): "
                            "nothing was changed")
    return data


def take_master(ctx: Context) -> str:
    """1.1's backup: the master's part tarred on the master (a temporary file of this attempt's
    own), checked, kept; its files' sha256 in the run's state."""
    part = master_part(ctx.site.ca)
    data = tar_on(ctx.ca, "/root/regen-backup", part.paths)
    files = verify_part(part, data)
    path = ctx.backup_dir / file_name(ctx.site.name, ctx.state.started, ".tar.gz")
    backup = ctx.state.facts.backup
    backup.sha256 = keep(path, data)
    backup.path, backup.files = str(path), files
    return f"{path} ({len(data) // 1024} KiB, {len(files)} files; CA key and master key match their certs; " \
           "read back)"


def load_master(ctx: Context) -> bytes:
    """1.1's backup read and checked again, before anything is touched."""
    backup = ctx.state.facts.backup
    data = read_kept(Path(backup.path), backup.sha256, I.MASTER_BACKUP)
    verify_part(master_part(ctx.site.ca), data)
    return data


def unpack(part: Part, data: bytes) -> None:
    """A part put back on its host: its services stopped, its paths removed, its backup
    unpacked with owners and modes, its services started."""
    ex = part.host.executor
    for service in part.services:
        puppet.stop(ex, service)
    tmp = f"/root/regen-restore-{part.name}.tar.gz"
    ex.write_file(tmp, data, mode=0o600)
    ex.run(["sh", "-c", 't=$1; shift; for p in "$@"; do rm -rf "$p"; done; tar -C / -xzpf "$t"; rc=$?; '
            'rm -f "$t"; exit $rc', "sh", tmp, *part.paths])
    part.start(ex)


def take(ctx: Context) -> str:
    """1.0, before anything changes (Puppet Server still serves): every part tarred on its
    host, checked, gathered in one owner-only tar on this machine, fsynced, read back."""
    site_parts = parts(ctx.site)
    tarballs = parallel(site_parts, lambda p: tar_on(p.host.executor, "/root/regen-keep", p.paths), limit=LIMIT)
    hashes: dict[str, dict[str, str]] = {}
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tar:
        for part, data in zip(site_parts, tarballs, strict=True):
            hashes[part.name] = verify_part(part, data)
            info = tarfile.TarInfo(f"{part.name}.tar.gz")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    data = outer.getvalue()
    path = ctx.backup_dir / file_name(ctx.site.name, ctx.state.started)
    digest = keep(path, data)
    backup = ctx.state.facts.backup
    backup.hosts_path, backup.hosts_sha256, backup.hosts = str(path), digest, hashes
    names = [p.name for p in site_parts]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "") or \
        "no part: the procedure changes no other host's files on this site"
    return f"{path} ({len(data) // 1024} KiB; {shown}; every key matches its cert; read back)"


def taken(ctx: Context) -> bool:
    backup = ctx.state.facts.backup
    return bool(backup.hosts_path) and whole(Path(backup.hosts_path), backup.hosts_sha256)


def whole(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def members(data: bytes) -> dict[str, bytes]:
    """The parts' tarballs in a backup, by part name."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            return {m.name.removesuffix(".tar.gz"): tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RegenLabError(f"the backup of the other hosts is not a readable tar ({exc})") from None


def to_restore(site: Site, state: RunState) -> list[Part]:
    """The parts whose steps began: what a rollback puts back."""
    begun = state.begun_ids
    return [p for p in parts(site) if set(p.steps) & begun]


def load(ctx: Context) -> dict[str, bytes]:
    """The backup read and checked again (the sha256 recorded when it was taken), each part
    to restore present and verifying; before anything is touched."""
    backup = ctx.state.facts.backup
    path = Path(backup.hosts_path)
    found = members(read_kept(path, backup.hosts_sha256, I.HOST_BACKUP))
    for part in to_restore(ctx.site, ctx.state):
        if part.name not in found:
            raise RegenLabError(f"the backup {path} holds nothing of {part.name}: nothing was changed")
        verify_part(part, found[part.name])
    return found


def digests(part: Part) -> dict[str, str]:
    """Every file of a part's paths on its host now, with its sha256, by path (relative to /)."""
    res = part.host.executor.run(["sh", "-c", 'cd / && find "$@" -type f -exec sha256sum {} +', "sh",
                                  *(p.lstrip("/") for p in part.paths)], check=False)
    return {path: digest for digest, path in (line.split(None, 1) for line in res.stdout.splitlines() if line)}


def differences(part: Part, wanted: dict[str, str]) -> list[str]:
    """The files of a part's backup that are missing or differ on its host now."""
    now = digests(part)
    return sorted(n for n, digest in wanted.items() if now.get(n) != digest)


def restore(ctx: Context) -> str:
    """r.4: each part whose steps began put back on its host (its services stopped, its
    paths removed, the backup unpacked with owners and modes, the services started),
    PostgreSQL first."""
    todo = to_restore(ctx.site, ctx.state)
    if not todo:
        return "no step past 1.8 began: no other host changed, nothing to restore"
    found = load(ctx)

    def one(part: Part) -> None:
        unpack(part, found[part.name])

    first = [p for p in todo if p.name == "postgres"]
    parallel(first, one)
    parallel([p for p in todo if p not in first], one, limit=LIMIT)
    return f"restored from {ctx.state.facts.backup.hosts_path}: {', '.join(p.name for p in todo)}; " \
           "services started again"


def restored(ctx: Context) -> bool:
    todo = to_restore(ctx.site, ctx.state)
    wanted = ctx.state.facts.backup.hosts
    return bool(todo) and all(not differences(p, wanted.get(p.name, {})) and p.running(p.host.executor)
                              for p in todo)
