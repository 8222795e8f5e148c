"""The released subnet 46 (Resi) miner and validator, step by step, against the signer.

Each test sends and reads on the wire what `resi-labs-ai/resi` at ed9ff45 does: its API
client (common/resi_api_client.py), miner (neurons/miner.py, upload_utils/) and validator
(neurons/validator.py, vali_utils/). The steps are written here from reading that code, not
copied from it: the same paths, bodies, signed messages, and the same way of building URLs
and parsing answers. The signer runs under gunicorn, the bucket is SeaweedFS, signatures
come from dev keypairs (//Alice and //Dave validate, //Bob and //Charlie mine).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
import requests

from servers import signer_client as sc
from servers.seaweed import S3Endpoint
from servers.subnet import current_epoch, publish_around_now, running_signer, unix_now

pytestmark = [pytest.mark.s3, pytest.mark.slow]

S3 = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
ALICE, BOB, CHARLIE, DAVE = (sc.address(u) for u in ("//Alice", "//Bob", "//Charlie", "//Dave"))
EVE = sc.address("//Eve")
STASH = {"//Alice": "//Alice//stash", "//Bob": "//Bob//stash", "//Dave": "//Dave//stash"}


class Subnet:
    def __init__(self, base: str, s3: S3Endpoint, bucket: str, published: Path) -> None:
        self.base = base
        self.admin = s3.client()
        self.bucket = bucket
        self.published = published

    def assignment(self, epoch_id: str) -> dict[str, Any]:
        return json.loads((self.published / "epochs" / f"{epoch_id}.json").read_text())

    def keys(self, prefix: str) -> list[str]:
        pages = self.admin.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return [item["Key"] for page in pages for item in page.get("Contents", ())]


@pytest.fixture(scope="module")
def subnet(tmp_path_factory, s3_server: S3Endpoint, sample) -> Iterator[Subnet]:
    work = tmp_path_factory.mktemp("resi")
    published = work / "published"
    publish_around_now(published, work / "state", sample)
    bucket = s3_server.create_bucket()
    try:
        with running_signer(
            work, published, s3_server, bucket, SIGNER_MIN_VALIDATOR_STAKE="1000"
        ) as base:
            yield Subnet(base, s3_server, bucket, published)
    finally:
        s3_server.delete_bucket(bucket)


def api_session() -> requests.Session:
    """The API client's session: JSON content type and its user agent on every request."""
    session = requests.Session()
    session.headers.update(
        {"Content-Type": "application/json", "User-Agent": "ResiLabs-Bittensor-Client/1.0"}
    )
    return session


def signed_query(uri: str, commitment: str, timestamp: int) -> dict[str, Any]:
    return {
        "hotkey": sc.address(uri),
        "signature": sc.sign(uri, commitment),
        "timestamp": timestamp,
    }


def folder_access_body(uri: str) -> dict[str, Any]:
    """What the miner's uploader posts to /get-folder-access (with its 24 h `expiry`)."""
    timestamp = unix_now()
    cold, hot = sc.address(STASH[uri]), sc.address(uri)
    return {
        "coldkey": cold,
        "hotkey": hot,
        "timestamp": timestamp,
        "signature": sc.sign(uri, f"s3:data:access:{cold}:{hot}:{timestamp}"),
        "expiry": timestamp + 86400,
    }


def miner_specific_url(base: str, validator: str, target: str) -> str:
    """ValidatorS3Access.get_miner_specific_access: the answer's `miner_url`."""
    timestamp = unix_now()
    body = {
        "coldkey": sc.address(STASH[validator]),
        "hotkey": sc.address(validator),
        "timestamp": timestamp,
        "signature": sc.sign(validator, f"s3:validator:miner:{target}:{timestamp}"),
        "miner_hotkey": target,
        "expiry": timestamp + 86400,
    }
    response = requests.post(f"{base}/get-miner-specific-access", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json().get("miner_url", "")


def object_url(list_url: str, key: str) -> str:
    """How the validator turns a list URL into an object URL: path + '/' + key + same query."""
    path, query = list_url.split("?")
    return f"{path}/{key}?{query}"


def listed(xml: str) -> list[dict[str, Any]]:
    root = ET.fromstring(xml)
    return [
        {
            "key": item.find("s3:Key", S3).text,
            "size": int(item.find("s3:Size", S3).text),
            "last_modified": item.find("s3:LastModified", S3).text,
        }
        for item in root.findall(".//s3:Contents", S3)
    ]


def post_form(url: str, fields: dict[str, str], key: str, payload: bytes) -> requests.Response:
    return requests.post(url, data={**fields, "key": key}, files={"file": payload}, timeout=120)


def validator_upload_creds(base: str, uri: str, epoch_id: str, purpose: str) -> dict[str, Any]:
    """ResiLabsAPIClient.get_validator_s3_credentials, through the client's session."""
    timestamp = unix_now()
    data = {
        "hotkey": sc.address(uri),
        "signature": sc.sign(uri, f"s3:validator:upload:{timestamp}"),
        "timestamp": timestamp,
        "epochId": epoch_id,
        "purpose": purpose,
        "estimatedDataSizeMb": 1,
        "retentionDays": 180,
    }
    response = api_session().post(f"{base}/api/v1/s3-access/validator-upload", json=data)
    response.raise_for_status()
    return response.json()


def upload_result(creds: dict[str, Any], s3_key: str, document: dict[str, Any]) -> int:
    """The validator's _perform_s3_upload: `${filename}` in the form's key becomes s3_key."""
    fields = dict(creds["fields"])
    fields["key"] = fields["key"].replace("${filename}", s3_key)
    url = creds.get("uploadUrl") or creds.get("url")
    return post_form(url, fields, fields["key"], json.dumps(document).encode()).status_code


# --- epochs and assignments ---------------------------------------------------------------


def test_miner_and_validator_detect_the_epoch_from_stats_then_fetch_it(subnet):
    epoch = current_epoch()
    response = api_session().get(f"{subnet.base}/api/v1/zipcode-assignments/stats")
    response.raise_for_status()
    stats = response.json()
    current = stats.get("epochStatus", {}).get("currentEpoch")
    assert current["id"] == epoch.id
    assert current["status"] == "ACTIVE"
    left = stats["epochStatus"]["timing"]["timeUntilEpochEnd"]
    assert 0 < left <= 4 * 3600
    assert abs(current["timeUntilEpochEnd"] - left) <= 2
    assert current["nonce"] == subnet.assignment(epoch.id)["nonce"]

    timestamp = unix_now()
    params = signed_query("//Bob", f"zipcode:assignment:current:{timestamp}", timestamp)
    assignment = api_session().get(
        f"{subnet.base}/api/v1/zipcode-assignments/current", params=params
    )
    assignment.raise_for_status()
    body = assignment.json()
    assert body.get("success") is True
    assert body["epochId"] == current["id"]
    assert body["nonce"] == current["nonce"]
    assert all(z["expectedListings"] >= 0 for z in body["zipcodes"])


def test_miner_reports_its_progress_to_status(subnet):
    epoch = current_epoch()
    nonce = subnet.assignment(epoch.id)["nonce"]
    url = f"{subnet.base}/api/v1/zipcode-assignments/status"

    def report(status: str, signer: str = "//Bob", **extra: Any) -> requests.Response:
        timestamp = unix_now()
        data = {
            "hotkey": BOB,
            "signature": sc.sign(signer, f"zipcode:status:{epoch.id}:{timestamp}"),
            "timestamp": timestamp,
            "epochId": epoch.id,
            "nonce": nonce,
            "status": status,
            "s3UploadComplete": False,
            **extra,
        }
        return api_session().post(url, json=data)

    started = report("IN_PROGRESS")
    assert started.status_code == 200, started.text
    assert started.json()["success"] is True
    assert started.json()["status"] == "IN_PROGRESS"
    done = report(
        "COMPLETED",
        listingsScraped=12,
        zipcodesCompleted=[{"zipcode": "19103", "listingsScraped": 12}],
        s3UploadComplete=True,
        s3UploadTimestamp="2026-12-02T06:00:00Z",
    )
    assert done.status_code == 200, done.text
    assert done.json()["epochId"] == epoch.id

    wrong_nonce = report("IN_PROGRESS", nonce="0" * 16)
    assert wrong_nonce.status_code == 400
    assert wrong_nonce.json()["error"] == "invalid_nonce"
    forged = report("IN_PROGRESS", signer="//Charlie")
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_signature"


def test_validator_reads_an_epochs_assignment_by_id(subnet):
    previous = current_epoch().previous()
    timestamp = unix_now()
    params = signed_query("//Alice", f"zipcode:validation:{previous.id}:{timestamp}", timestamp)
    response = api_session().get(
        f"{subnet.base}/api/v1/zipcode-assignments/epoch/{previous.id}", params=params
    )
    response.raise_for_status()
    epoch_data = response.json()
    assert epoch_data.get("success") is True
    assert epoch_data["status"] == "COMPLETED"
    published = subnet.assignment(previous.id)
    expected = {z["zipcode"]: z["expectedListings"] for z in published["zipcodes"]}
    assert {z.get("zipcode"): z.get("expectedListings") for z in epoch_data["zipcodes"]} == (
        expected
    )

    future = current_epoch().next()
    missing = api_session().get(
        f"{subnet.base}/api/v1/zipcode-assignments/epoch/{future.id}", params=params
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "epoch_not_found"


def test_health_probe_says_ok(subnet):
    health = api_session().get(f"{subnet.base}/healthcheck", timeout=10)
    assert health.status_code == 200
    assert health.json().get("status") == "ok"


# --- uploads --------------------------------------------------------------------------------


def test_validator_upload_says_success_and_its_form_stores_both_result_files(subnet):
    epoch = current_epoch()
    creds = validator_upload_creds(
        subnet.base, "//Alice", epoch.id, "epoch_validation_results_with_listings"
    )
    assert creds.get("success") is True
    stamp = unix_now()
    results = f"validator_results/validation_results_epoch_{epoch.id}_{ALICE[:8]}_{stamp}.json"
    assert upload_result(creds, results, {"epoch_id": epoch.id, "consensus_hash": "ab"}) == 204

    previous = epoch.previous()
    winner = validator_upload_creds(subnet.base, "//Alice", previous.id, "epoch_winner_metadata")
    assert winner.get("success") is True
    name = f"epoch_winner_{previous.id}_{ALICE[:8]}_{stamp}.json"
    assert upload_result(winner, name, {"epoch_id": previous.id}) == 204
    assert subnet.keys(f"validators/{ALICE}/") == sorted(
        [
            f"validators/{ALICE}/epoch={epoch.id}/{results}",
            f"validators/{ALICE}/epoch={previous.id}/{name}",
        ]
    )


def test_miner_uploads_a_file_larger_than_the_old_100_mib_cap(subnet):
    response = requests.post(
        f"{subnet.base}/get-folder-access", json=folder_access_body("//Bob"), timeout=30
    )
    assert response.status_code == 200, response.text
    creds = response.json()
    assert creds.get("url")
    key = f"{creds['folder']}job_id=zillow-all/data_20261202_060000_1000000.parquet"
    payload = b"\0" * (100 * 1024 * 1024 + 1)
    assert post_form(creds["url"], creds["fields"], key, payload).status_code == 204
    head = subnet.admin.head_object(Bucket=subnet.bucket, Key=key)
    assert head["ContentLength"] == len(payload)


# --- reading what miners and validators uploaded ------------------------------------------------


def test_validator_lists_past_1000_keys_by_appending_start_after(subnet):
    epoch = current_epoch()
    folder = f"data/hotkey={CHARLIE}/epoch={epoch.id}/job_id=j1/"
    for n in range(1100):
        subnet.admin.put_object(Bucket=subnet.bucket, Key=f"{folder}{n:05d}.parquet", Body=b"x")
    timestamp = unix_now()
    body = {
        "coldkey": sc.address("//Alice//stash"),
        "hotkey": ALICE,
        "timestamp": timestamp,
        "signature": sc.sign("//Alice", f"s3:validator:access:{timestamp}"),
        "expiry": timestamp + 86400,
    }
    access = requests.post(f"{subnet.base}/get-validator-access", json=body, timeout=30)
    assert access.status_code == 200, access.text
    base_url = access.json().get("urls", {}).get("global", {}).get("list_all_data", "")

    collected: list[str] = []
    response = requests.get(base_url, timeout=30)
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        root = ET.fromstring(response.text)
        collected += [item["key"] for item in listed(response.text)]
        truncated = root.find(".//s3:IsTruncated", S3)
        if truncated is None or truncated.text.lower() != "true":
            break
        next_url = f"{base_url}&start-after={quote(collected[-1], safe='')}"
        response = requests.get(next_url, timeout=30)
    assert pages >= 2
    assert collected == subnet.keys("data/hotkey=")


def test_validator_reads_a_miners_epoch_files_through_urls_built_from_the_list_url(subnet):
    epoch = current_epoch()
    creds = requests.post(
        f"{subnet.base}/get-folder-access", json=folder_access_body("//Bob"), timeout=30
    ).json()
    submissions = {}
    for zipcode in ("19103", "07030"):
        document = {
            "epoch_id": epoch.id,
            "zipcode": zipcode,
            "miner_hotkey": BOB,
            "listing_count": 1,
            "listings": [{"zpid": zipcode + "1", "price": 350000}],
        }
        s3_path = f"data/hotkey={BOB}/epoch={epoch.id}/zipcode={zipcode}/data_20261202_060000.json"
        key = f"{creds['folder']}{s3_path}"
        assert post_form(creds["url"], creds["fields"], key, json.dumps(document).encode()).ok
        submissions[zipcode] = document

    miner_url = miner_specific_url(subnet.base, "//Alice", BOB)
    listing = requests.get(miner_url, timeout=30)
    assert listing.status_code == 200, listing.text
    files = [
        f
        for f in listed(listing.text)
        if f"epoch={epoch.id}" in f["key"] and f"hotkey={BOB}" in f["key"]
        if f["key"].endswith(".json")
    ]
    assert len(files) == 2
    for file in files:
        download = requests.get(object_url(miner_url, file["key"]), timeout=30)
        assert download.status_code == 200, download.text
        data = json.loads(download.text)
        assert data == submissions[data["zipcode"]]

    neighbour = f"data/hotkey={CHARLIE}/epoch={epoch.id}/job_id=j1/00000.parquet"
    assert requests.get(object_url(miner_url, neighbour), timeout=30).status_code == 403
    path, query = miner_url.split("?")
    params = [(k, "data/" if v == f"data/hotkey={BOB}/" else v) for k, v in parse_qsl(query)]
    widened = requests.get(f"{path}?{urlencode(params)}", timeout=30)
    assert widened.status_code == 403
    assert widened.json()["error"] == "invalid_list_signature"


def test_validators_read_each_others_results_for_consensus(subnet):
    epoch = current_epoch()
    creds = validator_upload_creds(subnet.base, "//Dave", epoch.id, "epoch_validation_results")
    stamp = unix_now()
    name = f"validator_results/validation_results_epoch_{epoch.id}_{DAVE[:8]}_{stamp}.json"
    assert upload_result(creds, name, {"epoch_id": epoch.id, "consensus_hash": "c0ffee"}) == 204

    validator_url = miner_specific_url(subnet.base, "//Alice", DAVE)
    response = requests.get(validator_url, timeout=30)
    assert response.status_code == 200, response.text
    results = [
        f
        for f in listed(response.text)
        if f"validators/{DAVE}" in f["key"] and epoch.id in f["key"]
        if "validation_results" in f["key"] and f["key"].endswith(".json")
    ]
    assert len(results) == 1
    latest = max(results, key=lambda f: f["last_modified"])
    download = requests.get(object_url(validator_url, latest["key"]), timeout=30)
    assert download.status_code == 200
    assert json.loads(download.text)["consensus_hash"] == "c0ffee"

    assert requests.put(object_url(validator_url, latest["key"]), data=b"{}").status_code == 405
    timestamp = unix_now()
    miner_asks = {
        "hotkey": BOB,
        "timestamp": timestamp,
        "signature": sc.sign("//Bob", f"s3:validator:miner:{DAVE}:{timestamp}"),
        "miner_hotkey": DAVE,
    }
    refused = requests.post(f"{subnet.base}/get-miner-specific-access", json=miner_asks)
    assert refused.status_code == 403


def test_one_page_of_a_miners_listing_misses_the_scored_epoch_past_1000_earlier_keys(subnet):
    """The validator's epoch scoring (`_download_miner_epoch_data`), its S3 scoring and its
    consensus read the first page of `miner_url` only: 1,000 keys, oldest epoch first. A
    miner with 1,000 keys of earlier epochs (epoch files and job parquet files, which the
    epoch folder now puts before the scored epoch's files) is scored as having uploaded
    nothing. Paging by appending `&start-after=`, as the client already does for the global
    listing, reads it: the client change docs/migration.md describes."""
    epoch = current_epoch()
    earlier = epoch.previous()
    older = f"data/hotkey={EVE}/epoch={earlier.id}/job_id=j1/"
    with ThreadPoolExecutor(16) as pool:
        keys = [f"{older}{n:05d}.parquet" for n in range(1000)]
        list(
            pool.map(
                lambda k: subnet.admin.put_object(Bucket=subnet.bucket, Key=k, Body=b"x"), keys
            )
        )
    folder = f"data/hotkey={EVE}/epoch={epoch.id}/"
    s3_path = f"data/hotkey={EVE}/epoch={epoch.id}/zipcode=19103/data_20261202_060000.json"
    subnet.admin.put_object(Bucket=subnet.bucket, Key=folder + s3_path, Body=b"{}")

    def scored(page: str) -> list[str]:
        return [
            f["key"]
            for f in listed(page)
            if f"epoch={epoch.id}" in f["key"] and f"hotkey={EVE}" in f["key"]
            if f["key"].endswith(".json")
        ]

    miner_url = miner_specific_url(subnet.base, "//Alice", EVE)
    first = requests.get(miner_url, timeout=30)
    assert first.status_code == 200, first.text
    assert len(listed(first.text)) == 1000
    assert scored(first.text) == []
    last = listed(first.text)[-1]["key"]
    second = requests.get(f"{miner_url}&start-after={quote(last, safe='')}", timeout=30)
    assert second.status_code == 200, second.text
    assert scored(second.text) == [folder + s3_path]


def test_list_jobs_finds_no_job_directly_under_the_hotkey_which_is_the_documented_change(subnet):
    """ValidatorS3Access.list_jobs expects job_id= right after data/hotkey={hk}/; the epoch
    folder sits in between (docs/migration.md). The scoring path splits on '/job_id=' and
    still finds the job; list_jobs/list_files are called by nothing in the client."""
    epoch = current_epoch()
    creds = requests.post(
        f"{subnet.base}/get-folder-access", json=folder_access_body("//Bob"), timeout=30
    ).json()
    key = f"{creds['folder']}job_id=zillow-pa/data_20261202_060000_2.parquet"
    assert post_form(creds["url"], creds["fields"], key, b"PAR1" * 300).status_code == 204
    miner_url = miner_specific_url(subnet.base, "//Alice", BOB)
    keys = [f["key"] for f in listed(requests.get(miner_url, timeout=30).text)]
    prefix = f"data/hotkey={BOB}/"
    direct = {
        k[len(prefix) :].split("/")[0][7:] for k in keys if k[len(prefix) :].startswith("job_id=")
    }
    scored = {k.split("/job_id=")[1].split("/")[0] for k in keys if "/job_id=" in k}
    assert key.startswith(f"{prefix}epoch={epoch.id}/")
    assert direct == set()
    assert "zillow-pa" in scored
