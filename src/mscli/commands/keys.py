"""`mscli keys`: store, list, remove and check API keys.

A key never comes from the command line: `keys set` reads it from a hidden prompt or from standard
input. Stored keys live in the profile's `api_key` in config.toml (0600). Keys are only ever shown
masked (`sk_…a1b2`).

Module level imports only typer and the stdlib (see commands/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mscli.commands._options import JsonOpt, ProfileOpt
from mscli.commands._profile import YesOpt

if TYPE_CHECKING:
    from mscli.context import AppContext
    from mscli.terminal import Terminal

app = typer.Typer(
    help=(
        "Store, list, remove and check API keys. `keys set` reads the key from a hidden prompt or "
        "standard input (never the command line); keys are always shown masked."
    ),
    no_args_is_help=True,
)


#: Most we read from standard input: a key is ~35 characters; this only stops a runaway pipe.
_STDIN_LIMIT = 64 * 1024


def _read_key(terminal: Terminal, from_stdin: bool) -> tuple[str, str]:
    """(raw key, source): a hidden prompt on a terminal, else standard input."""
    from mscli.errors import KeyMissingError

    if not from_stdin and terminal.stdin_tty:
        source = "prompt"
        raw = ""
        for attempt in range(3):  # an empty Enter asks again (a slipped key), like passwd
            if attempt:
                typer.echo("No key entered. Paste it, or press Ctrl-C to cancel.", err=True)
            try:
                raw = typer.prompt(
                    "API key (input hidden)",
                    hide_input=True,
                    err=True,
                    default="",
                    show_default=False,
                )
            except typer.Abort as exc:
                # Click turns both Ctrl-C and Ctrl-D (end of input) into Abort. Ctrl-C stays an
                # interruption (exit 130); Ctrl-D means "no key", at once.
                if not isinstance(exc.__context__, EOFError):
                    raise
                raw = ""
                break
            if raw.strip():
                break
    else:
        raw = terminal.stdin.read(_STDIN_LIMIT)
        source = "stdin"
    if not raw.strip():
        where = "standard input" if source == "stdin" else "the prompt"
        raise KeyMissingError(
            f"no API key was given on {where}; paste the key, or pipe it: "
            "`printenv MODELSTACK_API_KEY | mscli keys set`",
            source=source,
        )
    return raw, source


def _modelstack_rules(actx: AppContext) -> bool:
    """Whether the ModelStack key rules apply to the profile's API (the host policy decides;
    when the settings cannot be resolved, the strict rules)."""
    from mscli.errors import ConfigError

    try:
        return actx.settings.host.modelstack
    except ConfigError:
        return True


@app.command("set")
def set_(
    ctx: typer.Context,
    json_: JsonOpt = False,
    profile: ProfileOpt = None,
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the key from standard input even on a terminal.")
    ] = False,
) -> None:
    """Store an API key in the profile: from a hidden prompt, or piped on standard input."""
    from mscli.commands._profile import (
        app_context,
        overridden_by,
        target_profile,
        warn_permissions,
    )
    from mscli.config_schema import check_profile_name, get_profile, set_profile_value
    from mscli.credentials import usable_key
    from mscli.redact import mask_key
    from mscli.settings import describe_source

    actx = app_context(ctx, json=json_, profile=profile)
    raw, source = _read_key(actx.terminal, stdin)
    key = usable_key(raw, source, modelstack=_modelstack_rules(actx))
    holder: dict[str, Any] = {}

    def apply(data: dict[str, Any]) -> None:
        name, why = target_profile(actx, data)
        check_profile_name(name)
        old = get_profile(data, name).get("api_key")
        set_profile_value(data, name, "api_key", key)
        holder.update(
            profile=name,
            why=why,
            replaced=mask_key(old) if isinstance(old, str) and old and old != key else None,
            unchanged=old == key,
            active=data.get("active_profile", "default") == name,
        )

    actx.store.update(apply)
    pname = holder["profile"]
    beaten = overridden_by(actx, "api_key")
    if actx.json:
        actx.emit_json(
            {
                "profile": pname,
                "key": mask_key(key),
                "path": str(actx.store.path),
                "replaced": holder["replaced"],
                "overridden_by": beaten,
            }
        )
    else:
        from rich.text import Text

        actx.out.print(
            Text(f"Stored key {mask_key(key)} in profile '{pname}' ({actx.store.path}).")
        )
        if holder["replaced"]:
            actx.note(f"It replaces {holder['replaced']}.")
        elif holder["unchanged"]:
            actx.note("That key was already stored; nothing changed.")
    warn_permissions(actx)  # a directory mscli may not tighten (MSCLI_CONFIG_DIR) is named here
    if beaten:
        actx.warn(
            f"The {describe_source(beaten)} overrides the stored key in this shell"
            + (
                f"; unset it to use this one: unset {beaten[4:]}"
                if beaten.startswith("env:")
                else "."
            )
        )
    if not actx.json:
        flag = f"--profile {pname} " if holder["why"] == "flag" else ""
        if holder["why"] == "flag" and not holder["active"]:
            actx.note(
                f"Profile '{pname}' is not the active one: make it so with `mscli config use {pname}`."
            )
        actx.note(f"Check it against the API with `mscli {flag}keys check`.")


@app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """The profiles with their keys (masked); * marks the profile in use."""
    from mscli.commands._profile import app_context, target_profile, warn_permissions
    from mscli.config_schema import (
        active_profile_name,
        get_profile,
        profile_names,
        stored_value_error,
    )
    from mscli.redact import mask_key

    actx = app_context(ctx, json=json_)
    data = actx.store.load()
    in_use, why = target_profile(actx, data)
    active = active_profile_name(data)
    entries: list[dict[str, Any]] = []
    for name in profile_names(data):
        key = get_profile(data, name).get("api_key")
        if key is not None and not isinstance(key, str):  # e.g. api_key = 12: not "no key"
            raise stored_value_error("api_key", key, name, str(actx.store.path))
        entries.append(
            {
                "profile": name,
                "in_use": name == in_use,
                "active": name == active,
                "key": mask_key(key) if isinstance(key, str) and key else None,
            }
        )
    env_key = (actx.env.get("MODELSTACK_API_KEY") or "").strip()
    overrides: list[dict[str, str]] = []
    if actx.options.api_key:
        overrides.append({"source": "flag", "key": mask_key(actx.options.api_key)})
    if env_key:
        overrides.append({"source": "env:MODELSTACK_API_KEY", "key": mask_key(env_key)})
    if actx.json:
        actx.emit_json(
            {
                "in_use": in_use,
                "in_use_source": why,
                "active": active,
                "profiles": entries,
                "overrides": overrides,
            }
        )
        warn_permissions(actx)
        return
    from rich.table import Table
    from rich.text import Text

    if not entries:
        actx.note("No keys stored. Store one with `mscli keys set`.")
    else:
        table = Table(box=None, pad_edge=False, header_style="title")
        table.add_column(" ", no_wrap=True)
        table.add_column("PROFILE", style="key", no_wrap=True)
        table.add_column("KEY", no_wrap=True)
        for e in entries:
            table.add_row(
                "*" if e["in_use"] else "",
                Text(str(e["profile"])),
                Text(str(e["key"] or "(no key)")),
            )
        actx.out.print(table)
    for o in overrides:
        where = "--api-key" if o["source"] == "flag" else o["source"][4:]
        actx.note(f"{where} is set ({o['key']}) and overrides the stored keys in this shell.")
    warn_permissions(actx)


@app.command("remove")
def remove(
    ctx: typer.Context,
    json_: JsonOpt = False,
    profile: ProfileOpt = None,
    yes: YesOpt = False,
) -> None:
    """Remove the stored key from the profile (the key stays valid on the server)."""
    from mscli.commands._profile import app_context, confirm_or_refuse, target_profile
    from mscli.config_schema import get_profile, unset_profile_value
    from mscli.redact import mask_key

    actx = app_context(ctx, json=json_, profile=profile)
    data = actx.store.load()
    pname, _ = target_profile(actx, data)
    current = get_profile(data, pname).get("api_key")
    removed: str | None = None
    if current:
        shown = mask_key(str(current))
        confirm_or_refuse(
            actx, f"Remove key {shown} from profile '{pname}'?", yes=yes, what="removing a key"
        )
        holder: dict[str, Any] = {}

        def apply(fresh: dict[str, Any]) -> None:
            old = get_profile(fresh, pname).get("api_key")
            holder["old"] = old
            unset_profile_value(fresh, pname, "api_key")

        actx.store.update(apply)
        old = holder.get("old")
        removed = mask_key(str(old)) if old else None
    env_set = bool((actx.env.get("MODELSTACK_API_KEY") or "").strip())
    if actx.json:
        actx.emit_json({"profile": pname, "removed": removed, "path": str(actx.store.path)})
    else:
        from rich.text import Text

        if removed:
            actx.out.print(Text(f"Removed key {removed} from profile '{pname}'."))
            actx.note(
                "The key still works on the server until you delete it in the dashboard (API Keys)."
            )
        else:
            actx.note(f"No key is stored in profile '{pname}'; nothing changed.")
    if env_set:
        actx.warn("MODELSTACK_API_KEY is still set in your environment, and mscli will use it.")


@app.command("check")
def check(ctx: typer.Context, json_: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """Check the key mscli would use: its format, then a live GET /v1/models. Exit 0 when valid."""
    import time

    from mscli.commands._profile import app_context
    from mscli.redact import mask_key
    from mscli.settings import describe_source

    actx = app_context(ctx, json=json_, profile=profile)
    key = actx.api_key(required=True)  # KeyMissingError / KeyFormatError before any request
    assert key is not None
    settings = actx.settings
    source = settings.api_key.source
    started = time.perf_counter()
    with actx.client() as client:
        listing = client.list_models()
        latency = getattr(client, "last_latency_ms", None)
        request_id = getattr(client, "last_request_id", None)
    if latency is None:
        latency = (time.perf_counter() - started) * 1000
    count = len(listing.data)
    result = {
        "valid": True,
        "key": mask_key(key),
        "source": source,
        "profile": settings.profile.value,
        "base_url": settings.base_url.value,
        "latency_ms": round(float(latency), 1),
        "model_count": count,
        "request_id": request_id,
    }
    if actx.json:
        actx.emit_json(result)
        return
    from rich.text import Text

    actx.out.print(Text("Key is valid.", style="ok"))
    lines = [
        ("key", mask_key(key)),
        ("from", describe_source(source)),
        ("base URL", str(settings.base_url.value)),
        ("latency", f"{float(latency):.0f} ms"),
        ("models", str(count)),
    ]
    if request_id:
        lines.append(("request id", str(request_id)))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        actx.out.print(Text(f"  {label + ':':<{width + 1}} {value}"))
