"""`planner tick` publishing to a real bucket: headers, access, order, resumability, conflicts.

The planner runs as cron runs it (settings from SPACES_* environment values, the CLI), or
through the library with its stores wrapped to record or to fail writes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

from clientkit import layout, timelock
from clientkit.epochs import ISO_FORMAT, epoch_at, epoch_from_id
from planner import jobs, keys, lease, publish
from planner import state as state_io
from planner.cli import Context, cli
from planner.config import STATE_PREFIX, Settings
from planner.doctor import PUBLISHED_PREFIXES
from planner.store import LocalStore, Store, StoreError

from conftest import NOW, REPO, SECRET
from conftest import bucket_env as cron_env
from servers.drand_relay import TEST_ROUND
from servers.seaweed import S3Endpoint

pytestmark = pytest.mark.s3

NOW_ISO = NOW.strftime(ISO_FORMAT)
STATE_OBJECT = STATE_PREFIX + state_io.STATE_KEY
DAYS = "2"  # 13 epochs a run: enough to cross days, quick to seal


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the settings each test passes apply: the CLI options also read the environment."""
    for name in list(os.environ):
        if name.startswith(("PLANNER_", "SPACES_")):
            monkeypatch.delenv(name)


def bucket_env(server: S3Endpoint, bucket: str, state_dir: Path) -> dict[str, str]:
    """What an operator puts in the cron job's environment, DAYS ahead."""
    return cron_env(server, bucket, state_dir, DAYS)


def context(env: dict[str, str]) -> Context:
    """The CLI's context with sealed files opening at the public test round; its planner
    treats the test bucket as the rehearsal it is (the CLI sets that from --rehearsal)."""
    ctx = Context(Settings.from_env(env), round_for=lambda epoch: TEST_ROUND)
    ctx.rehearsal = True
    return ctx


def tick(env: dict[str, str], now: str = NOW_ISO) -> Result:
    """A tick of the test bucket, a rehearsal: its clock is the test's, in the past."""
    return CliRunner().invoke(cli, ["tick", "--now", now, "--rehearsal"], obj=context(env))


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).strftime(ISO_FORMAT)


def objects(server: S3Endpoint, bucket: str) -> dict[str, bytes]:
    client = server.client()
    return {
        key: client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in list_keys(server, bucket)
    }


def list_keys(server: S3Endpoint, bucket: str) -> list[str]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


def index_of(server: S3Endpoint, bucket: str) -> dict:
    body = server.client().get_object(Bucket=bucket, Key=layout.INDEX_KEY)["Body"].read()
    return json.loads(body)


class Watched:
    """A store that logs every write into a shared journal and can run out of writes.

    `budget` is shared by the stores of one run: once it reaches zero, the next write
    fails as an unreachable bucket does (a StoreError), and nothing is written.
    """

    def __init__(self, inner: Store, name: str, journal: list[str], budget: list[int]) -> None:
        self.inner, self.name, self.journal, self.budget = inner, name, journal, budget

    def get(self, key: str) -> bytes | None:
        return self.inner.get(key)

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        if self.budget[0] == 0:
            raise StoreError(f"cannot write {key} in {self.describe()}: the bucket went away")
        self.budget[0] -= 1
        self.journal.append(f"{self.name}:{key}")
        self.inner.put(key, data, content_type=content_type, cache_control=cache_control)

    def keys(self, prefix: str = "") -> list[str]:
        return self.inner.keys(prefix)

    def check_writable(self, keys: Iterable[str]) -> None:
        self.inner.check_writable(keys)

    def describe(self) -> str:
        return self.inner.describe()


def watched_planner(env: dict[str, str], journal: list[str], budget: int = -1) -> jobs.Planner:
    """The planner the CLI would build, its two stores watched with one write budget."""
    planner = context(env).planner()
    shared = [budget]
    return dataclasses.replace(
        planner,
        public=Watched(planner.public, "public", journal, shared),
        private=Watched(planner.private, "private", journal, shared),
    )


def test_tick_publishes_every_object_with_its_type_and_cache_control(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    result = tick(bucket_env(s3_server, s3_bucket, tmp_path / "state"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"published to s3://{s3_bucket}/ @ {s3_server.endpoint_url}"
    )
    current = epoch_at(NOW).id
    sealed = [e.id for e in _epochs(current, 13)]
    expected = {
        **{layout.sealed_key(e): (publish.OCTETS, publish.IMMUTABLE) for e in sealed},
        layout.revealed_key(current): (publish.JSON, publish.IMMUTABLE),
        layout.INDEX_KEY: (publish.JSON, publish.SHORT),
        layout.CURRENT_KEY: (publish.JSON, publish.SHORT),
        layout.HTML_KEY: (publish.HTML, publish.SHORT),
        layout.SCHEMA_KEY: (publish.JSON, publish.SCHEMA_CACHE),
        STATE_OBJECT: (state_io.CONTENT_TYPE, state_io.CACHE_CONTROL),
        STATE_PREFIX + lease.LEASE_KEY: ("application/json", "no-store"),
    }
    assert list_keys(s3_server, s3_bucket) == sorted(expected)
    client = s3_server.client()
    for key, (content_type, cache_control) in expected.items():
        head = client.head_object(Bucket=s3_bucket, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (content_type, cache_control), key


def _epochs(first_id: str, count: int) -> list:
    epoch = epoch_from_id(first_id)
    found = []
    for _ in range(count):
        found.append(epoch)
        epoch = epoch.next()
    return found


def test_published_prefixes_are_public_and_the_state_is_private_and_encrypted(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    assert tick(bucket_env(s3_server, s3_bucket, tmp_path / "state")).exit_code == 0
    s3_server.allow_anonymous_read(s3_bucket, PUBLISHED_PREFIXES)
    stored = objects(s3_server, s3_bucket)
    for key, body in stored.items():
        response = requests.get(s3_server.url(s3_bucket, key), timeout=10)
        if key.startswith(STATE_PREFIX):
            assert response.status_code == 403, key
            assert body not in response.content
        else:
            assert response.status_code == 200, key
            assert response.content == body

    blob = stored[STATE_OBJECT]
    state = state_io.decrypt(blob, keys.master_key(SECRET))
    assert state.pending, "the state holds the plaintexts of the sealed epochs"
    future = json.loads(next(iter(state.pending.values())).plaintext)
    for secret_bit in (future["salt"], future["nonce"], future["zipcodes"][0]["zipcode"]):
        assert secret_bit.encode() not in blob
    assert b"zipcode" not in blob and b"lastAssigned" not in blob
    with pytest.raises(state_io.StateError, match="cannot be opened with this PLANNER_SECRET"):
        state_io.decrypt(blob, keys.master_key(keys.new_secret().encode()))


def test_writes_immutable_objects_first_and_pointers_last(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    journal: list[str] = []
    jobs.tick(watched_planner(env, journal), NOW)
    current = epoch_at(NOW).id
    sealed = [f"public:{layout.sealed_key(e.id)}" for e in _epochs(current, 13)]
    assert journal == [
        f"private:{state_io.STATE_KEY}",
        *sealed,
        f"public:{layout.SCHEMA_KEY}",
        f"public:{layout.INDEX_KEY}",
        f"public:{layout.revealed_key(current)}",
        f"public:{layout.INDEX_KEY}",
        f"public:{layout.CURRENT_KEY}",
        f"public:{layout.HTML_KEY}",
        f"private:{state_io.STATE_KEY}",
    ]


def test_second_tick_writes_nothing(s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path) -> None:
    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    assert tick(env).exit_code == 0
    before = objects(s3_server, s3_bucket)
    journal: list[str] = []
    planned, revealed = jobs.tick(watched_planner(env, journal), NOW + timedelta(minutes=5))
    assert journal == []
    assert (planned.sealed, revealed.revealed) == ([], [])
    assert objects(s3_server, s3_bucket) == before
    again = tick(env, at(0.1))
    assert again.exit_code == 0
    assert again.output.splitlines()[:3] == [
        "nothing to seal: the plan already reaches the horizon",
        f"horizon: {_epochs(epoch_at(NOW).id, 13)[-1].id}",
        "nothing to reveal",
    ]


def test_fresh_machine_continues_from_the_bucket(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """A new cron host with an empty disk picks up exactly where the last one stopped.

    The control is the same two ticks on one machine with local folders: the bucket run
    must publish the very same commitments, so the history came through whole.
    """
    first = bucket_env(s3_server, s3_bucket, tmp_path / "old-host")
    assert tick(first).exit_code == 0
    published_first = objects(s3_server, s3_bucket)

    fresh_disk = tmp_path / "new-host"
    assert not fresh_disk.exists()
    result = tick({**first, "PLANNER_STATE": str(fresh_disk)}, at(24))
    assert result.exit_code == 0, result.output
    current = epoch_at(NOW).id
    assert result.output.splitlines()[0] == (
        f"sealed 6 epochs: {_epochs(current, 14)[-1].id} .. {_epochs(current, 19)[-1].id}"
    )

    index = index_of(s3_server, s3_bucket)
    ids = [e["epochId"] for e in index["epochs"]]
    assert ids == [e.id for e in _epochs(current, 19)], "no gap, no duplicate"
    after = objects(s3_server, s3_bucket)
    for key, body in published_first.items():
        if key.startswith(("sealed/", "epochs/")):
            assert after[key] == body, f"{key} changed"

    control = _local_control(tmp_path / "control")
    assert control[layout.INDEX_KEY] == after[layout.INDEX_KEY]
    for key in control:
        if key.startswith("epochs/"):
            assert after[key] == control[key]
    _assert_cooldown(after, SECRET)


def _local_control(root: Path) -> dict[str, bytes]:
    """The same two ticks on one machine, publishing to a local folder."""
    env = {
        "PLANNER_DATA": str(REPO / "data/zipcodes.csv"),
        "PLANNER_PRIORITIES": str(REPO / "data/state_priorities.txt"),
        "PLANNER_STATE": str(root / "state"),
        "PLANNER_PUBLISHED": str(root / "published"),
        "PLANNER_SECRET": SECRET.decode(),
        "PLANNER_DAYS": DAYS,
    }
    assert tick(env).exit_code == 0
    assert tick(env, at(24)).exit_code == 0
    store = LocalStore(root / "published")
    published = store.keys()
    return {key: store.get(key) for key in published}  # type: ignore[misc]


def _assert_cooldown(published: dict[str, bytes], secret: bytes) -> None:
    """No zipcode twice within 24 h, over revealed epochs and those still sealed."""
    state = state_io.decrypt(published[STATE_OBJECT], keys.master_key(secret))
    plaintexts = [body for key, body in published.items() if key.startswith("epochs/")]
    plaintexts += [
        p.plaintext for k, p in state.pending.items() if layout.revealed_key(k) not in published
    ]
    seen: dict[str, list[float]] = {}
    for body in plaintexts:
        document = json.loads(body)
        start = epoch_from_id(document["epochId"]).start.timestamp()
        for item in document["zipcodes"]:
            seen.setdefault(item["zipcode"], []).append(start)
    assert len(plaintexts) == 19
    for zipcode, starts in seen.items():
        starts.sort()
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(gap >= 24 * 3600 for gap in gaps), zipcode


@pytest.mark.parametrize("kind", ["sealed", "revealed"])
def test_immutable_object_with_other_bytes_stops_the_tick_and_is_kept(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path, kind: str
) -> None:
    current = epoch_at(NOW).id
    key = layout.sealed_key(current) if kind == "sealed" else layout.revealed_key(current)
    squatter = b"not what the planner would write"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=squatter)

    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    result = tick(env)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {key} in s3://{s3_bucket}/ @ {s3_server.endpoint_url} is already published "
        "with different bytes; published objects are immutable, so nothing was overwritten\n"
    )
    assert SECRET.decode() not in result.output and s3_server.secret_key not in result.output
    stored = objects(s3_server, s3_bucket)
    assert stored[key] == squatter
    assert layout.CURRENT_KEY not in stored
    if kind == "sealed":
        assert layout.INDEX_KEY not in stored, "nothing may point at the conflicting epoch"
    else:
        entry = next(e for e in json.loads(stored[layout.INDEX_KEY])["epochs"])
        assert (entry["epochId"], entry["revealed"]) == (current, None)
    if kind == "revealed":
        assert tick(env).exit_code == 1, "the conflict stays loud on every run"
        assert objects(s3_server, s3_bucket)[key] == squatter


def test_a_foreign_sealed_file_stays_loud_on_the_next_run(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    key = layout.sealed_key(epoch_at(NOW).id)
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=b"not a sealed assignment")
    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    assert tick(env).exit_code == 1
    assert tick(env).exit_code == 1, "the second run must not point index.json at it"


def assert_no_dangling_pointer(server: S3Endpoint, bucket: str) -> None:
    """Everything index.json and current.json point to is there, byte-true to its commitment."""
    stored = objects(server, bucket)
    if layout.INDEX_KEY not in stored:
        assert layout.CURRENT_KEY not in stored and layout.HTML_KEY not in stored
        return
    for entry in json.loads(stored[layout.INDEX_KEY])["epochs"]:
        assert entry["sealed"] in stored, entry["sealed"]
        if entry["revealed"] is not None:
            body = stored[entry["revealed"]]
            assert timelock.commitment(body) == entry["commitment"]
    if layout.CURRENT_KEY in stored:
        document = json.loads(stored[layout.CURRENT_KEY])
        assert stored[layout.revealed_key(document["epochId"])] == stored[layout.CURRENT_KEY]


@pytest.fixture(scope="module")
def uninterrupted(s3_server: S3Endpoint, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The writes and the bucket contents of a tick that nothing interrupts."""
    bucket = s3_server.create_bucket()
    try:
        env = short_env(s3_server, bucket, tmp_path_factory.mktemp("state"))
        journal: list[str] = []
        jobs.tick(watched_planner(env, journal), NOW)
        return journal, objects(s3_server, bucket)
    finally:
        s3_server.delete_bucket(bucket)


WRITES_PER_TICK = 12  # the state, 4 sealed files, schema, index; epoch, index, current, html, state


def short_env(server: S3Endpoint, bucket: str, state_dir: Path) -> dict[str, str]:
    """Half a day ahead: four epochs, so every point of failure is quick to try."""
    return {**bucket_env(server, bucket, state_dir), "PLANNER_DAYS": "0.5"}


@pytest.mark.parametrize("fails_at", range(WRITES_PER_TICK))
def test_bucket_lost_mid_publish_then_back(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path, uninterrupted: tuple, fails_at: int
) -> None:
    """Whichever write the bucket drops, readers never see a pointer to a missing object,
    and the next tick finishes the job: the result is the uninterrupted run's."""
    writes, control = uninterrupted
    assert len(writes) == WRITES_PER_TICK
    env = short_env(s3_server, s3_bucket, tmp_path / "state")
    journal: list[str] = []
    with pytest.raises(StoreError, match="the bucket went away"):
        jobs.tick(watched_planner(env, journal, budget=fails_at), NOW)
    assert journal == writes[:fails_at]
    assert_no_dangling_pointer(s3_server, s3_bucket)

    result = tick(env)
    assert result.exit_code == 0, result.output
    after = objects(s3_server, s3_bucket)
    after.pop(STATE_PREFIX + lease.LEASE_KEY)  # the CLI's lease: a library run takes none
    assert sorted(after) == sorted(control)
    for key, body in control.items():
        if not key.startswith(("sealed/", STATE_PREFIX)):
            assert after[key] == body, key
    assert_no_dangling_pointer(s3_server, s3_bucket)


def test_unreachable_bucket_is_one_clear_line(tmp_path: Path, s3_server: S3Endpoint) -> None:
    from servers.seaweed import free_ports

    (port,) = free_ports(1)
    env = {
        **bucket_env(s3_server, "nowhere", tmp_path / "state"),
        "SPACES_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    settings = Settings.from_env(env)
    ctx = Context(settings, round_for=lambda epoch: TEST_ROUND)
    result = CliRunner().invoke(cli, ["tick", "--now", NOW_ISO], obj=ctx)
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: cannot read s3://nowhere/_planner/tick-lease.json @ http://127.0.0.1:{port}: "
        "EndpointConnectionError"
    )
    assert "Traceback" not in result.output and s3_server.secret_key not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["tick", "--now", NOW_ISO, "--rehearsal"],
        ["plan", "--now", NOW_ISO, "--rehearsal"],
        ["reveal", "--now", NOW_ISO, "--rehearsal"],
        ["rotate-secret"],
    ],
    ids=["tick", "plan", "reveal", "rotate-secret"],
)
def test_a_run_without_the_secret_says_so_before_taking_the_lease(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path, args: list[str]
) -> None:
    """With no PLANNER_SECRET, a run against a bucket wrote its lease, waited
    PLANNER_LEASE_SETTLE, and only then said the secret was missing, leaving a released
    lease in a bucket where nothing had been published."""
    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    env["PLANNER_NEW_SECRET"] = env.pop("PLANNER_SECRET")
    result = CliRunner().invoke(cli, args, obj=context(env))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: PLANNER_SECRET is not set; ")
    assert list_keys(s3_server, s3_bucket) == []


def test_a_future_now_is_refused_against_a_bucket(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path
) -> None:
    """A leftover PLANNER_NOW must not reveal tomorrow's epochs to the real bucket."""
    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    real = epoch_at(datetime.now(UTC))
    assert tick(env, real.start_iso).exit_code == 0

    def published() -> dict[str, bytes]:
        """Everything but the lease, which each run takes and releases."""
        found = objects(s3_server, s3_bucket)
        found.pop(STATE_PREFIX + lease.LEASE_KEY)
        return found

    before = published()
    ahead = real.next().next()
    for command in ("tick", "reveal"):
        result = CliRunner().invoke(cli, [command, "--now", ahead.start_iso], obj=context(env))
        assert result.exit_code == 1, result.output
        assert f"this run would reveal {ahead.id}" in result.output
        assert "after the real clock" in result.output and "--rehearsal" in result.output
    assert published() == before
    rehearsal = CliRunner().invoke(
        cli, ["tick", "--now", ahead.start_iso, "--rehearsal"], obj=context(env)
    )
    assert rehearsal.exit_code == 0, rehearsal.output
    assert f"current: {ahead.id}" in rehearsal.output


def test_verify_with_a_bucket_reads_the_bucket_not_a_local_folder(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path, relay, monkeypatch
) -> None:
    """With SPACES_BUCKET set and no PLANNER_PUBLISHED, `planner verify` verified the local
    folder `published` of the working directory (the default), where nothing was published:
    `... published (PLANNER_PUBLISHED) does not exist: nothing was ever published there`,
    right after a tick that said `published to s3://...`. It reads the bucket as miners do,
    at SPACES_PUBLIC_URL, or the bucket's URL on its endpoint."""
    env = bucket_env(s3_server, s3_bucket, tmp_path / "state")
    assert tick(env).exit_code == 0
    s3_server.allow_anonymous_read(s3_bucket, PUBLISHED_PREFIXES)
    monkeypatch.chdir(tmp_path)
    args = ["verify", "--now", NOW_ISO, "--drand-url", relay.url]
    result = CliRunner().invoke(cli, args, obj=context(env))
    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"epoch {epoch_at(NOW).id} verified\n")
    assert not (tmp_path / "published").exists()


@pytest.mark.parametrize(
    ("setting", "wrong", "says"),
    [
        (
            "SPACES_BUCKET",
            "subnet46-publshed",
            "NoSuchBucket (HTTP 404): the bucket does not exist (check SPACES_BUCKET)",
        ),
        (
            "SPACES_KEY",
            "DO00WRONGKEY",
            "InvalidAccessKeyId (HTTP 403): the access key is not known to this endpoint "
            "(check SPACES_KEY, and SPACES_ENDPOINT_URL)",
        ),
        (
            "SPACES_SECRET",
            "not-the-secret",
            "SignatureDoesNotMatch (HTTP 403): the secret key does not match the access key "
            "(check SPACES_SECRET, and that SPACES_KEY is its key)",
        ),
    ],
)
def test_a_first_tick_with_a_wrong_bucket_setting_names_it(
    s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path, setting: str, wrong: str, says: str
) -> None:
    """A mistyped bucket, key or secret said what S3 answered (`the secret key does not
    match the access key`) but not which setting holds it, as other messages do."""
    env = {**bucket_env(s3_server, s3_bucket, tmp_path / "state"), setting: wrong}
    result = tick(env)
    assert result.exit_code == 1, result.output
    bucket = env["SPACES_BUCKET"]
    assert result.output == (
        f"Error: cannot read s3://{bucket}/_planner/tick-lease.json @ "
        f"{s3_server.endpoint_url}: {says}\n"
    )
    assert s3_server.secret_key not in result.output
