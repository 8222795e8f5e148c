"""Listing URLs served by the signer, for clients that build URLs from a list URL.

A presigned S3 URL signs its whole query, so a client that appends `&start-after=<key>` to
read the next page, or reuses the list URL's query to fetch an object (the released subnet
46 validators do both), gets 403 from S3. Instead of S3 URLs, the validator endpoints give
such clients a URL of this signer carrying the prefixes it may list, an expiry and an HMAC
of both (keyed by a key derived from the signer's S3 secret, so every instance with the same
S3 key accepts the URLs of the others):

    GET /s3/list?prefix=...&expires=...&signature=...[&start-after=K][&continuation-token=T]
        one ListObjectsV2 page (S3's XML) of the union of the prefixes, listed by the signer
    GET /s3/list/<key>?prefix=...&expires=...&signature=...
        302 to a presigned GET of <key>, which must be under one of the prefixes, valid until
        the same expiry

Nothing is widened: the signed prefixes are those the validator endpoint grants, the expiry
is the one it grants, and what a client adds (where to start, how many keys, which object)
is confined to them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from flask import Response, redirect, request, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Response as BaseResponse

from signer import credentials
from signer.errors import SignerError, log
from signer.models import (
    LIMITS_UNAVAILABLE,
    RATE_LIMITED,
    error_doc,
    invalid_doc,
    redirect_doc,
    retry_after,
)
from signer.services import NO_BUCKET, Services, services

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000
KEY_LABEL = b"subnet46-signer list-url v1"
# Sorts after every key under a common prefix, to resume a delimited listing past it.
PAST_PREFIX = "\U0010ffff"
# Characters XML 1.0 cannot carry (control characters but tab and newline, lone surrogates,
# U+FFFE/U+FFFF), and \r, which parsers read back as \n. A miner's POST policy fixes only
# its prefix, so a miner can upload such keys; written raw, one made the whole page
# unreadable XML for every validator listing it. S3 itself writes them raw.
UNLISTABLE = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]")

HOST_REFUSED = (
    "the request's Host (or X-Forwarded-Host, from a trusted proxy) is no host name a URL "
    "can carry, and this endpoint's list URLs are built on it: a client sends the signer's "
    "host name; a reverse proxy passes the public one on (nginx: proxy_set_header Host "
    "$host), not an upstream name such as one with '_'"
)
"""The 400 of a request whose host werkzeug will not put in a URL (request.host is empty):
the list URLs had no host at all (http:///s3/list?...), and each validator failed on them."""

listing_api = APIBlueprint(
    "listing",
    __name__,
    abp_tags=[Tag(name="listing", description="List URLs served by the signer (validators)")],
)


class ListQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    prefix: list[str] = Field(min_length=1, max_length=4, description="signed prefixes")
    delimiter: str | None = Field(None, max_length=1, description="signed delimiter")
    expires: int = Field(ge=0, le=10**11, description="signed expiry (unix seconds)")
    signature: str = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256 of the above, hex")
    start_after: str | None = Field(None, alias="start-after", max_length=1024)
    continuation_token: str | None = Field(None, alias="continuation-token", max_length=2048)
    max_keys: int = Field(MAX_KEYS, alias="max-keys", ge=1, le=MAX_KEYS)


class ObjectPath(BaseModel):
    key: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\x00-\x1f\x7f/][^\x00-\x1f\x7f]*$",
        description="object key, without control characters (422; a line break routes "
        "nowhere, 404)",
    )


def _mac_key(svc: Services) -> bytes:
    secret = (svc.settings.s3_secret_access_key or "").encode("utf-8")
    return hmac.new(secret, KEY_LABEL, hashlib.sha256).digest()


def _mac(svc: Services, prefixes: Sequence[str], delimiter: str | None, expires: int) -> str:
    text = "\n".join(["v1", str(expires), delimiter or "", *prefixes])
    return hmac.new(_mac_key(svc), text.encode("utf-8"), hashlib.sha256).hexdigest()


def require_url_host() -> None:
    """A 400 unless the request's host is one a URL can carry (werkzeug's `request.host` is
    empty otherwise): checked before the request is authenticated, by the views whose
    answers hold list URLs, so that a request refused for its Host spends neither its
    X-Tao-Nonce nor its hotkey's quota, and can be sent again through a fixed proxy."""
    if not request.host:
        raise SignerError(400, "invalid_request", HOST_REFUSED)


def list_url(
    svc: Services,
    prefixes: Sequence[str],
    expires_in: int,
    *,
    delimiter: str | None = None,
    continuation_token: str | None = None,
) -> str:
    """An absolute URL of this signer listing `prefixes` until now + expires_in, on the
    request's host (which the view has checked with require_url_host)."""
    expires = int(svc.now()) + expires_in
    params: dict[str, Any] = {"prefix": list(prefixes), "expires": expires}
    if delimiter:
        params["delimiter"] = delimiter
    params["signature"] = _mac(svc, prefixes, delimiter, expires)
    if continuation_token:
        params["continuation-token"] = continuation_token
    return url_for("listing.list_objects", _external=True, **params)


def _check(svc: Services, query: ListQuery) -> None:
    expected = _mac(svc, query.prefix, query.delimiter, query.expires)
    if not hmac.compare_digest(expected, query.signature):
        raise SignerError(
            403,
            "invalid_list_signature",
            "the list URL's prefix, delimiter, expires or signature was changed; "
            "ask the signer for a new URL",
        )
    if query.expires < svc.now():
        raise SignerError(403, "list_url_expired", "this list URL has expired; ask for a new one")


def _start(query: ListQuery) -> str | None:
    if query.continuation_token is None:
        return query.start_after
    try:
        raw = base64.b64decode(query.continuation_token, altchars=b"-_", validate=True)
        after = raw.decode("utf-8")
        if not after:
            raise ValueError("empty")
        return after
    except (binascii.Error, ValueError):
        raise SignerError(
            400, "invalid_request", "continuation-token is not one this signer issued"
        ) from None


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def _page(svc: Services, query: ListQuery, after: str | None) -> tuple[list[tuple], bool]:
    """Entries (name, object or None for a common prefix) after `after`, and truncation."""
    s3, bucket = svc.bucket()
    entries: list[tuple[str, dict[str, Any] | None]] = []
    for prefix in sorted(set(query.prefix)):
        room = query.max_keys - len(entries)
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max(room, 1)}
        if query.delimiter:
            params["Delimiter"] = query.delimiter
        if after:
            params["StartAfter"] = after
        try:
            answer = s3.list_objects_v2(**params)
        except (BotoCoreError, ClientError):
            raise SignerError(
                502, "storage_unavailable", "the bucket could not be listed; retry shortly"
            ) from None
        found = [(o["Key"], o) for o in answer.get("Contents", [])]
        found += [(p["Prefix"], None) for p in answer.get("CommonPrefixes", [])]
        if room <= 0:
            if found:
                return entries, True
            continue
        entries.extend(sorted(found, key=lambda entry: entry[0]))
        if answer.get("IsTruncated"):
            return entries, True
    return entries, False


def _xml(svc: Services, query: ListQuery, entries: list[tuple], truncated: bool) -> bytes:
    root = ET.Element("ListBucketResult", xmlns=S3_NAMESPACE)

    def add(parent: ET.Element, tag: str, text: str) -> None:
        ET.SubElement(parent, tag).text = text

    add(root, "Name", svc.settings.s3_bucket or "")
    add(root, "Prefix", query.prefix[0] if len(query.prefix) == 1 else "")
    if query.delimiter:
        add(root, "Delimiter", query.delimiter)
    listed = [(name, obj) for name, obj in entries if not UNLISTABLE.search(name)]
    if len(listed) < len(entries):
        log.warning(
            "left %d key(s) XML cannot carry out of a listing page", len(entries) - len(listed)
        )
    add(root, "KeyCount", str(len(listed)))
    add(root, "MaxKeys", str(query.max_keys))
    add(root, "IsTruncated", "true" if truncated else "false")
    if query.start_after and not UNLISTABLE.search(query.start_after):
        add(root, "StartAfter", query.start_after)
    if query.continuation_token:
        add(root, "ContinuationToken", query.continuation_token)
    if truncated and entries:
        name, obj = entries[-1]  # listed or not, the page ends after it
        add(root, "NextContinuationToken", _token(name if obj else name + PAST_PREFIX))
    for name, obj in listed:
        if obj is None:
            add(ET.SubElement(root, "CommonPrefixes"), "Prefix", name)
            continue
        item = ET.SubElement(root, "Contents")
        add(item, "Key", name)
        modified: datetime = obj["LastModified"]
        add(item, "LastModified", modified.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        add(item, "ETag", obj.get("ETag", ""))
        add(item, "Size", str(obj.get("Size", 0)))
        add(item, "StorageClass", obj.get("StorageClass", "STANDARD"))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


URL_REFUSED = "Changed or expired URL (`invalid_list_signature`, `list_url_expired`)"
QUERY_INVALID = invalid_doc(
    "Missing or malformed query parameters",
    {"expires": "Field required", "signature": "Field required"},
)
LIST_ERRORS: dict[str | int, Any] = {
    400: error_doc(
        "Unreadable continuation-token",
        "invalid_request",
        "continuation-token is not one this signer issued",
    ),
    403: error_doc(URL_REFUSED, "list_url_expired", "this list URL has expired; ask for a new one"),
    422: QUERY_INVALID,
    429: RATE_LIMITED,
    502: error_doc(
        "The bucket could not be listed (`storage_unavailable`)",
        "storage_unavailable",
        "the bucket could not be listed; retry shortly",
    ),
    503: {
        **LIMITS_UNAVAILABLE,
        "description": "The rate-limit counters cannot be reached (`limits_unavailable`; see "
        "Retry-After), or this signer has no bucket configured (`bucket_not_configured`, no "
        "Retry-After)",
        "headers": retry_after(required=False),
    },
}
"""A listing reads continuation-token, asks S3, and counts against the per-address limit."""
OBJECT_ERRORS: dict[str | int, Any] = {
    403: error_doc(
        f"{URL_REFUSED}, or a key outside its prefixes (`outside_prefix`)",
        "outside_prefix",
        "the key is not under this URL's prefixes",
    ),
    404: error_doc(
        "A key with a line break matches no route (`not_found`)",
        "not_found",
        "no such endpoint; /docs lists them all",
    ),
    422: QUERY_INVALID,
    503: error_doc(
        "This signer has no bucket configured (`bucket_not_configured`, no Retry-After)",
        "bucket_not_configured",
        NO_BUCKET,
    ),
}
"""Reading an object presigns a GET: no continuation-token, no call to S3, and no count
against the per-address limit."""


@listing_api.get(
    "/s3/list",
    summary="One ListObjectsV2 page of the prefixes a validator was granted",
    description="""Returned by `/get-validator-access` (`urls.*`) and
`/get-miner-specific-access` (`miner_url`); not built by hand. Answers S3's
ListObjectsV2 XML for the union of the signed prefixes. A client may add S3's
`start-after`, `continuation-token` (from `NextContinuationToken`) and `max-keys`
(1..1000): none is signed, all stay within the prefixes.""",
    responses={
        200: {
            "description": "S3 ListObjectsV2 XML",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        },
        **LIST_ERRORS,
    },
)
def list_objects(query: ListQuery) -> Response:
    svc = services()
    _check(svc, query)
    entries, truncated = _page(svc, query, _start(query))
    return Response(_xml(svc, query, entries, truncated), mimetype="application/xml")


@listing_api.get(
    "/s3/list/<path:key>",
    summary="Read an object of a granted prefix (redirect to a presigned GET)",
    description="""The list URL with an object key appended to its path and its query kept,
as released validators build object URLs from it. 302 to a presigned GET of the key, valid
until the list URL's expiry, when the key is under one of its prefixes; 403 otherwise.""",
    responses={
        302: redirect_doc("Redirect to a presigned GET of the object"),
        **OBJECT_ERRORS,
    },
)
def read_object(path: ObjectPath, query: ListQuery) -> BaseResponse:
    svc = services()
    _check(svc, query)
    key = path.key
    if ".." in key.split("/") or not any(key.startswith(p) for p in query.prefix):
        raise SignerError(403, "outside_prefix", "the key is not under this URL's prefixes")
    s3, bucket = svc.bucket()
    remaining = max(1, query.expires - int(svc.now()))
    return redirect(credentials.presigned_get(s3, bucket, key, remaining), code=302)
