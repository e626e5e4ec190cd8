"""`mscli config …` through the real CLI and its error funnel (mscli.app.main)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mscli.config_schema import get_profile
from mscli.config_store import ConfigStore
from support.cli import run
from support.paths import run_paths

KEY = "sk_" + "Q7w3" * 8


def flat(text: str) -> str:
    """Rich wraps long lines; compare with the whitespace collapsed."""
    return " ".join(text.split())


def store() -> ConfigStore:
    return ConfigStore(run_paths().config_dir)


def cfg_path() -> Path:
    return Path(os.environ["MSCLI_CONFIG_DIR"]) / "config.toml"


# --- path and show -------------------------------------------------------------------------------


def test_path_prints_the_file_even_before_it_exists() -> None:
    r = run("config", "path")
    assert r.code == 0
    assert r.stdout == f"{cfg_path()}\n"
    assert not cfg_path().exists()


def test_path_json() -> None:
    r = run("config", "path", "--json")
    assert json.loads(r.stdout) == {
        "path": str(cfg_path()),
        "directory": str(cfg_path().parent),
        "exists": False,
    }


def test_show_defaults_with_sources() -> None:
    r = run("--json", "config", "show")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    s = doc["settings"]
    assert s["base_url"] == {"value": "https://api.modelstack.cc/v1", "source": "default"}
    assert s["api_key"]["value"] is None
    assert s["timeout"]["source"] == "default"
    assert doc["profile"] == "default"
    assert doc["config_path"] == str(cfg_path())


def test_show_sources_flag_env_profile_default() -> None:
    assert run("config", "set", "timeout", "30").code == 0
    assert run("config", "set", "default_model", "gpt-4o").code == 0
    assert run("keys", "set", input=KEY + "\n").code == 0
    r = run(
        "--max-retries",
        "5",
        "config",
        "show",
        "--json",
        env={"MSCLI_MAX_WAIT": "12"},
    )
    s = json.loads(r.stdout)["settings"]
    assert s["max_retries"] == {"value": 5, "source": "flag"}
    assert s["max_wait"] == {"value": 12.0, "source": "env:MSCLI_MAX_WAIT"}
    assert s["timeout"] == {"value": 30.0, "source": "profile:default"}
    assert s["default_model"] == {"value": "gpt-4o", "source": "profile:default"}
    assert s["api_key"] == {"value": "sk_…Q7w3", "source": "profile:default"}
    assert s["plan"]["source"] == "default"
    assert KEY not in r.stdout + r.stderr


def test_show_table_masks_the_key_and_names_sources() -> None:
    run("keys", "set", input=KEY)
    r = run("config", "show", env={"MODELSTACK_BASE_URL": "https://gw.example.com/v1"})
    assert r.code == 0, r.stderr
    assert KEY not in r.stdout + r.stderr
    assert "sk_…Q7w3" in r.stdout
    assert "environment variable MODELSTACK_BASE_URL" in r.stdout
    assert "config file, profile 'default'" in r.stdout
    assert str(cfg_path()) in r.stderr


def test_show_warns_about_a_world_readable_key_file() -> None:
    run("keys", "set", input=KEY)
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    os.chmod(cfg_path(), 0o644)
    r = run("config", "show")
    assert r.code == 0
    assert f"chmod 600 {cfg_path()}" in flat(r.stderr)


def test_path_is_absolute_when_the_config_dir_is_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = run("config", "path", env={"MSCLI_CONFIG_DIR": "rel/cfg"})
    assert r.code == 0
    assert r.stdout == f"{tmp_path / 'rel' / 'cfg' / 'config.toml'}\n"
    doc = run("config", "path", "--json", env={"MSCLI_CONFIG_DIR": "rel/cfg"}).doc
    assert Path(doc["path"]).is_absolute() and Path(doc["directory"]).is_absolute()


def test_show_lists_unknown_keys_at_the_top_and_in_the_profile() -> None:
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_text(
        'colour = "x"\nprices = {}\n[profiles.default]\nfuture = 1\n[extra]\ny = 2\n'
    )
    r = run("config", "show")
    assert r.code == 0, r.stderr
    text = flat(r.stderr)
    assert (
        "Ignored keys at the top of the config file (unknown to this mscli): colour, extra" in text
    )
    assert "Ignored keys in profile 'default' (unknown to this mscli): future" in text
    doc = run("config", "show", "--json").doc
    assert doc["ignored_top_level_keys"] == ["colour", "extra"]
    assert doc["ignored_keys"] == ["future"]


def test_allow_insecure_http_is_shown_got_and_set() -> None:
    doc = run("config", "show", "--json").doc
    assert doc["settings"]["allow_insecure_http"] == {"value": False, "source": "default"}
    r = run("config", "get", "allow_insecure_http")
    assert (r.code, r.stdout) == (0, "false\n")
    assert run("config", "set", "allow_insecure_http", "true").code == 0
    r = run("config", "get", "allow_insecure_http")
    assert (r.code, r.stdout) == (0, "true\n")
    assert "config file, profile 'default'" in r.stderr
    assert "allow_insecure_http" in run("config", "show").stdout
    # ... and it is what lets `config set base_url` keep a plain http:// URL to another host
    assert run("config", "set", "base_url", "http://gw.internal:8080/v1").code == 0
    r = run("config", "set", "allow_insecure_http", "maybe")
    assert r.code == 2 and "true or false" in r.stderr


def test_get_names_the_source_of_every_value_but_the_default() -> None:
    r = run("config", "get", "timeout")
    assert (r.stdout, r.stderr) == ("600\n", "")
    run("config", "set", "timeout", "30")
    r = run("config", "get", "timeout")
    assert r.stdout == "30\n" and "(from the config file, profile 'default')" in r.stderr
    r = run("config", "get", "timeout", env={"MSCLI_TIMEOUT": "7"})
    assert r.stdout == "7\n" and "(from the environment variable MSCLI_TIMEOUT)" in r.stderr
    r = run("--timeout", "5", "config", "get", "timeout")
    assert r.stdout == "5\n" and "(from the --timeout flag)" in r.stderr


# --- get / set / unset ---------------------------------------------------------------------------


def test_set_get_unset_round_trip() -> None:
    r = run("config", "set", "default_model", "claude-sonnet-4-5")
    assert r.code == 0, r.stderr
    assert "default_model" in r.stdout and "'default'" in r.stdout
    assert run("config", "get", "default_model").stdout == "claude-sonnet-4-5\n"
    r = run("config", "unset", "default_model")
    assert r.code == 0 and "Removed" in r.stdout
    r = run("config", "get", "default_model", "--json")
    assert json.loads(r.stdout)["value"] == "claude-sonnet-4-5"  # mscli's built-in default
    assert json.loads(r.stdout)["source"] == "default"
    r = run("config", "unset", "default_model")
    assert r.code == 0 and "nothing changed" in r.stderr


def test_set_types_values() -> None:
    run("config", "set", "timeout", "45")
    run("config", "set", "max_retries", "0")
    run("config", "set", "log_history", "off")
    run("config", "set", "plan", "Max")
    prof = get_profile(store().load(), "default")
    assert prof == {"timeout": 45, "max_retries": 0, "log_history": False, "plan": "max"}


def test_set_base_url_is_normalised() -> None:
    r = run("config", "set", "base_url", "https://gw.example.com")
    assert r.code == 0, r.stderr
    assert get_profile(store().load(), "default")["base_url"] == "https://gw.example.com/v1"


def test_set_insecure_base_url_is_refused_exit_10() -> None:
    r = run("config", "set", "base_url", "http://example.com/v1")
    assert r.code == 10, r.stderr
    assert not cfg_path().exists() or "example.com" not in cfg_path().read_text()


def test_set_json() -> None:
    r = run("config", "set", "timeout", "2.5", "--json", "--profile", "work")
    doc = json.loads(r.stdout)
    assert doc == {
        "profile": "work",
        "key": "timeout",
        "value": 2.5,
        "path": str(cfg_path()),
        "overridden_by": None,
    }


def test_set_warns_when_env_overrides() -> None:
    r = run("config", "set", "timeout", "30", env={"MSCLI_TIMEOUT": "5"})
    assert r.code == 0
    assert "MSCLI_TIMEOUT" in r.stderr and "overrides" in r.stderr


def test_get_reports_the_effective_value_and_source() -> None:
    run("config", "set", "timeout", "30")
    r = run("config", "get", "timeout", env={"MSCLI_TIMEOUT": "7"})
    assert r.stdout == "7\n"
    assert "MSCLI_TIMEOUT" in r.stderr
    doc = json.loads(run("config", "get", "timeout", "--json").stdout)
    assert doc == {
        "key": "timeout",
        "value": 30.0,
        "source": "profile:default",
        "profile": "default",
    }


def test_get_api_key_is_masked() -> None:
    run("keys", "set", input=KEY)
    r = run("config", "get", "api_key")
    assert r.stdout == "sk_…Q7w3\n"


def test_set_api_key_is_refused_and_points_to_keys_set() -> None:
    r = run("config", "set", "api_key", KEY)
    assert r.code == 2
    assert "mscli keys set" in r.stderr
    assert KEY not in r.stderr + r.stdout
    assert not cfg_path().exists()


@pytest.mark.parametrize("verb", [("set", "colour", "red"), ("get", "colour"), ("unset", "colour")])
def test_unknown_key_is_usage_error(verb: tuple[str, ...]) -> None:
    r = run("config", *verb)
    assert r.code == 2, r.stderr
    assert "colour" in r.stderr and "known" in r.stderr


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("timeout", "abc", "a number of seconds greater than 0 and at most 86400"),
        ("timeout", "1e308", "a number of seconds greater than 0 and at most 86400"),
        ("max_retries", "-1", "a whole number from 0 to 100"),
        ("log_history", "maybe", "true or false"),
        ("plan", "gold", "one of starter, pro, max, topup"),
        ("base_url", "", "an http(s) URL such as https://api.modelstack.cc/v1"),
    ],
)
def test_bad_value_on_the_command_line_is_a_usage_error(
    key: str, value: str, accepted: str
) -> None:
    """What was typed is wrong, not the config: exit 2, naming the key, the value and what is
    accepted, and no circular "fix it with `mscli config set`"."""
    r = run("config", "set", "--", key, value)
    assert r.code == 2, r.stderr
    assert f"{key} must be {accepted}, not {value!r}" in flat(r.stderr)
    assert "Invalid configuration" not in r.stderr
    assert "config set KEY VALUE" not in r.stderr
    assert not cfg_path().exists()


def test_bad_value_json_error() -> None:
    r = run("--json", "config", "set", "timeout", "soon")
    assert r.code == 2
    err = json.loads(r.stderr)["error"]
    assert err["type"] == "usage" and err["code"] == 2


def test_a_bad_value_already_in_the_file_stays_a_config_error_with_the_path() -> None:
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_text('[profiles.default]\ntimeout = "x"\n')
    r = run("--json", "config", "show")
    assert r.code == 10, r.stderr
    err = r.error()
    assert err["type"] == "config.invalid"
    assert err["details"]["path"] == str(cfg_path())
    assert err["message"].startswith("timeout in the config file, profile 'default' must be")
    assert err["message"].endswith("not 'x'")
    assert "`mscli config unset timeout`" in err["advice"]
    # a command that repairs another value works, and warns about this one (a JSON line)
    r = run("--json", "config", "set", "plan", "pro")
    assert r.code == 0, r.stderr
    warning = json.loads(r.stderr.splitlines()[0])["warning"]["message"]
    assert warning.startswith("timeout in the config file") and "config unset timeout" in warning


# --- profiles ------------------------------------------------------------------------------------


def test_global_and_local_profile_options() -> None:
    assert run("--profile", "work", "config", "set", "default_model", "a").code == 0
    assert run("config", "set", "default_model", "b", "--profile", "home").code == 0
    assert run("config", "set", "default_model", "c", env={"MSCLI_PROFILE": "env"}).code == 0
    data = store().load()
    assert get_profile(data, "work") == {"default_model": "a"}
    assert get_profile(data, "home") == {"default_model": "b"}
    assert get_profile(data, "env") == {"default_model": "c"}
    assert run("--profile", "work", "config", "get", "default_model").stdout == "a\n"


def test_profiles_use_and_delete() -> None:
    run("--profile", "work", "keys", "set", input=KEY)
    run("config", "set", "default_model", "gpt-4o")
    r = run("config", "profiles", "--json")
    doc = json.loads(r.stdout)
    assert doc["active"] == "default" and doc["in_use"] == "default"
    by_name = {p["name"]: p for p in doc["profiles"]}
    assert by_name["work"]["key"] == "sk_…Q7w3"
    assert by_name["default"]["in_use"] is True

    r = run("config", "use", "work")
    assert r.code == 0 and "work" in r.stdout
    assert store().load()["active_profile"] == "work"
    r = run("config", "profiles")
    assert any(line.startswith("*") and "work" in line for line in r.stdout.splitlines())
    assert KEY not in r.stdout

    r = run("config", "delete-profile", "work", "--yes")
    assert r.code == 0, r.stderr
    data = store().load()
    assert "work" not in data["profiles"] and "active_profile" not in data
    assert "dashboard" in r.stderr  # the key still works on the server


def test_use_unknown_profile_needs_create() -> None:
    r = run("config", "use", "nope")
    assert r.code == 2 and "--create" in r.stderr
    r = run("config", "use", "nope", "--create")
    assert r.code == 0
    data = store().load()
    assert data["active_profile"] == "nope" and data["profiles"]["nope"] == {}


def test_use_default_always_works() -> None:
    assert run("config", "use", "default").code == 0


def test_use_warns_when_env_overrides() -> None:
    run("config", "use", "x", "--create")
    r = run("config", "use", "x", env={"MSCLI_PROFILE": "y"})
    assert "MSCLI_PROFILE" in r.stderr


def test_invalid_profile_name_is_usage_error() -> None:
    r = run("config", "set", "timeout", "3", "--profile", "bad name")
    assert r.code == 2


def test_delete_profile_without_yes_and_no_tty_refuses() -> None:
    run("config", "set", "timeout", "3", "--profile", "tmp")
    r = run("config", "delete-profile", "tmp")
    assert r.code == 2 and "--yes" in r.stderr
    assert "tmp" in store().load()["profiles"]


def test_delete_unknown_profile() -> None:
    r = run("config", "delete-profile", "ghost", "--yes")
    assert r.code == 2 and "ghost" in r.stderr


# --- the file on disk ----------------------------------------------------------------------------


def test_corrupt_file_exit_10_and_never_overwritten() -> None:
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_bytes(b"[profiles.default]\ntimeout = = 3\n")
    before = cfg_path().read_bytes()
    for args in (
        ("config", "set", "timeout", "4"),
        ("config", "show"),
        ("config", "unset", "timeout"),
    ):
        r = run(*args)
        assert r.code == 10, (args, r.stderr)
        assert str(cfg_path()) in r.stderr.replace("\n", "").replace("│", "").replace(
            " ", ""
        ) or str(cfg_path()) in flat(r.stderr)
        assert "line" in r.stderr
        assert "Traceback" not in r.stderr
    assert cfg_path().read_bytes() == before
    assert run("config", "path").code == 0  # still tells you where it is


def test_corrupt_file_json_error_names_path_and_line() -> None:
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_text("x = [\n")
    r = run("--json", "config", "show")
    err = json.loads(r.stderr)["error"]
    assert err["type"] == "config.corrupt" and err["code"] == 10
    assert err["details"]["path"] == str(cfg_path())
    assert err["details"]["line"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_file_is_0600_in_a_0700_dir() -> None:
    run("config", "set", "timeout", "3")
    assert stat.S_IMODE(os.stat(cfg_path()).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cfg_path().parent).st_mode) == 0o700


@pytest.mark.slow
def test_two_config_set_processes_at_once_both_land(subprocess_env: dict[str, str]) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mscli",
                "config",
                "set",
                "default_model",
                f"m{i}",
                "--profile",
                f"p{i}",
            ],
            env=subprocess_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    data = store().load()
    for i in range(4):
        assert get_profile(data, f"p{i}") == {"default_model": f"m{i}"}


def test_a_file_with_two_bad_values_can_be_repaired_one_at_a_time() -> None:
    """Each bad value's advice names `config set`/`config unset`; both must work while the other
    value is still bad (each warns about what is left), and a new bad value is still refused."""
    cfg_path().parent.mkdir(parents=True, exist_ok=True)
    cfg_path().write_text('[profiles.default]\ntimeout = -5\nmax_retries = "x"\n')
    assert run("models").code == 10  # the file is really unusable as it is
    r = run("config", "set", "timeout", "30")
    assert r.code == 0, r.stderr
    assert "max_retries" in r.stderr and "Warning" in r.stderr
    r = run("config", "set", "max_wait", "999999")
    assert r.code == 2 and "max_wait" in r.stderr  # what this change writes is still checked
    r = run("config", "unset", "max_retries")
    assert r.code == 0, r.stderr
    assert "Warning" not in r.stderr
    assert get_profile(ConfigStore(run_paths().config_dir).load(), "default") == {"timeout": 30.0}


def test_config_alone_is_config_show() -> None:
    run("config", "set", "trusted_host", "api.modelstack.co")
    alone, show = run("config"), run("config", "show")
    assert alone.code == 0 and alone.stdout == show.stdout
    assert "trusted_host" in alone.stdout and "api.modelstack.co" in alone.stdout
    assert run("--json", "config").doc == run("config", "show", "--json").doc
