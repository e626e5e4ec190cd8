"""The batch runner with fake senders: results written as they finish, a 402 or Ctrl-C stops
sending while requests in flight finish and are written, exit codes. Synchronised on events."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from mscli.batch.inputs import Line
from mscli.batch.pacer import Pacer, Rate
from mscli.batch.runner import Batch, Done, stops_batch
from mscli.batch.summary import Summary
from mscli.errors import ApiError, NetworkError, ProtocolError
from mscli.exit_codes import ExitCode

SAFETY = 10.0  # seconds: only reached if the code under test is broken


def _lines(n: int) -> list[Line]:
    return [Line(i, i, [{"role": "user", "content": f"p{i}"}], "m") for i in range(1, n + 1)]


def _run(
    lines: list[Line],
    send: Callable[[Line], Done],
    *,
    workers: int = 2,
    write: Callable[[Done], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[Summary, list[Done]]:
    stop = stop or threading.Event()
    written: list[Done] = []
    summary = Summary(len(lines), Rate(6000, "--rpm"))
    batch = Batch(
        lines,
        make_sender=lambda: (send, lambda: None),
        max_workers=workers,
        pacer=Pacer(0.0, wait=stop.wait),
        stop=stop,
        summary=summary,
        write=write or written.append,
    )
    return batch.run(), written


def _ok(line: Line) -> Done:
    return Done(line, "m", content=f"r{line.id}", credits=0.5, tokens=(1, 1))


def test_every_line_is_sent_once_and_written() -> None:
    summary, written = _run(_lines(20), _ok, workers=4)
    assert sorted(d.line.id for d in written) == list(range(1, 21))
    assert (summary.succeeded, summary.failed, summary.not_sent) == (20, 0, 0)
    assert summary.started == 20 and 1 <= summary.max_in_flight <= 4
    assert summary.credits == pytest.approx(10.0)
    assert summary.exit_code() == 0


def test_failed_lines_are_written_with_their_error_and_exit_11() -> None:
    def send(line: Line) -> Done:
        if line.id == 2:
            return Done(line, "m", error=NetworkError("reset", kind="reset"))
        return _ok(line)

    summary, written = _run(_lines(4), send)
    assert len(written) == 4 and summary.failed == 1
    assert summary.stopped_by is None  # a line's own failure does not stop the batch
    assert summary.exit_code() == ExitCode.PARTIAL == 11


def test_a_402_stops_sending_and_the_request_in_flight_is_still_written() -> None:
    stop = threading.Event()
    started2 = threading.Event()

    def send(line: Line) -> Done:
        if line.id == 2:  # in flight when the 402 arrives
            started2.set()
            assert stop.wait(SAFETY)
            return _ok(line)
        if line.id == 3:
            assert started2.wait(SAFETY)
            return Done(line, "m", error=ApiError("no credits", status=402))
        return _ok(line)

    summary, written = _run(_lines(8), send, stop=stop)
    assert sorted(d.line.id for d in written) == [1, 2, 3]
    assert summary.not_sent == 5
    assert isinstance(summary.stopped_by, ApiError) and summary.stopped_by.status == 402
    assert summary.exit_code() == ExitCode.BALANCE


def test_ctrl_c_stops_sending_and_writes_what_was_in_flight() -> None:
    stop = threading.Event()
    started = {2: threading.Event(), 3: threading.Event()}
    written: list[Done] = []

    def send(line: Line) -> Done:
        if line.id == 1:
            assert started[2].wait(SAFETY)
        elif line.id in started:  # 2 and 3 are in flight at Ctrl-C
            started[int(line.id)].set()
            assert stop.wait(SAFETY)
        return _ok(line)

    def write(done: Done) -> None:
        written.append(done)
        if len(written) == 1:
            assert started[3].wait(SAFETY)
            raise KeyboardInterrupt  # Ctrl-C while the first result is written

    summary, _ = _run(_lines(6), send, write=write, stop=stop)
    assert sorted(d.line.id for d in written) == [1, 2, 3]
    assert summary.interrupted and summary.not_sent == 3
    assert summary.exit_code() == 130


def test_a_bug_in_a_worker_reaches_the_caller() -> None:
    def send(line: Line) -> Done:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        _run(_lines(3), send)


@pytest.mark.parametrize(
    ("err", "stops"),
    [
        (ApiError("bad key", status=401), True),
        (ApiError("no credits", status=402), True),
        (ApiError("slow down", status=429), False),
        (ApiError("boom", status=500), False),
        (ApiError("bad", status=400), False),
        (NetworkError("reset", kind="reset"), False),
        (ProtocolError("html"), False),
    ],
)
def test_which_errors_stop_the_batch(err: Exception, stops: bool) -> None:
    assert stops_batch(err) is stops  # type: ignore[arg-type]


def test_a_wait_longer_than_max_wait_stops_the_batch() -> None:
    from mscli.errors import RateLimitWaitTooLongError

    assert stops_batch(RateLimitWaitTooLongError("wait an hour", status=429))


def test_ctrl_c_after_a_worker_has_exited_still_ends() -> None:
    """A worker that found no more lines has exited (its exit taken off the queue) when Ctrl-C
    comes while another line is written; the caller must not then wait for that exit again (it
    waited forever)."""
    stop = threading.Event()
    two_written = threading.Event()
    written: list[Done] = []
    workers: dict[int, threading.Thread] = {}

    def send(line: Line) -> Done:
        workers[int(line.id)] = threading.current_thread()
        if line.id == 1:  # answers once line 2's worker has written it and exited
            assert two_written.wait(SAFETY)
            workers[2].join(SAFETY)
        return _ok(line)

    def write(done: Done) -> None:
        written.append(done)
        if done.line.id == 2:
            two_written.set()
        else:
            raise KeyboardInterrupt  # Ctrl-C while line 1 is written

    result: list[Summary] = []
    runner = threading.Thread(
        target=lambda: result.append(_run(_lines(2), send, write=write, stop=stop)[0]),
        daemon=True,
    )
    runner.start()
    runner.join(SAFETY)
    assert not runner.is_alive(), "the batch hung after Ctrl-C"
    assert result and result[0].interrupted
    assert sorted(d.line.id for d in written) == [1, 2]
