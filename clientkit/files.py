"""Files replaced in one step, and the temporary files writers killed mid-write leave.

A reader must see the old file or the new one, never part of one, so a file is written to a
temporary dot-file of the writer's own beside it, then renamed over it. A writer killed
mid-write (kill -9, the OOM killer, a power cut) leaves that dot-file for good: a later
writer into the folder removes those old enough to be no live writer's.

The client kit's chain head file and the planner's local store both write this way; the
code lives here because the planner may import the client kit, never the reverse.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

LEFTOVER_SECONDS = 3600
"""How old a temporary file must be to be taken for a killed writer's: a live writer
writes even the planner's private state in seconds, and refreshes the file's time as it
does."""

RANDOM = "[a-z0-9_]{8}"
"""The characters tempfile.mkstemp puts in a name, 8 of them."""


def temporary_names(name: str | None = None) -> str:
    """A pattern of the names `replace_file` gives its temporary files:
    `.<name>.XXXXXXXX.tmp` for the file `name`, or for any file when `name` is None."""
    named = re.escape(name) if name is not None else ".+"
    return rf"\.{named}\.{RANDOM}\.tmp"


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` in one step: through a temporary file of this process's own
    beside it (synced, given `mode`), renamed over it. An OSError is the caller's to name;
    the temporary file is removed on any failure this process lives through."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_leftovers(folder: Path, names: re.Pattern[str], age: float = LEFTOVER_SECONDS) -> None:
    """Remove the files in `folder` whose whole name matches `names` and that were last
    written more than `age` seconds ago. Housekeeping: a folder it cannot list, or a leftover
    it may not remove (another user's), must not stop the write that follows."""
    cutoff = time.time() - age
    leftovers: list[str] = []
    with contextlib.suppress(OSError), os.scandir(folder) as found:
        leftovers = [i.path for i in found if names.fullmatch(i.name) and _older(i, cutoff)]
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            os.unlink(leftover)


def _older(item: os.DirEntry[str], cutoff: float) -> bool:
    """A regular file last written before `cutoff`: never a link or a folder, nor a file that
    its writer renamed over its target meanwhile."""
    try:
        stat = item.stat(follow_symlinks=False)
    except OSError:
        return False
    return item.is_file(follow_symlinks=False) and stat.st_mtime < cutoff
