"""The client kit's checks and messages, with the published files served over loopback HTTP
(or from an S3 bucket, for what a Space that is not public-read answers).

What it does against the real S3 server and signer is in test_security_s3.py and
test_end_to_end.py; here are the failures a miner must be told about clearly.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bittensor_core import CRYPTO_ED25519, Keypair
from test_clientkit_retry import raised

from clientkit import (
    AssignmentError,
    Backoff,
    NotOpenYet,
    NotRevealed,
    SignerClient,
    SignerError,
    StorageError,
    chain,
    current_assignment,
    list_mine,
    list_miner,
    list_page,
    parse_listing,
    plain_assignment,
    read_miner_files,
    read_object,
    sealed_assignment,
    upload,
    verify,
)
from clientkit.chain import HistoryRewritten
from clientkit.drand import fetch_signature
from clientkit.epochs import epoch_at
from clientkit.errors import ClientKitError
from clientkit.layout import SourceError
from clientkit.storage import ObjectInfo
from planner import jobs

from conftest import NOW, REPO, SIGNER_DEMO_METAGRAPH
from servers.busy_http import Answer, scripted_server
from servers.drand_relay import TEST_ROUND, Relay
from servers.seaweed import S3Endpoint, free_ports
from servers.signer_gunicorn import gunicorn_signer
from servers.static_http import cdn, serve_folder
from servers.tls_recorder import tls_recorder


def at_round_123(epoch: object) -> int:
    return TEST_ROUND


@pytest.fixture
def published(make_planner, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """One tick at NOW (its epoch revealed), served over HTTP like the CDN."""
    jobs.tick(make_planner(round_for=at_round_123, horizon=timedelta(days=1)), NOW)
    root = tmp_path / "published"
    with serve_folder(root) as url:
        yield url, root


def test_plain_assignment_matches_its_commitment(published) -> None:
    url, root = published
    got = plain_assignment(url, now=NOW)
    index = json.loads((root / "index.json").read_bytes())
    entry = next(e for e in index["epochs"] if e["epochId"] == got.epoch_id)
    assert got.commitment == entry["commitment"]
    assert "sha256:" + hashlib.sha256(got.body).hexdigest() == entry["commitment"]
    assert got.epoch_id == "2026-11-25T16-00-00" and got.via == "plain"
    assert got.zipcodes == [z["zipcode"] for z in got.document["zipcodes"]]
    assert all(len(z) == 5 and z.isdigit() for z in got.zipcodes)


def test_an_altered_plain_file_is_rejected(published) -> None:
    url, root = published
    path = root / "epochs/2026-11-25T16-00-00.json"
    document = json.loads(path.read_bytes())
    document["zipcodes"][0]["zipcode"] = "99999"
    path.write_text(json.dumps(document))
    with pytest.raises(AssignmentError, match=r"but index\.json committed to sha256:") as caught:
        plain_assignment(url, now=NOW)
    assert "do not use it" in str(caught.value)


def test_before_the_plain_file_the_sealed_one_opens_with_drand(published, relay: Relay) -> None:
    url, _ = published
    upcoming = NOW + timedelta(hours=3)
    with pytest.raises(NotRevealed, match=r"epochs/2026-11-25T20-00-00\.json is not published"):
        plain_assignment(url, now=upcoming)
    got = current_assignment(url, now=upcoming, relays=[relay.url], round_for=at_round_123)
    assert (got.epoch_id, got.via) == ("2026-11-25T20-00-00", "sealed")
    assert relay.requests, "the signature came from the relay"


def test_a_revealed_epoch_whose_plain_file_is_missing_still_opens_sealed(
    published, relay: Relay
) -> None:
    """The sealed file opened and matched its commitment, but the plain file the index marks
    revealed was missing (a CDN caching a 404): the miner got an error saying the file was
    "not published yet". It is the publisher's problem, reported by planner verify."""
    url, root = published
    (root / "epochs/2026-11-25T16-00-00.json").unlink()
    got = current_assignment(url, now=NOW, relays=[relay.url], round_for=at_round_123)
    assert (got.epoch_id, got.via) == ("2026-11-25T16-00-00", "sealed")
    outcome = verify.verify_epoch(verify.HttpSource(url), None, NOW, [relay.url], at_round_123)
    assert not outcome.ok, "an auditor still sees it"
    (check,) = [c for c in outcome.checks if c.name == "revealed file"]
    assert not check.ok and "missing, though index.json marks it revealed" in check.detail


def test_sealed_assignment_reports_the_failed_check(published, relay: Relay) -> None:
    """A beacon no relay has is NotOpenYet (retry shortly), not the AssignmentError a
    tampered file gets, which a program could not tell apart."""
    url, root = published
    relay.down = True
    with pytest.raises(NotOpenYet) as caught:
        sealed_assignment(url, now=NOW, relays=[relay.url], round_for=at_round_123)
    assert str(caught.value).startswith(
        f"epoch 2026-11-25T16-00-00 at {url}: drand beacon: round 123 not available"
    )
    relay.down = False
    sealed = root / "sealed/2026-11-25T16-00-00.tlock"
    sealed.write_bytes(sealed.read_bytes()[:-40])
    with pytest.raises(AssignmentError) as damaged:
        sealed_assignment(url, now=NOW, relays=[relay.url], round_for=at_round_123)
    assert not isinstance(damaged.value, NotOpenYet)


def failing_reads(monkeypatch, url: str, prefix: str) -> None:
    """The CDN answers 502 (after its retries) for every key under `prefix`."""
    read = verify.HttpSource.get

    def flaky(source: verify.HttpSource, key: str) -> bytes | None:
        if key.startswith(prefix):
            raise SourceError(f"cannot fetch {url}/{key}: HTTP 502")
        return read(source, key)

    monkeypatch.setattr(verify.HttpSource, "get", flaky)


def test_a_sealed_file_the_cdn_fails_to_serve_is_an_assignment_error(
    published, relay: Relay, monkeypatch
) -> None:
    """The CDN failing on the sealed file raised clientkit.layout.SourceError out of
    sealed_assignment, which is no AssignmentError: a miner catching AssignmentError, as
    the docs say, crashed. It is the failed "sealed file" check of verify_epoch."""
    url, _ = published
    failing_reads(monkeypatch, url, "sealed/")
    with pytest.raises(AssignmentError, match=r"sealed file: cannot fetch .*: HTTP 502") as caught:
        sealed_assignment(url, now=NOW, relays=[relay.url], round_for=at_round_123)
    assert not isinstance(caught.value, NotOpenYet)
    outcome = verify.verify_epoch(verify.HttpSource(url), None, NOW, [relay.url], at_round_123)
    assert [(c.name, c.ok) for c in outcome.checks][-1] == ("sealed file", False)


def test_a_plain_file_the_cdn_fails_to_serve_leaves_the_sealed_one_usable(
    published, relay: Relay, monkeypatch
) -> None:
    """Once the sealed plaintext matches its commitment, the plain file is only compared
    with it: a read that fails is an advisory check, as a missing file is."""
    url, _ = published
    failing_reads(monkeypatch, url, "epochs/")
    got = sealed_assignment(url, now=NOW, relays=[relay.url], round_for=at_round_123)
    assert (got.epoch_id, got.via) == ("2026-11-25T16-00-00", "sealed")
    outcome = verify.verify_epoch(verify.HttpSource(url), None, NOW, [relay.url], at_round_123)
    (check,) = [c for c in outcome.checks if c.name == "revealed file"]
    assert not check.ok and check.advisory and "HTTP 502" in check.detail


def test_a_plain_file_answered_403_before_its_reveal_is_not_published_yet(
    published, relay: Relay
) -> None:
    """S3 answers 403 for a file it does not have when nobody may list the bucket, and
    plain_assignment reads a plain file's 403 as not published yet: verify_epoch read it as
    access denied, so `planner verify` failed every epoch between its start and its reveal.
    Once index.json marks the file revealed, a 403 is still a failed (advisory) check."""
    _, root = published
    upcoming = NOW + timedelta(hours=3)
    with cdn(root) as served:
        served.fail("epochs/", 403)
        source = verify.HttpSource(served.url, 0.2, Backoff(attempts=1))
        before = verify.verify_epoch(source, None, upcoming, [relay.url], at_round_123)
        revealed = verify.verify_epoch(source, None, NOW, [relay.url], at_round_123)
    (check,) = [c for c in before.checks if c.name == "revealed file"]
    assert (check.ok, check.detail) == (True, "not published yet (drand reveal only)")
    assert before.ok
    (check,) = [c for c in revealed.checks if c.name == "revealed file"]
    assert not check.ok and check.advisory and "access denied" in check.detail
    assert revealed.usable and not revealed.ok


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("hangs", "ReadTimeout (nothing received in 0.2 s)"),
        ("answers 502", "HTTP 502"),
        ("answers 503", "HTTP 503"),
        ("lost the file", "missing, though index.json marks it revealed"),
    ],
)
def test_an_audit_key_the_cdn_fails_to_serve_leaves_the_sealed_assignment_usable(
    make_planner, tmp_path: Path, relay: Relay, fault: str, says: str
) -> None:
    """Once an audited epoch has ended, verify_epoch also checks its validators' key, which
    is nothing a miner needs: the sealed plaintext had opened and matched its commitment,
    yet a CDN slow on audit/<epochId>.json, failing on it or caching a 404 made
    sealed_assignment raise AssignmentError. Such a read is an advisory check, as the plain
    file's is; planner verify still fails on it."""
    planner = make_planner(audit_count=3, round_for=at_round_123, horizon=timedelta(days=1))
    epoch = epoch_at(NOW)
    jobs.tick(planner, NOW)
    jobs.tick(planner, epoch.end)
    root = tmp_path / "published"
    key = f"audit/{epoch.id}.json"
    assert (root / key).is_file(), "the key is revealed"
    if fault == "lost the file":
        (root / key).unlink()
    once = Backoff(attempts=1)
    with cdn(root) as published:
        if fault == "hangs":
            published.hang("audit/")
        elif fault.startswith("answers"):
            published.fail("audit/", int(fault.split()[1]))
        got = sealed_assignment(
            published.url,
            epoch.id,
            now=epoch.end,
            relays=[relay.url],
            round_for=at_round_123,
            timeout=0.2,
            backoff=once,
        )
        source = verify.HttpSource(published.url, 0.2, once)
        outcome = verify.verify_epoch(source, epoch.id, epoch.end, [relay.url], at_round_123)
    assert (got.epoch_id, got.via) == (epoch.id, "sealed")
    (check,) = [c for c in outcome.checks if c.name == "audit key"]
    assert not check.ok and check.advisory and says in check.detail
    assert not outcome.ok, "planner verify still fails"


def test_an_audit_key_other_than_the_committed_one_is_still_refused(
    make_planner, tmp_path: Path, relay: Relay
) -> None:
    """Only a key that cannot be read is advisory: other bytes than those committed are the
    bucket's files changed by someone, as a plain file that differs from the plaintext is."""
    planner = make_planner(audit_count=3, round_for=at_round_123, horizon=timedelta(days=1))
    epoch = epoch_at(NOW)
    jobs.tick(planner, NOW)
    jobs.tick(planner, epoch.end)
    key = tmp_path / f"published/audit/{epoch.id}.json"
    key.write_bytes(key.read_bytes().replace(b'"salt":"', b'"salt":"0'))
    with serve_folder(tmp_path / "published") as url, pytest.raises(AssignmentError) as caught:
        sealed_assignment(url, epoch.id, now=epoch.end, relays=[relay.url], round_for=at_round_123)
    assert str(caught.value).endswith("audit key: its sha256 differs from its commitment")


def test_an_epoch_not_started_says_when_it_opens(published, relay: Relay) -> None:
    url, _ = published
    upcoming = "2026-11-25T20-00-00"
    with pytest.raises(NotOpenYet, match="is out at the epoch's start, 2026-11-25T20:00:00Z"):
        sealed_assignment(url, upcoming, now=NOW, relays=[relay.url], round_for=at_round_123)
    assert relay.requests == [], "no relay asked for a round that cannot be out"


def test_current_assignment_of_a_named_epoch(published, relay: Relay) -> None:
    """A miner's grant names the signer's epoch; at an epoch's start the miner's clock may
    still be in the one before: the assignment of the grant's epoch is asked for by id."""
    url, _ = published
    later = NOW + timedelta(hours=3)
    running = current_assignment(url, now=later, relays=[relay.url], round_for=at_round_123)
    named = current_assignment(
        url, now=later, relays=[relay.url], round_for=at_round_123, epoch_id="2026-11-25T16-00-00"
    )
    assert (running.epoch_id, running.via) == ("2026-11-25T20-00-00", "sealed")
    assert (named.epoch_id, named.via) == ("2026-11-25T16-00-00", "plain")


def test_no_planned_epoch_and_no_index(published, tmp_path: Path) -> None:
    url, _ = published
    with pytest.raises(AssignmentError, match="lists no epoch running at 2026-12-01T00:00:00Z"):
        plain_assignment(url, now=NOW + timedelta(days=5, hours=7))
    with pytest.raises(AssignmentError, match="lists no epoch 2027-01-01T00-00-00"):
        plain_assignment(url, epoch_id="2027-01-01T00-00-00")
    (tmp_path / "empty").mkdir()
    with serve_folder(tmp_path / "empty") as empty, pytest.raises(AssignmentError) as caught:
        plain_assignment(empty, now=NOW)
    assert str(caught.value) == f"no index.json at {empty}"


def in_bucket(s3_server: S3Endpoint, bucket: str, root: Path, readable: list[str]) -> str:
    """The published folder's files put in `bucket`, anyone allowed to read the keys under
    `readable` (none: a private Space); the bucket's base URL, as a CDN's."""
    client = s3_server.client()
    for path in root.rglob("*"):
        if path.is_file():
            key = path.relative_to(root).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    if readable:
        s3_server.allow_anonymous_read(bucket, readable)
    return s3_server.url(bucket).rstrip("/")


@pytest.mark.s3
def test_a_private_space_is_access_denied_not_an_empty_one(
    published, s3_server: S3Endpoint, s3_bucket: str, relay: Relay
) -> None:
    """A Space (or a CDN) that lets nobody read it answers 403, which the kit took for a
    missing file: a miner was told `no index.json at ...`, as if nothing were published."""
    _, root = published
    base = in_bucket(s3_server, s3_bucket, root, readable=[])
    with pytest.raises(AssignmentError) as caught:
        current_assignment(base, now=NOW, relays=[relay.url], round_for=at_round_123)
    message = str(caught.value)
    assert message.startswith(f"access denied: {base}/index.json answered HTTP 403: ")
    assert "must be readable by anyone" in message and "public-read" in message
    outcome = verify.verify_epoch(verify.HttpSource(base), None, NOW, [relay.url], at_round_123)
    assert [(c.name, c.ok, c.detail) for c in outcome.checks] == [("index", False, message)]


@pytest.mark.s3
def test_a_sealed_file_nobody_may_read_is_access_denied_not_missing(
    published, s3_server: S3Endpoint, s3_bucket: str, relay: Relay
) -> None:
    _, root = published
    base = in_bucket(s3_server, s3_bucket, root, readable=["index.json"])
    with pytest.raises(AssignmentError) as caught:
        sealed_assignment(base, now=NOW, relays=[relay.url], round_for=at_round_123)
    sealed = f"{base}/sealed/2026-11-25T16-00-00.tlock"
    assert f"sealed file: access denied: {sealed} answered HTTP 403: " in str(caught.value)


@pytest.mark.s3
def test_a_plain_file_answered_403_is_not_published_yet_and_the_sealed_one_opens(
    published, s3_server: S3Endpoint, s3_bucket: str, relay: Relay
) -> None:
    """S3 answers 403 for a file it does not have when nobody may list the bucket (AWS, a
    Space with private file listing), and the plain file is asked for before it exists at
    every epoch start: its 403 is not published yet, and the sealed file decides."""
    _, root = published
    base = in_bucket(s3_server, s3_bucket, root, readable=["index.json", "sealed/"])
    with pytest.raises(NotRevealed) as caught:
        plain_assignment(base, now=NOW)
    assert str(caught.value).startswith(
        f"epochs/2026-11-25T16-00-00.json is not published at {base} yet, or not readable "
        "by anyone (HTTP 403, "
    )
    got = current_assignment(base, now=NOW, relays=[relay.url], round_for=at_round_123)
    assert (got.epoch_id, got.via) == ("2026-11-25T16-00-00", "sealed")


LISTING = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>data-bucket</Name><Prefix>data/hotkey%3D</Prefix><KeyCount>2</KeyCount>
  <MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>data/hotkey%3D5F/epoch%3D2026-11-25T16-00-00/a%20b.json</Key>
    <LastModified>2026-11-25T17:00:00.000Z</LastModified><ETag>"9a0364b9e99bb480dd25e1f0284c8555"</ETag>
    <Size>7</Size></Contents>
  <CommonPrefixes><Prefix>data/hotkey%3D5G/</Prefix></CommonPrefixes>
</ListBucketResult>"""


def test_parse_listing_decodes_keys() -> None:
    page = parse_listing(LISTING)
    (item,) = page.objects
    assert item.key == "data/hotkey=5F/epoch=2026-11-25T16-00-00/a b.json"
    assert (item.size, item.etag) == (7, "9a0364b9e99bb480dd25e1f0284c8555")
    assert item.last_modified == "2026-11-25T17:00:00.000Z"
    assert page.prefixes == ["data/hotkey=5G/"]
    assert page.truncated and page.next_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="


def test_upload_refuses_names_outside_the_folder_before_sending() -> None:
    post = {
        "url": "http://127.0.0.1:9/",
        "fields": {"key": "data/f/${filename}"},
        "folder": "data/f/",
    }
    for name in ("", "/abs.json", "../other/x.json", "a/../../x.json"):
        with pytest.raises(StorageError, match="is not a file name inside data/f/"):
            upload(post, name, b"x")


def test_read_object_errors_never_show_the_presigned_query(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    with serve_folder(tmp_path / "site") as url, pytest.raises(StorageError) as caught:
        read_object(f"{url}/missing.json?X-Amz-Signature=deadbeef")
    assert str(caught.value) == f"reading {url}/missing.json refused: HTTP 404"


@pytest.fixture(scope="module")
def signer_without_bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real signer under gunicorn with no bucket: it still checks who is asking."""
    env = {
        "SIGNER_METAGRAPH": str(SIGNER_DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(tmp_path_factory.mktemp("published")),
        "S3_BUCKET": "",
    }
    with gunicorn_signer(env, tmp_path_factory.mktemp("gunicorn")) as url:
        yield url


def test_signer_answers_become_signer_errors(signer_without_bucket: str) -> None:
    bob = SignerClient(signer_without_bucket, Keypair.create_from_uri("//Bob"))
    bob_coldkey = Keypair.create_from_uri("//Bob//stash").ss58_address
    with pytest.raises(SignerError) as caught:
        bob.folder_access(bob_coldkey)
    assert (caught.value.status, caught.value.code) == (503, "bucket_not_configured")

    stale = SignerClient(
        signer_without_bucket, Keypair.create_from_uri("//Bob"), clock=lambda: time.time() - 900
    )
    with pytest.raises(
        SignerError, match=r"^stale_timestamp \(HTTP 401\): timestamp is 9\d\d s old"
    ):
        stale.folder_access(bob_coldkey)

    with pytest.raises(SignerError) as caught:
        bob.folder_access(Keypair.create_from_uri("//Alice").ss58_address)
    assert (caught.value.status, caught.value.code) == (403, "coldkey_mismatch")

    with pytest.raises(SignerError) as caught:
        bob.validator_upload("2026-11-25T16-00-00")
    assert caught.value.status == 403

    (port,) = free_ports(1)
    gone = SignerClient(f"http://127.0.0.1:{port}", Keypair.create_from_uri("//Bob"), timeout=2)
    with pytest.raises(SignerError, match=rf"^unreachable: http://127.0.0.1:{port}/get-folder"):
        gone.folder_access(bob_coldkey)


@pytest.mark.parametrize(
    ("epoch_id", "given"),
    [
        (datetime(2026, 11, 25, 16, tzinfo=UTC), "a datetime"),
        (epoch_at(NOW), "an Epoch (pass its .id)"),
    ],
    ids=["datetime", "Epoch"],
)
def test_an_epoch_id_that_is_not_text_is_refused_naming_it(
    signer_without_bucket: str, epoch_id, given: str
) -> None:
    """validator_upload given the epoch's start (a datetime) or its Epoch failed in json,
    `TypeError: Object of type datetime is not JSON serializable`, naming no argument."""
    alice = SignerClient(signer_without_bucket, Keypair.create_from_uri("//Alice"))
    with pytest.raises(TypeError) as caught:
        alice.validator_upload(epoch_id)
    assert str(caught.value) == (
        "validator_upload's epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' "
        f"(validator_access()['epoch_id'] names the current one); got {given}"
    )


@pytest.mark.parametrize("path", ["/get-folder-access", "/api"])
def test_a_signer_url_with_a_path_the_signer_does_not_serve_says_so(
    signer_without_bucket: str, path: str
) -> None:
    """An endpoint's URL given for the signer's (copied from the table of endpoints) was
    asked with the endpoint appended once more, and the signer's 404 said only `not_found
    (HTTP 404): no such endpoint; /docs lists them all`, not which URL was asked nor what to
    give instead."""
    bob = SignerClient(signer_without_bucket + path, Keypair.create_from_uri("//Bob"))
    with pytest.raises(SignerError) as caught:
        bob.folder_access(Keypair.create_from_uri("//Bob//stash").ss58_address)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert caught.value.detail == (
        f"no such endpoint; /docs lists them all: {signer_without_bucket}{path}"
        "/get-folder-access is not the signer's: give SignerClient the signer's base URL "
        "(such as 'https://signer.example.org'), without an endpoint's path"
    )


def without_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy setting of the machine running the tests (any case: requests reads both)."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def test_a_connection_that_fails_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    # "ConnectionError" alone was all a miner saw, a signer that is down and a host name
    # that does not exist (a typo in the URL) alike.
    without_proxies(monkeypatch)
    (port,) = free_ports(1)
    down = SignerClient(f"http://127.0.0.1:{port}", BOB, backoff=Backoff(attempts=1))
    with pytest.raises(SignerError) as caught:
        down.folder_access(BOB_COLDKEY)
    assert str(caught.value) == (
        f"unreachable: http://127.0.0.1:{port}/get-folder-access: ConnectionError "
        "(connection refused)"
    )
    with pytest.raises(AssignmentError) as caught:
        current_assignment("http://cdn.invalid", backoff=Backoff(attempts=1))
    assert str(caught.value) == (
        "cannot fetch http://cdn.invalid/index.json: ConnectionError (the host name does not "
        "resolve)"
    )


def test_a_proxy_from_the_environment_is_named_when_nothing_gets_through(
    signer_without_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A miner's machine with HTTP(S)_PROXY left set saw the signer and the CDN, both up,
    # as "ProxyError" (or, through a SOCKS proxy, as the signer refusing the connection),
    # with nothing naming the proxy or the setting that chose it.
    without_proxies(monkeypatch)
    (port,) = free_ports(1)
    monkeypatch.setenv("HTTP_PROXY", f"http://miner:hunter2@127.0.0.1:{port}")
    bob = SignerClient(signer_without_bucket, BOB, backoff=Backoff(attempts=1))
    with pytest.raises(SignerError) as caught:
        bob.folder_access(BOB_COLDKEY)
    through = (
        f"through the proxy http://127.0.0.1:{port}, set by HTTP_PROXY (NO_PROXY lists the "
        "hosts reached without it)"
    )
    assert str(caught.value) == (
        f"unreachable: {signer_without_bucket}/get-folder-access: ProxyError (cannot connect "
        f"to the proxy: connection refused; {through})"
    )
    assert "hunter2" not in str(caught.value)

    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("all_proxy", f"socks5://127.0.0.1:{port}")
    with pytest.raises(SignerError) as caught:
        bob.folder_access(BOB_COLDKEY)
    assert str(caught.value) == (
        f"unreachable: {signer_without_bucket}/get-folder-access: ConnectionError "
        f"(through the proxy socks5://127.0.0.1:{port}, set by all_proxy (NO_PROXY lists the "
        "hosts reached without it))"
    )

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with pytest.raises(SignerError) as caught:
        bob.folder_access(BOB_COLDKEY)
    assert caught.value.code == "bucket_not_configured", "reached directly"


def test_a_tls_failure_says_it_is_tls_and_why(
    signer_without_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An untrusted certificate, a certificate for another name and https:// to a plain-HTTP
    # port were all "SSLError" alone.
    without_proxies(monkeypatch)
    with tls_recorder(signer_without_bucket, tmp_path) as tls:
        port = tls.url.rsplit(":", 1)[1]
        for url, trusted, why in [
            (tls.url, None, "certificate verify failed: self-signed certificate"),
            (
                f"https://localhost:{port}",
                tls.certificate,
                "certificate verify failed: Hostname mismatch, certificate is not valid for "
                "'localhost'",
            ),
            (
                signer_without_bucket.replace("http://", "https://"),
                None,
                "wrong version number: the server does not speak TLS there; is it a plain "
                "HTTP port, to be addressed with http://?",
            ),
        ]:
            if trusted:
                monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(trusted))
            client = SignerClient(url, BOB, backoff=Backoff(attempts=1))
            with pytest.raises(SignerError) as caught:
                client.folder_access(BOB_COLDKEY)
            assert str(caught.value) == (
                f"unreachable: {url}/get-folder-access: SSLError (a TLS/certificate problem: {why})"
            )


def test_a_socks_proxy_without_pysocks_says_to_install_it_or_unset_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # requests needs PySocks for a socks5:// proxy and says only "Missing dependencies for
    # SOCKS support" (InvalidSchema), naming neither the proxy nor the setting.
    without_proxies(monkeypatch)
    (port,) = free_ports(1)
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://miner:hunter2@127.0.0.1:{port}")
    script = (
        "import sys\n"
        "sys.modules['socks'] = None  # PySocks not installed\n"
        "from bittensor_core import Keypair\n"
        "from clientkit import Backoff, SignerClient, SignerError\n"
        "client = SignerClient('https://signer.example', Keypair.create_from_uri('//Bob'),"
        " backoff=Backoff(attempts=1))\n"
        "try:\n"
        "    client.folder_access(Keypair.create_from_uri('//Bob//stash'))\n"
        "except SignerError as exc:\n"
        "    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert run.stdout == (
        "unreachable: https://signer.example/get-folder-access: InvalidSchema (the proxy "
        f"socks5://127.0.0.1:{port}, set by HTTPS_PROXY, is a SOCKS proxy, which requests "
        "reaches only with PySocks: pip install requests[socks], or unset HTTPS_PROXY)\n"
    )


class RecordingSigner(SignerClient):
    """Grants URLs of a served folder and records each batch of keys it was asked for."""

    def __init__(self, folder_url: str) -> None:
        super().__init__("http://127.0.0.1:9", Keypair.create_from_uri("//Alice"))
        self.folder_url = folder_url
        self.batches: list[list[str]] = []

    def file_urls(self, miner_hotkey: str, keys: list[str]) -> dict:
        self.batches.append(keys)
        urls = {k: {"presigned_url": f"{self.folder_url}/{k.rsplit('/', 1)[-1]}"} for k in keys}
        return {"file_urls": urls, "invalid_files": []}


def test_read_miner_files_batches_keys_within_the_signer_limits(tmp_path: Path) -> None:
    """At most 1,000 keys a request, and a body under the endpoint's 1 MiB + 16 KiB."""
    folder = (
        f"data/hotkey={Keypair.create_from_uri('//Bob').ss58_address}/epoch=2026-11-25T16-00-00"
    )
    keys = [f"{folder}/{i:05d}.json" for i in range(1500)]
    (tmp_path / "site").mkdir()
    for key in keys:
        (tmp_path / "site" / key.rsplit("/", 1)[-1]).write_bytes(key.encode())
    with serve_folder(tmp_path / "site") as url:
        signer = RecordingSigner(url)
        found = dict(
            read_miner_files(signer, "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", keys)
        )
    assert found == {key: key.encode() for key in keys}
    assert [k for batch in signer.batches for k in batch] == keys
    assert len(signer.batches) > 1
    for batch in signer.batches:
        assert len(batch) <= 1000
        assert len(json.dumps({"file_keys": batch})) <= 1024 * 1024


def test_a_pinned_chain_head_detects_a_rewritten_history(published, tmp_path: Path) -> None:
    """A bucket-key holder rewrites an epoch and rebuilds a consistent chain: the client that
    saw the earlier head refuses the new index."""
    url, root = published
    head_file = tmp_path / "heads.json"
    got = plain_assignment(url, now=NOW, head_file=head_file)
    pinned = json.loads(head_file.read_text())[url]
    index = json.loads((root / "index.json").read_bytes())
    assert pinned[0] == index["epochs"][-1]["epochId"]
    plain_assignment(url, now=NOW, head_file=head_file)  # the same history still passes
    items = [dict(e) for e in index["epochs"]]
    target = next(e for e in items if e["epochId"] == got.epoch_id)
    target["commitment"] = "sha256:" + "1" * 64
    rebuilt = chain.chained([{k: v for k, v in e.items() if k != "prev"} for e in items])
    assert chain.head(rebuilt) != tuple(pinned)  # consistent: the chain alone checks
    (root / "index.json").write_text(json.dumps(dict(index, epochs=rebuilt)))
    with pytest.raises(HistoryRewritten, match=f"the entry of {pinned[0]} .* was rewritten"):
        plain_assignment(url, now=NOW, head_file=head_file)
    (root / "index.json").write_text(json.dumps(dict(index, epochs=rebuilt[:-1])))
    with pytest.raises(HistoryRewritten, match=f"the entry of {pinned[0]} .* was removed"):
        plain_assignment(url, now=NOW, head_file=head_file)


def test_a_missing_index_after_a_pinned_head_is_no_index_not_a_rewritten_history(
    published, tmp_path: Path
) -> None:
    """A CDN answering 404 for index.json (a purge, a misconfigured origin) after the client
    had pinned a head was reported as HistoryRewritten, `the entry of ... was removed; do
    not trust this index, and tell the subnet's operators`: a tampering alarm for a file
    that is not there. It is the same `no index.json at ...` a first read gets; an index
    that is there and lists fewer epochs is still a removal."""
    url, root = published
    head_file = tmp_path / "heads.json"
    plain_assignment(url, now=NOW, head_file=head_file)
    index = json.loads((root / "index.json").read_bytes())
    (root / "index.json").unlink()
    with pytest.raises(AssignmentError) as caught:
        plain_assignment(url, now=NOW, head_file=head_file)
    assert type(caught.value) is AssignmentError
    assert str(caught.value) == f"no index.json at {url}"
    (root / "index.json").write_text(json.dumps(dict(index, epochs=[])))
    with pytest.raises(HistoryRewritten, match="was removed"):
        plain_assignment(url, now=NOW, head_file=head_file)
    with pytest.raises(AssignmentError) as caught:
        plain_assignment(url, now=NOW, head_file=tmp_path / "new-heads.json")
    assert str(caught.value) == f"index.json at {url} lists no epoch"


def test_clientkit_head_file_moves_the_pinned_heads(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = published
    moved = tmp_path / "elsewhere/heads.json"
    monkeypatch.setenv("CLIENTKIT_HEAD_FILE", str(moved))
    plain_assignment(url, now=NOW)
    assert list(json.loads(moved.read_text())) == [url]
    monkeypatch.delenv("CLIENTKIT_HEAD_FILE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert chain.default_head_file() == tmp_path / "home/.cache/subnet46-clientkit/chain-heads.json"


def test_verify_epoch_pins_a_head_only_once_every_history_check_passed(
    published, tmp_path: Path, relay: Relay
) -> None:
    url, root = published
    items = json.loads((root / "index.json").read_bytes())["epochs"]
    head = chain.head(items)
    assert head is not None
    pin = chain.HeadPin(tmp_path / "heads.json")

    def given(pinned: tuple[str, str]) -> list[verify.HistoryCheck]:
        return [("pinned head", functools.partial(chain.expect, pinned=pinned, whence="given"))]

    def run(history: list[verify.HistoryCheck]) -> verify.Outcome:
        source = verify.HttpSource(url)
        return verify.verify_epoch(
            source, None, NOW, [relay.url], at_round_123, pin=pin, history=history
        )

    wrong = run(given((head[0], "sha256:" + "5" * 64)))
    assert [(c.name, c.ok) for c in wrong.checks] == [
        ("index", True),
        ("chain", True),
        ("pinned head", False),
        ("head file", True),
    ]
    assert wrong.checks[2].detail == (
        f"index.json does not extend the history seen before: the entry of {head[0]} (chain "
        f"head sha256:{'5' * 64}, given) was rewritten (itself, or an entry before it); do not "
        "trust this index, and tell the subnet's operators"
    )
    assert not pin.path.exists()
    first = items[0]["epochId"], chain.link(items[0])
    right = run(given(first))
    assert right.ok, right.checks
    assert right.checks[2].detail == f"extends {first[0]} {first[1]} (given) by 6 entries"
    assert json.loads(pin.path.read_text()) == {url: list(head)}


def test_verify_epoch_checks_a_head_pinned_while_it_waited_for_the_lock(
    published, tmp_path: Path, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify_epoch (planner verify) read the head file before taking its lock, then pinned
    its head over whatever another process had pinned meanwhile, unchecked. It holds the
    lock from its check to its pin, as the assignment functions do."""
    url, _ = published
    pin = chain.HeadPin(tmp_path / "heads.json")
    elsewhere = ["2026-11-25T16-00-00", "sha256:" + "7" * 64]  # a history this index rewrites
    waiting = threading.Event()
    locked = chain.HeadPin._locked

    def announced(self: chain.HeadPin) -> Any:
        waiting.set()
        return locked(self)

    monkeypatch.setattr(chain.HeadPin, "_locked", announced)
    outcomes: list[verify.Outcome] = []

    def check() -> None:
        source = verify.HttpSource(url)
        outcomes.append(verify.verify_epoch(source, None, NOW, [relay.url], at_round_123, pin=pin))

    with open(tmp_path / "heads.json.lock", "a") as other:  # another process, pinning
        fcntl.flock(other, fcntl.LOCK_EX)
        thread = threading.Thread(target=check)
        thread.start()
        assert waiting.wait(timeout=60), "verify_epoch never asked for the lock"
        pin.path.write_text(json.dumps({url: elsewhere}))
        fcntl.flock(other, fcntl.LOCK_UN)
    thread.join()
    (outcome,) = outcomes
    (head_file,) = [c for c in outcome.checks if c.name == "head file"]
    assert not head_file.ok and "was rewritten" in head_file.detail
    assert json.loads(pin.path.read_text()) == {url: elsewhere}


def test_an_epoch_listed_again_after_the_pinned_head_is_refused(published, tmp_path: Path) -> None:
    """Appended with a valid link after the pinned head, a second entry for the running
    epoch (committing to a forged assignment) stood in for the first, which the pin checks."""
    url, root = published
    head_file = tmp_path / "heads.json"
    got = plain_assignment(url, now=NOW, head_file=head_file)
    index = json.loads((root / "index.json").read_bytes())
    forged = json.dumps({**got.document, "zipcodes": got.document["zipcodes"][:3]}).encode()
    twin = {
        **next(e for e in index["epochs"] if e["epochId"] == got.epoch_id),
        "commitment": "sha256:" + hashlib.sha256(forged).hexdigest(),
        "prev": chain.link(index["epochs"][-1]),
    }
    (root / "index.json").write_text(json.dumps(dict(index, epochs=[*index["epochs"], twin])))
    (root / f"epochs/{got.epoch_id}.json").write_bytes(forged)
    with pytest.raises(ClientKitError, match=f"the epoch {got.epoch_id} is listed twice"):
        plain_assignment(url, now=NOW, head_file=head_file)


@pytest.mark.parametrize(
    ("field", "raw"),
    [("epochStart", "5"), ("epochStart", "null"), ("revealRound", "1e999")],
)
def test_an_index_entry_of_the_wrong_type_is_a_clear_error(published, field, raw) -> None:
    url, root = published
    index = json.loads((root / "index.json").read_bytes())
    index["epochs"][0][field] = "MARK"
    (root / "index.json").write_text(json.dumps(index).replace('"MARK"', raw))
    with pytest.raises(ClientKitError, match=r"index\.json in .* is not a valid index"):
        plain_assignment(url, now=NOW)


@pytest.mark.parametrize(
    ("served", "said"),
    [
        ("[1, 2]", "it is a JSON array, not an object with an epochs list"),
        ('"index"', "it is a JSON string, not an object with an epochs list"),
        ("null", "it is a JSON null, not an object with an epochs list"),
        ('{"status": "ok"}', "it is a JSON object without an epochs list"),
        ('{"epochs": [{"epochId": 5}]}', "entry 1 of epochs has no 'epochStart'"),
        (
            '{"epochs": [{"epochId": "2026-11-25T16-00-00", "epochStart": '
            '"2026-11-25T16:00:00Z", "epochEnd": "2026-11-25T20:00:00Z"}]}',
            "entry 1 of epochs has no 'revealRound'",
        ),
    ],
)
def test_an_index_that_is_no_index_object_says_what_it_is(published, served, said) -> None:
    """A CDN answering some other JSON for index.json (an API's array, an object of its own)
    was `not a valid index: list indices must be integers or slices, not str`, or `: 'epochs'`:
    Python's words, not what is wrong with the file; an entry missing a field was likewise
    `: 'epochStart'`, the field's name alone."""
    url, root = published
    (root / "index.json").write_text(served)
    with pytest.raises(ClientKitError) as caught:
        plain_assignment(url, now=NOW)
    assert str(caught.value) == f"index.json in {url} is not a valid index: {said}"


@pytest.mark.parametrize(
    "start",
    [" 2026-11-25T16:00:00Z", "2026-11-25T16:00:00", "2026-11-25T20:00:00+04:00"],
)
def test_an_epoch_start_not_written_as_the_planner_writes_it_is_refused(published, start) -> None:
    """The running epoch is found by the index's own instants, read by parse_instant, which
    takes padded, naive and offset texts; the index check before it takes none of them (the
    planner writes `YYYY-MM-DDTHH:MM:SSZ`), so every epoch is found the one way."""
    url, root = published
    index = json.loads((root / "index.json").read_bytes())
    index["epochs"][0]["epochStart"] = start
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(AssignmentError) as refused:
        plain_assignment(url, now=NOW)
    assert (
        f"2026-11-25T16-00-00: epochStart {start!r} is not an instant written YYYY-MM-DDTHH:MM:SSZ"
    ) in str(refused.value)


@pytest.mark.parametrize(
    ("start", "end", "detail"),
    [
        (
            "2026-11-25",
            "2026-11-25T20:00:00Z",
            "epochStart '2026-11-25' is not an instant written YYYY-MM-DDTHH:MM:SSZ",
        ),
        (
            "2026-11-25T16:00:00Z",
            "2026-11-26",
            "epochEnd '2026-11-26' is not an instant written YYYY-MM-DDTHH:MM:SSZ",
        ),
        (
            "2026-11-25T00:00:00Z",
            "2026-11-25T20:00:00Z",
            "epochStart 2026-11-25T00:00:00Z to epochEnd 2026-11-25T20:00:00Z is 20 hours, "
            "not an epoch length (a whole number of hours that divides 24)",
        ),
        (
            "2026-11-25T20:00:00Z",
            "2026-11-25T16:00:00Z",
            "epochStart 2026-11-25T20:00:00Z to epochEnd 2026-11-25T16:00:00Z is -4 hours, "
            "not an epoch length (a whole number of hours that divides 24)",
        ),
        (
            "2026-11-25T16:00:00Z",
            "2026-11-25T20:30:00Z",
            "epochStart 2026-11-25T16:00:00Z to epochEnd 2026-11-25T20:30:00Z is 4.5 hours, "
            "not an epoch length (a whole number of hours that divides 24)",
        ),
        (
            "2026-11-25T12:00:00Z",
            "2026-11-25T16:00:00Z",
            "epochStart 2026-11-25T12:00:00Z to epochEnd 2026-11-25T16:00:00Z is not the epoch "
            "of this id (2026-11-25T16:00:00Z to 2026-11-25T20:00:00Z)",
        ),
    ],
    ids=["date-start", "date-end", "20-hours", "backwards", "not-whole", "another-epoch"],
)
def test_an_index_entry_not_of_its_epoch_names_its_start_and_end(
    published, start, end, detail
) -> None:
    """An entry starting "2026-11-25" (a date, read as midnight) was refused with
    "EPOCH_HOURS must divide 24, got 20": a setting the index has nothing to do with (each
    entry carries its own length). Every refusal of an entry's start and end names them."""
    url, root = published
    index = json.loads((root / "index.json").read_bytes())
    index["epochs"][0].update(epochStart=start, epochEnd=end)
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(AssignmentError) as refused:
        plain_assignment(url, now=NOW)
    assert f"is not a valid index: 2026-11-25T16-00-00: {detail}" in str(refused.value)
    assert "EPOCH_HOURS" not in str(refused.value)


def test_an_index_nested_too_deeply_is_a_clear_error(published) -> None:
    url, root = published
    (root / "index.json").write_text("[" * 100_000)
    with pytest.raises(ClientKitError, match="nested too deeply"):
        plain_assignment(url, now=NOW)


@pytest.mark.parametrize("content", ["[]", '"x"', '{"place": 5}', '{"place": ["a"]}', "\xff"])
def test_a_head_file_that_is_not_one_is_a_clear_error(published, tmp_path: Path, content) -> None:
    url, _ = published
    head_file = tmp_path / "heads.json"
    head_file.write_bytes(content.encode("latin-1"))
    with pytest.raises(ClientKitError, match=f"chain head file {head_file}"):
        plain_assignment(url, now=NOW, head_file=head_file)


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b"<html>oops</html>", b'{"epochId": "2026-11-25T12-00-00", "zipcodes": []}'],
)
def test_a_committed_plain_file_must_be_this_epochs_assignment(
    published, tmp_path: Path, body: bytes
) -> None:
    """The sealed path checked what the bytes say; the plain path only their hash, so an
    index committing to anything (a forged, rechained one) gave bytes `.zipcodes` choked on
    or another epoch's assignment."""
    url, root = published
    epoch_id = "2026-11-25T16-00-00"
    index = json.loads((root / "index.json").read_bytes())
    items = [{k: v for k, v in e.items() if k != "prev"} for e in index["epochs"]]
    for item in items:
        if item["epochId"] == epoch_id:
            item["commitment"] = "sha256:" + hashlib.sha256(body).hexdigest()
    (root / "index.json").write_text(json.dumps(dict(index, epochs=chain.chained(items))))
    (root / f"epochs/{epoch_id}.json").write_bytes(body)
    with pytest.raises(AssignmentError, match="do not use it"):
        plain_assignment(url, now=NOW, head_file=tmp_path / "fresh.json")


ASSIGNMENTS = {
    "plain_assignment": plain_assignment,
    "sealed_assignment": sealed_assignment,
    "current_assignment": current_assignment,
}


@pytest.mark.parametrize("name", ASSIGNMENTS)
@pytest.mark.parametrize(
    ("epoch_id", "error", "says"),
    [
        (
            datetime(2026, 11, 25, 16, tzinfo=UTC),
            TypeError,
            "{name}'s epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' (a "
            "signer's answer's 'epoch_id' names the current one); got a datetime (for the "
            "epoch running at an instant, pass now=)",
        ),
        (
            epoch_at(NOW),
            TypeError,
            "{name}'s epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' (a "
            "signer's answer's 'epoch_id' names the current one); got an Epoch (pass its .id)",
        ),
        (
            "2026-11-25T16:00:00",
            ValueError,
            "{name}'s epoch_id '2026-11-25T16:00:00' is not an epoch id: YYYY-MM-DDTHH-00-00, "
            "as a signer's answer's 'epoch_id' names one",
        ),
        (
            "",
            ValueError,
            "{name}'s epoch_id '' is not an epoch id: YYYY-MM-DDTHH-00-00, as a signer's "
            "answer's 'epoch_id' names one",
        ),
    ],
    ids=["datetime", "Epoch", "colons", "empty"],
)
def test_an_assignment_epoch_id_that_is_no_epoch_id_is_refused_before_any_request(
    name: str, epoch_id: Any, error: type[Exception], says: str
) -> None:
    """The assignment functions looked any epoch_id up in index.json as given: a datetime
    said `index.json at <CDN> lists no epoch 2026-11-25 16:00:00+00:00`, and a typo, or an
    empty str, that the CDN published no such epoch, as for one not planned yet."""
    with scripted_server([]) as cdn, pytest.raises(error) as caught:
        ASSIGNMENTS[name](cdn.url, epoch_id=epoch_id)
    assert str(caught.value) == says.format(name=name)
    assert cdn.requests == []


@pytest.mark.parametrize(
    ("epoch_id", "error", "says"),
    [
        (
            datetime(2026, 11, 25, 16, tzinfo=UTC),
            TypeError,
            "list_miner's epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' "
            "(validator_access()['epoch_id'] names the current one); got a datetime",
        ),
        (
            epoch_at(NOW),
            TypeError,
            "list_miner's epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' "
            "(validator_access()['epoch_id'] names the current one); got an Epoch (pass its .id)",
        ),
        (
            "2026-11-25T16:00:00",
            ValueError,
            "list_miner's epoch_id '2026-11-25T16:00:00' is not an epoch id: "
            "YYYY-MM-DDTHH-00-00, as validator_access()['epoch_id'] names one",
        ),
    ],
    ids=["datetime", "Epoch", "colons"],
)
def test_a_list_miner_epoch_id_that_is_no_epoch_id_is_refused_as_assignments_do(
    epoch_id: Any, error: type[Exception], says: str
) -> None:
    """list_miner given a datetime raised an EpochError quoting its repr, `epoch_id
    datetime.datetime(2026, 11, 25, 16, 0, tzinfo=datetime.timezone.utc) is not an epoch
    id`, where the assignment functions raised a TypeError naming the type."""
    with scripted_server([]) as signer, pytest.raises(error) as caught:
        list(list_miner(SignerClient(signer.url, BOB), BOB, epoch_id=epoch_id))
    assert str(caught.value) == says
    assert signer.requests == []


def test_an_epoch_id_not_written_as_ids_are_is_refused(published) -> None:
    url, root = published
    index = json.loads((root / "index.json").read_bytes())
    assert index["epochs"][0]["epochId"] == "2026-11-25T16-00-00"
    index["epochs"][0]["epochId"] = "2026-11-25T16-0-0"
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(ClientKitError, match="is not written as epoch ids are"):
        plain_assignment(url, now=NOW)


def test_a_relay_with_a_wrong_signature_does_not_stop_the_next(published, relay: Relay) -> None:
    """The first relay's signature was taken unchecked: a relay answering a wrong one (broken
    or lying) failed the call, though the next relay had the right one."""
    url, _ = published
    wrong = {"round": TEST_ROUND, "signature": "ab" * 48}
    with scripted_server([Answer(200, {}, json.dumps(wrong).encode())]) as liar:
        got = sealed_assignment(url, now=NOW, relays=[liar.url, relay.url], round_for=at_round_123)
    assert got.via == "sealed" and liar.requests and relay.requests
    with (
        scripted_server([Answer(200, {}, json.dumps(wrong).encode())]) as liar,
        pytest.raises(AssignmentError, match=f"decrypt: {liar.url}'s signature"),
    ):
        sealed_assignment(url, now=NOW, relays=[liar.url], round_for=at_round_123)


def test_a_relay_that_never_answers_is_left_after_relay_timeout(
    published, relay: Relay, tmp_path: Path
) -> None:
    """A relay that took the connection and never answered held a sealed open 5 s, with no
    way to say less; `relay_timeout` is each relay's one try, then the next is asked."""
    url, _ = published
    got: list[Any] = []
    with cdn(tmp_path) as hung:
        hung.hang()
        relays = [hung.url, relay.url]
        opened = raised(
            lambda: got.append(
                sealed_assignment(
                    url, now=NOW, relays=relays, round_for=at_round_123, relay_timeout=0.2
                )
            )
        )
        assert opened is None, repr(opened)
        assert got[0].via == "sealed" and relay.requests
        error = raised(
            lambda: sealed_assignment(
                url, now=NOW, relays=[hung.url], round_for=at_round_123, relay_timeout=0.2
            )
        )
        outcome = raised(
            lambda: got.append(
                verify.verify_epoch(
                    verify.HttpSource(url),
                    None,
                    NOW,
                    [hung.url],
                    at_round_123,
                    relay_timeout=0.2,
                )
            )
        )
    assert isinstance(error, NotOpenYet), repr(error)
    said = f"{hung.url}: ReadTimeout (nothing received in 0.2 s)"
    assert said in str(error)
    assert outcome is None, repr(outcome)
    (beacon,) = [c for c in got[-1].checks if c.name == "drand beacon"]
    assert not beacon.ok and said in beacon.detail


WRITER = """
import os, sys, time
from pathlib import Path
from clientkit import chain
path, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
pin = chain.HeadPin(path)
while not go.exists():
    time.sleep(0.001)
for i in range(30):
    pin.remember(f"{name}/{i}", ("2026-11-25T16-00-00", "sha256:" + "0" * 64))
    pin.verify(name, [])
"""


def test_processes_sharing_a_head_file_keep_each_others_heads(tmp_path: Path) -> None:
    """Several hotkeys on one machine share the default head file: every writer used the same
    `.tmp` name (FileNotFoundError on the rename, a half-written file read as not JSON), and
    each wrote back what it had read, dropping the heads pinned meanwhile."""
    head_file, go = tmp_path / "heads.json", tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(head_file), f"w{n}", str(go)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    go.touch()
    failures = [w.stderr.read() for w in writers if w.wait(timeout=120) != 0]
    assert failures == []
    assert len(json.loads(head_file.read_text())) == 6 * 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "heads.json", "heads.json.lock"]


def test_pinning_removes_what_writers_killed_mid_write_left(tmp_path: Path) -> None:
    """A pin killed mid-write (kill -9) left its `.heads.json.XXXXXXXX.tmp` beside the head
    file for good. The next pin removes those an hour old; a live writer's, younger, and
    files that are not this head file's temporary files (the folder may be anyone's) stay."""
    folder = tmp_path / "cache"
    folder.mkdir()
    an_hour_ago = time.time() - 3600 - 60
    left = [".heads.json.k3j_x9q2.tmp", ".heads.json.abcdefgh.tmp"]
    others = [".other.json.abcdefgh.tmp", ".heads.json.tmp", "heads.json.abcdefgh.tmp"]
    for name in [*left, *others]:
        (folder / name).write_bytes(b"half")
        os.utime(folder / name, (an_hour_ago, an_hour_ago))
    (folder / ".heads.json.qwertyui.tmp").write_bytes(b"being written")
    pin = chain.HeadPin(folder / "heads.json")
    pin.remember("https://cdn.example", ("2026-11-25T16-00-00", "sha256:" + "0" * 64))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["heads.json", "heads.json.lock", ".heads.json.qwertyui.tmp", *others]
    )


def test_a_head_file_the_os_refuses_is_a_clear_error(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home the user cannot write (HOME=/nonexistent, a read-only home) was a bare OSError
    and no assignment. Root may write anywhere, so here the home is a link to nowhere."""
    url, _ = published
    home = tmp_path / "home"
    home.symlink_to(tmp_path / "unmounted")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLIENTKIT_HEAD_FILE")
    head_file = home / ".cache/subnet46-clientkit/chain-heads.json"
    with pytest.raises(
        ClientKitError,
        match=rf"^chain head file {re.escape(str(head_file))} cannot be written: .*; set "
        r"CLIENTKIT_HEAD_FILE \(or pass head_file=\) to keep it elsewhere$",
    ):
        current_assignment(url, now=NOW)


def test_a_head_file_path_that_is_a_folder_is_a_clear_error(published, tmp_path: Path) -> None:
    """A folder said it `cannot be read: [Errno 21] Is a directory`, and `/` was a
    ValueError from pathlib (PosixPath('/') has an empty name)."""
    url, _ = published
    for folder in ("/", tmp_path):
        with pytest.raises(
            ClientKitError,
            match=rf"^chain head file {re.escape(str(folder))} is a folder: set "
            r"CLIENTKIT_HEAD_FILE \(or pass head_file=\) to a file, such as "
            r"~/\.cache/subnet46-clientkit/chain-heads\.json$",
        ):
            current_assignment(url, now=NOW, head_file=folder)


@pytest.mark.parametrize(("head_file", "kind"), [(5, "an int"), (b"/tmp/heads.json", "a bytes")])
def test_a_head_file_that_is_no_path_is_refused_before_any_request(head_file, kind: str) -> None:
    """A head_file that is no str nor path failed inside pathlib, once index.json had been
    read: `TypeError: expected str, bytes or os.PathLike object, not int`."""
    with scripted_server([]) as cdn, pytest.raises(TypeError) as caught:
        current_assignment(cdn.url, head_file=head_file)
    assert str(caught.value) == (
        "chain head file is a path, a str or a pathlib.Path such as "
        f"~/.cache/subnet46-clientkit/chain-heads.json; got {kind}: set CLIENTKIT_HEAD_FILE "
        "(or pass head_file=) to one"
    )
    assert cdn.requests == []


def test_a_head_file_may_be_given_as_text_and_from_the_home(
    published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A str head_file was an AttributeError, and `~` was taken literally (a `./~` folder)."""
    url, _ = published
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    plain_assignment(url, now=NOW, head_file=str(tmp_path / "text.json"))
    plain_assignment(url, now=NOW, head_file="~/tilde.json")
    plain_assignment(url, now=NOW, head_file=Path("~/path.json"))
    monkeypatch.setenv("CLIENTKIT_HEAD_FILE", "~/setting.json")
    plain_assignment(url, now=NOW)
    assert not (tmp_path / "~").exists()
    for pinned in ("text.json", "home/tilde.json", "home/path.json", "home/setting.json"):
        assert list(json.loads((tmp_path / pinned).read_text())) == [url], pinned


def test_a_naive_now_is_taken_as_utc(published, relay: Relay) -> None:
    """Comparing it with the index's aware instants was a TypeError."""
    url, _ = published
    naive = NOW.replace(tzinfo=None)
    expected = plain_assignment(url, now=NOW).epoch_id
    assert plain_assignment(url, now=naive).epoch_id == expected
    assert current_assignment(url, now=naive).epoch_id == expected
    sealed = sealed_assignment(url, now=naive, relays=[relay.url], round_for=at_round_123)
    assert sealed.epoch_id == expected
    outcome = verify.verify_epoch(verify.HttpSource(url), None, naive, [relay.url], at_round_123)
    assert outcome.ok and outcome.epoch_id == expected
    with pytest.raises(TypeError) as caught:
        current_assignment(url, now="2026-11-25T17:00Z")
    assert str(caught.value) == (
        "current_assignment's now is the instant whose running epoch is wanted, a datetime; "
        "got a str '2026-11-25T17:00Z'"
    )


def test_an_epoch_id_given_as_now_says_to_pass_it_as_epoch_id(published) -> None:
    """current_assignment's second argument is `now` (plain_assignment's is `epoch_id`):
    `current_assignment(url, "2026-11-25T16-00-00")` said `an instant is a datetime, got
    str ...`, naming neither the function nor its argument."""
    url, _ = published
    for function in (current_assignment, plain_assignment, sealed_assignment):
        with pytest.raises(TypeError) as caught:
            function(url, now="2026-11-25T16-00-00")
        assert str(caught.value) == (
            f"{function.__name__}'s now is the instant whose running epoch is wanted, a "
            "datetime; got a str '2026-11-25T16-00-00': an epoch id is passed as "
            "epoch_id='2026-11-25T16-00-00'"
        )
    with pytest.raises(TypeError, match=r"^current_assignment's now is the instant"):
        current_assignment(url, "2026-11-25T16-00-00")


def test_one_relay_may_be_given_as_its_url(published, relay: Relay) -> None:
    """A str was read as a list of one-character relays."""
    url, _ = published
    got = sealed_assignment(url, now=NOW, relays=relay.url, round_for=at_round_123)
    assert got.via == "sealed" and relay.requests
    assert fetch_signature(TEST_ROUND, relay.url)


def test_a_presigned_url_that_is_not_text_is_a_clear_error() -> None:
    """A grant given whole (not its list_url) failed inside the error message's own code."""
    with pytest.raises(TypeError, match="cannot list a dict: a presigned URL is a str"):
        list_page({"list_url": "http://127.0.0.1:9/bucket"})
    with pytest.raises(TypeError, match="cannot read a NoneType: a presigned URL is a str"):
        read_object(None)


@pytest.mark.parametrize(
    ("read", "verb"), [(read_object, "read"), (list_page, "list")], ids=["read_object", "list_page"]
)
def test_a_key_given_for_a_presigned_url_is_a_clear_error(read, verb: str) -> None:
    """An object's key (what list_miner yields) passed to read_object failed at the request,
    `StorageError: cannot read data/...: MissingSchema`, as if S3 were unreachable. It is a
    ValueError naming the value and what a presigned URL is, without its query (nor any
    user and password)."""
    key = "data/hotkey=5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty/epoch=x/a.json"
    for given, shown in (
        (key, key),
        ("127.0.0.1:9/b?X-Amz-Signature=abc", "127.0.0.1:9/b"),
        ("admin:s3cr3t@127.0.0.1:9/b", "127.0.0.1:9/b"),
    ):
        with pytest.raises(ValueError) as caught:
            read(given)
        assert str(caught.value) == (
            f"cannot {verb} {shown!r}: it is no URL (http:// or https:// and a host); a "
            "presigned URL is a signer answer's list_url or a file's presigned_url "
            "(read_miner_files reads a miner's files by their keys)"
        )


BOB = Keypair.create_from_uri("//Bob")
BOB_COLDKEY = Keypair.create_from_uri("//Bob//stash").ss58_address


class StandInWallet:
    """The shape of a bittensor Wallet the kit reads: `hotkey` is the hotkey's Keypair."""

    def __init__(self) -> None:
        self.hotkey = BOB
        self.coldkeypub = Keypair(ss58_address=Keypair.create_from_uri("//Bob//stash").ss58_address)


def bittensor_wallet(tmp_path: Path) -> Any:
    bittensor = pytest.importorskip("bittensor")
    wallet = bittensor.Wallet(name="miner", hotkey="hot", path=str(tmp_path / "wallets"))
    wallet.create_new_hotkey(overwrite=True, suppress=True)
    wallet.create_new_coldkey(overwrite=True, suppress=True, use_password=False)
    return wallet


@pytest.mark.parametrize(
    "make", [lambda _: StandInWallet(), bittensor_wallet], ids=["stand-in", "bittensor"]
)
def test_a_wallet_signs_with_its_hotkey_and_a_keypair_may_give_an_address(
    make, tmp_path: Path
) -> None:
    """A bittensor Wallet was an AttributeError (no `sign`) at the first request, and a
    Keypair given for a coldkey or a miner's hotkey was not JSON serializable."""
    wallet = make(tmp_path)
    grant = Answer(200, {}, b'{"list_url": "http://127.0.0.1:9/x"}')
    with scripted_server([grant]) as signer:
        client = SignerClient(signer.url, wallet)
        client.folder_access(wallet.coldkeypub)
        client.miner_list(wallet.hotkey)
        client.file_urls(wallet.hotkey, ["k"])
    bodies = [json.loads(r.body) for r in signer.requests]
    hotkey, coldkey = wallet.hotkey.ss58_address, wallet.coldkeypub.ss58_address
    assert client.hotkey == bodies[0]["hotkey"] == hotkey
    assert bodies[0]["coldkey"] == coldkey
    message = f"s3:data:access:{coldkey}:{hotkey}:{bodies[0]['timestamp']}"
    assert wallet.hotkey.verify(message.encode(), bytes.fromhex(bodies[0]["signature"]))
    assert bodies[1]["miner_hotkey"] == bodies[2]["miner_hotkey"] == hotkey


def test_list_miner_takes_the_miner_as_a_keypair() -> None:
    miner = Keypair.create_from_uri("//Bob")
    page = (
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        "<IsTruncated>false</IsTruncated></ListBucketResult>"
    )
    with scripted_server([Answer(200, {}, page.encode())]) as bucket:
        grant = Answer(200, {}, f'{{"list_url": "{bucket.url}/page"}}'.encode())
        with scripted_server([grant]) as signer:
            assert list(list_miner(SignerClient(signer.url, BOB), miner)) == []
    assert json.loads(signer.requests[0].body)["miner_hotkey"] == miner.ss58_address
    with pytest.raises(TypeError, match="miner_hotkey is an SS58 address, or a keypair"):
        list(list_miner(SignerClient(signer.url, BOB), 5))


@pytest.mark.parametrize(
    "address",
    [
        BOB.ss58_address + "\n",
        " " + BOB.ss58_address,
        BOB.ss58_address[:-1],
        BOB.ss58_address.lower(),
        "",
    ],
)
@pytest.mark.parametrize("epoch_id", [None, "2026-11-25T16-00-00"])
def test_a_miner_hotkey_that_is_no_ss58_address_is_refused_before_any_request(
    address: str, epoch_id: str | None
) -> None:
    """With epoch_id, list_miner listed `data/hotkey=<text>/epoch=.../` without the signer
    seeing the hotkey: a pasted hotkey with a newline, a space or a letter missing listed
    nothing, and a validator scored a real miner as having uploaded nothing. Without it,
    the signer's 422 said so; both are a ValueError now, before any request, as is any
    address the kit is given that is no SS58 address."""
    with scripted_server([]) as signer:
        client = SignerClient(signer.url, BOB)
        calls = [
            lambda: list(list_miner(client, address, epoch_id=epoch_id)),
            lambda: client.miner_list(address),
            lambda: client.file_urls(address, ["k"]),
            lambda: client.folder_access(address),
        ]
        for call in calls:
            with pytest.raises(ValueError) as caught:
                call()
            assert str(caught.value).endswith(
                f" {address!r} is not an SS58 address (such as {BOB.ss58_address!r})"
            )
    assert signer.requests == []


@pytest.mark.parametrize("epoch_id", ["2026-11-25T16:00:00", "2026-11-25T16-30-00", "latest"])
def test_list_miner_refuses_an_epoch_id_that_is_not_one(epoch_id: str) -> None:
    """A typo in epoch_id would list nothing, as an epoch without files does: it is a
    ValueError (clientkit.epochs.EpochError) before the signer is asked."""
    with scripted_server([]) as signer, pytest.raises(ValueError, match=re.escape(epoch_id)):
        list(list_miner(SignerClient(signer.url, BOB), BOB, epoch_id=epoch_id))
    assert signer.requests == []


PAGE = parse_listing(
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>"
    b"</ListBucketResult>"
)


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (
            lambda c: c.folder_access(BOB_COLDKEY, epoch_id=datetime(2026, 11, 25, 16, tzinfo=UTC)),
            "folder_access's epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' (a "
            "folder_access answer's 'epoch_id' names the current one); got a datetime",
        ),
        (
            lambda c: list(list_mine(c, BOB_COLDKEY, epoch_id=epoch_at(NOW))),
            "folder_access's epoch_id is an epoch id, a str such as '2026-11-25T16-00-00' (a "
            "folder_access answer's 'epoch_id' names the current one); got an Epoch (pass its "
            ".id)",
        ),
        (
            lambda c: c.folder_access(BOB_COLDKEY, continuation_token=PAGE),
            "folder_access's continuation_token is a listing page's next_token, a str; got a "
            "Page (pass page.next_token)",
        ),
        (
            lambda c: c.miner_list(BOB, continuation_token=PAGE),
            "miner_list's continuation_token is a listing page's next_token, a str; got a Page "
            "(pass page.next_token)",
        ),
    ],
    ids=["folder_access epoch", "list_mine epoch", "folder_access token", "miner_list token"],
)
def test_a_folder_access_argument_that_is_not_text_is_refused_naming_it(call, says) -> None:
    """folder_access (and list_mine) given the epoch as a datetime or an Epoch, or a page for
    its token, failed in json, `TypeError: Object of type datetime is not JSON serializable`,
    naming no argument, as validator_upload did."""
    with scripted_server([]) as signer, pytest.raises(TypeError) as caught:
        call(SignerClient(signer.url, BOB))
    assert str(caught.value) == says
    assert signer.requests == []


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        (
            [ObjectInfo("data/x.json", 1, '"e"', "2026-11-25T16:00:00Z")],
            "file_urls takes keys (str), not the ObjectInfo that list_miner yields: pass "
            "[info.key for info in ...]",
        ),
        (
            "data/x.json",
            "file_urls takes a list of keys, not one key (a str), 'data/x.json': pass [key]",
        ),
        (["data/x.json", 7], "file_urls takes keys (str), not 7 (int)"),
    ],
    ids=["ObjectInfo", "one key", "number"],
)
def test_file_urls_refuses_keys_that_are_not_a_list_of_text(keys, says: str) -> None:
    """SignerClient.file_urls given list_miner's ObjectInfo failed in json, `TypeError:
    Object of type ObjectInfo is not JSON serializable`, where read_miner_files said what to
    pass instead."""
    with scripted_server([]) as signer, pytest.raises(TypeError) as caught:
        SignerClient(signer.url, BOB).file_urls(BOB, keys)
    assert str(caught.value) == says
    assert signer.requests == []


SIGNER_CALLS = {
    "list_mine": lambda signer: list_mine(signer, BOB_COLDKEY),
    "list_miner": lambda signer: list_miner(signer, BOB),
    "read_miner_files": lambda signer: read_miner_files(signer, BOB, ["data/x.json"]),
}


@pytest.mark.parametrize("name", SIGNER_CALLS)
@pytest.mark.parametrize("given", ["url", "keypair", "none"])
def test_a_signer_that_is_no_signer_client_is_refused_naming_it(name: str, given: str) -> None:
    """The signer's URL (or the hotkey) given for the SignerClient failed inside the kit,
    `AttributeError: 'str' object has no attribute 'hotkey'` (or 'folder_access',
    'miner_list', 'file_urls'), naming neither the argument nor what to pass."""
    with scripted_server([]) as server:
        signer = {"url": server.url, "keypair": BOB, "none": None}[given]
        with pytest.raises(TypeError) as caught:
            list(SIGNER_CALLS[name](signer))
    kind = {"url": "a str", "keypair": "a Keypair", "none": "a NoneType"}[given]
    assert str(caught.value) == (
        f"{name}'s signer is a clientkit.SignerClient, made of the signer's URL and your "
        f"hotkey: SignerClient(SIGNER, keypair); got {kind}"
    )
    assert server.requests == []


@pytest.mark.parametrize("given", ["folder access", "validator upload"])
def test_list_miner_given_an_upload_credential_for_access_says_what_to_pass(given: str) -> None:
    """A miner's grant, or a validator access's own `upload`, given as `access=` said `the
    signer's validator access has no urls (dict): not used`, as if the signer had answered
    a broken validator access."""
    upload_form = {"url": "http://127.0.0.1:9/b", "fields": {"key": "k"}, "folder": "f/"}
    access = {
        "folder access": upload_form | {"list_url": "http://127.0.0.1:9/b?list-type=2"},
        "validator upload": upload_form,
    }[given]
    with scripted_server([]) as signer, pytest.raises(StorageError) as caught:
        list(
            list_miner(
                SignerClient(signer.url, BOB), BOB, epoch_id="2026-11-25T16-00-00", access=access
            )
        )
    assert str(caught.value) == (
        "list_miner's access= is a validator_access() answer, and this is an upload "
        "credential (a folder_access or validator_upload answer, or a validator access's "
        "'upload'): pass the whole validator_access() answer"
    )
    assert signer.requests == []


def test_list_miner_refuses_a_validator_access_without_list_all_data() -> None:
    access = Answer(200, {}, b'{"urls": {"global": {}}}')
    with (
        scripted_server([access]) as signer,
        pytest.raises(StorageError, match="validator access has no list_all_data"),
    ):
        list(list_miner(SignerClient(signer.url, BOB), BOB, epoch_id="2026-11-25T16-00-00"))


@pytest.mark.parametrize(
    ("key", "error", "says"),
    [
        (Keypair.generate_mnemonic(), TypeError, r"got str \(for a mnemonic .*create_from_m"),
        (object(), TypeError, "signs with a bittensor_core Keypair, .*; got object"),
        (type("Wallet", (), {"hotkey": "hot"})(), TypeError, "got Wallet whose hotkey is a str"),
        (
            Keypair(ss58_address=BOB.ss58_address),
            ValueError,
            f"the keypair of {BOB.ss58_address} cannot sign .*: it holds only the public key",
        ),
        (
            Keypair.create_from_uri("//Bob", crypto_type=CRYPTO_ED25519),
            ValueError,
            "is not sr25519 .*: the signer checks a hotkey's sr25519 signature",
        ),
    ],
    ids=["mnemonic", "object", "wallet-without-keypair", "public-only", "ed25519"],
)
def test_a_key_that_cannot_sign_is_refused_when_the_client_is_made(key, error, says) -> None:
    """A public-only keypair failed at the first request, an ed25519 one was refused by the
    signer with a signature error, a str at the first request with an AttributeError."""
    with pytest.raises(error, match=says):
        SignerClient("http://127.0.0.1:9", key)


@pytest.mark.parametrize(
    "url", ["signer.example.com", "localhost:8000", "127.0.0.1:8000", "ftp://signer.example.com"]
)
def test_a_signer_url_without_http_is_refused_when_the_client_is_made(url: str) -> None:
    """A signer URL without its scheme was taken, and every request then failed with
    requests' MissingSchema or InvalidSchema (`SignerError` `unreachable`), far from the
    mistake."""
    with pytest.raises(ValueError) as caught:
        SignerClient(url, BOB)
    assert str(caught.value) == (
        f"the signer URL {url!r} needs http:// or https:// and a host, such as "
        "'https://signer.example.org' ('http://127.0.0.1:8000' for a signer on this machine)"
    )


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("admin:s3cr3t@signer.example.com", "'signer.example.com'"),
        ("ftp://admin:s3cr3t@signer.example.com/x", "'ftp://signer.example.com/x'"),
        ("https:/admin:s3cr3t@signer.example.com", "'https:/signer.example.com'"),
    ],
)
def test_a_refused_signer_url_is_named_without_its_user_and_password(url, named) -> None:
    """The ValueError echoed the URL given, `user:password@` and all."""
    with pytest.raises(ValueError) as caught:
        SignerClient(url, BOB)
    assert "s3cr3t" not in str(caught.value) and "admin" not in str(caught.value)
    assert str(caught.value).startswith(f"the signer URL {named} needs http:// or https://")


@pytest.mark.parametrize("mark", ["#", "?", "/"])
def test_a_base_url_whose_password_holds_a_delimiter_is_named_without_it(mark) -> None:
    """`https://admin:s3cr#t@signer.example.com` was refused for its fragment and named as
    `'https://admin:s3cr#…'`: a # (or ? or /) ends the address before the @, so the user and
    the password's start were taken for the host and shown."""
    with pytest.raises(ValueError) as caught:
        SignerClient(f"https://admin:s3cr{mark}t@signer.example.com", BOB)
    assert str(caught.value) == (
        "the signer URL 'https://signer.example.com' must have its user name and password "
        "percent-encoded: a #, ? or / in them ends the address (write %23, %3F, %2F), such as "
        "'https://signer.example.org' ('http://127.0.0.1:8000' for a signer on this machine)"
    )


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (
            lambda: read_object("https://admin:hunter2?xyz@store.example/obj"),
            "cannot read 'https://store.example/obj': its user name and password must be "
            "percent-encoded: a #, ? or / in them ends the address (write %23, %3F, %2F)",
        ),
        (
            lambda: list_page("http://admin:s3cr#et@127.0.0.1:1/obj"),
            "cannot list 'http://127.0.0.1:1/obj': its user name and password must be "
            "percent-encoded: a #, ? or / in them ends the address (write %23, %3F, %2F)",
        ),
        (
            lambda: read_object("http://[::1/x?X-Amz-Signature=abc"),
            "cannot read 'http://[::1/x': it is no URL (http:// or https:// and a host); a "
            "presigned URL is a signer answer's list_url or a file's presigned_url "
            "(read_miner_files reads a miner's files by their keys)",
        ),
    ],
    ids=["password with ?", "password with #", "unclosed IPv6 host"],
)
def test_a_url_read_as_given_is_refused_by_name_without_its_password(call, says) -> None:
    """The URLs read as given (read_object, list_page) were named with the user and the
    password's start when a ? or # in the password ended the address before its @
    (`cannot read 'https://admin:hunter2': ...`), and one urllib cannot parse raised its
    bare `ValueError: Invalid IPv6 URL`, naming neither."""
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value) == says


def test_a_clock_that_gives_no_unix_seconds_is_refused_naming_it() -> None:
    """`clock=time.time()` (its value) was taken, and the first request failed with `'float'
    object is not callable`; `clock=datetime.now` with int()'s words about a datetime."""
    with pytest.raises(TypeError) as caught:
        SignerClient(GONE, BOB, clock=time.time())
    assert str(caught.value) == (
        "clock is a function giving unix seconds, such as time.time; got a float (pass the "
        "function, not what it gave)"
    )
    client = SignerClient(GONE, BOB, clock=datetime.now)
    with pytest.raises(TypeError) as caught:
        client.validator_access()
    assert str(caught.value) == (
        "clock gives unix seconds, a number, as time.time does; it gave a datetime"
    )


SESSION_TAKERS = {
    "SignerClient": lambda url, session: SignerClient(url, BOB, session=session),
    "upload": lambda url, session: upload(
        {"url": url, "fields": {}, "folder": "data/x/"}, "a.json", b"1", session=session
    ),
    "list_page": lambda url, session: list_page(f"{url}/?list-type=2", session=session),
    "read_object": lambda url, session: read_object(f"{url}/k", session=session),
    "list_mine": lambda url, session: list(
        list_mine(SignerClient(url, BOB), BOB_COLDKEY, session=session)
    ),
    "list_miner": lambda url, session: list(
        list_miner(SignerClient(url, BOB), BOB, session=session)
    ),
    "read_miner_files": lambda url, session: list(
        read_miner_files(SignerClient(url, BOB), BOB, ["k"], session=session)
    ),
}


@pytest.mark.parametrize("name", SESSION_TAKERS)
@pytest.mark.parametrize(
    ("session", "given"),
    [({"User-Agent": "validator"}, "a dict"), ("http://127.0.0.1:8000", "a str")],
    ids=["headers", "url"],
)
def test_a_session_that_is_no_requests_session_is_refused_naming_it(
    name: str, session: object, given: str
) -> None:
    """`session=` given headers, or a URL, was taken, and the first request failed inside
    the kit: `AttributeError: 'dict' object has no attribute 'post'`, naming no argument."""
    with scripted_server([]) as server, pytest.raises(TypeError) as caught:
        SESSION_TAKERS[name](server.url, session)
    assert str(caught.value) == (
        f"session is a requests.Session, such as requests.Session() (or leave it unset); got "
        f"{given}"
    )
    assert server.requests == []


def test_a_signer_url_that_is_not_text_is_refused_when_the_client_is_made() -> None:
    with pytest.raises(TypeError, match=r"the signer URL is a str, .*; got a bytes"):
        SignerClient(b"https://signer.example.org", BOB)


CDN_EXAMPLE = "'https://subnet46-published.nyc3.cdn.digitaloceanspaces.com'"


@pytest.mark.parametrize(
    "url",
    [
        "cdn.example.com",
        "localhost:8080",
        "ftp://cdn.example.com",
        "https://",
        "http://:8080",
        "https://cdn.example.com:port",
    ],
)
@pytest.mark.parametrize(
    "read",
    [plain_assignment, sealed_assignment, current_assignment, verify.HttpSource],
    ids=["plain", "sealed", "current", "HttpSource"],
)
def test_a_cdn_url_without_http_is_refused_before_any_request(read, url: str) -> None:
    """`current_assignment("cdn.example.com")` failed with `cannot fetch
    cdn.example.com/index.json: MissingSchema`, an AssignmentError like a CDN that is down,
    naming neither the argument nor what to write."""
    with pytest.raises(ValueError) as caught:
        read(url)
    assert str(caught.value) == (
        f"the CDN base URL (base_url) {url!r} needs http:// or https:// and a host, "
        f"such as {CDN_EXAMPLE}"
    )


def test_a_cdn_url_that_is_not_text_is_refused() -> None:
    with pytest.raises(TypeError, match=r"the CDN base URL \(base_url\) is a str, .*; got a bytes"):
        current_assignment(b"https://cdn.example.com")


TAILS = {"query": "/?token=s3cr3t", "fragment": "#top", "empty-query": "?"}


def tail_refusal(what: str, url: str, added: str, example: str) -> str:
    """The refusal of `url`, a base URL but for the query or fragment in what was `added`:
    named up to its first character, as a query may carry a token, no message repeats."""
    tail = added.lstrip("/")
    cut = url.removesuffix(tail) + tail[0] + ("…" if len(tail) > 1 else "")
    part = "query string" if tail[0] == "?" else "fragment"
    message = (
        f"{what} {cut!r} has a query string or fragment, which a base URL cannot have (the "
        f"kit adds each path after it): drop its {part} (from {tail[0]!r} on), such as {example}"
    )
    assert "s3cr3t" not in message
    return message


@pytest.mark.parametrize("tail", TAILS.values(), ids=TAILS.keys())
def test_a_signer_url_with_a_query_or_fragment_is_refused_naming_it(
    signer_without_bucket: str, tail: str
) -> None:
    """`https://signer.example.org/?x=1` was taken, and each request went to the query's
    end (`/?x=1/get-folder-access`), the signer's root: `method_not_allowed (HTTP 405)`."""
    url = signer_without_bucket + tail
    with pytest.raises(ValueError) as caught:
        SignerClient(url, BOB)
    assert str(caught.value) == tail_refusal(
        "the signer URL",
        url,
        tail,
        "'https://signer.example.org' ('http://127.0.0.1:8000' for a signer on this machine)",
    )


@pytest.mark.parametrize("tail", TAILS.values(), ids=TAILS.keys())
@pytest.mark.parametrize(
    "read",
    [plain_assignment, sealed_assignment, current_assignment, verify.HttpSource],
    ids=["plain", "sealed", "current", "HttpSource"],
)
def test_a_cdn_url_with_a_query_or_fragment_is_refused_naming_it(
    published, read, tail: str
) -> None:
    """`current_assignment("https://cdn.example.com/?x=1")` read the CDN's root for
    index.json (`/?x=1/index.json`), and said the CDN's index was not a valid index."""
    url = published[0] + tail
    with pytest.raises(ValueError) as caught:
        read(url)
    assert str(caught.value) == tail_refusal("the CDN base URL (base_url)", url, tail, CDN_EXAMPLE)


@pytest.mark.parametrize("tail", TAILS.values(), ids=TAILS.keys())
def test_a_relay_with_a_query_or_fragment_is_refused_naming_it(
    published, relay: Relay, tail: str
) -> None:
    url, _ = published
    relays = [relay.url, relay.url + tail]
    for call in (
        lambda: sealed_assignment(url, now=NOW, relays=relays, round_for=at_round_123),
        lambda: fetch_signature(TEST_ROUND, relays),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == tail_refusal(
            "the drand relay (relays)", relay.url + tail, tail, "'https://api.drand.sh'"
        )


BAD_RELAYS = {
    "no-scheme": ("api.drand.sh", "'api.drand.sh'"),
    "one-of-two": (["https://api.drand.sh", "api2.drand.sh:443"], "'api2.drand.sh:443'"),
    "other-scheme": (("wss://api.drand.sh",), "'wss://api.drand.sh'"),
}


def relay_refusal(named: str) -> str:
    return (
        f"the drand relay (relays) {named} needs http:// or https:// and a host, "
        "such as 'https://api.drand.sh'"
    )


@pytest.mark.parametrize(("relays", "named"), BAD_RELAYS.values(), ids=BAD_RELAYS.keys())
def test_a_relay_without_http_is_refused_before_any_request(published, relays, named) -> None:
    """A relay without its scheme was asked, failed with MissingSchema, and the sealed file
    was NotOpenYet, the one error worth retrying: a miner retried for ever. current_assignment
    took it silently while the plain file was out."""
    url, _ = published
    calls = {
        "current": lambda: current_assignment(url, now=NOW, relays=relays),
        "sealed": lambda: sealed_assignment(url, now=NOW, relays=relays, round_for=at_round_123),
        "verify_epoch": lambda: verify.verify_epoch(
            verify.HttpSource(url), None, NOW, relays, at_round_123
        ),
        "fetch_signature": lambda: fetch_signature(TEST_ROUND, relays),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value) == relay_refusal(named), name


def test_no_relay_at_all_is_refused(published) -> None:
    """An empty list read as every relay down: NotOpenYet, `round 123 not available: `."""
    url, _ = published
    says = (
        "relays names no drand relay: give at least one URL, such as 'https://api.drand.sh' "
        "(or leave relays unset for the public ones)"
    )
    with pytest.raises(ValueError) as caught:
        sealed_assignment(url, now=NOW, relays=[], round_for=at_round_123)
    assert str(caught.value) == says
    with pytest.raises(ValueError, match="relays names no drand relay"):
        fetch_signature(TEST_ROUND, ())


@pytest.mark.parametrize(("relays", "kind"), [(None, "a NoneType"), (443, "an int")])
def test_relays_that_are_no_url_nor_list_are_refused_naming_them(relays, kind: str) -> None:
    """`relays=None` (a setting left unset, say) failed inside the kit, `TypeError:
    'NoneType' object is not iterable`, naming no argument."""
    with scripted_server([]) as cdn:
        calls = {
            "current": lambda: current_assignment(cdn.url, relays=relays),
            "sealed": lambda: sealed_assignment(cdn.url, relays=relays),
            "fetch_signature": lambda: fetch_signature(TEST_ROUND, relays),
        }
        for name, call in calls.items():
            with pytest.raises(TypeError) as caught:
                call()
            assert str(caught.value) == (
                "relays is a drand relay's URL, or a list of them, such as "
                f"['https://api.drand.sh']; got {kind} (leave relays unset for the public "
                "ones)"
            ), name
    assert cdn.requests == []


@pytest.mark.parametrize(
    ("relay_timeout", "error", "got"),
    [
        ("5", TypeError, "a number such as 5; got '5' (a str)"),
        (0, ValueError, "a number over 0 such as 5; got 0"),
        (float("inf"), ValueError, "at most 86400 (a day), such as 5; got inf"),
    ],
)
def test_a_relay_timeout_that_is_no_number_of_seconds_is_refused_before_any_request(
    relay_timeout, error: type[Exception], got: str
) -> None:
    """relay_timeout="5" failed at the first relay asked, in urllib3's words (`Timeout value
    connect was 5, but it must be an int, float or None.`), and 0 likewise, after the CDN
    had been read; `timeout` has been refused so, naming it, where it is given."""
    with scripted_server([]) as cdn, scripted_server([]) as relay:
        calls = {
            "current_assignment": lambda: current_assignment(
                cdn.url, relays=relay.url, relay_timeout=relay_timeout
            ),
            "sealed_assignment": lambda: sealed_assignment(
                cdn.url, relays=relay.url, relay_timeout=relay_timeout
            ),
            "verify_epoch": lambda: verify.verify_epoch(
                verify.HttpSource(cdn.url), None, NOW, relay.url, relay_timeout=relay_timeout
            ),
        }
        for name, call in calls.items():
            with pytest.raises(error) as caught:
                call()
            assert str(caught.value) == (
                f"relay_timeout is seconds each drand relay is given, {got}"
            ), name
        with pytest.raises(error) as caught:
            fetch_signature(TEST_ROUND, relay.url, timeout=relay_timeout)
        assert str(caught.value) == f"timeout is seconds each drand relay is given, {got}"
    assert cdn.requests == [] and relay.requests == []


def test_a_user_and_password_in_a_base_url_are_in_no_message(
    published, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source.describe promises a location `never containing a secret`, but the CDN's was its
    base URL as given, `http://user:password@host`, and so were the signer's and the drand
    relays' in every message: a miner's log held the password. The URL is still used as given
    (requests sends the user and password), and named without them."""
    without_proxies(monkeypatch)
    url, _ = published
    (port,) = free_ports(1)
    assert plain_assignment(url.replace("://", "://miner:s3cr3t@"), now=NOW).via == "plain"
    with pytest.raises(AssignmentError) as caught:
        plain_assignment(url.replace("://", "://miner:s3cr3t@") + "/nowhere", now=NOW)
    assert str(caught.value) == f"no index.json at {url}/nowhere"
    gone = f"http://miner:s3cr3t@127.0.0.1:{port}"
    with pytest.raises(SignerError) as caught:
        SignerClient(gone, BOB, backoff=Backoff(attempts=1)).validator_access()
    assert str(caught.value) == (
        f"unreachable: http://127.0.0.1:{port}/get-validator-access: ConnectionError "
        "(connection refused)"
    )
    with pytest.raises(AssignmentError) as caught:
        current_assignment(gone, now=NOW, backoff=Backoff(attempts=1))
    assert str(caught.value) == (
        f"cannot fetch http://127.0.0.1:{port}/index.json: ConnectionError (connection refused)"
    )
    with pytest.raises(NotOpenYet) as caught:
        sealed_assignment(url, now=NOW, relays=[gone], round_for=at_round_123)
    assert f"http://127.0.0.1:{port}: ConnectionError (connection refused)" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


GONE = "http://127.0.0.1:9"
TIMEOUT_SAYS = "timeout is seconds a try, a number such as 30; got '5' (a str)"
BACKOFF_SAYS = (
    "backoff is a clientkit.Backoff, such as Backoff(attempts=1) for a single try; got 3 (an int)"
)
FORM = {"url": GONE, "fields": {"key": "f/${filename}"}, "folder": "f/"}


TOO_LONG = "timeout is seconds a try, at most 86400 (a day), such as 30; got "


@pytest.mark.parametrize(
    ("call", "got"),
    [
        (lambda: SignerClient(GONE, BOB, timeout=float("inf")), "inf"),
        (lambda: current_assignment(GONE, timeout=1e10), "10000000000.0"),
        (lambda: list_page(f"{GONE}/b", timeout=float("inf")), "inf"),
        (lambda: read_object(f"{GONE}/b", timeout=86_401), "86401"),
        (lambda: upload(FORM, "a.json", b"x", timeout=float("inf")), "inf"),
    ],
    ids=["SignerClient", "current_assignment", "list_page", "read_object", "upload"],
)
def test_a_timeout_too_long_for_the_platform_is_refused_naming_it(call, got) -> None:
    """`timeout=float("inf")`, a natural way to ask for no timeout, and anything from about
    1e10 s were taken, and the first request failed inside urllib3 with `OverflowError:
    timestamp out of range for platform time_t`, not the kit's error; a relay's was not
    even taken for an unreachable relay. A timeout is at most a day."""
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value) == TOO_LONG + got


@pytest.mark.parametrize(
    ("call", "error", "says"),
    [
        (lambda: SignerClient(GONE, BOB, timeout="5"), TypeError, TIMEOUT_SAYS),
        (lambda: SignerClient(GONE, BOB, backoff=3), TypeError, BACKOFF_SAYS),
        (lambda: current_assignment(GONE, timeout="5"), TypeError, TIMEOUT_SAYS),
        (lambda: list_page(f"{GONE}/b", timeout="5"), TypeError, TIMEOUT_SAYS),
        (lambda: read_object(f"{GONE}/b", backoff=3), TypeError, BACKOFF_SAYS),
        (
            lambda: read_object(f"{GONE}/b", timeout=0),
            ValueError,
            "timeout is seconds a try, a number over 0 such as 30; got 0",
        ),
        (lambda: upload(FORM, "a.json", b"x", timeout="5"), TypeError, TIMEOUT_SAYS),
        (lambda: upload(FORM, "a.json", b"x", backoff=3), TypeError, BACKOFF_SAYS),
    ],
    ids=[
        "SignerClient timeout",
        "SignerClient backoff",
        "current_assignment timeout",
        "list_page timeout",
        "read_object backoff",
        "read_object timeout 0",
        "upload timeout",
        "upload backoff",
    ],
)
def test_a_timeout_or_backoff_of_the_wrong_kind_is_refused_naming_it(call, error, says) -> None:
    """A timeout given as text failed at the first request in requests' words (`Timeout value
    connect was 5, but it must be an int, float or None`), and a backoff that is no Backoff
    as `AttributeError: 'int' object has no attribute 'run'`. Either is refused where it is
    given, naming the argument, before any request."""
    with pytest.raises(error) as caught:
        call()
    assert str(caught.value) == says
