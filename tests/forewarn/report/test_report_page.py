"""``forewarn report`` end to end over files: the JSON, the terminal tables, and the page in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import orjson
import pytest
from measurement_synth import World, generate, write_files

from forewarn.cli import main
from forewarn.report import fmt

HERE = Path(__file__).parent

CONFIG = HERE / "testdata" / "forewarn.yaml"
TEAL, AMBER = (0x0F, 0x76, 0x6E), (0xB4, 0x53, 0x09)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """The report of a seeded world with planted effects, written by the CLI."""
    world = World(seed=11)
    tmp = tmp_path_factory.mktemp("report")
    decisions, events = generate(world)
    ev, dec = write_files(decisions, events, tmp)
    receipts = tmp / "receipts.jsonl"
    # Receipts for the first 100 accounts' commands: every fifth failed, the rest were delivered.
    receipts.write_bytes(b"".join(orjson.dumps({"command_id": f"cmd-{i}", "outcome": "failed" if i % 5 == 0
                                                else "delivered"}) + b"\n" for i in range(100)))
    with pytest.raises(SystemExit) as done:
        main(["report", "--events", str(ev), "--decisions", str(dec), "--receipts", str(receipts),
              "--config", str(CONFIG), "--out", str(tmp / "out")])
    assert done.value.code in (0, None)
    return tmp / "out", world


def test_cli_writes_json_and_html_with_the_same_numbers(report_dir, capsys):
    out, world = report_dir
    j = orjson.loads((out / "impact-report.json").read_bytes())
    page = (out / "impact-report.html").read_text()
    t = j["triggers"][0]
    assert t["trigger"] == "payment_failing" and t["uplift_interval"][0] <= world.true_uplift <= t["uplift_interval"][1]
    assert j["costs"]["cost_per_contact"] == {"csm_task": 2.0} and j["roi"]["roi"] > 1
    log = (out.parent / "decisions.jsonl").read_text()
    treated = [i for i in range(100) if f'"cmd-{i}"' in log]
    assert t["delivery"] == {"delivered": sum(1 for i in treated if i % 5), "failed": sum(1 for i in treated if i % 5 == 0),
                             "expired": 0, "no_receipt": t["decisions"]["treated"] - len(treated)}
    # The page shows the JSON's numbers, formatted the one shared way.
    for shown in [fmt.pp(t["uplift"]), fmt.pp_interval(t["uplift_interval"]), fmt.pct(t["treated"]["rate"]),
                  fmt.pct(t["control"]["rate"]), fmt.ratio(j["roi"]["roi"]),
                  fmt.money(j["roi"]["retained_revenue"], "USD"), fmt.money(j["roi"]["operating_cost"], "USD"),
                  fmt.pp(j["retention"]["at_horizon"]["difference"]),
                  fmt.pp_interval(j["retention"]["at_horizon"]["interval"]),
                  fmt.hours(j["time_to_resolution"]["inbound"]["median_hours"]),
                  fmt.hours(j["time_to_resolution"]["proactive"]["p90_hours"]),
                  fmt.number(j["tickets"]["inbound_per_active_account_per_week"])]:
        assert shown in page, shown
    # And carries the JSON itself, inert.
    embedded = re.search(r'<script type="application/json" id="forewarn-report">(.*?)</script>', page, re.S)
    assert orjson.loads(embedded.group(1).replace("<\\/", "</")) == j


def test_page_is_self_contained(report_dir):
    page = (report_dir[0] / "impact-report.html").read_text()
    # Nothing to fetch: no links, sources, stylesheets, imports or URLs of any scheme.
    assert not re.search(r"\b(src|href)\s*=|<link\b|@import|url\(|https?:|//cdn", page, re.I)
    assert "<script" not in page.replace('<script type="application/json" id="forewarn-report">', "")
    assert page.count('<svg class="chart"') == 5  # rates, uplift, weekly tickets, resolution, retention


def test_terminal_tables(report_dir):
    out, _ = report_dir
    j = orjson.loads((out / "impact-report.json").read_bytes())
    from rich.console import Console

    from forewarn.report.terminal import report_tables

    console = Console(record=True, width=80)
    for table in report_tables(j):
        console.print(table)
    text = console.export_text()
    assert "payment_failing" in text and fmt.pp(j["triggers"][0]["uplift"]) in text
    assert fmt.ratio(j["roi"]["roi"]) in text
    assert "…" not in text  # nothing truncated at 80 columns


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_page_renders_in_headless_chromium(report_dir, artifacts_dir):
    browser = _chromium()
    if browser is None:
        if os.environ.get("FOREWARN_SETUP_BROWSER") == "1" or os.environ.get("CI"):
            pytest.fail("chromium is required here (FOREWARN_SETUP_BROWSER=1); run deploy/setup.sh")
        pytest.skip("no chromium; install it with FOREWARN_SETUP_BROWSER=1 bash deploy/setup.sh")
    from PIL import Image

    out, _ = report_dir
    page = out / "impact-report.html"
    shot = artifacts_dir / "impact-report.png"
    shot.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                  "--enable-logging=stderr", "--v=0"]
        shot_run = subprocess.run(common + [f"--screenshot={shot.resolve()}", "--window-size=1280,2600",
                                            page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
        dom_run = subprocess.run(common + ["--dump-dom", page.resolve().as_uri()],
                                 capture_output=True, text=True, timeout=120)
    assert shot_run.returncode == 0, shot_run.stderr[-2000:]
    assert dom_run.returncode == 0, dom_run.stderr[-2000:]
    for err in (shot_run.stderr, dom_run.stderr):
        problems = [line for line in err.splitlines()
                    if ("CONSOLE" in line or "Uncaught" in line or "ERR_" in line) and "dbus" not in line]
        assert problems == []
    # Chromium parsed the whole page: every chart and the embedded JSON are in its DOM.
    dom = dom_run.stdout
    assert dom.count('<svg class="chart"') == 5 and 'id="forewarn-report"' in dom and "Return on investment" in dom
    # The screenshot shows the charts: the treated and control colours are drawn on a mostly white page.
    with Image.open(shot) as im:
        assert im.size == (1280, 2600)
        rgb = im.convert("RGB")
        colours = {c: n for n, c in rgb.getcolors(maxcolors=1 << 20)}

    def near(target: tuple[int, int, int]) -> int:
        return sum(n for c, n in colours.items() if max(abs(a - b) for a, b in zip(c, target)) <= 8)

    assert near(TEAL) > 500 and near(AMBER) > 300
    assert near((255, 255, 255)) > 0.5 * 1280 * 2600
