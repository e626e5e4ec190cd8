"""A loopback relay between mscli and the sandbox that holds the reply after its first N text
chunks; with `support.proc.wait_blocked_reading` it tells a signal test that part of the reply
has reached mscli and nothing more will, whatever the machine's load.

    with Relay(sandbox.base_url, chunks=3) as relay:
        proc = subprocess.Popen([... "--base-url", relay.base_url, ...])
        relay.wait_held()
        wait_blocked_reading(proc.pid)   # it has read all it was sent
        proc.send_signal(signal.SIGINT)
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit

from support.loopback import Conn, LoopbackServer

#: How a streamed text chunk starts (the role chunk has "role" first, usage chunks no delta).
TEXT_CHUNK = b'"delta":{"content":'


class Relay:
    def __init__(self, target_base_url: str, *, chunks: int) -> None:
        url = urlsplit(target_base_url)
        self.target = (url.hostname or "127.0.0.1", url.port or 80)
        self.path = url.path
        self.chunks = chunks
        self.held = threading.Event()
        self.server = LoopbackServer(self._handle)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{self.path}"

    def wait_held(self, timeout: float = 60.0) -> None:
        assert self.held.wait(timeout), f"the reply never sent {self.chunks} text chunks"

    def __enter__(self) -> Relay:
        self.server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.stop()

    def _handle(self, conn: Conn) -> None:
        upstream = socket.create_connection(self.target)
        threading.Thread(target=_pump, args=(conn.sock, upstream), daemon=True).start()
        seen = 0
        tail = b""
        try:
            while data := upstream.recv(65536):
                window = tail + data
                found = window.count(TEXT_CHUNK) - tail.count(TEXT_CHUNK)
                if seen + found < self.chunks:
                    seen += found
                    tail = window[-len(TEXT_CHUNK) :]
                    conn.send(data)
                    continue
                # forward up to the end of the chunk that makes N, then hold everything else
                at = -1
                for _ in range(self.chunks - seen):
                    at = window.index(TEXT_CHUNK, at + 1)
                end = window.find(b"\n\n", at)
                cut = (len(window) if end < 0 else end + 2) - len(tail)
                conn.send(data[: max(cut, 0)])
                self.held.set()
                self.server.stopping.wait()
                return
        finally:
            upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
