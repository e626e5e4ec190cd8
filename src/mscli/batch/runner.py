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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mscli.batch.inputs import Line
from mscli.batch.pacer import Pacer, Rate, Stopped
from mscli.errors import MscliError
from mscli.exit_codes import ExitCode

if TYPE_CHECKING:
    from mscli.context import AppContext


def approx_tokens(chars: int) -> int:
    """Tokens of a text of `chars` characters, at about four characters a token."""
    return -(-chars // 4)


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


@dataclass
class Summary:
    """The totals of a run (also its --json summary object)."""

    lines: int  # lines to send in this run
    rate: Rate
    skipped: int = 0  # succeeded in an earlier run (--resume)
    invalid: int = 0  # malformed, written with their error (--skip-invalid)
    succeeded: int = 0
    failed: int = 0
    credits: float = 0.0
    retries: int = 0
    rate_limited: int = 0  # 429 answers seen (each was retried or became the line's error)
    pauses: int = 0  # times every worker was held for a 429's wait
    started: int = 0
    max_in_flight: int = 0
    seconds: float = 0.0
    first_start: float | None = None
    last_start: float | None = None
    interrupted: bool = False
    stopped_by: MscliError | None = None
    output: str = "stdout"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def written(self) -> int:
        return self.succeeded + self.failed

    @property
    def not_sent(self) -> int:
        return self.lines - self.written

    @property
    def achieved_rpm(self) -> float | None:
        """Request starts per minute while sending (the pace actually held)."""
        if self.started < 2 or self.first_start is None or self.last_start is None:
            return None
        span = self.last_start - self.first_start
        return (self.started - 1) * 60.0 / span if span > 0 else None

    def exit_code(self) -> int:
        if self.interrupted:
            return int(ExitCode.INTERRUPTED)
        if self.stopped_by is not None:
            from mscli.advice import exit_code_for

            return int(exit_code_for(self.stopped_by))
        if self.failed or self.invalid or self.not_sent:
            return int(ExitCode.PARTIAL)
        return int(ExitCode.OK)

    def note(self, *, retry: bool, rate_limited: bool) -> None:
        """A failed attempt seen by a worker's client: retried or not, a 429 or not."""
        with self._lock:
            self.retries += int(retry)
            self.rate_limited += int(rate_limited)

    def to_json(self) -> dict[str, Any]:
        achieved = self.achieved_rpm
        return {
            "lines": self.lines + self.skipped + self.invalid,
            "sent": self.started,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "invalid": self.invalid,
            "skipped": self.skipped,
            "not_sent": self.not_sent,
            "rpm": self.rate.rpm,
            "rpm_source": self.rate.source,
            "achieved_rpm": round(achieved, 1) if achieved is not None else None,
            "max_in_flight": self.max_in_flight,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "pauses": self.pauses,
            "estimated_credits": round(self.credits, 6),
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "stopped_by": self.stopped_by.advice_key if self.stopped_by is not None else None,
            "output": self.output,
            "exit_code": self.exit_code(),
        }

    def line(self) -> str:
        """The one summary line for people and logs."""
        parts = [f"{self.succeeded} succeeded", f"{self.failed} failed"]
        if self.invalid:
            parts.append(f"{self.invalid} invalid")
        if self.skipped:
            parts.append(f"{self.skipped} skipped (done earlier)")
        if self.not_sent:
            parts.append(f"{self.not_sent} not sent")
        achieved = self.achieved_rpm
        pace = f"{achieved:.0f} of {self.rate.rpm} RPM" if achieved else f"{self.rate.rpm} RPM"
        text = (
            f"batch: {', '.join(parts)} in {self.seconds:.1f} s, {pace} ({self.rate.source}); "
            f"{self.rate_limited} rate-limited (429); ≈ {self.credits:.4f} credits "
            f"(estimate at list price); output: {self.output}"
        )
        if self.interrupted:
            again = "`--resume`" if self.output != "stdout" else "with -o FILE, `--resume`"
            text += f"; interrupted: {again} sends the rest"
        elif self.stopped_by is not None:
            text += f"; stopped: {self.stopped_by.message}"
        return text


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
        self._signals = _HeldSignals()
        self.summary = summary

    def run(self, first: tuple[Sender, Callable[[], None]] | None = None) -> Summary:
        """Send every line. `first`: the first worker's sender, made by the caller (so that a
        missing key fails before any thread starts)."""
        t0 = self._clock()
        exited = 0
        try:
            if self._todo:
                self._add_worker(first)
            with self._signals:
                try:
                    exited = self._drain(exited)
                except KeyboardInterrupt:
                    self.summary.interrupted = True
                    self._stop.set()
                    self._drain(exited)  # requests in flight finish; a second Ctrl-C leaves at once
        finally:
            self._stop.set()
            self.summary.seconds = self._clock() - t0
            self.summary.pauses = self._pacer.pauses
            if self._progress is not None:
                self._progress.close()
        return self.summary

    # -- the caller's thread ----------------------------------------------------------------------

    def _drain(self, exited: int) -> int:
        while True:
            with self._lock:
                if exited >= self._workers:
                    return exited
            try:
                kind, item = self._results.get(timeout=0.5)
            except queue.Empty:
                continue
            if kind == "exit":
                exited += 1
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
        s.credits += done.credits or 0.0
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


# --- sending through the API client --------------------------------------------------------------


def client_sender(
    actx: AppContext, *, pacer: Pacer, stop: threading.Event, summary: Summary
) -> tuple[Sender, Callable[[], None]]:
    """A sender with its own client (one per worker: a client keeps per-call state), and its close.

    The client's retry policy stays the one policy (`api/retry.py`); only its sleep is routed here:
    after a 429 the wait is a pause for every worker, and a stop cuts any wait short.
    """
    from mscli.api.models import ChatRequest

    client = actx.client()

    def retry_sleep(seconds: float) -> None:
        limited = client.last_status == 429
        summary.note(retry=True, rate_limited=limited)
        if limited:
            pacer.pause(seconds)
        if stop.wait(seconds):
            raise Stopped

    client.policy.sleep = retry_sleep
    overrides = actx.settings.price_overrides

    def send(line: Line) -> Done:
        from mscli.pricing import estimate_credits

        assert line.model is not None
        req = ChatRequest(model=line.model, messages=line.messages, **line.params)
        try:
            result = client.chat(req)
        except MscliError as err:
            if client.last_status == 429:  # the 429 that ended the retries counts too
                summary.note(retry=False, rate_limited=True)
            return Done(line, line.model, error=err)
        model = result.model or line.model
        usage = result.usage
        prompt = usage.prompt_tokens if usage and usage.prompt_tokens is not None else None
        completion = (
            usage.completion_tokens if usage and usage.completion_tokens is not None else None
        )
        shown = None
        if usage is not None:
            total = usage.total_tokens
            if total is None and prompt is not None and completion is not None:
                total = prompt + completion
            shown = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": total,
            }
        if prompt is None:
            prompt = approx_tokens(line.prompt_chars)
        if completion is None:
            completion = approx_tokens(len(result.content))
        return Done(
            line,
            model,
            content=result.content,
            finish_reason=result.finish_reason,
            usage=shown,
            credits=estimate_credits(model, prompt, completion, overrides),
            tokens=(prompt, completion),
        )

    return send, client.close
