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

import re

from clientkit.errors import a_type
from envsettings import is_http_url, url_tail


def http_url(value: object, what: str, example: str) -> str:
    """`value` without its trailing /, refused unless it is an http(s) URL with a host and
    no query string or fragment; `what` names it in the message (`the signer URL`),
    `example` shows one that works."""
    if not isinstance(value, str):
        raise TypeError(f"{what} is a str, such as {example}; got {a_type(value)}")
    if tail := url_tail(value):
        raise ValueError(
            f"{what} {shown(value)!r} ends in a query string or fragment, {tail!r}, which a base "
            f"URL cannot have (the kit adds each path after it): drop it, such as {example}"
        )
    if not is_http_url(value):
        raise ValueError(
            f"{what} {shown(value)!r} needs http:// or https:// and a host, such as {example}"
        )
    return value.rstrip("/")


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:/+|//)?[^/?#]*@")
"""A URL's start up to its `user:password@`: after the scheme and slashes, if any (a URL
without its scheme, `user:password@host`, or with one slash too few, has one too)."""


def shown(url: str) -> str:
    """`url` without a user and password (`http://user:password@host` as `http://host`), as
    messages name it: requests sends them, and they belong in no log. Any text is shown
    so, a URL refused for its missing scheme or a redirect's Location too."""
    return _USERINFO.sub(r"\1", url)
