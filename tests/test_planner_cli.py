"""The planner CLI as the operator and cron use it: exit codes and exact output."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from contextlib import ExitStack
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clientkit import chain, timelock
from clientkit.epochs import epoch_at
from planner import keys
from planner import state as state_io
from planner.cli import Context, cli
from planner.config import Settings
from planner.store import LocalStore

from conftest import NOW, REPO, SECRET
from servers.drand_relay import TEST_ROUND

NOW_ISO = "2026-11-25T17:00:00Z"


def run(*args: str, obj: Context | None = None):
    return CliRunner().invoke(cli, list(args), obj=obj, catch_exceptions=False)


def test_check_summarises_the_sample(env) -> None:
    result = run("check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{REPO / 'data/zipcodes.csv'}: 2,953 zipcodes in 2 states, sha256 ")
    assert lines[1] == (
        f"priorities {REPO / 'data/state_priorities.txt'}: PA, NJ; "
        "zipcodes with 1..1000 listings are eligible"
    )
    assert lines[3].split() == [
        "state",
        "rank",
        "share",
        "zipcodes",
        "eligible",
        "expected",
        "listings",
    ]
    assert lines[5].split()[:4] == ["PA", "1", "66.7%", "2,215"]
    assert lines[6].split()[:4] == ["NJ", "2", "33.3%", "738"]


def test_check_fails_a_file_that_can_never_be_planned(env, tmp_path) -> None:
    """A file of one zipcode passed `check` (exit 0, the docs' test) and failed every tick."""
    one = tmp_path / "one.csv"
    one.write_text("zipcode,state,recently_sold_listings\n19103,PA,120\n")
    result = CliRunner().invoke(cli, ["check", str(one)])
    assert result.exit_code == 1
    assert "Error: only 120 eligible listings" in result.output
    assert "every tick would fail" in result.output
    assert "PA" in result.output, "the summary is still shown"


@pytest.mark.parametrize("name", ["PLANNER_DATA", "PLANNER_PRIORITIES"])
def test_a_relative_file_not_found_names_the_folder_it_was_read_from(
    env, tmp_path, monkeypatch, name
) -> None:
    """A cron line without `cd` to the checkout said only "data/zipcodes.csv: cannot read
    the file: No such file or directory", naming no folder: cron starts in the home."""
    relative = {"PLANNER_DATA": "data/zipcodes.csv", "PLANNER_PRIORITIES": "data/prio.txt"}
    monkeypatch.setenv(name, relative[name])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {relative[name]} ({name}): cannot read the file: No such file or directory (a "
        f"relative path, read in {tmp_path})\n"
    )


def test_check_reports_every_bad_row_and_exits_non_zero(env, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "zipcode,state,city,county,recently_sold_listings\n"
        "7030,NJ,Hoboken,Hudson County,12\n"
        "19103,XX,Philadelphia,Philadelphia County,5\n"
        "19104,PA,Philadelphia,Philadelphia County,-3\n"
        "19103,PA,Philadelphia,Philadelphia County,many\n"
    )
    result = CliRunner().invoke(cli, ["check", str(bad)])
    assert result.exit_code == 1
    assert "line 2, column zipcode" in result.output
    assert "line 3, column state" in result.output
    assert "line 4, column recently_sold_listings" in result.output
    assert "line 5, column recently_sold_listings" in result.output
    assert "Traceback" not in result.output


def test_plan_requires_the_secret_and_writes_nothing_without_it(env, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("PLANNER_SECRET")
    result = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert result.exit_code == 1
    assert "PLANNER_SECRET is not set" in result.output
    assert not (tmp_path / "published").exists()
    monkeypatch.setenv("PLANNER_SECRET", "short")
    result = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert result.exit_code == 1 and "too short" in result.output
    monkeypatch.setenv("PLANNER_SECRET", "subnet46" * 4)
    result = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert result.exit_code == 1
    assert "PLANNER_SECRET looks guessable" in result.output
    assert "planner new-secret" in result.output
    assert "subnet46" not in result.output
    assert not (tmp_path / "published").exists()


def test_new_secret_prints_a_fresh_strong_secret() -> None:
    first, second = (CliRunner().invoke(cli, ["new-secret"]) for _ in range(2))
    assert first.exit_code == second.exit_code == 0
    assert first.output != second.output
    assert re.fullmatch(r"[0-9a-f]{64}\n", first.output)
    assert keys.check_strength(first.output.strip()) == first.output.strip().encode()


def test_tick_prints_what_it_did_and_is_idempotent(env, tmp_path) -> None:
    first = run("tick", "--now", NOW_ISO)
    assert first.exit_code == 0, first.output
    current = epoch_at(NOW).id
    assert first.output.splitlines() == [
        f"sealed 43 epochs: {current} .. 2026-12-02T16-00-00",
        f"note: {current} has already started: its commitment is published late "
        "(first run, or the planner was down)",
        "horizon: 2026-12-02T16-00-00",
        f"revealed 1 epoch: {current}",
        f"current: {current}",
        f"published to {tmp_path / 'published'} (PLANNER_PUBLISHED)",
    ]
    second = run("tick", "--now", NOW_ISO)
    assert second.output.splitlines()[:3] == [
        "nothing to seal: the plan already reaches the horizon",
        "horizon: 2026-12-02T16-00-00",
        "nothing to reveal",
    ]


def test_days_option_and_bad_now(env) -> None:
    result = run("plan", "--now", NOW_ISO, "--days", "1")
    assert result.output.splitlines()[0] == (
        "sealed 7 epochs: 2026-11-25T16-00-00 .. 2026-11-26T16-00-00"
    )
    bad = CliRunner().invoke(cli, ["plan", "--now", "soon"])
    assert bad.exit_code == 2
    assert (
        "Invalid value for '--now': must be an ISO-8601 instant (such as "
        "2026-11-25T17:00:00Z), got 'soon'"
    ) in bad.output
    zero = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO, "--days", "0"])
    assert zero.exit_code == 2
    assert "Invalid value for '--days': must be more than 0 and at most 366, got 0.0" in zero.output


def test_bad_settings_fail_fast_naming_the_setting(env, monkeypatch) -> None:
    monkeypatch.setenv("PLANNER_TARGET_LISTINGS", "lots")
    result = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert result.exit_code == 1
    assert "PLANNER_TARGET_LISTINGS must be a whole number, got 'lots'" in result.output
    monkeypatch.delenv("PLANNER_TARGET_LISTINGS")
    monkeypatch.setenv("SPACES_BUCKET", "epochs")
    result = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert result.exit_code == 1
    assert "SPACES_ENDPOINT_URL, SPACES_KEY, SPACES_SECRET must be set" in result.output


def test_tick_exits_cleanly_when_another_holds_the_lock(env, tmp_path) -> None:
    from planner.lock import exclusive

    with exclusive(tmp_path / "state/tick.lock"):
        result = CliRunner().invoke(cli, ["tick", "--now", NOW_ISO])
    assert result.exit_code == 0
    assert "another planner run holds" in result.output
    assert not (tmp_path / "published").exists()


@pytest.mark.parametrize(
    "command", [["plan", "--now", NOW_ISO], ["reveal", "--now", NOW_ISO], ["rotate-secret"]]
)
def test_other_writing_commands_wait_for_no_tick_and_fail_when_one_runs(
    env, tmp_path, monkeypatch, command
) -> None:
    """plan, reveal and rotate-secret took no lock: run by hand during a cron tick, they
    left index.json and the state disagreeing, or the tick undid a rotation."""
    from planner.lock import exclusive

    run("tick", "--now", NOW_ISO)
    monkeypatch.setenv("PLANNER_NEW_SECRET", keys.new_secret())
    state = (tmp_path / "state/planner-state.enc").read_bytes()
    with exclusive(tmp_path / "state/tick.lock"):
        result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1, result.output
    assert "another planner run holds" in result.output
    assert (tmp_path / "state/planner-state.enc").read_bytes() == state


@pytest.mark.parametrize("command", [["plan", "--now", NOW_ISO], ["reveal", "--now", NOW_ISO]])
def test_planner_lock_wait_is_every_locked_commands(env, tmp_path, monkeypatch, command) -> None:
    """PLANNER_LOCK_WAIT makes a run by hand wait for the tick holding the lock too, not
    only a tick (docs/configuration.md): here the tick ends while the run waits."""
    from planner import lock

    monkeypatch.setenv("PLANNER_LOCK_WAIT", "600")
    waits: list[float] = []
    with ExitStack() as tick:
        tick.enter_context(lock.exclusive(tmp_path / "state/tick.lock"))

        def tick_ends(seconds: float) -> None:
            tick.close()
            waits.append(seconds)

        monkeypatch.setattr(lock.time, "sleep", tick_ends)
        result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert len(waits) == 1, "it waited for the lock once, then took it"


def test_the_local_state_and_its_lock_are_the_users_alone(env, tmp_path) -> None:
    """The encrypted state holds every unrevealed epoch's assignment: it was written 0644,
    readable by every user of the machine, like the published files it sits beside."""
    assert run("tick", "--now", NOW_ISO).exit_code == 0

    def mode(path: Path) -> int:
        return stat.S_IMODE(os.stat(path).st_mode)

    assert mode(tmp_path / "state/planner-state.enc") == 0o600
    assert mode(tmp_path / "state/tick.lock") == 0o600
    assert mode(tmp_path / "published/index.json") == 0o644, "the web server reads these"


def test_a_state_folder_that_cannot_hold_the_lock_is_named(env, tmp_path, monkeypatch) -> None:
    """A file where the state folder should be was a FileExistsError traceback."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("PLANNER_STATE", str(tmp_path / "afile"))
    result = CliRunner().invoke(cli, ["tick", "--now", NOW_ISO])
    assert result.exit_code == 1
    assert "cannot make the lock file" in result.output and "PLANNER_STATE" in result.output
    assert "Traceback" not in result.output


def test_status_shows_epochs_and_coverage(env) -> None:
    run("tick", "--now", NOW_ISO)
    result = run("status", "--now", "2026-11-25T21:00:00Z")
    assert result.exit_code == 0, result.output
    out = result.output
    rows = {line.split("  ")[0]: line.split("  ", 1)[1].split() for line in out.splitlines()[3:11]}
    assert rows["2026-11-25T16-00-00"][0] == "revealed"
    assert rows["2026-11-25T20-00-00"][:2] == ["current,", "sealed"]
    assert rows["2026-11-26T00-00-00"][0] == "sealed"
    assert "horizon: sealed up to 2026-12-02T16-00-00 (43 epochs published in all)" in out
    assert "coverage over the last 7 days (2 epochs):" in out


def test_status_shows_the_horizon_while_the_zipcode_file_is_broken(
    env, monkeypatch, tmp_path
) -> None:
    """docs/operations.md sends the operator of a tick failing on the zipcode file to
    `planner status` for the horizon left; it printed only the file's error."""
    run("tick", "--now", NOW_ISO)
    bad = tmp_path / "bad.csv"
    bad.write_text("zipcode,state,recently_sold_listings\n19103,PA,many\n")
    monkeypatch.setenv("PLANNER_DATA", str(bad))
    result = CliRunner().invoke(cli, ["status", "--now", "2026-11-25T21:00:00Z"])
    assert result.exit_code == 1, result.output
    assert "horizon: sealed up to 2026-12-02T16-00-00 (43 epochs published in all)" in result.output
    assert result.output.endswith(
        f"Error: {bad}: line 2, column recently_sold_listings: 'many' is not a number\n"
    ), result.output


@pytest.mark.parametrize("days", ["100000000", "1000000000000"])
def test_a_coverage_window_too_long_is_refused_by_name(env, days) -> None:
    """`status --coverage-days 100000000` ended in an OverflowError traceback."""
    run("tick", "--now", NOW_ISO, "--days", "1")
    result = CliRunner().invoke(cli, ["status", "--coverage-days", days])
    assert result.exit_code == 2, result.output
    assert (
        f"Invalid value for '--coverage-days': {days} is not in the range 1<=x<=366"
        in result.output
    )
    assert "Traceback" not in result.output


def test_status_before_anything_is_published(env, tmp_path) -> None:
    (tmp_path / "published").mkdir()
    result = run("status")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"nothing published at {tmp_path / 'published'} yet: run `planner tick`"
    )


@pytest.mark.parametrize("command", ["status", "verify"])
@pytest.mark.parametrize(
    ("given", "named"), [("env", "PLANNER_PUBLISHED"), ("option", "--published")]
)
def test_a_published_folder_that_does_not_exist_is_named_with_its_setting(
    env, tmp_path, monkeypatch, command, given, named
) -> None:
    """A mistyped PLANNER_PUBLISHED made `status` say "nothing published at ... yet: run
    `planner tick`" and exit 0, as if the plan had not begun; `verify` said "no index.json
    at ...", naming no setting. Both only read the folder: one that does not exist is a
    wrong path (a tick creates it when it first publishes)."""
    typo = tmp_path / "publshed"
    if given == "env":
        monkeypatch.setenv("PLANNER_PUBLISHED", str(typo))
    options = ["--published", str(typo)] if given == "option" else []
    result = CliRunner().invoke(cli, [command, *options, "--now", NOW_ISO])
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: {typo} ({named}) does not exist: nothing was ever published there (check "
        "the path; `planner tick` creates the folder when it first publishes)\n"
    )
    assert not typo.exists()


def test_tick_names_a_relative_published_folder_by_its_absolute_path(
    env, tmp_path, monkeypatch
) -> None:
    """A cron job in $HOME with the default relative folders printed "published to
    published": a tick that began a new plan in ~/published named no folder."""
    monkeypatch.setenv("PLANNER_PUBLISHED", "published")
    monkeypatch.setenv("PLANNER_STATE", "state")
    monkeypatch.chdir(tmp_path)
    result = run("tick", "--now", NOW_ISO)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"published to {tmp_path / 'published'} (PLANNER_PUBLISHED)"
    )


@pytest.mark.parametrize("command", ["status", "verify"])
@pytest.mark.parametrize(
    ("name", "says"), [("publshed", "does not exist"), ("afile", "is not a folder")]
)
def test_a_relative_published_path_that_is_no_folder_names_where_it_was_read(
    env, tmp_path, monkeypatch, command, name, says
) -> None:
    """`status` and `verify` name it alike (verify named the absolute path it made)."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("PLANNER_PUBLISHED", name)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [command])
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: {tmp_path / name} (PLANNER_PUBLISHED) {says} (a relative path, read in "
        f"{tmp_path}): "
    )


def test_preview_writes_a_report_and_seals_nothing(env, tmp_path) -> None:
    report = tmp_path / "preview.html"
    result = run("preview", "--days", "3", "--now", NOW_ISO, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert (
        result.output.splitlines()[0] == "18 epochs simulated (target 10000 ± 10%, cooldown 24 h)"
    )
    assert "PA" in result.output and "band 9000..11000" in result.output
    html = report.read_text()
    assert "<svg" in html and 'id="totals"' in html and html.count('class="bar"') >= 18
    assert not (tmp_path / "published").exists() and not (tmp_path / "state").exists()


def test_preview_of_one_epoch_says_epoch(env, tmp_path) -> None:
    report = tmp_path / "preview.html"
    result = run("preview", "--days", "0.1", "--now", NOW_ISO, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 epoch simulated (target 10000"), result.output


@pytest.mark.parametrize("command", ["tick", "plan", "status"])
def test_a_url_is_not_a_folder_to_publish_to(env, tmp_path, monkeypatch, command) -> None:
    """`tick --published https://...` made a folder named `https:` and said it published."""
    monkeypatch.chdir(tmp_path)
    url = "https://subnet46.nyc3.cdn.digitaloceanspaces.com"
    result = CliRunner().invoke(cli, [command, "--published", url])
    assert result.exit_code == 1
    assert "a URL is what `planner verify` reads" in result.output
    assert not (tmp_path / "https:").exists()


@pytest.mark.parametrize("command", ["tick", "plan", "reveal", "status", "rotate-secret"])
def test_a_folder_given_with_a_bucket_set_is_refused(env, tmp_path, monkeypatch, command):
    """`tick --published FOLDER` with SPACES_* set published to the bucket, ignoring it."""
    for name, value in {
        "SPACES_BUCKET": "epochs",
        "SPACES_ENDPOINT_URL": "http://127.0.0.1:9",
        "SPACES_KEY": "k",
        "SPACES_SECRET": "s",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, [command, "--published", str(tmp_path / "rehearsal")])
    assert result.exit_code == 2
    assert "SPACES_BUCKET is set, so this run would use the bucket" in result.output


def test_outputs_that_cannot_be_written_are_named_not_tracebacks(env, tmp_path) -> None:
    """A report or data file in a folder that does not exist (or under a file) was a
    FileNotFoundError/PermissionError traceback, the report's after the whole simulation."""
    (tmp_path / "afile").write_text("")
    report = CliRunner().invoke(cli, ["preview", "--report", str(tmp_path / "nope/x.html")])
    assert report.exit_code == 1 and "cannot write the report" in report.output
    data = CliRunner().invoke(
        cli, ["generate-data", "--states", "DE", "--out", str(tmp_path / "afile/de.csv")]
    )
    assert data.exit_code == 1 and "de.csv: cannot write it" in data.output
    assert "Traceback" not in report.output + data.output


def test_a_report_the_disk_refuses_is_named_not_a_traceback(env, tmp_path) -> None:
    """A write failing past the folder check (disk full; here a name too long) ended in an
    OSError traceback after the simulation, over a truncated report."""
    report = tmp_path / ("x" * 300 + ".html")
    result = CliRunner().invoke(cli, ["preview", "--days", "1", "--report", str(report)])
    assert result.exit_code == 1, result.output
    assert result.output.endswith(
        f"Error: cannot write the report {report} (--report): File name too long\n"
    ), result.output
    assert list(tmp_path.iterdir()) == []


def test_generate_data_is_deterministic(tmp_path) -> None:
    out = tmp_path / "de.csv"
    result = run("generate-data", "--states", "DE", "--seed", "7", "--out", str(out))
    assert result.exit_code == 0
    assert (
        result.output.startswith("wrote ") and "DE " in result.output and "seed 7" in result.output
    )
    first = out.read_bytes()
    run("generate-data", "--states", "DE", "--seed", "7", "--out", str(out))
    assert out.read_bytes() == first
    bad = CliRunner().invoke(cli, ["generate-data", "--states", "ZZ", "--out", str(out)])
    assert bad.exit_code == 1 and "ZZ" in bad.output


def test_generate_data_refuses_a_negative_seed_by_name(tmp_path) -> None:
    """`--seed -1` ended in numpy's ValueError traceback, after the file was named."""
    out = tmp_path / "de.csv"
    result = CliRunner().invoke(cli, ["generate-data", "--seed", "-1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--seed': -1 is not in the range x>=0." in result.output
    assert not out.exists()


def context_on_test_round(tmp_path: Path) -> Context:
    """Seal every epoch to round 123, the one whose signature the loopback relay serves."""
    settings = Settings.from_env()
    return Context(settings, round_for=lambda epoch: TEST_ROUND)


def test_verify_opens_the_sealed_file_with_drand(env, tmp_path, relay) -> None:
    ctx = context_on_test_round(tmp_path)
    assert run("tick", "--now", NOW_ISO, obj=ctx).exit_code == 0
    result = run(
        "verify", "--now", NOW_ISO, "--drand-url", relay.url, obj=context_on_test_round(tmp_path)
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "ok   index",
        "ok   chain",
        "ok   planner state",
        "ok   head file",
        "ok   round",
        "ok   sealed file",
        "ok   drand beacon",
        "ok   decrypt",
        "ok   commitment",
        "ok   content",
        "ok   revealed file",
        "ok   current.json",
    ]
    assert lines[-1] == f"epoch {epoch_at(NOW).id} verified"
    assert any(p.endswith(f"/public/{TEST_ROUND}") for p in relay.requests)


def test_verify_fails_when_current_json_was_replaced(env, tmp_path, relay) -> None:
    """A replaced current.json (what the signer and most miners read) no longer verifies."""
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    current = tmp_path / "published/current.json"
    document = json.loads(current.read_bytes())
    document["zipcodes"] = document["zipcodes"][:3]
    current.write_text(json.dumps(document))
    result = CliRunner().invoke(
        cli,
        ["verify", "--now", NOW_ISO, "--drand-url", relay.url],
        obj=context_on_test_round(tmp_path),
    )
    assert result.exit_code == 1
    assert f"FAIL current.json: is not {epoch_at(NOW).id}'s committed assignment" in result.output
    assert "ok   revealed file" in result.output


def test_verify_fails_when_current_json_was_rolled_back_past_a_revealed_epoch(
    env, tmp_path, relay
) -> None:
    """current.json put back to an older epoch's committed bytes, while index.json marks
    later epochs revealed, is no planner running late: the planner writes current.json right
    after it marks an epoch revealed. Only the epoch just before the running one (a CDN
    serving the new index.json with the old current.json) or the last one revealed (no tick
    since the start) passes."""
    earlier = (NOW - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run("tick", "--now", earlier, obj=context_on_test_round(tmp_path)).exit_code == 0
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    running, before = epoch_at(NOW), epoch_at(NOW).previous()
    oldest = before.previous()
    published = tmp_path / "published"
    current = published / "current.json"
    current.write_bytes((published / f"epochs/{before.id}.json").read_bytes())
    late = _verify_as(tmp_path, relay.url)
    assert late.exit_code == 0, late.output
    assert f"ok   current.json: still {before.id}'s" in late.output
    current.write_bytes((published / f"epochs/{oldest.id}.json").read_bytes())
    result = _verify_as(tmp_path, relay.url)
    assert result.exit_code == 1, result.output
    assert (
        f"FAIL current.json: is {oldest.id}'s, though index.json marks {before.id} revealed "
        f"after it: it was put back to an older epoch" in result.output
    )
    assert running.id in result.output


def test_verify_fails_on_a_damaged_sealed_file(env, tmp_path, relay) -> None:
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    sealed = tmp_path / f"published/sealed/{epoch_at(NOW).id}.tlock"
    sealed.write_bytes(sealed.read_bytes()[:100])
    result = CliRunner().invoke(
        cli,
        ["verify", "--now", NOW_ISO, "--drand-url", relay.url],
        obj=context_on_test_round(tmp_path),
    )
    assert result.exit_code == 1
    assert "FAIL decrypt" in result.output
    assert f"Error: epoch {epoch_at(NOW).id} failed verification" in result.output


def test_verify_fails_when_the_revealed_file_was_altered(env, tmp_path, relay) -> None:
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    revealed = tmp_path / f"published/epochs/{epoch_at(NOW).id}.json"
    document = json.loads(revealed.read_bytes())
    document["zipcodes"].pop()
    revealed.write_text(json.dumps(document))
    result = CliRunner().invoke(
        cli,
        ["verify", "--now", NOW_ISO, "--drand-url", relay.url],
        obj=context_on_test_round(tmp_path),
    )
    assert result.exit_code == 1
    assert "FAIL revealed file: differs from the sealed plaintext" in result.output


def test_verify_rejects_a_reveal_round_earlier_than_the_epoch(env, tmp_path, relay) -> None:
    """Sealed to round 123 but checked with the real clock: an operator could open it early."""
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    result = CliRunner().invoke(cli, ["verify", "--now", NOW_ISO, "--drand-url", relay.url])
    assert result.exit_code == 1
    assert f"FAIL round: revealRound {TEST_ROUND}, but the epoch start gives" in result.output


def test_verify_reports_an_unreachable_relay(env, tmp_path) -> None:
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    result = CliRunner().invoke(
        cli,
        ["verify", "--now", NOW_ISO, "--drand-url", "http://127.0.0.1:9"],
        obj=context_on_test_round(tmp_path),
    )
    assert result.exit_code == 1
    assert (
        "FAIL drand beacon: round 123 not available: http://127.0.0.1:9: ConnectionError"
        in result.output
    )


def test_rotate_secret_re_encrypts_the_state(env, monkeypatch, tmp_path) -> None:
    run("plan", "--now", NOW_ISO, "--days", "1")
    monkeypatch.setenv("PLANNER_NEW_SECRET", "n" * 40)
    weak = run("rotate-secret")
    assert weak.exit_code == 1 and "PLANNER_NEW_SECRET looks guessable (about 0 bits" in weak.output
    new = keys.new_secret()
    monkeypatch.setenv("PLANNER_NEW_SECRET", new)
    result = run("rotate-secret")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "the private state is now encrypted under PLANNER_NEW_SECRET",
        "epochs up to 2026-11-26T16-00-00 were sealed with the old secret and stay as "
        "committed; the next ones use the new secret",
        "now set PLANNER_SECRET to the new value wherever the planner runs",
    ]
    old = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert old.exit_code == 1 and "cannot be opened with this PLANNER_SECRET" in old.output
    monkeypatch.setenv("PLANNER_SECRET", new)
    after = run("plan", "--now", NOW_ISO, "--days", "2")
    assert after.output.splitlines()[0] == (
        "sealed 6 epochs: 2026-11-26T20-00-00 .. 2026-11-27T16-00-00"
    )


def test_a_state_the_secret_cannot_open_is_named_with_where_it_is(env, tmp_path) -> None:
    """It said only "the planner state cannot be opened with this PLANNER_SECRET": with
    SPACES_* and PLANNER_STATE both in play, the operator could not tell which state."""
    run("plan", "--now", NOW_ISO, "--days", "1")
    other = CliRunner().invoke(
        cli, ["plan", "--now", NOW_ISO], env={"PLANNER_SECRET": keys.new_secret()}
    )
    assert other.exit_code == 1
    assert other.output == (
        f"Error: the planner state (planner-state.enc in {tmp_path / 'state'} (PLANNER_STATE)) "
        "cannot be opened with this PLANNER_SECRET (another secret, or a damaged file)\n"
    )


@pytest.mark.parametrize("command", ["tick", "plan", "reveal"])
def test_a_mistyped_state_folder_is_named_with_its_setting(env, tmp_path, command) -> None:
    """A PLANNER_STATE typo, once a tick had published, said `the private state
    (planner-state.enc in /srv/stat) is missing: restore it (or point the planner at the
    bucket that holds it)`: neither the setting to check nor that it may be mistyped."""
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    typo = tmp_path / "stat"
    result = CliRunner().invoke(cli, [command, "--now", NOW_ISO], env={"PLANNER_STATE": str(typo)})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path / 'published'} (PLANNER_PUBLISHED) lists sealed epochs that are not "
        f"revealed yet, but the planner state (planner-state.enc in {typo} (PLANNER_STATE)) is "
        "missing: is PLANNER_STATE mistyped? If not, restore it (or point the planner at the "
        "bucket that holds it) before planning\n"
    )


def test_rotate_secret_without_the_new_secret_says_it_needs_it(env) -> None:
    """It said "PLANNER_NEW_SECRET is not set; planning needs it": rotating is what does."""
    run("plan", "--now", NOW_ISO, "--days", "1")
    result = CliRunner().invoke(cli, ["rotate-secret"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: PLANNER_NEW_SECRET is not set; `planner rotate-secret` needs it and there is "
        "no default: generate one with `planner new-secret`\n"
    )


def test_rotate_secret_run_twice_says_the_rotation_is_done(env, monkeypatch, tmp_path) -> None:
    """The second run (a retry, a second terminal) said the state "cannot be opened with this
    PLANNER_SECRET (another secret, or a damaged file)", as if it had been lost."""
    run("plan", "--now", NOW_ISO, "--days", "1")
    new = keys.new_secret()
    monkeypatch.setenv("PLANNER_NEW_SECRET", new)
    assert run("rotate-secret").exit_code == 0
    rotated = (tmp_path / "state/planner-state.enc").read_bytes()

    again = CliRunner().invoke(cli, ["rotate-secret"])
    assert again.exit_code == 1
    assert again.output == (
        f"Error: the planner state (planner-state.enc in {tmp_path / 'state'} (PLANNER_STATE)) "
        "is already encrypted under PLANNER_NEW_SECRET: the rotation is done; now set "
        "PLANNER_SECRET to the new value wherever the planner runs\n"
    )
    assert (tmp_path / "state/planner-state.enc").read_bytes() == rotated
    monkeypatch.setenv("PLANNER_SECRET", new)
    assert run("plan", "--now", NOW_ISO, "--days", "2").exit_code == 0


def test_rotate_secret_to_the_same_secret_is_refused(env, monkeypatch, tmp_path) -> None:
    """PLANNER_NEW_SECRET set to PLANNER_SECRET (both filled from one variable) "rotated" the
    state, exit 0, and said to set PLANNER_SECRET to the new value: a leaked secret stayed
    in use while the operator believed it replaced."""
    run("plan", "--now", NOW_ISO, "--days", "1")
    state = (tmp_path / "state/planner-state.enc").read_bytes()
    monkeypatch.setenv("PLANNER_NEW_SECRET", env["PLANNER_SECRET"])
    result = CliRunner().invoke(cli, ["rotate-secret"])
    assert result.exit_code == 1, result.output
    assert result.output == (
        "Error: PLANNER_NEW_SECRET is PLANNER_SECRET itself: there is nothing to rotate to; "
        "generate a new one with `planner new-secret`\n"
    )
    assert (tmp_path / "state/planner-state.enc").read_bytes() == state


def test_rotate_secret_without_a_state_names_where_it_looked(env, monkeypatch, tmp_path) -> None:
    """It "succeeded" on a fresh folder, writing a new empty state: an operator who forgot
    SPACES_* rotated a local file, then every production tick failed."""
    monkeypatch.setenv("PLANNER_NEW_SECRET", keys.new_secret())
    result = CliRunner().invoke(cli, ["rotate-secret"])
    assert result.exit_code == 1
    assert "there is no private state (planner-state.enc in " in result.output
    assert not (tmp_path / "state/planner-state.enc").exists()


def test_rotate_secret_needs_the_new_one(env) -> None:
    result = CliRunner().invoke(cli, ["rotate-secret"])
    assert result.exit_code == 1
    assert "PLANNER_NEW_SECRET is not set" in result.output


def test_verify_checks_the_audit_key_after_the_epoch(env, monkeypatch, tmp_path, relay) -> None:
    monkeypatch.setenv("PLANNER_AUDIT_ZIPCODES", "3")
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    end = epoch_at(NOW).end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "audit key" in run("tick", "--now", end, obj=context_on_test_round(tmp_path)).output
    epoch_id = epoch_at(NOW).id
    result = run(
        "verify",
        epoch_id,
        "--now",
        end,
        "--drand-url",
        relay.url,
        obj=context_on_test_round(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "ok   audit key: 3 audited zipcodes of this assignment" in result.output
    key = tmp_path / f"published/audit/{epoch_id}.json"
    key.write_bytes(key.read_bytes().replace(b'"salt":"', b'"salt":"0'))
    failed = CliRunner().invoke(
        cli,
        ["verify", epoch_id, "--now", end, "--drand-url", relay.url],
        obj=context_on_test_round(tmp_path),
    )
    assert failed.exit_code == 1
    assert "FAIL audit key: its sha256 differs from its commitment" in failed.output


def test_negative_audit_count_is_refused(env, monkeypatch) -> None:
    monkeypatch.setenv("PLANNER_AUDIT_ZIPCODES", "-1")
    result = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert result.exit_code == 1
    assert "PLANNER_AUDIT_ZIPCODES must be >= 0, got '-1'" in result.output


def test_an_audit_count_an_epoch_cannot_hold_stops_planning(env, monkeypatch, tmp_path) -> None:
    """PLANNER_AUDIT_ZIPCODES=1000 on epochs of about 150 zipcodes audited all of them,
    exit 0: a tick now says so and exits 1, revealing what earlier runs sealed."""
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    monkeypatch.setenv("PLANNER_AUDIT_ZIPCODES", "1000")
    later = epoch_at(NOW).next()
    result = CliRunner().invoke(cli, ["tick", "--now", later.start_iso, "--days", "2"])
    assert result.exit_code == 1, result.output
    assert f"revealed 1 epoch: {later.id}" in result.output
    assert re.search(
        r"Error: planning failed, so nothing new was sealed \(the started epochs were "
        r"revealed\): epoch \S+ has \d+ zipcodes, and PLANNER_AUDIT_ZIPCODES is 1000: all of "
        r"them would be audited",
        result.output,
    ), result.output
    assert not (tmp_path / "published/audit").exists()


def test_tick_reveals_with_a_broken_data_file_then_fails(env, monkeypatch, tmp_path) -> None:
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("zipcode,state,city,county,recently_sold_listings\n19103,PA,P,P,many\n")
    monkeypatch.setenv("PLANNER_DATA", str(bad))
    later = epoch_at(NOW).next()
    result = CliRunner().invoke(cli, ["tick", "--now", later.start_iso, "--days", "2"])
    assert result.exit_code == 1, result.output
    assert f"revealed 1 epoch: {later.id}" in result.output
    assert f"current: {later.id}" in result.output
    assert "Error: planning failed, so nothing new was sealed" in result.output
    assert "column recently_sold_listings" in result.output
    current = json.loads((tmp_path / "published/current.json").read_bytes())
    assert current["epochId"] == later.id


def test_tick_exits_non_zero_after_putting_a_removed_entry_back(env, tmp_path) -> None:
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    path = tmp_path / "published/index.json"
    index = json.loads(path.read_bytes())
    first = index["epochs"][0]["epochId"]
    path.write_text(json.dumps(dict(index, epochs=index["epochs"][1:])))
    result = CliRunner().invoke(cli, ["tick", "--now", NOW_ISO, "--days", "1"])
    assert result.exit_code == 1
    assert f"repaired: index.json had lost the entry of {first}; it is restored" in result.output
    assert "Error: the published files had been changed by someone else" in result.output
    assert json.loads(path.read_bytes())["epochs"][0]["epochId"] == first


def _verify(tmp_path: Path) -> Any:
    return CliRunner().invoke(
        cli,
        ["verify", "--now", NOW_ISO, "--drand-url", "http://127.0.0.1:9"],
        obj=context_on_test_round(tmp_path),
    )


def test_verify_names_a_consistently_rewritten_epoch(env, tmp_path, relay) -> None:
    """A new commitment for a sealed epoch (its file re-sealed to match) breaks the chain at
    the entry after it, and verify names that entry."""
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    path = tmp_path / "published/index.json"
    index = json.loads(path.read_bytes())
    rewritten, following = index["epochs"][1], index["epochs"][2]
    rewritten["commitment"] = "sha256:" + "2" * 64
    path.write_text(json.dumps(index, indent=2))
    result = _verify(tmp_path)
    assert result.exit_code == 1
    assert f"FAIL chain: index.json's entry of {following['epochId']} does not extend" in (
        result.output
    )


def test_verify_names_the_entry_after_a_removed_one(env, tmp_path, relay) -> None:
    run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    path = tmp_path / "published/index.json"
    index = json.loads(path.read_bytes())
    following = index["epochs"][2]
    del index["epochs"][1]
    path.write_text(json.dumps(index, indent=2))
    result = _verify(tmp_path)
    assert result.exit_code == 1
    assert f"FAIL chain: index.json's entry of {following['epochId']} does not extend" in (
        result.output
    )


def test_ticks_extend_the_chain_and_verify_passes(env, tmp_path, relay) -> None:
    ctx = context_on_test_round(tmp_path)
    assert run("tick", "--now", NOW_ISO, obj=ctx).exit_code == 0
    path = tmp_path / "published/index.json"
    before = json.loads(path.read_bytes())["epochs"]
    later = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run("tick", "--now", later, obj=context_on_test_round(tmp_path)).exit_code == 0
    after = json.loads(path.read_bytes())["epochs"]
    assert len(after) > len(before)
    assert [chain.link(e) for e in after[: len(before)]] == [chain.link(e) for e in before]
    assert after[0]["prev"] == chain.GENESIS
    assert chain.head(after) == (after[-1]["epochId"], chain.link(after[-1]))
    result = run(
        "verify", "--now", later, "--drand-url", relay.url, obj=context_on_test_round(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert f"ok   chain: head {after[-1]['epochId']}" in result.output


def _verify_as(tmp_path: Path, relay_url: str, *args: str, now: str = NOW_ISO) -> Any:
    """`planner verify` with the settings of the environment (read now) and the test round."""
    return CliRunner().invoke(
        cli,
        ["verify", "--now", now, "--drand-url", relay_url, *args],
        obj=context_on_test_round(tmp_path),
    )


def _items(tmp_path: Path) -> list[dict[str, Any]]:
    return json.loads((tmp_path / "published/index.json").read_bytes())["epochs"]


def _write_items(tmp_path: Path, items: list[dict[str, Any]]) -> None:
    path = tmp_path / "published/index.json"
    path.write_text(json.dumps(dict(json.loads(path.read_bytes()), epochs=items), indent=2))


def _forge_running_epoch(tmp_path: Path) -> tuple[str, str, str]:
    """What a holder of the bucket's write key can do without the secret: a new assignment
    for the running epoch, sealed to the same drand round, written as its plain file and
    current.json, its commitment put in index.json and the whole chain recomputed, so that
    every file agrees with every other. (epoch id, old commitment, forged commitment)."""
    root = tmp_path / "published"
    epoch_id = epoch_at(NOW).id
    document = json.loads((root / f"epochs/{epoch_id}.json").read_bytes())
    document["zipcodes"] = document["zipcodes"][:3]
    forged = json.dumps(document, separators=(",", ":")).encode() + b"\n"
    items = _items(tmp_path)
    (target,) = [e for e in items if e["epochId"] == epoch_id]
    (root / f"sealed/{epoch_id}.tlock").write_bytes(timelock.seal(forged, target["revealRound"]))
    (root / f"epochs/{epoch_id}.json").write_bytes(forged)
    (root / "current.json").write_bytes(forged)
    old, target["commitment"] = target["commitment"], timelock.commitment(forged)
    _write_items(
        tmp_path, chain.chained([{k: v for k, v in e.items() if k != "prev"} for e in items])
    )
    return epoch_id, old, target["commitment"]


def test_a_consistent_rewrite_is_named_from_the_planner_state_on_the_first_run(
    env, tmp_path, relay, client_head_file
) -> None:
    """Nothing pinned yet: the operator's verify (with PLANNER_SECRET) still names the epoch,
    from what the planner sealed; the forged index is not pinned; tick puts the entry and the
    running epoch's sealed file back and refuses to spread the forged plain file; verify then
    names the forged plain files."""
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    epoch_id, old, forged = _forge_running_epoch(tmp_path)
    result = _verify_as(tmp_path, relay.url)
    assert result.exit_code == 1, result.output
    assert (
        f"FAIL planner state: index.json differs from what this planner sealed (its private "
        f"state in {tmp_path / 'state'}): the entry of {epoch_id} was rewritten (commitment "
        f"{forged} where this planner sealed {old})"
    ) in result.output
    assert "ok   chain: head" in result.output, "the rebuilt chain itself is consistent"
    assert not client_head_file.exists(), "a rewritten index is never pinned"

    ticked = run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    assert ticked.exit_code == 1
    assert f"epochs/{epoch_id}.json in {tmp_path / 'published'} is not the assignment" in (
        ticked.output
    )
    (entry,) = [e for e in _items(tmp_path) if e["epochId"] == epoch_id]
    assert entry["commitment"] == old, "the entry this planner sealed is back"
    after = _verify_as(tmp_path, relay.url)
    assert after.exit_code == 1
    assert "ok   planner state" in after.output
    assert f"ok   commitment: {old} matches" in after.output
    assert "FAIL revealed file: differs from the sealed plaintext" in after.output
    assert "FAIL current.json: is not" in after.output


def test_a_consistent_rewrite_is_named_from_the_pinned_head_without_the_secret(
    env, monkeypatch, tmp_path, relay, client_head_file
) -> None:
    """A miner's view (no PLANNER_SECRET): the head pinned by the last verify, or given with
    --head, is no longer in the rebuilt chain."""
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    monkeypatch.delenv("PLANNER_SECRET")
    first = _verify_as(tmp_path, relay.url)
    assert first.exit_code == 0, first.output
    assert "planner state" not in first.output
    published = str(tmp_path / "published")
    head = chain.head(_items(tmp_path))
    assert head is not None
    assert json.loads(client_head_file.read_text()) == {published: list(head)}
    assert _verify_as(tmp_path, relay.url, "--head", *head).exit_code == 0

    _forge_running_epoch(tmp_path)
    pinned = _verify_as(tmp_path, relay.url)
    assert pinned.exit_code == 1
    assert (
        f"FAIL head file: index.json does not extend the history seen before: the entry of "
        f"{head[0]} (chain head {head[1]}, pinned for {published} in {client_head_file}) was "
        "rewritten (itself, or an entry before it)"
    ) in pinned.output
    assert json.loads(client_head_file.read_text()) == {published: list(head)}, "kept"
    given = _verify_as(
        tmp_path, relay.url, "--head", *head, "--head-file", str(tmp_path / "fresh.json")
    )
    assert given.exit_code == 1
    assert (
        f"FAIL pinned head: index.json does not extend the history seen before: the entry "
        f"of {head[0]} (chain head {head[1]}, --head) was rewritten"
    ) in given.output
    assert "ok   head file: no head pinned" in given.output
    assert not (tmp_path / "fresh.json").exists()


def test_an_edited_newest_entry_is_named(env, monkeypatch, tmp_path, relay) -> None:
    """The newest entry has no successor whose prev would break: the planner state and the
    pinned head name it, and tick puts it back."""
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    assert _verify_as(tmp_path, relay.url).exit_code == 0
    items = _items(tmp_path)
    newest, old, forged = items[-1], items[-1]["commitment"], "sha256:" + "4" * 64
    newest["commitment"] = forged
    _write_items(tmp_path, items)
    assert chain.head(items) is not None, "the chain still checks"
    result = _verify_as(tmp_path, relay.url)
    assert result.exit_code == 1
    assert (
        f"the entry of {newest['epochId']} was rewritten (commitment {forged} where this "
        f"planner sealed {old})"
    ) in result.output
    assert (
        "FAIL head file: index.json does not extend the history seen before: the entry of "
        f"{newest['epochId']}"
    ) in result.output
    monkeypatch.delenv("PLANNER_SECRET")
    assert "FAIL head file" in _verify_as(tmp_path, relay.url).output
    monkeypatch.setenv("PLANNER_SECRET", env["PLANNER_SECRET"])
    ticked = run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    assert ticked.exit_code == 1
    assert f"repaired: index.json's entry of {newest['epochId']} had been rewritten" in (
        ticked.output
    )
    assert _verify_as(tmp_path, relay.url).exit_code == 0


def test_a_removed_newest_entry_is_named(env, monkeypatch, tmp_path, relay) -> None:
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    monkeypatch.delenv("PLANNER_SECRET")
    assert _verify_as(tmp_path, relay.url).exit_code == 0
    items = _items(tmp_path)
    newest = items[-1]["epochId"]
    _write_items(tmp_path, items[:-1])
    pinned = _verify_as(tmp_path, relay.url)
    assert pinned.exit_code == 1
    assert (
        "FAIL head file: index.json does not extend the history seen before: the entry "
        f"of {newest} "
    ) in pinned.output
    assert pinned.output.count(f"the entry of {newest}") == 1
    assert "was removed" in pinned.output
    monkeypatch.setenv("PLANNER_SECRET", env["PLANNER_SECRET"])
    result = _verify_as(tmp_path, relay.url, "--head-file", str(tmp_path / "fresh.json"))
    assert result.exit_code == 1
    assert (
        "FAIL planner state: index.json differs from what this planner sealed (its "
        f"private state in {tmp_path / 'state'}): the entry of {newest} was removed"
    ) in result.output
    ticked = run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    assert ticked.exit_code == 1
    assert f"repaired: index.json had lost the entry of {newest}; it is restored" in ticked.output
    assert _verify_as(tmp_path, relay.url).exit_code == 0


def test_tick_reports_an_entry_it_never_sealed_and_leaves_it(env, tmp_path, relay) -> None:
    """An entry appended far ahead (the chain recomputed) stops the plan short of it: the
    tick says so and exits 1 instead of adopting it in silence."""
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    items = _items(tmp_path)
    ahead = epoch_at(NOW + timedelta(days=60))
    forged = dict(items[-1], epochId=ahead.id, epochStart=ahead.start_iso, epochEnd=ahead.end_iso)
    _write_items(tmp_path, chain.chained([*items, forged]))
    ticked = run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path))
    assert ticked.exit_code == 1
    assert (
        f"not sealed here: index.json lists {ahead.id}, which this planner never sealed"
    ) in ticked.output
    assert "remove those entries by hand" in ticked.output
    assert _items(tmp_path)[-1]["epochId"] == ahead.id, "left in place, never removed"
    verified = _verify_as(tmp_path, relay.url)
    assert verified.exit_code == 1
    assert f"index.json lists {ahead.id}, which this planner never sealed" in verified.output
    _write_items(tmp_path, items)
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0


def test_verify_names_a_removed_entry_from_the_planner_state(env, tmp_path, relay) -> None:
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    items = _items(tmp_path)
    removed, following = items[1]["epochId"], items[2]["epochId"]
    _write_items(tmp_path, [items[0], *items[2:]])
    result = _verify_as(tmp_path, relay.url)
    assert result.exit_code == 1
    assert f"FAIL chain: index.json's entry of {following} does not extend" in result.output
    assert f"the entry of {removed} was removed" in result.output


def test_a_replaced_current_json_is_put_back_by_tick(env, tmp_path, relay) -> None:
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    current = tmp_path / "published/current.json"
    original = current.read_bytes()
    current.write_text('{"epochId": "' + epoch_at(NOW).id + '", "zipcodes": []}')
    failed = _verify_as(tmp_path, relay.url)
    assert failed.exit_code == 1
    assert f"FAIL current.json: is not {epoch_at(NOW).id}'s committed assignment" in failed.output
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    assert current.read_bytes() == original
    assert _verify_as(tmp_path, relay.url).exit_code == 0


def test_the_head_file_setting_and_option(env, monkeypatch, tmp_path, relay) -> None:
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    moved = tmp_path / "moved/heads.json"
    monkeypatch.setenv("CLIENTKIT_HEAD_FILE", str(moved))
    assert _verify_as(tmp_path, relay.url).exit_code == 0
    assert list(json.loads(moved.read_text())) == [str(tmp_path / "published")]
    option = tmp_path / "option.json"
    monkeypatch.chdir(tmp_path)
    relative = _verify_as(
        tmp_path, relay.url, "--head-file", str(option), "--published", "published"
    )
    assert relative.exit_code == 0, relative.output
    assert list(json.loads(option.read_text())) == [str(tmp_path / "published")]
    bad = _verify_as(tmp_path, relay.url, "--head", epoch_at(NOW).id, "sha256:abc")
    assert bad.exit_code == 2
    assert "the hash must be sha256: and 64 hex digits, got 'sha256:abc'" in bad.output


@pytest.mark.parametrize("given", ["option", "env"])
def test_a_head_file_that_is_a_folder_names_the_option(
    env, monkeypatch, tmp_path, relay, given
) -> None:
    """`verify --head-file /` ended in a traceback: ValueError, PosixPath('/') has an empty
    name; another folder said to set CLIENTKIT_HEAD_FILE or pass head_file=, not the option."""
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    for folder in (Path("/"), tmp_path):
        if given == "env":
            monkeypatch.setenv("CLIENTKIT_HEAD_FILE", str(folder))
        options = ["--head-file", str(folder)] if given == "option" else []
        result = _verify_as(tmp_path, relay.url, *options)
        assert result.exit_code == 1, result.output
        assert result.output == (
            f"Error: chain head file {folder} is a folder: set --head-file (or "
            "CLIENTKIT_HEAD_FILE) to a file, such as ~/.cache/subnet46-clientkit/chain-heads.json\n"
        )


def test_a_head_file_that_cannot_be_written_names_the_option(env, tmp_path, relay) -> None:
    assert run("tick", "--now", NOW_ISO, obj=context_on_test_round(tmp_path)).exit_code == 0
    (tmp_path / "afile").write_text("")
    unwritable = tmp_path / "afile/heads.json"
    result = _verify_as(tmp_path, relay.url, "--head-file", str(unwritable))
    assert result.exit_code == 1, result.output
    assert re.fullmatch(
        rf"(.*\n)*Error: chain head file {re.escape(str(unwritable))} cannot be written: .*; "
        r"set --head-file \(or CLIENTKIT_HEAD_FILE\) to keep it elsewhere\n",
        result.output,
    ), result.output


@pytest.mark.parametrize(
    ("published", "says"),
    [
        (
            "cdn.example.com",
            "must be a folder or an http(s) URL, got 'cdn.example.com', which is no folder: a "
            "URL needs http:// or https:// (such as 'https://cdn.example.com')"
            "; a folder named like a host must exist first",
        ),
        (
            "https:/cdn.example.com",
            "must be a folder or an http(s) URL (http:// or https:// and a host), got "
            "'https:/cdn.example.com'",
        ),
    ],
)
def test_verify_refuses_a_published_url_without_http_by_name(
    env, tmp_path, monkeypatch, published, says
) -> None:
    """`verify --published cdn.example.com` read a folder of that name, which does not
    exist: `FAIL index: no index.json at <cwd>/cdn.example.com`, as if nothing were planned."""
    monkeypatch.chdir(tmp_path)
    option = CliRunner().invoke(cli, ["verify", "--published", published])
    assert option.exit_code == 2
    assert f"Error: Invalid value for '--published': {says}\n" in option.output
    monkeypatch.setenv("PLANNER_PUBLISHED", published)
    setting = CliRunner().invoke(cli, ["verify"])
    assert setting.exit_code == 1
    assert setting.output == f"Error: PLANNER_PUBLISHED {says}\n"


@pytest.mark.parametrize(
    ("name", "value", "shown", "part"),
    [
        (
            "PLANNER_PUBLISHED",
            "https://cdn.example.com/?token=s3cr3t",
            "https://cdn.example.com/?…",
            "its query string (from '?' on)",
        ),
        (
            "SPACES_ENDPOINT_URL",
            "https://nyc3.example.com#top",
            "https://nyc3.example.com#…",
            "its fragment (from '#' on)",
        ),
        (
            "SPACES_PUBLIC_URL",
            "https://cdn.example.com/s46?",
            "https://cdn.example.com/s46?",
            "its query string (from '?' on)",
        ),
        (
            "PLANNER_DRAND_URLS",
            "https://api.drand.sh,https://api2.drand.sh/?token=s3cr3t",
            "https://api2.drand.sh/?…",
            "its query string (from '?' on)",
        ),
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused_by_name(
    env, monkeypatch, name, value, shown, part
) -> None:
    """`verify --published https://cdn.example.com/?x=1` read the CDN's root for index.json
    (`/?x=1/index.json`): `FAIL index`, as if the CDN's index were broken. The query is not
    repeated: it may carry a token."""
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 1, result.output
    kind = "http(s) URLs" if name == "PLANNER_DRAND_URLS" else "an http(s) URL"
    assert result.output == (
        f"Error: {name} must be {kind} without a query string or fragment (paths go after "
        f"it): drop {part}, got {shown!r}\n"
    )


def test_verify_refuses_a_published_url_with_a_query_by_name(env) -> None:
    result = CliRunner().invoke(cli, ["verify", "--published", "https://cdn.example.com/?x=1"])
    assert result.exit_code == 2
    assert (
        "Error: Invalid value for '--published': must be an http(s) URL without a query "
        "string or fragment (paths go after it): drop its query string (from '?' on), got "
        "'https://cdn.example.com/?…'\n" in result.output
    )


def test_verify_refuses_a_relay_without_http_by_name(env) -> None:
    result = CliRunner().invoke(cli, ["verify", "--drand-url", "api.drand.sh"])
    assert result.exit_code == 2
    assert (
        "Error: Invalid value for '--drand-url': must be http(s) URLs, got 'api.drand.sh'\n"
        in result.output
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("PLANNER_COVERAGE_DAYS", "1e400", "must be a number, got '1e400'"),
        ("PLANNER_TOLERANCE_PERCENT", "nan", "must be a number, got 'nan'"),
        (
            "PLANNER_NOW",
            "soon",
            "must be an ISO-8601 instant (such as 2026-11-25T17:00:00Z), got 'soon'",
        ),
        ("PLANNER_NOW", "9999-12-31T23:00:00Z", "must be between the years 1970 and 9000"),
        ("PLANNER_NOW", "0001-01-01T00:00:00Z", "must be between the years 1970 and 9000"),
        ("SPACES_ENDPOINT_URL", "notaurl", "must be an http(s) URL, got 'notaurl'"),
        ("SPACES_BUCKET", "s3://epochs", "must be a bucket name"),
        (
            "PLANNER_DRAND_URLS",
            "https://api.drand.sh,notaurl",
            "must be http(s) URLs, got 'notaurl'",
        ),
        ("PLANNER_DRAND_URLS", ",", "must name at least one drand relay's http(s) URL"),
        (
            "PLANNER_PUBLISHED",
            "https:/cdn.example.com",
            "must be a folder or an http(s) URL (http:// or https:// and a host), "
            "got 'https:/cdn.example.com'",
        ),
        (
            "SPACES_PUBLIC_ACL",
            "pubic-read",
            "must be private, public-read or none, got 'pubic-read'",
        ),
    ],
)
def test_settings_that_would_fail_later_are_refused_by_name(
    env, monkeypatch, name, value, says
) -> None:
    """Infinite, nan or far-off values overflowed in the planner's arithmetic; a bad URL or
    ACL failed later, in botocore or requests (tracebacks)."""
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 1, result.output
    assert f"{name} {says}" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"PLANNER_TARGET_LISTINGS": "-5"}, "PLANNER_TARGET_LISTINGS must be more than 0, got -5"),
        (
            {"PLANNER_TOLERANCE_PERCENT": "100"},
            "PLANNER_TOLERANCE_PERCENT must be at least 0 and less than 100, got 100",
        ),
        ({"PLANNER_COOLDOWN_HOURS": "-1"}, "PLANNER_COOLDOWN_HOURS must not be negative, got -1"),
        ({"PLANNER_MIN_LISTINGS": "-1"}, "PLANNER_MIN_LISTINGS must not be negative, got -1"),
        (
            {"PLANNER_MIN_LISTINGS": "500", "PLANNER_MAX_LISTINGS": "10"},
            "PLANNER_MIN_LISTINGS (500) must not be more than PLANNER_MAX_LISTINGS (10)",
        ),
        ({"PLANNER_COVERAGE_DAYS": "0"}, "PLANNER_COVERAGE_DAYS must be more than 0, got 0"),
    ],
)
def test_selection_bounds_out_of_range_name_the_setting_and_value(
    env, monkeypatch, settings, says
) -> None:
    """They said "listing bounds need 0 <= min_listings <= max_listings" and "the cooldown
    cannot be negative", naming no setting, and refused a tolerance of 100 while saying
    "between 0 and 100"."""
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO])
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {says}\n"


def test_a_crlf_env_file_gives_the_same_settings(env, monkeypatch, tmp_path) -> None:
    """`set -a; . ./.env` of a file with CRLF line endings gave each value a trailing "\\r":
    folders named "published\\r" and "state\\r", and a fresh plan in them."""
    assert CliRunner().invoke(cli, ["tick"]).exit_code == 0
    for name, value in env.items():
        monkeypatch.setenv(name, value + "\r")
    again = CliRunner().invoke(cli, ["tick"])
    assert again.exit_code == 0, again.output
    assert "nothing to seal" in again.output
    assert sorted(p.name for p in tmp_path.iterdir() if "\r" in p.name) == []


@pytest.mark.parametrize("command", ["tick", "reveal", "plan"])
@pytest.mark.parametrize("given", ["--published", "PLANNER_PUBLISHED"])
def test_a_mistyped_published_folder_is_refused_not_rebuilt(
    env, monkeypatch, tmp_path, command, given
) -> None:
    """A typo in PLANNER_PUBLISHED, once a tick had published, restored every recorded entry
    into the new folder (and sealed the next epoch there only), then exited 1 as if someone
    had deleted them."""
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    typo = tmp_path / "publshed"
    args = [command, "--now", NOW_ISO]
    if given == "--published":
        args += ["--published", str(typo)]
    else:
        monkeypatch.setenv("PLANNER_PUBLISHED", str(typo))
    state = (tmp_path / "state/planner-state.enc").read_bytes()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    listed = json.loads((tmp_path / "published/index.json").read_bytes())["epochs"]
    assert result.output == (
        f"Error: {typo} ({given}) has no index.json, but the private state "
        f"(planner-state.enc in {tmp_path / 'state'} (PLANNER_STATE)) records {len(listed)} "
        "epochs published, "
        f"up to {listed[-1]['epochId']}: is {given} mistyped? Nothing was written. If the "
        "published files were lost, run once with --rebuild to publish again what the "
        "private state holds\n"
    )
    assert not typo.exists()
    assert (tmp_path / "state/planner-state.enc").read_bytes() == state


def test_rebuild_publishes_a_lost_folder_again_from_the_private_state(env, tmp_path) -> None:
    """--rebuild puts back every recorded entry, the sealed file of every epoch not ended,
    not only those of the next day's epochs, and the running epoch's plain file and
    current.json: the state dropped the running epoch's plaintext when it revealed it, so
    that epoch stayed unrevealed, its sealed file lost too, until the next one started."""
    assert run("tick", "--now", NOW_ISO, "--days", "3").exit_code == 0
    published = tmp_path / "published"
    started = epoch_at(NOW).id
    sealed = sorted(p.name for p in (published / "sealed").iterdir())
    index = json.loads((published / "index.json").read_bytes())["epochs"]
    current = (published / "current.json").read_bytes()
    for path in sorted(published.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    later = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert epoch_at(NOW + timedelta(hours=1)).id == started
    assert CliRunner().invoke(cli, ["tick", "--now", later]).exit_code == 1
    result = CliRunner().invoke(cli, ["tick", "--now", later, "--days", "3", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "changed by someone else" not in result.output
    assert f"repaired: index.json had lost the entry of {started}; it is restored" in result.output
    assert f"repaired: sealed/{started}.tlock was missing; it is sealed again" in result.output
    assert sorted(p.name for p in (published / "sealed").iterdir()) == sealed
    assert (published / f"epochs/{started}.json").read_bytes() == current
    assert (published / "current.json").read_bytes() == current
    rebuilt = json.loads((published / "index.json").read_bytes())["epochs"]
    assert rebuilt == index
    assert run("tick", "--now", later, "--days", "3").exit_code == 0
    again = CliRunner().invoke(cli, ["tick", "--now", later, "--days", "3", "--rebuild"])
    assert again.exit_code == 0, again.output
    assert "repaired:" not in again.output, "an intact folder is left as it is"


def test_rebuild_names_the_running_epoch_it_cannot_publish_again(env, tmp_path) -> None:
    """A state that no longer holds the running epoch's plaintext (written before the state
    kept it until the epoch ends): the rebuild said `sealed but not in the private state, so
    left for drand to reveal`, though the sealed file was lost too and drand had nothing to
    open. It says the epoch cannot be published again, and what that means for miners."""
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    private = LocalStore(tmp_path / "state")
    master = keys.master_key(SECRET)
    loaded = state_io.load(private, master)
    assert loaded is not None
    started = epoch_at(NOW)
    del loaded.pending[started.id]
    state_io.save(private, loaded, master)
    published = tmp_path / "published"
    for path in sorted(published.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    result = CliRunner().invoke(cli, ["tick", "--now", NOW_ISO, "--days", "1", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "left for drand" not in result.output
    assert (
        "note: sealed and plain files lost, and no longer in the private state, so they "
        f"cannot be published again (index.json lists them unrevealed): {started.id}; "
        f"{started.id} is the running epoch: miners have no assignment until "
        f"{started.next().id} starts ({started.next().start_iso})\n"
    ) in result.output
    assert not (published / f"sealed/{started.id}.tlock").exists()


def test_a_lost_plain_file_of_the_running_epoch_is_put_back(env, tmp_path) -> None:
    """epochs/<running>.json removed (index.json intact, listing it revealed): every tick
    left it missing, a 404 for every miner reading it, and current.json, if lost with it,
    was not written again until the next epoch. The state holds the running epoch's
    plaintext: the tick puts both back, with `repaired:` lines, and exits 1 as for any file
    someone else removed."""
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    published = tmp_path / "published"
    started = epoch_at(NOW).id
    plain = published / f"epochs/{started}.json"
    body = plain.read_bytes()
    plain.unlink()
    (published / "current.json").unlink()
    later = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = CliRunner().invoke(cli, ["tick", "--now", later, "--days", "1"])
    assert result.exit_code == 1, result.output
    assert f"repaired: epochs/{started}.json was missing; it is written again" in result.output
    assert "changed by someone else" in result.output
    assert plain.read_bytes() == body
    assert (published / "current.json").read_bytes() == body
    again = CliRunner().invoke(cli, ["tick", "--now", later, "--days", "1"])
    assert again.exit_code == 0, again.output
    assert "repaired:" not in again.output


def test_check_refuses_an_audit_count_an_epoch_cannot_hold(env, monkeypatch) -> None:
    """`check` said nothing of PLANNER_AUDIT_ZIPCODES=1000 (exit 0), and every plan of the
    file then stopped at its first epoch."""
    monkeypatch.setenv("PLANNER_AUDIT_ZIPCODES", "1000")
    result = CliRunner().invoke(cli, ["check", "--now", NOW_ISO])
    assert result.exit_code == 1, result.output
    assert "PA" in result.output, "the summary is still shown"
    assert re.search(
        r"Error: a plan of 7 days \(PLANNER_DAYS\) with these settings would stop: epoch "
        r"2026-11-25T16-00-00 has \d+ zipcodes, and PLANNER_AUDIT_ZIPCODES is 1000: all of "
        r"them would be audited",
        result.output,
    ), result.output
    monkeypatch.setenv("PLANNER_AUDIT_ZIPCODES", "20")
    assert CliRunner().invoke(cli, ["check", "--now", NOW_ISO]).exit_code == 0


def test_preview_stops_where_the_audit_count_would_stop_planning(env, tmp_path) -> None:
    report = tmp_path / "preview.html"
    args = ["preview", "--days", "1", "--now", NOW_ISO, "--report", str(report)]
    result = CliRunner().invoke(cli, args, env={"PLANNER_AUDIT_ZIPCODES": "1000"})
    assert result.exit_code == 1, result.output
    assert result.output.startswith("0 epochs simulated"), result.output
    assert re.search(
        r"stopped early: epoch 2026-11-25T16-00-00 has \d+ zipcodes, and "
        r"PLANNER_AUDIT_ZIPCODES is 1000: all of them would be audited",
        result.output,
    ), result.output
    audited = CliRunner().invoke(cli, args, env={"PLANNER_AUDIT_ZIPCODES": "20"})
    assert audited.exit_code == 0, audited.output
    assert audited.output.startswith("6 epochs simulated"), audited.output


def test_preview_of_a_plan_that_would_stop_exits_non_zero(env, tmp_path) -> None:
    """A preview whose simulation stopped early (the band cannot be filled) said so in a
    line of its summary and exited 0, as if the settings were fine."""
    report = tmp_path / "preview.html"
    result = CliRunner().invoke(
        cli,
        ["preview", "--days", "1", "--now", NOW_ISO, "--report", str(report)],
        env={"PLANNER_TARGET_LISTINGS": "100000"},
    )
    assert result.exit_code == 1, result.output
    assert "stopped early: epoch 2026-11-25T20-00-00: only " in result.output
    assert result.output.endswith(
        f"report: {report}\nError: a plan with these settings would stop (the `stopped "
        "early:` line above); the report shows the epochs before it\n"
    ), result.output
    assert report.exists()


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        (
            "PLANNER_COVERAGE_DAYS",
            "0.5",
            "PLANNER_COVERAGE_DAYS (0.5) leaves no room after the 24 h",
        ),
        (
            "PLANNER_COOLDOWN_HOURS",
            "1000",
            "PLANNER_COVERAGE_DAYS (7) leaves no room after the 1000 h",
        ),
    ],
)
def test_check_refuses_a_coverage_deadline_inside_the_cooldown(
    env, monkeypatch, setting, value, problem
) -> None:
    """`check` passed settings that failed every plan (`... leaves no room after the 24 h
    cooldown`), found only by the first tick."""
    monkeypatch.setenv(setting, value)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1, result.output
    assert "PA" in result.output, "the summary is still shown"
    assert f"Error: {problem} cooldown: it must exceed the cooldown by two epochs" in result.output


def test_epochs_lost_in_a_rebuild_are_noted_once_and_shown_by_status(
    env, tmp_path, monkeypatch
) -> None:
    """After a rebuild that could not restore ended epochs (sealed and plain files lost, no
    longer in the private state), every later tick repeated the note naming them all, for
    the rest of the plan, and listed sealed/ to find them. The rebuild says it once; later
    ticks say nothing and list nothing, and `planner status` shows those epochs lost."""
    assert run("tick", "--now", NOW_ISO, "--days", "1").exit_code == 0
    day_later = NOW + timedelta(hours=16)
    at = day_later.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run("tick", "--now", at, "--days", "1").exit_code == 0
    published = tmp_path / "published"
    for path in sorted(published.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    ended = [epoch_at(NOW)]
    while ended[-1].next().end <= day_later:
        ended.append(ended[-1].next())
    lost = ", ".join(e.id for e in ended)
    rebuilt = CliRunner().invoke(cli, ["tick", "--now", at, "--days", "1", "--rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    note = (
        "note: sealed and plain files lost, and no longer in the private state, so they "
        f"cannot be published again (index.json lists them unrevealed): {lost}\n"
    )
    assert rebuilt.output.count(note) == 1
    listed: list[str] = []
    keys = LocalStore.keys

    def counted(store: LocalStore, prefix: str = "") -> list[str]:
        listed.append(prefix)
        return keys(store, prefix)

    monkeypatch.setattr(LocalStore, "keys", counted)
    later = (day_later + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    again = CliRunner().invoke(cli, ["tick", "--now", later, "--days", "1"])
    assert again.exit_code == 0, again.output
    assert "note:" not in again.output
    assert "sealed/" not in listed
    status = CliRunner().invoke(cli, ["status", "--now", later])
    assert status.exit_code == 0, status.output
    assert re.search(rf"{ended[-1].id}  lost: no sealed file ", status.output), status.output


@pytest.mark.parametrize(
    ("args", "setting", "named"),
    [
        (["tick", "--now", NOW_ISO], "PLANNER_DATA", "PLANNER_DATA"),
        (["tick", "--now", NOW_ISO], "PLANNER_PRIORITIES", "PLANNER_PRIORITIES"),
        (["preview", "--now", NOW_ISO, "--data", "{folder}"], None, "--data"),
        (["check", "--priorities", "{folder}"], None, "--priorities"),
        (["check", "{missing}"], None, "the DATA argument"),
    ],
)
def test_a_data_file_that_cannot_be_read_names_its_setting(
    env, tmp_path, monkeypatch, args, setting, named
) -> None:
    """A folder (or a missing file) given for the zipcode or priorities file said only
    `/x: cannot read the file: Is a directory`, naming neither the setting, the option nor
    the argument that gave it, as the other messages about a path do."""
    folder = tmp_path / "data"
    folder.mkdir()
    missing = tmp_path / "nope.csv"
    if setting is not None:
        monkeypatch.setenv(setting, str(folder))
    given = [a.format(folder=folder, missing=missing) for a in args]
    result = CliRunner().invoke(cli, given)
    assert result.exit_code == 1, result.output
    path, reason = (
        (missing, "No such file or directory")
        if "{missing}" in args
        else (
            folder,
            "Is a directory",
        )
    )
    assert f"{path} ({named}): cannot read the file: {reason}\n" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://subnet46-published.nyc3.digitaloceanspaces.com",
        "https://nyc3.digitaloceanspaces.com/subnet46-published",
        "https://nyc3.digitaloceanspaces.com/subnet46-published/",
    ],
)
def test_an_endpoint_that_holds_the_bucket_is_refused_by_name(env, monkeypatch, endpoint) -> None:
    """The bucket's own URL (the Spaces "Origin Endpoint") given as SPACES_ENDPOINT_URL:
    with the bucket in the path, every tick published under a folder of the bucket named
    after it (s3://b/b/index.json), a plan miners never read, and a later tick with the
    right endpoint sealed the same epochs again from scratch; with the bucket in the host,
    each run failed on a host name `bucket.bucket.nyc3...`."""
    result = _tick_on(monkeypatch, endpoint)
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: SPACES_ENDPOINT_URL must be the region's endpoint, without the bucket, got "
        f"{endpoint.rstrip('/')!r}: that is the bucket's own URL; set SPACES_ENDPOINT_URL="
        f"https://nyc3.digitaloceanspaces.com (the bucket is SPACES_BUCKET={BUCKET})\n"
    )


BUCKET = "subnet46-published"


def _tick_on(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> Result:
    """`planner tick` with a bucket on `endpoint`."""
    for name, value in {
        "SPACES_BUCKET": BUCKET,
        "SPACES_ENDPOINT_URL": endpoint,
        "SPACES_KEY": "DO00EXAMPLE",
        "SPACES_SECRET": "not-a-real-secret",
    }.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(cli, ["tick"])


def test_an_endpoint_with_a_user_and_password_is_refused_without_them(env, monkeypatch) -> None:
    """`SPACES_ENDPOINT_URL=https://KEY:SECRET@nyc3...` was taken, and every tick printed it
    whole (`published to s3://... @ https://KEY:SECRET@nyc3...`), into the cron log each run.
    S3 requests are signed with SPACES_KEY and SPACES_SECRET: it is refused, named without
    them."""
    result = _tick_on(monkeypatch, "https://DO00KEY:TopSecretValue123@nyc3.digitaloceanspaces.com")
    assert result.exit_code == 1, result.output
    assert result.output == (
        "Error: SPACES_ENDPOINT_URL must hold no user name and password, got "
        "'https://nyc3.digitaloceanspaces.com' with them: requests to it are signed with "
        "SPACES_KEY and SPACES_SECRET\n"
    )


def test_a_bucket_named_like_its_endpoints_region_is_no_bucket_url(env, monkeypatch) -> None:
    monkeypatch.setenv("SPACES_ENDPOINT_URL", "https://nyc3.digitaloceanspaces.com")
    for name, value in {"SPACES_BUCKET": "nyc3", "SPACES_KEY": "k", "SPACES_SECRET": "s"}.items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env().bucket is not None


class AclsDisabled(BaseHTTPRequestHandler):
    """An S3 endpoint whose bucket has ACLs disabled (AWS's "bucket owner enforced"): every
    write that sends an ACL is refused."""

    def do_GET(self) -> None:
        self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>")

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(400, b"<Error><Code>AccessControlListNotSupported</Code></Error>", close=True)

    def _answer(self, status: int, body: bytes, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Keep test output quiet."""


def test_a_bucket_with_acls_disabled_names_the_setting_to_change(env, monkeypatch) -> None:
    """It said `AccessControlListNotSupported (HTTP 400): the bucket has ACLs disabled:
    configure acl=None`, an argument of the code, not a setting the operator has."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), AclsDisabled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    for name, value in {
        "SPACES_BUCKET": "subnet46-published",
        "SPACES_ENDPOINT_URL": endpoint,
        "SPACES_KEY": "AKIDEXAMPLE",
        "SPACES_SECRET": "not-a-real-secret",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        result = CliRunner().invoke(cli, ["tick"])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"Error: cannot write s3://subnet46-published/_planner/tick-lease.json @ {endpoint}: "
        "AccessControlListNotSupported (HTTP 400): the bucket has ACLs disabled: set "
        "SPACES_PUBLIC_ACL=none, and grant anonymous reads of the published files with a "
        "bucket policy (docs/aws-vs-digitalocean.md)\n"
    )
