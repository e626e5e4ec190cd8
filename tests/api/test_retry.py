"""Retry decisions as pure tables: header parsing, backoff, max_wait, deadline (reliability §1.4, §6 #22-23)."""

from __future__ import annotations

import email.utils

import pytest

from mscli.api.retry import (
    MAX_SANE_HINT,
    RetryNotice,
    RetryPolicy,
    backoff_delay,
    compute_wait,
    describe_network_kind,
    describe_status,
    parse_duration,
    parse_retry_after,
    should_retry_status,
)

#: Fri, 29 Sep 2023 16:26:37 GMT: a fixed wall clock for HTTP-date hints.
NOW = 1696004797.0


def http_date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


# --- header parsing ----------------------------------------------------------------------------

RETRY_AFTER_TABLE: list[tuple[dict[str, str], float | None]] = [
    ({"retry-after": "20"}, 20.0),
    ({"retry-after": "0"}, None),
    ({"retry-after": "-10"}, None),
    ({"retry-after": "60"}, 60.0),
    ({"retry-after": "61"}, 61.0),
    ({"retry-after": "120"}, 120.0),
    ({"retry-after": "121"}, 121.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after": " 7 "}, 7.0),
    ({"retry-after": "inf"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "Infinity"}, None),
    ({"retry-after": "1e3"}, None),
    ({"retry-after": "1_000"}, None),
    ({"retry-after": "99999999999999999999999999999999999"}, MAX_SANE_HINT),  # 35 digits
    ({"retry-after": "9" * 400}, MAX_SANE_HINT),  # beyond a float: still "too long", not garbage
    ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, MAX_SANE_HINT),
    ({"retry-after": ""}, None),
    ({"retry-after": "soon"}, None),
    ({"retry-after": "Zun, 29 Sep 2023 16:26:57 GMT"}, None),  # bad day name
    ({"retry-after": "Fri, 29 Sep 100000 16:26:57 GMT"}, None),  # year 100000
    ({"retry-after": http_date(10)}, 10.0),
    ({"retry-after": http_date(-10)}, None),
    ({"retry-after": http_date(60)}, 60.0),
    ({"retry-after": http_date(-60)}, None),
    ({"retry-after": http_date(120)}, 120.0),
    ({"retry-after": http_date(-120)}, None),
    ({"retry-after": http_date(121)}, 121.0),
    ({"retry-after": http_date(-121)}, None),
    ({"retry-after": http_date(0)}, None),
    ({"Retry-After": "3"}, 3.0),  # case-insensitive on a plain dict
    ({"retry-after-ms": "2500"}, 2.5),
    ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5),  # -ms wins
    ({"retry-after-ms": "0", "retry-after": "9"}, 9.0),  # unusable -ms falls through
    ({"retry-after-ms": "abc", "retry-after": "9"}, 9.0),
    ({"retry-after-ms": "-5"}, None),
    ({"retry-after-ms": "1.5"}, 0.0015),
    ({"x-ratelimit-reset-requests": "1s"}, 1.0),
    ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
    ({"x-ratelimit-reset-requests": "250ms"}, 0.25),
    ({"x-ratelimit-reset-requests": "bogus", "x-ratelimit-reset": "4"}, 4.0),
    ({"x-ratelimit-reset": "2.5"}, 2.5),
    ({"x-ratelimit-reset": str(int(NOW) + 5)}, 5.0),  # a Unix timestamp
    ({"x-ratelimit-reset": str(int(NOW) - 5)}, None),
    ({"retry-after": "3", "x-ratelimit-reset-requests": "50s"}, 3.0),  # Retry-After first
    ({}, None),
]


@pytest.mark.parametrize(("headers", "expected"), RETRY_AFTER_TABLE)
def test_parse_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    got = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_ratelimit_reset_headers_only_when_asked() -> None:
    # They ride on every OpenAI-style response; on a 503 they are not a retry hint.
    headers = {"x-ratelimit-reset-requests": "6m0s"}
    assert parse_retry_after(headers, now=NOW, include_ratelimit_reset=False) is None
    assert parse_retry_after(headers, now=NOW, include_ratelimit_reset=True) == 360.0


def test_parse_retry_after_none_headers() -> None:
    assert parse_retry_after(None, now=NOW) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("250ms", 0.25),
        ("1h2m3.5s", 3723.5),
        ("1.5s", 1.5),
        ("500us", 0.0005),
        ("20", 20.0),
        ("0.75", 0.75),
        ("0s", None),
        ("0", None),
        ("-1s", None),
        ("1x", None),
        ("s", None),
        ("", None),
        ("1 s", None),
        ("9999999h", MAX_SANE_HINT),  # absurd: counted as the longest sane wait
    ],
)
def test_parse_duration(value: str, expected: float | None) -> None:
    got = parse_duration(value)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_max_sane_hint_is_days_not_years() -> None:
    assert 86400 <= MAX_SANE_HINT <= 30 * 86400


# --- status classification -------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status: int) -> None:
    assert should_retry_status(status)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 405, 413, 422, 501, 505])
def test_never_retried_statuses(status: int) -> None:
    assert not should_retry_status(status)


def test_x_should_retry_overrides() -> None:
    assert should_retry_status(400, {"x-should-retry": "true"})
    assert should_retry_status(400, {"X-Should-Retry": "TRUE"})
    assert not should_retry_status(503, {"x-should-retry": "false"})
    assert should_retry_status(503, {"x-should-retry": "maybe"})
    assert not should_retry_status(400, {"x-should-retry": "maybe"})


# --- backoff and decisions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "jitter", "expected"),
    [
        (0, 1.0, 0.5),
        (1, 1.0, 1.0),
        (2, 1.0, 2.0),
        (3, 1.0, 4.0),
        (4, 1.0, 8.0),
        (5, 1.0, 8.0),  # capped
        (1000, 1.0, 8.0),  # no overflow
        (2, 0.5, 1.0),
        (0, 0.0, 0.05),  # floor
        (3, 0.001, 0.05),
    ],
)
def test_backoff_full_jitter(n: int, jitter: float, expected: float) -> None:
    assert backoff_delay(n, jitter=jitter) == pytest.approx(expected)


def test_backoff_custom_base_cap() -> None:
    assert backoff_delay(3, base=1.0, cap=5.0, floor=0.1, jitter=1.0) == 5.0


DECISION_TABLE: list[tuple[dict[str, str], bool, float | None, str]] = [
    # headers, retry?, wait (None: the backoff for jitter 1.0 at n=0, 0.5), reason
    ({"retry-after": "20"}, True, 20.0, "hint"),
    ({"retry-after": "0"}, True, None, "backoff"),
    ({"retry-after": "-10"}, True, None, "backoff"),
    ({"retry-after": "60"}, True, 60.0, "hint"),
    ({"retry-after": "61"}, False, None, "hint_too_long"),
    ({"retry-after": "120"}, False, None, "hint_too_long"),
    ({"retry-after": "121"}, False, None, "hint_too_long"),
    ({"retry-after": "inf"}, True, None, "backoff"),
    ({"retry-after": "nan"}, True, None, "backoff"),
    ({"retry-after": "99999999999999999999999999999999999"}, False, None, "hint_too_long"),
    ({"retry-after": ""}, True, None, "backoff"),
    ({"retry-after": "Zun, 29 Sep 2023 16:26:57 GMT"}, True, None, "backoff"),
    ({"retry-after": "Fri, 29 Sep 100000 16:26:57 GMT"}, True, None, "backoff"),
    ({"retry-after": http_date(10)}, True, 10.0, "hint"),
    ({"retry-after": http_date(-10)}, True, None, "backoff"),
    ({"retry-after": http_date(60)}, True, 60.0, "hint"),
    ({"retry-after": http_date(120)}, False, None, "hint_too_long"),
    ({"retry-after": http_date(121)}, False, None, "hint_too_long"),
    ({"retry-after": http_date(-121)}, True, None, "backoff"),
    ({"retry-after-ms": "1500"}, True, 1.5, "hint"),
    ({"retry-after-ms": "61000"}, False, None, "hint_too_long"),
]


@pytest.mark.parametrize(("headers", "retry", "wait", "reason"), DECISION_TABLE)
def test_wait_decision_table(
    headers: dict[str, str], retry: bool, wait: float | None, reason: str
) -> None:
    hint = parse_retry_after(headers, now=NOW)
    d = compute_wait(0, hint, max_wait=60.0, jitter=1.0)
    assert d.retry is retry
    assert d.reason == reason
    if retry:
        assert d.wait == pytest.approx(0.5 if wait is None else wait)
    if reason == "hint_too_long":
        assert d.hint_too_long
        assert d.hint is not None and d.hint > 60


def test_hint_too_long_even_when_retries_exhausted() -> None:
    d = compute_wait(3, 3600.0, max_retries=3, jitter=0.5)
    assert (d.retry, d.reason, d.hint) == (False, "hint_too_long", 3600.0)


def test_exhausted() -> None:
    d = compute_wait(3, None, max_retries=3, jitter=0.5)
    assert (d.retry, d.reason) == (False, "exhausted")
    assert compute_wait(0, None, max_retries=0, jitter=0.5).reason == "exhausted"


def test_deadline_stops_retry_when_sleep_would_pass_it() -> None:
    assert compute_wait(0, 5.0, jitter=0.5, remaining=10.0).retry
    d = compute_wait(0, 5.0, jitter=0.5, remaining=4.0)
    assert (d.retry, d.reason, d.wait) == (False, "deadline", 5.0)
    assert compute_wait(2, None, jitter=1.0, remaining=1.0).reason == "deadline"


def test_backoff_never_exceeds_max_wait() -> None:
    d = compute_wait(10, None, max_retries=20, max_wait=3.0, jitter=1.0)
    assert d.retry and d.wait == 3.0


# --- the policy object ---------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_policy_uses_injected_clock_and_rand() -> None:
    t = FakeTime()
    p = RetryPolicy(
        max_retries=2, sleep=t.sleep, clock=t.clock, rand=lambda: 0.5, wall_clock=lambda: NOW
    )
    assert p.max_attempts == 3
    d = p.decide(1, deadline=t.now + 100)
    assert d.retry and d.wait == pytest.approx(0.5)  # 0.5 * min(8, 0.5 * 2)
    t.now += 99.8
    assert p.decide(1, deadline=200.0).reason == "deadline"
    assert p.decide(2).reason == "exhausted"


def test_policy_hint_uses_wall_clock_and_status() -> None:
    p = RetryPolicy(wall_clock=lambda: NOW)
    assert p.hint({"retry-after": http_date(30)}) == pytest.approx(30.0)
    assert p.hint({"x-ratelimit-reset-requests": "2s"}, status=503) is None
    assert p.hint({"x-ratelimit-reset-requests": "2s"}, status=429) == 2.0


def test_notice_text() -> None:
    n = RetryNotice(attempt=2, max_attempts=4, wait=2.345, reason=describe_status(429))
    assert str(n) == "Rate limited (429), retrying in 2.3 s, attempt 2 of 4"


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (429, "Rate limited (429)"),
        (503, "Server error (503)"),
        (408, "Request timeout (408)"),
        (409, "Conflict (409)"),
    ],
)
def test_describe_status(status: int, text: str) -> None:
    assert describe_status(status) == text


def test_describe_network_kind() -> None:
    assert describe_network_kind("refused") == "Connection refused"
    assert describe_network_kind("nonsense") == "Connection error"
