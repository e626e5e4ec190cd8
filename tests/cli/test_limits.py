"""The limits of issue 11 item 6, end to end: the cache directory's mode under any umask, a
Retry-After too long to be real (fail fast, exit 5, one request), and a config file too big to
read or to write (refused at once, with the limit named, the file untouched)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mscli.config_store import ConfigStore
from mscli.errors import ConfigError
from mscli.limits import MAX_CONFIG_BYTES
from support.cli import run
from support.loopback import Conn, LoopbackServer
from support.paths import run_paths

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

KEY = "sk_test0123456789abcdefghijklmnopqa1b2"


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture()
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_cache_dir_is_0700_under_umask_000(
    sandbox: EmbeddedSandbox, isolation: Path, umask_000: None
) -> None:
    res = run("--base-url", sandbox.base_url, "models", env={"MODELSTACK_API_KEY": sandbox.api_key})
    assert res.code == 0, res.stderr
    cache = isolation / ".cache" / "mscli"
    assert any(cache.glob("models-*.json"))
    data_dirs = [p for p in isolation.rglob("mscli") if p.is_dir() and p != cache]
    for d in [cache, *data_dirs]:
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


@pytest.mark.parametrize(
    "value", ["99999999999999999999999999999999999", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT"]
)
def test_a_retry_after_too_long_to_be_real_fails_at_once(value: str) -> None:
    def handler(conn: Conn) -> None:
        conn.read_request()
        body = b'{"error":{"message":"Rate limit exceeded","type":"rate_limit_error"}}'
        conn.send(
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            b"Retry-After: " + value.encode() + b"\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )

    with LoopbackServer(handler) as server:
        res = run(
            "--base-url",
            server.base_url,
            "--max-retries",
            "3",
            "models",
            env={"MODELSTACK_API_KEY": KEY},
        )
        requests = len(server.requests)
    assert res.code == 5, res.stderr
    assert requests == 1  # not retried
    assert "more than 7 days" in flat(res.stderr)
    assert "retrying" not in res.stderr.lower()


def big_config(path: Path) -> bytes:
    body = b'active_profile = "default"\n' + b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return body


@pytest.mark.parametrize("args", [["config", "show"], ["config", "set", "default_model", "x"]])
def test_a_config_file_over_the_limit_is_refused_and_left_alone(args: list[str]) -> None:
    path = ConfigStore(run_paths().config_dir).path
    body = big_config(path)
    res = run("--json", *args)
    assert res.code == 10, res.stderr
    assert "larger than 1.0 MiB" in res.error()["message"]
    assert path.read_bytes() == body


def test_a_write_over_the_limit_is_refused_and_changes_nothing() -> None:
    store = ConfigStore(run_paths().config_dir)
    store.update(lambda d: d.update(active_profile="default"))
    before = store.path.read_bytes()

    def grow(data: dict[str, object]) -> None:
        data["profiles"] = {"default": {"system": "x" * (MAX_CONFIG_BYTES + 1)}}

    with pytest.raises(ConfigError, match=r"more than the 1\.0 MiB"):
        store.update(grow)
    assert store.path.read_bytes() == before
