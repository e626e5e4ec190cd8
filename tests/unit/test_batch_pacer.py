"""The pacer on a fake clock: starts at least 60/RPM apart, a 429 pause holds every thread, a stop
ends the wait. Milliseconds, no real sleeping."""

from __future__ import annotations

import itertools

import pytest

from mscli.batch.pacer import LOWEST_RPM, Pacer, Stopped, resolve_rate, server_limit


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self.stop_after: int | None = None

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if self.stop_after is not None and len(self.waits) > self.stop_after:
            return True
        self.now += seconds
        return False


def test_starts_are_spaced_by_the_interval_and_the_first_is_immediate() -> None:
    t = FakeTime()
    pacer = Pacer(60 / 600, clock=t.clock, wait=t.wait)
    starts = [pacer.take() for _ in range(5)]
    assert starts[0] == 1000.0
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.1] * 4)


def test_slow_callers_are_not_made_to_wait_and_never_catch_up_by_bursting() -> None:
    t = FakeTime()
    pacer = Pacer(1.0, clock=t.clock, wait=t.wait)
    pacer.take()
    t.now += 5.0  # nobody asked for 5 s
    a = pacer.take()
    b = pacer.take()
    assert a == 1005.0 and b - a == pytest.approx(1.0)  # no burst to make up for the idle time


def test_a_pause_holds_the_next_start_until_it_has_passed() -> None:
    t = FakeTime()
    pacer = Pacer(0.1, clock=t.clock, wait=t.wait)
    pacer.take()
    pacer.pause(2.0)  # a 429 said Retry-After: 2
    assert pacer.take() == pytest.approx(1002.0)
    assert pacer.pauses == 1
    pacer.pause(0.5)
    pacer.pause(0.2)  # shorter than the pause already set: no change
    assert pacer.take() == pytest.approx(1002.5)
    assert pacer.pauses == 2


def test_a_stop_during_the_wait_raises_stopped() -> None:
    t = FakeTime()
    t.stop_after = 0
    pacer = Pacer(1.0, clock=t.clock, wait=t.wait)
    pacer.take()
    with pytest.raises(Stopped):
        pacer.take()


def test_rate_comes_from_the_flag_then_the_plan_then_the_server_then_the_lowest_plan() -> None:
    asked: list[int] = []

    def server() -> int | None:
        asked.append(1)
        return 77

    assert resolve_rate(500, "pro", server).rpm == 500
    assert resolve_rate(None, "max", server).rpm == 60
    assert asked == []  # the server is asked only when neither flag nor plan says
    rate = resolve_rate(None, None, server)
    assert (rate.rpm, asked) == (77, [1])
    assert resolve_rate(None, None, lambda: None).rpm == LOWEST_RPM == 15
    assert resolve_rate(None, None, None).rpm == 15  # a dry run does not ask
    assert resolve_rate(None, None, None).interval == 4.0


@pytest.mark.parametrize(
    ("headers", "limit"),
    [
        ({"x-ratelimit-limit-requests": "40"}, 40),
        ({"X-RateLimit-Limit-Requests": "60"}, 60),
        ({"x-ratelimit-limit": "15"}, 15),
        ({"x-ratelimit-limit-requests": "lots"}, None),
        ({"x-ratelimit-limit-requests": "0"}, None),
        ({}, None),
    ],
)
def test_server_limit_header(headers: dict[str, str], limit: int | None) -> None:
    assert server_limit(headers) == limit
