"""The rollback's proof: nothing lost (the backups' files back byte for byte)."""

from __future__ import annotations

import hashlib
import tarfile

from ...core.wait import parallel
from .. import hostbackup
from ..runner import RunState
from ..site import Site
from .runs import with_new_certs
from .verdict import Found, judged, nothing_to_check


def nothing_lost(site: Site, state: RunState) -> Found:
    """After a rollback: every file of the master's backup is back on the master byte for
    byte (the CA's key, certs, inventory, serial and CRL, puppet.conf), every file of each
    other host the run had changed is back too, and every agent still holds its old cert."""
    with tarfile.open(state.facts.backup.path, mode="r:gz") as tar:
        wanted = {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
                  for m in tar.getmembers() if m.isfile()}
    if not wanted:
        return nothing_to_check("the backup holds no file")
    now = hostbackup.digests(hostbackup.master_part(site.ca))
    missing = sorted(n for n in wanted if n not in now)
    differ = sorted(n for n in wanted if n in now and now[n] != wanted[n])
    others = hostbackup.to_restore(site, state)
    hosts_wanted = state.facts.backup.hosts
    off = parallel(others, lambda p: hostbackup.differences(p, hosts_wanted.get(p.name, {})))
    hosts_off = [f"{p.name}:{path}" for p, paths in zip(others, off, strict=True) for path in paths]
    hosts_files = sum(len(hosts_wanted.get(p.name, {})) for p in others)
    unkept = [p.name for p in others if not hosts_wanted.get(p.name)]
    moved = with_new_certs(site.agents, state)
    evidence = (f"{len(wanted) - len(missing) - len(differ)}/{len(wanted)} files of the backup identical on the "
                f"master; " + (f"{hosts_files - len(hosts_off)}/{hosts_files} files of the other hosts' backup "
                               f"identical on {', '.join(p.name for p in others)}; " if others else
                               "no other host had changed; ") +
                f"{len(site.agents) - len(moved)}/{len(site.agents)} agents keep their certs")
    for label, names in (("missing", missing), ("changed", differ), ("other hosts' files not back", hosts_off),
                         ("never backed up", unkept), ("agents with a new cert", moved)):
        if names:
            evidence += f"; {label}: {', '.join(names[:5])}"
    return judged(not (missing or differ or hosts_off or unkept or moved), evidence)


# --- MCollective over ActiveMQ ------------------------------------------------------------
