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
    with pytest.raises(ConfigError, match="profile:default"):
        resolve(GlobalOptions(), env={}, store=store)  # type: ignore[arg-type]


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
