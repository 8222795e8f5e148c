"""Settings from the environment: defaults, and a clear refusal for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from signer.config import ConfigError, load_settings

BASE = {"SIGNER_METAGRAPH": "data/metagraph.demo.json"}


def test_defaults():
    settings = load_settings(BASE)
    assert settings.metagraph_path == Path("data/metagraph.demo.json")
    assert (settings.netuid, settings.network) == (46, "finney")
    assert settings.published == "published"
    assert settings.min_validator_stake == 20000
    assert settings.ratelimit_storage == "memory://"
    assert (settings.timestamp_max_age, settings.timestamp_max_ahead) == (300, 60)
    assert settings.metagraph_max_age == 3600
    assert settings.metagraph_refresh == 600
    assert settings.s3_bucket is None
    assert settings.s3_addressing_style == "virtual"
    assert settings.cdn_url is None


def test_testnet_and_a_published_url():
    settings = load_settings(
        {
            **BASE,
            "SIGNER_NETWORK": "test",
            "SIGNER_NETUID": "428",
            "SIGNER_PUBLISHED": "https://cdn.example.com/s46/",
            "S3_ENDPOINT_URL": "https://nyc3.digitaloceanspaces.com",
            "S3_REGION": "nyc3",
            "S3_BUCKET": "data",
            "S3_ACCESS_KEY_ID": "DO00KEY",
            "S3_SECRET_ACCESS_KEY": "s3cr3t-value",
        }
    )
    assert (settings.network, settings.netuid) == ("test", 428)
    assert settings.published == "https://cdn.example.com/s46"
    assert settings.published_is_url
    assert settings.cdn_url == "https://cdn.example.com/s46"
    assert settings.s3_addressing_style == "path"
    assert "s3cr3t-value" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SIGNER_METAGRAPH is required"),
        ({**BASE, "SIGNER_NETUID": "forty-six"}, "SIGNER_NETUID must be a whole number"),
        ({**BASE, "SIGNER_TIMESTAMP_MAX_AGE": "-5"}, "SIGNER_TIMESTAMP_MAX_AGE must be >= 0"),
        ({**BASE, "SIGNER_MIN_VALIDATOR_STAKE": "lots"}, "SIGNER_MIN_VALIDATOR_STAKE must be"),
        ({**BASE, "SIGNER_RATELIMIT_MINER": "fast"}, "SIGNER_RATELIMIT_MINER must be rate"),
        ({**BASE, "SIGNER_LIST_URL_TTL": "700000"}, "SIGNER_LIST_URL_TTL must be between"),
        ({**BASE, "SIGNER_MAX_BODY_BYTES": "0"}, "SIGNER_MAX_BODY_BYTES must be >= 1"),
        ({**BASE, "S3_ENDPOINT_URL": "nyc3.example"}, "S3_ENDPOINT_URL must be an http"),
        ({**BASE, "SIGNER_CDN_URL": "ftp://x"}, "SIGNER_CDN_URL must be an http"),
        (
            {**BASE, "S3_ADDRESSING_STYLE": "sideways"},
            "S3_ADDRESSING_STYLE must be one of path, virtual, auto, got 'sideways'$",
        ),
        ({**BASE, "SIGNER_PUBLISHED": "ftp://x/p"}, "SIGNER_PUBLISHED must be a folder or an http"),
        ({**BASE, "S3_BUCKET": "s3://data"}, "S3_BUCKET must be a bucket name"),
        ({**BASE, "SIGNER_NETWORK": "mainnet"}, "SIGNER_NETWORK must be a network"),
        ({**BASE, "S3_BUCKET": "my data"}, "S3_BUCKET must be a bucket name"),
        ({**BASE, "SIGNER_VALIDATOR_STAKE_RULE": "stake>"}, "SIGNER_VALIDATOR_STAKE_RULE must be"),
        (
            {**BASE, "S3_BUCKET": "data", "S3_ACCESS_KEY_ID": "k"},
            "S3_SECRET_ACCESS_KEY are required",
        ),
    ],
    ids=[
        "metagraph",
        "netuid",
        "negative",
        "stake",
        "rate",
        "ttl",
        "body",
        "endpoint",
        "cdn",
        "style",
        "published",
        "bucket-url",
        "bucket-space",
        "network",
        "rule",
        "secret",
    ],
)
def test_bad_settings_are_refused_by_name(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_the_secret_is_never_quoted_in_an_error():
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, "S3_BUCKET": "data", "S3_SECRET_ACCESS_KEY": "hush-hush"})
    assert "hush-hush" not in str(refused.value)


def test_epoch_hours_is_shared_with_the_planner():
    assert load_settings(BASE).epoch_hours == 4
    assert load_settings({**BASE, "EPOCH_HOURS": "6"}).epoch_hours == 6
    with pytest.raises(ConfigError, match="EPOCH_HOURS must divide 24"):
        load_settings({**BASE, "EPOCH_HOURS": "5"})


@pytest.mark.parametrize("hours", [1, 2, 3, 4, 6, 8, 12, 24])
def test_epoch_hours_takes_every_length_that_divides_24(hours):
    assert load_settings({**BASE, "EPOCH_HOURS": str(hours)}).epoch_hours == hours


@pytest.mark.parametrize("hours", ["-4", "0", "7", "16", "48"])
def test_epoch_hours_refuses_a_length_that_does_not_divide_24_by_name(hours):
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, "EPOCH_HOURS": hours})
    assert f"EPOCH_HOURS must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), got {hours}" in str(
        refused.value
    )


def test_a_mapping_is_read_alone_and_empty_values_are_unset(monkeypatch):
    """create_app hands the environment over explicitly; nothing else leaks in."""
    monkeypatch.setenv("SIGNER_NETUID", "7")
    monkeypatch.setenv("SIGNER_PROXY_HOPS", "")
    assert load_settings(BASE).netuid == 46
    monkeypatch.setenv("SIGNER_METAGRAPH", "from-the-environment.json")
    assert (load_settings().netuid, load_settings().proxy_hops) == (7, 0)
    assert load_settings({**BASE, "SIGNER_NETUID": "", "EPOCH_HOURS": " "}).epoch_hours == 4


def test_values_are_read_without_surrounding_whitespace():
    """A .env with CRLF line endings gave every value a trailing carriage return: a bucket
    named "data\r", a metagraph path that does not exist."""
    settings = load_settings(
        {**BASE, "S3_BUCKET": "data\r", "S3_ACCESS_KEY_ID": " k\r", "S3_SECRET_ACCESS_KEY": "s\r\n"}
    )
    assert (settings.s3_bucket, settings.s3_access_key_id) == ("data", "k")
    assert settings.s3_secret_access_key == "s"


@pytest.mark.parametrize(
    "name", ["SIGNER_RATELIMIT_ADDRESS", "SIGNER_RATELIMIT_MINER", "SIGNER_RATELIMIT_VALIDATOR"]
)
def test_a_limit_of_zero_requests_is_refused(name):
    """`0/minute` (meant as "no limit"?) was accepted, and the signer then answered every
    request 429 but the probes: /healthz stayed green through a complete outage."""
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, name: "10/minute;0/day"})
    assert str(refused.value) == (
        f"{name} must allow at least 1 request per window, got '10/minute;0/day' (a limit "
        "of 0 refuses every request)"
    )


@pytest.mark.parametrize(
    ("published", "says"),
    [
        (
            "https:/cdn.example.com",
            "SIGNER_PUBLISHED must be a folder or an http(s) URL (http:// or https:// and a "
            "host), got 'https:/cdn.example.com'",
        ),
        (
            "http:cdn.example.com",
            "SIGNER_PUBLISHED must be a folder or an http(s) URL (http:// or https:// and a "
            "host), got 'http:cdn.example.com'",
        ),
        (
            "https://",
            "SIGNER_PUBLISHED must be a folder or an http(s) URL (http:// or https:// and a "
            "host), got 'https://'",
        ),
        (
            "cdn.example.com",
            "SIGNER_PUBLISHED must be a folder or an http(s) URL, got 'cdn.example.com', which "
            "is no folder: a URL needs http:// or https:// (such as 'https://cdn.example.com')"
            "; a folder named like a host must exist first",
        ),
        (
            "cdn.example.com/s46",
            "SIGNER_PUBLISHED must be a folder or an http(s) URL, got 'cdn.example.com/s46', "
            "which is no folder: a URL needs http:// or https:// (such as "
            "'https://cdn.example.com/s46')"
            "; a folder named like a host must exist first",
        ),
        (
            "localhost:8080",
            "SIGNER_PUBLISHED must be a folder or an http(s) URL, got 'localhost:8080', which "
            "is no folder: a URL needs http:// or https:// (such as 'https://localhost:8080')"
            "; a folder named like a host must exist first",
        ),
        (
            "127.0.0.1:8080",
            "SIGNER_PUBLISHED must be a folder or an http(s) URL, got '127.0.0.1:8080', which "
            "is no folder: a URL needs http:// or https:// (such as 'https://127.0.0.1:8080')"
            "; a folder named like a host must exist first",
        ),
    ],
)
def test_a_published_url_without_http_is_refused_by_name(tmp_path, monkeypatch, published, says):
    """SIGNER_PUBLISHED=cdn.example.com was taken for a folder that does not exist: the
    signer started, and answered every miner that nothing was published."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, "SIGNER_PUBLISHED": published})
    assert str(refused.value) == says


def test_a_folder_named_like_a_host_is_a_folder(tmp_path, monkeypatch):
    """A mirror of the CDN (`wget -m https://cdn.example.com` makes `cdn.example.com/`) is
    read as the folder it is; a folder path that does not exist yet is taken too."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cdn.example.com").mkdir()
    assert load_settings({**BASE, "SIGNER_PUBLISHED": "cdn.example.com"}).published == (
        "cdn.example.com"
    )
    later = load_settings({**BASE, "SIGNER_PUBLISHED": "/srv/published"})
    assert (later.published, later.published_is_url) == ("/srv/published", False)


@pytest.mark.parametrize("name", ["SIGNER_CDN_URL", "S3_ENDPOINT_URL"])
@pytest.mark.parametrize("url", ["cdn.example.com", "http://:8080", "https://cdn.example.com:x"])
def test_a_base_url_without_scheme_or_host_is_refused_by_name(name, url):
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, name: url})
    assert str(refused.value) == f"{name} must be an http(s) URL, got {url!r}"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://b46-data.nyc3.digitaloceanspaces.com",
        "https://nyc3.digitaloceanspaces.com/b46-data",
        "https://nyc3.digitaloceanspaces.com/b46-data/",
    ],
)
def test_an_endpoint_that_holds_the_bucket_is_refused_by_name(endpoint):
    """The data bucket's own URL (the Spaces "Origin Endpoint") given as S3_ENDPOINT_URL:
    the signer started and issued URLs naming the bucket twice (path-style
    https://nyc3.digitaloceanspaces.com/b46-data/b46-data), so every validator's list and
    read of the miners' uploads failed with NoSuchKey; the planner refuses the same
    mistake in SPACES_ENDPOINT_URL."""
    env = {
        **BASE,
        "S3_BUCKET": "b46-data",
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": "nyc3",
        "S3_ACCESS_KEY_ID": "DO00KEY",
        "S3_SECRET_ACCESS_KEY": "s3cr3t-value",
    }
    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    assert str(refused.value) == (
        f"S3_ENDPOINT_URL must be the region's endpoint, without the bucket, got "
        f"{endpoint.rstrip('/')!r}: that is the bucket's own URL; set S3_ENDPOINT_URL="
        "https://nyc3.digitaloceanspaces.com (the bucket is S3_BUCKET=b46-data)"
    )


def data_bucket(endpoint: str, bucket: str = "b46-data") -> dict[str, str]:
    """The signer's settings with the data bucket `bucket` on `endpoint`."""
    return {
        **BASE,
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_ACCESS_KEY_ID": "DO00KEY",
        "S3_SECRET_ACCESS_KEY": "s3cr3t-value",
    }


@pytest.mark.parametrize(
    ("endpoint", "instead"),
    [
        (
            "https://user:pa55word@nyc3.digitaloceanspaces.com/b46-data",
            "https://nyc3.digitaloceanspaces.com",
        ),
        (
            "https://user:pa55word@b46-data.nyc3.digitaloceanspaces.com",
            "https://nyc3.digitaloceanspaces.com",
        ),
        ("http://b46-data.localhost:8333", "http://localhost:8333"),
        ("http://127.0.0.1:8333/s3/b46-data", "http://127.0.0.1:8333/s3"),
        ("https://gateway.example.com/s3/b46-data/", "https://gateway.example.com/s3"),
    ],
)
def test_a_bucket_url_is_refused_naming_the_endpoint_to_set(endpoint, instead):
    """The endpoint to set, named after the refusal, is shown without a user and password
    too (it named them), and the bucket in the host is found behind them. Only a host with
    three dots or more, and only the path's first part, were looked at: SeaweedFS's
    virtual-host URL on localhost, or a gateway's path prefix before the bucket, was taken
    as the endpoint, and every key was read from a folder of the bucket named after it."""
    with pytest.raises(ConfigError) as refused:
        load_settings(data_bucket(endpoint))
    assert "pa55word" not in str(refused.value)
    assert str(refused.value).endswith(
        f"that is the bucket's own URL; set S3_ENDPOINT_URL={instead} (the bucket is "
        "S3_BUCKET=b46-data)"
    )


@pytest.mark.parametrize("bucket", ["b46-data", ""])
def test_an_endpoint_with_a_user_and_password_is_refused_without_them(bucket):
    """botocore builds every presigned URL on the endpoint, user and password included
    (`https://KEY:SECRET@nyc3.../b46-data/...`): each miner and validator would have been
    handed them, and /readyz showed them to anyone."""
    endpoint = "https://DO00KEY:TopSecretValue123@nyc3.digitaloceanspaces.com"
    with pytest.raises(ConfigError) as refused:
        load_settings(data_bucket(endpoint, bucket))
    assert str(refused.value) == (
        "S3_ENDPOINT_URL must hold no user name and password, got "
        "'https://nyc3.digitaloceanspaces.com' with them: requests to it are signed with "
        "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, and every presigned URL the signer hands "
        "out is built on it"
    )


def test_an_endpoint_with_a_path_of_its_own_is_no_bucket_url():
    """A bucket named like the endpoint's first label, or an endpoint behind a path prefix
    other than the bucket, is left alone."""
    keys = {"S3_ACCESS_KEY_ID": "k", "S3_SECRET_ACCESS_KEY": "s"}
    for endpoint, bucket in [
        ("https://nyc3.digitaloceanspaces.com", "nyc3"),
        ("http://127.0.0.1:8333/s3", "b46-data"),
    ]:
        env = {**BASE, **keys, "S3_ENDPOINT_URL": endpoint, "S3_BUCKET": bucket}
        assert load_settings(env).s3_endpoint_url == endpoint


@pytest.mark.parametrize("name", ["SIGNER_CDN_URL", "S3_ENDPOINT_URL", "SIGNER_PUBLISHED"])
@pytest.mark.parametrize(
    ("url", "shown", "part"),
    [
        (
            "https://cdn.example.com/?token=s3cr3t",
            "https://cdn.example.com/?…",
            "its query string (from '?' on)",
        ),
        (
            "https://cdn.example.com/s46#top",
            "https://cdn.example.com/s46#…",
            "its fragment (from '#' on)",
        ),
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused_by_name(name, url, shown, part):
    """`SIGNER_PUBLISHED=https://cdn.example.com/?x=1` was taken, and the signer redirected
    `/assignments/current` into the query (`/?x=1/current.json`), to the CDN's root. The
    query is not repeated: it may carry a token."""
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, name: url})
    assert str(refused.value) == (
        f"{name} must be an http(s) URL without a query string or fragment (paths go after "
        f"it): drop {part}, got {shown!r}"
    )


@pytest.mark.parametrize(
    ("name", "url", "says"),
    [
        ("SIGNER_CDN_URL", "ftp://admin:s3cr3t@cdn.example.com", "must be an http(s) URL"),
        (
            "SIGNER_PUBLISHED",
            "ftp://admin:s3cr3t@cdn.example.com",
            "must be a folder or an http(s) URL (http:// or https:// and a host)",
        ),
    ],
)
def test_a_refused_url_setting_is_named_without_its_password(name, url, says):
    """A URL setting refused for its scheme was quoted whole in the start-up error, the
    password of its `user:password@` with it."""
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, name: url})
    assert str(refused.value) == f"{name} {says}, got 'ftp://cdn.example.com'"


@pytest.mark.parametrize("name", ["SIGNER_CDN_URL", "SIGNER_PUBLISHED", "S3_ENDPOINT_URL"])
@pytest.mark.parametrize("password", ["s3cr#t", "s3cr?t", "s3cr/t", "1234#t"])
def test_a_url_setting_whose_password_holds_a_delimiter_is_named_without_it(name, password):
    """`https://admin:s3cr#t@cdn.example.com` was refused as having a fragment and shown as
    `'https://admin:s3cr#…'`: the user and half the password, since the # ended the address
    before its @. It is shown without them and says to percent-encode them."""
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, name: f"https://admin:{password}@cdn.example.com"})
    assert str(refused.value) == (
        f"{name} must be a URL whose user name and password are percent-encoded: a #, ? or / "
        "in them ends the address (write %23, %3F, %2F), got 'https://cdn.example.com'"
    )


@pytest.mark.parametrize(
    ("name", "url", "says", "shown"),
    [
        (
            "SIGNER_CDN_URL",
            "ftp://cdn.example.com/?token=s3cr3t",
            "must be an http(s) URL",
            "ftp://cdn.example.com/?…",
        ),
        (
            "S3_ENDPOINT_URL",
            "https://host:x/#s3cr3t",
            "must be an http(s) URL",
            "https://host:x/#…",
        ),
    ],
)
def test_a_url_setting_refused_for_its_scheme_is_named_without_its_query(name, url, says, shown):
    """A URL refused for its scheme or port was quoted with its query, the token it may
    carry with it: only a URL that was a base URL but for its query was cut."""
    with pytest.raises(ConfigError) as refused:
        load_settings({**BASE, name: url})
    assert str(refused.value) == f"{name} {says}, got {shown!r}"
