"""Start-up: `mscli --version`, `mscli --help`, `mscli chat --help` beside bare references.

Run: python benchmarks/startup_bench.py [--runs N]. Each command is a fresh process; median, p90 and
min of N runs after a warm-up, interleaved (one run of each command per round) so that the load of
a shared machine falls on every row alike. Goals (issue 10): `mscli --help` within 1.1x and
`mscli chat --help` within 1.3x of a bare three-line Typer app's `--help`; `mscli --version` under
`python -c "import typer, rich"`. Results go in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The reference: the smallest Typer app, with the same Typer and Rich as mscli.
BARE_TYPER_APP = """\
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None: print(name)
app()
"""


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    py = sys.executable
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    # An installed wheel has its bytecode compiled; an editable install under
    # PYTHONDONTWRITEBYTECODE=1 would compile mscli's modules on every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_typer.py"
        bare.write_text(BARE_TYPER_APP)
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import typer, rich'": [py, "-c", "import typer, rich"],
            "bare Typer app --help": [py, str(bare), "--help"],
            "mscli --version": [py, "-m", "mscli", "--version"],
            "mscli --help": [py, "-m", "mscli", "--help"],
            "mscli chat --help": [py, "-m", "mscli", "chat", "--help"],
        }
        for argv in cases.values():  # warm the page cache (and the bytecode cache, if kept)
            run_once(argv, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, argv in cases.items():
                times[name].append(run_once(argv, env))
    ref = statistics.median(times["bare Typer app --help"])
    print(f"{'command':<32} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'vs bare':>8}")
    for name, t in times.items():
        t = sorted(t)
        p90 = t[max(0, int(len(t) * 0.9) - 1)]
        med = statistics.median(t)
        print(f"{name:<32} {med:>10.1f} {p90:>8.1f} {t[0]:>8.1f} {med / ref:>7.2f}x")


if __name__ == "__main__":
    main()
