"""`mscli roles`: the `[roles.NAME]` tables of config.toml (`mscli chat --role NAME`, `/role`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mscli.commands._options import JsonOpt

if TYPE_CHECKING:
    from mscli.config_schema import Role
    from mscli.context import AppContext

HELP = (
    "List the roles of config.toml: [roles.NAME] tables that set system, model, temperature and "
    "max_tokens together, for `mscli chat --role NAME` (explicit flags still win) and `/role NAME` "
    "in a session."
)


def load(actx: AppContext) -> dict[str, Role]:
    """The config file's roles, checked (a bad one is a config error naming file, role and key)."""
    from mscli.config_schema import roles

    return roles(actx.store.load(), str(actx.store.path))


def command(ctx: typer.Context, json_: JsonOpt = False) -> None:
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json_)
    found = load(actx)
    if actx.json:
        actx.emit_json({"object": "list", "data": [r.to_json() for r in found.values()]})
        return
    if not found:
        actx.note(
            f"No roles yet: add a [roles.NAME] table to {actx.store.path} "
            '(e.g. system = "You review code", model = "gpt-5.1", temperature = 0.2).'
        )
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="title")
    for head in ("ROLE", "MODEL", "TEMPERATURE", "MAX TOKENS"):
        table.add_column(head, no_wrap=True)
    table.add_column("SYSTEM", overflow="ellipsis", no_wrap=True)
    for r in found.values():
        table.add_row(
            r.name,
            r.model or "",
            "" if r.temperature is None else f"{r.temperature:g}",
            "" if r.max_tokens is None else str(r.max_tokens),
            Text(" ".join((r.system or "").split())),
        )
    actx.out.print(table)
