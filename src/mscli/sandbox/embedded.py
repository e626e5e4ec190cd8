"""Run the sandbox in-process for `mscli --sandbox` / `MSCLI_SANDBOX=1` and for tests.

`start_embedded()` binds 127.0.0.1 on a free port, serves in a daemon thread, logs nothing, and
hands back the base URL and a fresh `sk_test_…` key. It takes a few milliseconds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from mscli.sandbox.keys import TEST_KEY_PREFIX
from mscli.sandbox.server import SandboxConfig, SandboxServer


def new_test_key() -> str:
    """A fresh key for a fresh account on the server's plan (never collides with a magic key)."""
    return TEST_KEY_PREFIX + secrets.token_hex(12)


@dataclass
class EmbeddedSandbox:
    server: SandboxServer
    api_key: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def config(self) -> SandboxConfig:
        return self.server.config

    def url(self, path: str) -> str:
        """`url("/models")` -> `http://127.0.0.1:PORT/v1/models`."""
        return self.base_url + "/" + path.lstrip("/")

    def new_key(self) -> str:
        return new_test_key()

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> EmbeddedSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(plan: str = "pro", **overrides: Any) -> EmbeddedSandbox:
    """Start a quiet sandbox on 127.0.0.1:0. `overrides` are `SandboxConfig` fields."""
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "quiet": True}
    options.update(overrides)
    server = SandboxServer(SandboxConfig(plan=plan, **options)).start()
    return EmbeddedSandbox(server=server, api_key=new_test_key())
