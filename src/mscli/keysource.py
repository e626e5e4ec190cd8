"""Where a profile's key can live besides config.toml: the output of its `api_key_command`
(`pass show modelstack`, `op read op://…`) or the OS keyring (the optional `keyring` extra).

Which source wins is decided in one place, `mscli.settings.resolve_key`; this module only reads
and writes the two stores. The key is never written by mscli anywhere but where the user asked
(`keys set --keyring`), and every failure is a `KeySourceError` (exit 3) that says what the command
or the keyring said, redacted, never the key.

Light at module level (help texts read the timeouts): `subprocess`, `threading` and `keyring` are
imported when a key is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mscli.errors import KeySourceError

__all__ = [
    "KEYRING_SERVICE",
    "KEYRING_TIMEOUT",
    "KEY_COMMAND_TIMEOUT",
    "keyring_delete",
    "keyring_get",
    "keyring_set",
    "run_key_command",
    "split_command",
]

T = TypeVar("T")

#: Longest a key command may run: `config show` and the doctor must not hang on it.
KEY_COMMAND_TIMEOUT = 10.0
#: Longest one keyring call may take (gh uses 3 s: a headless Secret Service can hang).
KEYRING_TIMEOUT = 3.0
#: The keyring "service"; the profile name is the "username".
KEYRING_SERVICE = "mscli"
#: Most of the command's own error text carried into the message.
_STDERR_SHOWN = 300

_FALLBACK = (
    "use api_key_command (e.g. `mscli config set api_key_command 'pass show modelstack'`) or "
    "export MODELSTACK_API_KEY instead"
)


def split_command(command: str) -> list[str]:
    """The command's words, split as a POSIX shell would (quotes, backslashes), never run by a
    shell. Raises ValueError on unbalanced quotes or an empty command."""
    import shlex

    argv = shlex.split(command)
    if not argv:
        raise ValueError("the command is empty")
    return argv


def _redacted(text: str) -> str:
    from mscli.redact import Redactor, strip_control

    return Redactor().text(strip_control(text)).strip()


def run_key_command(
    command: str, source: str, env: Mapping[str, str], *, timeout: float = KEY_COMMAND_TIMEOUT
) -> str:
    """Run `command` without a shell (stdin closed: it must not eat mscli's own input) and return
    the first line of its standard output, stripped. A failure raises `KeySourceError` carrying
    the command's own message (its standard error, redacted) and the source tag."""
    import subprocess

    fix = (
        "run the command yourself to see what it needs (an unlocked password manager?), change "
        "it with `mscli config set api_key_command '...'`, or export MODELSTACK_API_KEY"
    )
    try:
        argv = split_command(command)
    except ValueError as exc:
        raise KeySourceError(
            f"api_key_command cannot be split into words: {exc}", source=source, fix=fix
        ) from None
    name = os.path.basename(argv[0]) or argv[0]
    try:
        done = subprocess.run(  # argv from the user's own config, never a shell
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise KeySourceError(
            f"api_key_command ({name}) did not finish within {timeout:g} s", source=source, fix=fix
        ) from None
    except OSError as exc:
        raise KeySourceError(
            f"api_key_command could not be started: {name}: {exc.strerror or exc}",
            source=source,
            fix=fix,
        ) from None
    said = _redacted(done.stderr.decode("utf-8", "replace"))[-_STDERR_SHOWN:]
    if done.returncode != 0:
        tail = f": {said}" if said else ""
        raise KeySourceError(
            f"api_key_command ({name}) failed with exit status {done.returncode}{tail}",
            source=source,
            fix=fix,
        )
    first = done.stdout.decode("utf-8", "replace").split("\n", 1)[0].strip()
    if not first:
        raise KeySourceError(
            f"api_key_command ({name}) printed no key on its first line", source=source, fix=fix
        )
    return first


# --- the OS keyring ----------------------------------------------------------------------------


def _keyring(source: str) -> Any:
    """The `keyring` module with a usable backend, or `KeySourceError` saying why not."""
    try:
        import keyring
    except ImportError:
        raise KeySourceError(
            "the OS keyring needs the optional keyring package, which is not installed",
            source=source,
            fix="install it: `pip install 'mscli[keyring]'` (or `pipx inject mscli keyring`); "
            f"or {_FALLBACK}",
        ) from None
    backend = keyring.get_keyring()
    if float(getattr(backend, "priority", 0) or 0) <= 0:  # keyring.backends.fail.Keyring
        raise KeySourceError(
            "no OS keyring is available here (no backend found: a headless server?)",
            source=source,
            fix=_FALLBACK,
        )
    return keyring


def _bounded(source: str, what: str, call: Callable[[], T]) -> T:
    """`call()` in a daemon thread, given KEYRING_TIMEOUT; keyring errors become
    `KeySourceError` naming the backend's complaint (never the key)."""
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except Exception as exc:  # the backend's own error, reported below
            box["error"] = exc

    worker = threading.Thread(target=target, name="mscli-keyring", daemon=True)
    worker.start()
    worker.join(KEYRING_TIMEOUT)
    if worker.is_alive():
        raise KeySourceError(
            f"the OS keyring did not answer within {KEYRING_TIMEOUT:g} s ({what})",
            source=source,
            fix=f"unlock your keyring and try again; or {_FALLBACK}",
        )
    error = box.get("error")
    if error is not None:
        if isinstance(error, KeySourceError):
            raise error
        said = _redacted(str(error)) or type(error).__name__
        raise KeySourceError(
            f"the OS keyring refused to {what}: {said}",
            source=source,
            fix=f"unlock your keyring and try again; or {_FALLBACK}",
        )
    return box.get("value")  # type: ignore[return-value]


def keyring_get(profile: str, source: str) -> str:
    """The key stored for `profile`; `KeySourceError` when there is none."""
    kr = _keyring(source)
    value = _bounded(source, "read the key", lambda: kr.get_password(KEYRING_SERVICE, profile))
    if not isinstance(value, str) or not value.strip():
        opt = f"--profile {profile} " if profile != "default" else ""
        raise KeySourceError(
            f"profile '{profile}' keeps its key in the OS keyring, but the keyring holds no key "
            f"for it (service {KEYRING_SERVICE!r}, user {profile!r})",
            source=source,
            fix=f"store it again: `mscli {opt}keys set --keyring`",
        )
    return value.strip()


def keyring_set(profile: str, key: str, source: str) -> None:
    kr = _keyring(source)
    _bounded(source, "store the key", lambda: kr.set_password(KEYRING_SERVICE, profile, key))


def keyring_delete(profile: str, source: str) -> bool:
    """Remove `profile`'s key from the keyring; False when there was none."""
    kr = _keyring(source)

    def delete() -> bool:
        from keyring.errors import PasswordDeleteError

        try:
            kr.delete_password(KEYRING_SERVICE, profile)
        except PasswordDeleteError:
            return False
        return True

    return _bounded(source, "remove the key", delete)
