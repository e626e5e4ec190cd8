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
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

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


class _HeadReader:
    """Wraps `rfile` while the request head is parsed, to tell a head that ended with its blank
    line from one cut off by EOF (`http.client.parse_headers` treats both as the end)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.cut_off = False

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.raw.readline(limit)
        if not line.endswith(b"\n") and len(line) != limit:
            self.cut_off = True  # EOF before the blank line that ends the head
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"mscli-sandbox/{__version__}"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer
    raw_requestline: bytes  # set by the stdlib's handle_one_request (not in typeshed)

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
        self._head_reader: _HeadReader | None = None
        super().handle_one_request()

    def parse_request(self) -> bool:
        """The stdlib's parsing, except that a head cut off by EOF (no blank line at its end) is
        not a request: it is dropped without an answer or a log line, and the connection closed."""
        if not self.raw_requestline.endswith(b"\n"):
            self.close_connection = True
            return False
        reader = self._head_reader = _HeadReader(self.rfile)
        self.rfile = reader  # type: ignore[assignment]
        try:
            ok = super().parse_request()
        finally:
            self.rfile = reader.raw
        if reader.cut_off:
            self.close_connection = True
            return False
        return ok

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
        reader = self._head_reader
        if reader is not None and reader.cut_off:
            return False  # not a request (see parse_request): no 100, no error
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
