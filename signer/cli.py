"""`signer` command line: sync the metagraph snapshot, run a development server.

Options that override a setting come from its declaration (signer.config.Settings):
same name, same rule, same environment variable.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from envsettings import option
from signer import create_app, metagraph
from signer.config import Settings, load_settings
from signer.errors import SignerFailure


@dataclass
class CliState:
    """What commands reach the outside world with, replaceable in tests."""

    fetch: Callable[[str, int], Any] = metagraph.fetch_metagraph
    clock: Callable[[], float] = field(default=time.time)


pass_state = click.make_pass_decorator(CliState, ensure=True)


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the signer's expected failures into `Error: ...` and exit 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SignerFailure as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Subnet 46 signer: hotkey-verified S3 credentials."""


@cli.command("sync-metagraph")
@option(Settings, "network")
@option(Settings, "netuid")
@option(Settings, "metagraph_path", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
@friendly
def sync_metagraph(state: CliState, **overrides: Any) -> None:
    """Read the subnet's metagraph from the chain and write the snapshot the signer serves.

    The snapshot is written to --output (SIGNER_METAGRAPH), replaced atomically.
    """
    settings = load_settings(None, **overrides)
    network, netuid, output = settings.network, settings.netuid, settings.metagraph_path
    fetched_at = datetime.fromtimestamp(state.clock(), UTC)
    try:
        document = metagraph.snapshot_from_metagraph(state.fetch(network, netuid), fetched_at)
    except Exception as exc:  # the chain client raises many kinds; all mean "no snapshot"
        raise click.ClickException(
            f"could not read netuid {netuid} from {network}: {exc}; "
            + ("the old snapshot is kept" if output.exists() else f"{output} is not written")
        ) from None
    metagraph.parse_snapshot(document, netuid)
    metagraph.write_snapshot(output, document)
    validators = sum(1 for n in document["neurons"] if n["validatorPermit"])
    click.echo(
        f"wrote {output}: netuid {netuid} at block {document['block']}, "
        f"{len(document['neurons'])} neurons ({validators} with a validator permit)"
    )


@cli.command()
@click.option(
    "--host",
    envvar="HOST",
    default="127.0.0.1",
    show_default=True,
    show_envvar=True,
    help="Address to listen on.",
)
@click.option(
    "--port",
    envvar="PORT",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    show_envvar=True,
    help="Port to listen on.",
)
@friendly
def serve(host: str, port: int) -> None:
    """Run the development server (production: gunicorn, see the Procfile)."""
    app = create_app()
    _check_address(host, port)
    app.run(host=host, port=port)


def _check_address(host: str, port: int) -> None:
    """Bind once before the server does: werkzeug says only "Name or service not known" or
    "Cannot assign requested address", naming neither the address nor its setting."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve on {host} port {port} (--host/HOST, --port/PORT): {exc.strerror or exc}"
        ) from None
