"""`lab.*`: a lab brought up, shown, its logs read, and removed."""


from __future__ import annotations

import json
from dataclasses import asdict

from invoke import Collection

from regen.core.config import DEFAULT_SUITE
from regen.core.progress import Progress
from regen.lab import engine as engine_lib
from regen.lab import lab as lab_lib
from regen.lab import provision
from regen.lab import spec as lab_spec
from regen.sites import format as sites_lib

from .common import (
    AGENT_SUITE_HELP,
    AGENTS,
    NAME_HELP,
    SITE_HELP,
    SUITE_HELP,
    TAIL,
    alone,
    friendly,
    lab_name,
    show_status,
    task,
)


@task(help={"name": NAME_HELP, "agents": "how many agent nodes (default: 3)",
            "suite": SUITE_HELP, "agent_suite": AGENT_SUITE_HELP,
            "keep": "keep the lab when it fails to come up, for inspection",
            "publish": "publish Puppet Server and PuppetDB ports on 127.0.0.1 (random ports)",
            "site": SITE_HELP, "ssh": "start every node's sshd (on 127.0.0.1) for `regen.run --ssh`"})
@friendly
def up(c, name="", agents=AGENTS, suite=DEFAULT_SUITE, agent_suite="", keep=False, publish=False, site="", ssh=False):
    """Start a lab (in a site file's shape with --site); wait until every agent's first run is in PuppetDB."""
    if site:
        alone("--site", agents=agents != AGENTS, suite=suite != DEFAULT_SUITE, agent_suite=agent_suite)
        spec = lab_spec.LabSpec.of_site(sites_lib.find(site), name, publish, ssh=ssh)
    else:
        spec = lab_spec.LabSpec.parse(lab_name(c, name), agents, suite=suite,
                                     publish=publish, agent_suite=agent_suite, ssh=ssh)
    progress = Progress()
    client = engine_lib.ensure(progress)
    show_status(provision.up(client, spec, progress, keep=keep))


@task(help={"name": NAME_HELP, "json": "print JSON instead of a table"})
@friendly
def status(c, name="", json_=False):
    """Show every node of a lab: role, certname, cert serial, CA fingerprint, state."""
    lab_spec.check_name(lab_name(c, name))
    lab = lab_lib.Lab.open(engine_lib.connect(), lab_name(c, name))
    if json_:
        print(json.dumps([asdict(r) for r in lab.status()], indent=2))
    else:
        show_status(lab)


@task(positional=["node"], help={"name": NAME_HELP,
                                 "node": "a node (server, puppetdb, postgres, broker, agent-N), or `all`",
                                 "tail": "how many lines per node (default: 200)"})
@friendly
def logs(c, name="", node=None, tail=TAIL):
    """Print a node's log (its services' logs, as `docker logs` shows them)."""
    lab_spec.check_name(lab_name(c, name))
    lab = lab_lib.Lab.open(engine_lib.connect(), lab_name(c, name))
    every = node == "all"
    for n in lab.nodes if every else [lab.node(node)]:
        if every:
            print(f"===== {n.name}")
        print(lab.logs(n.name, tail=int(tail)), end="")


@task(help={"name": NAME_HELP})
@friendly
def down(c, name=""):
    """Remove every container, network and volume of a lab."""
    lab_spec.check_name(lab_name(c, name))
    counts = lab_lib.down(engine_lib.connect(), lab_name(c, name))
    print(f"lab {lab_name(c, name)} removed: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


lab = Collection("lab", up, status, logs, down)
