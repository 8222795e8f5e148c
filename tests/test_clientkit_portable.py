"""The client kit imports, and pins chain heads, where `fcntl` does not exist (Windows).

`import clientkit` imported fcntl at the top of clientkit.chain, so on native Windows the
whole kit failed to import. The import is tried in a fresh interpreter in which `import
fcntl` fails, as it does on Windows; the locks the kit falls back on are tried here, with
a stand-in for msvcrt (Windows' own file locking, which Linux lacks) and without it.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from clientkit import chain, filelock

from conftest import REPO

PIN = ("2026-11-25T16-00-00", "sha256:" + "1" * 64)
PINNED = {"https://cdn.example": list(PIN)}


def test_the_kit_imports_and_pins_a_head_without_fcntl(tmp_path: Path) -> None:
    heads = tmp_path / "heads.json"
    script = f"""
        import sys
        sys.modules["fcntl"] = None  # `import fcntl` raises ImportError, as on Windows
        import clientkit
        from clientkit import chain
        chain.HeadPin({str(heads)!r}).remember("https://cdn.example", {PIN!r})
        print(clientkit.__file__)
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == REPO / "clientkit" / "__init__.py"
    assert json.loads(heads.read_text()) == PINNED


class FakeMsvcrt:
    """msvcrt.locking as Windows has it, noting each call: the mode, the bytes, where the
    region starts (the descriptor's position) and the head file's text at that moment.
    Its first LK_LOCK gives up, as LK_LOCK does after 10 tries a second apart."""

    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self, heads: Path) -> None:
        self.heads = heads
        self.calls: list[tuple[int, int, int, str | None]] = []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        text = self.heads.read_text() if self.heads.exists() else None
        self.calls.append((mode, nbytes, os.lseek(fd, 0, os.SEEK_CUR), text))
        if self.calls == [(self.LK_LOCK, nbytes, 0, None)]:
            raise OSError(errno.EDEADLK, "Resource deadlock avoided")


def test_on_windows_the_lock_is_msvcrt_locking_of_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pin waits on after LK_LOCK gives up, as with flock, then writes and unlocks the
    byte it locked."""
    heads = tmp_path / "heads.json"
    msvcrt = FakeMsvcrt(heads)
    monkeypatch.setattr(filelock, "fcntl", None)
    monkeypatch.setattr(filelock, "msvcrt", msvcrt)
    chain.HeadPin(heads).remember("https://cdn.example", PIN)
    written = json.dumps(PINNED, indent=2) + "\n"
    assert msvcrt.calls == [
        (msvcrt.LK_LOCK, 1, 0, None),
        (msvcrt.LK_LOCK, 1, 0, None),
        (msvcrt.LK_UNLCK, 1, 0, written),
    ]
    assert json.loads(heads.read_text()) == PINNED


def test_a_windows_lock_that_fails_otherwise_is_an_error_naming_the_head_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refusing(FakeMsvcrt):
        def locking(self, fd: int, mode: int, nbytes: int) -> None:
            raise OSError(errno.EBADF, "Bad file descriptor")

    heads = tmp_path / "heads.json"
    monkeypatch.setattr(filelock, "fcntl", None)
    monkeypatch.setattr(filelock, "msvcrt", Refusing(heads))
    with pytest.raises(chain.ClientKitError, match=f"chain head file {heads} cannot be written"):
        chain.HeadPin(heads).remember("https://cdn.example", PIN)
    assert not heads.exists()


def test_without_fcntl_or_msvcrt_threads_still_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lock between processes is left, but the threads of one process (a validator's
    workers) must not drop each other's pins: one waits while another holds the lock."""
    monkeypatch.setattr(filelock, "fcntl", None)
    monkeypatch.setattr(filelock, "msvcrt", None)
    heads = tmp_path / "heads.json"
    pin = chain.HeadPin(heads)
    read = chain.HeadPin._heads
    reading = threading.Event()

    def noted(self: chain.HeadPin) -> dict[str, list[str]]:
        reading.set()
        return read(self)

    monkeypatch.setattr(chain.HeadPin, "_heads", noted)
    with pin._locked():  # another thread, pinning
        waiter = threading.Thread(target=pin.remember, args=("b", ("e", "sha256:2")))
        waiter.start()
        assert not reading.wait(0.5), "the head file was read while another thread held it"
        heads.write_text(json.dumps({"a": ["e", "sha256:1"]}))
    waiter.join(60)
    assert json.loads(heads.read_text()) == {"a": ["e", "sha256:1"], "b": ["e", "sha256:2"]}
