"""Faults the other test files do not stage end to end.

The chain goes unreachable: the signer's own refresher thread runs the real bittensor sync
against a loopback port where nothing listens. test_signer_metagraph.py checks the
refresher and the store one at a time with stand-ins; here the whole app keeps serving
from the last snapshot, then fails closed with 503 once the snapshot is older than the
maximum age, and says why on /readyz.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from signer import create_app

from servers import signer_client as sc
from servers.fake_chain import DEMO_METAGRAPH
from servers.seaweed import free_ports

MAX_AGE = 5400  # the demo snapshot is 3600 s old at sc.NOW
REFRESH_FAILED = "metagraph refresh failed"


def test_chain_unreachable_serves_the_last_snapshot_then_503_past_the_maximum_age(
    signer_config, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    snapshot = tmp_path / "metagraph.json"
    snapshot.write_bytes(DEMO_METAGRAPH.read_bytes())
    (dead_port,) = free_ports(1)
    clock = {"now": float(sc.NOW)}
    caplog.set_level(logging.WARNING, logger="signer")
    app = create_app(
        {
            **signer_config,
            "SIGNER_METAGRAPH": str(snapshot),
            "SIGNER_NETWORK": f"ws://127.0.0.1:{dead_port}",
            "SIGNER_METAGRAPH_REFRESH": "1",
            "SIGNER_METAGRAPH_MAX_AGE": str(MAX_AGE),
            "NOW": lambda: clock["now"],
        }
    )
    refresher = app.extensions["signer"].refresher
    try:
        deadline = time.monotonic() + 60
        while sum(REFRESH_FAILED in r.getMessage() for r in caplog.records) < 2:
            assert time.monotonic() < deadline, "the refresher never tried the chain"
            time.sleep(0.1)
        client = app.test_client()

        granted = client.post("/get-folder-access", json=sc.folder_access())
        assert granted.status_code == 200, granted.json
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json["metagraph"]["ageSeconds"] == 3600.0
        assert ready.json["metagraph"]["block"] == 6543210

        clock["now"] = float(sc.NOW) + (MAX_AGE - 3600) + 1
        refused = client.post(
            "/get-folder-access", json=sc.folder_access(timestamp=int(clock["now"]))
        )
        assert refused.status_code == 503
        assert refused.json["error"] == "metagraph_stale"
        assert f"more than the {MAX_AGE} s allowed" in refused.json["detail"]
        assert refused.headers["Retry-After"] == "60"
        validator = client.post(
            "/get-validator-access", json=sc.validator_access(timestamp=int(clock["now"]))
        )
        assert validator.status_code == 503
        stale = client.get("/readyz")
        assert stale.status_code == 503
        assert stale.json["ready"] is False
        assert stale.json["metagraph"]["usable"] is False
        assert stale.json["metagraph"]["available"] is True
        assert client.get("/healthz").status_code == 200
    finally:
        refresher.stop()
    assert snapshot.read_bytes() == DEMO_METAGRAPH.read_bytes()
    failure = next(r.getMessage() for r in caplog.records if REFRESH_FAILED in r.getMessage())
    assert str(dead_port) in failure
