"""The Typer app as data: every command, subcommand, option and argument with plain help text,
walked recursively from `mscli.app.command()`, for the man page and the README."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import typer
import typer.main

PROG = "mscli"
#: The command that regenerates everything (named in the generated files and in --check's advice).
REGENERATE = "python -m mscli.devtools all"


@dataclass
class Param:
    kind: str  # "option" or "argument"
    opts: list[str]
    secondary: list[str]
    metavar: str | None  # None for flags
    help: str  # plain text (rich markup resolved)
    extra: str  # typer's "[default: ...; required]" suffix, or ""
    required: bool
    multiple: bool


@dataclass
class Command:
    path: list[str]
    help: str  # plain text, paragraphs separated by blank lines
    epilog: str
    params: list[Param]
    is_group: bool
    optional_command: bool = (
        False  # a group that does something on its own (invoke_without_command)
    )
    subcommands: list[Command] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def summary(self) -> str:
        first = self.help.split("\n\n")[0] if self.help else ""
        return " ".join(first.split())

    def walk(self) -> Iterator[Command]:
        yield self
        for sub in self.subcommands:
            yield from sub.walk()

    def usage(self) -> str:
        pieces = [self.name]
        if any(p.kind == "option" for p in self.params):
            pieces.append("[OPTIONS]")
        for p in self.params:
            if p.kind == "argument":
                name = (p.metavar or p.opts[0]) + ("..." if p.multiple else "")
                pieces.append(name if p.required else f"[{name}]")
        if self.is_group:
            pieces.append("[COMMAND [ARGS]...]" if self.optional_command else "COMMAND [ARGS]...")
        return " ".join(pieces)


def _markup_to_plain(text: str) -> str:
    """Typer's rich markup (`[bold]`, `\\[` escapes) as the plain text --help shows."""
    if "[" not in text:
        return text
    from rich.text import Text

    try:
        return Text.from_markup(text).plain
    except Exception:
        return text


def _clean_help(text: str | None) -> str:
    """Help text as paragraphs of single-line plain text (click's `\\f` cut, `\\b` no-rewrap)."""
    if not text:
        return ""
    text = inspect.cleandoc(text.split("\f")[0])
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        if para.startswith("\b"):
            paragraphs.append(para[1:].strip("\n"))
        else:
            paragraphs.append(" ".join(para.split()))
    return _markup_to_plain("\n\n".join(p for p in paragraphs if p))


def _metavar(param: Any, ctx: Any) -> str | None:
    """The metavar --help shows (`app.plain_metavar`, set on the tree by `app.command()`)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.param_type_name == "argument":
        return str(param.metavar or param.name).upper()
    return str(param.metavar) if param.metavar else "VALUE"


def _param(param: Any, ctx: Any) -> Param | None:
    if getattr(param, "hidden", False):
        return None
    raw = param.help if getattr(param, "help", None) else ""
    record = param.get_help_record(ctx)
    extra = ""
    if record is not None and record[1] != raw:
        tail = record[1][len(raw) :] if record[1].startswith(raw) else ""
        extra = tail.strip()
    return Param(
        kind=param.param_type_name,
        opts=sorted(param.opts, key=lambda o: (o.startswith("--"), 0)),
        secondary=list(getattr(param, "secondary_opts", []) or []),
        metavar=_metavar(param, ctx),
        help=_clean_help(raw),
        extra=extra,
        required=bool(param.required),
        multiple=bool(getattr(param, "multiple", False)) or param.nargs == -1,
    )


def _command(cmd: Any, path: list[str], ctx: Any) -> Command:
    params: list[Param] = []
    for p in cmd.get_params(ctx):
        is_help = p.name == "help" and "--help" in p.opts
        if is_help and len(path) > 1:
            continue  # -h/--help is listed once, with the global options
        converted = _param(p, ctx)
        if converted is not None:
            params.append(converted)
    node = Command(
        path=path,
        help=_clean_help(cmd.help),
        epilog=_clean_help(cmd.epilog) if len(path) > 1 else "",
        params=params,
        is_group=hasattr(cmd, "list_commands"),
        optional_command=bool(getattr(cmd, "invoke_without_command", False)),
    )
    if node.is_group:
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            sub_ctx = typer.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
            node.subcommands.append(_command(sub, [*path, name], sub_ctx))
    return node


def command_tree() -> Command:
    """The whole app: every command, subcommand, option and argument, with plain help text."""
    from mscli.app import command

    root = command()
    ctx = typer.Context(root, info_name=PROG, **root.context_settings)
    return _command(root, [PROG], ctx)
