"""`mscli models`: list the served models (cached 10 minutes), and `models check MODEL`."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from mscli.commands._options import JsonOpt
from mscli.completers import complete_model

app = typer.Typer(
    help="List the models the API serves (cached for 10 minutes), or check one before you chat.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _columns(entries: list[dict[str, Any]]) -> list[str]:
    """id and owner first, then whatever else the server gives (in first-seen order)."""
    cols: list[str] = ["id"]
    if any("owned_by" in e for e in entries):
        cols.append("owned_by")
    for e in entries:
        for k in e:
            if k not in cols and k != "object" and not isinstance(e[k], (dict, list)):
                cols.append(k)
    return cols


def _cell(entry: dict[str, Any], column: str) -> str:
    value = entry.get(column, "")
    if column == "created" and isinstance(value, (int, float)) and value > 0:
        import datetime as _dt

        return _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc).strftime("%Y-%m-%d")
    return str(value)


def _fit(
    cols: list[str], rows: list[dict[str, str]], headers: dict[str, str], width: int
) -> set[str]:
    """The columns shown on `width` columns: the id always, then provider, price, the rest, each
    while it fits whole (a column narrower than its cells would fold them)."""
    from rich.cells import cell_len

    def need(c: str) -> int:
        return max([cell_len(headers.get(c, c.upper()))] + [cell_len(r[c]) for r in rows])

    order = ["id", "owned_by", cols[-1], *(c for c in cols[:-1] if c not in ("id", "owned_by"))]
    shown: set[str] = set()
    used = -2  # the first column has no padding before it
    for c in order:
        if c not in cols:
            continue
        if c == "id" or used + 2 + need(c) <= width:
            shown.add(c)
            used += 2 + need(c)
    return shown


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context,
    json_: JsonOpt = False,
    ids: Annotated[
        bool, typer.Option("--ids", help="One model id per line (for scripts).")
    ] = False,
    filter_: Annotated[
        Optional[str],
        typer.Option("--filter", "-f", help="Only ids or owners containing TEXT.", metavar="TEXT"),
    ] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ignore the 10-minute cache.")] = False,
) -> None:
    """List the models the API serves."""
    if ctx.invoked_subcommand is not None:
        return
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json_)
    entries, cached = actx.catalogue().entries(refresh=refresh)
    if filter_:
        needle = filter_.lower()
        entries = [
            e
            for e in entries
            if needle in str(e.get("id", "")).lower()
            or needle in str(e.get("owned_by", "")).lower()
        ]
    entries = sorted(entries, key=lambda e: (str(e.get("owned_by", "")), str(e["id"])))
    if actx.json:
        actx.emit_json({"object": "list", "cached": cached, "data": entries})
        return
    if not entries and not ids:
        actx.note(
            f"No served model matches {filter_!r}." if filter_ else "The server lists no models."
        )
        return
    if ids:
        actx.terminal.write(actx.terminal.stdout, "".join(f"{e['id']}\n" for e in entries))
        return
    from rich.table import Table

    from mscli.pricing import price_of

    price_col = "CREDITS / 1M IN·OUT (est.)"
    headers = {"id": "ID", "owned_by": "PROVIDER", "created": "CREATED", price_col: price_col}
    rows = []
    for e in entries:
        price = price_of(str(e["id"]), actx.settings.price_overrides)
        row = {c: _cell(e, c) for c in _columns(entries)}
        row[price_col] = f"{price[0]:g} · {price[1]:g}" if price else "—"
        rows.append(row)
    cols = [*_columns(entries), price_col]
    shown = _fit(cols, rows, headers, actx.out.width)
    table = Table(box=None, pad_edge=False, header_style="title")
    for c in cols:
        if c in shown:  # no cell is ever folded: an id is copied into commands
            table.add_column(
                headers.get(c, c.upper()),
                no_wrap=True,
                justify="right" if c == price_col else "left",
            )
    for row in rows:
        table.add_row(*(row[c] for c in cols if c in shown))
    actx.out.print(table)
    left_out = [headers.get(c, c.upper()) for c in cols if c not in shown]
    if left_out:
        actx.note(f"Too narrow for {', '.join(left_out)}: widen the terminal, or use --json.")
    source = "cache, under 10 min old; --refresh to refetch" if cached else "live"
    actx.note(
        f"{_plural(len(entries), 'model')} ({source}). Prices are list prices from the pricing page, estimates only."
    )


@app.command("check")
def check(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(
            help="Model id to check, e.g. claude-sonnet-4-5.", autocompletion=complete_model
        ),
    ],
    json_: JsonOpt = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ignore the 10-minute cache.")] = False,
) -> None:
    """Exit 0 when MODEL is served, else 6 with the closest ids (check before you chat)."""
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json_)
    actx.catalogue().check(model, refresh=refresh)
    if actx.json:
        actx.emit_json({"model": model, "served": True})
    else:
        actx.out.print(f"{model}: served")
