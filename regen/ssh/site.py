"""The Site of a site file's real hosts, each reached over SSH as its ``connect`` entry says
(a host without one: its certname as address, root, port 22, no sudo)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import BadInput
from ..procedure.site import Host, Site
from ..sites.format import Reach, SiteSpec
from .executor import SSHExecutor


def reach_of(spec: SiteSpec, certname: str) -> Reach:
    return spec.reach.get(certname) or Reach(certname)


def site_of(spec: SiteSpec, known_hosts: Path, identity: Path | None = None) -> Site:
    """The site's hosts with their roles, reached over SSH; their keys must be in ``known_hosts``."""
    if spec.puppetdb_on_master:
        raise BadInput(f"{spec.path}: PuppetDB on the master: the procedure does not handle it yet (its step 2.2 "
                       "would re-enroll the master); PuppetDB and PostgreSQL on their own hosts, or none")
    made: dict[str, Host] = {}

    def host(certname: str) -> Host:
        if certname not in made:
            r = reach_of(spec, certname)
            made[certname] = Host(certname, certname, SSHExecutor(
                certname, r.address, port=r.port, user=r.user, sudo=r.sudo, known_hosts=known_hosts,
                identity=identity))
        return made[certname]

    return Site(spec.name, tuple((host(certname), role) for certname, role in spec.roles().items()),
                f"{spec.path} ({spec.topology()})")
