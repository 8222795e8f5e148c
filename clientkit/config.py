"""Every setting of the client kit, declared once (envsettings): name, default, meaning.

A miner or validator program needs none of them; they move what the kit keeps on disk.
`planner verify` reads the same declaration (option `--head-file`), so a machine keeps one
file of the chain heads it has seen, whichever program saw them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from clientkit.errors import ClientKitError
from envsettings import EnvSettings

DEFAULT_HEAD_FILE = Path("~/.cache/subnet46-clientkit/chain-heads.json")


class SettingsError(ClientKitError, ValueError):
    """A malformed CLIENTKIT_* setting; the message names it."""


class Settings(EnvSettings):
    """The client kit's settings; each alias is the environment variable."""

    problem = SettingsError

    head_file: Path | None = Field(
        None,
        alias="CLIENTKIT_HEAD_FILE",
        description="File of the index.json chain head last seen per published URL or folder "
        f"(empty: {DEFAULT_HEAD_FILE}).",
    )

    def chain_heads(self) -> Path:
        """Where the chain heads are kept: the setting, else under the user's cache dir
        (`~` is the user's home in either: quoted, or in an env file or a systemd unit, it
        reaches the program unexpanded)."""
        return (self.head_file or DEFAULT_HEAD_FILE).expanduser()
