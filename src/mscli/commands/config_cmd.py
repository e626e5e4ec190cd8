"""`mscli config`: where the config file is, what every setting resolves to and why, and editing
profiles. API keys are stored with `mscli keys`, never with `config set`.

Module level imports only typer and the stdlib (see commands/__init__.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mscli.commands._options import JsonOpt, ProfileOpt
from mscli.commands._profile import (
    YesOpt,
    app_context,
    confirm_or_refuse,
    overridden_by,
    target_profile,
    warn_permissions,
)
from mscli.completers import complete_config_key, complete_profile, complete_settable_key
from mscli.settings import describe_source

app = typer.Typer(
    help=(
        "Show and change the config file: settings per profile (base_url, default_model, timeout, "
        "max_retries, max_wait, plan, log_history, allow_insecure_http, trusted_host, "
        "api_key_command) and which profile is active. "
        "API keys: see `mscli keys`. Alone, `mscli config` is `mscli config show`."
    ),
    invoke_without_command=True,
)


@app.callback()
def _summary(ctx: typer.Context) -> None:
    """`mscli config` alone shows the effective settings, as `mscli config show` does."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(show, ctx)


#: Names `config get` accepts: the profile keys plus the resolved profile itself.
_GET_NAMES = (
    "profile",
    "api_key",
    "api_key_command",
    "base_url",
    "default_model",
    "timeout",
    "max_retries",
    "max_wait",
    "plan",
    "log_history",
    "allow_insecure_http",
)


# --- helpers -----------------------------------------------------------------------------------


def write_line(actx: Any, text: str) -> None:
    """One plain line on stdout (no Rich wrapping or markup: safe for `$(...)`)."""
    actx.terminal.write(actx.terminal.stdout, text + "\n")


def _check_env_profile(actx: Any) -> None:
    """MSCLI_PROFILE is checked like --profile before a command acts on the profile it names
    (a bad one is a config error naming the variable; --profile beats it, as everywhere)."""
    if actx.options.profile is None:
        from mscli.settings import profile_from_env

        profile_from_env(actx.env)


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


# --- commands ----------------------------------------------------------------------------------


@app.command("path")
def path_cmd(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Print the path of the config file (it may not exist yet)."""
    actx = app_context(ctx, json=json_)
    store = actx.store
    if actx.json:
        actx.emit_json(
            {
                "path": str(store.path),
                "directory": str(store.directory),
                "exists": store.path.exists(),
            }
        )
        return
    write_line(actx, str(store.path))


@app.command("show")
def show(ctx: typer.Context, json_: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """Every effective setting and where it came from (flag, env, profile, default); the key is masked."""
    from mscli.config_schema import unknown_keys

    actx = app_context(ctx, json=json_, profile=profile)
    settings = actx.settings
    rows = settings.as_rows()
    data = actx.store.load()
    pname = settings.profile.value
    unknown_top, unknown = unknown_keys(data, pname)
    profile_exists = pname in (data.get("profiles") or {})
    if actx.json:
        actx.emit_json(
            {
                "config_path": settings.config_path,
                "config_exists": actx.store.exists(),
                "profile": pname,
                "profile_source": settings.profile.source,
                "profile_exists": profile_exists,
                "settings": {
                    name: {"value": value, "source": source} for name, value, source in rows
                },
                "ignored_keys": unknown,
                "ignored_top_level_keys": unknown_top,
                "key_error": actx.redact(settings.key_error.message)
                if settings.key_error
                else None,
            }
        )
        warn_permissions(actx)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="title")
    table.add_column("SETTING", style="key", no_wrap=True)
    table.add_column("VALUE", overflow="fold")
    table.add_column("SOURCE", style="muted")
    for name, value, source in rows:
        table.add_row(name, Text(_shown(value)), Text(describe_source(source, name)))
    actx.out.print(table)
    if settings.key_error is not None:
        actx.warn(f"No key: {actx.redact(settings.key_error.message)}")
    exists = "" if actx.store.exists() else " (does not exist yet)"
    actx.note(f"Config file: {settings.config_path}{exists}")
    if not profile_exists and pname != "default":
        actx.warn(
            f"profile '{pname}' is not in the config file; only defaults and the environment apply."
        )
    if unknown_top:
        actx.note(
            f"Ignored keys at the top of the config file (unknown to this mscli): "
            f"{', '.join(unknown_top)}"
        )
    if unknown:
        actx.note(
            f"Ignored keys in profile '{pname}' (unknown to this mscli): {', '.join(unknown)}"
        )
    warn_permissions(actx)


@app.command("get")
def get(
    ctx: typer.Context,
    key: Annotated[
        str,
        typer.Argument(
            help="Setting name, e.g. default_model.",
            show_default=False,
            metavar="KEY",
            autocompletion=complete_config_key,
        ),
    ],
    json_: JsonOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """Print the effective value of one setting (what mscli will use). The key is shown masked."""
    from mscli.errors import UsageError

    actx = app_context(ctx, json=json_, profile=profile)
    if key not in _GET_NAMES:
        raise UsageError(
            f"unknown setting {key!r}; known settings: {', '.join(_GET_NAMES)}", key=key
        )
    settings = actx.settings
    rows = {name: (value, source) for name, value, source in settings.as_rows()}
    value, source = rows[key]
    if actx.json:
        actx.emit_json(
            {"key": key, "value": value, "source": source, "profile": settings.profile.value}
        )
        return
    if value is None:
        actx.note(f"{key} is not set (profile '{settings.profile.value}').")
        return
    write_line(actx, _shown(value))
    if source != "default":  # like `config show`'s SOURCE column; the built-in default goes unsaid
        actx.note(f"(from the {describe_source(source, key)})")


@app.command("set")
def set_(
    ctx: typer.Context,
    key: Annotated[
        str,
        typer.Argument(
            help=(
                "Setting name: base_url, default_model, timeout, max_retries, max_wait, plan, "
                "log_history, allow_insecure_http, api_key_command."
            ),
            show_default=False,
            metavar="KEY",
            autocompletion=complete_settable_key,
        ),
    ],
    value: Annotated[str, typer.Argument(help="New value.", show_default=False, metavar="VALUE")],
    json_: JsonOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """Store a setting in the profile (created if needed). API keys: `mscli keys set`."""
    from mscli.config_schema import KNOWN_KEYS, get_profile, parse_value, set_profile_value
    from mscli.errors import UsageError

    actx = app_context(ctx, json=json_, profile=profile)
    _check_env_profile(actx)
    if key == "api_key":
        raise UsageError(
            "API keys are not set with `config set` (the command line is visible to other users "
            "and kept in shell history): run `mscli keys set`, which reads the key from a hidden "
            "prompt or from standard input.",
            key=key,
        )
    if key not in KNOWN_KEYS:
        settable = [k for k, spec in KNOWN_KEYS.items() if spec.settable]
        raise UsageError(f"unknown config key {key!r}; known keys: {', '.join(settable)}", key=key)
    typed = parse_value(key, value)
    holder: dict[str, Any] = {}

    def apply(data: dict[str, Any]) -> None:
        name, _ = target_profile(actx, data)
        new = typed
        if key == "base_url":  # the host policy, as every command will apply it to this URL
            from mscli.api.urls import decide_host

            profile = get_profile(data, name)
            trusted = profile.get("trusted_host")
            new = (
                decide_host(
                    typed,
                    allow_insecure_http=profile.get("allow_insecure_http") is True,
                    trusted_host=trusted if isinstance(trusted, str) else None,
                )
                .check()
                .url
            )
        set_profile_value(data, name, key, new)
        holder.update(profile=name, value=new)

    actx.store.update(apply)
    pname, stored = holder["profile"], holder["value"]
    beaten = overridden_by(actx, key)
    if actx.json:
        actx.emit_json(
            {
                "profile": pname,
                "key": key,
                "value": stored,
                "path": str(actx.store.path),
                "overridden_by": beaten,
            }
        )
    else:
        from rich.text import Text

        actx.out.print(Text(f"Set {key} = {_shown(stored)} in profile '{pname}'."))
    if beaten:
        actx.warn(f"The {describe_source(beaten, key)} overrides this value in this shell.")
    if key == "base_url" and holder["value"] != typed:
        actx.note(f"(normalised from {typed})")
    _warn_still_invalid(actx, pname)


@app.command("unset")
def unset(
    ctx: typer.Context,
    key: Annotated[
        str,
        typer.Argument(
            help="Setting name to remove from the profile.",
            show_default=False,
            metavar="KEY",
            autocompletion=complete_config_key,
        ),
    ],
    json_: JsonOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """Remove a setting from the profile, so the default (or the environment) applies again."""
    from mscli.config_schema import KNOWN_KEYS, get_profile, unset_profile_value
    from mscli.errors import UsageError

    actx = app_context(ctx, json=json_, profile=profile)
    _check_env_profile(actx)
    holder: dict[str, Any] = {}

    def apply(data: dict[str, Any]) -> None:
        name, _ = target_profile(actx, data)
        if key not in KNOWN_KEYS and key not in get_profile(data, name):
            raise UsageError(
                f"unknown config key {key!r}; known keys: {', '.join(KNOWN_KEYS)}", key=key
            )
        holder.update(profile=name, removed=unset_profile_value(data, name, key))

    if not actx.store.exists():
        apply({})  # validates the key; nothing to remove and nothing to write
    else:
        actx.store.update(apply)
    pname, removed = holder["profile"], holder["removed"]
    if actx.json:
        actx.emit_json(
            {"profile": pname, "key": key, "removed": removed, "path": str(actx.store.path)}
        )
        _warn_still_invalid(actx, pname)
        return
    from rich.text import Text

    if removed:
        actx.out.print(Text(f"Removed {key} from profile '{pname}'."))
    else:
        actx.note(f"{key} was not set in profile '{pname}'; nothing changed.")
    _warn_still_invalid(actx, pname)


def _warn_still_invalid(actx: Any, profile: str) -> None:
    """After a repair: the values of the profile that are still bad, one warning each."""
    from mscli.config_schema import problems

    if not actx.store.exists():
        return
    for err in problems(actx.store.load(), profile, str(actx.store.path)):
        fix = err.facts.get("fix")
        actx.warn(f"{err.message}" + (f"; {fix}" if fix else ""))


@app.command("profiles")
def profiles(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the profiles; * marks the one in use."""
    from mscli.config_schema import active_profile_name, get_profile, profile_names
    from mscli.redact import mask_key

    actx = app_context(ctx, json=json_)
    _check_env_profile(actx)
    data = actx.store.load()
    in_use, why = target_profile(actx, data)
    active = active_profile_name(data)
    names = profile_names(data)
    listed = names if in_use in names else [*names, in_use]
    entries: list[dict[str, Any]] = []
    for name in listed:
        prof = get_profile(data, name)
        key = prof.get("api_key")
        entries.append(
            {
                "name": name,
                "in_use": name == in_use,
                "active": name == active,
                "exists": name in names,
                "key": mask_key(key) if isinstance(key, str) and key else None,
                "base_url": prof.get("base_url"),
                "default_model": prof.get("default_model"),
            }
        )
    if actx.json:
        actx.emit_json(
            {"active": active, "in_use": in_use, "in_use_source": why, "profiles": entries}
        )
        return
    if not names:
        actx.note(
            f"No profiles in the config file yet (in use: '{in_use}', defaults only). "
            "Store a key with `mscli keys set`."
        )
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="title")
    table.add_column(" ", no_wrap=True)
    table.add_column("PROFILE", style="key", no_wrap=True)
    table.add_column("KEY", no_wrap=True)
    table.add_column("BASE URL", overflow="fold")
    table.add_column("DEFAULT MODEL", overflow="fold")
    for e in entries:
        label = str(e["name"]) + ("" if e["exists"] else " (not in file)")
        table.add_row(
            "*" if e["in_use"] else "",
            Text(str(label)),
            Text(str(e["key"] or "-")),
            Text(str(e["base_url"] or "-")),
            Text(str(e["default_model"] or "-")),
        )
    actx.out.print(table)
    if in_use != active:
        actx.note(
            f"In use: '{in_use}' (from the {describe_source(why, 'profile')}); "
            f"the file's active profile is '{active}'."
        )


@app.command("use")
def use(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="Profile to make active.",
            show_default=False,
            metavar="NAME",
            autocompletion=complete_profile,
        ),
    ],
    create: Annotated[
        bool, typer.Option("--create", help="Create the profile if it does not exist.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Make a profile the active one (written to the config file as active_profile)."""
    from mscli.config_schema import DEFAULT_PROFILE, check_profile_name, profile_names
    from mscli.errors import UsageError

    actx = app_context(ctx, json=json_)
    check_profile_name(name)

    def apply(data: dict[str, Any]) -> None:
        names = profile_names(data)
        if name not in names and name != DEFAULT_PROFILE:
            if not create:
                known = ", ".join(names) or "none yet"
                raise UsageError(
                    f"there is no profile {name!r} (profiles: {known}); create it with "
                    f"`mscli config use {name} --create` or `mscli --profile {name} keys set`",
                    profile=name,
                )
            data.setdefault("profiles", {})[name] = {}
        data["active_profile"] = name

    actx.store.update(apply)
    env = (actx.env.get("MSCLI_PROFILE") or "").strip()
    if actx.json:
        actx.emit_json(
            {
                "active": name,
                "path": str(actx.store.path),
                "overridden_by": "env:MSCLI_PROFILE" if env else None,
            }
        )
    else:
        from rich.text import Text

        actx.out.print(Text(f"Active profile: {name}"))
    if env and env != name:
        actx.warn(f"MSCLI_PROFILE={env} is set and overrides the active profile in this shell.")


@app.command("delete-profile")
def delete_profile_cmd(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="Profile to delete, with its settings and key.",
            show_default=False,
            metavar="NAME",
            autocompletion=complete_profile,
        ),
    ],
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Delete a profile and everything in it (its API key included)."""
    from mscli.config_schema import delete_profile, get_profile, profile_names
    from mscli.errors import UsageError

    actx = app_context(ctx, json=json_)
    data = actx.store.load()
    if name not in profile_names(data):
        known = ", ".join(profile_names(data)) or "none"
        raise UsageError(f"there is no profile {name!r} (profiles: {known})", profile=name)
    in_keyring = get_profile(data, name).get("api_key_keyring") is True
    had_key = bool(get_profile(data, name).get("api_key")) or in_keyring
    what = " and its API key" if had_key else ""
    confirm_or_refuse(
        actx, f"Delete profile '{name}'{what}?", yes=yes, what=f"deleting profile '{name}'"
    )
    holder: dict[str, Any] = {}

    def apply(fresh: dict[str, Any]) -> None:
        holder["was_active"] = fresh.get("active_profile") == name
        holder["deleted"] = delete_profile(fresh, name)

    actx.store.update(apply)
    if in_keyring:  # the profile's key goes with it, from the OS keyring too
        from mscli import keysource
        from mscli.errors import KeySourceError

        try:
            keysource.keyring_delete(name, f"keyring:{name}")
        except KeySourceError as exc:
            actx.warn(f"{exc.message}; its key may still be in the OS keyring.")
    if actx.json:
        actx.emit_json(
            {
                "deleted": name if holder["deleted"] else None,
                "had_key": had_key,
                "was_active": holder["was_active"],
            }
        )
        return
    from rich.text import Text

    actx.out.print(Text(f"Deleted profile '{name}'."))
    if holder["was_active"]:
        actx.note("It was the active profile; the 'default' profile is active now.")
    if had_key:
        actx.note(
            "Its key still works on the server until you delete it in the dashboard (API Keys)."
        )
