"""Rate limits per remote address (before anything else) and per verified hotkey.

A hotkey's quota is spent only by requests whose signature verified, so nobody can use
up a miner's quota by sending requests in its name with a bad signature.
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.errors import ConfigurationError

from signer.config import ConfigError, Settings


def claimed_hotkey() -> str:
    """The hotkey a request names (checked later): X-Tao-Signed-By for a header-signed
    request (signer/taoauth.py), else the body's `hotkey`; '-' when it names none.

    The body is read by the strict parser (signer/body.py) and cached, so this is the object
    that validation and the signature check see next; anything else is refused right after
    the limits are checked, so it cannot be verified under another key.
    """
    signed_by = request.headers.get("X-Tao-Signed-By")
    if signed_by is not None:
        return signed_by.strip() or "-"
    body = request.get_json(silent=True)
    hotkey = body.get("hotkey") if isinstance(body, dict) else None
    return hotkey if isinstance(hotkey, str) and hotkey else "-"


def signature_verified(_response: object) -> bool:
    return g.get("verified_hotkey") is not None


def make_limiter(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        get_remote_address,
        application_limits=[settings.ratelimit_address],
        storage_uri=settings.ratelimit_storage,
        strategy="fixed-window",
        key_prefix="signer",
    )
    try:
        limiter.init_app(app)
    except ConfigurationError as exc:
        raise ConfigError(f"SIGNER_RATELIMIT_STORAGE: {exc}") from None
    return limiter


def limit_hotkeys(limiter: Limiter, blueprint: Blueprint, limits: str, scope: str) -> None:
    """One quota per hotkey shared by every endpoint of `blueprint`."""
    limiter.shared_limit(
        limits,
        scope=scope,
        key_func=claimed_hotkey,
        deduct_when=signature_verified,
        override_defaults=False,
    )(blueprint)
