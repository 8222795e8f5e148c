"""`python -m bench.legacy [--short] [--out DIR]`: the legacy assignment path while the CDN hangs.

With SIGNER_PUBLISHED a URL, each anonymous `/api/v1/zipcode-assignments/current` once fetched
current.json from the CDN with a 5 s timeout, so a slow CDN held the workers. The signer now
answers from a copy refreshed in the background. This benchmark starts the signer as the
Procfile does (gunicorn, 2 workers) against a loopback CDN (`tests/servers/static_http.py`),
waits until the copy is in, makes the CDN hang every request, and times legacy requests (8
at a time, as in the observed incident) together with a miner's signed `/get-folder-access`.
Target: p99 under 50 ms, every answer 200.
"""

from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench.common import (
    Options,
    machine_line,
    options,
    percentile,
    record,
)
from clientkit.epochs import epoch_at

from servers import signer_client
from servers.fake_chain import DEMO_METAGRAPH
from servers.signer_gunicorn import gunicorn_signer
from servers.static_http import cdn

NAME = "legacy"
FULL = {"requests": 2000}
SHORT = {"requests": 80}
CONCURRENCY = 8
WORKERS = 2
CLIENT_TIMEOUT = 30
COPY_WAIT = 120.0
TARGETS = {"p99Ms": 50, "non200": 0}
LEGACY = "/api/v1/zipcode-assignments/current"


def current_json() -> bytes:
    epoch = epoch_at(datetime.now(UTC))
    return json.dumps({"epochId": epoch.id, "zipcodes": [{"zipcode": "07030"}]}).encode()


def server_env(folder: Path, base_url: str) -> dict[str, str]:
    return {
        "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": base_url,
        "SIGNER_RATELIMIT_MINER": "1000000/minute",
        "SIGNER_RATELIMIT_ADDRESS": "100000000/minute",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "bench-bucket",
        "S3_ACCESS_KEY_ID": "AKIABENCHLEGACY",
        "S3_SECRET_ACCESS_KEY": "bench-secret-not-real",
    }


def wait_for_copy(base: str) -> None:
    """Until both workers answer from their copy (each fetches its own at start)."""
    deadline = time.monotonic() + COPY_WAIT
    answered = 0
    while answered < 10:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{LEGACY} did not answer 200 within {COPY_WAIT:.0f} s")
        ok = requests.get(f"{base}{LEGACY}", timeout=CLIENT_TIMEOUT).status_code == 200
        answered = answered + 1 if ok else 0
        time.sleep(0.05)


def timed(url: str, body: dict[str, Any] | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    if body is None:
        status = requests.get(url, timeout=CLIENT_TIMEOUT).status_code
    else:
        status = requests.post(url, json=body, timeout=CLIENT_TIMEOUT).status_code
    return status, (time.perf_counter() - started) * 1000


def summary(results: list[tuple[int, float]]) -> dict[str, Any]:
    latencies = [ms for _, ms in results]
    return {
        "requests": len(results),
        "non200": sum(1 for status, _ in results if status != 200),
        "p50Ms": round(percentile(latencies, 50), 2),
        "p99Ms": round(percentile(latencies, 99), 2),
        "maxMs": round(max(latencies), 2),
    }


def run(opts: Options) -> dict[str, Any]:
    shape = SHORT if opts.short else FULL
    with tempfile.TemporaryDirectory(prefix="bench-legacy-") as tmp:
        folder = Path(tmp)
        site_root = folder / "site"
        site_root.mkdir()
        (site_root / "current.json").write_bytes(current_json())
        with (
            cdn(site_root) as site,
            gunicorn_signer(server_env(folder, site.url), folder, WORKERS) as base,
        ):
            wait_for_copy(base)
            site.hang()
            if not site.wait_for_hanging_request(timeout=60):
                raise RuntimeError("the signer's background refresh never reached the CDN")
            urls = [f"{base}{LEGACY}"] * shape["requests"]
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                legacy = list(pool.map(timed, urls))
            body = signer_client.folder_access(timestamp=int(time.time()))
            miners = [timed(f"{base}/get-folder-access", body) for _ in range(10)]
            held = site.hanging
    legacy_figures, miner_figures = summary(legacy), summary(miners)
    figures = {
        "workers": WORKERS,
        "concurrency": CONCURRENCY,
        "legacyWhileCdnHangs": legacy_figures,
        "folderAccessWhileCdnHangs": miner_figures,
        "cdnRequestsHeldAtEnd": held,
        "targets": TARGETS,
        "meetsTargets": legacy_figures["p99Ms"] < TARGETS["p99Ms"]
        and legacy_figures["non200"] == 0
        and miner_figures["non200"] == 0,
    }
    return record(opts, NAME, figures, markdown)


def markdown(document: dict[str, Any]) -> str:
    rows = [
        (f"`GET {LEGACY}`, {document['concurrency']} at a time", document["legacyWhileCdnHangs"]),
        ("`POST /get-folder-access`, one at a time", document["folderAccessWhileCdnHangs"]),
    ]
    lines = [
        "### Signer: the legacy assignment path while the CDN hangs",
        "",
        machine_line(document),
        "",
        f"gunicorn as the Procfile runs it ({document['workers']} sync workers), "
        "`SIGNER_PUBLISHED` a loopback CDN that holds every request once the signer has its "
        "copy (background fetches held by the CDN at the end: "
        f"{document['cdnRequestsHeldAtEnd']}).",
        "",
        "| request | requests | not 200 | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {r['requests']:,} | {r['non200']} | {r['p50Ms']} | {r['p99Ms']} | "
        f"{r['maxMs']} |"
        for label, r in rows
    ]
    legacy = document["legacyWhileCdnHangs"]
    lines += [
        "",
        f"p99 **{legacy['p99Ms']} ms** (target < 50 ms), "
        f"{'meets' if document['meetsTargets'] else 'MISSES'} the targets.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run(options(__doc__.splitlines()[0], argv))


if __name__ == "__main__":
    main()
