"""The facts beyond the app that the man page and README list: the files mscli reads and writes
(paths from the code's own functions, with `~` for home, Linux and macOS defaults), the sandbox's
magic test keys and the chat session's slash-commands."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HOME = "/MSCLI-HOME-PLACEHOLDER"
_PATH_ENV = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
)


@contextlib.contextmanager
def _placeholder_home(platform: str) -> Iterator[None]:
    """Run path functions as for a user with default settings on `platform` ("unix" or "macos"):
    platformdirs reads HOME and XDG_* from the process's environment."""
    import platformdirs
    from platformdirs.macos import MacOS
    from platformdirs.unix import Unix

    dirs: Any = MacOS if platform == "macos" else Unix
    saved = {k: os.environ.get(k) for k in _PATH_ENV}
    saved_cls = platformdirs.PlatformDirs
    try:
        for k in _PATH_ENV:
            os.environ.pop(k, None)
        os.environ["HOME"] = _HOME
        platformdirs.PlatformDirs = dirs  # type: ignore[misc]
        yield
    finally:
        platformdirs.PlatformDirs = saved_cls  # type: ignore[misc]
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _tilde(path: Path | str) -> str:
    text = str(path)
    return "~" + text[len(_HOME) :] if text.startswith(_HOME) else text


@dataclass(frozen=True)
class FileDoc:
    linux: str
    macos: str
    meaning: str


def file_docs() -> list[FileDoc]:
    """The files mscli reads and writes, from the same functions the code uses."""
    from mscli import gateway_notes
    from mscli.config_store import CONFIG_FILENAME
    from mscli.paths import Paths

    getters: list[tuple[Callable[[Paths], Path], str]] = [
        (
            lambda paths: paths.config_dir / CONFIG_FILENAME,
            "Profiles and settings (API key, base URL, default model, ...), written 0600. "
            "`MSCLI_CONFIG_DIR` names another directory.",
        ),
        (
            lambda paths: paths.cache_dir / "models-*.json",
            "The model list per base URL, reused for 10 minutes, and read without network by "
            "shell completion. `MSCLI_CACHE_DIR` names another directory.",
        ),
        (
            lambda paths: paths.ledger,
            "Credits spent through mscli (estimates, no prompt text), for `mscli balance`. "
            "`MSCLI_DATA_DIR` names another directory.",
        ),
        (
            lambda paths: gateway_notes.notes_path(paths.cache_dir),
            "What mscli learned about each base URL (a gateway that refuses `stream_options` is "
            "sent none), so later runs skip a failed request. Safe to delete.",
        ),
        (lambda paths: paths.history, "Saved conversations (SQLite, 0600), for `mscli history`."),
        (
            lambda paths: paths.input_history,
            "What you typed in interactive `mscli chat` sessions (Up/Down recalls it), 0600; not "
            "written with `--no-log`.",
        ),
    ]
    out = []
    for getter, meaning in getters:
        with _placeholder_home("unix"):
            linux = _tilde(getter(Paths.from_env({"HOME": _HOME})))
        with _placeholder_home("macos"):
            macos = _tilde(getter(Paths.from_env({"HOME": _HOME})))
        out.append(FileDoc(linux, macos, meaning))
    return out


def session_commands() -> tuple[list[Any], str]:
    """The interactive session's slash-commands (`chat.session.COMMANDS`, as `/help` shows them)
    and the note that follows them."""
    from mscli.chat.session import COMMANDS, LITERAL_SLASH

    return list(COMMANDS), LITERAL_SLASH


def magic_keys() -> tuple[list[Any], str] | None:
    """The sandbox's magic test keys and the note for other keys, or None before they exist."""
    try:
        from mscli.sandbox import keys
    except ImportError:
        return None
    rows = getattr(keys, "MAGIC_KEYS", None)
    if not rows:
        return None
    return list(rows), str(getattr(keys, "NON_TEST_KEY_BEHAVIOUR", ""))
