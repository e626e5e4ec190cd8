"""`mscli history show ID` on a conversation whose stored prompt is large (issue 11 item 6: a 10 MB
prompt took 22 s to show), beside a bare reference that reads the same row with sqlite3 and writes
it out, and beside `history show --json` (the whole text, no rendering).

Run: python benchmarks/history_bench.py [--runs N] [--before SRC]. Two prompt sizes: 1 MiB and
10 MiB (a history written before the input limits existed may hold one). Each command is a fresh
process, stdout to /dev/null; median and min of N runs after a warm-up, interleaved. `--before SRC`
adds a row for another checkout's `src` (e.g. main before this change, `PYTHONPATH=SRC`).
Results go in benchmarks/README.md.
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

#: The reference: the stored prompt read with sqlite3 and written out as it is.
BARE_READ = """\
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
for (prompt,) in conn.execute("SELECT prompt FROM exchanges ORDER BY id"):
    sys.stdout.write(prompt)
"""

SIZES = (1024 * 1024, 10 * 1024 * 1024)


def _store(data_dir: Path, size: int) -> Path:
    """A history with one conversation whose one prompt is `size` characters of prose."""
    from mscli.history import Exchange, HistoryStore
    from mscli.paths import Paths

    path = Paths.from_env({**os.environ, "MSCLI_DATA_DIR": str(data_dir)}).history
    words = ("lorem ipsum dolor sit amet consectetur adipiscing elit " * (size // 56 + 1))[:size]
    with HistoryStore.open(path) as store:
        cid = store.new_conversation("big", model="m", system=None, base_url="sandbox")
        store.add_exchange(cid, Exchange(prompt=words, reply="A short reply.", model="m"))
    return path


def _once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--before", help="another checkout's src directory, for a 'before' row")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs each")
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            data = Path(tmp) / f"data-{size}"
            db = _store(data, size)
            env = {**os.environ, "MSCLI_DATA_DIR": str(data), "COLUMNS": "100", "NO_COLOR": "1"}
            mscli = [sys.executable, "-m", "mscli", "history", "show", "1"]
            rows: dict[str, tuple[list[str], dict[str, str]]] = {
                "bare sqlite3 read": ([sys.executable, "-c", BARE_READ, str(db)], env),
                "mscli history show": (mscli, env),
                "mscli history show --json": ([*mscli, "--json"], env),
            }
            if args.before:
                rows["before: history show"] = (mscli, {**env, "PYTHONPATH": args.before})
            times: dict[str, list[float]] = {name: [] for name in rows}
            for argv, e in rows.values():
                _once(argv, e)  # warm-up
            for _ in range(args.runs):
                for name, (argv, e) in rows.items():
                    times[name].append(_once(argv, e))
            bare = statistics.median(times["bare sqlite3 read"])
            print(f"\nprompt of {size // (1024 * 1024)} MiB")
            for name, ts in times.items():
                med = statistics.median(ts)
                print(f"  {name:28} median {med:9.0f} ms  min {min(ts):9.0f} ms  ×{med / bare:.2f}")


if __name__ == "__main__":
    main()
