"""`mscli history list|show ID|delete ID`: the saved chat conversations (SQLite in the data dir)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mscli.commands._options import JsonOpt
from mscli.completers import complete_conversation

if TYPE_CHECKING:
    from mscli.context import AppContext

app = typer.Typer(
    help="Saved chat conversations: list them, show one, delete one. Continue one with "
    "`mscli chat --conversation ID` (or `-c` for the latest). Alone, `mscli history` lists them.",
    invoke_without_command=True,
)


@app.callback()
def _default(ctx: typer.Context) -> None:
    """`mscli history` alone lists the conversations, as `mscli history list` does."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_, ctx)


IdArg = Annotated[
    int,
    typer.Argument(
        help="Conversation id (`mscli history list`).",
        autocompletion=complete_conversation,
        metavar="ID",
    ),
]


def _when(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _open(actx: AppContext, create: bool = False) -> Any:
    from mscli.history import HistoryStore

    path = actx.paths.history
    if not create and not path.exists():
        return None
    return HistoryStore.open(path)


def _api(base_url: str | None) -> str:
    """Where a conversation was held, short: "sandbox", or the API's host."""
    if not base_url or base_url == "sandbox":
        return base_url or "?"
    from urllib.parse import urlsplit

    return urlsplit(base_url).netloc.rpartition("@")[2] or base_url


def _not_found(cid: int) -> Exception:
    from mscli.errors import UsageError

    return UsageError(
        f"There is no conversation {cid}.",
        fix="`mscli history list` shows the saved conversations and their ids.",
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    json_: JsonOpt = False,
    limit: Annotated[
        Optional[int], typer.Option("--limit", "-n", min=1, help="Only the N most recent.")
    ] = None,
) -> None:
    """List conversations, most recent first."""
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json_)
    store = _open(actx)
    convs = []
    if store is not None:
        with store:
            convs = store.list(limit)
    if actx.json:
        actx.emit_json({"object": "list", "data": [c.to_json(with_exchanges=False) for c in convs]})
        return
    if not convs:
        actx.note('No saved conversations yet. `mscli chat "Hello"` starts one.')
        return
    from rich.table import Table
    from rich.text import Text

    rows = [
        (
            str(c.id),
            _when(c.updated_at),
            _api(c.base_url),
            ", ".join(c.models) or c.model or "",
            str(c.exchange_count),
        )
        for c in convs
    ]
    heads = ("ID", "UPDATED", "API", "MODEL", "TURNS")
    # Everything but the title keeps its width; the title gets what is left and is shortened
    # (one space of padding each side between columns, none at the edges).
    fixed = sum(max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads))
    title_width = max(8, actx.out.width - fixed - 2 * len(heads))
    table = Table(box=None, pad_edge=False, header_style="title")
    for head in heads:
        table.add_column(head, justify="right" if head in ("ID", "TURNS") else "left", no_wrap=True)
    table.add_column("TITLE", overflow="ellipsis", no_wrap=True, max_width=title_width)
    for row, c in zip(rows, convs, strict=True):
        table.add_row(*row, Text(c.title))
    actx.out.print(table)


@app.command("show")
def show(ctx: typer.Context, conversation_id: IdArg, json_: JsonOpt = False) -> None:
    """Show one conversation: every exchange, with model, usage and how it ended."""
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json_)
    store = _open(actx)
    conv = None
    if store is not None:
        with store:
            conv = store.get(conversation_id)
    if conv is None:
        raise _not_found(conversation_id)
    if actx.json:
        actx.emit_json(conv.to_json())
        return
    from rich.rule import Rule
    from rich.text import Text

    from mscli.output.chat_view import render_markdown

    out = actx.out
    out.print(Text(f"Conversation {conv.id}: {conv.title}", style="title"))
    bits = [f"started {_when(conv.created_at)}", f"model {', '.join(conv.models) or '?'}"]
    if conv.base_url:
        bits.append(conv.base_url)
    out.print(Text(" · ".join(bits), style="muted"))
    system: str | None = None
    for ex in conv.exchanges:
        out.print(Rule(style="muted"))
        if ex.params.get("system") != system:  # the system prompt each exchange was sent with
            system = ex.params.get("system")
            out.print(Text("system: ", style="muted") + _capped(system or "(none)"))
        out.print(Text("You", style="bold cyan"))
        out.print(_capped(ex.prompt))
        out.print()
        meta = [ex.model]
        if ex.completion_tokens is not None:
            meta.append(f"{ex.prompt_tokens or 0}+{ex.completion_tokens} tokens")
        if ex.estimated_credits is not None:
            meta.append(f"≈{ex.estimated_credits:.4f} credits (est.)")
        if ex.status != "complete":
            meta.append(ex.status.upper())
        out.print(
            Text("Assistant", style="bold green") + Text("  " + " · ".join(meta), style="muted")
        )
        if ex.reply:
            render_markdown(out, ex.reply)
        if ex.error:
            out.print(Text(ex.error, style="warn"))
    if not conv.exchanges:
        actx.note("(no exchanges)")


def _capped(text: str) -> Any:
    """A stored prompt as the terminal view shows it: its first `SHOWN_PROMPT_CHARS` characters
    and how many more there are (a 10 MB prompt would take Rich many seconds; --json has it all)."""
    from rich.text import Text

    from mscli.limits import SHOWN_PROMPT_CHARS

    if len(text) <= SHOWN_PROMPT_CHARS:
        return Text(text)
    rest = len(text) - SHOWN_PROMPT_CHARS
    return Text(text[:SHOWN_PROMPT_CHARS]) + Text(
        f"… [{rest:,} more characters; --json shows the whole text]", style="muted"
    )


@app.command("delete")
def delete(
    ctx: typer.Context,
    conversation_id: IdArg,
    json_: JsonOpt = False,
) -> None:
    """Delete one conversation (no prompt: the id is explicit)."""
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json_)
    store = _open(actx)
    deleted = False
    if store is not None:
        with store:
            deleted = store.delete(conversation_id)
    if not deleted:
        raise _not_found(conversation_id)
    if actx.json:
        actx.emit_json({"id": conversation_id, "deleted": True})
    else:
        actx.note(f"Deleted conversation {conversation_id}.")
