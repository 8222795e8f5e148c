"""What the operator reads: the status of the published plan and dry-run previews.

Pure functions over stores and data; the CLI only prints what they return.
"""

from __future__ import annotations

import json
import secrets
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from clientkit import layout
from clientkit.epochs import Epoch, epochs_between
from planner import charts, jobs, publish
from planner import state as state_io
from planner.dataset import Dataset, StatePriority, eligible_mask
from planner.selection import SelectionConfig
from planner.store import Store


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table; numbers right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) and rows for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join(
        [line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]]
    )


def _is_number(text: str) -> bool:
    """Digits with separators, a percentage, a dash or nothing: right-aligned."""
    return not text.strip("-") or text.replace(",", "").replace(".", "", 1).rstrip("%").isdigit()


def percent(part: float | None, whole: float) -> str:
    return "-" if part is None or not whole else f"{100 * (part / whole):.1f}%"


def coverage(
    assignments: Sequence[dict[str, Any]],
    dataset: Dataset,
    priorities: Sequence[StatePriority],
    config: SelectionConfig,
) -> dict[str, tuple[int, int]]:
    """Per listed state: (eligible zipcodes assigned at least once, eligible zipcodes)."""
    eligible = eligible_mask(dataset, priorities, config.min_listings, config.max_listings)
    seen = {z["zipcode"] for a in assignments for z in a["zipcodes"]}
    result = {}
    for p in priorities:
        zips = dataset.zipcode[eligible & (dataset.state == p.state)].tolist()
        result[p.state] = (sum(z in seen for z in zips), len(zips))
    return result


def status_lines(
    public: Store,
    private: Store | None,
    secret: bytes | None,
    load_data: Callable[[], tuple[Dataset, list[StatePriority]]],
    config: SelectionConfig,
    now: datetime,
    epoch_hours: int,
    coverage_days: int,
) -> Iterator[str]:
    """The epochs around now and the horizon, then coverage over the last `coverage_days`.

    The zipcode file is read only for the coverage, last: while it is broken (ticks fail on
    it), the epochs and the horizon left are what the operator needs, and come first."""
    entries = layout.read_index(public)
    if not entries:
        yield f"nothing published at {public.describe()} yet: run `planner tick`"
        return
    pending = {}
    if private is not None and secret is not None:
        loaded = state_io.load(private, secret)
        pending = loaded.pending if loaded else {}
    window_start = now - timedelta(days=coverage_days)
    shown_from = now - timedelta(hours=epoch_hours * 3)
    shown_until = now + timedelta(days=1)
    recent: list[dict[str, Any]] = []
    rows = []
    for epoch_id, entry in sorted(entries.items()):
        epoch = entry.epoch
        in_window = window_start <= epoch.start <= now
        shown = epoch.end > shown_from and epoch.start < shown_until
        if not (in_window or shown):
            continue
        body = public.get(layout.revealed_key(epoch_id)) if entry.revealed else None
        if body is None and epoch_id in pending:
            body = pending[epoch_id].plaintext
        document = json.loads(body) if body else None
        if document and in_window:
            recent.append(document)
        if shown:
            state = "revealed" if entry.revealed else "sealed"
            unopened = epoch.start <= now and not entry.revealed and body is None
            if unopened and public.get(layout.sealed_key(epoch_id)) is None:
                state = "lost: no sealed file"  # nothing left for drand to open either
            if epoch.start <= now < epoch.end:
                state = f"current, {state}"
            rows.append(
                [
                    epoch_id,
                    state,
                    document["metadata"]["zipcodeCount"] if document else "-",
                    document["metadata"]["totalExpectedListings"] if document else "-",
                    entry.reveal_round,
                ]
            )
    yield f"published at {public.describe()}"
    yield table(["epoch", "status", "zipcodes", "listings", "reveal round"], rows)
    yield f"horizon: sealed up to {max(entries)} ({len(entries)} epochs published in all)"
    dataset, priorities = load_data()
    cover = coverage(recent, dataset, priorities, config)
    yield f"coverage over the last {coverage_days} days ({len(recent)} epochs):"
    yield table(
        ["state", "assigned", "eligible", "coverage"],
        [[s, a, n, percent(a, n)] for s, (a, n) in cover.items()],
    )


@dataclass
class Simulation:
    """A dry run of the selection: nothing sealed, nothing written."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, tuple[int, int]] = field(default_factory=dict)
    priorities: list[StatePriority] = field(default_factory=list)
    config: SelectionConfig = field(default_factory=SelectionConfig)
    error: str | None = None

    def state_listings(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for a in self.epochs:
            for z in a["zipcodes"]:
                totals[z["state"]] += z["expectedListings"]
        return totals

    def totals(self) -> list[int]:
        return [a["metadata"]["totalExpectedListings"] for a in self.epochs]


def simulate(
    dataset: Dataset,
    priorities: list[StatePriority],
    config: SelectionConfig,
    secret: bytes | None,
    first: Epoch,
    period: timedelta,
    progress: jobs.Progress = jobs.no_progress,
    audit_count: int = 0,
) -> Simulation:
    """Select every epoch of `period` from an empty history, with a throwaway secret if none,
    stopping where a plan would (an epoch that cannot hold `audit_count` audit zipcodes)."""
    key = secret or secrets.token_bytes(32)
    result = Simulation(priorities=priorities, config=config)
    todo = list(epochs_between(first, first.start + period))
    try:
        with progress(todo, len(todo), "simulating") as epochs:
            for epoch, document in jobs.choose(dataset, priorities, config, key, {}, epochs):
                jobs.check_audit_count(epoch, document, audit_count)
                result.epochs.append(document)
    except jobs.PlanError as exc:
        result.error = str(exc)
    result.coverage = coverage(result.epochs, dataset, priorities, config)
    return result


def plural_epochs(count: int) -> str:
    """`1 epoch`, `2 epochs`."""
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def preview_text(sim: Simulation) -> str:
    shares = sim.state_listings()
    whole = sum(shares.values())
    weights = sum(p.weight for p in sim.priorities)
    lines = [
        f"{plural_epochs(len(sim.epochs))} simulated (target {sim.config.target_listings} "
        f"± {sim.config.tolerance_percent:g}%, cooldown {sim.config.cooldown_hours:g} h)",
        table(
            ["state", "weight share", "listing share", "coverage"],
            [
                [
                    p.state,
                    percent(p.weight, weights),
                    percent(shares.get(p.state, 0), whole),
                    percent(*sim.coverage.get(p.state, (0, 0))),
                ]
                for p in sim.priorities
            ],
        ),
    ]
    totals = sim.totals()
    if totals:
        lines.append(
            f"per-epoch listings: min {min(totals)}, median {int(statistics.median(totals))}, "
            f"max {max(totals)}; band {sim.config.low}..{sim.config.high}"
        )
    if sim.error:
        lines.append(f"stopped early: {sim.error}")
    return "\n".join(lines)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def preview_html(sim: Simulation) -> str:
    env = Environment(loader=FileSystemLoader(publish.TEMPLATES), autoescape=select_autoescape())
    shares = sim.state_listings()
    whole = sum(shares.values()) or 1
    totals = sim.totals()
    return env.get_template("preview.html").render(
        sim=sim,
        text=preview_text(sim),
        states=[
            {
                "state": p.state,
                "share": shares.get(p.state, 0) / whole,
                "coverage": _ratio(*sim.coverage.get(p.state, (0, 0))),
            }
            for p in sim.priorities
        ],
        chart=charts.column_chart(
            [_day_hour(a["epochStart"]) for a in sim.epochs],
            totals,
            [a["epochId"] for a in sim.epochs],
            floor=sim.config.high,
            label_width=84,
        ),
        low=sim.config.low,
        high=sim.config.high,
    )


def _day_hour(instant: str) -> str:
    """`2026-11-25T16:00:00Z` as `11-25 16:00`, an epoch's label on the preview chart."""
    return f"{instant[5:10]} {instant[11:16]}"
