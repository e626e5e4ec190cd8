"""Placeholder (being built)."""

from __future__ import annotations

import typer

app = typer.Typer(help="(not built yet)")


@app.command()
def todo() -> None:
    raise typer.Exit(1)
