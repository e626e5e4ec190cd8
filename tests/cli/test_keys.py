"""`mscli keys …` through the real CLI and its error funnel; `keys check` against the sandbox."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mscli.config_schema import get_profile
from mscli.config_store import ConfigStore
from support.cli import run
from support.loopback import closed_port
from support.paths import run_paths

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

KEY = "sk_" + "Zx9k" * 8
OTHER = "sk_" + "Mn4p" * 8


def flat(text: str) -> str:
    return " ".join(text.split())


def cfg_path() -> Path:
    return Path(os.environ["MSCLI_CONFIG_DIR"]) / "config.toml"


def stored(profile: str = "default") -> str | None:
    key = get_profile(ConfigStore(run_paths().config_dir).load(), profile).get("api_key")
    return key if isinstance(key, str) else None


# --- keys set ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pasted",
    [KEY, f"{KEY}\n", f"  {KEY}  \r\n", f'"{KEY}"', f"'{KEY}'\n", f"Bearer {KEY}\n"],
)
def test_set_from_stdin_normalises_and_stores(pasted: str) -> None:
    r = run("keys", "set", input=pasted)
    assert r.code == 0, r.stderr
    assert stored() == KEY
    assert "sk_…Zx9k" in r.stdout and "'default'" in r.stdout
    assert KEY not in r.stdout + r.stderr


def test_set_file_is_0600() -> None:
    run("keys", "set", input=KEY)
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(cfg_path()).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(cfg_path().parent).st_mode) == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_set_tightens_an_existing_mscli_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "mscli"
    own.mkdir()
    os.chmod(own, 0o755)
    monkeypatch.setenv("MSCLI_CONFIG_DIR", str(own))
    r = run("keys", "set", input=KEY)
    assert r.code == 0, r.stderr
    assert stat.S_IMODE(os.stat(own).st_mode) == 0o700
    assert "chmod" not in r.stderr


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_set_warns_about_a_chosen_open_directory() -> None:
    chosen = cfg_path().parent
    chosen.mkdir()
    os.chmod(chosen, 0o755)
    r = run("keys", "set", input=KEY)
    assert r.code == 0, r.stderr
    assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o755  # not mscli's to change
    assert f"chmod 700 {chosen}" in flat(r.stderr)
    assert stat.S_IMODE(os.stat(cfg_path()).st_mode) == 0o600


def test_set_into_a_profile_and_json() -> None:
    r = run("--profile", "work", "keys", "set", "--json", input=KEY)
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc == {
        "profile": "work",
        "key": "sk_…Zx9k",
        "where": "config file",
        "path": str(cfg_path()),
        "replaced": None,
        "overridden_by": None,
    }
    assert stored("work") == KEY and stored("default") is None
    r = run("keys", "set", "--profile", "work", "--json", input=OTHER)
    assert json.loads(r.stdout)["replaced"] == "sk_…Zx9k"
    assert stored("work") == OTHER


def test_set_uses_the_active_profile() -> None:
    run("config", "use", "team", "--create")
    run("keys", "set", input=KEY)
    assert stored("team") == KEY


def test_set_hidden_prompt_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    calls: list[dict[str, object]] = []
    real_prompt = typer.prompt

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real_prompt(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(typer, "prompt", spy)
    r = run("keys", "set", input=f"{KEY}\n", stdin_tty=True)
    assert r.code == 0, r.stderr
    assert calls and calls[0]["hide_input"] is True
    assert stored() == KEY
    assert KEY not in r.stdout + r.stderr


def test_an_empty_entry_at_the_prompt_asks_again() -> None:
    r = run("keys", "set", input=f"\n\n{KEY}\n", stdin_tty=True)  # two slipped Enters, then the key
    assert r.code == 0, r.stderr
    assert stored() == KEY and r.stderr.count("No key entered") == 2
    r = run("keys", "set", input="\n\n\n", env={"MSCLI_PROFILE": "other"}, stdin_tty=True)
    assert r.code == 3 and "no API key was given on the prompt" in " ".join(r.stderr.split())


@pytest.mark.parametrize(
    ("pasted", "fragment"),
    [
        ("sk-" + "a" * 32, "'sk-' (a hyphen)"),
        ("sk_abc", "too short"),
        ("sk_abc def" + "x" * 20, "a space inside the key"),
        ("pk_" + "a" * 32, "does not start with 'sk_'"),
    ],
)
def test_set_refuses_a_malformed_key_exit_3(pasted: str, fragment: str) -> None:
    r = run("keys", "set", input=pasted)
    assert r.code == 3, r.stderr
    assert fragment in flat(r.stderr)
    assert pasted not in r.stderr
    assert not cfg_path().exists()


def test_set_with_nothing_on_stdin_exit_3() -> None:
    r = run("keys", "set", input="\n")
    assert r.code == 3
    assert "no API key" in r.stderr
    assert not cfg_path().exists()


def test_set_never_accepts_the_key_as_an_argument() -> None:
    r = run("keys", "set", KEY)
    assert r.code == 2
    assert not cfg_path().exists()


def test_set_warns_when_env_key_overrides() -> None:
    r = run("keys", "set", input=KEY, env={"MODELSTACK_API_KEY": OTHER})
    assert r.code == 0
    assert "MODELSTACK_API_KEY" in r.stderr and "overrides" in r.stderr
    assert OTHER not in r.stderr


def test_set_refuses_on_a_corrupt_file() -> None:
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_text("[profiles.default\n")
    before = cfg_path().read_bytes()
    r = run("keys", "set", input=KEY)
    assert r.code == 10
    assert cfg_path().read_bytes() == before


# --- keys list / remove --------------------------------------------------------------------------


def test_list_masks_and_marks_the_profile_in_use() -> None:
    run("keys", "set", input=KEY)
    run("keys", "set", "--profile", "work", input=OTHER)
    run("config", "set", "timeout", "3", "--profile", "nokey")
    r = run("keys", "list")
    assert r.code == 0
    assert KEY not in r.stdout and OTHER not in r.stdout
    lines = r.stdout.splitlines()
    assert any(line.startswith("*") and "default" in line and "sk_…Zx9k" in line for line in lines)
    assert any("work" in line and "sk_…Mn4p" in line for line in lines)
    assert any("nokey" in line and "(no key)" in line for line in lines)

    doc = json.loads(run("--profile", "work", "keys", "list", "--json").stdout)
    assert doc["in_use"] == "work"
    assert {p["profile"]: p["key"] for p in doc["profiles"]} == {
        "default": "sk_…Zx9k",
        "work": "sk_…Mn4p",
        "nokey": None,
    }


def test_list_mentions_env_override_masked() -> None:
    run("keys", "set", input=KEY)
    r = run("keys", "list", "--json", env={"MODELSTACK_API_KEY": OTHER})
    doc = json.loads(r.stdout)
    assert doc["overrides"] == [{"source": "env:MODELSTACK_API_KEY", "key": "sk_…Mn4p"}]
    assert OTHER not in r.stdout + r.stderr


def test_list_empty() -> None:
    r = run("keys", "list")
    assert r.code == 0 and "mscli keys set" in r.stderr


def test_remove() -> None:
    run("keys", "set", input=KEY)
    run("config", "set", "timeout", "3")
    r = run("keys", "remove", "--yes")
    assert r.code == 0, r.stderr
    assert "sk_…Zx9k" in r.stdout
    assert stored() is None
    assert get_profile(ConfigStore(run_paths().config_dir).load(), "default") == {"timeout": 3}
    r = run("keys", "remove", "--yes", "--json")
    assert json.loads(r.stdout) == {
        "profile": "default",
        "removed": None,
        "removed_from": [],
        "path": str(cfg_path()),
    }


def test_remove_without_yes_and_no_tty_refuses() -> None:
    run("keys", "set", input=KEY)
    r = run("keys", "remove")
    assert r.code == 2 and "--yes" in r.stderr
    assert stored() == KEY


def test_remove_confirms_on_a_terminal() -> None:
    run("keys", "set", input=KEY)
    r = run("keys", "remove", input="n\n", stdin_tty=True)  # declined, like `rm -i`: exit 0
    assert stored() == KEY and r.code == 0 and "Cancelled: nothing was changed." in r.stderr
    r = run("keys", "remove", input="", stdin_tty=True)  # Ctrl-D: an interruption, nothing changed
    assert stored() == KEY and r.code == 130
    r = run("keys", "remove", input="y\n", stdin_tty=True)
    assert r.code == 0, r.stderr
    assert stored() is None


# --- keys check ----------------------------------------------------------------------------------


def test_check_valid_key_from_profile(sandbox: EmbeddedSandbox) -> None:
    run("keys", "set", input=sandbox.api_key)
    r = run("--base-url", sandbox.base_url, "keys", "check", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["valid"] is True
    assert doc["source"] == "profile:default"
    assert doc["profile"] == "default"
    assert doc["model_count"] > 0
    assert isinstance(doc["latency_ms"], (int, float)) and doc["latency_ms"] >= 0
    assert doc["key"].startswith("sk_…") and sandbox.api_key not in r.stdout + r.stderr


def test_check_valid_key_from_env_human(sandbox: EmbeddedSandbox) -> None:
    r = run(
        "keys",
        "check",
        env={"MODELSTACK_API_KEY": sandbox.api_key, "MODELSTACK_BASE_URL": sandbox.base_url},
    )
    assert r.code == 0, r.stderr
    assert "valid" in r.stdout
    assert "MODELSTACK_API_KEY" in r.stdout
    assert "models:" in r.stdout and "latency:" in r.stdout
    assert sandbox.api_key not in r.stdout + r.stderr


def test_check_invalid_key_is_the_auth_panel_exit_3(sandbox: EmbeddedSandbox) -> None:
    run("keys", "set", input="sk_test_invalid")
    r = run("--base-url", sandbox.base_url, "keys", "check")
    assert r.code == 3, r.stderr
    assert "mscli keys set" in flat(r.stderr)
    assert r.stdout == ""


def test_check_invalid_key_json(sandbox: EmbeddedSandbox) -> None:
    r = run(
        "--base-url",
        sandbox.base_url,
        "keys",
        "check",
        "--json",
        env={"MODELSTACK_API_KEY": "sk_test_invalid"},
    )
    assert r.code == 3
    err = json.loads(r.stderr)["error"]
    assert err["status"] == 401 and err["code"] == 3


def test_check_unreachable_is_exit_8() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    r = run(
        "--base-url", url, "--max-retries", "0", "keys", "check", env={"MODELSTACK_API_KEY": KEY}
    )
    assert r.code == 8, r.stderr


def test_check_malformed_key_exit_3_before_any_request() -> None:
    # ModelStack's host through a proxy on a closed loopback port: a request would end in exit
    # 8, not 3, and could never leave this machine
    r = run(
        "keys",
        "check",
        env={
            "MODELSTACK_API_KEY": "sk-looks-like-openai-0000000000",
            "HTTPS_PROXY": f"http://127.0.0.1:{closed_port()}",
        },
    )
    assert r.code == 3, r.stderr
    assert "hyphen" in flat(r.stderr)


def test_check_without_a_key_exit_3() -> None:
    r = run("keys", "check")
    assert r.code == 3
    assert "mscli keys set" in flat(r.stderr)


def test_check_with_profile_option(sandbox: EmbeddedSandbox) -> None:
    run("keys", "set", "--profile", "work", input=sandbox.api_key)
    r = run("--base-url", sandbox.base_url, "keys", "check", "--profile", "work", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["source"] == "profile:work"


# --- Ctrl-C / Ctrl-D at the prompts, in a real pseudo-terminal ------------------------------------


class _Pty:
    """`python -m mscli ARGS` with a pseudo-terminal as stdin, stdout, stderr and controlling
    terminal (so Ctrl-C becomes SIGINT and getpass reads /dev/tty, as in a real shell)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        import fcntl
        import subprocess
        import sys
        import termios

        self.master, slave = os.openpty()
        self.seen = bytearray()

        def make_controlling_terminal() -> None:  # runs in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mscli", *args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env={**env, "TERM": "dumb"},
                start_new_session=True,
                preexec_fn=make_controlling_terminal,
            )
        finally:
            os.close(slave)

    def read_until(self, pattern: bytes, timeout: float = 30.0) -> None:
        import select
        import time

        deadline = time.monotonic() + timeout
        while pattern not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {pattern!r}; got {bytes(self.seen)!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                self.seen.extend(chunk)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_echo_off(self, timeout: float = 30.0) -> None:
        """Wait until getpass has turned echo off: it flushes pending input when it does, so a key
        sent earlier could be lost."""
        import termios
        import time

        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            assert time.monotonic() < deadline, "echo never turned off"
            time.sleep(0.02)

    def wait_reading(self, timeout: float = 30.0) -> None:
        """Wait until the child is blocked in read(2), as it is when a person presses a key.

        A SIGINT that lands after the prompt is printed but before CPython enters its blocking
        read leaves the KeyboardInterrupt pending until the read returns (a race no person can
        hit, but a loaded test machine can)."""
        from support.proc import wait_blocked_reading

        wait_blocked_reading(self.proc.pid, timeout)

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        """Exit code and everything the terminal showed."""
        import subprocess

        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._drain()
            raise AssertionError(
                f"still running after {timeout} s; the terminal showed {bytes(self.seen)!r}"
            ) from None
        finally:
            self._drain()
            os.close(self.master)
        return code, self.seen.decode("utf-8", "replace")

    def _drain(self) -> None:
        import select

        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.seen.extend(chunk)


pty_only = pytest.mark.skipif(os.name != "posix", reason="POSIX pseudo-terminal")


@pytest.mark.slow
@pty_only
def test_ctrl_c_at_the_hidden_key_prompt_exits_130(subprocess_env: dict[str, str]) -> None:
    term = _Pty(subprocess_env, "keys", "set")
    term.read_until(b"API key (input hidden):")
    term.wait_echo_off()
    term.wait_reading()
    term.send(b"sk_typed")  # half a key, then Ctrl-C: the terminal sends SIGINT
    term.send(b"\x03")
    code, shown = term.finish()
    assert code == 130, shown
    assert "Traceback" not in shown and "sk_typed" not in shown
    assert not cfg_path().exists()


@pytest.mark.slow
@pty_only
def test_ctrl_d_at_the_hidden_key_prompt_is_no_key_exit_3(subprocess_env: dict[str, str]) -> None:
    term = _Pty(subprocess_env, "keys", "set")
    term.read_until(b"API key (input hidden):")
    term.wait_echo_off()
    term.send(b"\x04")  # Ctrl-D on an empty line: end of input, nothing given
    code, shown = term.finish()
    assert code == 3, shown
    assert "no API key was given on the prompt" in " ".join(shown.split())
    assert "Traceback" not in shown
    assert not cfg_path().exists()


@pytest.mark.slow
@pty_only
def test_ctrl_c_at_the_remove_confirmation_exits_130(subprocess_env: dict[str, str]) -> None:
    run("keys", "set", input=KEY)
    term = _Pty(subprocess_env, "keys", "remove")
    term.read_until(b"[y/N]:")
    term.wait_reading()
    term.send(b"\x03")
    code, shown = term.finish()
    assert code == 130, shown
    assert "Traceback" not in shown
    assert stored() == KEY  # nothing removed


def test_a_bad_mscli_profile_is_named_by_the_keys_commands() -> None:
    for args in (("keys", "set"), ("keys", "list"), ("keys", "remove", "--yes")):
        r = run("--json", *args, input=KEY, env={"MSCLI_PROFILE": "bad name"})
        assert r.code == 10, args
        assert "MSCLI_PROFILE" in json.loads(r.stderr)["error"]["message"]
    assert not cfg_path().exists()


def test_a_key_stored_as_a_number_is_a_config_error_not_no_key() -> None:
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_text("[profiles.default]\napi_key = 12\n")
    os.chmod(cfg_path(), 0o600)
    r = run("--json", "keys", "list")
    assert r.code == 10
    err = json.loads(r.stderr)["error"]
    assert "api_key" in err["message"] and "keys set" in err["advice"]
