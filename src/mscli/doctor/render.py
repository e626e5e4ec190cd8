"""The doctor's human output: one line per check as it finishes, then one summary line.

    ✓ dns            api.modelstack.cc → 104.21.3.4                          (3 ms)
    ✗ auth           the key from $MODELSTACK_API_KEY was rejected (HTTP 401)  (41 ms)
                     fix: Check that the key is right ...
    – models         skipped: auth failed

    Root cause: auth: the key ... was rejected (HTTP 401). Fix: ...   (exit 3)

Server text reaches the console only as `rich.text.Text` (never parsed as markup), already redacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from mscli.doctor.base import CheckResult
from mscli.redact import strip_control

if TYPE_CHECKING:
    from rich.console import Console

    from mscli.doctor.runner import DoctorReport

SYMBOLS = {"ok": ("✓", "ok"), "warn": ("!", "warn"), "fail": ("✗", "fail"), "skip": ("–", "skip")}
NAME_WIDTH = 14


def _clean(text: str) -> str:
    return strip_control(text)


def _duration(ms: float) -> str:
    if ms < 1:
        return "<1 ms"
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def result_lines(result: CheckResult, width: int) -> list[Text]:
    """One check as lines: symbol, name, detail and duration; a long detail (and the fix of a
    warning or failure) wraps with a hanging indent under the detail column."""
    symbol, style = SYMBOLS[result.status]
    indent = NAME_WIDTH + 3
    room = max(20, width - indent)
    detail = Text(_clean(result.detail), style="skip" if result.status == "skip" else "")
    duration = None if result.status == "skip" else f"({_duration(result.duration_ms)})"
    head = Text()
    head.append(f"{symbol} ", style=style)
    head.append(
        f"{result.name:<{NAME_WIDTH}} ", style="title" if result.status != "skip" else "skip"
    )
    out: list[Text] = []
    blocks = [detail]
    if result.status in ("warn", "fail") and result.fix:
        fix = Text("fix: ", style="muted")
        fix.append(_clean(result.fix), style="err.fix" if result.status == "fail" else "")
        blocks.append(fix)
    for n, block in enumerate(blocks):
        lines = _wrap(block, room)
        if n == 0 and duration is not None:  # the duration stays whole: "(12 ms)", never "(12\nms)"
            if lines and lines[-1].cell_len + 2 + len(duration) <= room:
                lines[-1].append(f"  {duration}", style="muted")
            else:
                lines.append(Text(duration, style="muted"))
        for i, line in enumerate(lines):
            prefix = head if n == 0 and i == 0 else Text(" " * indent)
            out.append(Text.assemble(prefix, line))
    return out


def _wrap(text: Text, width: int) -> list[Text]:
    from rich.console import Console

    console = Console(width=width, no_color=True, color_system=None)
    lines = text.wrap(console, width, overflow="fold")
    for line in lines:
        line.rstrip()
    return list(lines)


def print_result(console: Console, result: CheckResult) -> None:
    for line in result_lines(result, console.width):
        console.print(line, soft_wrap=True)


def print_header(console: Console, base_url: str | None, profile: str | None) -> None:
    head = Text("mscli doctor", style="title")
    if base_url:
        head.append(f"  {base_url}", style="muted")
    if profile:
        head.append(f"  (profile {profile})", style="muted")
    console.print(head)
    console.print()


def summary_line(report: DoctorReport) -> Text:
    cause = report.root_cause
    if cause is not None:
        detail = _clean(cause.detail).rstrip(".")
        line = Text()
        line.append("Root cause: ", style="fail")
        line.append(f"{cause.name}: {detail}. ")
        if cause.fix:
            line.append("Fix: ", style="err.fix")
            line.append(_clean(cause.fix))
        line.append(f"  (exit {report.exit_code})", style="muted")
        return line
    warns = report.warnings
    if warns:
        names = ", ".join(w.name for w in warns)
        text = Text(
            f"No failures; {len(warns)} warning{'s' if len(warns) > 1 else ''} ({names}): see ! above.",
            style="warn",
        )
        text.append(" --strict makes warnings fail.", style="muted")
        return text
    passed = sum(1 for r in report.results if r.status == "ok")
    return Text(f"All {passed} checks passed.", style="ok")


def print_summary(console: Console, report: DoctorReport) -> None:
    console.print()
    for line in _wrap(summary_line(report), console.width):
        console.print(line, soft_wrap=True)
