"""`signer` command line: sync the metagraph snapshot, run a development server."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from signer import create_app, metagraph
from signer.config import ConfigError


@dataclass
class CliState:
    """What commands reach the outside world with, replaceable in tests."""

    fetch: Callable[[str, int], Any] = metagraph.fetch_metagraph
    clock: Callable[[], float] = field(default=time.time)


pass_state = click.make_pass_decorator(CliState, ensure=True)


@click.group()
def cli() -> None:
    """Subnet 46 signer: hotkey-verified S3 credentials."""


@cli.command("sync-metagraph")
@click.option(
    "--network",
    envvar="SIGNER_NETWORK",
    default="finney",
    show_default=True,
    help="Chain network: finney, test, or a ws(s):// endpoint.",
)
@click.option(
    "--netuid",
    envvar="SIGNER_NETUID",
    type=click.IntRange(min=0),
    default=46,
    show_default=True,
    help="Subnet to snapshot.",
)
@click.option(
    "--output",
    envvar="SIGNER_METAGRAPH",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Snapshot file to write (replaced atomically).",
)
@pass_state
def sync_metagraph(state: CliState, network: str, netuid: int, output: Path) -> None:
    """Read the subnet's metagraph from the chain and write the snapshot the signer serves."""
    try:
        graph = state.fetch(network, netuid)
        document = metagraph.snapshot_from_metagraph(
            graph, datetime.fromtimestamp(state.clock(), UTC)
        )
        metagraph.parse_snapshot(document, netuid)
    except metagraph.SnapshotError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # the chain client raises many kinds; all mean "no snapshot"
        raise click.ClickException(
            f"could not read netuid {netuid} from {network}: {exc}; the old snapshot is kept"
        ) from None
    metagraph.write_snapshot(output, document)
    validators = sum(1 for n in document["neurons"] if n["validatorPermit"])
    click.echo(
        f"wrote {output}: netuid {netuid} at block {document['block']}, "
        f"{len(document['neurons'])} neurons ({validators} with a validator permit)"
    )


@cli.command()
@click.option("--host", envvar="HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--port", envvar="PORT", type=click.IntRange(1, 65535), default=8000, show_default=True
)
def serve(host: str, port: int) -> None:
    """Run the development server (production: gunicorn, see the Procfile)."""
    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    app.run(host=host, port=port)
