"""The whole system as its users run it, on loopback only.

The planner (CLI) publishes to a bucket of the S3 server; a miner with the client kit reads
the assignment anonymously from the bucket's public URL and checks it (plain and sealed,
the drand signature from a loopback relay), gets credentials from the signer running under
gunicorn, and uploads a file per zipcode; a validator lists and reads them (presigned GETs) and
uploads its result; the next tick reveals the next epoch.

The signer runs in another process on the real clock, so the scenario runs in the real
current epoch: the planner's `--now` moves from the previous epoch to this one's start.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from bittensor_core import Keypair
from click.testing import CliRunner

from clientkit import (
    NotRevealed,
    SignerClient,
    current_assignment,
    list_miner,
    list_page,
    plain_assignment,
    read_miner_files,
    sealed_assignment,
    upload,
)
from clientkit.epochs import ISO_FORMAT, Epoch, epoch_at
from planner.cli import Context, cli
from planner.config import Settings
from planner.doctor import PUBLISHED_PREFIXES

from conftest import SIGNER_DEMO_METAGRAPH, bucket_env
from servers.drand_relay import TEST_ROUND, Relay
from servers.seaweed import S3Endpoint
from servers.signer_gunicorn import gunicorn_signer

pytestmark = [pytest.mark.s3, pytest.mark.slow]
MARGIN = timedelta(minutes=2)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("PLANNER_", "SPACES_", "SIGNER_", "S3_")):
            monkeypatch.delenv(name)


def steady_epoch() -> Epoch:
    """The current epoch, waiting for the next one when this one is about to end.

    The planner is told the time; the signer reads its own clock. Starting at least two
    minutes before an epoch boundary keeps both in the same epoch for the whole run.
    """
    epoch = epoch_at(datetime.now(UTC))
    if epoch.end - datetime.now(UTC) < MARGIN:
        time.sleep(max(0.0, (epoch.end - datetime.now(UTC)).total_seconds()) + 1)
        epoch = epoch_at(datetime.now(UTC))
    return epoch


@pytest.fixture
def data_bucket(s3_server: S3Endpoint) -> Iterator[str]:
    """Where miners and validators upload: private, reached only with signer credentials."""
    bucket = s3_server.create_bucket()
    yield bucket
    s3_server.delete_bucket(bucket)


@pytest.fixture
def signer_url(
    s3_server: S3Endpoint, s3_bucket: str, data_bucket: str, tmp_path: Path
) -> Iterator[str]:
    env = {
        "SIGNER_METAGRAPH": str(SIGNER_DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": s3_server.url(s3_bucket).rstrip("/"),
        **s3_server.signer_settings(data_bucket),
    }
    with gunicorn_signer(env, tmp_path) as url:
        yield url


def tick(env: dict[str, str], now: datetime) -> None:
    ctx = Context(Settings.from_env(env), round_for=lambda epoch: TEST_ROUND)
    # The test bucket is a rehearsal: the run steps the clock past the real one.
    args = ["tick", "--now", now.strftime(ISO_FORMAT), "--rehearsal"]
    result = CliRunner().invoke(cli, args, obj=ctx)
    assert result.exit_code == 0, result.output


def test_plan_mine_validate_reveal(
    s3_server: S3Endpoint,
    s3_bucket: str,
    data_bucket: str,
    signer_url: str,
    relay: Relay,
    tmp_path: Path,
) -> None:
    epoch = steady_epoch()
    base = s3_server.url(s3_bucket).rstrip("/")
    s3_server.allow_anonymous_read(s3_bucket, PUBLISHED_PREFIXES)
    env = bucket_env(s3_server, s3_bucket, tmp_path / "cron")
    drand = {"relays": [relay.url], "round_for": lambda e: TEST_ROUND}

    # Cron, two hours before this epoch: it is sealed and committed, not revealed.
    tick(env, epoch.start - timedelta(hours=2))
    with pytest.raises(NotRevealed):
        plain_assignment(base, now=epoch.start)
    early = sealed_assignment(base, now=epoch.start, **drand)
    assert (early.epoch_id, early.via) == (epoch.id, "sealed")

    # Cron at the epoch start publishes the plain file.
    tick(env, epoch.start)
    assignment = current_assignment(base, **drand)
    assert (assignment.epoch_id, assignment.via) == (epoch.id, "plain")
    assert assignment.body == early.body
    assert requests.get(f"{signer_url}/assignments/current", timeout=10).content == (
        assignment.body
    )

    # The miner uploads one file per assigned zipcode into this epoch's folder.
    miner = SignerClient(signer_url, Keypair.create_from_uri("//Bob"))
    grant = miner.folder_access(Keypair.create_from_uri("//Bob//stash").ss58_address)
    assert grant["epoch_id"] == epoch.id
    uploaded = {}
    for zipcode in assignment.zipcodes:
        body = json.dumps({"zipcode": zipcode, "epochId": epoch.id, "listings": []}).encode()
        uploaded[upload(grant, f"{zipcode}.json", body)] = body
    assert len(uploaded) == len(assignment.zipcodes) > 0
    # A name S3 encodes in listings (a space is written +, a + is written %2B).
    uploaded[upload(grant, "notes 1+1.txt", b"spaced")] = b"spaced"
    own = list_page(grant["list_url"])
    assert sorted(o.key for o in own.objects) == sorted(uploaded)

    # The validator lists the miner's folder page by page, reads every file, reports.
    validator = SignerClient(signer_url, Keypair.create_from_uri("//Alice"))
    keys = [info.key for info in list_miner(validator, miner.hotkey)]
    assert sorted(keys) == sorted(uploaded)
    found = dict(read_miner_files(validator, miner.hotkey, keys))
    assert found == uploaded
    anonymous = requests.get(s3_server.url(data_bucket, keys[0]), timeout=10)
    assert anonymous.status_code == 403, "the data bucket stays private"
    covered = {json.loads(body)["zipcode"] for body in found.values() if body != b"spaced"}
    assert covered == set(assignment.zipcodes)
    result = json.dumps({"miner": miner.hotkey, "zipcodes": len(covered)}).encode()
    key = upload(validator.validator_upload(epoch.id), "scores.json", result)
    assert key == f"validators/{validator.hotkey}/epoch={epoch.id}/scores.json"
    stored = s3_server.client().get_object(Bucket=data_bucket, Key=key)["Body"].read()
    assert stored == result

    # The next tick, at the next epoch's start, reveals it.
    following = epoch.next()
    tick(env, following.start)
    revealed = plain_assignment(base, now=following.start)
    assert revealed.epoch_id == following.id
    sealed = sealed_assignment(base, now=following.start, **drand)
    assert sealed.body == revealed.body
    current = requests.get(f"{base}/current.json", timeout=10)
    assert json.loads(current.content)["epochId"] == following.id
