"""`planner doctor` against a real bucket: each step's verdict, exit code and cleanup."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from planner import doctor
from planner.cli import Context, cli
from planner.config import Settings

from conftest import SECRET
from servers.seaweed import S3Endpoint, free_ports

pytestmark = pytest.mark.s3
TOKEN = "0123456789ab"
PROBES = [
    f"_planner/doctor-{TOKEN}.txt",
    f"_planner/doctor-{TOKEN}/inside.txt",
    f"_planner/doctor-{TOKEN}-outside.txt",
    f"epochs/doctor-{TOKEN}.txt",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("PLANNER_", "SPACES_")):
            monkeypatch.delenv(name)


def settings(server: S3Endpoint, bucket: str, **changes: str) -> Settings:
    env = {
        "PLANNER_SECRET": SECRET.decode(),
        "SPACES_ENDPOINT_URL": server.endpoint_url,
        "SPACES_REGION": server.region,
        "SPACES_BUCKET": bucket,
        "SPACES_KEY": server.access_key,
        "SPACES_SECRET": server.secret_key,
        **changes,
    }
    return Settings.from_env(env)


def run_doctor(config: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli, ["doctor", *args], obj=Context(config))


def keys(server: S3Endpoint, bucket: str) -> list[str]:
    page = server.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in page.get("Contents", ()))


def allow_cors(server: S3Endpoint, bucket: str) -> None:
    rule = {"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["*"], "MaxAgeSeconds": 3600}
    server.client().put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})


def test_a_ready_bucket_passes_every_step(s3_server: S3Endpoint, s3_bucket: str) -> None:
    s3_server.allow_anonymous_read(s3_bucket, doctor.PUBLISHED_PREFIXES)
    allow_cors(s3_server, s3_bucket)
    s3_server.client().put_object(Bucket=s3_bucket, Key="index.json", Body=b"{}")
    config = settings(s3_server, s3_bucket)
    report = doctor.check_bucket(config.bucket, token=TOKEN)  # type: ignore[arg-type]
    base = f"{s3_server.endpoint_url}/{s3_bucket}"
    folder = f"_planner/doctor-{TOKEN}/"
    assert [s.line for s in report.steps] == [
        f"ok   credentials: s3://{s3_bucket}/ @ {s3_server.endpoint_url} accepts this key",
        f"ok   write: _planner/doctor-{TOKEN}.txt (64 bytes)",
        f"ok   list: the listing shows _planner/doctor-{TOKEN}.txt",
        f"ok   read: _planner/doctor-{TOKEN}.txt read back byte for byte",
        "ok   plain uploads: sent without aws-chunked encoding or checksum trailers "
        "(what DigitalOcean Spaces accepts)",
        f"ok   public read: {base}/epochs/doctor-{TOKEN}.txt readable without credentials",
        f"ok   published index: {base}/index.json readable without credentials",
        f"ok   private state: not readable without credentials (_planner/doctor-{TOKEN}.txt "
        "HTTP 403)",
        f"ok   presigned POST: upload inside {folder} accepted (HTTP 204), outside refused "
        "(HTTP 403)",
        "ok   CORS: GET allowed from *",
        "ok   cleanup: deleted 4 probe objects; none left",
    ]
    assert report.ok
    assert keys(s3_server, s3_bucket) == ["index.json"]


def test_cli_prints_each_step_and_says_ready(s3_server: S3Endpoint, s3_bucket: str) -> None:
    s3_server.allow_anonymous_read(s3_bucket, doctor.PUBLISHED_PREFIXES)
    result = run_doctor(settings(s3_server, s3_bucket))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "ok   credentials",
        "ok   write",
        "ok   list",
        "ok   read",
        "ok   plain uploads",
        "ok   public read",
        "ok   private state",
        "ok   presigned POST",
        "warn CORS",
        "ok   cleanup",
    ]
    assert lines[8].startswith("warn CORS: no CORS rules")
    assert lines[-1] == f"s3://{s3_bucket} @ {s3_server.endpoint_url} is ready"
    assert keys(s3_server, s3_bucket) == []


def test_a_bucket_that_keeps_objects_private_fails_public_read(
    s3_server: S3Endpoint, s3_bucket: str
) -> None:
    """Objects written with no ACL and no bucket policy are private, on every endpoint."""
    result = run_doctor(settings(s3_server, s3_bucket, SPACES_PUBLIC_ACL="none"))
    assert result.exit_code == 1
    url = f"{s3_server.endpoint_url}/{s3_bucket}/epochs/"
    line = next(x for x in result.output.splitlines() if x.startswith("FAIL public read"))
    assert line.startswith(f"FAIL public read: {url}doctor-")
    assert "answers HTTP 403 without credentials: this bucket does not make published " in line
    assert "(written with ACL none)" in line
    assert "sealed/, epochs/, schema/, index.json, current.json, index.html" in line
    assert result.output.splitlines()[-1] == (
        f"Error: s3://{s3_bucket} @ {s3_server.endpoint_url} is not ready: see the FAIL lines"
    )
    assert keys(s3_server, s3_bucket) == []


def test_a_public_state_prefix_fails(s3_server: S3Endpoint, s3_bucket: str) -> None:
    s3_server.allow_anonymous_read(s3_bucket, [""])
    s3_server.client().put_object(Bucket=s3_bucket, Key="_planner/planner-state.enc", Body=b"x")
    result = run_doctor(settings(s3_server, s3_bucket))
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "private state" in x)
    assert line == (
        f"FAIL private state: _planner/doctor-{line.split('doctor-')[1][:12]}.txt, "
        "_planner/planner-state.enc readable WITHOUT credentials: anyone can read the "
        "planner's state; make _planner/ private (remove public-read from the bucket and "
        "from any policy that covers it)"
    )
    assert keys(s3_server, s3_bucket) == ["_planner/planner-state.enc"]


def test_wrong_secret_fails_credentials_and_shows_no_secret(
    s3_server: S3Endpoint, s3_bucket: str
) -> None:
    wrong = "wrong-secret-" + "z" * 27
    result = run_doctor(settings(s3_server, s3_bucket, SPACES_SECRET=wrong))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"FAIL credentials: s3://{s3_bucket}/ @ {s3_server.endpoint_url}: SignatureDoesNotMatch "
        "(HTTP 403): the secret key does not match the access key (check SPACES_SECRET, and "
        "that SPACES_KEY is its key)",
        f"Error: s3://{s3_bucket} @ {s3_server.endpoint_url} is not ready: see the FAIL lines",
    ]
    for secret in (wrong, s3_server.secret_key, s3_server.access_key):
        assert secret not in result.output


def test_missing_bucket_and_dead_endpoint(s3_server: S3Endpoint) -> None:
    name = f"{s3_server.bucket_prefix}missing-{uuid.uuid4().hex[:8]}"
    missing = run_doctor(settings(s3_server, name))
    assert missing.exit_code == 1
    assert missing.output.splitlines()[0] == (
        f"FAIL credentials: s3://{name}/ @ {s3_server.endpoint_url}: "
        "NoSuchBucket (HTTP 404): the bucket does not exist (check SPACES_BUCKET)"
    )
    (port,) = free_ports(1)
    dead = run_doctor(
        settings(s3_server, "dead-endpoint", SPACES_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    )
    assert dead.exit_code == 1
    assert dead.output.splitlines()[0].startswith(
        f"FAIL credentials: s3://dead-endpoint/ @ http://127.0.0.1:{port}: EndpointConnectionError"
    )


def test_without_a_bucket_there_is_nothing_to_check(tmp_path: Path) -> None:
    config = Settings.from_env({"PLANNER_PUBLISHED": str(tmp_path / "pub")})
    result = run_doctor(config)
    assert result.exit_code == 1
    assert result.output == (
        "Error: SPACES_BUCKET is not set, so there is no bucket to check (the planner "
        f"publishes to the local folder {tmp_path / 'pub'}); set the SPACES_* settings first\n"
    )


def test_public_url_must_be_a_url(s3_server: S3Endpoint, s3_bucket: str) -> None:
    result = run_doctor(settings(s3_server, s3_bucket), "--public-url", "cdn.example.com")
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for '--public-url': must be an http(s) URL, got 'cdn.example.com'"
    )


def test_public_url_is_where_the_anonymous_reads_go(s3_server: S3Endpoint, s3_bucket: str) -> None:
    s3_server.allow_anonymous_read(s3_bucket, doctor.PUBLISHED_PREFIXES)
    (port,) = free_ports(1)
    result = run_doctor(settings(s3_server, s3_bucket), "--public-url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert f"FAIL public read: http://127.0.0.1:{port}: ConnectionError" in result.output
    assert keys(s3_server, s3_bucket) == []


def test_a_public_url_with_a_password_is_named_without_it(s3_server: S3Endpoint, s3_bucket: str):
    """A CDN behind basic auth given as SPACES_PUBLIC_URL: doctor printed it whole, password
    and all, in each line naming it (`FAIL public read: http://u:PubSecret999@...`)."""
    public = s3_server.url(s3_bucket).rstrip("/").replace("://", "://u:PubSecret999@")
    result = run_doctor(settings(s3_server, s3_bucket), "--public-url", public)
    assert "public read" in result.output
    assert "PubSecret999" not in result.output
    assert f"{s3_server.url(s3_bucket).rstrip('/')}/epochs/doctor-" in result.output
