"""The current assignment, relayed from the planner's published folder or its base URL."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from clientkit.epochs import epoch_from_id
from signer import create_app
from signer.published import NOT_PUBLISHED_SECONDS

from servers import signer_client as sc
from servers.busy_http import Answer, scripted_server
from servers.seaweed import free_ports
from servers.static_http import cdn


def assignment(epoch_id: str = sc.EPOCH) -> bytes:
    """Bytes shaped like the planner's epochs/<id>.json (key order and spacing kept)."""
    document = {
        "schemaVersion": 1,
        "epochId": epoch_id,
        "epochStart": "2026-11-25T16:00:00Z",
        "epochEnd": "2026-11-25T20:00:00Z",
        "nonce": "0f" * 16,
        "salt": "ab" * 32,
        "targetListings": 10000,
        "tolerancePercent": 10,
        "zipcodes": [
            {
                "zipcode": "07030",
                "expectedListings": 245,
                "state": "NJ",
                "city": "Hoboken",
                "county": "Hudson County",
                "marketTier": "premium",
            }
        ],
        "metadata": {
            "totalExpectedListings": 245,
            "zipcodeCount": 1,
            "algorithmVersion": "test",
            "datasetSha256": "cd" * 32,
        },
    }
    return json.dumps(document, indent=1).encode()


@pytest.fixture
def published(signer_config) -> Path:
    return Path(signer_config["SIGNER_PUBLISHED"])


def test_current_assignment_is_served_byte_for_byte(client, published):
    body = assignment()
    (published / "current.json").write_bytes(body)
    response = client.get("/assignments/current")
    assert response.status_code == 200
    assert response.data == body
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=30"


def test_legacy_path_adds_success_and_ignores_auth_parameters(client, published):
    (published / "current.json").write_bytes(assignment())
    response = client.get(
        "/api/v1/zipcode-assignments/current",
        query_string={"hotkey": sc.address("//Bob"), "signature": "00", "timestamp": 1},
    )
    assert response.status_code == 200
    assert response.json == {"success": True, **json.loads(assignment())}
    assert response.json["zipcodes"][0]["zipcode"] == "07030"


@pytest.mark.parametrize("path", ["/assignments/current", "/api/v1/zipcode-assignments/current"])
def test_nothing_published_is_a_clear_503(client, path):
    response = client.get(path)
    assert response.status_code == 503
    assert response.json["error"] == "not_revealed"
    assert "Retry-After" in response.headers


@pytest.mark.parametrize("path", ["/assignments/current", "/api/v1/zipcode-assignments/current"])
def test_last_epochs_assignment_is_not_passed_off_as_current(client, published, path):
    (published / "current.json").write_bytes(assignment("2026-11-25T12-00-00"))
    response = client.get(path)
    assert response.status_code == 503
    assert response.json["error"] == "not_revealed"
    assert sc.EPOCH in response.json["detail"]
    assert "2026-11-25T12-00-00" in response.json["detail"]


@pytest.mark.parametrize(
    ("content", "detail"),
    [(b"{truncated", "not valid JSON"), (b'{"zipcodes": []}', "has no epochId")],
)
def test_broken_current_json_is_503_not_500(client, published, content, detail):
    (published / "current.json").write_bytes(content)
    response = client.get("/assignments/current")
    assert response.status_code == 503
    assert response.json["error"] == "assignment_unavailable"
    assert detail in response.json["detail"]


def test_published_url_redirects_to_the_cdn(signer_config):
    config = {**signer_config, "SIGNER_PUBLISHED": "http://127.0.0.1:9/s46/"}
    response = create_app(config).test_client().get("/assignments/current")
    assert response.status_code == 302
    assert response.headers["Location"] == "http://127.0.0.1:9/s46/current.json"


def legacy_answer(client, attempts: int = 600):
    """The legacy path's answer once the background copy is in (retries: a slow machine)."""
    for _ in range(attempts):
        response = client.get("/api/v1/zipcode-assignments/current")
        if response.status_code == 200 or response.json["error"] != "assignment_unavailable":
            return response
        time.sleep(0.1)
    return response


def test_legacy_path_answers_from_a_copy_of_the_published_url(signer_config, published):
    (published / "current.json").write_bytes(assignment())
    with cdn(published) as site:
        client = create_app({**signer_config, "SIGNER_PUBLISHED": site.url}).test_client()
        response = legacy_answer(client)
        assert response.status_code == 200
        assert response.json == {"success": True, **json.loads(assignment())}
        fetched = site.requests
        (published / "current.json").unlink()
        kept = client.get("/api/v1/zipcode-assignments/current")
        assert kept.status_code == 200
        assert kept.json["epochId"] == sc.EPOCH
    assert fetched >= 1


@contextmanager
def hanging_cdn(signer_config, published) -> Iterator[FlaskClient]:
    """A signer whose copy of current.json is in, then a CDN that holds every request."""
    (published / "current.json").write_bytes(assignment())
    with cdn(published) as site:
        app = create_app({**signer_config, "SIGNER_PUBLISHED": site.url})
        client = app.test_client()
        assert legacy_answer(client).status_code == 200
        site.hang()
        app.extensions["signer"].current_cache.wake()
        assert site.wait_for_hanging_request(timeout=60)
        yield client
        assert site.hanging >= 1, "the CDN was released before the answers"


def test_legacy_path_answers_from_its_copy_while_the_cdn_hangs(signer_config, published):
    """A hanging CDN holds the background refresh, not the request: the copy answers."""
    with hanging_cdn(signer_config, published) as client:
        for _ in range(8):
            response = client.get("/api/v1/zipcode-assignments/current")
            assert response.status_code == 200
            assert response.json["epochId"] == sc.EPOCH


def test_resi_stats_and_current_epoch_answer_from_the_copy_while_the_cdn_hangs(
    signer_config, published
):
    """Every Resi miner polls /stats: the current epoch comes from the copy, not the CDN."""
    with hanging_cdn(signer_config, published) as client:
        for _ in range(4):
            stats = client.get("/api/v1/zipcode-assignments/stats")
            assert stats.status_code == 200
            assert stats.json["epochStatus"]["currentEpoch"]["nonce"] == "0f" * 16
            epoch = client.get(f"/api/v1/zipcode-assignments/epoch/{sc.EPOCH}")
            assert (epoch.status_code, epoch.json["status"]) == (200, "ACTIVE")


def test_a_copy_of_last_epoch_asks_for_a_fresh_one(signer_config, published):
    (published / "current.json").write_bytes(assignment("2026-11-25T12-00-00"))
    with cdn(published) as site:
        client = create_app({**signer_config, "SIGNER_PUBLISHED": site.url}).test_client()
        stale = legacy_answer(client)
        assert (stale.status_code, stale.json["error"]) == (503, "not_revealed")
        (published / "current.json").write_bytes(assignment())
        for _ in range(600):
            if client.get("/api/v1/zipcode-assignments/current").status_code == 200:
                break
            time.sleep(0.1)
        assert client.get("/api/v1/zipcode-assignments/current").json["epochId"] == sc.EPOCH


def test_nothing_at_the_published_url_yet_is_not_revealed(signer_config, published):
    with cdn(published) as site:
        client = create_app({**signer_config, "SIGNER_PUBLISHED": site.url}).test_client()
        response = legacy_answer(client)
        assert (response.status_code, response.json["error"]) == (503, "not_revealed")
        assert "Retry-After" in response.headers


def test_unreachable_published_url_is_503(signer_config):
    (port,) = free_ports(1)
    config = {**signer_config, "SIGNER_PUBLISHED": f"http://127.0.0.1:{port}"}
    response = create_app(config).test_client().get("/api/v1/zipcode-assignments/current")
    assert response.status_code == 503
    assert response.json["error"] == "assignment_unavailable"


def test_cache_lifetime_never_outlasts_the_epoch(signer_config, published):
    (published / "current.json").write_bytes(assignment())
    ten_to_eight = float(sc.NOW + 3 * 3600 - 10)  # 19:59:50, same epoch
    client = create_app({**signer_config, "NOW": lambda: ten_to_eight}).test_client()
    assert client.get("/assignments/current").headers["Cache-Control"] == "public, max-age=10"


def test_a_past_epoch_is_fetched_once_then_answered_while_the_cdn_hangs(signer_config, published):
    """Validators re-read past epochs: each is fetched once, then kept (it never changes)."""
    past = epoch_from_id(sc.EPOCH).previous().id
    path = f"/api/v1/zipcode-assignments/epoch/{past}"
    clock = [float(sc.NOW)]
    with cdn(published) as site:
        config = {**signer_config, "SIGNER_PUBLISHED": site.url, "NOW": lambda: clock[0]}
        client = create_app(config).test_client()
        missing = client.get(path)
        assert (missing.status_code, missing.json["error"]) == (404, "epoch_not_found")
        (published / "epochs").mkdir(exist_ok=True)
        (published / "epochs" / f"{past}.json").write_bytes(assignment(past))
        clock[0] += NOT_PUBLISHED_SECONDS
        first = client.get(path)
        assert (first.status_code, first.json["status"]) == (200, "COMPLETED")
        site.hang()
        for _ in range(4):
            again = client.get(path)
            assert again.status_code == 200
            assert again.json == first.json


def test_a_past_epoch_not_published_is_not_fetched_again_for_a_while(signer_config, published):
    """A past epoch without a published file was fetched from the CDN again on every request
    for it, the request waiting for the fetch. Its absence is remembered for
    NOT_PUBLISHED_SECONDS by the signer's clock, then asked again: a file published
    meanwhile is served from then on."""
    past = past_epoch()
    path = f"/api/v1/zipcode-assignments/epoch/{past}"
    clock = [float(sc.NOW)]
    with cdn(published) as site:
        config = {**signer_config, "SIGNER_PUBLISHED": site.url, "NOW": lambda: clock[0]}
        client = create_app(config).test_client()
        for _ in range(5):
            missing = client.get(path)
            assert (missing.status_code, missing.json["error"]) == (404, "epoch_not_found")
        assert site.paths.count(f"/epochs/{past}.json") == 1
        (published / "epochs").mkdir()
        (published / "epochs" / f"{past}.json").write_bytes(assignment(past))
        clock[0] += NOT_PUBLISHED_SECONDS - 1
        assert client.get(path).status_code == 404
        assert site.paths.count(f"/epochs/{past}.json") == 1
        clock[0] += 1
        found = client.get(path)
        assert (found.status_code, found.json["status"]) == (200, "COMPLETED")
        assert site.paths.count(f"/epochs/{past}.json") == 2


def test_a_past_epoch_the_cdn_failed_to_give_is_fetched_again_at_once(signer_config, published):
    """Only an answer that the file is absent is remembered: a CDN error or a timeout is
    the 503 it was, and the next request asks again."""
    past = past_epoch()
    path = f"/api/v1/zipcode-assignments/epoch/{past}"
    (published / "epochs").mkdir()
    (published / "epochs" / f"{past}.json").write_bytes(assignment(past))
    with cdn(published) as site:
        client = create_app({**signer_config, "SIGNER_PUBLISHED": site.url}).test_client()
        site.fail("epochs/", 502)
        for _ in range(2):
            failed = client.get(path)
            assert (failed.status_code, failed.json["error"]) == (503, "assignment_unavailable")
        assert site.paths.count(f"/epochs/{past}.json") == 2
        site.failing.clear()
        site.hang("epochs/")
        timed_out = client.get(path)
        assert (timed_out.status_code, timed_out.json["error"]) == (503, "assignment_unavailable")
        site.release()
        found = client.get(path)
        assert (found.status_code, found.json["status"]) == (200, "COMPLETED")
        assert site.paths.count(f"/epochs/{past}.json") == 4


# --- a published file nested deeper than Python's parser goes ---------------------------------
# json.loads raises RecursionError for it, which is no ValueError: each path must still give
# the 503 of an unusable published file, naming the file, never a 500 internal_error.

DEEP = b"[" * 100_000


def assert_unusable(response, name: str) -> None:
    assert response.status_code == 503, response.json
    assert response.json["error"] == "assignment_unavailable"
    assert name in response.json["detail"]
    assert "nested too deeply" in response.json["detail"]
    assert "Retry-After" in response.headers


def past_epoch() -> str:
    return epoch_from_id(sc.EPOCH).previous().id


@pytest.mark.parametrize(
    "path",
    [
        "/assignments/current",
        "/api/v1/zipcode-assignments/current",
        f"/api/v1/zipcode-assignments/epoch/{sc.EPOCH}",
    ],
)
def test_deeply_nested_current_json_in_the_folder_is_503(client, published, path):
    (published / "current.json").write_bytes(DEEP)
    assert_unusable(client.get(path), "current.json")


def test_deeply_nested_current_json_leaves_stats_awaiting_the_reveal(client, published):
    (published / "current.json").write_bytes(DEEP)
    response = client.get("/api/v1/zipcode-assignments/stats")
    assert response.status_code == 200
    assert response.json["systemStatus"] == "awaiting_reveal"


def test_deeply_nested_current_json_answers_a_miner_status_503(client, published):
    (published / "current.json").write_bytes(DEEP)
    response = client.post("/api/v1/zipcode-assignments/status", json=sc.miner_status("0f" * 16))
    assert_unusable(response, "current.json")


def test_deeply_nested_past_epoch_in_the_folder_is_503(client, published):
    past = past_epoch()
    (published / "epochs").mkdir()
    (published / "epochs" / f"{past}.json").write_bytes(DEEP)
    response = client.get(f"/api/v1/zipcode-assignments/epoch/{past}")
    assert_unusable(response, f"epochs/{past}.json")


def test_deeply_nested_current_json_at_the_published_url_is_503(signer_config, published):
    (published / "current.json").write_bytes(DEEP)
    with cdn(published) as site:
        app = create_app({**signer_config, "SIGNER_PUBLISHED": site.url})
        assert app.extensions["signer"].current_cache.refresh_once()
        response = app.test_client().get("/api/v1/zipcode-assignments/current")
        assert_unusable(response, "current.json")


def test_deeply_nested_past_epoch_at_the_published_url_is_503(signer_config, published):
    past = past_epoch()
    (published / "epochs").mkdir()
    (published / "epochs" / f"{past}.json").write_bytes(DEEP)
    with cdn(published) as site:
        client = create_app({**signer_config, "SIGNER_PUBLISHED": site.url}).test_client()
        response = client.get(f"/api/v1/zipcode-assignments/epoch/{past}")
        assert_unusable(response, f"epochs/{past}.json")


# --- a published file far larger than any assignment ------------------------------------------


def inflating(body: bytes, size: int = 16 * 1024 * 1024) -> Answer:
    """`body` padded with spaces (JSON still) to `size` bytes, sent gzip-compressed: a few
    KB on the wire that inflate to what the CDN's writer chooses (a gigabyte, as easily)."""
    padded = body + b" " * (size - len(body))
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    return Answer(200, headers, gzip.compress(padded))


def test_a_current_json_inflating_past_any_assignment_is_not_read(signer_config):
    """Whoever writes the published bucket chose how much every signer worker read of
    current.json, every 10 s: all of it, decompressed, into memory."""
    with scripted_server([inflating(assignment())]) as cdn_site:
        app = create_app({**signer_config, "SIGNER_PUBLISHED": cdn_site.url})
        assert not app.extensions["signer"].current_cache.refresh_once()
        response = app.test_client().get("/api/v1/zipcode-assignments/current")
    assert response.status_code == 503, response.json
    assert response.json["error"] == "assignment_unavailable"
    assert "current.json is larger than 1048576 bytes" in response.json["detail"]


def test_a_past_epoch_inflating_past_any_assignment_is_not_read(signer_config):
    past = past_epoch()
    body = assignment().replace(sc.EPOCH.encode(), past.encode())
    with scripted_server([inflating(body)]) as cdn_site:
        client = create_app({**signer_config, "SIGNER_PUBLISHED": cdn_site.url}).test_client()
        response = client.get(f"/api/v1/zipcode-assignments/epoch/{past}")
    assert response.status_code == 503, response.json
    assert f"epochs/{past}.json is larger than 1048576 bytes" in response.json["detail"]


def test_a_published_file_that_redirects_is_not_followed(signer_config):
    """A CDN (or whoever configures it) answering 302 sent every worker's GET wherever it
    pointed, an address inside the signer's network as well, and the 503 told the status
    that address answered: an epoch id a probe. The planner's files are never redirects."""
    past = past_epoch()
    with scripted_server([Answer(200, {"Content-Type": "application/json"}, b"{}")]) as inside:
        moved = Answer(302, {"Location": f"{inside.url}/internal"})
        with scripted_server([moved]) as cdn_site:
            app = create_app({**signer_config, "SIGNER_PUBLISHED": cdn_site.url})
            assert not app.extensions["signer"].current_cache.refresh_once()
            client = app.test_client()
            current = client.get("/api/v1/zipcode-assignments/current")
            earlier = client.get(f"/api/v1/zipcode-assignments/epoch/{past}")
    assert inside.requests == []
    for response in (current, earlier):
        assert response.status_code == 503, response.json
        assert response.json["detail"] == (
            "the published files answered HTTP 302, a redirect, not followed: "
            "SIGNER_PUBLISHED must be the URL the files are at"
        )


# --- a published assignment whose zipcodes are not what clients read -------------------------


def shaped(zipcodes: object) -> bytes:
    document = json.loads(assignment())
    document["zipcodes"] = zipcodes
    return json.dumps(document).encode()


@pytest.mark.parametrize("zipcodes", ["07030", [1, 2], [{"expectedListings": 5}], None])
def test_a_current_json_whose_zipcodes_clients_cannot_read_is_503(client, published, zipcodes):
    (published / "current.json").write_bytes(shaped(zipcodes))
    for path in ("/assignments/current", "/api/v1/zipcode-assignments/current"):
        response = client.get(path)
        assert response.status_code == 503, response.json
        assert response.json["error"] == "assignment_unavailable"
        assert "current.json: its zipcodes are not a list" in response.json["detail"]
    stats = client.get("/api/v1/zipcode-assignments/stats")
    assert stats.status_code == 200, stats.json
    assert stats.json["systemStatus"] == "awaiting_reveal"


def test_a_past_epoch_whose_zipcodes_clients_cannot_read_is_503(client, published):
    past = past_epoch()
    (published / "epochs").mkdir()
    body = shaped("07030").replace(sc.EPOCH.encode(), past.encode())
    (published / "epochs" / f"{past}.json").write_bytes(body)
    response = client.get(f"/api/v1/zipcode-assignments/epoch/{past}")
    assert response.status_code == 503, response.json
    assert f"epochs/{past}.json: its zipcodes are not a list" in response.json["detail"]


def test_stats_count_only_whole_numbers_of_expected_listings(client, published):
    zipcodes = [
        {"zipcode": "07030", "expectedListings": 245},
        {"zipcode": "07302", "expectedListings": "many"},
        {"zipcode": "19103"},
    ]
    (published / "current.json").write_bytes(shaped(zipcodes))
    stats = client.get("/api/v1/zipcode-assignments/stats")
    assert stats.status_code == 200, stats.json
    current = stats.json["epochStatus"]["currentEpoch"]
    assert current["zipcodeCount"] == 3
    assert current["actualExpected"] == 245
