"""Each benchmark runs in its short mode, as CI runs it, and writes well-formed figures.

No figure is compared with a time: a loaded CI machine must not fail the build. What is
checked is that each benchmark did the work it reports (epochs sealed, requests answered
without error, assignments verified) and that a short run leaves bench/RESULTS.md alone.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import ClassVar

import pytest

from bench.signer import meets_targets, percentiles, wrk

from conftest import REPO

pytestmark = pytest.mark.slow

RESULTS = REPO / "bench" / "RESULTS.md"
MACHINE_KEYS = {"nproc", "memoryGiB", "cpu", "python", "date", "loadAverage"}


def run_short(name: str, out: Path) -> dict:
    before = RESULTS.read_bytes() if RESULTS.exists() else None
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--short", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before
    document = json.loads((out / f"{name}.json").read_text())
    assert document["benchmark"] == name
    assert document["short"] is True
    assert set(document["machine"]) == MACHINE_KEYS
    assert document["machine"]["nproc"] >= 1
    assert isinstance(document["meetsTargets"], bool)
    assert result.stdout.startswith("### ")
    return document


def test_planner_benchmark_seals_every_epoch_of_its_matrix(tmp_path):
    document = run_short("planner", tmp_path)
    runs = document["runs"]
    assert [(r["zipcodes"], r["days"]) for r in runs] == [
        (2000, 1),
        (2000, 2),
        (4000, 1),
        (4000, 2),
    ]
    for r in runs:
        assert r["epochs"] == 6 * r["days"]
        assert r["wallSeconds"] > 0 and r["cpuSeconds"] > 0
        assert 0 < r["peakRssMB"] < 10_000
        assert r["publishedMB"] > 0
    assert document["headline"] == runs[-1]
    assert "wrote 42,789 zipcodes" in document["generateOutput"]
    scaling = document["scaling"]
    assert set(scaling["zipcodeGrowthPerEpochCount"]) == {"6", "12"}
    assert set(scaling["epochGrowthPerZipcodeCount"]) == {"2000", "4000"}
    assert isinstance(scaling["linearOrBetter"], bool)


def test_signer_benchmark_gets_credentials_for_every_request(tmp_path):
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk; .ci/run installs it)")
    document = run_short("signer", tmp_path)
    assert document["miners"] == 16
    assert document["connections"] == 64
    assert [run["storage"] for run in document["runs"]] == ["memory", "redis"]
    for run in document["runs"]:
        for key in ("ceiling", "folderAccess"):
            figures = run[key]
            assert figures["requests"] > 0
            assert figures["errors"] == 0, figures["errorsByKind"]
            assert 0 < figures["p50Ms"] <= figures["p99Ms"] <= figures["maxMs"]
            assert figures["serverCpuSeconds"] > 0
            assert figures["cpuMsPerRequest"] == pytest.approx(
                1000 * figures["serverCpuSeconds"] / figures["requests"], rel=0.01, abs=0.002
            )
        assert run["folderAccess"]["path"] == "/get-folder-access"
        # Every timed credential request got a 200 from the signer, per its own request log.
        assert run["served200"] >= run["folderAccess"]["requests"]
        assert len(run["roundRatios"]) == document["rounds"] == 2
        assert run["ratioToCeiling"] == pytest.approx(
            statistics.median(run["roundRatios"]), abs=0.001
        )
        assert min(run["roundRatios"]) <= run["ratioToCeiling"] <= max(run["roundRatios"])
        assert run["folderAccess"]["seconds"] >= 2 * 0.9, "both rounds timed"


def test_miner_benchmark_verifies_every_epoch_it_times(tmp_path):
    document = run_short("miner", tmp_path)
    assert document["epochsPublished"] == 12
    assert document["epochsVerified"] == 12
    for key in ("perEpochMs", "plainPerEpochMs"):
        per = document[key]
        assert 0 < per["p50"] <= per["p99"] <= per["max"]
    assert set(document["phasesMeanMs"]) == {
        "indexMs",
        "sealedMs",
        "beaconMs",
        "decryptMs",
        "hashMs",
    }
    assert document["indexKB"] > 0


def test_attack_benchmark_scores_every_epoch_and_costs_each_guess(tmp_path):
    document = run_short("attack", tmp_path)
    assert document["guess"]["guessMs"] >= 100, "scrypt makes a guess slow even in CI"
    assert document["guess"]["slowdown"] > 1000
    (run,) = document["runs"]
    assert run["coverageDays"] == 7.0 and run["epochsScored"] == 6
    assert run["eligibleZipcodes"] == 2630
    for key in ("stalenessPrecision", "monteCarloPrecision", "randomPrecision"):
        assert 0 < run[key] < 1
    assert run["stalenessAdvantage"] == pytest.approx(
        run["stalenessPrecision"] / run["randomPrecision"], rel=0.01
    )
    # 12 epochs: a zipcode never chosen waits 13 (counted from the epoch before the first).
    assert 0 < run["worstGapEpochs"] <= 13
    assert run["worstGapDays"] == pytest.approx(run["worstGapEpochs"] * 4 / 24, abs=0.01)


def test_limiter_benchmark_leaves_no_counter_for_unregistered_hotkeys(tmp_path):
    document = run_short("limiter", tmp_path)
    flood = document["unregistered"]
    assert flood["requests"] == 2000
    assert flood["statuses"] == {"403": 2000}
    assert flood["hotkeyCounters"] == 0
    assert document["countersForRegistered"] == 2 * document["registeredMiners"]
    assert document["ifCountedAnyway"]["bytesPerHotkey"] > 0


def test_legacy_benchmark_answers_every_request_while_the_cdn_hangs(tmp_path):
    document = run_short("legacy", tmp_path)
    for key in ("legacyWhileCdnHangs", "folderAccessWhileCdnHangs"):
        figures = document[key]
        assert figures["requests"] > 0
        assert figures["non200"] == 0
        assert 0 < figures["p50Ms"] <= figures["p99Ms"] <= figures["maxMs"]
    assert document["cdnRequestsHeldAtEnd"] >= 1


def test_presign_benchmark_times_the_same_urls_three_ways(tmp_path):
    document = run_short("presign", tmp_path)
    assert document["keys"] == 50 and document["rounds"] == 2
    assert document["sameUrlsAsBotocore"] is True
    for key in ("signer", "botocore", "request"):
        figures = document[key]
        assert 0 < figures["batchMsMin"] <= figures["batchMsMedian"] <= figures["batchMsMax"]
        assert figures["usPerUrl"] == pytest.approx(
            figures["batchMsMedian"] * 1000 / 50, rel=0.01, abs=0.1
        )
    assert document["ratioToBotocore"] == pytest.approx(
        document["signer"]["batchMsMedian"] / document["botocore"]["batchMsMedian"], abs=0.001
    )


def test_signer_percentiles_come_from_the_merged_latencies_of_all_rounds():
    # Two rounds: a fast one and one whose slowest 10% took 40 ms. Merged, the p99 is 40 ms
    # where the fast round alone says 2 ms: percentiles of the union, not of one round.
    fast, slow = Counter({1000: 90, 2000: 10}), Counter({1000: 90, 40000: 10})
    assert percentiles(fast, 50, 99) == [1.0, 2.0]
    assert percentiles(fast + slow, 50, 90, 99, 100) == [1.0, 1.0, 40.0, 40.0]
    assert percentiles(fast + slow, 95) == [2.0]


def test_signer_targets_bound_p99_with_memory_counters_only():
    # Issue 13: 70% and p99 < 40 ms with memory://, 60% with Redis (no p99 bound there).
    assert meets_targets("memory", 0.72, 39.9, 0)
    assert not meets_targets("memory", 0.72, 40.0, 0)
    assert not meets_targets("memory", 0.69, 30.0, 0)
    assert meets_targets("redis", 0.61, 59.0, 0)
    assert not meets_targets("redis", 0.59, 20.0, 0)
    assert not meets_targets("redis", 0.61, 20.0, 1)


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 to anything, and keeps each request's method, Host header and body."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str | None, bytes]]] = []

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.seen.append((self.command, self.headers.get("Host"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = answer

    def log_message(self, *args: object) -> None:
        pass


def test_signer_benchmark_requests_carry_host_as_a_real_client_sends_it(tmp_path):
    # wrk's script formatted its requests when it loaded, before wrk knew the Host: both
    # endpoints were timed on requests with no header gunicorn had to parse (/healthz's on
    # none at all), which no HTTP/1.1 client sends.
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk; .ci/run installs it)")
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text('{"hotkey": "a"}\n{"hotkey": "b"}\n')
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        Recorder.seen = []
        wrk(base, "/healthz", 1, 1, None, [os.getpid()])
        gets = Recorder.seen
        Recorder.seen = []
        wrk(base, "/get-folder-access", 1, 1, bodies, [os.getpid()])
        posts = Recorder.seen
    finally:
        server.shutdown()
        server.server_close()
    host = base.removeprefix("http://")
    assert gets and {(method, sent) for method, sent, _ in gets} == {("GET", host)}
    assert posts and {(method, sent) for method, sent, _ in posts} == {("POST", host)}
    assert {body for _, _, body in posts} == {b'{"hotkey": "a"}', b'{"hotkey": "b"}'}
