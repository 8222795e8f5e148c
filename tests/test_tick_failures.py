"""A tick that fails leaves nothing behind: no half-published files, no rewritten state,
no sealing workers; and what makes it fail (a missing file, a horizon too far) is named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.config import MAX_DAYS, Settings, SettingsError

from conftest import REPO

NOW_ISO = "2026-11-25T17:00:00Z"
NEXT_DAY = "2026-11-26T17:00:00Z"


def tick(*args: str):
    return CliRunner().invoke(cli, ["tick", *args], catch_exceptions=False)


def snapshot(*folders: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """The folder itself refuses new files (its subfolders do not): chmod for a normal user,
    the immutable attribute for root, whom permissions do not stop."""
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    immutable = _writable(folder) and subprocess.run(["chattr", "+i", str(folder)]).returncode == 0
    try:
        if _writable(folder):
            pytest.skip("cannot make a folder unwritable here (root without chattr)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(mode)


def test_unwritable_top_of_published_fails_before_writing_anything(env, tmp_path) -> None:
    assert tick("--now", NOW_ISO, "--days", "1").exit_code == 0
    published, state = tmp_path / "published", tmp_path / "state"
    assert (published / "sealed").is_dir()
    before = snapshot(published, state)
    with unwritable(published):
        result = CliRunner().invoke(cli, ["tick", "--now", NEXT_DAY, "--days", "1"])
        after = snapshot(published, state)
    assert result.exit_code == 1
    assert f"cannot write in {published}" in result.output
    assert "nothing was written" in result.output
    assert after == before, "a failed tick must not publish some files or rewrite the state"
    retried = tick("--now", NEXT_DAY, "--days", "1")
    assert retried.exit_code == 0, retried.output


def test_unwritable_top_fails_a_reveal_before_writing_anything(env, tmp_path) -> None:
    assert tick("--now", NOW_ISO, "--days", "1").exit_code == 0
    published, state = tmp_path / "published", tmp_path / "state"
    before = snapshot(published, state)
    with unwritable(published):
        result = CliRunner().invoke(cli, ["reveal", "--now", "2026-11-25T21:00:00Z"])
        after = snapshot(published, state)
    assert result.exit_code == 1 and f"cannot write in {published}" in result.output
    assert after == before


@pytest.mark.parametrize(
    ("given", "named"), [("env", "PLANNER_PUBLISHED"), ("option", "--published")]
)
def test_an_unwritable_folder_is_named_with_the_setting_that_chose_it(
    env, tmp_path, given, named
) -> None:
    """It said "cannot write in <folder>: Permission denied; nothing was written", naming
    no setting: which of the operator's settings (or options) to fix was left to guess."""
    assert tick("--now", NOW_ISO, "--days", "1").exit_code == 0
    published, state = tmp_path / "published", tmp_path / "state"
    options = ["--published", str(published)] if given == "option" else []
    again = ["tick", *options, "--now", NEXT_DAY, "--days", "1"]
    with unwritable(published):
        top = CliRunner().invoke(cli, again)
    assert top.exit_code == 1
    assert f"Error: cannot write in {published} ({named}): " in top.output
    assert top.output.endswith("; nothing was written\n")
    with unwritable(published / "sealed"):
        inner = CliRunner().invoke(cli, again)
    assert inner.exit_code == 1
    assert f"Error: cannot write in {published / 'sealed'} ({named} is {published}): " in (
        inner.output
    )
    with unwritable(state):
        private = CliRunner().invoke(cli, again)
    assert private.exit_code == 1
    assert f"Error: cannot write in {state} (PLANNER_STATE): " in private.output
    assert tick(*again[1:]).exit_code == 0


def test_a_missing_data_file_fails_even_when_nothing_needs_sealing(env, tmp_path) -> None:
    assert tick("--now", NOW_ISO).exit_code == 0
    result = CliRunner().invoke(cli, ["tick", "--now", NOW_ISO, "--data", "/nope.csv"])
    assert result.exit_code == 1
    assert "/nope.csv (--data): cannot read the file: No such file or directory" in result.output
    plan = CliRunner().invoke(cli, ["plan", "--now", NOW_ISO, "--data", "/nope.csv"])
    assert plan.exit_code == 1 and "/nope.csv" in plan.output


@pytest.mark.parametrize("command", ["plan", "tick", "preview"])
def test_days_beyond_a_year_are_refused_naming_the_limit(env, tmp_path, command) -> None:
    result = CliRunner().invoke(cli, [command, "--now", NOW_ISO, "--days", "100000"])
    assert result.exit_code == 2
    rule = (
        f"100000.0 is not in the range 0<x<={MAX_DAYS}"
        if command == "preview"
        else f"must be more than 0 and at most {MAX_DAYS}, got 100000.0"
    )
    assert f"Invalid value for '--days': {rule}" in result.output
    assert not (tmp_path / "published").exists() and not (tmp_path / "state").exists()


def test_planner_days_from_the_environment_is_bounded_too(env) -> None:
    expected = f"PLANNER_DAYS must be more than 0 and at most {MAX_DAYS}, got '1000'"
    with pytest.raises(SettingsError, match=expected):
        Settings.from_env({**env, "PLANNER_DAYS": "1000"})


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_until(condition, what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("sig", "exit_code"),
    [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 1)],
    ids=["term", "kill", "ctrl-c"],
)
def test_sealing_workers_stop_with_the_planner(env, tmp_path, sig, exit_code) -> None:
    """A year of epochs is sealed on a process pool; stopping the planner stops the pool.

    Ctrl-C reaches the whole process group, as at a terminal: click reports "Aborted!".
    The planner starts with Ctrl-C's default action, as at a terminal, even when the suite
    runs as a background job (`make test &`), whose commands inherit SIGINT ignored.
    """
    planner = subprocess.Popen(
        [sys.executable, "-m", "planner", "plan", "--now", NOW_ISO, "--days", str(MAX_DAYS)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    workers: list[int] = []
    try:
        wait_until(lambda: children(planner.pid) or planner.poll() is not None, "sealing workers")
        workers = children(planner.pid)
        assert workers, "the planner finished before its workers could be seen"
        os.killpg(planner.pid, sig) if sig == signal.SIGINT else planner.send_signal(sig)
        planner.wait(timeout=120)
        wait_until(lambda: not any(running(w) for w in workers), "workers to stop")
    finally:
        for pid in [planner.pid, *workers]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        planner.wait()
    errors = planner.stderr.read()
    assert planner.returncode == exit_code, errors
    assert b"Traceback" not in errors
    assert not (tmp_path / "state/planner-state.enc").exists(), "a stopped run saves no state"


def test_a_first_tick_that_cannot_plan_does_not_say_it_published(env, tmp_path) -> None:
    """A first tick with a wrong PLANNER_DATA printed `published to .../published
    (PLANNER_PUBLISHED)` and `the started epochs were revealed`, though the folder was never
    created and nothing was ever sealed."""
    result = CliRunner().invoke(cli, ["tick", "--now", NOW_ISO, "--data", str(tmp_path)])
    assert result.exit_code == 1
    published = tmp_path / "published"
    assert not published.exists()
    assert "published to" not in result.output
    assert f"nothing published in {published} (PLANNER_PUBLISHED) yet\n" in result.output
    assert result.output.endswith(
        "Error: planning failed, so nothing was sealed or published: "
        f"{tmp_path} (--data): cannot read the file: Is a directory\n"
    ), result.output
