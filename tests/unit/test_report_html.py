"""The HTML report as a reader sees it: rendered by headless Chromium (Debian's package), its
screenshot shows the timeline: each host's bars where its steps ran, in time order, inside
the downtime band."""

from __future__ import annotations

import shutil
import subprocess

from PIL import Image

from regen.procedure import proof, report
from regen.procedure.runner import RunState, StepResult, Times

HOSTS = ["server", "puppetdb", "postgres", "agent-1", "agent-2"]


def _run() -> tuple[report.Report, dict[str, list[str]]]:
    state = RunState(lab="l", mode="full", agents=["agent-1", "agent-2"], autosign=False,
                     started="2026-11-29T05:00:00.000Z", finished="2026-11-29T05:01:10.000Z")
    state.facts.times = Times(server_stopped_at="2026-11-29T05:00:05.000Z",
                              last_agent_back_at="2026-11-29T05:01:05.000Z")

    def at(s: int) -> str:
        return f"2026-11-29T05:{s // 60:02d}:{s % 60:02d}.000Z"

    state.steps = [StepResult("1.3", "stop Puppet Server", at(5), at(6), 1.0, "done"),
                   StepResult("1.5", "new CA", at(6), at(14), 8.0, "done"),
                   StepResult("2.2", "PuppetDB re-enrolled", at(20), at(40), 20.0, "done"),
                   StepResult("3", "agents re-enrolled", at(42), at(62), 20.0, "done")]
    touched = {"1.3": ["server"], "1.5": ["server"], "2.2": ["server", "puppetdb"],
               "3": ["server", "agent-1", "agent-2"]}
    hosts = [report.HostRow(h, "agent" if h.startswith("agent") else h, "p", "1") for h in HOSTS]
    proofs = [proof.ProofResult("chain-to-new-ca", "every host chains", proof.PASS, "5/5 <hosts>", id="1")]
    return report.build(state, proofs, "", hosts, report.Expiry(ca="2041-11-25")), touched


def _pixels(image: Image.Image, color: str) -> list[tuple[int, int]]:
    rgb = tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    width, height = image.size
    data = image.load()
    return [(x, y) for y in range(height) for x in range(width) if data[x, y][:3] == rgb]


def test_the_html_reports_screenshot_shows_each_hosts_steps_in_order_inside_the_downtime(tmp_path):
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (make test installs it: apt-get install chromium)"
    built, touched = _run()
    page = report.write_html(built, tmp_path, touched)
    assert "&lt;hosts&gt;" in page.read_text()  # the evidence is escaped, not markup
    shot = tmp_path / "shot.png"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1100,700", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert shot.exists(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    master, puppetdb_step, agents, band = (_pixels(image, report.COLORS[k]) for k in ("1", "2", "3", "down"))
    assert len(master) > 300 and len(puppetdb_step) > 300 and len(agents) > 300 and len(band) > 3000

    def rows(points):
        """The bars' rows: runs of consecutive pixel lines (a bar is a band of them, a gap between rows)."""
        ys, out = sorted({y for _, y in points}), []
        for y in ys:
            if not out or y > out[-1][1] + 1:
                out.append([y, y])
            out[-1][1] = y
        return out

    def span(points):
        return min(x for x, _ in points), max(x for x, _ in points)

    # step 1 on the master's row only; step 3 on the master's and both agents' rows; in time order
    assert len(rows(master)) == 1 and len(rows(agents)) == 3 and len(rows(puppetdb_step)) == 2
    assert span(master)[1] < span(puppetdb_step)[0] < span(puppetdb_step)[1] < span(agents)[0]
    # the downtime band runs from the server's stop to the last agent's report: every bar lies inside it
    left, right = span(band)
    assert left <= span(master)[0] and span(agents)[1] <= right + 2
