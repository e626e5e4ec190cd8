"""ChatStream through GatewayClient.chat_stream against pytest-httpx (reliability §6 rows 6-12, 17, 18, 31)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

from mscli.api.client import ClientConfig, GatewayClient
from mscli.api.models import ChatEvent, ChatRequest, Finish, TextDelta, UsageInfo
from mscli.api.retry import RetryNotice
from mscli.api.stream import ChatStream, _loads_stripped, choice_text
from mscli.errors import (
    ApiError,
    NetworkError,
    NotApiError,
    ProtocolError,
    StreamInterruptedError,
    StreamTruncatedError,
)

BASE = "https://api.test.example/v1"
CHAT = f"{BASE}/chat/completions"
KEY = "sk_test0123456789abcdefghijklmnopqa1b2"
SSE = {"content-type": "text/event-stream"}
REQ = ChatRequest(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])


@dataclass
class Harness:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    notices: list[RetryNotice] = field(default_factory=list)

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s

    def client(self, **cfg: Any) -> GatewayClient:
        return GatewayClient(
            ClientConfig(base_url=BASE, api_key=KEY, **cfg),
            sleep=self.sleep,
            clock=lambda: self.now,
            rand=lambda: 1.0,
            on_retry=self.notices.append,
        )


@pytest.fixture()
def h() -> Harness:
    return Harness()


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> bytes:
    delta: dict[str, Any] = {}
    if content is not None or "null_content" in extra:
        delta["content"] = content
    extra.pop("null_content", None)
    payload = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "m1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def usage_chunk() -> bytes:
    payload = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


GOOD = [
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m1","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n',
    chunk("Hel"),
    chunk("lo"),
    chunk(finish="stop"),
    usage_chunk(),
    b"data: [DONE]\n\n",
]


def run(stream: ChatStream) -> list[ChatEvent]:
    with stream:
        return list(stream)


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_happy_path(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, method="POST", headers=SSE, stream=IteratorStream(GOOD))
    stream = h.client().chat_stream(REQ)
    events = run(stream)
    assert events == [TextDelta("Hel"), TextDelta("lo"), Finish("stop"), UsageInfo(3, 2, 5)]
    r = stream.result
    assert (r.id, r.model, r.content, r.finish_reason, r.done_seen) == (
        "chatcmpl-1",
        "m1",
        "Hello",
        "stop",
        True,
    )
    assert r.usage is not None and r.usage.total_tokens == 5
    assert stream.closed
    request = httpx_mock.get_requests()[0]
    body = json.loads(request.content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert request.headers["accept"] == "text/event-stream"


def test_include_usage_false(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(GOOD))
    req = ChatRequest(model="m", messages=[], include_usage=False)
    run(h.client().chat_stream(req))
    assert "stream_options" not in json.loads(httpx_mock.get_requests()[0].content)


# --- row 17: [DONE] variants -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "done",
    [
        b"data: [DONE]\n\n",
        b"data:[DONE]\n\n",
        b"data: [DONE]\r\n\r\n",
        b"data: [DONE]\r\r",
        b"data:  [DONE]  \n\n",
        b"data: [DONE] trailing\n\n",
    ],
)
def test_done_variants(httpx_mock: HTTPXMock, h: Harness, done: bytes) -> None:
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream([chunk("a"), done]))
    stream = h.client().chat_stream(REQ)
    assert text_of(run(stream)) == "a"
    assert stream.result.done_seen
    assert stream.result.finish_reason is None  # [DONE] alone is a complete stream


def test_stops_at_done_without_reading_further(httpx_mock: HTTPXMock, h: Harness) -> None:
    state = {"read_past_done": False, "closed": False}

    def body() -> Iterator[bytes]:
        try:
            yield chunk("a")
            yield b"data: [DONE]\n\n"
            state["read_past_done"] = True
            yield b"data: {not json}\n\n"
        finally:
            state["closed"] = True

    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(body()))
    stream = h.client().chat_stream(REQ)
    assert text_of(run(stream)) == "a"
    assert not state["read_past_done"]


def test_bytes_after_done_in_same_chunk_ignored(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT,
        headers=SSE,
        stream=IteratorStream([chunk("a") + b"data: [DONE]\n\ndata: garbage\n\n"]),
    )
    assert text_of(run(h.client().chat_stream(REQ))) == "a"


def test_finish_reason_without_done_is_complete(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT, headers=SSE, stream=IteratorStream([chunk("a"), chunk(finish="length")])
    )
    stream = h.client().chat_stream(REQ)
    run(stream)
    assert stream.result.finish_reason == "length" and not stream.result.done_seen


# --- row 9: truncation -------------------------------------------------------------------------------


def test_truncated_stream(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT,
        headers=SSE,
        stream=IteratorStream(
            [chunk("Hello, wor"), b'data: {"choices": [{"delta": {"content": "ld"']
        ),
    )
    stream = h.client().chat_stream(REQ)
    seen: list[ChatEvent] = []
    with pytest.raises(StreamTruncatedError) as info, stream:
        for event in stream:
            seen.append(event)
    assert text_of(seen) == "Hello, wor"
    assert info.value.partial_chars == 10
    assert info.value.facts["partial_event"] is True
    assert info.value.advice_key == "protocol.truncated"
    assert stream.result.content == "Hello, wor"
    assert stream.closed


def test_empty_stream_is_truncated(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream([]))
    with pytest.raises(StreamTruncatedError) as info:
        run(h.client().chat_stream(REQ))
    assert info.value.partial_chars == 0


# --- rows 6-8: content types ---------------------------------------------------------------------


def test_json_instead_of_sse(httpx_mock: HTTPXMock, h: Harness) -> None:
    completion = {
        "id": "c1",
        "model": "m2",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Whole reply"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    httpx_mock.add_response(url=CHAT, json=completion)
    stream = h.client().chat_stream(REQ)
    assert run(stream) == [TextDelta("Whole reply"), Finish("stop"), UsageInfo(1, 2, 3)]
    assert stream.fallback_json
    assert stream.result.content == "Whole reply" and stream.result.model == "m2"


def test_json_error_instead_of_sse(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT, json={"error": {"message": "quota", "type": "insufficient_balance", "code": 402}}
    )
    with pytest.raises(ApiError) as info:
        run(h.client().chat_stream(REQ))
    assert info.value.status == 402 and info.value.advice_key == "balance.empty"


def test_html_200_is_not_api(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, html="<html><title>Captive portal</title></html>")
    with pytest.raises(NotApiError):
        h.client().chat_stream(REQ)


def test_sse_without_content_type_is_sniffed(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, stream=IteratorStream(GOOD))
    assert text_of(run(h.client().chat_stream(REQ))) == "Hello"


def test_html_without_content_type_is_not_api(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, content=b"<!doctype html><title>x</title>")
    with pytest.raises(NotApiError):
        run(h.client().chat_stream(REQ))


def test_plain_text_is_protocol_error(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT, content=b"upstream connect error", headers={"content-type": "text/plain"}
    )
    with pytest.raises(ProtocolError) as info:
        run(h.client().chat_stream(REQ))
    assert info.value.excerpt == "upstream connect error"


# --- row 11: mid-stream errors ------------------------------------------------------------------


def collect_until_error(stream: ChatStream) -> tuple[list[ChatEvent], BaseException]:
    seen: list[ChatEvent] = []
    try:
        with stream:
            for event in stream:
                seen.append(event)
    except Exception as exc:
        return seen, exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize(
    ("error_bytes", "status", "message"),
    [
        (
            b'data: {"error": {"message": "Rate limit hit upstream", "type": "rate_limit_error", "code": 429}}\n\n',
            429,
            "Rate limit hit upstream",
        ),
        (b'data: {"error": "upstream exploded"}\n\n', 500, "upstream exploded"),
        (
            b'data: {"object": "error", "message": "max_tokens too large", "type": "BadRequestError", "code": 400}\n\n',
            400,
            "max_tokens too large",
        ),
        (
            b'event: error\ndata: {"error": {"message": "overloaded", "type": "overloaded_error", "code": 529}}\n\n',
            529,
            "overloaded",
        ),
        (b'event: error\ndata: {"message": "bare", "code": 503}\n\n', 503, "bare"),
        (b"event: error\ndata: something broke\n\n", 500, "something broke"),
        (
            b'data: {"id": "x", "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error", "error": {"message": "provider failed", "code": 502}}]}\n\n',
            502,
            "provider failed",
        ),
        (
            b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}\n\n',
            500,
            "finish_reason 'error'",
        ),
    ],
)
def test_mid_stream_error_shapes(
    httpx_mock: HTTPXMock, h: Harness, error_bytes: bytes, status: int, message: str
) -> None:
    httpx_mock.add_response(
        url=CHAT,
        headers=SSE,
        stream=IteratorStream([chunk("partial "), error_bytes, chunk("never")]),
    )
    seen, exc = collect_until_error(h.client().chat_stream(REQ))
    assert text_of(seen) == "partial "
    assert isinstance(exc, ApiError)
    assert exc.status == status
    assert message in (exc.server_message or "")
    assert exc.facts["partial_chars"] == 8
    assert exc.facts["mid_stream"] is True


def test_mid_stream_error_key_masked(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT,
        headers=SSE,
        stream=IteratorStream([f'data: {{"error": "bad key {KEY}"}}\n\n'.encode()]),
    )
    _, exc = collect_until_error(h.client().chat_stream(REQ))
    assert KEY not in str(exc)


# --- row 12: keep-alives and meta-only blocks ----------------------------------------------------


def test_keepalives_and_meta_blocks_skipped(httpx_mock: HTTPXMock, h: Harness) -> None:
    body = [
        b": OPENROUTER PROCESSING\n\n",
        b"retry: 3000\n\n",
        b"event: ping\n\n",
        b"event: ping\ndata: {}\n\n",
        b"data:\n\n",
        b"data: \n\n",
        b"id: 1\n\n\n",
        chunk("a"),
        b": keep-alive\r\n\r\n",
        chunk("b"),
        chunk(finish="stop"),
        b"data: [DONE]\n\n",
    ]
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(body))
    stream = h.client().chat_stream(REQ)
    assert text_of(run(stream)) == "ab"
    assert stream.keepalives == 2


def test_crlf_and_tiny_chunks(httpx_mock: HTTPXMock, h: Harness) -> None:
    raw = b"".join(GOOD).replace(b"\n", b"\r\n")
    httpx_mock.add_response(
        url=CHAT,
        headers=SSE,
        stream=IteratorStream([raw[i : i + 3] for i in range(0, len(raw), 3)]),
    )
    assert text_of(run(h.client().chat_stream(REQ))) == "Hello"


def test_gzip_encoded_stream(httpx_mock: HTTPXMock, h: Harness) -> None:
    # The body is read raw (no decoder in the way) only when it has no content coding.
    packed = gzip.compress(b"".join(GOOD))
    httpx_mock.add_response(
        url=CHAT,
        headers={**SSE, "content-encoding": "gzip"},
        stream=IteratorStream([packed[i : i + 7] for i in range(0, len(packed), 7)]),
    )
    stream = h.client().chat_stream(REQ)
    assert text_of(run(stream)) == "Hello"
    assert stream.result.done_seen


def test_unicode_line_separator_in_content(httpx_mock: HTTPXMock, h: Harness) -> None:
    text = "line\u2028sep\u0085next\u2029end"
    data = f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': text}, 'finish_reason': 'stop'}]}, ensure_ascii=False)}\n\n".encode()
    httpx_mock.add_response(
        url=CHAT, headers=SSE, stream=IteratorStream([data, b"data: [DONE]\n\n"])
    )
    assert text_of(run(h.client().chat_stream(REQ))) == text


# --- row 18: non-JSON data line -------------------------------------------------------------------


def test_non_json_data_line(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT, headers=SSE, stream=IteratorStream([chunk("ok "), b"data: upstream timeout\n\n"])
    )
    seen, exc = collect_until_error(h.client().chat_stream(REQ))
    assert text_of(seen) == "ok "
    assert isinstance(exc, ProtocolError)
    assert exc.excerpt == "upstream timeout"
    assert exc.advice_key == "protocol.malformed"


def test_json_array_data_line(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream([b"data: [1, 2]\n\n"]))
    _, exc = collect_until_error(h.client().chat_stream(REQ))
    assert isinstance(exc, ProtocolError)


@pytest.mark.parametrize(
    "data",
    [b'{"choices": []} trailing', b'{"choices": []}{"choices": []}', b'{"choices": []}]'],
)
def test_data_line_with_more_after_its_json(httpx_mock: HTTPXMock, h: Harness, data: bytes) -> None:
    httpx_mock.add_response(
        url=CHAT, headers=SSE, stream=IteratorStream([chunk("ok "), b"data: " + data + b"\n\n"])
    )
    seen, exc = collect_until_error(h.client().chat_stream(REQ))
    assert text_of(seen) == "ok "
    assert isinstance(exc, ProtocolError) and exc.excerpt == data.decode()


def test_data_line_json_takes_nan_and_infinity_as_json_loads_does(
    httpx_mock: HTTPXMock, h: Harness
) -> None:
    nan = b'data: {"choices": [], "usage": {"prompt_tokens": NaN, "completion_tokens": Infinity, "total_tokens": -Infinity}}\n\n'
    httpx_mock.add_response(
        url=CHAT, headers=SSE, stream=IteratorStream([chunk("a", "stop"), nan, b"data: [DONE]\n\n"])
    )
    stream = h.client().chat_stream(REQ)
    assert run(stream) == [TextDelta("a"), Finish("stop"), UsageInfo(None, None, None)]


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, "s", true, null]}',
        "[1, 2]",
        '"s"',
        "-3",
        "null",
        '{"u": {"p": NaN, "c": Infinity, "t": -Infinity}}',
        "NaN",
        "1e400",
        '{"a": 1} x',
        '{"a": 1}{"b": 2}',
        '{"a": 1}]',
        '{"a": 1}\x00',
        '{"a": 1}\ufeff',
        '\ufeff{"a": 1}',
        'x{"a": 1}',
        '{"a": 1',
        '{"a": 01}',
        "nul",
        "NaNa",
        "'a'",
        '{"a": "\x01"}',
        '"\\ud800"',
        '{"a": 1, "a": 2}',
        "1" * 5000,
        "",
    ],
)
def test_data_line_json_is_what_json_loads_makes_of_it(text: str) -> None:
    """`_loads_stripped` (the C scanner, without `json.loads`' wrapper) on stripped text: the same
    value, or a ValueError where `json.loads` raises one."""
    assert text == text.strip()
    try:
        want = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            _loads_stripped(text)
    else:
        assert repr(_loads_stripped(text)) == repr(want)  # repr: NaN is not equal to itself


@pytest.mark.parametrize(
    ("choice", "text"),
    [
        ({"delta": {"content": "a"}}, "a"),
        ({"delta": {"content": [{"type": "text", "text": "a"}, "b", {"type": "image"}]}}, "ab"),
        ({"delta": {"content": None}, "text": "legacy"}, "legacy"),
        ({"delta": {"content": ""}, "text": "legacy"}, "legacy"),
        ({"delta": {}, "text": 5}, ""),
        ({"delta": None, "message": {"content": "m"}}, "m"),
        ({"delta": "x", "message": {"content": "m"}}, "m"),
        ({"delta": {"content": "d"}, "message": {"content": "m"}}, "d"),
        ({"delta": {"content": ""}, "message": {"content": "m"}}, ""),
        ({"delta": {"content": 5}}, ""),
        ({"text": "t"}, "t"),
        ({}, ""),
    ],
)
def test_choice_text(choice: dict[str, Any], text: str) -> None:
    assert choice_text(choice, "delta", "message") == text


# --- row 31: odd but valid schemas ---------------------------------------------------------------


def test_odd_schemas(httpx_mock: HTTPXMock, h: Harness) -> None:
    body = [
        chunk(None, null_content=True),  # content: null
        b'data: {"choices": [{"delta": {"content": "x", "reasoning": "hmm"}, "extra": 1}], "new_top_level": {}}\n\n',  # no id, no index
        b'data: {"id": "late-id", "choices": [{"index": 1, "delta": {"content": "IGNORED"}}, {"index": 0, "delta": {"content": "y"}}]}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {"content": [{"type": "text", "text": "z"}]}}]}\n\n',
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": null}\n\n',
        usage_chunk(),
        usage_chunk(),  # repeated identical usage: one event
        b"data: [DONE]\n\n",
    ]
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(body))
    stream = h.client().chat_stream(REQ)
    events = run(stream)
    assert text_of(events) == "xyz"
    assert [e for e in events if isinstance(e, UsageInfo)] == [UsageInfo(3, 2, 5)]
    assert stream.result.id == "chatcmpl-1"


# --- rows 10 (RS): broken connection ---------------------------------------------------------------


def test_reset_after_first_delta_is_interrupted(httpx_mock: HTTPXMock, h: Harness) -> None:
    def body() -> Iterator[bytes]:
        yield chunk("Hello, ")
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body (incomplete chunked read)"
        )

    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(body()))
    seen, exc = collect_until_error(h.client().chat_stream(REQ))
    assert text_of(seen) == "Hello, "
    assert isinstance(exc, StreamInterruptedError)
    assert exc.partial_chars == 7
    assert exc.advice_key == "network.stream_interrupted"
    assert h.notices == []  # never retried after output


def test_read_timeout_after_delta_is_interrupted(httpx_mock: HTTPXMock, h: Harness) -> None:
    def body() -> Iterator[bytes]:
        yield chunk("abc")
        raise httpx.ReadTimeout("timed out")

    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(body()))
    _, exc = collect_until_error(h.client().chat_stream(REQ))
    assert isinstance(exc, StreamInterruptedError)
    assert exc.facts["reason"] == "read_timeout"


def test_break_before_first_delta_is_retried(httpx_mock: HTTPXMock, h: Harness) -> None:
    def broken() -> Iterator[bytes]:
        yield b": processing\n\n"
        yield b'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\n\n'
        raise httpx.ReadError("[Errno 104] Connection reset by peer")

    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(broken()))
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(GOOD))
    stream = h.client().chat_stream(REQ)
    assert text_of(run(stream)) == "Hello"
    assert [(n.attempt, n.reason) for n in h.notices] == [(2, "Connection reset")]
    assert httpx_mock.get_requests()[1].headers["x-retry-count"] == "1"


def test_break_before_first_delta_retries_exhausted(httpx_mock: HTTPXMock, h: Harness) -> None:
    def broken() -> Iterator[bytes]:
        raise httpx.ReadError("[Errno 104] Connection reset by peer")
        yield b""  # pragma: no cover

    for _ in range(2):
        httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(broken()))
    with pytest.raises(NetworkError) as info:
        run(h.client(max_retries=1).chat_stream(REQ))
    assert not isinstance(info.value, StreamInterruptedError)
    assert info.value.kind == "reset"


def test_finish_then_connection_drop_is_complete(httpx_mock: HTTPXMock, h: Harness) -> None:
    def body() -> Iterator[bytes]:
        yield chunk("done", finish="stop")
        raise httpx.ReadTimeout("server kept the socket open")

    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(body()))
    stream = h.client().chat_stream(REQ)
    assert text_of(run(stream)) == "done"
    assert stream.result.finish_reason == "stop"


# --- status errors and retries before the stream starts -------------------------------------------


def test_status_error_raised_by_chat_stream(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT,
        status_code=401,
        json={
            "error": {
                "message": "Invalid API key provided",
                "type": "authentication_error",
                "code": 401,
            }
        },
    )
    with pytest.raises(ApiError) as info:
        h.client().chat_stream(REQ)
    assert info.value.advice_key == "auth.invalid"


def test_503_retried_before_stream(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, status_code=503)
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(GOOD))
    assert text_of(run(h.client().chat_stream(REQ))) == "Hello"
    assert h.sleeps == [0.5]


# --- closing -------------------------------------------------------------------------------------


def closing_body(state: dict[str, bool]) -> Iterator[bytes]:
    try:
        yield chunk("a")
        yield chunk("b")
        yield chunk("c", finish="stop")
        yield b"data: [DONE]\n\n"
    finally:
        state["closed"] = True


def test_early_break_closes_response(httpx_mock: HTTPXMock, h: Harness) -> None:
    state = {"closed": False}
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(closing_body(state)))
    stream = h.client().chat_stream(REQ)
    with stream:
        for _event in stream:
            break
    assert stream.closed
    assert state["closed"]


def test_keyboard_interrupt_in_consumer_closes_response(httpx_mock: HTTPXMock, h: Harness) -> None:
    state = {"closed": False}
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(closing_body(state)))
    stream = h.client().chat_stream(REQ)
    with pytest.raises(KeyboardInterrupt), stream:
        for _event in stream:
            raise KeyboardInterrupt
    assert stream.closed and state["closed"]
    assert stream.result.content == "a"


def test_generator_close_closes_response(httpx_mock: HTTPXMock, h: Harness) -> None:
    state = {"closed": False}
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(closing_body(state)))
    stream = h.client().chat_stream(REQ)
    it = iter(stream)
    next(it)
    it.close()  # GeneratorExit inside the stream
    assert stream.closed and state["closed"]


def test_close_without_iterating(httpx_mock: HTTPXMock, h: Harness) -> None:
    state = {"closed": False}
    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(closing_body(state)))
    stream = h.client().chat_stream(REQ)
    stream.close()
    stream.close()  # idempotent
    assert stream.closed
    assert list(stream) == []


def test_deadline_during_stream(httpx_mock: HTTPXMock, h: Harness) -> None:
    def body() -> Iterator[bytes]:
        yield chunk("a")
        h.now += 1000  # the overall deadline passes while the server drips
        yield b": ping\n\n"
        yield chunk("b")

    httpx_mock.add_response(url=CHAT, headers=SSE, stream=IteratorStream(body()))
    seen, exc = collect_until_error(h.client(timeout=600).chat_stream(REQ))
    assert text_of(seen) == "a"
    assert isinstance(exc, StreamInterruptedError)
    assert exc.facts["reason"] == "deadline"
