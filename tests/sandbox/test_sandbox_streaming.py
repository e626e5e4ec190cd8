"""SSE shape, pacing, concurrency, and clients that misbehave."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from sandbox_http import chat, connect, parse_sse


def test_sse_shape_with_usage(sandbox):
    r = chat(sandbox, "stream me", stream=True, stream_options={"include_usage": True})
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.headers["x-request-id"].startswith("req_")
    events = parse_sse(r.body)
    first, *deltas, finish, usage, done = events
    assert done == "[DONE]"
    ids = {e["id"] for e in [first, *deltas, finish, usage]}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for e in [first, *deltas, finish, usage]:
        assert e["object"] == "chat.completion.chunk"
        assert e["model"] == "claude-sonnet-4-5"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(set(d["choices"][0]["delta"]) == {"content"} for d in deltas)
    assert all(d["choices"][0]["finish_reason"] is None for d in deltas)
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert usage["choices"] == []
    u = usage["usage"]
    assert u["completion_tokens"] == len(deltas)  # one chunk = one token
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    text = "".join(d["choices"][0]["delta"]["content"] for d in deltas)
    # same reply as the non-streamed one
    assert text == chat(sandbox, "stream me").json()["choices"][0]["message"]["content"]


def test_no_usage_chunk_unless_asked(sandbox):
    events = parse_sse(chat(sandbox, "x", stream=True).body)
    assert events[-1] == "[DONE]"
    assert all("usage" not in e for e in events[:-1])
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_cuts_the_stream_with_length(sandbox):
    events = parse_sse(
        chat(sandbox, "x", stream=True, max_tokens=12, stream_options={"include_usage": True}).body
    )
    deltas = [e for e in events[1:-3]]
    assert len(deltas) == 12
    assert events[-3]["choices"][0]["finish_reason"] == "length"
    assert events[-2]["usage"]["completion_tokens"] == 12


def test_tokens_per_second_paces_chunks(sandbox_factory):
    sb = sandbox_factory(tokens_per_second=100)
    conn = connect(sb.base_url)
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "max_tokens": 21,
        }
    )
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {sb.api_key}"})
    resp = conn.getresponse()
    first = resp.read1(1)
    t_first = time.perf_counter() - t0
    resp.read()
    total = time.perf_counter() - t0
    conn.close()
    assert first and t_first < 0.1  # the first chunk is not delayed
    assert 0.19 <= total < 1.5  # 20 intervals of 10 ms


def test_50_concurrent_streaming_clients_all_complete(sandbox_factory):
    sb = sandbox_factory(tokens_per_second=200)
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def client(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            r = chat(sb, f"client {i}", key=sb.new_key(), stream=True, max_tokens=60)
            results[i] = parse_sse(r.body)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.perf_counter() - t0
    assert not errors, errors[:3]
    assert len(results) == 50
    for events in results.values():
        assert events[-1] == "[DONE]"
        assert events[-2]["choices"][0]["finish_reason"] == "length"
        assert len(events) == 60 + 3
    assert elapsed < 10  # they ran concurrently: one alone takes 0.3 s


def _start_stream(base_url: str, key: str, max_tokens: int = 2000) -> socket.socket:
    u = urlsplit(base_url)
    s = socket.create_connection((u.hostname, u.port), timeout=5)
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "max_tokens": max_tokens,
        }
    ).encode()
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + key.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
    return s


def _wait_for(predicate, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_client_disconnect_mid_stream_leaves_the_server_healthy(sandbox_factory, capfd):
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log, tokens_per_second=500)
    # a polite close and an abortive one (RST)
    s = _start_stream(sb.base_url, sb.api_key)
    s.close()
    s = _start_stream(sb.base_url, sb.api_key)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    assert _wait_for(lambda: log.getvalue().count("client disconnected") >= 2), log.getvalue()
    r = chat(sb, "after", stream=True)
    assert parse_sse(r.body)[-1] == "[DONE]"
    out, err = capfd.readouterr()
    assert "Traceback" not in log.getvalue()
    assert "Traceback" not in out + err
    # one concise line per request
    assert all(
        line.count('"POST /v1/chat/completions"') == 1 for line in log.getvalue().splitlines()
    )


def test_client_that_stops_reading_costs_only_its_thread(sandbox_factory, capfd):
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log, idle_timeout=0.5)
    s = _start_stream(sb.base_url, sb.api_key, max_tokens=100_000)  # ~5 MB, never read
    try:
        t = time.perf_counter()
        assert chat(sb, "meanwhile").status == 200
        assert time.perf_counter() - t < 1
        assert _wait_for(lambda: "client disconnected" in log.getvalue(), timeout=5), log.getvalue()
    finally:
        s.close()
    assert "Traceback" not in log.getvalue() + "".join(capfd.readouterr())


def test_stop_ends_open_streams_promptly(sandbox_factory):
    sb = sandbox_factory(tokens_per_second=50)
    s = _start_stream(sb.base_url, sb.api_key)
    t = time.perf_counter()
    sb.stop()
    assert time.perf_counter() - t < 1
    s.settimeout(2)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    s.close()
    assert b"[DONE]" not in data


# --- stop sequences (OpenAI semantics: the reply ends right before the first one) --------------


def _streamed(sb, content, **fields):
    events = parse_sse(
        chat(sb, content, stream=True, stream_options={"include_usage": True}, **fields).body
    )
    deltas = [e["choices"][0]["delta"]["content"] for e in events[1:-3]]
    return "".join(deltas), len(deltas), events[-3]["choices"][0]["finish_reason"], events[-2]


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        (["Here is"], "## Hello\n\n"),  # the stop sequence spans tokens: none of it leaks
        (["lo\n\nHe"], "## Hel"),  # it starts inside a token that was already due
        (["o\n\nHere is a", "Here"], "## Hell"),  # the first occurrence wins, not the first seen
        ("##", ""),
    ],
)
def test_a_stop_sequence_across_tokens_ends_the_reply_right_before_it(sandbox, stop, expected):
    doc = chat(sandbox, "Hello", stop=stop).json()
    assert doc["choices"][0]["message"]["content"] == expected
    assert doc["choices"][0]["finish_reason"] == "stop"
    text, chunks, finish, usage = _streamed(sandbox, "Hello", stop=stop)
    assert (text, finish) == (expected, "stop")
    assert usage["usage"]["completion_tokens"] == chunks == doc["usage"]["completion_tokens"]


def test_stop_sequences_cut_the_same_text_streamed_or_not(sandbox):
    full = chat(sandbox, "Explain retries", max_tokens=300).json()["choices"][0]["message"]
    full = full["content"]
    for start, length in [(3, 1), (40, 12), (200, 30), (555, 7), (900, 2)]:
        stops = [full[start : start + length], "never in the reply"]
        expected = full[: full.find(stops[0])]
        doc = chat(sandbox, "Explain retries", max_tokens=300, stop=stops).json()
        assert doc["choices"][0]["message"]["content"] == expected
        assert doc["choices"][0]["finish_reason"] == "stop"
        text, chunks, finish, usage = _streamed(
            sandbox, "Explain retries", max_tokens=300, stop=stops
        )
        assert (text, finish) == (expected, "stop")
        assert usage["usage"]["completion_tokens"] == chunks == doc["usage"]["completion_tokens"]
    # a stop sequence that never comes: the whole reply, cut by max_tokens as usual
    text, chunks, finish, _ = _streamed(sandbox, "Explain retries", max_tokens=300, stop="@@@")
    assert (text, chunks, finish) == (full, 300, "length")


def test_a_stream_with_stop_sequences_stays_incremental(sandbox_factory):
    # tokens are held back only until no stop sequence can start in them: with a 100 ms pace the
    # first words arrive long before the reply is complete
    sb = sandbox_factory(tokens_per_second=20)
    conn = connect(sb.base_url)
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "Hello"}],
            "stream": True,
            "max_tokens": 40,
            "stop": ["never in the reply"],
        }
    )
    try:
        t0 = time.perf_counter()
        conn.request(
            "POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {sb.api_key}"}
        )
        resp = conn.getresponse()
        seen = b""
        while b'"content":"## "' not in seen:
            seen += resp.read1(65536)
        assert time.perf_counter() - t0 < 1.0  # the whole reply takes about 2 s
    finally:
        conn.close()


# --- HTTP/1.0 clients ---------------------------------------------------------------------------


@pytest.mark.parametrize("connection", [b"", b"Connection: keep-alive\r\n"])
def test_an_http_1_0_stream_is_not_chunked_and_ends_with_the_connection(sandbox, connection):
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "old client"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    u = urlsplit(sandbox.base_url)
    with socket.create_connection((u.hostname, u.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer "
            + sandbox.api_key.encode()
            + b"\r\nContent-Type: application/json\r\n"
            + connection
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        data = b""
        while chunk := s.recv(65536):  # the server closes: that is the end of the body
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 200 ")
    names = {line.split(b":")[0].lower() for line in lines[1:]}
    assert b"transfer-encoding" not in names and b"content-length" not in names
    assert b"Connection: close" in lines
    events = parse_sse(payload)  # bare SSE, no chunk sizes in between
    assert events[-1] == "[DONE]" and events[-3]["choices"][0]["finish_reason"] == "stop"
    text = "".join(e["choices"][0]["delta"]["content"] for e in events[1:-3])
    assert text == chat(sandbox, "old client").json()["choices"][0]["message"]["content"]
