"""Shared fixtures. Docker tests share one lab per xdist worker (a lab costs a minute of
JVM starts); every lab of a run is named ``t<run>-...`` and removed at the end even if a
worker died, since testcontainers' reaper cannot run here (no registry)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from regen.core.progress import Progress
from regen.front.pytest_plugin import Shape
from regen.lab import engine
from regen.lab.lab import Lab, lab_names, remove
from regen.lab.provision import up
from regen.lab.spec import LabSpec
from regen.ops import pki, puppet

RUN = os.environ.setdefault("REGENLAB_TEST_RUN", uuid.uuid4().hex[:6])


def lab_name(worker_id: str, suffix: str = "") -> str:
    return f"t{RUN}-{worker_id}{suffix}"


def lab_ca_fingerprint(lab) -> str:
    """The CA's own certificate (``$cadir/ca_crt.pem`` on the master), not what nodes trust."""
    return pki.ca_fingerprint(lab.server.executor.read_file(puppet.DEBIAN.cacert))


@pytest.fixture(scope="session")
def docker_client():
    return engine.connect()


def lab_for_tests(client, spec: LabSpec) -> Lab:
    """``up`` for a fixture: a lab that fails to come up keeps its nodes' logs under
    .regenlab/artifacts/ and is removed; its own error is what the test reports (a failed
    cleanup is added to it, never put in its place)."""
    try:
        return up(client, spec, Progress(), keep=True)
    except BaseException as failure:
        for what, cleanup in (("keeping its logs", keep_artifacts), ("removing it", remove)):
            try:
                cleanup(client, spec.name)
            except Exception as error:  # noqa: BLE001 (the lab's own failure is the one to see)
                failure.add_note(f"lab {spec.name}: {what} failed too: {error}")
        raise


@pytest.fixture(scope="session")
def lab(regen_labs) -> Lab:
    """A 2-agent lab, up for the whole session of this worker, with every node's sshd (on
    127.0.0.1) for the tests of the procedure over SSH, which come last in its file. It is the
    lab of Regen Lab's own pytest plugin (regen/front/pytest_plugin.py): the user's example
    tests (examples/pytest/), run on the same worker after this file, use it through the
    plugin's `regen_lab` fixture, as a user's tests would."""
    return regen_labs.get(Shape(agents=2, ssh=True))


# The scenario labs' RSA keys (Puppet's `keylength` on every host, the CA's too): 2048 bits, not
# Puppet's 4096. A 4096-bit key costs 3.2 CPU-seconds in Ruby here (1.2 to 7.5), a 2048-bit one
# 0.4; a full regeneration makes about ten (the CA, the master, PostgreSQL, PuppetDB, the broker,
# MCollective's, each agent's), a lab's start as many. No scenario's fault or proof depends on a
# key's size; the site files' scenarios take it too, unless their site sets its own `keylength`.
# 4096-bit keys stay rehearsed by the shared lab (the procedure over SSH) and `make rehearse`.
SCENARIO_KEYLENGTH = 2048


class LabPool:
    """This worker's scenario labs, one per topology, reused while they stay healthy."""

    def __init__(self, request, client, worker_id: str) -> None:
        self.request, self.client, self.worker_id = request, client, worker_id
        self.labs: dict[tuple, Lab] = {}
        self.made = 0

    def get(self, scn) -> Lab:
        """This worker's lab of the scenario's topology; a lab of another topology is removed
        first (an idle lab still costs CPU, and the scenarios come grouped by topology)."""
        key = scn.topology
        if key not in self.labs:
            self.close()
            self.made += 1
            spec = scn.lab_spec(lab_name(self.worker_id, f"-s{self.made}"))
            if not spec.keylength:  # a site that sets its keylength keeps it
                spec = spec.with_keylength(SCENARIO_KEYLENGTH)
            self.labs[key] = lab_for_tests(self.client, spec)
        return self.labs[key]

    def release(self, lab: Lab, healthy: bool) -> None:
        if not healthy:
            if self.request.session.testsfailed:
                keep_artifacts(self.client, lab.name)
            self.labs = {k: v for k, v in self.labs.items() if v.name != lab.name}
            remove(self.client, lab.name)

    def close(self) -> None:
        """Remove every lab of this worker (keeping their logs if a test failed)."""
        for lab in self.labs.values():
            if self.request.session.testsfailed:
                keep_artifacts(self.client, lab.name)
            remove(self.client, lab.name)
        self.labs = {}


@pytest.fixture(scope="session")
def scenario_labs(request, docker_client, worker_id) -> Iterator[LabPool]:
    pool = LabPool(request, docker_client, worker_id)
    try:
        yield pool
    finally:
        pool.close()


def pytest_collection_modifyitems(session, config, items):
    """Two moves that save the suite minutes:

    - a user's examples (examples/pytest/, which share this file's lab) go before the shared
      lab's last test, so that its teardown here, not theirs (this conftest's hooks do not
      reach examples/), is the scope's last and takes the lab down;
    - the soak (about 7 minutes on the default scenario lab) goes before the first scenario of
      that lab: it then runs beside the other worker's scenarios, not alone at the end."""
    from regen.scenarios import format as scenario_format
    from regen.scenarios.model import DEFAULT_TOPOLOGY

    examples = [i for i in items if i.nodeid.startswith("examples/pytest/")]
    shared = [i for i in items if i.nodeid.startswith("tests/lab/test_lab.py")]
    if examples and shared:
        rest = [i for i in items if i not in examples]
        at = rest.index(shared[-1])
        items[:] = rest[:at] + examples + rest[at:]
    soak = [i for i in items if i.nodeid.startswith("tests/scenarios/test_soak.py")]
    if not soak:
        return
    rest = [i for i in items if i not in soak]

    def shares_default_lab(item) -> bool:
        path = getattr(getattr(item, "callspec", None), "params", {}).get("path")
        return path is not None and scenario_format.load(path).topology == DEFAULT_TOPOLOGY

    at = next((k for k, i in enumerate(rest) if shares_default_lab(i)), len(rest))
    items[:] = rest[:at] + soak + rest[at:]


def scope_of(nodeid: str) -> str:
    """What runs together on one worker: a file (it shares one lab), each scenario alone (any
    free worker takes it), and a user's examples with the shared lab's file (they use its lab)."""
    if nodeid.startswith("tests/scenarios/"):
        return nodeid
    if nodeid.startswith("examples/pytest/"):
        return "tests/lab/test_lab.py"
    return nodeid.split("::", 1)[0]


def pytest_runtest_teardown(item, nextitem):
    """The shared lab goes once the last test of its scope is done (its file and the user's
    examples): an idle lab of six JVM and Ruby services still costs CPU beside the scenarios."""
    if scope_of(item.nodeid) != "tests/lab/test_lab.py" or \
            (nextitem is not None and scope_of(nextitem.nodeid) == "tests/lab/test_lab.py"):
        return
    labs = getattr(item, "funcargs", {}).get("regen_labs")
    if labs is not None:
        labs.close()


def pytest_xdist_make_scheduler(config, log):
    """Files stay whole on one worker (a file shares one lab), except scenarios: each is
    its own unit, so that both workers take them as they get free."""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduler(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return Scheduler(config, log)


def keep_artifacts(client, name: str) -> Path | None:
    """Save a lab's evidence when its tests failed (Molecule's habit): `Lab.keep_logs`."""
    try:
        lab = Lab.open(client, name)
    except Exception:  # the lab never came up: nothing to keep
        return None
    return lab.keep_logs()


def pytest_sessionfinish(session, exitstatus):
    """On the controller: remove any lab of this run that a worker left behind."""
    if hasattr(session.config, "workerinput"):
        return
    try:
        client = engine.connect()
    except Exception:
        return
    for name in lab_names(client):
        if name.startswith(f"t{RUN}"):
            remove(client, name)


# --- the suite's profile (tests/suite_profile.py): figures only, never a verdict ---------------

_RECORDER = pytest.StashKey()
_STARTED = pytest.StashKey()
_OUTCOME = pytest.StashKey()


def _runs_tests_here(config) -> bool:
    """A worker, or a run without xdist; not the controller that hands tests to workers."""
    return hasattr(config, "workerinput") or not config.pluginmanager.has_plugin("dsession")


def pytest_sessionstart(session):
    from regen.front import pytest_plugin
    from regen.lab.metrics import CpuMeter
    from tests import suite_profile

    config = session.config
    config.stash[_STARTED] = time.monotonic()
    if not _runs_tests_here(config):
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    try:  # this worker's labs: the shared and scenario labs (conftest's names), the plugin's
        meter = CpuMeter(engine.connect(), (lab_name(worker), f"rl{pytest_plugin.RUN}-{worker}-")).start()
    except Exception:  # noqa: BLE001 (no engine: unit tests only, their CPU unmeasured)
        meter = None
    config.stash[_RECORDER] = suite_profile.Recorder(suite_profile.folder() / f"{RUN}.jsonl", worker, meter)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    recorder = item.config.stash.get(_RECORDER, None)
    if recorder is None:
        yield
        return
    with recorder.timing(item.nodeid, lambda: item.stash.get(_OUTCOME, "")):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    # the call's outcome, unless a setup or teardown failed or skipped (then that is the test's)
    if item.stash.get(_OUTCOME, "") != "failed" and (report.when == "call" or not report.passed):
        item.stash[_OUTCOME] = report.outcome


def pytest_unconfigure(config):
    recorder = config.stash.get(_RECORDER, None)
    if recorder is not None:
        recorder.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """On the controller (or alone), when lab tests ran: the slowest tests with their lab CPU,
    and each group's totals; the table also goes to .regenlab/suite/<run>.md."""
    from tests import suite_profile

    if hasattr(config, "workerinput") or _STARTED not in config.stash:
        return
    rows = suite_profile.load(suite_profile.folder() / f"{RUN}.jsonl")
    if all(r.group == "unit" for r in rows):  # no lab test ran: nothing worth a table
        return
    text = suite_profile.summary(rows, time.monotonic() - config.stash[_STARTED])
    (suite_profile.folder() / f"{RUN}.md").write_text(text)
    terminalreporter.write_sep("=", "suite profile")
    terminalreporter.write(text)
