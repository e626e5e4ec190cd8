"""The advice table: every error class has a row, every status maps to the documented exit code."""

from __future__ import annotations

import inspect

import pytest

from mscli import errors
from mscli.advice import ADVICE, AdviceContext, advise, exit_code_for
from mscli.catalogue import suggest
from mscli.errors import ApiError, MscliError, NetworkError, RateLimitWaitTooLongError
from mscli.exit_codes import ExitCode


@pytest.mark.parametrize(
    ("status", "etype", "message", "code"),
    [
        (
            400,
            "invalid_request_error",
            'Unsupported model: "gpt-5". Supported models include: a, and more.',
            ExitCode.REJECTED,
        ),
        (
            400,
            "invalid_request_error",
            "Model field is required in request body",
            ExitCode.REJECTED,
        ),
        (400, "invalid_request_error", "temperature must be between 0 and 2", ExitCode.REJECTED),
        (401, "authentication_error", "Invalid API key provided", ExitCode.AUTH),
        (402, "insufficient_balance", "Insufficient credit balance.", ExitCode.BALANCE),
        (403, None, "Forbidden", ExitCode.AUTH),
        (404, "not_found", "Not found", ExitCode.REJECTED),
        (409, None, "Conflict", ExitCode.REJECTED),
        (413, None, "Too large", ExitCode.REJECTED),
        (422, None, "Unprocessable", ExitCode.REJECTED),
        (429, "rate_limit_error", "Rate limit exceeded.", ExitCode.RATE_LIMIT),
        (500, "internal_error", "An internal error occurred.", ExitCode.SERVER),
        (502, None, None, ExitCode.SERVER),
        (503, None, None, ExitCode.SERVER),
        (504, None, None, ExitCode.SERVER),
    ],
)
def test_status_to_exit_code(
    status: int, etype: str | None, message: str | None, code: ExitCode
) -> None:
    err = ApiError("x", status=status, error_type=etype, server_message=message)
    assert advise(err).exit_code == code
    assert exit_code_for(err) == code


def test_every_error_class_has_a_row() -> None:
    for _name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, MscliError) and isinstance(cls.__dict__.get("advice_key"), str):
            assert cls.__dict__["advice_key"] in ADVICE, cls
    for kind in NetworkError.KINDS:
        assert f"network.{kind}" in ADVICE


def test_unknown_exception_is_internal_exit_1() -> None:
    assert exit_code_for(ValueError("boom")) == ExitCode.INTERNAL


def test_unsupported_model_suggests_from_known_models() -> None:
    err = ApiError(
        "x",
        status=400,
        error_type="invalid_request_error",
        server_message='Unsupported model: "claude-sonet-4-5". Supported models include: a, and more.',
    )
    adv = advise(
        err, AdviceContext(known_models=["claude-sonnet-4-5", "gpt-5.1", "claude-haiku-4-5"])
    )
    assert adv.fix[0].startswith("Did you mean: claude-sonnet-4-5")
    assert ("model", "claude-sonet-4-5") in adv.details


def test_invalid_key_says_where_the_key_came_from() -> None:
    err = ApiError(
        "x",
        status=401,
        error_type="authentication_error",
        server_message="Invalid API key provided",
    )
    adv = advise(err, AdviceContext(key_source="env:MODELSTACK_API_KEY"))
    assert ("key_from", "environment variable MODELSTACK_API_KEY") in adv.details
    assert any("export MODELSTACK_API_KEY" in line for line in adv.fix)
    assert any("sk_" in line for line in adv.fix)


def test_402_lists_the_ways_out() -> None:
    adv = advise(ApiError("x", status=402, error_type="insufficient_balance"))
    text = " ".join(adv.fix)
    for way in ("refill", "lifetime credits", "upgrade"):
        assert way in text


def test_429_shows_the_plan_table_and_retries() -> None:
    adv = advise(
        ApiError("x", status=429, attempts=4, retry_after=2.0), AdviceContext(plan="starter")
    )
    text = " ".join(adv.fix)
    assert "Starter 15 RPM" in text and "Pro 40 RPM" in text and "Max 60 RPM" in text
    assert ("retries", "3 made before giving up") in adv.details
    assert ("your_plan", "Starter, 15 RPM") in adv.details


def test_wait_too_long_says_when() -> None:
    adv = advise(RateLimitWaitTooLongError("x", status=429, retry_after=3600.0))
    assert adv.exit_code == ExitCode.RATE_LIMIT
    assert ("retry_after", "60 min") in adv.details


def test_500_says_it_was_retried() -> None:
    adv = advise(ApiError("x", status=500, attempts=4))
    assert ("retried", "3 times with backoff, all failed") in adv.details


def test_suggest() -> None:
    assert suggest("gpt5.1", ["gpt-5.1", "gpt-5.2", "gemini-2.5-pro"])[0] == "gpt-5.1"
    assert suggest("zzz", ["gpt-5.1"]) == []


def test_500_retried_once_is_singular() -> None:
    adv = advise(ApiError("x", status=500, attempts=2))
    assert ("retried", "1 time with backoff, all failed") in adv.details


def test_panel_list_items_wrap_under_their_text() -> None:
    """A bullet of the fix that wraps continues under its text, not at the panel's edge."""
    from rich.console import Console

    from mscli.output.console import THEME
    from mscli.output.errors import error_panel

    console = Console(width=60, record=True, color_system=None, theme=THEME)
    console.print(error_panel(advise(ApiError("x", status=402, error_type="insufficient_balance"))))
    raw = console.export_text().splitlines()
    lines = [line.strip("│ ").rstrip() for line in raw]
    i = next(n for n, line in enumerate(lines) if line.startswith("• wait for the next"))
    bullet_col = raw[i].index("•")
    continuation = raw[i + 1]
    assert continuation[bullet_col] == " " and continuation[bullet_col + 2] != " "
    assert not continuation.strip("│ ").startswith("•")


@pytest.mark.parametrize(
    ("fix", "shown"),
    [
        ("mscli keys set stores a new key", "mscli keys set stores a new key"),
        ("`mscli doctor` finds it", "`mscli doctor` finds it"),
        ("export MSCLI_TIMEOUT=30", "export MSCLI_TIMEOUT=30"),
        ("set it again", "Set it again"),
    ],
)
def test_a_specific_fix_that_opens_with_a_command_keeps_its_case(fix: str, shown: str) -> None:
    assert advise(MscliError("x", fix=fix)).fix == (shown,)


def _rate_limited() -> ApiError:
    return ApiError(
        "HTTP 429: Rate limit exceeded.",
        status=429,
        error_type="rate_limit_error",
        server_message="Rate limit exceeded.",
        request_id="req_42",
        retry_after=2.5,
        attempts=4,
    )


def test_renaming_the_panels_labels_cannot_change_the_json_error_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The JSON object is built from typed fields and stable detail keys: the panel's words
    ("server said", "request id", "status", "retry after") are free to change."""
    from rich.console import Console

    from mscli import advice as advice_module
    from mscli.output.console import THEME
    from mscli.output.errors import error_object, error_panel

    adv = advise(_rate_limited(), AdviceContext(plan="pro"))
    before = error_object(adv)["error"]
    renamed = {key: f"the {key.replace('_', ' ')}" for key, _ in adv.details}
    monkeypatch.setattr(advice_module, "DETAIL_LABELS", renamed)
    console = Console(width=100, record=True, color_system=None, theme=THEME)
    console.print(error_panel(adv))
    shown = console.export_text()
    assert "the server said: Rate limit exceeded." in shown and "the retry after:" in shown

    after = error_object(adv)["error"]
    assert after == before
    assert after["details"]["server_said"] == "Rate limit exceeded."
    assert (after["message"], after["status"], after["request_id"], after["retry_after_s"]) == (
        "Rate limit exceeded.",
        429,
        "req_42",
        2.5,
    )


def test_retry_after_s_is_a_number_only_when_the_server_asked_for_a_wait() -> None:
    from mscli.output.errors import error_object

    def retry_after_s(err: MscliError) -> object:
        return error_object(advise(err))["error"]["retry_after_s"]

    assert retry_after_s(_rate_limited()) == 2.5
    assert retry_after_s(RateLimitWaitTooLongError("x", status=429, retry_after=3600)) == 3600.0
    assert retry_after_s(ApiError("x", status=429, error_type="rate_limit_error")) is None
    assert retry_after_s(ApiError("x", status=401, error_type="authentication_error")) is None
    assert retry_after_s(NetworkError("x", kind="dns")) is None


def test_every_special_case_is_keyed_to_rows_of_the_table() -> None:
    from mscli.advice import REFINERS

    for keys, refine in REFINERS:
        for key in keys:
            assert key in ADVICE or any(k.startswith(key + ".") for k in ADVICE), refine


def test_the_json_error_object_strips_control_characters_and_redacts() -> None:
    from mscli.output.errors import error_object
    from mscli.redact import Redactor

    secret = "sk_live_abcdefghijklmnop"
    err = ApiError(
        "x",
        status=400,
        server_message=f"bad \x1b[31mkey {secret}\x9b",
        request_id="req_\x07bell",
    )
    doc = error_object(advise(err), Redactor([secret]).text)["error"]
    assert doc["message"] == "bad [31mkey sk_…mnop" and doc["request_id"] == "req_bell"
    assert secret not in str(doc)
