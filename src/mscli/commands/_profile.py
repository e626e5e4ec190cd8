"""Helpers shared by `mscli config` and `mscli keys`: the run's AppContext with a subcommand's own
--json/--profile, the profile a command acts on, what overrides a stored value, confirmation and the
permission warning.

Module level imports only typer and the stdlib (see commands/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from mscli.context import AppContext

#: --yes/-y on commands that ask before they delete something.
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def app_context(ctx: typer.Context, *, json: bool, profile: str | None = None) -> AppContext:
    """The run's AppContext; a subcommand's own --json and --profile join the global ones."""
    from mscli.context import get_app_context

    return get_app_context(ctx, json=json, profile=profile)


def target_profile(actx: AppContext, data: dict[str, Any]) -> tuple[str, str]:
    """The profile a command acts on and why (`settings.resolve_profile`, without resolving the
    rest, so a profile holding a bad value can still be repaired)."""
    from mscli.settings import resolve_profile

    chosen = resolve_profile(actx.options.profile, actx.env, data)
    return chosen.value, chosen.source


def overridden_by(actx: AppContext, key: str) -> str | None:
    """What beats the profile's value of `key` in this run: "flag", "env:NAME", "sandbox" or
    None, as the settings resolved it."""
    from mscli.errors import ConfigError
    from mscli.settings import Settings

    if key not in Settings._fields:  # nothing beats it: resolve nothing
        return None
    try:
        resolved = getattr(actx.settings, key, None)
    except ConfigError:
        return None
    source = getattr(resolved, "source", None)
    if source in ("flag", "sandbox") or (isinstance(source, str) and source.startswith("env:")):
        return source
    return None


def confirm_or_refuse(actx: AppContext, question: str, *, yes: bool, what: str) -> None:
    """Ask on a terminal; refuse (usage error) when nobody can answer and --yes is missing."""
    if yes:
        return
    from mscli.errors import UsageError

    if actx.json or not actx.terminal.stdin_tty:
        raise UsageError(f"{what} needs confirmation: add --yes to do it without asking")
    try:
        answer = actx.terminal.confirm(question)
    except EOFError:  # Ctrl-D: like Ctrl-C at a prompt (exit 130), nothing changed
        raise typer.Abort() from None
    if not answer:
        actx.note("Cancelled: nothing was changed.")  # like `rm -i` answered n: exit 0
        raise typer.Exit(0)


def warn_permissions(actx: AppContext) -> None:
    warning = actx.store.permission_warning()
    if warning:
        actx.warn(warning)
