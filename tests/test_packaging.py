"""The distribution as users install it: a built wheel in a fresh virtual environment.

A miner installs the base distribution (the client kit) and nothing of the operator's
stack. pip resolves dependencies from the configured index (or its cache), with the built
wheel offered through --find-links.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

OPERATOR_ONLY = ("pandas", "boto3", "botocore", "flask", "jinja2", "numpy", "click")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built the way `pip install .` builds it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("subnet46_epochs-*.whl")
    return built


def fresh_venv(where: Path) -> Path:
    """A new virtual environment without system packages; returns its python."""
    venv.create(where, with_pip=True, clear=True)
    return where / "bin" / "python"


def pip_install(python: Path, *requirements: str, find_links: Path) -> None:
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--find-links",
            str(find_links),
            *requirements,
        ],
        check=True,
        timeout=900,
    )


def installed(python: Path) -> set[str]:
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {item["name"].lower() for item in json.loads(listing)}


IMPORT_KIT = """
import json, sys
import clientkit
from clientkit import verify, layout, timelock, epochs, drand
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_client_kit_installs_and_imports_alone(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "kit")
    pip_install(python, str(wheel), find_links=wheel.parent)
    packages = installed(python)
    assert {"subnet46-epochs", "requests", "bittensor-core"} <= packages
    assert not packages & {"pandas", "boto3", "flask", "jinja2", "numpy", "bittensor"}
    loaded = json.loads(
        subprocess.run(
            [str(python), "-c", IMPORT_KIT],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        ).stdout
    )
    assert "clientkit" in loaded and "bittensor_core" in loaded
    assert not set(loaded) & {*OPERATOR_ONLY, "planner", "signer"}
