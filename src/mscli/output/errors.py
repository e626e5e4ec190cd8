"""Advice → what the user sees: a Rich panel on stderr for people, one JSON object for scripts.

Everything shown passes through the redactor, and server text goes in as rich.text.Text, so a
message containing `[bold]` or an escape sequence is shown literally and never interpreted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mscli.advice import Advice, detail_label
from mscli.jsontext import dumps
from mscli.redact import strip_control

if TYPE_CHECKING:
    from mscli.terminal import Terminal


def _clean(text: str, redact: Any | None) -> str:
    text = strip_control(text)
    return redact(text) if redact is not None else text


def error_object(advice: Advice, redact: Any | None = None) -> dict[str, Any]:
    """The `{"error": {...}}` document written to stderr with --json, from the typed fields only:
    the panel's labels can change without changing it (`details` is keyed by stable detail keys,
    `advice.DETAIL_LABELS` holds the panel's words for them)."""

    def clean(text: str | None) -> str | None:
        return None if text is None else _clean(text, redact)

    return {
        "error": {
            # the six documented keys
            "message": clean(advice.server_message or advice.message),
            "type": advice.key,  # mscli's error class: stable, the same for API and local errors
            "code": int(advice.exit_code),  # the exit code mscli exits with
            "status": advice.status,  # HTTP status, if any
            "advice": clean(" ".join(line.strip() for line in advice.fix)),
            "request_id": clean(advice.request_id),
            # extras
            "retry_after_s": advice.retry_after_s,  # the wait the server asked for, in seconds
            "api_type": advice.api_type,  # the server's error type, e.g. authentication_error
            "title": advice.title,
            "suggestions": [clean(s) for s in advice.suggestions],
            "details": {key: clean(value) for key, value in advice.details},
        }
    }


def print_error_json(terminal: Terminal, advice: Advice, redact: Any | None = None) -> None:
    """The error object as one line on the terminal's stderr."""
    line = dumps(error_object(advice, redact)) + "\n"
    try:
        terminal.write(terminal.stderr, line, escape=False)
    except UnicodeEncodeError:
        terminal.write(
            terminal.stderr, dumps(error_object(advice, redact), ensure_ascii=True) + "\n"
        )


_BULLET = re.compile(r"^(\s*(?:[•*-]|\d+[.)])\s+)(\S.*)$")


def _fix_line(line: str) -> Any:
    """One line of the fix; a list item ("  • text") wraps under its text, not under its bullet."""
    m = _BULLET.match(line)
    if m is None:
        return Text(line, style="err.fix")
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(Text(m.group(1), style="err.fix"), Text(m.group(2), style="err.fix"))
    return grid


def error_panel(advice: Advice, redact: Any | None = None, *, show_exit: bool = True) -> Panel:
    parts: list[Any] = [Text(_clean(advice.message, redact))]
    if advice.details:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="muted", no_wrap=True)
        grid.add_column()
        for key, value in advice.details:
            grid.add_row(f"{detail_label(key)}:", Text(_clean(value, redact)))
        parts.append(Text(""))
        parts.append(grid)
    if advice.fix:
        parts.append(Text(""))
        for i, line in enumerate(advice.fix):
            prefix = "Fix: " if i == 0 else ""
            parts.append(_fix_line(prefix + _clean(line, redact)))
    return Panel(
        Group(*parts),
        title=Text(f"Error: {advice.title}", style="err.title"),
        title_align="left",
        border_style="red",
        subtitle=Text(f"exit {int(advice.exit_code)}", style="muted") if show_exit else None,
        subtitle_align="right",
        expand=False,
    )


def print_error(
    console: Console, advice: Advice, redact: Any | None = None, *, show_exit: bool = True
) -> None:
    """Print the panel; `show_exit=False` where the program goes on (the interactive session)."""
    console.print(error_panel(advice, redact, show_exit=show_exit))
