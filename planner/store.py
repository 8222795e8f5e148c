"""Where published objects live: a local folder or an S3-compatible bucket, behind one interface.

The planner writes through a `Store` so that the same code publishes to `published/` on a
laptop and to DigitalOcean Spaces in production; only the store changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol


class StoreError(RuntimeError):
    """A store that cannot be read or written; the message names the store and the key."""


class Store(Protocol):
    """A flat key space of small objects."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        """Create or replace the object atomically (a reader sees old or new bytes, never half)."""

    def keys(self, prefix: str = "") -> list[str]:
        """Every key that starts with `prefix`, sorted."""

    def describe(self) -> str:
        """A human-readable location for messages, never containing a secret."""


class LocalStore:
    """A folder laid out exactly like the bucket."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"refusing key outside {self.root}: {key!r}")
        return self.root / key

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self._path(key)}: {exc.strerror}") from exc

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror}") from exc

    def keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        found = (
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        return sorted(k for k in found if k.startswith(prefix))

    def describe(self) -> str:
        return str(self.root)
