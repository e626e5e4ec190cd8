"""Pacing: which RPM applies, and the `Pacer` that spaces requests evenly.

Requests start at most one every 60/RPM seconds, measured from the previous start, so no window a
server might count in (sliding or fixed, a minute or less) sees more than RPM requests a minute.
After a 429, `pause(seconds)` holds every worker until the server's wait has passed. The clock and
the wait are injected: tests drive a fake clock in milliseconds and never sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mscli.pricing import PLANS

#: The lowest plan's RPM: what applies when neither the flag, the profile nor the server says.
LOWEST_RPM = min(p.rpm for p in PLANS.values())

#: Where the server's limit may be read (a sandbox extension, OpenAI's names; not documented by
#: ModelStack).
LIMIT_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-limit")


class Stopped(Exception):
    """The batch is stopping: no new request may start."""


@dataclass(frozen=True)
class Rate:
    rpm: int
    source: str  # for the summary: "--rpm", "plan pro", "the server's …", "lowest plan"

    @property
    def interval(self) -> float:
        return 60.0 / self.rpm


def server_limit(headers: Mapping[str, str] | None) -> int | None:
    """The requests-per-minute limit a response's headers announce, or None."""
    from mscli.api.retry import get_header

    for name in LIMIT_HEADERS:
        raw = get_header(headers, name)
        if raw is None:
            continue
        try:
            value = int(float(raw.strip()))
        except ValueError:
            continue
        if value > 0:
            return value
    return None


def resolve_rate(
    flag: int | None, plan: str | None, ask_server: Callable[[], int | None] | None
) -> Rate:
    """--rpm, else the profile's plan, else the server's header (`ask_server` is called only then;
    None in a dry run), else the lowest plan."""
    if flag is not None:
        return Rate(flag, "--rpm")
    if plan and plan in PLANS:
        return Rate(PLANS[plan].rpm, f"plan {plan}")
    limit = ask_server() if ask_server is not None else None
    if limit is not None:
        return Rate(limit, "the server's x-ratelimit-limit-requests")
    if ask_server is None:
        return Rate(LOWEST_RPM, "lowest plan; the server was not asked")
    return Rate(LOWEST_RPM, "lowest plan")


class Pacer:
    """Hands out start times at least `interval` apart, to any number of threads.

    `wait(seconds)` sleeps and returns True when the batch is stopping (a `threading.Event.wait`);
    `take()` then raises `Stopped`.
    """

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._wait = wait or _sleep
        self._turn = threading.Lock()  # one thread waits for the next start at a time
        self._pause = threading.Lock()
        self._next = float("-inf")
        self._resume_at = float("-inf")
        self.pauses = 0

    def take(self) -> float:
        """Block until this caller may start a request; returns the start time."""
        with self._turn:
            while True:
                now = self._clock()
                with self._pause:
                    due = max(self._next, self._resume_at)
                if now >= due:
                    break
                if self._wait(due - now):
                    raise Stopped
            self._next = now + self.interval
            return now

    def pause(self, seconds: float) -> None:
        """Hold every start until `seconds` from now (a 429's wait, honoured by all workers)."""
        with self._pause:
            until = self._clock() + seconds
            if until > self._resume_at:
                self._resume_at = until
                self.pauses += 1


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False
