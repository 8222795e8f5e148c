"""Who signed a request: the JSON body's own fields, or the `X-Tao-*` headers.

Released clients sign in two ways. The subnet 46 clients and older data-universe validators
put `hotkey`, `timestamp` and `signature` in the JSON body, over a message each endpoint
defines (signer/auth.py). The current data-universe client (its `TaoSigner`, "Tao v2")
sends the body untouched and signs it in headers instead:

    X-Tao-Version: 2
    X-Tao-Timestamp: unix milliseconds
    X-Tao-Nonce: a fresh random id (a UUID)
    X-Tao-Signed-By: the hotkey (SS58)
    X-Tao-Signature: base64 (or hex) sr25519 signature over
                     sha256(body).hexdigest() + "." + nonce + "." + timestamp

Every signed endpoint accepts either form, with the same timestamp window. The header form
signs the whole body but not the path, so a nonce is accepted once only: it is counted in
the rate-limit storage for the length of the window, so a replay to the same or to another
endpoint is refused. With the default `memory://` storage it is counted after the signature
verified, per gunicorn worker; with `redis://` it is shared by every worker and instance,
like the rate limits, and counted in the quota's call (HotkeyQuota.counting), given back
(deleted) if the signature then fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple

from bittensor_core import ss58_decode
from flask import g, request

from signer import auth
from signer.errors import SignerError
from signer.ratelimit import CountLater, HotkeyQuota, Window
from signer.services import Services

HEADERS = ("X-Tao-Version", "X-Tao-Timestamp", "X-Tao-Nonce", "X-Tao-Signed-By", "X-Tao-Signature")
# The headers as WSGI names them: looked up in the environ at once, since every signed
# request asks whether it has them, and werkzeug's Headers take five times as long.
ENVIRON_KEYS = tuple("HTTP_" + name.upper().replace("-", "_") for name in HEADERS)
VERSION = "2"
NONCE = re.compile(r"[A-Za-z0-9_-]{8,128}")
DIGITS = re.compile(r"[0-9]{1,16}")
OPENAPI_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": name,
        "in": "header",
        "required": False,
        "description": f"header signing (all five, or none): {meaning}",
        "schema": {"type": "string", **form},
    }
    for name, meaning, form in (
        ("X-Tao-Version", "`2`", {"enum": [VERSION]}),
        ("X-Tao-Timestamp", "unix time in milliseconds", {"pattern": f"^{DIGITS.pattern}$"}),
        ("X-Tao-Nonce", "a fresh random id (a UUID)", {"pattern": f"^{NONCE.pattern}$"}),
        ("X-Tao-Signed-By", "the hotkey (SS58)", {}),
        (
            "X-Tao-Signature",
            "base64 (or hex) sr25519 signature over "
            "`sha256(body).hexdigest() + '.' + nonce + '.' + timestamp`",
            {},
        ),
    )
]
"""The five headers as the OpenAPI document declares them (signer/docs.py), in the form
read_headers checks, so a client generated from it can send them."""
NONCE_KEY = "signer/tao-nonce/{public_key}/{nonce}"
"""A nonce's counter, named by the signer's public key: the same key spelled under another
SS58 network prefix verifies the same signature, and must not make a replay a new nonce."""


@dataclass(frozen=True)
class TaoHeaders:
    """The five headers of a header-signed request, checked for form only."""

    hotkey: str
    public_key: str
    timestamp: str
    nonce: str
    signature: str

    @property
    def seconds(self) -> float:
        return int(self.timestamp) / 1000


def _refused(detail: str) -> SignerError:
    return SignerError(401, "invalid_tao_headers", detail)


def read_headers() -> TaoHeaders | None:
    """The request's X-Tao-* headers, None when it has none, 401 when they are incomplete."""
    environ = request.environ
    if environ.keys().isdisjoint(ENVIRON_KEYS):
        return None
    present = [name for name, key in zip(HEADERS, ENVIRON_KEYS, strict=True) if key in environ]
    missing = [name for name in HEADERS if name not in present]
    if missing:
        raise _refused(
            f"header signing needs all of {', '.join(HEADERS)}; missing {', '.join(missing)}"
        )
    version = request.headers["X-Tao-Version"].strip()
    if version != VERSION:
        raise _refused(f"X-Tao-Version must be {VERSION}")
    timestamp = request.headers["X-Tao-Timestamp"].strip()
    if not DIGITS.fullmatch(timestamp):
        raise _refused("X-Tao-Timestamp must be unix time in milliseconds (digits only)")
    nonce = request.headers["X-Tao-Nonce"].strip()
    if not NONCE.fullmatch(nonce):
        raise _refused("X-Tao-Nonce must be 8 to 128 letters, digits, '-' or '_' (a UUID)")
    hotkey = request.headers["X-Tao-Signed-By"].strip()
    try:
        public_key = ss58_decode(hotkey)
    except ValueError:
        raise _refused("X-Tao-Signed-By is not an SS58 address") from None
    signature = request.headers["X-Tao-Signature"].strip()
    return TaoHeaders(hotkey, public_key.hex(), timestamp, nonce, signature)


def _signature_bytes(text: str) -> bytes:
    """Base64 as the client sends it; hex (0x optional) accepted too. Neither is refused
    naming the header and both forms: the body form's refusal (hex only) read as if a
    truncated base64 signature, which TaoSigner sends, should have been hex."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == auth.SIGNATURE_BYTES:
        return raw
    try:
        return auth.decode_signature(text)
    except SignerError:
        raise SignerError(
            401,
            "invalid_signature",
            f"X-Tao-Signature must be a {auth.SIGNATURE_BYTES}-byte sr25519 signature, in "
            f"base64 (88 characters) or hex (128 digits, 0x optional); got {len(text)} "
            "characters",
        ) from None


def verify_headers(tao: TaoHeaders, body: bytes) -> None:
    """The signature over the body's sha256 (the timestamp's window is checked before, and
    the nonce after, by authenticate)."""
    message = f"{hashlib.sha256(body).hexdigest()}.{tao.nonce}.{tao.timestamp}"
    raw = _signature_bytes(tao.signature)
    if not auth.verifies(tao.hotkey, message.encode("utf-8"), raw):
        raise SignerError(
            401,
            "invalid_signature",
            "X-Tao-Signature does not match X-Tao-Signed-By over "
            "sha256(body).nonce.timestamp (the exact body bytes sent)",
        )


def nonce_window(svc: Services, tao: TaoHeaders) -> Window:
    """The nonce's counter: counted once in the timestamp's whole window, over it a replay."""
    settings = svc.settings
    seconds = settings.timestamp_max_age + settings.timestamp_max_ahead + 1
    return Window(NONCE_KEY.format(public_key=tao.public_key, nonce=tao.nonce), seconds, 1)


class Admission(NamedTuple):
    """What a credential view requires of a verified hotkey: its `role` in the metagraph (a
    check raising SignerError), then one request counted against its `quota`."""

    role: Callable[[str], object]
    quota: HotkeyQuota


def authenticate(
    svc: Services,
    hotkey: str | None,
    timestamp: int | None,
    signature: str | None,
    message: Callable[[], str],
    signed_fields: Mapping[str, object] | None = None,
    admission: Admission | None = None,
) -> str:
    """The verified hotkey of the request, signed either in its headers or in its body.

    `message` builds the body form's signed message; it is called only for that form, whose
    body must also carry `signed_fields` (other fields of the message, such as `coldkey`).

    With an `admission`, the hotkey must also hold its role, and the request is counted
    against its quota while the signature is verified (HotkeyQuota.counting), with the
    header form's nonce in the same call. The answers keep their order: a bad signature is
    a 401 whatever the role, then a replayed nonce's 401, a role refused a 403, then the
    quota's 429.
    """
    claimed, seconds, verify, tao = _claim(
        svc, hotkey, timestamp, signature, message, signed_fields
    )
    g.hotkey = claimed
    settings = svc.settings
    auth.check_timestamp(
        seconds, svc.now(), settings.timestamp_max_age, settings.timestamp_max_ahead
    )
    nonce = nonce_window(svc, tao) if tao is not None else None
    refused = _role_refusal(admission, claimed)
    quota = admission.quota if admission is not None and refused is None else None
    with (
        quota.counting(claimed, nonce)
        if quota is not None
        else nullcontext(CountLater(svc.limiter.count, (), nonce))
    ) as counting:
        verify()
        if counting.replayed():
            raise SignerError(
                401, "replayed_nonce", "this X-Tao-Nonce was already used; sign each request anew"
            )
        g.verified_hotkey = claimed
    if refused is not None:
        raise refused
    return claimed


def _role_refusal(admission: Admission | None, hotkey: str) -> SignerError | None:
    """The role check's refusal, kept until the signature has been checked."""
    if admission is None:
        return None
    try:
        admission.role(hotkey)
    except SignerError as exc:
        return exc
    return None


def _claim(
    svc: Services,
    hotkey: str | None,
    timestamp: int | None,
    signature: str | None,
    message: Callable[[], str],
    signed_fields: Mapping[str, object] | None,
) -> tuple[str, float, Callable[[], None], TaoHeaders | None]:
    """Who the request says signed it, when, how to verify that signature, and the X-Tao
    headers if it was signed in them."""
    tao = read_headers()
    if tao is not None:
        if hotkey is not None and hotkey != tao.hotkey:
            raise SignerError(
                401, "invalid_tao_headers", "hotkey in the body is not X-Tao-Signed-By"
            )
        return (
            tao.hotkey,
            tao.seconds,
            lambda: verify_headers(tao, request.get_data(cache=True)),
            tao,
        )
    needed: dict[str, object] = {"hotkey": hotkey, "timestamp": timestamp, "signature": signature}
    needed.update(signed_fields or {})
    missing = [name for name, value in needed.items() if value is None]
    if missing or hotkey is None or timestamp is None or signature is None:
        reason = "Field required (or sign the request with X-Tao-* headers)"
        raise SignerError(
            422,
            "invalid_request",
            "; ".join(f"{name}: {reason}" for name in missing),
            fields=[{"field": name, "message": reason} for name in missing],
        )
    return hotkey, timestamp, lambda: auth.verify_signature(hotkey, message(), signature), None
