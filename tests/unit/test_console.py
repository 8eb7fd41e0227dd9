"""What the terminal shows: tables whose cells are cut at a word's end, never inside one."""

from __future__ import annotations

import re

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


def test_a_step_still_running_says_so_every_heartbeat_and_stops_when_it_ends():
    import io
    import time

    from regen.core.progress import Progress

    out = io.StringIO()
    progress = Progress(stream=out, heartbeat=0.3)
    with progress.step("step 3.w: every agent's first run reported"):
        time.sleep(1.1)
    time.sleep(0.7)  # nothing more once the step is over
    lines = out.getvalue().splitlines()
    beats = [line for line in lines if "still running" in line]
    assert 2 <= len(beats) <= 4, lines
    assert all(re.search(r"\] step 3\.w: every agent's first run reported: still running \(\d+s\)$", b) for b in beats)
    assert lines[-1].endswith("done in 1.1s")
    quiet = io.StringIO()
    with Progress(stream=quiet, quiet=True, heartbeat=0.1).step("x"):
        time.sleep(0.3)
    assert quiet.getvalue() == ""
