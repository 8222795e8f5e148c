"""What the S3 server receives, over TLS: plain bodies that DigitalOcean Spaces accepts.

Spaces refuses the uploads botocore 1.36+ sends by default over HTTPS (aws-chunked body,
STREAMING-UNSIGNED-PAYLOAD-TRAILER, a CRC32 trailer); SeaweedFS accepts them, and over plain
HTTP botocore does not stream at all. So every client the project builds talks HTTPS to a
recording proxy in front of SeaweedFS, and each request is checked as the proxy received it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from clientkit import upload
from planner import doctor, store
from planner.cli import Context, cli
from planner.config import Settings
from signer import create_app

from conftest import REPO, SECRET
from servers import signer_client as bodies
from servers.drand_relay import TEST_ROUND
from servers.seaweed import S3Endpoint
from servers.tls_recorder import TLSRecorder, tls_recorder

pytestmark = pytest.mark.s3


@pytest.fixture
def proxy(
    s3_server: S3Endpoint, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TLSRecorder]:
    """HTTPS in front of the test S3 server, trusted by botocore and requests."""
    if not s3_server.managed:
        pytest.skip("the recording proxy fronts the local SeaweedFS; S3_TEST_* is tested as is")
    for name in list(os.environ):
        if name.startswith(("PLANNER_", "SPACES_", "AWS_")):
            monkeypatch.delenv(name)
    with tls_recorder(s3_server.endpoint_url, tmp_path) as recorder:
        monkeypatch.setenv("AWS_CA_BUNDLE", str(recorder.certificate))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(recorder.certificate))
        yield recorder


def assert_plain_uploads(recorder: TLSRecorder) -> None:
    uploads = recorder.uploads()
    assert uploads, "nothing was uploaded through the proxy"
    problems = {f"{r.method} {r.path}": r.streaming_problems() for r in uploads}
    assert {k: v for k, v in problems.items() if v} == {}


def planner_env(server: S3Endpoint, proxy: TLSRecorder, bucket: str, tmp_path) -> dict[str, str]:
    return {
        "PLANNER_DATA": str(REPO / "data/zipcodes.csv"),
        "PLANNER_PRIORITIES": str(REPO / "data/state_priorities.txt"),
        "PLANNER_STATE": str(tmp_path / "state"),
        "PLANNER_SECRET": SECRET.decode(),
        "PLANNER_DAYS": "1",
        "SPACES_ENDPOINT_URL": proxy.url,
        "SPACES_REGION": server.region,
        "SPACES_BUCKET": bucket,
        "SPACES_KEY": server.access_key,
        "SPACES_SECRET": server.secret_key,
    }


def test_botocore_defaults_stream_a_trailer_over_tls(
    proxy: TLSRecorder, s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """What the proxy is for: a client with botocore's defaults sends what Spaces refuses."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=proxy.url,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.put_object(Bucket=s3_bucket, Key="default.txt", Body=b"hello")
    (put,) = proxy.uploads()
    assert any(p.startswith("x-amz-content-sha256: STREAMING-") for p in put.streaming_problems())
    assert "Content-Encoding: aws-chunked" in put.streaming_problems()


def test_the_shared_client_configuration_asks_checksums_only_when_required() -> None:
    config = store.s3_config(s3={"addressing_style": "path"})
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.signature_version == "s3v4"


def test_planner_tick_publishes_plain_bodies(
    proxy: TLSRecorder, s3_server: S3Endpoint, s3_bucket: str, tmp_path
) -> None:
    env = planner_env(s3_server, proxy, s3_bucket, tmp_path)
    context = Context(Settings.from_env(env), round_for=lambda epoch: TEST_ROUND)
    result = CliRunner().invoke(cli, ["tick"], obj=context)
    assert result.exit_code == 0, result.output
    keys = {r.path.split("?")[0].removeprefix(f"/{s3_bucket}/") for r in proxy.uploads()}
    assert {"index.json", "_planner/planner-state.enc"} <= keys
    assert any(key.startswith("sealed/") for key in keys)
    assert_plain_uploads(proxy)


def test_doctor_checks_what_its_uploads_send(
    proxy: TLSRecorder, s3_server: S3Endpoint, s3_bucket: str, tmp_path
) -> None:
    s3_server.allow_anonymous_read(s3_bucket, doctor.PUBLISHED_PREFIXES)
    env = planner_env(s3_server, proxy, s3_bucket, tmp_path)
    report = doctor.check_bucket(Settings.from_env(env).bucket)  # type: ignore[arg-type]
    assert [s.line for s in report.steps if s.name == "plain uploads"] == [
        "ok   plain uploads: sent without aws-chunked encoding or checksum trailers "
        "(what DigitalOcean Spaces accepts)"
    ]
    assert report.ok, [s.line for s in report.steps]
    assert_plain_uploads(proxy)


def test_doctor_fails_a_client_that_streams_trailers(
    proxy: TLSRecorder,
    s3_server: S3Endpoint,
    s3_bucket: str,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "CHECKSUMS_WHEN_REQUIRED", {})
    s3_server.allow_anonymous_read(s3_bucket, doctor.PUBLISHED_PREFIXES)
    env = planner_env(s3_server, proxy, s3_bucket, tmp_path)
    report = doctor.check_bucket(Settings.from_env(env).bucket)  # type: ignore[arg-type]
    (line,) = [s.line for s in report.steps if s.name == "plain uploads"]
    assert line.startswith("FAIL plain uploads: the upload was sent with Content-Encoding: ")
    assert "aws-chunked" in line
    assert "request_checksum_calculation" in line
    assert not report.ok


def test_signer_credentials_and_client_kit_upload_plain_bodies(
    proxy: TLSRecorder,
    s3_server: S3Endpoint,
    s3_bucket: str,
    signer_config: dict[str, Any],
) -> None:
    signer = create_app(
        {
            **signer_config,
            **s3_server.signer_settings(s3_bucket, endpoint_url=proxy.url),
            "NOW": time.time,
        }
    ).test_client()
    answer = signer.post(
        "/get-folder-access", json=bodies.folder_access(timestamp=int(time.time()))
    )
    assert answer.status_code == 200, answer.get_json()
    post = answer.get_json()
    assert post["url"].startswith(proxy.url)
    key = upload(post, "listings.json", b'{"listings": []}')
    assert s3_server.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read() == (
        b'{"listings": []}'
    )
    (sent,) = proxy.uploads()
    assert sent.method == "POST"
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert_plain_uploads(proxy)
