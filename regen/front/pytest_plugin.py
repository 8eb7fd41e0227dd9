"""Regen Lab's pytest plugin (entry point ``pytest11``, loaded once the package is installed):
tests of your own against a real lab.

- ``regen_lab``: a lab that is up, made on first use and shared by every test of the session
  (of the xdist worker) that asks for the same shape; set by the marker
  ``@pytest.mark.regen_lab(agents=2, puppet=7, site="small", ssh=False, fresh=False)`` (``fresh``:
  a lab of the test's own, removed when it ends), or for the whole run
  by ``--regen-agents``, ``--regen-puppet``, ``--regen-site``. A lab with sshd serves a test
  that does not need it. Removed at the end (``--regen-keep`` keeps them), each node's log
  kept under ``.regenlab/artifacts/NAME/`` when a test that used it failed.
- ``regen_run``: a function that runs the procedure on that lab (``regen_run(mode="extend")``,
  any option of ``regen.run``) and returns its typed ``Report``: steps, proofs, downtime.

Labs are named ``rl<run>-<worker>-<n>``: xdist workers never share one. Tests that use a lab
are skipped, with the reason, when no Docker engine can be started."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from ..core.config import SUITE_OF_PUPPET
from ..core.progress import Progress
from ..jobs import rehearsal
from ..lab import engine
from ..lab.lab import Lab, lab_names, remove
from ..lab.provision import up
from ..lab.spec import LabSpec
from ..procedure.report import Report
from ..procedure.steps.options import RunOptions
from ..sites import format as sites

RUN = os.environ.setdefault("REGENLAB_PYTEST_RUN", uuid.uuid4().hex[:6])


def pytest_addoption(parser) -> None:
    group = parser.getgroup("regenlab", "Regen Lab: tests against a lab of real Puppet packages")
    group.addoption("--regen-agents", type=int, default=None, help="agents of every lab (default: the marker's, or 2)")
    group.addoption("--regen-puppet", type=int, choices=(7, 8), default=None, help="Puppet 7 (bookworm) or 8 (trixie)")
    group.addoption("--regen-site", default=None, help="a site file (path or example's name): labs of its shape")
    group.addoption("--regen-keep", action="store_true", help="keep the labs afterwards")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "regen_lab(agents=2, puppet=7, site=None, ssh=False, fresh=False): the lab a "
                                       "test needs (Regen Lab's regen_lab fixture; fresh: its own, removed after it)")


@dataclass(frozen=True)
class Shape:
    agents: int = 2
    puppet: int = 7
    site: str = ""
    ssh: bool = False
    fresh: bool = False  # a lab of the test's own, made for it and removed after it

    def serves(self, wanted: Shape) -> bool:
        return not (self.fresh or wanted.fresh) and \
            (self.agents, self.puppet, self.site) == (wanted.agents, wanted.puppet, wanted.site) and \
            (self.ssh or not wanted.ssh)

    def spec(self, name: str) -> LabSpec:
        if self.site:
            return LabSpec.of_site(sites.find(self.site), name, ssh=self.ssh)
        return LabSpec.parse(name, str(self.agents), suite=SUITE_OF_PUPPET[self.puppet], ssh=self.ssh)


class Labs:
    """This session's labs, one per shape, made on first use."""

    def __init__(self, config) -> None:
        self.config = config
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.labs: list[tuple[Shape, Lab]] = []
        self.failed: set[str] = set()  # labs a failed test used

    def shape(self, node) -> Shape:
        marker = node.get_closest_marker("regen_lab")
        asked = dict(marker.kwargs) if marker else {}
        opt = self.config.getoption
        for key, option in (("agents", "--regen-agents"), ("puppet", "--regen-puppet"), ("site", "--regen-site")):
            if opt(option) is not None:
                asked[key] = opt(option)
        unknown = set(asked) - {"agents", "puppet", "site", "ssh", "fresh"}
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.regen_lab: unknown {', '.join(sorted(unknown))}; it takes agents, "
                                    "puppet, site, ssh, fresh")
        return Shape(**asked)

    def get(self, wanted: Shape) -> Lab:
        for shape, lab in self.labs:
            if shape.serves(wanted):
                return lab
        try:
            client = engine.ensure(Progress(quiet=True))
        except Exception as exc:  # noqa: BLE001 (no engine here: the test cannot run, and says why)
            pytest.skip(f"no Docker engine: {exc}")
        name = f"rl{RUN}-{self.worker}-{len(self.labs) + 1}"
        lab = up(client, wanted.spec(name), Progress())
        self.labs.append((wanted, lab))
        return lab

    def drop(self, lab: Lab) -> None:
        """A lab done with: its evidence kept if a test that used it failed, then removed."""
        if lab.name in self.failed:
            lab.keep_logs()
        if not self.config.getoption("--regen-keep"):
            remove(lab.client, lab.name)
        self.labs = [(s, one) for s, one in self.labs if one.name != lab.name]

    def close(self) -> None:
        for _, lab in list(self.labs):
            self.drop(lab)


@pytest.fixture(scope="session")
def regen_labs(request) -> Iterator[Labs]:
    labs = Labs(request.config)
    try:
        yield labs
    finally:
        labs.close()


@pytest.fixture
def regen_lab(request, regen_labs: Labs) -> Lab:
    """A lab of the shape the test's marker (or the run's options) asks for, up and ready."""
    shape = regen_labs.shape(request.node)
    lab = regen_labs.get(shape)
    request.node.stash[_USED] = (regen_labs, lab.name)
    if shape.fresh:  # the test's own lab: removed when it ends (its evidence kept if it failed)
        request.addfinalizer(lambda: regen_labs.drop(lab))
    return lab


@pytest.fixture
def regen_run(regen_lab: Lab) -> Callable[..., Report]:
    """``regen_run(**options)``: the procedure on ``regen_lab`` (``regen.run``'s options:
    ``mode``, ``agents``, ``autosign``, ``ca_import``, ...), its proof and report."""

    def run(**options) -> Report:
        return rehearsal.regenerate(regen_lab, Progress(), RunOptions(**options))

    return run


_USED = pytest.StashKey[tuple]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _USED in item.stash:
        labs, name = item.stash[_USED]
        labs.failed.add(name)


def pytest_sessionfinish(session, exitstatus) -> None:
    """On the controller: any lab of this run a worker left behind (it died) is removed."""
    if hasattr(session.config, "workerinput") or session.config.getoption("--regen-keep"):
        return
    try:
        client = engine.connect()
        for name in sorted(lab_names(client)):
            if name.startswith(f"rl{RUN}-"):
                remove(client, name)
    except Exception:  # noqa: BLE001 (no engine, or it went away: nothing of ours to remove; never a failure)
        return
