"""Shared fixtures. Append only; service helpers live in tests/servers/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers.seaweed import S3Endpoint, s3_endpoint


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
