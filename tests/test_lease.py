"""One tick at a time across machines: the bucket lease, alone and under two real processes."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from clientkit import layout
from clientkit.epochs import ISO_FORMAT, epoch_at, epoch_from_id
from planner import keys, lease
from planner import state as state_io
from planner.cli import Context, cli
from planner.config import STATE_PREFIX, Settings
from planner.lock import LockBusy
from planner.store import LocalStore

from conftest import NOW, REPO, SECRET, bucket_env
from servers.drand_relay import TEST_ROUND
from servers.seaweed import S3Endpoint

ROUNDS = 50


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_held_lease_keeps_others_out_until_it_expires(tmp_path) -> None:
    store, clock = LocalStore(tmp_path), Clock()
    with lease.held(store, 60, 0, clock, sleep=lambda _: None) as owner:
        busy = rf"another planner run \({owner}\) holds the lease"
        with pytest.raises(LockBusy, match=busy), lease.held(store, 60, 0, clock):
            pytest.fail("a second run got the lease")
    with lease.held(store, 60, 0, clock, sleep=lambda _: None):
        pass  # released: free again

    killed = lease.held(store, 60, 0, clock, sleep=lambda _: None)
    killed.__enter__()  # a run killed without releasing
    clock.now += 61
    with lease.held(store, 60, 0, clock, sleep=lambda _: None) as owner:
        assert json.loads(store.get(lease.LEASE_KEY))["owner"] == owner


def test_of_two_runs_that_start_together_the_later_write_wins(tmp_path) -> None:
    store, clock = LocalStore(tmp_path), Clock()

    def rival_writes_meanwhile(_: float) -> None:
        store.put(
            lease.LEASE_KEY,
            lease.Lease("other-machine/1/ab", clock() + 60).to_bytes(),
            content_type="application/json",
            cache_control="no-store",
        )

    with (
        pytest.raises(LockBusy, match=r"\(other-machine/1/ab\) took the lease .* same moment"),
        lease.held(store, 60, 2, clock, sleep=rival_writes_meanwhile),
    ):
        pytest.fail("both runs would proceed")
    assert json.loads(store.get(lease.LEASE_KEY))["owner"] == "other-machine/1/ab"


def _machine(env: dict[str, str], out: str) -> None:
    """One machine: ROUNDS ticks an hour apart (each with its own state folder)."""
    results = []
    for hour in range(ROUNDS):
        now = (NOW + timedelta(hours=hour)).strftime(ISO_FORMAT)
        ctx = Context(Settings.from_env(env), round_for=lambda epoch: TEST_ROUND)
        result = CliRunner().invoke(cli, ["tick", "--now", now, "--rehearsal"], obj=ctx)
        results.append({"hour": hour, "exit": result.exit_code, "output": result.output})
    Path(out).write_text(json.dumps(results))


@pytest.mark.s3
@pytest.mark.slow
def test_two_machines_ticking_one_bucket_stay_consistent(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    def env(machine: str) -> dict[str, str]:
        settle = {"PLANNER_LEASE_SETTLE": "0.3"}
        return {**bucket_env(s3_server, s3_bucket, tmp_path / machine), **settle}

    spawn = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"{name}.json" for name in ("a", "b")]
    machines = [
        spawn.Process(target=_machine, args=(env(name), str(out)))
        for name, out in zip(("a", "b"), outs, strict=True)
    ]
    for machine in machines:
        machine.start()
    for machine in machines:
        machine.join(timeout=900)
        assert machine.exitcode == 0
    results = [r for out in outs for r in json.loads(out.read_text())]
    assert len(results) == 2 * ROUNDS
    for r in results:
        assert r["exit"] == 0, r["output"]
        assert "different bytes" not in r["output"] and "Error" not in r["output"]
    did = sum("published to" in r["output"] for r in results)
    left = sum("leaves the work to it" in r["output"] for r in results)
    # A run that finds the lease taken leaves the round to the holder; the next round
    # catches up. Both machines did contend for it.
    assert did + left == 2 * ROUNDS and did > 0 and left > 0

    client = s3_server.client()

    def get(key: str) -> bytes:
        return client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()

    index = json.loads(get(layout.INDEX_KEY))
    ids = [e["epochId"] for e in index["epochs"]]
    last = NOW + timedelta(hours=ROUNDS - 1)
    assert ids[0] == epoch_at(NOW).id and ids[-1] >= epoch_at(last).id
    assert all(epoch_from_id(a).next().id == b for a, b in itertools.pairwise(ids)), (
        "every epoch once, none missing, in order"
    )
    state = state_io.decrypt(get(STATE_PREFIX + state_io.STATE_KEY), keys.master_key(SECRET))
    unrevealed = {e["epochId"] for e in index["epochs"] if not e["revealed"]}
    assert set(state.pending) == unrevealed | {epoch_at(last).id}, (
        "the state holds exactly the sealed epochs not ended"
    )
    committed = {e["epochId"]: e["commitment"] for e in index["epochs"]}
    for epoch_id, pending in state.pending.items():
        assert committed[epoch_id] == "sha256:" + hashlib.sha256(pending.padded).hexdigest()
    for entry in index["epochs"]:
        if entry["revealed"]:
            body = get(entry["revealed"])
            assert entry["commitment"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert json.loads(get(layout.CURRENT_KEY))["epochId"] == epoch_at(last).id

    third = Context(Settings.from_env(env("c")), round_for=lambda epoch: TEST_ROUND)
    again = CliRunner().invoke(
        cli, ["tick", "--now", last.strftime(ISO_FORMAT), "--rehearsal"], obj=third
    )
    assert again.exit_code == 0, again.output
    assert "nothing to seal" in again.output and "nothing to reveal" in again.output


def test_a_lease_no_run_could_have_written_is_taken_over(tmp_path) -> None:
    """A run killed under PLANNER_LEASE_SECONDS=1e300 left a lease that every later run
    ended on in an OverflowError traceback, naming its expiry: no run writes one that far
    ahead now, so it protects nothing, like an unreadable one."""
    store, clock = LocalStore(tmp_path), Clock()
    stale = lease.Lease("host/1/dead", 1e300).to_bytes()
    store.put(lease.LEASE_KEY, stale, content_type="application/json", cache_control="no-store")
    with lease.held(store, 60, 0, clock, sleep=lambda _: None) as owner:
        assert json.loads(store.get(lease.LEASE_KEY))["owner"] == owner


HOLDER = """
import sys, time
from pathlib import Path
from planner import lease
from planner.store import LocalStore
with lease.held(LocalStore(Path(sys.argv[1])), 600, 0):
    print("held", flush=True)
    time.sleep(600)
"""
linux_proc = pytest.mark.skipif(
    lease.process_of(os.getpid()) is None, reason="a process is recognised through Linux's /proc"
)


def _put(store: LocalStore, stale: lease.Lease) -> None:
    store.put(
        lease.LEASE_KEY, stale.to_bytes(), content_type="application/json", cache_control="no-store"
    )


@linux_proc
def test_a_lease_of_a_run_killed_on_this_machine_is_taken_over_at_once(tmp_path) -> None:
    """A run killed with its lease held (SIGKILL, the OOM killer) kept every later run out
    for PLANNER_LEASE_SECONDS (900 s): each said `another planner run ... holds the lease`.
    A run on the same machine sees that the holder is gone and takes the lease over."""
    store = LocalStore(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        written = json.loads(store.get(lease.LEASE_KEY))
        assert written["process"] == lease.process_of(holder.pid)
        with (
            pytest.raises(LockBusy, match=r"another planner run \(.*\) holds the lease"),
            lease.held(store, 60, 0, sleep=lambda _: None),
        ):
            pytest.fail("a live run's lease was taken")
    finally:
        holder.kill()
        holder.wait()
    with lease.held(store, 60, 0, sleep=lambda _: None) as owner:
        assert json.loads(store.get(lease.LEASE_KEY))["owner"] == owner


@linux_proc
@pytest.mark.parametrize(
    "process",
    [
        None,  # written by a planner that did not record it
        "another-boot/pid:[4026531836]/1/1",
        "{boot}/pid:[1]/999999999/1",  # another PID namespace: a container
    ],
    ids=["unrecorded", "another machine", "another container"],
)
def test_a_lease_whose_holder_cannot_be_checked_is_waited_for(tmp_path, process) -> None:
    store, clock = LocalStore(tmp_path), Clock()
    boot = lease.process_of(os.getpid()).split("/")[0]
    _put(store, lease.Lease("elsewhere/1/ab", clock() + 60, process and process.format(boot=boot)))
    with (
        pytest.raises(LockBusy, match=r"another planner run \(elsewhere/1/ab\) holds the lease"),
        lease.held(store, 60, 0, clock, sleep=lambda _: None),
    ):
        pytest.fail("a lease that cannot be checked was taken")


@linux_proc
@pytest.mark.parametrize(
    "pid_and_start",
    ["{pid}/0", "x/1", "9" * 5000 + "/1"],
    ids=["reused", "malformed", "over 4300 digits"],
)
def test_a_lease_whose_pid_now_belongs_to_another_process_is_taken_over(
    tmp_path, pid_and_start
) -> None:
    """A PID reused by a process started later, or none at all, is not the holder."""
    store, clock = LocalStore(tmp_path), Clock()
    here = lease.process_of(os.getpid()).split("/")
    process = "/".join(here[:2]) + "/" + pid_and_start.format(pid=os.getpid())
    _put(store, lease.Lease("here/1/ab", clock() + 60, process))
    with lease.held(store, 60, 0, clock, sleep=lambda _: None) as owner:
        assert json.loads(store.get(lease.LEASE_KEY))["owner"] == owner


@linux_proc
@pytest.mark.s3
def test_a_tick_killed_holding_the_lease_does_not_hold_up_the_next(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """The cron case: `planner tick` SIGKILLed while it holds the bucket's lease, and the
    next tick on the same machine a minute later."""
    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    now = NOW.strftime(ISO_FORMAT)
    killed = subprocess.Popen(
        [sys.executable, "-m", "planner", "tick", "--now", now, "--rehearsal"],
        cwd=REPO,
        env={**os.environ, **env, "PLANNER_LEASE_SETTLE": "300"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = s3_server.client()
    key = STATE_PREFIX + lease.LEASE_KEY
    try:
        deadline = time.monotonic() + 120
        while client.list_objects_v2(Bucket=s3_bucket, Prefix=key).get("KeyCount", 0) == 0:
            assert killed.poll() is None and time.monotonic() < deadline, "no lease written"
            time.sleep(0.1)
    finally:
        killed.kill()
        killed.wait()
    ctx = Context(
        Settings.from_env({**env, "PLANNER_LEASE_SETTLE": "0.1"}), round_for=lambda e: TEST_ROUND
    )
    result = CliRunner().invoke(cli, ["tick", "--now", now, "--rehearsal"], obj=ctx)
    assert result.exit_code == 0, result.output
    assert "holds the lease" not in result.output
    assert f"published to s3://{s3_bucket}/" in result.output


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"PLANNER_LEASE_SECONDS": "1e300"},
            "PLANNER_LEASE_SECONDS must be more than 0 and at most 86400, got '1e300'",
        ),
        (
            {"PLANNER_LEASE_SECONDS": "5", "PLANNER_LEASE_SETTLE": "5"},
            "PLANNER_LEASE_SETTLE (5) must be less than PLANNER_LEASE_SECONDS (5): the lease "
            "would expire before the run reads it back",
        ),
    ],
)
def test_lease_settings_that_cannot_work_are_refused_by_name(
    env, monkeypatch, settings, problem
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["tick"])
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {problem}\n"
