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
