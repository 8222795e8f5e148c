"""A real headless Chromium, cut off from everything but loopback, uses the two web pages.

The signer runs under gunicorn as the Procfile starts it and the planner's published
folder is served by a static server (the CDN's stand-in). Chromium resolves no name but
127.0.0.1, so a page that needed the internet (a CDN script, a font) would break here; the
browser's own network log is checked too. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from planner.jobs import tick
from signer.config import ENV_NAMES

from conftest import REPO
from servers import signer_client as sc
from servers.fake_chain import DEMO_METAGRAPH
from servers.make_run import running_demo
from servers.signer_gunicorn import gunicorn_signer
from servers.static_http import serve_folder

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = "chromedriver"
WAIT = 60


def _find_browser() -> tuple[str, str]:
    browser = next((path for name in CHROMIUM if (path := shutil.which(name))), None)
    driver = shutil.which(CHROMEDRIVER)
    if browser is None or driver is None:
        pytest.skip(
            "no Chromium with chromedriver on this machine "
            "(apt-get install chromium chromium-driver; .ci/run installs them)"
        )
    return browser, driver


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    browser, driver = _find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--window-size=1400,2200",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = webdriver.ChromeService(executable_path=driver, log_output=str(tmp_path / "cd.log"))
    session = webdriver.Chrome(options=options, service=service)
    try:
        yield session
    finally:
        session.quit()


def requested_urls(chrome: webdriver.Chrome) -> set[str]:
    """Every URL the page asked the network for, from Chromium's DevTools log."""
    urls = set()
    for entry in chrome.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.add(message["params"]["request"]["url"])
    return urls


def assert_loopback_only(urls: set[str]) -> None:
    remote = {u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert remote, "the network log recorded nothing"
    assert {urlparse(u).hostname for u in remote} == {"127.0.0.1"}, remote


def screenshot(chrome: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    chrome.save_screenshot(str(path))
    return path


@pytest.fixture
def published(make_planner, tmp_path: Path) -> Path:
    """A day sealed ahead and the current epoch revealed, at the real clock (gunicorn's)."""
    planner = make_planner(horizon=timedelta(days=1))
    now = datetime.now(UTC)
    plan, _ = tick(planner, now - timedelta(hours=8))
    assert plan.sealed
    tick(planner, now)
    return tmp_path / "published"


@pytest.fixture
def signer_url(published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    env = {
        "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(published),
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_BUCKET": "subnet46-test",
        "S3_ACCESS_KEY_ID": "AKIATESTSIGNER",
        "S3_SECRET_ACCESS_KEY": "browser-test-secret",
    }
    with gunicorn_signer(env, tmp_path) as base:
        yield base


def operation(block) -> tuple[str, str]:
    """(METHOD, path) of one Swagger UI operation block."""
    method = block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.upper()
    path = block.find_element(By.CSS_SELECTOR, ".opblock-summary [data-path]")
    return method, path.get_attribute("data-path")


def swagger_operations(chrome, base: str) -> tuple[WebDriverWait, dict[tuple[str, str], Any]]:
    """Open `base`/docs: a wait on the page, and its operation blocks by (METHOD, path)."""
    chrome.get(f"{base}/docs")
    wait = WebDriverWait(chrome, WAIT)
    try:
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    except TimeoutException:
        screenshot(chrome, "docs-failed.png")
        raise
    blocks = chrome.find_elements(By.CSS_SELECTOR, ".opblock")
    return wait, {operation(block): block for block in blocks}


def try_it_out(wait: WebDriverWait, block, body: str | None = None) -> None:
    """Open the operation and press Try it out; with `body`, it replaces the example body."""
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".execute"))
    if body is not None:
        editor = wait.until(
            lambda _: block.find_elements(By.CSS_SELECTOR, "textarea.body-param__text")
        )
        editor[0].send_keys(Keys.CONTROL, "a")
        editor[0].send_keys(Keys.DELETE)
        editor[0].send_keys(body)


def execute(chrome, wait: WebDriverWait, block, shot: str) -> tuple[str, str]:
    """Press Execute: the live response's status and body, once screenshot as `shot`."""
    block.find_element(By.CSS_SELECTOR, ".execute").click()
    status = wait.until(
        lambda _: block.find_elements(
            By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"
        )
    )
    chrome.execute_script("arguments[0].scrollIntoView()", block)
    screenshot(chrome, shot)
    answer = block.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    return status[0].text.strip(), answer


def spec_operations(base: str) -> set[tuple[str, str]]:
    spec = requests.get(f"{base}/openapi.json", timeout=10).json()
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }


def test_swagger_ui_shows_every_operation_and_runs_one(chrome, signer_url, published):
    expected = spec_operations(signer_url)
    wait, blocks = swagger_operations(chrome, signer_url)
    assert set(blocks) == expected
    assert "Subnet 46 signer" in chrome.find_element(By.CSS_SELECTOR, ".info .title").text
    screenshot(chrome, "docs.png")

    block = blocks[("GET", "/assignments/current")]
    try_it_out(wait, block)
    status, body = execute(chrome, wait, block, "docs-try-it-out.png")
    assert status == "200"
    current = json.loads((published / "current.json").read_text())
    assert json.loads(body)["epochId"] == current["epochId"]
    assert_loopback_only(requested_urls(chrome))


def test_swagger_try_it_out_gets_credentials_for_a_signed_body(chrome, signer_url):
    """A validator signs the documented message itself, pastes the body into Try it out and
    gets its credentials: the explorer sends what a client would."""
    timestamp = int(time.time())
    body = {
        "hotkey": sc.address("//Alice"),
        "timestamp": timestamp,
        "signature": sc.sign("//Alice", f"s3:validator:access:{timestamp}"),
    }
    wait, blocks = swagger_operations(chrome, signer_url)
    block = blocks[("POST", "/get-validator-access")]
    try_it_out(wait, block, json.dumps(body))
    status, answer = execute(chrome, wait, block, "docs-signed-try-it-out.png")
    assert status == "200", answer
    assert json.loads(answer)["validator_hotkey"] == body["hotkey"]


def test_swagger_try_it_out_sends_a_header_signed_request(chrome, signer_url):
    """The X-Tao-* headers the document declares are fields of Try it out: a miner signs the
    body it pastes, fills in the headers, and gets its upload form."""
    body = '{"job_id": "zillow-pa", "filename": "data_1.parquet"}'
    headers = sc.tao_headers("//Bob", body.encode())
    wait, blocks = swagger_operations(chrome, signer_url)
    block = blocks[("POST", "/get-file-upload-url")]
    try_it_out(wait, block, body)
    version = block.find_element(By.CSS_SELECTOR, 'tr[data-param-name="X-Tao-Version"] select')
    Select(version).select_by_visible_text(headers["X-Tao-Version"])
    for name in ("X-Tao-Timestamp", "X-Tao-Nonce", "X-Tao-Signed-By", "X-Tao-Signature"):
        field = block.find_element(By.CSS_SELECTOR, f'tr[data-param-name="{name}"] input')
        field.send_keys(headers[name])
    status, answer = execute(chrome, wait, block, "docs-header-signed-try-it-out.png")
    assert status == "200", answer
    assert json.loads(answer)["s3_key"].endswith("/job_id=zillow-pa/data_1.parquet")


def test_status_page_lists_the_epochs_and_counts_down(chrome, published):
    index = json.loads((published / "index.json").read_text())
    current = json.loads((published / "current.json").read_text())["epochId"]
    with serve_folder(published) as base:
        chrome.get(f"{base}/index.html")
        wait = WebDriverWait(chrome, WAIT)
        wait.until(ready.presence_of_element_located((By.ID, "epochs")))
        countdown = wait.until(
            lambda c: (text := c.find_element(By.ID, "countdown").text).startswith("in ") and text
        )
        rows = chrome.find_elements(By.CSS_SELECTOR, "#epochs tbody tr")
        shown = {row.get_attribute("data-epoch"): row for row in rows}
        bars = chrome.find_elements(By.CSS_SELECTOR, "#listings-chart rect.bar")
        ticks = chrome.find_elements(By.CSS_SELECTOR, "#listings-chart text.tick")
        states = chrome.find_elements(By.CSS_SELECTOR, "#states-chart rect.share")
        assert bars and all(b.is_displayed() and b.size["height"] > 0 for b in bars)
        assert len(ticks) == 5 and ticks[0].text == "0"
        assert states and all(s.size["width"] > 0 for s in states)
        screenshot(chrome, "status-page.png")
        urls = requested_urls(chrome)
    listed = {e["epochId"]: e for e in index["epochs"]}
    assert shown and set(shown) <= set(listed)
    assert current in shown
    assert "current" in shown[current].get_attribute("class")
    for epoch_id, row in shown.items():
        status = row.find_element(By.CSS_SELECTOR, "td:nth-child(3)").text
        assert status == ("revealed" if listed[epoch_id]["revealed"] else "sealed"), epoch_id
        assert listed[epoch_id]["commitment"] in row.text
    assert any(listed[e]["revealed"] is None for e in shown), "no upcoming epoch shown"
    assert countdown.startswith("in ")
    assert_loopback_only(urls)


def test_swagger_try_it_out_reads_the_demos_published_files(chrome, tmp_path):
    """`make run`'s static server answers with CORS, so the browser lets /docs read it."""
    with running_demo(tmp_path) as demo:
        wait, blocks = swagger_operations(chrome, demo.signer)
        block = blocks[("GET", "/index.json")]
        try_it_out(wait, block)
        status, body = execute(chrome, wait, block, "docs-published-try-it-out.png")
        assert status == "200"
        published = json.loads((tmp_path / "published" / "index.json").read_text())
        assert json.loads(body)["epochs"] == published["epochs"]
