"""Chat benchmarks: (a) a 5,000-token streamed reply piped to a file, mscli beside `curl -N`;
(b) the terminal markdown renderer's cost per token for 2,000, 10,000 and 50,000-token replies.

    python benchmarks/chat_bench.py            # about 1 min, loopback only
    python benchmarks/chat_bench.py --quick    # fewer repetitions

(a) The sandbox runs in its own process (`python -m mscli sandbox serve --port 0 --quiet`), unpaced.
mscli runs as users run it (`python -m mscli chat ... > file`, a fresh process each time: start-up,
the model check and the history write included); curl fetches the same stream (`curl -sN`, same
body) into a file. Median and best of N runs. mscli's start-up alone (`mscli --version`) is shown for
context, and the files are compared (mscli's file must equal the text of curl's SSE stream).

(b) `MarkdownView` renders into a Rich Console on a real pseudo-terminal (`pty.openpty()`, 100x40
set on it with TIOCSWINSZ; the Console writes to the slave end wrapped as a file, with
`force_terminal=True`, so the live tail region is active and refreshed by its own thread at 12 Hz;
a thread reads the master end as fast as it can, as a terminal would). The same run into the null
device is shown beside it (the rendering cost without the terminal's write path). The replies are
the sandbox's markdown (headings, paragraphs, lists, fenced code, quotes), fed one token per call.
Pass: cost per token at 50,000 within 1.5x of that at 2,000, on the pseudo-terminal.
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


def timed(argv: list[str], env: dict[str, str], out_path: Path) -> float:
    with open(out_path, "wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.run(
            argv, stdout=fh, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, timeout=120
        )
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-500:]!r}")
    return elapsed


def bench_pipe(runs: int, tokens: int) -> dict[str, object]:
    proc, base_url, key = start_server()
    tmp = Path(tempfile.mkdtemp(prefix="mscli-chat-bench-"))
    env = {
        **os.environ,
        "MODELSTACK_API_KEY": key,
        "MSCLI_DATA_DIR": str(tmp / "data"),
        "MSCLI_CONFIG_DIR": str(tmp / "config"),
        "MSCLI_CACHE_DIR": str(tmp / "cache"),
        "NO_COLOR": "1",
    }
    result: dict[str, object] = {"tokens": tokens, "runs": runs}
    try:
        mscli = [
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
        version = [sys.executable, "-m", "mscli", "--version"]
        timed(mscli, env, tmp / "warm.txt")  # warm the page cache and the model cache
        m_times = [timed(mscli, env, tmp / "mscli.txt") for _ in range(runs)]
        v_times = [timed(version, env, tmp / "version.txt") for _ in range(runs)]
        nolog = [
            timed([*mscli[:5], "chat", "--no-log", *mscli[6:]], env, tmp / "nolog.txt")
            for _ in range(runs)
        ]
        result["mscli"] = m_times
        result["send_ms"], result["first_token_ms"] = exchange_times(
            tmp / "data" / "history.sqlite3", runs
        )
        result["mscli_no_log"] = nolog
        result["startup"] = v_times
        result["bytes"] = (tmp / "mscli.txt").stat().st_size
        curl = shutil.which("curl")
        if curl:
            body = json.dumps(
                {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": PROMPT}],
                    "max_tokens": tokens,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                }
            )
            argv = [
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
            timed(argv, env, tmp / "curl-warm.txt")
            c_times = [timed(argv, env, tmp / "curl.txt") for _ in range(runs)]
            result["curl"] = c_times
            same = (
                sse_text((tmp / "curl.txt").read_bytes()).encode()
                == (tmp / "mscli.txt").read_bytes()
            )
            result["identical_text"] = same
        else:
            result["curl"] = None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return result


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
    args = ap.parse_args()
    runs = 3 if args.quick else 7
    pipe = bench_pipe(runs, 5000)
    render = bench_render([2000, 10000, 50000], 1 if args.quick else 3)
    if args.json:
        print(json.dumps({"pipe": pipe, "render": render}, indent=2))
        return 0
    print(
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}, {os.cpu_count()} CPUs"
    )
    print(
        f"\n(a) {pipe['tokens']} tokens streamed, piped to a file ({pipe['bytes']} bytes), {runs} runs"
    )

    def fmt(times: object) -> str:
        assert isinstance(times, list)
        return (
            f"median {statistics.median(times) * 1000:7.1f} ms   best {min(times) * 1000:7.1f} ms"
        )

    print(f"  mscli chat          {fmt(pipe['mscli'])}")
    print(f"  mscli chat --no-log {fmt(pipe['mscli_no_log'])}")
    print(f"  mscli --version     {fmt(pipe['startup'])}   (start-up alone)")
    send, first = pipe["send_ms"], pipe["first_token_ms"]
    assert isinstance(send, list) and isinstance(first, list)
    print(
        f"  inside mscli: request sent -> first token median {statistics.median(first):.1f} ms, "
        f"-> last byte written median {statistics.median(send):.1f} ms (from its history records)"
    )
    if pipe["curl"] is None:
        print("  curl -N             skipped: curl is not installed")
    else:
        print(f"  curl -sN            {fmt(pipe['curl'])}")
        print(f"  same text as curl's stream: {pipe['identical_text']}")
    print(
        "\n(b) MarkdownView on a pseudo-terminal 100x40 (live tail on), one token per feed();"
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
    ratio = render[-1]["us_per_token"] / base
    print(
        f"  per-token cost at 50,000 vs 2,000: x{ratio:.2f} ({'PASS' if ratio <= 1.5 else 'FAIL'}, limit 1.5)"
    )
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
