"""`rehearse`: a full rehearsal (a lab, the procedure, its proof and report), or a scenario;
`scenarios.list`."""


from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from invoke import Collection, Exit

from regen.core.config import DEFAULT_SUITE
from regen.core.console import table
from regen.core.errors import EXIT_PROOF_FAILED
from regen.jobs import rehearsal
from regen.jobs import scenario as scenario_job
from regen.lab import spec as lab_spec
from regen.procedure import report as report_lib
from regen.scenarios import format as scenario_lib
from regen.scenarios import runner as scenario_runner
from regen.sites import format as sites_lib

from .common import (
    AGENT_SUITE_HELP,
    AGENTS,
    JUNIT_HELP,
    MODE_HELP,
    OUTPUT_HELP,
    SCENARIOS_HELP,
    SITE_HELP,
    SUITE_HELP,
    alone,
    friendly,
    lab_name,
    print_json,
    progress_for,
    task,
    verdict,
    write_junit,
)


@task(help={"agents": "how many agent nodes (default: 3)", "keep": "keep the lab afterwards",
            "name": "the lab's name (default: regenlab; with --site, the site's name)", "suite": SUITE_HELP,
            "agent_suite": AGENT_SUITE_HELP,
            "scenario": "rehearse this scenario of scenarios/ instead (see `invoke scenarios.list`)",
            "site": SITE_HELP, "ssh": "run the procedure over SSH (each node's sshd, as user regen with sudo)",
            "mode": MODE_HELP, "junit": JUNIT_HELP, "scenarios": SCENARIOS_HELP, **OUTPUT_HELP},
      iterable=["scenarios"])
@friendly
def rehearse(c, agents=AGENTS, keep=False, name="", scenario="", suite=DEFAULT_SUITE, agent_suite="", site="",
             ssh=False, mode="full", junit="", scenarios=None, quiet=False, json_=False):
    """The main job: lab up, the whole regeneration (or a scenario), its proof, report and runbook, lab down."""
    rehearsal.run_options(mode=mode)
    progress = progress_for(quiet, json_)
    if site:
        alone("--site", agents=agents != AGENTS, suite=suite != DEFAULT_SUITE, agent_suite=agent_suite,
               scenario=scenario)
        spec = lab_spec.LabSpec.of_site(sites_lib.find(site), name, ssh=ssh)
        result = rehearsal.rehearse(spec, keep=keep, mode=mode, progress=progress)
        write_junit(junit, report_lib.junit(result))
        print_json(json_, report_lib.to_json(result))
        verdict(result, "the rehearsal (its lab is kept)", spec.name)
        return
    if scenario:
        alone("--scenario", agents=agents != AGENTS, suite=suite != DEFAULT_SUITE, agent_suite=agent_suite, ssh=ssh,
               mode=mode != "full")
        scn = scenario_lib.find(scenario, [Path(f) for f in scenarios or ()])
        done = scenario_job.rehearse(scn, lab_spec.check_name(lab_name(c, name)), keep=keep, progress=progress)
        write_junit(junit, scenario_runner.junit(done))
        print_json(json_, asdict(done) | {"passed": done.passed})
        if not done.passed:
            raise Exit(f"scenario {scn.name} failed: see its expectations above", code=EXIT_PROOF_FAILED)
        return
    spec = lab_spec.LabSpec.parse(lab_name(c, name), agents, suite=suite,
                                 agent_suite=agent_suite, ssh=ssh)
    result = rehearsal.rehearse(spec, keep=keep, mode=mode, progress=progress)
    write_junit(junit, report_lib.junit(result))
    print_json(json_, report_lib.to_json(result))
    verdict(result, "the rehearsal (its lab is kept)", spec.name)


@task(name="list", help={"scenarios": SCENARIOS_HELP}, iterable=["scenarios"])
@friendly
def scenarios_list(c, scenarios=None):
    """Every scenario (scenarios/, and your own folders): its name and what it rehearses (each file validated)."""
    paths = scenario_lib.all_paths([Path(f) for f in scenarios or ()])
    rows = [(s.name, s.summary) for s in (scenario_lib.load(p) for p in paths)]
    print(table(rows, ["scenario", "what it rehearses"]))


scenarios = Collection("scenarios", scenarios_list)
