"""Where things are: the project's folders, the state folder, the labels."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout: regen/core/config.py
IMAGES_DIR = ROOT / "images"

LABEL_LAB = "regenlab.lab"
LABEL_ROLE = "regenlab.role"
LABEL_NODE = "regenlab.node"
LABEL_SITE = "regenlab.site"  # a lab made from a site file: its path and topology

DEFAULT_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("REGENLAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def state_dir() -> Path:
    """The project's state folder (owner-only): daemon log, backups, reports, artifacts."""
    path = Path(os.environ.get("REGENLAB_STATE", ROOT / ".regenlab"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
