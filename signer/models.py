"""Typed requests and responses: validation for the endpoints and the OpenAPI document.

Field names of requests and of the credential responses are those the existing subnet 46
clients send and parse (`list_url`, `fields`, `expiry`, ...); the assignment models mirror
the planner's camelCase files.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from bittensor_core import ss58_decode
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from clientkit.epochs import EpochError, epoch_from_id

EXAMPLE_TIMESTAMP = 1795626000  # 2026-11-25T17:00:00Z
EXAMPLE_EPOCH = "2026-11-25T16-00-00"
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
BOB_STASH = "5HpG9w8EBLe5XCrbczpwq5TSXvedjrBGCwqxK1iQ7qUsSWFc"


def _ss58(value: str) -> str:
    if not _is_ss58(value):
        raise ValueError("not an SS58 address")
    return value


@lru_cache(maxsize=4096)
def _is_ss58(value: str) -> bool:
    """Decoded once while among the 4,096 most recently seen, rather than on every request
    that names the address (a miner names its hotkey and coldkey on every call)."""
    try:
        ss58_decode(value)
    except ValueError:
        return False
    return True


def _epoch_id(value: str) -> str:
    try:
        return epoch_from_id(value, hours=1).id  # the writing; the handler checks the grid
    except EpochError:
        raise ValueError("not an epoch id on the UTC grid (YYYY-MM-DDTHH-00-00)") from None


SS58 = Annotated[
    str,
    Field(min_length=40, max_length=64, description="SS58 address", examples=[ALICE]),
    AfterValidator(_ss58),
]
Timestamp = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=10**11,
        description="unix seconds; part of the signed message",
        examples=[EXAMPLE_TIMESTAMP],
    ),
]
Signature = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="sr25519 signature by the hotkey over the UTF-8 message, hex (0x optional)",
    ),
]
PathEpochId = Annotated[
    str,
    Field(max_length=32, pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}-00-00$"),
    AfterValidator(_epoch_id),
]
"""An epoch id as a path parameter: without `examples`, which flask-openapi3 cannot put on
one."""
EpochId = Annotated[PathEpochId, Field(examples=[EXAMPLE_EPOCH])]


TIME: dict[str, Any] = {"format": "date-time"}
"""A time an answer gives: RFC 3339 in UTC, `Z` (e.g. 2026-11-25T20:15:00Z)."""
URL: dict[str, Any] = {"format": "uri"}
"""A URL an answer gives: absolute."""


class OpenAPIConfig(ConfigDict, total=False):
    """pydantic's model config plus what flask-openapi3 reads from it."""

    openapi_extra: dict[str, Any]


ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}


def error_doc(
    description: str, code: str, detail: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An operation's OpenAPI response for a refusal: an ErrorResponse, with an example."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {
            "application/json": {
                "schema": ERROR_SCHEMA,
                "example": {"error": code, "detail": detail},
            }
        },
    }
    if headers:
        answer["headers"] = headers
    return answer


def invalid_doc(description: str, fields: dict[str, str]) -> dict[str, Any]:
    """The OpenAPI 422 of an operation, its example the answer to the `fields` refused."""
    answer = error_doc(
        description,
        "invalid_request",
        "; ".join(f"{field}: {message}" for field, message in fields.items()),
    )
    answer["content"]["application/json"]["example"]["fields"] = [
        {"field": field, "message": message} for field, message in fields.items()
    ]
    return answer


def retry_after(required: bool) -> dict[str, Any]:
    """The Retry-After header of a refusal that asking again later may cure; `required`
    when every such refusal carries it."""
    return {
        "Retry-After": {
            "description": "seconds to wait before asking again",
            "required": required,
            "schema": {"type": "integer", "minimum": 0},
        }
    }


def redirect_doc(description: str) -> dict[str, Any]:
    """An operation's OpenAPI 302: where to, in Location."""
    return {
        "description": description,
        "headers": {
            "Location": {
                "description": "the URL to GET instead",
                "required": True,
                "schema": {"type": "string", "format": "uri"},
            }
        },
    }


RATE_LIMITED = error_doc(
    "Rate limited: the client's address or the hotkey is over its limit (see Retry-After)",
    "rate_limited",
    "rate limit exceeded (10 per 1 minute); retry in 42 s",
    retry_after(required=True),
)
LIMITS_UNAVAILABLE = error_doc(
    "The rate-limit counters cannot be reached (`limits_unavailable`; see Retry-After)",
    "limits_unavailable",
    "the rate-limit counters (SIGNER_RATELIMIT_STORAGE) cannot be reached just now; retry "
    "in a few seconds",
    retry_after(required=True),
)


class ErrorResponse(BaseModel):
    """Every failure: a stable code, a detail naming what is wrong (never echoing input)."""

    error: str = Field(description="machine-readable code", examples=["invalid_signature"])
    detail: str = Field(description="what is wrong and where")
    fields: list[dict[str, str]] | None = Field(
        None, description="for invalid_request: each rejected field and why"
    )


class FolderAccessRequest(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Signed by the miner's hotkey.",
            "example": {
                "coldkey": BOB_STASH,
                "hotkey": BOB,
                "timestamp": EXAMPLE_TIMESTAMP,
                "signature": "3e8f92e45af1069693d067b6acd1e71d44e19e3d23c581483170aa5caa5bc45b"
                "98a891dd0cae754cdd455d326e0139115869449abbaf3061657e960bd4c28883",
            },
        }
    )

    coldkey: SS58 | None = Field(None, description="required when signed in the body")
    hotkey: SS58 | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None
    continuation_token: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="NextContinuationToken of the previous page of `list_url`, for a "
        "`list_url` of the next page (not part of the signed message)",
    )
    epoch_id: EpochId | None = Field(
        None,
        validation_alias=AliasChoices("epoch_id", "epochId"),
        description="for a `list_url` of `data/hotkey={hotkey}/epoch={epoch_id}/` only, that "
        "epoch's files, instead of the whole folder (not part of the signed message; the "
        "upload POST is still the current epoch's); an id that starts no epoch of this "
        "signer's EPOCH_HOURS grid is a 422; `epochId` is accepted as an alias",
    )


class ValidatorAccessRequest(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Signed by the validator's hotkey.",
            "example": {
                "hotkey": ALICE,
                "timestamp": EXAMPLE_TIMESTAMP,
                "signature": "2ec9c812ab3d92ca70e6c778b9b3c188ad59f8676211c43cebbcb293c8fce640"
                "0f318a362a50c3f27433a3438f74caa0ec9a1fcac88a250aa8a0b709bf892689",
            },
        }
    )

    hotkey: SS58 | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None


class ValidatorUploadRequest(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Signed by the validator's hotkey. `epoch_id` is accepted as an "
            "alias of `epochId`; other fields older clients send are ignored.",
            "example": {
                "hotkey": ALICE,
                "timestamp": EXAMPLE_TIMESTAMP,
                "signature": "8251791375fb4dff0d34d6fdd48ae454b2a09a9b46d12dc6566a9962f894cb27"
                "367920b75b4e7796e76691e94209483ab58ef19b9fd8d772c9e30cf84ea9a38e",
                "epochId": EXAMPLE_EPOCH,
            },
        }
    )

    hotkey: SS58 | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None
    epoch_id: EpochId = Field(validation_alias=AliasChoices("epochId", "epoch_id"))


class MinerListRequest(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Signed by the validator's hotkey; the continuation token is not "
            "part of the signed message.",
            "example": {
                "hotkey": ALICE,
                "timestamp": EXAMPLE_TIMESTAMP,
                "signature": "1a0ddc3310e889d34d1e70034a7839a09b5ba7ce7a9240130a4d6d5ab9120c0c"
                "243d3fcf7bd56086d5c4eb7d3e50c7a3557d44cd83cd3359a8035dddf59e8388",
                "miner_hotkey": BOB,
            },
        }
    )

    hotkey: SS58 | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None
    miner_hotkey: SS58
    continuation_token: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="NextContinuationToken of the previous page, to get the next page",
    )


NAME_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._=-]*$"


class FileUploadRequest(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Signed with X-Tao-* headers (as the data-universe miner does), or "
            "in the body over `s3:data:file:{hotkey}:{job_id}:{filename}:{timestamp}`.",
            "example": {"job_id": "zillow-pa", "filename": "data_20261125_170000_1000.parquet"},
        }
    )

    hotkey: SS58 | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None
    job_id: str = Field(min_length=1, max_length=128, pattern=NAME_PATTERN)
    filename: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)


PRESIGNED_FIELDS_EXAMPLE = {
    "Content-Type": "binary/octet-stream",
    "key": f"data/hotkey={BOB}/epoch={EXAMPLE_EPOCH}/${{filename}}",
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "x-amz-credential": "AKIAEXAMPLE/20261125/us-east-1/s3/aws4_request",
    "x-amz-date": "20261125T170000Z",
    "policy": "eyJleHBpcmF0aW9uIjogIjIwMjYtMTEtMjVUMjA6MTU6MDBaIiwgLi4ufQ==",
    "x-amz-signature": "5d41402abc4b2a76b9719d911017c592...",
}


class PresignedPost(BaseModel):
    """An S3 POST form: send `fields` plus a `file` part as multipart/form-data to `url`."""

    url: str = Field(description="POST target (the bucket endpoint)", json_schema_extra=URL)
    fields: dict[str, str] = Field(
        description="form fields to send unchanged, except `key`: replace `${filename}` "
        "(or the whole key) with a name inside `folder`. The policy pins Content-Type to "
        "binary/octet-stream and refuses acl, Cache-Control, Content-Disposition, "
        "Content-Encoding, Expires, success_action_redirect and x-amz-meta-* fields",
        examples=[PRESIGNED_FIELDS_EXAMPLE],
    )
    folder: str = Field(description="every uploaded key must start with this prefix")
    expiry: str = Field(
        description="when the policy expires (ISO-8601 UTC)", json_schema_extra=TIME
    )
    expiry_seconds: int = Field(description="seconds from issue to expiry")
    max_upload_bytes: int = Field(description="largest object the policy accepts")


class FolderAccessResponse(PresignedPost):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "A presigned POST for this epoch's folder and a list URL of the "
            "miner's own data.",
        }
    )

    success: Literal[True] = Field(True, description="always true, as the old server said")
    epoch_id: str = Field(examples=[EXAMPLE_EPOCH])
    list_url: str = Field(
        description="presigned ListObjectsV2 GET of data/hotkey={hotkey}/, or only of that "
        "epoch's folder when the request names an epoch_id",
        json_schema_extra=URL,
    )
    list_expiry: str = Field(
        description="when list_url expires (ISO-8601 UTC)", json_schema_extra=TIME
    )


class FileUploadResponse(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "A presigned POST for one object: send `fields` unchanged plus a "
            "`file` part to `url`."
        }
    )

    s3_key: str = Field(
        examples=[f"data/hotkey={BOB}/epoch={EXAMPLE_EPOCH}/job_id=zillow-pa/data_1.parquet"]
    )
    url: str = Field(description="POST target (the bucket endpoint)", json_schema_extra=URL)
    fields: dict[str, str] = Field(description="form fields, `key` included, to send unchanged")
    expires_in_seconds: int
    method: Literal["POST"] = Field(
        "POST", description="always POST: a presigned PUT could not bound the size"
    )
    epoch_id: str = Field(examples=[EXAMPLE_EPOCH])
    max_upload_bytes: int


class ValidatorUploadResponse(PresignedPost):
    model_config = OpenAPIConfig(
        openapi_extra={"description": "A presigned POST for validators/{hotkey}/epoch={epochId}/."}
    )

    success: Literal[True] = Field(True, description="always true, as the old server said")
    epoch_id: str = Field(examples=[EXAMPLE_EPOCH])


class GlobalUrls(BaseModel):
    list_all_data: str = Field(
        description="an /s3/list URL of this signer: ListObjectsV2 pages (S3's XML) of "
        "data/hotkey=; append &start-after=<key> or &continuation-token=<NextContinuationToken> "
        "for the next page",
        json_schema_extra=URL,
    )


class MinerUrls(BaseModel):
    list_all_miners: str = Field(
        description="an /s3/list URL of this signer listing data/hotkey= with delimiter '/': "
        "one CommonPrefix per miner; append &start-after=<key> or "
        "&continuation-token=<NextContinuationToken> for the next page",
        json_schema_extra=URL,
    )


class ValidatorUrls(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    global_: GlobalUrls = Field(alias="global")
    miners: MinerUrls


class ValidatorAccessResponse(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Read access to miners' data and the validator's upload credential "
            "for the current epoch.",
        }
    )

    bucket: str
    region: str
    validator_hotkey: str
    epoch_id: str = Field(examples=[EXAMPLE_EPOCH])
    expiry: str = Field(
        description="when the list URLs expire (ISO-8601 UTC)", json_schema_extra=TIME
    )
    expiry_seconds: int
    urls: ValidatorUrls
    upload: PresignedPost


class MinerListResponse(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={"description": "One presigned URL for one page of a miner's listing."}
    )

    list_url: str = Field(
        description="GET it for one ListObjectsV2 page (XML)", json_schema_extra=URL
    )
    miner_url: str = Field(
        description="the same URL, under the old server's name", json_schema_extra=URL
    )
    miner_hotkey: str
    prefix: str = Field(examples=[f"data/hotkey={BOB}/"])
    continuation_token: str | None
    expiry: str = Field(description="when list_url expires (ISO-8601 UTC)", json_schema_extra=TIME)
    expiry_seconds: int


class MinerFilesRequest(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Signed by the validator's hotkey over "
            "`s3:validator:files:{miner_hotkey}:{hotkey}:{timestamp}`.",
            "example": {
                "hotkey": ALICE,
                "timestamp": EXAMPLE_TIMESTAMP,
                "signature": "66542d6c33205f8bb3daa5cd36d7ff0c82c3be1c3f7f0503ac2d81e00abc4027"
                "98ae65ba8df59860c033a932da0403126041b3aaa37baebfd8614bba43e06083",
                "miner_hotkey": BOB,
                "file_keys": [f"data/hotkey={BOB}/epoch={EXAMPLE_EPOCH}/19103.parquet"],
            },
        }
    )

    hotkey: SS58 | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None
    miner_hotkey: SS58
    file_keys: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        min_length=1, max_length=1000, description="keys from the miner's listing"
    )
    expiry_hours: int | None = Field(
        None,
        ge=1,
        le=24,
        description="how long the URLs stay valid, in hours (default: SIGNER_LIST_URL_TTL)",
    )


class FileUrl(BaseModel):
    presigned_url: str = Field(description="GET it to read the object", json_schema_extra=URL)
    file_key: str
    file_name: str
    expires_in_seconds: int


class MinerFilesResponse(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={"description": "One presigned GET URL per requested key of the miner."}
    )

    miner_hotkey: str
    file_urls: dict[str, FileUrl]
    invalid_files: list[str] = Field(description="requested keys outside the miner's folders")
    expiry: str = Field(description="when the URLs expire (ISO-8601 UTC)", json_schema_extra=TIME)
    expiry_seconds: int


class Zipcode(BaseModel):
    model_config = ConfigDict(extra="allow")

    zipcode: str = Field(pattern=r"^\d{5}$", examples=["07030"])
    expectedListings: int = Field(ge=0)
    state: str = Field(examples=["NJ"])
    city: str
    county: str
    marketTier: str


class AssignmentMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    totalExpectedListings: int
    zipcodeCount: int
    algorithmVersion: str
    datasetSha256: str


class Assignment(BaseModel):
    """An epoch's assignment, byte-identical to `epochs/{epochId}.json` (its commitment)."""

    model_config = OpenAPIConfig(
        extra="allow",
        openapi_extra={"description": "The current epoch's revealed assignment."},
    )

    schemaVersion: Literal[1]
    epochId: str = Field(examples=[EXAMPLE_EPOCH])
    epochStart: str = Field(examples=["2026-11-25T16:00:00Z"])
    epochEnd: str = Field(examples=["2026-11-25T20:00:00Z"])
    nonce: str
    salt: str
    targetListings: int = Field(examples=[10000])
    tolerancePercent: float = Field(examples=[10])
    zipcodes: list[Zipcode]
    metadata: AssignmentMetadata


class LegacyAssignment(Assignment):
    model_config = OpenAPIConfig(
        openapi_extra={"description": "The current assignment plus `success: true`."}
    )

    success: Literal[True]


class IndexEpoch(BaseModel):
    model_config = ConfigDict(extra="allow")

    epochId: str = Field(examples=[EXAMPLE_EPOCH])
    epochStart: str
    epochEnd: str
    revealRound: int = Field(description="drand quicknet round that opens the sealed file")
    sealed: str = Field(examples=[f"sealed/{EXAMPLE_EPOCH}.tlock"])
    commitment: str = Field(description='"sha256:" + hex sha256 of epochs/{epochId}.json')
    revealed: str | None = Field(description="path of the plain file once revealed, else null")


class PublishedIndex(BaseModel):
    """index.json: the drand chain to decrypt with and every planned epoch."""

    model_config = ConfigDict(extra="allow")

    drand: dict[str, Any] = Field(description="drand chain info: chain hash, public key, relays")
    epochs: list[IndexEpoch]


class Health(BaseModel):
    status: Literal["ok"]


class MetagraphStatus(BaseModel):
    available: bool
    usable: bool
    netuid: int | None = None
    block: int | None = None
    fetchedAt: str | None = Field(None, json_schema_extra=TIME)
    ageSeconds: float | None = None
    maxAgeSeconds: int | None = None
    neurons: int | None = None
    problem: str | None = None


class BucketStatus(BaseModel):
    configured: bool
    bucket: str | None
    endpoint: str | None


class EpochLengthStatus(BaseModel):
    hours: int = Field(description="this signer's EPOCH_HOURS", examples=[4])
    published: int | None = Field(
        description="the length of the epoch in the current.json this signer has at hand: "
        "the published folder's file, or the background copy of the URL's (/readyz never "
        "fetches it); null without one, or for one without epochStart and epochEnd",
        examples=[4],
    )
    problem: str | None = Field(
        description="the two lengths differing: the signer's EPOCH_HOURS is not the "
        "planner's, and every current assignment is a 503 assignment_unavailable"
    )


class Readiness(BaseModel):
    ready: bool
    metagraph: MetagraphStatus
    bucket: BucketStatus
    limits: bool = Field(
        description="the rate-limit counters (SIGNER_RATELIMIT_STORAGE) answer; without "
        "them every counted request is a 503 limits_unavailable"
    )
    published: str = Field(description="where current.json is read from (folder or URL)")
    publishedProblem: str | None = Field(
        description="SIGNER_PUBLISHED, a folder, that does not exist (or is no folder): "
        "not ready, every current assignment being a 503 not_revealed; null for a folder "
        "that exists (with or without current.json) and for a URL"
    )
    currentEpoch: str = Field(examples=[EXAMPLE_EPOCH])
    epochLength: EpochLengthStatus


class LegacyCurrentEpoch(BaseModel):
    id: str = Field(examples=[EXAMPLE_EPOCH])
    status: Literal["ACTIVE"]
    startTime: str = Field(examples=["2026-11-25T16:00:00.000Z"], json_schema_extra=TIME)
    endTime: str = Field(examples=["2026-11-25T20:00:00.000Z"], json_schema_extra=TIME)
    timeUntilEpochEnd: int = Field(description="seconds until the epoch ends")
    nonce: str | None = Field(None, description="the assignment's nonce once it is revealed")
    zipcodeCount: int | None = None
    targetListings: int | None = None
    actualExpected: int | None = Field(None, description="sum of the zipcodes' expectedListings")


class LegacyTiming(BaseModel):
    timeUntilEpochEnd: int
    timeUntilNextEpoch: int
    epochDurationHours: int


class LegacyNextEpoch(BaseModel):
    startTime: str = Field(json_schema_extra=TIME)


class LegacyEpochStatus(BaseModel):
    currentEpoch: LegacyCurrentEpoch
    timing: LegacyTiming
    nextEpoch: LegacyNextEpoch


class LegacyStats(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={"description": "The current epoch, as the old server's stats reported it."}
    )

    success: Literal[True]
    currentTime: int = Field(description="unix seconds")
    systemStatus: Literal["operational", "awaiting_reveal"]
    epochStatus: LegacyEpochStatus


class LegacyEpochAssignment(Assignment):
    model_config = OpenAPIConfig(
        openapi_extra={"description": "A revealed assignment plus `success` and its status."}
    )

    success: Literal[True]
    status: Literal["ACTIVE", "COMPLETED"]


class LegacyEpochPath(BaseModel):
    epoch_id: PathEpochId = Field(description="epoch id, YYYY-MM-DDTHH-00-00 (UTC)")


class MinerStatusRequest(BaseModel):
    model_config = OpenAPIConfig(
        openapi_extra={
            "description": "Signed by the miner's hotkey over "
            "`zipcode:status:{epochId}:{timestamp}`; progress fields the old clients send "
            "(listingsScraped, zipcodesCompleted, s3UploadComplete, ...) are accepted and "
            "not stored.",
            "example": {
                "hotkey": BOB,
                "timestamp": EXAMPLE_TIMESTAMP,
                "signature": "7ac8d8a10ed152736ff6a6fcfe188cd1490defcc9c04f287bbb0ff5c7a2e2175"
                "8f5a0b871a91a93213ae7d4853ec084c3795cbb2d903a3fb146b0b8ce0dcfc85",
                "epochId": EXAMPLE_EPOCH,
                "nonce": "9f2c4e1a7b3d5f60",
                "status": "IN_PROGRESS",
            },
        }
    )

    hotkey: SS58 | None = None
    timestamp: Timestamp | None = None
    signature: Signature | None = None
    epoch_id: EpochId = Field(validation_alias=AliasChoices("epochId", "epoch_id"))
    nonce: str = Field(min_length=1, max_length=128)
    status: Literal["IN_PROGRESS", "COMPLETED", "FAILED", "TIMEOUT"]


class MinerStatusResponse(BaseModel):
    model_config = OpenAPIConfig(openapi_extra={"description": "Acknowledged; nothing is stored."})

    success: Literal[True]
    message: str
    epochId: str = Field(examples=[EXAMPLE_EPOCH])
    status: str
    timestamp: str = Field(
        description="when the signer received it (ISO-8601 UTC)", json_schema_extra=TIME
    )


class LegacyHealth(BaseModel):
    status: Literal["ok"]
    service: str
