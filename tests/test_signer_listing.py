"""List URLs served by the signer (/s3/list): paging, objects, and the limits of what they grant.

The bucket is SeaweedFS; the signer app's clock is a variable, so expiry is tested by moving it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from signer import create_app

from servers import signer_client as sc
from servers.seaweed import S3Endpoint

pytestmark = pytest.mark.s3

S3 = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
BOB, CHARLIE, ALICE = sc.address("//Bob"), sc.address("//Charlie"), sc.address("//Alice")


class Clock:
    def __init__(self) -> None:
        self.now = float(sc.NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(signer_config: dict[str, Any], s3_server: S3Endpoint, s3_bucket: str):
    clock = Clock()
    config = {
        **signer_config,
        **s3_server.signer_settings(s3_bucket),
        "NOW": clock,
    }
    admin = s3_server.client()
    keys = [
        f"data/hotkey={BOB}/epoch={sc.EPOCH}/a.json",
        f"data/hotkey={BOB}/epoch={sc.EPOCH}/b.json",
        f"data/hotkey={BOB}/epoch={sc.EPOCH}/c.json",
        f"data/hotkey={CHARLIE}/epoch={sc.EPOCH}/d.json",
        f"validators/{BOB}/epoch={sc.EPOCH}/r.json",
        f"validators/{ALICE}/epoch={sc.EPOCH}/s.json",
    ]
    for key in keys:
        admin.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    return create_app(config).test_client(), clock, keys


def miner_url(client, miner: str = "//Bob") -> str:
    response = client.post("/get-miner-specific-access", json=sc.miner_list(miner=miner))
    assert response.status_code == 200, response.json
    return response.json["miner_url"]


def local(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), *extra.items()])
    return f"{parts.path}?{query}"


def page(client, url: str, **extra: str) -> ET.Element:
    response = client.get(local(url, **extra))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/xml"
    return ET.fromstring(response.data)


def names(root: ET.Element) -> list[str]:
    keys = [e.text for e in root.findall("s3:Contents/s3:Key", S3)]
    return keys + [e.text for e in root.findall("s3:CommonPrefixes/s3:Prefix", S3)]


def test_a_page_has_the_media_type_the_document_gives_it(world):
    client, _, _ = world
    answer = client.get(local(miner_url(client)))
    documented = client.get("/openapi.json").json["paths"]["/s3/list"]["get"]["responses"]
    assert answer.status_code == 200
    assert list(documented["200"]["content"]) == [answer.mimetype]


def test_a_miners_url_pages_through_its_data_then_its_validator_folder(world):
    client, _, keys = world
    url = miner_url(client)
    seen: list[str] = []
    token = None
    while True:
        extra = {"max-keys": "2"} | ({"continuation-token": token} if token else {})
        root = page(client, url, **extra)
        seen += names(root)
        if root.find("s3:IsTruncated", S3).text == "false":
            break
        token = root.find("s3:NextContinuationToken", S3).text
    assert seen == [keys[0], keys[1], keys[2], keys[4]]
    after = page(client, url, **{"start-after": keys[1]})
    assert names(after) == [keys[2], keys[4]]


def test_the_delimited_listing_pages_one_miner_at_a_time(world):
    client, _, _ = world
    access = client.post("/get-validator-access", json=sc.validator_access()).json
    url = access["urls"]["miners"]["list_all_miners"]
    first = page(client, url, **{"max-keys": "1"})
    assert names(first) == [f"data/hotkey={BOB}/"]
    token = first.find("s3:NextContinuationToken", S3).text
    second = page(client, url, **{"max-keys": "1", "continuation-token": token})
    assert names(second) == [f"data/hotkey={CHARLIE}/"]
    assert second.find("s3:IsTruncated", S3).text == "false"


def test_an_object_url_redirects_to_a_presigned_get_within_the_prefixes(world):
    client, _, keys = world
    url = miner_url(client)
    path, query = local(url).split("?")
    found = client.get(f"{path}/{keys[4]}?{query}")
    assert found.status_code == 302
    assert requests.get(found.headers["Location"], timeout=10).content == keys[4].encode()
    for outside in (keys[3], keys[5], f"data/hotkey={BOB}/../hotkey={CHARLIE}/d.json"):
        refused = client.get(f"{path}/{outside}?{query}")
        assert refused.status_code == 403, outside
        assert refused.json["error"] == "outside_prefix"


def test_doubled_slashes_are_not_redirected_and_a_key_with_them_is_read(world, s3_server):
    """A doubled slash before the key was answered by werkzeug's 308 to a merged path, with
    an HTML page; a key with `//` inside it must still be read as itself."""
    client, _, keys = world
    doubled = f"data/hotkey={BOB}/epoch={sc.EPOCH}//x.json"
    bucket = s3_server.client()
    bucket.put_object(
        Bucket=client.application.extensions["signer"].settings.s3_bucket,
        Key=doubled,
        Body=b"doubled",
    )
    path, query = local(miner_url(client)).split("?")
    found = client.get(f"{path}/{doubled}?{query}")
    assert found.status_code == 302, found.get_data(as_text=True)[:200]
    assert requests.get(found.headers["Location"], timeout=10).content == b"doubled"
    stray = client.get(f"{path}//{keys[0]}?{query}")
    assert (stray.status_code, stray.json["error"]) == (404, "not_found")


def test_a_list_url_expires_and_cannot_be_altered(world):
    client, clock, _ = world
    url = miner_url(client)
    clock.now += 3601
    expired = client.get(local(url))
    assert (expired.status_code, expired.json["error"]) == (403, "list_url_expired")
    clock.now -= 3601
    parts = urlsplit(url)
    longer = [(k, str(int(v) + 3600) if k == "expires" else v) for k, v in parse_qsl(parts.query)]
    altered = client.get(f"{parts.path}?{urlencode(longer)}")
    assert (altered.status_code, altered.json["error"]) == (403, "invalid_list_signature")
    assert client.get(local(url, **{"continuation-token": "@@"})).status_code == 400
    assert client.get(local(url, **{"max-keys": "5000"})).status_code == 422


def test_keys_xml_cannot_carry_are_left_out_of_every_page(world, s3_server, s3_bucket):
    """A miner may upload keys with control characters (its POST policy fixes only the
    prefix): written raw, one made the whole page unreadable XML for every validator
    listing it. Such keys are left out; paging over them neither repeats nor skips."""
    client, _, keys = world
    folder = f"data/hotkey={BOB}/epoch={sc.EPOCH}/"
    unlistable = [f"{folder}b\x01\x0b.json", f"{folder}b\r.json", f"{folder}z\x1f.json"]
    admin = s3_server.client()
    for key in unlistable:
        admin.put_object(Bucket=s3_bucket, Key=key, Body=b"{}")
    try:
        assert len(admin.list_objects_v2(Bucket=s3_bucket, Prefix=folder)["Contents"]) == 6
        seen = list_all(client, miner_url(client))
    finally:  # one by one: a DeleteObjects request is XML too, and cannot name them either
        for key in unlistable:
            admin.delete_object(Bucket=s3_bucket, Key=key)
    assert seen == [keys[0], keys[1], keys[2], keys[4]]


def list_all(client, url: str) -> list[str]:
    """Every name a list URL gives, two a page, each page parsed and its KeyCount checked."""
    seen: list[str] = []
    token = None
    while True:
        extra = {"max-keys": "2"} | ({"continuation-token": token} if token else {})
        root = page(client, url, **extra)
        assert int(root.find("s3:KeyCount", S3).text) == len(names(root))
        seen += names(root)
        if root.find("s3:IsTruncated", S3).text == "false":
            return seen
        token = root.find("s3:NextContinuationToken", S3).text
