"""The batch run: workers that take a start time from the pacer and send one line each, and the
main thread, which writes every finished line, records the ledger and tracks the totals.

Stop rules: an error whose class makes every later line fail the same way (`stops_batch`: a
rejected or missing key, no credits, a configuration error, a server asking to wait longer than
--max-wait) stops sending; requests in flight finish and are written, unsent lines are not (a
`--resume` sends them). Ctrl-C (or SIGTERM) does the same; a second one leaves at once. A 429 that
gets through anyway pauses every worker for the server's wait (`Pacer.pause`), not just its own.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from mscli.batch.inputs import Line
from mscli.batch.pacer import Pacer, Stopped
from mscli.batch.summary import Summary
from mscli.errors import MscliError
from mscli.exit_codes import ExitCode


def stops_batch(err: MscliError) -> bool:
    """Would every later line fail the same way? Then the batch stops sending."""
    from mscli.advice import exit_code_for

    if err.advice_key == "rate_limit.wait_too_long":
        return True
    return exit_code_for(err) in (ExitCode.AUTH, ExitCode.BALANCE, ExitCode.CONFIG)


@dataclass
class Done:
    """One line's request, finished: a reply or an error."""

    line: Line
    model: str
    content: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int | None] | None = None
    credits: float | None = None
    #: (prompt, completion) tokens for the ledger: reported, or estimated when not reported
    tokens: tuple[int, int] | None = None
    error: MscliError | None = None


Sender = Callable[[Line], Done]


class Progress(Protocol):
    def update(self, summary: Summary) -> None: ...

    def close(self) -> None: ...


class Batch:
    """Runs `lines` on worker threads; the caller's thread writes the results.

    Workers are added as the pace needs them, up to `max_workers`: when a worker takes its start
    time and no other one is waiting for the next, one more is started (its sender, with its own
    client, is made on that thread while it waits for its turn). So as many requests are in flight
    as the latency needs to hold the pace, and no more clients are built than that.
    """

    def __init__(
        self,
        lines: list[Line],
        *,
        make_sender: Callable[[], tuple[Sender, Callable[[], None]]],
        max_workers: int,
        pacer: Pacer,
        stop: threading.Event,
        summary: Summary,
        write: Callable[[Done], None],
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._todo: deque[Line] = deque(lines)
        self._make_sender = make_sender
        self._max_workers = max(1, max_workers)
        self._pacer = pacer
        self._stop = stop
        self._write = write
        self._progress = progress
        self._clock = clock
        self._results: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiting = 0  # workers waiting for a start time
        self._workers = 0
        self._exited = 0  # workers whose exit the caller's thread has taken off the queue
        self._signals = _HeldSignals()
        self.summary = summary

    def run(self, first: tuple[Sender, Callable[[], None]] | None = None) -> Summary:
        """Send every line. `first`: the first worker's sender, made by the caller (so that a
        missing key fails before any thread starts)."""
        t0 = self._clock()
        try:
            if self._todo:
                self._add_worker(first)
            with self._signals:
                try:
                    self._drain()
                except KeyboardInterrupt:
                    self.summary.interrupted = True
                    self._stop.set()
                    self._drain()  # requests in flight finish; a second Ctrl-C leaves at once
        finally:
            self._stop.set()
            self.summary.seconds = self._clock() - t0
            self.summary.pauses = self._pacer.pauses
            if self._progress is not None:
                self._progress.close()
        return self.summary

    # -- the caller's thread ----------------------------------------------------------------------

    def _drain(self) -> None:
        """Until every worker has exited. The count of exits lives on the runner, so a Ctrl-C
        in the middle loses none of those already taken off the queue (the drain after it would
        otherwise wait forever for them)."""
        while True:
            with self._lock:
                if self._exited >= self._workers:
                    return
            try:
                kind, item = self._results.get(timeout=0.5)
            except queue.Empty:
                continue
            if kind == "exit":
                self._exited += 1
            elif kind == "crash":
                self._stop.set()
                raise item
            else:
                self._finish(item)

    def _finish(self, done: Done) -> None:
        s = self.summary
        if done.error is None:
            s.succeeded += 1
        else:
            s.failed += 1
            if s.stopped_by is None and stops_batch(done.error):
                s.stopped_by = done.error
        if done.credits is not None:
            s.credits += done.credits
        elif done.error is None:
            s.unpriced += 1
        try:
            with self._signals.held():  # the line and its ledger entry, or neither
                self._write(done)
        except BaseException:  # the reader went away (`| head`), a full disk: stop at once
            self._stop.set()
            raise
        if self._progress is not None:
            self._progress.update(s)

    # -- workers ------------------------------------------------------------------------------

    def _add_worker(self, sender: tuple[Sender, Callable[[], None]] | None = None) -> None:
        """Start one more worker (the caller holds no lock; counted before it starts)."""
        with self._lock:
            n = self._workers
            self._workers += 1
        thread = threading.Thread(
            target=self._work, args=(sender,), name=f"mscli-batch-{n}", daemon=True
        )
        thread.start()

    def _work(self, sender: tuple[Sender, Callable[[], None]] | None) -> None:
        close: Callable[[], None] | None = None
        try:
            send, close = sender if sender is not None else self._make_sender()
            self._loop(send)
        except BaseException as exc:  # a bug: the caller's thread raises it
            self._results.put(("crash", exc))
        finally:
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
            self._results.put(("exit", None))

    def _loop(self, send: Sender) -> None:
        while not self._stop.is_set():
            try:
                line = self._todo.popleft()
            except IndexError:
                return
            with self._lock:
                self._waiting += 1
            try:
                at = self._pacer.take()
            except Stopped:
                return
            finally:
                with self._lock:
                    self._waiting -= 1
            if self._stop.is_set():
                return
            self._started(at)
            try:
                done = send(line)
            except Stopped:  # a retry's wait was cut short by the stop: not written
                return
            finally:
                with self._lock:
                    self._in_flight -= 1
            if done.error is not None and stops_batch(done.error):
                self._stop.set()
            self._results.put(("done", done))

    def _started(self, at: float) -> None:
        """A request starts now; with nobody waiting for the next start, add a worker."""
        s = self.summary
        with self._lock:
            grow = self._waiting == 0 and self._workers < self._max_workers and bool(self._todo)
            self._in_flight += 1
            s.max_in_flight = max(s.max_in_flight, self._in_flight)
            s.started += 1
            if s.first_start is None:
                s.first_start = at
            s.last_start = at
        if grow:
            self._add_worker()


class _HeldSignals:
    """While a finished line is written, the signals that stop mscli (Ctrl-C, and SIGTERM and
    SIGHUP, which app.main turns into the same) wait, so a line is never written without its
    ledger entry. Each then runs its own handler, as it would have. Main thread, POSIX and
    in-process alike; elsewhere (another thread) nothing is held."""

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._holding = False
        self._pending: list[int] = []

    def __enter__(self) -> _HeldSignals:
        for name in self.NAMES:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                previous = signal.getsignal(signum)
                if callable(previous):
                    signal.signal(signum, self._handle)
                    self._previous[signum] = previous
            except (ValueError, OSError):  # not the main thread
                return self
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self._holding:
            self._pending.append(signum)
            return
        self._previous[signum](signum, frame)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._pending:
                signum = self._pending[0]
                self._pending.clear()
                self._previous[signum](signum, None)
