"""The two consoles (stdout for data, stderr for messages) and the colour policy.

Policy, strongest first: --color/MSCLI_COLOR always|never > NO_COLOR / FORCE_COLOR (non-empty) >
TERM=dumb (no colour) > whether the stream is a terminal. Each console detects its own stream, so
stdout may be piped while stderr is still a terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console
from rich.theme import Theme

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

COLOR_CHOICES = ("auto", "always", "never")


def colour_mode(flag: str | None, env: Mapping[str, str] | None = None) -> str:
    """Decide 'always', 'never' or 'auto' from the flag and the environment."""
    env = os.environ if env is None else env
    if flag in ("always", "never"):
        return flag
    from_env = (env.get("MSCLI_COLOR") or "").strip().lower()
    if from_env in ("always", "never"):
        return from_env
    if env.get("NO_COLOR"):
        return "never"
    if env.get("FORCE_COLOR"):
        return "always"
    if env.get("TERM", "") in ("dumb", "unknown"):
        return "never"
    return "auto"


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


def make_console(stream: IO[str], mode: str, *, json_mode: bool = False) -> Console:
    kwargs: dict[str, Any] = {
        "file": stream,
        "theme": THEME,
        "highlight": False,
        "soft_wrap": False,
    }
    if json_mode or mode == "never":
        kwargs["color_system"] = None
        kwargs["no_color"] = True
    elif mode == "always":
        kwargs["force_terminal"] = True
        kwargs["no_color"] = False  # Rich would read NO_COLOR itself: --color always wins over it
        # Rich turns colour off for TERM=dumb/unknown on its own; --color always (and FORCE_COLOR,
        # which colour_mode already turned into "always") must win over that.
        kwargs["color_system"] = (
            "standard" if os.environ.get("TERM", "") in ("dumb", "unknown") else "auto"
        )
    return PipeAwareConsole(**kwargs)


def stdout_console(mode: str, *, json_mode: bool = False) -> Console:
    return make_console(sys.stdout, mode, json_mode=json_mode)


def stderr_console(mode: str) -> Console:
    return make_console(sys.stderr, mode)
