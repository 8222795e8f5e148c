"""Presigning: computed offline by boto3 from dummy credentials, checked by decoding it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from clientkit.epochs import epoch_from_id
from signer.config import load_settings
from signer.credentials import (
    make_client,
    miner_folder,
    presigned_list,
    presigned_post,
    upload_lifetime,
    validator_folder,
)

EPOCH = epoch_from_id("2026-11-25T16-00-00")


def client_for(**env):
    return make_client(
        load_settings(
            {
                "SIGNER_METAGRAPH": "m.json",
                "S3_BUCKET": "bucket",
                "S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
                "S3_SECRET_ACCESS_KEY": "secret",
                **env,
            }
        )
    )


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, 25, hour, minute, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("now", "grace", "seconds"),
    [
        (at(16), 0, 4 * 3600),
        (at(19, 59), 900, 960),
        (at(19, 59) + 0.25, 900, 960),
        (at(20, 30), 900, 1),
        (at(17), 10**7, 604800),
    ],
    ids=["epoch-start", "near-end", "between-seconds-rounded-up", "past-grace", "capped-at-7-days"],
)
def test_upload_lifetime_runs_to_epoch_end_plus_grace(now, grace, seconds):
    assert upload_lifetime(now, EPOCH, grace) == seconds


def test_folders():
    assert miner_folder("5Hot", EPOCH.id) == "data/hotkey=5Hot/epoch=2026-11-25T16-00-00/"
    assert validator_folder("5Val", EPOCH.id) == "validators/5Val/epoch=2026-11-25T16-00-00/"


def test_presigned_post_policy_confines_key_and_size():
    folder = miner_folder("5Hot", EPOCH.id)
    post = presigned_post(client_for(), "bucket", folder, 5000, 600)
    policy = json.loads(base64.b64decode(post["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["starts-with", "$key", folder] in conditions
    assert ["content-length-range", 1, 5000] in conditions
    assert {"bucket": "bucket"} in conditions
    assert not [c for c in conditions if isinstance(c, dict) and "key" in c]
    assert ["eq", "$Content-Type", "binary/octet-stream"] in conditions
    assert post["fields"]["Content-Type"] == "binary/octet-stream"
    for field in ("acl", "Cache-Control", "Content-Disposition", "Content-Encoding", "Expires"):
        assert ["eq", f"${field}", ""] in conditions
        assert field not in post["fields"]
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert post["fields"]["x-amz-credential"].startswith("AKIAEXAMPLE/")
    assert "secret" not in json.dumps(post)


def test_custom_endpoints_are_path_style_and_aws_is_virtual_hosted():
    local = client_for(S3_ENDPOINT_URL="http://127.0.0.1:8333")
    path_style = presigned_list(local, "bucket", "p/", 60)
    assert urlsplit(path_style).netloc == "127.0.0.1:8333"
    assert urlsplit(path_style).path == "/bucket"
    aws = presigned_list(client_for(S3_REGION="us-east-2"), "bucket", "p/", 60)
    assert urlsplit(aws).netloc == "bucket.s3.us-east-2.amazonaws.com"


def test_presigned_list_carries_prefix_delimiter_and_token():
    url = presigned_list(
        client_for(), "bucket", "data/hotkey=", 900, delimiter="/", continuation_token="tok/+="
    )
    params = parse_qs(urlsplit(url).query)
    assert params["list-type"] == ["2"]
    assert params["prefix"] == ["data/hotkey="]
    assert params["delimiter"] == ["/"]
    assert params["continuation-token"] == ["tok/+="]
    assert params["X-Amz-Expires"] == ["900"]
    assert params["X-Amz-SignedHeaders"] == ["host"]
