"""The totals of a batch run: what the summary line, the --json summary object, the progress bar
and the exit code are made from."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mscli.batch.pacer import Rate
from mscli.errors import MscliError
from mscli.exit_codes import ExitCode


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
    unpriced: int = 0  # succeeded on a model without a known price: not in `credits`
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
            "unpriced_requests": self.unpriced,
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
        unpriced = f"; {self.unpriced} unpriced, not counted" if self.unpriced else ""
        pace = f"{achieved:.0f} of {self.rate.rpm} RPM" if achieved else f"{self.rate.rpm} RPM"
        text = (
            f"batch: {', '.join(parts)} in {self.seconds:.1f} s, {pace} ({self.rate.source}); "
            f"{self.rate_limited} rate-limited (429); ≈ {self.credits:.4f} credits "
            f"(estimate at list price{unpriced}); output: {self.output}"
        )
        if self.interrupted:
            again = "`--resume`" if self.output != "stdout" else "with -o FILE, `--resume`"
            text += f"; interrupted: {again} sends the rest"
        elif self.stopped_by is not None:
            text += f"; stopped: {self.stopped_by.message}"
        return text
