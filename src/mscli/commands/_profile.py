"""Helpers shared by `mscli config` and `mscli keys`: the run's AppContext with a subcommand's own
--json/--profile, the profile a command acts on, what overrides a stored value, confirmation and the
permission warning.

Module level imports only typer and the stdlib (see commands/__init__.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from mscli.context import AppContext

#: --yes/-y on commands that ask before they delete something.
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

#: Settings that a flag or an environment variable can override, and the variable's name.
ENV_OVERRIDES: dict[str, str] = {
    "api_key": "MODELSTACK_API_KEY",
    "base_url": "MODELSTACK_BASE_URL",
    "timeout": "MSCLI_TIMEOUT",
    "max_retries": "MSCLI_MAX_RETRIES",
    "max_wait": "MSCLI_MAX_WAIT",
}


def app_context(ctx: typer.Context, *, json: bool, profile: str | None = None) -> AppContext:
    """The run's AppContext; a subcommand's own --json and --profile join the global ones."""
    from mscli.context import get_app_context

    actx = get_app_context(ctx, json=json)
    if profile is not None:
        from mscli.config_schema import check_profile_name

        check_profile_name(profile)
        if actx.options.profile != profile:
            actx.options.profile = profile
            actx.__dict__.pop("settings", None)  # resolved again with this profile
    return actx


def target_profile(actx: AppContext, data: dict[str, Any]) -> tuple[str, str]:
    """The profile a command acts on and why: --profile, then MSCLI_PROFILE, then the file's
    active_profile, then "default". (Same order as settings.resolve, without resolving the rest.)"""
    from mscli.config_schema import DEFAULT_PROFILE
    from mscli.settings import profile_from_env

    if actx.options.profile:
        return actx.options.profile, "flag"
    env = profile_from_env(actx.env)  # a bad name is a config error naming the variable
    if env:
        return env, "env:MSCLI_PROFILE"
    active = data.get("active_profile")
    if isinstance(active, str) and active:
        return active, "config"
    return DEFAULT_PROFILE, "default"


def overridden_by(actx: AppContext, key: str) -> str | None:
    """What beats the profile's value of `key` in this run: "flag", "env:NAME", "sandbox" or None."""
    if key in ("api_key", "base_url") and actx.options.sandbox:
        return "sandbox"
    if key in ENV_OVERRIDES and getattr(actx.options, key, None) is not None:
        return "flag"
    name = ENV_OVERRIDES.get(key)
    if name and (actx.env.get(name) or "").strip():
        return f"env:{name}"
    return None


def stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def confirm_or_refuse(actx: AppContext, question: str, *, yes: bool, what: str) -> None:
    """Ask on a terminal; refuse (usage error) when nobody can answer and --yes is missing."""
    if yes:
        return
    from mscli.errors import UsageError

    if actx.json or not stdin_is_tty():
        raise UsageError(f"{what} needs confirmation: add --yes to do it without asking")
    if not typer.confirm(question, default=False, err=True):
        actx.note("Cancelled: nothing was changed.")  # like `rm -i` answered n: exit 0
        raise typer.Exit(0)


def warn_permissions(actx: AppContext) -> None:
    warning = actx.store.permission_warning()
    if warning:
        actx.warn(warning)
