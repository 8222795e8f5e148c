"""The data-universe (SN13) miner and validator, step by step, against the signer.

The current client (`macrocosm-os/data-universe` at 4b0620d: common/api_client.py,
upload_utils/, vali_utils/) signs requests with X-Tao-* headers over the exact body bytes;
the previous one (7e025cc) signs fields of the JSON body. Each test repeats on the wire what
one of them sends and reads, written here from reading that code. The signer runs under
gunicorn with SeaweedFS; header rules that need one process (nonce replay, rate limits) are
also checked on the app itself.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from signer import create_app

from servers import signer_client as sc
from servers.seaweed import S3Endpoint
from servers.subnet import current_epoch, publish_around_now, running_signer, unix_now

pytestmark = [pytest.mark.s3, pytest.mark.slow]

S3 = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
ALICE, BOB = sc.address("//Alice"), sc.address("//Bob")


def post_signed(base: str, path: str, uri: str, body: bytes) -> requests.Response:
    return requests.post(f"{base}{path}", data=body, headers=sc.tao_headers(uri, body), timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory, s3_server: S3Endpoint, sample) -> Iterator[tuple[str, Any, str]]:
    work = tmp_path_factory.mktemp("data-universe")
    publish_around_now(work / "published", work / "state", sample)
    bucket = s3_server.create_bucket()
    try:
        with running_signer(
            work, work / "published", s3_server, bucket, SIGNER_RATELIMIT_VALIDATOR="100000/minute"
        ) as base:
            yield base, s3_server.client(max_pool_connections=32), bucket
    finally:
        s3_server.delete_bucket(bucket)


def test_miner_uploads_a_parquet_file_through_get_file_upload_url(served):
    base, admin, bucket = served
    filename = "data_20261202_060000_3_0123456789abcdef.parquet"
    body = json.dumps({"job_id": "reddit-r-bittensor", "filename": filename}, separators=(",", ":"))
    response = post_signed(base, "/get-file-upload-url", "//Bob", body.encode())
    assert response.status_code == 200, response.text
    info = response.json()
    assert set(info) >= {"s3_key", "url", "fields", "expires_in_seconds", "method"}
    assert info["method"] == "POST"
    epoch = current_epoch()
    expected = f"data/hotkey={BOB}/epoch={epoch.id}/job_id=reddit-r-bittensor/{filename}"
    assert info["s3_key"] == expected
    payload = b"PAR1" + b"\0" * 2048
    upload = requests.post(
        info["url"],
        data=dict(info["fields"]),
        files={"file": (filename, payload, "application/octet-stream")},
        timeout=60,
    )
    assert upload.ok, upload.text
    assert admin.get_object(Bucket=bucket, Key=expected)["Body"].read() == payload

    elsewhere = dict(info["fields"], key=f"data/hotkey={ALICE}/epoch={epoch.id}/x.parquet")
    refused = requests.post(info["url"], data=elsewhere, files={"file": payload}, timeout=60)
    assert refused.status_code == 403


def test_validator_pages_a_miner_listing_with_get_miner_list_and_header_signing(served):
    base, admin, bucket = served
    epoch = current_epoch()
    folder = f"data/hotkey={BOB}/epoch={epoch.id}/job_id=x-elon/"
    keys = [f"{folder}data_{n:05d}_10.parquet" for n in range(1050)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: admin.put_object(Bucket=bucket, Key=k, Body=b"x" * 10), keys))

    files: list[str] = []
    token = None
    pages = 0
    while True:
        payload: dict[str, Any] = {"miner_hotkey": BOB}
        if token:
            payload["continuation_token"] = token
        response = post_signed(base, "/get-miner-list", "//Alice", json.dumps(payload).encode())
        assert response.status_code == 200, response.text
        page = requests.get(response.json().get("list_url", ""), timeout=60)
        assert page.status_code == 200
        pages += 1
        root = ET.fromstring(page.text)
        files += [
            item.find("s3:Key", S3).text
            for item in root.findall(".//s3:Contents", S3)
            if item.find("s3:Key", S3).text.endswith(".parquet")
        ]
        if root.find(".//s3:IsTruncated", S3).text.lower() != "true":
            break
        token = root.find(".//s3:NextContinuationToken", S3).text
    assert pages == 2
    assert set(keys) <= set(files)


def test_validator_gets_500_file_urls_in_one_header_signed_batch(served):
    base, admin, bucket = served
    epoch = current_epoch()
    folder = f"data/hotkey={BOB}/epoch={epoch.id}/job_id=0f9c1e5a-7b7d-4c57-9a8e-5d1c2b3a4f60/"
    keys = [f"{folder}data_20261202_060000_1000000_{n:016x}.parquet" for n in range(500)]
    admin.put_object(Bucket=bucket, Key=keys[0], Body=b"first")
    admin.put_object(Bucket=bucket, Key=keys[-1], Body=b"last")
    body = json.dumps({"miner_hotkey": BOB, "file_keys": keys, "expiry_hours": 3}).encode()
    assert len(body) > 70_000
    response = post_signed(base, "/get-file-presigned-urls", "//Alice", body)
    assert response.status_code == 200, response.text
    urls = {k: v["presigned_url"] for k, v in response.json().get("file_urls", {}).items()}
    assert set(urls) == set(keys)
    assert requests.get(urls[keys[0]], timeout=30).content == b"first"
    assert requests.get(urls[keys[-1]], timeout=30).content == b"last"


def test_file_urls_stay_valid_for_the_3_hours_the_validator_asks_for(served):
    """The validator asks `expiry_hours: 3` (s3_utils._get_presigned_urls_batch: "long
    validation passes ... were hitting 403s on presigned URLs minted at the start of the
    run") and reads each file, by Range requests, until its pass ends: a URL must last the
    3 hours asked, not the signer's 1-hour list TTL."""
    base, admin, bucket = served
    epoch = current_epoch()
    key = f"data/hotkey={BOB}/epoch={epoch.id}/job_id=long-pass/data_20261202_060000_1_ab.parquet"
    admin.put_object(Bucket=bucket, Key=key, Body=b"PAR1-long-pass")

    def lifetimes(body: dict[str, Any]) -> tuple[int, int, str]:
        response = post_signed(
            base, "/get-file-presigned-urls", "//Alice", json.dumps(body).encode()
        )
        assert response.status_code == 200, response.text
        url = response.json()["file_urls"][key]["presigned_url"]
        expires = int(dict(parse_qsl(urlsplit(url).query))["X-Amz-Expires"])
        return expires, response.json()["expiry_seconds"], url

    asked, said, url = lifetimes({"miner_hotkey": BOB, "file_keys": [key], "expiry_hours": 3})
    assert (asked, said) == (3 * 3600, 3 * 3600)
    ranged = requests.get(url, headers={"Range": "bytes=0-3"}, timeout=30)
    assert (ranged.status_code, ranged.content) == (206, b"PAR1")
    default, _, _ = lifetimes({"miner_hotkey": BOB, "file_keys": [key]})
    assert default == 3600


def test_previous_client_signs_the_body_and_still_lists_and_reads(served):
    base, admin, bucket = served
    epoch = current_epoch()
    key = f"data/hotkey={BOB}/epoch={epoch.id}/job_id=old/data_1_1.parquet"
    admin.put_object(Bucket=bucket, Key=key, Body=b"old-client")
    listing = requests.post(f"{base}/get-miner-list", json=sc.miner_list(timestamp=unix_now()))
    assert listing.status_code == 200, listing.text
    assert key in requests.get(listing.json()["list_url"], timeout=30).text
    files = requests.post(
        f"{base}/get-file-presigned-urls",
        json={**sc.miner_files(keys=[key], timestamp=unix_now()), "expiry_hours": 1},
    )
    assert files.status_code == 200, files.text
    url = files.json()["file_urls"][key]["presigned_url"]
    assert requests.get(url, timeout=30).content == b"old-client"


def iso_z(seconds_ago: float) -> str:
    """A UTC instant as pydantic v2's model_dump_json writes one: ISO 8601, `Z`."""
    instant = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return instant.isoformat().replace("+00:00", "Z")


def test_sn13_api_services_on_the_same_base_url_are_not_served_and_the_clients_carry_on(served):
    """The current client sends more than S3 requests to `--s3_auth_url`: the SN13
    data-universe API's own services. The signer serves none of them: each is a JSON 404
    without checking the X-Tao headers, which every caller reads as a failure it survives."""
    base, _, _ = served
    # A validator whose uid is not 89 runs no S3 validation: it reads the scores uid 89
    # published (S3ValidationResultsClient.fetch_all: requests.get, signed over b"", no
    # Content-Type; any status but 200 is an empty map, so no miner gets an S3 score).
    empty = sc.tao_headers("//Alice", b"")
    del empty["Content-Type"]
    scores = requests.get(f"{base}/s3-validation/results", headers=empty, timeout=30)
    # uid 89 publishes each miner's score after validating it (publish: 0 rows upserted).
    score = {"effective_size_bytes": 1.0, "validation_passed": True}
    score |= {"scraper_pass_rate": 1.0, "hard_invalid": False}
    published = json.dumps({"results": [{"miner_hotkey": BOB, "score": score}]}).encode()
    publish = post_signed(base, "/s3-validation/results", "//Alice", published)
    # Dynamic desirability (httpx GET signed over b""; on failure: dynamic_desirability's
    # default.json): validators after each evaluation batch, miners run with --gravity.
    lists = [
        requests.get(f"{base}{path}", headers=sc.tao_headers(uri, b""), timeout=30)
        for uri, path in (
            ("//Alice", "/dynamic-desirability/validator/get-latest-list"),
            ("//Bob", "/dynamic-desirability/miner/get-latest-list"),
        )
    ]
    # On-demand jobs (pydantic's model_dump_json bodies): a miner polls for active ones
    # (again 5 s after a failure); a validator lists a miner's expired ones before scoring it
    # (on failure: its coverage penalty relaxed, no on-demand work scored), then the stats.
    active = json.dumps({"since": iso_z(120)}, separators=(",", ":")).encode()
    window = {"expired_since": iso_z(3 * 3600), "expired_until": iso_z(0)}
    miner_jobs = json.dumps({"miner_hotkey": BOB, **window, "limit": 1000}, separators=(",", ":"))
    stats = json.dumps({**window, "min_submitters": 5}, separators=(",", ":"))
    on_demand = [
        post_signed(base, "/on-demand/miner/jobs/active", "//Bob", active),
        post_signed(base, "/on-demand/validator/miner-jobs", "//Alice", miner_jobs.encode()),
        post_signed(base, "/on-demand/validator/jobs/stats", "//Alice", stats.encode()),
    ]
    for response in [scores, publish, *lists, *on_demand]:
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.json()["error"] == "not_found"


# --- the header scheme's rules, on one process ------------------------------------------------


@pytest.fixture
def app_client(signer_config):
    config = {**signer_config, "NOW": time.time, "SIGNER_RATELIMIT_VALIDATOR": "3/minute"}
    return create_app(config).test_client()


def header_post(client, path: str, uri: str, body: bytes, headers: dict[str, str] | None = None):
    return client.post(path, data=body, headers=headers or sc.tao_headers(uri, body))


MINER_LIST_BODY = json.dumps({"miner_hotkey": BOB}).encode()


def test_a_header_signed_request_cannot_be_replayed(app_client):
    headers = sc.tao_headers("//Alice", MINER_LIST_BODY)
    first = header_post(app_client, "/get-miner-list", "//Alice", MINER_LIST_BODY, headers)
    assert first.status_code == 200, first.json
    again = header_post(app_client, "/get-miner-list", "//Alice", MINER_LIST_BODY, headers)
    assert again.status_code == 401
    assert again.json["error"] == "replayed_nonce"
    elsewhere = header_post(app_client, "/get-miner-specific-access", "", MINER_LIST_BODY, headers)
    assert elsewhere.json["error"] == "replayed_nonce"


def test_header_signing_keeps_the_window_and_covers_the_body(app_client):
    old = sc.tao_headers("//Alice", MINER_LIST_BODY, millis=(unix_now() - 301) * 1000)
    stale = header_post(app_client, "/get-miner-list", "", MINER_LIST_BODY, old)
    assert (stale.status_code, stale.json["error"]) == (401, "stale_timestamp")
    ahead = sc.tao_headers("//Alice", MINER_LIST_BODY, millis=(unix_now() + 120) * 1000)
    future = header_post(app_client, "/get-miner-list", "", MINER_LIST_BODY, ahead)
    assert (future.status_code, future.json["error"]) == (401, "future_timestamp")
    signed = sc.tao_headers("//Alice", MINER_LIST_BODY)
    other = json.dumps({"miner_hotkey": ALICE}).encode()
    tampered = header_post(app_client, "/get-miner-list", "", other, signed)
    assert (tampered.status_code, tampered.json["error"]) == (401, "invalid_signature")
    partial = {
        k: v for k, v in sc.tao_headers("//Alice", MINER_LIST_BODY).items() if "Nonce" not in k
    }
    incomplete = header_post(app_client, "/get-miner-list", "", MINER_LIST_BODY, partial)
    assert incomplete.status_code == 401
    assert "X-Tao-Nonce" in incomplete.json["detail"]
    assert header_post(app_client, "/get-miner-list", "//Bob", MINER_LIST_BODY).status_code == 403


@pytest.mark.parametrize(
    "signature",
    [
        "c2lnbmF0dXJl",  # base64 of 9 bytes
        "A" * 86,  # base64 cut two characters short
        "ab" * 63,  # hex, a byte short
        "not a signature",
    ],
)
def test_a_header_signature_of_the_wrong_form_is_named_as_the_header(app_client, signature):
    """A header signature that decodes to no 64 bytes was refused as a hex body signature:
    "signature is not hexadecimal (sr25519, 64 bytes as hex)" for a truncated base64 one,
    which is what TaoSigner sends, naming neither the header nor base64."""
    headers = {**sc.tao_headers("//Alice", MINER_LIST_BODY), "X-Tao-Signature": signature}
    refused = header_post(app_client, "/get-miner-list", "", MINER_LIST_BODY, headers)
    assert (refused.status_code, refused.json["error"]) == (401, "invalid_signature")
    assert refused.json["detail"] == (
        "X-Tao-Signature must be a 64-byte sr25519 signature, in base64 (88 characters) or "
        f"hex (128 digits, 0x optional); got {len(signature)} characters"
    )


def test_header_signed_requests_share_the_hotkeys_rate_limit(app_client):
    statuses = [
        header_post(app_client, "/get-miner-list", "//Alice", MINER_LIST_BODY).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 200]
    body_signed = app_client.post("/get-miner-list", json=sc.miner_list(timestamp=unix_now()))
    assert body_signed.status_code == 429
    assert body_signed.json["error"] == "rate_limited"


def test_file_url_batches_have_their_own_body_limit(app_client):
    keys = [f"data/hotkey={BOB}/epoch=2026-11-25T16-00-00/{'k' * 900}{n:04d}" for n in range(1000)]
    body = json.dumps({"miner_hotkey": BOB, "file_keys": keys}).encode()
    assert len(body) > 900_000
    batch = header_post(app_client, "/get-file-presigned-urls", "//Alice", body)
    assert batch.status_code == 200, batch.json
    padded = json.dumps({"miner_hotkey": BOB, "pad": "x" * 20_000}).encode()
    too_large = header_post(app_client, "/get-miner-list", "//Alice", padded)
    assert too_large.status_code == 413
    assert too_large.json["detail"] == "the request body is larger than 16384 bytes"
