"""Socket-level cases over a real loopback server (reliability §6 rows 10, 17, 19, 20, 21, 27, 29).

Timeouts are tiny (0.2-0.5 s) so the suite stays fast; no assertion depends on how long anything
took, only on which error came out.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mscli.api.client import ClientConfig, GatewayClient
from mscli.api.models import ChatRequest, TextDelta
from mscli.api.retry import RetryNotice
from mscli.errors import (
    NetworkError,
    ResponseTooLargeError,
    StreamInterruptedError,
)
from support.loopback import Conn, LoopbackServer

KEY = "sk_test0123456789abcdefghijklmnopqa1b2"
REQ = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def delta(text: str, finish: str | None = None) -> bytes:
    payload = {
        "id": "c1",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


@pytest.fixture()
def serve() -> Iterator[Callable[[Callable[[Conn], None]], LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(handler: Callable[[Conn], None]) -> LoopbackServer:
        server = LoopbackServer(handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        assert server.errors == [], server.errors


def make_client(
    server: LoopbackServer, notices: list[RetryNotice] | None = None, **cfg: Any
) -> GatewayClient:
    settings: dict[str, Any] = {"base_url": server.base_url, "api_key": KEY, "max_retries": 0}
    settings.update(cfg)
    return GatewayClient(
        ClientConfig(**settings),
        sleep=lambda _s: None,
        on_retry=(notices.append if notices is not None else None),
    )


def text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_happy_stream_over_socket(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        conn.send_chunk(delta("Hel"))
        conn.send_chunk(b": keep-alive\r\n\r\n")
        conn.send_chunk(delta("lo", "stop") + b"data: [DONE]\n\n")
        conn.end_chunks()

    server = serve(handler)
    with make_client(server, idle_timeout=2.0) as client, client.chat_stream(REQ) as stream:
        assert text(list(stream)) == "Hello"
    assert stream.result.done_seen
    assert b"authorization: bearer " + KEY.encode() in server.requests[0].lower()


def test_row10_reset_mid_stream(serve: Callable[[Callable[[Conn], None]], LoopbackServer]) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        conn.send_chunk(delta("partial answer"))
        conn.wait(0.2)
        conn.reset()

    server = serve(handler)
    client = make_client(server, max_retries=3)
    seen: list[Any] = []
    with pytest.raises(StreamInterruptedError) as info, client.chat_stream(REQ) as stream:
        for event in stream:
            seen.append(event)
    assert text(seen) == "partial answer"
    assert info.value.partial_chars == len("partial answer")
    assert server.connections == 1  # never retried once output reached the user


def test_row10_incomplete_chunked_read(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        conn.send_chunk(delta("abc"))
        # close cleanly without the terminating 0-length chunk: "incomplete chunked read"

    server = serve(handler)
    with (
        pytest.raises(StreamInterruptedError) as info,
        make_client(server).chat_stream(REQ) as stream,
    ):
        list(stream)
    assert info.value.partial_chars == 3


def test_row17_socket_kept_open_after_done(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        # [DONE] without any finish_reason: waiting for EOF would hit the 0.3 s idle limit and fail
        conn.send_chunk(delta("answer") + b"data: [DONE]\n\n")
        conn.wait(30)  # released when the test's server stops

    server = serve(handler)
    with make_client(server, idle_timeout=0.3) as client, client.chat_stream(REQ) as stream:
        assert text(list(stream)) == "answer"
    assert stream.result.done_seen and stream.closed


def test_row19_never_sends_headers(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.wait(30)

    server = serve(handler)
    notices: list[RetryNotice] = []
    client = make_client(server, notices, first_byte_timeout=0.2, max_retries=1)
    with pytest.raises(NetworkError) as info:
        client.chat_stream(REQ)
    # the first-byte limit is the wait: a chat is not sent again to a server that said nothing
    assert info.value.kind == "read_timeout"
    assert info.value.attempts == 1
    assert server.connections == 1
    assert notices == []


def test_row20_slow_drip_hits_overall_deadline(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        while not conn.wait(0.05):
            conn.send_chunk(b": ping\n\n")  # keep-alives forever: the idle limit never fires

    server = serve(handler)
    client = make_client(server, timeout=0.5, idle_timeout=5.0, first_byte_timeout=5.0)
    with pytest.raises(NetworkError) as info, client.chat_stream(REQ) as stream:
        list(stream)
    assert not isinstance(info.value, StreamInterruptedError)
    assert info.value.kind == "timeout"
    assert stream.keepalives > 0


def test_row20_slow_drip_after_output_is_interrupted(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        conn.send_chunk(delta("so far"))
        while not conn.wait(0.05):
            conn.send_chunk(b": ping\n\n")

    server = serve(handler)
    client = make_client(server, timeout=0.5, idle_timeout=5.0, first_byte_timeout=5.0)
    with pytest.raises(StreamInterruptedError) as info, client.chat_stream(REQ) as stream:
        list(stream)
    assert info.value.facts["reason"] == "deadline"
    assert info.value.partial_chars == len("so far")


def test_idle_timeout_between_chunks(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    # first_byte_timeout is long; only the switch to the idle limit after the headers can
    # produce a read timeout here. Without it the server's clean end after 3 s would show up
    # as a truncated stream instead.
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        conn.send_chunk(delta("x"))
        if not conn.wait(3):
            conn.end_chunks()

    server = serve(handler)
    client = make_client(server, first_byte_timeout=30.0, idle_timeout=0.2)
    with pytest.raises(StreamInterruptedError) as info, client.chat_stream(REQ) as stream:
        list(stream)
    assert info.value.facts["reason"] == "read_timeout"


def test_row21_endless_sse_line(serve: Callable[[Callable[[Conn], None]], LoopbackServer]) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        conn.send_chunk(b"data: ")
        block = b"x" * 65536
        for _ in range(160):  # 10 MiB, no newline
            conn.send_chunk(block)
        conn.end_chunks()

    server = serve(handler)
    with pytest.raises(ResponseTooLargeError), make_client(server).chat_stream(REQ) as stream:
        list(stream)


def test_row27_connection_refused_retried(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    notices: list[RetryNotice] = []
    client = GatewayClient(
        ClientConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=1),
        sleep=lambda _s: None,
        on_retry=notices.append,
    )
    with pytest.raises(NetworkError) as info:
        client.list_models()
    assert info.value.kind == "refused"
    assert info.value.attempts == 2
    assert [n.reason for n in notices] == ["Connection refused"]


def test_non_stream_body_cut_then_retried(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    body = json.dumps({"object": "list", "data": [{"id": "m1"}]}).encode()

    def handler(conn: Conn) -> None:
        conn.read_request()
        if conn.server.connections == 1:
            conn.send(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % len(body)
            )
            conn.send(body[:10])
            conn.reset()
            return
        conn.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % len(body)
        )
        conn.send(body)

    server = serve(handler)
    notices: list[RetryNotice] = []
    assert make_client(server, notices, max_retries=2).list_models().ids == ["m1"]
    assert server.connections == 2
    assert len(notices) == 1
    assert b"x-retry-count: 1" in server.requests[1].lower()


def test_row29_interrupt_closes_connection(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    client_closed = threading.Event()

    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, SSE_HEADERS)
        conn.send_chunk(delta("one"))
        conn.sock.settimeout(5.0)
        try:
            while conn.sock.recv(1024):
                pass
            client_closed.set()  # EOF: the client closed its end
        except OSError:
            client_closed.set()

    server = serve(handler)
    with pytest.raises(KeyboardInterrupt), make_client(server).chat_stream(REQ) as stream:
        for _event in stream:
            raise KeyboardInterrupt
    assert stream.closed
    assert client_closed.wait(5)


def test_a_silent_server_is_asked_once_more_and_the_message_says_the_whole_wait(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway that accepts the connection and never answers: a small request is asked once
    more (not max_retries times), and the error says how long mscli waited in all."""
    from mscli.api import client as client_module

    monkeypatch.setattr(client_module, "SMALL_ENDPOINT_TIMEOUT", 0.2)
    requests: list[bytes] = []

    def handler(conn: Conn) -> None:
        requests.append(conn.read_request())
        conn.wait(5)  # says nothing until the client gives up and the server stops

    server = serve(handler)
    with pytest.raises(NetworkError) as info:
        make_client(server, max_retries=3).list_models()
    assert len(requests) == 2
    assert info.value.kind == "read_timeout"
    assert "2 attempts waited 0.2 s each" in info.value.message


def test_a_silent_server_is_not_asked_again_for_a_chat(
    serve: Callable[[Callable[[Conn], None]], LoopbackServer],
) -> None:
    """A chat may already be generating (and be charged): its first-byte limit is the wait."""
    requests: list[bytes] = []

    def handler(conn: Conn) -> None:
        requests.append(conn.read_request())
        conn.wait(5)

    server = serve(handler)
    client = make_client(server, max_retries=3, first_byte_timeout=0.2)
    with pytest.raises(NetworkError) as info, client.chat_stream(REQ) as stream:
        list(stream)
    assert len(requests) == 1 and info.value.kind == "read_timeout"
    assert "(within 0.2 s)" in info.value.message
