"""The per-address limit keys on an address nobody can spoof, with and without a proxy in front.

With `SIGNER_PROXY_HOPS=1` alone, a client reaching the app directly chose its address with
`X-Forwarded-For` (20 of 20 requests through a 5/minute limit). Forwarded headers now count
only when the TCP peer is in `SIGNER_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from signer import create_app
from signer.config import ENV_NAMES, ConfigError

from servers.fake_chain import DEMO_METAGRAPH
from servers.forwarding_proxy import PROXY_SOURCE, forwarding_proxy
from servers.signer_gunicorn import gunicorn_signer

LIMIT = 5
SENT = 20


def limited(signer_config, **settings):
    config = {**signer_config, "SIGNER_RATELIMIT_ADDRESS": f"{LIMIT}/minute", **settings}
    return create_app(config).test_client()


def passed(client, peer: str, headers_for) -> int:
    """How many of SENT requests from `peer` got through, each with its own headers."""
    statuses = [
        client.get(
            "/assignments/current", headers=headers_for(i), environ_base={"REMOTE_ADDR": peer}
        ).status_code
        for i in range(SENT)
    ]
    assert set(statuses) <= {200, 503, 429}
    return sum(status != 429 for status in statuses)


def spoofed(i: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{i}", "DO-Connecting-IP": f"198.51.100.{i}"}


PROXIED = {"SIGNER_PROXY_HOPS": "1", "SIGNER_TRUSTED_PROXIES": "10.0.0.0/8"}


def test_a_client_reaching_the_app_directly_cannot_spoof_its_address(signer_config):
    client = limited(signer_config, **PROXIED)
    assert passed(client, "203.0.113.7", spoofed) == LIMIT


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(signer_config):
    client = limited(signer_config, **PROXIED)
    assert passed(client, "10.1.2.3", spoofed) == SENT
    # The proxy appends the address it saw: what the client prepended does not count.
    same_client = passed(
        client, "10.1.2.3", lambda i: {"X-Forwarded-For": f"198.51.100.{i}, 192.0.2.99"}
    )
    assert same_client == LIMIT


def test_a_trusted_proxy_seen_as_an_ipv4_mapped_address_is_trusted(signer_config):
    """A dual-stack listener sees an IPv4 proxy as `::ffff:10.1.2.3`: it was not in
    `10.0.0.0/8`, so every client behind it shared the proxy's one limit."""
    client = limited(signer_config, **PROXIED)
    assert passed(client, "::ffff:10.1.2.3", spoofed) == SENT
    assert passed(client, "::ffff:203.0.113.9", spoofed) == LIMIT


def test_the_proxys_own_header_replaces_hop_counting(signer_config):
    client = limited(
        signer_config,
        SIGNER_TRUSTED_PROXIES="10.0.0.0/8",
        SIGNER_CLIENT_IP_HEADER="DO-Connecting-IP",
    )
    assert passed(client, "10.1.2.3", spoofed) == SENT
    one_client = {"DO-Connecting-IP": "192.0.2.99"}
    assert passed(client, "10.1.2.3", lambda i: {**spoofed(i), **one_client}) == LIMIT
    assert passed(client, "203.0.113.8", spoofed) == LIMIT


def test_without_trusted_proxies_forwarded_headers_are_ignored(signer_config):
    client = limited(signer_config)
    assert passed(client, "10.1.2.3", spoofed) == LIMIT


# Spellings of one client: each was a counter of its own (a proxy writing ports into
# X-Forwarded-For gave every source port a fresh limit; a host picks any address of its /64).
ONE_CLIENT = {
    "ipv4": ["198.51.100.7", "198.51.100.7:1111", "198.51.100.7:2222", "::ffff:198.51.100.7"],
    "ipv6": ["2001:db8::5", "2001:DB8::5", "[2001:db8::6]", "[2001:db8::7]:443", "2001:db8::8"],
}


@pytest.mark.parametrize("family", sorted(ONE_CLIENT))
@pytest.mark.parametrize("header", ["X-Forwarded-For", "DO-Connecting-IP"])
def test_a_forwarded_client_is_one_counter_however_its_address_is_spelled(
    signer_config, header, family
):
    read = (
        {"SIGNER_PROXY_HOPS": "1"}
        if header == "X-Forwarded-For"
        else {"SIGNER_CLIENT_IP_HEADER": header}
    )
    client = limited(signer_config, SIGNER_TRUSTED_PROXIES="10.0.0.0/8", **read)
    spellings = ONE_CLIENT[family]
    assert passed(client, "10.1.2.3", lambda i: {header: spellings[i % len(spellings)]}) == LIMIT


def test_a_forwarded_value_that_is_no_address_counts_as_the_proxy(signer_config):
    client = limited(signer_config, **PROXIED)
    assert passed(client, "10.1.2.3", lambda i: {"X-Forwarded-For": f"unknown-{i}"}) == LIMIT


def test_direct_ipv6_clients_are_counted_by_their_64(signer_config):
    client = limited(signer_config)
    peers = [f"2001:db8:0:1::{i:x}" for i in range(1, SENT + 1)]
    statuses = [
        client.get("/assignments/current", environ_base={"REMOTE_ADDR": peer}).status_code
        for peer in peers
    ]
    assert sum(status != 429 for status in statuses) == LIMIT
    other_64 = client.get("/assignments/current", environ_base={"REMOTE_ADDR": "2001:db8:0:2::1"})
    assert other_64.status_code != 429


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"SIGNER_PROXY_HOPS": "1"}, "SIGNER_TRUSTED_PROXIES"),
        ({"SIGNER_CLIENT_IP_HEADER": "DO-Connecting-IP"}, "SIGNER_TRUSTED_PROXIES"),
        ({"SIGNER_TRUSTED_PROXIES": "10.0.0.0/8, not-a-network"}, "not-a-network"),
        ({"SIGNER_CLIENT_IP_HEADER": "Bad Header"}, "SIGNER_CLIENT_IP_HEADER"),
    ],
)
def test_proxy_settings_that_cannot_work_fail_at_startup(signer_config, settings, named):
    with pytest.raises(ConfigError, match=named):
        create_app({**signer_config, **settings})


# --- under gunicorn, over real sockets -----------------------------------------------------


def get(base: str, source: str, headers: dict[str, str]) -> int:
    """GET /assignments/current from the loopback address `source`."""
    target = urlsplit(base)
    connection = http.client.HTTPConnection(
        target.hostname, target.port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/assignments/current", headers=headers)
        answer = connection.getresponse()
        if answer.status >= 400 and answer.status != 503:
            assert json.loads(answer.read())["error"] == "rate_limited"
        return answer.status
    finally:
        connection.close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    env = {
        "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(tmp_path),
        "SIGNER_RATELIMIT_ADDRESS": f"{LIMIT}/minute",
        "SIGNER_PROXY_HOPS": "1",
        "SIGNER_TRUSTED_PROXIES": f"{PROXY_SOURCE}/32",
    }
    with gunicorn_signer(env, tmp_path) as base:
        yield base


@pytest.mark.slow
def test_under_gunicorn_direct_clients_are_limited_and_proxied_ones_counted_apart(served):
    direct = [get(served, "127.0.0.1", spoofed(i)) for i in range(SENT)]
    assert sum(status != 429 for status in direct) == LIMIT
    with forwarding_proxy(served) as proxy:
        clients = [get(proxy, f"127.0.0.{10 + i}", spoofed(i)) for i in range(SENT)]
        assert 429 not in clients
        one_client = [get(proxy, "127.0.0.9", spoofed(i)) for i in range(SENT)]
        assert sum(status != 429 for status in one_client) == LIMIT
