"""A failed request in words, the same wherever the kit made it.

A server that takes the connection and never answers (a hung CDN, bucket or drand relay),
or stops taking an upload's body, is not one that refuses it, and the exception's name alone
("ReadTimeout", "ConnectionError") does not say that the caller gave up, nor how long it
waited. Every part of the kit that reads over HTTP words its failures with
`failure`, so a message in a miner's log names the `timeout` the call ran with, in the same
words whether the assignment, storage or drand was slow.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError


def failure(exc: requests.RequestException, timeout: float) -> str:
    """The exception's name, and for a timeout how long nothing came (before the answer, or
    within its body, which requests raises as a ConnectionError) or nothing could be sent (a
    server that stopped taking an upload's body, a ConnectionError too)."""
    name = type(exc).__name__
    if _timed_out_receiving(exc):
        return f"{name} (nothing received in {timeout:g} s)"
    if _timed_out_sending(exc):
        return f"{name} (nothing sent in {timeout:g} s)"
    return name


def _timed_out_receiving(exc: requests.RequestException) -> bool:
    return isinstance(exc, requests.Timeout) or any(
        isinstance(reason, ReadTimeoutError) for reason in exc.args
    )


def _timed_out_sending(exc: requests.RequestException) -> bool:
    """urllib3's `ProtocolError('Connection aborted.', TimeoutError(...))`: the socket's
    timeout ran out while the request was being written."""
    return any(
        isinstance(reason, ProtocolError)
        and any(isinstance(cause, TimeoutError) for cause in reason.args)
        for reason in exc.args
    )
