"""Metagraph snapshots: validation, atomic writes, reloading, refreshing, failing closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from signer import create_app
from signer.errors import SignerError
from signer.metagraph import (
    MetagraphStore,
    Refresher,
    SnapshotError,
    load_snapshot,
    parse_snapshot,
    snapshot_from_metagraph,
    write_snapshot,
)

from servers import signer_client as sc
from servers.fake_chain import DEMO_METAGRAPH as DEMO
from servers.fake_chain import fake_metagraph

ROOT = Path(__file__).resolve().parents[1]
FETCHED = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def demo_document() -> dict:
    return json.loads(DEMO.read_text())


def test_demo_snapshot_parses():
    snapshot = load_snapshot(DEMO, 46)
    assert snapshot.netuid == 46
    assert snapshot.fetched_at == FETCHED
    assert len(snapshot.neurons) == 4
    alice = snapshot.neurons[sc.address("//Alice")]
    assert (alice.uid, alice.validator_permit, alice.stake) == (0, True, 50000.0)
    assert alice.total_stake == 65000.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("neurons"), "neurons: Field required"),
        (lambda d: d.update(neurons=[]), "neurons: .* at block 6543210 lists no neurons"),
        (lambda d: d.update(netuid=13), "netuid 13, this signer serves 46"),
        (lambda d: d["neurons"][1].update(hotkey="5Fnot-an-address"), "neurons.1.hotkey"),
        (lambda d: d["neurons"][2].update(stake=-1), "neurons.2.stake"),
        (lambda d: d["neurons"][3].update(totalStake="x"), "neurons.3.totalStake"),
        (lambda d: d["neurons"][0].update(validatorPermit="yes"), "neurons.0.validatorPermit"),
        (lambda d: d.update(fetchedAt="yesterday"), "fetchedAt: not an ISO-8601 instant"),
        (lambda d: d.update(fetchedAt="2026-11-25T16:00:00"), "fetchedAt: needs a timezone"),
        (lambda d: d["neurons"].append(dict(d["neurons"][0], uid=9)), "uid 9 appears twice"),
    ],
    ids=[
        "no-neurons",
        "empty",
        "netuid",
        "hotkey",
        "stake",
        "total",
        "permit",
        "date",
        "naive",
        "duplicate",
    ],
)
def test_bad_snapshots_are_refused_with_the_place(change, message):
    document = demo_document()
    change(document)
    with pytest.raises(SnapshotError, match=message):
        parse_snapshot(document, 46)


def test_unreadable_file_names_the_path(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(SnapshotError, match=r"broken\.json is not valid JSON"):
        load_snapshot(path, 46)


def test_a_snapshot_nested_too_deeply_is_unusable_and_kept_over(tmp_path):
    # Deeper than Python's parser goes: RecursionError, no ValueError, escaped the store
    # (a 500), and the file's stamp, taken first, then had it skipped for good.
    path = tmp_path / "metagraph.json"
    path.write_text("[" * 100_000)
    with pytest.raises(SnapshotError, match=r"metagraph\.json is not valid JSON: nested"):
        load_snapshot(path, 46)
    store = store_for(path)
    write_snapshot(path, demo_document())
    good = store.snapshot()
    path.write_text("[" * 100_000)
    assert store.snapshot() is good
    assert "nested too deeply" in store.status()["problem"]


def test_snapshot_from_metagraph_is_the_file_format():
    document = snapshot_from_metagraph(fake_metagraph(), FETCHED)
    assert document == {
        "netuid": 46,
        "block": 7000000,
        "fetchedAt": "2026-11-25T16:00:00Z",
        "neurons": [
            {
                "uid": 0,
                "hotkey": sc.address("//Alice"),
                "coldkey": sc.address("//Alice//stash"),
                "validatorPermit": True,
                "stake": 30617.25,
                "totalStake": 61234.5,
            },
            {
                "uid": 1,
                "hotkey": sc.address("//Eve"),
                "coldkey": sc.address("//Eve//stash"),
                "validatorPermit": False,
                "stake": 5.0,
                "totalStake": 10.0,
            },
        ],
    }
    eve = parse_snapshot(document, 46).neurons[sc.address("//Eve")]
    assert (eve.stake, eve.total_stake) == (5.0, 10.0)


def test_a_snapshot_without_total_stake_counts_alpha_as_total():
    """Snapshots written by hand (or by an older sync) may carry `stake` alone."""
    document = demo_document()
    for neuron in document["neurons"]:
        neuron.pop("totalStake")
    alice = parse_snapshot(document, 46).neurons[sc.address("//Alice")]
    assert (alice.stake, alice.total_stake) == (50000.0, 50000.0)


def test_write_snapshot_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "state" / "metagraph.json"
    write_snapshot(path, demo_document())
    write_snapshot(path, snapshot_from_metagraph(fake_metagraph(), FETCHED))
    assert [p.name for p in path.parent.iterdir()] == ["metagraph.json"]
    assert json.loads(path.read_text())["block"] == 7000000


def store_for(path: Path, max_age: int = 0, now: float = float(sc.NOW)) -> MetagraphStore:
    """A store that looks at its file on every call (the app's looks once a second)."""
    return MetagraphStore(path, 46, max_age, lambda: now, recheck=0)


def test_store_picks_up_a_new_file_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "metagraph.json"
    store = store_for(path)
    assert store.snapshot() is None
    write_snapshot(path, demo_document())
    assert sc.address("//Eve") not in store.snapshot().neurons
    write_snapshot(path, snapshot_from_metagraph(fake_metagraph(), FETCHED))
    assert sc.address("//Eve") in store.snapshot().neurons
    path.write_text('{"netuid": 46}')
    kept = store.snapshot()
    assert kept is not None
    assert sc.address("//Eve") in kept.neurons
    assert "block: Field required" in store.status()["problem"]
    path.unlink()
    assert store.snapshot() is kept
    assert "is missing (deleted?)" in store.status()["problem"]


def test_an_unusable_first_snapshot_is_not_said_to_be_kept_over(tmp_path, caplog):
    path = tmp_path / "metagraph.json"
    path.write_text('{"netuid": 46}')
    store = store_for(path)
    assert store.snapshot() is None
    assert "none served yet" in caplog.text
    assert "last good" not in caplog.text
    write_snapshot(path, demo_document())
    assert store.snapshot() is not None
    path.write_text('{"netuid": 46}')
    store.snapshot()
    assert "keeping the last good one" in caplog.text


def test_store_looks_at_its_file_once_a_recheck_interval(tmp_path):
    path = tmp_path / "metagraph.json"
    write_snapshot(path, demo_document())
    ticks = {"now": 100.0}
    store = MetagraphStore(
        path, 46, 0, lambda: float(sc.NOW), recheck=10.0, ticker=lambda: ticks["now"]
    )
    assert store.snapshot().block == 6543210
    write_snapshot(path, snapshot_from_metagraph(fake_metagraph(), FETCHED))
    ticks["now"] += 9.0
    assert store.snapshot().block == 6543210, "looked at the file again within the interval"
    ticks["now"] += 1.0
    assert store.snapshot().block == 7000000
    path.unlink()
    ticks["now"] += 5.0
    store.snapshot()
    assert store.problem is None
    ticks["now"] += 5.0
    store.snapshot()
    assert "is missing (deleted?)" in store.problem
    write_snapshot(path, demo_document())
    assert store.status()["problem"] is None, "/readyz reports the file as it is now"


def test_refresher_sees_its_own_write_at_once(tmp_path):
    path = tmp_path / "metagraph.json"
    write_snapshot(path, demo_document())
    store = MetagraphStore(path, 46, 0, lambda: float(sc.NOW), recheck=3600.0)
    assert store.snapshot().block == 6543210
    assert Refresher(store, fake_metagraph, 600).refresh_once() is True
    assert store.snapshot().block == 7000000


def test_store_fails_closed_past_the_maximum_age(tmp_path):
    path = tmp_path / "metagraph.json"
    write_snapshot(path, demo_document())
    with pytest.raises(SignerError) as refused:
        store_for(path, max_age=1800).require()
    assert (refused.value.status, refused.value.code) == (503, "metagraph_stale")
    assert store_for(path, max_age=3600).require().block == 6543210
    assert store_for(path, max_age=0, now=float(sc.NOW) + 10**7).require().block == 6543210


def test_missing_snapshot_is_503(tmp_path):
    with pytest.raises(SignerError) as refused:
        store_for(tmp_path / "absent.json").require()
    assert (refused.value.status, refused.value.code) == (503, "metagraph_unavailable")


def test_refresh_writes_a_new_snapshot(tmp_path):
    path = tmp_path / "metagraph.json"
    write_snapshot(path, demo_document())
    store = store_for(path)
    assert Refresher(store, fake_metagraph, 600).refresh_once() is True
    assert store.snapshot().block == 7000000
    assert store.snapshot().fetched_at == datetime.fromtimestamp(sc.NOW, UTC)


def test_failed_refresh_keeps_the_last_good_snapshot(tmp_path, caplog):
    path = tmp_path / "metagraph.json"
    write_snapshot(path, demo_document())
    before = path.read_bytes()
    store = store_for(path)

    def unreachable():
        raise ConnectionError("chain unreachable")

    assert Refresher(store, unreachable, 600).refresh_once() is False
    assert Refresher(store, lambda: fake_metagraph(netuid=13), 600).refresh_once() is False
    assert path.read_bytes() == before
    assert store.snapshot().block == 6543210
    assert "chain unreachable" in caplog.text


def test_refresher_thread_syncs_until_stopped(tmp_path):
    path = tmp_path / "metagraph.json"
    store = store_for(path)
    synced = threading.Event()

    def fetch():
        synced.set()
        return fake_metagraph()

    refresher = Refresher(store, fetch, 3600)
    refresher.start()
    assert synced.wait(30)
    refresher.stop()
    refresher._thread.join(30)
    assert not refresher._thread.is_alive()
    assert store.snapshot().block == 7000000


def test_readyz_reports_snapshot_age_and_staleness(signer_config):
    ready = create_app(signer_config).test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json["ready"] is True
    assert ready.json["metagraph"]["ageSeconds"] == 3600.0
    assert ready.json["metagraph"]["block"] == 6543210
    assert ready.json["bucket"] == {
        "configured": True,
        "bucket": "subnet46-test",
        "endpoint": "http://127.0.0.1:9",
    }
    assert ready.json["currentEpoch"] == sc.EPOCH
    stale = create_app({**signer_config, "SIGNER_METAGRAPH_MAX_AGE": "60"}).test_client()
    response = stale.get("/readyz")
    assert response.status_code == 503
    assert response.json["ready"] is False
    assert response.json["metagraph"]["usable"] is False


def test_readyz_without_bucket_or_snapshot_is_503(signer_config, tmp_path):
    config = {k: v for k, v in signer_config.items() if not k.startswith("S3_")}
    config["SIGNER_METAGRAPH"] = str(tmp_path / "absent.json")
    response = create_app(config).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["bucket"]["configured"] is False
    assert response.json["metagraph"]["available"] is False
    assert "no metagraph snapshot" in response.json["metagraph"]["problem"]


def readyz_for(signer_config, path: Path):
    return create_app({**signer_config, "SIGNER_METAGRAPH": str(path)}).test_client()


def test_readyz_refuses_a_snapshot_from_the_future(signer_config, tmp_path):
    """fetchedAt ahead of the clock would never go stale (even with an age limit)."""
    path = tmp_path / "metagraph.json"
    write_snapshot(path, {**demo_document(), "fetchedAt": "2026-11-25T18:00:00Z"})
    client = readyz_for({**signer_config, "SIGNER_METAGRAPH_MAX_AGE": "3600"}, path)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["metagraph"]["usable"] is False
    assert response.json["metagraph"]["problem"] == (
        f"{path}: fetchedAt 2026-11-25T18:00:00Z is 3600 s ahead of this server's clock; "
        "such a snapshot would never go stale (check the clock of the machine that wrote it)"
    )
    refused = client.post("/get-folder-access", json=sc.folder_access())
    assert (refused.status_code, refused.json["error"]) == (503, "metagraph_unavailable")


def test_readyz_is_not_ready_with_no_neurons(signer_config, tmp_path):
    path = tmp_path / "metagraph.json"
    write_snapshot(path, {**demo_document(), "neurons": []})
    response = readyz_for(signer_config, path).get("/readyz")
    assert response.status_code == 503
    assert response.json["metagraph"]["available"] is False
    assert response.json["metagraph"]["problem"] == (
        f"{path}: neurons: the snapshot of netuid 46 at block 6543210 lists no neurons, so "
        "every hotkey would be refused"
    )


def test_readyz_reports_a_deleted_snapshot_file_until_it_is_back(signer_config, tmp_path):
    path = tmp_path / "metagraph.json"
    write_snapshot(path, demo_document())
    client = readyz_for(signer_config, path)
    assert client.get("/readyz").json["metagraph"]["problem"] is None
    path.unlink()
    gone = client.get("/readyz").json["metagraph"]
    assert gone["problem"] == (
        f"the snapshot file {path} is missing (deleted?); serving the last good snapshot "
        "(block 6543210) until it is too old"
    )
    assert gone["block"] == 6543210
    assert client.post("/get-folder-access", json=sc.folder_access()).status_code == 200
    write_snapshot(path, demo_document())
    assert client.get("/readyz").json["metagraph"]["problem"] is None


def test_request_path_never_imports_bittensor(tmp_path):
    """bittensor costs most of a second to import: only the sync code may load it."""
    script = f"""
import sys
from signer import create_app
app = create_app({{
    "SIGNER_METAGRAPH": {str(DEMO)!r}, "SIGNER_METAGRAPH_REFRESH": "0",
    "SIGNER_METAGRAPH_MAX_AGE": "0", "SIGNER_PUBLISHED": {str(tmp_path)!r},
    "S3_BUCKET": "data", "S3_ACCESS_KEY_ID": "k", "S3_SECRET_ACCESS_KEY": "s",
}})
client = app.test_client()
client.post("/get-folder-access", json={{}})
client.get("/openapi.json")
client.get("/readyz")
print(sorted(m for m in sys.modules if m == "bittensor" or m.startswith("bittensor.")))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNER_", "S3_"))}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
