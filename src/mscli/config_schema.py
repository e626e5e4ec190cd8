"""config.toml's schema: the known profile keys, parsing and checking values, profile helpers.

``KNOWN_KEYS`` lists the keys a profile may hold, with their types and bounds: the one source of
truth for what a value may be, wherever it comes from (``mscli config set``, the file, a global flag
or an environment variable). ``value_from_text()`` and ``checked()`` do the parsing and checking and
raise ``InvalidValue``, which each caller turns into the right error for where the value came from:
``parse_value()`` (``mscli config set``: a usage error), ``check_value()`` and ``validate()`` (the
file: a config error), ``mscli.settings`` (flags: usage; environment: config, naming the
variable). The profile helpers read and edit the loaded data in place. Reading and writing the file lives
in ``mscli.config_store``; settings resolution (flag > env > profile > default) in
``mscli.settings``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from mscli.errors import ConfigError, UsageError
from mscli.keysource import KEY_COMMAND_TIMEOUT
from mscli.limits import MIN_MAX_TOKENS, TEMPERATURE_RANGE

__all__ = [
    "DEFAULT_PROFILE",
    "KNOWN_KEYS",
    "KNOWN_TOP_LEVEL",
    "ROLE_KEYS",
    "InvalidValue",
    "KeySpec",
    "Role",
    "active_profile_name",
    "check_profile_name",
    "check_value",
    "checked",
    "delete_profile",
    "get_profile",
    "parse_value",
    "problems",
    "profile_names",
    "roles",
    "set_profile_value",
    "stored_value_error",
    "structure_problem",
    "unknown_keys",
    "unset_profile_value",
    "validate",
    "value_from_text",
]

DEFAULT_PROFILE = "default"

_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


# --- known keys ------------------------------------------------------------------------------


class KeySpec(NamedTuple):
    """One key a profile may hold."""

    name: str
    type: type  # str, int, float or bool (float accepts TOML integers too)
    help: str
    #: settable with `mscli config set` (api_key is not: it goes through `mscli keys set`)
    settable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    #: what a number counts, for messages ("seconds")
    unit: str = ""
    #: text that may hold spaces (a command line)
    spaces: bool = False
    #: free text: anything but blank (a system prompt)
    prose: bool = False

    @property
    def accepted(self) -> str:
        """What a value must be, in words: the one phrase every message about this key uses."""
        if self.type is bool:
            return "true or false"
        if self.type in (int, float):
            what = "a whole number" if self.type is int else "a number"
            if self.unit:
                what += f" of {self.unit}"
            low, high = self.minimum, self.maximum
            if low is not None and 0 < low < 1:  # a tiny positive floor: "greater than 0"
                return f"{what} greater than 0" + (f" and at most {high:g}" if high else "")
            if low is not None and high is not None:
                return f"{what} from {low:g} to {high:g}"
            if low is not None:
                return f"{what} of at least {low:g}"
            if high is not None:
                return f"{what} of at most {high:g}"
            return what
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.name == "api_key":
            return 'an API key as text, such as "sk_..."'
        if self.name == "base_url":
            return "an http(s) URL such as https://api.modelstack.cc/v1"
        if self.prose:
            return "text that is not blank"
        if self.spaces:
            return "a command line such as 'pass show modelstack' (balanced quotes)"
        return "non-empty text without spaces"


class InvalidValue(ValueError):
    """A value a key does not accept. Callers turn it into the error that fits the value's origin
    (``UsageError`` for the command line, ``ConfigError`` for the file or the environment)."""

    def __init__(self, spec: KeySpec, value: Any) -> None:
        super().__init__(f"{spec.name} must be {spec.accepted}, not {value!r}")
        self.key = spec.name
        self.value = value
        self.accepted = spec.accepted

    def says(self, subject: str) -> str:
        """The problem with ``subject`` (e.g. ``--timeout`` or ``MSCLI_TIMEOUT``) as the name."""
        return f"{subject} must be {self.accepted}, not {self.value!r}"


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
        KeySpec(
            "api_key_command",
            str,
            "command whose first line of output is the API key, e.g. 'pass show modelstack' "
            f"(run without a shell, {KEY_COMMAND_TIMEOUT:g} s timeout; beats the keyring and "
            "api_key)",
            spaces=True,
        ),
        KeySpec(
            "api_key_keyring",
            bool,
            "the profile's key lives in the OS keyring; set by `mscli keys set --keyring`",
            settable=False,
        ),
        KeySpec("base_url", str, "API base URL, e.g. https://api.modelstack.cc/v1"),
        KeySpec("default_model", str, "model used when -m/--model is not given"),
        KeySpec(
            "timeout",
            float,
            "overall deadline per call, in seconds",
            minimum=0.001,
            maximum=86400,
            unit="seconds",
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
            unit="seconds",
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
        KeySpec(
            "trusted_host",
            str,
            "a host you mean to use although it looks like api.modelstack.cc (refused otherwise)",
        ),
    )
}

#: The keys of a ``[roles.NAME]`` table: chat parameters applied together by ``chat --role NAME``
#: (explicit flags win) and ``/role NAME``; checked by the same rules as ``KNOWN_KEYS``.
ROLE_KEYS: dict[str, KeySpec] = {
    spec.name: spec
    for spec in (
        KeySpec("system", str, "system prompt", prose=True),
        KeySpec("model", str, "model id"),
        KeySpec(
            "temperature",
            float,
            "sampling temperature",
            minimum=TEMPERATURE_RANGE[0],
            maximum=TEMPERATURE_RANGE[1],
        ),
        KeySpec("max_tokens", int, "longest reply, in tokens", minimum=MIN_MAX_TOKENS),
    )
}

#: Keys mscli reads at the top of the file (``prices``: per-model price overrides, see settings).
KNOWN_TOP_LEVEL = ("active_profile", "profiles", "prices", "roles")

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


def value_from_text(key: str, text: str) -> Any:
    """Turn text (a command-line argument, an environment variable) into the checked, typed value
    for ``key``. An unknown key raises ``UsageError``; a value the key does not accept raises
    ``InvalidValue``."""
    spec = _known(key)
    raw = text.strip()
    value: Any
    if spec.type is bool:
        low = raw.lower()
        if low not in _TRUE | _FALSE:
            raise InvalidValue(spec, text)
        value = low in _TRUE
    elif spec.type is int:
        try:
            value = int(raw)
        except ValueError:
            raise InvalidValue(spec, text) from None
    elif spec.type is float:
        try:
            number = float(raw)
        except ValueError:
            raise InvalidValue(spec, text) from None
        if not math.isfinite(number):
            raise InvalidValue(spec, text)
        # keep integers integral in the file (timeout = 600, not 600.0)
        value = int(number) if number.is_integer() and abs(number) < 2**53 else number
    else:
        value = raw
    try:
        return checked(key, value)
    except InvalidValue:
        raise InvalidValue(spec, text) from None  # name the text as given


def checked(key: str, value: Any) -> Any:
    """Check a typed value (from the file, or a flag Typer already converted) against ``key``'s
    type and bounds; returns it (a plan name lower-cased) or raises ``InvalidValue``."""
    return _checked(_known(key), value)


def _checked(spec: KeySpec, value: Any) -> Any:
    key = spec.name
    if spec.type is bool:
        if not isinstance(value, bool):
            raise InvalidValue(spec, value)
        return value
    if spec.type in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (spec.type is int and not isinstance(value, int))
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise InvalidValue(spec, value)
        if (spec.minimum is not None and value < spec.minimum) or (
            spec.maximum is not None and value > spec.maximum
        ):
            raise InvalidValue(spec, value)
        return value
    # text values
    if not isinstance(value, str):
        raise InvalidValue(spec, value)
    if spec.prose:
        if not value.strip():
            raise InvalidValue(spec, value)
        return value
    if spec.spaces:
        from mscli.keysource import split_command

        try:
            split_command(value)
        except ValueError:
            raise InvalidValue(spec, value) from None
        return value.strip()
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise InvalidValue(spec, value)
    # api_key: its format is checked by `mscli keys set` and when it is used, with the precise
    # message (mscli.credentials), so a malformed stored key never blocks other edits.
    if key == "base_url":
        _check_base_url(spec, value)
    elif spec.choices:
        low = value.lower()
        if low not in spec.choices:
            raise InvalidValue(spec, value)
        return low
    return value


def parse_value(key: str, text: str) -> Any:
    """Turn command-line text into the typed value for ``key`` (``mscli config set``), validated.

    An unknown key, or a value the key does not accept, raises ``UsageError`` (exit 2): the message
    names the key, the value given and what the key accepts.
    """
    try:
        return value_from_text(key, text)
    except InvalidValue as exc:
        raise UsageError(str(exc), key=key, value=text, accepted=exc.accepted) from None


def check_value(key: str, value: Any, *, where: str | None = None) -> Any:
    """Validate a typed value for a known key; returns it (normalised) or raises ``ConfigError``.

    ``where`` (e.g. ``profiles.work.timeout``) names the value in the message when it came from the
    file rather than the command line.
    """
    try:
        return checked(key, value)
    except InvalidValue as exc:
        raise ConfigError(exc.says(where or key), key=key, accepted=exc.accepted) from None


def stored_value_error(
    key: str, value: Any, profile: str, path: str | None, exc: InvalidValue | None = None
) -> ConfigError:
    """The error for a value stored in the file that its key does not accept: exit 10, naming the
    file, the profile and the key, with the command that repairs it."""
    from mscli.settings import describe_source

    spec = _known(key)
    accepted = exc.accepted if exc is not None else spec.accepted
    opt = f" --profile {profile}" if profile != DEFAULT_PROFILE else ""
    if key == "api_key":
        fix = (
            f"store the key again with `mscli{opt} keys set`, or remove it with "
            f"`mscli config unset api_key{opt}`"
        )
    else:
        fix = (
            f"set it with `mscli config set {key} VALUE{opt}`, or remove it with "
            f"`mscli config unset {key}{opt}`"
        )
    return ConfigError(
        f"{key} in the {describe_source('profile:' + profile)} must be {accepted}, not {value!r}",
        path=path,
        key=key,
        profile=profile,
        accepted=accepted,
        fix=fix,
    )


def _check_base_url(spec: KeySpec, value: str) -> None:
    """A light shape check. The full rules (https, loopback, /v1) are applied by ``mscli.api.urls``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise InvalidValue(spec, value)


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


def validate(
    data: Mapping[str, Any], *, path: str | None = None, before: Mapping[str, Any] | None = None
) -> None:
    """Check what ``update()`` is about to write: the layout and every known key's value; with
    ``before`` (the file as read), a bad value that was already there, unchanged, is let through.

    Unknown keys are kept as they are (a newer mscli may have written them).
    """
    old = before.get("profiles") if before is not None else None
    old_profiles: Mapping[str, Any] = old if isinstance(old, dict) else {}
    active = data.get("active_profile")
    if active is not None and (not isinstance(active, str) or not active):
        raise ConfigError(f"active_profile must be a profile name, not {active!r}", path=path)
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError("'profiles' must be a table of [profiles.NAME] tables", path=path)
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise ConfigError(f"profiles.{name} must be a table", path=path)
        old_table = old_profiles.get(name)
        for key, value in table.items():
            if key in KNOWN_KEYS:
                try:
                    checked(key, value)
                except InvalidValue as exc:
                    if isinstance(old_table, dict) and key in old_table and old_table[key] == value:
                        continue  # not this change's doing
                    raise stored_value_error(key, value, str(name), path, exc) from None


def problems(data: Mapping[str, Any], profile: str, path: str | None = None) -> list[ConfigError]:
    """The known keys of ``profile`` whose stored value is not accepted, as errors."""
    out: list[ConfigError] = []
    for key, value in get_profile(data, profile).items():
        if key in KNOWN_KEYS:
            try:
                checked(key, value)
            except InvalidValue as exc:
                out.append(stored_value_error(key, value, profile, path, exc))
    return out


def unknown_keys(data: Mapping[str, Any], profile: str) -> tuple[list[str], list[str]]:
    """Keys this mscli ignores: (at the top of the file, in the profile). Kept on write."""
    top = sorted(str(k) for k in data if k not in KNOWN_TOP_LEVEL)
    in_profile = sorted(str(k) for k in get_profile(data, profile) if k not in KNOWN_KEYS)
    return top, in_profile


def structure_problem(data: Mapping[str, Any]) -> str | None:
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


# --- roles -------------------------------------------------------------------------------------


class Role(NamedTuple):
    """A ``[roles.NAME]`` table, checked: what it sets (None: not set)."""

    name: str
    system: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "system": self.system,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }


def roles(data: Mapping[str, Any], path: str | None = None) -> dict[str, Role]:
    """Every ``[roles.NAME]`` table, in file order, checked against ``ROLE_KEYS``. A key it does
    not know or a value it does not accept is a ``ConfigError`` naming the file, role and key."""
    tables = data.get("roles", {})
    where = f" in {path}" if path else ""
    if not isinstance(tables, dict):
        raise ConfigError(
            f"'roles'{where} must be a table of [roles.NAME] tables",
            path=path,
            fix="Write each role as a [roles.NAME] table.",
        )
    out: dict[str, Role] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"roles.{name}{where} must be a table", path=path, role=name, fix=_ROLE_FIX
            )
        values: dict[str, Any] = {}
        for key, value in table.items():
            spec = ROLE_KEYS.get(key)
            if spec is None:
                raise ConfigError(
                    f"role {name!r}{where} has an unknown key {key!r}; a role may set "
                    + ", ".join(ROLE_KEYS),
                    path=path,
                    role=name,
                    key=key,
                    fix=_ROLE_FIX,
                )
            try:
                values[key] = _checked(spec, value)
            except InvalidValue as exc:
                raise ConfigError(
                    f"{key} of role {name!r}{where} must be {exc.accepted}, not {value!r}",
                    path=path,
                    role=name,
                    key=key,
                    accepted=exc.accepted,
                    fix=_ROLE_FIX,
                ) from None
        out[str(name)] = Role(str(name), **values)
    return out


_ROLE_FIX = (
    "Edit that [roles.NAME] table in config.toml: it may set system (text), model, "
    "temperature (0 to 2) and max_tokens (at least 1)."
)
