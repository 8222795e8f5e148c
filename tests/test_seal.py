"""Real drand quicknet timelock: the public test vector, served by a loopback relay."""

from __future__ import annotations

import pytest

from clientkit import drand
from clientkit.timelock import SealError, commitment, seal, unseal

from servers.drand_relay import TEST_ROUND, TEST_SIGNATURE


def test_round_trip_with_the_signature_from_a_relay(relay) -> None:
    plaintext = b'{"epochId":"2026-11-25T16-00-00","zipcodes":[]}\n'
    sealed = seal(plaintext, TEST_ROUND)
    assert plaintext not in sealed
    signature = drand.fetch_signature(TEST_ROUND, [relay.url])
    assert signature == TEST_SIGNATURE
    assert unseal(sealed, signature) == plaintext
    assert unseal(sealed, "0x" + signature) == plaintext


def test_sealing_is_randomised_but_the_commitment_is_not() -> None:
    assert seal(b"same", TEST_ROUND) != seal(b"same", TEST_ROUND)
    assert commitment(b"same") == commitment(b"same")
    assert commitment(b"same").startswith("sha256:") and len(commitment(b"x")) == 71


def test_a_wrong_signature_does_not_open_the_file() -> None:
    sealed = seal(b"secret zipcodes", TEST_ROUND)
    wrong = ("a" if TEST_SIGNATURE[0] != "a" else "b") + TEST_SIGNATURE[1:]
    with pytest.raises(SealError):
        unseal(sealed, wrong)
    with pytest.raises(SealError, match="48 bytes of hex"):
        unseal(sealed, "not-hex")


def test_a_file_sealed_to_another_round_does_not_open() -> None:
    sealed = seal(b"secret zipcodes", TEST_ROUND + 1)
    with pytest.raises(SealError):
        unseal(sealed, TEST_SIGNATURE)


def test_a_truncated_file_does_not_open() -> None:
    sealed = seal(b"secret zipcodes", TEST_ROUND)
    with pytest.raises(SealError):
        unseal(sealed[: len(sealed) // 2], TEST_SIGNATURE)


def test_relay_errors_are_reported_per_relay(relay) -> None:
    with pytest.raises(drand.BeaconUnavailable, match="HTTP 425"):
        drand.fetch_signature(TEST_ROUND + 1, [relay.url])
    relay.down = True
    with pytest.raises(drand.BeaconUnavailable, match="HTTP 503"):
        drand.fetch_signature(TEST_ROUND, [relay.url, "http://127.0.0.1:9"])
