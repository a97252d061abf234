"""``facert bench``'s latency part against this machine's committed baseline (`make bench`).

CI compares the deterministic accuracy part in the default test suite
(tests/runtime/benchmark/test_bench_baseline.py); latency needs a quiet, known machine, so it runs
here: the default matrix's latency cases, compared with ``bench/baselines/<fingerprint>.json`` when
this machine has one (exit 1 on a regression), else only measured, with the command that makes one.

    .venv/bin/python bench/bench_regression.py [--matrix default|full|FILE] [--threads 2]
        [--out DIR]

A new baseline for this machine (both parts, on a quiet machine), then commit the three files:

    .venv/bin/facert --threads 2 bench -o bench/baselines/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facert.benchmark.machine import machine_facts
from facert.cli.main import main as facert
from facert.config import load_settings

BASELINES = Path(__file__).resolve().parent / "baselines"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=load_settings().cache_dir.parent / "facert-bench" / "regression"
    )
    args = parser.parse_args()
    fingerprint = machine_facts(args.threads)["fingerprint"]
    baseline = BASELINES / f"{fingerprint}.json"
    command = ["--threads", str(args.threads), "bench", "--matrix", args.matrix]
    command += ["--part", "latency", "-o", str(args.out / "latency.json")]
    if baseline.is_file():
        print(f"comparing with {baseline.relative_to(BASELINES.parent.parent)}", flush=True)
        command += ["--compare", str(baseline)]
    else:
        print(
            f"no baseline for this machine ({fingerprint}): measuring only; make one with "
            f"`facert --threads {args.threads} bench -o bench/baselines/`",
            flush=True,
        )
    return facert(command)


if __name__ == "__main__":
    sys.exit(main())
