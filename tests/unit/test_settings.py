"""Settings precedence: flag > env > profile > default, with the source of every value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mscli.errors import ConfigError, UsageError
from mscli.settings import DEFAULT_BASE_URL, GlobalOptions, resolve


class FakeStore:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.path = Path("/tmp/fake/config.toml")

    def load(self) -> dict[str, Any]:
        return self.data


PROFILE_DATA = {
    "profiles": {
        "default": {
            "api_key": "sk_profile_default_1234",
            "timeout": 42,
            "default_model": "gpt-5.1",
        },
        "work": {
            "api_key": "sk_profile_work_5678",
            "base_url": "https://work.example/v1",
            "plan": "max",
        },
    }
}


def test_defaults_when_nothing_is_set() -> None:
    s = resolve(GlobalOptions(), env={}, store=FakeStore({}))  # type: ignore[arg-type]
    assert (s.base_url.value, s.base_url.source) == (DEFAULT_BASE_URL, "default")
    assert s.api_key.value is None
    assert (s.max_retries.value, s.max_wait.value, s.timeout.value) == (3, 60.0, 600.0)
    assert s.profile.value == "default"


def test_profile_beats_default() -> None:
    s = resolve(GlobalOptions(), env={}, store=FakeStore(PROFILE_DATA))  # type: ignore[arg-type]
    assert (s.api_key.value, s.api_key.source) == ("sk_profile_default_1234", "profile:default")
    assert (s.timeout.value, s.timeout.source) == (42.0, "profile:default")
    assert s.default_model.value == "gpt-5.1"


def test_env_beats_profile_and_flag_beats_env() -> None:
    env = {"MODELSTACK_API_KEY": "sk_env_abcdefgh", "MSCLI_TIMEOUT": "7"}
    s = resolve(GlobalOptions(), env=env, store=FakeStore(PROFILE_DATA))  # type: ignore[arg-type]
    assert (s.api_key.value, s.api_key.source) == ("sk_env_abcdefgh", "env:MODELSTACK_API_KEY")
    assert (s.timeout.value, s.timeout.source) == (7.0, "env:MSCLI_TIMEOUT")
    s = resolve(
        GlobalOptions(api_key="sk_flag_zzzzzzzz", timeout=3), env=env, store=FakeStore(PROFILE_DATA)
    )  # type: ignore[arg-type]
    assert (s.api_key.value, s.api_key.source) == ("sk_flag_zzzzzzzz", "flag")
    assert (s.timeout.value, s.timeout.source) == (3.0, "flag")


def test_empty_env_var_counts_as_unset() -> None:
    s = resolve(GlobalOptions(), env={"MODELSTACK_API_KEY": "  "}, store=FakeStore(PROFILE_DATA))  # type: ignore[arg-type]
    assert s.api_key.source == "profile:default"


def test_profile_selection_flag_env_active() -> None:
    store = FakeStore({**PROFILE_DATA, "active_profile": "work"})
    s = resolve(GlobalOptions(), env={}, store=store)  # type: ignore[arg-type]
    assert (s.profile.value, s.api_key.value, s.plan.value) == (
        "work",
        "sk_profile_work_5678",
        "max",
    )
    s = resolve(GlobalOptions(), env={"MSCLI_PROFILE": "default"}, store=store)  # type: ignore[arg-type]
    assert (s.profile.value, s.profile.source) == ("default", "env:MSCLI_PROFILE")
    s = resolve(GlobalOptions(profile="work"), env={"MSCLI_PROFILE": "default"}, store=store)  # type: ignore[arg-type]
    assert (s.profile.value, s.profile.source, s.base_url.value) == (
        "work",
        "flag",
        "https://work.example/v1",
    )


def test_sandbox_pins_url_and_key() -> None:
    s = resolve(
        GlobalOptions(api_key="sk_flag_zzzzzzzz"),
        env={},
        store=FakeStore(PROFILE_DATA),  # type: ignore[arg-type]
        sandbox=("http://127.0.0.1:9/v1", "sk_test_x"),
    )
    assert (s.base_url.value, s.base_url.source, s.api_key.value) == (
        "http://127.0.0.1:9/v1",
        "sandbox",
        "sk_test_x",
    )


SANDBOX = ("http://127.0.0.1:9/v1", "sk_test_fresh")


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("sk_test_no_credits", {}, ("sk_test_no_credits", "flag")),
        (
            None,
            {"MODELSTACK_API_KEY": "sk_test_rate_limited"},
            ("sk_test_rate_limited", "env:MODELSTACK_API_KEY"),
        ),
        (  # the flag beats the environment, as everywhere
            "sk_test_invalid",
            {"MODELSTACK_API_KEY": "sk_test_no_credits"},
            ("sk_test_invalid", "flag"),
        ),
        (  # a real key is never sent to the sandbox: the sandbox's key replaces it
            None,
            {"MODELSTACK_API_KEY": "sk_live_real_key_123"},
            ("sk_test_fresh", "sandbox"),
        ),
        ("sk_real_flag_key_123", {"MODELSTACK_API_KEY": "sk_test_x"}, ("sk_test_fresh", "sandbox")),
        (None, {"MODELSTACK_API_KEY": "  "}, ("sk_test_fresh", "sandbox")),
    ],
)
def test_sandbox_keeps_a_test_key_from_flag_or_env(
    flag: str | None, env: dict[str, str], expected: tuple[str, str]
) -> None:
    s = resolve(GlobalOptions(api_key=flag), env=env, store=FakeStore({}), sandbox=SANDBOX)  # type: ignore[arg-type]
    assert (s.api_key.value, s.api_key.source) == expected
    assert (s.base_url.value, s.base_url.source) == ("http://127.0.0.1:9/v1", "sandbox")


def test_sandbox_ignores_a_test_key_stored_in_the_profile() -> None:
    data = {"profiles": {"default": {"api_key": "sk_test_no_credits"}}}
    s = resolve(GlobalOptions(), env={}, store=FakeStore(data), sandbox=SANDBOX)  # type: ignore[arg-type]
    assert (s.api_key.value, s.api_key.source) == ("sk_test_fresh", "sandbox")


def test_bad_env_number_is_a_config_error_naming_its_source() -> None:
    with pytest.raises(ConfigError, match="MSCLI_MAX_RETRIES"):
        resolve(GlobalOptions(), env={"MSCLI_MAX_RETRIES": "lots"}, store=FakeStore({}))  # type: ignore[arg-type]


def test_bad_flag_number_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        resolve(GlobalOptions(max_wait=-1), env={}, store=FakeStore({}))  # type: ignore[arg-type]


def test_bad_profile_value_is_a_config_error() -> None:
    store = FakeStore({"profiles": {"default": {"timeout": "soon"}}})
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(), env={}, store=store)  # type: ignore[arg-type]
    err = info.value
    assert err.message.startswith("timeout in the config file, profile 'default' must be")
    assert err.facts["path"] == str(store.path)
    assert "profile:default" not in err.message


# --- every source obeys the bounds of `config set` (config_schema.KNOWN_KEYS) --------------------


@pytest.mark.parametrize(
    ("options", "flag", "accepted"),
    [
        (GlobalOptions(max_retries=10**20), "--max-retries", "a whole number from 0 to 100"),
        (GlobalOptions(max_retries=-1), "--max-retries", "a whole number from 0 to 100"),
        (
            GlobalOptions(timeout=1e308),
            "--timeout",
            "a number of seconds greater than 0 and at most 86400",
        ),
        (
            GlobalOptions(timeout=float("inf")),
            "--timeout",
            "a number of seconds greater than 0 and at most 86400",
        ),
        (GlobalOptions(max_wait=86401), "--max-wait", "a number of seconds from 0 to 86400"),
        (GlobalOptions(max_wait=-1), "--max-wait", "a number of seconds from 0 to 86400"),
    ],
)
def test_flags_obey_the_config_bounds_as_usage_errors(
    options: GlobalOptions, flag: str, accepted: str
) -> None:
    with pytest.raises(UsageError) as info:
        resolve(options, env={}, store=FakeStore({}))  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{flag} must be {accepted}, not ")


@pytest.mark.parametrize(
    ("var", "value", "key", "accepted"),
    [
        ("MSCLI_TIMEOUT", "abc", "timeout", "a number of seconds greater than 0 and at most 86400"),
        (
            "MSCLI_TIMEOUT",
            "1e308",
            "timeout",
            "a number of seconds greater than 0 and at most 86400",
        ),
        ("MSCLI_TIMEOUT", "nan", "timeout", "a number of seconds greater than 0 and at most 86400"),
        ("MSCLI_MAX_RETRIES", "1000", "max_retries", "a whole number from 0 to 100"),
        ("MSCLI_MAX_RETRIES", "lots", "max_retries", "a whole number from 0 to 100"),
        ("MSCLI_MAX_WAIT", "100000", "max_wait", "a number of seconds from 0 to 86400"),
    ],
)
def test_env_vars_obey_the_config_bounds_as_config_errors_naming_the_variable(
    var: str, value: str, key: str, accepted: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(), env={var: value}, store=FakeStore({}))  # type: ignore[arg-type]
    err = info.value
    assert err.message == (
        f"{key} from the environment variable {var} must be {accepted}, not {value!r}"
    )
    assert err.facts["fix"] == f"change {var} to {accepted}, or unset it: `unset {var}`"
    assert "config set" not in err.facts["fix"]
    assert f"env:{var}" not in err.message


def test_a_flag_beats_a_bad_env_var_and_values_in_bounds_pass() -> None:
    env = {"MSCLI_TIMEOUT": "abc", "MSCLI_MAX_RETRIES": "100", "MSCLI_MAX_WAIT": "0"}
    s = resolve(GlobalOptions(timeout=86400), env=env, store=FakeStore({}))  # type: ignore[arg-type]
    assert (s.timeout.value, s.max_retries.value, s.max_wait.value) == (86400.0, 100, 0.0)


@pytest.mark.parametrize(
    ("profile", "accepted"),
    [
        ({"timeout": 100000}, "a number of seconds greater than 0 and at most 86400"),
        ({"max_retries": 1000}, "a whole number from 0 to 100"),
        ({"log_history": "false"}, "true or false"),
        ({"allow_insecure_http": "false"}, "true or false"),
        ({"plan": "gold"}, "one of starter, pro, max, topup"),
        ({"api_key": 12}, 'an API key as text, such as "sk_..."'),
        ({"base_url": 12}, "an http(s) URL such as https://api.modelstack.cc/v1"),
    ],
)
def test_stored_values_obey_the_same_rules(profile: dict[str, Any], accepted: str) -> None:
    """A stored value the key does not accept is exit 10 with the file and the key, even when a
    string "false" would have read as true (allow_insecure_http)."""
    store = FakeStore({"profiles": {"work": profile}})
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(profile="work"), env={}, store=store)  # type: ignore[arg-type]
    err = info.value
    ((key, value),) = profile.items()
    assert err.message == (
        f"{key} in the config file, profile 'work' must be {accepted}, not {value!r}"
    )
    assert err.facts["path"] == str(store.path) and err.facts["key"] == key
    assert "--profile work" in err.facts["fix"]


def test_api_key_that_is_not_text_is_a_config_error_not_a_malformed_key() -> None:
    store = FakeStore({"profiles": {"default": {"api_key": 12}}})
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(), env={}, store=store)  # type: ignore[arg-type]
    assert info.value.advice_key == "config.invalid"
    assert info.value.facts["fix"].startswith("store the key again with `mscli keys set`")


def test_mscli_profile_is_checked_like_the_flag() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(GlobalOptions(), env={"MSCLI_PROFILE": "bad name"}, store=FakeStore({}))  # type: ignore[arg-type]
    err = info.value
    assert "environment variable MSCLI_PROFILE" in err.message and "'bad name'" in err.message
    assert "unset MSCLI_PROFILE" in err.facts["fix"]
    with pytest.raises(UsageError, match="invalid profile name"):
        resolve(GlobalOptions(profile="bad name"), env={}, store=FakeStore({}))  # type: ignore[arg-type]
    # the flag beats the variable, as for every other setting
    s = resolve(
        GlobalOptions(profile="work"), env={"MSCLI_PROFILE": "bad name"}, store=FakeStore({})
    )  # type: ignore[arg-type]
    assert s.profile.value == "work"


def test_allow_insecure_http_has_a_source_and_a_row() -> None:
    s = resolve(GlobalOptions(), env={}, store=FakeStore({}))  # type: ignore[arg-type]
    assert ("allow_insecure_http", False, "default") in s.as_rows()
    store = FakeStore({"profiles": {"default": {"allow_insecure_http": True}}})
    s = resolve(GlobalOptions(), env={}, store=store)  # type: ignore[arg-type]
    assert s.allow_insecure_http is True
    assert ("allow_insecure_http", True, "profile:default") in s.as_rows()


@pytest.mark.parametrize(
    ("options", "env", "profile", "words", "fix"),
    [
        (
            GlobalOptions(),
            {"MODELSTACK_BASE_URL": "ftp://x"},
            {},
            "(from the environment variable MODELSTACK_BASE_URL)",
            "change MODELSTACK_BASE_URL to a usable URL",
        ),
        (
            GlobalOptions(base_url="http://example.com/v1"),
            {},
            {},
            "(from the --base-url flag)",
            "give --base-url a usable URL",
        ),
        (
            GlobalOptions(),
            {},
            {"base_url": "https://a.example/v1/v1"},
            "(from the config file, profile 'default')",
            "set it with `mscli config set base_url https://api.modelstack.cc/v1`",
        ),
    ],
)
def test_an_unusable_base_url_says_where_it_came_from(
    options: GlobalOptions, env: dict[str, str], profile: dict[str, Any], words: str, fix: str
) -> None:
    from mscli.errors import BaseUrlError

    store = FakeStore({"profiles": {"default": profile}})
    s = resolve(options, env=env, store=store)  # type: ignore[arg-type]  # never raises for it
    with pytest.raises(BaseUrlError) as info:
        s.client_config()
    assert info.value.message.endswith(words)
    assert info.value.facts["fix"].startswith(fix)


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("https://api.modelstack.cc/v1", "https://api.modelstack.cc/v1"),
        ("https://api.modelstack.cc/v1/", "https://api.modelstack.cc/v1"),
        ("https://api.modelstack.cc", "https://api.modelstack.cc/v1"),
        ("not a url", "not a url"),  # kept as given: the client refuses it with the full error
    ],
)
def test_base_url_is_normalised_and_the_given_form_kept(given: str, normal: str) -> None:
    s = resolve(GlobalOptions(base_url=given), env={}, store=FakeStore({}))  # type: ignore[arg-type]
    assert (s.base_url.value, s.base_url.source, s.base_url_given) == (normal, "flag", given)
