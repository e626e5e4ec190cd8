"""Per-token CPU of a streamed chat, in-process, beside the bare httpx loop's per-token work:

    python benchmarks/stream_bench.py                       # about 30 s
    python benchmarks/stream_bench.py --baseline OTHER/src  # also another checkout, same rounds

The sandbox (its own process, unpaced) streams a reply once; the byte chunks httpx yields for it
(`Response.iter_bytes`, as they came off the socket) are recorded, then replayed in-process, so
the network, h11 and the sandbox are out of the figures and what is left is the per-token work
that differs between mscli and the bare loop:

- mscli: `Chat._send` (the per-delta loop of `mscli chat`) over a `ChatStream` reading the recorded
  chunks (SSE parsing, JSON, the chunk's fields, the events), into a `PipeView` on the null device;
- bare: what `chat_bench.BARE_HTTPX_LOOP` does per token, on the same chunks: httpx's own
  `TextDecoder` and `LineDecoder` (what `iter_lines` runs), `json.loads`, the `choices` / `delta`
  look-ups, write and flush to the null device.

`--baseline SRC` runs the mscli part of another source tree (its `src` folder: `git archive`
of main, say) in a child process over the same recorded chunks, in the same interleaved rounds.
Figures: the median over the rounds of the best of a few replays each, CPU time of the thread
(`time.thread_time`), in microseconds per token. The replies are checked to be identical.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import IO

MODEL = "claude-haiku-4-5"
PROMPT = "Benchmark the chat stream, please."


def record_chunks(tokens: int) -> list[bytes]:
    """The chunks `iter_bytes` yields for a streamed reply of `tokens` tokens from the sandbox."""
    import httpx

    sys.path.insert(0, str(Path(__file__).parent))
    from chat_bench import request_body, start_server

    proc, base_url, key = start_server()
    try:
        with httpx.stream(
            "POST",
            base_url + "/chat/completions",
            json=request_body(tokens),
            headers={"Authorization": "Bearer " + key},
        ) as r:
            return list(r.iter_bytes())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class _Response:
    """What `ChatStream` reads of an `httpx.Response`, over recorded chunks."""

    status_code = 200

    def __init__(self, chunks: list[bytes]) -> None:
        self.headers = {"content-type": "text/event-stream; charset=utf-8"}
        self._chunks = chunks

    def iter_raw(self) -> Iterator[bytes]:
        return iter(self._chunks)

    iter_bytes = iter_raw

    def close(self) -> None:
        pass


def mscli_once(chunks: list[bytes], out: IO[str], cache_dir: Path) -> float:
    """One replay through `Chat._send` into a `PipeView`: thread CPU seconds."""
    from mscli.api.stream import ChatStream
    from mscli.chat.engine import Chat
    from mscli.chat.exchange import Params
    from mscli.output.chat_view import PipeView

    client = SimpleNamespace(
        chat_stream=lambda req: ChatStream(
            _Response(chunks),  # type: ignore[arg-type,unused-ignore]
            deadline=time.monotonic() + 600,
        ),
        stream_options_refused=False,
        close=lambda: None,
    )
    recorder = SimpleNamespace(
        base_url="http://127.0.0.1:9/v1",
        paths=SimpleNamespace(cache_dir=cache_dir),
        price=lambda outcome: None,
    )
    chat = Chat(client, Params(model=MODEL), recorder)  # type: ignore[arg-type,unused-ignore]
    view = PipeView(out)
    gc.collect()
    t0 = time.thread_time()
    outcome = chat._send(PROMPT, view, stream=True)
    spent = time.thread_time() - t0
    assert outcome.status == "complete", outcome
    return spent


def bare_once(chunks: list[bytes], out: IO[str]) -> float:
    """`BARE_HTTPX_LOOP`'s per-token work over the same chunks: thread CPU seconds."""
    from httpx._decoders import LineDecoder, TextDecoder

    gc.collect()
    t0 = time.thread_time()

    def iter_lines() -> Iterator[str]:  # httpx.Response.iter_text + iter_lines
        text, lines = TextDecoder("utf-8"), LineDecoder()
        for chunk in chunks:
            yield from lines.decode(text.decode(chunk))
        yield from lines.decode(text.flush())
        yield from lines.flush()

    for line in iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for c in json.loads(line[6:]).get("choices") or []:
                t = (c.get("delta") or {}).get("content")
                if t:
                    out.write(t)
                    out.flush()
    return time.thread_time() - t0


def best(fn: Callable[[], float], repeats: int) -> float:
    return min(fn() for _ in range(repeats))


def worker(chunk_file: str, repeats: int) -> None:
    """--worker: the mscli part in this process (another checkout on PYTHONPATH); prints seconds."""
    chunks = pickle.loads(Path(chunk_file).read_bytes())
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w", encoding="utf-8") as null:
        mscli_once(chunks, null, Path(tmp))  # warm-up: imports
        print(json.dumps(best(lambda: mscli_once(chunks, null, Path(tmp)), repeats)))


def replies_match(chunks: list[bytes], cache_dir: Path) -> bool:
    outs = []
    runs: list[Callable[[IO[str]], float]] = [
        lambda o: mscli_once(chunks, o, cache_dir),
        lambda o: bare_once(chunks, o),
    ]
    for run in runs:
        buf = io.BytesIO()
        text = io.TextIOWrapper(buf, encoding="utf-8", write_through=True)
        run(text)
        text.flush()
        outs.append(buf.getvalue())
    return outs[0] == outs[1] and len(outs[0]) > 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("-r", "--repeats", type=int, default=3, help="replays per round (best kept)")
    ap.add_argument("--baseline", metavar="SRC", help="also the mscli of another src folder")
    ap.add_argument("--worker", metavar="CHUNKS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.repeats)
        return 0
    chunks = record_chunks(args.tokens)
    n = args.tokens
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w", encoding="utf-8") as null:
        cache_dir = Path(tmp)
        chunk_file = Path(tmp) / "chunks.pickle"
        chunk_file.write_bytes(pickle.dumps(chunks))
        same = replies_match(chunks, cache_dir)
        figures: dict[str, list[float]] = {"mscli": [], "bare": []}
        if args.baseline:
            figures["baseline"] = []
        env = {**os.environ, "PYTHONPATH": args.baseline or ""}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for _ in range(args.rounds):
            figures["mscli"].append(best(lambda: mscli_once(chunks, null, cache_dir), args.repeats))
            if args.baseline:
                child = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        str(chunk_file),
                        "-r",
                        str(args.repeats),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                figures["baseline"].append(float(child.stdout))
            figures["bare"].append(best(lambda: bare_once(chunks, null), args.repeats))
    bare = statistics.median(figures["bare"]) / n * 1e6
    print(
        f"{n} tokens, {len(chunks)} chunks from iter_bytes, {args.rounds} rounds of best of "
        f"{args.repeats}; load {os.getloadavg()[0]:.1f}; replies identical: {same}"
    )
    for name, secs in figures.items():
        us = statistics.median(secs) / n * 1e6
        label = f"mscli of {args.baseline}" if name == "baseline" else name
        print(f"  {label:<40} {us:6.2f} us per token (CPU)  x{us / bare:.2f} of bare")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
