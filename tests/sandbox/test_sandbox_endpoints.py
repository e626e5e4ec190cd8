"""Endpoints and reply shape over real loopback sockets."""

from __future__ import annotations

import re
import time

from sandbox_http import call, chat, connect

from mscli import pricing


def test_models_lists_the_catalogue_in_openai_shape(sandbox):
    r = call(sandbox, "GET", "models")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["object"] == "list"
    assert [m["id"] for m in doc["data"]] == [m.id for m in pricing.CATALOGUE]
    for item, info in zip(doc["data"], pricing.CATALOGUE, strict=True):
        assert item["object"] == "model"
        assert item["owned_by"] == info.provider
        assert isinstance(item["created"], int)


def test_every_response_has_a_request_id(sandbox):
    seen = set()
    for method, path, key in [
        ("GET", "models", None),
        ("GET", "models", "DEFAULT"),
        ("GET", "balance", "DEFAULT"),
        ("GET", "nope", "DEFAULT"),
        ("POST", "chat/completions", "DEFAULT"),
    ]:
        kwargs = {} if key == "DEFAULT" else {"key": key}
        r = call(sandbox, method, path, **kwargs)
        rid = r.headers["x-request-id"]
        assert re.fullmatch(r"req_[0-9a-f]{24}", rid)
        seen.add(rid)
    assert len(seen) == 5


def test_balance_shape_follows_decision_11_5(sandbox):
    r = call(sandbox, "GET", "balance")
    assert r.status == 200
    doc = r.json()
    assert set(doc) == {
        "object",
        "plan",
        "rate_limit_rpm",
        "subscription_credits",
        "lifetime_credits",
        "next_refill_at",
        "weekly_cap",
    }
    assert doc["object"] == "balance"
    assert doc["plan"] == "pro"
    assert doc["rate_limit_rpm"] == 40
    assert doc["subscription_credits"] == pricing.PLANS["pro"].refill_credits
    assert doc["lifetime_credits"] == 100
    assert doc["weekly_cap"] == pricing.PLANS["pro"].weekly_cap
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["next_refill_at"])


def test_unknown_paths_are_404_with_the_documented_envelope(sandbox):
    # a known path with the wrong method is 405: test_sandbox_http_framing.py
    for method, path in [
        ("GET", "nope"),
        ("GET", "models/claude-sonnet-4-5"),
        ("POST", "nope"),
        ("DELETE", "nope"),
        ("GET", "//models"),
        ("GET", "//v1/v1/models"),
    ]:
        r = call(sandbox, method, path)
        assert r.status == 404, (method, path)
        err = r.json()["error"]
        assert err["type"] == "not_found"
        assert err["code"] == 404
        assert set(err) == {"message", "type", "code"}
        assert isinstance(err["message"], str) and err["message"]


def test_non_streamed_completion_shape(sandbox):
    r = chat(sandbox, "Explain retries", model="gpt-5-mini")
    assert r.status == 200
    doc = r.json()
    assert doc["object"] == "chat.completion"
    assert doc["id"].startswith("chatcmpl-")
    assert doc["model"] == "gpt-5-mini"
    assert isinstance(doc["created"], int)
    (choice,) = doc["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    usage = doc["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 120 <= usage["completion_tokens"] <= 180  # default length about 150 tokens
    # prompt estimate: ceil(chars/4) + 4 per message
    assert usage["prompt_tokens"] == -(-len("Explain retries") // 4) + 4


def test_reply_is_markdown_rich(sandbox):
    text = chat(sandbox, "Show me markdown").json()["choices"][0]["message"]["content"]
    assert text.startswith("## Show me markdown\n")
    assert re.search(r"^- \w", text, re.M)  # bullet list
    assert re.search(r"^1\. \w", text, re.M)  # numbered list
    assert "```python\n" in text and text.count("```") % 2 == 0  # closed fenced code block
    assert re.search(r"\*\*[^*]+\*\*", text)  # bold
    assert re.search(r"`[^`\n]+`", text)  # inline code


def test_replies_are_deterministic_for_prompt_and_seed(sandbox, sandbox_factory):
    a = chat(sandbox, "same prompt").json()["choices"][0]["message"]["content"]
    b = chat(sandbox, "same prompt").json()["choices"][0]["message"]["content"]
    c = chat(sandbox, "other prompt").json()["choices"][0]["message"]["content"]
    assert a == b
    assert a != c
    same_seed = sandbox_factory(seed=0)
    other_seed = sandbox_factory(seed=7)
    assert chat(same_seed, "same prompt").json()["choices"][0]["message"]["content"] == a
    assert chat(other_seed, "same prompt").json()["choices"][0]["message"]["content"] != a


def test_max_tokens_is_honoured_with_finish_reason_length(sandbox):
    for n in (1, 7, 400):
        doc = chat(sandbox, "long", max_tokens=n).json()
        assert doc["usage"]["completion_tokens"] == n
        assert doc["choices"][0]["finish_reason"] == "length"


def test_a_long_reply_of_5000_tokens_cycles_sections(sandbox):
    doc = chat(sandbox, "benchmark", max_tokens=5000).json()
    text = doc["choices"][0]["message"]["content"]
    assert doc["usage"]["completion_tokens"] == 5000
    assert text.count("```python") >= 20
    assert "## Part 2:" in text


def test_stop_sequence_ends_the_reply_early(sandbox):
    doc = chat(sandbox, "stop me", stop=["```"]).json()
    text = doc["choices"][0]["message"]["content"]
    assert "```" not in text
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["completion_tokens"] < 100


def test_keep_alive_serves_many_requests_on_one_connection(sandbox):
    conn = connect(sandbox.base_url)
    try:
        for _ in range(5):
            assert call(sandbox, "GET", "models", conn=conn).status == 200
            assert chat_on(conn, sandbox).status == 200
            assert call(sandbox, "GET", "nope", conn=conn).status == 404
    finally:
        conn.close()


def chat_on(conn, sandbox):
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}
    return call(sandbox, "POST", "chat/completions", body=body, conn=conn)


def test_latency_ms_delays_the_first_byte(sandbox_factory):
    sb = sandbox_factory(latency_ms=150)
    t = time.perf_counter()
    assert call(sb, "GET", "models").status == 200
    assert time.perf_counter() - t >= 0.14


def test_embedded_sandbox_starts_in_milliseconds():
    from mscli.sandbox.embedded import start_embedded

    t = time.perf_counter()
    sb = start_embedded(plan="max")
    started = time.perf_counter() - t
    try:
        assert started < 0.05
        assert sb.base_url.startswith("http://127.0.0.1:") and sb.base_url.endswith("/v1")
        assert sb.api_key.startswith("sk_test_")
        assert call(sb, "GET", "balance").json()["plan"] == "max"
    finally:
        t = time.perf_counter()
        sb.stop()
        assert time.perf_counter() - t < 0.5
    sb.stop()  # idempotent
