"""Owner-only files on the controller (state, backups, reports): created 0600 in 0700
folders before any byte is written, fsynced, replaced whole (a reader never sees half a
file, a crash never leaves one), the folder fsynced after the rename."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import RegenLabError


def write_private(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically; a full disk (or any write error) leaves no
    partial file and raises one clear error."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RegenLabError(f"cannot write {path}: {exc.strerror or exc}; nothing was changed there") from None
    return path
