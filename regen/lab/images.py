"""Node images, built from Debian's own packages and cached by a hash of their folder.

The chain is ``base`` (a minimal Debian) -> ``agent`` -> ``server`` / ``puppetdb`` / ``broker``, and
``base`` -> ``postgres``. ``base`` is built on ``debian:<suite>-slim`` where a registry
answers; where none does, the Debian root is made here with ``debootstrap`` and
``docker import``, and Regen Lab says so.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import docker
from docker.errors import APIError, BuildError, DockerException, ImageNotFound

from ..core.config import DEBIAN_MIRROR, IMAGES_DIR, SUITE_OF_PUPPET, state_dir
from ..core.errors import BadInput, ImageBuildFailed
from ..core.progress import Progress
from .engine import apt_install

# Debian suites the images are built from, one set of Dockerfiles: bookworm (Puppet 7, with
# MCollective) and trixie (Puppet 8, PostgreSQL 17, no mcollective package).
SUITES = tuple(SUITE_OF_PUPPET.values())
MCOLLECTIVE_SUITES = ("bookworm",)  # suites with an `mcollective` package: only they need a broker

# image -> its parent image (None: the Debian root, passed as DEBIAN_IMAGE)
PARENTS: dict[str, str | None] = {
    "base": None,
    "agent": "base",
    "server": "agent",
    "puppetdb": "agent",
    "postgres": "base",
    "broker": "agent",
}
ORDER = ("base", "agent", "server", "puppetdb", "postgres", "broker")


@dataclass(frozen=True)
class ImageBuild:
    """One image of the chain: its tag and whether it was built now (and how long it took)."""

    name: str
    tag: str
    built: bool
    seconds: float


def check_suite(suite: str) -> str:
    if suite not in SUITES:
        raise BadInput(f"unknown suite {suite!r}: use one of {', '.join(SUITES)}")
    return suite


def folder_digest(name: str) -> str:
    """sha256 over the relative paths, modes and contents of ``images/<name>``."""
    root = IMAGES_DIR / name
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def image_tag(name: str, suite: str, parent_id: str) -> str:
    """``regenlab/<name>:<suite>-<hash>``: the hash covers the folder and the parent's id,
    so changing a file rebuilds that image and its children, and nothing else."""
    h = hashlib.sha256(f"{folder_digest(name)}\0{parent_id}\0{suite}".encode()).hexdigest()
    return f"regenlab/{name}:{suite}-{h[:12]}"


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    try:
        return client.images.get(ref).id
    except ImageNotFound:
        return None


def debian_root(client: docker.DockerClient, suite: str, progress: Progress) -> str:
    """The Debian image that ``base`` is built on: ``debian:<suite>-slim`` if present or
    pullable, else ``regenlab/debian:<suite>`` made here by debootstrap."""
    slim = f"debian:{suite}-slim"
    if _image_id(client, slim):
        return slim
    local = f"regenlab/debian:{suite}"
    if _image_id(client, local):
        return local
    try:
        client.images.pull("debian", tag=f"{suite}-slim")
        progress.say(f"pulled {slim} from a registry")
        return slim
    except (APIError, DockerException) as exc:
        progress.say(f"no registry answers ({str(exc).splitlines()[0][:100]}); "
                     f"building the Debian root {local} with debootstrap")
    with progress.step(f"debootstrap {suite} and docker import as {local}"):
        _debootstrap_import(suite, local)
    return local


def _debootstrap_import(suite: str, tag: str) -> None:
    if shutil.which("debootstrap") is None:
        apt_install(["debootstrap"])
    work = tempfile.mkdtemp(prefix=f"debootstrap-{suite}-", dir=state_dir())
    try:
        rootfs = f"{work}/rootfs"
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", suite, rootfs, DEBIAN_MIRROR],
            capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise ImageBuildFailed(f"debootstrap {suite} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise ImageBuildFailed(f"docker import of the {suite} root failed: {imported.stderr.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def images_of(suite: str) -> tuple[str, ...]:
    """The images a lab of this suite uses (no broker where there is no MCollective)."""
    return tuple(n for n in ORDER if n != "broker" or suite in MCOLLECTIVE_SUITES)


def ensure_images(
    client: docker.DockerClient,
    suite: str = "bookworm",
    progress: Progress | None = None,
    names: tuple[str, ...] | None = None,
) -> dict[str, ImageBuild]:
    """Build the images that are missing (and their parents); return every image's tag."""
    progress = progress or Progress()
    check_suite(suite)
    names = images_of(suite) if names is None else names
    wanted: list[str] = []
    for name in names:
        chain = []
        node: str | None = name
        while node is not None:
            chain.append(node)
            node = PARENTS[node]
        wanted.extend(n for n in reversed(chain) if n not in wanted)
    results: dict[str, ImageBuild] = {}

    def one(name: str) -> ImageBuild:
        parent = PARENTS[name]
        if parent is None:
            parent_ref, arg = debian_root(client, suite, progress), "DEBIAN_IMAGE"
        else:
            parent_ref, arg = results[parent].tag, "BASE"
        tag = image_tag(name, suite, _image_id(client, parent_ref) or parent_ref)
        if _image_id(client, tag):
            return ImageBuild(name, tag, built=False, seconds=0.0)
        start = time.monotonic()
        with progress.step(f"building image {tag}"):
            _build(client, name, tag, {arg: parent_ref})
        return ImageBuild(name, tag, built=True, seconds=time.monotonic() - start)

    # images of the same depth (agent and postgres; server and puppetdb) build side by side:
    # much of a build is waiting on the mirror and on dpkg's disk writes
    for level in _levels(wanted):
        with ThreadPoolExecutor(max_workers=len(level)) as pool:
            for build in pool.map(one, level):
                results[build.name] = build
    return {name: results[name] for name in ORDER if name in results}


def _levels(names: list[str]) -> list[list[str]]:
    def depth(name: str) -> int:
        parent = PARENTS[name]
        return 0 if parent is None else 1 + depth(parent)

    deepest = max(depth(n) for n in names)
    return [[n for n in names if depth(n) == d] for d in range(deepest + 1)]


def _build(client: docker.DockerClient, name: str, tag: str, buildargs: dict[str, str]) -> None:
    try:
        client.images.build(
            path=str(IMAGES_DIR / name), tag=tag, buildargs=buildargs, rm=True, forcerm=True,
            labels={"regenlab.image": name},
        )
    except BuildError as exc:
        lines = [str(chunk.get("stream") or chunk.get("error") or "").rstrip() for chunk in exc.build_log]
        tail = "\n".join(line for line in lines if line)[-3000:]
        raise ImageBuildFailed(f"docker build of {tag} failed: {exc.msg}\n{tail}") from None


def remove_images(client: docker.DockerClient) -> list[str]:
    """Remove every Regen Lab image (the Debian root made here too): for a cold benchmark."""
    removed = []
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith("regenlab/"):
                client.images.remove(tag, force=True)
                removed.append(tag)
    return removed
