"""Shared fixtures; the services they start live in tests/servers/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from planner.dataset import Dataset, StatePriority, load_dataset, load_priorities
from planner.jobs import Planner
from planner.store import LocalStore
from signer import create_app
from signer.config import ENV_NAMES

from servers import signer_client
from servers.drand_relay import Relay, drand_relay
from servers.redis_server import RedisServer, redis_server
from servers.seaweed import S3Endpoint, s3_endpoint

REPO = Path(__file__).resolve().parents[1]
# A planning secret for tests only (random hex, as `planner new-secret` prints).
SECRET = b"1dddfe768d90a3900b90f2b56a67c0fc964a481166b952b6277bcd962c7ec9a7"
NOW = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
SIGNER_DEMO_METAGRAPH = REPO / "data" / "metagraph.demo.json"


def bucket_env(server: S3Endpoint, bucket: str, state_dir: Path, days: str = "1") -> dict[str, str]:
    """What an operator puts in the planner's cron job to publish to a bucket."""
    return {
        "PLANNER_DATA": str(REPO / "data/zipcodes.csv"),
        "PLANNER_PRIORITIES": str(REPO / "data/state_priorities.txt"),
        "PLANNER_STATE": str(state_dir),
        "PLANNER_SECRET": SECRET.decode(),
        "PLANNER_DAYS": days,
        "SPACES_ENDPOINT_URL": server.endpoint_url,
        "SPACES_REGION": server.region,
        "SPACES_BUCKET": bucket,
        "SPACES_KEY": server.access_key,
        "SPACES_SECRET": server.secret_key,
    }


@pytest.fixture(autouse=True)
def client_head_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """clientkit and `planner verify` pin index.json chain heads under the user's cache dir
    (CLIENTKIT_HEAD_FILE moves it): one file per test."""
    path = tmp_path / "cache/chain-heads.json"
    monkeypatch.setenv("CLIENTKIT_HEAD_FILE", str(path))
    return path


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """SeaweedFS on loopback for the whole session (or the S3_TEST_* endpoint): always stopped."""
    with s3_endpoint(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint) -> Iterator[str]:
    """A fresh private bucket for one test, emptied and deleted afterwards."""
    bucket = s3_server.create_bucket()
    yield bucket
    s3_server.delete_bucket(bucket)


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis-protocol server (redis-server or valkey-server) on loopback for the session."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_session: RedisServer) -> str:
    """The session's server, emptied for this test: `redis://127.0.0.1:PORT`."""
    redis_session.flush()
    return redis_session.url


# --- planner -------------------------------------------------------------------------------


@pytest.fixture
def relay() -> Iterator[Relay]:
    """A loopback drand relay serving the public quicknet test vector (round 123)."""
    with drand_relay() as running:
        yield running


@pytest.fixture(scope="session")
def sample() -> tuple[Dataset, list[StatePriority]]:
    """The committed PA+NJ sample and the default priority list."""
    return load_dataset(REPO / "data/zipcodes.csv"), load_priorities(
        REPO / "data/state_priorities.txt"
    )


@pytest.fixture
def make_planner(tmp_path: Path, sample):
    """A planner on local folders under tmp_path; keyword arguments override its fields."""

    def build(**fields) -> Planner:
        options = {
            "public": LocalStore(tmp_path / "published"),
            "private": LocalStore(tmp_path / "state"),
            "secret": SECRET,
            "load_data": lambda: sample,
        }
        options.update(fields)
        return Planner(**options)

    return build


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean planner environment (sample data, test secret) pointing into tmp_path."""
    for name in list(os.environ):
        if name.startswith(("PLANNER_", "SPACES_")) or name == "EPOCH_HOURS":
            monkeypatch.delenv(name)
    values = {
        "PLANNER_DATA": str(REPO / "data/zipcodes.csv"),
        "PLANNER_PRIORITIES": str(REPO / "data/state_priorities.txt"),
        "PLANNER_PUBLISHED": str(tmp_path / "published"),
        "PLANNER_STATE": str(tmp_path / "state"),
        "PLANNER_SECRET": SECRET.decode(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


# --- signer ---------------------------------------------------------------------------------


@pytest.fixture
def signer_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Signer settings for tests: demo metagraph, a dummy bucket, the clock pinned at NOW.

    Presigning needs no S3 server; the endpoint below is never contacted.
    """
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    published = tmp_path / "published"
    published.mkdir()
    return {
        "SIGNER_METAGRAPH": str(SIGNER_DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(published),
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "subnet46-test",
        "S3_ACCESS_KEY_ID": "AKIATESTSIGNER",
        "S3_SECRET_ACCESS_KEY": "test-secret-never-shown",
        "NOW": lambda: float(signer_client.NOW),
        "TESTING": True,
    }


@pytest.fixture
def app(signer_config: dict[str, Any]) -> Flask:
    return create_app(signer_config)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
