"""`mscli batch` against the sandbox at 600 RPM with 300 ms of latency per request: does it hold
the pace (goal: at least 95 % of the RPM for 300 prompts) with zero 429s?

    python benchmarks/batch_bench.py               # 100 and 300 prompts: about 90 s
    python benchmarks/batch_bench.py --sizes 300   # the goal's size only: about 65 s

The sandbox runs in its own process (`python -m mscli sandbox serve --port 0 --rpm 600
--latency-ms 300`), logging every request, so 429s are counted by the server. Each run uses a fresh
`sk_test_` key: a fresh account with its own rate window. Side by side, at each size:

- `mscli batch` as a user runs it (a whole process), learning the RPM from the server's
  `x-ratelimit-limit-requests` (no --rpm given);
- a bare reference, also a whole process: this script with `--bare`, stdlib `http.client` on
  8 keep-alive connections, starting request i at exactly t0 + i * 60/RPM (the ideal schedule, no
  checks, no retries, no output file).

Figures: wall time of the process and prompts per minute over it (start-up, mscli's RPM probe
and model check, and the last reply's latency included); prompts per minute over the batch itself
(from the first start to the last reply: mscli's summary `seconds`, the reference's own clock),
which the goal is judged on; the pace held (starts per minute between the first and the last
start); and the server's count of 200s and 429s. Every run has a deadline.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

RPM = 600
LATENCY_MS = 300
MODEL = "claude-haiku-4-5"
MAX_TOKENS = 20
GOAL = 0.95
DEADLINE_MARGIN = 60.0  # seconds beyond the ideal duration before a run is killed


def new_key() -> str:
    return "sk_test_bench" + secrets.token_hex(8)


def start_server(log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mscli", "sandbox", "serve", "--port", "0", "--json",
         "--rpm", str(RPM), "--latency-ms", str(LATENCY_MS)],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the sandbox did not start")
    return proc, json.loads(line)["base_url"]


def server_counts(log: Path, key: str) -> dict[str, int]:
    """Chat requests with this key answered 200 and 429, from the server's log."""
    text = log.read_text(encoding="utf-8", errors="replace")
    mine = [ln for ln in text.splitlines() if f"key={key}" in ln and "chat/completions" in ln]
    return {
        "ok": sum(1 for ln in mine if re.search(r'" 200 ', ln)),
        "429": sum(1 for ln in mine if re.search(r'" 429 ', ln)),
    }


def write_input(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(1, n + 1):
            fh.write(json.dumps({"id": i, "prompt": f"Benchmark question {i}"}) + "\n")


def run_mscli(base_url: str, n: int, tmp: Path) -> dict[str, object]:
    key = new_key()
    source, out = tmp / f"in-{n}.jsonl", tmp / f"out-{n}-{key}.jsonl"
    write_input(source, n)
    env = {**os.environ, "MODELSTACK_API_KEY": key, "MSCLI_DATA_DIR": str(tmp / "data")}
    env.pop("MODELSTACK_BASE_URL", None)
    argv = [sys.executable, "-m", "mscli", "--base-url", base_url, "batch", str(source),
            "-m", MODEL, "--max-tokens", str(MAX_TOKENS), "-o", str(out), "--json"]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=ideal(n) + DEADLINE_MARGIN
    )
    wall = time.perf_counter() - t0
    summary = next(
        json.loads(ln)["summary"] for ln in proc.stderr.splitlines() if ln.startswith('{"summary"')
    )
    lines = out.read_text(encoding="utf-8").splitlines()
    return {
        "key": key,
        "exit": proc.returncode,
        "wall": wall,
        "written": len(lines),
        "ok": sum(1 for ln in lines if json.loads(ln)["error"] is None),
        "pace": summary["achieved_rpm"],
        "batch_s": summary["seconds"],
        "rpm_source": summary["rpm_source"],
        "client_429": summary["rate_limited"],
    }


def run_bare(base_url: str, n: int) -> dict[str, object]:
    key = new_key()
    argv = [sys.executable, __file__, "--bare", base_url, key, str(n)]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=ideal(n) + DEADLINE_MARGIN)
    wall = time.perf_counter() - t0
    doc = json.loads(proc.stdout)
    return {"key": key, "exit": proc.returncode, "wall": wall, **doc}


def ideal(n: int) -> float:
    return (n - 1) * 60.0 / RPM + LATENCY_MS / 1000


def bare(base_url: str, key: str, n: int) -> None:
    """The reference client: request i starts at t0 + i * 60/RPM on one of 8 connections."""
    u = urlsplit(base_url)
    assert u.hostname and u.port
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "Benchmark question"}],
         "max_tokens": MAX_TOKENS}
    ).encode()  # fmt: skip
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    jobs: queue.Queue[float | None] = queue.Queue()
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        while (at := jobs.get()) is not None:
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            conn.request("POST", u.path + "/chat/completions", body, headers)
            resp = conn.getresponse()
            resp.read()
            with lock:
                statuses.append(resp.status)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    for i in range(n):
        jobs.put(t0 + i * 60.0 / RPM)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()
    doc = {"ok": statuses.count(200), "client_429": statuses.count(429)}
    print(json.dumps({**doc, "batch_s": time.perf_counter() - t0}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,300", help="prompt counts, comma-separated")
    ap.add_argument("--bare", nargs=3, metavar=("BASE_URL", "KEY", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare:
        bare(args.bare[0], args.bare[1], int(args.bare[2]))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs; sandbox --rpm {RPM} --latency-ms {LATENCY_MS}"
    )
    failed = False
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        log = tmp / "sandbox.log"
        server, base_url = start_server(log)
        try:
            rows = []
            for n in sizes:
                for name, fn in (("mscli batch", lambda n=n: run_mscli(base_url, n, tmp)),
                                 ("bare reference", lambda n=n: run_bare(base_url, n))):  # fmt: skip
                    r = fn()
                    rows.append((n, name, r))
        finally:
            server.terminate()
            server.wait(timeout=10)
        print(
            "\n| prompts | client | wall s | prompts/min (wall) | batch s (ideal) | prompts/min "
            "(batch) | % of RPM | pace held | OK | 429 (server) | RPM from |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for n, name, r in rows:
            counts = server_counts(log, str(r["key"]))
            wall = float(r["wall"])  # type: ignore[arg-type]
            batch_s = float(r["batch_s"])  # type: ignore[arg-type]
            in_batch = n / batch_s * 60
            pace = r.get("pace")
            pace_s = f"{pace:.1f}" if isinstance(pace, float) else "-"
            print(
                f"| {n} | {name} | {wall:.2f} | {n / wall * 60:.1f} | {batch_s:.2f} "
                f"({ideal(n):.2f}) | {in_batch:.1f} | {100 * in_batch / RPM:.1f} % | {pace_s} | "
                f"{counts['ok']} | {counts['429']} | {r.get('rpm_source', '-')} |"
            )
            if name == "mscli batch":
                ok = r["exit"] == 0 and counts["429"] == 0 and counts["ok"] == n
                if n >= 300 and in_batch < GOAL * RPM:
                    ok = False
                failed = failed or not ok
    print(
        f"\nGoal (300 prompts: >= {GOAL:.0%} of {RPM} RPM, zero 429s): {'FAIL' if failed else 'PASS'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
