"""The signer under gunicorn on loopback, started with the Procfile's command."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from servers.fake_chain import DEMO_METAGRAPH
from servers.ready import wait_for_http
from servers.seaweed import free_ports

ROOT = Path(__file__).resolve().parents[2]


def demo_env(published: Path) -> dict[str, str]:
    """A signer on the demo metagraph, read once at start, with no bucket: the settings of
    the tests that exercise gunicorn itself rather than the signer's credentials."""
    return {
        "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(published),
    }


def procfile_command(port: int, workers: int = 1) -> list[str]:
    """The Procfile's `web:` line with its ${VAR:-default}s filled in, bound to loopback."""
    line = next(
        entry.removeprefix("web:").strip()
        for entry in (ROOT / "Procfile").read_text().splitlines()
        if entry.startswith("web:")
    )
    line = line.replace("${PORT:-8000}", str(port)).replace("${WEB_CONCURRENCY:-2}", str(workers))
    command = shlex.split(line.replace("0.0.0.0:", "127.0.0.1:"))
    command[0] = str(Path(sys.executable).with_name(command[0]))
    return command


@contextmanager
def gunicorn_signer(env: Mapping[str, str], workdir: Path, workers: int = 1) -> Iterator[str]:
    """Run the signer with `env` (and none of the caller's own SIGNER_/S3_ settings) until
    the block ends; yields its base URL."""
    (port,) = free_ports(1)
    log = (workdir / "gunicorn.log").open("w+b")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNER_", "S3_"))}
    process = subprocess.Popen(
        procfile_command(port, workers),
        cwd=ROOT,
        env={**inherited, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def check_alive() -> None:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"gunicorn exited:\n{log.read().decode(errors='replace')}")

    try:
        wait_for_http(f"{base}/healthz", check_alive)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def signer_requests(log: Path, endpoint: str) -> int:
    """How many requests of `endpoint` the signer's request log (`gunicorn.log` in the
    workdir, one JSON line each) holds."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return sum(e.get("event") == "request" and e.get("endpoint") == endpoint for e in lines)
