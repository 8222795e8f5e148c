"""What the client kit does with answers it must not trust: a signer, a bucket or a relay
that answers another shape, nests JSON without end, redirects elsewhere, or pages forever.
Each is one of the kit's own errors naming what was wrong, never a bare traceback, a hang
or wrong data taken for right. The servers are loopback HTTP answering from a script.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bittensor_core import Keypair

from clientkit import SignerClient, SignerError, StorageError, parse_listing, upload, verify
from clientkit.drand import MAX_BEACON_BYTES, BeaconUnavailable, fetch_signature
from clientkit.layout import SourceError
from clientkit.retry import retry_after_seconds
from clientkit.signer import MAX_ANSWER_BYTES
from clientkit.storage import MAX_PAGE_BYTES, list_miner, list_page, read_miner_files, read_object

from servers.busy_http import Answer, scripted_server
from servers.seaweed import S3Endpoint
from servers.static_http import serve_folder

JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 100_000
BOB = Keypair.create_from_uri("//Bob")


def listing(token: str | None, keys: list[str]) -> bytes:
    contents = "".join(
        f"<Contents><Key>{k}</Key><Size>1</Size><ETag>x</ETag></Contents>" for k in keys
    )
    more = f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
    return (
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"{more if token else '<IsTruncated>false</IsTruncated>'}{contents}</ListBucketResult>"
    ).encode()


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (Answer(200, JSON, DEEP), "unexpected_response"),
        (Answer(403, JSON, DEEP), "unexpected_response"),
        (Answer(200, JSON, b'{"error": "nope", "detail": "refused"}'), "nope"),
    ],
)
def test_a_signer_answer_that_is_not_a_grant_is_a_signer_error(answer, code) -> None:
    with scripted_server([answer]) as script, pytest.raises(SignerError) as caught:
        SignerClient(script.url, BOB).validator_access()
    assert caught.value.code == code


@pytest.mark.s3
def test_a_signer_url_that_is_the_cdns_or_the_buckets_says_so(
    s3_server: S3Endpoint, tmp_path: Path
) -> None:
    """The CDN's or the bucket's URL given for the signer's was `unexpected_response (HTTP
    501): <url> did not answer JSON`, naming neither what answered nor the likely mistake."""
    (tmp_path / "site").mkdir()
    with serve_folder(tmp_path / "site") as cdn_url:
        for base, kind in ((cdn_url, "text/html"), (s3_server.endpoint_url, "application/xml")):
            with pytest.raises(SignerError) as caught:
                SignerClient(base, BOB).validator_access()
            assert caught.value.code == "unexpected_response"
            assert caught.value.detail == (
                f"{base}/get-validator-access answered {kind}, not the signer's JSON: is {base} "
                "the signer (not the CDN or the bucket), and up behind any proxy?"
            )


def test_a_signer_redirect_is_not_followed_with_the_signed_body() -> None:
    with scripted_server([Answer(200, JSON, b"{}")]) as elsewhere:
        moved = Answer(307, {"Location": f"{elsewhere.url}/get-validator-access"})
        with scripted_server([moved]) as script, pytest.raises(SignerError) as caught:
            SignerClient(script.url, BOB).validator_access()
    assert (caught.value.status, caught.value.code) == (307, "redirected")
    assert elsewhere.requests == [], "the signed body went nowhere else"


def test_a_signer_redirect_names_its_location_without_a_user_and_password() -> None:
    """The Location header was shown as given, password and all."""
    moved = Answer(302, {"Location": "https://admin:s3cr3t@signer.example.org/x"})
    with scripted_server([moved]) as script, pytest.raises(SignerError) as caught:
        SignerClient(script.url, BOB).validator_access()
    assert "s3cr3t" not in str(caught.value) and "admin" not in str(caught.value)
    assert caught.value.detail == (
        f"{script.url}/get-validator-access redirected to https://signer.example.org/x, not "
        "followed (it would carry the signed body there): if that is the signer, give its "
        "base URL instead"
    )


def test_an_upload_is_not_redirected_and_needs_a_whole_credential() -> None:
    with scripted_server([Answer(204)]) as elsewhere:
        moved = Answer(307, {"Location": f"{elsewhere.url}/bucket"})
        with scripted_server([moved]) as script:
            post = {"url": script.url, "fields": {"key": "data/x/${filename}"}, "folder": "data/x/"}
            with pytest.raises(StorageError, match="HTTP 307"):
                upload(post, "a.json", b"{}")
    assert elsewhere.requests == []
    for broken in ({}, {"url": "http://x", "folder": "data/x/", "fields": {"key": 5}}):
        with pytest.raises(StorageError, match="upload credential"):
            upload(broken, "a.json", b"{}")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>", "AccessDenied"),
        (b"<html><body>maintenance</body></html>", "is not an S3 ListBucketResult"),
        (b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", "not an S3"),
    ],
)
def test_a_page_that_is_not_a_listing_is_never_an_empty_one(body, says) -> None:
    """Read as an empty listing, a validator would score the miner as having sent nothing."""
    with (
        scripted_server([Answer(200, {}, body)]) as script,
        pytest.raises(StorageError, match=says),
    ):
        list_page(f"{script.url}/bucket?list-type=2&X-Amz-Signature=secret")


@pytest.mark.parametrize(
    "item", ["<Size>-5</Size><Key>k</Key>", "<Size>1</Size>"], ids=["negative", "no-key"]
)
def test_a_listed_object_without_a_key_or_with_a_negative_size_is_refused(item) -> None:
    body = listing(None, []).replace(b"</ListBucketResult>", b"")
    with pytest.raises(StorageError, match="not a listing"):
        parse_listing(body + f"<Contents>{item}</Contents></ListBucketResult>".encode())


def test_text_that_is_not_xml_is_not_a_listing() -> None:
    with pytest.raises(StorageError, match="not a listing"):
        parse_listing(b"not xml")


def test_a_listing_that_repeats_its_continuation_token_is_stopped() -> None:
    with scripted_server([Answer(200, {}, listing("T", ["data/hotkey=m/a.json"]))]) as bucket:
        grant = Answer(200, JSON, f'{{"list_url": "{bucket.url}/page"}}'.encode())
        with scripted_server([grant]) as signer:
            objects = list_miner(SignerClient(signer.url, BOB), BOB)
            with pytest.raises(StorageError, match="continuation token twice"):
                list(objects)
    assert len(bucket.requests) == 2


@pytest.mark.parametrize(
    "answer",
    [b"{}", b'{"list_url": 5}'],
)
def test_a_miner_list_grant_without_its_url_is_a_storage_error(answer) -> None:
    with (
        scripted_server([Answer(200, JSON, answer)]) as signer,
        pytest.raises(StorageError, match="list_url"),
    ):
        list(list_miner(SignerClient(signer.url, BOB), BOB))


@pytest.mark.parametrize("answer", [b"{}", b'{"file_urls": {}}', b'{"file_urls": {"k": 5}}'])
def test_file_urls_of_another_shape_are_a_storage_error(answer) -> None:
    with (
        scripted_server([Answer(200, JSON, answer)]) as signer,
        pytest.raises(StorageError, match="file"),
    ):
        list(read_miner_files(SignerClient(signer.url, BOB), BOB, ["k"]))


def test_a_beacon_nested_too_deeply_is_not_a_beacon() -> None:
    with (
        scripted_server([Answer(200, JSON, DEEP[:50_000])]) as relay,
        pytest.raises(BeaconUnavailable, match="not a drand beacon"),
    ):
        fetch_signature(123, [relay.url])


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662"])
def test_retry_after_in_other_digits_is_garbled_not_a_crash(value) -> None:
    assert retry_after_seconds(value, lambda: datetime.now(UTC)) is None


def test_a_published_file_that_inflates_past_the_cap_is_not_read(monkeypatch) -> None:
    """A small compressed body inflating to gigabytes filled a miner's memory."""
    monkeypatch.setattr(verify, "MAX_PUBLISHED_BYTES", 1024 * 1024)
    bomb = gzip.compress(b"0" * (2 * 1024 * 1024))
    answer = Answer(200, {"Content-Encoding": "gzip", "Content-Type": "application/json"}, bomb)
    with scripted_server([answer]) as cdn:
        source = verify.HttpSource(cdn.url)
        with pytest.raises(SourceError, match="larger than 1048576 bytes"):
            source.get("index.json")
    with scripted_server([Answer(200, JSON, gzip.compress(b"{}"))]) as cdn:
        assert verify.HttpSource(cdn.url).get("index.json") == gzip.compress(b"{}")


def gzip_bomb(inflated: int) -> Answer:
    """A small gzip body that inflates to `inflated` bytes of JSON-looking text."""
    body = gzip.compress(b'{"a": "' + b"0" * inflated + b'"}')
    return Answer(200, {**JSON, "Content-Encoding": "gzip"}, body)


def test_a_signer_answer_past_its_cap_is_not_read() -> None:
    """The signer's answer was read whole, however large it inflated."""
    with (
        scripted_server([gzip_bomb(MAX_ANSWER_BYTES)]) as script,
        pytest.raises(SignerError) as caught,
    ):
        SignerClient(script.url, BOB).validator_access()
    assert caught.value.code == "unexpected_response"
    assert f"more than {MAX_ANSWER_BYTES} bytes" in caught.value.detail


def test_a_relay_answer_past_its_cap_is_not_read_and_the_next_relay_is_asked() -> None:
    """A relay's answer was read whole, however large it inflated."""
    beacon = Answer(200, JSON, b'{"round": 123, "signature": "abcd"}')
    with (
        scripted_server([gzip_bomb(MAX_BEACON_BYTES)]) as huge,
        scripted_server([beacon]) as good,
    ):
        assert fetch_signature(123, [huge.url, good.url]) == "abcd"
        with pytest.raises(BeaconUnavailable, match=f"over {MAX_BEACON_BYTES} bytes"):
            fetch_signature(123, [huge.url])


def test_an_object_over_the_readers_cap_is_not_read_on() -> None:
    """A miner's object was read whole: an upload of gigabytes filled the validator's memory."""
    big = Answer(200, {"Content-Type": "binary/octet-stream"}, b"0" * (2 * 1024 * 1024))
    with scripted_server([big, big]) as bucket:
        with pytest.raises(StorageError, match="over 1048576 bytes"):
            read_object(f"{bucket.url}/data/x.json?X-Amz-Signature=s", max_bytes=1024 * 1024)
        whole = read_object(f"{bucket.url}/data/x.json", max_bytes=2 * 1024 * 1024)
    assert len(whole) == 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("max_bytes", "error", "got"),
    [
        (-1, ValueError, "-1"),
        (0, ValueError, "0"),
        ("5", TypeError, "'5' (a str)"),
        (1.5e6, TypeError, "1500000.0 (a float)"),
        (True, TypeError, "True (a bool)"),
    ],
)
@pytest.mark.parametrize("reader", ["read_object", "read_miner_files"])
def test_a_cap_that_is_no_number_of_bytes_is_refused_before_any_request(
    reader: str, max_bytes: object, error: type[Exception], got: str
) -> None:
    """`max_bytes=-1` read every object as b"" (nothing past the cap was read, nor said),
    and `max_bytes="5"` failed inside the reading, `can only concatenate str (not "int")
    to str`."""
    body = Answer(200, {"Content-Type": "binary/octet-stream"}, b"0123456789")
    with scripted_server([body]) as bucket, scripted_server([]) as signer:
        reads = {
            "read_object": lambda: read_object(f"{bucket.url}/k", max_bytes=max_bytes),
            "read_miner_files": lambda: list(
                read_miner_files(SignerClient(signer.url, BOB), BOB, ["k"], max_bytes=max_bytes)
            ),
        }
        with pytest.raises(error) as caught:
            reads[reader]()
    assert str(caught.value) == (
        "max_bytes is the most bytes read of one object, an int over 0 such as "
        f"64 * 1024 * 1024; got {got}"
    )
    assert bucket.requests == [] and signer.requests == []


def test_a_listing_page_past_its_cap_is_not_read() -> None:
    with (
        scripted_server([gzip_bomb(MAX_PAGE_BYTES)]) as bucket,
        pytest.raises(StorageError, match=f"over {MAX_PAGE_BYTES} bytes"),
    ):
        list_page(f"{bucket.url}/page")
