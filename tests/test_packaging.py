"""The distribution as users install it: a built wheel in a fresh virtual environment.

A miner installs the base distribution (the client kit) and nothing of the operator's
stack; an operator installs the extras and runs the programs from anywhere, with no
checkout beside them. pip resolves dependencies from the configured index (or its cache),
with the built wheel offered through --find-links.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

OPERATOR_ONLY = ("pandas", "boto3", "botocore", "flask", "jinja2", "numpy", "click")


NOT_SOURCES = shutil.ignore_patterns(
    ".*", "build", "dist", "*.egg-info", "__pycache__", "published", "bench", "tests"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built the way `pip install .` builds it (from a copy of the
    sources, so the build leaves nothing in the checkout)."""
    source = tmp_path_factory.mktemp("source") / "subnet46-epochs"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
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
    for program in ("planner", "signer"):
        ran = subprocess.run(
            [str(python.parent / program), "--help"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=_clean_env(tmp_path),
        )
        assert ran.returncode == 1, ran.stdout + ran.stderr
        assert f"pip install 'subnet46-epochs[{program}]'" in ran.stderr
        assert "Traceback" not in ran.stderr


def _clean_env(home: Path, **settings: str) -> dict[str, str]:
    """No SIGNER_/S3_/PLANNER_ settings of the caller: only these."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **settings}


RUN_SIGNER = """
import json, planner, signer
from signer import create_app
client = create_app().test_client()
pages = {path: client.get(path) for path in ("/", "/docs", "/healthz")}
print(json.dumps({
    "files": [planner.__file__, signer.__file__],
    "status": {path: page.status_code for path, page in pages.items()},
    "landing": pages["/"].get_data(as_text=True),
}))
"""


def test_the_wheel_installed_normally_runs_tick_and_the_signer(wheel: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "ops")
    pip_install(python, f"{wheel}[planner,signer]", find_links=wheel.parent)
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    for name in ("zipcodes.csv", "state_priorities.txt", "metagraph.demo.json"):
        shutil.copy(REPO / "data" / name, work / "data" / name)

    tick = subprocess.run(
        [str(python.parent / "planner"), "tick", "--now", "2026-11-25T17:00:00Z", "--days", "1"],
        cwd=work,
        env=_clean_env(tmp_path, PLANNER_SECRET="packaging-test-secret-0123456789abcdef"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tick.returncode == 0, tick.stderr
    assert "revealed 1 epoch: 2026-11-25T16-00-00" in tick.stdout
    page = (work / "published" / "index.html").read_text(encoding="utf-8")
    assert "2026-11-25T16-00-00" in page

    signer = subprocess.run(
        [str(python), "-c", RUN_SIGNER],
        cwd=work,
        env=_clean_env(
            tmp_path,
            SIGNER_METAGRAPH="data/metagraph.demo.json",
            SIGNER_METAGRAPH_REFRESH="0",
            SIGNER_METAGRAPH_MAX_AGE="0",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert signer.returncode == 0, signer.stderr
    seen = json.loads(signer.stdout.splitlines()[-1])
    venv = str((tmp_path / "ops").resolve())
    assert all(str(Path(f).resolve()).startswith(venv) for f in seen["files"]), seen["files"]
    assert seen["status"] == {"/": 200, "/docs": 200, "/healthz": 200}
    assert "<title>Subnet 46 signer</title>" in seen["landing"]


def test_ctrl_c_while_a_program_starts_ends_without_a_traceback(monkeypatch) -> None:
    """Ctrl-C in the second or so the planner takes to import its libraries, before click
    turns it into `Aborted!`, printed a KeyboardInterrupt traceback from inside botocore."""
    from clientkit import programs

    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(programs.importlib, "import_module", interrupted)
    with pytest.raises(SystemExit) as caught:
        programs.planner()
    assert caught.value.code == "planner: interrupted while starting; nothing was done"
