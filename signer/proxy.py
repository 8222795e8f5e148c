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

import functools
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


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str | None) -> Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def client_address(text: str | None) -> Address | None:
    """A forwarded client address as one spelling, or None if it is none: a port and
    brackets dropped (`198.51.100.7:1111`, `[2001:db8::5]:443`), an IPv4-mapped IPv6
    address as IPv4, no scope id. Each spelling was a rate-limit counter of its own."""
    value = (text or "").strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    address = _address(value)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return ipaddress.IPv6Address(int(address))
    return address


@functools.lru_cache(maxsize=4096)
def limit_key(address: str) -> str:
    """Who the per-address limit counts for `address`: itself if IPv4, its /64 if IPv6 (a
    host is given a /64 and may use any address in it)."""
    parsed = client_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(parsed) >> 64 << 64, 64)))
    return str(parsed) if parsed is not None else address


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR (and scheme, host) from a proxy's headers, if trusted."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        networks: tuple[Network, ...],
        hops: int,
        client_header: str | None = None,
    ) -> None:
        self.networks = networks
        self.header_key = (
            "HTTP_" + client_header.upper().replace("-", "_") if client_header else None
        )
        self.app = app
        self.proxied = ProxyFix(
            self._spelled, x_for=0 if client_header else hops, x_proto=hops, x_host=hops
        )

    def _spelled(self, wsgi_env: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The app, behind ProxyFix, seeing the forwarded address (the proxy's own header,
        else what ProxyFix took from X-Forwarded-For) as client_address spells it, or the
        proxy's own address when the forwarded value is no address."""
        forwarded = wsgi_env.get(self.header_key or "REMOTE_ADDR")
        client = client_address(forwarded) or _address(
            wsgi_env["werkzeug.proxy_fix.orig"]["REMOTE_ADDR"]
        )
        wsgi_env["REMOTE_ADDR"] = str(client)
        return self.app(wsgi_env, start_response)

    def trusted(self, peer: str | None) -> bool:
        """Whether the TCP peer is a trusted proxy: an IPv4 proxy that a dual-stack listener
        sees as `::ffff:10.1.2.3` is 10.1.2.3."""
        address = client_address(peer)
        return address is not None and any(address in net for net in self.networks)

    def __call__(self, wsgi_env: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self.trusted(wsgi_env.get("REMOTE_ADDR")):
            return self.app(wsgi_env, start_response)
        return self.proxied(wsgi_env, start_response)
