"""The `planner` and `signer` commands, which say which extra to install when it is missing.

Every install of the distribution gets both commands, a miner's too (`pip install
subnet46-epochs`, the client kit alone), but only the operator's extras bring their
libraries. Started straight from `planner.cli`, either command would die on an import
traceback in a miner's environment; started from here, it names the extra and the pip
command. This module lives in the kit because the kit is the one package every install can
import; the kit itself never imports it.
"""

from __future__ import annotations

import importlib
import sys

FIRST_PARTY = {"planner", "signer", "clientkit", "envsettings"}


def _run(program: str) -> None:
    try:
        cli = importlib.import_module(f"{program}.cli").cli
    except KeyboardInterrupt:
        # Ctrl-C while the libraries load (a second or so, before click handles it as
        # `Aborted!`) printed a traceback from inside botocore or pandas.
        sys.exit(f"{program}: interrupted while starting; nothing was done")
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if not missing or missing in FIRST_PARTY:
            raise
        sys.exit(
            f"{program}: this command needs the `{program}` extra, which is not installed "
            f"here (no module named {missing!r}). Install it with: "
            f"pip install 'subnet46-epochs[{program}]'"
        )
    cli()


def planner() -> None:
    """The `planner` command."""
    _run("planner")


def signer() -> None:
    """The `signer` command."""
    _run("signer")
