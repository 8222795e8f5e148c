"""10,000 signed credential requests at 64 concurrent connections against gunicorn.

One miner sends far more than the per-hotkey limit allows, 63 others stay under it: the
busy one gets exactly its quota and then 429 with Retry-After, the others all get their
credentials, and nobody gets a 5xx. The signer runs as the Procfile starts it, with one
worker (tests/servers/signer_gunicorn.py) so the in-memory limit is exact; the per-address
limit is raised because every request comes from 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from bittensor_core import Keypair

from signer.config import ENV_NAMES

from servers.loadgen import post_all
from servers.neurons import miners, snapshot
from servers.signer_gunicorn import gunicorn_signer

pytestmark = pytest.mark.slow

REQUESTS = 10_000
CONNECTIONS = 64
MINERS = 64
QUOTA = 150
BUSY_SHARE = 1_000  # requests of the busy miner; the others share the rest, < QUOTA each


def signed(hot: Keypair, cold: Keypair, timestamp: int) -> bytes:
    message = f"s3:data:access:{cold.ss58_address}:{hot.ss58_address}:{timestamp}"
    body = {
        "coldkey": cold.ss58_address,
        "hotkey": hot.ss58_address,
        "timestamp": timestamp,
        "signature": hot.sign(message.encode()).hex(),
    }
    return json.dumps(body).encode()


def test_ten_thousand_requests_no_5xx_and_429_only_past_the_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    keys = miners(MINERS, name="load")
    metagraph = tmp_path / "metagraph.json"
    metagraph.write_text(json.dumps(snapshot(keys)))
    others = REQUESTS - BUSY_SHARE
    per_other = -(-others // (MINERS - 1))
    assert per_other < QUOTA
    # Miner 0 is busy; the others are interleaved so all 64 connections mix hotkeys.
    plan = [0] * BUSY_SHARE + [1 + i % (MINERS - 1) for i in range(others)]
    plan = [plan[(i * 7919) % REQUESTS] for i in range(REQUESTS)]
    env = {
        "SIGNER_METAGRAPH": str(metagraph),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(tmp_path),
        "SIGNER_RATELIMIT_MINER": f"{QUOTA}/hour",
        "SIGNER_RATELIMIT_ADDRESS": "1000000/minute",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "subnet46-load",
        "S3_ACCESS_KEY_ID": "AKIALOADTEST",
        "S3_SECRET_ACCESS_KEY": "load-test-secret",
    }
    with gunicorn_signer(env, tmp_path) as base:
        now = int(time.time())
        bodies = {n: signed(*keys[n], now) for n in set(plan)}
        load = post_all(base, "/get-folder-access", [bodies[n] for n in plan], CONNECTIONS)
    log = (tmp_path / "gunicorn.log").read_text()

    assert load.failures == []
    assert len(load.answers) == REQUESTS
    assert load.peak_in_flight == CONNECTIONS
    statuses = Counter(a.status for a in load.answers)
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) == {200, 429}, statuses

    by_miner: dict[int, Counter] = {}
    for answer in load.answers:
        by_miner.setdefault(plan[answer.index], Counter())[answer.status] += 1
    assert by_miner[0] == Counter({200: QUOTA, 429: BUSY_SHARE - QUOTA})
    for n in range(1, MINERS):
        assert set(by_miner[n]) == {200}, (n, by_miner[n])

    for answer in load.answers:
        document = json.loads(answer.body)
        if answer.status == 429:
            assert plan[answer.index] == 0
            assert document["error"] == "rate_limited"
            assert 0 < int(answer.headers["retry-after"]) <= 3600
        else:
            hotkey = keys[plan[answer.index]][0].ss58_address
            assert document["folder"].startswith(f"data/hotkey={hotkey}/epoch=")
    assert "Traceback" not in log
    assert "load-test-secret" not in log
