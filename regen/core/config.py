"""Where things are: the project's folders, the state folder, the labels."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout: regen/core/config.py
# In a checkout, images/, scenarios/ and examples/ are at its top; an installed package
# carries copies of them in regen/data/ (setup.py puts them there when the wheel is built).
CHECKOUT = (ROOT / "pyproject.toml").is_file() and (ROOT / "images").is_dir()
DATA = ROOT if CHECKOUT else ROOT / "regen" / "data"
IMAGES_DIR = DATA / "images"
SCENARIOS_DIR = DATA / "scenarios"
EXAMPLES_DIR = DATA / "examples"

LABEL_LAB = "regenlab.lab"
LABEL_ROLE = "regenlab.role"
LABEL_NODE = "regenlab.node"
LABEL_SITE = "regenlab.site"  # a lab made from a site file: its path and topology

DEFAULT_SUITE = "bookworm"
# the Debian suite that ships each Puppet version (the one map of them)
SUITE_OF_PUPPET = {7: "bookworm", 8: "trixie"}
DEBIAN_MIRROR = os.environ.get("REGENLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def state_dir() -> Path:
    """The project's state folder (owner-only): daemon log, backups, reports, artifacts. In a
    checkout, its `.regenlab/`; installed, `.regenlab/` under the folder it is run from;
    ``REGENLAB_STATE`` names another."""
    path = Path(os.environ.get("REGENLAB_STATE", (ROOT if CHECKOUT else Path.cwd()) / ".regenlab"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
