"""`make run` as a newcomer meets it: the real make, demo, gunicorn and static server.

It checks its ports before any work and names the variables that move them, prints its URLs
only once both servers answer, serves the published files with CORS (Swagger's "Try it out"
reads them from the signer's page, checked in headless Chromium), and SIGTERM to `make`
stops every process it started.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from planner import demo as demo_module

from servers.make_run import RUNNING, Demo, descendants, make_run, running, running_demo
from servers.seaweed import free_ports

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    with running_demo(tmp_path) as started:
        yield started


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_urls_come_once_both_servers_answer_and_sigterm_stops_everything(demo) -> None:
    assert requests.get(f"{demo.signer}/healthz", timeout=30).status_code == 200
    assert requests.get(f"{demo.cdn}/index.json", timeout=30).status_code == 200
    printed = "".join(demo.lines)
    assert f"{demo.signer}/docs" in printed and f"{demo.cdn}/index.html" in printed

    started = descendants(demo.make.pid)
    assert len(started) >= 4, started  # demo, gunicorn master and its two workers
    demo.make.send_signal(signal.SIGTERM)
    demo.make.wait(timeout=120)
    deadline = time.monotonic() + 120
    while any(running(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in started if running(pid)], "processes left after SIGTERM"
    for url in (demo.signer, demo.cdn):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=10)


def test_published_files_allow_cross_origin_reads(demo) -> None:
    origin = {"Origin": demo.signer}
    answer = requests.get(f"{demo.cdn}/index.json", headers=origin, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(
        f"{demo.cdn}/index.json",
        headers={**origin, "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]


def test_a_busy_port_is_named_before_any_work(tmp_path: Path) -> None:
    ports = free_ports(2)
    for taken in ports:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", taken))
            holder.listen()
            process = make_run(tmp_path, ports)
            out, _ = process.communicate(timeout=300)
        message = (tmp_path / "demo.log").read_text()
        assert process.returncode != 0
        name = "PORT" if taken == ports[0] else "CDN_PORT"
        assert f"port {taken} on 127.0.0.1 ({name}) is not free" in message
        assert "make run PORT=8100 CDN_PORT=8101" in message
        assert RUNNING not in out and "http://" not in out
        assert not (tmp_path / "published").exists(), "no work before the ports are checked"


@pytest.mark.parametrize(
    ("name", "value"), [("PORT", "abc"), ("PORT", "70000"), ("CDN_PORT", "80o1")]
)
def test_a_malformed_port_is_named_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setattr(demo_module.subprocess, "run", pytest.fail)  # no work either

    assert demo_module.main() == 1
    message = capsys.readouterr().err
    assert f"{name} must be a port number from 1 to 65535, got {value!r}" in message
    assert "Traceback" not in message


def test_the_demo_never_publishes_to_a_bucket_left_in_the_shell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Deploy steps 6 and 7 export SPACES_*; `make run` in that shell stays local."""
    for name in ("SPACES_BUCKET", "SPACES_ENDPOINT_URL", "SPACES_KEY", "SPACES_SECRET"):
        monkeypatch.setenv(name, "subnet46-published")
    monkeypatch.setenv("S3_BUCKET", "subnet46-data")
    monkeypatch.setenv("PLANNER_STATE", str(tmp_path))
    for name, port in zip(("PORT", "CDN_PORT"), free_ports(2), strict=True):
        monkeypatch.setenv(name, str(port))
    ticks: list[dict[str, str]] = []

    def tick(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
        ticks.append(env)
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(demo_module.subprocess, "run", tick)

    assert demo_module.main() == 1
    assert [name for name in ticks[0] if name.startswith("SPACES_")] == []
    assert ticks[0]["S3_BUCKET"] == "subnet46-data", "the signer's data bucket is still used"


def test_the_demo_starts_again_after_published_is_deleted(tmp_path: Path) -> None:
    """A newcomer deletes published/ to start over: the next `make run` stopped on "is
    PLANNER_PUBLISHED mistyped?", since the state in .planner/ records what was published."""
    with running_demo(tmp_path) as demo:
        assert requests.get(f"{demo.cdn}/index.json", timeout=30).status_code == 200
    shutil.rmtree(tmp_path / "published")
    with running_demo(tmp_path) as demo:
        assert requests.get(f"{demo.cdn}/index.json", timeout=30).status_code == 200
    assert "mistyped" not in (tmp_path / "demo.log").read_text()


def test_the_demo_signer_runs_with_the_procfile_settings(tmp_path: Path) -> None:
    """The demo started gunicorn without signer.gunicorn_conf: no JSON answers to malformed
    requests, no request deadline, and a bad signer setting was a traceback per worker."""
    process = make_run(tmp_path, free_ports(2), {"SIGNER_RATELIMIT_MINER": "10/minut"})
    out, _ = process.communicate(timeout=300)
    log = (tmp_path / "demo.log").read_text()
    assert process.returncode != 0
    assert "Error: SIGNER_RATELIMIT_MINER must be rate limits like" in log
    assert "Traceback" not in log
    assert RUNNING not in out
