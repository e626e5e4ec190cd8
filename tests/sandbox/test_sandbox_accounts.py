"""Magic keys, the plan RPM window, and credit accounting (checked via /v1/balance)."""

from __future__ import annotations

import http.client
import time

import pytest
from sandbox_http import call, chat, connect, parse_sse

from mscli import pricing
from mscli.sandbox.accounts import UNPRICED_CHARGE
from mscli.sandbox.keys import BY_KEY, MAGIC_KEYS, TABLE, lookup


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- magic keys --------------------------------------------------------------------------------


def test_key_table_is_complete_and_consistent():
    required = {
        "sk_test_invalid",
        "sk_test_no_credits",
        "sk_test_low_credits",
        "sk_test_rate_limited",
        "sk_test_retry_after_long",
        "sk_test_flaky",
        "sk_test_server_error",
        "sk_test_slow",
        "sk_test_cutoff",
        "sk_test_starter",
        "sk_test_pro",
        "sk_test_max",
        "sk_test_topup",
    }
    assert required == set(BY_KEY)
    assert len({r.key for r in TABLE}) == len(TABLE)
    for row in TABLE:
        assert row.behaviour and row.as_dict()["exit_code"] == int(row.exit_code)
    assert lookup("sk_test_anything") is MAGIC_KEYS[0]
    assert lookup("sk_live_x") is None and lookup("sk_test_") is None and lookup(None) is None


def test_invalid_key(sandbox):
    for path in ("models", "balance"):
        r = call(sandbox, "GET", path, key="sk_test_invalid")
        assert r.status == 401 and r.error["message"] == "Invalid API key provided"
    assert chat(sandbox, key="sk_test_invalid").status == 401


def test_no_credits_key(sandbox):
    k = "sk_test_no_credits"
    r = chat(sandbox, key=k)
    assert r.status == 402
    assert r.error["type"] == "insufficient_balance"
    assert call(sandbox, "GET", "models", key=k).status == 200
    bal = call(sandbox, "GET", "balance", key=k).json()
    assert bal["subscription_credits"] == 0 and bal["lifetime_credits"] == 0


def test_low_credits_key_runs_out_then_402(sandbox):
    k = "sk_test_low_credits"
    bal = call(sandbox, "GET", "balance", key=k).json()
    assert bal["subscription_credits"] == 5 and bal["lifetime_credits"] == 0
    statuses = [
        chat(sandbox, "x", key=k, model="claude-opus-4-6", max_tokens=5000).status for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 402]  # 4 x 1.25 credits empty the 5
    bal = call(sandbox, "GET", "balance", key=k).json()
    assert bal["subscription_credits"] == 0 and bal["lifetime_credits"] == 0


@pytest.mark.parametrize(
    ("key", "wait"), [("sk_test_rate_limited", "1"), ("sk_test_retry_after_long", "3600")]
)
def test_rate_limited_keys(sandbox, key, wait):
    for _ in range(3):
        for r in (call(sandbox, "GET", "models", key=key), chat(sandbox, key=key)):
            assert r.status == 429
            assert r.headers["retry-after"] == wait
            assert r.json() == {
                "error": {
                    "message": "Rate limit exceeded. Please retry after a short delay.",
                    "type": "rate_limit_error",
                    "code": 429,
                }
            }
            assert r.headers["x-ratelimit-remaining-requests"] == "0"


def test_flaky_key_fails_every_other_request(sandbox):
    k = "sk_test_flaky"
    got = [chat(sandbox, key=k).status for _ in range(4)] + [
        call(sandbox, "GET", "models", key=k).status
    ]
    assert got == [500, 200, 500, 200, 500]


def test_server_error_key(sandbox):
    k = "sk_test_server_error"
    for _ in range(3):
        r = chat(sandbox, key=k)
        assert r.status == 500
        assert r.error == {
            "message": "An internal error occurred. Please try again later.",
            "type": "internal_error",
            "code": 500,
        }


def test_slow_key_delays_the_first_byte(sandbox_factory):
    sb = sandbox_factory(slow_ms=300)
    t = time.perf_counter()
    assert chat(sb, key="sk_test_slow", max_tokens=1).status == 200
    assert time.perf_counter() - t >= 0.29
    t = time.perf_counter()
    assert chat(sb, max_tokens=1).status == 200  # other keys are not slowed
    assert time.perf_counter() - t < 0.25
    assert sb.config.__class__().slow_ms == 2000  # the documented default


def test_cutoff_key_truncates_streams_without_finish_or_done(sandbox):
    r = chat(
        sandbox,
        "tell me",
        key="sk_test_cutoff",
        stream=True,
        stream_options={"include_usage": True},
    )
    assert r.status == 200
    assert r.headers.get("connection") == "close"
    events = parse_sse(r.body)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len(events) > 10  # some content arrived
    assert "[DONE]" not in events
    assert all(e["choices"] and e["choices"][0]["finish_reason"] is None for e in events)


def test_cutoff_key_cuts_non_streamed_bodies(sandbox):
    conn = connect(sandbox.base_url)
    try:
        body = '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}'
        conn.request(
            "POST", "/v1/chat/completions", body, {"Authorization": "Bearer sk_test_cutoff"}
        )
        resp = conn.getresponse()
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
    finally:
        conn.close()
    assert call(sandbox, "GET", "models").status == 200  # the server is fine


@pytest.mark.parametrize("plan", ["starter", "pro", "max", "topup"])
def test_plan_keys(sandbox, plan):
    bal = call(sandbox, "GET", "balance", key=f"sk_test_{plan}").json()
    p = pricing.PLANS[plan]
    assert bal["plan"] == plan
    assert bal["rate_limit_rpm"] == p.rpm
    assert bal["subscription_credits"] == p.refill_credits
    assert bal["weekly_cap"] == p.weekly_cap


def test_top_up_accounts_have_no_refill(sandbox_factory):
    # top-up only: no subscription, so no refill time (not one that never comes)
    sb = sandbox_factory(subscription_credits=5)
    assert call(sb, "GET", "balance", key="sk_test_topup").json()["next_refill_at"] is None
    assert call(sb, "GET", "balance", key="sk_test_pro").json()["next_refill_at"] is not None
    sb = sandbox_factory(plan="topup", subscription_credits=5)  # what the key table says
    doc = call(sb, "GET", "balance").json()
    assert (doc["plan"], doc["subscription_credits"], doc["next_refill_at"]) == ("topup", 5, None)
    assert "--subscription-credits" in BY_KEY["sk_test_topup"].behaviour


def test_fresh_keys_use_the_server_plan_and_are_separate_accounts(sandbox_factory):
    sb = sandbox_factory(plan="starter")
    a, b = sb.new_key(), sb.new_key()
    assert call(sb, "GET", "balance", key=a).json()["plan"] == "starter"
    chat(sb, key=a, model="claude-opus-4-6", max_tokens=1000)
    assert call(sb, "GET", "balance", key=a).json()["subscription_credits"] < 250
    assert call(sb, "GET", "balance", key=b).json()["subscription_credits"] == 250


# --- rate limiter ------------------------------------------------------------------------------


def test_sliding_window_with_an_injected_clock(sandbox_factory):
    clock = FakeClock()
    sb = sandbox_factory(rpm=3, clock=clock)
    seen = []
    for _ in range(3):
        r = call(sb, "GET", "models")
        seen.append(r.headers["x-ratelimit-remaining-requests"])
        assert r.status == 200
        assert r.headers["x-ratelimit-limit-requests"] == "3"
        clock.now += 10
    assert seen == ["2", "1", "0"]
    # t = +30 s: the window holds requests at +0, +10, +20
    r = call(sb, "GET", "models")
    assert r.status == 429
    assert r.headers["retry-after"] == "30"  # the +0 request leaves the window at +60
    assert r.headers["x-ratelimit-reset-requests"] == "30s"
    assert r.error["message"] == "Rate limit exceeded. Please retry after a short delay."
    # rejected requests do not take a slot; another key is not limited
    assert call(sb, "GET", "models").status == 429
    assert call(sb, "GET", "models", key=sb.new_key()).status == 200
    clock.now += 29.5
    r = call(sb, "GET", "models")
    assert r.status == 429 and r.headers["retry-after"] == "1"
    clock.now += 0.5  # exactly 60 s after the first request: it has left the window
    assert call(sb, "GET", "models").status == 200
    assert call(sb, "GET", "models").status == 429
    clock.now += 10
    assert call(sb, "GET", "models").status == 200


def test_plan_rpm_is_the_default_limit(sandbox_factory):
    clock = FakeClock()
    sb = sandbox_factory(plan="starter", clock=clock)
    statuses = [call(sb, "GET", "models").status for _ in range(16)]
    assert statuses == [200] * 15 + [429]
    assert (
        call(sb, "GET", "models", key="sk_test_max").headers["x-ratelimit-limit-requests"] == "60"
    )


def test_tiny_window(sandbox_factory):
    """A short window frees a slot once it has passed (on the sandbox's clock, not a sleep: a
    loaded machine could spend the whole window on the first requests)."""
    clock = FakeClock()
    sb = sandbox_factory(rpm=2, rate_window_seconds=0.3, clock=clock)
    assert [chat(sb, max_tokens=1).status for _ in range(3)] == [200, 200, 429]
    clock.now += 0.31
    assert chat(sb, max_tokens=1).status == 200


# --- credits -----------------------------------------------------------------------------------


def cost(model, prompt, completion):
    pin, pout = pricing.price_of(model) or UNPRICED_CHARGE
    return (prompt * pin + completion * pout) / 1_000_000


def balance(sb, key=None):
    doc = call(sb, "GET", "balance", key=key or sb.api_key).json()
    return doc["subscription_credits"], doc["lifetime_credits"]


def test_completion_is_charged_at_list_price_from_subscription(sandbox):
    r = chat(sandbox, "price me", model="gemini-2.5-pro", max_tokens=2000).json()
    u = r["usage"]
    sub, life = balance(sandbox)
    assert sub == pytest.approx(750 - cost("gemini-2.5-pro", u["prompt_tokens"], 2000), abs=1e-6)
    assert life == 100


def test_subscription_first_then_discounted_lifetime(sandbox_factory):
    sb = sandbox_factory(plan="pro", subscription_credits=1.0, lifetime_credits=10.0)
    u = chat(sb, "a", model="claude-opus-4-6", max_tokens=8000).json()["usage"]
    c = cost("claude-opus-4-6", u["prompt_tokens"], 8000)  # about 2.0 credits
    assert c > 1
    sub, life = balance(sb)
    assert sub == 0
    expected = 10.0 - (c - 1.0) * (1 - pricing.PLANS["pro"].lifetime_discount)
    assert round(life, 2) == round(expected, 2)
    assert life == pytest.approx(expected, abs=1e-6)
    # the next one is paid from lifetime credits only, still discounted
    u2 = chat(sb, "b", model="claude-opus-4-6", max_tokens=4000).json()["usage"]
    c2 = cost("claude-opus-4-6", u2["prompt_tokens"], 4000)
    assert balance(sb)[1] == pytest.approx(expected - c2 * 0.7, abs=1e-6)


@pytest.mark.parametrize("plan", ["starter", "max", "topup"])
def test_discount_follows_the_plan(sandbox_factory, plan):
    sb = sandbox_factory(plan=plan, subscription_credits=0, lifetime_credits=50)
    u = chat(sb, "d", model="claude-sonnet-4-5", max_tokens=3000).json()["usage"]
    c = cost("claude-sonnet-4-5", u["prompt_tokens"], 3000)
    disc = pricing.PLANS[plan].lifetime_discount
    assert balance(sb) == (0, pytest.approx(50 - c * (1 - disc), abs=1e-6))


def test_unpriced_models_are_charged_the_sandbox_price(sandbox_factory):
    sb = sandbox_factory(subscription_credits=10)
    u = chat(sb, "e", model="gpt-4o", max_tokens=1000).json()["usage"]
    pin, pout = UNPRICED_CHARGE
    assert balance(sb)[0] == pytest.approx(
        10 - (u["prompt_tokens"] * pin + 1000 * pout) / 1e6, abs=1e-6
    )


def test_pools_never_go_negative_and_402_at_zero(sandbox_factory):
    sb = sandbox_factory(subscription_credits=0.1, lifetime_credits=0.1)
    assert chat(sb, "f", model="claude-opus-4-6", max_tokens=10000).status == 200  # costs 2.5
    assert balance(sb) == (0, 0)
    r = chat(sb, "g")
    assert r.status == 402
    assert (
        r.error["message"]
        == "Insufficient credit balance. Please add credits or upgrade your plan."
    )


def test_streamed_completions_are_charged_too(sandbox_factory):
    sb = sandbox_factory(subscription_credits=5)
    r = chat(
        sb,
        "h",
        model="claude-haiku-4-5",
        max_tokens=1000,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = parse_sse(r.body)[-2]["usage"]
    assert balance(sb)[0] == pytest.approx(
        5 - cost("claude-haiku-4-5", usage["prompt_tokens"], 1000), abs=1e-6
    )
