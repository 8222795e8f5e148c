"""The pictures on the status page and the preview report, and progress bars at a terminal.

The charts are inline SVG with their values in data- attributes, so a test reads back what
a reader sees; progress bars appear only when the command runs at a terminal (a real pty).
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from planner.cli import cli

from conftest import REPO


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def attributes(html: str, selector_class: str) -> list[dict[str, str]]:
    """The attributes of every <rect> or <text> whose class list starts with `selector_class`."""
    found = []
    for tag in re.finditer(rf'<(?:rect|text) class="{selector_class}[^"]*"([^>]*)>', html):
        found.append(dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(1))))
    return found


def test_status_page_charts_listings_per_epoch_and_coverage_per_state(env, tmp_path) -> None:
    run("tick", "--now", "2026-11-25T01:00:00Z", "--days", "2")
    run("tick", "--now", "2026-11-25T17:00:00Z", "--days", "2")
    published = tmp_path / "published"
    html = (published / "index.html").read_text()
    chart = html[html.index('<svg id="listings-chart"') : html.index("</svg>")]

    revealed = {
        p.stem: json.loads(p.read_text()) for p in sorted((published / "epochs").glob("*.json"))
    }
    bars = {b["data-epoch"]: int(b["data-value"]) for b in attributes(chart, "bar")}
    assert bars == {k: d["metadata"]["totalExpectedListings"] for k, d in revealed.items()}
    sealed = {b["data-epoch"] for b in attributes(chart, "sealed-bar")}
    assert sealed and not sealed & set(revealed)
    assert 'class="bar current" data-epoch="2026-11-25T16-00-00"' in chart
    ticks = [int(t["data-value"]) for t in attributes(chart, "tick")]
    assert ticks == sorted(ticks) and ticks[0] == 0 and ticks[-1] >= max(bars.values())

    states = html[html.index('<svg id="states-chart"') :]
    rows = {r["data-state"]: r for r in attributes(states, "share")}
    assert set(rows) == {"PA", "NJ"}
    assert sum(int(r["data-listings"]) for r in rows.values()) == sum(bars.values())
    zipcodes = {z["zipcode"] for d in revealed.values() for z in d["zipcodes"]}
    assert sum(int(r["data-zipcodes"]) for r in rows.values()) == len(zipcodes)
    assert "<script src" not in html and "https://" not in chart + states


def test_preview_chart_has_axis_values(env, tmp_path) -> None:
    report = tmp_path / "preview.html"
    run("preview", "--days", "3", "--now", "2026-11-25T17:00:00Z", "--report", str(report))
    html = report.read_text()
    chart = html[html.index('<svg id="totals"') :]
    bars = attributes(chart, "bar")
    assert len(bars) == 18
    ticks = [int(t["data-value"]) for t in attributes(chart, "tick")]
    assert ticks == sorted(ticks) and ticks[0] == 0
    assert ticks[-1] >= max(11000, *(int(b["data-value"]) for b in bars))
    labels = re.findall(r'<text class="label"[^>]*>([^<]+)</text>', chart)
    assert labels[0] == "11-25 16:00"


def in_terminal(*args: str) -> str:
    """Run `planner ARGS` with a pseudo-terminal as stdin, stdout and stderr; its output."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "planner", *args], stdin=child, stdout=child, stderr=child, cwd=REPO
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert process.wait(timeout=600) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_long_runs_show_progress_at_a_terminal_only(env, tmp_path) -> None:
    preview = in_terminal("preview", "--days", "30", "--report", str(tmp_path / "p.html"))
    assert "simulating" in preview and "100%" in preview
    plan = in_terminal("plan", "--days", "30")
    assert "selecting" in plan and "sealing" in plan and "100%" in plan
    quiet = run("preview", "--days", "30", "--report", str(tmp_path / "q.html"))
    assert "simulating" not in quiet.output and "%|" not in quiet.output
