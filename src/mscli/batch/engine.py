"""One batch from input text to summary: what the command calls (`prepare`, `rate`, `estimate`,
`execute`). Input and output streams and the progress view are chosen by the command and passed in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscli.batch.inputs import Defaults, Invalid, Line, approx_tokens, id_key, parse
from mscli.batch.output import Writer, read_previous, record
from mscli.batch.pacer import Pacer, Rate, resolve_rate, server_limit
from mscli.batch.runner import Batch, Done, Progress, Sender
from mscli.batch.sender import client_sender
from mscli.batch.summary import Summary
from mscli.errors import MscliError, UsageError

if TYPE_CHECKING:
    from mscli.context import AppContext

#: Workers when --parallel is not given: the pacer then keeps as many in flight as the latency
#: needs to hold the pace, up to this many.
DEFAULT_MAX_PARALLEL = 8

#: Invalid lines listed in the usage error (the rest are counted).
SHOWN_INVALID = 10


@dataclass
class Job:
    lines: list[Line]  # to send in this run
    invalid: list[Invalid] = field(default_factory=list)
    skipped: int = 0  # succeeded in an earlier run
    unreadable: int = 0  # lines of the earlier output that are not batch results


def prepare(
    text: str,
    *,
    plain: bool,
    defaults: Defaults,
    default_model: Callable[[], str],
    skip_invalid: bool,
    resume: Path | None,
) -> Job:
    """Parse and check every line (nothing is sent); with `resume`, leave out the ids that succeeded."""
    lines, invalid = parse(text, plain=plain, defaults=defaults, default_model=default_model)
    if invalid and not skip_invalid:
        shown = "; ".join(str(i) for i in invalid[:SHOWN_INVALID])
        more = len(invalid) - SHOWN_INVALID
        raise UsageError(
            f"The input has {len(invalid)} malformed line{'s' if len(invalid) > 1 else ''}, nothing "
            f"was sent: {shown}{f'; and {more} more' if more > 0 else ''}",
            fix="Fix the lines shown, or pass --skip-invalid to send the valid ones (each invalid "
            "line is then written with its error).",
        )
    job = Job(lines, invalid)
    if resume is not None:
        prev = read_previous(resume)
        job.lines = [line for line in lines if line.key not in prev.succeeded]
        job.skipped = len(lines) - len(job.lines)
        job.unreadable = prev.unreadable
        job.invalid = [i for i in invalid if id_key(i.id) not in prev.succeeded]
    return job


def rate(actx: AppContext, flag: int | None, *, ask_server: bool) -> Rate:
    """The RPM to hold: --rpm, the profile's plan, the server's header (one GET /models, only when
    `ask_server`), the lowest plan."""

    def ask() -> int | None:
        with actx.client() as client:
            return server_limit(client.request_raw("GET", "/models").headers)

    return resolve_rate(flag, actx.settings.plan.value, ask if ask_server else None)


@dataclass
class Estimate:
    """--dry-run: what the batch would send, cost (at list price) and take at the pace."""

    requests: int
    skipped: int
    invalid: int
    prompt_tokens: int
    credits_min: float | None  # None: some line's model has no known price
    credits_max: float | None  # None: that, or some line has no max_tokens (no upper bound)
    rate: Rate
    unpriced: int = 0  # lines whose model has no known price

    @property
    def seconds(self) -> float:
        return max(0, self.requests - 1) * self.rate.interval

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "requests": self.requests,
            "skipped": self.skipped,
            "invalid": self.invalid,
            "prompt_tokens_estimate": self.prompt_tokens,
            "estimated_credits": {
                "min": round(self.credits_min, 6) if self.credits_min is not None else None,
                "max": round(self.credits_max, 6) if self.credits_max is not None else None,
                "unpriced_requests": self.unpriced,
            },
            "rpm": self.rate.rpm,
            "rpm_source": self.rate.source,
            "seconds": round(self.seconds, 1),
        }

    def text(self) -> str:
        if self.credits_min is None:
            credits = f"credits unknown ({self.unpriced} requests on a model without a known price)"
        else:
            top = (
                f"{self.credits_max:.4f}"
                if self.credits_max is not None
                else "no upper bound (some lines set no max_tokens; --max-tokens N gives one)"
            )
            credits = f"≈ {self.credits_min:.4f} to {top} credits (estimate at list price, up to max_tokens)"
        extra = [f"{self.skipped} skipped: done earlier"] if self.skipped else []
        if self.invalid:
            extra.append(f"{self.invalid} invalid: not sent")
        note = f" ({', '.join(extra)})" if extra else ""
        return (
            f"Dry run, nothing sent: {self.requests} requests{note}; ≈ {self.prompt_tokens} prompt "
            f"tokens; {credits}; at least {self.seconds:.1f} s at {self.rate.rpm} RPM ({self.rate.source})."
        )


def estimate(job: Job, rate: Rate, overrides: Mapping[str, tuple[float, float]]) -> Estimate:
    from mscli.pricing import estimate_credits

    prompt_tokens, low, high, unpriced = 0, 0.0, 0.0, 0
    bounded = True
    for line in job.lines:
        assert line.model is not None
        tokens = approx_tokens(line.prompt_chars)
        prompt_tokens += tokens
        most = line.params.get("max_tokens")
        bounded = bounded and most is not None
        least = estimate_credits(line.model, tokens, 0, overrides)
        if least is None:
            unpriced += 1
            continue
        low += least
        high += estimate_credits(line.model, tokens, int(most or 0), overrides) or 0.0
    known = unpriced == 0
    return Estimate(
        len(job.lines),
        job.skipped,
        len(job.invalid),
        prompt_tokens,
        low if known else None,
        high if known and bounded else None,
        rate,
        unpriced,
    )


def execute(
    actx: AppContext,
    job: Job,
    *,
    rate: Rate,
    parallel: int | None,
    writer: Writer,
    output_name: str,
    preflight: Callable[[], None] | None = None,
    progress: Callable[[], Progress | None] | None = None,
    server_asked: bool = False,
) -> Summary:
    """Send the job's lines at the pace, write each result, record the ledger; never raises for a
    line's error (it is in the summary and the output). `progress` makes the progress view, once
    nothing can fail before the batch runs (so no bar is left on screen above an error)."""
    from mscli import ledger

    stop = threading.Event()
    pacer = Pacer(rate.interval, wait=stop.wait)
    summary = Summary(
        len(job.lines), rate, skipped=job.skipped, invalid=len(job.invalid), output=output_name
    )
    if server_asked:
        pacer.take()  # the GET that read the server's limit was a request too
    if preflight is not None and job.lines:
        pacer.take()
        preflight()
    s = actx.settings

    def to_doc(done: Done) -> dict[str, Any]:
        return record(
            done.line.id,
            model=done.model,
            content=done.content,
            finish_reason=done.finish_reason,
            usage=done.usage,
            estimated_credits=done.credits,
            error=error_doc(actx, done.error) if done.error is not None else None,
        )

    def write(done: Done) -> None:
        writer.write(to_doc(done))
        if done.error is None and done.tokens is not None:
            ledger.record(
                s.paths.ledger,
                s.base_url.value,
                done.model,
                *done.tokens,
                overrides=s.price_overrides,
            )

    for bad in job.invalid:  # --skip-invalid: each one written with its error
        writer.write(record(bad.id, error=error_doc(actx, UsageError(str(bad)))))

    def make_sender() -> tuple[Sender, Callable[[], None]]:
        return client_sender(actx, pacer=pacer, stop=stop, summary=summary)

    # the first client is made here: a missing or malformed key fails before any thread starts
    first = make_sender() if job.lines else None
    batch = Batch(
        job.lines,
        make_sender=make_sender,
        max_workers=parallel or DEFAULT_MAX_PARALLEL,
        pacer=pacer,
        stop=stop,
        summary=summary,
        write=write,
        progress=progress() if progress is not None else None,
    )
    return batch.run(first)


def error_doc(actx: AppContext, err: MscliError) -> dict[str, Any]:
    """The same object as a --json error's `error` member."""
    from mscli.advice import advise
    from mscli.output.errors import error_object

    doc: dict[str, Any] = error_object(advise(err, actx.advice_context()), actx.redact)["error"]
    return doc
