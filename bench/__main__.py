"""`python -m bench [--short] [--out DIR]`: every benchmark, one after the other.

A full run (no --short, default --out) also rewrites each benchmark's section of
bench/RESULTS.md.
"""

from __future__ import annotations

import sys

from bench import attack, legacy, limiter, miner, planner, presign, signer
from bench.common import options


def main(argv: list[str] | None = None) -> None:
    opts = options(__doc__.splitlines()[0], argv if argv is not None else sys.argv[1:])
    for benchmark in (planner, signer, miner, limiter, legacy, presign, attack):
        benchmark.run(opts)


if __name__ == "__main__":
    main()
