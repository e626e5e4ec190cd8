"""The sandbox HTTP server: a local, ModelStack-compatible gateway on the stdlib `ThreadingHTTPServer`
(HTTP/1.1, keep-alive, one thread per connection; see docs/architecture.md for why).

What is ModelStack's and what is ours:
- Documented by ModelStack (modelstack-api.md §2, §5, docs-errors-page.txt): the two endpoints, the
  request fields, the error envelope `{"error": {"message", "type", "code"}}` with the documented
  types and the documented messages (unsupported model, missing model, invalid key, insufficient
  balance, rate limit, internal error).
- mscli decisions (§11): `GET /v1/balance` and its shape (§11.5), the catalogue (§11.6), the OpenAI
  SSE chunk shape (§11.2), the messages of undocumented 400s, 404 and 413.
- Sandbox extensions, NOT documented by ModelStack: `Retry-After` on 429, the
  `x-ratelimit-limit-requests` / `x-ratelimit-remaining-requests` / `x-ratelimit-reset-requests`
  headers, `x-request-id`, the magic test keys (`keys.py`), `--fail-rate`, `--latency-ms`,
  `--tokens-per-second`.

Order of checks for a request: body size (413, refused before reading) -> route (404) -> key (401)
-> magic-key behaviour (429/500) -> plan RPM window (429) -> injected fault (500) -> body and
parameters (400) -> balance (402, completions only) -> reply, then charge.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import random
import secrets
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn, TextIO
from urllib.parse import urlsplit

from mscli import __version__, pricing
from mscli.sandbox import keys as magic_keys
from mscli.sandbox.accounts import Account, AccountStore, RateDecision
from mscli.sandbox.generator import Reply

#: Largest request body accepted; bigger ones get 413 before a byte of the body is read.
MAX_BODY_BYTES = 1024 * 1024
#: Largest `max_tokens` accepted (a sandbox limit, so one request cannot run for ever).
MAX_TOKENS_LIMIT = 131_072
#: Fixed `created` of every model in /v1/models (deterministic output).
MODELS_CREATED = 1_700_000_000

# Documented messages (docs-errors-page.txt): keep them byte-for-byte.
MSG_MISSING_MODEL = "Model field is required in request body"
MSG_INVALID_KEY = "Invalid API key provided"
MSG_NO_BALANCE = "Insufficient credit balance. Please add credits or upgrade your plan."
MSG_RATE_LIMIT = "Rate limit exceeded. Please retry after a short delay."
MSG_INTERNAL = "An internal error occurred. Please try again later."

#: Documented error types by status; undocumented statuses map to their class (§11.3).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_balance",
    404: "not_found",
    429: "rate_limit_error",
    500: "internal_error",
}

#: Response headers the sandbox sends that ModelStack does NOT document (modelstack-api.md §6):
#: sandbox extensions, for the README/man generator. Clients must not rely on them in production.
EXTENSION_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-request-id", "an id for each response (`req_` + 24 hex digits)"),
    ("Retry-After", "on 429: whole seconds until a request slot frees"),
    ("x-ratelimit-limit-requests", "the plan's requests per window (RPM)"),
    ("x-ratelimit-remaining-requests", "requests left in the current sliding window"),
    (
        "x-ratelimit-reset-requests",
        "time until the oldest request leaves the window (`12.5s`, `250ms`)",
    ),
)

_ROLES = ("system", "user", "assistant")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "internal_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str, etype: str | None = None) -> dict[str, Any]:
    """The documented error envelope."""
    return {"error": {"message": message, "type": etype or error_type_for(status), "code": status}}


def unsupported_model_message(model: str) -> str:
    """The docs' exact format. Sorted, the catalogue's first five IDs are the five the docs list."""
    shown = ", ".join(sorted(pricing.MODELS)[:5])
    name = model if len(model) <= 200 else model[:200] + "…"
    return (
        f'Unsupported model: "{name}". Supported models include: {shown}, and more. '
        "Please check the documentation for the full list."
    )


def prompt_tokens_of(messages: Iterable[dict[str, Any]]) -> int:
    """Deterministic estimate: ceil(chars / 4) + 4 per message."""
    return sum(math.ceil(len(m["content"]) / 4) + 4 for m in messages)


def is_loopback(host: str) -> bool:
    return host in _LOOPBACK_NAMES or host.startswith("127.")


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8787  # 0 = any free port
    plan: str = "pro"  # plan of fresh `sk_test_…` accounts
    #: credits of a fresh account; None = the plan's per-refill amount (pro: 750)
    subscription_credits: float | None = None
    lifetime_credits: float = 100.0
    latency_ms: float = 0.0  # delay before the first byte of every response
    tokens_per_second: float | None = None  # stream pacing; None or 0 = as fast as possible
    fail_rate: float = 0.0  # probability of an injected 500 (seeded RNG)
    seed: int = 0
    rate_window_seconds: float = 60.0
    #: requests per window; None = the plan's RPM (a test knob, not a ModelStack fact)
    rpm: int | None = None
    slow_ms: float = 2000.0  # first-byte delay of `sk_test_slow`
    quiet: bool = False  # no per-request log lines
    log: TextIO | None = None  # where log lines go (default: sys.stderr at the time of writing)
    idle_timeout: float = 60.0  # socket timeout: idle keep-alive or stalled client
    max_body_bytes: int = MAX_BODY_BYTES
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if self.plan not in pricing.PLANS:
            raise ValueError(
                f"unknown plan {self.plan!r}; choose one of {', '.join(pricing.PLANS)}"
            )
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.rate_window_seconds <= 0:
            raise ValueError("rate_window_seconds must be positive")
        if self.rpm is not None and self.rpm < 1:
            raise ValueError("rpm must be at least 1")
        for name in ("latency_ms", "slow_ms", "lifetime_credits"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.subscription_credits is not None and self.subscription_credits < 0:
            raise ValueError("subscription_credits must not be negative")
        if self.tokens_per_second is not None and self.tokens_per_second < 0:
            raise ValueError("tokens_per_second must not be negative")


class _Reject(Exception):
    """Raised inside a handler to answer with the documented error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
        linger: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.close = close
        #: bytes of unread body the client may still be sending (see `_Handler._linger`)
        self.linger = linger


class _ClientGone(Exception):
    """The client closed or stalled the connection; nothing more can be sent."""


_DISCONNECTS = (ConnectionError, TimeoutError, _ClientGone)


def _new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def _rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_seconds(s: float) -> str:
    """Duration for x-ratelimit-reset-requests, OpenAI-style (`1s`, `12.5s`, `250ms`)."""
    if s < 1:
        return f"{round(s * 1000)}ms"
    return f"{round(s, 3):g}s"


def _credits(x: float) -> float | int:
    x = round(x, 6)
    return int(x) if x == int(x) else x


@dataclass(frozen=True)
class _ChatParams:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    stop: list[str]


def _number(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    v = body.get(name)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise _Reject(
            400,
            f"Invalid '{name}': {json.dumps(v)[:50]}. Expected a number between {lo:g} and {hi:g}.",
        )


def _validate_chat(body: Any) -> _ChatParams:
    """400s for the chat body; the first problem wins."""
    if not isinstance(body, dict):
        raise _Reject(400, "Request body must be a JSON object.")
    model = body.get("model")
    if model is None or model == "":
        raise _Reject(400, MSG_MISSING_MODEL)
    if not isinstance(model, str):
        raise _Reject(400, "Invalid 'model': expected a string.")
    if model not in pricing.MODELS:
        raise _Reject(400, unsupported_model_message(model))
    messages = body.get("messages")
    if messages is None:
        raise _Reject(400, "Messages field is required in request body")
    if not isinstance(messages, list) or not messages:
        raise _Reject(400, "Invalid 'messages': expected a non-empty array of messages.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _Reject(
                400, f"Invalid 'messages[{i}]': expected an object with 'role' and 'content'."
            )
        role = m.get("role")
        if role not in _ROLES:
            raise _Reject(
                400,
                f"Invalid 'messages[{i}].role': {json.dumps(role)[:40]}. "
                f"Expected one of {', '.join(_ROLES)}.",
            )
        if not isinstance(m.get("content"), str):
            raise _Reject(400, f"Invalid 'messages[{i}].content': expected a string.")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise _Reject(
            400,
            f"Invalid 'max_tokens': {json.dumps(max_tokens)[:50]}. "
            f"Expected an integer between 1 and {MAX_TOKENS_LIMIT}.",
        )
    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if len(stop) > 4:
            raise _Reject(
                400, f"Invalid 'stop': {len(stop)} sequences given, at most 4 are allowed."
            )
        stops = list(stop)
    else:
        raise _Reject(400, "Invalid 'stop': expected a string or an array of up to 4 strings.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _Reject(400, "Invalid 'stream': expected a boolean.")
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise _Reject(400, "Invalid 'stream_options': expected an object.")
    include_usage = bool(opts and opts.get("include_usage") is True)
    return _ChatParams(model, messages, stream, include_usage, max_tokens, stops)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"mscli-sandbox/{__version__}"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

    # --- per-connection setup ------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.sandbox.config.idle_timeout)
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
        self._rid = _new_request_id()
        self._status = 0
        self._note = ""
        self._key_label = "-"
        self._delayed = False
        self._extra_delay = 0.0
        self._rate_headers: dict[str, str] = {}

    @property
    def sandbox(self) -> SandboxServer:
        return self.server.sandbox

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

    def _log_line(self) -> None:
        ms = (time.perf_counter() - self._t0) * 1000
        note = f" {self._note}" if self._note else ""
        command = getattr(self, "command", None) or "-"
        path = (getattr(self, "path", None) or "-")[:200]
        self.sandbox.log(
            f'{self.client_address[0]} "{command} {path}" {self._status or "-"} '
            f"{ms:.1f}ms {self._rid} key={self._key_label}{note}"
        )

    # --- low-level writing ---------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError as exc:
            self.close_connection = True
            raise _ClientGone(str(exc)) from exc

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

    def _respond(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self._first_byte_delay()
        self._status = status
        hdrs = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        payload = self._head(status, hdrs)
        if self.command != "HEAD":
            payload += body
        self._write(payload)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
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
        except _ClientGone:
            pass
        self._note = "rejected by the HTTP layer"
        self._log_line()

    def handle_expect_100(self) -> bool:
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.sandbox.config.max_body_bytes:
            self.send_error(413, self._too_large_message(int(length)))
            return False
        return super().handle_expect_100()

    # --- dispatch ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._begin()
        self.server.busy(+1)
        try:
            self._route()
        except _Reject as rej:
            if rej.close:
                self.close_connection = True
            try:
                self._error(rej.status, rej.message, rej.headers)
                if rej.linger:
                    self._linger(rej.linger)
            except _DISCONNECTS:
                self._note = "client disconnected"
        except _DISCONNECTS:
            self.close_connection = True
            self._note = (self._note + " " if self._note else "") + "client disconnected"
        except Exception as exc:  # a sandbox bug: one line, a 500, no traceback
            self.close_connection = True
            self._note = f"internal error {type(exc).__name__}: {exc}"
            if not self._status:
                with contextlib.suppress(*_DISCONNECTS):
                    self._error(500, MSG_INTERNAL)
        finally:
            self._log_line()
            self.server.busy(-1)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def _too_large_message(self, n: int) -> str:
        return (
            f"Request body too large: {n} bytes; the limit is "
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
        limit = self.sandbox.config.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        if not raw.strip().isdigit():
            raise _Reject(400, "Invalid Content-Length header.", close=True)
        n = int(raw)
        if n > limit:
            # refuse before reading: the unread body makes the connection unusable, so close it
            raise _Reject(413, self._too_large_message(n), close=True, linger=n)
        try:
            data = self.rfile.read(n)
        except OSError as exc:
            raise _ClientGone(str(exc)) from exc
        if len(data) < n:
            raise _ClientGone("body cut short")
        return data

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        try:
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise _ClientGone("chunked body cut short")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _Reject(400, "Invalid chunked request body.", close=True) from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > limit:
                    raise _Reject(413, self._too_large_message(total), close=True, linger=limit)
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        except OSError as exc:
            raise _ClientGone(str(exc)) from exc

    def _route(self) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path
        if len(path) > 1:
            path = path.rstrip("/")
        handler = {
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/chat/completions"): self._chat,
            ("GET", "/v1/balance"): self._balance,
        }.get((self.command, path))
        if handler is None:
            raise _Reject(404, f"Not found: {self.command} {path[:200]}")
        acct = self._authenticate()
        handler(acct, body)

    # --- auth, magic keys, rate limit, faults ----------------------------------------------------

    def _authenticate(self) -> Account:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.strip().partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
        if key.startswith(magic_keys.TEST_KEY_PREFIX):
            self._key_label = key[:40]
        elif key:
            self._key_label = key[:3] + "…(not a test key)"
        magic = magic_keys.lookup(key)
        if magic is None or magic.kind == "invalid":
            raise _Reject(401, MSG_INVALID_KEY)
        sb = self.sandbox
        acct = sb.accounts.get(key, magic)
        n = sb.accounts.count_request(acct)
        if magic.kind == "slow":
            self._extra_delay = sb.config.slow_ms / 1000
        if magic.kind == "rate_limited":
            self._rate_limited(RateDecision(False, acct.rpm, 0, 1.0))
        if magic.kind == "retry_after_long":
            self._rate_limited(RateDecision(False, acct.rpm, 0, 3600.0))
        if magic.kind == "server_error" or (magic.kind == "flaky" and n % 2 == 1):
            self._note = f"magic key {magic.kind}"
            raise _Reject(500, MSG_INTERNAL)
        decision = sb.accounts.admit(acct)
        self._rate_headers = {
            "x-ratelimit-limit-requests": str(decision.limit),
            "x-ratelimit-remaining-requests": str(decision.remaining),
            "x-ratelimit-reset-requests": _fmt_seconds(decision.reset_after),
        }
        if not decision.allowed:
            self._rate_limited(decision)
        if sb.fault():
            self._note = "injected fault (--fail-rate)"
            raise _Reject(500, MSG_INTERNAL)
        return acct

    def _rate_limited(self, decision: RateDecision) -> NoReturn:
        self._rate_headers = {
            "x-ratelimit-limit-requests": str(decision.limit),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": _fmt_seconds(decision.reset_after),
        }
        raise _Reject(429, MSG_RATE_LIMIT, headers={"Retry-After": str(decision.retry_after)})

    # --- endpoints -----------------------------------------------------------------------------

    def _models(self, acct: Account, body: bytes) -> None:
        data = [
            {"id": m.id, "object": "model", "created": MODELS_CREATED, "owned_by": m.provider}
            for m in pricing.CATALOGUE
        ]
        self._json(200, {"object": "list", "data": data})

    def _balance(self, acct: Account, body: bytes) -> None:
        sub, life = self.sandbox.accounts.snapshot(acct)
        refill = acct.created_at + pricing.REFILL_INTERVAL_HOURS * 3600
        self._json(
            200,
            {
                "object": "balance",
                "plan": acct.plan.name,
                "rate_limit_rpm": acct.rpm,
                "subscription_credits": _credits(sub),
                "lifetime_credits": _credits(life),
                "next_refill_at": _rfc3339(refill),
                "weekly_cap": _credits(acct.plan.weekly_cap),
            },
        )

    def _chat(self, acct: Account, body: bytes) -> None:
        try:
            parsed = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise _Reject(400, "Request body is not valid UTF-8.") from None
        except json.JSONDecodeError as exc:
            raise _Reject(
                400,
                f"Request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            ) from None
        params = _validate_chat(parsed)
        if acct.empty:
            raise _Reject(402, MSG_NO_BALANCE)
        reply = Reply(params.messages, self.sandbox.config.seed, params.max_tokens, params.stop)
        prompt_tokens = prompt_tokens_of(params.messages)
        cid = "chatcmpl-" + secrets.token_hex(12)
        created = int(time.time())
        if params.stream:
            self._stream(acct, params, reply, prompt_tokens, cid, created)
            return
        text = reply.text()
        usage = self._usage(prompt_tokens, reply.completion_tokens)
        self.sandbox.accounts.charge(acct, params.model, prompt_tokens, reply.completion_tokens)
        self._note = f"{reply.completion_tokens} tok {reply.finish_reason}"
        payload = json.dumps(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": params.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": usage,
            },
            separators=(",", ":"),
        ).encode()
        if acct.kind == "cutoff":
            # announce the full length, send half, close: the client sees a body cut short
            self.close_connection = True
            self._first_byte_delay()
            self._status = 200
            head = self._head(
                200, {"Content-Type": "application/json", "Content-Length": str(len(payload))}
            )
            self._write(head + payload[: len(payload) // 2])
            self._note += " cut off (magic key)"
            return
        self._json_bytes(payload)

    def _json_bytes(self, payload: bytes) -> None:
        self._respond(200, payload, "application/json")

    @staticmethod
    def _usage(prompt: int, completion: int) -> dict[str, int]:
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _stream(
        self,
        acct: Account,
        params: _ChatParams,
        reply: Reply,
        prompt_tokens: int,
        cid: str,
        created: int,
    ) -> None:
        sb = self.sandbox
        cutoff = acct.kind == "cutoff"
        if cutoff:
            self.close_connection = True
        self._first_byte_delay()
        self._status = 200
        self._write(
            self._head(
                200,
                {
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    "Transfer-Encoding": "chunked",
                },
            )
        )
        head = (
            f'data: {{"id":"{cid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{json.dumps(params.model)},"choices":'
        )
        delta_head = (head + '[{"index":0,"delta":{"content":').encode()
        delta_tail = b'},"finish_reason":null}]}\n\n'
        self._chunk(
            (
                head
                + '[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
            ).encode()
        )
        tps = sb.config.tokens_per_second or 0.0
        interval = 1.0 / tps if tps > 0 else 0.0
        cut_at = max(1, (params.max_tokens or 150) // 2) if cutoff else -1
        start = time.perf_counter()
        charged = False
        try:
            for i, tok in enumerate(reply):
                if sb.stopping.is_set():
                    self.close_connection = True
                    self._note = f"{i} tok, aborted: server stopping"
                    return
                if interval:
                    wait = start + i * interval - time.perf_counter()
                    if wait > 0:
                        sb.stopping.wait(wait)
                self._chunk(delta_head + json.dumps(tok).encode() + delta_tail)
                if i + 1 == cut_at:
                    self._chunk(b"")  # a clean end of the body, but no finish_reason and no [DONE]
                    self._note = f"stream {i + 1} tok cut off (magic key)"
                    return
            sb.accounts.charge(acct, params.model, prompt_tokens, reply.completion_tokens)
            charged = True
            finish = (
                head + f'[{{"index":0,"delta":{{}},"finish_reason":"{reply.finish_reason}"}}]}}\n\n'
            ).encode()
            self._chunk(finish)
            if params.include_usage:
                usage = json.dumps(
                    self._usage(prompt_tokens, reply.completion_tokens), separators=(",", ":")
                )
                self._chunk((head + f'[],"usage":{usage}}}\n\n').encode())
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
            self._note = f"stream {reply.completion_tokens} tok {reply.finish_reason}"
        finally:
            if not charged:
                # disconnects, cut-offs and shutdowns pay for what was generated
                sb.accounts.charge(acct, params.model, prompt_tokens, reply.completion_tokens)
                if not self._note:
                    self._note = f"stream {reply.completion_tokens} tok"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._busy = 0  # requests being handled (not idle keep-alive connections)
        self._idle = threading.Condition(self._conn_lock)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # skip HTTPServer's socket.getfqdn(): a reverse DNS lookup can take seconds offline
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def busy(self, delta: int) -> None:
        with self._idle:
            self._busy += delta
            if self._busy == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight (each one has answered and logged its line)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (*_DISCONNECTS, OSError)):
            return  # client misbehaviour: not the server's problem, never a traceback
        self.sandbox.log(f"{client_address[0]} connection error {type(exc).__name__}: {exc}")


class SandboxServer:
    """A ModelStack-compatible server. `start()` serves in a daemon thread; `serve_forever()`
    blocks (Ctrl-C raises KeyboardInterrupt to the caller); `stop()` is idempotent."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        c = self.config
        self.accounts = AccountStore(
            plan=c.plan,
            subscription_credits=c.subscription_credits,
            lifetime_credits=c.lifetime_credits,
            rpm=c.rpm,
            window_seconds=c.rate_window_seconds,
            clock=c.clock,
        )
        self.stopping = threading.Event()
        self._rng = random.Random(c.seed)
        self._rng_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False
        self._httpd = _HTTPServer((c.host, c.port), self)  # binds now: the port is known at once

    # --- addresses ---

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v1"

    # --- lifecycle ---

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever,
                kwargs={"poll_interval": 0.02},  # stop() returns within ~20 ms
                name=f"mscli-sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        try:
            self._httpd.serve_forever(poll_interval=poll_interval)
        finally:
            self._serving = False

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        # let requests in flight finish (open streams see `stopping` and end at once), so their
        # log lines are written; then close idle keep-alive connections
        self._httpd.wait_idle(timeout=2.0)
        self._httpd.close_connections()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- shared services for handlers ---

    def fault(self) -> bool:
        if self.config.fail_rate <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < self.config.fail_rate

    def log(self, line: str) -> None:
        if self.config.quiet:
            return
        stream = self.config.log or sys.stderr
        stamp = time.strftime("%H:%M:%S")
        with self._log_lock, contextlib.suppress(Exception):
            stream.write(f"{stamp} {line}\n")
            stream.flush()
