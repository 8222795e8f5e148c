"""A failed request in words, the same wherever the kit made it.

A server that takes the connection and never answers (a hung CDN, bucket or drand relay),
or stops taking an upload's body, is not one that refuses it, and the exception's name alone
("ReadTimeout", "ConnectionError") does not say that the caller gave up, nor how long it
waited, nor whether the server refused the connection or its host name does not resolve (a
typo in the URL). Nor does it say that the request went to a proxy that the environment
names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, which requests follows), the first thing to
check when a server that is up cannot be reached. A TLS failure says it is one and why (a
certificate not trusted or for another name, or https:// to a port that speaks plain HTTP),
and a SOCKS proxy that requests cannot use without PySocks says what to install or which
variable to unset. Every part of the kit that reads over
HTTP words its failures with `failure`, so a message in a miner's log says all that in the
same words whether the assignment, storage or drand failed. Nothing of requests' own
message is repeated: it quotes the URL, a presigned signature included.
"""

from __future__ import annotations

import os
import ssl
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies, select_proxy
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import ProxyError as ProxyFailure
from urllib3.exceptions import SSLError as TLSFailure


def failure(exc: requests.RequestException, timeout: float, url: str) -> str:
    """The exception's name and, in parentheses, what is known of why: for a timeout how
    long nothing came (before the answer, or within its body, which requests raises as a
    ConnectionError) or nothing could be sent (a server that stopped taking an upload's
    body, a ConnectionError too); a connection refused, a host name that does not resolve,
    a TLS failure; and the proxy the environment sends `url` through, if any, or, for a SOCKS
    proxy requests cannot use, what to do about it."""
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.InvalidSchema) and (socks := _socks_unusable(url)):
        return f"{name} ({socks})"
    said = []
    if _timed_out_receiving(exc):
        said.append(f"nothing received in {timeout:g} s")
    elif _timed_out_sending(exc):
        said.append(f"nothing sent in {timeout:g} s")
    elif cause := _cause(exc):
        said.append(cause)
    elif isinstance(exc, requests.exceptions.SSLError):
        said.append("a TLS/certificate problem")
    if proxy := environment_proxy(url):
        setting, address = proxy
        said.append(
            f"through the proxy {address}, set by {setting} (NO_PROXY lists the hosts reached "
            "without it)"
        )
    return f"{name} ({'; '.join(said)})" if said else name


def _socks_unusable(url: str) -> str | None:
    """What to do when requests refuses a SOCKS proxy ("Missing dependencies for SOCKS
    support", InvalidSchema): PySocks is not installed."""
    proxy = environment_proxy(url)
    if proxy is None or not proxy[1].lower().startswith("socks"):
        return None
    setting, address = proxy
    remedy = f"take it out of {SYSTEM}" if setting == SYSTEM else f"unset {setting}"
    return (
        f"the proxy {address}, set by {setting}, is a SOCKS proxy, which requests reaches "
        f"only with PySocks: pip install requests[socks], or {remedy}"
    )


SYSTEM = "the system's proxy settings"
"""Where requests finds a proxy that no variable names: macOS's and Windows' own settings."""


def environment_proxy(url: str) -> tuple[str, str] | None:
    """The setting that names the proxy requests sends `url` through (a variable, or the
    system's settings), and the proxy without any user and password in it; None when none
    is set for `url`."""
    try:
        proxies = get_environ_proxies(url)
        chosen = select_proxy(url, proxies)
    except ValueError:
        return None
    if not chosen:
        return None
    scheme = urlsplit(url).scheme.lower()
    kinds = [kind for kind in (scheme, "all") if proxies.get(kind) == chosen]
    names = [name for name in os.environ if name.lower() in {f"{k}_proxy" for k in kinds}]
    setting = next((n for n in names if n.islower()), names[0] if names else SYSTEM)
    return setting, _without_user(chosen)


def _without_user(proxy: str) -> str:
    """The proxy as scheme://host:port, without a user and password (they belong in no log,
    and may hold any character but @); one given without a scheme is http://, as requests
    takes it."""
    scheme, _, rest = proxy.rpartition("://")
    host = rest.rpartition("@")[2].split("/", 1)[0]
    return f"{scheme or 'http'}://{host}"


def _cause(exc: requests.RequestException) -> str | None:
    """Why the connection failed, from urllib3's reason, in words naming no URL."""
    reason = next((a.reason for a in exc.args if isinstance(a, MaxRetryError)), None)
    if isinstance(reason, ProxyFailure):
        inner = next((a for a in reason.args if isinstance(a, Exception)), None)
        how = _connecting(inner)
        return "cannot connect to the proxy" + (f": {how}" if how else "")
    if isinstance(reason, TLSFailure):
        return _tls(reason)
    return _connecting(reason)


def _tls(reason: TLSFailure) -> str:
    """Why the TLS handshake failed, in OpenSSL's words without its source line."""
    said = "a TLS/certificate problem"
    failed = next((a for a in reason.args if isinstance(a, ssl.SSLError)), None)
    if isinstance(failed, ssl.SSLCertVerificationError):
        return f"{said}: certificate verify failed: {failed.verify_message.rstrip('.')}"
    if failed is None or not failed.reason:
        return said
    why = failed.reason.replace("_", " ").lower()
    if failed.reason == "WRONG_VERSION_NUMBER":
        why += (
            ": the server does not speak TLS there; is it a plain HTTP port, to be addressed "
            "with http://?"
        )
    return f"{said}: {why}"


def _connecting(reason: object) -> str | None:
    if isinstance(reason, NameResolutionError):
        return "the host name does not resolve"
    if isinstance(reason, NewConnectionError):
        cause = reason.__cause__
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
    return None


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
