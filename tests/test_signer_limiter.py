"""The rate limiter itself: what the per-address limit counts and when, the windows of a limit
counted together, the counters' names, one Redis round trip per credential request, made
while the signature is verified, and the counts a refused request gives back.

The 429 answers and the quotas' behaviour are in test_signer_ratelimit.py; the in-process
counters in test_signer_limit_storage.py; limits shared by instances in
test_signer_shared_limits.py.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import redis
from bittensor_core import ss58_encode
from limits.storage import MemoryStorage

from signer import auth, create_app
from signer.config import ConfigError
from signer.errors import SignerError
from signer.ratelimit import (
    REDIS_TIMEOUT_SECONDS,
    WHO,
    HotkeyQuota,
    Limit,
    Limiter,
    Window,
    open_limiter,
)

from servers import signer_client as sc
from servers.redis_server import redis_server
from servers.seaweed import free_ports

ADDRESS = {"REMOTE_ADDR": "192.0.2.20"}
BOB = sc.address("//Bob")


def app_with(signer_config, **settings):
    return create_app({**signer_config, **settings})


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> str:
    """Each limit test runs with the in-process counters and with a real Redis."""
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


def test_the_address_limit_counts_requests_the_body_gate_refuses(signer_config):
    client = app_with(signer_config, SIGNER_RATELIMIT_ADDRESS="3/hour").test_client()
    nested = "[" * 5000 + "]" * 5000
    as_string = json.dumps(json.dumps(sc.folder_access()))
    refused = [
        client.post("/get-folder-access", data=nested, content_type="application/json"),
        client.post("/get-folder-access", data=as_string, content_type="application/json"),
        client.post("/get-folder-access", json={"padding": "x" * 20000}),
    ]
    assert [r.status_code for r in refused] == [400, 422, 413]
    over = [
        client.post("/get-folder-access", data=nested, content_type="application/json"),
        client.post("/get-folder-access", json={"padding": "x" * 20000}),
        client.post("/get-folder-access", json=sc.folder_access()),
    ]
    assert [r.status_code for r in over] == [429, 429, 429]
    assert all(r.json["error"] == "rate_limited" for r in over)


def test_an_address_refused_once_is_answered_without_reading_its_body(
    signer_config, storage, monkeypatch
):
    app = app_with(
        signer_config, SIGNER_RATELIMIT_STORAGE=storage, SIGNER_RATELIMIT_ADDRESS="1/hour"
    )
    client = app.test_client()
    assert client.post("/get-folder-access", json={}, environ_base=ADDRESS).status_code == 422
    assert client.post("/get-folder-access", json={}, environ_base=ADDRESS).status_code == 429

    def unread(*args, **kwargs):
        raise AssertionError("the body was read for a request over its address's limit")

    monkeypatch.setattr("werkzeug.wrappers.Request.get_data", unread)
    monkeypatch.setattr(app.extensions["signer"].limiter, "count", unread)
    for path in ("/get-folder-access", "/get-validator-access"):
        response = client.post(path, json=sc.folder_access(), environ_base=ADDRESS)
        assert response.status_code == 429
        assert "1 per 1 hour" in response.json["detail"]
        assert 3500 < int(response.headers["Retry-After"]) <= 3600
    monkeypatch.undo()
    other = client.post("/get-folder-access", json=sc.folder_access())
    assert other.status_code == 200, "another address is counted as usual"


def address_count(app, address: str = "127.0.0.1") -> int:
    return app.extensions["signer"].limiter.storage.get(
        f"LIMITER/signer/{address}/global/600/1/minute"
    )


def hotkey_counts(app, window: str = "10/1/minute") -> dict[str, int]:
    storage = app.extensions["signer"].limiter.storage
    return {
        scope: storage.get(f"LIMITER/signer/{scope}/{who}/{window}")
        for scope, who in (("miner", BOB), ("validator", sc.address("//Alice")))
    }


@pytest.mark.parametrize(
    ("path", "body", "scope"),
    [
        ("/get-folder-access", sc.folder_access, "miner"),
        ("/get-file-upload-url", sc.file_upload, "miner"),
        ("/get-validator-access", sc.validator_access, "validator"),
        ("/api/v1/s3-access/validator-upload", sc.validator_upload, "validator"),
        ("/get-miner-list", sc.miner_list, "validator"),
        ("/get-miner-specific-access", sc.miner_list, "validator"),
        ("/get-file-presigned-urls", sc.miner_files, "validator"),
    ],
)
def test_credential_views_count_the_address_once_with_or_without_the_quota(
    signer_config, storage, path, body, scope, monkeypatch
):
    """A credential view counts the address in its quota's call, one call to the counters;
    refused before the quota (signature, body), it still counts the address, once."""
    app = app_with(
        signer_config,
        SIGNER_RATELIMIT_STORAGE=storage,
        SIGNER_RATELIMIT_MINER="10/minute",
        SIGNER_RATELIMIT_VALIDATOR="10/minute",
    )
    limiter = app.extensions["signer"].limiter
    start, calls = limiter.start, []

    def spy(windows, nonce=None):
        calls.append(len(windows))
        return start(windows, nonce)

    monkeypatch.setattr(limiter, "start", spy)
    client = app.test_client()
    assert client.post(path, json=body()).status_code == 200
    assert calls == [2], "the address's window and the quota's, in one call"
    assert (address_count(app), hotkey_counts(app)[scope]) == (1, 1)
    forged = body()
    forged["signature"] = "0x" + "00" * 64
    assert client.post(path, json=forged).status_code == 401
    assert client.post(path, data="[]", content_type="application/json").status_code == 422
    assert (address_count(app), hotkey_counts(app)[scope]) == (3, 1)


def test_redis_counts_the_quota_while_the_signature_is_verified(
    signer_config, redis_url, monkeypatch
):
    """The quota's call is on its way to Redis before the signature is checked, and answered
    after; the in-process counters count only once the signature has verified."""
    app = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=redis_url)
    client = app.test_client()
    # The first request also loads the script into the server.
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    verify, seen = auth.verify_signature, []
    admin = redis.Redis.from_url(redis_url)

    def spy(*args):
        seen.append(command_calls(admin)["evalsha"])
        verify(*args)

    monkeypatch.setattr(auth, "verify_signature", spy)
    before = command_calls(admin)["evalsha"]
    for _ in range(2):
        assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    admin.close()
    assert seen == [before + 1, before + 2], "each EVALSHA ran before its signature's check"


def test_memory_counts_the_quota_after_the_signature_verified(signer_config, monkeypatch):
    app = app_with(signer_config)
    verify, seen = auth.verify_signature, []

    def spy(*args):
        seen.append((address_count(app), hotkey_counts(app)["miner"]))
        verify(*args)

    monkeypatch.setattr(auth, "verify_signature", spy)
    client = app.test_client()
    for _ in range(2):
        assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    assert seen == [(0, 0), (1, 1)]


def test_a_forged_request_gives_back_the_quota_it_was_counted_against(signer_config, storage):
    """At its quota, a forged request is still a 401, not a 429, and leaves the quota as it
    was: the window that refused it gives its count back too."""
    app = app_with(
        signer_config, SIGNER_RATELIMIT_STORAGE=storage, SIGNER_RATELIMIT_MINER="1/minute"
    )
    client = app.test_client()
    forged = sc.folder_access(signer="//Charlie")
    assert client.post("/get-folder-access", json=forged).status_code == 401
    assert hotkey_counts(app, "1/1/minute")["miner"] == 0
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    refused = client.post("/get-folder-access", json=forged)
    assert (refused.status_code, refused.json["error"]) == (401, "invalid_signature")
    assert (address_count(app), hotkey_counts(app, "1/1/minute")["miner"]) == (3, 1)
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 429
    assert hotkey_counts(app, "1/1/minute")["miner"] == 2, "a refused request is counted"


def test_a_replayed_nonce_gives_back_its_quota(signer_config, storage):
    app = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=storage)
    client = app.test_client()
    body = json.dumps({"coldkey": sc.address("//Bob//stash")}).encode()
    headers = sc.tao_headers("//Bob", body, millis=sc.NOW * 1000)
    assert client.post("/get-folder-access", data=body, headers=headers).status_code == 200
    replayed = client.post("/get-folder-access", data=body, headers=headers)
    assert (replayed.status_code, replayed.json["error"]) == (401, "replayed_nonce")
    assert (address_count(app), hotkey_counts(app)["miner"]) == (2, 1)


def test_a_forged_request_from_an_address_over_its_limit_is_answered_429(signer_config, storage):
    app = app_with(
        signer_config, SIGNER_RATELIMIT_STORAGE=storage, SIGNER_RATELIMIT_ADDRESS="1/minute"
    )
    client = app.test_client()
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    forged = client.post("/get-folder-access", json=sc.folder_access(signer="//Charlie"))
    assert (forged.status_code, forged.json["error"]) == (429, "rate_limited")
    assert "1 per 1 minute" in forged.json["detail"]
    assert hotkey_counts(app)["miner"] == 1


def test_a_role_refused_starts_no_count_for_its_hotkey(signer_config, storage):
    """An unregistered hotkey that signs correctly: 403, its address counted, no counter."""
    app = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=storage)
    client = app.test_client()
    stranger = sc.folder_access("//Stranger", "//Stranger//cold")
    assert client.post("/get-folder-access", json=stranger).status_code == 403
    forged = sc.folder_access("//Stranger", "//Stranger//cold", signer="//Bob")
    assert client.post("/get-folder-access", json=forged).status_code == 401
    storage_ = app.extensions["signer"].limiter.storage
    assert storage_.get(f"LIMITER/signer/miner/{sc.address('//Stranger')}/10/1/minute") == 0
    assert address_count(app) == 2
    if storage.startswith("redis"):
        with redis.Redis.from_url(storage) as admin:
            assert list(admin.scan_iter(match="*/miner/*")) == []


def test_a_counter_whose_window_ended_is_not_brought_back_negative(redis_url):
    """Giving a count back to a counter gone meanwhile (its window ended) leaves it gone: a
    counter at -1 with no expiry would never restart. One given back to zero is deleted: the
    window restarts with its next count, and a forged request leaves nothing behind."""
    limiter = open_limiter(redis_url)
    quota = Limit(limiter, "5/minute", "miner", WHO)
    windows = quota.windows("who")
    (key,) = [limiter.storage.prefixed_key(w.key) for w in windows]
    with redis.Redis.from_url(redis_url) as admin:
        assert limiter.start(windows).cancel(0) is None
        assert admin.exists(key) == 0, "a counter given back to zero is deleted"
        started = limiter.start(windows)
        deadline = time.monotonic() + 10
        while admin.get(key) != b"1":  # the server runs the call it was sent
            assert time.monotonic() < deadline, "the started call never ran"
            time.sleep(0.01)
        admin.delete(key)
        assert started.cancel(0) is None
        assert admin.exists(key) == 0


def test_an_address_over_its_limit_spends_no_hotkey_quota(signer_config, storage):
    app = app_with(
        signer_config,
        SIGNER_RATELIMIT_STORAGE=storage,
        SIGNER_RATELIMIT_ADDRESS="2/minute",
        SIGNER_RATELIMIT_MINER="10/minute",
    )
    client = app.test_client()
    answers = [client.post("/get-folder-access", json=sc.folder_access()) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "2 per 1 minute" in answers[-1].json["detail"]
    assert hotkey_counts(app)["miner"] == 2


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/healthcheck",
        "/docs/assets/js/swagger-ui-bundle.js",
        "/s3/list/data/hotkey=x/a.parquet?prefix=data/&expires=1&signature=00",
        "/no/such/endpoint",
    ],
)
def test_probes_object_reads_assets_and_unknown_paths_are_not_counted(signer_config, path):
    client = app_with(signer_config, SIGNER_RATELIMIT_ADDRESS="1/hour").test_client()
    assert client.get("/assignments/current", environ_base=ADDRESS).status_code != 429
    for _ in range(3):
        assert client.get(path, environ_base=ADDRESS).status_code != 429
    assert client.get("/assignments/current", environ_base=ADDRESS).status_code == 429


def test_counters_keep_the_names_flask_limiter_gave_them(signer_config):
    app = app_with(signer_config)
    client = app.test_client()
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    assert set(app.extensions["signer"].limiter.storage._counts) == {
        "LIMITER/signer/127.0.0.1/global/600/1/minute",
        f"LIMITER/signer/miner/{BOB}/10/1/minute",
        f"LIMITER/signer/miner/{BOB}/200/1/day",
    }


def test_redis_counters_keep_the_names_flask_limiter_gave_them(signer_config, redis_url):
    client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=redis_url).test_client()
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    with redis.Redis.from_url(redis_url) as admin:
        keys = {key.decode() for key in admin.keys("*")}
        assert keys == {
            "LIMITS:LIMITER/signer/127.0.0.1/global/600/1/minute",
            f"LIMITS:LIMITER/signer/miner/{BOB}/10/1/minute",
            f"LIMITS:LIMITER/signer/miner/{BOB}/200/1/day",
        }
        assert 0 < admin.ttl(f"LIMITS:LIMITER/signer/miner/{BOB}/200/1/day") <= 86400


@pytest.mark.parametrize("limits", ["2/minute;3/day", "3/day;2/minute"])
def test_a_request_refused_by_the_minute_is_not_counted_against_the_day(
    signer_config, storage, limits
):
    app = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=storage, SIGNER_RATELIMIT_MINER=limits)
    client = app.test_client()
    answers = [client.post("/get-folder-access", json=sc.folder_access()) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert "2 per 1 minute" in answers[-1].json["detail"]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
    assert app.extensions["signer"].limiter.storage.get(f"LIMITER/signer/miner/{BOB}/3/1/day") == 2


def test_the_day_window_refuses_with_its_own_retry_after(signer_config, storage):
    app = app_with(
        signer_config, SIGNER_RATELIMIT_STORAGE=storage, SIGNER_RATELIMIT_MINER="5/minute;2/day"
    )
    client = app.test_client()
    answers = [client.post("/get-folder-access", json=sc.folder_access()) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "2 per 1 day" in answers[-1].json["detail"]
    assert 60 < int(answers[-1].headers["Retry-After"]) <= 86400


def command_calls(admin: redis.Redis) -> dict[str, int]:
    """Commands the server ran so far, by name (INFO commandstats), INFO itself left out."""
    stats = admin.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(figures["calls"])
        for name, figures in stats.items()
        if name != "cmdstat_info"
    }


def commands_of(admin: redis.Redis, request) -> dict[str, int]:
    before = command_calls(admin)
    request()
    after = command_calls(admin)
    return {
        name: calls - before.get(name, 0)
        for name, calls in after.items()
        if calls != before.get(name, 0)
    }


def test_a_credential_request_is_one_round_trip_to_redis(signer_config, redis_url):
    """Address limit (one window) and the miner's quota (two windows): one EVALSHA, one round
    trip; a request without a quota, one for its address. (INFO commandstats also counts the
    INCRs the scripts run inside.)"""
    client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=redis_url).test_client()

    def credential() -> None:
        assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200

    credential()  # the first call also loads the script into the server
    with redis.Redis.from_url(redis_url) as admin:
        assert commands_of(admin, credential) == {"evalsha": 1, "incr": 3}
        assert commands_of(admin, lambda: client.get("/assignments/current")) == {
            "evalsha": 1,
            "incr": 1,
        }
        assert commands_of(admin, lambda: client.get("/healthz")) == {}


def bob_tao(client, headers: dict[str, str] | None = None, uri: str = "//Bob"):
    """A header-signed `/get-folder-access` (data-universe's TaoSigner), its headers kept."""
    body = json.dumps({"coldkey": sc.address(f"{uri}//stash")}).encode()
    headers = headers or sc.tao_headers(uri, body, millis=sc.NOW * 1000)
    return client.post("/get-folder-access", data=body, headers=headers), headers


def test_a_header_signed_request_is_one_round_trip_to_redis(signer_config, redis_url):
    """Its nonce is counted in the quota's call, sent before the signature is checked: it
    was a second round trip, made after, through redis-py's client."""
    client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=redis_url).test_client()

    def header_signed() -> None:
        assert bob_tao(client)[0].status_code == 200

    header_signed()
    with redis.Redis.from_url(redis_url) as admin:
        assert commands_of(admin, header_signed) == {"evalsha": 1, "incr": 4, "expire": 1}


def test_a_forged_header_signed_request_leaves_its_nonce_unused(signer_config, storage):
    """Counted before its signature is checked, a forged request's nonce is given back to
    nothing (deleted): the signer's own request with that nonce still goes through, once."""
    client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=storage).test_client()
    body = json.dumps({"coldkey": sc.address("//Bob//stash")}).encode()
    signed = sc.tao_headers("//Bob", body, millis=sc.NOW * 1000)
    forged = {**signed, "X-Tao-Signature": sc.tao_headers("//Charlie", body)["X-Tao-Signature"]}
    refused = client.post("/get-folder-access", data=body, headers=forged)
    assert (refused.status_code, refused.json["error"]) == (401, "invalid_signature")
    if storage.startswith("redis"):
        with redis.Redis.from_url(storage) as admin:
            assert list(admin.scan_iter(match="*tao-nonce*")) == []
    assert client.post("/get-folder-access", data=body, headers=signed).status_code == 200
    again = client.post("/get-folder-access", data=body, headers=signed)
    assert (again.status_code, again.json["error"]) == (401, "replayed_nonce")


def test_a_role_refused_header_signed_request_still_spends_its_nonce(signer_config, storage):
    client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=storage).test_client()
    refused, headers = bob_tao(client, uri="//Stranger")
    assert (refused.status_code, refused.json["error"]) == (403, "not_registered")
    again = bob_tao(client, headers, uri="//Stranger")[0]
    assert (again.status_code, again.json["error"]) == (401, "replayed_nonce")


@pytest.mark.parametrize("prefix", [0, 2])
def test_a_nonce_is_one_whatever_network_prefix_spells_its_signer(signer_config, storage, prefix):
    """The same public key under another SS58 network prefix verifies the same signature: a
    replay re-spelling X-Tao-Signed-By so was taken for a new nonce (and, with the address
    not in the metagraph, refused 403 rather than 401)."""
    client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=storage).test_client()
    served, headers = bob_tao(client)
    assert served.status_code == 200
    respelled = {**headers, "X-Tao-Signed-By": ss58_encode(sc.keypair("//Bob").public_key, prefix)}
    assert respelled["X-Tao-Signed-By"] != headers["X-Tao-Signed-By"]
    replayed = bob_tao(client, respelled)[0]
    assert (replayed.status_code, replayed.json["error"]) == (401, "replayed_nonce")


def test_the_limit_connection_recovers_when_redis_drops_it(signer_config, redis_url):
    client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=redis_url).test_client()
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    with redis.Redis.from_url(redis_url) as admin:
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200


def test_a_redis_that_lost_its_scripts_is_given_the_script_again(signer_config, redis_url):
    app = app_with(
        signer_config, SIGNER_RATELIMIT_STORAGE=redis_url, SIGNER_RATELIMIT_MINER="3/hour"
    )
    client = app.test_client()
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    with redis.Redis.from_url(redis_url) as admin:
        admin.script_flush()
        assert commands_of(
            admin, lambda: client.post("/get-folder-access", json=sc.folder_access())
        ) == {
            "evalsha": 2,
            "script|load": 1,
            "incr": 2,
        }
    answers = [client.post("/get-folder-access", json=sc.folder_access()) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 429], "counted once per request"


def test_another_limits_storage_counts_the_windows_one_by_one():
    limiter = Limiter(MemoryStorage())
    quota = Limit(limiter, "2/minute;3/day", "test", WHO)
    quota.spend("who")
    quota.spend("who")
    with pytest.raises(SignerError) as refused:
        quota.spend("who")
    assert refused.value.status == 429
    assert "2 per 1 minute" in refused.value.detail
    assert limiter.storage.get("LIMITER/signer/test/who/3/1/day") == 2


def test_a_hotkey_quota_names_its_counters_by_scope_then_hotkey():
    quota = HotkeyQuota(open_limiter("memory://"), "10/minute;200/day", "miner")
    assert [w.key for w in quota.windows("5Hot")] == [
        "LIMITER/signer/miner/5Hot/10/1/minute",
        "LIMITER/signer/miner/5Hot/200/1/day",
    ]


def test_an_asynchronous_storage_is_refused_at_startup():
    with pytest.raises(ConfigError, match="SIGNER_RATELIMIT_STORAGE"):
        open_limiter("async+memory://")


def test_counters_that_cannot_be_reached_answer_503_not_500(signer_config):
    """A Redis down or restarting: the request is refused for now, with JSON and
    Retry-After, never let through uncounted and never an internal error."""
    (port,) = free_ports(1)
    client = app_with(
        signer_config, SIGNER_RATELIMIT_STORAGE=f"redis://127.0.0.1:{port}"
    ).test_client()
    response = client.post("/get-folder-access", json=sc.folder_access())
    assert (response.status_code, response.json["error"]) == (503, "limits_unavailable")
    assert "SIGNER_RATELIMIT_STORAGE" in response.json["detail"]
    assert response.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200, "the probes count nothing"
    with pytest.raises(SignerError) as nonce:
        open_limiter(f"redis://127.0.0.1:{port}").count([Window("nonce", 60, 1)])
    assert nonce.value.status == 503


@pytest.mark.parametrize("signed", ["body", "headers"])
def test_counters_that_refuse_to_count_answer_503_and_recover(signer_config, tmp_path, signed):
    """A Redis that answers an error (a replica after a failover is read-only): a
    header-signed request read the failed answer a second time when giving its counts back,
    waited, sent its count again and released the connection's lock twice: a 500."""
    with redis_server(tmp_path) as server, server.client() as admin:
        client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=server.url).test_client()

        def ask():
            if signed == "headers":
                return bob_tao(client)[0]
            return client.post("/get-folder-access", json=sc.folder_access())

        assert ask().status_code == 200
        admin.replicaof("127.0.0.1", "1")
        try:
            refused = ask()
        finally:
            admin.replicaof("NO", "ONE")
        assert (refused.status_code, refused.json["error"]) == (503, "limits_unavailable")
        assert ask().status_code == 200, "the connection was left usable"


def test_readyz_is_not_ready_while_the_counters_do_not_answer(signer_config, redis_url):
    """It said ready while every credential request answered 503 limits_unavailable: a
    load balancer kept sending the instance traffic it could only refuse."""
    (port,) = free_ports(1)
    down = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=f"redis://127.0.0.1:{port}")
    response = down.test_client().get("/readyz")
    assert (response.status_code, response.json["ready"], response.json["limits"]) == (
        503,
        False,
        False,
    )
    for storage in (redis_url, "memory://"):
        up = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=storage).test_client().get("/readyz")
        assert (up.status_code, up.json["limits"]) == (200, True), storage


def test_a_hung_redis_holds_a_request_for_its_timeout_then_answers_503(signer_config):
    """A server that accepts and never answers (the kernel completes the handshake for an
    unaccepted socket) would hold the worker until gunicorn kills it, without a timeout."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/?socket_timeout=0.5"
        client = app_with(signer_config, SIGNER_RATELIMIT_STORAGE=url).test_client()
        response = client.post("/get-folder-access", json=sc.folder_access())
    assert (response.status_code, response.json["error"]) == (503, "limits_unavailable")


def test_redis_gets_a_timeout_unless_the_url_sets_one():
    pools = {
        url: open_limiter(url).storage.get_connection().connection_pool.connection_kwargs
        for url in ("redis://127.0.0.1:1", "redis://127.0.0.1:1/?socket_timeout=7")
    }
    assert pools["redis://127.0.0.1:1"]["socket_timeout"] == REDIS_TIMEOUT_SECONDS
    assert pools["redis://127.0.0.1:1/?socket_timeout=7"]["socket_timeout"] == 7
