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


def test_junit_xml_of_a_run_and_of_a_scenario_validates_against_the_published_schema(tmp_path):
    import xml.etree.ElementTree as ET

    import xmlschema

    from regen.core import junit
    from regen.core.config import ROOT
    from regen.procedure import proof, report
    from regen.procedure.runner import RunState, StepResult
    from regen.scenarios.outcome import Held
    from regen.scenarios.runner import ActionDone, ScenarioReport
    from regen.scenarios.runner import junit as scenario_junit

    schema = xmlschema.XMLSchema(ROOT / "docs" / "schemas" / "junit.xsd")
    state = RunState(lab="l", mode="full", agents=["agent-1"], autosign=False, started="2026-11-29T05:00:00.000Z",
                     finished="2026-11-29T05:05:00.000Z")
    state.steps = [StepResult("3", "agents", "2026-11-29T05:01:00.000Z", "2026-11-29T05:02:00.000Z", 60.0, "failed",
                              "agent-1: certificate verify failed")]
    run = report.build(state, [proof.ProofResult("chain-to-new-ca", "claim", proof.PASS, "7/7 hosts", id="1"),
                               proof.ProofResult("old-cert-refused", "claim", proof.FAIL, "ACCEPTED <&>", id="2"),
                               proof.ProofResult("mco-ping", "claim", proof.UNKNOWN, "no answer", id="3")])
    scn = ScenarioReport("stale-crl", "d", "lab", "2026-11-29T05:00:00.000Z", error="stopped: lab down",
                         actions=[ActionDone(3, "regen", "failed", 12.5)],
                         expectations=[Held(7, "regen fails", True, "failed"),
                                       Held(9, "step 3 shows 'CRL'", False, "not found")])
    path = junit.write(tmp_path / "out" / "junit.xml", [report.junit(run), scenario_junit(scn)])
    schema.validate(str(path))
    root = ET.parse(path).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "3", "2")
    suite = root.find("testsuite")
    assert suite.get("time") == "300.000" and suite.find("properties/property[@name='mode']").get("value") == "full"
    failed = suite.find("testcase[@name='proof 2: old-cert-refused']/failure")
    assert failed.text == "ACCEPTED <&>" and failed.get("message") == "claim: fail"
    assert suite.find("testcase[@name='proof 1: chain-to-new-ca']/failure") is None
    assert suite.find("testcase[@name='step 3: agents']/failure").text == "agent-1: certificate verify failed"
    # the schema can fail: a test case without its class name
    broken = path.read_text().replace(' classname="regenlab.l.proof"', "", 1)
    assert not schema.is_valid(broken)
