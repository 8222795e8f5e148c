"""A miner's credentials are presigned once per epoch and reused, never bypassing the checks."""

from __future__ import annotations

import pytest

from signer import create_app

from servers import signer_client as sc

HOUR = 3600


@pytest.fixture
def clock():
    return {"now": float(sc.NOW)}


@pytest.fixture
def counted(signer_config, clock, monkeypatch):
    """The app with a moving clock, and how many times each presigning ran."""
    import signer.credentials as credentials

    calls = {"post": 0, "list": 0}
    real_post, real_list = credentials.presigned_post, credentials.presigned_list

    def post(*args, **kwargs):
        calls["post"] += 1
        return real_post(*args, **kwargs)

    def listing(*args, **kwargs):
        calls["list"] += 1
        return real_list(*args, **kwargs)

    monkeypatch.setattr(credentials, "presigned_post", post)
    monkeypatch.setattr(credentials, "presigned_list", listing)
    app = create_app({**signer_config, "NOW": lambda: clock["now"]})
    return app.test_client(), calls


def ask(client, now: float, **body):
    return client.post("/get-folder-access", json=sc.folder_access(timestamp=int(now), **body))


def test_same_hotkey_same_epoch_gets_the_same_credentials_presigned_once(counted, clock):
    client, calls = counted
    first = ask(client, clock["now"])
    clock["now"] += 600
    second = ask(client, clock["now"])
    assert first.status_code == second.status_code == 200
    assert calls == {"post": 1, "list": 1}
    a, b = first.json, second.json
    assert (a["url"], a["fields"], a["list_url"], a["expiry"]) == (
        b["url"],
        b["fields"],
        b["list_url"],
        b["expiry"],
    )
    assert b["expiry_seconds"] == a["expiry_seconds"] - 600
    assert b["list_expiry"] == a["list_expiry"]


def test_other_hotkeys_and_new_epochs_get_their_own(counted, clock):
    client, calls = counted
    bob = ask(client, clock["now"]).json
    charlie = ask(client, clock["now"], hotkey="//Charlie", coldkey="//Charlie//stash").json
    assert charlie["folder"] != bob["folder"]
    assert calls["post"] == 2
    clock["now"] += 4 * HOUR
    later = ask(client, clock["now"]).json
    assert later["epoch_id"] != bob["epoch_id"]
    assert later["folder"] == f"data/hotkey={sc.address('//Bob')}/epoch={later['epoch_id']}/"
    assert calls["post"] == 3


def test_list_url_is_presigned_again_past_half_its_lifetime(counted, clock):
    client, calls = counted
    first = ask(client, clock["now"]).json
    clock["now"] += HOUR / 2 + 1
    second = ask(client, clock["now"]).json
    assert calls == {"post": 2, "list": 2}
    assert second["list_expiry"] > first["list_expiry"]


def test_reuse_never_skips_signature_or_metagraph_checks(counted, clock):
    client, calls = counted
    assert ask(client, clock["now"]).status_code == 200
    forged = ask(client, clock["now"], signer="//Charlie")
    assert forged.status_code == 401
    wrong_owner = ask(client, clock["now"], coldkey="//Charlie//stash")
    assert wrong_owner.status_code == 403
    stale = client.post(
        "/get-folder-access", json=sc.folder_access(timestamp=int(clock["now"]) - 3 * HOUR)
    )
    assert stale.status_code == 401
    for refused in (forged, wrong_owner, stale):
        assert "fields" not in refused.json
    assert calls == {"post": 1, "list": 1}
