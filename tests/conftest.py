"""Suite-wide isolation (hatch's `isolation` idea): every test runs with a private config, cache and
data dir, no colour, a fixed width, and none of the user's ModelStack variables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["support.sandbox_fixtures", "support.memory_keyring"]

_CLEARED = (
    "MODELSTACK_API_KEY",
    "MODELSTACK_BASE_URL",
    "MSCLI_PROFILE",
    "MSCLI_TIMEOUT",
    "MSCLI_MAX_RETRIES",
    "MSCLI_MAX_WAIT",
    "MSCLI_SANDBOX",
    "MSCLI_COLOR",
    "MSCLI_DEBUG",
    "MSCLI_CACHE_DIR",  # the XDG variables below place the cache and data dirs per test
    "MSCLI_DATA_DIR",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def isolation(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("MSCLI_CONFIG_DIR", str(home / "mscli-config"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "40")
    monkeypatch.setenv("TERM", "dumb")
    # never a real OS keyring: keyring's "no backend" stand-in unless a test installs one
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    yield home


@pytest.fixture()
def subprocess_env(isolation: Path) -> dict[str, str]:
    """Environment for running the real `mscli` in a subprocess, isolated like the in-process tests."""
    return dict(os.environ)
