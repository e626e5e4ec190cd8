"""A tiny threaded loopback HTTP server for socket-level tests (reliability §6, harness "SRV").

Each connection is handed to a handler function that scripts the exact bytes and pauses::

    def handler(conn: Conn) -> None:
        conn.read_request()
        conn.send_headers(200, {"Content-Type": "text/event-stream"})
        conn.send_chunk(b"data: ...\\n\\n")
        conn.wait(5)          # hold the socket open (returns early when the server stops)
        conn.reset()          # or: conn.end_chunks(); or: return (socket closed cleanly)

    with LoopbackServer(handler) as server:
        server.base_url       # http://127.0.0.1:PORT/v1

Handlers run in daemon threads; `LoopbackServer.stop` releases every ``wait`` and closes every
socket, so a test never leaves a thread blocked. Errors in handlers caused by the client going
away (broken pipe, reset) are ignored; any other handler exception is recorded in ``errors``.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["Conn", "LoopbackServer"]


class Conn:
    """One accepted connection, driven by a handler."""

    def __init__(self, sock: socket.socket, server: LoopbackServer) -> None:
        self.sock = sock
        self.server = server
        self.request_head = b""
        self.request_body = b""

    def read_request(self) -> bytes:
        """Read one request (head and Content-Length body); return the head."""
        buf = b""
        self.sock.settimeout(5.0)
        while b"\r\n\r\n" not in buf:
            data = self.sock.recv(65536)
            if not data:
                break
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or b"0")
        while len(rest) < length:
            data = self.sock.recv(65536)
            if not data:
                break
            rest += data
        self.request_head, self.request_body = head, rest
        self.server.requests.append(head)
        return head

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_headers(
        self, status: int = 200, headers: dict[str, str] | None = None, *, chunked: bool = True
    ) -> None:
        lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Status'}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send_chunk(self, data: bytes) -> None:
        if data:
            self.send(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunks(self) -> None:
        self.send(b"0\r\n\r\n")

    def wait(self, seconds: float) -> bool:
        """Pause; returns True if the server is stopping (so the handler should return)."""
        return self.server.stopping.wait(seconds)

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), like a crashed proxy."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            self.sock.close()


Handler = Callable[[Conn], None]


class LoopbackServer:
    """Listens on 127.0.0.1:0 and runs ``handler(conn)`` in a thread per connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stopping = threading.Event()
        self.requests: list[bytes] = []
        self.errors: list[BaseException] = []
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LoopbackServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._acceptor.join(timeout=2)
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                self.connections += 1
                self._socks.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            self.handler(Conn(sock, self))
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass
        except OSError as exc:
            if not self.stopping.is_set() and exc.errno not in (
                9,
                32,
                104,
            ):  # EBADF, EPIPE, ECONNRESET
                self.errors.append(exc)
        except BaseException as exc:  # recorded so a test can assert the handler ran cleanly
            self.errors.append(exc)
        finally:
            try:
                sock.close()
            except OSError:
                pass


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
