"""`make run`: the whole system on this machine from the sample data, no cloud account.

Seals the coming week into published/, reveals the current epoch, serves published/ as the
CDN would (CORS included, so Swagger's "Try it out" reaches it), and starts the signer under
gunicorn, with the Procfile's settings module, on the demo metagraph. The secret is
generated once and kept in the state folder (git-ignored): a demo has no built-in key.

A first run must not surprise: malformed or busy ports are found before any work, the URLs
are printed only once both servers answer, and Ctrl-C or SIGTERM stops every process it
started. It never publishes to a bucket: SPACES_* settings left in the shell (deploy steps 6
and 7 export them) are not passed to its tick. Its tick runs with --rebuild: the folder and
the state are the demo's own pair, so a published/ deleted to start over is published again
from the state rather than refused as a mistyped PLANNER_PUBLISHED.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

START_TIMEOUT = 120.0


def demo_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


class DemoError(Exception):
    """A setting the demo cannot start with; the message names it."""


class CdnHandler(SimpleHTTPRequestHandler):
    """The published folder as Spaces serves it with the CORS rule docs/deploy-digitalocean.md
    sets: any origin may GET, so a page on the signer's port can read these files."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Access-Control-Max-Age", "3600")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """The demo's terminal shows the signer's log, not every static file served."""


def port_setting(environ: dict[str, str], name: str, default: int) -> int:
    """A port from the environment (`default` when unset or empty), or a DemoError naming it."""
    value = environ.get(name) or str(default)
    if not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
        raise DemoError(
            f"cannot start the demo: {name} must be a port number from 1 to 65535, got "
            f"{value!r}, e.g. `make run PORT=8100 CDN_PORT=8101`."
        )
    return int(value)


def local_only(environ: dict[str, str]) -> dict[str, str]:
    """The environment without the publishing bucket's settings: the demo's tick writes the
    local folder that its static server serves, never a real bucket."""
    return {name: value for name, value in environ.items() if not name.startswith("SPACES_")}


def busy_port(host: str, ports: dict[str, int]) -> str | None:
    """A message naming the first port (and its variable) that cannot be bound, or None."""
    for name, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                return (
                    f"cannot start the demo: port {port} on {host} ({name}) is not free "
                    f"({exc.strerror}). Stop what uses it (another `make run`?) or choose "
                    f"other ports, e.g. `make run PORT=8100 CDN_PORT=8101`."
                )
    return None


def serve_published(host: str, port: int, folder: str) -> ThreadingHTTPServer:
    handler = functools.partial(CdnHandler, directory=folder)
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_until_answering(urls: list[str], signer: subprocess.Popen[bytes]) -> bool:
    """True once every URL answers 200; False if gunicorn exits or the deadline passes."""
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(urls)
    while pending:
        if signer.poll() is not None or time.monotonic() > deadline:
            return False
        try:
            if requests.get(pending[0], timeout=5).status_code == 200:
                pending.pop(0)
                continue
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return True


def _stop(signum: int, frame: object) -> None:
    """SIGTERM ends the demo like Ctrl-C, so everything it started is stopped too."""
    raise KeyboardInterrupt


def _stop_signer(signer: subprocess.Popen[bytes]) -> None:
    """gunicorn's master stops its workers on SIGTERM; SIGKILL the group if it hangs."""
    signer.terminate()
    try:
        signer.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(signer.pid, signal.SIGKILL)
        signer.wait()


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    try:
        return _run()
    except DemoError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _run() -> int:
    environ = dict(os.environ)
    host = environ.get("HOST", "127.0.0.1")
    port = port_setting(environ, "PORT", 8000)
    cdn_port = port_setting(environ, "CDN_PORT", port + 1)
    problem = busy_port(host, {"PORT": port, "CDN_PORT": cdn_port})
    if problem:
        print(problem, file=sys.stderr)
        return 1
    cdn = f"http://{host}:{cdn_port}"
    env = local_only(environ)
    state = Path(env.get("PLANNER_STATE", ".planner"))
    env.setdefault("PLANNER_SECRET", demo_secret(state / "demo-secret"))
    env.update(
        SIGNER_METAGRAPH=env.get("SIGNER_METAGRAPH", "data/metagraph.demo.json"),
        SIGNER_PUBLISHED=env.get("SIGNER_PUBLISHED", env.get("PLANNER_PUBLISHED", "published")),
        SIGNER_CDN_URL=env.get("SIGNER_CDN_URL", cdn),
        SIGNER_METAGRAPH_MAX_AGE=env.get("SIGNER_METAGRAPH_MAX_AGE", "0"),
        SIGNER_METAGRAPH_REFRESH=env.get("SIGNER_METAGRAPH_REFRESH", "0"),
    )
    tick = subprocess.run([sys.executable, "-m", "planner", "tick", "--rebuild"], env=env)
    if tick.returncode:
        return tick.returncode
    static = serve_published(host, cdn_port, env.get("PLANNER_PUBLISHED", "published"))
    signer = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "--config", "python:signer.gunicorn_conf"),
            *("--bind", f"{host}:{port}"),
            *("--workers", "2", "--timeout", "30", "signer:create_app()"),
        ],
        env=env,
        start_new_session=True,
    )
    try:
        if not wait_until_answering([f"http://{host}:{port}/healthz", f"{cdn}/index.json"], signer):
            print("the signer did not start: see gunicorn's messages above", file=sys.stderr)
            return 1
        print(
            "\nSubnet 46 demo is running (Ctrl-C stops it):\n"
            f"  Swagger UI (every API)   http://{host}:{port}/docs\n"
            f"  signer landing page      http://{host}:{port}/\n"
            f"  current assignment       http://{host}:{port}/assignments/current\n"
            f"  status page (the 'CDN')  {cdn}/index.html\n"
            f"  published files          {cdn}/index.json\n"
            "Demo keys: //Alice is a validator, //Bob and //Charlie are miners "
            "(see data/README.md).\n",
            flush=True,
        )
        return signer.wait()
    finally:
        _stop_signer(signer)
        static.shutdown()
        static.server_close()


if __name__ == "__main__":
    sys.exit(main())
