"""The base URLs a client is given (the signer's, the CDN's, the drand relays'), checked
where they are given.

A base URL without its scheme (`cdn.example.com`, `localhost:8000`) was taken, and every
request then failed with requests' MissingSchema or InvalidSchema: far from the mistake,
as if the server were down (an AssignmentError, a relay's NotOpenYet retried for ever), and
naming neither the argument nor what to write. One with a query string or a fragment
(`https://signer.example.org/?x=1`) took each path into it, and asked the server's root.
The rule is the settings' own
(envsettings.is_http_url): a URL the planner or the signer accepts, the kit accepts.
"""

from __future__ import annotations

from clientkit.errors import a_type
from envsettings import ENCODE_USERINFO, is_http_url, misread_userinfo, shown, tail_refusal


def http_url(value: object, what: str, example: str) -> str:
    """`value` without its trailing /, refused unless it is an http(s) URL with a host and
    no query string or fragment; `what` names it in the message (`the signer URL`),
    `example` shows one that works."""
    if not isinstance(value, str):
        raise TypeError(f"{what} is a str, such as {example}; got {a_type(value)}")
    if misread_userinfo(value):
        raise ValueError(
            f"{what} {shown(value)!r} must have its user name and password percent-encoded: "
            f"{ENCODE_USERINFO}, such as {example}"
        )
    if drop := tail_refusal(value):
        raise ValueError(
            f"{what} {shown(value)!r} has a query string or fragment, which a base URL cannot "
            f"have (the kit adds each path after it): drop {drop}, such as {example}"
        )
    if not is_http_url(value):
        raise ValueError(
            f"{what} {shown(value)!r} needs http:// or https:// and a host, such as {example}"
        )
    return value.rstrip("/")
