"""The two Rich consoles (stdout for data, stderr for messages), built on the terminal seam.

The colour policy is `Terminal.colour_mode`; in "auto" each console follows whether its own stream
is a terminal, so stdout may be piped while stderr is still a terminal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.theme import Theme

if TYPE_CHECKING:
    from mscli.terminal import Terminal

THEME = Theme(
    {
        "ok": "green",
        "warn": "yellow",
        "fail": "bold red",
        "skip": "dim",
        "muted": "dim",
        "key": "cyan",
        "title": "bold",
        "err.title": "bold red",
        "err.fix": "green",
    }
)


class PipeAwareConsole(Console):
    """A Rich Console that reports a closed pipe instead of exiting.

    Rich's own handler (`Console.on_broken_pipe`) silences the console, points fd 1 at the null
    device and raises SystemExit(1): on the main thread that skips whatever the command does after
    writing (chat records the exchange); on the live region's refresh thread it ends that thread
    and the command goes on writing into the void (a chat kept streaming, and being charged for, a
    reply nobody reads). Here the console goes quiet, its stream is pointed at the null device so
    no later flush fails, `pipe_closed` is set for code that polls it, and on the main thread a
    BrokenPipeError is raised, which the callers and the funnel in `app.main` already handle.
    """

    pipe_closed = False

    def on_broken_pipe(self) -> None:
        import threading

        self.quiet = True
        self.pipe_closed = True
        try:
            fd = self.file.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, fd)
            finally:
                os.close(devnull)
        except (AttributeError, OSError, ValueError):  # not a real file: nothing to redirect
            pass
        if threading.current_thread() is threading.main_thread():
            raise BrokenPipeError(32, "the reader of this output went away")


def make_console(terminal: Terminal, which: str, mode: str, *, json_mode: bool = False) -> Console:
    """The Rich console for the terminal's ``"out"`` or ``"err"`` stream in colour ``mode``."""
    stream = terminal.stdout if which == "out" else terminal.stderr
    kwargs: dict[str, Any] = {
        "file": stream,
        "theme": THEME,
        "highlight": False,
        "soft_wrap": False,
        "width": terminal.width,
        "_environ": dict(terminal.env),
        "force_terminal": terminal.console_is_terminal(which, mode, json_mode=json_mode),
    }
    if json_mode or mode == "never":
        kwargs["color_system"] = None
        kwargs["no_color"] = True
    elif mode == "always":
        kwargs["no_color"] = False  # Rich would read NO_COLOR itself: --color always wins over it
        # Rich turns colour off for TERM=dumb/unknown on its own; --color always (and FORCE_COLOR,
        # which colour_mode already turned into "always") must win over that.
        kwargs["color_system"] = "standard" if terminal.dumb else "auto"
    return PipeAwareConsole(**kwargs)
