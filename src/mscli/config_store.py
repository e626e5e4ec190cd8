"""config.toml I/O: where it lives, reading it, writing it safely, checking its permissions.

Rules (reliability.md §4.2):

* the file is ``config.toml`` in the directory the caller gives (``Paths.config_dir``: ``$MSCLI_CONFIG_DIR``
  or the platform's, `mscli.paths`);
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

The schema (known keys, value checks, profile helpers) lives in ``mscli.config_schema``; settings
resolution (flag > env > profile > default) lives in ``mscli.settings``; this module only stores.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mscli.config_schema import get_profile, profile_names, structure_problem, validate
from mscli.errors import ConfigCorruptError, ConfigError, ConfigLockedError
from mscli.limits import MAX_CONFIG_BYTES

__all__ = [
    "CONFIG_FILENAME",
    "LOCK_TIMEOUT",
    "ConfigStore",
]

CONFIG_FILENAME = "config.toml"
#: Seconds ``update()`` waits for another mscli process to finish writing.
LOCK_TIMEOUT = 10.0

_HEADER = (
    "# mscli configuration (written by mscli; comments are not kept).\n"
    "# Change it with `mscli config set KEY VALUE`; store keys with `mscli keys set`.\n"
)


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

    def __init__(self, directory: Path, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.directory: Path = Path(os.path.abspath(directory))
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
            size = path.stat().st_size
            raw = b"" if size > MAX_CONFIG_BYTES else path.read_bytes()
        except FileNotFoundError:
            return {}
        except IsADirectoryError:
            raise _is_a_directory(path) from None
        except PermissionError as exc:
            raise self._corrupt(
                f"cannot read the config file {p}: permission denied",
                detail=exc.strerror or "permission denied",
                fix=f"make it readable by you: chmod 600 {p} (and check its owner)",
            ) from None
        except OSError as exc:
            if path.is_dir():  # Windows reports a directory as PermissionError/OSError
                raise _is_a_directory(path) from None
            raise self._corrupt(
                f"cannot read the config file {p}: {exc.strerror or exc}",
                detail=str(exc.strerror or exc),
                fix=f"check the file and its directory: ls -l {p}",
            ) from None
        if max(size, len(raw)) > MAX_CONFIG_BYTES:
            raise self._corrupt(
                f"the config file {p} is larger than {_size(MAX_CONFIG_BYTES)}, the most mscli reads"
                " (a config file is a few hundred bytes)",
                detail=f"over {MAX_CONFIG_BYTES} bytes",
                fix=f"move it away and start again: mv {p} {p}.old",
            )
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
        if sys.version_info >= (3, 11):  # imported only when there is a file to read
            import tomllib
        else:  # pragma: no cover - exercised on Python 3.10 only
            import tomli as tomllib
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
        problem = structure_problem(data)
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
        """Whether the directory is mscli's own, so mscli may change its mode: any directory named
        ``mscli``, the platform default included (`mscli.paths`). A directory the user chose for
        other things too (``MSCLI_CONFIG_DIR=~/dotfiles``) is theirs."""
        return self.directory.name == "mscli"

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

        Only what ``fn`` changed must be valid: a bad value already in the file is kept as it is
        (the command that repairs one value must work while another is still bad; `problems()`
        lists them for a warning). Returns the data written. A corrupt file raises ``ConfigCorruptError`` and stays untouched;
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
            before = copy.deepcopy(data)
            fn(data)
            data = dict(_drop_none(data))
            validate(data, path=str(self.path), before=before)
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
        if len(body) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"the config file would be {_size(len(body))}, more than the"
                f" {_size(MAX_CONFIG_BYTES)} mscli writes; nothing was changed",
                path=str(self.path),
            )
        self._tighten_dir()
        target = self._target()
        self._ensure_dir(target.parent)
        if target.is_dir():
            raise _is_a_directory(target)
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
            problems.append(f"is readable by {_who(file_mode)} (mode {file_mode:04o})")
            fixes.append(f"chmod 600 {self.path}")
        if dir_mode & 0o077:
            problems.append(
                f"its directory {self.directory} is open to {_who(dir_mode)} (mode {dir_mode:04o})"
            )
            fixes.append(f"chmod 700 {self.directory}")
        return (
            f"{self.path} holds an API key and {' and '.join(problems)}. Fix: {' && '.join(fixes)}"
        )


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def _who(mode: int) -> str:
    """Who besides the owner a permission mode lets in (the widest class first)."""
    return "others" if mode & 0o007 else "your group"


def _is_a_directory(path: Path) -> ConfigCorruptError:
    return ConfigCorruptError(
        f"the config file {path} is a directory, not a file",
        path=str(path),
        detail="is a directory",
        fix=f"move it out of the way: mv {path} {path}.old",
    )


def _write_failed(target: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"could not write the config file {target}: {exc.strerror or exc}",
        path=str(target),
        fix=f"check free space and permissions of {target.parent}",
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
        raise _write_failed(target, exc) from exc
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
            raise _write_failed(target, exc) from exc
        raise
    _fsync_dir(directory)
