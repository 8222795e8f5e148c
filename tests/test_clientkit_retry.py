"""The client kit's retries against a real loopback HTTP server that answers like a busy one.

Waits are recorded instead of slept (a seam of clientkit.retry.Backoff) so the tests say
how long a client waited, not how long the machine took.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
from bittensor_core import Keypair

from clientkit import (
    AssignmentError,
    Backoff,
    SignerClient,
    SignerError,
    StorageError,
    current_assignment,
    list_miner,
    list_page,
    plain_assignment,
    read_miner_files,
    read_object,
    sealed_assignment,
    upload,
)
from clientkit.verify import HttpSource

from servers.busy_http import Answer, Answers, Request, Script, scripted_server, serving
from servers.seaweed import free_ports
from servers.static_http import cdn

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


@pytest.mark.parametrize(("told", "waited"), [("1.5", 1.5), (" 0.25 ", 0.25), ("0.0", 0.0)])
def test_retry_after_in_fractional_seconds_is_honoured(told: str, waited: float) -> None:
    """`Retry-After: 1.5` was taken for no Retry-After at all: a 503 saying it was final."""
    waits = Waits()
    busy = Answer(503, {"Retry-After": told}, BUSY)
    with scripted_server([busy, GRANT]) as script:
        client = SignerClient(
            script.url, Keypair.create_from_uri("//Bob"), backoff=waits.backoff(jitter=0.0)
        )
        client.validator_access()
    assert waits == [waited]
    assert len(script.requests) == 2


@pytest.mark.parametrize("told", ["-1.5", "1.5.2", "1e3", "nan", "inf", "1,5"])
def test_a_retry_after_that_is_no_number_of_seconds_is_not_waited_for(told: str) -> None:
    waits = Waits()
    busy = Answer(503, {"Retry-After": told}, BUSY)
    with scripted_server([busy, GRANT]) as script:
        client = SignerClient(script.url, Keypair.create_from_uri("//Bob"), backoff=waits.backoff())
        with pytest.raises(SignerError, match="rate_limited"):
            client.validator_access()
    assert waits == [] and len(script.requests) == 1


@pytest.mark.parametrize(("status", "told"), [(503, "3600"), (429, "30.5")])
def test_a_wait_beyond_the_cap_is_reported_not_slept(status: int, told: str) -> None:
    """A whole number of seconds or one with a fraction: the 30 s cap applies alike."""
    waits = Waits()
    busy = Answer(status, {"Retry-After": told}, BUSY)
    with scripted_server([busy, GRANT]) as script:
        client = SignerClient(
            script.url, Keypair.create_from_uri("//Bob"), backoff=waits.backoff(cap=30)
        )
        with pytest.raises(SignerError) as caught:
            client.validator_access()
    assert (caught.value.status, caught.value.code) == (status, "rate_limited")
    assert waits == [] and len(script.requests) == 1


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        (
            {"attempts": "3"},
            TypeError,
            "Backoff's attempts is the most tries, an int of 1 or more (1 for a single try); "
            "got '3' (a str)",
        ),
        (
            {"attempts": 0},
            ValueError,
            "Backoff's attempts is the most tries, an int of 1 or more (1 for a single try); got 0",
        ),
        (
            {"base": -0.5},
            ValueError,
            "Backoff's base is seconds, a number of 0 or more such as 0.5; got -0.5",
        ),
        (
            {"cap": "30"},
            TypeError,
            "Backoff's cap is seconds, a number of 0 or more such as 30.0; got '30' (a str)",
        ),
        (
            {"base": float("inf")},
            ValueError,
            "Backoff's base is seconds, at most 86400 (a day), such as 0.5; got inf",
        ),
        (
            {"cap": 1e12},
            ValueError,
            "Backoff's cap is seconds, at most 86400 (a day), such as 30.0; got 1000000000000.0",
        ),
    ],
    ids=["attempts text", "no attempt", "negative base", "cap text", "endless base", "cap 1e12"],
)
def test_a_backoff_that_cannot_pace_tries_is_refused_when_made(
    options: dict[str, object], error: type[Exception], says: str
) -> None:
    """Backoff(attempts="3") failed at the first answer, `'>=' not supported between
    instances of 'int' and 'str'`; a negative base or cap at the first wait, in time.sleep's
    words, `sleep length must be non-negative`; attempts=0 made one try all the same."""
    with pytest.raises(error) as caught:
        Backoff(**options)
    assert str(caught.value) == says


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


SLOW_DOWN = Answer(
    503,
    {"Content-Type": "application/xml"},
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
)
INTERNAL = Answer(
    500,
    {"Content-Type": "application/xml"},
    b"<Error><Code>InternalError</Code><Message>Please try again.</Message></Error>",
)


def test_s3_throttling_without_retry_after_is_waited_out() -> None:
    """S3 and Spaces throttle with 503 SlowDown and fail now and then with 500 InternalError,
    neither with Retry-After, both to be retried (as AWS's own SDKs do): at an epoch's start
    every miner uploads at once. A miner's upload gave up at the first SlowDown."""
    waits = Waits()
    backoff = waits.backoff(jitter=1.0, base=0.5)
    with scripted_server([SLOW_DOWN, INTERNAL, Answer(204)]) as script:
        post = {"url": script.url, "fields": {"key": "data/x/${filename}"}, "folder": "data/x/"}
        assert upload(post, "a.json", b"{}", backoff=backoff) == "data/x/a.json"
    assert len(script.requests) == 3 and waits == [0.5, 1.0]

    with scripted_server([SLOW_DOWN, INTERNAL, Answer(200, {}, b"object")]) as script:
        assert read_object(f"{script.url}/k?X-Amz-Signature=f00", backoff=backoff) == b"object"
    assert len(script.requests) == 3

    with scripted_server([SLOW_DOWN]) as script, pytest.raises(StorageError) as caught:
        upload(post | {"url": script.url}, "a.json", b"{}", backoff=backoff)
    assert "refused: HTTP 503 SlowDown: Please reduce your request rate." in str(caught.value)
    assert len(script.requests) == 4, "given up after the policy's tries"


# A server that takes the connection and never answers held a read for 4 tries of 60 s each,
# and the caller could not say otherwise: each read takes `timeout` (seconds a try) and
# `backoff` (the tries), as upload does. The URLs are presigned: the signature in their query
# must stay out of the error.

SIGNATURE = "X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=5ec12e7"
GUARD = 120.0
"""Seconds a test waits for a read that should have given up long before (a slow machine)."""


def raised(call: Callable[[], object]) -> BaseException | None:
    """What `call` raised (None if it returned), run in a thread so that a read that never
    gives up fails its test after GUARD seconds instead of hanging the suite."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD)
    assert outcome, f"the read was still waiting after {GUARD} s"
    return outcome[0]


def grant_of(answer: dict[str, object]) -> Answer:
    return Answer(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())


MINER = Keypair.create_from_uri("//Bob").ss58_address
READS = {
    "read_object": lambda url, signer, **options: read_object(url, **options),
    "list_page": lambda url, signer, **options: list_page(url, **options),
    "list_miner": lambda url, signer, **options: list(list_miner(signer, MINER, **options)),
    "read_miner_files": lambda url, signer, **options: list(
        read_miner_files(signer, MINER, ["data/hotkey=m/x.json"], **options)
    ),
}
VERBS = {"read_object": "read", "list_page": "list", "list_miner": "list"}


@pytest.mark.parametrize("name", READS)
def test_a_read_from_a_server_that_never_answers_ends_after_its_timeout(
    name: str, tmp_path: Path
) -> None:
    waits = Waits()
    with cdn(tmp_path) as bucket:
        bucket.hang()
        url = f"{bucket.url}/data/hotkey=m/x.json?{SIGNATURE}"
        grants = {
            "list_url": url,
            "file_urls": {"data/hotkey=m/x.json": {"presigned_url": url}},
        }
        with scripted_server([grant_of(grants)]) as signer:
            client = SignerClient(signer.url, Keypair.create_from_uri("//Bob"))
            read = READS[name]
            error = raised(
                lambda: read(
                    url, client, timeout=0.2, backoff=waits.backoff(attempts=2, jitter=0.0)
                )
            )
    assert isinstance(error, StorageError), f"{name} raised {error!r}"
    verb = VERBS.get(name, "read")
    assert str(error).startswith(f"cannot {verb} {bucket.url}/data/hotkey=m/x.json: ")
    assert "nothing received in 0.2 s" in str(error)
    assert "?" not in str(error) and "5ec12e7" not in str(error) and "AKIA" not in str(error)
    # Nor in the traceback a miner's log prints: requests' own error quotes the whole URL.
    printed = "".join(traceback.format_exception(error))
    assert "5ec12e7" not in printed and "AKIA" not in printed
    assert waits == [0.0], "one try, then one more as the backoff says"


@pytest.mark.parametrize("name", ["read_object", "list_page"])
def test_a_read_that_cannot_connect_keeps_the_signature_out_of_its_traceback(name: str) -> None:
    # requests' ConnectionError quotes the whole URL ("Max retries exceeded with url:
    # /x.json?X-Amz-Signature=..."): a traceback printed or logged would show it.
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/x.json?{SIGNATURE}"
    error = raised(lambda: READS[name](url, None, backoff=Waits().backoff(attempts=1)))
    assert isinstance(error, StorageError), repr(error)
    assert "ConnectionError" in str(error)
    printed = "".join(traceback.format_exception(error))
    assert "5ec12e7" not in printed and "AKIA" not in printed


@contextmanager
def stalled_body() -> Iterator[str]:
    """A server that sends a 200 announcing 100 bytes, sends one, and no more until the
    block ends; yields its URL."""
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"<")
            self.wfile.flush()
            released.wait(GUARD)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    answers = Answers([])
    with serving(Handler, answers):
        try:
            yield answers.url
        finally:
            released.set()


def test_a_body_that_stops_coming_ends_the_read_after_its_timeout() -> None:
    with stalled_body() as url:
        error = raised(lambda: read_object(f"{url}/x.json?{SIGNATURE}", timeout=0.2))
    assert isinstance(error, StorageError), repr(error)
    assert str(error).startswith(f"cannot read {url}/x.json: ")
    assert "nothing received in 0.2 s" in str(error)
    assert "5ec12e7" not in str(error)


@contextmanager
def cut_off_once(body: bytes) -> Iterator[Script]:
    """A server whose first answer announces `body` and closes the connection a tenth of
    the way through it (a reset mid-download), then serves it whole; yields its script."""
    script = Script([Answer(200, {}, body)])
    tries = iter(range(1_000))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            sent = self.rfile.read(length) if length else b""
            script.requests.append(Request(self.command, self.path, sent))
            first = next(tries) == 0
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 10] if first else body)
            self.close_connection = True

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output clean."""

    with serving(Handler, script):
        yield script


@pytest.mark.parametrize("name", ["read_object", "list_page", "published file"])
def test_a_read_cut_off_mid_body_is_tried_again(name: str) -> None:
    """A connection that fails while the body comes is a failed connection as much as one
    that fails before: a validator reading a large object lost it at the first reset."""
    listing = (
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + b"<Contents><Key>k</Key><Size>1</Size></Contents>" * 100
        + b"</ListBucketResult>"
    )
    waits = Waits()
    with cut_off_once(listing) as script:
        if name == "published file":
            result = HttpSource(script.url, backoff=waits.backoff()).get("index.json")
        else:
            result = READS[name](f"{script.url}/k?{SIGNATURE}", None, backoff=waits.backoff())
    assert len(script.requests) == 2 and len(waits) == 1
    assert result == listing if name != "list_page" else len(result.objects) == 100


def test_a_signer_answer_cut_off_mid_body_is_asked_for_again() -> None:
    """Reads retry a connection cut while the answer comes; the signer's answers did not (a
    worker restarted mid-answer was `unreachable` at once)."""
    waits = Waits()
    grant = json.dumps({"folder": "data/x/", "padding": "p" * 1000}).encode()
    with cut_off_once(grant) as script:
        client = SignerClient(
            script.url, Keypair.create_from_uri("//Alice"), backoff=waits.backoff()
        )
        assert client.validator_access()["folder"] == "data/x/"
    assert [r.method for r in script.requests] == ["POST", "POST"] and len(waits) == 1


class Recording(requests.Session):
    """A session that notes the timeout of each GET."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[object] = []

    def get(self, url, **options):
        self.timeouts.append(options.get("timeout"))
        return super().get(url, **options)


def test_a_read_waits_60_s_a_try_unless_told_otherwise() -> None:
    with scripted_server([Answer(200, {}, b"data")]) as bucket:
        session = Recording()
        assert read_object(f"{bucket.url}/k", session=session) == b"data"
        assert read_object(f"{bucket.url}/k", session=session, timeout=5) == b"data"
    assert session.timeouts == [60.0, 5]


# The assignment functions read the CDN with HttpSource's 10 s a try, 4 tries, and took no
# timeout of their own: a CDN that took the connection and never answered held a miner
# about 40 s an assignment, however soon it had to start. They take `timeout` and `backoff`
# as the storage reads do, and say so in the same words.

ASSIGNMENTS = {
    "plain_assignment": plain_assignment,
    "sealed_assignment": sealed_assignment,
    "current_assignment": current_assignment,
}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_an_assignment_from_a_cdn_that_never_answers_ends_after_its_timeout(
    name: str, tmp_path: Path
) -> None:
    waits = Waits()
    assignment = ASSIGNMENTS[name]
    with cdn(tmp_path) as published:
        published.hang()
        error = raised(
            lambda: assignment(
                published.url,
                now=NOW,
                timeout=0.2,
                backoff=waits.backoff(attempts=2, jitter=0.0),
            )
        )
    assert isinstance(error, AssignmentError), f"{name} raised {error!r}"
    assert str(error) == (
        f"cannot fetch {published.url}/index.json: ReadTimeout (nothing received in 0.2 s)"
    )
    assert waits == [0.0], "one try, then one more as the backoff says"


def test_a_signer_that_never_answers_is_reported_with_its_timeout(tmp_path: Path) -> None:
    """The signer's timeout said only `unreachable: <url>: ReadTimeout`, where every other
    read of the kit says how long nothing came (clientkit.failures)."""
    waits = Waits()
    with cdn(tmp_path) as signer:
        signer.hang()
        client = SignerClient(
            signer.url,
            Keypair.create_from_uri("//Alice"),
            timeout=0.2,
            backoff=waits.backoff(attempts=2, jitter=0.0),
        )
        error = raised(client.validator_access)
    assert isinstance(error, SignerError), repr(error)
    assert (error.status, error.code) == (0, "unreachable")
    assert error.detail == (
        f"{signer.url}/get-validator-access: ReadTimeout (nothing received in 0.2 s)"
    )
    assert waits == [0.0], "one try, then one more as the backoff says"


def test_an_upload_to_a_server_that_never_answers_ends_after_its_timeout(tmp_path: Path) -> None:
    """An upload timing out said `cannot upload <key>: ReadTimeout`, without the wait that
    the reads name."""
    waits = Waits()
    with cdn(tmp_path) as bucket:
        bucket.hang()
        post = {"url": bucket.url, "fields": {"key": "data/x/${filename}"}, "folder": "data/x/"}
        error = raised(
            lambda: upload(
                post,
                "a.json",
                b"{}",
                timeout=0.2,
                backoff=waits.backoff(attempts=2, jitter=0.0),
            )
        )
    assert isinstance(error, StorageError), repr(error)
    assert str(error) == "cannot upload data/x/a.json: ReadTimeout (nothing received in 0.2 s)"
    assert waits == [0.0], "one try, then one more as the backoff says"


def test_an_upload_whose_body_the_server_stops_taking_ends_after_its_timeout(
    tmp_path: Path,
) -> None:
    """A server that stops reading the body (a bucket that hangs mid-upload) timed the
    upload out while sending; requests calls that a ConnectionError, and the message said
    only that, not that nothing could be sent for `timeout` seconds."""
    big = tmp_path / "big.bin"
    with big.open("wb") as file:
        file.truncate(64 * 1024 * 1024)  # more than loopback's socket buffers hold
    with cdn(tmp_path) as bucket, big.open("rb") as data:
        bucket.hang()
        post = {"url": bucket.url, "fields": {"key": "data/x/${filename}"}, "folder": "data/x/"}
        error = raised(
            lambda: upload(post, "big.bin", data, timeout=0.2, backoff=Waits().backoff(attempts=1))
        )
    assert isinstance(error, StorageError), repr(error)
    assert str(error) == "cannot upload data/x/big.bin: ConnectionError (nothing sent in 0.2 s)"
