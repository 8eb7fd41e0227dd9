"""PuppetDB's own SSL configuration (``jetty.ini``), as PuppetDB's ``ssl-setup`` writes it:
the host's Puppet cert and key, and the CA bundle it trusts for clients. A regeneration
must point it at the host's new files again (the seed: "run PuppetDB's ssl configuration
script"); on Debian ``ssl-setup`` refuses to run twice, so the settings are set with
``augtool``, the tool it uses itself."""

from __future__ import annotations

from ..core.executor import Executor
from . import puppet

JETTY_INI = "/etc/puppetdb/conf.d/jetty.ini"
SSL_KEYS = ("ssl-cert", "ssl-key", "ssl-ca-cert")
_AUG = f"Puppet.lns incl {JETTY_INI}"


def expected_ssl(where: puppet.Layout, certname: str) -> dict[str, str]:
    """jetty.ini's SSL settings on a PuppetDB host (its Layout) that serves with its own Puppet cert."""
    return {"ssl-cert": where.hostcert(certname), "ssl-key": where.hostkey(certname),
            "ssl-ca-cert": where.localcacert}


def set_ssl(ex: Executor, settings: dict[str, str]) -> None:
    commands = "".join(f"set /files{JETTY_INI}/jetty/{k} {v}\n" for k, v in settings.items())
    ex.run(["augtool", "-Ast", _AUG], input=commands.encode())


def configure_ssl(ex: Executor, where: puppet.Layout, certname: str) -> str:
    set_ssl(ex, expected_ssl(where, certname))
    return f"{JETTY_INI}: ssl-cert, ssl-key and ssl-ca-cert are the host's Puppet files"


def ssl_settings(ex: Executor) -> dict[str, str]:
    res = ex.run(["augtool", "-At", _AUG, "print", f"/files{JETTY_INI}/jetty"], check=False, timeout=30)
    out = {}
    for line in res.stdout.splitlines():  # /files/etc/puppetdb/conf.d/jetty.ini/jetty/ssl-cert = "/var/..."
        key, _, value = line.partition(" = ")
        name = key.rsplit("/", 1)[-1]
        if name in SSL_KEYS:
            out[name] = value.strip().strip('"')
    return out
