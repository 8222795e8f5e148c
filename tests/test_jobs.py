"""Publishing invariants of docs/design.md, on real files with real timelock sealing."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import threading
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clientkit import timelock
from clientkit.chain import HistoryRewritten
from clientkit.epochs import epoch_at, epoch_from_id
from planner import assignment, jobs, state
from planner.dataset import DatasetError, load_dataset
from planner.publish import PublishConflict
from planner.selection import SelectionConfig
from planner.state import StateError
from planner.store import LocalStore, StoreError

from conftest import NOW, SECRET


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_plan_seals_the_horizon_and_commits_before_the_start(make_planner, tmp_path) -> None:
    planner = make_planner()
    result = jobs.plan(planner, NOW)
    assert len(result.sealed) == 43  # the current epoch + 7 days
    index = json.loads((tmp_path / "published/index.json").read_bytes())
    assert index["drand"]["chainHash"].startswith("52db9ba7")
    for entry in index["epochs"]:
        epoch = epoch_from_id(entry["epochId"])
        assert entry["revealRound"] == epoch.reveal_round
        assert entry["sealed"] == f"sealed/{entry['epochId']}.tlock"
        assert (tmp_path / "published" / entry["sealed"]).is_file()
        assert entry["revealed"] is None
        assert entry["commitment"].startswith("sha256:")
    assert not (tmp_path / "published/epochs").exists()
    assert not (tmp_path / "published/current.json").exists()


def test_nothing_public_reveals_a_future_epoch(make_planner, tmp_path) -> None:
    """Invariant 1: no zipcode list, salt, secret or state of an unstarted epoch is public."""
    planner = make_planner()
    jobs.tick(planner, NOW)
    loaded = state.load(planner.private, SECRET)
    future = {
        k: json.loads(p.plaintext)
        for k, p in loaded.pending.items()
        if epoch_from_id(k).start > NOW
    }
    assert set(loaded.pending) - set(future) == {epoch_at(NOW).id}, "and the running one's"
    published = b"".join(snapshot(tmp_path / "published").values())
    assert SECRET not in published
    assert b"S46STATE" not in published
    for document in future.values():
        assert document["salt"].encode() not in published
        assert document["nonce"].encode() not in published
        zips = [z["zipcode"] for z in document["zipcodes"]]
        shown = [z for z in zips if f'"{z}"'.encode() in published]
        current = {
            z["zipcode"]
            for z in json.loads((tmp_path / "published/current.json").read_bytes())["zipcodes"]
        }
        assert set(shown) <= current  # only what the running epoch also assigns, and no more
        assert len(shown) < len(zips)
    assert not list((tmp_path / "published").rglob("*.enc"))


def test_rerun_is_idempotent_byte_for_byte(make_planner, tmp_path) -> None:
    """Invariant 2."""
    planner = make_planner()
    jobs.tick(planner, NOW)
    before = snapshot(tmp_path / "published")
    planned, revealed = jobs.tick(planner, NOW + timedelta(minutes=5))
    assert planned.sealed == [] and planned.written == [] and revealed.written == []
    assert snapshot(tmp_path / "published") == before


def test_changed_data_never_touches_sealed_epochs(make_planner, tmp_path, sample) -> None:
    planner = make_planner()
    jobs.plan(planner, NOW)
    sealed_before = snapshot(tmp_path / "published/sealed")
    index_before = json.loads((tmp_path / "published/index.json").read_bytes())["epochs"]

    changed = tmp_path / "changed.csv"
    text = (Path(__file__).resolve().parents[1] / "data/zipcodes.csv").read_text()
    changed.write_text(text.replace(",premium,", ",luxury,"))
    new_data = (load_dataset(changed), sample[1])
    replanner = make_planner(load_data=lambda: new_data)
    result = jobs.plan(replanner, NOW + timedelta(hours=8))
    assert len(result.sealed) == 2
    assert any("zipcode file changed" in n for n in result.notes)
    sealed_after = snapshot(tmp_path / "published/sealed")
    assert {k: sealed_after[k] for k in sealed_before} == sealed_before
    index_after = json.loads((tmp_path / "published/index.json").read_bytes())["epochs"]
    assert index_after[: len(index_before)] == index_before

    jobs.reveal(replanner, NOW + timedelta(days=8))
    for entry in index_after:
        body = (tmp_path / "published/epochs" / f"{entry['epochId']}.json").read_bytes()
        uses_new = json.loads(body)["metadata"]["datasetSha256"] == new_data[0].sha256
        assert uses_new == (entry not in index_before)


def test_every_revealed_file_matches_the_commitment_published_before_it(
    make_planner, tmp_path
) -> None:
    """Invariant 3, over two days of ticks every hour."""
    planner = make_planner()
    commitments: dict[str, str] = {}
    for hour in range(0, 48):
        now = NOW + timedelta(hours=hour)
        jobs.tick(planner, now)
        index = json.loads((tmp_path / "published/index.json").read_bytes())
        for entry in index["epochs"]:
            commitments.setdefault(entry["epochId"], entry["commitment"])
            assert commitments[entry["epochId"]] == entry["commitment"]
            if entry["revealed"]:
                body = (tmp_path / "published" / entry["revealed"]).read_bytes()
                assert "sha256:" + hashlib.sha256(body).hexdigest() == commitments[entry["epochId"]]
        current = json.loads((tmp_path / "published/current.json").read_bytes())
        assert current["epochId"] == epoch_at(now).id


def test_reveal_publishes_current_then_pointers(make_planner, tmp_path) -> None:
    planner = make_planner()
    jobs.plan(planner, NOW)
    result = jobs.reveal(planner, NOW)
    current_id = epoch_at(NOW).id
    assert result.revealed == [current_id] and result.current == current_id
    assert result.written == [
        f"epochs/{current_id}.json",
        "index.json",
        "current.json",
        "index.html",
    ]
    current = (tmp_path / "published/current.json").read_bytes()
    assert current == (tmp_path / f"published/epochs/{current_id}.json").read_bytes()
    page = (tmp_path / "published/index.html").read_text()
    assert current_id in page and "revealed" in page and "sealed" in page


def test_an_immutable_object_with_other_bytes_is_never_overwritten(make_planner, tmp_path) -> None:
    planner = make_planner()
    jobs.plan(planner, NOW)
    epoch_id = epoch_at(NOW).id
    (tmp_path / "published/epochs").mkdir()
    (tmp_path / f"published/epochs/{epoch_id}.json").write_bytes(b"{}")
    with pytest.raises(PublishConflict, match="different bytes"):
        jobs.reveal(planner, NOW)
    assert (tmp_path / f"published/epochs/{epoch_id}.json").read_bytes() == b"{}"


def test_state_is_encrypted_and_bound_to_the_secret(make_planner, tmp_path) -> None:
    planner = make_planner()
    jobs.plan(planner, NOW)
    blob = (tmp_path / "state/planner-state.enc").read_bytes()
    assert b"zipcode" not in blob and b"lastAssigned" not in blob
    with pytest.raises(StateError, match="cannot be opened with this PLANNER_SECRET"):
        jobs.plan(make_planner(secret=b"x" * 40), NOW + timedelta(hours=4))
    (tmp_path / "state/planner-state.enc").write_bytes(b"garbage")
    with pytest.raises(StateError, match="not a planner state"):
        jobs.plan(planner, NOW)


def test_a_lost_state_is_refused_not_replanned(make_planner, tmp_path) -> None:
    planner = make_planner()
    jobs.plan(planner, NOW)
    (tmp_path / "state/planner-state.enc").unlink()
    before = snapshot(tmp_path / "published")
    with pytest.raises(jobs.PlanError, match=r"planner state .* is missing"):
        jobs.tick(planner, NOW + timedelta(hours=4))
    assert snapshot(tmp_path / "published") == before


def test_a_run_killed_after_saving_state_is_finished_by_the_next(make_planner, tmp_path) -> None:
    planner = make_planner()
    failing = make_planner()

    class Boom(Exception):
        pass

    calls = {"n": 0}
    real_put = failing.public.put

    def flaky_put(key, data, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise Boom
        real_put(key, data, **kw)

    failing.public.put = flaky_put
    with pytest.raises(Boom):
        jobs.plan(failing, NOW)
    assert not (tmp_path / "published/index.json").exists()
    written = snapshot(tmp_path / "published/sealed")
    assert len(written) == 4
    result = jobs.plan(planner, NOW)
    assert result.sealed == []
    after = snapshot(tmp_path / "published/sealed")
    assert len(after) == 43 and {k: after[k] for k in written} == written
    listed = [
        e["epochId"] for e in json.loads((tmp_path / "published/index.json").read_bytes())["epochs"]
    ]
    # It said only `nothing to seal`, while it published the 43 epochs' files and entries.
    assert result.notes == [
        f"listed 43 epoch(s) sealed by an earlier run that stopped before listing them: "
        f"{listed[0]} .. {listed[-1]}"
    ]
    jobs.reveal(planner, NOW)
    index = json.loads((tmp_path / "published/index.json").read_bytes())
    revealed = [e for e in index["epochs"] if e["revealed"]]
    body = (tmp_path / "published" / revealed[0]["revealed"]).read_bytes()
    assert "sha256:" + hashlib.sha256(body).hexdigest() == revealed[0]["commitment"]


def test_selection_failure_publishes_nothing(make_planner, tmp_path) -> None:
    planner = make_planner(config=SelectionConfig(target_listings=40_000))
    with pytest.raises(jobs.PlanError, match="nothing was sealed"):
        jobs.plan(planner, NOW)
    assert not (tmp_path / "published").exists()
    assert not (tmp_path / "state").exists()


def test_concurrent_ticks_do_not_corrupt(make_planner, tmp_path) -> None:
    """Two ticks at once in one process (the CLI adds a file lock on top)."""
    from planner.lock import LockBusy, exclusive

    lock = tmp_path / "tick.lock"
    errors: list[BaseException] = []
    outcomes: list[str] = []

    def run() -> None:
        try:
            with exclusive(lock, wait_seconds=120):
                jobs.tick(make_planner(), NOW)
                outcomes.append("ran")
        except LockBusy:
            outcomes.append("busy")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and outcomes == ["ran", "ran"]
    index = json.loads((tmp_path / "published/index.json").read_bytes())
    assert len(index["epochs"]) == 43
    assert sum(1 for e in index["epochs"] if e["revealed"]) == 1


def test_no_audit_key_unless_asked(make_planner, tmp_path) -> None:
    jobs.tick(make_planner(), NOW)
    index = json.loads((tmp_path / "published/index.json").read_bytes())
    assert all("audit" not in entry for entry in index["epochs"])
    assert not (tmp_path / "published/audit").exists()


def test_an_audit_of_every_zipcode_of_an_epoch_is_refused(make_planner, sample, tmp_path) -> None:
    """An audit count of an epoch's zipcodes or more sealed a validators' key listing all of
    them, in silence: no sample, and nothing kept from miners. The plan stops at that
    epoch, naming it, its size and the setting, before anything is written."""
    one_epoch = timedelta(hours=2)  # NOW is 17:00: the 16:00 epoch alone
    epoch = epoch_at(NOW)
    dataset, priorities = sample
    ((_, document),) = jobs.choose(dataset, priorities, SelectionConfig(), SECRET, {}, [epoch])
    size = len(document["zipcodes"])
    with pytest.raises(jobs.PlanError) as caught:
        jobs.plan(make_planner(audit_count=100_000, horizon=one_epoch), NOW)
    assert str(caught.value) == (
        f"epoch {epoch.id} has {size} zipcodes, and PLANNER_AUDIT_ZIPCODES is 100000: all of "
        "them would be audited, when audit zipcodes are a secret sample of each epoch's "
        f"(docs/planner.md#audit-zipcodes); set it below {size}, or 0 to turn audits off; "
        "nothing was sealed"
    )
    assert not (tmp_path / "published").exists() and not (tmp_path / "state").exists()
    with pytest.raises(
        jobs.PlanError, match=f"has {size} zipcodes, and PLANNER_AUDIT_ZIPCODES is {size}:"
    ):
        jobs.plan(make_planner(audit_count=size, horizon=one_epoch), NOW)
    planner = make_planner(audit_count=size - 1, horizon=one_epoch)
    assert jobs.plan(planner, NOW).sealed == [epoch.id]
    audit = state.load(planner.private, SECRET).pending[epoch.id].audit
    assert audit is not None and len(json.loads(audit)["auditZipcodes"]) == size - 1


def test_audit_zipcodes_stay_sealed_until_the_epoch_ends(make_planner, tmp_path, relay) -> None:
    from clientkit.timelock import unseal

    from servers.drand_relay import TEST_ROUND, TEST_SIGNATURE

    planner = make_planner(audit_count=5, round_for=lambda epoch: TEST_ROUND)
    jobs.tick(planner, NOW)
    current = epoch_at(NOW)
    entry = next(
        e
        for e in json.loads((tmp_path / "published/index.json").read_bytes())["epochs"]
        if e["epochId"] == current.id
    )
    assert entry["audit"]["sealed"] == f"audit/{current.id}.tlock"
    assert entry["audit"]["revealed"] is None
    published = b"".join(snapshot(tmp_path / "published").values())
    assert b"auditZipcodes" not in published
    assignment = json.loads((tmp_path / f"published/epochs/{current.id}.json").read_bytes())

    # drand alone opens the key once the end round is out, and it matches its commitment
    sealed_key = (tmp_path / "published" / entry["audit"]["sealed"]).read_bytes()
    opened = unseal(sealed_key, TEST_SIGNATURE)
    assert "sha256:" + hashlib.sha256(opened).hexdigest() == entry["audit"]["commitment"]

    result = jobs.reveal(planner, current.end)
    assert f"revealed the validators' audit key of {current.id}" in result.notes
    body = (tmp_path / f"published/audit/{current.id}.json").read_bytes()
    assert body == opened
    key = json.loads(body)
    zips = {z["zipcode"] for z in assignment["zipcodes"]}
    assert len(key["auditZipcodes"]) == 5 and set(key["auditZipcodes"]) <= zips
    assert key["salt"] == assignment["salt"]
    assert key["assignmentCommitment"] == entry["commitment"]
    index = json.loads((tmp_path / "published/index.json").read_bytes())
    revealed = next(e for e in index["epochs"] if e["epochId"] == current.id)
    assert revealed["audit"]["revealed"] == f"audit/{current.id}.json"
    assert current.id not in state.load(planner.private, SECRET).pending
    again = jobs.reveal(planner, current.end)
    assert again.written == [] and again.notes == []


def _unpadded(plaintext: bytes) -> int:
    """An assignment's length before its padding: the JSON and the final newline."""
    return len(plaintext.rstrip(b" \n")) + 1


def test_every_sealed_file_of_a_plan_has_one_size(make_planner, tmp_path) -> None:
    """The sealed size says nothing about an epoch's zipcode count (issue: sizes leak), and
    costs little: 25% over the plan's longest assignment, to a multiple of 4 KiB (padding to
    the longest assignment the band allows made every file six times the usual one)."""
    planner = make_planner()
    jobs.tick(planner, NOW)
    sealed = sorted((tmp_path / "published/sealed").glob("*.tlock"))
    assert len(sealed) == 43
    assert len({p.stat().st_size for p in sealed}) == 1
    loaded = state.load(planner.private, SECRET)
    documents = [json.loads(p.plaintext) for p in loaded.pending.values()]
    assert len({len(d["zipcodes"]) for d in documents}) > 5, "the counts do differ"
    revealed = (tmp_path / "published/current.json").read_bytes()
    plaintexts = [revealed, *(p.padded for p in loaded.pending.values())]
    (size,) = {len(p) for p in plaintexts}
    assert loaded.padded_size == size
    longest = max(map(_unpadded, plaintexts))
    assert 1.25 * longest <= size < 1.25 * longest + assignment.PAD_QUANTUM
    index = json.loads((tmp_path / "published/index.json").read_bytes())
    (entry,) = [e for e in index["epochs"] if e["revealed"]]
    assert entry["commitment"] == "sha256:" + hashlib.sha256(revealed).hexdigest()
    assert revealed.endswith(b" \n") and json.loads(revealed)["epochId"] == entry["epochId"]


def test_a_later_tick_pads_to_the_size_of_the_plan(make_planner, tmp_path) -> None:
    planner = make_planner()
    jobs.tick(planner, NOW)
    size = state.load(planner.private, SECRET).padded_size
    assert size
    planned, _ = jobs.tick(planner, NOW + timedelta(days=1))
    assert len(planned.sealed) == 6 and not planned.notes
    loaded = state.load(planner.private, SECRET)
    assert loaded.padded_size == size
    assert {len(loaded.pending[k].padded) for k in planned.sealed} == {size}
    sealed = list((tmp_path / "published/sealed").glob("*.tlock"))
    assert len(sealed) == 49 and len({p.stat().st_size for p in sealed}) == 1


def test_an_assignment_over_the_size_grows_it_for_the_whole_run(make_planner, tmp_path) -> None:
    """The one way the size changes. The epochs of the run padded before the larger one
    are sealed again at the new size before anything is published, audit keys included
    (they name the padded assignment's commitment)."""
    planner = make_planner(audit_count=5)
    jobs.tick(planner, NOW)
    first_run = snapshot(tmp_path / "published/sealed")
    loaded = state.load(planner.private, SECRET)
    small = 21_000  # as if the plan so far had shorter assignments: some of the next fit
    assert loaded.padded_size and loaded.padded_size > small
    state.save(planner.private, replace(loaded, padded_size=small), SECRET)

    later = NOW + timedelta(days=2)
    planned, _ = jobs.tick(planner, later)
    loaded = state.load(planner.private, SECRET)
    run = [loaded.pending[k] for k in planned.sealed]
    lengths = [len(p.plaintext) for p in run]
    assert lengths[0] <= small < max(lengths), "the size grows after the run's first epoch"
    (size,) = {len(p.padded) for p in run}
    assert loaded.padded_size == size >= max(lengths)
    assert [n for n in planned.notes if "padded" in n] == [
        f"assignments are now padded to {size:,} bytes (were {small:,}): an epoch of this "
        "run is longer than the size allowed"
    ]
    for pending in run:
        key = json.loads(pending.audit)
        assert key["assignmentCommitment"] == timelock.commitment(pending.padded)
    sealed = snapshot(tmp_path / "published/sealed")
    assert {k: sealed[k] for k in first_run} == first_run
    run_sizes = {len(sealed[f"{k}.tlock"]) for k in planned.sealed}
    assert len(run_sizes) == 1 and run_sizes != {len(v) for v in first_run.values()}

    jobs.reveal(planner, later + planner.horizon)
    index = {e["epochId"]: e for e in _index(tmp_path)["epochs"]}
    for epoch_id in planned.sealed:
        body = (tmp_path / f"published/epochs/{epoch_id}.json").read_bytes()
        assert len(body) == size
        assert "sha256:" + hashlib.sha256(body).hexdigest() == index[epoch_id]["commitment"]


def _write_state_json(store: LocalStore, data: dict) -> None:
    """A state file holding exactly `data`, as an older planner wrote it."""
    nonce = os.urandom(12)
    payload = gzip.compress(json.dumps(data).encode())
    blob = (
        state.MAGIC + nonce + AESGCM(state.state_key(SECRET)).encrypt(nonce, payload, state.MAGIC)
    )
    store.put(state.STATE_KEY, blob, content_type=state.CONTENT_TYPE, cache_control="no-store")


def test_a_state_written_before_padded_sizes_were_kept_still_works(make_planner, tmp_path) -> None:
    """Such a state keeps its plaintexts padded and has no size: its epochs are revealed
    as committed, and the next run that seals sets the size from its own assignments, as
    a first plan does."""
    planner = make_planner()
    jobs.tick(planner, NOW)
    data = state.load(planner.private, SECRET).to_json()
    del data["paddedSize"]
    for item in data["pending"].values():
        padded = assignment.pad(item["plaintext"].encode(), item.pop("paddedSize"))
        item["plaintext"] = padded.decode()
    _write_state_json(planner.private, data)
    old = state.load(planner.private, SECRET)
    assert old.padded_size is None
    assert {p.padded_size for p in old.pending.values()} == {None}

    later = NOW + timedelta(days=1)
    planned, revealed = jobs.tick(planner, later)
    assert len(revealed.revealed) == 6, "epochs sealed under the old state"
    index = {e["epochId"]: e for e in _index(tmp_path)["epochs"]}
    for epoch_id in revealed.revealed:
        body = (tmp_path / f"published/epochs/{epoch_id}.json").read_bytes()
        assert index[epoch_id]["commitment"] == timelock.commitment(body)
    loaded = state.load(planner.private, SECRET)
    run = [loaded.pending[k] for k in planned.sealed]
    (size,) = {len(p.padded) for p in run}
    longest = max(len(p.plaintext) for p in run)
    assert loaded.padded_size == size == assignment.padded_size(longest)


def test_a_broken_data_file_still_lets_tick_reveal_started_epochs(make_planner, tmp_path) -> None:
    planner = make_planner()
    first, _ = jobs.tick(planner, NOW)

    def broken():
        raise DatasetError(["row 3, column recently_sold_listings: 'many' is not a number"])

    later = NOW + timedelta(hours=4)
    planned, revealed = jobs.tick(make_planner(load_data=broken), later)
    assert planned.error and "recently_sold_listings" in planned.error
    assert not planned.sealed
    assert planned.horizon == first.horizon, "the sealed horizon, not `none`"
    assert revealed.revealed == [epoch_at(later).id]
    current = json.loads((tmp_path / "published/current.json").read_bytes())
    assert current["epochId"] == epoch_at(later).id
    with pytest.raises(DatasetError):
        jobs.plan(make_planner(load_data=broken), later)


def test_reveal_refuses_an_epoch_the_real_clock_has_not_reached(make_planner, tmp_path) -> None:
    """A leftover PLANNER_NOW a day ahead must not give tomorrow's epochs away."""
    jobs.tick(make_planner(), NOW)
    before = snapshot(tmp_path / "published")
    guarded = make_planner(real_clock=lambda: NOW)
    ahead = NOW + timedelta(days=1)
    for job in (jobs.reveal, jobs.tick):
        with pytest.raises(jobs.RevealRefused, match=r"after the real clock .* --rehearsal"):
            job(guarded, ahead)
    assert snapshot(tmp_path / "published") == before
    _, revealed = jobs.tick(guarded, NOW + timedelta(minutes=30))
    assert revealed.current == epoch_at(NOW).id
    _, revealed = jobs.tick(make_planner(), ahead)
    assert revealed.current == epoch_at(ahead).id, "no guard without a real clock (rehearsal)"


def test_a_bucket_run_behind_the_real_clock_does_not_put_current_back(make_planner, tmp_path):
    """A rehearsal PLANNER_NOW in the past republished an earlier epoch as current.json on
    every tick, exit 0."""
    later = NOW + timedelta(hours=8)
    jobs.tick(make_planner(), later)
    before = snapshot(tmp_path / "published")
    guarded = make_planner(real_clock=lambda: later)
    for job in (jobs.reveal, jobs.tick):
        with pytest.raises(jobs.RevealRefused, match=r"behind the real clock .* back to "):
            job(guarded, NOW)
    assert snapshot(tmp_path / "published") == before
    _, revealed = jobs.tick(guarded, later - timedelta(minutes=4))
    assert revealed.current == epoch_at(later - timedelta(minutes=4)).id, "a run just late"


def test_a_bucket_plan_ahead_of_the_real_clock_is_refused(make_planner, tmp_path):
    """`plan --now` a fortnight ahead sealed from there on: every epoch between was skipped
    for good by later ticks ("nothing to seal"), none ever published."""
    guarded = make_planner(real_clock=lambda: NOW)
    with pytest.raises(jobs.RevealRefused, match=r"could never be sealed"):
        jobs.plan(guarded, NOW + timedelta(days=14))
    assert not (tmp_path / "published/index.json").exists()
    assert jobs.plan(guarded, NOW).sealed


def test_an_edited_revealed_file_is_never_copied_into_current_json(make_planner, tmp_path) -> None:
    """Tampering with epochs/<current>.json is reported by the next tick, not spread."""
    planner = make_planner()
    jobs.tick(planner, NOW)
    current = tmp_path / "published/current.json"
    original = current.read_bytes()
    revealed = tmp_path / f"published/epochs/{epoch_at(NOW).id}.json"
    document = json.loads(revealed.read_bytes())
    document["zipcodes"] = document["zipcodes"][:1]
    revealed.write_bytes(json.dumps(document).encode())
    current.unlink()
    with pytest.raises(PublishConflict, match=r"epochs/.* changed after it was revealed"):
        jobs.tick(planner, NOW + timedelta(minutes=30))
    assert not current.exists(), "the edited file was not spread"
    revealed.write_bytes(original)
    jobs.tick(planner, NOW + timedelta(minutes=30))
    assert current.read_bytes() == original


def _index(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "published/index.json").read_bytes())


def _write_index(tmp_path: Path, index: dict) -> None:
    (tmp_path / "published/index.json").write_text(json.dumps(index, indent=2) + "\n")


def test_a_removed_index_entry_is_restored_and_reported(make_planner, tmp_path) -> None:
    planner = make_planner()
    jobs.tick(planner, NOW)
    later = NOW + timedelta(hours=8)
    jobs.tick(planner, later)
    original = _index(tmp_path)
    gone = epoch_at(NOW).id  # revealed: no longer in the private state's pending epochs
    tampered = dict(original, epochs=[e for e in original["epochs"] if e["epochId"] != gone])
    _write_index(tmp_path, tampered)
    planned, revealed = jobs.tick(planner, later)
    assert planned.repairs == [f"index.json had lost the entry of {gone}; it is restored"]
    assert not revealed.repairs
    assert _index(tmp_path) == original


def test_a_rewritten_commitment_is_put_back_and_reported(make_planner, tmp_path) -> None:
    planner = make_planner()
    jobs.tick(planner, NOW)
    original = _index(tmp_path)
    forged = "sha256:" + "0" * 64
    for entry in original["epochs"][:2]:  # the revealed epoch and a sealed one
        tampered = json.loads(json.dumps(original))
        (target,) = [e for e in tampered["epochs"] if e["epochId"] == entry["epochId"]]
        target["commitment"] = forged
        _write_index(tmp_path, tampered)
        result = jobs.reveal(planner, NOW + timedelta(minutes=5))
        assert result.repairs == [
            f"index.json's entry of {entry['epochId']} had been rewritten (commitment "
            f"{forged}); the one this planner sealed ({entry['commitment']}) is restored"
        ]
        assert _index(tmp_path) == original


def test_a_tick_records_the_epochs_it_listed(make_planner, tmp_path) -> None:
    """Once index.json lists an epoch, its loss is a loss (repaired and reported), not a run
    stopped before listing it: the tick that listed it records that (its reveal step)."""
    planner = make_planner()
    jobs.tick(planner, NOW)
    listed = {e["epochId"] for e in _index(tmp_path)["epochs"]}
    assert set(state.load(planner.private, SECRET).committed) == listed
    original = _index(tmp_path)
    newest = original["epochs"][-1]["epochId"]
    _write_index(tmp_path, dict(original, epochs=original["epochs"][:-1]))
    planned, _ = jobs.tick(planner, NOW + timedelta(minutes=5))
    assert planned.repairs == [f"index.json had lost the entry of {newest}; it is restored"]
    assert _index(tmp_path) == original


def test_check_history_compares_the_index_with_what_the_planner_sealed(
    make_planner, tmp_path
) -> None:
    planner = make_planner()
    jobs.tick(planner, NOW)
    original = _index(tmp_path)
    items = original["epochs"]
    assert jobs.check_history(planner, items) == (
        f"the 43 entries this planner sealed are listed unchanged (its private state in "
        f"{tmp_path / 'state'})"
    )
    newest, middle = items[-1], items[20]
    forged = "sha256:" + "3" * 64
    edited = [dict(e, commitment=forged) if e is newest else e for e in items]
    with pytest.raises(HistoryRewritten) as caught:
        jobs.check_history(planner, edited)
    assert str(caught.value) == (
        f"index.json differs from what this planner sealed (its private state in "
        f"{tmp_path / 'state'}): the entry of {newest['epochId']} was rewritten (commitment "
        f"{forged} where this planner sealed {newest['commitment']})"
    )
    with pytest.raises(HistoryRewritten, match=f"the entry of {newest['epochId']} was removed$"):
        jobs.check_history(planner, items[:-1])
    without_middle = [e for e in items if e is not middle]
    with pytest.raises(HistoryRewritten, match=f"the entry of {middle['epochId']} was removed$"):
        jobs.check_history(planner, without_middle)
    later = epoch_from_id(newest["epochId"]).next()
    foreign = dict(newest, epochId=later.id, epochStart=later.start_iso, epochEnd=later.end_iso)
    with pytest.raises(HistoryRewritten, match=f"lists {later.id}, which this planner never"):
        jobs.check_history(planner, [*items, foreign])
    assert _index(tmp_path) == original, "a check writes nothing"


def test_check_history_needs_the_private_state(make_planner, tmp_path) -> None:
    jobs.tick(make_planner(), NOW)
    elsewhere = make_planner(private=LocalStore(tmp_path / "empty"))
    with pytest.raises(jobs.PlanError, match=r"there is no private state .* unset PLANNER_SECRET"):
        jobs.check_history(elsewhere, _index(tmp_path)["epochs"])


def test_a_sealed_file_lost_or_damaged_before_its_epoch_is_sealed_again(
    make_planner, tmp_path
) -> None:
    """A sealed file deleted or truncated in the bucket stayed so: a miner opening it at the
    epoch's start got an error instead of the assignment. Each run checks the files of the
    epochs starting within RESEAL_AHEAD against the digests in the state."""
    from clientkit.timelock import unseal

    from servers.drand_relay import TEST_ROUND, TEST_SIGNATURE

    planner = make_planner(audit_count=5, round_for=lambda epoch: TEST_ROUND)
    jobs.tick(planner, NOW)
    root = tmp_path / "published"
    soon, later = epoch_at(NOW).next(), epoch_at(NOW).next().next()
    far = epoch_at(NOW + jobs.RESEAL_AHEAD + timedelta(days=1))
    (root / f"sealed/{soon.id}.tlock").unlink()
    (root / f"sealed/{later.id}.tlock").write_bytes(b"age-encryption.org/v1\n")
    (root / f"audit/{later.id}.tlock").unlink()
    (root / f"sealed/{far.id}.tlock").unlink()

    result = jobs.plan(planner, NOW)
    assert sorted(result.repairs) == [
        f"audit/{later.id}.tlock was missing; it is sealed again and written",
        f"sealed/{soon.id}.tlock was missing; it is sealed again and written",
        f"sealed/{later.id}.tlock was not the file this planner sealed; it is sealed again "
        "and written",
    ]
    entries = {e["epochId"]: e for e in json.loads((root / "index.json").read_bytes())["epochs"]}
    for key, committed in [
        (f"sealed/{soon.id}.tlock", entries[soon.id]["commitment"]),
        (f"sealed/{later.id}.tlock", entries[later.id]["commitment"]),
        (f"audit/{later.id}.tlock", entries[later.id]["audit"]["commitment"]),
    ]:
        opened = unseal((root / key).read_bytes(), TEST_SIGNATURE)
        assert "sha256:" + hashlib.sha256(opened).hexdigest() == committed
    assert not (root / f"sealed/{far.id}.tlock").exists(), "checked once within reach"
    assert jobs.plan(planner, NOW).repairs == []


def test_a_tick_that_cannot_reveal_writes_nothing(make_planner, tmp_path) -> None:
    """Its plan sealed and wrote index.json and the state, then its reveal found epochs/
    unwritable and said "nothing was written"."""
    jobs.tick(make_planner(), NOW)
    epochs = tmp_path / "published/epochs"
    for path in epochs.iterdir():
        path.unlink()
    epochs.rmdir()
    epochs.write_text("not a folder")
    published, state = snapshot(tmp_path / "published"), snapshot(tmp_path / "state")
    with pytest.raises(StoreError, match="nothing was written"):
        jobs.tick(make_planner(), NOW + timedelta(days=1))
    assert snapshot(tmp_path / "published") == published
    assert snapshot(tmp_path / "state") == state


def probed(monkeypatch) -> list[Path]:
    """The folders LocalStore.check_writable writes a probe file in, one item a probe."""
    folders: list[Path] = []
    mkstemp = tempfile.mkstemp

    def spy(*args, **kwargs):
        if kwargs.get("prefix") == ".write-probe.":
            folders.append(Path(kwargs["dir"]))
        return mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    return folders


def test_a_tick_probes_each_folder_once(make_planner, tmp_path, monkeypatch) -> None:
    """Its plan and its reveal probed again the folders the tick had checked: the top folder
    and the state's three times, the others twice. Alone, each still probes its own."""
    jobs.tick(make_planner(), NOW)
    folders = probed(monkeypatch)
    planned, revealed = jobs.tick(make_planner(), NOW + timedelta(days=1))
    assert planned.sealed and revealed.revealed
    published, private = tmp_path / "published", tmp_path / "state"
    public = [published, published / "sealed", published / "epochs", published / "schema"]
    assert Counter(folders) == Counter([*public, private])
    folders.clear()
    assert jobs.plan(make_planner(), NOW + timedelta(days=2)).sealed
    assert {published / "sealed", private} <= set(folders), "plan alone probes"
    folders.clear()
    assert jobs.reveal(make_planner(), NOW + timedelta(days=2)).revealed
    assert {published / "epochs", private} <= set(folders), "reveal alone probes"
