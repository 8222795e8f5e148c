"""Planner at national scale: every US zipcode, every state listed, a year of epochs sealed.

Each run is the real CLI (`planner plan`) in a fresh process with fresh folders, as cron
runs it, timed from the outside: wall time, CPU time of the process and its sealing
workers, peak resident memory. The matrix (zipcodes x epochs) shows how time grows.

    python -m bench.planner            # full: 10k/20k/42k zipcodes x 1 month/1 year
    python -m bench.planner --short    # CI: 2k/4k zipcodes x 1/2 days
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from bench.common import BIN, Options, machine_line, measure, options, record
from planner import keys

NAME = "planner"
NOW = "2026-11-25T16:00:00Z"  # an epoch start: N days ahead are exactly 6N epochs
SECRET = keys.new_secret()  # a fresh one per run: the figures do not depend on it
SEED = 46


class Matrix(NamedTuple):
    zipcodes: tuple[int | None, ...]  # None: every zipcode
    days: tuple[int, ...]


FULL = Matrix(zipcodes=(10_000, 20_000, None), days=(30, 365))
SHORT = Matrix(zipcodes=(2_000, 4_000), days=(1, 2))
HEADLINE = (None, 365)  # every zipcode, one year
TARGETS = {"wallSeconds": 10.0, "peakRssMB": 500.0}


def generate(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The national file from the real generator (`planner generate-data --seed 46`)."""
    national = folder / "national.csv"
    command = [str(BIN / "planner"), "generate-data", "--seed", str(SEED), "--out", str(national)]
    run = measure(command, {})
    return national, {"generate": run.figures(), "generateOutput": run.output.strip()}


def subset(national: Path, size: int | None, folder: Path) -> Path:
    """A deterministic sample of `size` zipcodes (None: all), in the file's order."""
    if size is None:
        return national
    header, *rows = national.read_text().splitlines()
    keep = sorted(random.Random(SEED).sample(range(len(rows)), size))
    path = folder / f"zipcodes-{size}.csv"
    path.write_text("\n".join([header, *(rows[i] for i in keep)]) + "\n")
    return path


def priorities(data: Path, folder: Path) -> Path:
    """Every state in the file, the largest first."""
    states = Counter(line.split(",")[1] for line in data.read_text().splitlines()[1:])
    path = folder / f"{data.stem}-states.txt"
    path.write_text("".join(f"{state}\n" for state, _ in states.most_common()))
    return path


def plan_once(data: Path, days: int, folder: Path) -> dict[str, Any]:
    """`planner plan` into fresh folders; checks every epoch was sealed and listed."""
    published, state = folder / "published", folder / "state"
    run = measure(
        [
            str(BIN / "planner"),
            "plan",
            "--data",
            str(data),
            "--priorities",
            str(priorities(data, folder)),
            "--published",
            str(published),
            "--now",
            NOW,
            "--days",
            str(days),
        ],
        {"PLANNER_SECRET": SECRET, "PLANNER_STATE": str(state)},
    )
    epochs = 6 * days
    sealed = len(list((published / "sealed").glob("*.tlock")))
    listed = len(json.loads((published / "index.json").read_text())["epochs"])
    if sealed != epochs or listed != epochs:
        raise RuntimeError(f"expected {epochs} epochs, sealed {sealed}, index lists {listed}")
    zipcodes = len(data.read_text().splitlines()) - 1
    return {
        "zipcodes": zipcodes,
        "days": days,
        "epochs": epochs,
        **run.figures(),
        "msPerEpoch": round(1000 * run.wall_s / epochs, 2),
        "publishedMB": round(sum(p.stat().st_size for p in published.rglob("*")) / 1e6, 1),
    }


def scaling(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Growth factors: time ratio over size ratio (<= 1 means linear or better)."""
    by = {(r["zipcodes"], r["epochs"]): r for r in runs}
    sizes = sorted({r["zipcodes"] for r in runs})
    epochs = sorted({r["epochs"] for r in runs})
    zip_growth = [
        round(
            (by[(sizes[-1], e)]["wallSeconds"] / by[(sizes[0], e)]["wallSeconds"])
            / (sizes[-1] / sizes[0]),
            2,
        )
        for e in epochs
    ]
    epoch_growth = [
        round(
            (by[(z, epochs[-1])]["wallSeconds"] / by[(z, epochs[0])]["wallSeconds"])
            / (epochs[-1] / epochs[0]),
            2,
        )
        for z in sizes
    ]
    return {
        "zipcodeGrowthPerEpochCount": dict(zip(map(str, epochs), zip_growth, strict=True)),
        "epochGrowthPerZipcodeCount": dict(zip(map(str, sizes), epoch_growth, strict=True)),
        "linearOrBetter": all(g <= 1.05 for g in zip_growth + epoch_growth),
    }


def run(opts: Options) -> dict[str, Any]:
    matrix = SHORT if opts.short else FULL
    with tempfile.TemporaryDirectory(prefix="bench-planner-") as tmp:
        folder = Path(tmp)
        national, generated = generate(folder)
        runs = []
        for size in matrix.zipcodes:
            data = subset(national, size, folder)
            for days in matrix.days:
                work = folder / f"run-{size or 'all'}-{days}"
                work.mkdir()
                runs.append(plan_once(data, days, work))
    headline = runs[-1]
    figures = {
        **generated,
        "headline": headline,
        "targets": TARGETS,
        "meetsTargets": all(headline[k] <= v for k, v in TARGETS.items()),
        "runs": runs,
        "scaling": scaling(runs),
    }
    return record(opts, NAME, figures, markdown)


def markdown(document: dict[str, Any]) -> str:
    head = document["headline"]
    lines = [
        "### Planner: plan and seal at national scale",
        "",
        machine_line(document),
        "",
        f"Headline: {head['zipcodes']:,} zipcodes, every state listed, {head['epochs']:,} "
        f"epochs sealed into a fresh folder by `planner plan`: **{head['wallSeconds']} s "
        f"wall** (target < {TARGETS['wallSeconds']:g} s), {head['cpuSeconds']} s CPU, "
        f"**{head['peakRssMB']} MB peak RSS** (target < {TARGETS['peakRssMB']:g} MB): "
        f"{'meets' if document['meetsTargets'] else 'MISSES'} the targets.",
        "",
        "| zipcodes | days | epochs | wall s | CPU s | peak RSS MB | ms/epoch | published MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['zipcodes']:,} | {r['days']} | {r['epochs']:,} | {r['wallSeconds']} | "
        f"{r['cpuSeconds']} | {r['peakRssMB']} | {r['msPerEpoch']} | {r['publishedMB']} |"
        for r in document["runs"]
    ]
    growth = document["scaling"]
    lines += [
        "",
        "Growth (time ratio divided by size ratio; 1.0 is linear, below is better): "
        f"zipcodes {growth['zipcodeGrowthPerEpochCount']} (per epoch count), epochs "
        f"{growth['epochGrowthPerZipcodeCount']} (per zipcode count): "
        f"{'linear or better' if growth['linearOrBetter'] else 'WORSE than linear'}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run(options(__doc__.splitlines()[0], argv))


if __name__ == "__main__":
    main()
