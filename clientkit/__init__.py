"""The subnet 46 client kit: what a miner or validator program needs, and nothing more.

Fetch the current assignment and check it against its published commitment
(`clientkit.assignment`), ask the signer for folder-scoped S3 credentials with a hotkey
(`clientkit.signer`), upload with the presigned POST and read listings page by page
(`clientkit.storage`). Busy answers (429/503 with Retry-After) are retried with jitter
(`clientkit.retry`). The trust code the planner shares lives here too, so a miner checks
with the very code that published: the epoch clock (`clientkit.epochs`), the public layout
and index (`clientkit.layout`), the index's hash chain and pinned head (`clientkit.chain`),
timelock and commitments (`clientkit.timelock`), drand relays (`clientkit.drand`) and the
full check of an epoch (`clientkit.verify`).
requests and bittensor_core do the work (pydantic-settings reads the kit's one setting,
`clientkit.config`); nothing of the planner or signer is imported.
See docs/clients.md.
"""

from clientkit.assignment import (
    Assignment,
    AssignmentError,
    NotOpenYet,
    NotRevealed,
    current_assignment,
    plain_assignment,
    sealed_assignment,
)
from clientkit.chain import ChainBroken, HistoryRewritten
from clientkit.errors import ClientKitError
from clientkit.retry import Backoff
from clientkit.signer import SignerClient, SignerError
from clientkit.storage import (
    ObjectInfo,
    Page,
    StorageError,
    list_mine,
    list_miner,
    list_page,
    parse_listing,
    read_miner_files,
    read_object,
    upload,
)

__all__ = [
    "Assignment",
    "AssignmentError",
    "Backoff",
    "ChainBroken",
    "ClientKitError",
    "HistoryRewritten",
    "NotOpenYet",
    "NotRevealed",
    "ObjectInfo",
    "Page",
    "SignerClient",
    "SignerError",
    "StorageError",
    "current_assignment",
    "list_mine",
    "list_miner",
    "list_page",
    "parse_listing",
    "plain_assignment",
    "read_miner_files",
    "read_object",
    "sealed_assignment",
    "upload",
]
