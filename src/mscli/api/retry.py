"""Retry policy: what to retry, how long to wait, when to give up (reliability §1–§2).

- Retried: 408, 409, 429, 500, 502, 503, 504 (and 529, "overloaded"), and connection failures or
  timeouts before any response byte. Never other 4xx. ``x-should-retry: true|false`` overrides
  the status either way.
- Wait: a usable server hint, exactly (``retry-after-ms``, ``Retry-After`` seconds or HTTP-date,
  and for 429 only ``x-ratelimit-reset-requests`` / ``x-ratelimit-reset``); otherwise full jitter
  ``U(0, min(cap, base * 2**n))`` with a small floor.
- A hint longer than ``max_wait`` is not slept: the caller fails at once and says when to retry.
- One overall deadline across attempts and sleeps: no retry whose sleep would pass it.

Everything that decides is a pure function (`parse_retry_after`, `parse_duration`,
`backoff_delay`, `compute_wait`, `should_retry_status`) so tests can table-test them; `RetryPolicy`
only binds them to an injectable sleep, clock, wall clock and random source.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Literal, NamedTuple

__all__ = [
    "MAX_SANE_HINT",
    "RETRYABLE_STATUSES",
    "RetryNotice",
    "RetryPolicy",
    "WaitDecision",
    "backoff_delay",
    "compute_wait",
    "describe_network_kind",
    "describe_status",
    "get_header",
    "parse_duration",
    "parse_retry_after",
    "should_retry_status",
]

#: Statuses retried unless ``x-should-retry: false`` says otherwise.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

#: Hints above this (7 days; a 35-digit number, a date in the year 9999) are counted as this: far
#: over any --max-wait, so mscli fails at once ("more than 7 days") instead of retrying.
MAX_SANE_HINT = 7 * 24 * 3600.0

#: Plain ``x-ratelimit-reset`` numbers at least this large are Unix timestamps, not durations.
_EPOCH_THRESHOLD = 1_000_000_000.0

_SECONDS = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_DURATION = re.compile(r"(?:\d+(?:\.\d*)?(?:ns|us|µs|ms|h|m|s))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|h|m|s)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DAYNAMES = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def get_header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup that works for a plain dict and for ``httpx.Headers``."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lname = name.lower()
        for key, val in headers.items():
            if key.lower() == lname:
                return val
        return None
    return value


def should_retry_status(status: int, headers: Mapping[str, str] | None = None) -> bool:
    """Is this HTTP status worth another attempt? ``x-should-retry`` overrides the status."""
    override = (get_header(headers, "x-should-retry") or "").strip().lower()
    if override == "true":
        return True
    if override == "false":
        return False
    return status in RETRYABLE_STATUSES


def _usable(value: float) -> float | None:
    """A positive wait, at most `MAX_SANE_HINT`; None for zero, negative or NaN."""
    if math.isnan(value) or value <= 0:
        return None
    return min(value, MAX_SANE_HINT)


def parse_duration(value: str) -> float | None:
    """Seconds from ``"20"``, ``"1.5"``, or a Go/OpenAI duration (``"1s"``, ``"6m0s"``,
    ``"250ms"``, ``"1h2m3.5s"``). ``None`` for anything else, zero or negative; an absurdly long
    one counts as `MAX_SANE_HINT`."""
    v = value.strip()
    if not v:
        return None
    if _SECONDS.fullmatch(v):
        return _usable(float(v))
    if _DURATION.fullmatch(v):
        total = sum(float(num) * _UNIT[unit] for num, unit in _DURATION_PART.findall(v))
        return _usable(total)
    return None


def _parse_http_date(value: str, now: float) -> float | None:
    v = value.strip()
    if "," in v:
        # parsedate_tz skips any word before a comma; RFC 9110 allows only real day names.
        day = v.split(",", 1)[0].strip().lower()
        if day not in _DAYNAMES:
            return None
    try:
        parsed = email.utils.parsedate_tz(v)
        if parsed is None:
            return None
        when = email.utils.mktime_tz(parsed)
    except (TypeError, ValueError, OverflowError, OSError, IndexError):
        return None
    return _usable(float(when) - now)


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float, include_ratelimit_reset: bool = True
) -> float | None:
    """The server's requested wait in seconds, or ``None`` when there is no usable hint.

    Tried in order, first usable wins: ``retry-after-ms``; ``retry-after`` as seconds (a float is
    fine) or as an HTTP-date relative to ``now`` (Unix time); then, if
    ``include_ratelimit_reset`` (pass it for 429 only: these headers ride on every OpenAI
    response and describe the window, not a retry hint), ``x-ratelimit-reset-requests`` and
    ``x-ratelimit-reset`` (durations like ``"6m0s"``, plain seconds, or a Unix timestamp).
    Zero, negative and unparsable values are ignored; a longer one than `MAX_SANE_HINT` (7 days,
    a 35-digit number) counts as that, which is over any ``--max-wait``: no retry.
    """
    if not headers:
        return None
    ms = get_header(headers, "retry-after-ms")
    if ms is not None and _SECONDS.fullmatch(ms.strip()):
        value = _usable(float(ms.strip()) / 1000.0)
        if value is not None:
            return value
    ra = get_header(headers, "retry-after")
    if ra is not None:
        ra = ra.strip()
        if _SECONDS.fullmatch(ra):
            value = _usable(float(ra))
        else:
            value = _parse_http_date(ra, now)
        if value is not None:
            return value
    if include_ratelimit_reset:
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset"):
            raw = get_header(headers, name)
            if raw is None:
                continue
            raw = raw.strip()
            if _SECONDS.fullmatch(raw) and float(raw) >= _EPOCH_THRESHOLD:
                value = _usable(float(raw) - now)
            else:
                value = parse_duration(raw)
            if value is not None:
                return value
    return None


def backoff_delay(
    retry_index: int, *, base: float = 0.5, cap: float = 8.0, floor: float = 0.05, jitter: float
) -> float:
    """Full jitter: ``jitter * min(cap, base * 2**retry_index)``, at least ``floor``.

    ``retry_index`` is the number of retries already made (0 before the first retry);
    ``jitter`` is a uniform draw from [0, 1).
    """
    n = min(max(retry_index, 0), 60)  # 2**60 * base is far above any cap: no overflow
    ceiling = min(cap, base * (2.0**n))
    return max(floor, min(1.0, max(0.0, jitter)) * ceiling)


DecisionReason = Literal["hint", "backoff", "hint_too_long", "deadline", "exhausted"]


class WaitDecision(NamedTuple):
    """What to do before the next attempt. ``retry`` False means: raise now."""

    retry: bool
    wait: float
    reason: DecisionReason
    hint: float | None = None

    @property
    def hint_too_long(self) -> bool:
        return self.reason == "hint_too_long"


def compute_wait(
    retry_index: int,
    hint: float | None,
    *,
    max_retries: int = 3,
    base: float = 0.5,
    cap: float = 8.0,
    max_wait: float = 60.0,
    floor: float = 0.05,
    jitter: float,
    remaining: float | None = None,
) -> WaitDecision:
    """Pure decision: retry or not, and how long to sleep first.

    ``hint`` is a parsed server hint (`parse_retry_after`), used exactly when ``0 < hint <=
    max_wait``; above ``max_wait`` the answer is "do not retry" with reason ``hint_too_long``.
    ``remaining`` is the time left before the overall deadline: a sleep that would pass it is
    not taken (reason ``deadline``).
    """
    if hint is not None and hint > max_wait:
        return WaitDecision(False, 0.0, "hint_too_long", hint)
    if retry_index >= max_retries:
        return WaitDecision(False, 0.0, "exhausted", hint)
    reason: DecisionReason
    if hint is not None and hint > 0:
        wait, reason = hint, "hint"
    else:
        wait = min(
            backoff_delay(retry_index, base=base, cap=cap, floor=floor, jitter=jitter), max_wait
        )
        reason = "backoff"
    if remaining is not None and wait >= remaining:
        return WaitDecision(False, wait, "deadline", hint)
    return WaitDecision(True, wait, reason, hint)


def describe_status(status: int) -> str:
    """Short reason for a retry notice: ``"Rate limited (429)"``, ``"Server error (503)"``."""
    if status == 429:
        return "Rate limited (429)"
    if status == 408:
        return "Request timeout (408)"
    if status == 409:
        return "Conflict (409)"
    if status == 529:
        return "Server overloaded (529)"
    if status >= 500:
        return f"Server error ({status})"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "HTTP error"
    return f"{phrase} ({status})"


_KIND_REASONS = {
    "dns": "DNS lookup failed",
    "refused": "Connection refused",
    "reset": "Connection reset",
    "tls": "TLS handshake failed",
    "connect_timeout": "Connection timed out",
    "read_timeout": "No response (read timeout)",
    "timeout": "Timed out",
    "proxy": "Proxy error",
    "other": "Connection error",
}


def describe_network_kind(kind: str) -> str:
    """Short reason for a retry notice from a `NetworkError.kind`."""
    return _KIND_REASONS.get(kind, "Connection error")


class RetryNotice(NamedTuple):
    """One retry about to happen. ``attempt`` is the attempt about to start (2 for the first retry)."""

    attempt: int
    max_attempts: int
    wait: float
    reason: str
    #: the HTTP status that is retried (429: the wait is the server's), None after a connection failure
    status: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.reason}, retrying in {self.wait:.1f} s, "
            f"attempt {self.attempt} of {self.max_attempts}"
        )


class RetryPolicy:
    """The pure functions above bound to defaults and injectable time and randomness (a plain
    class, not a dataclass: docs/architecture.md, "Records")."""

    __slots__ = (
        "base",
        "cap",
        "clock",
        "floor",
        "max_retries",
        "max_wait",
        "rand",
        "sleep",
        "wall_clock",
    )

    def __init__(
        self,
        *,
        max_retries: int = 3,
        base: float = 0.5,
        cap: float = 8.0,
        max_wait: float = 60.0,
        floor: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_retries = max_retries
        self.base = base
        self.cap = cap
        self.max_wait = max_wait
        self.floor = floor
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        self.wall_clock = wall_clock

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_retries={self.max_retries}, base={self.base}, cap={self.cap}, "
            f"max_wait={self.max_wait}, floor={self.floor})"
        )

    @property
    def max_attempts(self) -> int:
        return max(0, self.max_retries) + 1

    def hint(self, headers: Mapping[str, str] | None, *, status: int | None = None) -> float | None:
        """The usable server hint in ``headers`` (rate-limit reset headers only for 429)."""
        return parse_retry_after(
            headers, now=self.wall_clock(), include_ratelimit_reset=(status == 429)
        )

    def decide(
        self,
        retry_index: int,
        *,
        hint: float | None = None,
        deadline: float | None = None,
    ) -> WaitDecision:
        """Should retry number ``retry_index + 1`` happen, and after how long a sleep?"""
        remaining = None if deadline is None else deadline - self.clock()
        return compute_wait(
            retry_index,
            hint,
            max_retries=self.max_retries,
            base=self.base,
            cap=self.cap,
            max_wait=self.max_wait,
            floor=self.floor,
            jitter=self.rand(),
            remaining=remaining,
        )
