"""config.toml I/O: where it lives, reading it, writing it safely, checking its permissions.

Rules (reliability.md §4.2):

* the file is ``config.toml`` in ``$MSCLI_CONFIG_DIR`` or ``platformdirs.user_config_dir("mscli")``;
* a write is atomic: a temp file in the same directory (``mkstemp``: 0600 from birth, no umask
  window), write, flush, fsync, ``os.replace``, fsync the directory; the temp file is removed on any
  failure; the directory is created 0700, and an existing mscli-owned directory (the platform
  default, or any directory named ``mscli``) that group or others can reach is tightened to 0700 on
  every write; a directory of the user's choosing is left alone and named by
  ``permission_warning()`` instead; a symlinked config file is resolved first, so the link survives;
* a read-modify-write holds an exclusive lock on the sibling ``config.toml.lock`` (never the data
  file: ``os.replace`` swaps the inode), with a timeout that ends in ``ConfigLockedError``;
* a file that cannot be read or parsed raises ``ConfigCorruptError`` with its path (and the parser's
  line) and is **never** overwritten: ``update()`` refuses to touch it.

Layout (docs/architecture.md, "Config file")::

    active_profile = "default"
    [profiles.default]
    api_key = "sk_..."
    base_url = "https://api.modelstack.cc/v1"
    ...

The module also holds the table of known profile keys (``KNOWN_KEYS``) with their types and the
validation ``mscli config set`` and ``update()`` apply. Settings resolution (flag > env > profile >
default) lives in ``mscli.settings``; this module only stores.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscli.errors import ConfigCorruptError, ConfigError, ConfigLockedError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "CONFIG_DIR_ENV",
    "CONFIG_FILENAME",
    "DEFAULT_PROFILE",
    "KNOWN_KEYS",
    "LOCK_TIMEOUT",
    "ConfigStore",
    "KeySpec",
    "active_profile_name",
    "check_profile_name",
    "check_value",
    "config_dir",
    "delete_profile",
    "get_profile",
    "parse_value",
    "profile_names",
    "set_profile_value",
    "unset_profile_value",
    "validate",
]

CONFIG_DIR_ENV = "MSCLI_CONFIG_DIR"
CONFIG_FILENAME = "config.toml"
DEFAULT_PROFILE = "default"
#: Seconds ``update()`` waits for another mscli process to finish writing.
LOCK_TIMEOUT = 10.0

_HEADER = (
    "# mscli configuration (written by mscli; comments are not kept).\n"
    "# Change it with `mscli config set KEY VALUE`; store keys with `mscli keys set`.\n"
)

_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The config directory: ``$MSCLI_CONFIG_DIR`` if set (and non-empty), else the platform's."""
    override = env.get(CONFIG_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("mscli", appauthor=False))


# --- known keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """One key a profile may hold."""

    name: str
    type: type  # str, int, float or bool (float accepts TOML integers too)
    help: str
    #: settable with `mscli config set` (api_key is not: it goes through `mscli keys set`)
    settable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def type_name(self) -> str:
        return {str: "text", int: "integer", float: "number", bool: "true/false"}[self.type]


def _plan_names() -> tuple[str, ...]:
    try:
        from mscli.pricing import PLANS
    except ImportError:  # pragma: no cover - pricing is part of the package
        return ("starter", "pro", "max", "topup")
    return tuple(PLANS)


KNOWN_KEYS: dict[str, KeySpec] = {
    spec.name: spec
    for spec in (
        KeySpec("api_key", str, "API key (sk_...); set it with `mscli keys set`", settable=False),
        KeySpec("base_url", str, "API base URL, e.g. https://api.modelstack.cc/v1"),
        KeySpec("default_model", str, "model used when -m/--model is not given"),
        KeySpec(
            "timeout", float, "overall deadline per call, in seconds", minimum=0.001, maximum=86400
        ),
        KeySpec(
            "max_retries",
            int,
            "retries after a failed attempt (0 disables)",
            minimum=0,
            maximum=100,
        ),
        KeySpec(
            "max_wait",
            float,
            "longest single wait mscli accepts, in seconds",
            minimum=0,
            maximum=86400,
        ),
        KeySpec(
            "plan", str, "your ModelStack plan (for estimates and advice)", choices=_plan_names()
        ),
        KeySpec("log_history", bool, "keep a local history of chats"),
        KeySpec(
            "allow_insecure_http",
            bool,
            "allow a plain http:// base URL to a non-loopback host (the key travels in clear text)",
        ),
    )
}

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _known(key: str) -> KeySpec:
    spec = KNOWN_KEYS.get(key)
    if spec is None:
        raise UsageError(
            f"unknown config key {key!r}; known keys: {', '.join(KNOWN_KEYS)}",
            key=key,
            known=list(KNOWN_KEYS),
        )
    return spec


def parse_value(key: str, text: str) -> Any:
    """Turn command-line text into the typed value for ``key``, validated.

    An unknown key raises ``UsageError`` (exit 2); a bad value raises ``ConfigError`` naming the
    key, the expected type and what was given.
    """
    spec = _known(key)
    raw = text.strip()
    value: Any
    if spec.type is bool:
        low = raw.lower()
        if low in _TRUE:
            value = True
        elif low in _FALSE:
            value = False
        else:
            raise ConfigError(f"{key} must be true or false, not {text!r}", key=key, value=text)
    elif spec.type is int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(
                f"{key} must be a whole number, not {text!r}", key=key, value=text
            ) from None
    elif spec.type is float:
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(
                f"{key} must be a number of seconds, not {text!r}", key=key, value=text
            ) from None
        # keep integers integral in the file (timeout = 600, not 600.0)
        value = int(number) if number.is_integer() and abs(number) < 2**53 else number
    else:
        value = raw
    return check_value(key, value)


def check_value(key: str, value: Any, *, where: str | None = None) -> Any:
    """Validate a typed value for a known key; returns it (normalised) or raises ``ConfigError``.

    ``where`` (e.g. ``profiles.work.timeout``) names the value in the message when it came from the
    file rather than the command line.
    """
    spec = _known(key)
    label = where or key
    if spec.type is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{label} must be true or false, not {value!r}", key=key)
        return value
    if spec.type in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (spec.type is int and not isinstance(value, int))
        ):
            what = "a whole number" if spec.type is int else "a number"
            raise ConfigError(f"{label} must be {what}, not {value!r}", key=key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{label} must be a finite number, not {value!r}", key=key)
        number = float(value)
        if spec.minimum is not None and number < spec.minimum:
            bound = (
                "greater than 0"
                if spec.minimum and spec.minimum < 1
                else f"at least {spec.minimum:g}"
            )
            raise ConfigError(f"{label} must be {bound}, not {value!r}", key=key)
        if spec.maximum is not None and number > spec.maximum:
            raise ConfigError(f"{label} must be at most {spec.maximum:g}, not {value!r}", key=key)
        return value
    # text values
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be text, not {value!r}", key=key)
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise ConfigError(f"{label} must be non-empty text without spaces, not {value!r}", key=key)
    if key == "base_url":
        _check_base_url(label, value)
    elif key == "plan":
        low = value.lower()
        if spec.choices and low not in spec.choices:
            raise ConfigError(
                f"{label} must be one of {', '.join(spec.choices)}, not {value!r}", key=key
            )
        return low
    # api_key: only its type is checked here; `mscli keys set` and the settings layer check its
    # format with the precise message (mscli.credentials), so a bad key never blocks other edits.
    return value


def _check_base_url(label: str, value: str) -> None:
    """A light shape check. The full rules (https, loopback, /v1) are applied by ``mscli.settings``."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{label} must be an http(s) URL such as https://api.modelstack.cc/v1, not {value!r}",
            key="base_url",
        )


def check_profile_name(name: str) -> str:
    """Profile names: letters, digits, ``_``, ``-``, ``.``; up to 64 characters. Else ``UsageError``."""
    if not _PROFILE_NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid profile name {name!r}: use letters, digits, '_', '-' or '.' (up to 64 characters)",
            profile=name,
        )
    return name


# --- helpers on the loaded data ----------------------------------------------------------------


def active_profile_name(data: Mapping[str, Any]) -> str:
    """The profile the file marks active, else ``"default"`` (flags and env are settings' job)."""
    name = data.get("active_profile")
    return name if isinstance(name, str) and name else DEFAULT_PROFILE


def _profiles(data: Mapping[str, Any]) -> dict[str, Any]:
    profiles = data.get("profiles", {})
    return profiles if isinstance(profiles, dict) else {}


def profile_names(data: Mapping[str, Any]) -> list[str]:
    """Profile names in file order."""
    return [name for name, table in _profiles(data).items() if isinstance(table, dict)]


def get_profile(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The profile's table (a copy), or ``{}`` when it does not exist."""
    table = _profiles(data).get(name)
    return dict(table) if isinstance(table, dict) else {}


def set_profile_value(data: dict[str, Any], profile: str, key: str, value: Any) -> None:
    """Set ``profiles.<profile>.<key>`` in place (creating the tables). Checks the key and value."""
    check_profile_name(profile)
    value = check_value(key, value)
    profiles = data.setdefault("profiles", {})
    profiles.setdefault(profile, {})[key] = value


def unset_profile_value(data: dict[str, Any], profile: str, key: str) -> bool:
    """Remove ``profiles.<profile>.<key>`` in place; ``True`` if it was there."""
    table = _profiles(data).get(profile)
    if isinstance(table, dict) and key in table:
        del table[key]
        return True
    return False


def delete_profile(data: dict[str, Any], profile: str) -> bool:
    """Remove a whole profile in place (and ``active_profile`` if it named it); ``True`` if found."""
    profiles = _profiles(data)
    if profile not in profiles:
        return False
    del profiles[profile]
    if data.get("active_profile") == profile:
        del data["active_profile"]
    return True


def validate(data: Mapping[str, Any], *, path: str | None = None) -> None:
    """Check what ``update()`` is about to write: the layout and every known key's value.

    Unknown keys are kept as they are (a newer mscli may have written them).
    """
    active = data.get("active_profile")
    if active is not None and (not isinstance(active, str) or not active):
        raise ConfigError(f"active_profile must be a profile name, not {active!r}", path=path)
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError("'profiles' must be a table of [profiles.NAME] tables", path=path)
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise ConfigError(f"profiles.{name} must be a table", path=path)
        for key, value in table.items():
            if key in KNOWN_KEYS:
                try:
                    check_value(key, value, where=f"profiles.{name}.{key}")
                except ConfigError as exc:
                    exc.path = path
                    exc.facts["path"] = path
                    exc.facts.setdefault("fix", f"mscli config unset {key} --profile {name}")
                    raise


def _structure_problem(data: Mapping[str, Any]) -> str | None:
    """What makes a parsed file unusable as a whole (checked on load), or None."""
    active = data.get("active_profile")
    if active is not None and not isinstance(active, str):
        return "active_profile is not text"
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        return "'profiles' is not a table"
    for name, table in profiles.items():
        if not isinstance(table, dict):
            return f"profiles.{name} is not a table"
    return None


def _drop_none(obj: Any) -> Any:
    """``None`` means "unset": TOML cannot hold it, so it is removed before writing."""
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj if v is not None]
    return obj


def _toml_line(exc: Exception, text: str) -> int | None:
    line = getattr(exc, "lineno", None)
    if isinstance(line, int):
        return line
    msg = str(exc)
    match = re.search(r"line (\d+)", msg)
    if match:
        return int(match.group(1))
    if "end of document" in msg:
        return text.count("\n") + 1
    return None


# --- the store ---------------------------------------------------------------------------------


class ConfigStore:
    """The config file. ``load()`` reads; ``update(fn)`` is the only way to write."""

    def __init__(
        self, directory: Path | None = None, *, lock_timeout: float = LOCK_TIMEOUT
    ) -> None:
        self.directory: Path = Path(directory) if directory is not None else config_dir()
        self.path: Path = self.directory / CONFIG_FILENAME
        self.lock_path: Path = self.directory / (CONFIG_FILENAME + ".lock")
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"ConfigStore({str(self.directory)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    # -- reading --

    def _corrupt(
        self, message: str, *, line: int | None = None, detail: str = "", fix: str
    ) -> ConfigCorruptError:
        return ConfigCorruptError(message, path=str(self.path), line=line, detail=detail, fix=fix)

    def load(self) -> dict[str, Any]:
        """The parsed file; ``{}`` when there is none.

        Raises ``ConfigCorruptError`` (with the path, and the parser's line for TOML errors) when the
        file cannot be read, is not UTF-8, is not TOML, or is a directory.
        """
        path = self.path
        p = str(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except IsADirectoryError:
            raise self._corrupt(
                f"the config file {p} is a directory, not a file",
                detail="is a directory",
                fix=f"move it out of the way: mv {p} {p}.old",
            ) from None
        except PermissionError as exc:
            raise self._corrupt(
                f"cannot read the config file {p}: permission denied",
                detail=exc.strerror or "permission denied",
                fix=f"make it readable by you: chmod 600 {p} (and check its owner)",
            ) from None
        except OSError as exc:
            if path.is_dir():  # Windows reports a directory as PermissionError/OSError
                raise self._corrupt(
                    f"the config file {p} is a directory, not a file",
                    detail="is a directory",
                    fix=f"move it out of the way: mv {p} {p}.old",
                ) from None
            raise self._corrupt(
                f"cannot read the config file {p}: {exc.strerror or exc}",
                detail=str(exc.strerror or exc),
                fix=f"check the file and its directory: ls -l {p}",
            ) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = raw[: exc.start].count(b"\n") + 1
            raise self._corrupt(
                f"the config file {p} is not UTF-8 text (bad byte at line {bad_line})",
                line=bad_line,
                detail=f"not UTF-8: {exc.reason} at byte {exc.start}",
                fix=f"fix or remove the bad characters, or move it away: mv {p} {p}.old",
            ) from None
        text = text.removeprefix("\ufeff")  # a BOM from an editor is harmless
        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = _toml_line(exc, text)
            detail = str(exc)
            where = f" (error at line {line})" if line is not None else f": {detail}"
            raise self._corrupt(
                f"the config file {p} is not valid TOML{where}",
                line=line,
                detail=detail,
                fix=f"fix line {line} in an editor, or move the file away: mv {p} {p}.old"
                if line is not None
                else f"fix it in an editor, or move it away: mv {p} {p}.old",
            ) from None
        problem = _structure_problem(data)
        if problem:
            raise self._corrupt(
                f"the config file {p} has an unexpected layout: {problem}",
                detail=problem,
                fix=f"fix it in an editor (see `mscli config --help` for the layout), or move it away: mv {p} {p}.old",
            )
        return data

    # -- writing --

    def _lock(self) -> Any:
        from filelock import FileLock

        return FileLock(str(self.lock_path), timeout=self.lock_timeout, mode=0o600)

    def _ensure_dir(self, directory: Path) -> None:
        if directory.is_dir():
            return
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if os.name == "posix":
                os.chmod(directory, 0o700)
        except FileExistsError:
            raise ConfigError(
                f"cannot create the config directory {directory}: a file is in its place",
                path=str(directory),
                fix=f"move it out of the way: mv {directory} {directory}.old",
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot create the config directory {directory}: {exc.strerror or exc}",
                path=str(directory),
                fix="set MSCLI_CONFIG_DIR to a directory you can write",
            ) from None

    def owns_directory(self) -> bool:
        """Whether the directory is mscli's own, so mscli may change its mode: the platform default
        (no ``MSCLI_CONFIG_DIR``) or any directory named ``mscli``. A directory the user chose for
        other things too (``MSCLI_CONFIG_DIR=~/dotfiles``) is theirs."""
        if self.directory.name == "mscli":
            return True
        if os.environ.get(CONFIG_DIR_ENV, "").strip():
            return False
        return self.directory == config_dir({})

    def _tighten_dir(self) -> None:
        """Make an mscli-owned config directory 0700 when group or others can reach it (POSIX)."""
        if os.name != "posix" or not self.owns_directory():
            return
        try:
            st = os.stat(self.directory)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o077:
                os.chmod(self.directory, 0o700)
        except OSError:
            pass  # not ours to change (another owner): permission_warning() names it

    def update(self, fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read-modify-write under the lock: re-read, ``fn(data)`` edits in place, validate, write.

        Returns the data written. A corrupt file raises ``ConfigCorruptError`` and stays untouched;
        another writer holding the lock past the timeout raises ``ConfigLockedError``.
        """
        from filelock import Timeout

        self._ensure_dir(self.directory)
        lock = self._lock()
        try:
            lock.acquire()
        except Timeout:
            raise ConfigLockedError(
                f"the config file {self.path} is locked by another mscli process "
                f"(waited {self.lock_timeout:g} s for {self.lock_path})",
                path=str(self.path),
                lock_path=str(self.lock_path),
                fix=f"wait for the other mscli to finish; if none is running, delete {self.lock_path}",
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot lock the config file: {exc.strerror or exc} ({self.lock_path})",
                path=str(self.path),
                lock_path=str(self.lock_path),
            ) from None
        try:
            data = self.load()  # raises on a corrupt file: it is never overwritten
            fn(data)
            data = dict(_drop_none(data))
            validate(data, path=str(self.path))
            self._write(data)
            return data
        finally:
            lock.release()

    def _target(self) -> Path:
        """The real file to replace: a symlinked config.toml is followed so the link survives."""
        if self.path.is_symlink():
            return Path(os.path.realpath(self.path))
        return self.path

    def _write(self, data: Mapping[str, Any]) -> None:
        import tomli_w

        body = (_HEADER + tomli_w.dumps(_ordered(data))).encode("utf-8")
        self._tighten_dir()
        target = self._target()
        self._ensure_dir(target.parent)
        if target.is_dir():
            raise ConfigCorruptError(
                f"the config file {target} is a directory, not a file",
                path=str(target),
                detail="is a directory",
                fix=f"move it out of the way: mv {target} {target}.old",
            )
        _atomic_write(target, body)

    # -- permissions --

    def permission_warning(self) -> str | None:
        """A warning when the file holds an API key and group or others can read the file, or reach
        the directory holding it (POSIX only). Ends with `` Fix: <commands>``."""
        if os.name != "posix":
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        file_mode = stat.S_IMODE(st.st_mode)
        dir_mode = 0
        with contextlib.suppress(OSError):
            dst = os.stat(self.directory)
            if stat.S_ISDIR(dst.st_mode):
                dir_mode = stat.S_IMODE(dst.st_mode)
        if not (file_mode & 0o077) and not (dir_mode & 0o077):
            return None
        try:
            data = self.load()
        except ConfigError:
            return None
        holders = [name for name in profile_names(data) if get_profile(data, name).get("api_key")]
        if not holders:
            return None
        problems: list[str] = []
        fixes: list[str] = []
        if file_mode & 0o077:
            who = "others" if file_mode & 0o007 else "your group"
            problems.append(f"is readable by {who} (mode {file_mode:04o})")
            fixes.append(f"chmod 600 {self.path}")
        if dir_mode & 0o077:
            who = "others" if dir_mode & 0o007 else "your group"
            problems.append(
                f"its directory {self.directory} is open to {who} (mode {dir_mode:04o})"
            )
            fixes.append(f"chmod 700 {self.directory}")
        return (
            f"{self.path} holds an API key and {' and '.join(problems)}. Fix: {' && '.join(fixes)}"
        )


def _ordered(data: Mapping[str, Any]) -> dict[str, Any]:
    """``active_profile`` first, other top-level values, then ``profiles`` and other tables."""
    out: dict[str, Any] = {}
    if "active_profile" in data:
        out["active_profile"] = data["active_profile"]
    for key, value in data.items():
        if key != "active_profile" and not isinstance(value, dict):
            out[key] = value
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = value
    return out


def _fsync(fd: int) -> None:
    if sys.platform == "darwin":  # pragma: no cover - macOS only: fsync does not reach the disk
        import fcntl

        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(fd)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is done either way
    finally:
        os.close(fd)


def _replace(src: str, dst: Path) -> None:
    """``os.replace``; on Windows retry briefly while another process has the target open."""
    if os.name != "nt":
        os.replace(src, dst)
        return
    import time  # pragma: no cover - Windows only

    for attempt in range(10):  # pragma: no cover
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if attempt == 9:
                raise
            time.sleep(0.05 * (attempt + 1))


def _atomic_write(target: Path, body: bytes) -> None:
    """Write ``body`` to ``target`` atomically; the file is 0600 from birth."""
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(
            f"could not write the config file {target}: {exc.strerror or exc}",
            path=str(target),
            fix=f"check free space and permissions of {directory}",
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            _fsync(fh.fileno())
        _replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ConfigError(
                f"could not write the config file {target}: {exc.strerror or exc}",
                path=str(target),
                fix=f"check free space and permissions of {directory}",
            ) from exc
        raise
    _fsync_dir(directory)
