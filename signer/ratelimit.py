"""Rate limits per remote address (before anything else) and per registered hotkey.

A hotkey's quota is spent only once its signature has verified and the metagraph shows it in
the role the endpoint serves: nobody can use up a miner's quota by sending requests in its name
with a bad signature, and free key pairs that sign correctly but are not registered leave no
counter behind (the per-address limit still applies to them), so the counters stay bounded by
the subnet's size.

The quota is spent with one atomic increment in the limiter's storage and refused when that
increment passes the limit. Checking first and counting after the answer would let concurrent
requests, in several workers or instances sharing a Redis, all pass the check before any is
counted.
"""

from __future__ import annotations

import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError

from signer.config import ConfigError, Settings
from signer.errors import SignerError

KEY_PREFIX = "signer"


def make_limiter(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        get_remote_address,
        application_limits=[settings.ratelimit_address],
        storage_uri=settings.ratelimit_storage,
        strategy="fixed-window",
        key_prefix=KEY_PREFIX,
    )
    try:
        limiter.init_app(app)
    except ConfigurationError as exc:
        raise ConfigError(
            f"SIGNER_RATELIMIT_STORAGE: {exc} (a redis:// or rediss:// URL needs the "
            "`redis` extra: pip install 'subnet46-epochs[redis]')"
        ) from None
    return limiter


class HotkeyQuota:
    """One quota per hotkey for a group of endpoints (`scope`: miner or validator)."""

    def __init__(self, limiter: Limiter, limits: str, scope: str) -> None:
        self.limiter = limiter
        self.items: list[RateLimitItem] = parse_many(limits)
        self.scope = scope

    def spend(self, hotkey: str) -> None:
        """Count one request of `hotkey`, or refuse it with 429 once a limit is passed."""
        strategy = self.limiter.limiter
        for item in self.items:
            if not strategy.hit(item, KEY_PREFIX, self.scope, hotkey):
                reset = strategy.get_window_stats(item, KEY_PREFIX, self.scope, hotkey).reset_time
                retry = max(1, int(reset - time.time()))
                raise SignerError(
                    429,
                    "rate_limited",
                    f"rate limit exceeded ({item}); retry in {retry} s",
                    headers={"Retry-After": str(retry)},
                )
