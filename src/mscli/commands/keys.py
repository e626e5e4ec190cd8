"""`mscli keys`: store, list, remove and check API keys.

A key never comes from the command line: `keys set` reads it from a hidden prompt or from standard
input. Stored keys live in the profile's `api_key` in config.toml (0600), or with `--keyring` in the
OS keyring (`api_key_keyring = true` records it); a profile may instead name an `api_key_command`
(`mscli config set api_key_command ...`). Which one wins is `settings.resolve_key`. Keys are only
ever shown masked (`sk_…a1b2`).

Module level imports only typer and the stdlib (see commands/__init__.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mscli.commands._options import JsonOpt, ProfileOpt
from mscli.commands._profile import YesOpt
from mscli.keysource import KEY_COMMAND_TIMEOUT

if TYPE_CHECKING:
    from mscli.context import AppContext
    from mscli.terminal import Terminal

app = typer.Typer(
    help=(
        "Store, list, remove and check API keys. `keys set` reads the key from a hidden prompt or "
        "standard input (never the command line) and stores it in the config file or, with "
        "--keyring, the OS keyring; keys are always shown masked."
    ),
    epilog=(
        "Which key is used, strongest first: --api-key, MODELSTACK_API_KEY, the profile's "
        "api_key_command (`mscli config set api_key_command 'pass show modelstack'`: run without "
        f"a shell, {KEY_COMMAND_TIMEOUT:g} s timeout, the first line of its output), the OS "
        "keyring (`keys set --keyring`), api_key in config.toml."
    ),
    no_args_is_help=True,
)


#: Most we read from standard input: a key is ~35 characters; this only stops a runaway pipe.
_STDIN_LIMIT = 64 * 1024

#: Where a key lives, by the kind of its source tag (`settings.resolve_key`), in a word or two.
_WHERE = {"profile": "config file", "keyring": "OS keyring", "command": "api_key_command"}


def _where(source: str) -> str | None:
    return _WHERE.get(source.split(":", 1)[0])


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
    keyring: Annotated[
        bool,
        typer.Option(
            "--keyring",
            help="Store the key in the OS keyring instead of the config file (needs "
            "`pip install 'mscli\\[keyring]'`); the profile records that it lives there.",
        ),
    ] = False,
) -> None:
    """Store an API key in the profile: from a hidden prompt, or piped on standard input."""
    from mscli import keysource
    from mscli.commands._profile import (
        app_context,
        overridden_by,
        target_profile,
        warn_permissions,
    )
    from mscli.config_schema import (
        check_profile_name,
        get_profile,
        set_profile_value,
        unset_profile_value,
    )
    from mscli.credentials import usable_key
    from mscli.errors import KeySourceError
    from mscli.redact import mask_key
    from mscli.settings import describe_source

    actx = app_context(ctx, json=json_, profile=profile)
    raw, source = _read_key(actx.terminal, stdin)
    key = usable_key(raw, source, modelstack=_modelstack_rules(actx))
    target, _ = target_profile(actx, actx.store.load())
    check_profile_name(target)
    if keyring:  # into the keyring first: the file records it only once it is there
        keysource.keyring_set(target, key, f"keyring:{target}")
    holder: dict[str, Any] = {}

    def apply(data: dict[str, Any]) -> None:
        name, why = target_profile(actx, data)
        check_profile_name(name)
        prof = get_profile(data, name)
        old = prof.get("api_key")
        if keyring:  # one place per key: the keyring now, not the file
            unset_profile_value(data, name, "api_key")
            set_profile_value(data, name, "api_key_keyring", True)
        else:
            set_profile_value(data, name, "api_key", key)
            unset_profile_value(data, name, "api_key_keyring")
        holder.update(
            profile=name,
            why=why,
            replaced=mask_key(old) if isinstance(old, str) and old and old != key else None,
            unchanged=old == key and not keyring,
            active=data.get("active_profile", "default") == name,
            was_in_keyring=prof.get("api_key_keyring") is True,
            command=prof.get("api_key_command"),
        )

    actx.store.update(apply)
    pname = holder["profile"]
    if not keyring and holder["was_in_keyring"]:
        try:  # the key moved to the file: the keyring's copy goes
            keysource.keyring_delete(pname, f"keyring:{pname}")
        except KeySourceError as exc:
            actx.warn(f"{exc.message}; the old key may still be in the OS keyring.")
    where = "the OS keyring" if keyring else str(actx.store.path)
    beaten = overridden_by(actx, "api_key")
    if actx.json:
        actx.emit_json(
            {
                "profile": pname,
                "key": mask_key(key),
                "where": _WHERE["keyring" if keyring else "profile"],
                "path": str(actx.store.path),
                "replaced": holder["replaced"],
                "overridden_by": beaten,
            }
        )
    else:
        from rich.text import Text

        actx.out.print(Text(f"Stored key {mask_key(key)} in profile '{pname}' ({where})."))
        if holder["replaced"]:
            actx.note(f"It replaces {holder['replaced']}.")
        elif holder["unchanged"]:
            actx.note("That key was already stored; nothing changed.")
    warn_permissions(actx)  # a directory mscli may not tighten (MSCLI_CONFIG_DIR) is named here
    if holder["command"]:
        actx.warn(
            f"Profile '{pname}' has an api_key_command, which beats the stored key; remove it to "
            f"use this one: `mscli config unset api_key_command{_opt(pname)}`"
        )
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
    """The profiles with their keys (masked) and where each lives; * marks the profile in use."""
    from mscli.commands._profile import app_context, target_profile, warn_permissions
    from mscli.config_schema import (
        active_profile_name,
        get_profile,
        profile_names,
        stored_value_error,
    )
    from mscli.redact import mask_key
    from mscli.settings import profile_key

    actx = app_context(ctx, json=json_)
    data = actx.store.load()
    in_use, why = target_profile(actx, data)
    active = active_profile_name(data)
    entries: list[dict[str, Any]] = []
    for name in profile_names(data):
        prof = get_profile(data, name)
        stored = prof.get("api_key")
        if stored is not None and not isinstance(stored, str):  # e.g. api_key = 12: not "no key"
            raise stored_value_error("api_key", stored, name, str(actx.store.path))
        key, source, error = profile_key(prof, name, actx.env)
        entries.append(
            {
                "profile": name,
                "in_use": name == in_use,
                "active": name == active,
                "key": mask_key(key) if key else None,
                "where": _where(source),
                "source": source if source != "default" else None,
                "error": actx.redact(error.message) if error is not None else None,
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
        table.add_column("WHERE", style="muted")
        for e in entries:
            shown = e["key"] or ("(unreadable)" if e["error"] else "(no key)")
            table.add_row(
                "*" if e["in_use"] else "",
                Text(str(e["profile"])),
                Text(str(shown)),
                Text(str(e["where"] or "-")),
            )
        actx.out.print(table)
        for e in entries:
            if e["error"]:
                actx.warn(f"profile '{e['profile']}': {e['error']}")
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
    """Remove the stored key from the profile, in the config file and the OS keyring (the key stays
    valid on the server)."""
    import contextlib

    from mscli import keysource
    from mscli.commands._profile import app_context, confirm_or_refuse, target_profile
    from mscli.config_schema import get_profile, unset_profile_value
    from mscli.errors import KeySourceError
    from mscli.redact import mask_key

    actx = app_context(ctx, json=json_, profile=profile)
    data = actx.store.load()
    pname, _ = target_profile(actx, data)
    prof = get_profile(data, pname)
    current = prof.get("api_key")
    in_keyring = prof.get("api_key_keyring") is True
    removed: str | None = None
    places: list[str] = []
    if in_keyring and not current:
        with contextlib.suppress(KeySourceError):  # only to name it; removal reports failures
            current = keysource.keyring_get(pname, f"keyring:{pname}")
    if current or in_keyring:
        what = f"key {mask_key(str(current))}" if current else "the key in the OS keyring"
        confirm_or_refuse(
            actx, f"Remove {what} from profile '{pname}'?", yes=yes, what="removing a key"
        )
        if in_keyring:
            try:
                if keysource.keyring_delete(pname, f"keyring:{pname}"):
                    places.append(_WHERE["keyring"])
            except KeySourceError as exc:
                actx.warn(f"{exc.message}; the key may still be in the OS keyring.")
        holder: dict[str, Any] = {}

        def apply(fresh: dict[str, Any]) -> None:
            old = get_profile(fresh, pname).get("api_key")
            holder["old"] = old
            unset_profile_value(fresh, pname, "api_key")
            unset_profile_value(fresh, pname, "api_key_keyring")

        actx.store.update(apply)
        if holder.get("old"):
            places.insert(0, _WHERE["profile"])
        if places:
            removed = mask_key(str(holder.get("old") or current)) if current else "****"
    env_set = bool((actx.env.get("MODELSTACK_API_KEY") or "").strip())
    command = prof.get("api_key_command")
    if actx.json:
        actx.emit_json(
            {
                "profile": pname,
                "removed": removed,
                "removed_from": places,
                "path": str(actx.store.path),
            }
        )
    else:
        from rich.text import Text

        if removed:
            actx.out.print(
                Text(f"Removed key {removed} from profile '{pname}' ({', '.join(places)}).")
            )
            actx.note(
                "The key still works on the server until you delete it in the dashboard (API Keys)."
            )
        else:
            actx.note(f"No key is stored in profile '{pname}'; nothing changed.")
    if command:
        actx.warn(
            f"Profile '{pname}' still reads its key with api_key_command; remove it with "
            f"`mscli config unset api_key_command{_opt(pname)}`."
        )
    if env_set:
        actx.warn("MODELSTACK_API_KEY is still set in your environment, and mscli will use it.")


def _opt(profile: str) -> str:
    return f" --profile {profile}" if profile != "default" else ""


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
    with actx.client() as client, actx.waiting(f"Checking the key with {client.host}"):
        listing = client.list_models()
        latency, request_id = client.last_latency_ms, client.last_request_id
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
