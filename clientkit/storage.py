"""Uploading with a presigned POST and reading S3 listings, with plain HTTP (requests).

A presigned POST is a form whose signed policy S3 enforces: keys under one folder, a size
range, an expiry. The form is streamed, the file read a chunk at a time as it is sent (an
upload may be 5 GiB). A presigned list URL is one ListObjectsV2 page; the next page needs a
new URL from the signer, because the continuation token is part of what is signed.

Every request takes `timeout` (seconds a try: for the connection, then for each piece of
the answer) and `backoff` (how many tries, clientkit.retry), so that a caller decides how
long a server that takes the connection and never answers can hold it.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import math
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote, unquote_plus

import requests
from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary, encode_multipart_formdata

from clientkit.bounded import read_retryable
from clientkit.epochs import epoch_id_of
from clientkit.errors import ClientKitError, a_type
from clientkit.failures import failure
from clientkit.retry import STORAGE_TRANSIENT, Backoff, checked, count, session_of
from clientkit.signer import Addressed, SignerClient, SignerError, address_of, keys_of
from envsettings import ENCODE_USERINFO, is_http_url, misread_userinfo, without_userinfo

S3 = "{http://s3.amazonaws.com/doc/2006-03-01/}"
TIMEOUT = 60.0
"""Seconds a try waits for the connection, then for each piece of the answer (`timeout=`)."""
MAX_OBJECT_BYTES = 256 * 1024 * 1024
"""What read_object and read_miner_files read of one object by default (`max_bytes=`)."""
MAX_PAGE_BYTES = 32 * 1024 * 1024
"""A listing page: 1,000 keys of at most 1,024 bytes each, with their fields, is a few MB."""
MAX_ERROR_BYTES = 64 * 1024


class StorageError(ClientKitError):
    """S3 refused or could not be reached: the message has the key and S3's error code,
    which `code` holds when S3 (or the signer's list URL) answered one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: str


@dataclass(frozen=True)
class Page:
    """One ListObjectsV2 page: objects, folders (with a delimiter) and the next token."""

    objects: list[ObjectInfo]
    prefixes: list[str]
    next_token: str | None
    truncated: bool


def _s3_error(response: requests.Response) -> str:
    """`HTTP 403 AccessDenied: message` from S3's XML error body, when it has one."""
    return _s3_error_of(response.status_code, response.content)


def _s3_error_of(status: int, body: bytes | None) -> str:
    """`HTTP 403 Code: message` from S3's XML error, or from the signer's JSON one (its own
    list URLs, /s3/list: `list_url_expired`, `invalid_list_signature`), when there is one."""
    code, message = _error_code(body)
    return f"HTTP {status}" + (f" {code}: {message}" if code else "")


def _error_code(body: bytes | None) -> tuple[str | None, str | None]:
    """The code and message of S3's XML error or the signer's JSON one, or (None, None)."""
    try:
        root = ET.fromstring(body or b"")
    except ET.ParseError:
        return _signer_error(body or b"")
    return root.findtext("Code"), root.findtext("Message")


def _signer_error(body: bytes) -> tuple[str | None, str | None]:
    """The signer's `{"error", "detail"}`, or (None, None)."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(answer, dict) or not isinstance(answer.get("error"), str):
        return None, None
    return answer["error"], str(answer.get("detail", ""))


def granted(answer: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    """`answer[name]`, a `kind`, from the signer's `what` answer, or a StorageError saying
    the answer lacks it (a signer, or something posing as one, answering another shape)."""
    value = answer.get(name) if isinstance(answer, Mapping) else None
    if not isinstance(value, kind):
        raise StorageError(f"the signer's {what} has no {name} ({kind.__name__}): not used")
    return value


def upload(
    post: Mapping[str, Any],
    name: str,
    data: bytes | str | IO[bytes] | IO[str],
    *,
    session: requests.Session | None = None,
    timeout: float = TIMEOUT,
    backoff: Backoff | None = None,
) -> str:
    """Upload `data` as `name` inside the credential's folder; returns the object key.

    `post` is the signer's answer (`url`, `fields`, `folder`). `name` is a str and may
    contain sub-folders (not `.`, `..`, empty segments, `${filename}`, a backslash, a
    control character or a line separator: refused before sending); a pathlib.Path is
    refused with a TypeError, not guessed at (pass `path.name`, or `path.as_posix()` of a
    path relative to the folder). S3 refuses anything outside the folder or above the size
    limit, and any upload once the form has expired (the message then says to ask the signer
    for a new one).
    `data` is bytes, text (sent as UTF-8) or a file open for reading, sent from its position
    to its end: streamed if it can seek (it is measured first), read into memory if not (a
    pipe). Busy answers and failed connections are retried (clientkit.retry), each try
    sending the whole form again from that position: the same key and bytes, so a try that
    S3 stored before the connection failed is only written again.
    """
    _not_a_validator_access(post)
    timeout, policy = checked(timeout, backoff)
    session = session_of(session)
    folder = granted(post, "folder", str, "upload credential")
    url = granted(post, "url", str, "upload credential")
    fields = dict(granted(post, "fields", dict, "upload credential"))
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise StorageError("the signer's upload credential has fields that are not text")
    _check_name(name, folder)
    key = fields.get("key", folder + "${filename}").replace("${filename}", name)
    _check_key_size(key)
    fields["key"] = key
    form = Form.of(fields, name.rsplit("/", 1)[-1], _sendable(post, data, key))

    def attempt() -> requests.Response:
        # Never redirected: the form would go, file and all, wherever a 307 points.
        return (session or requests).post(
            url,
            data=form.body(),
            headers={"Content-Type": form.content_type},
            timeout=timeout,
            allow_redirects=False,
        )

    try:
        response = policy.run(attempt, STORAGE_TRANSIENT)
    except requests.RequestException as exc:
        raise StorageError(f"cannot upload {key}: {failure(exc, timeout, url)}") from exc
    if response.status_code not in (200, 201, 204):
        raise _upload_refused(key, post, response)
    return key


def _not_a_validator_access(post: Mapping[str, Any]) -> None:
    """A StorageError if `post` is a validator_access() answer given whole: it holds its
    upload credential as `upload`, which would otherwise be refused for lacking a folder."""
    if isinstance(post, Mapping) and "folder" not in post and isinstance(post.get("upload"), dict):
        raise StorageError(
            "upload takes an upload credential, and this is a validator access, which holds "
            "one as its 'upload': pass access['upload'] (or validator_upload(epoch_id) for "
            "another epoch)"
        )


POLICY_EXPIRED = re.compile(r"policy expired", re.IGNORECASE)
"""How S3 refuses a form past its expiry: `AccessDenied: Invalid according to Policy: Policy
expired` (AWS, SeaweedFS)."""


MAX_PART_BYTES = 255
"""SeaweedFS's longest part of a key between slashes, in UTF-8 bytes (AWS and Spaces have no
such limit, only MAX_KEY_BYTES for the whole key)."""


def _upload_refused(key: str, post: Mapping[str, Any], response: requests.Response) -> StorageError:
    """S3's refusal of an upload, with S3's code. A form past its expiry cannot be renewed,
    which S3's `Policy expired` does not say: what to do follows S3's words (_after_expiry).
    Nor does SeaweedFS's `KeyTooLongError: Your key is too long.` say which limit a key
    under MAX_KEY_BYTES broke: its limit on each part follows (_part_too_long)."""
    code = _error_code(response.content)[0]
    refusal = _s3_error(response)
    said = f"upload of {key} refused: {refusal}{_part_too_long(key, code)}"
    if response.status_code == 403 and POLICY_EXPIRED.search(refusal):
        said = f"{said}: {_after_expiry(post)}"
    return StorageError(said, code)


def _part_too_long(key: str, code: str | None) -> str:
    """What a KeyTooLongError (S3's `code`) means for a key with a part over MAX_PART_BYTES
    (a store that limits each part, such as SeaweedFS): "" for any other refusal or key."""
    longest = max(len(part.encode("utf-8", "surrogatepass")) for part in key.split("/"))
    if code != "KeyTooLongError" or longest <= MAX_PART_BYTES:
        return ""
    return (
        f": this store limits each /-separated part of a name to {MAX_PART_BYTES} bytes in "
        f"UTF-8, and the longest part of this one is {longest} bytes: use shorter parts"
    )


def _after_expiry(post: Mapping[str, Any]) -> str:
    """What to do once an upload form has expired. Every form lasts until the end of the
    signer's current epoch plus the grace period: a miner's new one is for the next epoch,
    so the files of the one that ended have no folder left; a validator may ask for its
    results' epoch again while the signer takes results for it."""
    expiry, epoch_id = post.get("expiry"), post.get("epoch_id")
    when = f" at {expiry}" if isinstance(expiry, str) else ""
    if str(post.get("folder", "")).startswith("validators/"):
        return (
            f"the upload credential expired{when}: ask the signer for a new one "
            "(validator_upload(epoch_id), while the signer takes results for that epoch) and "
            "upload again"
        )
    epoch = f" {epoch_id}" if isinstance(epoch_id, str) else ""
    return (
        f"the upload credential expired{when}, the end of epoch{epoch} plus the grace "
        "period: that epoch takes no more files (folder_access now grants the signer's "
        "current epoch)"
    )


SEPARATORS = {"\u2028": "line separator", "\u2029": "paragraph separator"}
"""Not control characters, but line breaks to Python's str.splitlines and to JavaScript."""


def _breaks_lines(c: str) -> bool:
    """A control character (C0, DEL, or C1, whose U+0085 is a line break to
    str.splitlines), or a Unicode line or paragraph separator."""
    return c < " " or "\x7f" <= c <= "\x9f" or c in SEPARATORS


def _check_name(name: str, folder: str) -> None:
    """A StorageError, before anything is sent, unless S3 stores `name` under the very key
    upload returns: a POST's key has `${filename}` replaced with the file's name, and servers
    differ on `.` and empty segments (`a//b`, a trailing `/`: merged, refused or kept). A
    name that is not text is a TypeError: a local path (pathlib.Path) is not taken for one,
    since which of its parts make the key (its name? its folders? relative to what?) is the
    caller's to say. A backslash is refused too: SeaweedFS stores it as `/`, AWS keeps it,
    so the key stored would depend on the server (and a Windows path meant sub-folders). So
    is a control character (U+0000 to U+001F, U+007F to U+009F), which AWS advises against
    in keys: SeaweedFS refuses most C0 ones as a malformed form once it has received the
    whole upload, and keeps a tab, line feed or carriage return and the C1 ones, which break
    a log line or a listing printed one key a line (U+0085 is a line break to
    str.splitlines); and so is a line or paragraph separator (U+2028, U+2029). A lone
    surrogate (os.fsdecode's stand-in for a byte of a file name in another encoding) cannot
    be sent at all: UTF-8 has no encoding for it."""
    if not isinstance(name, str):
        raise TypeError(
            "upload's name is the object's name inside the credential's folder, a str such "
            f"as '07030.json' or 'sub/07030.json'; got {a_type(name)} (for a file "
            "on disk, pass path.name, or path.as_posix() of a path relative to the folder "
            "to keep its sub-folders)"
        )
    control = next((i for i, c in enumerate(name) if _breaks_lines(c)), None)
    if control is not None:
        what = SEPARATORS.get(name[control], "control character")
        raise StorageError(
            f"{name!r} is not a file name inside {folder}: it has the {what} "
            f"U+{ord(name[control]):04X} at position {control + 1} (counting from 1): some "
            "S3 servers refuse control characters in a key (SeaweedFS: MalformedPOSTRequest), "
            "and the others' keys break log lines and printed listings; use printable "
            "characters only"
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StorageError(
            f"{name!r} is not a file name inside {folder}: it has U+{ord(name[exc.start]):04X} "
            f"at position {exc.start + 1} (counting from 1), a lone surrogate, which UTF-8 "
            "cannot encode: a file name read from disk in another encoding has them "
            "(os.fsdecode); decode its bytes in that encoding, such as "
            "os.fsencode(name).decode('latin-1')"
        ) from None
    if "\\" in name:
        raise StorageError(
            f"{name!r} is not a file name inside {folder}: it has a backslash, which some S3 "
            "servers store as / (SeaweedFS) and others keep (AWS): write sub-folders with / "
            "(for a Windows path, PureWindowsPath(path).as_posix())"
        )
    segments = name.split("/")
    if "${filename}" in name or any(s in ("", ".", "..") for s in segments):
        raise StorageError(
            f"{name!r} is not a file name inside {folder}: use names like a.json or "
            "sub/a.json, without ., .., empty segments (a leading, trailing or double /) "
            "or ${filename} (S3 replaces it)"
        )


MAX_KEY_BYTES = 1024
"""S3's longest object key, in UTF-8 bytes (AWS, Spaces, SeaweedFS)."""


def _check_key_size(key: str) -> None:
    """A StorageError, before anything is sent, for a key longer than S3 takes: S3 refuses
    it (KeyTooLongError) only once it has received the whole form, file and all."""
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise StorageError(
            f"cannot upload {key}: its key is {size} bytes in UTF-8, over the {MAX_KEY_BYTES} "
            "S3 takes: use a shorter name; not sent"
        )


# The form, streamed. requests' `files=` built the whole multipart body in memory, the file
# read whole and copied once more (a 400 MB file took a process from 44 MB to 844 MB). S3
# needs a POST upload's length up front (no chunked transfer-encoding), so the body is an
# object that requests streams under a Content-Length, read as it is sent: the fields in the
# order given (`key` before the file: S3 requires the file to be the last field), the file a
# chunk at a time, the closing boundary. urllib3 encodes the fields and the file part's
# headers, as it did for `files=`, so S3 receives the same bytes as before.

CHUNK = 1024 * 1024
"""The most of the file read at once (a text file's chunk is up to 4 times that in UTF-8)."""


@dataclass(frozen=True)
class Content:
    """The file part: its size in bytes, and its bytes, from the start on each call (each
    try sends the whole form again)."""

    size: int
    chunks: Callable[[], Iterator[bytes | memoryview]]


@dataclass(frozen=True)
class Form:
    """A multipart/form-data body: what precedes the file part's bytes, they, what follows."""

    content_type: str
    head: bytes
    content: Content
    tail: bytes

    @classmethod
    def of(cls, fields: Mapping[str, str], filename: str, content: Content) -> Form:
        """`fields`, then the part `file` named `filename`, without a Content-Type of its
        own (the form's `Content-Type` field is the stored object's, pinned by the policy)."""
        boundary = choose_boundary()
        part = RequestField(name="file", data=b"", filename=filename)
        part.make_multipart(content_type=None)
        parts: list[tuple[str, str] | RequestField] = [*fields.items(), part]
        whole, content_type = encode_multipart_formdata(parts, boundary)
        tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
        return cls(content_type, whole[: -len(tail)], content, tail)

    def body(self) -> FormBody:
        """A body for one try, from the start."""
        return FormBody(self)


class FormBody:
    """A form as requests streams it: it sends `len` (see requests.utils.super_len) as the
    Content-Length, then urllib3 calls `read(n)` until it gives b"". `__iter__` is what
    makes requests take it for a stream rather than form fields to encode."""

    def __init__(self, form: Form) -> None:
        self.len = len(form.head) + form.content.size + len(form.tail)
        self._chunks = itertools.chain((form.head,), form.content.chunks(), (form.tail,))
        self._pending = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        """At most `size` bytes (all the rest if negative); b"" only at the end."""
        if size < 0:
            rest = b"".join([self._pending, *self._chunks])
            self._pending = memoryview(b"")
            return rest
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = memoryview(chunk)
        piece, self._pending = self._pending[:size], self._pending[size:]
        return bytes(piece)

    def __iter__(self) -> Iterator[bytes]:
        return iter(functools.partial(self.read, CHUNK), b"")


def _content(data: object, key: str) -> Content:
    if isinstance(data, str):
        return _in_memory(data.encode("utf-8"))
    if isinstance(data, bytes | bytearray | memoryview):
        return _in_memory(data)
    if callable(getattr(data, "read", None)):
        return _from_file(data, key)
    if isinstance(data, os.PathLike):
        raise StorageError(
            f"cannot upload {key}: the data is {a_type(data)}, a path: send the "
            "file's bytes, path.read_bytes(), or the file open for reading, path.open('rb')"
        )
    raise StorageError(
        f"cannot upload {key}: the data is {a_type(data)}, not bytes, text or a file "
        "open for reading"
    )


def _sendable(post: Mapping[str, Any], data: object, key: str) -> Content:
    """The file part, refused before sending if S3 would refuse it: empty, or over the
    credential's `max_upload_bytes` (which S3 finds out only once it has received it all,
    gigabytes perhaps)."""
    content = _content(data, key)
    if content.size == 0:
        raise StorageError(_nothing_to_send(data, key))
    limit = post.get("max_upload_bytes")
    if isinstance(limit, int) and content.size > limit:
        raise StorageError(
            f"cannot upload {key}: it is {content.size} bytes, over this credential's "
            f"max_upload_bytes, {limit}: not sent"
        )
    return content


def _nothing_to_send(data: object, key: str) -> str:
    """Why an upload of no bytes is refused before sending (S3 would answer EntityTooSmall):
    most often a file just written, still at its end."""
    position = _position(data) if callable(getattr(data, "read", None)) else None
    if position:
        return (
            f"cannot upload {key}: the file is at its end (position {position}), and a file "
            "is sent from where it is: after writing it, call file.seek(0)"
        )
    return f"cannot upload {key}: no data: S3 stores no empty object"


def _in_memory(data: bytes | bytearray | memoryview) -> Content:
    view = memoryview(data).cast("B")
    return Content(view.nbytes, lambda: iter((view,)))


def _from_file(file: Any, key: str) -> Content:
    """The file from its position to its end. One that cannot seek back (a pipe, a socket)
    is read into memory, as uploads always did: its length must be known before sending
    and it cannot be read again for another try; bytes, or a file that can seek, stream."""
    try:
        text = isinstance(file.read(0), str)
        start = _position(file)
        if start is None:
            return _in_memory(_encoded(file.read()))
        size = max(0, _text_size(file) if text else _end(file) - start)
        file.seek(start)
    except io.UnsupportedOperation as exc:
        # Its own words name the method alone (`read`): a file opened to write, say.
        raise StorageError(
            f"cannot read the file to upload as {key}: it is not open for reading ({exc}); "
            "open it with 'rb'"
        ) from exc
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read the file to upload as {key}: {exc}") from exc
    return Content(size, functools.partial(_file_chunks, file, start, size, key))


def _position(file: Any) -> int | None:
    """Where the file is, if it can seek back there; None if not."""
    try:
        return int(file.tell()) if file.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _end(file: Any) -> int:
    file.seek(0, io.SEEK_END)
    return int(file.tell())


def _text_size(file: Any) -> int:
    """A text file's size in UTF-8, read once through (a text position is no byte count)."""
    return sum(len(piece.encode("utf-8")) for piece in iter(lambda: file.read(CHUNK), ""))


def _encoded(piece: Any) -> Any:
    """Text as UTF-8 (as urllib3 encoded a text file's contents), bytes as they are."""
    return piece.encode("utf-8") if isinstance(piece, str) else piece


def _file_chunks(file: Any, start: int, size: int, key: str) -> Iterator[bytes]:
    """The file from `start`, checked to be `size` bytes long: sent under a Content-Length,
    a file that changed since it was measured must stop the upload, not leave S3 waiting for
    bytes that never come nor store a file cut short."""
    sent = 0
    try:
        file.seek(start)
        while chunk := _encoded(file.read(CHUNK)):
            sent += len(chunk)
            if sent > size:
                break
            yield chunk
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read the file to upload as {key}: {exc}") from exc
    if sent != size:
        raise StorageError(
            f"the file uploaded as {key} changed while it was sent (it had {size} bytes "
            "when the upload began): not uploaded"
        )


def parse_listing(xml: bytes) -> Page:
    """A ListBucketResult document as a Page (keys decoded if S3 url-encoded them); a
    StorageError for anything else (an S3 <Error>, an HTML page), which must not read as an
    empty listing."""
    try:
        return _listing(xml)
    except (ET.ParseError, ValueError) as exc:
        raise StorageError(f"not a listing: {exc}") from exc


def _listing(xml: bytes) -> Page:
    root = ET.fromstring(xml)
    if root.tag != f"{S3}ListBucketResult":
        code = root.findtext("Code") or root.findtext(f"{S3}Code")
        raise ValueError(
            f"S3 error {code}"
            if root.tag.endswith("Error") and code
            else f"<{root.tag}> is not an S3 ListBucketResult"
        )
    encoded = root.findtext(f"{S3}EncodingType") == "url"

    def text(node: ET.Element, tag: str) -> str:
        value = node.findtext(f"{S3}{tag}") or ""
        # S3's url encoding writes a space as + (and a + as %2B), as botocore decodes it.
        return unquote_plus(value) if encoded and tag in ("Key", "Prefix") else value

    objects = [
        ObjectInfo(
            key=_key(text(item, "Key")),
            size=_size(text(item, "Size")),
            etag=text(item, "ETag").strip('"'),
            last_modified=text(item, "LastModified"),
        )
        for item in root.iter(f"{S3}Contents")
    ]
    prefixes = [text(item, "Prefix") for item in root.iter(f"{S3}CommonPrefixes")]
    truncated = (root.findtext(f"{S3}IsTruncated") or "").lower() == "true"
    token = root.findtext(f"{S3}NextContinuationToken") or None
    return Page(objects, prefixes, token, truncated)


def _key(text: str) -> str:
    if not text:
        raise ValueError("an object without a Key")
    return text


def _size(text: str) -> int:
    size = int(text or 0)
    if size < 0:
        raise ValueError(f"an object of Size {size}")
    return size


@dataclass(frozen=True)
class Reading:
    """How a GET of a presigned URL is made: its session, `timeout` (seconds a try) and
    `backoff` (the tries; clientkit.retry's default policy if None)."""

    session: requests.Session | None = None
    timeout: float = TIMEOUT
    backoff: Backoff | None = None

    def __post_init__(self) -> None:
        session_of(self.session)
        checked(self.timeout, self.backoff)


def _get(url: str, how: Reading, verb: str, noun: str, limit: int, key: str = "") -> bytes:
    """GET a presigned URL (busy answers retried), at most `limit` bytes of body; errors
    never show the signature. A refusal, or a body over `limit`, names `key` when given (the
    object the caller asked for by key, which the URL's path has percent-encoded); not
    reaching the store names the URL, its host."""
    if not isinstance(url, str):
        raise TypeError(
            f"cannot {verb} {a_type(url)}: a presigned URL is a str (of a signer's "
            "answer, its list_url, or a file's presigned_url)"
        )
    if misread_userinfo(url):
        raise ValueError(
            f"cannot {verb} {_without_query(url)!r}: its user name and password must be "
            f"percent-encoded: {ENCODE_USERINFO}"
        )
    if not is_http_url(_without_query(url)):
        raise ValueError(
            f"cannot {verb} {_without_query(url)!r}: it is no URL (http:// or https:// and a "
            "host); a presigned URL is a signer answer's list_url or a file's presigned_url "
            "(read_miner_files reads a miner's files by their keys)"
        )
    bodies: list[bytes | None] = []

    def attempt() -> requests.Response:
        # The body is read inside the try: a connection cut mid-body is tried again.
        response = (how.session or requests).get(url, timeout=how.timeout, stream=True)
        with response:
            ok = response.status_code == 200
            bodies.append(read_retryable(response, limit if ok else MAX_ERROR_BYTES))
        return response

    try:
        response = (how.backoff or Backoff()).run(attempt, STORAGE_TRANSIENT)
    except requests.RequestException as exc:
        # Not chained: requests' own message quotes the URL, signature included.
        said = failure(exc, how.timeout, url)
        raise StorageError(f"cannot {verb} {_without_query(url)}: {said}") from None
    ok, body = response.status_code == 200, bodies[-1]
    named = repr(key) if key else _without_query(url)
    if not ok:
        refusal = _s3_error_of(response.status_code, body)
        raise StorageError(
            f"{noun} {named} refused: {refusal}{_if_expired(refusal)}", _error_code(body)[0]
        )
    if body is None:
        raise StorageError(f"{noun} {named}: over {limit} bytes, not read on")
    return body


URL_EXPIRED = re.compile(r"^HTTP 403 .*request has expired", re.IGNORECASE)
"""How S3 refuses a presigned URL past its expiry: `AccessDenied: Request has expired`."""


def _if_expired(refusal: str) -> str:
    """What to do, after S3's words, when they say a presigned URL expired: it cannot be
    renewed, only asked for again."""
    if not URL_EXPIRED.search(refusal):
        return ""
    return (
        ": the presigned URL expired: ask the signer for a new one (folder_access or "
        "miner_list for a list_url, file_urls for a file's; list_mine, list_miner and "
        "read_miner_files ask by themselves)"
    )


def list_page(
    url: str,
    *,
    session: requests.Session | None = None,
    timeout: float = TIMEOUT,
    backoff: Backoff | None = None,
) -> Page:
    """GET one presigned list URL and parse the page (`timeout` seconds a try, the tries
    as `backoff` says)."""
    body = _get(url, Reading(session, timeout, backoff), "list", "listing", MAX_PAGE_BYTES)
    try:
        return _listing(body)
    except (ET.ParseError, ValueError) as exc:
        raise StorageError(f"{_without_query(url)} did not answer a listing: {exc}") from exc


def _signer_client(signer: object, function: str) -> SignerClient:
    """`signer`, or a TypeError saying what to pass: the signer's URL or the hotkey given
    for it failed inside the kit (`'str' object has no attribute 'hotkey'`)."""
    if not isinstance(signer, SignerClient):
        raise TypeError(
            f"{function}'s signer is a clientkit.SignerClient, made of the signer's URL and "
            f"your hotkey: SignerClient(SIGNER, keypair); got {a_type(signer)}"
        )
    return signer


def list_mine(
    signer: SignerClient,
    coldkey: str | Addressed,
    *,
    epoch_id: str | None = None,
    session: requests.Session | None = None,
    timeout: float = TIMEOUT,
    backoff: Backoff | None = None,
) -> Iterator[ObjectInfo]:
    """Miner: every object under data/hotkey=<the signer client's hotkey>/, every epoch's,
    or with `epoch_id` only those under its epoch=<epoch_id>/ folder (one request for an
    epoch of up to 1,000 files), a fresh list URL from SignerClient.folder_access per page
    (`coldkey` as it takes it; the signer refuses an epoch_id that is no epoch id, as a
    SignerError invalid_request). `timeout` and `backoff` are each page's, as in list_page;
    the signer's requests are the SignerClient's, each counted against the miner's quota."""
    signer = _signer_client(signer, "list_mine")
    yield from _every_page(
        lambda token: signer.folder_access(coldkey, token, epoch_id),
        f"the listing of {signer.hotkey}",
        "folder access",
        Reading(session, timeout, backoff),
    )


def list_miner(
    signer: SignerClient,
    miner_hotkey: str | Addressed,
    *,
    epoch_id: str | None = None,
    access: Mapping[str, Any] | None = None,
    session: requests.Session | None = None,
    timeout: float = TIMEOUT,
    backoff: Backoff | None = None,
) -> Iterator[ObjectInfo]:
    """Every object under data/hotkey=<miner_hotkey>/, a fresh signed URL per page
    (`miner_hotkey` an SS58 address, or a key that has one); with `epoch_id`, only those
    under its epoch=<epoch_id>/ folder (see _epoch_objects), listed with `access` (a
    validator_access() answer, so that one serves every miner) while its URL lasts.
    `timeout` and `backoff` are each page's, as in list_page; the signer's requests are the
    SignerClient's."""
    signer = _signer_client(signer, "list_miner")
    miner_hotkey = address_of(miner_hotkey, "miner_hotkey")
    if epoch_id is not None:
        how = Reading(session, timeout, backoff)
        yield from _epoch_objects(signer, miner_hotkey, epoch_id, access, how)
        return
    if access is not None:
        raise TypeError(
            "list_miner's access= lists one epoch, with epoch_id=: without it every page is "
            "asked of /get-miner-list, and a validator access has no use (pass "
            'epoch_id=access["epoch_id"] for its epoch)'
        )
    yield from _every_page(
        lambda token: signer.miner_list(miner_hotkey, token),
        f"the listing of {miner_hotkey}",
        "miner list",
        Reading(session, timeout, backoff),
    )


def _every_page(
    grant: Callable[[str | None], Mapping[str, Any]], listing: str, what: str, how: Reading
) -> Iterator[ObjectInfo]:
    """The objects of every page, each page's list URL from `grant(continuation_token)`,
    the signer's `what` answer."""
    token: str | None = None
    seen: set[str] = set()
    while True:
        url = granted(grant(token), "list_url", str, what)
        page = list_page(url, session=how.session, timeout=how.timeout, backoff=how.backoff)
        yield from page.objects
        if not page.truncated:
            return
        token = _next_token(page, seen, listing)


def _epoch_objects(
    signer: SignerClient,
    miner_hotkey: str,
    epoch_id: str,
    access: Mapping[str, Any] | None,
    how: Reading,
) -> Iterator[ObjectInfo]:
    """The objects under data/hotkey=<miner_hotkey>/epoch=<epoch_id>/, listed with the
    validator access's list_all_data (the signer's /s3/list of all of data/, which takes an
    appended start-after and continuation-token) from that folder on, to the first key past
    it: keys come in order, so a miner's other epochs, and the miners after it, are not
    paged through. Keys before the folder are passed over: S3 lists none, but SeaweedFS
    answers a start-after deep in the tree with some of them. One grant, `access` if given,
    serves every page until its URL is about to run out, then one is asked for; each page is
    a request of /s3/list (the per-address limit), not of the validator's quota. `access` is
    judged by its expiry against this machine's clock, which may be behind the signer's: a
    page the signer refuses as expired (list_url_expired) is listed again with a new one."""
    epoch = epoch_id_of(epoch_id, "list_miner", "validator_access()['epoch_id']")
    folder = f"data/hotkey={miner_hotkey}/epoch={epoch}/"
    where = "&start-after=" + quote(folder, safe="")
    seen: set[str] = set()
    url, fresh_until, callers = "", -math.inf, access is not None
    if access is not None:
        _not_an_upload_credential(access)
        url, fresh_until = _list_all_data(access, _issued_ago(access))
    while True:
        if time.monotonic() >= fresh_until:
            url, fresh_until = _list_all_data(signer.validator_access())
            callers = False
        try:
            page = list_page(
                url + where, session=how.session, timeout=how.timeout, backoff=how.backoff
            )
        except StorageError as exc:
            if not (callers and exc.code == "list_url_expired"):
                raise
            fresh_until = -math.inf
            continue
        for info in page.objects:
            if info.key.startswith(folder):
                yield info
            elif info.key > folder:
                return
        if not page.truncated:
            return
        token = _next_token(page, seen, f"the listing of {miner_hotkey}")
        where = "&continuation-token=" + quote(token, safe="")


def _not_an_upload_credential(access: Mapping[str, Any]) -> None:
    """A StorageError if list_miner's `access` is an upload credential (a miner's grant, a
    validator access's `upload`), which would otherwise be refused as a validator access the
    signer answered without its expiry or URLs."""
    if isinstance(access, Mapping) and "urls" not in access and "fields" in access:
        raise StorageError(
            "list_miner's access= is a validator_access() answer, and this is an upload "
            "credential (a folder_access or validator_upload answer, or a validator access's "
            "'upload'): pass the whole validator_access() answer"
        )


def _list_all_data(grant: Mapping[str, Any], issued_ago: float = 0.0) -> tuple[str, float]:
    """A validator access's list URL of all of data/, and until when (time.monotonic) it
    can still be used: `expiry_seconds` from its issue, `issued_ago` seconds ago."""
    urls = granted(grant, "urls", dict, "validator access")
    every = granted(urls, "global", dict, "validator access")
    url = granted(every, "list_all_data", str, "validator access")
    return url, time.monotonic() + _lifetime([grant], "expiry_seconds") - issued_ago


def _issued_ago(access: Mapping[str, Any]) -> float:
    """Seconds since the signer issued `access`, a validator access kept by the caller: its
    `expiry_seconds` count from then, and its `expiry` (ISO-8601 UTC) says when that ends.
    The signer's clock and this machine's are taken to agree within the margin _lifetime
    keeps (a tenth of the lifetime, at most a minute)."""
    expiry = granted(access, "expiry", str, "validator access")
    lifetime = granted(access, "expiry_seconds", int, "validator access")
    try:
        ends = datetime.fromisoformat(expiry)
    except ValueError:
        raise StorageError(
            "the signer's validator access has an expiry that is no ISO-8601 time, "
            f"{expiry!r}: not used"
        ) from None
    left = (ends if ends.tzinfo else ends.replace(tzinfo=UTC)).timestamp() - time.time()
    return lifetime - left


def _next_token(page: Page, seen: set[str], listing: str) -> str:
    """A truncated page's continuation token, refused if it has none or gave it before (the
    `listing` would never end); `seen` records it."""
    if not page.next_token:
        raise StorageError("a truncated listing page has no NextContinuationToken")
    if page.next_token in seen:
        raise StorageError(
            f"{listing} gave a continuation token twice: it would never end, so it was stopped"
        )
    seen.add(page.next_token)
    return page.next_token


def _without_query(url: str) -> str:
    """The URL without its query or fragment, nor any user and password (one holding a #, ?
    or / too): presigned signatures and passwords stay out of messages. Cut as text, not
    parsed: a URL urllib cannot parse (`http://[::1/x`) is named all the same."""
    return re.split(r"[?#]", without_userinfo(url), maxsplit=1)[0]


FILES_PER_REQUEST = 1000
KEYS_BYTES_PER_REQUEST = 1024 * 1024
"""The signer takes 1,000 keys a request in a body of 1 MiB + 16 KiB on this endpoint (its
signature, hotkeys and timestamp fit in the rest)."""


def _batches(keys: list[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for key in keys:
        cost = len(json.dumps(key)) + 2
        if batch and (len(batch) == FILES_PER_REQUEST or size + cost > KEYS_BYTES_PER_REQUEST):
            yield batch
            batch, size = [], 0
        batch.append(key)
        size += cost
    if batch:
        yield batch


def _checked_cap(max_bytes: object) -> int:
    """`max_bytes` as the reads take it, or a TypeError or ValueError naming it: one of 0 or
    less read every object as b"" (the body was past the cap before it began, and the
    reading took that for its end), and one that is no int failed inside the reading."""
    return count(
        max_bytes,
        "max_bytes is the most bytes read of one object, an int over 0 such as 64 * 1024 * 1024",
    )


def read_miner_files(
    signer: SignerClient,
    miner_hotkey: str | Addressed,
    keys: list[str],
    *,
    session: requests.Session | None = None,
    max_bytes: int = MAX_OBJECT_BYTES,
    timeout: float = TIMEOUT,
    backoff: Backoff | None = None,
) -> Iterator[tuple[str, bytes]]:
    """Each key's bytes, read with presigned GETs the signer issues a batch at a time; an
    object over `max_bytes` is a StorageError (skip large keys by their listed size).
    `timeout` and `backoff` are each GET's, as in read_object; the signer's requests are the
    SignerClient's. A batch's URLs that run out before all are read (the caller scoring
    each file as it comes) are asked for again for the keys left."""
    signer = _signer_client(signer, "read_miner_files")
    how = Reading(session, timeout, backoff)
    limit = _checked_cap(max_bytes)
    for batch in _batches(keys_of(keys, "read_miner_files")):
        for key, url in _fresh_urls(signer, miner_hotkey, batch):
            yield key, _get(url, how, "read", "reading", limit, key)


def _fresh_urls(
    signer: SignerClient, miner_hotkey: str | Addressed, batch: list[str]
) -> Iterator[tuple[str, str]]:
    """Each key of `batch` with a presigned GET that has not expired: the signer's last for
    SIGNER_LIST_URL_TTL (an hour by default), and a batch of 1,000 large files, or of files
    scored as they come, takes longer. Once they are about to run out, the keys still to
    read are asked for again; at least one is read per request, so a short lifetime slows
    the reading down but never stops it."""
    pending = batch
    while pending:
        answer = _file_urls(signer, miner_hotkey, pending)
        refused = answer.get("invalid_files") or []
        if refused:
            raise _outside(refused)
        urls = granted(answer, "file_urls", dict, "file URLs")
        fresh_until = time.monotonic() + _lifetime(urls.values())
        read = 0
        for key in pending:
            if read and time.monotonic() >= fresh_until:
                break
            yield key, granted(urls.get(key) or {}, "presigned_url", str, f"file URL of {key}")
            read += 1
        pending = pending[read:]


def _lifetime(grants: Iterable[Any], field: str = "expires_in_seconds") -> float:
    """Seconds the signer's grants (file URLs; a validator access's list URLs, by
    `expiry_seconds`) can still be used, a tenth (at most a minute) short of the shortest
    `field` for the time it took to answer; without one, forever."""
    lifetimes = [
        g[field] for g in grants if isinstance(g, Mapping) and isinstance(g.get(field), int | float)
    ]
    if not lifetimes:
        return math.inf
    shortest = min(lifetimes)
    return shortest - min(60.0, shortest / 10)


def _file_urls(
    signer: SignerClient, miner_hotkey: str | Addressed, batch: list[str]
) -> dict[str, Any]:
    """The signer's presigned GETs for `batch`. A batch with none of the miner's keys is
    refused whole (no_valid_files): the same mistake as one outside key among others, so
    the same StorageError naming them."""
    try:
        return signer.file_urls(miner_hotkey, batch)
    except SignerError as exc:
        if exc.code == "no_valid_files":
            raise _outside(batch) from exc
        raise


def _outside(keys: list[Any]) -> StorageError:
    return StorageError(f"not in the miner's folder: {', '.join(map(str, keys))}")


def read_object(
    url: str,
    *,
    session: requests.Session | None = None,
    max_bytes: int = MAX_OBJECT_BYTES,
    timeout: float = TIMEOUT,
    backoff: Backoff | None = None,
) -> bytes:
    """GET one object with a presigned URL; one over `max_bytes` is a StorageError, read no
    further (a miner's upload may be as large as the signer allows, gigabytes). `timeout`
    is seconds a try, the tries as `backoff` says."""
    how = Reading(session, timeout, backoff)
    return _get(url, how, "read", "reading", _checked_cap(max_bytes))
