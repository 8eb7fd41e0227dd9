"""Regen Lab installed as a user installs it: a wheel of the checkout in a fresh virtualenv,
run from a folder outside the checkout as `regenlab`. Its scenarios, examples and images come
with it, a user's own scenario folder is read, and its state is kept under that folder."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from regen.core.config import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel installed (its dependencies are this one's, made
    visible by a .pth line: nothing is downloaded but the build's setuptools)."""
    where = tmp_path_factory.mktemp("install")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(where / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    env = where / "venv"
    venv.create(env, with_pip=False)
    purelib = next(env.glob("lib/python*/site-packages"))
    (purelib / "regenlab-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    wheel = next((where / "dist").glob("regenlab-*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "-q",
                           "--no-deps", str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def regenlab(env: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("REGENLAB_STATE", "PYTHONPATH")}
    return subprocess.run([str(env / "bin" / "regenlab"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=clean | {"DOCKER_HOST": "unix:///nonexistent/docker.sock"})


def test_the_installed_command_works_from_any_folder_with_its_own_data_and_a_users_scenarios(installed, tmp_path):
    here = tmp_path / "ops-repo"
    (here / "my-scenarios").mkdir(parents=True)
    (here / "my-scenarios" / "our-autosign.yaml").write_text(
        (ROOT / "scenarios" / "clock-skew.yaml").read_text().replace("name: clock-skew", "name: our-autosign"))
    version = regenlab(installed, here, "--version")
    assert version.returncode == 0 and version.stdout.startswith("Regen Lab "), version.stderr
    listed = regenlab(installed, here, "scenarios.list", "--scenarios", "my-scenarios")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()[2:]]
    assert names == sorted([p.stem for p in (ROOT / "scenarios").glob("*.yaml")] + ["our-autosign"])
    # the package's own copy, not the checkout's: the code and its data come from the virtualenv
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import regen.core.config as c; print(c.DATA, c.CHECKOUT)"], cwd=here,
                           capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(installed)) and where[0].endswith("regen/data") and where[1] == "False"
    assert (Path(where[0]) / "images" / "base" / "Dockerfile").is_file()
    # state under the folder it runs from, owner-only
    root = regenlab(installed, here, "regen.root", "-n", "site1")
    assert root.returncode == 0 and f"import set: {here / '.regenlab'}" in root.stdout, root.stderr
    assert oct((here / ".regenlab").stat().st_mode & 0o777) == "0o700"
    # bad input: one clear line, exit 2, before any engine is reached
    bad = regenlab(installed, here, "rehearse", "--scenario", "nope", "--scenarios", "my-scenarios")
    assert bad.returncode == 2 and "no scenario named 'nope'" in bad.stderr and "our-autosign" in bad.stderr
