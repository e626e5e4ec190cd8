"""The official `openai` package, a client nobody here wrote, against the sandbox."""

from __future__ import annotations

import pytest

openai = pytest.importorskip("openai")


def client(sb, key=None, **kw):
    return openai.OpenAI(api_key=key or sb.api_key, base_url=sb.base_url, max_retries=0, **kw)


MSG = [{"role": "user", "content": "Hello from the SDK"}]


def test_models_list(sandbox):
    ids = [m.id for m in client(sandbox).models.list()]
    assert "claude-sonnet-4-5" in ids and "gemini-2.5-flash" in ids
    owners = {m.id: m.owned_by for m in client(sandbox).models.list()}
    assert owners["gpt-5.2"] == "openai" and owners["gemini-2.5-pro"] == "google"


def test_chat_completion(sandbox):
    r = client(sandbox).chat.completions.create(
        model="claude-sonnet-4-5", messages=MSG, temperature=0.7
    )
    assert r.object == "chat.completion"
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content.startswith("## Hello from the SDK")
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_completion_streamed(sandbox):
    c = client(sandbox)
    stream = c.chat.completions.create(
        model="gpt-5-mini",
        messages=MSG,
        stream=True,
        max_tokens=40,
        stream_options={"include_usage": True},
    )
    parts, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert finish == "length"
    assert usage.completion_tokens == 40
    whole = c.chat.completions.create(model="gpt-5-mini", messages=MSG, max_tokens=40)
    assert "".join(parts) == whole.choices[0].message.content


def test_with_raw_response_exposes_request_id_and_rate_headers(sandbox):
    raw = client(sandbox).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MSG, max_tokens=1
    )
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-ratelimit-limit-requests"] == "40"


@pytest.mark.parametrize(
    ("key", "kwargs", "exc_name", "status"),
    [
        ("sk_test_invalid", {}, "AuthenticationError", 401),
        ("sk_live_not_a_test_key", {}, "AuthenticationError", 401),
        ("sk_test_no_credits", {}, "APIStatusError", 402),
        ("sk_test_rate_limited", {}, "RateLimitError", 429),
        ("sk_test_retry_after_long", {}, "RateLimitError", 429),
        (None, {"model": "gpt-5"}, "BadRequestError", 400),
        (None, {"temperature": 3}, "BadRequestError", 400),
        ("sk_test_server_error", {}, "InternalServerError", 500),
    ],
)
def test_errors_surface_as_the_sdk_classes(sandbox, key, kwargs, exc_name, status):
    args = {"model": "gpt-4o", "messages": MSG, **kwargs}
    with pytest.raises(getattr(openai, exc_name)) as info:
        client(sandbox, key).chat.completions.create(**args)
    err = info.value
    assert err.status_code == status
    assert isinstance(err, openai.APIStatusError)
    assert err.body["code"] == status  # the SDK unwraps {"error": {...}}
    assert err.response.headers["x-request-id"].startswith("req_")
    if status == 429:
        assert err.response.headers["retry-after"] in ("1", "3600")
    if status == 402:
        assert err.body["type"] == "insufficient_balance"
        assert "Insufficient credit balance" in err.message


def test_not_found_error(sandbox):
    with pytest.raises(openai.NotFoundError) as info:
        client(sandbox).models.retrieve("claude-sonnet-4-5")
    assert info.value.body["type"] == "not_found"


def test_streamed_error_before_the_first_chunk(sandbox):
    with pytest.raises(openai.RateLimitError):
        client(sandbox, "sk_test_rate_limited").chat.completions.create(
            model="gpt-4o", messages=MSG, stream=True
        )


def test_sdk_retries_the_flaky_key_to_success(sandbox):
    c = openai.OpenAI(api_key="sk_test_flaky", base_url=sandbox.base_url, max_retries=1)
    r = c.chat.completions.create(model="gpt-4o", messages=MSG, max_tokens=3)
    assert r.usage.completion_tokens == 3


def test_cutoff_stream_ends_without_a_finish_reason(sandbox):
    # the SDK itself does not notice (it just stops): exactly the truncation mscli must report
    chunks = list(
        client(sandbox, "sk_test_cutoff").chat.completions.create(
            model="gpt-4o", messages=MSG, stream=True
        )
    )
    assert chunks
    assert all(c.choices[0].finish_reason is None for c in chunks)
