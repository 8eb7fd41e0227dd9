"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields, is_dataclass


def table(rows: Sequence[object], headers: Sequence[str] | None = None) -> str:
    """Render dataclass rows (or tuples with ``headers``) as aligned columns."""
    if not rows:
        return "(nothing)"
    first = rows[0]
    if headers is None and is_dataclass(first):
        headers = [f.name.replace("_", " ") for f in fields(first)]
    cells = [[str(c) for c in (astuple(r) if is_dataclass(r) else r)] for r in rows]  # type: ignore[arg-type]
    head = [str(h) for h in (headers or [])]
    widths = [max(len(x) for x in col) for col in zip(head, *cells, strict=False)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(c) for c in cells)])


def clip(text: str, width: int) -> str:
    """``text`` on one line and at most ``width`` characters, cut at a word's end with "...",
    never inside a word (a word longer than the width is cut where it must)."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    room = width - 3
    cut = flat.rfind(" ", 0, room + 1)
    return (flat[:cut] if cut > room // 2 else flat[:room]).rstrip(" ,;:") + "..."
