"""Where published objects live: a local folder or an S3-compatible bucket, behind one interface.

The planner writes through a `Store` so that the same code publishes to `published/` on a
laptop and to DigitalOcean Spaces in production; only the store changes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from clientkit.files import RANDOM, remove_leftovers, replace_file, temporary_names
from clientkit.layout import Source, SourceError
from clientkit.verify import HttpSource
from envsettings import is_http_url
from planner.errors import PlannerError

# botocore 1.36+ computes a CRC32 for every upload by default and, over HTTPS, streams it as an
# aws-chunked body with a trailer (x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER).
# DigitalOcean Spaces refuses such uploads; checksums only where the operation requires one
# keep every request a plain body that any S3-compatible endpoint accepts.
CHECKSUMS_WHEN_REQUIRED = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


def s3_config(**options: Any) -> Config:
    """The botocore configuration of every S3 client the project builds (planner, doctor,
    signer): SigV4, checksums only when required, plus `options`."""
    return Config(signature_version="s3v4", **CHECKSUMS_WHEN_REQUIRED, **options)


class StoreError(PlannerError, SourceError):
    """A store that cannot be read or written; the message names the store and the key."""


class Store(Source, Protocol):
    """A flat key space of small objects."""

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        """Create or replace the object atomically (a reader sees old or new bytes, never half)."""

    def keys(self, prefix: str = "") -> list[str]:
        """Every key that starts with `prefix`, sorted."""

    def check_writable(self, keys: Iterable[str]) -> None:
        """Raise StoreError now if any of `keys` could not be written, before a run writes
        anything: a run that would fail midway then fails having written nothing."""


def open_source(location: str, setting: str | None = None) -> Source:
    """Published files to check: an http(s) base URL, or a folder path, which must exist
    (made absolute: it names the folder in the chain head file, whatever the working
    directory). `setting` named the location, for messages (LocalStore)."""
    if is_http_url(location):
        return HttpSource(location)
    # Checked as given, so that a relative path is named as `planner status` names it.
    LocalStore(Path(location), setting=setting).check_exists()
    return LocalStore(Path(location).resolve(), setting=setting)


def named(store: Store) -> str:
    """A store as messages name it: a folder by its absolute path and the setting that named
    it (a cron job's relative `published` says nothing of which folder, nor where to fix
    it), a bucket as it describes itself."""
    return store.named() if isinstance(store, LocalStore) else store.describe()


_TEMPORARY = re.compile(rf"{temporary_names()}|\.write-probe\.{RANDOM}")
"""The names of put()'s temporary files and check_writable()'s probes."""


class LocalStore:
    """A folder laid out exactly like the bucket.

    Every write goes through a temporary dot-file renamed over the key, so a reader never
    sees half a file. A writer killed mid-write (kill -9, the OOM killer, a power cut) leaves
    that dot-file, which keys() hides: a store's first put into a folder removes those left
    an hour ago or more.

    `mode` is every written file's permissions: 0o644 for published files (a web server
    reads them), 0o600 for the planner's private state, as S3Store's `acl` is for a bucket.
    `setting` is what named the folder (`PLANNER_PUBLISHED`, or `--published` when the
    option gave it), for messages: a path alone does not say where to fix it.
    """

    def __init__(
        self, root: str | os.PathLike[str], mode: int = 0o644, setting: str | None = None
    ) -> None:
        self.root = Path(root)
        self.mode = mode
        self.setting = setting
        self._swept: set[Path] = set()

    def named(self) -> str:
        """The folder, with the setting that named it, if known."""
        return self._named(self.root)

    def _named(self, path: Path) -> str:
        """`path` made absolute (a relative one, from a cron job, says nothing of where it
        was written), with the setting that named the folder, if known."""
        shown = path.absolute()
        if self.setting is None:
            return str(shown)
        if path == self.root:
            return f"{shown} ({self.setting})"
        return f"{shown} ({self.setting} is {self.root.absolute()})"

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"refusing key outside {self.root}: {key!r}")
        return self.root / key

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self._path(key)}: {exc.strerror}") from exc

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sweep(path.parent)
            replace_file(path, data, self.mode)
        except OSError as exc:
            raise StoreError(f"cannot write {self._named(path)}: {exc.strerror}") from exc

    def _sweep(self, folder: Path) -> None:
        """Remove the temporary files killed writers left in `folder`, once per folder for
        this store (a run's puts would otherwise list a folder of thousands of epochs each)."""
        if folder not in self._swept:
            self._swept.add(folder)
            remove_leftovers(folder, _TEMPORARY)

    def check_writable(self, keys: Iterable[str]) -> None:
        """Create and remove a probe file in each folder the keys need (or the nearest one
        that exists, where put() would create them)."""
        folders = {self._path(key).parent for key in keys}
        for folder in sorted({_nearest_existing(f) for f in folders}):
            try:
                fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
                os.close(fd)
                os.unlink(probe)
            except OSError as exc:
                raise StoreError(
                    f"cannot write in {self._named(folder)}: {exc.strerror}; nothing was written"
                ) from exc

    def check_exists(self) -> None:
        """Raise StoreError if the folder does not exist, for a command that only reads it
        (`status`, `verify`): it would report nothing published in a mistyped folder. A
        run's first put creates it."""
        if self.root.is_dir():
            return
        what = "is not a folder" if self.root.exists() else "does not exist"
        where = "" if self.root.is_absolute() else f" (a relative path, read in {Path.cwd()})"
        raise StoreError(
            f"{self._named(self.root)} {what}{where}: nothing was ever published there (check "
            "the path; `planner tick` creates the folder when it first publishes)"
        )

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        found = (
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        return sorted(k for k in found if k.startswith(prefix))

    def describe(self) -> str:
        return str(self.root.absolute())


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


CANNED_ACLS = ("private", "public-read")
_MISSING = ("NoSuchKey", "404", "NotFound")
_HINTS = {
    "NoSuchBucket": "the bucket does not exist (check SPACES_BUCKET)",
    "InvalidAccessKeyId": (
        "the access key is not known to this endpoint (check SPACES_KEY, and SPACES_ENDPOINT_URL)"
    ),
    "SignatureDoesNotMatch": (
        "the secret key does not match the access key (check SPACES_SECRET, and that "
        "SPACES_KEY is its key)"
    ),
    "AccessDenied": "these credentials may not do this (check what SPACES_KEY may do)",
    "AccessControlListNotSupported": (
        "the bucket has ACLs disabled: set SPACES_PUBLIC_ACL=none, and grant anonymous reads "
        "of the published files with a bucket policy (docs/aws-vs-digitalocean.md)"
    ),
}


def error_detail(exc: Exception) -> str:
    """An S3 failure as `Code (HTTP status): hint`; botocore never puts credentials in these."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        hint = _HINTS.get(code)
        return f"{code} (HTTP {status})" + (f": {hint}" if hint else "")
    return f"{type(exc).__name__}: {exc}"


class S3Store:
    """A bucket on an S3-compatible endpoint (DigitalOcean Spaces, AWS S3, SeaweedFS, radosgw).

    `acl` is sent with every write: "public-read" for published objects (how Spaces makes an
    object public), "private" for the planner's own state, or None to send no ACL and leave
    access to the bucket policy (buckets with ACLs disabled, and SeaweedFS, which ignores
    object ACLs). `prefix` places every key under a folder of the bucket. Transient errors
    are retried by botocore with exponential backoff; the last failure becomes a StoreError
    naming the bucket, the key and the error code, never a credential. `client` is the boto3
    client, for callers that need more than the Store interface (presigned URLs, deletes).
    """

    def __init__(
        self,
        *,
        bucket: str,
        access_key: str,
        secret_key: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        acl: str | None = None,
        path_style: bool = False,
        max_attempts: int = 5,
        timeout: float = 30.0,
    ) -> None:
        if acl is not None and acl not in CANNED_ACLS:
            raise ValueError(f"acl must be one of {', '.join(CANNED_ACLS)} or None, not {acl!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.acl = acl
        self.endpoint_url = endpoint_url
        config = s3_config(
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=timeout,
            read_timeout=timeout,
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"refusing key outside {self.describe()}: {key!r}")
        return self.prefix + key

    def _error(self, action: str, key: str, exc: Exception) -> StoreError:
        where = f"s3://{self.bucket}/{key} @ {self._endpoint()}"
        return StoreError(f"cannot {action} {where}: {error_detail(exc)}")

    def _endpoint(self) -> str:
        return self.endpoint_url or "AWS S3"

    def get(self, key: str) -> bytes | None:
        full = self._key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full)
            return response["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self._error("read", full, exc) from exc
        except BotoCoreError as exc:
            raise self._error("read", full, exc) from exc

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        full = self._key(key)
        extra = {"ACL": self.acl} if self.acl else {}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
                ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode("ascii"),
                **extra,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("write", full, exc) from exc

    def check_writable(self, keys: Iterable[str]) -> None:
        """Nothing to probe without writing: a bucket grants writes to every key or to
        none, so a refused write fails a run at its first write (`planner doctor` checks
        the permissions before going live)."""

    def keys(self, prefix: str = "") -> list[str]:
        full = self.prefix + prefix
        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                found.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", full, exc) from exc
        return sorted(found)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} @ {self._endpoint()}"
