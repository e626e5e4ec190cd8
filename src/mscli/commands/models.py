"""`mscli models`: list the served models (cached 10 minutes), and `models check MODEL`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mscli.commands._options import JsonOpt
from mscli.completers import complete_model

if TYPE_CHECKING:
    from mscli.context import AppContext

app = typer.Typer(
    help="List the models the API serves (cached for 10 minutes), or check one before you chat.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def fetch_models(actx: AppContext, *, refresh: bool = False) -> tuple[list[dict[str, Any]], bool]:
    """The model entries (dicts with at least "id"), and whether they came from the cache.

    A fresh cache entry is used unless `refresh`; otherwise the live list is fetched and cached.
    The key is checked first either way (present, well formed), so `models check X && ...` fails
    with no usable key even when the answer could come from the cache; only the server can tell
    a revoked key (`mscli keys check`).
    """
    from mscli import models_cache

    actx.api_key(required=True)
    base_url = actx.settings.base_url.value
    if not refresh:
        cached = models_cache.load(base_url)
        if cached is not None:
            return cached, True
    with actx.client() as client, actx.waiting(f"Asking {client.host} for its models"):
        listing = client.list_models()
    if listing.skipped:
        actx.warn(f"{listing.skipped} entries of the server's model list had no id; left out.")
    entries = [m.model_dump(mode="json", exclude_none=True) for m in listing.data]
    models_cache.save(base_url, entries)
    return entries, False


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
    entries, cached = fetch_models(actx, refresh=refresh)
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

    from mscli.pricing import MODELS

    cols = _columns(entries)
    table = Table(box=None, pad_edge=False, header_style="title")
    headers = {"id": "ID", "owned_by": "PROVIDER", "created": "CREATED"}
    for c in cols:
        table.add_column(headers.get(c, c.upper()), overflow="fold")
    table.add_column("CREDITS / 1M IN·OUT (est.)", justify="right")
    for e in entries:
        info = MODELS.get(str(e["id"]))
        price = (
            f"{info.input_per_m:g} · {info.output_per_m:g}"
            if info and info.input_per_m is not None
            else "—"
        )
        table.add_row(*(_cell(e, c) for c in cols), price)
    actx.out.print(table)
    source = "cache, under 10 min old; --refresh to refetch" if cached else "live"
    actx.note(
        f"{len(entries)} models ({source}). Prices are list prices from the pricing page, estimates only."
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
    from mscli.advice import suggest
    from mscli.context import get_app_context
    from mscli.errors import ModelNotServedError

    actx = get_app_context(ctx, json=json_)
    entries, cached = fetch_models(actx, refresh=refresh)
    known = [str(e["id"]) for e in entries]
    if model not in known and cached:
        entries, cached = fetch_models(actx, refresh=True)  # a stale cache must not say no
        known = [str(e["id"]) for e in entries]
    if model in known:
        if actx.json:
            actx.emit_json({"model": model, "served": True})
        else:
            actx.out.print(f"{model}: served")
        return
    raise ModelNotServedError(
        f"The model {model!r} is not served by {actx.settings.base_url.value}.",
        model=model,
        suggestions=suggest(model, known),
    )
