"""clientkit.upload streams its form: the file is read a chunk at a time as it is sent, under a
Content-Length, never whole (a 400 MB upload took a process from 44 MB to 844 MB when
requests' `files=` built the body in memory). The bytes sent are the ones `files=` sent.

Against the S3 server (SeaweedFS) with the signer's own POST policy, the object read back is
the file; over loopback, a sink that keeps only a digest shows what the client sent and held.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from bittensor_core import Keypair

from clientkit import (
    Backoff,
    SignerClient,
    StorageError,
    list_mine,
    list_page,
    read_miner_files,
    upload,
)
from clientkit.storage import CHUNK
from signer.credentials import UPLOAD_CONTENT_TYPE, presigned_post

from servers.busy_http import Answer, scripted_server
from servers.seaweed import S3Endpoint
from servers.sink_http import Received, sink_server
from servers.subnet import running_signer

FOLDER = "data/hotkey=5F/epoch=2026-11-25T16-00-00/"
MB = 1024 * 1024


class RecordedReads(io.BytesIO):
    """A binary file that remembers each size it was asked to read (-1: all of it)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)


def loopback_post(url: str) -> dict[str, Any]:
    """A credential's shape, its fields in the signer's order (Content-Type after key)."""
    fields = {"Content-Type": UPLOAD_CONTENT_TYPE, "key": FOLDER + "${filename}", "policy": "e30="}
    return {"url": url, "fields": fields, "folder": FOLDER}


def boundary_in(content_type: str) -> str:
    found = re.fullmatch(r"multipart/form-data; boundary=(\w+)", content_type)
    assert found, content_type
    return found.group(1)


def boundary_of(received: Received) -> str:
    return boundary_in(received.headers["content-type"])


def as_files_sent_it(post: dict[str, Any], name: str, data: Any, boundary: str) -> bytes:
    """The body requests' `files=` built for this upload (the kit's before it streamed), with
    `boundary` for its random one."""
    fields = dict(post["fields"], key=FOLDER + name)
    sent = requests.Request(
        "POST", post["url"], data=fields, files={"file": (name.rsplit("/", 1)[-1], data)}
    ).prepare()
    theirs = boundary_in(sent.headers["Content-Type"])
    assert isinstance(sent.body, bytes)
    return sent.body.replace(theirs.encode(), boundary.encode())


def chunks_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        yield from iter(lambda: file.read(MB), b"")


def big_file(path: Path, size: int) -> str:
    """`size` bytes at `path` (a different byte every 251, so misplaced chunks show), written
    a chunk at a time; their SHA-256."""
    pattern = bytes(range(251)) * (MB // 251 + 1)
    with path.open("wb") as file:
        for start in range(0, size, MB):
            file.write(pattern[: min(MB, size - start)])
    return hashlib.sha256(b"".join(chunks_of(path))).hexdigest()


def form_digest(post: dict[str, Any], name: str, path: Path, boundary: str) -> str:
    """SHA-256 of the form `files=` would have built around the file at `path`."""
    head, tail = as_files_sent_it(post, name, b"\0", boundary).split(b"\0")
    digest = hashlib.sha256(head)
    for chunk in chunks_of(path):
        digest.update(chunk)
    digest.update(tail)
    return digest.hexdigest()


# Over loopback -------------------------------------------------------------------------------


def test_a_file_is_read_a_chunk_at_a_time_under_a_content_length(tmp_path: Path) -> None:
    data = os.urandom(5 * MB + 7)
    file = RecordedReads(data)
    with sink_server([Answer(204)]) as sink:
        post = loopback_post(sink.url)
        assert upload(post, "big.bin", file) == FOLDER + "big.bin"
    (got,) = sink.received
    assert got.complete and got.headers["content-length"] == str(got.size)
    assert "transfer-encoding" not in got.headers
    sent = as_files_sent_it(post, "big.bin", data, boundary_of(got))
    assert (got.size, got.sha256) == (len(sent), hashlib.sha256(sent).hexdigest())
    assert -1 not in file.asked, "the file was read whole"
    assert max(file.asked) <= CHUNK


def test_uploading_64_mb_holds_a_small_part_of_it(tmp_path: Path) -> None:
    """tracemalloc counts every Python allocation of the process (the sink's thread too,
    64 KiB at a time): building the form in memory held twice the file."""
    path = tmp_path / "64mb.bin"
    big_file(path, 64 * MB)
    with sink_server([Answer(204)]) as sink, path.open("rb") as file:
        tracemalloc.start()
        try:
            upload(loopback_post(sink.url), "64mb.bin", file)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    (got,) = sink.received
    assert got.complete
    assert got.sha256 == form_digest(loopback_post(sink.url), "64mb.bin", path, boundary_of(got))
    assert peak < 16 * MB, f"{peak / MB:.1f} MB held to upload a 64 MB file"


def text_file(tmp_path: Path) -> io.TextIOWrapper:
    path = tmp_path / "notes.txt"
    path.write_bytes("h\u00e9llo\r\nw\u00f6rld \u2603\n".encode("latin-1", "replace"))
    return path.open(encoding="latin-1")


class Pipe(io.RawIOBase):
    """A stream that cannot seek (a pipe, a socket, a decompressor)."""

    def __init__(self, data: bytes) -> None:
        self.rest = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), len(self.rest), 1000)
        buffer[:size], self.rest = self.rest[:size], self.rest[size:]
        return size


def moved_on(data: bytes) -> io.BytesIO:
    file = io.BytesIO(data)
    file.seek(3)
    return file


BODIES = {
    "bytes": lambda tmp: b'{"listings": []}',
    "str": lambda tmp: '{"city": "M\u00fcnchen \u2603"}',
    "bytearray": lambda tmp: bytearray(b"\x00\xff" * 10),
    "memoryview": lambda tmp: memoryview(b"view"),
    "BytesIO": lambda tmp: io.BytesIO(b"\x00\x01\x02" * 1000),
    "BytesIO read from its position": lambda tmp: moved_on(b"0123456789"),
    "StringIO": lambda tmp: io.StringIO("s\u2603\nline\r\n" * 300_000),
    "text file": text_file,
    "pipe": lambda tmp: io.BufferedReader(Pipe(bytes(range(256)) * 1200)),
}


@pytest.mark.parametrize("kind", BODIES)
@pytest.mark.parametrize("name", ["a.json", 'sub dir/\u00fcn\u00efc\u00f6d\u00e9 \u2603 "q".json'])
def test_the_form_is_the_one_files_built(tmp_path: Path, kind: str, name: str) -> None:
    """Same fields in the same order, same file name escaping, no Content-Type on the file
    part (the form's Content-Type field is the object's); text is sent as UTF-8."""
    data = BODIES[kind](tmp_path)
    again = BODIES[kind](tmp_path)
    with scripted_server([Answer(204)]) as script:
        post = loopback_post(script.url)
        upload(post, name, data)
    (got,) = script.requests
    boundary = got.body[2 : got.body.index(b"\r\n")].decode()
    assert got.body == as_files_sent_it(post, name, again, boundary)


@pytest.mark.parametrize("kind", ["file", "pipe"])
def test_each_try_sends_the_whole_form_again(tmp_path: Path, kind: str) -> None:
    """A busy S3 (or a proxy before it) is asked again: the file from where it was when the
    upload began (the pipe, read into memory, from its start)."""
    data = bytes(range(256)) * (3 * CHUNK // 256) + b"end"
    body = moved_on(data) if kind == "file" else io.BufferedReader(Pipe(data))
    busy = Answer(503, {"Retry-After": "0"})
    waits: list[float] = []
    backoff = Backoff(sleep=waits.append, jitter=lambda: 0.0)
    with sink_server([busy, Answer(502), Answer(204)]) as sink:
        post = loopback_post(sink.url)
        upload(post, "again.bin", body, backoff=backoff)
    assert len(sink.received) == 3
    for got in sink.received:
        sent = as_files_sent_it(
            post, "again.bin", data[3 if kind == "file" else 0 :], boundary_of(got)
        )
        assert got.complete
        assert (got.size, got.sha256) == (len(sent), hashlib.sha256(sent).hexdigest())
    assert waits == [0.0, 0.0]


class Changing(io.BytesIO):
    """A file that `change`s on its first read of content, after the kit measured it."""

    def __init__(self, data: bytes, change: str) -> None:
        super().__init__(data)
        self.change = change

    def read(self, size: int | None = -1) -> bytes:
        if size and self.change:
            position = self.tell()
            if self.change == "shrinks":
                self.truncate(position + 10)
            else:
                self.seek(0, io.SEEK_END)
                self.write(b"more")
                self.seek(position)
            self.change = ""
        return super().read(size)


@pytest.mark.parametrize("change", ["shrinks", "grows"])
def test_a_file_that_changes_while_sent_stops_the_upload(change: str) -> None:
    """Sent under the length it had, it would leave S3 waiting for bytes that never come, or
    store a file cut short."""
    with sink_server([Answer(204)]) as sink:
        with pytest.raises(StorageError, match="changed while it was sent") as caught:
            upload(loopback_post(sink.url), "log.txt", Changing(b"x" * 2 * CHUNK, change))
        assert "log.txt" in str(caught.value)
        (got,) = sink.wait_for(1)
    assert not got.complete


@pytest.mark.parametrize(
    "data", [5, None, [b"a"], iter([b"a"])], ids=["int", "None", "list", "iterator"]
)
def test_data_that_is_not_bytes_text_or_a_file_is_refused(data: Any) -> None:
    with pytest.raises(StorageError, match="not bytes, text or a file open for reading"):
        upload(loopback_post("http://127.0.0.1:9"), "a.json", data)


def test_a_path_given_as_the_data_says_to_open_it(tmp_path: Path) -> None:
    """A pathlib.Path (or a str taken for one) is no data: the file at it is. Refused as `the
    data is a PosixPath, not bytes, text or a file open for reading`, it did not say how."""
    path = tmp_path / "a.json"
    path.write_bytes(b"{}")
    with sink_server([Answer(204)]) as sink, pytest.raises(StorageError) as caught:
        upload(loopback_post(sink.url), "a.json", path)
    assert str(caught.value) == (
        f"cannot upload {FOLDER}a.json: the data is a {type(path).__name__}, a path: send "
        "the file's bytes, path.read_bytes(), or the file open for reading, path.open('rb')"
    )
    assert sink.received == []


@pytest.mark.parametrize(
    "name",
    [Path("a.json"), Path("sub/a.json"), b"a.json"],
    ids=["Path", "Path in a folder", "bytes"],
)
def test_a_name_that_is_not_text_is_refused_naming_its_type(name: Any) -> None:
    """A pathlib.Path for the name was an AttributeError (`'PosixPath' object has no
    attribute 'split'`) from the name's own check. An object's name is text, and a local
    path is no name (which of its parts would be the key?): a TypeError says what to pass."""
    with sink_server([Answer(204)]) as sink, pytest.raises(TypeError) as caught:
        upload(loopback_post(sink.url), name, b"x")
    assert str(caught.value) == (
        "upload's name is the object's name inside the credential's folder, a str such as "
        f"'07030.json' or 'sub/07030.json'; got a {type(name).__name__} (for a file on "
        "disk, pass path.name, or path.as_posix() of a path relative to the folder to keep "
        "its sub-folders)"
    )
    assert sink.received == []


def test_a_closed_file_is_a_storage_error(tmp_path: Path) -> None:
    file = (tmp_path / "a.json").open("wb")
    file.close()
    with pytest.raises(StorageError, match=r"cannot read the file to upload as .*a\.json"):
        upload(loopback_post("http://127.0.0.1:9"), "a.json", file)


def test_a_file_open_only_for_writing_is_named_as_such(tmp_path: Path) -> None:
    """It said `cannot read the file to upload as <key>: read`, io.UnsupportedOperation's
    words, the method's name alone."""
    with (tmp_path / "a.json").open("wb") as file, pytest.raises(StorageError) as caught:
        upload(loopback_post("http://127.0.0.1:9"), "a.json", file)
    assert str(caught.value) == (
        "cannot read the file to upload as data/hotkey=5F/epoch=2026-11-25T16-00-00/a.json: it "
        "is not open for reading (read); open it with 'rb'"
    )


# Against the S3 server -----------------------------------------------------------------------


@pytest.fixture
def s3_post(s3_server: S3Endpoint, s3_bucket: str) -> dict[str, Any]:
    """The signer's POST policy for FOLDER (pinned Content-Type, size 1..64 MB)."""
    post = presigned_post(s3_server.client(), s3_bucket, FOLDER, 64 * MB, 600)
    return {**post, "folder": FOLDER}


def stored(server: S3Endpoint, bucket: str, key: str) -> tuple[bytes, str]:
    got = server.client().get_object(Bucket=bucket, Key=key)
    return got["Body"].read(), got["ContentType"]


@pytest.mark.s3
def test_a_file_uploaded_to_s3_reads_back_identical(
    s3_server: S3Endpoint, s3_bucket: str, s3_post: dict[str, Any]
) -> None:
    data = os.urandom(6 * MB + 123)
    file = RecordedReads(data)
    key = upload(s3_post, "big.bin", file)
    assert stored(s3_server, s3_bucket, key) == (data, UPLOAD_CONTENT_TYPE)
    assert -1 not in file.asked and max(file.asked) <= CHUNK


@pytest.mark.s3
@pytest.mark.parametrize(
    "name", ["plain.json", "with space.json", "sub/f\u00fcr \u2603 \u65e5\u672c.json"]
)
def test_bytes_text_and_text_files_upload_to_s3_under_any_name(
    s3_server: S3Endpoint, s3_bucket: str, s3_post: dict[str, Any], tmp_path: Path, name: str
) -> None:
    """A text file is read in its own encoding and sent as UTF-8, like text."""
    text = 'caf\u00e9 "\u2603"\n'
    (tmp_path / "t.txt").write_text(text, encoding="utf-16")
    bodies: dict[str, Any] = {
        "bytes": (b"\x00\x01 bytes", b"\x00\x01 bytes"),
        "str": (text, text.encode()),
        "text file": ((tmp_path / "t.txt").open(encoding="utf-16"), text.encode()),
    }
    for kind, (data, expected) in bodies.items():
        key = upload(s3_post, f"{kind}/{name}", data)
        assert key == f"{FOLDER}{kind}/{name}"
        assert stored(s3_server, s3_bucket, key) == (expected, UPLOAD_CONTENT_TYPE)


@pytest.mark.s3
def test_s3_refuses_a_file_over_the_limit_while_it_streams(
    s3_server: S3Endpoint, s3_bucket: str
) -> None:
    post = {**presigned_post(s3_server.client(), s3_bucket, FOLDER, MB, 600), "folder": FOLDER}
    with pytest.raises(StorageError, match=r"upload of .*/big\.bin refused: HTTP 4\d\d") as caught:
        upload(post, "big.bin", io.BytesIO(b"x" * (MB + 1)))
    # S3's code, as a read's refusal carries it, for a program to tell refusals apart.
    assert caught.value.code == "EntityTooLarge"
    key = upload(post, "exact.bin", io.BytesIO(b"x" * MB))
    assert stored(s3_server, s3_bucket, key) == (b"x" * MB, UPLOAD_CONTENT_TYPE)


@pytest.mark.s3
@pytest.mark.parametrize(
    "name", ["a${filename}b.json", "dir/", "a//b.json", "./c.json", "d/./e.json"]
)
def test_a_name_s3_would_store_under_another_key_is_refused_before_sending(
    s3_server: S3Endpoint, s3_bucket: str, s3_post: dict[str, Any], name: str
) -> None:
    """S3 replaces `${filename}` in a POST's key with the file's name, and servers differ on
    `.` and empty path segments (SeaweedFS merges `a//b`, refuses `./c`; AWS keeps both): the
    key upload returned was not always the key stored. Such a name never leaves the client."""
    with pytest.raises(StorageError, match=f"{re.escape(repr(name))} is not a file name inside"):
        upload(s3_post, name, b"x")
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix=FOLDER)
    assert listed.get("Contents", []) == []


@pytest.mark.s3
@pytest.mark.parametrize("name", ["sub\\a.json", "..\\..\\hotkey=5G\\a.json", "a\\"])
def test_a_name_with_a_backslash_is_refused_before_sending(
    s3_server: S3Endpoint, s3_bucket: str, s3_post: dict[str, Any], name: str
) -> None:
    """SeaweedFS stores a backslash in a key as `/` (`sub\\a.json` was listed as `sub/a.json`,
    `..\\` refused as `InvalidRequest`), AWS keeps it: the key upload returned was not always
    the key stored, and a Windows path meant sub-folders. Such a name never leaves the client."""
    with pytest.raises(StorageError) as caught:
        upload(s3_post, name, b"x")
    assert str(caught.value) == (
        f"{name!r} is not a file name inside {FOLDER}: it has a backslash, which some S3 "
        "servers store as / (SeaweedFS) and others keep (AWS): write sub-folders with / "
        "(for a Windows path, PureWindowsPath(path).as_posix())"
    )
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix=FOLDER)
    assert listed.get("Contents", []) == []


@pytest.mark.parametrize(
    ("name", "code", "position"),
    [
        ("a\x00b.json", "U+0000", 2),
        ("sub/\x1f.json", "U+001F", 5),
        ("a.json\x7f", "U+007F", 7),
        ("line\n.json", "U+000A", 5),
        ("\tb/\x00.json", "U+0009", 1),
        ("a\x85b.json", "U+0085", 2),
        ("sub/\x9f.json", "U+009F", 5),
    ],
)
def test_a_name_with_a_control_character_is_refused_before_sending(
    name: str, code: str, position: int
) -> None:
    """A name with NUL or another control character was sent, file and all, for SeaweedFS to
    answer `HTTP 400 MalformedPOSTRequest: The body of your POST request is not well-formed
    multipart/form-data`, naming neither the character nor the name. Such a name never
    leaves the client, and the message says which character and where."""
    with sink_server([Answer(204)]) as sink, pytest.raises(StorageError) as caught:
        upload(loopback_post(sink.url), name, b"x")
    assert str(caught.value) == (
        f"{name!r} is not a file name inside {FOLDER}: it has the control character {code} "
        f"at position {position} (counting from 1): some S3 servers refuse control "
        "characters in a key (SeaweedFS: MalformedPOSTRequest), and the others' keys break log "
        "lines and printed listings; use printable characters only"
    )
    assert sink.received == []


@pytest.mark.parametrize(
    ("name", "what", "code"),
    [
        ("a\u2028b.json", "line separator", "U+2028"),
        ("x\u2029.json", "paragraph separator", "U+2029"),
    ],
)
def test_a_name_with_a_line_separator_is_refused_before_sending(
    name: str, what: str, code: str
) -> None:
    """SeaweedFS stores U+2028 and U+2029 in a key, and C1 controls, which the test above
    covers: str.splitlines breaks a line at each (U+0085 too), so a listing printed or
    logged one key a line no longer is."""
    with sink_server([Answer(204)]) as sink, pytest.raises(StorageError) as caught:
        upload(loopback_post(sink.url), name, b"x")
    assert f": it has the {what} {code} at position 2 (counting from 1): " in str(caught.value)
    assert sink.received == []


def test_a_name_utf_8_cannot_encode_is_refused_before_sending() -> None:
    """A file name read from disk in another encoding (os.listdir gives `caf\\udce9.json`
    for Latin-1 `café.json`) failed inside the kit as it built the form, `UnicodeEncodeError:
    'utf-8' codec can't encode character '\\udce9' in position 44: surrogates not allowed`,
    a position in a key the caller never wrote."""
    name = os.fsdecode(b"caf\xe9.json")
    with sink_server([Answer(204)]) as sink, pytest.raises(StorageError) as caught:
        upload(loopback_post(sink.url), name, b"x")
    assert str(caught.value) == (
        f"{name!r} is not a file name inside {FOLDER}: it has U+DCE9 at position 4 (counting "
        "from 1), a lone surrogate, which UTF-8 cannot encode: a file name read from disk in "
        "another encoding has them (os.fsdecode); decode its bytes in that encoding, such as "
        "os.fsencode(name).decode('latin-1')"
    )
    assert sink.received == []


@pytest.mark.s3
def test_a_file_written_and_not_rewound_is_refused_saying_so(
    s3_server: S3Endpoint, s3_bucket: str, s3_post: dict[str, Any], tmp_path: Path
) -> None:
    """A file is sent from its position: one just written is at its end, nothing to send.
    S3 answered `HTTP 400 EntityTooSmall`, which does not say why nor what to do."""
    with (tmp_path / "a.json").open("w+b") as file:
        file.write(b'{"listings": []}')
        with pytest.raises(StorageError, match=r"is at its end .*file\.seek\(0\)"):
            upload(s3_post, "a.json", file)
    with pytest.raises(StorageError, match="no data: S3 stores no empty object"):
        upload(s3_post, "b.json", b"")
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix=FOLDER)
    assert listed.get("Contents", []) == []


VALIDATOR_FOLDER = "validators/5G/epoch=2026-11-25T16-00-00/"
EXPIRED_SAYS = {
    FOLDER: (
        "the upload credential expired at {expiry}, the end of epoch 2026-11-25T16-00-00 plus "
        "the grace period: that epoch takes no more files (folder_access now grants the "
        "signer's current epoch)"
    ),
    VALIDATOR_FOLDER: (
        "the upload credential expired at {expiry}: ask the signer for a new one "
        "(validator_upload(epoch_id), while the signer takes results for that epoch) and "
        "upload again"
    ),
}


@pytest.mark.s3
@pytest.mark.parametrize("folder", EXPIRED_SAYS, ids=["miner", "validator"])
def test_an_expired_form_says_what_to_do(
    s3_server: S3Endpoint, s3_bucket: str, folder: str
) -> None:
    """S3 refuses a form whose policy has expired with `HTTP 403 AccessDenied: Invalid
    according to Policy: Policy expired`, which says neither that the credential from the
    signer is what ran out nor what to do. S3's words are kept, and what to do follows. A
    miner's form lasts until its epoch's end plus the grace period, and a new one is for the
    next epoch: `ask for a new one and upload again`, as it said, put an upload begun before
    the end into the next epoch's folder. A validator's results may name a recent epoch."""
    expired = presigned_post(s3_server.client(), s3_bucket, folder, MB, -60)
    expiry = json.loads(base64.b64decode(expired["fields"]["policy"]))["expiration"]
    post = {**expired, "folder": folder, "expiry": expiry, "epoch_id": "2026-11-25T16-00-00"}
    with pytest.raises(StorageError) as caught:
        upload(post, "late.json", b"x")
    message = str(caught.value)
    assert message.startswith(f"upload of {folder}late.json refused: HTTP 403 AccessDenied: ")
    assert "Policy expired" in message
    assert caught.value.code == "AccessDenied"
    assert message.endswith(": " + EXPIRED_SAYS[folder].format(expiry=expiry))
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix=folder)
    assert listed.get("Contents", []) == []


def test_a_file_over_the_credentials_limit_is_not_sent(tmp_path: Path) -> None:
    """S3 refuses an object over the policy's size only once it has received it: a miner
    sent a file of gigabytes for nothing (and a server closing the connection early is a
    failed connection, tried again). The credential says its max_upload_bytes."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (MB + 1))
    with sink_server([Answer(204)]) as sink, path.open("rb") as file:
        post = {**loopback_post(sink.url), "max_upload_bytes": MB}
        with pytest.raises(StorageError) as caught:
            upload(post, "big.bin", file)
    assert str(caught.value) == (
        f"cannot upload {FOLDER}big.bin: it is {MB + 1} bytes, over this credential's "
        f"max_upload_bytes, {MB}: not sent"
    )
    assert sink.received == []


@pytest.mark.s3
def test_a_miner_lists_every_file_of_its_folder_page_by_page(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    # The miner's list_url is one presigned page (1,000 keys, oldest epochs first), and a
    # continuation token appended to it breaks its signature: after a few epochs of files, a
    # miner could no longer see what it had uploaded in this one.
    published, workdir = tmp_path / "published", tmp_path / "gunicorn"
    published.mkdir()
    workdir.mkdir()
    with running_signer(workdir, published, s3_server, s3_bucket) as url:
        bob = SignerClient(url, Keypair.create_from_uri("//Bob"))
        coldkey = Keypair.create_from_uri("//Bob//stash")
        grant = bob.folder_access(coldkey)
        names = [f"{n:04d}.json" for n in range(1001)]
        with ThreadPoolExecutor(8) as pool:
            keys = list(pool.map(lambda name: upload(grant, name, b"1"), names))
        assert list_page(grant["list_url"]).truncated

        assert [info.key for info in list_mine(bob, coldkey)] == keys

        first = list_page(grant["list_url"])
        second = list_page(bob.folder_access(coldkey, first.next_token)["list_url"])
        assert [info.key for info in first.objects + second.objects] == keys
        assert not second.truncated


@pytest.mark.s3
def test_a_miner_file_the_store_does_not_have_is_named_by_its_key(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """The 404 named the presigned URL's path, `.../data/hotkey%3D5FHne.../epoch%3D...`, not
    the key the validator had asked for."""
    published, workdir = tmp_path / "published", tmp_path / "gunicorn"
    published.mkdir()
    workdir.mkdir()
    with running_signer(workdir, published, s3_server, s3_bucket) as url:
        bob = SignerClient(url, Keypair.create_from_uri("//Bob"))
        grant = bob.folder_access(Keypair.create_from_uri("//Bob//stash"))
        kept = upload(grant, "kept.json", b"1")
        gone = f"{grant['folder']}gone.json"
        alice = SignerClient(url, Keypair.create_from_uri("//Alice"))
        read = read_miner_files(alice, bob.hotkey, [kept, gone])
        assert next(read) == (kept, b"1")
        with pytest.raises(StorageError) as caught:
            next(read)
    assert str(caught.value).startswith(f"reading {gone!r} refused: HTTP 404 NoSuchKey")


@pytest.mark.s3
def test_a_name_part_seaweedfs_finds_too_long_is_refused_saying_its_limit(
    s3_server: S3Endpoint, s3_bucket: str, s3_post: dict[str, Any]
) -> None:
    """SeaweedFS refuses a part of a key over 255 bytes (AWS takes up to 1,024 for the whole
    key): its words, `KeyTooLongError: Your key is too long.`, said nothing of which limit,
    to a name far under 1,024 bytes."""
    name = "sub/" + "\u00e9" * 128 + ".json"
    with pytest.raises(StorageError) as caught:
        upload(s3_post, name, b"x")
    assert str(caught.value) == (
        f"upload of {FOLDER}{name} refused: HTTP 400 KeyTooLongError: Your key is too long.: "
        "this store limits each /-separated part of a name to 255 bytes in UTF-8, and the "
        "longest part of this one is 261 bytes: use shorter parts"
    )
