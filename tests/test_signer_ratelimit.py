"""Rate limits: per verified hotkey and per remote address, answered with 429 and Retry-After."""

from __future__ import annotations

import pytest

from signer import create_app
from signer.config import ConfigError

from servers import signer_client as sc


def limited_client(signer_config, **settings):
    return create_app({**signer_config, **settings}).test_client()


def assert_rate_limited(response) -> None:
    assert response.status_code == 429
    assert response.json["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


def test_miner_over_its_limit_gets_429_with_retry_after(signer_config):
    client = limited_client(signer_config, SIGNER_RATELIMIT_MINER="2/hour")
    for _ in range(2):
        assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    response = client.post("/get-folder-access", json=sc.folder_access())
    assert_rate_limited(response)
    assert int(response.headers["Retry-After"]) <= 3600
    assert "2 per 1 hour" in response.json["detail"]


def test_limits_are_per_hotkey(signer_config):
    client = limited_client(signer_config, SIGNER_RATELIMIT_MINER="1/hour")
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    assert_rate_limited(client.post("/get-folder-access", json=sc.folder_access()))
    charlie = sc.folder_access("//Charlie", "//Charlie//stash")
    assert client.post("/get-folder-access", json=charlie).status_code == 200


def test_forged_requests_do_not_spend_a_hotkeys_quota(signer_config):
    client = limited_client(signer_config, SIGNER_RATELIMIT_MINER="2/hour")
    for _ in range(5):
        forged = sc.folder_access(signer="//Charlie")
        assert client.post("/get-folder-access", json=forged).status_code == 401
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200


def test_validator_endpoints_share_one_quota(signer_config):
    client = limited_client(signer_config, SIGNER_RATELIMIT_VALIDATOR="2/hour")
    assert client.post("/get-validator-access", json=sc.validator_access()).status_code == 200
    upload = client.post("/api/v1/s3-access/validator-upload", json=sc.validator_upload())
    assert upload.status_code == 200
    assert_rate_limited(client.post("/get-miner-list", json=sc.miner_list()))


def test_per_address_limit_applies_before_anything_else(signer_config):
    client = limited_client(signer_config, SIGNER_RATELIMIT_ADDRESS="3/hour")
    first = {"REMOTE_ADDR": "192.0.2.10"}
    for _ in range(3):
        client.post("/get-folder-access", json={}, environ_base=first)
    assert_rate_limited(client.post("/get-folder-access", json={}, environ_base=first))
    assert_rate_limited(client.get("/assignments/current", environ_base=first))
    other = client.post(
        "/get-folder-access", json=sc.folder_access(), environ_base={"REMOTE_ADDR": "192.0.2.11"}
    )
    assert other.status_code == 200


def test_health_probes_are_never_rate_limited(signer_config):
    client = limited_client(signer_config, SIGNER_RATELIMIT_ADDRESS="1/hour")
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_requests_that_reach_no_endpoint_and_static_files_spend_nothing(signer_config):
    """As docs/signer.md says: a 404, a 405 and the explorer's assets count in no limit, so
    the address's one request an hour is still there after them."""
    client = limited_client(signer_config, SIGNER_RATELIMIT_ADDRESS="1/hour")
    for _ in range(3):
        assert client.get("/nope").status_code == 404
        assert client.put("/openapi.json").status_code == 405
        assert client.get("/docs/assets/images/swagger.svg").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert_rate_limited(client.get("/openapi.json"))


def test_forwarded_address_is_used_only_behind_a_trusted_proxy(signer_config):
    hop = {"REMOTE_ADDR": "10.0.0.1"}
    direct = limited_client(signer_config, SIGNER_RATELIMIT_ADDRESS="1/hour")
    direct.get("/healthz")
    direct.get("/assignments/current", headers={"X-Forwarded-For": "192.0.2.1"}, environ_base=hop)
    spoofed = direct.get(
        "/assignments/current", headers={"X-Forwarded-For": "192.0.2.2"}, environ_base=hop
    )
    assert_rate_limited(spoofed)

    proxied = limited_client(
        signer_config,
        SIGNER_RATELIMIT_ADDRESS="1/hour",
        SIGNER_PROXY_HOPS="1",
        SIGNER_TRUSTED_PROXIES="10.0.0.0/8",
    )
    proxied.get("/assignments/current", headers={"X-Forwarded-For": "192.0.2.1"}, environ_base=hop)
    second_client = proxied.get(
        "/assignments/current", headers={"X-Forwarded-For": "192.0.2.2"}, environ_base=hop
    )
    assert second_client.status_code != 429


def test_unusable_storage_fails_at_startup_naming_the_setting(signer_config):
    with pytest.raises(ConfigError, match="SIGNER_RATELIMIT_STORAGE") as unknown:
        create_app({**signer_config, "SIGNER_RATELIMIT_STORAGE": "nosuchstore://:pw@localhost"})
    assert "'nosuchstore' is not a storage" in str(unknown.value)
    assert "pw" not in str(unknown.value), "the URL's password is never quoted"


@pytest.mark.parametrize(
    "url", ["rediss://u:pw@host:notaport", "redis://127.0.0.1:99999", "redis://[::1"]
)
def test_a_malformed_storage_url_fails_at_startup_naming_the_setting(signer_config, url):
    """Each was a ValueError traceback (under gunicorn: "Worker failed to boot")."""
    with pytest.raises(ConfigError, match="SIGNER_RATELIMIT_STORAGE is not a valid"):
        create_app({**signer_config, "SIGNER_RATELIMIT_STORAGE": url})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "rediss:/default:s3cr3tpw@db.example.com:25061",
            "SIGNER_RATELIMIT_STORAGE is not a valid rediss:// URL",
        ),
        (
            "default:s3cr3tpw@db.example.com:25061",
            "SIGNER_RATELIMIT_STORAGE: 'default' is not a storage this signer can use",
        ),
        (
            "s3cr3tpw",
            "SIGNER_RATELIMIT_STORAGE does not start with a storage's scheme (memory://, "
            "redis://, rediss://)",
        ),
    ],
)
def test_a_storage_url_missing_its_slashes_never_quotes_its_password(signer_config, url, problem):
    """The message quoted everything before "://" as the scheme: a URL missing a slash, or
    its scheme, put the Valkey password in the deploy log."""
    with pytest.raises(ConfigError) as caught:
        create_app({**signer_config, "SIGNER_RATELIMIT_STORAGE": url})
    assert str(caught.value).startswith(problem), str(caught.value)
    assert "s3cr3tpw" not in str(caught.value)


@pytest.mark.parametrize("mark", ["#", "?", "/"])
def test_a_storage_password_holding_a_url_delimiter_is_named_not_quoted(signer_config, mark):
    """`rediss://default:s3cr#tpw@db...` failed with redis-py's `Port could not be cast to
    integer value as 's3cr'`, the password up to the #, in the deploy log. A #, ? or / ends
    a URL's address: the message says to percent-encode it and quotes none of it."""
    url = f"rediss://default:s3cr{mark}tpw@db.example.com:25061"
    with pytest.raises(ConfigError) as caught:
        create_app({**signer_config, "SIGNER_RATELIMIT_STORAGE": url})
    assert str(caught.value) == (
        "SIGNER_RATELIMIT_STORAGE must be a URL whose user name and password are "
        "percent-encoded: a #, ? or / in them ends the address (write %23, %3F, %2F), got "
        "'rediss://db.example.com:25061'"
    )
