"""Pytest fixtures that start the sandbox on a loopback port (a pytest plugin, see tests/conftest.py).

- `sandbox`: a running, quiet sandbox per test on 127.0.0.1:0 (plan pro). It is an
  `mscli.sandbox.embedded.EmbeddedSandbox`: `.base_url` (`http://127.0.0.1:PORT/v1`), `.api_key`
  (a fresh `sk_test_…` key), `.url("models")`, `.new_key()`, `.server` (the `SandboxServer`),
  `.config`, `.stop()`.
- `sandbox_factory(**config)`: start more, with any `SandboxConfig` field (`plan`, `rpm`,
  `rate_window_seconds`, `clock`, `subscription_credits`, `lifetime_credits`, `tokens_per_second`,
  `latency_ms`, `slow_ms`, `fail_rate`, `seed`, ...). All are stopped at the end of the test.

The sandbox module is imported inside the fixtures, so tests that do not use them pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox


@pytest.fixture()
def sandbox_factory() -> Iterator[Callable[..., EmbeddedSandbox]]:
    from mscli.sandbox.embedded import start_embedded

    started: list[EmbeddedSandbox] = []

    def factory(**config: Any) -> EmbeddedSandbox:
        sb = start_embedded(**config)
        started.append(sb)
        return sb

    yield factory
    for sb in started:
        sb.stop()


@pytest.fixture()
def sandbox(sandbox_factory: Callable[..., EmbeddedSandbox]) -> EmbeddedSandbox:
    return sandbox_factory()
