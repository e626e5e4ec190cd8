"""`mscli batch`: many prompts, at exactly the plan's pace, resumable (the engine: `mscli.batch`).

Only typer and the standard library are imported here at module level. Every terminal decision
(streams, is stderr a terminal) is made in `_terminal`, and nowhere else in the batch code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Optional

import typer

from mscli.commands._options import (
    max_tokens_option,
    model_option,
    system_option,
    temperature_option,
)

if TYPE_CHECKING:
    from mscli.batch.runner import Progress
    from mscli.batch.summary import Summary
    from mscli.context import AppContext

HELP = (
    "Run many prompts at the plan's pace: INPUT is JSON lines (`prompt` or `messages`, optional "
    "`id`, `model`, `system`, `temperature`, `max_tokens`, `top_p`, `stop`) or, with --lines, one "
    "prompt per line; `-` reads stdin. Each result is one JSON line (id, model, content, "
    "finish_reason, usage, estimated_credits, error) written as it completes. Requests start at "
    "most one every 60/RPM seconds (--rpm, else the profile's plan, else the server's "
    "x-ratelimit-limit-requests, else 15). A 401, 402 or Ctrl-C stops sending and keeps what "
    "finished; --resume sends only what did not succeed. Exit 0 when every line succeeded, 11 "
    "when some failed."
)


@dataclass
class _Terminal:
    """What `mscli batch` needs from the terminal: its streams and whether to draw progress."""

    read_stdin: Callable[[], str]
    stdout: IO[str]
    stderr: IO[str]
    progress: bool


def _terminal(actx: AppContext) -> _Terminal:
    """THE terminal decisions of `mscli batch`, from the run's terminal seam: stdin and stdout,
    and a progress bar only when stderr is a terminal and not under --json."""
    from mscli.chat.attach import stdin_text

    term = actx.terminal
    return _Terminal(
        read_stdin=lambda: stdin_text(term, limit=None),  # a batch is many messages
        stdout=term.stdout,
        stderr=term.stderr,
        progress=not actx.json and term.stderr_tty,
    )


def command(
    ctx: typer.Context,
    input_: Annotated[
        str,
        typer.Argument(
            help="JSON-lines file of requests (`-` reads stdin).",
            metavar="INPUT",
            show_default=False,
        ),
    ],
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            help="Write the results to this file (fsynced line by line) instead of stdout.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    model: Annotated[
        Optional[str],
        model_option("Model for lines that name none (default: default_model from the config)."),
    ] = None,
    system: Annotated[
        Optional[str], system_option("System prompt for lines that have none.")
    ] = None,
    temperature: Annotated[
        Optional[float],
        temperature_option("Sampling temperature (0 to 2) for lines that set none."),
    ] = None,
    max_tokens: Annotated[
        Optional[int],
        max_tokens_option(
            "Longest reply, in tokens, for lines that set none (also bounds --dry-run's estimate)."
        ),
    ] = None,
    lines: Annotated[
        bool, typer.Option("--lines", help="INPUT is plain text: one prompt per line.")
    ] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid",
            help="Send the valid lines even if some are malformed (each malformed one is written with its error).",
        ),
    ] = False,
    rpm: Annotated[
        Optional[int],
        typer.Option(
            "--rpm",
            min=1,
            help="Requests per minute to hold (default: the profile's plan, else the server's limit, else 15).",
            show_default=False,
        ),
    ] = None,
    parallel: Annotated[
        Optional[int],
        typer.Option(
            "--parallel",
            min=1,
            max=64,
            help="Requests in flight at most (default: as many as the pace needs at the latency seen, up to 8).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Read OUTPUT, skip the ids that succeeded, retry the failed ones, and append.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Send nothing: count the requests, estimate prompt tokens, credits and time.",
        ),
    ] = False,
    json_: Annotated[
        bool,
        typer.Option(
            "--json",
            help='A {"summary": {...}} line on stderr instead of the summary text (--dry-run: the estimate on stdout).',
        ),
    ] = False,
) -> None:
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json_)
    code = run(
        actx,
        _terminal(actx),
        input_=input_,
        output=output,
        model=model,
        system=system,
        temperature=temperature,
        max_tokens=max_tokens,
        plain=lines,
        skip_invalid=skip_invalid,
        rpm=rpm,
        parallel=parallel,
        resume=resume,
        dry_run=dry_run,
    )
    if code:
        raise typer.Exit(code)


def run(
    actx: AppContext,
    term: _Terminal,
    *,
    input_: str,
    output: Path | None,
    model: str | None,
    system: str | None,
    temperature: float | None,
    max_tokens: int | None,
    plain: bool,
    skip_invalid: bool,
    rpm: int | None,
    parallel: int | None,
    resume: bool,
    dry_run: bool,
) -> int:
    """The whole command; returns the exit code (a batch stopped by an error raises it)."""
    from mscli.batch import engine
    from mscli.batch.inputs import Defaults
    from mscli.errors import UsageError

    if resume and output is None:
        raise UsageError("--resume needs -o OUTPUT: the file the earlier run wrote.")
    if output is not None and not resume and not dry_run and _has_content(output):
        raise UsageError(
            f"{output} already has results.",
            fix=f"Add --resume to continue that batch, or write elsewhere (or remove {output} first).",
        )
    text = term.read_stdin() if input_ == "-" else _read_input(Path(input_))
    job = engine.prepare(
        text,
        plain=plain,
        defaults=Defaults(
            model=model, system=system, temperature=temperature, max_tokens=max_tokens
        ),
        default_model=lambda: str(actx.settings.default_model.value),
        skip_invalid=skip_invalid,
        resume=output if resume else None,
    )
    if job.unreadable:
        actx.warn(
            f"{job.unreadable} line(s) of {output} are not batch results; they are left as they are."
        )
    ask_server = rpm is None and not actx.settings.plan.value and not dry_run and bool(job.lines)
    rate = engine.rate(actx, rpm, ask_server=ask_server)
    if dry_run:
        est = engine.estimate(job, rate, actx.settings.price_overrides)
        if actx.json:
            actx.emit_json(est.to_json())
        else:
            term.stdout.write(est.text() + "\n")
            term.stdout.flush()
        return 0

    def preflight() -> None:
        catalogue = actx.catalogue()
        for name in sorted({line.model for line in job.lines if line.model}):
            catalogue.check(name, lenient=True)

    from mscli.batch.output import Writer

    writer = (
        Writer.to_file(output, append=resume)
        if output is not None
        else Writer(term.stdout, durable=False, close=False)
    )
    try:
        summary = engine.execute(
            actx,
            job,
            rate=rate,
            parallel=parallel,
            writer=writer,
            output_name=str(output) if output is not None else "stdout",
            preflight=preflight,
            progress=lambda: _progress(actx, term, len(job.lines)),
            server_asked=ask_server,
        )
    finally:
        writer.close()
    _report(actx, term, summary)
    if summary.stopped_by is not None and not summary.interrupted:
        raise summary.stopped_by
    return summary.exit_code()


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _read_input(path: Path) -> str:
    from mscli.errors import UsageError

    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"Cannot read {path}: {err.strerror or err}") from None
    text = data.decode("utf-8", "replace")
    return text[1:] if text.startswith("\ufeff") else text


def _progress(actx: AppContext, term: _Terminal, total: int) -> Progress | None:
    if not term.progress or not total:
        return None
    from mscli.output.batch_progress import BatchProgress

    return BatchProgress(actx.err, total)


def _report(actx: AppContext, term: _Terminal, summary: Summary) -> None:
    """The summary: one JSON line on stderr under --json, else one line of text."""
    if actx.json:
        from mscli.jsontext import dumps

        actx.terminal.write(term.stderr, dumps({"summary": summary.to_json()}) + "\n")
        return
    actx.err.print(summary.line(), markup=False, highlight=False, soft_wrap=True)
