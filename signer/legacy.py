"""The old server's zipcode paths that released subnet 46 clients still call.

Resi miners and validators (`resi-labs-ai/resi`) learn the current epoch from
`/api/v1/zipcode-assignments/stats`, validators read past assignments from
`/api/v1/zipcode-assignments/epoch/{id}`, miners report progress to
`/api/v1/zipcode-assignments/status`, and both probe `/healthcheck`. None of it needs a
database: the epoch comes from the clock's grid, assignments from the planner's published
files, and the answers keep the old server's field names and `success: true`, so those
clients run unchanged. Progress reports are checked and acknowledged, not stored:
validators judge what is in the bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from clientkit.epochs import Epoch, EpochError, epoch_from_id
from signer import auth
from signer.api import ASSIGNMENT_UNAVAILABLE, COMMON_ERRORS, SECURITY, SIGNING_HOWTO
from signer.errors import SignerError
from signer.models import (
    EXAMPLE_EPOCH,
    LIMITS_UNAVAILABLE,
    RATE_LIMITED,
    LegacyEpochAssignment,
    LegacyEpochPath,
    LegacyHealth,
    LegacyStats,
    MinerStatusRequest,
    MinerStatusResponse,
    error_doc,
    invalid_doc,
    retry_after,
)
from signer.services import Services, services
from signer.taoauth import authenticate

TAG = Tag(name="legacy", description="The old server's zipcode paths, kept for released clients")

legacy_api = APIBlueprint("legacy", __name__, abp_tags=[TAG])
status_api = APIBlueprint("legacy_status", __name__, abp_tags=[TAG])

EPOCH_NOT_FOUND = error_doc(
    "No revealed assignment for this epoch, or epochId off this signer's EPOCH_HOURS grid",
    "epoch_not_found",
    "epoch 2026-11-25T20-00-00 has no revealed assignment (epochs/2026-11-25T20-00-00.json "
    "is not published)",
)


def _millis(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _revealed(svc: Services, epoch: Epoch) -> dict[str, Any] | None:
    """The published assignment of `epoch`, None when not published.

    The current epoch's comes from the signer's copy of current.json (never a request to
    the CDN, which every miner's polling would otherwise multiply); an earlier one from
    epochs/{id}.json, read once and kept (it never changes).
    """
    if epoch.id == svc.current_epoch().id:
        try:
            return svc.current_document()
        except SignerError as refusal:
            if refusal.code == "not_revealed":
                return None
            raise
    return svc.past_epochs.document(epoch.id)


def _not_found(svc: Services, epoch_id: str) -> SignerError:
    """404 for an epoch without a revealed assignment; one off this signer's grid is
    refused saying so (Services.off_grid), since no assignment will ever be revealed for it."""
    detail = svc.off_grid(epoch_id) or (
        f"epoch {epoch_id} has no revealed assignment (epochs/{epoch_id}.json is not published)"
    )
    return SignerError(404, "epoch_not_found", detail)


@legacy_api.get(
    "/api/v1/zipcode-assignments/stats",
    summary="Legacy path: the current epoch and its timing",
    description="""No signature. What the old server's stats said about the current epoch,
in its field names: `epochStatus.currentEpoch.id` (the epoch id on the UTC grid),
`epochStatus.timing.timeUntilEpochEnd` (seconds), and, once the epoch's assignment is
revealed, its `nonce`, `zipcodeCount`, `targetListings` and `actualExpected`.
`currentEpoch.timeUntilEpochEnd` repeats the timing, which a validator reads there.""",
    responses={200: LegacyStats, 429: RATE_LIMITED, 503: LIMITS_UNAVAILABLE},
)
def stats() -> Response:
    svc = services()
    epoch = svc.current_epoch()
    now = svc.now()
    left = max(0, int(epoch.end.timestamp() - now))
    current: dict[str, Any] = {
        "id": epoch.id,
        "status": "ACTIVE",
        "startTime": _millis(epoch.start),
        "endTime": _millis(epoch.end),
        "timeUntilEpochEnd": left,
    }
    try:
        document = _revealed(svc, epoch)
    except SignerError:
        document = None
    if document is not None:
        zipcodes = document.get("zipcodes") or []
        current.update(
            nonce=document.get("nonce"),
            zipcodeCount=len(zipcodes),
            targetListings=document.get("targetListings"),
            actualExpected=sum(map(_expected_listings, zipcodes)),
        )
    body = LegacyStats(
        success=True,
        currentTime=int(now),
        systemStatus="operational" if document is not None else "awaiting_reveal",
        epochStatus={
            "currentEpoch": current,
            "timing": {
                "timeUntilEpochEnd": left,
                "timeUntilNextEpoch": left,
                "epochDurationHours": epoch.hours,
            },
            "nextEpoch": {"startTime": _millis(epoch.end)},
        },
    )
    response = jsonify(body.model_dump(mode="json", exclude_none=True))
    response.headers["Cache-Control"] = f"public, max-age={max(0, min(10, left))}"
    return response


def _expected_listings(zipcode: dict[str, Any]) -> int:
    """A zipcode's expectedListings, 0 when the published file gives no whole number."""
    count = zipcode.get("expectedListings")
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


@legacy_api.get(
    "/api/v1/zipcode-assignments/epoch/<epoch_id>",
    summary="Legacy path: a started epoch's assignment",
    description="""No signature: the `hotkey`, `signature` and `timestamp` query parameters
the old clients send are accepted and ignored, since a started epoch's assignment is
public (`epochs/{epochId}.json` on the CDN). The answer is that file plus `success: true`
and `status` (`ACTIVE` for the current epoch, `COMPLETED` before it); 404 for an epoch
whose assignment is not revealed (not started, or not planned), saying so with the setting's
value for an `epochId` that starts no epoch of this signer's EPOCH_HOURS grid; 503
`assignment_unavailable`, naming the file, when the published file cannot be read or used.""",
    responses={
        200: LegacyEpochAssignment,
        404: EPOCH_NOT_FOUND,
        422: invalid_doc(
            "epochId is not written YYYY-MM-DDTHH-00-00, or names no date and hour",
            {"epoch_id": "String should match pattern '^\\d{4}-\\d{2}-\\d{2}T\\d{2}-00-00$'"},
        ),
        429: RATE_LIMITED,
        503: ASSIGNMENT_UNAVAILABLE,
    },
)
def epoch_assignment(path: LegacyEpochPath) -> Response:
    svc = services()
    try:
        epoch = epoch_from_id(path.epoch_id, svc.settings.epoch_hours)
    except EpochError:
        raise _not_found(svc, path.epoch_id) from None
    current = svc.current_epoch()
    document = _revealed(svc, epoch) if epoch.start <= current.start else None
    if document is None:
        raise _not_found(svc, epoch.id)
    status = "ACTIVE" if epoch.id == current.id else "COMPLETED"
    return jsonify({"success": True, **document, "status": status})


@status_api.post(
    "/api/v1/zipcode-assignments/status",
    summary="Legacy path: a miner's progress report (acknowledged, not stored)",
    description=f"""Signed message: `{auth.MINER_STATUS}`

{SIGNING_HOWTO}

Checks the signature, that the epoch is the current one or one of the
SIGNER_RECENT_EPOCHS before it, and that `nonce` is its assignment's nonce, then answers
as the old server did. Nothing is recorded: validators score what miners upload. An
`epochId` that starts no epoch of this signer's EPOCH_HOURS grid is 404 saying so, with the
setting's value.""",
    security=SECURITY,
    responses={
        200: MinerStatusResponse,
        **COMMON_ERRORS,
        400: error_doc(
            "Body is not JSON (`invalid_request`), or nonce is not the epoch's (`invalid_nonce`)",
            "invalid_nonce",
            f"nonce is not epoch {EXAMPLE_EPOCH}'s nonce",
        ),
        404: EPOCH_NOT_FOUND,
        503: error_doc(
            "The rate-limit counters unreachable (`limits_unavailable`), or the epoch's "
            "published assignment cannot be read or used (`assignment_unavailable`, naming "
            "the file); see Retry-After",
            "limits_unavailable",
            "the rate-limit counters (SIGNER_RATELIMIT_STORAGE) cannot be reached just now; "
            "retry in a few seconds",
            retry_after(required=True),
        ),
    },
)
def miner_status(body: MinerStatusRequest) -> Response:
    svc = services()
    hotkey = authenticate(
        svc,
        body.hotkey,
        body.timestamp,
        body.signature,
        lambda: auth.MINER_STATUS.format(epoch_id=body.epoch_id, timestamp=body.timestamp),
    )
    snapshot = svc.store.snapshot()
    if snapshot is not None and hotkey in snapshot.neurons:
        # Registered hotkeys only: a counter per free key pair would grow without bound.
        svc.status_quota.spend(hotkey)
    refusal = svc.not_recent(body.epoch_id)
    if refusal is not None:
        raise SignerError(404, "epoch_not_found", refusal)
    document = _revealed(svc, epoch_from_id(body.epoch_id, svc.settings.epoch_hours))
    if document is None:
        raise _not_found(svc, body.epoch_id)
    if document.get("nonce") != body.nonce:
        raise SignerError(400, "invalid_nonce", f"nonce is not epoch {body.epoch_id}'s nonce")
    return jsonify(
        MinerStatusResponse(
            success=True,
            message="Status update received",
            epochId=body.epoch_id,
            status=body.status,
            timestamp=_millis(datetime.fromtimestamp(svc.now(), UTC)),
        ).model_dump(mode="json")
    )


@legacy_api.get(
    "/healthcheck",
    summary="Legacy path: liveness, as the old server's health check",
    responses={200: LegacyHealth},
)
def healthcheck() -> Response:
    return jsonify({"status": "ok", "service": "subnet46-signer"})
