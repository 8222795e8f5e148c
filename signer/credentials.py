"""Presigned S3 credentials scoped to one folder: computed locally, no call to S3.

A presigned POST's policy is what S3 enforces: the key must start with the hotkey's
folder, the size must fall in a range, and the policy expires. A presigned list URL can
list one prefix only; a continuation token is part of what is signed, so every page of a
listing needs its own URL.

A presigned GET is the URL the signer makes by the thousand (`/get-file-presigned-urls`),
and most of what botocore's `generate_presigned_url` does per call (its events, the
endpoint ruleset, the serializer) finds where a bucket's objects are, which does not change
from key to key. So botocore is asked that once per client and bucket, by presigning one
probe key; each key's URL is then that base plus the key percent-encoded as botocore's
serializer does it, signed by botocore's own SigV4 query signer: the same URL, byte for
byte, in about a third of the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from weakref import WeakKeyDictionary

import boto3
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.utils import percent_encode

from clientkit.epochs import Epoch
from planner.store import s3_config
from signer.config import SIGV4_MAX_EXPIRES, Settings


def make_client(settings: Settings) -> Any:
    """An S3 client that signs with SigV4, path-style for non-AWS endpoints by default, with
    the planner's settings for Spaces (planner.store.s3_config).

    Presigning makes no call; listing for /s3/list does, and gives up well within
    gunicorn's 30 s worker timeout rather than hold a worker on a slow bucket.
    """
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key,
        config=s3_config(
            s3={"addressing_style": settings.s3_addressing_style},
            connect_timeout=5,
            read_timeout=10,
            retries={"mode": "standard", "max_attempts": 2},
        ),
    )


def miner_folder(hotkey: str, epoch_id: str) -> str:
    return f"data/hotkey={hotkey}/epoch={epoch_id}/"


def miner_root(hotkey: str) -> str:
    return f"data/hotkey={hotkey}/"


def validator_root(hotkey: str) -> str:
    return f"validators/{hotkey}/"


def validator_folder(hotkey: str, epoch_id: str) -> str:
    return f"validators/{hotkey}/epoch={epoch_id}/"


def upload_lifetime(now: float, epoch: Epoch, grace: int) -> int:
    """Seconds until the end of `epoch` plus grace, within what SigV4 allows; rounded up,
    as a lifetime is whole seconds and `now` falls between seconds, so that the credential
    holds until that instant (rounded down, it ended a second before it)."""
    remaining = math.ceil(epoch.end.timestamp() + grace - now)
    return max(1, min(remaining, SIGV4_MAX_EXPIRES))


def expiry_iso(now: float, seconds: int) -> str:
    """`now` plus `seconds`, to the second below: the end of the epoch plus grace, exactly,
    for an upload_lifetime."""
    return (datetime.fromtimestamp(now, UTC) + timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


# Every stored object is opaque bytes: a browser never renders it, whatever its name.
# Not application/octet-stream: SeaweedFS takes that for "no type" and stores the type of
# the key's extension instead (`x.html` became text/html). binary/octet-stream is what S3
# itself gives an object stored without a type, and every server keeps it as sent.
UPLOAD_CONTENT_TYPE = "binary/octet-stream"
# Form fields that S3 would apply to the stored object (or act on) if a client sent them,
# pinned empty: a client may leave them out, and any value is refused. AWS S3 refuses a
# field its policy does not list, but SeaweedFS (and servers derived from MinIO's code)
# check only the conditions a policy lists, so each one is listed. `acl` is pinned empty
# rather than to "private" because buckets with ACLs disabled (AWS's default) refuse any
# ACL but bucket-owner-full-control; without one, the object has the bucket's private ACL.
PINNED_EMPTY = (
    "acl",
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Expires",
    "success_action_redirect",
)


def presigned_post(
    client: Any, bucket: str, folder: str, max_bytes: int, expires_in: int
) -> dict[str, Any]:
    """A POST form for any key under `folder` and a size of 1..max_bytes bytes.

    The `${filename}` key makes botocore add the `starts-with $key folder` condition;
    the uploader replaces it (or the whole `key` field) with a name inside the folder.
    `Content-Type` is a form field pinned to UPLOAD_CONTENT_TYPE (it also overrides the
    file part's own type), the other fields of PINNED_EMPTY must stay empty, and S3 refuses
    `x-amz-meta-*` and other `x-amz-*` fields the policy does not list.
    """
    return presigned_post_key(client, bucket, folder + "${filename}", max_bytes, expires_in)


def presigned_post_key(
    client: Any, bucket: str, key: str, max_bytes: int, expires_in: int
) -> dict[str, Any]:
    """A POST form for `key` (exactly, unless it ends in `${filename}`), with the size range
    and the pinned fields of presigned_post."""
    return client.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": UPLOAD_CONTENT_TYPE},
        Conditions=[
            ["content-length-range", 1, max_bytes],
            ["eq", "$Content-Type", UPLOAD_CONTENT_TYPE],
            *(["eq", f"${name}", ""] for name in PINNED_EMPTY),
        ],
        ExpiresIn=expires_in,
    )


def presigned_list(
    client: Any,
    bucket: str,
    prefix: str,
    expires_in: int,
    *,
    delimiter: str | None = None,
    continuation_token: str | None = None,
) -> str:
    """A GET URL for one ListObjectsV2 page of `prefix` (from `continuation_token` if given)."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        params["Delimiter"] = delimiter
    if continuation_token:
        params["ContinuationToken"] = continuation_token
    return client.generate_presigned_url("list_objects_v2", Params=params, ExpiresIn=expires_in)


def presigned_get(client: Any, bucket: str, key: str, expires_in: int) -> str:
    """A GET URL for one object, so a validator can read a miner's upload.

    What `client.generate_presigned_url("get_object", ...)` returns, signed by botocore's
    S3SigV4QueryAuth on the object's URL (see ObjectUrls), or botocore's own answer for a
    bucket whose URLs carry more than a SigV4 query signature.
    """
    urls = object_urls(client, bucket)
    if urls is None:
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )
    # The Host header botocore would derive from the URL, set here so it is not parsed
    # again for every key (botocore signs a Host header it is given as it is).
    request = AWSRequest(method="GET", url=urls.url(key), headers={"host": urls.host})
    # boto3's own transfer code reads a client's credentials this way.
    credentials = client._get_credentials().get_frozen_credentials()
    S3SigV4QueryAuth(credentials, urls.service, urls.region, expires=expires_in).add_auth(request)
    return request.url


@dataclass(frozen=True)
class ObjectUrls:
    """Where botocore puts a bucket's objects for one client, and the scope it signs in."""

    base: str
    """An object's URL without its key: scheme, host (and port), path prefix ending in `/`
    (`/bucket/` path-style, `/` for virtual hosts)."""
    host: str
    """The Host header botocore signs for that URL (no default port)."""
    region: str
    service: str

    def url(self, key: str) -> str:
        """The key as botocore's serializer writes the greedy `{Key+}` of GetObject's
        `/{Bucket}/{Key+}`: UTF-8, percent-encoded but for letters, digits, `-._~` and `/`."""
        return self.base + percent_encode(key, safe="/~")


# The key of the URL botocore presigns once to show where a bucket's objects are.
PROBE_KEY = "k"
# The query of a URL that S3SigV4QueryAuth alone signed (with a session token for temporary
# credentials). Anything more (a parameter an event handler adds, another signature
# version), and botocore presigns each key itself.
SIGV4_QUERY = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    }
)
SESSION_TOKEN = "X-Amz-Security-Token"

_object_urls: WeakKeyDictionary[Any, dict[str, ObjectUrls | None]] = WeakKeyDictionary()


def object_urls(client: Any, bucket: str) -> ObjectUrls | None:
    """The bucket's ObjectUrls for this client, found once (None: botocore presigns each
    key). A client's endpoint, addressing style and region do not change once it is made."""
    known = _object_urls.setdefault(client, {})
    if bucket not in known:
        known[bucket] = _probe(client, bucket)
    return known[bucket]


def _probe(client: Any, bucket: str) -> ObjectUrls | None:
    """Where botocore's presigned GET of PROBE_KEY points, and the region and service of
    its credential scope (`key/date/region/service/aws4_request`)."""
    probe = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": PROBE_KEY}, ExpiresIn=1
    )
    address, _, query = probe.partition("?")
    params = parse_qs(query)
    if (
        not SIGV4_QUERY <= params.keys() <= SIGV4_QUERY | {SESSION_TOKEN}
        or params["X-Amz-SignedHeaders"] != ["host"]
        or not address.endswith("/" + PROBE_KEY)
    ):
        return None
    _, _, region, service, _ = params["X-Amz-Credential"][0].rsplit("/", 4)
    base = address.removesuffix(PROBE_KEY)
    auth = S3SigV4QueryAuth(None, service, region)
    host = auth.headers_to_sign(AWSRequest(method="GET", url=base))["host"]
    return ObjectUrls(base=base, host=host, region=region, service=service)
