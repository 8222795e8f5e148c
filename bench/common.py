"""What every benchmark shares: options, the machine's description, measured subprocesses.

Benchmarks reuse the loopback services the tests run (tests/servers/: drand relay, static
file server, the Procfile's gunicorn command), so a benchmark measures exactly what the
tests prove correct.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
BIN = Path(sys.executable).parent

sys.path.insert(0, str(ROOT / "tests"))


@dataclass(frozen=True)
class Options:
    short: bool
    out: Path


def options(description: str, argv: Sequence[str] | None = None) -> Options:
    """--short and --out, from `argv` (default: the command line)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--short",
        action="store_true",
        help="a small, quick run that proves the benchmark works (CI); its figures mean little",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help=f"folder for the <name>.json results (default: {OUT.relative_to(ROOT)})",
    )
    args = parser.parse_args(argv)
    return Options(short=args.short, out=args.out)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return 0.0


def machine() -> dict[str, Any]:
    """The facts that make figures comparable; load average shows a machine busy with others."""
    return {
        "nproc": os.cpu_count(),
        "memoryGiB": memory_gib(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
    }


def write_result(opts: Options, name: str, figures: dict[str, Any]) -> Path:
    """`<out>/<name>.json`: the figures, the mode and the machine they were measured on."""
    opts.out.mkdir(parents=True, exist_ok=True)
    path = opts.out / f"{name}.json"
    document = {"benchmark": name, "short": opts.short, "machine": machine(), **figures}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


@dataclass(frozen=True)
class Measured:
    """One command's wall time, CPU time of it and its children, and peak resident memory."""

    wall_s: float
    cpu_s: float
    max_rss_mb: float
    output: str

    def figures(self) -> dict[str, float]:
        return {
            "wallSeconds": round(self.wall_s, 3),
            "cpuSeconds": round(self.cpu_s, 3),
            "peakRssMB": round(self.max_rss_mb, 1),
        }


def measure(command: Sequence[str], env: Mapping[str, str], cwd: Path = ROOT) -> Measured:
    """Run `command` and read its own rusage with wait4 (peak RSS of its largest process).

    Fails with the command's output when it exits non-zero: a benchmark of a failing run
    measures nothing.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{output}")
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        output=output,
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def update_results(opts: Options, name: str, markdown: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md (full runs into bench/out only).

    The section sits between `<!-- name:start -->` and `<!-- name:end -->`; the analysis
    around it is written by hand and kept.
    """
    if opts.short or opts.out.resolve() != OUT.resolve():
        return
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
    else:
        head, tail = text + ("\n" if text else ""), "\n"
    RESULTS.write_text(f"{head}{start}\n{markdown.strip()}\n{end}{tail}")


def record(
    opts: Options, name: str, figures: dict[str, Any], markdown: Callable[[dict[str, Any]], str]
) -> dict[str, Any]:
    """Write the figures (write_result), then print their `markdown` and put it in this
    benchmark's section of bench/RESULTS.md (update_results): the document as written."""
    document: dict[str, Any] = json.loads(write_result(opts, name, figures).read_text())
    text = markdown(document)
    print(text)
    update_results(opts, name, text)
    return document


def machine_line(document: dict[str, Any]) -> str:
    m = document["machine"]
    return (
        f"Measured {m['date']} on {m['nproc']} cores ({m['cpu']}), {m['memoryGiB']} GiB, "
        f"Python {m['python']}; load average at start {m['loadAverage'][0]}."
    )
