"""PostgreSQL's TLS, as an operator sets it up: a certificate issued on the Puppet CA for the
database host, installed with the CA bundle, TLS switched on, the cluster reloaded."""

from __future__ import annotations

from ..core.executor import Executor
from . import puppet_ca

PG_SSL = "/etc/postgresql/ssl"


def postgres_tls(authority: puppet_ca.CA, pg: Executor, certname: str = "postgres") -> None:
    """Issue PostgreSQL's certificate (for its host's ``certname``, the name PuppetDB
    connects to and verifies) on the CA, install it with the CA bundle, switch TLS on,
    reload. The key is moved, not copied: it leaves the CA host. Safe to repeat after an
    interruption: a cert an earlier attempt had signed is cleaned on the CA first."""
    puppet_ca.ca_generate_anew(authority, certname, [certname])
    ca, where = authority.executor, authority.where
    cert = ca.read_file(where.hostcert(certname))
    key = ca.read_file(where.hostkey(certname))
    bundle = ca.read_file(where.localcacert)
    pg.write_file(f"{PG_SSL}/postgres.key", key, mode=0o600, owner="postgres:postgres")
    pg.write_file(f"{PG_SSL}/postgres.crt", cert, owner="postgres:postgres")
    pg.write_file(f"{PG_SSL}/ca.pem", bundle, owner="postgres:postgres")
    ca.run(["rm", "-f", where.hostkey(certname), where.hostcert(certname)])
    pg.write_file(f"/etc/postgresql/{_version(pg)}/main/conf.d/20-ssl.conf", b"ssl = on\n",
                  owner="postgres:postgres")
    reload(pg)


def _version(pg: Executor) -> str:
    return pg.run(["ls", "/etc/postgresql"]).stdout.split()[0]


def reload(pg: Executor) -> None:
    """The cluster reads its configuration and TLS files anew (connections stay up)."""
    pg.run(["pg_ctlcluster", _version(pg), "main", "reload"])
