"""EPOCH_HOURS=6 through every program: plan, reveal, status, verify and the signer.

19:00 UTC is inside the 6-hour epoch 18-00-00, which is not on the default 4-hour grid, so
any place still assuming 4 hours fails here. A length that does not divide 24 is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clientkit.epochs import epoch_from_id, parse_instant, quicknet_round
from planner.cli import Context, cli
from planner.config import Settings
from signer import create_app

from conftest import REPO, SECRET
from servers import signer_client as sc
from servers.drand_relay import TEST_ROUND
from servers.static_http import serve_folder

AT_19 = "2026-11-25T19:00:00Z"
CURRENT = "2026-11-25T18-00-00"


@pytest.fixture
def six_hours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A planner environment on 6-hour epochs; yields the published folder."""
    for name in list(__import__("os").environ):
        if name.startswith(("PLANNER_", "SPACES_")):
            monkeypatch.delenv(name)
    for name, value in {
        "PLANNER_DATA": str(REPO / "data/zipcodes.csv"),
        "PLANNER_PRIORITIES": str(REPO / "data/state_priorities.txt"),
        "PLANNER_PUBLISHED": str(tmp_path / "published"),
        "PLANNER_STATE": str(tmp_path / "state"),
        "PLANNER_SECRET": SECRET.decode(),
        "EPOCH_HOURS": "6",
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "published"


def run(*args: str, obj: Context | None = None):
    return CliRunner().invoke(cli, list(args), obj=obj, catch_exceptions=False)


def on_test_round() -> Context:
    return Context(Settings.from_env(), round_for=lambda epoch: TEST_ROUND)


def test_plan_and_reveal_on_a_six_hour_grid(six_hours) -> None:
    planned = run("plan", "--now", AT_19, "--days", "1", obj=on_test_round())
    assert planned.exit_code == 0, planned.output
    assert planned.output.splitlines()[0] == (f"sealed 5 epochs: {CURRENT} .. 2026-11-26T18-00-00")
    revealed = run("reveal", "--now", AT_19, obj=on_test_round())
    assert revealed.exit_code == 0, revealed.output
    assert f"revealed 1 epoch: {CURRENT}" in revealed.output
    index = json.loads((six_hours / "index.json").read_text())
    assert index["epochHours"] == 6
    first = index["epochs"][0]
    assert (first["epochStart"], first["epochEnd"]) == (
        "2026-11-25T18:00:00Z",
        "2026-11-26T00:00:00Z",
    )
    current = json.loads((six_hours / "current.json").read_text())
    assert current["epochId"] == CURRENT and current["epochEnd"] == "2026-11-26T00:00:00Z"
    assert "Every 6 hours" in (six_hours / "index.html").read_text()


def test_status_on_a_six_hour_grid(six_hours) -> None:
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    result = run("status", "--now", "2026-11-26T01:00:00Z")
    assert result.exit_code == 0, result.output
    rows = {
        line.split("  ")[0]: line.split("  ", 1)[1].split()
        for line in result.output.splitlines()[3:6]
    }
    assert rows[CURRENT][0] == "revealed"
    assert rows["2026-11-26T00-00-00"][:2] == ["current,", "sealed"]
    assert rows["2026-11-26T06-00-00"][0] == "sealed"


def test_verify_on_a_six_hour_grid(six_hours, relay) -> None:
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    result = run("verify", "--now", AT_19, "--drand-url", relay.url, obj=on_test_round())
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"epoch {CURRENT} verified"


def test_verify_with_the_secret_reads_the_length_without_being_told(
    six_hours, relay, monkeypatch
) -> None:
    """With PLANNER_SECRET and EPOCH_HOURS left at 4 (the verify cron of docs/operations.md
    sets SPACES_* and the secret), verify stopped with "Error: 2026-11-26T06-00-00 is not
    the start of a 4-hour epoch": no check line, the length named nowhere."""
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    monkeypatch.delenv("EPOCH_HOURS")
    result = run("verify", "--now", AT_19, "--drand-url", relay.url, obj=on_test_round())
    assert result.exit_code == 0, result.output
    assert "ok   planner state: the 5 entries this planner sealed are listed unchanged" in (
        result.output
    )
    assert result.output.splitlines()[-1] == f"epoch {CURRENT} verified"


def test_verify_checks_the_round_of_a_six_hour_epoch_start(six_hours, relay) -> None:
    """With the real clock the round of 18:00 is expected, not that of a 4-hour grid."""
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    result = CliRunner().invoke(cli, ["verify", CURRENT, "--drand-url", relay.url])
    assert result.exit_code == 1
    expected = quicknet_round(epoch_from_id(CURRENT, 6))
    assert f"revealRound {TEST_ROUND}, but the epoch start gives {expected}" in result.output


def test_signer_serves_the_six_hour_epoch(signer_config, six_hours) -> None:
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    at_19 = sc.NOW + 2 * 3600
    app = create_app(
        {
            **signer_config,
            "EPOCH_HOURS": "6",
            "SIGNER_PUBLISHED": str(six_hours),
            "NOW": lambda: float(at_19),
        }
    )
    client = app.test_client()
    current = client.get("/assignments/current")
    assert current.status_code == 200, current.json
    assert current.json["epochId"] == CURRENT
    access = client.post("/get-folder-access", json=sc.folder_access(timestamp=at_19))
    assert access.status_code == 200, access.json
    assert access.json["epoch_id"] == CURRENT
    previous = client.post(
        "/api/v1/s3-access/validator-upload",
        json=sc.validator_upload(timestamp=at_19, epoch_id="2026-11-25T12-00-00"),
    )
    assert previous.status_code == 200, previous.json
    off_grid = client.post(
        "/api/v1/s3-access/validator-upload",
        json=sc.validator_upload(timestamp=at_19, epoch_id="2026-11-25T16-00-00"),
    )
    assert off_grid.status_code == 403


@pytest.mark.parametrize("at", [AT_19, "2026-11-26T01:00:00Z"])
def test_a_signer_on_another_epoch_length_says_so(signer_config, six_hours, at) -> None:
    """A signer left at EPOCH_HOURS=4 beside a 6-hour plan said "epoch 2026-11-25T16-00-00
    is not revealed yet (current.json still holds 2026-11-25T18-00-00)": a later epoch than
    the one awaited, as if the planner ran ahead; and where both grids start an epoch at the
    same hour it served it, its grants naming epochs the plan does not have. It names the
    two lengths and the setting, whatever the hour."""
    run("tick", "--now", at, "--days", "1", obj=on_test_round())
    instant = parse_instant(at).timestamp()
    app = create_app(
        {
            **signer_config,
            "EPOCH_HOURS": "4",
            "SIGNER_PUBLISHED": str(six_hours),
            "NOW": lambda: instant,
        }
    )
    client = app.test_client()
    published = json.loads((six_hours / "current.json").read_text())
    for path in ("/assignments/current", "/api/v1/zipcode-assignments/current"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.json["detail"] == (
            f"the published epochs are 6 hours long (current.json holds "
            f"{published['epochId']}, {published['epochStart']} to {published['epochEnd']}) "
            "but this signer's EPOCH_HOURS is 4: set the signer's EPOCH_HOURS to 6, as the "
            "planner has it"
        ), path


def test_a_plan_keeps_its_epoch_length(six_hours, monkeypatch) -> None:
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    monkeypatch.setenv("EPOCH_HOURS", "4")
    for command in ("plan", "reveal"):
        result = CliRunner().invoke(cli, [command, "--now", AT_19])
        assert result.exit_code == 1
        assert "holds 6-hour epochs but EPOCH_HOURS is 4: set EPOCH_HOURS=6" in result.output


@pytest.mark.parametrize("hours", ["5", "7", "0", "-4", "48"])
def test_a_length_that_does_not_divide_24_is_refused(six_hours, monkeypatch, hours) -> None:
    monkeypatch.setenv("EPOCH_HOURS", hours)
    result = CliRunner().invoke(cli, ["plan", "--now", AT_19])
    assert result.exit_code == 1
    assert f"EPOCH_HOURS must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), got {hours}" in result.output
    assert not six_hours.exists()


def test_a_published_epoch_off_the_signers_grid_names_epoch_hours(signer_config) -> None:
    """A validator naming a published 6-hour epoch to a signer left at EPOCH_HOURS=4 was
    told "epoch 2026-11-25T18-00-00 is not the current epoch or one of the 2 before it", as
    if it asked too late: the id is on no 4-hour grid, which the answer now says, naming the
    setting and its value. An id on the grid but too old keeps its own answer."""
    at_19 = sc.NOW + 2 * 3600
    app = create_app({**signer_config, "EPOCH_HOURS": "4", "NOW": lambda: float(at_19)})
    client = app.test_client()
    off_grid = client.post(
        "/api/v1/s3-access/validator-upload",
        json=sc.validator_upload(timestamp=at_19, epoch_id=CURRENT),
    )
    assert off_grid.status_code == 403
    assert off_grid.json == {
        "error": "epoch_not_allowed",
        "detail": f"epoch {CURRENT} is not on this signer's EPOCH_HOURS grid: EPOCH_HOURS is "
        "4, so epochs start every 4 hours from 00:00 UTC; if the published epochs have this "
        "id, the signer's EPOCH_HOURS is not the planner's (tell the signer's operator)",
    }
    too_old = client.post(
        "/api/v1/s3-access/validator-upload",
        json=sc.validator_upload(timestamp=at_19, epoch_id="2026-11-25T04-00-00"),
    )
    assert too_old.status_code == 403
    assert too_old.json["detail"] == (
        "epoch 2026-11-25T04-00-00 is not the current epoch, 2026-11-25T16-00-00, or one of "
        "the 2 before it"
    )


def length_detail(published: Path, hours: int) -> str:
    """What a signer at `hours` says of the 6-hour current.json in `published`."""
    current = json.loads((published / "current.json").read_text())
    return (
        f"the published epochs are 6 hours long (current.json holds {current['epochId']}, "
        f"{current['epochStart']} to {current['epochEnd']}) but this signer's EPOCH_HOURS is "
        f"{hours}: set the signer's EPOCH_HOURS to 6, as the planner has it"
    )


def signer_at(signer_config, hours: str, published: str):
    at_19 = parse_instant(AT_19).timestamp()
    config = {**signer_config, "EPOCH_HOURS": hours, "SIGNER_PUBLISHED": published}
    return create_app({**config, "NOW": lambda: at_19})


def test_readyz_is_not_ready_on_another_epoch_length(signer_config, six_hours) -> None:
    """A signer deployed with the wrong EPOCH_HOURS said ready while every current
    assignment was a 503: /readyz reads the published folder's current.json and is 503
    with `epochLength` naming both lengths, as the assignment does."""
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    wrong = signer_at(signer_config, "4", str(six_hours)).test_client().get("/readyz")
    assert wrong.status_code == 503
    assert wrong.json["ready"] is False
    assert wrong.json["epochLength"] == {
        "hours": 4,
        "published": 6,
        "problem": length_detail(six_hours, 4),
    }
    right = signer_at(signer_config, "6", str(six_hours)).test_client().get("/readyz")
    assert right.status_code == 200, right.json
    assert right.json["epochLength"] == {"hours": 6, "published": 6, "problem": None}


def test_readyz_checks_the_copy_of_a_published_url(signer_config, six_hours) -> None:
    """From a URL, /readyz checks the signer's background copy of current.json and never
    fetches one: the copy taken before the CDN went away still says the lengths differ."""
    run("tick", "--now", AT_19, "--days", "1", obj=on_test_round())
    with serve_folder(six_hours) as url:
        app = signer_at(signer_config, "4", url)
        assert app.extensions["signer"].current_cache.refresh_once()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["epochLength"] == {
        "hours": 4,
        "published": 6,
        "problem": length_detail(six_hours, 4),
    }


def test_readyz_without_a_copy_of_current_json_leaves_the_length_unknown(signer_config):
    """No copy yet (nothing published, or the CDN unreachable): the length is not known and
    readiness is as the metagraph, the bucket and the limits make it."""
    for published in ("http://127.0.0.1:9/s46", signer_config["SIGNER_PUBLISHED"]):
        response = signer_at(signer_config, "4", published).test_client().get("/readyz")
        assert response.status_code == 200, response.json
        assert response.json["epochLength"] == {"hours": 4, "published": None, "problem": None}


def off_grid_detail(epoch_id: str, hours: int) -> str:
    return (
        f"epoch {epoch_id} is not on this signer's EPOCH_HOURS grid: EPOCH_HOURS is {hours}, "
        f"so epochs start every {hours} hours from 00:00 UTC; if the published epochs have "
        "this id, the signer's EPOCH_HOURS is not the planner's (tell the signer's operator)"
    )


def test_a_miner_status_for_an_epoch_off_the_signers_grid_names_epoch_hours(
    signer_config,
) -> None:
    """A miner reporting on a published 6-hour epoch to a signer left at EPOCH_HOURS=4 was
    told only that the epoch has no revealed assignment: the answer (still 404
    epoch_not_found) now says the id is on no 4-hour grid, as validator-upload does. An id
    on the grid but too old keeps its own answer."""
    at_19 = sc.NOW + 2 * 3600
    app = create_app({**signer_config, "EPOCH_HOURS": "4", "NOW": lambda: float(at_19)})
    client = app.test_client()
    off_grid = client.post(
        "/api/v1/zipcode-assignments/status",
        json=sc.miner_status("0f" * 16, epoch_id=CURRENT, timestamp=at_19),
    )
    assert off_grid.status_code == 404
    assert off_grid.json == {"error": "epoch_not_found", "detail": off_grid_detail(CURRENT, 4)}
    too_old = client.post(
        "/api/v1/zipcode-assignments/status",
        json=sc.miner_status("0f" * 16, epoch_id="2026-11-25T04-00-00", timestamp=at_19),
    )
    assert too_old.status_code == 404
    assert "EPOCH_HOURS" not in too_old.json["detail"]
    assert too_old.json["detail"].startswith("epoch 2026-11-25T04-00-00 ")


def test_a_past_epoch_off_the_signers_grid_names_epoch_hours(signer_config) -> None:
    """The legacy epoch path, asked for a 6-hour epoch by a signer on 4 hours: still 404
    epoch_not_found, saying the id is on no grid of the signer's EPOCH_HOURS."""
    client = create_app({**signer_config, "EPOCH_HOURS": "4"}).test_client()
    response = client.get("/api/v1/zipcode-assignments/epoch/2026-11-25T06-00-00")
    assert response.status_code == 404
    assert response.json == {
        "error": "epoch_not_found",
        "detail": off_grid_detail("2026-11-25T06-00-00", 4),
    }
