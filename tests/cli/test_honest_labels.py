"""Labels that say what happened (issue 11 item 5; reliability §6 rows 10, 11, 31): a mid-stream
error is not blamed on --max-retries, an error without a status is not called HTTP 500, a stall is
not a broken connection, and `"message": null` is not an empty success. A loopback gateway plays
the server; the real CLI runs in-process with its default retries."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.cli import run
from support.gateway import MODEL, Gateway, Route, models_json, send_json
from support.loopback import Conn

KEY = "sk_test0123456789abcdefghijklmnopqa1b2"
SSE = {"Content-Type": "text/event-stream"}


def delta(text: str) -> bytes:
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": text}}]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


@pytest.fixture()
def gateway() -> Iterator[Callable[[Route], Gateway]]:
    started: list[Gateway] = []

    def start(chat: Route) -> Gateway:
        gw = Gateway({"/v1/models": models_json(), "/v1/chat/completions": chat}).start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


def chat(gw: Gateway, *args: str, options: tuple[str, ...] = ()) -> Any:
    """`mscli --json [OPTIONS] chat -m MODEL [ARGS] Hello` (global OPTIONS before the command)."""
    return run(
        "--base-url",
        gw.base_url,
        "--json",
        *options,
        "chat",
        "-m",
        MODEL,
        *args,
        "Hello",
        env={"MODELSTACK_API_KEY": KEY},
    )


@pytest.mark.parametrize(
    "error_event",
    [
        b'event: error\ndata: {"message": "upstream overloaded"}\n\n',
        b'data: {"error": {"message": "upstream overloaded"}}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],'
        b' "error": {"message": "upstream overloaded"}}\n\n',
    ],
)
def test_a_mid_stream_error_without_status_is_not_called_http_500_nor_blamed_on_retries(
    gateway: Callable[[Route], Gateway], error_event: bytes
) -> None:
    def handler(conn: Conn) -> None:
        conn.send_headers(200, SSE)
        conn.send_chunk(delta("Partial "))
        conn.send_chunk(error_event)
        conn.end_chunks()

    gw = gateway(handler)
    res = chat(gw)
    assert res.code == 7, res.stderr
    assert json.loads(res.stdout)["content"] == "Partial "
    error = res.error()
    assert error["status"] is None
    assert "HTTP 500" not in error["message"] and "upstream overloaded" in error["message"]
    assert "max-retries" not in error["details"].get("retried", "")
    assert "inside a stream" in error["details"]["retried"]
    assert len(gw.requests) == 2  # GET /models, one POST: not retried


def test_max_retries_0_is_quoted_only_when_it_was_given(
    gateway: Callable[[Route], Gateway],
) -> None:
    def handler(conn: Conn) -> None:
        send_json(conn, 503, b'{"error": {"message": "busy"}}')

    gw = gateway(handler)
    res = chat(gw, options=("--max-retries", "0"))
    assert res.code == 7, res.stderr
    error = res.error()
    assert error["status"] == 503
    assert error["details"]["retried"] == "no (--max-retries 0)"


def test_a_stall_mid_stream_is_not_called_a_broken_connection(
    gateway: Callable[[Route], Gateway],
) -> None:
    def handler(conn: Conn) -> None:
        conn.send_headers(200, SSE)
        conn.send_chunk(delta("Partial "))
        conn.wait(10)  # silent until the client gives up (released when the server stops)

    gw = gateway(handler)
    res = chat(gw, options=("--timeout", "0.5"))
    assert res.code == 8, res.stderr
    error = res.error()
    assert error["type"] == "network.stream_stalled"
    assert "broke" not in error["message"] and "broke" not in error["title"]
    assert "nothing more" in error["message"]


def test_a_reset_mid_stream_is_still_a_broken_connection(
    gateway: Callable[[Route], Gateway],
) -> None:
    def handler(conn: Conn) -> None:
        conn.send_headers(200, SSE)
        conn.send_chunk(delta("Partial "))
        conn.reset()

    res = chat(gateway(handler))
    assert res.code == 8, res.stderr
    assert res.error()["type"] == "network.stream_interrupted"


@pytest.mark.parametrize(
    "choice",
    ['{"index": 0, "message": null}', '{"index": 0}', '{"index": 0, "message": "Hi"}'],
)
def test_a_completion_without_a_message_is_a_protocol_error(
    gateway: Callable[[Route], Gateway], choice: str
) -> None:
    gw = gateway(('{"id": "c1", "choices": [' + choice + "]}").encode())
    res = chat(gw, "--no-stream")
    assert res.code == 9, res.stderr
    assert res.stdout == ""
    assert "no message" in res.error()["message"]


def test_an_empty_message_is_still_an_empty_reply(gateway: Callable[[Route], Gateway]) -> None:
    body = b'{"id": "c1", "choices": [{"index": 0, "message": {"content": null}, "finish_reason": "stop"}]}'
    res = chat(gateway(body), "--no-stream")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["content"] == ""
