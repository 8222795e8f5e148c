"""Every form field a client may send is pinned by the upload policy, against a real S3 server.

An open policy let a miner store an object as `text/html` (or with its own Cache-Control,
Content-Disposition, Content-Encoding, Expires, or a redirect after upload) inside its own
folder. The signer's POST policies now pin each of them; SeaweedFS (or the S3_TEST_*
endpoint) must refuse each tampered field and store nothing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from test_security_s3 import (
    PAYLOAD,
    current_epoch,
    miner_grant,
    signer_at,
    stored,
    validator_grant,
)

from signer.credentials import UPLOAD_CONTENT_TYPE

from servers.seaweed import S3Endpoint

pytestmark = pytest.mark.s3

TAMPERED = {
    "Content-Type": "text/html",
    "acl": "public-read",
    "Cache-Control": "public, max-age=31536000",
    "Content-Disposition": "inline; filename=index.html",
    "Content-Encoding": "gzip",
    "Expires": "Thu, 01 Dec 2094 16:00:00 GMT",
    "success_action_redirect": "http://attacker.invalid/",
    "x-amz-meta-owner": "someone-else",
}


@pytest.fixture
def signer(signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str) -> FlaskClient:
    return signer_at(signer_config, s3_server, s3_bucket)


def post_form(post: dict[str, Any], name: str, part_type: str | None = None, **changes: str):
    """The form as an attacker sends it: the answer's fields, a key in the folder, changes."""
    fields = {**post["fields"], "key": post["folder"] + name, **changes}
    part = (name, PAYLOAD) if part_type is None else (name, PAYLOAD, part_type)
    return requests.post(
        post["url"], data=fields, files={"file": part}, timeout=30, allow_redirects=False
    )


def conditions(post: dict[str, Any]) -> list[Any]:
    return json.loads(base64.b64decode(post["fields"]["policy"]))["conditions"]


def test_the_policy_pins_each_field_and_the_form_carries_the_content_type(
    signer: FlaskClient,
) -> None:
    post = miner_grant(signer)
    assert post["fields"]["Content-Type"] == UPLOAD_CONTENT_TYPE
    assert ["eq", "$Content-Type", UPLOAD_CONTENT_TYPE] in conditions(post)
    for field in ("acl", "Cache-Control", "Content-Disposition", "Content-Encoding", "Expires"):
        assert field not in post["fields"]
        assert ["eq", f"${field}", ""] in conditions(post)
    assert ["eq", "$success_action_redirect", ""] in conditions(post)


@pytest.mark.parametrize("field", list(TAMPERED))
def test_each_tampered_field_is_refused_and_nothing_is_stored(
    signer: FlaskClient,
    s3_server: S3Endpoint,
    s3_bucket: str,
    field: str,
) -> None:
    post = miner_grant(signer)
    response = post_form(post, "tampered.json", **{field: TAMPERED[field]})
    assert response.status_code == 403, (response.status_code, response.text)
    assert "Policy" in response.text
    assert stored(s3_server, s3_bucket) == {}


def test_the_untouched_form_stores_a_private_object_of_the_pinned_type(
    signer: FlaskClient,
    s3_server: S3Endpoint,
    s3_bucket: str,
) -> None:
    post = miner_grant(signer)
    response = post_form(post, "page.html", part_type="text/html")
    assert response.status_code in (200, 201, 204), response.text
    key = post["folder"] + "page.html"
    assert stored(s3_server, s3_bucket) == {key: PAYLOAD}
    head = s3_server.client().head_object(Bucket=s3_bucket, Key=key)
    assert head["ContentType"] == UPLOAD_CONTENT_TYPE
    for header in ("CacheControl", "ContentDisposition", "ContentEncoding", "Expires"):
        assert not head.get(header), header
    anonymous = requests.get(f"{s3_server.endpoint_url}/{s3_bucket}/{key}", timeout=30)
    assert anonymous.status_code == 403


def test_a_validator_form_is_pinned_the_same_way(
    signer: FlaskClient,
    s3_server: S3Endpoint,
    s3_bucket: str,
) -> None:
    post = validator_grant(signer, current_epoch())
    for field, value in TAMPERED.items():
        response = post_form(post, "scores.json", **{field: value})
        assert response.status_code == 403, (field, response.status_code)
    assert stored(s3_server, s3_bucket) == {}
