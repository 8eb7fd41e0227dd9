"""The Docker engine: connect to it, or install and start it where that is ours to do."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException

from ..core.config import state_dir
from ..core.errors import EngineUnavailable
from ..core.progress import Progress

START_TIMEOUT = 60.0


def _where() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect() -> docker.DockerClient:
    """A client for a daemon that answers, or EngineUnavailable (nothing is started)."""
    try:
        client = docker.from_env(timeout=300)
        client.ping()
        return client
    except DockerException as exc:
        raise EngineUnavailable(
            f"no Docker daemon answers at {_where()} ({_short(exc)}); start one "
            "(e.g. `make docker` as root on Debian, or `systemctl start docker`)"
        ) from None


def ensure(progress: Progress | None = None) -> docker.DockerClient:
    """Connect to the daemon; where none answers on Debian as root, install docker.io and
    start ``dockerd`` in the background (its log goes to the state folder)."""
    progress = progress or Progress()
    try:
        return connect()
    except EngineUnavailable as first:
        if os.environ.get("DOCKER_HOST") or not _may_manage_daemon():
            raise first
    if shutil.which("dockerd") is None:
        with progress.step("installing docker.io (no Docker engine on this machine)"):
            apt_install(["docker.io"])
    log = state_dir() / "dockerd.log"
    with progress.step(f"starting dockerd (log: {log})"):
        with open(log, "ab") as out:
            subprocess.Popen(
                ["dockerd"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return connect()
            except EngineUnavailable:
                if time.monotonic() > deadline:
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                    raise EngineUnavailable(
                        f"dockerd did not answer within {START_TIMEOUT:.0f}s; its log ({log}) ends with:\n{tail}"
                    ) from None
                time.sleep(0.5)


def ensure_browser(progress: Progress | None = None) -> str:
    """Debian's chromium, which renders the HTML report for its screenshot test: installed
    where it is missing (root on Debian), its path returned."""
    found = shutil.which("chromium")
    if found:
        return found
    with (progress or Progress()).step("installing chromium (the HTML report's screenshot test)"):
        apt_install(["chromium"])
    return shutil.which("chromium") or "chromium"


def _may_manage_daemon() -> bool:
    return os.geteuid() == 0 and Path("/etc/debian_version").exists()


def apt_install(packages: list[str]) -> None:
    """Install Debian packages (root on Debian only): what `make setup` cannot do with pip."""
    if not _may_manage_daemon():
        raise EngineUnavailable(
            f"{', '.join(packages)} missing; install it (apt-get install {' '.join(packages)}) and run again"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    wait = ["-o", "DPkg::Lock::Timeout=300"]  # another apt (or dpkg) at work: wait for it
    # two Regen Lab commands at once (both suites' images built side by side) take turns
    with open(state_dir() / "apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for argv in (["apt-get", *wait, "update", "-qq"], ["apt-get", *wait, "install", "-y", "-qq", *packages]):
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise EngineUnavailable(f"`{' '.join(argv)}` failed:\n{done.stderr.strip()[-2000:]}")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
