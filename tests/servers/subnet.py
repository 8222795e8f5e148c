"""A running subnet for client tests: published epochs, a data bucket, the signer under gunicorn.

The signer runs on the real clock (gunicorn cannot take a pinned one), so the planner seals
and reveals around the real current epoch, and the one before it, into a local folder the
signer reads as SIGNER_PUBLISHED.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clientkit.epochs import Epoch, epoch_at
from planner.dataset import Dataset, StatePriority
from planner.jobs import Planner, tick
from planner.store import LocalStore

from servers.seaweed import S3Endpoint
from servers.signer_gunicorn import gunicorn_signer

DEMO_METAGRAPH = Path(__file__).resolve().parents[2] / "data" / "metagraph.demo.json"
SECRET = b"client-tests-secret-0123456789abcdef0123"


def current_epoch() -> Epoch:
    return epoch_at(datetime.now(UTC))


def publish_around_now(folder: Path, state: Path, sample: tuple[Dataset, list[StatePriority]]):
    """Seal the previous epoch to a day ahead and reveal what has started, as cron would."""
    planner = Planner(
        public=LocalStore(folder),
        private=LocalStore(state),
        secret=SECRET,
        load_data=lambda: sample,
        horizon=timedelta(days=1),
    )
    now = datetime.now(UTC)
    tick(planner, now - timedelta(hours=planner.epoch_hours))
    tick(planner, now)


@contextmanager
def running_signer(
    workdir: Path, published: Path, s3: S3Endpoint, bucket: str, **settings: str
) -> Iterator[str]:
    """The signer under gunicorn (the Procfile's command) for `bucket`; yields its base URL."""
    env = {
        "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
        "SIGNER_METAGRAPH_REFRESH": "0",
        "SIGNER_METAGRAPH_MAX_AGE": "0",
        "SIGNER_PUBLISHED": str(published),
        "SIGNER_RATELIMIT_MINER": "1000/minute",
        "SIGNER_RATELIMIT_ADDRESS": "100000/minute",
        **s3.signer_settings(bucket),
        **settings,
    }
    with gunicorn_signer(env, workdir, workers=2) as base:
        yield base


def unix_now() -> int:
    return int(time.time())
