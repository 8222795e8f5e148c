"""Retrying HTTP requests the way a crowd of miners should: spread out, and as told.

Every miner asks at the moment an epoch starts, so a signer or a CDN under load answers
429 or 503 with `Retry-After`. Waiting exactly that long would bring the whole crowd back
at the same instant again; each client waits what it was told plus a random share of the
backoff (jitter), and between other transient failures (no connection, 502, 504) an
exponentially growing, fully jittered delay. A wait longer than `cap` is not worth
blocking on: the last answer is returned for the caller to report.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from clientkit.errors import a_type

TOLD_TO_WAIT = frozenset({429, 503})
"""Statuses retried when they carry Retry-After (a 429 without it is retried too)."""
TRANSIENT = frozenset({502, 504})
"""A proxy in front of the service failed: retried with backoff."""
STORAGE_TRANSIENT = TRANSIENT | {500, 503}
"""S3 and Spaces throttle with 503 SlowDown, and fail now and then with 500 InternalError,
neither with Retry-After: both are retried with backoff, as AWS's SDKs do. (The signer's
503 without Retry-After means it is misconfigured, and is final.)"""


SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
"""Retry-After's seconds: RFC 9110 says a whole number, and some servers and proxies send
a fraction (`1.5`); both are honoured. No sign, exponent, `nan` or `inf`, as float() takes."""


def retry_after_seconds(value: str | None, now: Callable[[], datetime]) -> float | None:
    """Retry-After as seconds: a number of seconds (a fraction too) or an HTTP date; None if
    absent or garbled."""
    if not value:
        return None
    text = value.strip()
    if SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


def count(value: object, described: str) -> int:
    """`value` as an int of 1 or more, or a TypeError (no int; a bool is none) or a
    ValueError (0 or less) that says what it is, `described`, and what was given."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{described}; got {value!r} ({a_type(value)})")
    if value < 1:
        raise ValueError(f"{described}; got {value}")
    return value


MAX_SECONDS = 86_400
"""The longest timeout taken: a day. From about 1e10 s (and float("inf")), urllib3's first
request failed with an OverflowError of its own (`timestamp out of range for platform
time_t`)."""


@dataclass(frozen=True)
class Backoff:
    """How many tries and how long between them; `sleep` and `jitter` are seams for tests."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False)

    def __post_init__(self) -> None:
        """Refused when made, naming the field: attempts given as text failed at the first
        answer, a negative base or cap at the first wait, in time.sleep's words, and no
        attempt at all made one all the same."""
        count(
            self.attempts,
            "Backoff's attempts is the most tries, an int of 1 or more (1 for a single try)",
        )
        for name, example in (("base", 0.5), ("cap", 30.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(
                    f"Backoff's {name} is seconds, a number of 0 or more such as {example}; "
                    f"got {value!r} ({a_type(value)})"
                )
            if not value >= 0:
                raise ValueError(
                    f"Backoff's {name} is seconds, a number of 0 or more such as {example}; "
                    f"got {value!r}"
                )
            if value > MAX_SECONDS:
                raise ValueError(
                    f"Backoff's {name} is seconds, at most {MAX_SECONDS} (a day), such as "
                    f"{example}; got {value!r}"
                )

    def backoff(self, attempt: int) -> float:
        """Full jitter: anywhere between 0 and base * 2**attempt (at most `cap`)."""
        return self.jitter() * min(self.cap, self.base * 2**attempt)

    def wait_for(
        self,
        response: requests.Response | None,
        attempt: int,
        transient: frozenset[int] = TRANSIENT,
    ) -> float | None:
        """Seconds to wait before the next try, or None when this answer is final. A status
        of `transient` is retried with backoff unless it says how long to wait."""
        if attempt + 1 >= self.attempts:
            return None
        if response is None:
            return self.backoff(attempt)
        status = response.status_code
        told = retry_after_seconds(response.headers.get("Retry-After"), self.now)
        if status in TOLD_TO_WAIT and told is not None:
            return None if told > self.cap else told + self.jitter() * self.base
        if status in transient or status == 429:
            return self.backoff(attempt)
        return None

    def run(
        self,
        request: Callable[[], requests.Response],
        transient: frozenset[int] = TRANSIENT,
    ) -> requests.Response:
        """Call `request` until its answer is final; the last connection error is raised as is.

        `request` is called anew for each try, so a signed body can carry a fresh timestamp.
        `transient` are the statuses retried with backoff (STORAGE_TRANSIENT for S3).
        """
        attempt = 0
        while True:
            try:
                response = request()
            except (requests.ConnectionError, requests.Timeout):
                delay = self.wait_for(None, attempt)
                if delay is None:
                    raise
            else:
                delay = self.wait_for(response, attempt, transient)
                if delay is None:
                    return response
                response.close()
            self.sleep(delay)
            attempt += 1


NO_RETRY = Backoff(attempts=1)


def seconds(value: object, name: str, meaning: str, example: str) -> float:
    """`value` as a number of seconds over 0 and at most MAX_SECONDS, or a TypeError or
    ValueError naming the argument, `name`, and saying what it means (`seconds a try`) with
    an example: requests refused such a timeout only at the first request, in its own
    words, and urllib3 one too long for the platform in an OverflowError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"{name} is {meaning}, a number such as {example}; got {value!r} ({a_type(value)})"
        )
    if not value > 0:
        raise ValueError(f"{name} is {meaning}, a number over 0 such as {example}; got {value!r}")
    if value > MAX_SECONDS:
        raise ValueError(
            f"{name} is {meaning}, at most {MAX_SECONDS} (a day), such as {example}; got {value!r}"
        )
    return float(value)


def session_of(session: object) -> requests.Session | None:
    """`session`, refused with a TypeError naming the argument unless it is None or a
    requests.Session: anything else (headers, a URL) was taken, and failed at the first
    request as an AttributeError inside the kit."""
    if session is not None and not isinstance(session, requests.Session):
        raise TypeError(
            "session is a requests.Session, such as requests.Session() (or leave it unset); "
            f"got {a_type(session)}"
        )
    return session


def checked(timeout: object, backoff: object) -> tuple[float, Backoff]:
    """`timeout` (seconds a try) and `backoff` (the default policy if None), refused with a
    TypeError or ValueError naming the argument unless they are a number of seconds over 0
    and a Backoff (a backoff that is no Backoff failed as an AttributeError)."""
    each_try = seconds(timeout, "timeout", "seconds a try", "30")
    if backoff is not None and not isinstance(backoff, Backoff):
        raise TypeError(
            "backoff is a clientkit.Backoff, such as Backoff(attempts=1) for a single try; "
            f"got {backoff!r} ({a_type(backoff)})"
        )
    return each_try, backoff or Backoff()
