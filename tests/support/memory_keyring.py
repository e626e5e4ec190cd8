"""An in-memory OS keyring for tests (a pytest plugin, see tests/conftest.py): tests never touch a
real keyring.

- `memory_keyring`: installs a `MemoryKeyring` as the `keyring` library's backend for the test
  and restores the previous one afterwards; `.entries` maps (service, user) to the password.
- `no_keyring_backend`: installs keyring's own "no backend found" stand-in (a headless server).
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring  # the `keyring` extra is part of `.[test]`
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


@pytest.fixture()
def memory_keyring() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


@pytest.fixture()
def no_keyring_backend() -> Iterator[None]:
    from keyring.backends.fail import Keyring as NoBackend

    before = keyring.get_keyring()
    keyring.set_keyring(NoBackend())
    try:
        yield
    finally:
        keyring.set_keyring(before)
