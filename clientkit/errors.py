"""The one base of every failure the client kit reports.

A miner can catch `ClientKitError` around a whole epoch's work; the subclasses say which
part failed (the assignment, the signer, storage, drand, the published files).
"""

from __future__ import annotations


def a_type(value: object) -> str:
    """The type of `value` with its article, for a message: `a str`, `an int`, `an Epoch`."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'AEIOUaeiou' else 'a'} {name}"


class ClientKitError(Exception):
    """A check or a request that failed: the message says which one and where."""
