"""The client's address: forwarded headers count only when the peer is a trusted proxy.

The per-address rate limit keys on this address. `X-Forwarded-For` is written by whoever
sends the request, so trusting it by hop count alone (`SIGNER_PROXY_HOPS`) let anyone who
reached the app directly pick a fresh address per request (20 of 20 requests through a
5/minute limit). Now a forwarded address is used only when the TCP peer is inside
`SIGNER_TRUSTED_PROXIES` (networks); from any other peer the headers are ignored and the
peer's own address counts. `SIGNER_CLIENT_IP_HEADER` names a header the proxy sets itself
(App Platform: `DO-Connecting-IP`) to use instead of counting `X-Forwarded-For` hops.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated networks or addresses (`10.0.0.0/8, 127.0.0.1`); ValueError names one."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR (and scheme, host) from a proxy's headers, if trusted."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        networks: tuple[Network, ...],
        hops: int,
        client_header: str | None = None,
    ) -> None:
        self.direct = app
        self.networks = networks
        self.header_key = (
            "HTTP_" + client_header.upper().replace("-", "_") if client_header else None
        )
        self.proxied = ProxyFix(app, x_for=0 if client_header else hops, x_proto=hops, x_host=hops)

    def trusted(self, peer: str | None) -> bool:
        address = _address(peer)
        return address is not None and any(address in net for net in self.networks)

    def __call__(self, wsgi_env: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self.trusted(wsgi_env.get("REMOTE_ADDR")):
            return self.direct(wsgi_env, start_response)
        if self.header_key:
            client = _address(wsgi_env.get(self.header_key))
            if client is not None:
                wsgi_env["REMOTE_ADDR"] = str(client)
        return self.proxied(wsgi_env, start_response)
