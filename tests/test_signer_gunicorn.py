"""gunicorn serves `signer:create_app()` exactly as the Procfile starts it."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import requests

from signer.config import ENV_NAMES

from servers import signer_client as sc
from servers.fake_chain import DEMO_METAGRAPH as DEMO
from servers.seaweed import free_ports
from servers.signer_gunicorn import ROOT, demo_env, gunicorn_signer, procfile_command

pytestmark = pytest.mark.slow


def test_procfile_runs_gunicorn_on_the_app_factory():
    command = procfile_command(8123, workers=3)
    assert command[0].endswith("gunicorn")
    assert command[-1] == "signer:create_app()"
    assert command[command.index("--bind") + 1] == "127.0.0.1:8123"
    assert command[command.index("--workers") + 1] == "3"


def test_gunicorn_serves_signed_requests_and_docs(tmp_path, monkeypatch):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    env = {
        "SIGNER_METAGRAPH": str(DEMO),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(tmp_path),
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "subnet46-test",
        "S3_ACCESS_KEY_ID": "AKIATESTSIGNER",
        "S3_SECRET_ACCESS_KEY": "gunicorn-secret",
    }
    with gunicorn_signer(env, tmp_path) as base:
        body = sc.folder_access(timestamp=int(time.time()))
        granted = requests.post(f"{base}/get-folder-access", json=body, timeout=10)
        assert granted.status_code == 200, granted.text
        assert granted.json()["folder"].startswith(f"data/hotkey={sc.address('//Bob')}/epoch=")
        refused = requests.post(
            f"{base}/get-folder-access", json={**body, "signature": "00" * 64}, timeout=10
        )
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_signature"
        docs = requests.get(f"{base}/docs", timeout=10)
        assert docs.status_code == 200
        assert requests.get(f"{base}/docs/assets/js/swagger-ui-bundle.js", timeout=10).ok
        assert requests.get(f"{base}/openapi.json", timeout=10).json()["openapi"] == "3.1.0"
    log = (tmp_path / "gunicorn.log").read_text()
    assert '"endpoint": "/get-folder-access"' in log
    assert body["signature"] not in log
    assert "gunicorn-secret" not in log


def test_gunicorn_opens_no_control_socket(tmp_path):
    """gunicorn 25.1 and later open a control socket for `gunicornc` (worker counts, reload,
    shutdown) at $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl: one path for
    every gunicorn of the user, each start removing the last one's, and a way to stop the
    signer that it never uses. None is opened."""
    home = tmp_path / "home"
    home.mkdir()
    env = demo_env(tmp_path) | {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
    with gunicorn_signer(env, tmp_path) as base:
        assert requests.get(f"{base}/healthz", timeout=10).ok
        assert list(home.iterdir()) == []
    assert "Control socket" not in (tmp_path / "gunicorn.log").read_text()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "SIGNER_METAGRAPH is required: the path of the metagraph snapshot JSON"),
        (
            {"SIGNER_METAGRAPH": str(DEMO), "SIGNER_RATELIMIT_MINER": "10/minut"},
            "SIGNER_RATELIMIT_MINER must be rate limits like '10/minute;200/day', got '10/minut'",
        ),
    ],
)
def test_gunicorn_with_a_bad_setting_stops_with_its_message_not_a_traceback(
    tmp_path, monkeypatch, env, says
):
    """Each worker printed a traceback of create_app, then the master gave up with "Worker
    failed to boot": the setting was named only deep inside the log (App Platform's)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    started = subprocess.run(
        procfile_command(free_ports(1)[0], workers=2),
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    assert f"Error: {says}" in started.stderr
    assert "Traceback" not in started.stderr
    assert "Booting worker" not in started.stderr, "nothing is started with a bad setting"
