"""The old zipcode paths on the app, clock pinned: before and after the planner reveals."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from planner.jobs import tick
from planner.store import LocalStore

from conftest import NOW
from servers import signer_client as sc


@pytest.fixture
def revealed(make_planner, signer_config) -> dict:
    folder = Path(signer_config["SIGNER_PUBLISHED"])
    tick(make_planner(public=LocalStore(folder), horizon=timedelta(days=1)), NOW)
    return json.loads((folder / "current.json").read_text())


def test_stats_before_the_reveal_give_the_epoch_from_the_clock(client):
    stats = client.get("/api/v1/zipcode-assignments/stats").json
    assert stats["systemStatus"] == "awaiting_reveal"
    current = stats["epochStatus"]["currentEpoch"]
    assert current["id"] == sc.EPOCH
    assert current["endTime"] == "2026-11-25T20:00:00.000Z"
    assert stats["epochStatus"]["timing"]["timeUntilEpochEnd"] == 3 * 3600
    assert "nonce" not in current


def test_stats_after_the_reveal_carry_the_assignment(client, revealed):
    stats = client.get("/api/v1/zipcode-assignments/stats").json
    assert stats["systemStatus"] == "operational"
    current = stats["epochStatus"]["currentEpoch"]
    assert current["nonce"] == revealed["nonce"]
    assert current["zipcodeCount"] > 0
    assert current["actualExpected"] > 0


def test_epoch_ids_off_the_grid_or_malformed_are_json_4xx(client, revealed):
    off_grid = client.get("/api/v1/zipcode-assignments/epoch/2026-11-25T17-00-00")
    assert (off_grid.status_code, off_grid.json["error"]) == (404, "epoch_not_found")
    malformed = client.get("/api/v1/zipcode-assignments/epoch/yesterday")
    assert (malformed.status_code, malformed.json["error"]) == (422, "invalid_request")
    assert malformed.json["fields"][0]["field"].endswith("epoch_id")


@pytest.mark.parametrize(
    "epoch_id", ["2026-02-30T00-00-00", "0000-01-01T00-00-00", "2026-11-25T24-00-00"]
)
def test_an_epoch_id_naming_no_date_is_422_not_blamed_on_epoch_hours(client, epoch_id):
    """Written in the pattern but naming no date and hour (30 February, year 0, hour 24),
    an epochId was a 404 saying it is off the signer's EPOCH_HOURS grid and that "the
    signer's EPOCH_HOURS is not the planner's (tell the signer's operator)": no setting is
    wrong. It is the 422 of a malformed epoch id, naming the field, as on the signed
    endpoints."""
    response = client.get(f"/api/v1/zipcode-assignments/epoch/{epoch_id}")
    assert (response.status_code, response.json["error"]) == (422, "invalid_request")
    message = "Value error, not an epoch id on the UTC grid (YYYY-MM-DDTHH-00-00)"
    assert response.json["fields"] == [{"field": "epoch_id", "message": message}]
    assert "EPOCH_HOURS" not in response.json["detail"]


def test_status_for_an_epoch_outside_the_window_is_not_found(client, revealed):
    old = "2026-11-24T16-00-00"
    response = client.post(
        "/api/v1/zipcode-assignments/status",
        json=sc.miner_status(revealed["nonce"], epoch_id=old),
    )
    assert (response.status_code, response.json["error"]) == (404, "epoch_not_found")
    # Its file may well be published: the epoch is refused for being too old, and says so.
    assert response.json["detail"] == (
        f"epoch {old} is not the current epoch, {sc.EPOCH}, or one of the 2 before it"
    )
    fine = client.post(
        "/api/v1/zipcode-assignments/status", json=sc.miner_status(revealed["nonce"])
    )
    assert fine.status_code == 200, fine.json
    assert fine.json["timestamp"] == "2026-11-25T17:00:00.000Z"
