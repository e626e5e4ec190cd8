"""Flags, environment variables and stored values obey the same rules as `mscli config set`, and
every error says where the bad value came from in words, with a fix for that place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.cli import run

KEY = "sk_" + "Q7w3" * 8


def cfg_path() -> Path:
    return Path(os.environ["MSCLI_CONFIG_DIR"]) / "config.toml"


def write_config(text: str) -> None:
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_text(text)


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("MSCLI_TIMEOUT", "abc", "timeout"),
        ("MSCLI_TIMEOUT", "1e308", "timeout"),
        ("MSCLI_MAX_RETRIES", "1000", "max_retries"),
        ("MSCLI_MAX_WAIT", "-5", "max_wait"),
    ],
)
def test_a_bad_env_var_is_exit_10_naming_the_variable_with_its_own_fix(
    var: str, value: str, key: str
) -> None:
    r = run("--json", "config", "get", key, env={var: value})
    assert r.code == 10, r.stderr
    err = r.error()
    assert err["type"] == "config.invalid"
    assert f"from the environment variable {var} must be" in err["message"]
    assert f"env:{var}" not in err["message"]
    assert err["advice"].startswith(f"Change {var} to ")
    assert f"`unset {var}`" in err["advice"]
    assert "config set" not in err["advice"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--max-retries", "100000000000000000000"),
            "--max-retries must be a whole number from 0 to 100, not 100000000000000000000",
        ),
        (
            ("--timeout", "1e308"),
            "--timeout must be a number of seconds greater than 0 and at most 86400, not 1e+308",
        ),
        (("--max-wait", "90000"), "--max-wait must be a number of seconds from 0 to 86400"),
    ],
)
def test_a_flag_out_of_bounds_is_a_usage_error(args: tuple[str, ...], message: str) -> None:
    r = run("--json", *args, "config", "get", "timeout")
    assert r.code == 2, r.stderr
    err = r.error()
    assert err["type"] == "usage" and err["message"].startswith(message)


def test_a_flag_out_of_bounds_stops_a_request_before_it_is_sent() -> None:
    r = run("--max-retries", "1000", "--api-key", KEY, "models")
    assert r.code == 2, r.stderr


def test_mscli_profile_is_checked_like_the_profile_flag() -> None:
    r = run("--json", "config", "get", "timeout", env={"MSCLI_PROFILE": "bad name"})
    assert r.code == 10, r.stderr
    err = r.error()
    assert "environment variable MSCLI_PROFILE" in err["message"]
    assert "unset MSCLI_PROFILE" in err["advice"]
    # before config set/unset act on the profile it names (not a usage error about a name the user
    # never typed)
    for args in (("config", "set", "timeout", "3"), ("config", "unset", "timeout")):
        r = run("--json", *args, env={"MSCLI_PROFILE": "bad name"})
        assert r.code == 10, (args, r.stderr)
        assert "MSCLI_PROFILE" in r.error()["message"]
    assert not cfg_path().exists()
    # the global flag is checked like the subcommand's --profile
    assert run("-p", "bad name", "config", "get", "timeout").code == 2


def test_an_api_key_that_is_not_text_is_a_config_error_with_the_path() -> None:
    write_config("[profiles.default]\napi_key = 12\n")
    for args in (("config", "show"), ("keys", "check"), ("config", "get", "api_key")):
        r = run("--json", *args)
        assert r.code == 10, (args, r.stderr)
        err = r.error()
        assert err["type"] == "config.invalid"
        assert err["details"]["path"] == str(cfg_path())
        assert err["message"].startswith("api_key in the config file, profile 'default' must be")
        assert "`mscli keys set`" in err["advice"]
    # and it can be repaired with the commands the fix names
    assert run("keys", "set", input=KEY).code == 0
    assert run("config", "show").code == 0


def test_an_unusable_base_url_from_the_environment_names_the_variable() -> None:
    r = run("--json", "models", env={"MODELSTACK_BASE_URL": "ftp://x", "MODELSTACK_API_KEY": KEY})
    assert r.code == 10, r.stderr
    err = r.error()
    assert err["message"].endswith("(from the environment variable MODELSTACK_BASE_URL)")
    assert err["advice"].startswith("Change MODELSTACK_BASE_URL to a usable URL")
    # `config show` still works, to see what is set
    shown = run("config", "get", "base_url", env={"MODELSTACK_BASE_URL": "ftp://x"})
    assert shown.code == 0 and shown.stdout == "ftp://x\n"
