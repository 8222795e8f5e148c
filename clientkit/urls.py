"""The base URLs a client is given (the signer's, the CDN's, the drand relays'), checked
where they are given.

A base URL without its scheme (`cdn.example.com`, `localhost:8000`) was taken, and every
request then failed with requests' MissingSchema or InvalidSchema: far from the mistake,
as if the server were down (an AssignmentError, a relay's NotOpenYet retried for ever), and
naming neither the argument nor what to write. The rule is the settings' own
(envsettings.is_http_url): a URL the planner or the signer accepts, the kit accepts.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from clientkit.errors import a_type
from envsettings import is_http_url


def http_url(value: object, what: str, example: str) -> str:
    """`value` without its trailing /, refused unless it is an http(s) URL with a host;
    `what` names it in the message (`the signer URL`), `example` shows one that works."""
    if not isinstance(value, str):
        raise TypeError(f"{what} is a str, such as {example}; got {a_type(value)}")
    if not is_http_url(value):
        raise ValueError(
            f"{what} {value!r} needs http:// or https:// and a host, such as {example}"
        )
    return value.rstrip("/")


def shown(url: str) -> str:
    """`url` without a user and password (`http://user:password@host` as `http://host`), as
    messages name it: requests sends them, and they belong in no log."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
