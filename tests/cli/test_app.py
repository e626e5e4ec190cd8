"""The root app: startup hygiene, global options, the error funnel and its exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mscli import __version__
from mscli.app import app
from support.loopback import closed_port

runner = CliRunner()

PROBE = """
import sys
sys.argv = ["mscli", *{args!r}]
from mscli.app import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in {modules!r} if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


HEAVY = ("httpx", "httpcore", "pydantic", "sqlite3", "prompt_toolkit", "mscli.api.client")


def _heavy_imports(
    args: list[str], env: dict[str, str], modules: tuple[str, ...] = HEAVY
) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, modules=modules)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")]
    assert len(lines) == 1, proc.stderr
    return [m for m in lines[0][len("HEAVY=") :].split(",") if m]


@pytest.mark.parametrize("args", [["--help"], ["--version"], []])
def test_help_and_version_import_neither_httpx_nor_pydantic(
    args: list[str], subprocess_env: dict[str, str]
) -> None:
    # nor the settings machinery: the epilog's table of variables is `mscli.envvars` (data only)
    assert _heavy_imports(args, subprocess_env, (*HEAVY, "mscli.settings")) == []


@pytest.mark.parametrize(
    "args",
    [
        ["chat", "--help"],
        ["models", "--help"],
        ["doctor", "--help"],
        ["balance", "--help"],
        ["history", "--help"],
    ],
)
def test_command_help_imports_no_http_pydantic_or_storage_modules(
    args: list[str], subprocess_env: dict[str, str]
) -> None:
    # Typer 0.29 coerced option values through pydantic once a subcommand ran (pyproject pins <0.29)
    assert _heavy_imports(args, subprocess_env) == []


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mscli {__version__}"


def test_python_dash_m_entry_point(subprocess_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mscli", "--version"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, f"mscli {__version__}")


def test_help_lists_commands_and_the_exit_code_table() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("chat", "models", "keys", "balance", "doctor", "config", "sandbox"):
        assert name in result.stdout
    assert "Exit codes:" in result.stdout and "130 interrupted" in result.stdout


def test_unknown_option_is_usage_error_exit_2() -> None:
    result = runner.invoke(app, ["--no-such-option"])
    assert result.exit_code == 2


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "mscli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_missing_key_is_exit_3_with_advice_and_no_traceback() -> None:
    proc = _run(["models"])
    assert proc.returncode == 3, proc.stderr
    assert "No API key" in proc.stderr and "mscli keys set" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_json_errors_go_to_stderr_as_one_object() -> None:
    proc = _run(["--json", "models"])
    assert proc.returncode == 3
    doc = json.loads(proc.stderr)
    err = doc["error"]
    assert set(err) >= {"message", "type", "code", "status", "advice", "request_id"}
    assert err["type"] == "auth.missing" and err["code"] == 3
    assert proc.stdout == ""


def test_malformed_key_refused_before_any_request() -> None:
    # ModelStack's own host, reached only through a proxy on a closed loopback port: a request
    # would fail with exit 8, not 3, and could never leave this machine.
    proc = _run(
        ["--base-url", "https://api.modelstack.cc/v1", "models"],
        {
            "MODELSTACK_API_KEY": "sk-openai-style-key-123",
            "HTTPS_PROXY": f"http://127.0.0.1:{closed_port()}",
        },
    )
    assert proc.returncode == 3, proc.stderr
    assert "sk-openai-style-key-123" not in proc.stderr + proc.stdout


def test_insecure_http_refused_exit_10() -> None:
    proc = _run(
        ["--base-url", "http://example.com/v1", "models"],
        {"MODELSTACK_API_KEY": "sk_test_abcdefgh"},
    )
    assert proc.returncode == 10, proc.stderr
    assert "plain HTTP" in proc.stderr


def test_api_key_flag_warns_and_is_never_echoed() -> None:
    proc = _run(
        ["--api-key", "sk_secretvalue_9876", "--base-url", "http://example.com/v1", "models"]
    )
    assert "visible to other users" in proc.stderr
    assert "sk_secretvalue_9876" not in proc.stderr + proc.stdout


def test_bad_color_value_is_usage_error() -> None:
    proc = _run(["--color", "purple", "models"])
    assert proc.returncode == 2


def test_corrupt_config_is_exit_10_with_path_and_line(isolation) -> None:  # type: ignore[no-untyped-def]
    import os
    from pathlib import Path

    cfg_dir = Path(os.environ["MSCLI_CONFIG_DIR"])
    cfg_dir.mkdir(parents=True, exist_ok=True)
    cfg = cfg_dir / "config.toml"
    cfg.write_text("[profiles.default]\napi_key = 'sk_abc\n", encoding="utf-8")
    before = cfg.read_bytes()
    proc = _run(["models"])
    assert proc.returncode == 10, proc.stderr
    assert "config.toml" in proc.stderr and "line" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr
    assert cfg.read_bytes() == before


def test_version_fast_path_imports_no_typer(subprocess_env: dict[str, str]) -> None:
    probe = (
        "import sys; sys.argv = ['mscli', '--version']\n"
        "from mscli.cli import main; main()\n"
        "sys.stderr.write('TYPER=%s' % ('typer' in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=subprocess_env,
        timeout=60,
    )
    assert proc.stdout == f"mscli {__version__}\n"
    assert proc.stderr.endswith("TYPER=False")


def test_short_version_flag_through_the_app() -> None:
    result = runner.invoke(app, ["-V"])
    assert (result.exit_code, result.stdout) == (0, f"mscli {__version__}\n")


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["sandbox", "keys"],
        ["--sandbox", "models"],
        ["--sandbox", "doctor"],
        ["--color", "always", "--sandbox", "models"],
        ["--color", "always", "--sandbox", "doctor"],
    ],
)
def test_closed_stdout_exits_quietly_with_0(
    args: list[str], subprocess_env: dict[str, str]
) -> None:
    # Like `mscli ... | head -c 1`: the reader goes away after one byte.
    proc = subprocess.Popen(
        [sys.executable, "-m", "mscli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=subprocess_env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "Error" not in err


def test_usage_error_under_json_is_a_json_object_on_stderr() -> None:
    proc = _run(["--json", "models", "--bogus"])
    assert proc.returncode == 2
    err = json.loads(proc.stderr)["error"]
    assert (err["type"], err["code"]) == ("usage", 2)
    assert "--bogus" in err["message"]


def test_unknown_command_without_json_is_a_usage_panel() -> None:
    proc = _run(["nosuchcommand"])
    assert proc.returncode == 2
    assert "No such command" in proc.stderr and "Traceback" not in proc.stderr


def test_json_error_object_keys_and_the_servers_type(sandbox) -> None:  # type: ignore[no-untyped-def]
    proc = _run(
        ["--json", "--base-url", sandbox.base_url, "models", "--refresh"],
        {"MODELSTACK_API_KEY": "sk_test_invalid"},
    )
    assert proc.returncode == 3
    err = json.loads(proc.stderr)["error"]
    assert list(err)[:6] == ["message", "type", "code", "status", "advice", "request_id"]
    assert (err["type"], err["code"], err["status"], err["api_type"]) == (
        "auth.invalid",
        3,
        401,
        "authentication_error",
    )
    assert err["request_id"]
    assert "sk_test_invalid" not in proc.stderr
    assert err["retry_after_s"] is None  # the server asked for no wait


@pytest.mark.parametrize(
    ("key", "kind", "wait"),
    [
        ("sk_test_rate_limited", "rate_limit", 1.0),  # Retry-After: 1, no retries left
        ("sk_test_retry_after_long", "rate_limit.wait_too_long", 3600.0),  # beyond --max-wait
    ],
)
def test_json_error_object_carries_the_servers_retry_after_as_a_number(  # type: ignore[no-untyped-def]
    sandbox, key: str, kind: str, wait: float
) -> None:
    from support.cli import run

    r = run(
        "--json",
        "--base-url",
        sandbox.base_url,
        "--max-retries",
        "0",
        "models",
        "--refresh",
        env={"MODELSTACK_API_KEY": key},
    )
    assert r.code == 5, r.stderr
    err = r.error()
    assert (err["type"], err["status"], err["retry_after_s"]) == (kind, 429, wait)


def test_empty_profile_name_is_a_usage_error() -> None:
    proc = _run(["--profile", "", "models"])
    assert proc.returncode == 2 and "profile name" in proc.stderr


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        (["--color", "always"], {"TERM": "dumb"}, True),  # the flag beats TERM=dumb
        ([], {"TERM": "dumb", "FORCE_COLOR": "1", "NO_COLOR": ""}, True),  # so does FORCE_COLOR
        (
            [],
            {"TERM": "xterm", "FORCE_COLOR": "1", "NO_COLOR": "1"},
            False,
        ),  # NO_COLOR beats FORCE_COLOR
        (
            ["--color", "always"],
            {"TERM": "xterm", "NO_COLOR": "1"},
            True,
        ),  # the flag beats NO_COLOR
        (["--color", "never"], {"TERM": "xterm", "FORCE_COLOR": "1", "NO_COLOR": ""}, False),
        ([], {"TERM": "dumb", "NO_COLOR": ""}, False),  # piped: no colour
    ],
)
def test_colour_precedence_on_stdout(args: list[str], env: dict[str, str], coloured: bool) -> None:
    proc = _run([*args, "config", "show"], env)  # its SETTING column is coloured (cyan)
    assert proc.returncode == 0, proc.stderr
    # a colour, not just bold (NO_COLOR keeps bold): SGR 30-37/90-97 or 38;... (Rich: ESC[36m...)
    colour_code = re.search(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])[;m]", proc.stdout)
    assert (colour_code is not None) is coloured


def test_verbose_prints_each_retry_once(sandbox) -> None:  # type: ignore[no-untyped-def]
    proc = _run(
        ["--verbose", "--base-url", sandbox.base_url, "models", "--refresh"],
        {"MODELSTACK_API_KEY": "sk_test_flaky"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("retrying in") == 1
    assert "sk_test_flaky" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [["--help"], ["chat", "--help"], ["keys", "set", "-h"], ["sandbox", "serve", "--help"]],
)
def test_help_shows_plain_words_not_python_types(args: list[str]) -> None:
    """No `<bool>` on a flag (as if it took a value), no `<str>`, `<list[str]>` or
    `<float range> [0.0<=x<=2.0]`: values are TEXT, INTEGER, NUMBER, their bounds or choices."""
    from support.cli import run

    r = run(*args, env={"COLUMNS": "120"})
    assert r.code == 0, r.stderr
    assert "--help" in r.stdout
    for python_ism in ("<bool>", "<str>", "<int>", "<float", "list[", "<=x<="):
        assert python_ism not in r.stdout, python_ism
    assert re.search(r"TEXT|INTEGER|NUMBER|\d-\d", r.stdout), r.stdout


def test_help_of_bounded_and_choice_options() -> None:
    from support.cli import run

    chat = " ".join(run("chat", "--help", env={"COLUMNS": "120"}).stdout.split())
    assert "--temperature 0-2 Sampling" in chat and "--model -m TEXT" in chat
    serve = " ".join(run("sandbox", "serve", "--help", env={"COLUMNS": "160"}).stdout.split())
    assert "--plan starter|pro|max|topup" in serve and "--port 0-65535" in serve
    # the bounds still bind
    r = run("chat", "--temperature", "3", "hi")
    assert r.code == 2 and "0.0<=x<=2.0" in r.stderr


@pytest.mark.parametrize(
    "args", [["--json", "--version"], ["--version", "--json"], ["--json", "-V"]]
)
def test_version_under_json_is_a_json_object(args: list[str]) -> None:
    proc = _run(args)  # the fast path in mscli.cli
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"version": __version__}
    through_app = _run([*args, "--color", "never"])  # not the fast path: Typer's eager callback
    assert json.loads(through_app.stdout) == {"version": __version__}


def test_an_invalid_mscli_color_is_a_config_error_naming_it() -> None:
    from support.cli import run

    r = run("--json", "config", "path", env={"MSCLI_COLOR": "purple"})
    assert r.code == 10
    err = json.loads(r.stderr)["error"]
    assert "MSCLI_COLOR" in err["message"] and "unset MSCLI_COLOR" in err["advice"]
    assert run("--color", "never", "config", "path", env={"MSCLI_COLOR": "purple"}).code == 0
    assert run("config", "path", env={"MSCLI_COLOR": "Always"}).code == 0  # any case


def test_under_json_stderr_is_json_lines_warnings_included() -> None:
    """--api-key warns (argv is visible); with --json the warning is a JSON line, then the error."""
    proc = _run(["--json", "--sandbox", "--api-key", "sk_test_invalid", "models"])
    assert proc.returncode == 3
    docs = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [next(iter(d)) for d in docs] == ["warning", "error"]
    assert "--api-key is visible" in docs[0]["warning"]["message"]


@pytest.mark.parametrize("args", [["--color", "sometimes"], ["--profile", ""]])
def test_usage_errors_in_global_options_follow_json(args: list[str]) -> None:
    proc = _run(["--json", *args, "models"])
    assert proc.returncode == 2
    assert json.loads(proc.stderr)["error"]["type"] == "usage"


def test_json_on_an_ascii_only_stdout_is_escaped_not_a_crash() -> None:
    assert _run(["--sandbox", "chat", "--max-tokens", "3", "café ☕"]).returncode == 0
    proc = _run(["--json", "history", "show", "1"], {"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.isascii() and json.loads(proc.stdout)["exchanges"][0]["prompt"] == "café ☕"
