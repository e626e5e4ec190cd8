"""The console-script entry point. `mscli --version` is answered here, before Typer and Rich are
imported (about 15 ms instead of 60-90); everything else goes to the app and its error funnel."""

from __future__ import annotations

import sys


def version_line(as_json: bool = False) -> str:
    """``mscli X.Y.Z``, or with --json one JSON object (``{"version": "X.Y.Z"}``)."""
    from mscli import __version__

    if as_json:
        return f'{{"version": "{__version__}"}}\n'
    return f"mscli {__version__}\n"


def main(argv: list[str] | None = None) -> None:
    from mscli.terminal import Terminal  # the standard library only

    args = sys.argv[1:] if argv is None else argv
    terminal = Terminal.system()
    if args in (["--version"], ["-V"]):
        terminal.write(terminal.stdout, version_line())
        return
    if sorted(args) in (["--json", "--version"], ["--json", "-V"]):
        terminal.write(terminal.stdout, version_line(as_json=True))
        return
    from mscli.app import main as app_main

    app_main(argv, terminal)
