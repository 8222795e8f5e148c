"""`planner doctor`: prove that a bucket behaves as publishing and the signer need, for real.

Every step talks to the bucket (or, for the anonymous checks, to its public URL with no
credentials at all), so an operator learns before going live whether the keys work,
published objects are public, the planner's state is not, the endpoint enforces
presigned POST policies, which is what confines each miner to its own folder, and uploads go
out as plain bodies (DigitalOcean Spaces refuses botocore's aws-chunked uploads with checksum
trailers). Every probe object is removed at the end, whatever failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from botocore.exceptions import BotoCoreError, ClientError

from clientkit import layout
from envsettings import shown
from planner.config import STATE_PREFIX, Bucket
from planner.state import STATE_KEY
from planner.store import S3Store, StoreError, error_detail

OK, WARN, FAIL = "ok", "warn", "FAIL"
PUBLISHED_PREFIXES = (
    "sealed/",
    "epochs/",
    "schema/",
    layout.INDEX_KEY,
    layout.CURRENT_KEY,
    layout.HTML_KEY,
)
"""What must be anonymously readable (a bucket policy can grant exactly these)."""
PROBE_BYTES = 64
POST_LIMIT = 1024
TIMEOUT = 15.0
NO_STORE = "no-store"
S3_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    detail: str

    @property
    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status != FAIL for s in self.steps)

    def add(self, name: str, status: str, detail: str) -> bool:
        self.steps.append(Step(name, status, detail))
        return status != FAIL


def default_public_url(bucket: Bucket) -> str:
    """The bucket's objects by path on its endpoint (Spaces serves public objects there)."""
    return f"{bucket.endpoint_url.rstrip('/')}/{bucket.bucket}"


class Probe:
    """The doctor's view of one bucket: admin calls, anonymous GETs, and probes to clean up."""

    def __init__(self, bucket: Bucket, public_url: str, token: str) -> None:
        self.config = bucket
        self.public_url = public_url.rstrip("/")
        self.named = shown(self.public_url)
        """The public URL as lines name it: without a user and password (a CDN behind basic
        auth), which the anonymous reads send."""
        self.token = token
        self.store = S3Store(
            bucket=bucket.bucket,
            access_key=bucket.key,
            secret_key=bucket.secret,
            endpoint_url=bucket.endpoint_url,
            region=bucket.region,
            max_attempts=2,
            timeout=TIMEOUT,
        )
        self.client = self.store.client
        self.sent: list[dict[str, str]] = []
        self.client.meta.events.register("before-send.s3.PutObject", self._record)
        self.written: set[str] = set()
        self.body = f"planner doctor probe {token}\n".encode().ljust(PROBE_BYTES, b".")

    def put(self, key: str, acl: str | None) -> None:
        extra = {"ACL": acl} if acl else {}
        self.written.add(key)
        self.client.put_object(
            Bucket=self.config.bucket,
            Key=key,
            Body=self.body,
            ContentType="text/plain",
            CacheControl=NO_STORE,
            **extra,
        )

    def _record(self, request: Any, **_: Any) -> None:
        """Keep the headers of each upload exactly as botocore sends them."""
        self.sent.append({name.lower(): str(value) for name, value in request.headers.items()})

    def anonymous_get(self, key: str) -> requests.Response:
        return requests.get(f"{self.public_url}/{quote(key)}", timeout=TIMEOUT)

    def exists(self, key: str) -> bool:
        return self.store.get(key) is not None

    def cleanup(self) -> list[str]:
        """Delete every probe (and any object a POST probe may have left); the keys left."""
        for key in sorted(self.written):
            try:
                self.client.delete_object(Bucket=self.config.bucket, Key=key)
            except S3_ERRORS:
                continue
        return [key for key in sorted(self.written) if self._still_there(key)]

    def _still_there(self, key: str) -> bool:
        try:
            return self.exists(key)
        except StoreError:
            return True


def check_bucket(bucket: Bucket, public_url: str | None = None, token: str | None = None) -> Report:
    """Run every step against `bucket`; stop early only when the credentials do not work."""
    probe = Probe(bucket, public_url or default_public_url(bucket), token or secrets.token_hex(6))
    report = Report()
    if not _credentials(probe, report):
        return report
    try:
        for step in STEPS:
            try:
                step(probe, report)
            except (*S3_ERRORS, StoreError, requests.RequestException) as exc:
                detail = error_detail(exc) if isinstance(exc, S3_ERRORS) else str(exc)
                report.add("bucket", FAIL, f"stopped working midway: {detail}")
    finally:
        left = probe.cleanup()
        if left:
            report.add("cleanup", FAIL, f"could not delete {', '.join(left)}: delete them by hand")
        else:
            report.add("cleanup", OK, f"deleted {len(probe.written)} probe objects; none left")
    return report


def _credentials(probe: Probe, report: Report) -> bool:
    where = probe.store.describe()
    try:
        probe.client.list_objects_v2(Bucket=probe.config.bucket, MaxKeys=1)
    except S3_ERRORS as exc:
        return report.add("credentials", FAIL, f"{where}: {error_detail(exc)}")
    return report.add("credentials", OK, f"{where} accepts this key")


def _private_key(probe: Probe) -> str:
    return f"{STATE_PREFIX}doctor-{probe.token}.txt"


def _private_acl(probe: Probe) -> str | None:
    return "private" if probe.config.public_acl else None


def _write_list_read(probe: Probe, report: Report) -> None:
    key = _private_key(probe)
    try:
        probe.put(key, _private_acl(probe))
    except S3_ERRORS as exc:
        report.add("write", FAIL, f"{key}: {error_detail(exc)}")
        return
    report.add("write", OK, f"{key} ({len(probe.body)} bytes)")
    try:
        page = probe.client.list_objects_v2(Bucket=probe.config.bucket, Prefix=key)
        listed = [item["Key"] for item in page.get("Contents", ())]
    except S3_ERRORS as exc:
        report.add("list", FAIL, f"{key}: {error_detail(exc)}")
    else:
        report.add(
            "list",
            OK if key in listed else FAIL,
            f"the listing shows {key}" if key in listed else f"the listing misses {key}",
        )
    try:
        body = probe.store.get(key)
    except StoreError as exc:
        report.add("read", FAIL, str(exc))
        return
    report.add(
        "read",
        OK if body == probe.body else FAIL,
        f"{key} read back byte for byte" if body == probe.body else f"{key} read back wrong",
    )


def streaming_headers(headers: dict[str, str]) -> list[str]:
    """The headers of an aws-chunked upload with a checksum trailer, which Spaces refuses."""
    found = []
    if "aws-chunked" in headers.get("content-encoding", ""):
        found.append(f"Content-Encoding: {headers['content-encoding']}")
    if headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
        found.append(f"x-amz-content-sha256: {headers['x-amz-content-sha256']}")
    if "x-amz-trailer" in headers:
        found.append(f"x-amz-trailer: {headers['x-amz-trailer']}")
    return found


def _plain_uploads(probe: Probe, report: Report) -> None:
    """The write probe's request as sent: a plain body, no aws-chunked, no trailer."""
    if not probe.sent:
        report.add("plain uploads", FAIL, "no upload was sent, so none could be checked")
        return
    found = sorted({h for headers in probe.sent for h in streaming_headers(headers)})
    if found:
        report.add(
            "plain uploads",
            FAIL,
            f"the upload was sent with {', '.join(found)}: DigitalOcean Spaces refuses "
            "aws-chunked uploads with checksum trailers; this botocore computes checksums "
            "by default, and planner.store.s3_config must set request_checksum_calculation "
            "to when_required",
        )
    else:
        report.add(
            "plain uploads",
            OK,
            "sent without aws-chunked encoding or checksum trailers "
            "(what DigitalOcean Spaces accepts)",
        )


def _public_read(probe: Probe, report: Report) -> None:
    """A probe written as the planner writes published files must be readable by anyone."""
    key = f"epochs/doctor-{probe.token}.txt"
    acl = probe.config.public_acl
    try:
        probe.put(key, acl)
        response = probe.anonymous_get(key)
    except S3_ERRORS as exc:
        report.add("public read", FAIL, f"cannot write {key}: {error_detail(exc)}")
        return
    except requests.RequestException as exc:
        report.add("public read", FAIL, f"{probe.named}: {type(exc).__name__}")
        return
    url = f"{probe.named}/{key}"
    if response.status_code == 200 and response.content == probe.body:
        report.add("public read", OK, f"{url} readable without credentials")
    else:
        report.add(
            "public read",
            FAIL,
            f"{url} answers HTTP {response.status_code} without credentials: this bucket does "
            f"not make published objects public (written with ACL {acl or 'none'}). Allow "
            "public-read ACLs (Spaces: the default), or grant anonymous s3:GetObject on "
            + ", ".join(PUBLISHED_PREFIXES)
            + " with a bucket policy; check SPACES_PUBLIC_URL",
        )
    index = probe.store.get(layout.INDEX_KEY)
    if index is not None:
        response = probe.anonymous_get(layout.INDEX_KEY)
        public = response.status_code == 200 and response.content == index
        report.add(
            "published index",
            OK if public else FAIL,
            f"{probe.named}/{layout.INDEX_KEY} "
            + (
                "readable without credentials" if public else f"answers HTTP {response.status_code}"
            ),
        )


def _private_state(probe: Probe, report: Report) -> None:
    """Nothing under the state prefix may be readable anonymously: it holds future epochs."""
    keys = [_private_key(probe)]
    state = STATE_PREFIX + STATE_KEY
    if probe.store.get(state) is not None:
        keys.append(state)
    try:
        answers = {key: probe.anonymous_get(key).status_code for key in keys}
    except requests.RequestException as exc:
        report.add("private state", FAIL, f"{probe.named}: {type(exc).__name__}")
        return
    exposed = [key for key, status in answers.items() if status == 200]
    if exposed:
        report.add(
            "private state",
            FAIL,
            f"{', '.join(exposed)} readable WITHOUT credentials: anyone can read the "
            f"planner's state; make {STATE_PREFIX} private (remove public-read from the "
            "bucket and from any policy that covers it)",
        )
    else:
        shown = ", ".join(f"{key} HTTP {status}" for key, status in answers.items())
        report.add("private state", OK, f"not readable without credentials ({shown})")


def _presigned_post(probe: Probe, report: Report) -> None:
    """Inside the policy's folder an upload succeeds; a sibling just outside is refused."""
    folder = f"{STATE_PREFIX}doctor-{probe.token}/"
    inside, outside = f"{folder}inside.txt", f"{folder.rstrip('/')}-outside.txt"
    probe.written.update((inside, outside))
    try:
        post = probe.client.generate_presigned_post(
            Bucket=probe.config.bucket,
            Key=folder + "${filename}",
            Conditions=[["content-length-range", 1, POST_LIMIT]],
            ExpiresIn=300,
        )
        statuses = [_post(post, key, probe.body) for key in (inside, outside)]
        stored = [probe.exists(key) for key in (inside, outside)]
    except requests.RequestException as exc:
        report.add("presigned POST", FAIL, f"{type(exc).__name__} posting to the bucket")
        return
    except (*S3_ERRORS, StoreError) as exc:
        detail = error_detail(exc) if isinstance(exc, S3_ERRORS) else str(exc)
        report.add("presigned POST", FAIL, detail)
        return
    (in_status, out_status), (in_stored, out_stored) = statuses, stored
    if out_stored or out_status < 300:
        report.add(
            "presigned POST",
            FAIL,
            f"an upload OUTSIDE {folder} was accepted (HTTP {out_status}): this endpoint does "
            "not enforce POST policies, so signer credentials would not confine uploads",
        )
    elif not in_stored or in_status >= 300:
        report.add(
            "presigned POST",
            FAIL,
            f"an upload inside {folder} was refused (HTTP {in_status}): presigned POST does "
            "not work with this endpoint and key",
        )
    else:
        report.add(
            "presigned POST",
            OK,
            f"upload inside {folder} accepted (HTTP {in_status}), "
            f"outside refused (HTTP {out_status})",
        )


def _post(post: dict[str, Any], key: str, body: bytes) -> int:
    fields = {**post["fields"], "key": key}
    response = requests.post(
        post["url"], data=fields, files={"file": ("probe.txt", body)}, timeout=TIMEOUT
    )
    return response.status_code


def _cors(probe: Probe, report: Report) -> None:
    """Only browsers need CORS (a page on another site reading index.json): a warning."""
    try:
        rules = probe.client.get_bucket_cors(Bucket=probe.config.bucket)["CORSRules"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchCORSConfiguration":
            report.add(
                "CORS",
                WARN,
                "no CORS rules: web pages on other sites cannot fetch the published files "
                "(programs, the CDN and index.html are not affected)",
            )
        else:
            report.add("CORS", WARN, f"cannot read the CORS rules: {error_detail(exc)}")
        return
    except BotoCoreError as exc:
        report.add("CORS", WARN, f"cannot read the CORS rules: {error_detail(exc)}")
        return
    origins = sorted(
        {
            o
            for rule in rules
            if "GET" in rule.get("AllowedMethods", ())
            for o in rule.get("AllowedOrigins", ())
        }
    )
    if origins:
        report.add("CORS", OK, f"GET allowed from {', '.join(origins)}")
    else:
        report.add("CORS", WARN, f"{len(rules)} CORS rules, none allows GET")


STEPS: tuple[Callable[[Probe, Report], None], ...] = (
    _write_list_read,
    _plain_uploads,
    _public_read,
    _private_state,
    _presigned_post,
    _cors,
)
