"""The sandbox's HTTP framing and methods (issue 11 item 7), over a raw socket so that exactly the
bytes below reach the server: ambiguous framing is a 400 and the connection closes (RFC 9112
§6.3), HEAD is GET without a body, a known path with the wrong method is 405 with `Allow`, an
unknown path stays 404."""

from __future__ import annotations

import io
import json
import socket
from typing import TYPE_CHECKING, Any

import pytest
from sandbox_http import call

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox


def exchange(sb: EmbeddedSandbox, request: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    """Send raw bytes; return (status, headers, body, whatever else came before EOF)."""
    port = int(sb.base_url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    n = int(headers.get("content-length", "0"))
    return status, headers, rest[:n], rest[n:]


def chat_request(sb: EmbeddedSandbox, framing: bytes, body: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + sb.api_key.encode() + b"\r\n"
        b"Content-Type: application/json\r\n" + framing + b"\r\n" + body
    )


BODY = json.dumps(
    {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
).encode()
SMUGGLED = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"


CHUNKED = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        (b"Content-Length: %d\r\nContent-Length: 5\r\n" % len(BODY), BODY),
        (b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(BODY), len(BODY)), BODY),
        (b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(CHUNKED), CHUNKED),
        (b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(CHUNKED), CHUNKED),
    ],
)
def test_ambiguous_framing_is_400_and_closes(
    sandbox: EmbeddedSandbox, framing: bytes, body: bytes
) -> None:
    request = chat_request(sandbox, framing, body + SMUGGLED)
    status, headers, answer, after = exchange(sandbox, request)
    assert status == 400
    assert json.loads(answer)["error"]["type"] == "invalid_request_error"
    assert headers.get("connection") == "close"
    assert after == b""  # the bytes after the body were not answered as a second request


def test_one_content_length_still_works(sandbox: EmbeddedSandbox) -> None:
    framing = b"Content-Length: %d\r\nConnection: close\r\n" % len(BODY)
    status, _, body, _ = exchange(sandbox, chat_request(sandbox, framing, BODY))
    assert status == 200 and json.loads(body)["object"] == "chat.completion"


@pytest.mark.parametrize("path", ["models", "balance"])
def test_head_is_get_without_a_body(sandbox: EmbeddedSandbox, path: str) -> None:
    get = call(sandbox, "GET", path)
    head = call(sandbox, "HEAD", path)
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "models", "GET, HEAD"),
        ("DELETE", "balance", "GET, HEAD"),
        ("GET", "chat/completions", "POST"),
        ("HEAD", "chat/completions", "POST"),
        ("PUT", "chat/completions", "POST"),
    ],
)
def test_a_known_path_with_the_wrong_method_is_405_with_allow(
    sandbox: EmbeddedSandbox, method: str, path: str, allow: str
) -> None:
    r = call(sandbox, method, path)
    assert r.status == 405
    assert r.headers["allow"] == allow
    if method != "HEAD":
        err: dict[str, Any] = r.error
        assert err["code"] == 405 and method in err["message"]


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_unknown_paths_stay_404(sandbox: EmbeddedSandbox, method: str) -> None:
    assert call(sandbox, method, "embeddings").status == 404


@pytest.mark.parametrize("sent", [b"", b'{"model": "claude'])
def test_a_body_that_stalls_times_out_as_a_gone_client(sandbox_factory: Any, sent: bytes) -> None:
    """The idle timeout is the kernel's (SO_RCVTIMEO), whose expiry is EAGAIN: it must still read
    as a timeout (no answer, "client disconnected"), not as an empty body (a 500 before the fix)."""
    log = io.StringIO()
    sb = sandbox_factory(quiet=False, log=log, idle_timeout=0.3)
    port = int(sb.base_url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(chat_request(sb, b"Content-Length: 100\r\n", sent))
        data = b""
        while chunk := s.recv(65536):  # the server closes after its timeout
            data += chunk
    assert data == b""
    assert "client disconnected" in log.getvalue()
    assert "internal error" not in log.getvalue()


# --- the request head: header fields read strictly (RFC 9112 §5), the stdlib's limits kept ------

#: a second request after the first: answered only if the first left the connection open
THEN_CLOSE = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def models_request(sb: EmbeddedSandbox, fields: bytes) -> bytes:
    """GET /v1/models with the sandbox's key, `fields` (whole lines) after it, and its end."""
    return (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + sb.api_key.encode() + b"\r\n" + fields + b"\r\n"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        # obsolete line folding (§5.2): the stdlib joined it to the field before
        (b"X-Note: one\r\n two\r\n", "obsolete line folding"),
        (b"X-Note: one\r\n\ttwo\r\n", "obsolete line folding"),
        # whitespace before the colon (§5.1): the stdlib ended the head there, unseen
        (b"X-Note : one\r\n", "whitespace between a header field name and its colon"),
        (b"Content-Length\t: 5\r\n", "whitespace between a header field name and its colon"),
        # no colon, or a name that is not a token: the stdlib ended the head, or dropped the line
        (b"Garbage\r\n", "not a field name and a colon"),
        (b"X Note: one\r\n", "not a field name and a colon"),
        (b": one\r\n", "not a field name and a colon"),
        (b"X-N\xc3\xb6te: one\r\n", "not a field name and a colon"),
        # a bare CR (§2.2) or a NUL (§5.5) in a value: the stdlib split the line at a CR
        (b"X-Note: one\rX-Other: two\r\n", "CR, LF or NUL in a header field value"),
        (b"X-Note: one\x00two\r\n", "CR, LF or NUL in a header field value"),
    ],
)
def test_a_malformed_header_line_is_400_and_closes(
    sandbox: EmbeddedSandbox, fields: bytes, message: str
) -> None:
    status, headers, body, after = exchange(sandbox, models_request(sandbox, fields) + THEN_CLOSE)
    assert status == 400
    err = json.loads(body)["error"]
    assert err["type"] == "invalid_request_error" and message in err["message"]
    assert headers.get("connection") == "close"
    assert after == b""  # the request after it was not answered


def test_whitespace_before_the_first_field_is_400(sandbox: EmbeddedSandbox) -> None:
    # RFC 9112 §2.2: reject, or ignore the line; the stdlib ignored it
    request = b"GET /v1/models HTTP/1.1\r\n X-Note: one\r\nHost: x\r\n\r\n" + THEN_CLOSE
    status, _, body, after = exchange(sandbox, request)
    assert status == 400 and "obsolete line folding" in json.loads(body)["error"]["message"]
    assert after == b""


def test_a_content_length_after_a_bad_line_is_not_lost(sandbox: EmbeddedSandbox) -> None:
    """The stdlib's parser stopped at a line it could not read, so a Content-Length after it was
    never seen: the body was then read as the next request (smuggled past a proxy that read the
    head differently). Now the head is refused as a whole."""
    framing = b"X-Note : one\r\nContent-Length: %d\r\n" % len(SMUGGLED)
    status, _, _, after = exchange(sandbox, chat_request(sandbox, framing, SMUGGLED))
    assert status == 400
    assert after == b""


def test_whitespace_around_a_value_is_not_part_of_it(sandbox: EmbeddedSandbox) -> None:
    # RFC 9110 §5.5: "close \t" is close (the stdlib compared "close \t" and kept the connection)
    fields = b"Connection:   close \t\r\nX-Note:\r\n"
    status, headers, _, _ = exchange(sandbox, models_request(sandbox, fields))
    assert status == 200
    assert headers.get("connection") == "close"


def test_field_names_are_read_without_case_and_lines_may_end_in_a_lone_lf(
    sandbox: EmbeddedSandbox,
) -> None:
    request = (
        b"POST /v1/chat/completions HTTP/1.1\nhost: x\nAUTHORIZATION: Bearer "
        + sandbox.api_key.encode()
        + b"\ncontent-length: %d\nCONNECTION: close\n\n" % len(BODY)
        + BODY
    )
    status, headers, body, _ = exchange(sandbox, request)
    assert status == 200 and json.loads(body)["usage"]["completion_tokens"] == 3
    assert headers.get("connection") == "close"


@pytest.mark.parametrize(("count", "status"), [(99, 200), (100, 431)])
def test_at_most_99_header_lines_as_the_stdlib(
    sandbox: EmbeddedSandbox, count: int, status: int
) -> None:
    # the stdlib counts the empty line that ends the head: 100 lines in all
    fields = b"X-Note: one\r\n" * (count - 3) + b"Connection: close\r\n"  # Host, key: 2 more
    got, _, body, _ = exchange(sandbox, models_request(sandbox, fields))
    assert got == status
    if status == 431:
        assert json.loads(body)["error"]["message"] == "Too many headers"


@pytest.mark.parametrize(("size", "status"), [(65536, 200), (65537, 431)])
def test_a_header_line_of_at_most_64_kib_as_the_stdlib(
    sandbox: EmbeddedSandbox, size: int, status: int
) -> None:
    line = b"X-Note: " + b"a" * (size - 10) + b"\r\n"
    assert len(line) == size
    got, _, body, _ = exchange(sandbox, models_request(sandbox, line + b"Connection: close\r\n"))
    assert got == status
    if status == 431:
        assert json.loads(body)["error"]["message"] == "Line too long"


# the request line is read as the stdlib reads it: the same checks, errors and keep-alive


class _Recorded:
    """A handler's parse_request run on bytes, its send_error calls recorded."""

    def __init__(self, cls: type, head: bytes) -> None:
        h = cls.__new__(cls)
        first, _, rest = head.partition(b"\n")
        h.raw_requestline = first + b"\n"
        h.rfile = io.BufferedReader(io.BytesIO(rest))  # type: ignore[arg-type]
        h.command, h.path, h.requestline = "", "", ""
        self.errors: list[tuple[int, str | None]] = []
        h.send_error = lambda code, message=None, explain=None: self.errors.append(
            (int(code), message)
        )
        self.ok = h.parse_request()
        self.state = (
            self.ok,
            self.errors,
            h.close_connection,
            h.requestline,
            h.request_version,
            (h.command, h.path) if self.ok else None,
        )


@pytest.mark.parametrize(
    "line",
    [
        b"GET /v1/models HTTP/1.1",
        b"GET /v1/models HTTP/1.0",
        b"GET  /v1/models \t HTTP/1.1 ",
        b"GET /v1/models",
        b"POST /v1/models",
        b"GET /v1/models HTTP/1.1 extra",
        b"GET",
        b" ",
        b"GET //evil.example/x HTTP/1.1",
        b"GET /v1/models HTTP/2.0",
        b"GET /v1/models HTTP/01.01",
        b"GET /v1/models HTTP/1.1.1",
        b"GET /v1/models HTTP/1",
        b"GET /v1/models http/1.1",
        b"GET /v1/models HTTP/1.x",
        b"GET /v1/models HTTP/\xb2.1",
        b"GET /v1/models HTTP/12345678901.1",
        b"GET /v1/models HTTP/0.9",
        b"GET\x1c/v1/models\x85HTTP/1.1",
    ],
)
def test_the_request_line_is_read_as_the_stdlib_reads_it(line: bytes) -> None:
    from http.server import BaseHTTPRequestHandler

    from mscli.sandbox.handler import BaseHandler

    class Stdlib(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

    head = line + b"\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
    assert _Recorded(BaseHandler, head).state == _Recorded(Stdlib, head).state
