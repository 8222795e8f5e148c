"""The HTTP endpoints: hotkey-verified S3 credentials, the current assignment, health.

Each credential endpoint runs the same steps: timestamp window, signature over the
endpoint's own message, metagraph role, then presigning for the current epoch.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from flask import Response, jsonify, redirect
from flask_openapi3 import APIBlueprint, Tag
from werkzeug.wrappers import Response as BaseResponse

from clientkit.epochs import EpochError, epoch_at, epoch_from_id
from signer import auth, credentials, listing, published
from signer.errors import TOO_LARGE, SignerError
from signer.models import (
    RATE_LIMITED,
    Assignment,
    FileUploadRequest,
    FileUploadResponse,
    FolderAccessRequest,
    FolderAccessResponse,
    Health,
    LegacyAssignment,
    MinerFilesRequest,
    MinerFilesResponse,
    MinerListRequest,
    MinerListResponse,
    Readiness,
    ValidatorAccessRequest,
    ValidatorAccessResponse,
    ValidatorUploadRequest,
    ValidatorUploadResponse,
    error_doc,
    invalid_doc,
    redirect_doc,
    retry_after,
)
from signer.reuse import Issued
from signer.services import Services, services
from signer.taoauth import Admission, authenticate

SECURITY: list[dict[str, list[str]]] = [{"hotkeySignature": []}, {"taoHeaders": []}]
COMMON_ERRORS: dict[str | int, Any] = {
    400: error_doc(
        "Body is not JSON",
        "invalid_request",
        "the request body is not valid JSON (Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1))",
    ),
    401: error_doc(
        "Bad signature (`invalid_signature`), timestamp outside the window "
        "(`stale_timestamp`, `future_timestamp`), incomplete or malformed X-Tao-* headers "
        "(`invalid_tao_headers`), or an X-Tao-Nonce used before (`replayed_nonce`)",
        "invalid_signature",
        "signature does not match the hotkey and the signed message (see this endpoint's "
        "message format in /docs)",
    ),
    408: error_doc(
        "The body stopped arriving before its end (the connection is then closed)",
        "request_timeout",
        "the request body did not arrive in time: part of it came, then nothing",
    ),
    413: error_doc("Body too large", "payload_too_large", TOO_LARGE),
    422: invalid_doc("Missing or malformed fields", {"hotkey": "Value error, not an SS58 address"}),
    429: RATE_LIMITED,
    503: error_doc(
        "No usable metagraph snapshot (`metagraph_unavailable`, `metagraph_stale`), no bucket "
        "configured (`bucket_not_configured`, no Retry-After), or the rate-limit counters "
        "unreachable (`limits_unavailable`); see Retry-After",
        "metagraph_unavailable",
        "no metagraph snapshot yet; retry shortly (the operator runs sync-metagraph)",
        retry_after(required=False),
    ),
}
LIST_URL_400 = error_doc(
    "Body is not JSON, or the request's Host (X-Forwarded-Host from a trusted proxy) is no "
    "host name a URL can carry, and the list URLs are built on it",
    "invalid_request",
    listing.HOST_REFUSED,
)
ASSIGNMENT_UNAVAILABLE = error_doc(
    "A published assignment file cannot be read or used (`assignment_unavailable`), or the "
    "rate-limit counters unreachable (`limits_unavailable`); see Retry-After",
    "assignment_unavailable",
    "the published epochs/2026-11-25T12-00-00.json is not valid JSON: nested too deeply",
    retry_after(required=True),
)
VALIDATOR_403 = error_doc(
    "Not registered (`not_registered`), no validator permit (`not_a_validator`), or stake "
    "below the minimum (`insufficient_stake`)",
    "insufficient_stake",
    "validator alpha stake 5000 is not above the minimum of 20000 alpha",
)

SIGNING_HOWTO = (
    "Sign the UTF-8 message with the hotkey (sr25519) and send the signature as hex "
    "(`0x` optional); `timestamp` is the current unix time in seconds (accepted: at most "
    "300 s old, at most 60 s ahead, by default)."
)

miner_api = APIBlueprint(
    "miner", __name__, abp_tags=[Tag(name="miners", description="Upload credentials")]
)
validator_api = APIBlueprint(
    "validator", __name__, abp_tags=[Tag(name="validators", description="Read and upload access")]
)
public_api = APIBlueprint(
    "public", __name__, abp_tags=[Tag(name="public", description="No signature needed")]
)


def miner(svc: Services, coldkey: str | None) -> Admission:
    """A registered hotkey, owned by `coldkey` when the request names one, counted against
    the miners' quota."""
    return Admission(
        lambda hotkey: auth.require_miner(svc.store.require(), hotkey, coldkey), svc.miner_quota
    )


def validator(svc: Services) -> Admission:
    """A validator under the configured stake rule, counted against the validators' quota."""
    settings = svc.settings
    return Admission(
        lambda hotkey: auth.require_validator(
            svc.store.require(), hotkey, settings.min_validator_stake, settings.validator_stake_rule
        ),
        svc.validator_quota,
    )


def _post_credential(svc: Services, folder: str) -> dict[str, Any]:
    s3, bucket = svc.bucket()
    now = svc.now()
    lifetime = credentials.upload_lifetime(now, svc.current_epoch(), svc.settings.upload_grace)
    post = credentials.presigned_post(s3, bucket, folder, svc.settings.max_upload_bytes, lifetime)
    return {
        "url": post["url"],
        "fields": post["fields"],
        "folder": folder,
        "expiry": credentials.expiry_iso(now, lifetime),
        "expiry_seconds": lifetime,
        "max_upload_bytes": svc.settings.max_upload_bytes,
    }


@miner_api.post(
    "/get-folder-access",
    summary="Miner: presigned POST for this epoch's upload folder",
    description=f"""Signed message: `{auth.MINER_ACCESS}`

{SIGNING_HOWTO}

Who: a hotkey registered on the subnet whose coldkey in the metagraph is `coldkey`.

Grants: a presigned POST (S3 enforces its policy) for keys under
`data/hotkey={{hotkey}}/epoch={{currentEpochId}}/`, sizes 1..SIGNER_MAX_UPLOAD_BYTES,
expiring at the end of the current epoch plus the grace period; and `list_url`, a presigned
ListObjectsV2 of `data/hotkey={{hotkey}}/`, or of `data/hotkey={{hotkey}}/epoch={{epoch_id}}/`
when `epoch_id` is given (an epoch id, `YYYY-MM-DDTHH-00-00`, that starts an epoch of this
signer's EPOCH_HOURS grid, else a 422: that epoch's files only, one request for a miner
counting this epoch's uploads): one page, from `continuation_token` when
given (the previous page's `NextContinuationToken`: the token is part of the presigned URL,
so appending it to an old URL would break its signature). Neither is part of the signed
message.

```python
message = f"s3:data:access:{{coldkey}}:{{hotkey}}:{{timestamp}}"
signature = keypair.sign(message.encode()).hex()
```""",
    security=SECURITY,
    responses={
        200: FolderAccessResponse,
        **COMMON_ERRORS,
        403: error_doc(
            "Not registered (`not_registered`), or the coldkey does not own the hotkey "
            "(`coldkey_mismatch`)",
            "coldkey_mismatch",
            "coldkey is not the coldkey that owns this hotkey in the metagraph",
        ),
        422: invalid_doc(
            "Missing or malformed fields, or an `epoch_id` that starts no epoch of this "
            "signer's EPOCH_HOURS grid (naming the nearest epoch starts)",
            {"hotkey": "Value error, not an SS58 address"},
        ),
    },
)
def get_folder_access(body: FolderAccessRequest) -> Response:
    svc = services()
    if body.epoch_id is not None:
        _require_on_grid(svc, body.epoch_id)
    hotkey = authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.MINER_ACCESS.format(
            coldkey=body.coldkey, hotkey=body.hotkey, timestamp=body.timestamp
        ),
        {"coldkey": body.coldkey},
        admission=miner(svc, body.coldkey),
    )
    epoch = svc.current_epoch()
    ttl = svc.settings.list_url_ttl
    if body.continuation_token is not None or body.epoch_id is not None:
        listed = (
            credentials.miner_root(hotkey)
            if body.epoch_id is None
            else credentials.miner_folder(hotkey, body.epoch_id)
        )
        page = _issue_folder_access(svc, hotkey, epoch.id, ttl, listed, body.continuation_token)
        return Response(page.body(svc.now()), content_type="application/json")
    issued = svc.reuse.get(epoch.id, hotkey, svc.now(), ttl)
    if issued is None:
        issued = _issue_folder_access(svc, hotkey, epoch.id, ttl, credentials.miner_root(hotkey))
        svc.reuse.put(epoch.id, hotkey, issued)
    return Response(issued.body(svc.now()), content_type="application/json")


def _require_on_grid(svc: Services, epoch_id: str) -> None:
    """Refuse an epoch id that is written as one (the request model checks that) but starts
    no epoch of this signer's EPOCH_HOURS grid: no upload credential ever names its folder,
    so its listing would be empty, as if the miner had uploaded nothing. Refused as the
    field it is, like a malformed one, before the signature counts, naming the epoch
    starts around it."""
    hours = svc.settings.epoch_hours
    try:
        epoch_from_id(epoch_id, hours)
    except EpochError:
        around = epoch_at(epoch_from_id(epoch_id, hours=1).start, hours)
        try:
            nearest = f"epochs start at {around.id} and {around.next().id}"
        except OverflowError:  # 9999-12-31's last epoch: no later start is a datetime
            nearest = f"epoch starts at {around.id}"
        message = (
            f"{epoch_id} starts no epoch of this signer's: {svc.grid()}; the nearest {nearest}"
        )
        raise SignerError(
            422,
            "invalid_request",
            f"epoch_id: {message}",
            fields=[{"field": "epoch_id", "message": message}],
        ) from None


@miner_api.post(
    "/get-file-upload-url",
    summary="Miner: presigned POST for one file of a job in this epoch's folder",
    description=f"""Signed with X-Tao-* headers, as the data-universe miner does, or in the
body over `{auth.MINER_FILE}`.

Who: a hotkey registered on the subnet.

Grants: a presigned POST for exactly
`data/hotkey={{hotkey}}/epoch={{currentEpochId}}/job_id={{job_id}}/{{filename}}`, sizes
1..SIGNER_MAX_UPLOAD_BYTES, expiring at the end of the current epoch plus the grace period.
`method` is always `POST` (the client then posts `fields` and the file): a presigned PUT
cannot bound the size.""",
    security=SECURITY,
    responses={
        200: FileUploadResponse,
        **COMMON_ERRORS,
        403: error_doc(
            "Not registered (`not_registered`)",
            "not_registered",
            "hotkey 5FQzhS8MRMGNZfCxVJaWu4n4Q6jt53zv2hxYguM4Y5fVkcHZ, which signed this "
            "request, is not registered on netuid 46 (metagraph block 6543210)",
        ),
    },
)
def get_file_upload_url(body: FileUploadRequest) -> Response:
    svc = services()
    hotkey = authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.MINER_FILE.format(
            hotkey=body.hotkey, job_id=body.job_id, filename=body.filename, timestamp=body.timestamp
        ),
        admission=miner(svc, None),
    )
    epoch = svc.current_epoch()
    s3, bucket = svc.bucket()
    key = f"{credentials.miner_folder(hotkey, epoch.id)}job_id={body.job_id}/{body.filename}"
    lifetime = credentials.upload_lifetime(svc.now(), epoch, svc.settings.upload_grace)
    limit = svc.settings.max_upload_bytes
    post = credentials.presigned_post_key(s3, bucket, key, limit, lifetime)
    return jsonify(
        FileUploadResponse(
            s3_key=key,
            url=post["url"],
            fields=post["fields"],
            expires_in_seconds=lifetime,
            epoch_id=epoch.id,
            max_upload_bytes=limit,
        ).model_dump(mode="json")
    )


def _issue_folder_access(
    svc: Services,
    hotkey: str,
    epoch_id: str,
    ttl: int,
    listed: str,
    continuation_token: str | None = None,
) -> Issued:
    """Presign the miner's upload POST and a list URL of `listed` (its whole folder, or one
    epoch's), of the page from `continuation_token` if given (see signer/reuse.py for why
    the whole folder's first page is presigned once)."""
    now = svc.now()
    post = _post_credential(svc, credentials.miner_folder(hotkey, epoch_id))
    s3, bucket = svc.bucket()
    issued = Issued(
        post=post,
        list_url=credentials.presigned_list(
            s3, bucket, listed, ttl, continuation_token=continuation_token
        ),
        list_expiry=credentials.expiry_iso(now, ttl),
        issued_at=now,
        list_expires_at=now + ttl,
    )
    answer = FolderAccessResponse(**issued.answer(now), epoch_id=epoch_id).model_dump(mode="json")
    del answer["expiry_seconds"]
    head = json.dumps(answer)[:-1] + ', "expiry_seconds": '
    return replace(issued, body_head=head.encode())


@validator_api.post(
    "/get-validator-access",
    summary="Validator: list access to miners' data and this epoch's upload folder",
    description=f"""Signed message: `{auth.VALIDATOR_ACCESS}`

{SIGNING_HOWTO}

Who: a registered hotkey with a validator permit and an alpha stake strictly above
SIGNER_MIN_VALIDATOR_STAKE (20,000 by default; SIGNER_VALIDATOR_STAKE_RULE chooses another
rule).

Grants: two `/s3/list` URLs of this signer listing `data/hotkey=` (all of it, and one
prefix per miner), paged by appending `&start-after=` or `&continuation-token=`, and a
presigned POST for `validators/{{hotkey}}/epoch={{currentEpochId}}/`.""",
    security=SECURITY,
    responses={
        200: ValidatorAccessResponse,
        **COMMON_ERRORS,
        400: LIST_URL_400,
        403: VALIDATOR_403,
    },
)
def get_validator_access(body: ValidatorAccessRequest) -> Response:
    svc = services()
    listing.require_url_host()
    hotkey = authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.VALIDATOR_ACCESS.format(timestamp=body.timestamp),
        admission=validator(svc),
    )
    epoch = svc.current_epoch()
    upload = _post_credential(svc, credentials.validator_folder(hotkey, epoch.id))
    _, bucket = svc.bucket()
    ttl = svc.settings.list_url_ttl
    prefix = "data/hotkey="
    response = ValidatorAccessResponse(
        bucket=bucket,
        region=svc.settings.s3_region,
        validator_hotkey=hotkey,
        epoch_id=epoch.id,
        expiry=credentials.expiry_iso(svc.now(), ttl),
        expiry_seconds=ttl,
        urls={
            "global": {"list_all_data": listing.list_url(svc, [prefix], ttl)},
            "miners": {"list_all_miners": listing.list_url(svc, [prefix], ttl, delimiter="/")},
        },
        upload=upload,
    )
    return jsonify(response.model_dump(mode="json", by_alias=True))


@validator_api.post(
    "/api/v1/s3-access/validator-upload",
    summary="Validator: presigned POST for a named epoch's results folder",
    description=f"""Signed message: `{auth.VALIDATOR_UPLOAD}`

{SIGNING_HOWTO}

Who: a validator (permit and minimum stake).

Grants: a presigned POST for `validators/{{hotkey}}/epoch={{epochId}}/`; `epochId` must
be the current epoch or one of the SIGNER_RECENT_EPOCHS (2 by default) before it. The
credential expires at the end of the current epoch plus the grace period. An `epochId` that
starts no epoch of this signer's EPOCH_HOURS grid is refused saying so, with the setting's
value.""",
    security=SECURITY,
    responses={
        200: ValidatorUploadResponse,
        **COMMON_ERRORS,
        403: error_doc(
            "Not a validator (`not_registered`, `not_a_validator`, `insufficient_stake`), or "
            "epochId outside the accepted range or off this signer's EPOCH_HOURS grid "
            "(`epoch_not_allowed`)",
            "epoch_not_allowed",
            "epoch 2026-11-24T00-00-00 is not the current epoch, 2026-11-25T16-00-00, or one "
            "of the 2 before it",
        ),
    },
)
def validator_upload(body: ValidatorUploadRequest) -> Response:
    svc = services()
    hotkey = authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.VALIDATOR_UPLOAD.format(timestamp=body.timestamp),
        admission=validator(svc),
    )
    refusal = svc.not_recent(body.epoch_id)
    if refusal is not None:
        raise SignerError(403, "epoch_not_allowed", refusal)
    post = _post_credential(svc, credentials.validator_folder(hotkey, body.epoch_id))
    return jsonify(ValidatorUploadResponse(**post, epoch_id=body.epoch_id).model_dump(mode="json"))


@validator_api.post(
    "/get-miner-list",
    summary="Validator: one presigned URL for one page of a miner's files",
    description=f"""Signed message: `{auth.MINER_LIST}`

{SIGNING_HOWTO}

Who: a validator (permit and minimum stake).

Grants: a presigned ListObjectsV2 URL of `data/hotkey={{miner_hotkey}}/`. To read the
next page, call again with the page's `NextContinuationToken` as `continuation_token`:
the token is part of the presigned URL, so appending it to an old URL would break its
signature.""",
    security=SECURITY,
    responses={200: MinerListResponse, **COMMON_ERRORS, 403: VALIDATOR_403},
)
def get_miner_list(body: MinerListRequest) -> Response:
    svc = services()
    authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.MINER_LIST.format(miner_hotkey=body.miner_hotkey, timestamp=body.timestamp),
        admission=validator(svc),
    )
    s3, bucket = svc.bucket()
    ttl = svc.settings.list_url_ttl
    prefix = credentials.miner_root(body.miner_hotkey)
    url = credentials.presigned_list(
        s3, bucket, prefix, ttl, continuation_token=body.continuation_token
    )
    return _miner_list_answer(svc, body, prefix, url, ttl)


def _miner_list_answer(
    svc: Services, body: MinerListRequest, prefix: str, url: str, ttl: int
) -> Response:
    """The answer of both miner-list endpoints: the URL under the old and the new key."""
    return jsonify(
        MinerListResponse(
            list_url=url,
            miner_url=url,
            miner_hotkey=body.miner_hotkey,
            prefix=prefix,
            continuation_token=body.continuation_token,
            expiry=credentials.expiry_iso(svc.now(), ttl),
            expiry_seconds=ttl,
        ).model_dump(mode="json")
    )


@validator_api.post(
    "/get-miner-specific-access",
    summary="Validator: a list URL of a miner's (or validator's) files, served by the signer",
    description=f"""Signed message: `{auth.MINER_LIST}`

{SIGNING_HOWTO}

Who: a validator (permit and minimum stake).

The old server's endpoint, as released validators use it: `miner_url` (also `list_url`)
lists `data/hotkey={{miner_hotkey}}/` and `validators/{{miner_hotkey}}/` (a validator's
results, for consensus) through `/s3/list`, so a client may append `&start-after=` to it or
fetch an object at `<miner_url path>/<key>?<miner_url query>`; everything stays within those
two prefixes and expires with the URL.""",
    security=SECURITY,
    responses={
        200: MinerListResponse,
        **COMMON_ERRORS,
        400: LIST_URL_400,
        403: VALIDATOR_403,
    },
)
def get_miner_specific_access(body: MinerListRequest) -> Response:
    svc = services()
    listing.require_url_host()
    authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.MINER_LIST.format(miner_hotkey=body.miner_hotkey, timestamp=body.timestamp),
        admission=validator(svc),
    )
    svc.bucket()
    ttl = svc.settings.list_url_ttl
    prefix = credentials.miner_root(body.miner_hotkey)
    url = listing.list_url(
        svc,
        [prefix, credentials.validator_root(body.miner_hotkey)],
        ttl,
        continuation_token=body.continuation_token,
    )
    return _miner_list_answer(svc, body, prefix, url, ttl)


@validator_api.post(
    "/get-file-presigned-urls",
    summary="Validator: presigned GET URLs to read a miner's files",
    description=f"""Signed message: `{auth.MINER_FILES}`

{SIGNING_HOWTO}

Who: a validator (permit and minimum stake).

Grants: one presigned GET URL per key under `data/hotkey={{miner_hotkey}}/` or
`validators/{{miner_hotkey}}/` (at most 1,000 keys a call, taken from the miner's listing);
other keys, and keys with a `..` segment, are returned in `invalid_files` and get no URL.""",
    security=SECURITY,
    responses={
        200: MinerFilesResponse,
        **COMMON_ERRORS,
        400: error_doc(
            "Body is not JSON (`invalid_request`), or no requested key is in the miner's "
            "folders (`no_valid_files`)",
            "no_valid_files",
            "none of the keys is under "
            "data/hotkey=5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty/ or "
            "validators/5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty/ without a '..' "
            "segment",
        ),
        403: VALIDATOR_403,
        413: error_doc(
            "Body too large: this endpoint takes up to 1 MiB + 16 KiB (1,000 keys), or up "
            "to SIGNER_MAX_BODY_BYTES when that is larger",
            "payload_too_large",
            TOO_LARGE,
        ),
    },
)
def get_file_presigned_urls(body: MinerFilesRequest) -> Response:
    svc = services()
    authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.MINER_FILES.format(
            miner_hotkey=body.miner_hotkey, hotkey=body.hotkey, timestamp=body.timestamp
        ),
        admission=validator(svc),
    )
    s3, bucket = svc.bucket()
    prefixes = (
        credentials.miner_root(body.miner_hotkey),
        credentials.validator_root(body.miner_hotkey),
    )
    valid = [k for k in body.file_keys if k.startswith(prefixes) and ".." not in k.split("/")]
    if not valid:
        raise SignerError(
            400,
            "no_valid_files",
            f"none of the keys is under {prefixes[0]} or {prefixes[1]} without a '..' segment",
        )
    # The lifetime asked (data-universe validators ask 3 h, to read a whole pass's files),
    # else the list URLs' own.
    asked = body.expiry_hours
    ttl = asked * 3600 if asked is not None else svc.settings.list_url_ttl
    return jsonify(
        MinerFilesResponse(
            miner_hotkey=body.miner_hotkey,
            file_urls={
                key: {
                    "presigned_url": credentials.presigned_get(s3, bucket, key, ttl),
                    "file_key": key,
                    "file_name": key.rsplit("/", 1)[-1],
                    "expires_in_seconds": ttl,
                }
                for key in valid
            },
            invalid_files=[k for k in body.file_keys if k not in valid],
            expiry=credentials.expiry_iso(svc.now(), ttl),
            expiry_seconds=ttl,
        ).model_dump(mode="json")
    )


NOT_REVEALED = error_doc(
    "No assignment revealed for the current epoch yet (`not_revealed`), the published "
    "current.json cannot be read or used (`assignment_unavailable`, naming it), or the "
    "rate-limit counters unreachable (`limits_unavailable`); see Retry-After",
    "not_revealed",
    "epoch 2026-11-25T16-00-00 is not revealed yet (current.json still holds 2026-11-25T12-00-00)",
    retry_after(required=True),
)


def _cache_control(svc: Services) -> str:
    seconds_left = int(svc.current_epoch().end.timestamp() - svc.now())
    return f"public, max-age={max(0, min(30, seconds_left))}"


@public_api.get(
    "/assignments/current",
    summary="The current epoch's revealed assignment",
    description="""No signature. The planner's `current.json`, byte-identical, so its
sha256 matches the epoch's commitment in `index.json`. When SIGNER_PUBLISHED is a base
URL, the answer is a 302 redirect to `<base>/current.json` on the CDN instead.""",
    responses={
        200: Assignment,
        302: redirect_doc("Redirect to current.json on the CDN"),
        429: RATE_LIMITED,
        503: NOT_REVEALED,
    },
)
def current_assignment() -> BaseResponse:
    svc = services()
    settings = svc.settings
    if settings.published_is_url:
        return redirect(published.current_url(settings.published), code=302)
    body = published.read_current(settings.published)
    published.current_assignment(body, svc.current_epoch())
    return Response(
        body, mimetype="application/json", headers={"Cache-Control": _cache_control(svc)}
    )


@public_api.get(
    "/api/v1/zipcode-assignments/current",
    summary="Legacy path: the current assignment plus success: true",
    description="""No signature. The path older miner clients call: its query parameters
(hotkey, signature, timestamp) are accepted and ignored, since an assignment is the same
for everyone and is public once its epoch has started. Same body as
`/assignments/current` plus `"success": true`. When SIGNER_PUBLISHED is a base URL, the
answer comes from the signer's copy of `<base>/current.json`, refreshed in the background
every 10 s (at once when it is not the current epoch's), never from a request to the CDN.""",
    responses={200: LegacyAssignment, 429: RATE_LIMITED, 503: NOT_REVEALED},
)
def legacy_current_assignment() -> Response:
    svc = services()
    response = jsonify({"success": True, **svc.current_document()})
    response.headers["Cache-Control"] = _cache_control(svc)
    return response


@public_api.get("/healthz", summary="Liveness", responses={200: Health})
def healthz() -> Response:
    return jsonify({"status": "ok"})


@public_api.get(
    "/readyz",
    summary="Readiness: metagraph snapshot age, bucket, limits, published folder and epoch length",
    description="200 when the metagraph snapshot is usable, a bucket is configured, the "
    "rate-limit counters answer, a SIGNER_PUBLISHED folder exists and the current.json the "
    "signer has at hand (never fetched for this) is of EPOCH_HOURS-long epochs, else 503 with "
    "the same body saying what is wrong.",
    responses={200: Readiness, 503: Readiness},
)
def readyz() -> Response:
    svc = services()
    settings = svc.settings
    metagraph = svc.store.status()
    bucket = {
        "configured": svc.s3 is not None and bool(settings.s3_bucket),
        "bucket": settings.s3_bucket,
        "endpoint": settings.s3_endpoint_url,
    }
    limits = svc.limiter.reachable()
    length = published.epoch_length(svc.current_at_hand(), settings.epoch_hours)
    folder = None if settings.published_is_url else published.folder_problem(settings.published)
    ready = (
        metagraph["usable"]
        and bucket["configured"]
        and limits
        and not length["problem"]
        and folder is None
    )
    body = Readiness(
        ready=ready,
        metagraph=metagraph,
        bucket=bucket,
        limits=limits,
        published=settings.published,
        publishedProblem=folder,
        currentEpoch=svc.current_epoch().id,
        epochLength=length,
    )
    response = jsonify(body.model_dump(mode="json"))
    response.status_code = 200 if ready else 503
    return response
