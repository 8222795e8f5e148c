"""The credential endpoints end to end, with real sr25519 signatures from dev keypairs."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from signer import create_app

from servers import signer_client as sc

BUCKET = "subnet46-test"
MAX_UPLOAD = 5 * 1024**3
# Epoch 2026-11-25T16-00-00 ends at 20:00; grace 900 s; NOW is 17:00.
EXPIRY = "2026-11-25T20:15:00Z"
LIFETIME = 3 * 3600 + 900


def policy_of(fields: dict) -> dict:
    return json.loads(base64.b64decode(fields["policy"]))


def key_conditions(policy: dict) -> list:
    return [
        c
        for c in policy["conditions"]
        if (isinstance(c, list) and c[1] == "$key") or (isinstance(c, dict) and "key" in c)
    ]


def iso_seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def assert_upload_policy(post: dict, folder: str, before: float, after: float) -> None:
    """The POST policy S3 will enforce: this folder only, 1..max bytes, expiring as stated."""
    assert post["folder"] == folder
    assert post["fields"]["key"] == folder + "${filename}"
    policy = policy_of(post["fields"])
    assert key_conditions(policy) == [["starts-with", "$key", folder]]
    assert ["content-length-range", 1, MAX_UPLOAD] in policy["conditions"]
    assert {"bucket": BUCKET} in policy["conditions"]
    # botocore dates the policy by the real clock: expiration = issue time + lifetime.
    expiration = iso_seconds(policy["expiration"].replace(".000", ""))
    assert (
        int(before) + post["expiry_seconds"]
        <= expiration
        <= int(after) + 1 + post["expiry_seconds"]
    )


def post_timed(client, path: str, body: dict):
    before = time.time()
    response = client.post(path, json=body)
    return response, before, time.time()


def list_params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# --- success paths ---------------------------------------------------------------------


def test_miner_gets_a_post_for_its_folder_in_the_current_epoch(client):
    response, before, after = post_timed(client, "/get-folder-access", sc.folder_access())
    assert response.status_code == 200, response.json
    body = response.json
    folder = f"data/hotkey={sc.address('//Bob')}/epoch={sc.EPOCH}/"
    assert body["epoch_id"] == sc.EPOCH
    assert body["expiry"] == EXPIRY
    assert body["expiry_seconds"] == LIFETIME
    assert body["max_upload_bytes"] == MAX_UPLOAD
    assert body["url"] == f"http://127.0.0.1:9/{BUCKET}"
    assert_upload_policy(body, folder, before, after)
    params = list_params(body["list_url"])
    assert params["prefix"] == [f"data/hotkey={sc.address('//Bob')}/"]
    assert params["X-Amz-Expires"] == ["3600"]
    assert "X-Amz-Signature" in params
    assert urlsplit(body["list_url"]).path == f"/{BUCKET}"


def test_each_miner_gets_only_its_own_folder(client):
    bob = client.post("/get-folder-access", json=sc.folder_access()).json
    charlie = client.post(
        "/get-folder-access",
        json=sc.folder_access("//Charlie", "//Charlie//stash"),
    ).json
    assert charlie["folder"] == f"data/hotkey={sc.address('//Charlie')}/epoch={sc.EPOCH}/"
    assert key_conditions(policy_of(charlie["fields"])) == [
        ["starts-with", "$key", charlie["folder"]]
    ]
    assert charlie["folder"] != bob["folder"]


def test_signature_with_0x_prefix_is_accepted(client):
    body = sc.folder_access()
    body["signature"] = "0x" + body["signature"]
    assert client.post("/get-folder-access", json=body).status_code == 200


def test_fields_sent_by_older_clients_are_ignored(client):
    body = {**sc.folder_access(), "expiry": sc.NOW + 60, "source": "x"}
    assert client.post("/get-folder-access", json=body).status_code == 200


def test_validator_gets_list_urls_and_its_upload_folder(client):
    response, before, after = post_timed(client, "/get-validator-access", sc.validator_access())
    assert response.status_code == 200, response.json
    body = response.json
    alice = sc.address("//Alice")
    assert body["validator_hotkey"] == alice
    assert body["bucket"] == BUCKET
    assert body["epoch_id"] == sc.EPOCH
    assert body["expiry_seconds"] == 3600
    every = list_params(body["urls"]["global"]["list_all_data"])
    assert every["prefix"] == ["data/hotkey="]
    assert "delimiter" not in every
    miners = list_params(body["urls"]["miners"]["list_all_miners"])
    assert miners["prefix"] == ["data/hotkey="]
    assert miners["delimiter"] == ["/"]
    upload = body["upload"]
    assert upload["expiry"] == EXPIRY
    assert_upload_policy(upload, f"validators/{alice}/epoch={sc.EPOCH}/", before, after)


@pytest.mark.parametrize(
    "epoch_id", ["2026-11-25T16-00-00", "2026-11-25T12-00-00", "2026-11-25T08-00-00"]
)
def test_validator_upload_for_current_and_recent_epochs(client, epoch_id):
    response, before, after = post_timed(
        client, "/api/v1/s3-access/validator-upload", sc.validator_upload(epoch_id=epoch_id)
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["epoch_id"] == epoch_id
    assert body["expiry"] == EXPIRY
    folder = f"validators/{sc.address('//Alice')}/epoch={epoch_id}/"
    assert_upload_policy(body, folder, before, after)


def test_validator_upload_accepts_the_snake_case_epoch_field(client):
    body = sc.validator_upload()
    body["epoch_id"] = body.pop("epochId")
    assert client.post("/api/v1/s3-access/validator-upload", json=body).status_code == 200


@pytest.mark.parametrize(
    "epoch_id",
    ["2026-11-25T04-00-00", "2026-11-25T20-00-00", "2026-11-20T16-00-00", "2026-11-25T17-00-00"],
    ids=["three-back", "next", "days-ago", "off-the-grid"],
)
def test_validator_upload_refuses_epochs_outside_the_window(client, epoch_id):
    response = client.post(
        "/api/v1/s3-access/validator-upload", json=sc.validator_upload(epoch_id=epoch_id)
    )
    assert response.status_code == 403
    assert response.json["error"] == "epoch_not_allowed"


@pytest.mark.parametrize(
    ("epoch_id", "detail"),
    [
        (
            "2026-11-25T20-00-00",
            "epoch 2026-11-25T20-00-00 has not started by this signer's clock, whose current "
            "epoch is 2026-11-25T16-00-00 (it takes that one or the 2 before it); if your "
            "clock says 2026-11-25T20-00-00 has started, your clock is ahead: sync it, e.g. "
            "with NTP",
        ),
        (
            "2026-11-25T04-00-00",
            "epoch 2026-11-25T04-00-00 is not the current epoch, 2026-11-25T16-00-00, or one "
            "of the 2 before it",
        ),
    ],
    ids=["next", "three-back"],
)
def test_validator_upload_refusal_names_the_signers_current_epoch(client, epoch_id, detail):
    """A validator whose clock runs ahead names the next epoch at an epoch's start; it was
    told only 'epoch ... is not the current epoch or one of the 2 before it', without which
    epoch the signer takes for current, or that its own clock is the one to check."""
    response = client.post(
        "/api/v1/s3-access/validator-upload", json=sc.validator_upload(epoch_id=epoch_id)
    )
    assert response.json == {"error": "epoch_not_allowed", "detail": detail}


@pytest.mark.parametrize("epoch_id", ["2026-11-25T17-30-00", "yesterday", "2026-13-01T00-00-00"])
def test_validator_upload_rejects_malformed_epoch_ids(client, epoch_id):
    response = client.post(
        "/api/v1/s3-access/validator-upload", json=sc.validator_upload(epoch_id=epoch_id)
    )
    assert response.status_code == 422
    assert response.json["error"] == "invalid_request"
    assert [f["field"] for f in response.json["fields"]] == ["epochId"]


def test_miner_list_without_token_is_the_first_page(client):
    response = client.post("/get-miner-list", json=sc.miner_list())
    assert response.status_code == 200, response.json
    body = response.json
    params = list_params(body["list_url"])
    assert params["prefix"] == [f"data/hotkey={sc.address('//Bob')}/"]
    assert "continuation-token" not in params
    assert body["continuation_token"] is None
    assert body["prefix"] == f"data/hotkey={sc.address('//Bob')}/"


def test_miner_list_signs_the_continuation_token_into_the_url(client):
    token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
    first = client.post("/get-miner-list", json=sc.miner_list()).json
    second = client.post("/get-miner-list", json=sc.miner_list(token=token)).json
    params = list_params(second["list_url"])
    assert params["continuation-token"] == [token]
    assert second["continuation_token"] == token
    assert params["X-Amz-Signature"] != list_params(first["list_url"])["X-Amz-Signature"]


def test_old_miner_specific_path_lists_the_hotkeys_data_and_results_through_the_signer(client):
    body = client.post("/get-miner-specific-access", json=sc.miner_list()).json
    assert body["miner_url"] == body["list_url"]
    bob = sc.address("//Bob")
    assert urlsplit(body["miner_url"]).path == "/s3/list"
    assert list_params(body["miner_url"])["prefix"] == [f"data/hotkey={bob}/", f"validators/{bob}/"]


HOST_REFUSED = (
    "the request's Host (or X-Forwarded-Host, from a trusted proxy) is no host name a URL "
    "can carry, and this endpoint's list URLs are built on it: a client sends the signer's "
    "host name; a reverse proxy passes the public one on (nginx: proxy_set_header Host "
    "$host), not an upstream name such as one with '_'"
)


@pytest.mark.parametrize("field", ["epoch_id", "epochId"])
def test_a_miners_epoch_is_named_as_either_spelling_the_validators_is(client, field):
    """`/get-validator-upload` takes `epochId` or `epoch_id`; `/get-folder-access` took only
    `epoch_id`, and a body with `epochId` (the published files' own spelling) was answered
    with the whole folder's listing, as if no epoch had been named."""
    body = {**sc.folder_access(), field: sc.EPOCH}
    response = client.post("/get-folder-access", json=body)
    assert response.status_code == 200, response.json
    bob = sc.address("//Bob")
    assert list_params(response.json["list_url"])["prefix"] == [
        f"data/hotkey={bob}/epoch={sc.EPOCH}/"
    ]


def test_a_miners_epoch_id_off_the_grid_in_the_last_hours_of_year_9999_is_a_422(client):
    """The epoch starts named around an id off the grid run past the last date a datetime
    holds for 9999-12-31T23-00-00 (the next start would be 10000-01-01): that was a 500
    internal_error (OverflowError), not the 422 naming the field."""
    body = {**sc.folder_access(), "epoch_id": "9999-12-31T23-00-00"}
    response = client.post("/get-folder-access", json=body)
    assert response.status_code == 422, response.json
    message = (
        "9999-12-31T23-00-00 starts no epoch of this signer's: EPOCH_HOURS is 4, so epochs "
        "start every 4 hours from 00:00 UTC; the nearest epoch starts at 9999-12-31T20-00-00"
    )
    assert response.json["fields"] == [{"field": "epoch_id", "message": message}]


@pytest.mark.parametrize("host", ["signer_web:8000", "a b", "example.com:99999", ""])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/get-validator-access", sc.validator_access),
        ("/get-miner-specific-access", sc.miner_list),
    ],
)
def test_list_urls_are_not_built_on_a_host_no_url_can_carry(client, path, body, host):
    """A Host werkzeug will not put in a URL (a proxy's upstream name, such as docker
    compose's signer_web:8000) gave a 200 whose list URLs had no host at all,
    http:///s3/list?..., which every validator then failed to read. It is refused, saying
    which header and what to set, without repeating it."""
    response = client.post(path, json=body(), headers={"Host": host})
    assert response.status_code == 400
    assert response.json == {"error": "invalid_request", "detail": HOST_REFUSED}


@pytest.mark.parametrize(
    ("path", "fields"),
    [("/get-validator-access", {}), ("/get-miner-specific-access", {"miner_hotkey": "//Bob"})],
)
def test_a_host_no_url_can_carry_is_refused_before_the_signature_counts(client, path, fields):
    """The Host's 400 came after the request was authenticated: its X-Tao-Nonce was spent
    (and its quota counted), so the same request sent again with the right Host, through a
    fixed proxy, was a 401 replayed_nonce."""
    body = json.dumps({name: sc.address(uri) for name, uri in fields.items()}).encode()
    headers = sc.tao_headers("//Alice", body, millis=sc.NOW * 1000)
    refused = client.post(path, data=body, headers={**headers, "Host": "signer_web:8000"})
    assert (refused.status_code, refused.json["detail"]) == (400, HOST_REFUSED)
    again = client.post(path, data=body, headers=headers)
    assert again.status_code == 200, again.json


def test_file_urls_only_for_keys_in_the_miners_folder(client):
    bob = sc.address("//Bob")
    inside = f"data/hotkey={bob}/epoch=2026-11-25T16-00-00/19103.json"
    outside = [
        f"data/hotkey={sc.address('//Charlie')}/epoch=2026-11-25T16-00-00/x.json",
        f"data/hotkey={bob}-x/y.json",
        f"data/hotkey={bob}/../hotkey={sc.address('//Charlie')}/z.json",
        "validators/x.json",
    ]
    response = client.post("/get-file-presigned-urls", json=sc.miner_files(keys=[inside, *outside]))
    assert response.status_code == 200, response.json
    body = response.json
    assert list(body["file_urls"]) == [inside]
    url = body["file_urls"][inside]
    assert url["file_name"] == "19103.json" and url["file_key"] == inside
    assert unquote(urlsplit(url["presigned_url"]).path).endswith(
        f"/data/hotkey={bob}/epoch=2026-11-25T16-00-00/19103.json"
    )
    assert "X-Amz-Signature" in list_params(url["presigned_url"])
    assert body["invalid_files"] == outside


def test_file_urls_refuse_a_request_with_no_key_of_the_miner(client):
    # The refusal named data/hotkey=<miner>/ alone, though validators/<miner>/ is taken too.
    bob = sc.address("//Bob")
    keys = ["validators/x", f"data/hotkey={bob}/../secret.json"]
    response = client.post("/get-file-presigned-urls", json=sc.miner_files(keys=keys))
    assert response.status_code == 400
    assert response.json == {
        "error": "no_valid_files",
        "detail": f"none of the keys is under data/hotkey={bob}/ or validators/{bob}/ "
        "without a '..' segment",
    }


# --- authentication failures ------------------------------------------------------------

ENDPOINTS = [
    ("/get-folder-access", sc.folder_access),
    ("/get-validator-access", sc.validator_access),
    ("/api/v1/s3-access/validator-upload", sc.validator_upload),
    ("/get-miner-list", sc.miner_list),
    ("/get-miner-specific-access", sc.miner_list),
    ("/get-file-presigned-urls", sc.miner_files),
]
ENDPOINT_IDS = ["folder", "validator", "upload", "miner-list", "miner-specific", "files"]


@pytest.mark.parametrize(("path", "make"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_bad_signature_is_401(client, path, make):
    body = make()
    body["signature"] = "ab" * 64
    response = client.post(path, json=body)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"


@pytest.mark.parametrize(("path", "make"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_signature_by_another_key_is_401(client, path, make):
    response = client.post(path, json=make(signer="//Charlie"))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/get-validator-access",
            lambda: sc.validator_access(message=f"s3:validator:upload:{sc.NOW}"),
        ),
        (
            "/api/v1/s3-access/validator-upload",
            lambda: sc.validator_upload(message=f"s3:validator:access:{sc.NOW}"),
        ),
        (
            "/get-miner-list",
            lambda: sc.miner_list(message=f"s3:validator:access:{sc.NOW}"),
        ),
        (
            "/get-folder-access",
            lambda: sc.folder_access(message=f"s3:validator:access:{sc.NOW}"),
        ),
    ],
    ids=["access-with-upload-msg", "upload-with-access-msg", "list-with-access-msg", "miner"],
)
def test_message_signed_for_another_endpoint_is_401(client, path, body):
    response = client.post(path, json=body())
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"


def test_miner_list_signature_is_bound_to_the_miner(client):
    body = sc.miner_list(miner="//Bob")
    body["miner_hotkey"] = sc.address("//Charlie")
    assert client.post("/get-miner-list", json=body).status_code == 401


@pytest.mark.parametrize(
    ("signature", "why"),
    [("not-hex!", "hexadecimal"), ("abcd", "64 bytes"), ("0x" + "00" * 65, "64 bytes")],
)
def test_malformed_signature_is_401_not_500(client, signature, why):
    body = {**sc.folder_access(), "signature": signature}
    response = client.post("/get-folder-access", json=body)
    assert response.status_code == 401
    assert why in response.json["detail"]


@pytest.mark.parametrize(("path", "make"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_stale_timestamp_is_401(client, path, make):
    response = client.post(path, json=make(timestamp=sc.NOW - 301))
    assert response.status_code == 401
    assert response.json["error"] == "stale_timestamp"
    assert "the client's clock is behind" in response.json["detail"], "a kit signs with now"


@pytest.mark.parametrize(("path", "make"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_future_timestamp_is_401(client, path, make):
    response = client.post(path, json=make(timestamp=sc.NOW + 61))
    assert response.status_code == 401
    assert response.json["error"] == "future_timestamp"


@pytest.mark.parametrize(
    ("offset", "code", "said"),
    [(-300, "stale_timestamp", "301 s old"), (61, "future_timestamp", "61 s ahead")],
    ids=["stale", "future"],
)
def test_a_refused_timestamp_is_said_to_be_past_the_limit(signer_config, offset, code, said):
    """The server's clock has fractions of a second and the timestamp has none: a request
    60.5 s ahead was told 'timestamp is 60 s ahead ...; at most 60 s is accepted'."""
    client = create_app({**signer_config, "NOW": lambda: sc.NOW + 0.5}).test_client()
    body = sc.validator_access(timestamp=sc.NOW + offset)
    response = client.post("/get-validator-access", json=body)
    assert (response.status_code, response.json["error"]) == (401, code)
    assert said in response.json["detail"]


@pytest.mark.parametrize("offset", [-300, 60], ids=["oldest", "furthest-ahead"])
def test_timestamps_at_the_edges_of_the_window_pass(client, offset):
    response = client.post("/get-folder-access", json=sc.folder_access(timestamp=sc.NOW + offset))
    assert response.status_code == 200


# --- metagraph roles --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/get-folder-access", lambda: sc.folder_access("//Eve", "//Eve//stash")),
        ("/get-validator-access", lambda: sc.validator_access("//Eve")),
        ("/api/v1/s3-access/validator-upload", lambda: sc.validator_upload("//Eve")),
        ("/get-miner-list", lambda: sc.miner_list("//Eve")),
        ("/get-miner-specific-access", lambda: sc.miner_list("//Eve")),
        ("/get-file-presigned-urls", lambda: sc.miner_files("//Eve")),
    ],
    ids=ENDPOINT_IDS,
)
def test_unregistered_hotkey_is_403(client, path, make):
    # A validator asking about a miner was told "hotkey is not registered", which could be
    # either hotkey of the request: the refusal names the one that signed it.
    response = client.post(path, json=make())
    assert response.status_code == 403
    assert response.json == {
        "error": "not_registered",
        "detail": f"hotkey {sc.address('//Eve')}, which signed this request, is not registered "
        "on netuid 46 (metagraph block 6543210)",
    }


def test_coldkey_that_does_not_own_the_hotkey_is_403(client):
    response = client.post(
        "/get-folder-access", json=sc.folder_access("//Bob", coldkey="//Charlie//stash")
    )
    assert response.status_code == 403
    assert response.json["error"] == "coldkey_mismatch"


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/get-validator-access", lambda: sc.validator_access("//Bob")),
        ("/api/v1/s3-access/validator-upload", lambda: sc.validator_upload("//Bob")),
        ("/get-miner-list", lambda: sc.miner_list("//Bob")),
        ("/get-miner-specific-access", lambda: sc.miner_list("//Bob")),
        ("/get-file-presigned-urls", lambda: sc.miner_files("//Bob")),
    ],
    ids=ENDPOINT_IDS[1:],
)
def test_miner_calling_a_validator_endpoint_is_403(client, path, make):
    response = client.post(path, json=make())
    assert response.status_code == 403
    assert response.json["error"] == "not_a_validator"


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/get-validator-access", lambda: sc.validator_access("//Dave")),
        ("/api/v1/s3-access/validator-upload", lambda: sc.validator_upload("//Dave")),
        ("/get-miner-list", lambda: sc.miner_list("//Dave")),
        ("/get-miner-specific-access", lambda: sc.miner_list("//Dave")),
        ("/get-file-presigned-urls", lambda: sc.miner_files("//Dave")),
    ],
    ids=ENDPOINT_IDS[1:],
)
def test_validator_below_minimum_stake_is_403(client, path, make):
    response = client.post(path, json=make())
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_stake"
    assert "20000" in response.json["detail"]


def dave_with(signer_config, **settings: str):
    """Dave's /get-validator-access answer: alpha stake 5,000, total stake 25,000 (root)."""
    client = create_app({**signer_config, **settings}).test_client()
    return client.post("/get-validator-access", json=sc.validator_access("//Dave"))


def test_minimum_stake_is_configurable(signer_config):
    assert dave_with(signer_config, SIGNER_MIN_VALIDATOR_STAKE="4999.5").status_code == 200


def test_alpha_stake_must_be_strictly_above_the_minimum(signer_config):
    """The subnet's API: alpha stake > minimum. Equal is not enough."""
    refused = dave_with(signer_config, SIGNER_MIN_VALIDATOR_STAKE="5000")
    assert refused.status_code == 403
    assert refused.json == {
        "error": "insufficient_stake",
        "detail": "validator alpha stake 5000 is not above the minimum of 5000 alpha",
    }
    at_least = dave_with(
        signer_config,
        SIGNER_MIN_VALIDATOR_STAKE="5000",
        SIGNER_VALIDATOR_STAKE_RULE="alpha-at-least",
    )
    assert at_least.status_code == 200


def test_root_stake_does_not_make_a_validator(signer_config):
    """Dave's total stake (25,000, mostly root TAO) passes 20,000; his alpha (5,000) does not."""
    refused = dave_with(signer_config)
    assert refused.status_code == 403
    assert refused.json["detail"] == (
        "validator alpha stake 5000 is not above the minimum of 20000 alpha"
    )
    by_total = dave_with(signer_config, SIGNER_VALIDATOR_STAKE_RULE="total-above")
    assert by_total.status_code == 200
    at_total = dave_with(
        signer_config, SIGNER_VALIDATOR_STAKE_RULE="total-above", SIGNER_MIN_VALIDATOR_STAKE="25000"
    )
    assert at_total.json["detail"] == (
        "validator total stake 25000 is not above the minimum of 25000 alpha"
    )


# --- malformed requests -----------------------------------------------------------------


def test_malformed_json_is_400(client):
    response = client.post(
        "/get-folder-access", data='{"hotkey": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json == {
        "error": "invalid_request",
        "detail": "the request body is not valid JSON (Expecting value: line 1 column 12 "
        "(char 11))",
    }


def test_body_that_is_not_json_is_400(client):
    response = client.post("/get-folder-access", data="hotkey=x", content_type="text/plain")
    assert response.status_code == 400
    assert "application/json" in response.json["detail"]


def test_missing_fields_are_422_and_named(client):
    body = sc.folder_access()
    del body["coldkey"], body["signature"]
    response = client.post("/get-folder-access", json=body)
    assert response.status_code == 422
    assert response.json["error"] == "invalid_request"
    assert {f["field"] for f in response.json["fields"]} == {"coldkey", "signature"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", "1795626000"),
        ("timestamp", 1795626000.5),
        ("timestamp", True),
        ("hotkey", 12345),
        ("hotkey", "5NotAnSS58Address<script>alert(1)</script>"),
        ("signature", ["ab"]),
    ],
)
def test_wrong_types_are_422_without_echoing_the_value(client, field, value):
    body = {**sc.folder_access(), field: value}
    response = client.post("/get-folder-access", json=body)
    assert response.status_code == 422
    assert [f["field"] for f in response.json["fields"]] == [field]
    assert str(value) not in response.get_data(as_text=True)


def test_json_that_is_not_an_object_is_422(client):
    response = client.post("/get-folder-access", json=[1, 2])
    assert response.status_code == 422
    assert response.json["error"] == "invalid_request"


def test_oversized_body_is_413_json(client):
    body = {**sc.folder_access(), "padding": "x" * 20000}
    response = client.post("/get-folder-access", json=body)
    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"


def test_wrong_method_and_unknown_path_are_json(client):
    wrong = client.get("/get-folder-access")
    assert wrong.status_code == 405
    assert wrong.json["error"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]
    missing = client.post("/no-such-thing", json={})
    assert missing.status_code == 404
    assert missing.json["error"] == "not_found"


# --- service state ----------------------------------------------------------------------


def test_no_snapshot_is_503(signer_config, tmp_path):
    config = {**signer_config, "SIGNER_METAGRAPH": str(tmp_path / "absent.json")}
    response = create_app(config).test_client().post("/get-folder-access", json=sc.folder_access())
    assert response.status_code == 503
    assert response.json["error"] == "metagraph_unavailable"
    assert response.headers["Retry-After"] == "60"


def test_stale_snapshot_is_503(signer_config):
    # The demo snapshot was fetched at 16:00, an hour before NOW.
    config = {**signer_config, "SIGNER_METAGRAPH_MAX_AGE": "3599"}
    response = create_app(config).test_client().post("/get-folder-access", json=sc.folder_access())
    assert response.status_code == 503
    assert response.json["error"] == "metagraph_stale"


def test_snapshot_within_max_age_is_used(signer_config):
    config = {**signer_config, "SIGNER_METAGRAPH_MAX_AGE": "3600"}
    response = create_app(config).test_client().post("/get-folder-access", json=sc.folder_access())
    assert response.status_code == 200


def test_without_a_bucket_credentials_are_503(signer_config):
    config = {k: v for k, v in signer_config.items() if not k.startswith("S3_")}
    response = create_app(config).test_client().post("/get-folder-access", json=sc.folder_access())
    assert response.status_code == 503
    assert response.json["error"] == "bucket_not_configured"


def test_credentials_expire_at_epoch_end_plus_configured_grace(signer_config):
    config = {**signer_config, "SIGNER_UPLOAD_GRACE": "0", "SIGNER_MAX_UPLOAD_BYTES": "2048"}
    body = create_app(config).test_client().post("/get-folder-access", json=sc.folder_access()).json
    assert body["expiry"] == "2026-11-25T20:00:00Z"
    assert body["expiry_seconds"] == 3 * 3600
    assert ["content-length-range", 1, 2048] in policy_of(body["fields"])["conditions"]


def test_credentials_expire_at_the_documented_instant_from_a_clock_between_seconds(
    signer_config,
):
    # Whole seconds were counted from a clock between seconds (17:00:00.25): the grant
    # expired at 20:14:59Z, a second before the documented end of the epoch plus the grace.
    client = create_app({**signer_config, "NOW": lambda: sc.NOW + 0.25}).test_client()
    folder = client.post("/get-folder-access", json=sc.folder_access()).json
    upload = client.post("/api/v1/s3-access/validator-upload", json=sc.validator_upload()).json
    for body in (folder, upload):
        assert body["expiry"] == "2026-11-25T20:15:00Z"
        assert body["expiry_seconds"] == 3 * 3600 + 900
    file = client.post("/get-file-upload-url", json=sc.file_upload()).json
    assert file["expires_in_seconds"] == 3 * 3600 + 900


def test_request_log_has_hotkey_and_outcome_but_no_secret(signer_config, caplog):
    caplog.set_level("INFO", logger="signer")
    client = create_app({**signer_config, "SIGNER_RATELIMIT_MINER": "1/hour"}).test_client()
    body = sc.folder_access()
    client.post("/get-folder-access", json=body)
    bad = {**sc.folder_access(), "signature": "cd" * 64}
    client.post("/get-folder-access", json=bad)
    client.post("/get-folder-access", json=body)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "signer.access"]
    assert [(line["status"], line["outcome"], line["verified"]) for line in lines] == [
        (200, "ok", True),
        (401, "invalid_signature", False),
        (429, "rate_limited", True),
    ]
    assert {line["hotkey"] for line in lines} == {sc.address("//Bob")}
    assert all(line["endpoint"] == "/get-folder-access" for line in lines)
    assert all(isinstance(line["latencyMs"], float) for line in lines)
    text = caplog.text
    assert body["signature"] not in text
    assert bad["signature"] not in text
    assert "test-secret-never-shown" not in text


def test_no_response_carries_the_secret_key(client):
    for path, make in ENDPOINTS:
        assert "test-secret-never-shown" not in client.post(path, json=make()).get_data(True)


def test_demo_metagraph_matches_the_documented_keys():
    demo = json.loads(
        (Path(__file__).resolve().parents[1] / "data" / "metagraph.demo.json").read_text()
    )
    rows = {n["hotkey"]: n for n in demo["neurons"]}
    assert demo["netuid"] == 46
    assert rows[sc.address("//Alice")]["validatorPermit"] is True
    assert rows[sc.address("//Alice")]["stake"] > 20000
    assert rows[sc.address("//Dave")]["validatorPermit"] is True
    assert rows[sc.address("//Dave")]["stake"] < 20000 < rows[sc.address("//Dave")]["totalStake"]
    for miner in ("//Bob", "//Charlie"):
        assert rows[sc.address(miner)]["coldkey"] == sc.address(f"{miner}//stash")
        assert rows[sc.address(miner)]["validatorPermit"] is False
    assert sc.address("//Eve") not in rows


def test_unexpected_failure_is_a_json_500_without_internals(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom: internal detail")

    monkeypatch.setattr("signer.credentials.presigned_post", broken)
    response = client.post("/get-folder-access", json=sc.folder_access())
    assert response.status_code == 500
    assert response.json == {
        "error": "internal_error",
        "detail": "internal error; the operator has the log",
    }
    assert "boom" not in response.get_data(as_text=True)


def test_body_that_is_a_json_string_is_422(client):
    response = client.post("/get-folder-access", data='"hello"', content_type="application/json")
    assert response.status_code == 422
    assert response.json["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("name", "says"), [("publshed", "does not exist"), ("afile", "is not a folder")]
)
def test_readyz_is_not_ready_while_the_published_folder_is_missing(
    signer_config, tmp_path, monkeypatch, name, says
) -> None:
    """A mistyped SIGNER_PUBLISHED folder started a ready signer answering every current
    assignment "no current.json has been published yet", as if the planner had not run."""
    (tmp_path / "afile").write_text("")
    monkeypatch.chdir(tmp_path)
    response = create_app({**signer_config, "SIGNER_PUBLISHED": name}).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["ready"] is False
    assert response.json["publishedProblem"] == (
        f"the published folder {tmp_path / name} (SIGNER_PUBLISHED) {says}: check the path, "
        "the planner's PLANNER_PUBLISHED (its first `planner tick` creates the folder); "
        "until then every current assignment is a 503 not_revealed"
    )


def test_readyz_is_ready_with_a_published_folder_that_holds_nothing_yet(client) -> None:
    """An empty folder is a planner that has revealed nothing yet, not a wrong path."""
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["publishedProblem"] is None
