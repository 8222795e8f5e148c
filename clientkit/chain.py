"""The hash chain of index.json, and the head a client pins so a rewritten history is seen.

Each epoch entry carries `prev`: the sha256 of the canonical bytes of the entry before it
(GENESIS for the first). The canonical bytes leave out what legitimately changes after
sealing (the `revealed` pointers), so revealing an epoch never changes the chain, while a
changed commitment, round or sealing time, or a removed entry, breaks it at the next entry.
Whoever holds the bucket's write key can rebuild a whole consistent chain; a client that
pinned an earlier head (`HeadPin`) still sees that its pinned entry changed or vanished.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clientkit.config import DEFAULT_HEAD_FILE, Settings
from clientkit.errors import ClientKitError, a_type
from clientkit.filelock import exclusive
from clientkit.files import remove_leftovers, replace_file, temporary_names

GENESIS = "sha256:" + "0" * 64


class ChainBroken(ClientKitError):
    """An index.json whose entries do not link: the message names the first that breaks."""


class HistoryRewritten(ClientKitError):
    """An index.json that does not extend the chain head this client saw before."""


def canonical(item: dict[str, Any]) -> bytes:
    """An entry's bytes for hashing: without `revealed` pointers, sorted keys, no spaces."""
    sealed = {k: v for k, v in item.items() if k != "revealed"}
    if isinstance(sealed.get("audit"), dict):
        sealed["audit"] = {k: v for k, v in sealed["audit"].items() if k != "revealed"}
    return json.dumps(sealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(item: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(item)).hexdigest()


def chained(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries (in epoch order) with each `prev` set: what the planner publishes."""
    out: list[dict[str, Any]] = []
    for item in items:
        out.append({**item, "prev": link(out[-1]) if out else GENESIS})
    return out


def head(items: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(epochId, link) of the last entry once the chain checks; None for an unchained index
    (written before the chain existed: no entry has `prev`)."""
    if not any("prev" in item for item in items):
        return None
    expected = GENESIS
    for item in items:
        if item.get("prev") != expected:
            raise ChainBroken(
                f"index.json's entry of {item.get('epochId')} does not extend the entry before "
                f"it (prev {item.get('prev')}, expected {expected}): an entry before it was "
                "removed or rewritten"
            )
        expected = link(item)
    return items[-1]["epochId"], expected


def default_head_file() -> Path:
    """CLIENTKIT_HEAD_FILE, else ~/.cache/subnet46-clientkit/chain-heads.json."""
    return Settings.from_env().chain_heads()


def expect(items: list[dict[str, Any]], pinned: Sequence[str], whence: str) -> str:
    """Raise HistoryRewritten unless `items` hold the pinned head's entry unchanged (so
    every entry up to it: each link covers the one before); later entries may be new.

    `pinned` is (epochId, link), `whence` says where it was pinned, for the message."""
    epoch_id, expected = pinned
    found = [i for i in items if i.get("epochId") == epoch_id]
    if not found or link(found[0]) != expected:
        what = "removed" if not found else "rewritten (itself, or an entry before it)"
        raise HistoryRewritten(
            f"index.json does not extend the history seen before: the entry of {epoch_id} "
            f"(chain head {expected}, {whence}) was {what}; do not trust this index, and tell "
            "the subnet's operators"
        )
    later = len(items) - items.index(found[0]) - 1
    return f"extends {epoch_id} {expected} ({whence}){f' by {later} entries' if later else ''}"


class HeadPin:
    """The last chain head seen for each published base URL, kept in one small JSON file.

    Several processes may share the file (one per hotkey on a machine): it is replaced in
    one step, so a reader sees the old file or the new one, never part of one, and read,
    changed and replaced holding `<file>.lock` next to it (clientkit.filelock), so one process's
    pin never drops another's. `check` holds it from its check to its pin, so a head that
    another process pinned meanwhile is checked too, not written over.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        setting: str = "CLIENTKIT_HEAD_FILE (or pass head_file=)",
    ) -> None:
        """`setting` is what to change to keep the file elsewhere, for messages (`planner
        verify` has an option)."""
        if path is not None and not isinstance(path, str | os.PathLike):
            raise TypeError(
                "chain head file is a path, a str or a pathlib.Path such as "
                f"{DEFAULT_HEAD_FILE}; got {a_type(path)}: set {setting} to one"
            )
        self.path = Path(path).expanduser() if path else default_head_file()
        self.setting = setting
        if self.path.is_dir():
            raise ClientKitError(
                f"chain head file {self.path} is a folder: set {setting} to a file, such as "
                f"{DEFAULT_HEAD_FILE}"
            )

    def _heads(self) -> dict[str, list[str]]:
        """The file's heads; anything but {place: [epochId, link]} is an error naming it."""
        try:
            heads = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise self._unusable("cannot be read", exc) from exc
        except ValueError as exc:
            raise ClientKitError(f"chain head file {self.path} is not valid JSON: {exc}") from exc
        if not isinstance(heads, dict) or not all(
            isinstance(pin, list) and len(pin) == 2 and all(isinstance(p, str) for p in pin)
            for pin in heads.values()
        ):
            raise ClientKitError(
                f"chain head file {self.path} is not a chain head file: it must map each place "
                'read to [epochId, "sha256:..."]; move it away to start pinning afresh'
            )
        return heads

    def _unusable(self, what: str, exc: Exception) -> ClientKitError:
        """The error for a head file the OS refuses, saying how to keep it elsewhere."""
        return ClientKitError(
            f"chain head file {self.path} {what}: {exc}; set {self.setting} to keep it elsewhere"
        )

    def verify(self, where: str, items: list[dict[str, Any]]) -> str:
        """Raise HistoryRewritten unless `items` extend the head pinned for `where`."""
        pinned = self._heads().get(where)
        if pinned is None:
            return f"no head pinned for {where} in {self.path} yet"
        return expect(items, pinned, f"pinned for {where} in {self.path}")

    def remember(self, where: str, current: tuple[str, str] | None) -> None:
        """Pin `current`, the head of a chain already checked (`head`), for `where`."""
        if current is not None:
            self.pin_after(where, current, lambda: True)

    def check(self, where: str, items: list[dict[str, Any]]) -> None:
        """Raise unless `items` chain and extend the head pinned for `where`; then pin theirs."""
        current = head(items)

        def extends() -> bool:
            self.verify(where, items)
            return True

        self.pin_after(where, current, extends)

    def pin_after(
        self, where: str, current: tuple[str, str] | None, checked: Callable[[], bool]
    ) -> bool:
        """Under the lock: `checked()` against the heads as they are now (it calls `verify`),
        then, if it returned True, `current` pinned for `where`, the file's other heads kept
        as they are now too. What `checked()` returned."""
        try:
            with self._locked():
                if not checked():
                    return False
                heads = self._heads()
                if current is not None and list(current) != heads.get(where):
                    heads[where] = list(current)
                    self._write(heads)
                return True
        except OSError as exc:
            raise self._unusable("cannot be written", exc) from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The head file's folder made, and its lock file held until the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock, exclusive(lock):
            yield

    def _write(self, heads: dict[str, list[str]]) -> None:
        """Through a temporary file of this process's own, renamed over the head file; the
        temporary files of writers killed mid-write (an hour old) removed first. Only this
        head file's: the folder may be anyone's (CLIENTKIT_HEAD_FILE)."""
        remove_leftovers(self.path.parent, re.compile(temporary_names(self.path.name)))
        replace_file(self.path, (json.dumps(heads, indent=2) + "\n").encode(), 0o644)
