"""The client kit's retries against a real loopback HTTP server that answers like a busy one.

Waits are recorded instead of slept (a seam of clientkit.retry.Backoff) so the tests say
how long a client waited, not how long the machine took.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from bittensor_core import Keypair

from clientkit import Backoff, SignerClient, SignerError, StorageError, read_object
from clientkit.verify import HttpSource

from servers.busy_http import Answer, scripted_server
from servers.seaweed import free_ports

GRANT = Answer(200, {"Content-Type": "application/json"}, b'{"folder": "data/x/"}')
BUSY = b'{"error": "rate_limited", "detail": "slow down"}'
NOW = datetime(2026, 11, 25, 16, 0, 5, tzinfo=UTC)


class Waits(list[float]):
    """A Backoff whose sleeps are recorded, with a fixed jitter draw."""

    def backoff(self, jitter: float = 0.5, **options: float) -> Backoff:
        return Backoff(sleep=self.append, jitter=lambda: jitter, now=lambda: NOW, **options)


def test_signer_client_waits_as_told_plus_jitter_and_signs_each_try_afresh() -> None:
    waits = Waits()
    answers = [
        Answer(503, {"Retry-After": "7"}, b'{"error": "metagraph_unavailable", "detail": "x"}'),
        Answer(429, {"Retry-After": "2"}, BUSY),
        GRANT,
    ]
    ticks = iter([1_000, 1_009, 1_012])
    alice = Keypair.create_from_uri("//Alice")
    coldkey = Keypair.create_from_uri("//Alice//stash").ss58_address
    with scripted_server(answers) as script:
        client = SignerClient(
            script.url, alice, clock=lambda: next(ticks), backoff=waits.backoff(base=0.5)
        )
        assert client.folder_access(coldkey) == {"folder": "data/x/"}
    assert waits == [7 + 0.5 * 0.5, 2 + 0.5 * 0.5]
    bodies = [json.loads(r.body) for r in script.requests]
    assert [b["timestamp"] for b in bodies] == [1_000, 1_009, 1_012]
    for body in bodies:
        message = f"s3:data:access:{coldkey}:{alice.ss58_address}:{body['timestamp']}"
        assert alice.verify(message.encode(), bytes.fromhex(body["signature"]))


def test_retry_after_as_an_http_date_is_honoured() -> None:
    waits = Waits()
    later = format_datetime(NOW + timedelta(seconds=20), usegmt=True)
    with scripted_server([Answer(429, {"Retry-After": later}, BUSY), GRANT]) as script:
        client = SignerClient(
            script.url, Keypair.create_from_uri("//Bob"), backoff=waits.backoff(jitter=0.0)
        )
        client.validator_access()
    assert waits == [20.0]
    assert len(script.requests) == 2


def test_a_wait_beyond_the_cap_is_reported_not_slept() -> None:
    waits = Waits()
    busy = Answer(503, {"Retry-After": "3600"}, BUSY)
    with scripted_server([busy, GRANT]) as script:
        client = SignerClient(
            script.url, Keypair.create_from_uri("//Bob"), backoff=waits.backoff(cap=30)
        )
        with pytest.raises(SignerError) as caught:
            client.validator_access()
    assert (caught.value.status, caught.value.code) == (503, "rate_limited")
    assert waits == [] and len(script.requests) == 1


def test_a_503_without_retry_after_is_final() -> None:
    """The signer says 503 without Retry-After when it is misconfigured: no use asking again."""
    waits = Waits()
    broken = Answer(503, {}, b'{"error": "bucket_not_configured", "detail": "no bucket"}')
    with scripted_server([broken, GRANT]) as script:
        client = SignerClient(script.url, Keypair.create_from_uri("//Bob"), backoff=waits.backoff())
        with pytest.raises(SignerError, match="bucket_not_configured"):
            client.validator_access()
    assert waits == [] and len(script.requests) == 1


def test_gateway_errors_back_off_exponentially_then_give_up() -> None:
    waits = Waits()
    with scripted_server([Answer(502, {}, b"bad gateway")]) as script:
        client = SignerClient(
            script.url,
            Keypair.create_from_uri("//Bob"),
            backoff=waits.backoff(jitter=1.0, attempts=4, base=0.5, cap=1.5),
        )
        with pytest.raises(SignerError) as caught:
            client.validator_access()
    assert caught.value.status == 502 and caught.value.code == "unexpected_response"
    assert waits == [0.5, 1.0, 1.5]
    assert len(script.requests) == 4


def test_an_unreachable_signer_is_tried_again_then_reported() -> None:
    waits = Waits()
    (port,) = free_ports(1)
    client = SignerClient(
        f"http://127.0.0.1:{port}",
        Keypair.create_from_uri("//Bob"),
        timeout=2,
        backoff=waits.backoff(attempts=3, jitter=0.25, base=1.0),
    )
    with pytest.raises(SignerError, match=rf"^unreachable: http://127.0.0.1:{port}/get-valid"):
        client.validator_access()
    assert waits == [0.25, 0.5]


def test_published_files_and_presigned_reads_are_retried_too() -> None:
    waits = Waits()
    index = Answer(200, {}, b'{"epochs": []}')
    with scripted_server([Answer(503, {"Retry-After": "1"}), index]) as script:
        source = HttpSource(script.url, backoff=waits.backoff(jitter=0.0))
        assert source.get("index.json") == b'{"epochs": []}'
    assert waits == [1.0]
    assert [r.path for r in script.requests] == ["/index.json", "/index.json"]

    answers = [Answer(503, {"Retry-After": "1"}), Answer(200, {}, b"listing")]
    with scripted_server(answers) as script:
        assert read_object(f"{script.url}/k?X-Amz-Signature=f00") == b"listing"
    assert len(script.requests) == 2

    with scripted_server([Answer(403, {}, b"")]) as script, pytest.raises(StorageError):
        read_object(f"{script.url}/k")
    assert len(script.requests) == 1, "a refusal is final"
