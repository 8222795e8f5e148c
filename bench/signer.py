"""Signer throughput: signed `POST /get-folder-access` under gunicorn as the Procfile runs it.

A metagraph snapshot of 256 miners (dev keys `//miner/1` .. `//miner/256`, coldkeys
`//miner/N//cold`), one freshly signed body per miner, and wrk on loopback at 64
connections rotating through them. The same server, in the same run, also serves the
trivial `GET /healthz`: its rate is the ceiling of the stack (gunicorn + Flask + the
signer's before/after hooks), and the credential endpoint is reported against it.

    python -m bench.signer            # 256 miners, 10 s per endpoint
    python -m bench.signer --short    # CI: 16 miners, 1 s per endpoint

wrk comes from Debian (`apt-get install wrk`; .ci/run installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from bittensor_core import Keypair

from bench.common import Options, machine_line, options, update_results, write_result

from servers.neurons import miners, snapshot
from servers.signer_gunicorn import gunicorn_signer

NAME = "signer"
LUA = Path(__file__).with_name("signer.lua")
CONNECTIONS = 64
FULL = {"miners": 256, "seconds": 10, "threads": 2}
SHORT = {"miners": 16, "seconds": 1, "threads": 1}
WORKERS = int(os.environ.get("WEB_CONCURRENCY", "2"))  # the Procfile's default
TARGETS = {"ratioToCeiling": 0.5, "p99Ms": 50.0, "errors": 0}


def signed_bodies(keys: list[tuple[Keypair, Keypair]], timestamp: int) -> list[str]:
    """One `/get-folder-access` body per miner, signed as a miner client signs it."""
    bodies = []
    for hot, cold in keys:
        message = f"s3:data:access:{cold.ss58_address}:{hot.ss58_address}:{timestamp}"
        body = {
            "coldkey": cold.ss58_address,
            "hotkey": hot.ss58_address,
            "timestamp": timestamp,
            "signature": hot.sign(message.encode()).hex(),
        }
        bodies.append(json.dumps(body))
    return bodies


def server_env(folder: Path, metagraph: Path) -> dict[str, str]:
    """Signer settings: the snapshot, a dummy bucket (presigning never calls S3), high limits.

    Every request comes from 127.0.0.1 and each miner sends hundreds, so the per-address
    and per-hotkey limits are raised far above what the run sends.
    """
    return {
        "SIGNER_METAGRAPH": str(metagraph),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(folder),
        "SIGNER_RATELIMIT_MINER": "1000000/minute",
        "SIGNER_RATELIMIT_ADDRESS": "100000000/minute",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "bench-bucket",
        "S3_ACCESS_KEY_ID": "AKIABENCHSIGNER",
        "S3_SECRET_ACCESS_KEY": "bench-secret-not-real",
    }


def wrk(base: str, path: str, seconds: int, threads: int, bodies: Path | None) -> dict[str, Any]:
    """One wrk run; its figures in requests/s and milliseconds."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (.ci/run installs it)")
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {
            **os.environ,
            "BENCH_PATH": path,
            "BENCH_BODIES": str(bodies or ""),
            "BENCH_OUT": out.name,
        }
        command = [
            binary,
            f"-t{threads}",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            base,
        ]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=seconds + 60)
        raw = json.loads(Path(out.name).read_text())
    latency = raw["latencyUs"]
    return {
        "path": path,
        "requests": raw["requests"],
        "seconds": round(raw["durationUs"] / 1e6, 3),
        "requestsPerSecond": round(raw["requests"] / (raw["durationUs"] / 1e6), 1),
        "p50Ms": round(latency["p50"] / 1000, 2),
        "p90Ms": round(latency["p90"] / 1000, 2),
        "p99Ms": round(latency["p99"] / 1000, 2),
        "maxMs": round(latency["max"] / 1000, 2),
        "errors": sum(raw["errors"].values()),
        "errorsByKind": raw["errors"],
    }


def check_one(base: str, body: str) -> None:
    """A credential is really issued before anything is timed (a fast 4xx measures nothing)."""
    response = requests.post(
        f"{base}/get-folder-access",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    if response.status_code != 200 or not response.json()["folder"].startswith("data/hotkey="):
        raise RuntimeError(f"/get-folder-access answered {response.status_code}: {response.text}")


def run(opts: Options) -> dict[str, Any]:
    shape = SHORT if opts.short else FULL
    keys = miners(shape["miners"])
    with tempfile.TemporaryDirectory(prefix="bench-signer-") as tmp:
        folder = Path(tmp)
        metagraph = folder / "metagraph.json"
        metagraph.write_text(json.dumps(snapshot(keys)))
        bodies = folder / "bodies.jsonl"
        with gunicorn_signer(server_env(folder, metagraph), folder, WORKERS) as base:
            bodies.write_text("\n".join(signed_bodies(keys, int(time.time()))) + "\n")
            check_one(base, bodies.read_text().splitlines()[0])
            wrk(base, "/healthz", 1, shape["threads"], None)
            wrk(base, "/get-folder-access", 1, shape["threads"], bodies)
            ceiling = wrk(base, "/healthz", shape["seconds"], shape["threads"], None)
            # Fresh signatures for the timed run: the signer accepts timestamps up to 300 s old.
            bodies.write_text("\n".join(signed_bodies(keys, int(time.time()))) + "\n")
            folder_access = wrk(
                base, "/get-folder-access", shape["seconds"], shape["threads"], bodies
            )
        served = (folder / "gunicorn.log").read_text().count('"status": 200')
    ratio = folder_access["requestsPerSecond"] / ceiling["requestsPerSecond"]
    figures = {
        "miners": shape["miners"],
        "connections": CONNECTIONS,
        "workers": WORKERS,
        "wrkThreads": shape["threads"],
        "ceiling": ceiling,
        "folderAccess": folder_access,
        "ratioToCeiling": round(ratio, 3),
        "served200": served,
        "targets": TARGETS,
        "meetsTargets": ratio >= TARGETS["ratioToCeiling"]
        and folder_access["p99Ms"] < TARGETS["p99Ms"]
        and folder_access["errors"] + ceiling["errors"] == TARGETS["errors"],
    }
    path = write_result(opts, NAME, figures)
    document = json.loads(path.read_text())
    update_results(opts, NAME, markdown(document))
    print(markdown(document))
    return document


def markdown(document: dict[str, Any]) -> str:
    rows = [("`GET /healthz` (ceiling)", document["ceiling"])]
    rows.append(("`POST /get-folder-access`", document["folderAccess"]))
    lines = [
        "### Signer: signed credential requests under gunicorn",
        "",
        machine_line(document),
        "",
        f"gunicorn as the Procfile runs it ({document['workers']} sync workers), "
        f"{document['miners']} distinct miners with real sr25519 signatures, wrk with "
        f"{document['connections']} connections ({document['wrkThreads']} threads) on loopback.",
        "",
        "| endpoint | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {r['requests']:,} | {r['requestsPerSecond']:,} | {r['p50Ms']} | "
        f"{r['p90Ms']} | {r['p99Ms']} | {r['maxMs']} | {r['errors']} |"
        for label, r in rows
    ]
    folder = document["folderAccess"]
    lines += [
        "",
        f"Ratio to the ceiling: **{document['ratioToCeiling']:.0%}** (target >= 50%); "
        f"p99 **{folder['p99Ms']} ms** (target < 50 ms); errors "
        f"**{folder['errors'] + document['ceiling']['errors']}** (target 0): "
        f"{'meets' if document['meetsTargets'] else 'MISSES'} the targets.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run(options(__doc__.splitlines()[0], argv))


if __name__ == "__main__":
    main()
