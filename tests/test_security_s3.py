"""Invariant 4 against a real S3 server: a credential writes inside its folder only, and expires.

Credentials come from the real signer (demo metagraph, sr25519 signatures from dev keys);
the S3 server (SeaweedFS, or the S3_TEST_* endpoint) enforces the presigned POST policies.
Attacks post the form by hand, as an attacker would, not through the client kit.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from bittensor_core import Keypair
from flask.testing import FlaskClient

from clientkit import (
    SignerClient,
    SignerError,
    StorageError,
    list_mine,
    list_miner,
    list_page,
    read_miner_files,
    read_object,
    upload,
)
from clientkit.epochs import epoch_at
from signer import create_app

from conftest import SIGNER_DEMO_METAGRAPH
from servers import signer_client as bodies
from servers.seaweed import S3Endpoint
from servers.signer_gunicorn import gunicorn_signer, signer_requests

pytestmark = pytest.mark.s3

ALICE, BOB, CHARLIE, DAVE = (bodies.address(u) for u in ("//Alice", "//Bob", "//Charlie", "//Dave"))
MAX_BYTES = 1024
PAYLOAD = b'{"listings": []}'


def s3_settings(server: S3Endpoint, bucket: str) -> dict[str, str]:
    return {
        **server.signer_settings(bucket),
        "SIGNER_MAX_UPLOAD_BYTES": str(MAX_BYTES),
        "SIGNER_RATELIMIT_MINER": "1000/minute",
    }


def signer_at(
    signer_config: dict[str, Any],
    server: S3Endpoint,
    bucket: str,
    clock: Any = time.time,
    **settings: str,
) -> FlaskClient:
    """The real signer app, presigning for the test bucket, its clock given by `clock`."""
    config = {**signer_config, **s3_settings(server, bucket), **settings, "NOW": clock}
    return create_app(config).test_client()


@pytest.fixture
def signer(signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str) -> FlaskClient:
    return signer_at(signer_config, s3_server, s3_bucket)


def grant(client: FlaskClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def miner_grant(client: FlaskClient, now: float | None = None) -> dict[str, Any]:
    stamp = int(time.time() if now is None else now)
    return grant(client, "/get-folder-access", bodies.folder_access(timestamp=stamp))


def validator_grant(client: FlaskClient, epoch_id: str) -> dict[str, Any]:
    body = bodies.validator_upload(epoch_id=epoch_id, timestamp=int(time.time()))
    return grant(client, "/api/v1/s3-access/validator-upload", body)


def post_raw(post: dict[str, Any], key: str, data: bytes, **changes: str) -> requests.Response:
    """The POST an attacker would send: the form's fields, any key, any changes."""
    fields = {**post["fields"], "key": key, **changes}
    return requests.post(post["url"], data=fields, files={"file": ("f", data)}, timeout=30)


def stored(server: S3Endpoint, bucket: str) -> dict[str, bytes]:
    client = server.client()
    page = client.list_objects_v2(Bucket=bucket)
    return {
        item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in page.get("Contents", ())
    }


def current_epoch() -> str:
    return epoch_at(datetime.now(UTC)).id


def test_miner_uploads_inside_its_epoch_folder(
    signer: FlaskClient, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    post = miner_grant(signer)
    epoch = post["epoch_id"]
    assert post["folder"] == f"data/hotkey={BOB}/epoch={epoch}/"
    key = upload(post, "2026/listings.json", PAYLOAD)
    assert key == f"data/hotkey={BOB}/epoch={epoch}/2026/listings.json"
    assert stored(s3_server, s3_bucket) == {key: PAYLOAD}


OUTSIDE = {
    "another hotkey": "data/hotkey={charlie}/epoch={epoch}/listings.json",
    "a sibling hotkey prefix": "data/hotkey={bob}-x/epoch={epoch}/listings.json",
    "another epoch": "data/hotkey={bob}/epoch={previous}/listings.json",
    "a sibling epoch prefix": "data/hotkey={bob}/epoch={epoch}-x/listings.json",
    "the hotkey root": "data/hotkey={bob}/listings.json",
    "validators/": "validators/{bob}/epoch={epoch}/listings.json",
    "the bucket root": "listings.json",
    "a path that climbs out": "data/hotkey={bob}/epoch={epoch}/../../hotkey={charlie}/x.json",
}


@pytest.mark.parametrize("where", OUTSIDE)
def test_miner_upload_outside_its_folder_is_refused(
    signer: FlaskClient, s3_server: S3Endpoint, s3_bucket: str, where: str
) -> None:
    post = miner_grant(signer)
    epoch = post["epoch_id"]
    previous = epoch_at(datetime.now(UTC)).previous().id
    key = OUTSIDE[where].format(bob=BOB, charlie=CHARLIE, epoch=epoch, previous=previous)
    response = post_raw(post, key, PAYLOAD)
    keys = list(stored(s3_server, s3_bucket))
    if key.startswith(post["folder"]):
        # Literally inside the folder: S3 keys are names, not paths. SeaweedFS refuses it
        # (HTTP 400); AWS stores it under this very name. It must never land in Charlie's.
        assert all(k.startswith(post["folder"]) for k in keys), keys
        return
    assert response.status_code == 403, response.text
    assert keys == []


def test_size_limit_is_enforced(signer: FlaskClient, s3_server: S3Endpoint, s3_bucket: str) -> None:
    post = miner_grant(signer)
    assert post["max_upload_bytes"] == MAX_BYTES
    with pytest.raises(StorageError, match=f"over this credential's max_upload_bytes, {MAX_BYTES}"):
        upload(post, "big.json", b"x" * (MAX_BYTES + 1))
    fields = {**post["fields"], "key": post["folder"] + "big.json"}
    big = requests.post(
        post["url"], data=fields, files={"file": b"x" * (MAX_BYTES + 1)}, timeout=30
    )
    assert 400 <= big.status_code < 500, "S3 refuses it too, whoever sends it"
    with pytest.raises(StorageError, match="no data: S3 stores no empty object"):
        upload(post, "empty.json", b"")
    fields = {**post["fields"], "key": post["folder"] + "empty.json"}
    empty = requests.post(post["url"], data=fields, files={"file": b""}, timeout=30)
    assert 400 <= empty.status_code < 500, "S3 refuses it too, whoever sends it"
    assert stored(s3_server, s3_bucket) == {}
    key = upload(post, "exact.json", b"x" * MAX_BYTES)
    assert list(stored(s3_server, s3_bucket)) == [key]


def test_an_expired_credential_is_refused(
    signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """Asked in the last second of an epoch with no grace, the signer grants one second.

    (botocore dates the policy by the real clock, so a signer clock pinned in the past
    would not make it expire: the one-second lifetime does.)
    """
    last_second = epoch_at(datetime.now(UTC)).end.timestamp() - 1
    client = signer_at(
        signer_config, s3_server, s3_bucket, clock=lambda: last_second, SIGNER_UPLOAD_GRACE="0"
    )
    post = miner_grant(client, now=last_second)
    assert post["expiry_seconds"] == 1
    expiration = datetime.strptime(_policy(post)["expiration"], "%Y-%m-%dT%H:%M:%SZ")
    while datetime.now(UTC) <= expiration.replace(tzinfo=UTC) + timedelta(seconds=1):
        time.sleep(0.2)
    with pytest.raises(StorageError, match="refused: HTTP 403") as caught:
        upload(post, "late.json", PAYLOAD)
    assert str(caught.value).endswith(
        f": the upload credential expired at {post['expiry']}, the end of epoch "
        f"{post['epoch_id']} plus the grace period: that epoch takes no more files "
        "(folder_access now grants the signer's current epoch)"
    )
    assert stored(s3_server, s3_bucket) == {}


def _policy(post: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(post["fields"]["policy"]))


def _encoded(policy: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(policy).encode()).decode()


def test_a_widened_policy_is_refused(
    signer: FlaskClient, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    post = miner_grant(signer)
    policy = _policy(post)
    starts = [c for c in policy["conditions"] if isinstance(c, list) and c[0] == "starts-with"]
    assert starts == [["starts-with", "$key", post["folder"]]]
    starts[0][2] = "data/"
    size = next(c for c in policy["conditions"] if isinstance(c, list) and c[0] != "starts-with")
    size[2] = 10**9
    widened = _encoded(policy)
    charlie = f"data/hotkey={CHARLIE}/epoch={post['epoch_id']}/x.json"
    for key in (charlie, post["folder"] + "own.json"):
        response = post_raw(post, key, PAYLOAD, policy=widened)
        assert response.status_code == 403, response.text
    assert stored(s3_server, s3_bucket) == {}


def test_a_tampered_signature_is_refused(
    signer: FlaskClient, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    post = miner_grant(signer)
    signature = post["fields"]["x-amz-signature"]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    response = post_raw(post, post["folder"] + "own.json", PAYLOAD, **{"x-amz-signature": forged})
    assert response.status_code == 403, response.text
    assert stored(s3_server, s3_bucket) == {}


VALIDATOR_OUTSIDE = {
    "another validator": "validators/{dave}/epoch={epoch}/scores.json",
    "a sibling validator prefix": "validators/{alice}-x/epoch={epoch}/scores.json",
    "another epoch": "validators/{alice}/epoch={previous}/scores.json",
    "miners' data": "data/hotkey={alice}/epoch={epoch}/scores.json",
    "the bucket root": "scores.json",
}


def test_validator_uploads_inside_its_folder_only(
    signer: FlaskClient, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    epoch = current_epoch()
    post = validator_grant(signer, epoch)
    assert post["folder"] == f"validators/{ALICE}/epoch={epoch}/"
    previous = epoch_at(datetime.now(UTC)).previous().id
    for where, template in VALIDATOR_OUTSIDE.items():
        key = template.format(alice=ALICE, dave=DAVE, epoch=epoch, previous=previous)
        response = post_raw(post, key, PAYLOAD)
        assert response.status_code == 403, (where, response.text)
    assert stored(s3_server, s3_bucket) == {}
    key = upload(post, "scores.json", PAYLOAD)
    access = grant(
        signer, "/get-validator-access", bodies.validator_access(timestamp=int(time.time()))
    )
    second = upload(access["upload"], "summary.json", PAYLOAD)
    assert sorted(stored(s3_server, s3_bucket)) == sorted([key, second])
    assert second.startswith(post["folder"])


def test_a_miner_cannot_get_a_validator_credential(signer: FlaskClient) -> None:
    body = bodies.validator_upload(
        hotkey="//Bob", epoch_id=current_epoch(), timestamp=int(time.time())
    )
    response = signer.post("/api/v1/s3-access/validator-upload", json=body)
    assert response.status_code == 403


@pytest.fixture
def served_signer(
    signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> Iterator[str]:
    """The signer under gunicorn (the Procfile's command), presigning for the test bucket."""
    with gunicorn_signer(signer_env(signer_config, s3_server, s3_bucket), tmp_path) as base_url:
        yield base_url


def signer_env(
    signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str, **extra: str
) -> dict[str, str]:
    """The environment of a gunicorn signer on the demo metagraph presigning for the test
    bucket, with `extra` settings."""
    return {
        "SIGNER_METAGRAPH": str(SIGNER_DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": signer_config["SIGNER_PUBLISHED"],
        **s3_settings(s3_server, s3_bucket),
        **extra,
    }


class CountingSigner(SignerClient):
    """Records the continuation token of every list URL it asks for."""

    tokens: list[str | None]

    def miner_list(self, miner_hotkey: str, continuation_token: str | None = None) -> dict:
        self.tokens.append(continuation_token)
        return super().miner_list(miner_hotkey, continuation_token)


def test_listing_a_miner_returns_every_object_across_pages(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    epoch = current_epoch()
    folder = f"data/hotkey={BOB}/epoch={epoch}/"
    expected = [f"{folder}part-{i:05d}.json" for i in range(1100)]
    neighbours = [f"data/hotkey={BOB}-x/epoch={epoch}/n.json", f"data/hotkey={CHARLIE}/a.json"]
    admin = s3_server.client(max_pool_connections=32)
    with ThreadPoolExecutor(32) as pool:
        list(
            pool.map(
                lambda k: admin.put_object(Bucket=s3_bucket, Key=k, Body=b"{}"),
                expected + neighbours,
            )
        )

    validator = CountingSigner(served_signer, Keypair.create_from_uri("//Alice"))
    validator.tokens = []
    listed = list(list_miner(validator, BOB))
    assert [o.key for o in listed] == expected
    assert all(o.size == 2 for o in listed)
    assert len(validator.tokens) == 2 and validator.tokens[0] is None and validator.tokens[1]

    first = validator.miner_list(BOB)["list_url"]
    assert len(list_page(first).objects) == 1000
    reused = f"{first}&continuation-token={validator.tokens[1]}"
    with pytest.raises(StorageError, match="refused: HTTP 403"):
        list_page(reused)


class GrantCountingSigner(SignerClient):
    """Counts its validator_access grants; a miner_list request fails the test."""

    grants: int

    def validator_access(self) -> dict:
        self.grants += 1
        return super().validator_access()

    def miner_list(self, miner_hotkey: str, continuation_token: str | None = None) -> dict:
        raise AssertionError("an epoch's listing asked /get-miner-list")


def put_all(server: S3Endpoint, bucket: str, keys: list[str]) -> None:
    admin = server.client(max_pool_connections=32)
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: admin.put_object(Bucket=bucket, Key=k, Body=b"{}"), keys))


def recorded_pages() -> tuple[requests.Session, list[str]]:
    """A session, and the URL of every page it reads."""
    session, pages = requests.Session(), []
    session.hooks["response"].append(lambda response, *args, **kwargs: pages.append(response.url))
    return session, pages


EARLIER, SCORED, LATER, EMPTY = (
    "2026-11-25T08-00-00",
    "2026-11-25T12-00-00",
    "2026-11-25T16-00-00",
    "2026-11-25T20-00-00",
)
AWKWARD = ["a b.json", "a+b.json", "a&b#c.json", "%41.json", "ü.json", "sub/x.json"]


def test_listing_one_epoch_of_a_miner_reads_only_that_epoch(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """list_miner paged through every epoch a miner ever uploaded (no retention), a signer
    request a page: with epoch_id it lists the validator access's list_all_data from that
    epoch's folder on, and stops at the first key past it."""
    folder = f"data/hotkey={BOB}/epoch={SCORED}/"
    expected = sorted(
        [f"{folder}part-{i:05d}.json" for i in range(1100)] + [folder + n for n in AWKWARD]
    )
    # Around the folder; SeaweedFS lists those sorting before it after a start-after in it.
    others = [
        f"data/hotkey={BOB}/epoch={EARLIER}/a.json",
        f"data/hotkey={BOB}/epoch={SCORED}-late/a.json",
        f"data/hotkey={BOB}/epoch={SCORED}.json",
        f"data/hotkey={BOB}/epoch={LATER}/a.json",
        f"data/hotkey={BOB}-x/epoch={SCORED}/a.json",
    ]
    neighbour = [f"data/hotkey={BOB}0/epoch={EMPTY}/{i:04d}.json" for i in range(1001)]
    put_all(s3_server, s3_bucket, expected + others + neighbour)

    validator = GrantCountingSigner(served_signer, Keypair.create_from_uri("//Alice"))
    validator.grants = 0
    session, pages = recorded_pages()
    listed = list(list_miner(validator, BOB, epoch_id=SCORED, session=session))
    assert sorted(o.key for o in listed) == expected
    assert len(pages) == 2 and validator.grants == 1, "two pages, one grant"
    assert "continuation-token=" in pages[1]

    session, pages = recorded_pages()
    assert list(list_miner(validator, BOB, epoch_id=EMPTY, session=session)) == []
    assert len(pages) == 1, "the neighbour's second page was not read"
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix=f"data/hotkey={BOB}0/")
    assert listed["KeyCount"] > 0, "the neighbour's keys are there to be passed over"


class FolderCountingSigner(SignerClient):
    """Records the epoch_id of every folder access it asks for."""

    asked: list[str | None]

    def folder_access(
        self, coldkey: Any, continuation_token: str | None = None, epoch_id: str | None = None
    ) -> dict:
        self.asked.append(epoch_id)
        return super().folder_access(coldkey, continuation_token, epoch_id=epoch_id)


def test_a_miner_lists_one_epoch_of_its_folder(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """docs/clients.md's miner counted this epoch's files by listing its whole folder, oldest
    epoch first, a signer request per 1,000 keys: after some ten days of 4-hour epochs, more
    requests than the miner quota's 10 a minute. With epoch_id, list_url lists that epoch's
    folder of the miner's own only, paged with continuation_token as the whole folder is."""
    miner = FolderCountingSigner(served_signer, Keypair.create_from_uri("//Bob"))
    coldkey = Keypair.create_from_uri("//Bob//stash")
    earlier = [f"data/hotkey={BOB}/epoch={EARLIER}/{i:04d}.json" for i in range(1001)]
    scored = sorted(
        [f"data/hotkey={BOB}/epoch={SCORED}/{i:04d}.json" for i in range(1001)]
        + [f"data/hotkey={BOB}/epoch={SCORED}/{n}" for n in AWKWARD]
    )
    later = [f"data/hotkey={BOB}/epoch={LATER}/{n}.json" for n in "ab"]
    others = [
        f"data/hotkey={BOB}/epoch={LATER}-late/a.json",
        f"data/hotkey={BOB}/epoch={LATER}.json",
        f"data/hotkey={BOB}-x/epoch={LATER}/a.json",
        f"data/hotkey={CHARLIE}/epoch={LATER}/a.json",
    ]
    put_all(s3_server, s3_bucket, earlier + scored + later + others)

    miner.asked = []
    assert [o.key for o in list_mine(miner, coldkey, epoch_id=LATER)] == later
    assert miner.asked == [LATER], "one request for this epoch's files"
    miner.asked = []
    assert [o.key for o in list_mine(miner, coldkey, epoch_id=SCORED)] == scored
    assert miner.asked == [SCORED, SCORED], "two pages of the epoch, no more"
    miner.asked = []
    assert list(list_mine(miner, coldkey, epoch_id=EMPTY)) == []
    assert miner.asked == [EMPTY]
    miner.asked = []
    whole = sorted(o.key for o in list_mine(miner, coldkey))  # SeaweedFS lists a/ before a-
    assert whole == sorted(earlier + scored + later + others[:2])
    assert miner.asked == [None, None, None]


def test_a_miners_epoch_listing_leaves_its_upload_and_whole_listing_as_they_were(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """The upload POST is always the current epoch's; a first page of the whole folder,
    reused within the epoch, and a page of one epoch are never given for each other."""
    keys = [f"data/hotkey={BOB}/epoch={EARLIER}/a.json", f"data/hotkey={BOB}/epoch={LATER}/b.json"]
    put_all(s3_server, s3_bucket, keys)
    miner = SignerClient(served_signer, Keypair.create_from_uri("//Bob"))
    coldkey = Keypair.create_from_uri("//Bob//stash")
    one = miner.folder_access(coldkey, epoch_id=LATER)
    whole = miner.folder_access(coldkey)
    again = miner.folder_access(coldkey, epoch_id=EARLIER)
    for answer in (one, whole, again):
        assert answer["epoch_id"] == current_epoch()
        assert answer["folder"] == f"data/hotkey={BOB}/epoch={current_epoch()}/"
    assert [o.key for o in list_page(one["list_url"]).objects] == keys[1:]
    assert [o.key for o in list_page(whole["list_url"]).objects] == keys
    assert [o.key for o in list_page(again["list_url"]).objects] == keys[:1]
    assert [o.key for o in list_page(miner.folder_access(coldkey)["list_url"]).objects] == keys


@pytest.mark.parametrize(
    "epoch_id",
    [
        "../",
        f"{SCORED}/../..",
        f"{SCORED}/../../hotkey={CHARLIE}",
        f"../../hotkey={CHARLIE}/epoch={SCORED}",
        "*",
        f"{SCORED[:-2]}*",
        "",
        f"{SCORED}/",
        "2026-13-01T00-00-00",
        "2026-11-25T16-30-00",
        7,
    ],
)
def test_a_miners_epoch_id_that_is_no_epoch_id_is_refused(
    served_signer: str, epoch_id: Any
) -> None:
    """epoch_id is written into the listed prefix: one that is no epoch id could name
    another folder than the miner's epoch, and is refused before the signature counts."""
    body = {**bodies.folder_access(timestamp=int(time.time())), "epoch_id": epoch_id}
    response = requests.post(f"{served_signer}/get-folder-access", json=body, timeout=30)
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert [f["field"] for f in answer["fields"]] == ["epoch_id"]
    assert answer["detail"].startswith("epoch_id: ")


@pytest.mark.parametrize(
    ("hours", "epoch_id", "before", "after"),
    [
        ("4", "2026-12-03T01-00-00", "2026-12-03T00-00-00", "2026-12-03T04-00-00"),
        ("6", "2026-12-03T23-00-00", "2026-12-03T18-00-00", "2026-12-04T00-00-00"),
    ],
)
def test_a_miners_epoch_id_off_the_signers_grid_is_refused_naming_the_epochs_around_it(
    signer_config: dict[str, Any],
    s3_server: S3Endpoint,
    s3_bucket: str,
    tmp_path: Path,
    hours: str,
    epoch_id: str,
    before: str,
    after: str,
) -> None:
    """An epoch id in the written form that starts no epoch of the signer's EPOCH_HOURS grid
    was granted a list_url of a folder no upload credential ever names: an empty listing, as
    if the miner had uploaded nothing. It is refused as the field it is, before the
    signature counts, naming the epoch starts around it."""
    env = signer_env(signer_config, s3_server, s3_bucket, EPOCH_HOURS=hours)
    with gunicorn_signer(env, tmp_path) as url:
        for body in (
            bodies.folder_access(timestamp=int(time.time())),
            bodies.folder_access(timestamp=int(time.time()), signer="//Charlie"),
        ):
            response = requests.post(
                f"{url}/get-folder-access", json={**body, "epoch_id": epoch_id}, timeout=30
            )
            assert response.status_code == 422
            answer = response.json()
            assert answer["error"] == "invalid_request"
            message = (
                f"{epoch_id} starts no epoch of this signer's: EPOCH_HOURS is {hours}, so "
                f"epochs start every {hours} hours from 00:00 UTC; the nearest epochs start "
                f"at {before} and {after}"
            )
            assert answer["fields"] == [{"field": "epoch_id", "message": message}]
            assert answer["detail"] == f"epoch_id: {message}"


def test_an_epochs_listing_asks_again_once_its_list_url_runs_out(
    signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """The list_all_data URL lasts SIGNER_LIST_URL_TTL; a validator scoring each file as it
    comes may outlast it between pages, and the next page is listed with a new grant."""
    folder = f"data/hotkey={BOB}/epoch={SCORED}/"
    expected = [f"{folder}part-{i:05d}.json" for i in range(1001)]
    put_all(s3_server, s3_bucket, expected)
    env = signer_env(signer_config, s3_server, s3_bucket, SIGNER_LIST_URL_TTL="2")
    with gunicorn_signer(env, tmp_path) as url:
        validator = GrantCountingSigner(url, Keypair.create_from_uri("//Alice"))
        validator.grants = 0
        listed = []
        for info in list_miner(validator, BOB, epoch_id=SCORED):
            listed.append(info.key)
            if len(listed) == 1000:
                time.sleep(2.5)  # scoring the first page
    assert listed == expected
    assert validator.grants == 2


def test_one_validator_access_lists_one_epoch_of_every_miner(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """Each epoch listing asked validator_access anew: a validator scoring 256 miners spent
    256 of its quota's requests on grants one list URL could serve for an hour. Given the
    caller's grant, list_miner lists with its list_all_data while it is fresh."""
    miners = [BOB, CHARLIE, DAVE]
    expected = {m: [f"data/hotkey={m}/epoch={SCORED}/{n}.json" for n in "ab"] for m in miners}
    put_all(s3_server, s3_bucket, [k for keys in expected.values() for k in keys])
    validator = SignerClient(served_signer, Keypair.create_from_uri("//Alice"))
    access = validator.validator_access()

    for miner in miners:
        listed = list_miner(validator, miner, epoch_id=SCORED, access=access)
        assert [o.key for o in listed] == expected[miner]
    log = tmp_path / "gunicorn.log"
    assert signer_requests(log, "/get-validator-access") == 1
    assert signer_requests(log, "/get-miner-list") == 0

    with pytest.raises(TypeError, match="access= lists one epoch, with epoch_id="):
        list(list_miner(validator, BOB, access=access))
    with pytest.raises(StorageError, match="validator access has no expiry"):
        list(list_miner(validator, BOB, epoch_id=SCORED, access={**access, "expiry": None}))
    assert signer_requests(log, "/get-validator-access") == 1


@pytest.mark.parametrize(
    "behind", [timedelta(0), timedelta(minutes=2)], ids=["same-clock", "clock-behind"]
)
def test_a_validator_access_past_its_list_urls_expiry_is_replaced(
    signer_config: dict[str, Any],
    s3_server: S3Endpoint,
    s3_bucket: str,
    tmp_path: Path,
    behind: timedelta,
) -> None:
    """A grant passed in may be of any age: its expiry, not the time of the call, says
    whether its list URL still serves. It is judged by this machine's clock, and the signer
    takes signatures from a clock up to five minutes behind its own: on such a clock (the
    expiry read two minutes later than it is), the URL was used past its end, and
    list_miner raised `refused: HTTP 403 list_url_expired` in the last minutes of every
    hour. A grant of the caller's that the signer refuses as expired is replaced once."""
    keys = [f"data/hotkey={BOB}/epoch={SCORED}/{n}.json" for n in "ab"]
    put_all(s3_server, s3_bucket, keys)
    env = signer_env(signer_config, s3_server, s3_bucket, SIGNER_LIST_URL_TTL="2")
    with gunicorn_signer(env, tmp_path) as url:
        validator = SignerClient(url, Keypair.create_from_uri("//Alice"))
        access = validator.validator_access()
        ends = datetime.fromisoformat(access["expiry"]) + behind
        as_read = {**access, "expiry": ends.strftime("%Y-%m-%dT%H:%M:%SZ")}
        time.sleep(2.5)  # scoring other miners
        listed = list_miner(validator, BOB, epoch_id=SCORED, access=as_read)
        assert [o.key for o in listed] == keys
    assert signer_requests(tmp_path / "gunicorn.log", "/get-validator-access") == 2


def test_reading_a_miners_files_outlasts_their_presigned_urls(
    signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """The signer's GETs for a batch of 1,000 keys last SIGNER_LIST_URL_TTL (an hour), and
    read_miner_files reads them one by one as the validator scores each: a validator taking
    more than 3.6 s a file (large files, or slow scoring) met `Request has expired` halfway.
    A batch's URLs are asked for again once they have run out."""
    epoch = current_epoch()
    keys = [f"data/hotkey={BOB}/epoch={epoch}/{n}.json" for n in range(3)]
    admin = s3_server.client()
    for key in keys:
        admin.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    env = signer_env(signer_config, s3_server, s3_bucket, SIGNER_LIST_URL_TTL="2")
    with gunicorn_signer(env, tmp_path) as url:
        validator = SignerClient(url, Keypair.create_from_uri("//Alice"))
        read = {}
        for key, data in read_miner_files(validator, BOB, keys):
            read[key] = data
            time.sleep(2.5)  # scoring it
    assert read == {key: key.encode() for key in keys}


def test_keys_that_are_no_list_of_keys_are_refused_naming_what_was_passed(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """read_miner_files took one key (a str) as a list of one-letter keys, which the signer
    refused as `not in the miner's folder: d, a, t, a, /, ...`, and the ObjectInfo list that
    list_miner yields was a TypeError from json (`Object of type ObjectInfo is not JSON
    serializable`). Each is a TypeError saying what to pass, before the signer is asked."""
    keys = [f"data/hotkey={BOB}/epoch={SCORED}/{n}.json" for n in "ab"]
    put_all(s3_server, s3_bucket, keys)
    validator = SignerClient(served_signer, Keypair.create_from_uri("//Alice"))
    listed = list(list_miner(validator, BOB, epoch_id=SCORED))
    assert [info.key for info in listed] == keys
    wrong = {
        "one key": (
            keys[0],
            f"read_miner_files takes a list of keys, not one key (a str), {keys[0]!r}: pass [key]",
        ),
        "ObjectInfos": (
            listed,
            "read_miner_files takes keys (str), not the ObjectInfo that list_miner yields: "
            "pass [info.key for info in ...]",
        ),
        "None": (None, "read_miner_files takes a list of keys (str), not a NoneType"),
        "a number": ([keys[0], 7], "read_miner_files takes keys (str), not 7 (int)"),
    }
    for given, said in wrong.values():
        with pytest.raises(TypeError) as caught:
            list(read_miner_files(validator, BOB, given))
        assert str(caught.value) == said
    assert signer_requests(tmp_path / "gunicorn.log", "/get-file-presigned-urls") == 0
    assert dict(read_miner_files(validator, BOB, (info.key for info in listed))) == {
        key: b"{}" for key in keys
    }


def test_a_validator_access_given_whole_to_upload_says_to_pass_its_upload(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """A validator_access() answer holds its upload credential as `upload`: given whole to
    upload, it was refused as `the signer's upload credential has no folder (str)`, which
    does not say which part of it to pass."""
    validator = SignerClient(served_signer, Keypair.create_from_uri("//Alice"))
    access = validator.validator_access()
    with pytest.raises(StorageError) as caught:
        upload(access, "scores.json", PAYLOAD)
    assert str(caught.value) == (
        "upload takes an upload credential, and this is a validator access, which holds one "
        "as its 'upload': pass access['upload'] (or validator_upload(epoch_id) for another "
        "epoch)"
    )
    assert stored(s3_server, s3_bucket) == {}
    key = upload(access["upload"], "scores.json", PAYLOAD)
    assert stored(s3_server, s3_bucket) == {key: PAYLOAD}


def test_an_expired_presigned_url_says_to_ask_the_signer_for_a_new_one(
    signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """S3 refuses a presigned URL past its expiry with `HTTP 403 AccessDenied: Request has
    expired`, which says neither that the URL, not the caller, ran out nor what to do (an
    expired upload form already said to ask the signer for a new one)."""
    key = f"data/hotkey={BOB}/epoch={SCORED}/a.json"
    put_all(s3_server, s3_bucket, [key])
    env = signer_env(signer_config, s3_server, s3_bucket, SIGNER_LIST_URL_TTL="2")
    with gunicorn_signer(env, tmp_path) as url:
        validator = SignerClient(url, Keypair.create_from_uri("//Alice"))
        list_url = validator.miner_list(BOB)["list_url"]
        file_url = validator.file_urls(BOB, [key])["file_urls"][key]["presigned_url"]
    time.sleep(3)
    for read, given, noun in ((list_page, list_url, "listing"), (read_object, file_url, "reading")):
        with pytest.raises(StorageError) as caught:
            read(given)
        assert str(caught.value) == (
            f"{noun} {given.split('?')[0]} refused: HTTP 403 AccessDenied: Request has expired: "
            "the presigned URL expired: ask the signer for a new one (folder_access or "
            "miner_list for a list_url, file_urls for a file's; list_mine, list_miner and "
            "read_miner_files ask by themselves)"
        )


def test_a_list_url_the_signer_refuses_says_why(served_signer: str) -> None:
    """The signer's own list URLs (/s3/list) answer a refusal as the signer's JSON, not S3's
    XML: the kit said only `refused: HTTP 403`, not that the URL was changed or expired and
    a new one must be asked for."""
    validator = SignerClient(served_signer, Keypair.create_from_uri("//Alice"))
    url = validator.validator_access()["urls"]["global"]["list_all_data"]
    with pytest.raises(StorageError) as caught:
        list_page(url.replace("prefix=", "prefix=x"))
    assert "refused: HTTP 403 invalid_list_signature: " in str(caught.value)
    assert "ask the signer for a new URL" in str(caught.value)


def test_a_presigned_read_opens_one_object_only(
    served_signer: str, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """The signer presigns GETs inside the miner's folder only; each URL reads its one key."""
    epoch = current_epoch()
    bob_key = f"data/hotkey={BOB}/epoch={epoch}/19103.json"
    charlie_key = f"data/hotkey={CHARLIE}/epoch={epoch}/19103.json"
    admin = s3_server.client()
    admin.put_object(Bucket=s3_bucket, Key=bob_key, Body=b"bob")
    admin.put_object(Bucket=s3_bucket, Key=charlie_key, Body=b"charlie")

    validator = SignerClient(served_signer, Keypair.create_from_uri("//Alice"))
    assert dict(read_miner_files(validator, BOB, [bob_key])) == {bob_key: b"bob"}
    with pytest.raises(StorageError, match=f"not in the miner's folder: {charlie_key}"):
        list(read_miner_files(validator, BOB, [bob_key, charlie_key]))
    # The signer refuses a batch with no key of the miner's outright (400 no_valid_files):
    # the same mistake, the same StorageError, not a SignerError the docs do not promise.
    with pytest.raises(StorageError, match=f"not in the miner's folder: {charlie_key}"):
        list(read_miner_files(validator, BOB, [charlie_key]))

    url = validator.file_urls(BOB, [bob_key])["file_urls"][bob_key]["presigned_url"]
    with pytest.raises(StorageError, match="refused: HTTP 403"):
        read_object(url.replace(f"hotkey%3D{BOB}", f"hotkey%3D{CHARLIE}"))
    assert requests.get(s3_server.url(s3_bucket, bob_key), timeout=10).status_code == 403

    miner = SignerClient(served_signer, Keypair.create_from_uri("//Bob"))
    with pytest.raises(SignerError) as caught:
        miner.file_urls(CHARLIE, [charlie_key])
    assert caught.value.status == 403
