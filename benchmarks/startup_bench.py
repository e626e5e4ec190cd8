"""Startup time: `mscli --version`, `mscli --help` and `python -c pass`, median of many runs.

Run: python benchmarks/startup_bench.py [--runs N]. Budget on a 2-core machine: --version under
100 ms, --help under 200 ms. Results go in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def measure(argv: list[str], runs: int) -> list[float]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    py = sys.executable
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "mscli --version": [py, "-m", "mscli", "--version"],
        "mscli --help": [py, "-m", "mscli", "--help"],
    }
    measure(cases["mscli --help"], 3)  # warm the bytecode cache
    print(f"{'command':<18} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}  (runs={args.runs})")
    for name, argv in cases.items():
        t = sorted(measure(argv, args.runs))
        p90 = t[int(len(t) * 0.9) - 1]
        print(f"{name:<18} {statistics.median(t):>10.1f} {p90:>8.1f} {t[0]:>8.1f}")


if __name__ == "__main__":
    main()
