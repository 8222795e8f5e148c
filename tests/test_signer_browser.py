"""A real headless Chromium renders /docs with every endpoint, with the internet cut off."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from signer.config import ENV_NAMES

from servers.fake_chain import DEMO_METAGRAPH
from servers.signer_gunicorn import gunicorn_signer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATIONS = [
    "/get-folder-access",
    "/get-validator-access",
    "/api/v1/s3-access/validator-upload",
    "/get-miner-list",
    "/assignments/current",
    "/api/v1/zipcode-assignments/current",
    "/healthz",
    "/readyz",
    "/index.json",
    "/current.json",
    "/epochs/{epochId}.json",
    "/sealed/{epochId}.tlock",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("no Chromium on this machine (.ci/run installs it)")


def test_swagger_ui_renders_every_endpoint_offline(tmp_path, monkeypatch):
    browser = chromium()
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    env = {
        "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(tmp_path),
    }
    with gunicorn_signer(env, tmp_path) as base:
        rendered = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                # Anything not on loopback goes to a dead proxy: the page must not need it.
                "--proxy-server=http://127.0.0.1:9",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=20000",
                "--dump-dom",
                f"{base}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    dom = rendered.stdout
    assert "swagger-ui" in dom, rendered.stderr[-2000:]
    assert "Subnet 46 signer" in dom
    for path in OPERATIONS:
        assert f'data-path="{path}"' in dom, path
