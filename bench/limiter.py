"""`python -m bench.limiter [--short] [--out DIR]`: limiter memory under unregistered hotkeys.

Any key pair that signs correctly could once create per-hotkey limiter counters, kept for the
day window: unbounded memory from free key pairs. The signer now counts a hotkey only after
the metagraph shows it registered. This benchmark sends one correctly signed
`/get-folder-access` per distinct unregistered hotkey (100,000; 2,000 with --short) to the
real app (in process, `memory://` counters), and reports the per-hotkey counters left in the
limiter's storage and the process's resident memory before and after. For scale, it also
measures what those counters would cost if every verified hotkey were counted (tracemalloc
around the same number of counts in a fresh limiter), and what the subnet's 256 registered
miners cost.
"""

from __future__ import annotations

import gc
import json
import logging
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bittensor_core import Keypair

from bench.common import Options, machine_line, options, record
from signer import create_app
from signer.ratelimit import HotkeyQuota

from servers.neurons import miners, snapshot

NAME = "limiter"
FULL = {"unregistered": 100_000, "registered": 256}
SHORT = {"unregistered": 2_000, "registered": 16}
TARGETS = {"hotkeyCountersFromUnregistered": 0}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def hotkey_counters(app: Any) -> int:
    """Per-hotkey counters in the limiter's memory storage (keys naming a hotkey scope).

    `memory://` is the signer's own SweptMemoryStorage (signer/ratelimit.py); its counters
    are read directly, as nothing else lists them.
    """
    storage = app.extensions["signer"].limiter.storage
    scopes = ("/signer/miner/", "/signer/validator/", "/signer/status/", "/signer/bench/")
    return sum(1 for key in list(storage._counts) if any(scope in key for scope in scopes))


def signed_body(keypair: Keypair, coldkey: str, timestamp: int) -> dict[str, Any]:
    message = f"s3:data:access:{coldkey}:{keypair.ss58_address}:{timestamp}"
    return {
        "coldkey": coldkey,
        "hotkey": keypair.ss58_address,
        "timestamp": timestamp,
        "signature": keypair.sign(message.encode()).hex(),
    }


def make_app(folder: Path, metagraph: dict[str, Any]) -> Any:
    """The signer in process, its request log quiet (one line per request is a lot here)."""
    path = folder / "metagraph.json"
    path.write_text(json.dumps(metagraph))
    logging.getLogger("signer.access").setLevel(logging.WARNING)
    return create_app(
        {
            "SIGNER_METAGRAPH": str(path),
            "SIGNER_METAGRAPH_REFRESH": "0",
            "SIGNER_METAGRAPH_MAX_AGE": "0",
            "SIGNER_PUBLISHED": str(folder),
            "SIGNER_RATELIMIT_ADDRESS": "100000000/minute",
            "SIGNER_RATELIMIT_MINER": "1000/minute;100000/day",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "S3_BUCKET": "bench-limiter",
            "S3_ACCESS_KEY_ID": "AKIABENCHLIMITER",
            "S3_SECRET_ACCESS_KEY": "bench-limiter-secret",
        }
    )


def flood(app: Any, count: int) -> dict[str, Any]:
    """One signed request per new key pair (seeds 1..count), none of them registered."""
    client = app.test_client()
    coldkey = Keypair.create_from_seed(b"\xff" * 32).ss58_address
    statuses: dict[int, int] = {}
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    for n in range(1, count + 1):
        keypair = Keypair.create_from_seed(n.to_bytes(32, "big"))
        body = signed_body(keypair, coldkey, int(time.time()))
        status = client.post("/get-folder-access", json=body).status_code
        statuses[status] = statuses.get(status, 0) + 1
    seconds = time.perf_counter() - started
    gc.collect()
    return {
        "requests": count,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(seconds, 1),
        "rssBeforeMB": round(before, 1),
        "rssAfterMB": round(rss_mb(), 1),
        "hotkeyCounters": hotkey_counters(app),
    }


def registered_miners(app: Any, keys: list[tuple[Keypair, Keypair]]) -> int:
    client = app.test_client()
    for hot, cold in keys:
        body = signed_body(hot, cold.ss58_address, int(time.time()))
        response = client.post("/get-folder-access", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"a registered miner got {response.status_code}: {response.json}")
    return hotkey_counters(app)


def counted_anyway(app: Any, count: int) -> dict[str, Any]:
    """Bytes the counters of `count` distinct hotkeys take when every one is counted."""
    quota = HotkeyQuota(app.extensions["signer"].limiter, "10/minute;200/day", "bench")
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    for n in range(count):
        quota.spend(f"5bench{n:012d}")
    allocated = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    return {"hotkeys": count, "bytes": allocated, "bytesPerHotkey": round(allocated / count)}


def run(opts: Options) -> dict[str, Any]:
    shape = SHORT if opts.short else FULL
    keys = miners(shape["registered"])
    with tempfile.TemporaryDirectory(prefix="bench-limiter-") as tmp:
        app = make_app(Path(tmp), snapshot(keys))
        unregistered = flood(app, shape["unregistered"])
        registered = registered_miners(app, keys)
        comparison = counted_anyway(make_app(Path(tmp), snapshot(keys)), shape["unregistered"])
    figures = {
        "unregistered": unregistered,
        "registeredMiners": shape["registered"],
        "countersForRegistered": registered,
        "ifCountedAnyway": comparison,
        "targets": TARGETS,
        "meetsTargets": unregistered["hotkeyCounters"] == 0
        and unregistered["statuses"] == {"403": shape["unregistered"]},
    }
    return record(opts, NAME, figures, markdown)


def answers(statuses: dict[str, int]) -> str:
    return ", ".join(f"{count:,} HTTP {status}" for status, count in statuses.items())


def markdown(document: dict[str, Any]) -> str:
    flood_ = document["unregistered"]
    anyway = document["ifCountedAnyway"]
    return "\n".join(
        [
            "### Signer: limiter memory under unregistered hotkeys",
            "",
            machine_line(document),
            "",
            f"{flood_['requests']:,} correctly signed `/get-folder-access` requests, each from a "
            f"new key pair that is not registered, to the app in process (`memory://`), in "
            f"{flood_['seconds']} s; answers: {answers(flood_['statuses'])}.",
            "",
            "| | per-hotkey counters | resident memory |",
            "|---|---:|---:|",
            f"| before | 0 | {flood_['rssBeforeMB']} MB |",
            f"| after {flood_['requests']:,} unregistered hotkeys | {flood_['hotkeyCounters']} | "
            f"{flood_['rssAfterMB']} MB |",
            f"| then {document['registeredMiners']} registered miners, one request each | "
            f"{document['countersForRegistered']} | |",
            "",
            f"Had every verified hotkey been counted, their counters would take "
            f"{anyway['bytes'] / 1e6:.1f} MB for {anyway['hotkeys']:,} hotkeys "
            f"({anyway['bytesPerHotkey']} bytes each, two windows), kept for a day. Counters "
            "now exist only for registered hotkeys (two per hotkey: minute and day), so "
            "they are bounded by the subnet's size: "
            f"{'meets' if document['meetsTargets'] else 'MISSES'} the target (no counter from "
            "an unregistered hotkey).",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    run(options(__doc__.splitlines()[0], argv))


if __name__ == "__main__":
    main()
