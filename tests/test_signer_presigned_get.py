"""Presigned GETs: the signer's URL is botocore's `generate_presigned_url`, byte for byte.

The signer finds a bucket's object URLs once per client and has botocore's S3SigV4QueryAuth
sign each key (signer/credentials.py). Both are compared at one frozen time (botocore.auth
reads the clock through `get_current_datetime`) for the addressing styles and endpoints the
signer is configured with; a real S3 server then serves awkward keys from the URLs.
"""

from __future__ import annotations

import time
from datetime import datetime
from functools import cache
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.store import s3_config
from signer import create_app
from signer.config import load_settings
from signer.credentials import make_client, object_urls, presigned_get

from servers import signer_client as bodies

BUCKET = "subnet46-data"
SIGNED_AT = datetime(2026, 11, 25, 17, 3, 4)
# One of each shape of client the signer builds (make_client): custom endpoints with and
# without a port (default or not) or a path, each addressing style, and AWS itself.
CLIENTS = {
    "port-path": {"S3_ENDPOINT_URL": "http://127.0.0.1:8333"},
    "port-virtual": {
        "S3_ENDPOINT_URL": "http://s3.example.test:8333",
        "S3_ADDRESSING_STYLE": "virtual",
    },
    "path-prefix": {"S3_ENDPOINT_URL": "http://127.0.0.1:8333/s3/"},
    "default-port": {"S3_ENDPOINT_URL": "https://s3.example.test:443"},
    "no-port-path": {"S3_ENDPOINT_URL": "https://nyc3.digitaloceanspaces.com", "S3_REGION": "nyc3"},
    "no-port-virtual": {
        "S3_ENDPOINT_URL": "https://nyc3.digitaloceanspaces.com",
        "S3_REGION": "nyc3",
        "S3_ADDRESSING_STYLE": "virtual",
    },
    "aws-virtual": {"S3_REGION": "us-east-2"},
    "aws-path": {"S3_REGION": "eu-west-1", "S3_ADDRESSING_STYLE": "path"},
    "aws-auto": {"S3_ADDRESSING_STYLE": "auto"},
}
KEYS = [
    "data/hotkey=5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty/epoch=2026-11-25T16-00-00/1.json",
    "a b",
    "a+b",
    "100%",
    "%2F%20",
    "~tilde~",
    "k=v&x=y",
    "why?",
    "#fragment",
    "a//b",
    "/leading",
    "dir/",
    "..",
    "émoji 😀 中文",
    "tab\tnew\nline\x00nul",
    "!$'()*,;:@[]{}|^`\\\"<>",
    "x" * 1024,
    "é" * 512,
]
# Keys from pieces botocore and a careless encoder treat differently, and from anything.
PIECES = st.sampled_from(["+", "%", "~", "=", "?", "#", "&", "//", "/", " ", "%2B", "..", "é"])
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
ANY_KEY = st.lists(st.one_of(PIECES, TEXT), min_size=1, max_size=30).map("".join).filter(bool)


@cache
def client_named(name: str):
    """The signer's client for CLIENTS[name], one per test session."""
    return client_for(CLIENTS[name])


def client_for(env: dict[str, str]):
    return make_client(
        load_settings(
            {
                "SIGNER_METAGRAPH": "m.json",
                "S3_BUCKET": BUCKET,
                "S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
                "S3_SECRET_ACCESS_KEY": "secret",
                **env,
            }
        )
    )


@pytest.fixture(params=list(CLIENTS))
def client(request):
    return client_named(request.param)


def botocore_url(client, key: str, expires_in: int = 900) -> str:
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=expires_in
    )


def both(client, key: str, expires_in: int = 900) -> tuple[str, str]:
    """The signer's URL and botocore's, signed at the same frozen time."""
    with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNED_AT):
        return presigned_get(client, BUCKET, key, expires_in), botocore_url(client, key, expires_in)


@pytest.mark.parametrize("key", KEYS, ids=range(len(KEYS)))
def test_the_url_is_botocores_byte_for_byte(client, key):
    ours, theirs = both(client, key)
    assert ours == theirs


@settings(max_examples=300, deadline=None)
@given(key=ANY_KEY, expires_in=st.integers(1, 604800))
def test_any_key_gets_botocores_url(key, expires_in):
    for name in CLIENTS:
        ours, theirs = both(client_named(name), key, expires_in)
        assert ours == theirs, name


def test_the_key_is_encoded_as_botocores_serializer_does():
    """Spelled out, so a wrong encoder fails here even if botocore changed: `~` and `/` stay,
    `+`, `%`, `=`, `?`, `#`, space and non-ASCII are percent-encoded (UTF-8)."""
    client = client_for(CLIENTS["port-path"])
    url = presigned_get(client, BUCKET, "a+b~c%d=e?f#g h/é", 60)
    assert urlsplit(url).path == f"/{BUCKET}/a%2Bb~c%25d%3De%3Ff%23g%20h/%C3%A9"


def test_botocore_finds_where_a_buckets_objects_are_once_per_client():
    client = client_for(CLIENTS["no-port-virtual"])
    with mock.patch.object(
        client, "generate_presigned_url", wraps=client.generate_presigned_url
    ) as botocore:
        for n in range(50):
            presigned_get(client, BUCKET, f"file-{n}", 60)
    assert botocore.call_count == 1
    urls = object_urls(client, BUCKET)
    assert urls is not None
    assert urls.base == f"https://{BUCKET}.nyc3.digitaloceanspaces.com/"
    assert (urls.host, urls.region, urls.service) == (
        f"{BUCKET}.nyc3.digitaloceanspaces.com",
        "nyc3",
        "s3",
    )


def test_temporary_credentials_sign_with_their_session_token():
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:8333",
        region_name="us-east-1",
        aws_access_key_id="ASIAEXAMPLE",
        aws_secret_access_key="secret",
        aws_session_token="token/with+odd=chars",
        config=s3_config(s3={"addressing_style": "path"}),
    )
    ours, theirs = both(client, "a+b c")
    assert ours == theirs
    assert "X-Amz-Security-Token=token%2Fwith%2Bodd%3Dchars" in ours


def test_a_client_whose_urls_carry_more_than_a_signature_is_left_to_botocore():
    """An event handler adding a parameter to every GetObject (here a response header)
    changes botocore's URL; the signer cannot reproduce that, so botocore signs each key."""

    def no_store(params, **_):
        params["ResponseCacheControl"] = "no-store"

    client = client_for(CLIENTS["port-path"])
    client.meta.events.register("before-parameter-build.s3.GetObject", no_store)
    assert object_urls(client, BUCKET) is None
    ours, theirs = both(client, "a+b")
    assert ours == theirs
    assert "response-cache-control=no-store" in ours


# --- against a real S3 server ---------------------------------------------------------------

MINER = bodies.address("//Bob")
# Names after a miner's folder. Not a name ending in `/`: SeaweedFS keeps such a key as a
# folder and serves it empty (its URL is compared with botocore's above).
AWKWARD = [
    "plain.json",
    "with space.json",
    "plus+sign.json",
    "percent%25and%.json",
    "tilde~.json",
    "equals=and&amp.json",
    "question?.json",
    "hash#.json",
    "émoji 😀 中文.json",
    "quotes'\"<>.json",
    "deep/er/path/f.json",
    "double//slash.json",
    "x" * 200 + ".json",
]


@pytest.mark.s3
def test_a_real_server_serves_awkward_keys_from_their_urls(signer_config, s3_server, s3_bucket):
    folder = f"data/hotkey={MINER}/epoch={bodies.EPOCH}/job_id=j/"
    keys = [folder + name for name in AWKWARD]
    admin = s3_server.client()
    for n, key in enumerate(keys):
        admin.put_object(Bucket=s3_bucket, Key=key, Body=f"{n}:{key}".encode())
    signer = create_app(
        {
            **signer_config,
            **s3_server.signer_settings(s3_bucket),
            "NOW": time.time,
        }
    ).test_client()
    response = signer.post(
        "/get-file-presigned-urls",
        json=bodies.miner_files(keys=keys, timestamp=int(time.time())),
    )
    assert response.status_code == 200, response.get_json()
    urls = response.get_json()["file_urls"]
    assert set(urls) == set(keys)
    for n, key in enumerate(keys):
        got = requests.get(urls[key]["presigned_url"], timeout=10)
        assert got.status_code == 200, (key, got.text)
        assert got.content == f"{n}:{key}".encode()
