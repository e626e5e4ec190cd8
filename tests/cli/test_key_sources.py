"""End to end against the sandbox: a profile's key from its api_key_command or the OS keyring (an
in-memory backend), named by `config show`, `keys list`, `keys check` and the doctor, and in full
in no output, file, history or support bundle."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mscli.config_schema import get_profile
from mscli.config_store import ConfigStore
from support.cli import Result, run
from support.memory_keyring import MemoryKeyring
from support.paths import run_paths

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

MODEL = "claude-haiku-4-5"


def py(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def profile() -> dict[str, object]:
    return get_profile(ConfigStore(run_paths().config_dir).load(), "default")


def use_sandbox(sandbox: EmbeddedSandbox) -> None:
    """The sandbox as the profile's API (not --sandbox, which would bring its own key)."""
    r = run("config", "set", "base_url", sandbox.base_url)
    assert r.code == 0, r.output


def exercise(home: Path, bundle: Path) -> list[Result]:
    """Every place a key could leak: verbose traces, a recorded chat, JSON documents, the
    doctor with its bundle, and every command that shows where the key comes from."""
    runs = [
        run("--verbose", "models", "--ids"),
        run("--verbose", "chat", "-m", MODEL, "Say hello"),
        run("--json", "chat", "-m", MODEL, "Say hello again"),
        run("config", "show"),
        run("--json", "config", "show"),
        run("keys", "list"),
        run("--json", "keys", "list"),
        run("--json", "keys", "check"),
        run("--verbose", "doctor", "--bundle", str(bundle)),
        run("--json", "doctor"),
    ]
    for r in runs:
        assert r.code == 0, r.output
    return runs


def assert_nowhere(key: str, runs: list[Result], home: Path, bundle: Path) -> None:
    """The key in full in no stdout or stderr, and in no file mscli wrote (config, history
    database, ledger, cache, bundle), which all live under the test's home."""
    for r in runs:
        assert key not in r.stdout_bytes.decode() and key not in r.stderr
    written = [p for p in home.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"config.toml", "history.sqlite3", bundle.name} <= names, names
    for path in written:
        assert key.encode() not in path.read_bytes(), path


def test_key_from_a_command(sandbox: EmbeddedSandbox, isolation: Path, tmp_path: Path) -> None:
    vault = tmp_path / "vault"  # the password manager: outside everything mscli writes
    vault.write_text(sandbox.api_key + "\nsecond line is not the key\n")
    use_sandbox(sandbox)
    command = py(f"print(open({str(vault)!r}).read(), end='')")
    assert run("config", "set", "api_key_command", command).code == 0
    bundle = isolation / "bundle.json"

    runs = exercise(isolation, bundle)

    assert_nowhere(sandbox.api_key, runs, isolation, bundle)
    masked = "sk_…" + sandbox.api_key[-4:]
    _, chat, _, show, show_json, keys_list, keys_json, check, _, doctor_json = runs
    assert chat.stdout.strip()
    assert "api_key_command of profile 'default'" in show.stdout and masked in show.stdout
    assert show_json.doc["settings"]["api_key"] == {"value": masked, "source": "command:default"}
    assert keys_json.doc["profiles"][0] == {
        "profile": "default",
        "in_use": True,
        "active": True,
        "key": masked,
        "where": "api_key_command",
        "source": "command:default",
        "error": None,
    }
    assert "api_key_command" in keys_list.stdout and masked in keys_list.stdout
    assert check.doc["source"] == "command:default"
    key_check = next(c for c in doctor_json.doc["checks"] if c["name"] == "key")
    assert key_check["detail"].startswith(f"{masked} from the api_key_command of profile 'default'")


def test_key_in_the_keyring(
    sandbox: EmbeddedSandbox, memory_keyring: MemoryKeyring, isolation: Path
) -> None:
    use_sandbox(sandbox)
    r = run("keys", "set", "--keyring", input=sandbox.api_key + "\n")
    assert r.code == 0, r.output
    assert "OS keyring" in r.stdout
    assert memory_keyring.entries == {("mscli", "default"): sandbox.api_key}
    assert profile().get("api_key_keyring") is True and "api_key" not in profile()
    bundle = isolation / "bundle.json"

    runs = exercise(isolation, bundle)

    assert_nowhere(sandbox.api_key, runs, isolation, bundle)
    masked = "sk_…" + sandbox.api_key[-4:]
    show_json, keys_json, doctor_json = runs[4], runs[6], runs[9]
    assert show_json.doc["settings"]["api_key"] == {"value": masked, "source": "keyring:default"}
    assert keys_json.doc["profiles"][0]["where"] == "OS keyring"
    assert "OS keyring (profile 'default')" in runs[3].stdout
    key_check = next(c for c in doctor_json.doc["checks"] if c["name"] == "key")
    assert "OS keyring" in key_check["detail"]

    r = run("--json", "keys", "remove", "--yes")
    assert r.code == 0, r.output
    assert r.doc["removed_from"] == ["OS keyring"] and r.doc["removed"] == masked
    assert memory_keyring.entries == {} and "api_key_keyring" not in profile()
    assert run("models").code == 3


def test_a_key_moved_from_the_keyring_to_the_file_leaves_the_keyring(
    memory_keyring: MemoryKeyring,
) -> None:
    key = "sk_moving_key_0123456789"
    assert run("keys", "set", "--keyring", input=key).code == 0
    r = run("--json", "keys", "set", input=key)
    assert r.code == 0, r.output
    assert r.doc["where"] == "config file"
    assert memory_keyring.entries == {}
    assert profile() == {"api_key": key}


@pytest.mark.usefixtures("no_keyring_backend")
def test_no_keyring_backend_is_said_and_nothing_is_written() -> None:
    r = run("keys", "set", "--keyring", input="sk_headless_0123456789")
    assert r.code == 3, r.output
    assert "no OS keyring is available" in r.stderr
    assert "api_key_command" in r.stderr and "MODELSTACK_API_KEY" in r.stderr
    assert not ConfigStore(run_paths().config_dir).exists()


def test_without_the_keyring_extra_the_message_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)
    r = run("--json", "keys", "set", "--keyring", input="sk_no_extra_0123456789")
    assert r.code == 3
    err = r.error()
    assert "keyring package" in err["message"]
    assert "mscli[keyring]" in err["advice"]


def test_a_failing_command_is_exit_3_with_its_own_message(sandbox: EmbeddedSandbox) -> None:
    use_sandbox(sandbox)
    failing = py(
        "import sys; sys.stderr.write('op: session expired, run `op signin`'); sys.exit(1)"
    )
    assert run("config", "set", "api_key_command", failing).code == 0

    r = run("--json", "models")
    assert r.code == 3
    err = r.error()
    assert "op: session expired" in err["message"] and "exit status 1" in err["message"]

    r = run("config", "show")  # shows where the key should come from, and why there is none
    assert r.code == 0, r.output
    assert "api_key_command of profile 'default'" in r.stdout
    assert "session expired" in r.stderr
    assert run("--json", "config", "show").doc["key_error"].startswith("api_key_command (python")

    r = run("--json", "doctor")
    assert r.code == 3
    assert r.doc["root_cause"]["check"] == "key"
    assert "op: session expired" in r.doc["root_cause"]["detail"]


def test_the_environment_beats_the_command(sandbox: EmbeddedSandbox, tmp_path: Path) -> None:
    use_sandbox(sandbox)
    ran = tmp_path / "ran"
    assert run("config", "set", "api_key_command", py(f"open({str(ran)!r}, 'w')")).code == 0
    r = run("--json", "keys", "check", env={"MODELSTACK_API_KEY": sandbox.api_key})
    assert r.code == 0, r.output
    assert json.loads(r.stdout)["source"] == "env:MODELSTACK_API_KEY"
    assert not ran.exists()


def test_deleting_a_profile_deletes_its_key_in_the_keyring(memory_keyring: MemoryKeyring) -> None:
    assert (
        run("--profile", "work", "keys", "set", "--keyring", input="sk_work_key_0123456789").code
        == 0
    )
    assert run("keys", "set", "--keyring", input="sk_default_key_0123456789").code == 0
    r = run("--json", "config", "delete-profile", "work", "--yes")
    assert r.code == 0, r.output
    assert r.doc["had_key"] is True
    assert memory_keyring.entries == {("mscli", "default"): "sk_default_key_0123456789"}


def test_a_command_that_cannot_be_split_does_not_block_config_show() -> None:
    path = ConfigStore(
        run_paths().config_dir
    ).path  # written by hand: `config set` refuses such a command
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[profiles.default]\napi_key_command = "pass show \'unbalanced"\n')
    path.chmod(0o600)
    r = run("config", "show")
    assert r.code == 0, r.output
    assert "cannot be split" in r.stderr
    assert run("models").code == 3
    r = run("config", "set", "api_key_command", "pass show 'again")
    assert r.code == 2 and "balanced quotes" in r.stderr
