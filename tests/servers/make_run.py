"""`make run` started for real (make, the demo, gunicorn, the static server), on free ports
and temporary folders, and whatever it started killed when the block ends."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from servers.seaweed import free_ports

REPO = Path(__file__).resolve().parents[2]
RUNNING = "Subnet 46 demo is running"
START = 300.0


@dataclass
class Demo:
    make: subprocess.Popen[str]
    signer: str
    cdn: str
    lines: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        assert self.make.stdout is not None
        for line in self.make.stdout:
            self.lines.append(line)
            if RUNNING in line:
                self.started.set()
        self.started.set()


def make_run(
    tmp_path: Path, ports: list[int], settings: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`make run` on `ports`, publishing under `tmp_path`, with `settings` and none of the
    caller's own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PLANNER_", "SIGNER_", "SPACES_", "S3_", "MAKE", "MFLAGS"))
        and k not in ("EPOCH_HOURS", "PORT", "HOST", "CDN_PORT")
    }
    env.update(PLANNER_PUBLISHED=str(tmp_path / "published"), PLANNER_STATE=str(tmp_path / "st"))
    env.update(settings or {})
    return subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={ports[0]}", f"CDN_PORT={ports[1]}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "demo.log").open("w"),
        text=True,
    )


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in children:
            found |= {child} | descendants(child)
    return found


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@contextmanager
def running_demo(tmp_path: Path) -> Iterator[Demo]:
    """`make run` until the block ends; fails unless it says it is running."""
    ports = free_ports(2)
    process = make_run(tmp_path, ports)
    started = Demo(process, f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
    threading.Thread(target=started.read, daemon=True).start()
    try:
        started.started.wait(START)
        if not any(RUNNING in line for line in started.lines):
            log = (tmp_path / "demo.log").read_text()
            raise RuntimeError(f"make run did not start:\n{''.join(started.lines)}{log}")
        yield started
    finally:
        for pid in [*descendants(process.pid), process.pid]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
