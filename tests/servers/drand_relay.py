"""A drand HTTP relay on loopback that serves real quicknet beacons.

It speaks the relay API (`/{chainHash}/info`, `/{chainHash}/public/{round}`) with the real
signature of each round it knows, so decryption proves the same thing it proves against
the public relays. Rounds it does not know answer 425 Too Early, as a relay does for a
round that is not out yet.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clientkit import drand
from clientkit.epochs import QUICKNET_CHAIN_HASH

# Public quicknet test vector (docs/design.md, "Testing"): round 123 and its BLS signature.
TEST_ROUND = 123
TEST_SIGNATURE = (
    "b75c69d0b72a5d906e854e808ba7e2accb1542ac355ae486d591aa9d43765482"
    "e26cd02df835d3546d23c4b13e0dfc92"
)


@dataclass
class Relay:
    url: str
    beacons: dict[int, str] = field(default_factory=lambda: {TEST_ROUND: TEST_SIGNATURE})
    requests: list[str] = field(default_factory=list)
    down: bool = False


def _handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            relay.requests.append(self.path)
            if relay.down:
                self._send(503, {"error": "relay down"})
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts == [QUICKNET_CHAIN_HASH, "info"]:
                info = drand.chain_info()
                self._send(
                    200,
                    {
                        "public_key": info["publicKey"],
                        "period": info["period"],
                        "genesis_time": info["genesisTime"],
                        "hash": QUICKNET_CHAIN_HASH,
                        "schemeID": info["scheme"],
                    },
                )
                return
            if len(parts) == 3 and parts[0] == QUICKNET_CHAIN_HASH and parts[1] == "public":
                try:
                    number = int(parts[2])
                except ValueError:
                    self._send(400, {"error": "bad round"})
                    return
                signature = relay.beacons.get(number)
                if signature is None:
                    self._send(425, {"error": "Too Early"})
                    return
                self._send(
                    200,
                    {
                        "round": number,
                        "randomness": hashlib.sha256(bytes.fromhex(signature)).hexdigest(),
                        "signature": signature,
                    },
                )
                return
            self._send(404, {"error": "not found"})

    return Handler


@contextmanager
def drand_relay() -> Iterator[Relay]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Relay("")))
    relay = Relay(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(relay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        server.shutdown()
        server.server_close()
