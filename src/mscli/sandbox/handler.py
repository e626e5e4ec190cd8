"""The request handler's plumbing: per-connection setup, one log line per request, raw response
writing (first-byte delay, headers), error bodies (also for the stdlib's own errors), dispatch with
its never-a-traceback rule, and request bodies (Content-Length or chunked, 413 before reading).
The endpoints themselves are `endpoints.Handler`, a subclass."""

from __future__ import annotations

import contextlib
import io
import re
import socket
import struct
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, overload

from mscli import __version__
from mscli.sandbox.protocol import (
    DISCONNECTS,
    MSG_INTERNAL,
    ClientGone,
    Reject,
    compact_json,
    error_body,
    new_id,
)

if TYPE_CHECKING:
    from mscli.sandbox.server import SandboxServer, _HTTPServer


#: A chunk size (RFC 9112 §7.1): hex digits only (before any `;extensions`). No sign, no `0x`, no
#: `_`, which int(..., 16) would take: "-1" read to EOF, "-2" failed. Huge sizes are 413s.
_CHUNK_SIZE_RE = re.compile(rb"[0-9A-Fa-f]+")

#: (second, its HTTP date): see `BaseHandler.date_time_string`
_date: tuple[int, str] = (-1, "")

#: At most this many trailer lines after the last chunk (they are read and dropped).
_MAX_TRAILER_LINES = 64

#: The stdlib's limits on a request head (`http.client`): bytes in a line, lines in the head.
_MAX_LINE = 65536
_MAX_HEAD_LINES = 100

#: A field name (RFC 9110 §5.1: a token).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A header field line: a token, a colon right after it, a value with no CR, LF or NUL (the
#: whitespace around it is dropped after the match), CRLF or a lone LF (RFC 9112 §2.2).
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\r\n\x00]*)\r?\n")

#: HTTP versions as the stdlib's `parse_request` reads them: the two every client sends.
_VERSIONS = {"HTTP/1.1": (1, 1), "HTTP/1.0": (1, 0)}


def _version_number(version: str) -> tuple[int, int] | None:
    """An HTTP version's numbers as the stdlib's `parse_request` reads them (RFC 2145: two
    decimal numbers, leading zeros ignored, at most 10 digits each), or None if it is not one."""
    if not version.startswith("HTTP/"):
        return None
    parts = version[5:].split(".")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 10 for p in parts):
        return None
    try:  # str.isdigit takes "²", which int() refuses
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None


def parse_content_length(raw: str) -> int | None:
    """The value of a Content-Length header, or None if it is not a plain run of ASCII digits
    (`str.isdigit` alone would take "²" or Arabic-Indic digits, which `int` then refuses or
    reads). More than 18 significant digits is refused too: no body is that large."""
    text = raw.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text.lstrip("0")) > 18:
        return None
    return int(text)


def set_kernel_timeouts(conn: socket.socket, seconds: float) -> None:
    """The idle/stall timeout of a blocking connection as the kernel's `SO_RCVTIMEO` and
    `SO_SNDTIMEO`: each read is one `recv` system call, where `settimeout()` makes it a `poll` and
    a `recv`. A read that times out fails with EAGAIN (`_TimedReader` makes it a TimeoutError,
    as with `settimeout()`), or with ETIMEDOUT, already a TimeoutError, on Windows; a write that
    times out raises an OSError, which `BaseHandler._write` treats as a gone client."""
    if sys.platform == "win32":  # a DWORD of milliseconds
        value = struct.pack("@L", max(1, round(seconds * 1000)))
    else:  # a struct timeval; (0, 0) would mean "never": at least 1 microsecond
        micros = max(1, round(seconds * 1_000_000))
        value = struct.pack("@ll", *divmod(micros, 1_000_000))
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


class _TimedReader(socket.SocketIO):
    """The raw reader of a blocking connection with `SO_RCVTIMEO`: `SocketIO` returns None for
    EAGAIN ("no data yet", meant for non-blocking sockets), which the buffered reader would take
    for EOF or a short read; here it is what it means, a timeout, raised as with `settimeout()`."""

    def readinto(self, b: Any) -> int | None:
        n = super().readinto(b)
        if n is None:
            self._timeout_occurred = True  # as SocketIO does after a timeout: no further reads
            raise TimeoutError("timed out")
        return n


class HeadRefused(Exception):
    """A request head the sandbox answers with an error (and closes the connection)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Headers:
    """A request's header fields: the values of each name (compared without case) in the order
    received. What the handler reads of `email.message.Message`, which the stdlib builds."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields  # lower-cased name -> values

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of `name`, or `default`."""
        values = self._fields.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str] | None:
        """Every value of `name` in order, or None."""
        return self._fields.get(name.lower())


def read_field_lines(readline: Callable[[int], bytes]) -> list[bytes] | None:
    """The header field lines of a request head, each with its line end, up to the empty line
    that ends the head; None if EOF cuts the head off before that line (it is not a request).
    The stdlib's limits: a line of more than 65,536 bytes is a 431 "Line too long", and more than
    100 lines, the empty one included, a 431 "Too many headers"."""
    lines: list[bytes] = []
    while True:
        line = readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise HeadRefused(431, "Line too long")
        if len(lines) >= _MAX_HEAD_LINES:  # this line is the 101st
            raise HeadRefused(431, "Too many headers")
        if line == b"\r\n" or line == b"\n":
            return lines
        if not line.endswith(b"\n"):
            return None
        lines.append(line)


def parse_fields(lines: list[bytes]) -> Headers:
    """Header field lines as `Headers`, strictly (RFC 9112 §5, RFC 9110 §5.5): a token, a colon
    right after it, the value without the whitespace around it. Anything else is a 400
    (`HeadRefused`): a line that starts with whitespace (obsolete line folding, §5.2, or
    whitespace before the first field, §2.2), whitespace before the colon (§5.1), a name that is
    not a token or no colon, a CR, LF or NUL in a value (a bare CR, §2.2; §5.5). The stdlib's
    `email` parser took these silently: a folded line joined the field before it, and a line it
    could not read ended the head there, so that a `Content-Length : 5` after it was not seen
    and the body was read as the next request."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        m = _FIELD_LINE.fullmatch(line)
        if m is None:
            raise HeadRefused(400, _field_line_error(line))
        name, value = m.groups()
        values = fields.get(name := name.decode("ascii").lower())
        value = value.strip(b" \t").decode("latin-1")
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    return Headers(fields)


def _field_line_error(line: bytes) -> str:
    """What is wrong with a header field line `_FIELD_LINE` refused."""
    if line[:1] in (b" ", b"\t"):
        return "Invalid request: obsolete line folding (a header line that starts with whitespace)."
    name, colon, _ = line.partition(b":")
    if colon and name and name.rstrip(b" \t") != name:
        return "Invalid request: whitespace between a header field name and its colon."
    if colon and _TOKEN.fullmatch(name):
        return "Invalid request: CR, LF or NUL in a header field value."
    return "Invalid request: a header line that is not a field name and a colon."


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"mscli-sandbox/{__version__}"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer
    raw_requestline: bytes  # set by the stdlib's handle_one_request (not in typeshed)
    headers: Headers  # type: ignore[assignment]  # parse_request's, not an email Message

    # --- per-connection setup ------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()  # the class's `timeout` is None: the socket stays blocking
        set_kernel_timeouts(self.connection, self.server.sandbox.config.idle_timeout)
        self.rfile.close()  # the stdlib's reader (the socket stays open): read through _TimedReader
        self.rfile = io.BufferedReader(_TimedReader(self.connection, "rb"))
        self.server.track(self.connection, True)
        self._begin()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, False)

    def _begin(self) -> None:
        self._t0 = time.perf_counter()
        self._rid = new_id("req_")
        self._status = 0
        self._note = ""
        self._key_label = "-"
        self._delayed = False
        self._extra_delay = 0.0
        self._rate_headers: dict[str, str] = {}

    @property
    def sandbox(self) -> SandboxServer:
        return self.server.sandbox

    # --- reading a request head ----------------------------------------------------------------

    def handle_one_request(self) -> None:
        # forget the previous request on this keep-alive connection: a bad request that follows
        # must not be logged (or answered) with the previous one's command or path
        self.command = ""
        self.path = ""
        self.requestline = ""
        super().handle_one_request()

    def parse_request(self) -> bool:
        """The request line as the stdlib's `parse_request` reads it (the same checks, errors
        and `close_connection`), then the header fields by `read_field_lines` and `parse_fields`
        rather than the stdlib's `email` parser (strict; the `email` parser took about a third of
        the handler's CPU for a 20-token chat). A head cut off by EOF (no empty line at its end)
        is not a request: it is dropped without an answer or a log line, and the connection
        closed."""
        self.request_version = version = self.default_request_version
        self.close_connection = True
        if not self.raw_requestline.endswith(b"\n"):
            return False
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:  # enough to know the protocol version
            version = words[-1]
            number = _VERSIONS.get(version) or _version_number(version)
            if number is None:
                self.send_error(400, f"Bad request version ({version!r})")
                return False
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(505, f"Invalid HTTP version ({version.split('/', 1)[1]})")
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(400, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(400, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        if path.startswith("//"):  # as the stdlib (gh-87389): no scheme-relative path
            path = "/" + path.lstrip("/")
        self.command, self.path = command, path
        try:
            lines = read_field_lines(self.rfile.readline)
            if lines is None:
                self.close_connection = True
                return False
            self.headers = parse_fields(lines)
        except HeadRefused as refused:
            self.send_error(refused.status, refused.message)
            return False
        conntype = self.headers.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "")
        if (
            expect.lower() == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and self.request_version >= "HTTP/1.1"
        ):
            return self.handle_expect_100()
        return True

    # --- logging: one concise line per request, never a traceback --------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # we log once per request in _dispatch, with more facts

    def log_message(self, format: str, *args: Any) -> None:
        msg = format % args
        if msg.startswith("Request timed out"):
            return  # idle keep-alive connection: not worth a line
        self.sandbox.log(f"{self.client_address[0]} {msg}")

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header, formatted once a second rather than for every response."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        global _date
        now = int(time.time())
        if _date[0] != now:
            _date = (now, super().date_time_string(now))
        return _date[1]

    def _log_line(self) -> None:
        """One line per request. What the client sent (request line, path, key) reaches the
        terminal only through `SandboxServer.log`, which escapes control characters."""
        if not self.sandbox.logging:
            return
        ms = (time.perf_counter() - self._t0) * 1000
        note = f" {self._note}" if self._note else ""
        command = getattr(self, "command", None)
        if command:
            request = f"{command} {(getattr(self, 'path', None) or '-')[:200]}"
        else:  # not parsed (a bad request line): show what was sent, or '-'
            request = (getattr(self, "requestline", None) or "-")[:200]
        self.sandbox.log(
            f'{self.client_address[0]} "{request}" {self._status or "-"} '
            f"{ms:.1f}ms {self._rid} key={self._key_label}{note}"
        )

    # --- low-level writing ---------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError as exc:
            self.close_connection = True
            raise ClientGone(str(exc)) from exc

    def _first_byte_delay(self) -> None:
        if self._delayed:
            return
        self._delayed = True
        delay = self.sandbox.config.latency_ms / 1000 + self._extra_delay
        if delay > 0:
            self.sandbox.stopping.wait(delay)

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}"]
        all_headers = {
            "Server": self.version_string(),
            "Date": self.date_time_string(),
            "x-request-id": self._rid,
            **self._rate_headers,
            **headers,
        }
        if self.close_connection:
            all_headers["Connection"] = "close"
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _start(self, status: int, headers: dict[str, str]) -> bytes:
        """Wait out the first-byte delay, record the status, and return the response head."""
        self._first_byte_delay()
        self._status = status
        return self._head(status, headers)

    def _respond(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        hdrs = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        payload = self._start(status, hdrs)
        if self.command != "HEAD":
            payload += body
        self._write(payload)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = compact_json(obj).encode()
        self._respond(status, body, "application/json", headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, error_body(status, message), headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised by the stdlib itself (bad request line, bad headers, 100-continue):
        the documented envelope instead of an HTML page."""
        self.close_connection = True
        self._begin()  # a request of its own: never reuse the previous request's id
        text = message or self.responses.get(code, ("Error",))[0]
        try:
            self._error(code, text)
        except ClientGone:
            pass
        self._note = "rejected by the HTTP layer"
        self._log_line()

    def handle_expect_100(self) -> bool:
        raw = self.headers.get("Content-Length")
        if raw is not None:
            n = parse_content_length(raw)
            if n is None:
                self.send_error(400, "Invalid Content-Length header.")
                return False
            if n > self.sandbox.config.max_body_bytes:
                self.send_error(413, self._too_large_message(n))
                return False
        return super().handle_expect_100()

    # --- dispatch ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._begin()
        self.server.busy(+1)
        try:
            self._route()
        except Reject as rej:
            if rej.close:
                self.close_connection = True
            try:
                self._error(rej.status, rej.message, rej.headers)
                if rej.linger:
                    self._linger(rej.linger)
            except DISCONNECTS:
                self._note = "client disconnected"
        except DISCONNECTS:
            self.close_connection = True
            self._note = (self._note + " " if self._note else "") + "client disconnected"
        except Exception as exc:  # a sandbox bug: one line, a 500, no traceback
            self.close_connection = True
            self._note = f"internal error {type(exc).__name__}: {exc}"
            if not self._status:
                with contextlib.suppress(*DISCONNECTS):
                    self._error(500, MSG_INTERNAL)
        finally:
            self._log_line()
            self.server.busy(-1)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def _too_large_message(self, n: int) -> str:
        size = f"{n} bytes" if n < 10**18 else "over 10^18 bytes"  # a chunk size can be huge
        return (
            f"Request body too large: {size}; the limit is "
            f"{self.sandbox.config.max_body_bytes} bytes (1 MiB)."
        )

    def _linger(self, pending: int) -> None:
        """Lingering close (as nginx does) after refusing a body unread: stop sending, then read
        and discard what the client is still sending, at most `pending` bytes (capped) or 2 s.
        Closing at once would reset the connection and could destroy the 413 before the client
        reads it. Memory stays bounded: 64 KiB at a time, nothing kept."""
        remaining = min(pending, 64 * 1024 * 1024)
        deadline = time.monotonic() + 2.0
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            while remaining > 0 and time.monotonic() < deadline:
                data = self.rfile.read1(min(65536, remaining))
                if not data:
                    break
                remaining -= len(data)

    def _read_body(self) -> bytes:
        """The request body, after checking its framing (RFC 9112 §6.3): more than one
        Content-Length, or Transfer-Encoding with Content-Length, is a 400 and the connection is
        closed (a proxy and this server could disagree where the next request starts)."""
        limit = self.sandbox.config.max_body_bytes
        lengths = self.headers.get_all("Content-Length") or []
        encoding = self.headers.get_all("Transfer-Encoding") or []
        if len(lengths) > 1:
            raise Reject(400, "Invalid request: more than one Content-Length header.", close=True)
        if encoding and lengths:
            raise Reject(
                400, "Invalid request: both Transfer-Encoding and Content-Length.", close=True
            )
        if "chunked" in ",".join(encoding).lower():
            return self._read_chunked(limit)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        n = parse_content_length(raw)
        if n is None:
            raise Reject(400, "Invalid Content-Length header.", close=True)
        if n > limit:
            # refuse before reading: the unread body makes the connection unusable, so close it
            raise Reject(413, self._too_large_message(n), close=True, linger=n)
        try:
            data = self.rfile.read(n)
        except OSError as exc:
            raise ClientGone(str(exc)) from exc
        if len(data) < n:
            raise ClientGone("body cut short")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        """A chunked body, at most `limit` bytes kept: 413 as soon as the announced sizes pass
        it, 400 for a chunk-size line that is not hex digits (a sign, `0x`, garbage)."""

        def invalid() -> Reject:
            return Reject(400, "Invalid chunked request body.", close=True)

        parts: list[bytes] = []
        total = 0
        try:
            while True:
                line = self._chunk_line()
                size_text = line.split(b";", 1)[0].strip(b" \t\r\n")
                if not _CHUNK_SIZE_RE.fullmatch(size_text):
                    raise invalid()
                size = int(size_text, 16)
                if size == 0:
                    for _ in range(_MAX_TRAILER_LINES):
                        if self._chunk_line() in (b"\r\n", b"\n"):
                            return b"".join(parts)
                    raise invalid()
                total += size
                if total > limit:
                    raise Reject(413, self._too_large_message(total), close=True, linger=limit)
                data = self.rfile.read(size)
                if len(data) < size:
                    raise ClientGone("chunked body cut short")
                parts.append(data)
                if self._chunk_line() not in (b"\r\n", b"\n"):
                    raise invalid()
        except OSError as exc:
            raise ClientGone(str(exc)) from exc

    def _chunk_line(self) -> bytes:
        """One line of a chunked body's framing (at most 1 KiB): ClientGone at EOF, 400 if
        longer."""
        line = self.rfile.readline(1024)
        if not line.endswith(b"\n"):
            if len(line) < 1024:
                raise ClientGone("chunked body cut short")
            raise Reject(400, "Invalid chunked request body.", close=True)
        return line

    def _route(self) -> None:
        """Read the body, pick the endpoint and answer: `endpoints.Handler` does it."""
        raise NotImplementedError
