"""Run the real `mscli` in-process through `mscli.app.main` (the error funnel), like the console
script: stdout and stderr captured separately, stdout not a terminal, the exit code as main gives it.
The one runner for every CLI test."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TypeVar

from typer.testing import CliRunner

from mscli.app import main
from mscli.terminal import Terminal


@dataclass
class Result:
    code: int
    stdout_bytes: bytes
    stderr: str

    @property
    def exit_code(self) -> int:
        return self.code

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8")

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def doc(self) -> Any:
        """stdout parsed as JSON (for --json runs)."""
        return json.loads(self.stdout)

    def json(self) -> Any:
        return self.doc

    def error(self) -> dict[str, Any]:
        """The `{"error": {...}}` object that --json writes to stderr."""
        err = json.loads(self.stderr)["error"]
        assert isinstance(err, dict)
        return err


R = TypeVar("R", bound=Result)


def run(
    *args: str,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    stdin_tty: bool = False,
    stderr_tty: bool = False,
    result: type[R] = Result,  # type: ignore[assignment]
) -> R:
    """`stdin_tty=True`: stdin looks like a terminal to mscli (prompts, confirmations), while the
    input still comes from `input`; `stderr_tty=True`: stderr does (spinners, retry notes)."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        terminal = Terminal.system()._replace(stdin_tty=stdin_tty, stderr_tty=stderr_tty)
        try:
            main(list(args), terminal=terminal)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = out.getvalue(), err.getvalue().decode("utf-8", "replace")
    return result(code, stdout, stderr)
