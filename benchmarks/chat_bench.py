"""Chat benchmarks, loopback only, every process's figures from its own rusage:

    python benchmarks/chat_bench.py               # several minutes
    python benchmarks/chat_bench.py --quick       # fewer repetitions
    python benchmarks/chat_bench.py --only pipe   # one part: pipe, render or tty

(a) A reply of 1 (start-up), 5,000 and 50,000 tokens streamed and piped to a file. The sandbox runs
in its own process (`python -m mscli sandbox serve --port 0 --quiet`), unpaced. mscli runs as users
run it (`python -m mscli chat ... > file`, a fresh process each time: start-up, the model check and
the history write included) beside the bare reference, a minimal httpx script that streams the same
reply and flushes per piece of text (`BARE_HTTPX_LOOP`), and `curl -sN` (raw SSE), interleaved run
by run. Medians of wall time, user and system CPU and peak RSS. mscli's file must equal the bare
loop's byte for byte, and the text of curl's SSE stream. Goal: mscli within 1.3x of the bare loop.

(b) `MarkdownView` alone renders into a Rich Console on a real pseudo-terminal (`pty.openpty()`,
100x40 set with TIOCSWINSZ; `force_terminal=True`, so the live tail region is active and refreshed
by its own thread at 12 Hz; a thread drains the master end as a terminal would), the null device
beside it. The replies are the sandbox's markdown (headings, paragraphs, lists, fenced code,
quotes), fed one token per call.

(c) The whole `mscli chat` process with its stdout on a 100x40 pseudo-terminal (markdown view, live
tail), at 150, 2,000, 20,000 and 50,000 tokens; the cost per token at n is the median wall time
minus that of the 150-token run (start-up and the one-off costs of rendering: imports of markdown-it
and a pygments lexer, starting the live region), divided by n - 150. Goal: at most 60 us per token at 20,000, and 50,000 within 1.2x
of 2,000.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

MODEL = "claude-haiku-4-5"
PROMPT = "Benchmark the chat stream, please."


def start_server() -> tuple[subprocess.Popen[str], str, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mscli",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--quiet",
            "--rpm",
            "100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    banner = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "Press Ctrl-C" not in banner:
        line = proc.stdout.readline()
        if not line:
            break
        banner += line
    url = re.search(r"listening on (http://\S+/v1)", banner)
    key = re.search(r"Test key: (sk_test_\w+)", banner)
    if not (url and key):
        proc.kill()
        raise SystemExit(f"sandbox did not start: {banner!r}")
    urlsplit(url.group(1))
    return proc, url.group(1), key.group(1)


def sse_text(raw: bytes) -> str:
    """The reply text carried by an SSE chat stream (what mscli must write)."""
    out: list[str] = []
    for line in raw.decode("utf-8").splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data or data == "[DONE]":
            continue
        chunk = json.loads(data)
        for choice in chunk.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                out.append(piece)
    return "".join(out)


#: The reference for (a): the smallest httpx client that streams the same reply and, as mscli
#: must, writes and flushes each piece of text as it arrives.
BARE_HTTPX_LOOP = """\
import json, sys, httpx
url, key, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = sys.stdout
with httpx.stream("POST", url, json=body, headers={"Authorization": "Bearer " + key}) as r:
    for line in r.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for c in json.loads(line[6:]).get("choices") or []:
                t = (c.get("delta") or {}).get("content")
                if t:
                    out.write(t)
                    out.flush()
"""


@dataclass
class Run:
    """One process: wall seconds, CPU seconds (user, sys) and peak resident memory (MiB)."""

    wall: float
    user: float
    sys: float
    rss_mib: float


def run_process(
    argv: list[str],
    env: dict[str, str],
    stdout: int | IO[bytes],
    stdin: int = subprocess.DEVNULL,
) -> Run:
    """Run `argv` to the end, its own rusage from wait4 (so nothing else is counted)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, stdin=stdin, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}): {err[-500:]!r}")
    return Run(wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024)


def timed(argv: list[str], env: dict[str, str], out_path: Path) -> Run:
    with open(out_path, "wb") as fh:
        return run_process(argv, env, fh)


def bench_env(tmp: Path, key: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MODELSTACK_API_KEY": key,
        "MSCLI_DATA_DIR": str(tmp / "data"),
        "MSCLI_CONFIG_DIR": str(tmp / "config"),
        "MSCLI_CACHE_DIR": str(tmp / "cache"),
        "NO_COLOR": "1",
    }
    # An installed wheel has its bytecode compiled; an editable install under
    # PYTHONDONTWRITEBYTECODE=1 would compile mscli on every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def mscli_argv(base_url: str, tokens: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mscli",
        "--base-url",
        base_url,
        "chat",
        "-m",
        MODEL,
        "--max-tokens",
        str(tokens),
        PROMPT,
    ]


def request_body(tokens: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def bench_pipe(runs: int, sizes: list[int], baseline: str | None = None) -> list[dict[str, object]]:
    """(a) mscli, the bare httpx loop and curl, interleaved, at each size; same server. With
    `baseline` (another checkout's src folder), that mscli too, in the same rounds."""
    proc, base_url, key = start_server()
    tmp = Path(tempfile.mkdtemp(prefix="mscli-chat-bench-"))
    env = bench_env(tmp, key)
    bare = tmp / "bare_httpx.py"
    bare.write_text(BARE_HTTPX_LOOP)
    curl = shutil.which("curl")
    results: list[dict[str, object]] = []
    try:
        for tokens in sizes:
            body = json.dumps(request_body(tokens))
            cases: dict[str, list[str]] = {
                "mscli": mscli_argv(base_url, tokens),
                "bare": [sys.executable, str(bare), base_url + "/chat/completions", key, body],
            }
            if baseline:  # the other checkout's package first on the path (bytecode cached)
                cases["baseline"] = [
                    "env",
                    f"PYTHONPATH={baseline}",
                    *mscli_argv(base_url, tokens),
                ]
            if curl:
                cases["curl"] = [
                    curl,
                    "-sN",
                    "--fail",
                    "-H",
                    f"Authorization: Bearer {key}",
                    "-H",
                    "Content-Type: application/json",
                    "-d",
                    body,
                    base_url + "/chat/completions",
                ]
            for name, argv in cases.items():  # warm-up: page cache, bytecode, model cache
                timed(argv, env, tmp / f"{name}.txt")
            figures: dict[str, list[Run]] = {name: [] for name in cases}
            for _ in range(runs):
                for name, argv in cases.items():
                    figures[name].append(timed(argv, env, tmp / f"{name}.txt"))
            mscli_bytes = (tmp / "mscli.txt").read_bytes()
            row: dict[str, object] = {
                "tokens": tokens,
                "runs": runs,
                "bytes": len(mscli_bytes),
                "identical_to_bare": mscli_bytes == (tmp / "bare.txt").read_bytes(),
                **{name: [asdict(r) for r in rs] for name, rs in figures.items()},
            }
            if baseline:
                row["baseline_identical"] = (tmp / "baseline.txt").read_bytes() == mscli_bytes
            if curl:
                row["identical_to_curl"] = (
                    sse_text((tmp / "curl.txt").read_bytes()).encode() == mscli_bytes
                )
            results.append(row)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def bench_tty(runs: int, sizes: list[int]) -> list[dict[str, float]]:
    """(c) The whole process rendering on a pseudo-terminal: `mscli chat` with its stdout on the
    slave end of a 100x40 pty (so the markdown view and its live tail are on), a thread draining
    the master end. Per token: (median wall at n - median wall at BASE_TOKENS) / (n - BASE_TOKENS):
    the base run carries what every rendered reply pays once (start-up, importing markdown-it and
    the pygments lexer for the first code block, starting the live region), so what is left is
    the cost per token; CPU likewise from the process's own rusage."""
    import fcntl
    import pty
    import struct
    import termios

    proc, base_url, key = start_server()
    tmp = Path(tempfile.mkdtemp(prefix="mscli-tty-bench-"))
    env = {**bench_env(tmp, key), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
    env.pop("NO_COLOR", None)
    rows: list[dict[str, float]] = []
    try:
        all_sizes = [BASE_TOKENS, *sizes]
        medians: dict[int, tuple[float, float]] = {}
        for n in all_sizes:
            walls: list[float] = []
            cpus: list[float] = []
            for i in range(runs + 1):
                master, slave = pty.openpty()
                fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
                drained = [0]
                reader = threading.Thread(target=drain_fd, args=(master, drained), daemon=True)
                reader.start()
                try:
                    r = run_process(mscli_argv(base_url, n), env, slave)
                finally:
                    os.close(slave)
                    reader.join(timeout=10)
                    os.close(master)
                if i:  # the first run of each size is a warm-up
                    walls.append(r.wall)
                    cpus.append(r.user + r.sys)
            medians[n] = (statistics.median(walls), statistics.median(cpus))
        base_wall, base_cpu = medians[BASE_TOKENS]
        for n in sizes:
            wall, cpu = medians[n]
            rows.append(
                {
                    "tokens": n,
                    "wall_s": wall,
                    "startup_s": base_wall,
                    "us_per_token": (wall - base_wall) / (n - BASE_TOKENS) * 1e6,
                    "cpu_us_per_token": (cpu - base_cpu) / (n - BASE_TOKENS) * 1e6,
                    "whole_us_per_token": wall / n * 1e6,
                }
            )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


#: The reply every (c) figure is taken relative to: one full cycle of the sandbox's markdown
#: (heading, paragraph, list, fenced code, numbered list, quote), so one of each element is rendered.
BASE_TOKENS = 150


def drain_fd(master: int, drained: list[int]) -> None:
    """Read a pty's master end until the slave side is closed, as a terminal would."""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: every slave descriptor is closed
            return
        if not chunk:
            return
        drained[0] += len(chunk)


def exchange_times(db: Path, n: int) -> tuple[list[float], list[float]]:
    """mscli's own timings of the last n exchanges (request sent -> last byte, -> first token)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT total_ms, first_token_ms FROM exchanges ORDER BY id DESC LIMIT ?", (n,)
        ).fetchall()
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows]


def reply_tokens(n: int) -> list[str]:
    import itertools

    from mscli.sandbox.generator import iter_tokens

    return list(itertools.islice(iter_tokens([{"role": "user", "content": PROMPT}], 0), n))


@contextmanager
def pty_file(cols: int, rows: int) -> Iterator[tuple[IO[str], list[int]]]:
    """A text file on the slave end of a new pseudo-terminal (size set), and a thread draining the
    master end like a terminal; yields the file and a one-item list counting the bytes drained."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    drained = [0]
    stop = threading.Event()

    def drain() -> None:
        while True:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if stop.is_set():
                    return
                continue
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            drained[0] += len(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    fh = os.fdopen(slave, "w", encoding="utf-8", closefd=True)
    try:
        yield fh, drained
    finally:
        fh.flush()
        stop.set()
        reader.join(timeout=5)
        fh.close()
        os.close(master)


def render_once(file: IO[str], tokens: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to stream `tokens` through a live MarkdownView into `file`."""
    from rich.console import Console

    from mscli.output.chat_view import MarkdownView

    gc.collect()
    console = Console(
        file=file,
        force_terminal=True,
        width=100,
        height=40,
        color_system="truecolor",
    )
    view = MarkdownView(console, live=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for tok in tokens:
        view.feed(tok)
    view.close()
    return time.perf_counter() - t0, time.process_time() - c0


def bench_render(sizes: list[int], repeats: int) -> list[dict[str, float]]:
    rows = []
    with open(os.devnull, "w", encoding="utf-8") as null, pty_file(100, 40) as (tty, drained):
        render_once(
            tty, reply_tokens(300)
        )  # imports (markdown-it, pygments lexers) out of the figures
        replies = {n: reply_tokens(n) for n in sizes}  # generated before any timing
        for n in sizes:
            tokens = replies[n]
            best = cpu_best = null_best = float("inf")
            written = 0
            for _ in range(repeats):
                before = drained[0]
                wall, cpu = render_once(tty, tokens)
                best, cpu_best = min(best, wall), min(cpu_best, cpu)
                time.sleep(0.2)  # let the reader catch up before counting
                written = drained[0] - before
                null_best = min(null_best, render_once(null, tokens)[0])
            chars = sum(len(t) for t in tokens)
            rows.append(
                {
                    "tokens": n,
                    "chars": chars,
                    "seconds": best,
                    "us_per_token": best / n * 1e6,
                    "cpu_us_per_token": cpu_best / n * 1e6,
                    "terminal_bytes": written,
                    "null_us_per_token": null_best / n * 1e6,
                }
            )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true", help="raw figures as JSON")
    ap.add_argument("--only", choices=["pipe", "render", "tty"], help="one part only")
    ap.add_argument("--runs", type=int, help="(a): rounds per size (default 7, --quick 3)")
    ap.add_argument(
        "--baseline",
        metavar="SRC",
        help="(a): also run the mscli of another checkout's src folder, in the same rounds",
    )
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    parts = [args.only] if args.only else ["pipe", "render", "tty"]
    figures: dict[str, object] = {}
    if "pipe" in parts:
        figures["pipe"] = bench_pipe(runs, [1, 5000, 50000], args.baseline)
    if "render" in parts:
        figures["render"] = bench_render([2000, 20000, 50000], 1 if args.quick else 3)
    if "tty" in parts:
        figures["tty"] = bench_tty(3 if args.quick else 11, [2000, 20000, 50000])
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    ok = True
    if "pipe" in figures:
        ok &= print_pipe(figures["pipe"])  # type: ignore[arg-type]
    if "render" in figures:
        ok &= print_render(figures["render"])  # type: ignore[arg-type]
    if "tty" in figures:
        ok &= print_tty(figures["tty"])  # type: ignore[arg-type]
    return 0 if ok else 1


def med(runs: object, key: str) -> float:
    assert isinstance(runs, list)
    return statistics.median(r[key] for r in runs)


def cpu(runs: object) -> float:
    """Median user + system CPU seconds of the runs."""
    assert isinstance(runs, list)
    return statistics.median(r["user"] + r["sys"] for r in runs)


def print_pipe(rows: list[dict[str, object]]) -> bool:
    print(
        "\n(a) reply streamed and piped to a file; medians; goal: mscli within 1.3x of bare httpx"
    )
    ok = True
    for row in rows:
        m_wall, b_wall = med(row["mscli"], "wall"), med(row["bare"], "wall")
        ratio = m_wall / b_wall
        ok &= ratio <= 1.3 and bool(row["identical_to_bare"])
        print(
            f"  {row['tokens']:>6} tokens, {row['bytes']} bytes, {row['runs']} runs: "
            f"mscli {m_wall * 1000:7.1f} ms (user {med(row['mscli'], 'user') * 1000:6.1f}, "
            f"sys {med(row['mscli'], 'sys') * 1000:6.1f}, peak {med(row['mscli'], 'rss_mib'):5.1f} MiB)"
            f"  bare httpx {b_wall * 1000:7.1f} ms (user {med(row['bare'], 'user') * 1000:6.1f}, "
            f"sys {med(row['bare'], 'sys') * 1000:6.1f}, peak {med(row['bare'], 'rss_mib'):5.1f} MiB)"
            f"  x{ratio:.2f} (CPU x{cpu(row['mscli']) / cpu(row['bare']):.2f})"
            + (f"  curl {med(row['curl'], 'wall') * 1000:6.1f} ms" if "curl" in row else "")
            + f"  identical: bare {row['identical_to_bare']}"
            + (f", curl {row['identical_to_curl']}" if "identical_to_curl" in row else "")
        )
        if "baseline" in row:
            b_cpu = cpu(row["bare"])
            print(
                f"  {'':>6}  baseline mscli ({row['tokens']} tokens): "
                f"{med(row['baseline'], 'wall') * 1000:7.1f} ms, "
                f"x{med(row['baseline'], 'wall') / b_wall:.2f} of bare "
                f"(CPU x{cpu(row['baseline']) / b_cpu:.2f}); identical to mscli: "
                f"{row['baseline_identical']}"
            )
    return ok


def print_render(render: list[dict[str, float]]) -> bool:
    print(
        "\n(b) MarkdownView alone on a pseudo-terminal 100x40 (live tail on), one token per feed();"
        " null device beside it"
    )
    base = render[0]["us_per_token"]
    for r in render:
        print(
            f"  {r['tokens']:>6} tokens  {r['chars']:>7} chars  {r['seconds']:7.3f} s  "
            f"{r['us_per_token']:6.1f} us/token (cpu {r['cpu_us_per_token']:5.1f})  "
            f"x{r['us_per_token'] / base:.2f}  {r['terminal_bytes']:>9} bytes to the terminal  "
            f"null device {r['null_us_per_token']:5.1f} us/token"
        )
    return True


def print_tty(rows: list[dict[str, float]]) -> bool:
    print(
        "\n(c) whole `mscli chat` process on a pseudo-terminal 100x40; per token = (median wall at n"
        f" - at {BASE_TOKENS} tokens) / (n - {BASE_TOKENS}); goal <= 60 us at 20k, 50k within 1.2x"
        " of 2k"
    )
    base = rows[0]["us_per_token"]
    at_20k = next((r["us_per_token"] for r in rows if r["tokens"] == 20000), float("nan"))
    for r in rows:
        print(
            f"  {int(r['tokens']):>6} tokens  wall {r['wall_s']:6.3f} s ({BASE_TOKENS} tokens {r['startup_s']:5.3f} s)"
            f"  {r['us_per_token']:6.1f} us/token (cpu {r['cpu_us_per_token']:5.1f})"
            f"  whole run / n {r['whole_us_per_token']:6.1f}  x{r['us_per_token'] / base:.2f}"
        )
    ratio = rows[-1]["us_per_token"] / base
    return at_20k <= 60 and ratio <= 1.2


if __name__ == "__main__":
    sys.exit(main())
