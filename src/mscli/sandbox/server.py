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

This module owns the server itself (socket, threads, connection tracking, start/stop, the log) and
its configuration; `handler.py` the HTTP plumbing, `endpoints.py` the routes, `validation.py` the
chat body, `protocol.py` the error envelope and messages.
"""

from __future__ import annotations

import contextlib
import random
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import IO, Any

from mscli import pricing
from mscli.sandbox.accounts import AccountStore
from mscli.sandbox.endpoints import Handler
from mscli.sandbox.protocol import DISCONNECTS

#: Largest request body accepted; bigger ones get 413 before a byte of the body is read.
MAX_BODY_BYTES = 1024 * 1024

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

#: C0 and C1 control characters and DEL as `\xNN`, and `\` as `\\` (what the stdlib's
#: `BaseHTTPRequestHandler.log_message` does): a request path or key with an ESC sequence must not
#: clear or recolour the operator's terminal, and a CR or LF must not forge a log line.
_CONTROL_CHARS = {c: rf"\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL_CHARS[ord("\\")] = "\\\\"


def printable(text: str) -> str:
    """`text` with control characters escaped, safe to write to a terminal as one line."""
    return text.translate(_CONTROL_CHARS)


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
    log: IO[str] | None = None  # where log lines go (None: nowhere; `sandbox serve`: its stderr)
    idle_timeout: float = 60.0  # socket timeout: idle keep-alive or stalled client
    max_body_bytes: int = MAX_BODY_BYTES
    #: accept the sandbox's extensions (`stream_options`, `max_completion_tokens`); False refuses
    #: them like any undocumented parameter (a strict gateway)
    stream_options: bool = True
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
        super().__init__(address, Handler)

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
        with self._conn_lock:  # the idle condition's lock, without its Python-level wrapper
            self._busy += delta
            # only `stop()` waits, after setting `stopping`: no wake-up to send before that
            if self._busy == 0 and self.sandbox.stopping.is_set():
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight (each one has answered and logged its line). Only
        once `stopping` is set: `busy` wakes waiters only then."""
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
        if isinstance(exc, (*DISCONNECTS, OSError)):
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

    @property
    def logging(self) -> bool:
        """Whether `log` writes anything: callers skip building a line nobody reads."""
        return not self.config.quiet and self.config.log is not None

    def log(self, line: str) -> None:
        """Write one log line. Lines carry client input (request line, path, key, error text):
        control characters are escaped here, for every caller."""
        stream = self.config.log
        if stream is None or not self.logging:
            return
        stamp = time.strftime("%H:%M:%S")
        with self._log_lock, contextlib.suppress(Exception):
            stream.write(f"{stamp} {printable(line)}\n")
            stream.flush()
