"""Sandbox throughput: non-streamed requests per second, and concurrent SSE streams sustained.

    python benchmarks/sandbox_bench.py            # about 40 s, loopback only
    python benchmarks/sandbox_bench.py --quick    # about 10 s
    python benchmarks/sandbox_bench.py --cpu [--baseline OTHER/src]   # CPU per request

The server runs in its own process (`python -m mscli sandbox serve --port 0 --quiet`), as users run
it, so the client threads here do not share its GIL. Clients use http.client with keep-alive.
Every phase has a deadline; the script never waits longer than that.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MSG = [{"role": "user", "content": "Benchmark the sandbox, please."}]
FAILURES: list[str] = []


@dataclass
class Server:
    proc: subprocess.Popen[str]
    host: str
    port: int
    key: str

    def rss_mb(self) -> float:
        """Resident memory of the server process (Linux), 0 if unknown."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(*args: str, src: str | None = None) -> Server:
    """`mscli sandbox serve`; with `src`, the mscli of that source tree (its `src` folder)."""
    env = None if src is None else {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mscli", "sandbox", "serve", "--port", "0", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
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
    u = urlsplit(url.group(1))
    assert u.hostname and u.port
    return Server(proc, u.hostname, u.port, key.group(1))


def chat_body(max_tokens: int, stream: bool) -> bytes:
    return json.dumps(
        {"model": "claude-haiku-4-5", "messages": MSG, "max_tokens": max_tokens, "stream": stream}
    ).encode()


def bench_rps(
    srv: Server, threads: int, seconds: float, max_tokens: int, path: str
) -> dict[str, float]:
    """Each thread sends requests back to back on one keep-alive connection for `seconds`."""
    counts = [0] * threads
    errors = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop_at = time.perf_counter() + seconds
    body = chat_body(max_tokens, stream=False)
    headers = {"Authorization": f"Bearer {srv.key}", "Content-Type": "application/json"}

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            if path == "models":
                conn.request("GET", "/v1/models", headers=headers)
            else:
                conn.request("POST", "/v1/chat/completions", body, headers)
            resp = conn.getresponse()
            resp.read()
            latencies[i].append(time.perf_counter() - t)
            if resp.status == 200:
                counts[i] += 1
            else:
                errors[i] += 1
        conn.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 15)
    elapsed = time.perf_counter() - t0
    lat = sorted(x for lst in latencies for x in lst)
    return {
        "rps": sum(counts) / elapsed,
        "ok": sum(counts),
        "errors": sum(errors),
        "p50_ms": 1000 * statistics.median(lat) if lat else 0.0,
        "p99_ms": 1000 * lat[int(len(lat) * 0.99) - 1] if lat else 0.0,
    }


def bench_streams(srv: Server, n: int, max_tokens: int, timeout: float) -> dict[str, float]:
    """`n` concurrent streams started together; each must end with [DONE] and max_tokens deltas."""
    ttft: list[float] = []
    done: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)
    body = chat_body(max_tokens, stream=True)

    def worker(i: int) -> None:
        try:
            conn = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
            barrier.wait(timeout=30)
            t = time.perf_counter()
            conn.request(
                "POST",
                "/v1/chat/completions",
                body,
                {"Authorization": f"Bearer {srv.key}_{i}", "Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            first = resp.read1(65536)
            t_first = time.perf_counter() - t
            rest = resp.read()
            t_done = time.perf_counter() - t
            conn.close()
            data = first + rest
            deltas = data.count(b'"delta":{"content":')
            if (
                resp.status != 200
                or not data.rstrip().endswith(b"data: [DONE]")
                or deltas != max_tokens
            ):
                raise RuntimeError(f"status {resp.status}, {deltas} deltas")
            with lock:
                ttft.append(t_first)
                done.append(t_done)
        except Exception as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 30)
    wall = time.perf_counter() - t0
    FAILURES.extend(failures)
    done.sort()
    return {
        "streams": n,
        "completed": len(done),
        "failed": len(failures),
        "wall_s": wall,
        "ttft_p50_ms": 1000 * statistics.median(ttft) if ttft else 0.0,
        "ttft_max_ms": 1000 * max(ttft) if ttft else 0.0,
        "finish_p50_s": statistics.median(done) if done else 0.0,
        "finish_max_s": done[-1] if done else 0.0,
        "tokens_per_s": len(done) * max_tokens / wall,
    }


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model or platform.processor() or 'unknown CPU'}), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


#: The reference for the CPU per request: the stdlib's ThreadingHTTPServer answering a POST with a
#: fixed JSON body (the sandbox's own reply to the same request), keep-alive, nothing else.
BARE_SERVER = """\
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = open(sys.argv[1], "rb").read()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the sandbox: no 40 ms delayed-ACK stall per reply
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Numbers the conversations of `--cpu`'s "new conversation" rows: never the same one twice.
_CONVERSATIONS = itertools.count()


def cpu_per_request(host: str, port: int, pid: int, key: str, n: int, new: bool = False) -> float:
    """Server CPU (us) per non-streamed 20-token chat, n requests on one keep-alive connection:
    the same conversation each time, or with `new`, a conversation the server has not seen (the
    sandbox keeps the tokens of the conversations it answered last; a new one is generated)."""
    if new:
        bodies = [
            json.dumps(
                {
                    "model": "claude-haiku-4-5",
                    "messages": [{"role": "user", "content": f"{MSG[0]['content']} {i}"}],
                    "max_tokens": 20,
                    "stream": False,
                }
            ).encode()
            for i in itertools.islice(_CONVERSATIONS, n + 50)
        ]
    else:
        bodies = [chat_body(20, stream=False)] * (n + 50)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(host, port, timeout=10)
    for body in bodies[:50]:  # warm-up
        conn.request("POST", "/v1/chat/completions", body, headers)
        conn.getresponse().read()
    c0 = cpu_seconds(pid)
    for body in bodies[50:]:
        conn.request("POST", "/v1/chat/completions", body, headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"HTTP {resp.status}")
    used = cpu_seconds(pid) - c0
    conn.close()
    return used / n * 1e6


def bench_cpu(rounds: int, n: int, baseline: str | None) -> None:
    """Sandbox CPU per request beside a bare ThreadingHTTPServer, alternating, medians: the same
    conversation each time, and a new one each time; with `baseline` (another checkout's `src`
    folder), that sandbox too, in the same rounds."""
    import tempfile

    srv = start_server("--rpm", "100000000")
    base = start_server("--rpm", "100000000", src=baseline) if baseline else None
    tmp = tempfile.mkdtemp(prefix="mscli-sandbox-bench-")
    body_file = os.path.join(tmp, "body.json")
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    headers = {"Authorization": f"Bearer {srv.key}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/chat/completions", chat_body(20, stream=False), headers)
    with open(body_file, "wb") as f:
        f.write(conn.getresponse().read())
    conn.close()
    bare = subprocess.Popen(
        [sys.executable, "-c", BARE_SERVER, body_file], stdout=subprocess.PIPE, text=True
    )
    servers = [("sandbox", srv)] + ([(f"sandbox of {baseline}", base)] if base else [])
    try:
        assert bare.stdout is not None
        bare_port = int(bare.stdout.readline())
        us: dict[tuple[str, bool], list[float]] = {}
        bare_us: list[float] = []
        for _ in range(rounds):
            for name, s in servers:
                for new in (False, True):
                    cpu = cpu_per_request(s.host, s.port, s.proc.pid, s.key, n, new)
                    us.setdefault((name, new), []).append(cpu)
            bare_us.append(cpu_per_request("127.0.0.1", bare_port, bare.pid, "x", n))
        b = statistics.median(bare_us)
        print(f"\n## Server CPU per request (non-streamed 20-token chat, {rounds} x {n}, medians)")
        print("| server | same conversation, CPU us | / bare | new conversation, CPU us | / bare |")
        print("|---|---:|---:|---:|---:|")
        for name, _ in servers:
            same, new_ = (statistics.median(us[name, new]) for new in (False, True))
            print(f"| {name} | {same:.0f} | x{same / b:.2f} | {new_:.0f} | x{new_ / b:.2f} |")
        print(f"| bare ThreadingHTTPServer | {b:.0f} | x1.00 | | |")
        same, new_ = (statistics.median(us["sandbox", new]) for new in (False, True))
        print(f"sandbox / bare: x{same / b:.2f}, a new conversation each request x{new_ / b:.2f}")
        print("(goal 1.5)")
    finally:
        bare.terminate()
        bare.wait(timeout=10)
        srv.stop()
        if base is not None:
            base.stop()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="shorter phases, fewer stream sizes")
    ap.add_argument(
        "--cpu", action="store_true", help="only the CPU per request beside a bare server"
    )
    ap.add_argument(
        "--baseline",
        metavar="SRC",
        help="with --cpu: also the sandbox of another checkout's src folder (before/after)",
    )
    args = ap.parse_args()
    if args.cpu:
        print(f"machine: {machine()}")
        bench_cpu(5, 500 if args.quick else 2000, args.baseline)
        return
    secs = 2.0 if args.quick else 5.0
    sizes = (50, 100) if args.quick else (50, 100, 200, 500)

    print(f"machine: {machine()}")
    srv = start_server("--rpm", "100000000")
    try:
        print("\n## Non-streamed requests per second (keep-alive, back to back)")
        print("| request | client threads | req/s | p50 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, path, mt in (("GET /v1/models", "models", 0), ("chat, 20 tokens", "chat", 20)):
            for threads in (1, 4):
                r = bench_rps(srv, threads, secs, mt, path)
                print(
                    f"| {label} | {threads} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                    f"{r['p99_ms']:.2f} | {r['errors']:.0f} |"
                )
        r = bench_rps(srv, 4, secs, 150, "chat")
        print(
            f"| chat, 150 tokens | 4 | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} |"
        )
        print("\n## Unpaced streams of 5,000 tokens (server throughput)")
        print("| streams | completed | wall s | tokens/s (all streams) |")
        print("|---:|---:|---:|---:|")
        for n in (1, 10):
            s = bench_streams(srv, n, 5000, timeout=60)
            print(f"| {n} | {s['completed']} | {s['wall_s']:.2f} | {s['tokens_per_s']:.0f} |")
    finally:
        srv.stop()

    tps, tokens = 50, 150  # a realistic LLM pace: each stream ideally lasts 3 s
    srv = start_server("--rpm", "100000000", "--tokens-per-second", str(tps))
    try:
        print(
            f"\n## Concurrent paced streams ({tokens} tokens at {tps} tokens/s: 3.0 s each if sustained)"
        )
        print(
            "| streams | completed | failed | wall s | first token p50 / max ms "
            "| finish p50 / max s | server RSS MB after |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            s = bench_streams(srv, n, tokens, timeout=60)
            print(
                f"| {n} | {s['completed']} | {s['failed']} | {s['wall_s']:.2f} | "
                f"{s['ttft_p50_ms']:.1f} / {s['ttft_max_ms']:.1f} | "
                f"{s['finish_p50_s']:.2f} / {s['finish_max_s']:.2f} | {srv.rss_mb():.0f} |"
            )
            if FAILURES:
                print(f"  first failure: {FAILURES[0]}")
                FAILURES.clear()
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
