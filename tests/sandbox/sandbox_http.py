"""A tiny raw HTTP helper for the sandbox tests (http.client: independent of mscli's own client)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT = object()


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        return self.json()["error"]


def connect(base_url: str, timeout: float = 10.0) -> http.client.HTTPConnection:
    u = urlsplit(base_url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def call(
    sb: Any,
    method: str,
    path: str,
    *,
    key: Any = DEFAULT,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> Resp:
    """`path` is relative to /v1 unless it starts with '//' (then it is taken from the root)."""
    base = sb.base_url
    full = path[1:] if path.startswith("//") else "/v1/" + path.lstrip("/")
    hdrs = dict(headers or {})
    k = sb.api_key if key is DEFAULT else key
    if k is not None:
        hdrs["Authorization"] = f"Bearer {k}"
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    own = conn is None
    c = conn or connect(base)
    try:
        c.request(method, full, body=data, headers=hdrs)
        r = c.getresponse()
        payload = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
    finally:
        if own:
            c.close()


def chat(sb: Any, content: str = "Hello", *, key: Any = DEFAULT, **fields: Any) -> Resp:
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": content}]}
    body.update(fields)
    return call(sb, "POST", "chat/completions", key=key, body=body)


def parse_sse(payload: bytes) -> list[Any]:
    """Events of an SSE body: JSON objects, or the string "[DONE]"."""
    out: list[Any] = []
    for block in payload.decode().split("\n\n"):
        block = block.strip()
        if not block:
            continue
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        out.append(data if data == "[DONE]" else json.loads(data))
    return out
