"""A TLS-terminating recording proxy on loopback, in front of an S3 server.

botocore streams upload checksums as aws-chunked bodies with trailers only over HTTPS; over
plain HTTP the same upload looks fine. To see what an endpoint such as DigitalOcean Spaces
would receive, clients talk HTTPS to this proxy (a self-signed certificate for 127.0.0.1 that
they trust through AWS_CA_BUNDLE / REQUESTS_CA_BUNDLE), which records each request exactly as
it arrived (method, path, headers, body) and forwards it to the S3 server over plain HTTP.
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "trailer", "expect"}
UPSTREAM_TIMEOUT = 60


@dataclass(frozen=True)
class Recorded:
    """One request as the proxy received it; header names in lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    trailers: dict[str, str] = field(default_factory=dict)

    def streaming_problems(self) -> list[str]:
        """What Spaces refuses in this request: aws-chunked bodies, streaming SigV4, trailers."""
        problems = []
        if "aws-chunked" in self.headers.get("content-encoding", ""):
            problems.append(f"Content-Encoding: {self.headers['content-encoding']}")
        sha = self.headers.get("x-amz-content-sha256", "")
        if sha.startswith("STREAMING-"):
            problems.append(f"x-amz-content-sha256: {sha}")
        for name in ("x-amz-trailer", "x-amz-decoded-content-length"):
            if name in self.headers:
                problems.append(f"{name}: {self.headers[name]}")
        if self.trailers:
            problems.append(f"HTTP trailers: {', '.join(sorted(self.trailers))}")
        return problems


@dataclass
class TLSRecorder:
    """The proxy's HTTPS URL, the certificate clients must trust, and what it received."""

    url: str
    certificate: Path
    requests: list[Recorded] = field(default_factory=list)

    def uploads(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("PUT", "POST")]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "proxy.crt", folder / "proxy.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def read_chunked(rfile) -> tuple[bytes, dict[str, str]]:
    """An HTTP/1.1 chunked body and its trailer fields."""
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            break
        body += rfile.read(size)
        rfile.readline()
    trailers = {}
    while (line := rfile.readline().strip()) != b"":
        name, _, value = line.decode("latin-1").partition(":")
        trailers[name.strip().lower()] = value.strip()
    return bytes(body), trailers


def handler_for(recorder: TLSRecorder, upstream: str) -> type[BaseHTTPRequestHandler]:
    target = urlparse(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _relay(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            trailers: dict[str, str] = {}
            if "chunked" in headers.get("transfer-encoding", ""):
                body, trailers = read_chunked(self.rfile)
            else:
                body = self.rfile.read(int(headers.get("content-length", 0)))
            recorder.requests.append(Recorded(self.command, self.path, headers, body, trailers))
            forward = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or "content-length" in headers:
                forward["Content-Length"] = str(len(body))
            connection = http.client.HTTPConnection(
                target.hostname or "127.0.0.1", target.port, timeout=UPSTREAM_TIMEOUT
            )
            try:
                connection.request(self.command, self.path, body=body, headers=forward)
                answer = connection.getresponse()
                payload = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

    return Handler


@contextmanager
def tls_recorder(upstream: str, folder: Path) -> Iterator[TLSRecorder]:
    """Serve HTTPS on a free loopback port, forwarding to `upstream` (http://host:port)."""
    cert_path, key_path = self_signed_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    recorder = TLSRecorder(url="", certificate=cert_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(recorder, upstream))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    recorder.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="tls-recorder", daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
