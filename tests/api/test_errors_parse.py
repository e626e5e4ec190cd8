"""Every error-body shape of reliability §6 rows 1-5, 21 and 32 becomes a clean `ApiError`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mscli.api.errors_parse import (
    MAX_ERROR_BODY,
    api_error_from_payload,
    clean_text,
    extract_error_fields,
    html_title,
    is_error_payload,
    looks_like_html,
    parse_error_response,
    request_id_from,
    status_from_code,
)
from mscli.errors import ApiError
from mscli.redact import Redactor

URL = "https://api.modelstack.cc/v1/chat/completions"
KEY = "sk_live0123456789abcdefghijklmnopqa1b2"


def parse(
    status: int,
    body: bytes | str | dict[str, Any] | list[Any],
    headers: dict[str, str] | None = None,
) -> ApiError:
    if isinstance(body, (dict, list)):
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = body
    return parse_error_response(
        status, headers or {}, raw, URL, 1, redactor=Redactor([KEY]), now=0.0
    )


# --- row 1: the documented envelope ---------------------------------------------------------


def test_modelstack_envelope_unsupported_model() -> None:
    msg = (
        'Unsupported model: "gpt-5". Supported models include: claude-3-5-haiku-20241022, '
        "claude-haiku-4-5, and more."
    )
    e = parse(
        400,
        {"error": {"message": msg, "type": "invalid_request_error", "code": 400}},
        {"x-request-id": "req_123"},
    )
    assert e.status == 400
    assert e.error_type == "invalid_request_error"
    assert e.code == 400
    assert e.server_message == msg
    assert e.request_id == "req_123"
    assert e.advice_key == "model.unsupported"
    assert e.message == f"HTTP 400 Bad Request: {msg}"
    assert e.body_excerpt is None
    assert e.url == URL


def test_openai_envelope_with_param_and_string_code() -> None:
    e = parse(
        400,
        {
            "error": {
                "message": "Bad temp",
                "type": "invalid_request_error",
                "code": "bad_param",
                "param": "temperature",
            }
        },
    )
    assert e.code == "bad_param"
    assert e.facts["param"] == "temperature"


@pytest.mark.parametrize(
    ("status", "etype", "advice"),
    [
        (401, "authentication_error", "auth.invalid"),
        (402, "insufficient_balance", "balance.empty"),
        (404, "not_found", "not_found"),
        (429, "rate_limit_error", "rate_limit"),
        (500, "internal_error", "server"),
    ],
)
def test_documented_types(status: int, etype: str, advice: str) -> None:
    e = parse(status, {"error": {"message": "m", "type": etype, "code": status}})
    assert e.advice_key == advice
    assert e.error_type == etype


# --- row 2: other JSON shapes --------------------------------------------------------------

SHAPES: list[tuple[Any, str, str | None, int | str | None]] = [
    ({"error": "model overloaded"}, "model overloaded", None, None),
    ({"error": "bad", "message": "longer text", "type": "x"}, "longer text", "x", None),
    ({"detail": "Not authenticated"}, "Not authenticated", None, None),
    (
        {
            "detail": [
                {"loc": ["body", "model"], "msg": "field required", "type": "value_error.missing"}
            ]
        },
        "body.model: field required",
        None,
        None,
    ),
    ({"detail": [{"msg": "a"}, {"msg": "b"}]}, "a; b", None, None),
    ({"detail": {"message": "nested"}}, "nested", None, None),
    ({"message": "Plain message", "code": "E42"}, "Plain message", None, "E42"),
    (
        {
            "object": "error",
            "message": "max_tokens too large",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        "max_tokens too large",
        "BadRequestError",
        400,
    ),
    (
        {"error": {"code": 402, "message": "Insufficient credits", "metadata": {"provider": "x"}}},
        "Insufficient credits",
        None,
        402,
    ),
    ({"errors": [{"message": "first"}, {"message": "second"}]}, "first", None, None),
    (
        [{"error": {"message": "google style", "status": "INVALID_ARGUMENT", "code": 400}}],
        "google style",
        "INVALID_ARGUMENT",
        400,
    ),
    ({"error": {"message": {"inner": "obj"}}}, '{"inner":"obj"}', None, None),
    ({"error": {"message": "flag", "code": True}}, "flag", None, None),
    ("just a JSON string", "just a JSON string", None, None),
]


@pytest.mark.parametrize(("body", "message", "etype", "code"), SHAPES)
def test_other_json_shapes(
    body: Any, message: str, etype: str | None, code: int | str | None
) -> None:
    e = parse(
        400,
        body if not isinstance(body, str) else json.dumps(body),
        {"content-type": "application/json"},
    )
    assert e.server_message == message
    assert e.error_type == etype
    assert e.code == code
    assert message in e.message


def test_openrouter_402_maps_to_balance() -> None:
    e = parse(402, {"error": {"code": 402, "message": "Insufficient credits"}})
    assert e.advice_key == "balance.empty"


@pytest.mark.parametrize("body", [{}, {"foo": "bar"}, {"error": {}}, [], [1, 2], 42])
def test_unrecognised_json_falls_back_to_status_and_excerpt(body: Any) -> None:
    e = parse(503, json.dumps(body), {"content-type": "application/json"})
    assert e.server_message is None
    assert e.message.startswith("HTTP 503 Service Unavailable")


# --- row 3: malformed JSON ----------------------------------------------------------------


def test_malformed_json() -> None:
    e = parse(500, '{"error": {"mess', {"content-type": "application/json"})
    assert e.server_message is None
    assert e.body_excerpt == '{"error": {"mess'
    assert e.message == 'HTTP 500 Internal Server Error: {"error": {"mess'


def test_long_plain_text_is_cut_to_200() -> None:
    e = parse(500, "x" * 5000)
    assert e.body_excerpt is not None
    assert len(e.body_excerpt) <= 200
    assert e.body_excerpt.endswith("…")
    assert len(e.message) < 300


def test_markup_and_control_characters_are_cleaned() -> None:
    e = parse(
        500, "boom \x1b[31mred\x1b[0m \x1b]0;title\x07[bold]x[/bold]\r\nnext\x00line\u202eevil"
    )
    assert e.body_excerpt == "boom red [bold]x[/bold] nextlineevil"
    assert "\x1b" not in e.message


# --- row 4: HTML pages -------------------------------------------------------------------

CLOUDFLARE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>api.modelstack.cc | 502: Bad gateway</title>
<style>body{font:x}</style></head><body><h1>Bad gateway</h1><script>alert(1)</script></body></html>"""


def test_html_error_page_shows_title_never_markup() -> None:
    e = parse(
        502, CLOUDFLARE, {"content-type": "text/html; charset=UTF-8", "cf-ray": "8a1b2c3d4e5f-AMS"}
    )
    assert e.server_message == "api.modelstack.cc | 502: Bad gateway"
    assert e.request_id == "8a1b2c3d4e5f-AMS"
    assert e.body_excerpt is None
    assert "<" not in e.message
    assert e.facts["content"] == "html"


def test_html_without_content_type_recognised_by_leading_angle() -> None:
    e = parse(504, b"\n  <html><body><h1>504 Gateway Time-out</h1></body></html>")
    assert e.server_message == "504 Gateway Time-out"
    assert "<" not in e.message


def test_html_without_title() -> None:
    e = parse(503, b"<html><body>nothing here</body></html>", {"content-type": "text/html"})
    assert e.server_message is None
    assert e.message == "HTTP 503 Service Unavailable"


def test_html_title_entities() -> None:
    assert html_title("<TITLE>Tom &amp; Jerry\n  503</TITLE>") == "Tom & Jerry 503"
    assert html_title("<p>none</p>") is None


# --- row 5: empty bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text"),
    [(401, "HTTP 401 Unauthorized"), (502, "HTTP 502 Bad Gateway"), (599, "HTTP 599 HTTP error")],
)
def test_empty_body(status: int, text: str) -> None:
    e = parse(status, b"", {"content-length": "0"})
    assert e.message == text
    assert e.server_message is None and e.body_excerpt is None


def test_whitespace_body_is_empty() -> None:
    assert parse(500, b"  \r\n ").message == "HTTP 500 Internal Server Error"


# --- row 21: huge bodies -----------------------------------------------------------------


def test_huge_body_only_first_64k_considered() -> None:
    body = b'{"error": {"message": "' + b"a" * (10 * 1024 * 1024) + b'"}}'
    e = parse(500, body)
    # Cut at 64 KiB the JSON is unterminated: it is shown as a short excerpt.
    assert e.body_excerpt is not None and len(e.body_excerpt) <= 200
    assert MAX_ERROR_BODY == 64 * 1024


def test_long_server_message_capped() -> None:
    e = parse(400, {"error": {"message": "m" * 5000}})
    assert e.server_message is not None and len(e.server_message) <= 300


# --- row 32: the key echoed back -------------------------------------------------------------


def test_key_echoed_in_message_is_masked() -> None:
    e = parse(
        401,
        {
            "error": {
                "message": f"Incorrect API key provided: {KEY}",
                "type": "authentication_error",
            }
        },
    )
    assert KEY not in e.message
    assert e.server_message is not None and KEY not in e.server_message
    assert "sk_…a1b2" in e.server_message


def test_key_echoed_in_raw_text_is_masked() -> None:
    e = parse(500, f"upstream said Bearer {KEY} is wrong")
    assert KEY not in e.message and KEY not in (e.body_excerpt or "")


def test_unknown_secret_value_masked_via_redactor() -> None:
    secret = "not-key-shaped-secret-value-XYZ9"
    e = parse_error_response(
        401, {}, f'{{"error": "bad {secret}"}}'.encode(), URL, 1, redactor=Redactor([secret])
    )
    assert secret not in e.message


def test_key_in_url_query_masked() -> None:
    e = parse_error_response(404, {}, b"", f"https://gw.example.com/v1/x?api_key={KEY}", 1)
    assert e.url is not None and KEY not in e.url


# --- headers ------------------------------------------------------------------------------


def test_request_id_order() -> None:
    assert request_id_from({"cf-ray": "c", "request-id": "b", "x-request-id": "a"}) == "a"
    assert request_id_from({"cf-ray": "c", "Request-Id": "b"}) == "b"
    assert request_id_from({"CF-RAY": "c"}) == "c"
    assert request_id_from({}) is None


def test_retry_after_and_attempts_carried() -> None:
    e = parse_error_response(429, {"retry-after": "7"}, b"", URL, 4, now=0.0)
    assert e.retry_after == 7.0
    assert e.attempts == 4 and e.retries == 3
    assert e.facts["retry_after"] == 7.0


def test_ratelimit_reset_only_for_429() -> None:
    assert parse_error_response(503, {"x-ratelimit-reset": "5"}, b"", URL, 1).retry_after is None
    assert parse_error_response(429, {"x-ratelimit-reset": "5"}, b"", URL, 1).retry_after == 5.0


def test_non_utf8_body() -> None:
    e = parse(500, b"caf\xe9 failure")
    assert e.body_excerpt == "caf\ufffd failure"


# --- helpers used by the stream layer -----------------------------------------------------------


def test_is_error_payload() -> None:
    assert is_error_payload({"error": {"message": "x"}})
    assert is_error_payload({"error": "x"})
    assert is_error_payload({"object": "error", "message": "x"})
    assert not is_error_payload({"error": None, "choices": []})
    assert not is_error_payload({"choices": []})
    assert not is_error_payload([{"error": "x"}])


@pytest.mark.parametrize(
    ("code", "status"),
    [(429, 429), ("503", 503), (None, 500), ("bad", 500), (0, 500), (True, 500), (200, 500)],
)
def test_status_from_code(code: object, status: int) -> None:
    assert status_from_code(code) == status


def test_api_error_from_payload_status_from_code() -> None:
    e = api_error_from_payload(
        {"error": {"message": "overloaded", "type": "server_error", "code": 503}}
    )
    assert e.status == 503 and e.server_message == "overloaded"
    e = api_error_from_payload({"error": "boom"}, partial_chars=12)
    assert e.status == 500 and e.facts["partial_chars"] == 12
    e = api_error_from_payload({"weird": 1}, status=502)
    assert e.status == 502 and e.body_excerpt == '{"weird":1}'


def test_extract_error_fields_none_for_non_error() -> None:
    assert extract_error_fields({"choices": []}) is None
    assert extract_error_fields("text") is None


def test_looks_like_html() -> None:
    assert looks_like_html(b"  <!doctype html>")
    assert looks_like_html(b"\xef\xbb\xbf<html>")
    assert looks_like_html("{}", "text/html; charset=utf-8")
    assert not looks_like_html(b'{"a": 1}', "application/json")


def test_clean_text() -> None:
    assert clean_text("a\n\n b\tc\u2028d") == "a b c d"
    assert clean_text("abcdef", 4) == "abc…"
