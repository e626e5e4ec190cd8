"""Key normalisation and the sk_ format check: every message says exactly what is wrong."""

from __future__ import annotations

import pytest

from mscli.credentials import MIN_KEY_LENGTH, check_key_format, key_problems, normalise_key
from mscli.errors import KeyFormatError, KeyMissingError

GOOD = "sk_" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7b0c3e"


@pytest.mark.parametrize(
    "raw",
    [
        GOOD,
        f"  {GOOD}  ",
        f"{GOOD}\n",
        f"{GOOD}\r\n",
        f"\t{GOOD}\n\n",
        f'"{GOOD}"',
        f"'{GOOD}'",
        f"“{GOOD}”",
        f" '{GOOD}'\n",
        f"Bearer {GOOD}",
        f"bearer  {GOOD}",
        f"Authorization: Bearer {GOOD}",
        f'"Bearer {GOOD}"',
        f"\ufeff{GOOD}\u200b",
        f"\u00a0{GOOD}\u00a0",
    ],
)
def test_normalise_key_recovers_the_key(raw: str) -> None:
    assert normalise_key(raw) == GOOD
    check_key_format(normalise_key(raw), source="stdin")


def test_normalise_leaves_the_inside_alone() -> None:
    assert normalise_key("sk_abc def") == "sk_abc def"
    assert normalise_key('"sk_abc') == '"sk_abc'  # unbalanced: not stripped, the check says why


@pytest.mark.parametrize(
    "key",
    [GOOD, "sk_test_invalid", "sk_test_" + "x" * 24, "sk_a-b_c-d_e-f", "sk_" + "x" * 32],
)
def test_valid_keys(key: str) -> None:
    check_key_format(key, source="profile:default")
    assert key_problems(key) == []


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("sk-" + "a" * 32, "'sk-' (a hyphen)"),
        ("sk-proj-" + "a" * 32, "OpenAI"),
        ("SK_" + "a" * 32, "capitals"),
        ("pk_" + "a" * 32, "does not start with 'sk_'"),
        ("a" * 35, "does not start with 'sk_'"),
        ("sk_abc", "too short (6 characters)"),
        ("sk_" + "a" * 300, "too long"),
        ("sk_abc def" + "g" * 10, "a space inside the key at position 7"),
        ("sk_abc\ndef" + "g" * 10, "a line break inside the key"),
        ("sk_abc\tdef" + "g" * 10, "a tab"),
        ("sk_abcdé" + "g" * 10, "non-ASCII character"),
        ("sk_abc\u200bdef" + "g" * 10, "invisible character (U+200B)"),
        ("sk_abc.def" + "g" * 10, "the character '.'"),
        (f" {GOOD}", "whitespace"),
        (f"{GOOD}\n", "whitespace"),
        (f'"{GOOD}"', "wrapped in quotes"),
        (f"Bearer {GOOD}", "'Bearer '"),
    ],
)
def test_malformed_keys_say_what_is_wrong(key: str, fragment: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        check_key_format(key, source="env:MODELSTACK_API_KEY")
    err = info.value
    assert fragment in str(err)
    assert "the environment variable MODELSTACK_API_KEY" in str(err)
    assert err.source == "env:MODELSTACK_API_KEY"
    assert err.advice_key == "auth.malformed"
    assert err.facts["problem"] in str(err)
    assert any(fragment in p for p in key_problems(key))


@pytest.mark.parametrize("key", ["", "   ", "\n", "\ufeff"])
def test_empty_key_is_missing(key: str) -> None:
    with pytest.raises(KeyMissingError, match="empty"):
        check_key_format(key, source="stdin")
    assert key_problems(key) == ["the key is empty"]


def test_quotes_around_nothing() -> None:
    assert normalise_key('""') == ""
    assert "the key is empty" in key_problems('""')


def test_messages_never_contain_the_key() -> None:
    secret = "sk-" + "Zq9" * 11
    with pytest.raises(KeyFormatError) as info:
        check_key_format(secret, source="flag")
    assert secret not in str(info.value)
    assert secret[3:] not in str(info.value)
    assert all(secret[3:] not in p for p in key_problems(secret))


def test_key_problems_lists_every_problem() -> None:
    problems = key_problems('"sk-abc"')
    assert any("quotes" in p for p in problems)
    assert any("hyphen" in p for p in problems)
    assert any("too short" in p for p in problems)


def test_min_length_boundary() -> None:
    check_key_format("sk_" + "a" * (MIN_KEY_LENGTH - 3), source="stdin")
    with pytest.raises(KeyFormatError, match="too short"):
        check_key_format("sk_" + "a" * (MIN_KEY_LENGTH - 4), source="stdin")
