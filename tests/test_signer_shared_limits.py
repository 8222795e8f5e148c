"""Per-hotkey limits hold across processes: two gunicorn instances of two workers each, as
`.do/app.yaml` runs them, sharing one real Redis-protocol server.

The same setup with `memory://` grants a hotkey more than its quota (each worker counts on its
own), which is why several instances need the shared store.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from signer.config import ENV_NAMES

from servers import signer_client as sc
from servers.fake_chain import DEMO_METAGRAPH
from servers.signer_gunicorn import gunicorn_signer

pytestmark = pytest.mark.slow

INSTANCES = 2
WORKERS = 2
QUOTA = 7
REQUESTS = 48
CONCURRENCY = 8
MAX_ROUNDS = 20


def signer_env(tmp_path: Path, storage: str) -> dict[str, str]:
    return {
        "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(tmp_path),
        "SIGNER_RATELIMIT_STORAGE": storage,
        "SIGNER_RATELIMIT_MINER": f"{QUOTA}/hour",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "subnet46-test",
        "S3_ACCESS_KEY_ID": "AKIATESTSIGNER",
        "S3_SECRET_ACCESS_KEY": "shared-limits-secret",
    }


def burst(tmp_path: Path, storage: str) -> tuple[list[int], set[int]]:
    """Signed requests of one miner, spread over both instances concurrently, in rounds of
    REQUESTS until every worker of both has answered some (a worker may still be starting
    when the first round comes).

    Returns the statuses and the process ids that answered them (from the request logs).
    """
    with ExitStack() as stack:
        bases = []
        for n in range(INSTANCES):
            workdir = tmp_path / f"instance{n}"
            workdir.mkdir()
            bases.append(
                stack.enter_context(
                    gunicorn_signer(signer_env(tmp_path, storage), workdir, workers=WORKERS)
                )
            )

        def one(n: int) -> int:
            body = sc.folder_access(timestamp=int(time.time()))
            url = f"{bases[n % INSTANCES]}/get-folder-access"
            return requests.post(url, json=body, timeout=60).status_code

        statuses: list[int] = []
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            for _ in range(MAX_ROUNDS):
                statuses += pool.map(one, range(REQUESTS))
                if len(answering_processes(tmp_path)) == INSTANCES * WORKERS:
                    break
    return statuses, answering_processes(tmp_path)


def answering_processes(tmp_path: Path) -> set[int]:
    pids = set()
    for n in range(INSTANCES):
        for line in (tmp_path / f"instance{n}" / "gunicorn.log").read_text().splitlines():
            if line.startswith("{") and '"/get-folder-access"' in line:
                pids.add(json.loads(line)["pid"])
    return pids


def test_one_hotkey_gets_exactly_its_quota_across_two_instances_of_two_workers(
    tmp_path, monkeypatch, redis_url
):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    statuses, pids = burst(tmp_path, redis_url)
    assert statuses.count(200) == QUOTA, statuses
    assert statuses.count(429) == len(statuses) - QUOTA, statuses
    assert len(pids) == INSTANCES * WORKERS


def test_per_process_counters_let_a_hotkey_past_its_quota(tmp_path, monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    statuses, _ = burst(tmp_path, "memory://")
    assert statuses.count(200) >= INSTANCES * QUOTA
    assert set(statuses) == {200, 429}
