"""The miner and validator examples of docs/clients.md and docs/signer.md run as written, in
the order each page gives them, against a running subnet: the published files served as the
CDN, the signer under gunicorn, SeaweedFS as the data bucket, dev keypairs signing. A
newcomer copies them first; a name the page never defines, or a date that has passed, is
where they stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from docs_catalog import DOCS, fences

from servers.seaweed import S3Endpoint
from servers.signer_gunicorn import signer_requests
from servers.static_http import serve_folder
from servers.subnet import publish_around_now, running_signer

pytestmark = [pytest.mark.s3, pytest.mark.slow]

PAGE = DOCS / "clients.md"
SIGNER_PAGE = DOCS / "signer.md"


@dataclass(frozen=True)
class Subnet:
    cdn: str
    signer: str
    s3: S3Endpoint
    bucket: str
    log: Path

    def requests_of(self, endpoint: str) -> int:
        return signer_requests(self.log, endpoint)


@pytest.fixture(scope="module")
def subnet(tmp_path_factory, s3_server: S3Endpoint, sample) -> Iterator[Subnet]:
    work = tmp_path_factory.mktemp("clients-doc")
    published = work / "published"
    publish_around_now(published, work / "state", sample)
    bucket = s3_server.create_bucket()
    try:
        with (
            serve_folder(published) as cdn,
            running_signer(work, published, s3_server, bucket) as signer,
        ):
            yield Subnet(cdn, signer, s3_server, bucket, work / "gunicorn.log")
    finally:
        s3_server.delete_bucket(bucket)


def example(section: str) -> str:
    """The Python block under the page's `## <section>` heading."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {section}") + 1
    end = next((n for n, line in enumerate(lines[start:], start + 1) if line.startswith("## ")))
    (block,) = (f for f in fences([PAGE]) if f.info == "python" and start < f.line < end)
    return block.text


def run(section: str, namespace: dict) -> None:
    code = compile(example(section), f"{PAGE.name}, {section}", "exec")
    exec(code, namespace)


def test_the_miner_then_the_validator_example_run_as_written(subnet: Subnet, tmp_path: Path):
    # What the page says the reader supplies: the operator's addresses and a miner's scraper.
    namespace: dict = {"CDN": subnet.cdn, "SIGNER": subnet.signer, "scrape": lambda zipcode: []}
    granted = subnet.requests_of("/get-folder-access")
    run("Miner: upload the epoch's files", namespace)
    epoch = f"/epoch={namespace['grant']['epoch_id']}/"
    uploaded = namespace["mine"]
    assert uploaded, "the miner example uploaded nothing"
    assert all(epoch in key for key in uploaded)
    # Its grant and one listing of this epoch, not a request per 1,000 keys of every epoch.
    assert subnet.requests_of("/get-folder-access") - granted == 2
    asked = subnet.requests_of("/get-validator-access")
    run("Validator: list, read, report", namespace)
    bob, *others = namespace["miners"]
    assert others, "the validator example lists one miner: one access serving many goes unseen"
    assert namespace["scores"] == {bob: len(uploaded)} | dict.fromkeys(others, 0)
    assert subnet.requests_of("/get-validator-access") - asked == 1, "one access, every miner"
    report = namespace["key"]
    assert report.startswith(f"validators/{namespace['validator'].hotkey}/epoch=")
    stored = subnet.s3.client().get_object(Bucket=subnet.bucket, Key=report)["Body"].read()
    assert stored == namespace["report_bytes"]


def test_the_signer_pages_examples_run_as_written(
    subnet: Subnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Each Python block of docs/signer.md in turn, the helper's SIGNER pointed at this
    signer; the miner's block uploads the listings.parquet it opens."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "listings.parquet").write_bytes(b"PAR1")
    namespace: dict = {}
    for block in fences([SIGNER_PAGE]):
        if block.info == "python":
            text = block.text.replace('"https://signer.example.com"', repr(subnet.signer))
            exec(compile(text, f"{SIGNER_PAGE.name}:{block.line}", "exec"), namespace)
    assert "error" not in namespace["upload"], namespace["upload"]
    assert namespace["upload"]["folder"].startswith(
        f"validators/{namespace['validator'].ss58_address}/"
    )
    assert namespace["first"] and "listings.parquet" in " ".join(namespace["keys"])
