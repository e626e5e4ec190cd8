"""`mscli doctor` (being built)."""

from __future__ import annotations

import typer

HELP = "doctor (not built yet)."


def command(ctx: typer.Context) -> None:
    raise typer.Exit(1)
