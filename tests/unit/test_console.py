"""What the terminal shows: tables whose cells are cut at a word's end, never inside one."""

from __future__ import annotations

from regen.core.console import clip, table


def test_a_long_text_is_cut_at_a_words_end_with_dots_and_a_short_one_is_left_whole():
    title = "agents: stop, clean (with local CA and CRL), request, sign"
    assert clip(title, 80) == title
    cut = clip(title, 30)
    assert cut == "agents: stop, clean (with..." and len(cut) <= 30
    assert clip("one\n  line   only", 40) == "one line only"
    assert clip("x" * 50, 20) == "x" * 17 + "..."  # a word longer than the room is cut where it must


def test_every_column_of_a_table_has_a_header():
    text = table([("line 7", "HELD", "regen passes")], ["where", "verdict", "expectation"])
    assert text.splitlines()[0].split() == ["where", "verdict", "expectation"]
