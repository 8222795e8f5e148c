"""LocalStore and S3Store behave alike; S3Store runs against a real S3 server (see conftest)."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from botocore.awsrequest import AWSPreparedRequest

from planner.store import LocalStore, S3Store, Store, StoreError

from servers.seaweed import S3Endpoint, free_ports

JSON = "application/json"
SHORT = "public, max-age=30"


def s3_store(server: S3Endpoint, bucket: str, **options: object) -> S3Store:
    settings: dict[str, object] = {
        "bucket": bucket,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "path_style": True,
        "max_attempts": 2,
    }
    settings.update(options)
    return S3Store(**settings)  # type: ignore[arg-type]


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "published")
    server = request.getfixturevalue("s3_server")
    return s3_store(server, request.getfixturevalue("s3_bucket"))


def test_round_trip_and_replace(store: Store) -> None:
    store.put("epochs/a.json", b'{"a": 1}', content_type=JSON, cache_control=SHORT)
    assert store.get("epochs/a.json") == b'{"a": 1}'
    store.put("epochs/a.json", b"\x00\xffbinary", content_type=JSON, cache_control=SHORT)
    assert store.get("epochs/a.json") == b"\x00\xffbinary"


def test_missing_object_is_none(store: Store) -> None:
    store.put("present.json", b"{}", content_type=JSON, cache_control=SHORT)
    assert store.get("absent.json") is None
    assert store.get("present.json/inner") is None


def test_keys_filters_by_prefix_and_sorts(store: Store) -> None:
    for key in ["sealed/b.tlock", "sealed/a.tlock", "sealed-not/x", "index.json", "epochs/a.json"]:
        store.put(key, b"x", content_type=JSON, cache_control=SHORT)
    assert store.keys("sealed/") == ["sealed/a.tlock", "sealed/b.tlock"]
    assert store.keys("sealed") == ["sealed-not/x", "sealed/a.tlock", "sealed/b.tlock"]
    assert store.keys() == sorted(
        ["epochs/a.json", "index.json", "sealed-not/x", "sealed/a.tlock", "sealed/b.tlock"]
    )
    assert store.keys("nothing/") == []


def test_keys_lists_past_one_page(store: Store) -> None:
    """S3 answers at most 1000 keys per request: every page must be read."""
    wanted = [f"epochs/{n:05d}.json" for n in range(1105)]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda k: store.put(k, b"{}", content_type=JSON, cache_control=SHORT), wanted)
        )
    store.put("index.json", b"{}", content_type=JSON, cache_control=SHORT)
    assert store.keys("epochs/") == wanted


@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "/absolute"])
def test_refuses_keys_outside_the_store(store: Store, key: str) -> None:
    with pytest.raises(StoreError, match="refusing key"):
        store.put(key, b"x", content_type=JSON, cache_control=SHORT)
    with pytest.raises(StoreError, match="refusing key"):
        store.get(key)


def test_local_error_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "published").write_text("a file where a folder should be")
    store = LocalStore(tmp_path / "published")
    with pytest.raises(StoreError, match=r"published/index\.json"):
        store.put("index.json", b"{}", content_type=JSON, cache_control=SHORT)
    named = LocalStore(tmp_path / "published", setting="PLANNER_PUBLISHED")
    with pytest.raises(StoreError) as caught:
        named.put("index.json", b"{}", content_type=JSON, cache_control=SHORT)
    assert str(caught.value).startswith(
        f"cannot write {tmp_path}/published/index.json (PLANNER_PUBLISHED is "
        f"{tmp_path}/published): "
    )


def test_a_put_removes_what_writers_killed_mid_write_left(tmp_path: Path) -> None:
    """A put killed mid-write (kill -9) left its `.<name>.XXXXXXXX.tmp` for good: keys()
    hides dot-files and nothing removed them. A later put into the folder removes those an
    hour old, whichever file they were for; a live writer's, younger, and files that are
    not the store's temporary files stay."""
    folder = tmp_path / "published/epochs"
    folder.mkdir(parents=True)
    an_hour_ago = time.time() - 3600 - 60
    left = [".a.json.k3j_x9q2.tmp", ".b.json.abcdefgh.tmp", ".write-probe.zz9_0aab"]
    others = [".hidden", "notes.tmp", ".a.json.tmp", ".a.json.ABCDEFGH.tmp"]
    for name in [*left, *others]:
        (folder / name).write_bytes(b"half")
        os.utime(folder / name, (an_hour_ago, an_hour_ago))
    (folder / ".a.json.qwertyui.tmp").write_bytes(b"being written")
    LocalStore(tmp_path / "published").put(
        "epochs/a.json", b"{}", content_type=JSON, cache_control=SHORT
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["a.json", ".a.json.qwertyui.tmp", *others]
    )


@pytest.mark.s3
def test_s3_head_shows_content_type_cache_control_and_md5(
    s3_server: S3Endpoint, s3_bucket: str
) -> None:
    store = s3_store(s3_server, s3_bucket)
    body = b'{"epochId": "2026-11-25T16-00-00"}'
    store.put("current.json", body, content_type=JSON, cache_control=SHORT)
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="current.json")
    assert head["ContentType"] == JSON
    assert head["CacheControl"] == SHORT
    assert head["ETag"].strip('"') == hashlib.md5(body).hexdigest()


@pytest.mark.s3
@pytest.mark.parametrize("acl", ["public-read", "private", None])
def test_s3_put_sends_acl_and_content_md5(
    s3_server: S3Endpoint, s3_bucket: str, acl: str | None
) -> None:
    store = s3_store(s3_server, s3_bucket, acl=acl)
    sent: list[dict[str, str]] = []

    def record(request: AWSPreparedRequest, **_: object) -> None:
        sent.append(
            {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        )

    store.client.meta.events.register("before-send.s3.PutObject", record)
    store.put("index.html", b"<html></html>", content_type="text/html", cache_control=SHORT)
    (headers,) = sent
    assert headers.get("x-amz-acl") == acl
    digest = base64.b64encode(hashlib.md5(b"<html></html>").digest()).decode()
    assert headers["Content-MD5"] == digest


@pytest.mark.s3
def test_s3_prefix_confines_keys(s3_server: S3Endpoint, s3_bucket: str) -> None:
    outside = s3_store(s3_server, s3_bucket)
    inside = s3_store(s3_server, s3_bucket, prefix="/planner/")
    outside.put("index.json", b"root", content_type=JSON, cache_control=SHORT)
    inside.put("index.json", b"inside", content_type=JSON, cache_control=SHORT)
    assert inside.get("index.json") == b"inside"
    assert outside.get("planner/index.json") == b"inside"
    assert outside.get("index.json") == b"root"
    assert inside.keys() == ["index.json"]
    assert outside.keys() == ["index.json", "planner/index.json"]
    assert inside.describe() == f"s3://{s3_bucket}/planner/ @ {s3_server.endpoint_url}"


@pytest.mark.s3
def test_s3_published_objects_public_and_state_private(
    s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """The deployment shape: public prefixes readable by anyone, the planner's state by no one."""
    s3_server.allow_anonymous_read(s3_bucket, ["epochs/", "index.json"])
    public = s3_store(s3_server, s3_bucket, acl="public-read")
    private = s3_store(s3_server, s3_bucket, acl="private")
    public.put("epochs/a.json", b'{"a": 1}', content_type=JSON, cache_control=SHORT)
    private.put("planner-state.enc", b"sealed state", content_type=JSON, cache_control="no-store")
    response = requests.get(s3_server.url(s3_bucket, "epochs/a.json"), timeout=10)
    assert response.status_code == 200
    assert response.content == b'{"a": 1}'
    assert response.headers["Content-Type"] == JSON
    denied = requests.get(s3_server.url(s3_bucket, "planner-state.enc"), timeout=10)
    assert denied.status_code == 403
    assert b"sealed state" not in denied.content
    assert requests.get(s3_server.url(s3_bucket), timeout=10).status_code == 403


@pytest.mark.s3
def test_s3_private_object_not_anonymous(s3_server: S3Endpoint, s3_bucket: str) -> None:
    store = s3_store(s3_server, s3_bucket, acl="private")
    store.put("planner-state.enc", b"secret bytes", content_type=JSON, cache_control="no-store")
    response = requests.get(s3_server.url(s3_bucket, "planner-state.enc"), timeout=10)
    assert response.status_code == 403
    assert b"secret bytes" not in response.content


def assert_clean(error: StoreError, server: S3Endpoint, *secrets: str) -> None:
    message = str(error)
    for secret in (server.secret_key, server.access_key, *secrets):
        assert secret not in message


@pytest.mark.s3
def test_s3_wrong_secret_names_bucket_key_and_code(s3_server: S3Endpoint, s3_bucket: str) -> None:
    wrong = "wrong-secret-" + "x" * 20
    store = s3_store(s3_server, s3_bucket, secret_key=wrong)
    for call in (
        lambda: store.get("index.json"),
        lambda: store.put("index.json", b"{}", content_type=JSON, cache_control=SHORT),
    ):
        with pytest.raises(StoreError) as caught:
            call()
        assert f"s3://{s3_bucket}/index.json" in str(caught.value)
        assert "SignatureDoesNotMatch" in str(caught.value)
        assert_clean(caught.value, s3_server, wrong)
    with pytest.raises(StoreError, match="SignatureDoesNotMatch") as caught:
        store.keys("epochs/")
    assert f"s3://{s3_bucket}/epochs/" in str(caught.value)


@pytest.mark.s3
def test_s3_unknown_access_key(s3_server: S3Endpoint, s3_bucket: str) -> None:
    store = s3_store(s3_server, s3_bucket, access_key="AKNOTKNOWN0000000000")
    with pytest.raises(StoreError, match="InvalidAccessKeyId") as caught:
        store.get("index.json")
    assert "AKNOTKNOWN0000000000" not in str(caught.value)
    assert_clean(caught.value, s3_server)


@pytest.mark.s3
def test_s3_missing_bucket_is_an_error_not_none(s3_server: S3Endpoint) -> None:
    bucket = f"{s3_server.bucket_prefix}missing-{uuid.uuid4().hex[:8]}"
    store = s3_store(s3_server, bucket)
    with pytest.raises(
        StoreError, match=r"NoSuchBucket \(HTTP 404\): the bucket does not exist"
    ) as caught:
        store.get("index.json")
    assert f"s3://{bucket}/index.json" in str(caught.value)
    assert_clean(caught.value, s3_server)


def test_s3_unreachable_endpoint() -> None:
    (port,) = free_ports(1)
    store = S3Store(
        bucket="b",
        access_key="AKIDEXAMPLE",
        secret_key="never-shown-secret",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        max_attempts=1,
        timeout=2,
    )
    with pytest.raises(StoreError, match="EndpointConnectionError") as caught:
        store.get("index.json")
    assert f"s3://b/index.json @ http://127.0.0.1:{port}" in str(caught.value)
    assert "never-shown-secret" not in str(caught.value)
    assert "AKIDEXAMPLE" not in str(caught.value)


class Overloaded(BaseHTTPRequestHandler):
    """An S3 endpoint that is always overloaded, counting the requests it turns away."""

    seen = 0
    lock = threading.Lock()
    body = (
        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    )

    def do_GET(self) -> None:
        with self.lock:
            type(self).seen += 1
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def overloaded() -> Iterator[str]:
    Overloaded.seen = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Overloaded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_s3_retries_transient_errors_then_reports(overloaded: str) -> None:
    store = S3Store(
        bucket="pub",
        access_key="AKIDEXAMPLE",
        secret_key="never-shown-secret",
        endpoint_url=overloaded,
        region="us-east-1",
        path_style=True,
        max_attempts=3,
    )
    with pytest.raises(StoreError) as caught:
        store.get("index.json")
    assert Overloaded.seen == 3
    assert str(caught.value) == (
        f"cannot read s3://pub/index.json @ {overloaded}: SlowDown (HTTP 503)"
    )


def test_s3_describe_names_bucket_prefix_and_endpoint_only() -> None:
    store = S3Store(
        bucket="pub",
        access_key="AKIDEXAMPLE",
        secret_key="never-shown-secret",
        endpoint_url="https://nyc3.digitaloceanspaces.com",
        region="nyc3",
        prefix="site",
    )
    assert store.describe() == "s3://pub/site/ @ https://nyc3.digitaloceanspaces.com"


@pytest.mark.parametrize(
    ("option", "message"),
    [({"acl": "public-read-write"}, "acl must be one of"), ({"max_attempts": 0}, "max_attempts")],
)
def test_s3_rejects_bad_options(option: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"bucket": "b", "access_key": "a", "secret_key": "s"}
    with pytest.raises(ValueError, match=message):
        S3Store(**{**settings, **option})  # type: ignore[arg-type]
