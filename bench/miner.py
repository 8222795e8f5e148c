"""Miner's view: from reading index.json to a verified assignment, over loopback HTTP.

The planner seals the PA+NJ sample for a year ahead (every epoch to the public quicknet
test round, the one beacon the loopback relay can serve with its real signature) and
reveals it all; a static server stands in for the CDN. Each timed call is what a miner
runs, `clientkit.assignment.sealed_assignment`: GET index.json, GET the sealed file, GET
the round's signature from the drand relay, decrypt, compare the sha256 with the
commitment (clientkit.verify's checks, which also compare the revealed file byte for byte).
`plain_assignment` (the revealed JSON checked by its hash, no drand) is timed too. The
index then lists a year of epochs: the worst case a miner meets after a year.

    python -m bench.miner            # 2,190 epochs published, 200 verified
    python -m bench.miner --short    # CI: 12 epochs published, all verified
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

from bench.common import (
    ROOT,
    Options,
    machine_line,
    options,
    percentile,
    record,
)
from clientkit import drand, layout, timelock
from clientkit.assignment import Assignment, plain_assignment, sealed_assignment
from clientkit.epochs import epoch_from_id
from clientkit.verify import HttpSource
from planner.dataset import load_dataset, load_priorities
from planner.jobs import Planner, plan, reveal
from planner.store import LocalStore

from servers.drand_relay import TEST_ROUND, drand_relay
from servers.static_http import serve_folder

NAME = "miner"
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
SECRET = b"bench-secret-" + b"0" * 40
FULL = {"days": 365, "verified": 200}
SHORT = {"days": 2, "verified": 12}
TARGETS = {"p99Ms": 50.0}


def publish_year(folder: Path, days: int) -> list[str]:
    """Plan and reveal `days` of epochs of the sample; the epoch ids, in order."""
    planner = Planner(
        public=LocalStore(folder / "published"),
        private=LocalStore(folder / "state"),
        secret=SECRET,
        load_data=lambda: (
            load_dataset(ROOT / "data/zipcodes.csv"),
            load_priorities(ROOT / "data/state_priorities.txt"),
        ),
        horizon=timedelta(days=days),
        round_for=lambda epoch: TEST_ROUND,
    )
    sealed = plan(planner, NOW).sealed
    reveal(planner, NOW + timedelta(days=days))
    return sealed


def phases(base: str, relay: str, epoch_id: str) -> dict[str, float]:
    """The steps of opening a sealed epoch, each timed once (milliseconds)."""
    source = HttpSource(base)
    marks = [time.perf_counter()]
    entry = layout.read_index(source)[epoch_id]
    marks.append(time.perf_counter())
    sealed = source.get(layout.sealed_key(epoch_id))
    marks.append(time.perf_counter())
    signature = drand.fetch_signature(entry.reveal_round, (relay,))
    marks.append(time.perf_counter())
    plaintext = timelock.unseal(sealed or b"", signature)
    marks.append(time.perf_counter())
    if timelock.commitment(plaintext) != entry.commitment:
        raise RuntimeError(f"{epoch_id}: commitment mismatch")
    marks.append(time.perf_counter())
    names = ("indexMs", "sealedMs", "beaconMs", "decryptMs", "hashMs")
    return {n: (b - a) * 1000 for n, a, b in zip(names, marks[:-1], marks[1:], strict=True)}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 2),
        "p99": round(percentile(values, 99), 2),
        "mean": round(mean(values), 2),
        "max": round(max(values), 2),
    }


def run(opts: Options) -> dict[str, Any]:
    shape = SHORT if opts.short else FULL
    with tempfile.TemporaryDirectory(prefix="bench-miner-") as tmp:
        folder = Path(tmp)
        epochs = publish_year(folder, shape["days"])
        step = max(1, len(epochs) // shape["verified"])
        sample = epochs[::step][: shape["verified"]]
        index_bytes = (folder / "published" / "index.json").stat().st_size
        with serve_folder(folder / "published") as base, drand_relay() as relay:
            relays = (relay.url,)
            # The miner's chain-head file, in the run's folder rather than the user's cache.
            heads = folder / "chain-heads.json"

            # Each epoch is opened at its start, as a miner opens it (not before: NotOpenYet).
            def opening(epoch_id: str) -> Assignment:
                at = epoch_from_id(epoch_id).start
                return sealed_assignment(base, epoch_id, at, relays, lambda e: TEST_ROUND, heads)

            opening(sample[0])
            sealed, plain, parts = [], [], []
            for epoch_id in sample:
                started = time.perf_counter()
                opened = opening(epoch_id)
                middle = time.perf_counter()
                revealed = plain_assignment(base, epoch_id, head_file=heads)
                sealed.append((middle - started) * 1000)
                plain.append((time.perf_counter() - middle) * 1000)
                if opened.body != revealed.body or opened.epoch_id != epoch_id:
                    raise RuntimeError(f"{epoch_id}: sealed and revealed assignments differ")
                parts.append(phases(base, relay.url, epoch_id))
    figures = {
        "epochsPublished": len(epochs),
        "epochsVerified": len(sample),
        "indexKB": round(index_bytes / 1024, 1),
        "perEpochMs": summary(sealed),
        "plainPerEpochMs": summary(plain),
        "phasesMeanMs": {k: round(mean(p[k] for p in parts), 2) for k in parts[0]},
        "targets": TARGETS,
        "meetsTargets": percentile(sealed, 99) < TARGETS["p99Ms"],
    }
    return record(opts, NAME, figures, markdown)


def markdown(document: dict[str, Any]) -> str:
    per, plain = document["perEpochMs"], document["plainPerEpochMs"]
    steps = ", ".join(f"{k.removesuffix('Ms')} {v} ms" for k, v in document["phasesMeanMs"].items())
    return "\n".join(
        [
            "### Miner's view: index.json to a verified assignment",
            "",
            machine_line(document),
            "",
            f"{document['epochsVerified']} of {document['epochsPublished']:,} published epochs "
            f"opened by `sealed_assignment` over loopback HTTP (index.json "
            f"{document['indexKB']:,} KB): per epoch p50 **{per['p50']} ms**, p99 "
            f"**{per['p99']} ms** (target < {TARGETS['p99Ms']:g} ms), mean {per['mean']} ms, "
            f"max {per['max']} ms: {'meets' if document['meetsTargets'] else 'MISSES'} the "
            f"target. `plain_assignment` (revealed JSON and its hash, no drand): p50 "
            f"{plain['p50']} ms, p99 {plain['p99']} ms.",
            "",
            f"Where the time goes (mean): {steps}.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    run(options(__doc__.splitlines()[0], argv))


if __name__ == "__main__":
    main()
