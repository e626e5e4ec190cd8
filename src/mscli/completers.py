"""Value completion for the shell: model ids, profile names, conversation ids, shells.

These run at tab time, inside `mscli` started by the completion script with `_MSCLI_COMPLETE` set,
so every one of them is fast, makes no network call, imports only the standard library (plus the
stdlib-only mscli modules that own the files read) and never fails: any problem means "no
suggestions", never a traceback in the user's prompt.

Use them as Typer autocompletion callbacks::

    typer.Option("--model", "-m", autocompletion=complete_model)

Each takes the word being completed and returns the matching values, optionally as
``(value, help)`` pairs (zsh, fish and PowerShell show the help next to the value).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from mscli.paths import Paths

#: What a completer returns: values, or (value, help) pairs.
Completion = Union[str, tuple[str, str]]

#: Shells `mscli completion` knows, in the order shown.
SHELLS: tuple[tuple[str, str], ...] = (
    ("bash", "Bash 4.4+ (bash-completion)"),
    ("zsh", "Z shell"),
    ("fish", "fish shell"),
    ("powershell", "PowerShell 5.1+ / pwsh"),
)

#: Most conversations offered at once (newest first).
MAX_CONVERSATIONS = 200


def _paths() -> Paths | None:
    """Where the files are, from the process's environment: completers run at tab time, without
    an AppContext. None when that fails (no suggestions)."""
    try:
        from mscli.paths import Paths
        from mscli.terminal import Terminal

        return Paths.from_env(Terminal.system().env)
    except Exception:
        return None


def _matches(values: list[Completion], incomplete: str) -> list[Completion]:
    out: list[Completion] = []
    for item in values:
        value = item[0] if isinstance(item, tuple) else item
        if value.startswith(incomplete):
            out.append(item)
    return out


# --- models ----------------------------------------------------------------------------------


def model_ids(paths: Paths | None) -> list[str]:
    """Model ids from the models cache (every base URL, newest first); the documented catalogue
    when nothing is cached yet. No network call."""
    try:
        from mscli.catalogue import all_cached_ids

        ids = all_cached_ids(paths.cache_dir) if paths is not None else []
    except Exception:
        ids = []
    if ids:
        return ids
    try:
        from mscli.pricing import CATALOGUE

        return [m.id for m in CATALOGUE]
    except Exception:
        return []


def complete_model(incomplete: str) -> list[Completion]:
    """Model ids starting with `incomplete`."""
    return _matches(list(model_ids(_paths())), incomplete)


# --- profiles --------------------------------------------------------------------------------


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 only
        import tomli as tomllib
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return data if isinstance(data, dict) else {}


def profile_names(paths: Paths | None) -> list[tuple[str, str]]:
    """(name, help) for every profile in config.toml, in file order; [] when there is none."""
    if paths is None:
        return []
    try:
        from mscli.config_store import CONFIG_FILENAME

        data = _load_toml(paths.config_dir / CONFIG_FILENAME)
    except Exception:
        return []
    profiles = data.get("profiles")
    if not isinstance(profiles, dict):
        return []
    active = data.get("active_profile")
    out: list[tuple[str, str]] = []
    for name, table in profiles.items():
        if not isinstance(name, str) or not isinstance(table, dict):
            continue
        notes = []
        if name == active:
            notes.append("active")
        base_url = table.get("base_url")
        if isinstance(base_url, str) and base_url:
            notes.append(base_url)
        out.append((name, ", ".join(notes) or "profile"))
    return out


def complete_profile(incomplete: str) -> list[Completion]:
    """Profile names from config.toml starting with `incomplete`."""
    return _matches(list(profile_names(_paths())), incomplete)


def role_names(paths: Paths | None) -> list[tuple[str, str]]:
    """(name, help) for every [roles.NAME] table in config.toml, in file order; [] on any
    trouble (a bad role is reported when it is used, not at tab time)."""
    if paths is None:
        return []
    try:
        from mscli.config_store import CONFIG_FILENAME

        tables = _load_toml(paths.config_dir / CONFIG_FILENAME).get("roles")
        if not isinstance(tables, dict):
            return []
        out: list[tuple[str, str]] = []
        for name, table in tables.items():
            if isinstance(name, str) and isinstance(table, dict):
                model = table.get("model")
                out.append((name, f"role, {model}" if isinstance(model, str) else "role"))
        return out
    except Exception:
        return []


def complete_role(incomplete: str) -> list[Completion]:
    """Role names from config.toml starting with `incomplete`."""
    return _matches(list(role_names(_paths())), incomplete)


# --- config keys -----------------------------------------------------------------------------


def config_keys(*, settable_only: bool = False) -> list[tuple[str, str]]:
    """(name, description) of the profile settings `mscli config` knows."""
    try:
        from mscli.config_schema import KNOWN_KEYS

        return [
            (name, spec.help)
            for name, spec in KNOWN_KEYS.items()
            if spec.settable or not settable_only
        ]
    except Exception:
        return []


def complete_config_key(incomplete: str) -> list[Completion]:
    """Setting names (`config get/unset KEY`) starting with `incomplete`."""
    return _matches(list(config_keys()), incomplete)


def complete_settable_key(incomplete: str) -> list[Completion]:
    """Setting names `config set KEY` accepts (not api_key: that is `mscli keys set`)."""
    return _matches(list(config_keys(settable_only=True)), incomplete)


# --- conversations ---------------------------------------------------------------------------


def conversation_ids(path: Path | None) -> list[tuple[str, str]]:
    """(id, title) of the stored conversations in the database at `path` (`Paths.history`),
    newest first. Read-only; [] on any problem."""
    if path is None:
        return []
    try:
        if not path.is_file():
            return []
    except OSError:
        return []
    import sqlite3

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.2)
    except Exception:
        return []
    try:
        conn.execute("PRAGMA query_only = ON")
        tables = [
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        table = next((t for t in ("conversations", "conversation") if t in tables), None)
        if table is None:
            return []
        columns = [str(r[1]) for r in conn.execute(f'PRAGMA table_info("{table}")')]
        if "id" not in columns:
            return []
        title = next((c for c in ("title", "name", "summary") if c in columns), None)
        order = next(
            (c for c in ("updated_at", "last_used", "modified_at", "created_at") if c in columns),
            "rowid",
        )
        select = f'"{title}"' if title else "''"
        rows = conn.execute(
            f'SELECT id, {select} FROM "{table}" ORDER BY "{order}" DESC LIMIT ?',
            (MAX_CONVERSATIONS,),
        ).fetchall()
    except Exception:
        return []
    finally:
        conn.close()
    out: list[tuple[str, str]] = []
    for ident, label in rows:
        if ident is None:
            continue
        text = " ".join(str(label or "").split())
        out.append((str(ident), text[:60] or "conversation"))
    return out


def complete_conversation(incomplete: str) -> list[Completion]:
    """Conversation ids from the history database starting with `incomplete`."""
    paths = _paths()
    return _matches(list(conversation_ids(paths.history if paths else None)), incomplete)


# --- shells ----------------------------------------------------------------------------------


def complete_shell(incomplete: str) -> list[Completion]:
    """bash, zsh, fish, powershell."""
    return _matches(list(SHELLS), incomplete)


#: --color values, with what each means.
COLOR_MODES: tuple[tuple[str, str], ...] = (
    ("auto", "colour when the stream is a terminal (default)"),
    ("always", "colour even when piped"),
    ("never", "no colour"),
)


def complete_color(incomplete: str) -> list[Completion]:
    return _matches(list(COLOR_MODES), incomplete)


def doctor_checks() -> list[tuple[str, str]]:
    """(name, title) of every doctor check, in order (the registry imports no network stack)."""
    try:
        from mscli.doctor.checks import CHECKS
    except Exception:
        return []
    return [(c.name, c.title) for c in CHECKS]


def complete_check_names(incomplete: str) -> list[Completion]:
    """Doctor check names for --only/--skip; in a comma-separated list, the last name completes
    and the names already given are not offered again."""
    head, comma, last = incomplete.rpartition(",")
    given = set(head.split(",")) if comma else set()
    prefix = head + comma
    return [
        (prefix + name, title)
        for name, title in doctor_checks()
        if name.startswith(last) and name not in given
    ]
