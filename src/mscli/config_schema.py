"""config.toml's schema: the known profile keys, parsing and checking values, profile helpers.

``KNOWN_KEYS`` lists the keys a profile may hold, with their types and bounds; ``parse_value()``
turns command-line text into a checked value (``mscli config set``), ``check_value()`` and
``validate()`` check values read from or about to be written to the file (``ConfigStore.update()``),
and the profile helpers read and edit the loaded data in place. Reading and writing the file lives
in ``mscli.config_store``; settings resolution (flag > env > profile > default) in
``mscli.settings``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mscli.errors import ConfigError, UsageError

__all__ = [
    "DEFAULT_PROFILE",
    "KNOWN_KEYS",
    "KeySpec",
    "active_profile_name",
    "check_profile_name",
    "check_value",
    "delete_profile",
    "get_profile",
    "parse_value",
    "profile_names",
    "set_profile_value",
    "structure_problem",
    "unset_profile_value",
    "validate",
]

DEFAULT_PROFILE = "default"

_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


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
