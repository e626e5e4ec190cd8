"""Every documented error with its documented body (docs-errors-page.txt), plus our 400/413s."""

from __future__ import annotations

import io
import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from sandbox_http import call, chat

DOC_UNSUPPORTED_GPT5 = (
    'Unsupported model: "gpt-5". Supported models include: claude-3-5-haiku-20241022, '
    "claude-3-5-sonnet-20241022, claude-3-7-sonnet-20250219, claude-3-haiku-20240307, "
    "claude-haiku-4-5, and more. Please check the documentation for the full list."
)


def envelope(status, message, etype):
    return {"error": {"message": message, "type": etype, "code": status}}


def test_unsupported_model_is_the_documented_body_byte_for_byte(sandbox):
    r = chat(sandbox, model="gpt-5")
    assert r.status == 400
    assert r.json() == envelope(400, DOC_UNSUPPORTED_GPT5, "invalid_request_error")


@pytest.mark.parametrize("body", [{}, {"model": None}, {"model": ""}])
def test_missing_model(sandbox, body):
    body = {"messages": [{"role": "user", "content": "hi"}], **body}
    r = call(sandbox, "POST", "chat/completions", body=body)
    assert r.status == 400
    assert r.json() == envelope(
        400, "Model field is required in request body", "invalid_request_error"
    )


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe{}", b'{"model": "gpt-4o",'],
)
def test_malformed_body_is_400(sandbox, raw):
    r = call(
        sandbox, "POST", "chat/completions", raw=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status == 400
    err = r.error
    assert err["type"] == "invalid_request_error" and err["code"] == 400
    assert err["message"]


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"temperature": 2.5}, "'temperature'"),
        ({"temperature": -0.1}, "'temperature'"),
        ({"temperature": "hot"}, "'temperature'"),
        ({"temperature": True}, "'temperature'"),
        ({"top_p": 1.5}, "'top_p'"),
        ({"top_p": -1}, "'top_p'"),
        ({"max_tokens": 0}, "'max_tokens'"),
        ({"max_tokens": -5}, "'max_tokens'"),
        ({"max_tokens": 1.5}, "'max_tokens'"),
        ({"max_tokens": "10"}, "'max_tokens'"),
        ({"max_tokens": 10_000_000}, "'max_tokens'"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
        ({"stop": 5}, "'stop'"),
        ({"stop": ["a", 1]}, "'stop'"),
        ({"messages": []}, "'messages'"),
        ({"messages": "hi"}, "'messages'"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "'messages[0].role'"),
        ({"messages": [{"role": "user", "content": "a"}, {"content": "x"}]}, "'messages[1].role'"),
        ({"messages": [{"role": "user", "content": ["a"]}]}, "'messages[0].content'"),
        ({"messages": [{"role": "user", "content": None}]}, "'messages[0].content'"),
        ({"messages": ["hi"]}, "'messages[0]'"),
        ({"stream": "yes"}, "'stream'"),
        ({"model": 5}, "'model'"),
    ],
)
def test_invalid_parameters_are_400(sandbox, fields, needle):
    r = chat(sandbox, **fields)
    assert r.status == 400, r.body
    assert r.error["type"] == "invalid_request_error"
    assert needle in r.error["message"]


def test_boundary_values_are_accepted(sandbox):
    for fields in (
        {"temperature": 0},
        {"temperature": 2},
        {"top_p": 0},
        {"top_p": 1},
        {"stop": ["a", "b", "c", "d"]},
        {"stop": "x"},
        {"max_completion_tokens": 3},
    ):
        assert chat(sandbox, **fields).status == 200, fields


def test_missing_messages(sandbox):
    r = call(sandbox, "POST", "chat/completions", body={"model": "gpt-4o"})
    assert r.status == 400
    assert "messages" in r.error["message"].lower()


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer sk_live_abc",
        "Bearer sk_test_",
        "Bearer sk-test-x",
    ],
)
def test_missing_or_invalid_key_is_401_on_every_endpoint(sandbox, auth):
    headers = {} if auth is None else {"Authorization": auth}
    for method, path in [("GET", "models"), ("GET", "balance"), ("POST", "chat/completions")]:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
        r = call(
            sandbox,
            method,
            path,
            key=None,
            headers=headers,
            body=body if method == "POST" else None,
        )
        assert r.status == 401
        assert r.json() == envelope(401, "Invalid API key provided", "authentication_error")


def test_402_when_both_balances_are_zero(sandbox_factory):
    sb = sandbox_factory(subscription_credits=0, lifetime_credits=0)
    r = chat(sb)
    assert r.status == 402
    assert r.json() == envelope(
        402,
        "Insufficient credit balance. Please add credits or upgrade your plan.",
        "insufficient_balance",
    )
    assert call(sb, "GET", "models").status == 200
    assert call(sb, "GET", "balance").status == 200


def test_injected_faults_are_500_and_seeded(sandbox_factory):
    def outcomes(seed):
        sb = sandbox_factory(fail_rate=0.5, seed=seed)
        return [call(sb, "GET", "models", key=sb.api_key).status for _ in range(20)]

    a, b = outcomes(3), outcomes(3)
    assert a == b  # same seed, same faults
    assert set(a) == {200, 500}
    sb = sandbox_factory(fail_rate=1.0)
    r = chat(sb)
    assert r.status == 500
    assert r.json() == envelope(
        500, "An internal error occurred. Please try again later.", "internal_error"
    )


def _raw_exchange(base_url: str, request: bytes, read_timeout: float = 5.0) -> bytes:
    u = urlsplit(base_url)
    with socket.create_connection((u.hostname, u.port), timeout=read_timeout) as s:
        s.sendall(request)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def test_413_is_refused_from_content_length_before_reading_the_body(sandbox):
    # announce 5 MiB, send none of it: the answer must come at once, and the connection close
    req = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + sandbox.api_key.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 5242880\r\n\r\n"
    )
    resp = _raw_exchange(sandbox.base_url, req)
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in head
    assert b"x-request-id: req_" in head
    err = json.loads(body)["error"]
    assert err["code"] == 413
    assert err["type"] == "invalid_request_error"
    assert "5242880 bytes" in err["message"]


def test_413_for_a_real_body_just_over_1_mib(sandbox):
    big = (
        b'{"model":"gpt-4o","messages":[{"role":"user","content":"' + b"a" * (1024 * 1024) + b'"}]}'
    )
    r = call(
        sandbox, "POST", "chat/completions", raw=big, headers={"Content-Type": "application/json"}
    )
    assert r.status == 413
    # a body just under the limit is fine
    content = "a" * (1024 * 1024 - 200)
    assert chat(sandbox, content, max_tokens=1).status == 200
    # and the server still works
    assert call(sandbox, "GET", "models").status == 200


def test_expect_100_continue_with_a_huge_body_gets_413(sandbox):
    req = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    resp = _raw_exchange(sandbox.base_url, req)
    assert resp.startswith(b"HTTP/1.1 413 ")
    assert json.loads(resp.partition(b"\r\n\r\n")[2])["error"]["code"] == 413


def test_garbage_request_line_gets_a_json_400_and_no_traceback(sandbox_factory, capsys):
    import io

    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    resp = _raw_exchange(sb.base_url, b"HELLO\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 400 ")
    assert json.loads(resp.partition(b"\r\n\r\n")[2])["error"]["code"] == 400
    assert call(sb, "GET", "models").status == 200
    assert "Traceback" not in log.getvalue()
    assert "Traceback" not in capsys.readouterr().err


def test_chunked_request_bodies_are_read(sandbox):
    body = json.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    ).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    req = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
        + sandbox.api_key.encode()
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
    )
    resp = _raw_exchange(sandbox.base_url, req)
    assert resp.startswith(b"HTTP/1.1 200 ")
    assert json.loads(resp.partition(b"\r\n\r\n")[2])["usage"]["completion_tokens"] == 2


def test_a_bad_second_request_on_a_keep_alive_connection_gets_its_own_request_id(sandbox):
    req = (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + sandbox.api_key.encode()
        + b"\r\n\r\nGARBAGE\r\n\r\n"
    )
    resp = _raw_exchange(sandbox.base_url, req)
    ids = [line.split(b": ")[1] for line in resp.split(b"\r\n") if line.startswith(b"x-request-id")]
    assert resp.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 400 " in resp
    assert len(ids) == 2 and ids[0] != ids[1]


# --- hostile or broken request framing -----------------------------------------------------------


def _head(sb, extra: bytes = b"") -> bytes:
    """A chat completion request's head, unfinished: `extra` ends it."""
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + sb.api_key.encode()
        + b"\r\nContent-Type: application/json\r\n"
        + extra
    )


def _status_and_error(resp: bytes) -> tuple[bytes, dict]:
    head, _, body = resp.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)["error"]


CHAT_BODY = json.dumps(
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
).encode()


@pytest.mark.parametrize(
    "size_line", [b"-1", b"-2", b"+5", b"0x5", b"5_0", b"", b"zz", b"1" * 2000, b"-1;ext=1"]
)
def test_a_chunk_size_that_is_not_plain_hex_is_400_at_once(sandbox_factory, size_line):
    # "-1" used to read until EOF (unbounded memory): here the client keeps the connection open,
    # so the answer must come without waiting for it
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    req = _head(sb, extra=b"Transfer-Encoding: chunked\r\n\r\n") + size_line + b"\r\n" + b"x" * 100
    resp = _raw_exchange(sb.base_url, req, read_timeout=3)
    status, err = _status_and_error(resp)
    assert status.startswith(b"HTTP/1.1 400 "), resp[:200]
    assert err == {
        "message": "Invalid chunked request body.",
        "type": "invalid_request_error",
        "code": 400,
    }
    assert b"Connection: close" in resp
    assert "internal error" not in log.getvalue()


def test_chunk_sizes_in_hex_with_extensions_are_read_and_over_1_mib_is_413(sandbox):
    half = len(CHAT_BODY) // 2
    a, b = CHAT_BODY[:half], CHAT_BODY[half:]
    chunked = b"%X;name=value\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (
        len(a),
        a,
        len(b),
        b,
    )
    req = _head(sandbox, extra=b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n") + chunked
    resp = _raw_exchange(sandbox.base_url, req)
    assert resp.startswith(b"HTTP/1.1 200 "), resp[:300]
    # sizes that add up past the limit: 413 before reading them
    too_big = b"80000\r\n" + b"a" * 0x80000 + b"\r\n80001\r\n"
    req = _head(sandbox, extra=b"Transfer-Encoding: chunked\r\n\r\n") + too_big
    status, err = _status_and_error(_raw_exchange(sandbox.base_url, req))
    assert status.startswith(b"HTTP/1.1 413 ") and err["code"] == 413
    assert "1048577 bytes" in err["message"]
    req = _head(sandbox, extra=b"Transfer-Encoding: chunked\r\n\r\n") + b"f" * 40 + b"\r\n"
    status, err = _status_and_error(_raw_exchange(sandbox.base_url, req))
    assert status.startswith(b"HTTP/1.1 413 ") and err["code"] == 413


@pytest.mark.parametrize("length", [b"\xb2", b"1\xb2", b"\xb9\xb2", b"1" * 5000, b"-1", b"1 2"])
@pytest.mark.parametrize("expect", [False, True])
def test_a_content_length_that_is_not_ascii_digits_is_400(sandbox_factory, length, expect):
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    extra = b"Content-Length: " + length + b"\r\n"
    if expect:
        extra += b"Expect: 100-continue\r\n"
    resp = _raw_exchange(sb.base_url, _head(sb, extra=extra + b"\r\n") + CHAT_BODY, read_timeout=3)
    status, err = _status_and_error(resp)
    assert status.startswith(b"HTTP/1.1 400 "), resp[:200]
    assert err == {
        "message": "Invalid Content-Length header.",
        "type": "invalid_request_error",
        "code": 400,
    }
    assert b"100 Continue" not in resp
    assert "internal error" not in log.getvalue()
    assert "connection error" not in log.getvalue()


def _logged(log: io.StringIO, text: str, timeout: float = 3.0) -> bool:
    """Wait for `text` in the log: its line is written just after the response is sent."""
    end = time.monotonic() + timeout
    while text not in log.getvalue() and time.monotonic() < end:
        time.sleep(0.01)
    return text in log.getvalue()


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"[" * 200_000, "nested too deeply"),
        (b'{"model": ' + b"7" * 5000 + b"}", "a number is too long"),
    ],
)
def test_json_too_deep_or_with_a_huge_integer_is_a_400_not_an_internal_error(
    sandbox_factory, raw, needle
):
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    r = call(sb, "POST", "chat/completions", raw=raw, headers={"Content-Type": "application/json"})
    assert r.status == 400, r.body[:200]
    assert r.json() == envelope(
        400, f"Request body is not valid JSON: {needle}.", "invalid_request_error"
    )
    assert _logged(log, '"POST /v1/chat/completions" 400'), log.getvalue()
    assert "internal error" not in log.getvalue()


# --- the log: one safe line per request ----------------------------------------------------------


def _lines(log: io.StringIO) -> list[str]:
    return log.getvalue().splitlines()


def test_a_bad_request_after_a_good_one_is_logged_as_itself(sandbox_factory):
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    req = (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + sb.api_key.encode()
        + b"\r\n\r\nGARBAGE\r\n\r\n"
    )
    resp = _raw_exchange(sb.base_url, req)
    assert resp.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 400 " in resp
    first, second = _lines(log)
    assert '"GET /v1/models" 200' in first
    assert '"GARBAGE" 400' in second and "/v1/models" not in second


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v1/models HTTP/1.1",
        b"GET /v1/models HTTP/1.1\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_k\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_k",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n",
    ],
)
def test_a_request_head_cut_off_by_eof_is_dropped_without_an_answer(sandbox_factory, head):
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    u = urlsplit(sb.base_url)
    with socket.create_connection((u.hostname, u.port), timeout=5) as s:
        s.sendall(head)
        s.shutdown(socket.SHUT_WR)
        assert s.recv(65536) == b""  # closed, nothing sent
    assert log.getvalue() == ""
    assert call(sb, "GET", "models").status == 200


def test_control_characters_from_the_client_are_escaped_in_the_log(sandbox_factory):
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log)
    evil = b"\x1b[2J\x1b]0;pwned\x07\x9b31m"
    reqs = [
        b"GET /v1/" + evil + b"x\rX HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",  # path
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"  # key
        b"Authorization: Bearer sk_test_" + evil + b"\r\n\r\n",
        evil + b"\r\n\r\n",  # a garbage request line
    ]
    for req in reqs:
        assert _raw_exchange(sb.base_url, req).startswith(b"HTTP/1.1 ")
    text = log.getvalue()
    lines = _lines(log)
    assert len(lines) == 3, text
    for ch in ("\x1b", "\x07", "\x9b", "\r"):
        assert ch not in text
    assert lines[0].count(r"\x1b[2J\x1b]0;pwned\x07\x9b31mx\x0dX") == 1
    assert r"key=sk_test_\x1b[2J" in lines[1]
    assert r'"\x1b[2J\x1b]0;pwned\x07\x9b31m" 400' in lines[2]
