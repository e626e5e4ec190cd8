"""`mscli chat` (being built)."""

from __future__ import annotations

import typer

HELP = "chat (not built yet)."


def command(ctx: typer.Context) -> None:
    raise typer.Exit(1)
