"""Regen Lab's pytest plugin, as a user's test run sees it (pytest in a subprocess, on a
test file of the user's, with no engine reachable): its options and marker are known, a
marker it cannot read is a usage error, and a test that needs a lab is skipped with the
reason when no engine answers, instead of failing or hanging."""

from __future__ import annotations

import os
import subprocess
import sys


def pytest_of_a_user(tmp_path, test: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_mine.py").write_text(test)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REGENLAB_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args,
                           str(tmp_path / "test_mine.py")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env | {"DOCKER_HOST": "unix:///nonexistent/docker.sock",
                                                  "REGENLAB_STATE": str(tmp_path / "state")})


def test_the_plugin_is_found_with_its_options_and_marker(tmp_path):
    helped = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert "--regen-agents" in helped.stdout and "--regen-keep" in helped.stdout
    markers = subprocess.run([sys.executable, "-m", "pytest", "--markers"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    assert "@pytest.mark.regen_lab(agents=2, puppet=7, site=None, ssh=False, fresh=False)" in markers.stdout


def test_a_test_that_needs_a_lab_is_skipped_with_the_reason_when_no_engine_answers(tmp_path):
    done = pytest_of_a_user(tmp_path, "import pytest\n\n"
                                      "@pytest.mark.regen_lab(agents=1)\n"
                                      "def test_it(regen_lab):\n    assert False\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "no Docker engine" in done.stdout, done.stdout


def test_a_marker_it_cannot_read_is_a_usage_error(tmp_path):
    done = pytest_of_a_user(tmp_path, "import pytest\n\n"
                                      "@pytest.mark.regen_lab(agnts=1)\n"
                                      "def test_it(regen_lab):\n    pass\n")
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "@pytest.mark.regen_lab: unknown agnts; it takes agents, puppet, site, ssh, fresh" in said
