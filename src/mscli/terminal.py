"""The terminal seam (httpie's `Environment`, gh's `IOStreams`): the run's three streams, whether
each is a terminal, the width, the environment variables and the colour decision.

`app.main` builds one with `Terminal.system()` (the only code that looks at `sys.std*`, `isatty()`
and `os.environ`) and hands it to the app context; tests build one with `Terminal.fake()` and run
the whole CLI in-process, terminal or pipe, without a pseudo-terminal; the interactive session's
line editor reads and draws through it too (`line_editor()`, a pipe input in tests). Standard
library only at import time.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import IO, Any, NamedTuple

COLOUR_MODES = ("auto", "always", "never")


def _isatty(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Terminal(NamedTuple):
    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]
    env: Mapping[str, str] = MappingProxyType({})
    stdin_tty: bool = False
    stdout_tty: bool = False
    stderr_tty: bool = False
    #: columns when known (a terminal, or COLUMNS); None lets Rich decide
    width: int | None = None
    #: prompt_toolkit's input and output for the interactive session (tests: a pipe input and a
    #: DummyOutput); None: built on stdin and stdout by `line_editor()`
    line_input: Any = None
    line_output: Any = None

    @classmethod
    def system(cls) -> Terminal:
        """The process's own streams and environment (called once per run, by `app.main`)."""
        env = dict(os.environ)
        stdin: Any = sys.stdin if sys.stdin is not None else io.StringIO("")
        stdout: Any = sys.stdout if sys.stdout is not None else open(os.devnull, "w")  # noqa: SIM115
        stderr: Any = sys.stderr if sys.stderr is not None else open(os.devnull, "w")  # noqa: SIM115
        return cls(
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
            stdin_tty=_isatty(stdin),
            stdout_tty=_isatty(stdout),
            stderr_tty=_isatty(stderr),
            width=_width(env),
        )

    @classmethod
    def fake(
        cls,
        *,
        stdin: str = "",
        env: Mapping[str, str] | None = None,
        tty: bool = False,
        stdin_tty: bool | None = None,
        stdout_tty: bool | None = None,
        stderr_tty: bool | None = None,
        width: int = 100,
        line_input: Any = None,
        line_output: Any = None,
    ) -> Terminal:
        """A terminal for tests: in-memory streams; `tty=True` makes all three look interactive."""
        return cls(
            stdin=io.StringIO(stdin),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            env=dict(env or {}),
            stdin_tty=tty if stdin_tty is None else stdin_tty,
            stdout_tty=tty if stdout_tty is None else stdout_tty,
            stderr_tty=tty if stderr_tty is None else stderr_tty,
            width=width,
            line_input=line_input,
            line_output=line_output,
        )

    # --- questions every command asks -----------------------------------------------------

    @property
    def interactive(self) -> bool:
        """A person can answer a prompt: stdin and stderr are both terminals."""
        return self.stdin_tty and self.stderr_tty

    @property
    def controlling(self) -> IO[str]:
        """The stream whose terminal settings are the terminal's: stdin when it is one, else
        stdout (`cat notes | mscli chat "summarize"` on a terminal: stdin is the pipe)."""
        return self.stdin if self.stdin_tty else self.stdout

    def line_editor(self) -> tuple[Any, Any]:
        """prompt_toolkit's (input, output): the given ones, or built on stdin and stdout."""
        from prompt_toolkit.input import create_input
        from prompt_toolkit.output import create_output

        stdin: Any = self.stdin
        stdout: Any = self.stdout
        return self.line_input or create_input(stdin), self.line_output or create_output(stdout)

    def getenv(self, name: str) -> str | None:
        """A variable's value, or None when unset or blank."""
        value = self.env.get(name)
        return value if value is not None and value.strip() else None

    def colour_mode(self, flag: str | None) -> str:
        return colour_mode(flag, self.env)

    def console_is_terminal(self, which: str, mode: str, *, json_mode: bool = False) -> bool:
        """Whether the console of the ``"out"`` or ``"err"`` stream in colour ``mode`` counts
        as a terminal (`output.console.make_console`): the stream is one, or --color always
        says so. Answerable without building the console (Rich)."""
        if mode == "always" and not json_mode:
            return True
        return self.stdout_tty if which == "out" else self.stderr_tty

    @property
    def dumb(self) -> bool:
        return _dumb(self.env)

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question on stderr, read the answer from stdin (default no). End of
        input raises EOFError, as Ctrl-D at a prompt does."""
        self.write(self.stderr, f"{question} [y/N]: ")
        line = self.stdin.readline()
        if not line:
            self.write(self.stderr, "\n")
            raise EOFError
        return line.strip().lower() in ("y", "yes")

    def write(self, stream: IO[str], text: str, *, escape: bool = True) -> None:
        """Write and flush. A stream that cannot encode the text (PYTHONIOENCODING=ascii) gets
        it with backslash escapes instead of a crash; `escape=False` raises UnicodeEncodeError
        instead (JSON has its own escapes)."""
        try:
            stream.write(text)
        except UnicodeEncodeError:
            if not escape:
                raise
            encoding = getattr(stream, "encoding", None) or "ascii"
            stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()


def colour_mode(flag: str | None, env: Mapping[str, str]) -> str:
    """'always', 'never' or 'auto'. Strongest first: --color > MSCLI_COLOR > NO_COLOR /
    FORCE_COLOR (non-empty) > TERM=dumb; 'auto' leaves it to whether the stream is a terminal."""
    if flag in ("always", "never"):
        return flag
    from_env = (env.get("MSCLI_COLOR") or "").strip().lower()
    if from_env in ("always", "never"):
        return from_env
    if env.get("NO_COLOR"):
        return "never"
    if env.get("FORCE_COLOR"):
        return "always"
    if _dumb(env):
        return "never"
    return "auto"


def _dumb(env: Mapping[str, str]) -> bool:
    return env.get("TERM", "") in ("dumb", "unknown")


def _width(env: Mapping[str, str]) -> int | None:
    columns = (env.get("COLUMNS") or "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None
