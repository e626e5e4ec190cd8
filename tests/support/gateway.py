"""A scripted stand-in gateway on the loopback server (`support.loopback`): each request path is
answered by a route, either fixed JSON bytes or a function that drives the connection itself
once the request has been read (`conn.request_head`, `conn.request_body`).

    with Gateway({"/v1/models": models_json(), "/v1/chat/completions": handler}) as gw:
        run("--base-url", gw.base_url, ...)
        gw.bodies            # the JSON request bodies received, in order

Unknown paths answer 404 with an empty body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from support.loopback import Conn, LoopbackServer

Route = bytes | Callable[[Conn], None]
MODEL = "claude-haiku-4-5"


def send_json(conn: Conn, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    """One complete response with a Content-Length body; the connection is then closed."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    conn.send(
        f"HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def models_json(*ids: str) -> bytes:
    return json.dumps({"object": "list", "data": [{"id": i} for i in (ids or (MODEL,))]}).encode()


class Gateway(LoopbackServer):
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.bodies: list[Any] = []
        super().__init__(self._dispatch)

    def _dispatch(self, conn: Conn) -> None:
        head = conn.read_request().decode("latin-1")
        path = head.split(" ")[1].split("?")[0] if " " in head else ""
        if conn.request_body:
            self.bodies.append(json.loads(conn.request_body))
        route = self.routes.get(path)
        if route is None:
            send_json(conn, 404, b"")
        elif isinstance(route, bytes):
            send_json(conn, 200, route)
        else:
            route(conn)
