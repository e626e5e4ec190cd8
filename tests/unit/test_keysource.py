"""A profile's key from its api_key_command or the OS keyring (mscli.keysource), and the one key
precedence (settings.resolve_key): flag > env > the profile's command > keyring > config file."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from mscli import keysource
from mscli.errors import KeySourceError
from mscli.redact import Redactor
from mscli.settings import GlobalOptions, resolve
from support.memory_keyring import MemoryKeyring

PY = shlex.quote(sys.executable)
#: not sk_-shaped: only the run's secrets list can mask it (the gateway-token case)
TOKEN = "gw-token-from-command-0123456789"


def py(code: str) -> str:
    """A key command running `code` in this Python, written as a user would in config.toml."""
    return f"{PY} -c {shlex.quote(code)}"


class FakeStore:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.path = Path("/tmp/fake/config.toml")

    def load(self) -> dict[str, Any]:
        return self.data


def settings(profile: dict[str, Any], env: dict[str, str] | None = None, **opts: Any) -> Any:
    store = FakeStore({"profiles": {"default": profile}})
    return resolve(GlobalOptions(**opts), env=env or {}, store=store)  # type: ignore[arg-type]


# --- the command -------------------------------------------------------------------------------


def test_the_first_line_of_stdout_is_the_key() -> None:
    out = keysource.run_key_command(py(f"print('  {TOKEN}  '); print('more')"), "command:x", {})
    assert out == TOKEN


def test_split_as_a_shell_would_but_never_run_by_one(tmp_path: Path) -> None:
    # quotes group words; $HOME, ; and | reach the program as text, no shell expands them
    cmd = py("import sys; print(repr(sys.argv[1:]))") + " 'a b' \"$HOME\" ';' '|' x\\ y"
    assert keysource.run_key_command(cmd, "command:x", {}) == "['a b', '$HOME', ';', '|', 'x y']"


def test_the_command_gets_the_run_environment_and_no_stdin() -> None:
    cmd = py("import os, sys; print(os.environ['VAULT'] + sys.stdin.read())")
    assert keysource.run_key_command(cmd, "command:x", {"VAULT": "v1"}) == "v1"


def test_a_failing_command_says_its_own_message_redacted() -> None:
    cmd = py(
        "import sys; sys.stderr.write('gpg: decryption failed: sk_live_abcdefgh12345\\n'); sys.exit(2)"
    )
    with pytest.raises(KeySourceError) as info:
        keysource.run_key_command(cmd, "command:work", {})
    err = info.value
    assert "failed with exit status 2" in err.message
    assert "gpg: decryption failed" in err.message
    assert "sk_live_abcdefgh12345" not in err.message
    assert err.source == "command:work" and err.advice_key == "auth.source"


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (py("pass"), "printed no key"),
        ("/nonexistent/key-helper show", "could not be started"),
        ("pass show 'unbalanced", "cannot be split"),
    ],
)
def test_other_failures_are_named(command: str, says: str) -> None:
    with pytest.raises(KeySourceError, match=says):
        keysource.run_key_command(command, "command:x", {})


def test_a_command_that_hangs_is_stopped_by_the_timeout() -> None:
    with pytest.raises(KeySourceError, match=r"did not finish within 0\.2 s"):
        keysource.run_key_command(py("import time; time.sleep(60)"), "command:x", {}, timeout=0.2)


# --- the keyring -------------------------------------------------------------------------------


def test_keyring_round_trip(memory_keyring: MemoryKeyring) -> None:
    keysource.keyring_set("work", TOKEN, "keyring:work")
    assert memory_keyring.entries == {("mscli", "work"): TOKEN}
    assert keysource.keyring_get("work", "keyring:work") == TOKEN
    assert keysource.keyring_delete("work", "keyring:work") is True
    assert keysource.keyring_delete("work", "keyring:work") is False
    with pytest.raises(KeySourceError, match="holds no key") as info:
        keysource.keyring_get("work", "keyring:work")
    assert "keys set --keyring" in str(info.value.facts["fix"])


@pytest.mark.usefixtures("no_keyring_backend")
def test_no_keyring_backend_points_to_the_command_and_the_variable() -> None:
    with pytest.raises(KeySourceError, match="no OS keyring is available") as info:
        keysource.keyring_set("default", TOKEN, "keyring:default")
    fix = str(info.value.facts["fix"])
    assert "api_key_command" in fix and "MODELSTACK_API_KEY" in fix


def test_without_the_keyring_package_the_message_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` raises ImportError
    with pytest.raises(KeySourceError, match="not installed") as info:
        keysource.keyring_get("default", "keyring:default")
    assert "pip install 'mscli[keyring]'" in str(info.value.facts["fix"])


# --- the one precedence ------------------------------------------------------------------------


def test_the_command_beats_the_keyring_and_the_file(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.entries[("mscli", "default")] = "sk_from_keyring_1234"
    prof = {
        "api_key": "sk_from_file_1234",
        "api_key_keyring": True,
        "api_key_command": py(f"print('{TOKEN}')"),
    }
    s = settings(prof)
    assert (s.api_key.value, s.api_key.source) == (TOKEN, "command:default")
    del prof["api_key_command"]
    s = settings(prof)
    assert (s.api_key.value, s.api_key.source) == ("sk_from_keyring_1234", "keyring:default")
    del prof["api_key_keyring"]
    s = settings(prof)
    assert (s.api_key.value, s.api_key.source) == ("sk_from_file_1234", "profile:default")


def test_flag_and_env_beat_the_command_which_is_then_not_run(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    prof = {"api_key_command": py(f"open({str(ran)!r}, 'w'); print('{TOKEN}')")}
    s = settings(prof, env={"MODELSTACK_API_KEY": "sk_from_env_1234"})
    assert (s.api_key.value, s.api_key.source) == ("sk_from_env_1234", "env:MODELSTACK_API_KEY")
    s = settings(prof, api_key="sk_from_flag_1234")
    assert s.api_key.source == "flag"
    assert not ran.exists()
    assert settings(prof).api_key.value == TOKEN and ran.exists()


def test_the_command_output_is_a_known_secret() -> None:
    s = settings({"api_key_command": py(f"print('{TOKEN}')")})
    assert TOKEN in s.secrets
    assert TOKEN not in Redactor(s.secrets).text(f"upstream said: bad token {TOKEN}")
    assert TOKEN not in str(s.as_rows())


def test_a_failing_source_is_kept_for_key_not_raised_by_resolve() -> None:
    s = settings({"api_key_command": py("import sys; sys.exit('vault locked')")})
    assert s.api_key.value is None and s.api_key.source == "command:default"
    assert s.key_error is not None and "vault locked" in s.key_error.message
    with pytest.raises(KeySourceError):
        s.key(required=False)  # a configured source that fails never falls through to "no key"
