"""A real Redis-protocol server for the tests: Debian's redis-server (or valkey-server) on loopback.

Limits shared by several signer processes live in such a server in production (DigitalOcean's
managed Valkey); an in-process fake would agree with whatever the client sends. The server runs
with persistence off in a throwaway folder, on a free loopback port, and is always stopped.
`.ci/run` installs the package.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import redis

from servers.seaweed import free_ports, log_excerpt

BINARIES = ("valkey-server", "redis-server")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
START_ATTEMPTS = 3


@dataclass(frozen=True)
class RedisServer:
    """A running server: its URL for clients (`redis://127.0.0.1:PORT`) and its process id."""

    url: str
    pid: int

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=10)

    def flush(self) -> None:
        """Forget every key, so the next test starts with empty counters."""
        with self.client() as client:
            client.flushall()


def server_binary() -> str:
    """valkey-server or redis-server from PATH (Debian's packages), or a message saying how."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "no Redis-protocol server on PATH: apt-get install redis-server (or valkey-server); "
        ".ci/run installs it"
    )


def server_command(binary: str, port: int, rundir: Path) -> list[str]:
    """Loopback only, no persistence, no config file, logs to stdout."""
    return [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(rundir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]


class ServerExited(RuntimeError):
    """The server stopped during startup (its port taken meanwhile, most likely)."""


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """PING until the server answers, retrying: a slow machine may take a while."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExited(f"server exited with status {process.returncode}")
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2) as client:
                if client.ping():
                    return
        except redis.RedisError as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise RuntimeError(
        f"Redis-protocol server at {url} did not answer within {timeout:.0f} s: {last_error}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited in time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT)
            return


def start(rundir: Path) -> tuple[subprocess.Popen[bytes], RedisServer]:
    rundir.mkdir(parents=True)
    (port,) = free_ports(1)
    log = rundir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            server_command(server_binary(), port, rundir),
            cwd=rundir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RedisServer(url=f"redis://127.0.0.1:{port}", pid=process.pid)
    try:
        wait_ready(server.url, process, START_TIMEOUT)
    except RuntimeError as exc:
        stop(process)
        exc.add_note(f"--- {log} ---\n{log_excerpt(log)}")
        raise
    return process, server


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """Run a Redis-protocol server under `workdir` for the block; always stopped afterwards."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            process, server = start(workdir / f"run{attempt}")
            break
        except ServerExited:
            if attempt == START_ATTEMPTS:
                raise
    try:
        yield server
    finally:
        stop(process)
