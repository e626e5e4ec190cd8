"""`mscli models` and `models check` through the real CLI against the sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mscli import catalogue
from mscli.pricing import CATALOGUE
from support.cli import Result, run
from support.loopback import closed_port
from support.paths import run_paths


def invoke(sb: Any, *args: str, key: str | None = None) -> Result:
    return run("--base-url", sb.base_url, *args, env={"MODELSTACK_API_KEY": key or sb.api_key})


def test_table_lists_every_served_model_with_provider(sandbox: Any) -> None:
    result = invoke(sandbox, "models")
    assert result.exit_code == 0, result.output
    for m in CATALOGUE:
        assert m.id in result.stdout
    assert "anthropic" in result.stdout and "google" in result.stdout
    assert "estimates" in result.stderr


def test_json_is_the_same_data(sandbox: Any) -> None:
    result = invoke(sandbox, "models", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["cached"] is False
    assert sorted(m["id"] for m in doc["data"]) == sorted(m.id for m in CATALOGUE)
    assert all(m["owned_by"] for m in doc["data"])
    # global --json before the command gives the same document
    again = run(
        "--json",
        "--base-url",
        sandbox.base_url,
        "models",
        env={"MODELSTACK_API_KEY": sandbox.api_key},
    )
    assert json.loads(again.stdout)["data"] == doc["data"]


def test_ids_and_filter(sandbox: Any) -> None:
    result = invoke(sandbox, "models", "--ids", "--filter", "gemini")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["gemini-2.5-flash", "gemini-2.5-pro"]


def test_second_call_uses_the_cache_and_refresh_skips_it(sandbox: Any) -> None:
    invoke(sandbox, "models", "--ids")
    assert sorted(catalogue.cached_ids(run_paths().cache_dir, sandbox.base_url)) == sorted(
        m.id for m in CATALOGUE
    )
    # With an invalid key, only a cache hit can succeed: proves no request was sent.
    cached = invoke(sandbox, "models", "--json", key="sk_test_invalid")
    assert cached.exit_code == 0 and json.loads(cached.stdout)["cached"] is True
    refreshed = invoke(sandbox, "models", "--refresh", key="sk_test_invalid")
    assert refreshed.exit_code == 3


def test_the_cache_does_not_answer_without_a_key(sandbox: Any) -> None:
    """`mscli models check X && mscli chat ...` must not pass on a missing key just because the
    list is cached: the key is checked locally before the cache is read."""
    assert invoke(sandbox, "models", "--ids").exit_code == 0  # the cache is now fresh
    for args in (("models", "--ids"), ("models", "check", "gpt-4o")):
        r = run("--base-url", sandbox.base_url, *args, env={"MODELSTACK_API_KEY": ""})
        assert r.exit_code == 3, (args, r.output)


@pytest.mark.parametrize("key", ["bogus", "sk_x", "sk-openai-style-000000"])
def test_the_cache_does_not_answer_a_malformed_modelstack_key(key: str) -> None:
    """On ModelStack's host a malformed key is refused before the (fresh) cache is read; the
    proxy on a closed loopback port keeps any request on this machine."""
    url = "https://api.modelstack.cc/v1"
    catalogue.save(run_paths().cache_dir, url, [{"id": m.id} for m in CATALOGUE])
    assert catalogue.cached_ids(run_paths().cache_dir, url)
    env = {"MODELSTACK_API_KEY": key, "HTTPS_PROXY": f"http://127.0.0.1:{closed_port()}"}
    for args in (("models", "--ids"), ("models", "check", "gpt-4o")):
        r = run("--base-url", url, *args, env=env)
        assert r.exit_code == 3, (args, r.output)


def test_cache_expires_after_ten_minutes(sandbox: Any) -> None:
    catalogue.save(run_paths().cache_dir, sandbox.base_url, [{"id": "old-model"}], now=1.0)
    assert catalogue.load(run_paths().cache_dir, sandbox.base_url) is None
    assert catalogue.cached_ids(run_paths().cache_dir, sandbox.base_url) == ["old-model"]
    result = invoke(sandbox, "models", "--ids")
    assert "old-model" not in result.stdout


def test_check_served_model_exits_0(sandbox: Any) -> None:
    result = invoke(sandbox, "models", "check", "gpt-5.1")
    assert result.exit_code == 0 and "served" in result.stdout


@pytest.mark.parametrize(
    ("model", "suggestion"), [("gpt-5", "gpt-5.1"), ("claude-sonet-4-5", "claude-sonnet-4-5")]
)
def test_check_unknown_model_exits_6_with_did_you_mean(
    sandbox: Any, model: str, suggestion: str
) -> None:
    result = invoke(sandbox, "models", "check", model)
    assert result.exit_code == 6
    assert "Did you mean" in result.stderr and suggestion in result.stderr


def test_check_refetches_when_the_cache_is_stale_about_a_model(sandbox: Any) -> None:
    catalogue.save(run_paths().cache_dir, sandbox.base_url, [{"id": "something-else"}])
    result = invoke(sandbox, "models", "check", "gpt-5.1")
    assert result.exit_code == 0


def test_check_json_error_on_stderr(sandbox: Any) -> None:
    result = invoke(sandbox, "--json", "models", "check", "nope-model")
    assert result.exit_code == 6
    err = result.error()
    assert err["type"] == "model.unsupported" and err["code"] == 6


def test_invalid_key_is_auth_panel_exit_3(sandbox: Any) -> None:
    # the built-in sandbox is ModelStack: its advice speaks of ModelStack keys
    env = {"MODELSTACK_API_KEY": "sk_test_invalid"}
    result = run("--sandbox", "models", "--refresh", env=env)
    assert result.exit_code == 3
    assert "401" in result.stderr and "sk_" in result.stderr
    assert "sk_test_invalid" not in result.stderr
    # served on its own, at a loopback URL, it is just another gateway to the host policy
    result = invoke(sandbox, "models", "--refresh", key="sk_test_invalid")
    assert result.exit_code == 3 and "401" in result.stderr
    assert "127.0.0.1 is not ModelStack" in " ".join(result.stderr.split())


def test_connection_refused_is_exit_8(unused_tcp_port: int) -> None:
    result = run(
        "--max-retries",
        "0",
        "--base-url",
        f"http://127.0.0.1:{unused_tcp_port}/v1",
        "models",
        env={"MODELSTACK_API_KEY": "sk_test_abcdefgh"},
    )
    assert result.exit_code == 8
    assert "refused" in result.stderr.lower()


@pytest.fixture()
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_allow_insecure_http_to_a_remote_host_warns_before_sending_the_key() -> None:
    import os
    from pathlib import Path

    cfg = Path(os.environ["MSCLI_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(
        '[profiles.default]\nallow_insecure_http = true\nbase_url = "http://gateway.invalid/v1"\n'
    )
    os.chmod(cfg / "config.toml", 0o600)
    r = run("--max-retries", "0", "models", env={"MODELSTACK_API_KEY": "sk_test_abcdefghij"})
    assert r.exit_code == 8  # the host does not resolve; the warning came first
    err = " ".join(r.stderr.split())
    assert "Sending the API key over plain http:// to gateway.invalid" in err
    assert err.count("plain http://") == 1


def test_a_filter_that_matches_nothing_says_so(sandbox: Any) -> None:
    r = invoke(sandbox, "models", "--filter", "zzz")
    assert r.exit_code == 0 and r.stdout == ""
    assert "No served model matches 'zzz'" in r.stderr


def test_the_cache_keeps_a_bounded_number_of_lists() -> None:
    """Every `mscli --sandbox` run has its own port, hence its own cached list: the newest
    MAX_FILES are kept (completion reads them all), older ones are removed."""
    import os

    for i in range(catalogue.MAX_FILES + 5):
        catalogue.save(
            run_paths().cache_dir,
            f"http://127.0.0.1:{10000 + i}/v1",
            [{"id": f"m{i}"}],
            now=1000.0 + i,
        )
        path = catalogue._path(run_paths().cache_dir, f"http://127.0.0.1:{10000 + i}/v1")
        os.utime(path, (1000.0 + i, 1000.0 + i))  # distinct mtimes, oldest first
    files = sorted(run_paths().cache_dir.glob("models-*.json"))
    assert len(files) == catalogue.MAX_FILES
    ids = catalogue.all_cached_ids(run_paths().cache_dir)
    assert f"m{catalogue.MAX_FILES + 4}" in ids and "m0" not in ids


def test_waiting_is_shown_on_a_terminal_only(sandbox: Any) -> None:
    """Between sending and the answer, a terminal's stderr says what mscli waits for; a pipe,
    --json and --verbose (which traces the request) get no spinner."""
    env = {"MODELSTACK_API_KEY": sandbox.api_key, "TERM": "xterm"}  # TERM=dumb: no spinner
    args = ("--base-url", sandbox.base_url, "models", "--refresh")
    r = run(*args, env=env, stderr_tty=True)
    assert r.exit_code == 0 and "Asking 127.0.0.1 for its models…" in r.stderr
    assert "Asking" not in run(*args, env=env).stderr
    assert "Asking" not in run("--json", *args, env=env, stderr_tty=True).stderr
    r = run("--base-url", sandbox.base_url, "balance", env=env, stderr_tty=True)
    assert r.exit_code == 0 and "Asking 127.0.0.1 for the balance…" in r.stderr


@pytest.mark.parametrize("columns", ["80", "60"])
def test_narrow_terminal_never_folds_an_id(sandbox: Any, columns: str) -> None:
    result = run(
        "--base-url",
        sandbox.base_url,
        "models",
        env={"MODELSTACK_API_KEY": sandbox.api_key, "COLUMNS": columns},
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for m in CATALOGUE:  # each id whole, at the start of its own line
        assert any(line.split()[:1] == [m.id] for line in lines), (m.id, result.stdout)
    assert all(len(line.rstrip()) <= int(columns) for line in lines)
    assert len(lines) == len(CATALOGUE) + 1  # the header, then one line per model


def test_count_line_is_singular_for_one_model(sandbox: Any) -> None:
    one = invoke(sandbox, "models", "--filter", "gpt-4o")
    assert "1 model (" in one.stderr and "1 models" not in one.stderr
    many = invoke(sandbox, "models", "--filter", "gemini")
    assert "2 models (" in many.stderr
