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

import threading
import time

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError
from limits.storage import Storage

from signer.config import ConfigError, Settings
from signer.errors import SignerError

KEY_PREFIX = "signer"


def make_limiter(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        get_remote_address,
        application_limits=[settings.ratelimit_address],
        storage_uri=storage_uri(settings.ratelimit_storage),
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


def storage_uri(setting: str) -> str:
    """SIGNER_RATELIMIT_STORAGE as limits reads it: `memory://` is SweptMemoryStorage."""
    return "signer-memory://" if setting.rstrip("/") == "memory:" else setting


class HotkeyQuota:
    """One quota per hotkey for a group of endpoints (`scope`: miner, validator, status)."""

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


SWEEP_SECONDS = 1.0


class SweptMemoryStorage(Storage):
    """Fixed-window counters of this process (`memory://`), swept at most once a second.

    limits' own MemoryStorage starts a timer thread every 10 ms while counters change, to
    drop expired ones: 12% of a credential request's time under load (bench/RESULTS.md).
    Here a counter past its window restarts when next counted, and expired counters are
    swept inline at most once a second, so memory stays bounded by the keys of one window
    without any thread.
    """

    # limits declares STORAGE_SCHEME on its base as an instance attribute, which is what
    # mypy holds a ClassVar override to; ruff asks for ClassVar on a mutable class value.
    STORAGE_SCHEME = ["signer-memory"]  # noqa: RUF012

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._expiries: dict[str, float] = {}
        self._next_sweep = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def __len__(self) -> int:
        return len(self._counts)

    def _sweep(self, now: float) -> None:
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            for key in [k for k, at in self._expiries.items() if at <= now]:
                del self._expiries[key], self._counts[key]

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            self._sweep(now)
            if self._expiries.get(key, 0.0) <= now:
                self._counts[key] = 0
                self._expiries[key] = now + expiry
            self._counts[key] += amount
            return self._counts[key]

    def get(self, key: str) -> int:
        with self._lock:
            if self._expiries.get(key, 0.0) <= time.time():
                return 0
            return self._counts.get(key, 0)

    def get_expiry(self, key: str) -> float:
        with self._lock:
            return self._expiries.get(key, time.time())

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self._lock:
            count = len(self._counts)
            self._counts.clear()
            self._expiries.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)
            self._expiries.pop(key, None)
