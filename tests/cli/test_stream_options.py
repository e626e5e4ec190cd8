"""`stream_options` is not documented by ModelStack (issue 11 item 8): against a gateway that
refuses it (400 naming it), a streamed chat is sent once more without it, and mscli remembers
that per base URL so later runs leave it out from the start. End to end against the sandbox in
its strict mode (`--no-stream-options`) and a loopback gateway that records request bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from support.chat_run import MODEL, chat, content
from support.cli import run
from support.gateway import Gateway, models_json, send_json
from support.loopback import Conn

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

KEY = "sk_test0123456789abcdefghijklmnopqa1b2"
REFUSAL = json.dumps(
    {
        "error": {
            "message": "Unrecognized request argument supplied: stream_options",
            "type": "invalid_request_error",
            "param": "stream_options",
        }
    }
).encode()


def strict_chat(conn: Conn) -> None:
    """Refuse a body with stream_options; stream a short reply to one without."""
    if "stream_options" in json.loads(conn.request_body):
        send_json(conn, 400, REFUSAL)
        return
    conn.send_headers(200, {"Content-Type": "text/event-stream", "Connection": "close"})
    chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi."}}]}
    done = {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    conn.send_chunk(f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(done)}\n\n".encode())
    conn.send_chunk(b"data: [DONE]\n\n")
    conn.end_chunks()


def chat_bodies(gw: Gateway) -> list[Any]:
    return [b for b in gw.bodies if isinstance(b, dict) and "messages" in b]


def run_chat(gw: Gateway) -> Any:
    return run(
        "--base-url", gw.base_url, "chat", "-m", MODEL, "Hello", env={"MODELSTACK_API_KEY": KEY}
    )


def test_a_refused_stream_options_is_dropped_once_and_remembered_per_base_url() -> None:
    routes = {"/v1/models": models_json(), "/v1/chat/completions": strict_chat}
    with Gateway(dict(routes)) as first, Gateway(dict(routes)) as second:
        res = run_chat(first)
        assert res.code == 0, res.stderr
        assert res.stdout == "Hi."
        assert ["stream_options" in b for b in chat_bodies(first)] == [True, False]

        again = run_chat(first)  # a later run: left out from the start
        assert again.code == 0, again.stderr
        assert ["stream_options" in b for b in chat_bodies(first)] == [True, False, False]

        other = run_chat(second)  # another base URL is asked as usual
        assert other.code == 0, other.stderr
        assert ["stream_options" in b for b in chat_bodies(second)] == [True, False]


def test_other_400s_are_not_retried_without_stream_options() -> None:
    def refuse(conn: Conn) -> None:
        send_json(conn, 400, b'{"error": {"message": "Invalid \'temperature\'"}}')

    with Gateway({"/v1/models": models_json(), "/v1/chat/completions": refuse}) as gw:
        res = run_chat(gw)
        assert res.code == 6, res.stderr
        assert len(chat_bodies(gw)) == 1


def test_chat_works_against_a_sandbox_that_refuses_stream_options(
    sandbox_factory: Callable[..., EmbeddedSandbox],
) -> None:
    strict = sandbox_factory(stream_options=False)
    res = chat(strict, "Explain SSE framing", "--max-tokens", "20")
    assert res.code == 0, res.stderr
    assert res.text == content(strict, "Explain SSE framing", max_tokens=20)
