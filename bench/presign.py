"""`python -m bench.presign [--short] [--out DIR]`: presigned GET URLs, 1,000 keys at a time.

`/get-file-presigned-urls` answers up to 1,000 presigned GETs in one request, and a sync
gunicorn worker is held for all of it: a validator at its quota could tie up the workers.
This benchmark times, in process and in alternating rounds (so a machine whose speed drifts
moves every figure alike), three ways to the same 1,000 URLs of a miner's keys:
`signer.credentials.presigned_get` (what the signer runs), botocore's own
`generate_presigned_url("get_object")` (the reference), and the whole request, a signed
`POST /get-file-presigned-urls` to the app through Flask's test client. The client is the
signer's (`make_client`) for a DigitalOcean Spaces endpoint; nothing is sent to it.
Target: the signer's URLs at most half of botocore's time each.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from unittest import mock

from bench.common import Options, machine_line, options, record
from signer import create_app, credentials

from servers import signer_client
from servers.fake_chain import DEMO_METAGRAPH

NAME = "presign"
FULL = {"keys": 1000, "rounds": 15}
SHORT = {"keys": 50, "rounds": 2}
TARGETS = {"maxRatioToBotocore": 0.5}
TTL = 3600
# The time botocore signs at while the signer's URLs are compared with its own.
SIGNED_AT = datetime(2026, 11, 25, 17, 0, 0)
ENV = {
    "SIGNER_METAGRAPH": str(DEMO_METAGRAPH),
    "SIGNER_METAGRAPH_REFRESH": "0",
    "SIGNER_METAGRAPH_MAX_AGE": "0",
    "SIGNER_LIST_URL_TTL": str(TTL),
    "S3_ENDPOINT_URL": "https://nyc3.digitaloceanspaces.com",
    "S3_REGION": "nyc3",
    "S3_BUCKET": "bench-presign",
    "S3_ACCESS_KEY_ID": "AKIABENCHPRESIGN",
    "S3_SECRET_ACCESS_KEY": "bench-presign-secret",
}


def miner_keys(count: int) -> list[str]:
    """Keys as a miner uploads them: its folder, this epoch, one job per 10 files."""
    folder = f"data/hotkey={signer_client.address('//Bob')}/epoch={signer_client.EPOCH}/"
    return [f"{folder}job_id=job-{n // 10:04d}/{10000 + n}.parquet" for n in range(count)]


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def figures(batches_ms: list[float], keys: int) -> dict[str, float]:
    median = statistics.median(batches_ms)
    return {
        "batchMsMedian": round(median, 2),
        "batchMsMin": round(min(batches_ms), 2),
        "batchMsMax": round(max(batches_ms), 2),
        "usPerUrl": round(median * 1000 / keys, 1),
    }


def run(opts: Options) -> dict[str, Any]:
    shape = SHORT if opts.short else FULL
    keys = miner_keys(shape["keys"])
    logging.getLogger("signer.access").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-presign-") as published:
        app = create_app({**ENV, "SIGNER_PUBLISHED": published})
        svc = app.extensions["signer"]
        s3, bucket = svc.bucket()
        web = app.test_client()

        def signer_urls() -> list[str]:
            return [credentials.presigned_get(s3, bucket, key, TTL) for key in keys]

        def botocore_urls() -> list[str]:
            return [
                s3.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=TTL
                )
                for key in keys
            ]

        def request() -> None:
            body = signer_client.miner_files(keys=keys, timestamp=int(time.time()))
            response = web.post("/get-file-presigned-urls", json=body)
            answer = response.get_json()
            if response.status_code != 200 or len(answer["file_urls"]) != len(keys):
                raise RuntimeError(f"the request got {response.status_code}: {answer}")

        with mock.patch("botocore.auth.get_current_datetime", return_value=SIGNED_AT):
            same_urls = signer_urls() == botocore_urls()
        timings: dict[str, list[float]] = {"signer": [], "botocore": [], "request": []}
        for _ in range(shape["rounds"]):
            timings["signer"].append(timed(signer_urls))
            timings["botocore"].append(timed(botocore_urls))
            timings["request"].append(timed(request))
    results = {name: figures(batches, len(keys)) for name, batches in timings.items()}
    ratio = results["signer"]["batchMsMedian"] / results["botocore"]["batchMsMedian"]
    document_figures = {
        "keys": len(keys),
        "rounds": shape["rounds"],
        "endpoint": ENV["S3_ENDPOINT_URL"],
        "addressingStyle": svc.settings.s3_addressing_style,
        **results,
        "ratioToBotocore": round(ratio, 3),
        "sameUrlsAsBotocore": same_urls,
        "targets": TARGETS,
        "meetsTargets": ratio <= TARGETS["maxRatioToBotocore"],
    }
    return record(opts, NAME, document_figures, markdown)


def markdown(document: dict[str, Any]) -> str:
    keys = document["keys"]
    rows = [
        ("`signer.credentials.presigned_get`, once per key", document["signer"]),
        ('botocore\'s `generate_presigned_url("get_object")`, once per key', document["botocore"]),
        (f"`POST /get-file-presigned-urls`, {keys:,} keys, in process", document["request"]),
    ]
    lines = [
        "### Signer: presigned GET URLs for `/get-file-presigned-urls`",
        "",
        machine_line(document),
        "",
        f"{keys:,} keys of a miner's folder, presigned for {document['endpoint']} "
        f"({document['addressingStyle']}-style) by the signer's client, in "
        f"{document['rounds']} alternating rounds; median (min-max) ms per {keys:,} URLs. "
        "The signer's URLs are byte for byte botocore's (its clock pinned): "
        f"{'yes' if document['sameUrlsAsBotocore'] else 'NO'}.",
        "",
        f"| work | ms per {keys:,} (median) | min | max | us per URL |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {r['batchMsMedian']} | {r['batchMsMin']} | {r['batchMsMax']} | "
        f"{r['usPerUrl']} |"
        for label, r in rows
    ]
    lines += [
        "",
        f"The signer's presigning takes **{document['ratioToBotocore']:.0%}** of botocore's "
        f"time (target <= {document['targets']['maxRatioToBotocore']:.0%}): "
        f"{'meets' if document['meetsTargets'] else 'MISSES'} the target.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    run(options(__doc__.splitlines()[0], argv))


if __name__ == "__main__":
    main()
