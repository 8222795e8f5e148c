"""A failed request in words, the same wherever the kit made it.

A server that takes the connection and never answers (a hung CDN, bucket or drand relay)
is not one that refuses it, and the exception's name alone ("ReadTimeout") does not say how
long the caller waited. Every part of the kit that reads over HTTP words its failures with
`failure`, so a message in a miner's log names the `timeout` the call ran with, in the same
words whether the assignment, storage or drand was slow.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import ReadTimeoutError


def failure(exc: requests.RequestException, timeout: float) -> str:
    """The exception's name, and for a timeout (before the answer, or within its body,
    which requests raises as a ConnectionError) how long nothing came."""
    timed_out = isinstance(exc, requests.Timeout) or any(
        isinstance(reason, ReadTimeoutError) for reason in exc.args
    )
    name = type(exc).__name__
    return f"{name} (nothing received in {timeout:g} s)" if timed_out else name
