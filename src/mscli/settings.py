"""Settings resolution: flag > environment > profile > default, with the source of every value.

This module and `output/console.py` are the only places that read the environment. It imports no
third-party package at module level, so resolving settings costs nothing at startup.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mscli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from mscli.api.client import ClientConfig
    from mscli.config_store import ConfigStore

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.modelstack.cc/v1"
DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_WAIT = 60.0


@dataclass(frozen=True)
class EnvVar:
    name: str
    meaning: str


#: Every environment variable mscli reads: one table for --help, the man page and the README.
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar(
        "MODELSTACK_API_KEY",
        "API key (the name the ModelStack docs suggest); beats the config file",
    ),
    EnvVar("MODELSTACK_BASE_URL", "API base URL (default https://api.modelstack.cc/v1)"),
    EnvVar("MSCLI_PROFILE", "config profile to use (default: the active profile, else 'default')"),
    EnvVar("MSCLI_TIMEOUT", "overall deadline per request in seconds, retries included"),
    EnvVar("MSCLI_MAX_RETRIES", "retries on 408/409/429/5xx and connection failures (0 disables)"),
    EnvVar("MSCLI_MAX_WAIT", "longest single wait mscli accepts before giving up, seconds"),
    EnvVar(
        "MSCLI_CONFIG_DIR", "directory of config.toml (default: the platform's user config dir)"
    ),
    EnvVar("MSCLI_SANDBOX", "1 = run against the built-in sandbox, like --sandbox"),
    EnvVar(
        "MSCLI_CACHE_DIR",
        "directory of the model-list cache (default: the platform's user cache dir)",
    ),
    EnvVar(
        "MSCLI_DATA_DIR",
        "directory of the history database and spend ledger (default: user data dir)",
    ),
    EnvVar("MSCLI_DEBUG", "set: show tracebacks for unexpected errors, like --debug"),
    EnvVar("MSCLI_COLOR", "auto, always or never, like --color"),
    EnvVar("NO_COLOR", "set and non-empty: no colour (https://no-color.org)"),
    EnvVar("FORCE_COLOR", "set and non-empty: colour even when not a terminal"),
    EnvVar(
        "HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY", "proxies, honoured for every request"
    ),
    EnvVar("SSL_CERT_FILE / SSL_CERT_DIR", "CA bundle used to verify TLS (corporate proxies)"),
)


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A resolved value and where it came from: flag, env:NAME, profile:NAME, sandbox or default."""

    value: T
    source: str


def describe_source(source: str) -> str:
    """A source tag (flag, env:NAME, profile:NAME, config, sandbox, stdin, default) in words."""
    if source == "flag":
        return "command-line flag"
    if source.startswith("env:"):
        return f"environment variable {source[4:]}"
    if source.startswith("profile:"):
        return f"config file, profile '{source[8:]}'"
    if source == "config":
        return "config file (active_profile)"
    if source == "sandbox":
        return "built-in sandbox"
    if source == "stdin":
        return "standard input"
    return source


@dataclass
class GlobalOptions:
    """The root command's options, as given on the command line (None = not given)."""

    profile: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    max_wait: float | None = None
    json: bool = False
    color: str | None = None
    verbose: bool = False
    debug: bool = False
    sandbox: bool = False


@dataclass
class Settings:
    profile: Sourced[str]
    api_key: Sourced[str | None]
    #: The API base URL in its normal form (`…/v1`, no trailing slash): what the client calls and
    #: what caches and the ledger are keyed by. `base_url_given` is the value as written.
    base_url: Sourced[str]
    default_model: Sourced[str | None]
    timeout: Sourced[float]
    max_retries: Sourced[int]
    max_wait: Sourced[float]
    plan: Sourced[str | None]
    log_history: Sourced[bool]
    config_path: str
    base_url_given: str = ""
    price_overrides: dict[str, tuple[float, float]] = field(default_factory=dict)
    allow_insecure_http: bool = False

    def client_config(self) -> ClientConfig:
        """The API client's configuration (imports the client module: call from commands only)."""
        from mscli import __version__
        from mscli.api.client import ClientConfig

        timeout = self.timeout.value
        return ClientConfig(
            base_url=self.base_url.value,
            api_key=self.api_key.value,
            timeout=timeout,
            connect_timeout=min(10.0, timeout),
            first_byte_timeout=min(120.0, timeout),
            idle_timeout=min(60.0, timeout),
            max_retries=self.max_retries.value,
            max_wait=self.max_wait.value,
            allow_insecure_http=self.allow_insecure_http,
            user_agent=f"mscli/{__version__}",
        )

    def as_rows(self) -> list[tuple[str, Any, str]]:
        """(name, value, source) for display; the key is masked, and the base URL is shown without
        userinfo and with credential query parameters masked (both are refused, but must not be
        printed on the way)."""
        from mscli.redact import Redactor, mask_key

        key = self.api_key.value
        return [
            ("profile", self.profile.value, self.profile.source),
            ("api_key", mask_key(key) if key else None, self.api_key.source),
            ("base_url", Redactor().url(self.base_url.value), self.base_url.source),
            ("default_model", self.default_model.value, self.default_model.source),
            ("timeout", self.timeout.value, self.timeout.source),
            ("max_retries", self.max_retries.value, self.max_retries.source),
            ("max_wait", self.max_wait.value, self.max_wait.source),
            ("plan", self.plan.value, self.plan.source),
            ("log_history", self.log_history.value, self.log_history.source),
        ]


def _nonempty(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value


def _number(
    raw: Any, name: str, source: str, *, integer: bool = False, minimum: float = 0.0
) -> Any:
    """Parse a number from a flag, env var or config value, with an error naming its source."""
    try:
        value = int(raw) if integer else float(raw)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise _bad_value(name, raw, source, f"must be {kind}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad_value(name, raw, source, "must be finite")
    if value < minimum:
        raise _bad_value(name, raw, source, f"must be at least {minimum:g}")
    return value


def _bad_value(name: str, raw: Any, source: str, why: str) -> Exception:
    message = f"{name} = {raw!r} (from {source}) {why}"
    if source == "flag":
        return UsageError(message)
    return ConfigError(message, key=name, source=source)


def _pick(
    name: str,
    flag: Any,
    env: Mapping[str, str],
    env_name: str | None,
    profile: Mapping[str, Any],
    profile_name: str,
    default: Any,
) -> tuple[Any, str]:
    if flag is not None:
        return flag, "flag"
    if env_name is not None:
        value = _nonempty(env, env_name)
        if value is not None:
            return value, f"env:{env_name}"
    if name in profile and profile[name] is not None:
        return profile[name], f"profile:{profile_name}"
    return default, "default"


def _normalised_or_raw(url: str) -> str:
    """The normal form of a base URL; an unusable one is kept as given, for the client to refuse
    with the full error (settings never raise for it, so `config show` and `doctor` still work)."""
    from mscli.api.urls import normalise_base_url

    try:
        return normalise_base_url(url, allow_insecure_http=True).url
    except Exception:
        return url


def resolve(
    options: GlobalOptions,
    env: Mapping[str, str] | None = None,
    store: ConfigStore | None = None,
    *,
    sandbox: tuple[str, str] | None = None,
) -> Settings:
    """Resolve every setting. `sandbox=(base_url, key)` pins the two to an embedded sandbox; only
    an `sk_test_…` key from the flag or the environment replaces the sandbox's key."""
    env = os.environ if env is None else env
    if store is None:
        from mscli.config_store import ConfigStore

        store = ConfigStore()
    data = store.load()

    if options.profile is not None:
        profile = Sourced(options.profile, "flag")
    elif _nonempty(env, "MSCLI_PROFILE"):
        profile = Sourced(str(env["MSCLI_PROFILE"]).strip(), "env:MSCLI_PROFILE")
    elif isinstance(data.get("active_profile"), str):
        profile = Sourced(str(data["active_profile"]), "config")
    else:
        profile = Sourced(DEFAULT_PROFILE, "default")
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    assert isinstance(profiles, dict)
    prof: Mapping[str, Any] = profiles.get(profile.value) or {}
    if not isinstance(prof, dict):
        prof = {}
    pname = profile.value

    if sandbox is not None:
        base_url = Sourced(sandbox[0], "sandbox")
        api_key: Sourced[str | None] = Sourced(sandbox[1], "sandbox")
        # A test key given for this run (flag or environment, never a stored profile key) is kept,
        # so the sandbox's magic keys work with --sandbox: `MODELSTACK_API_KEY=sk_test_no_credits`.
        from mscli.credentials import normalise_key
        from mscli.sandbox.keys import TEST_KEY_PREFIX

        given, given_src = _pick(
            "api_key", options.api_key, env, "MODELSTACK_API_KEY", {}, "", None
        )
        if given is not None and normalise_key(str(given)).startswith(TEST_KEY_PREFIX):
            api_key = Sourced(str(given), given_src)
    else:
        raw_url, url_src = _pick(
            "base_url", options.base_url, env, "MODELSTACK_BASE_URL", prof, pname, DEFAULT_BASE_URL
        )
        base_url = Sourced(str(raw_url).strip(), url_src)
        raw_key, key_src = _pick(
            "api_key", options.api_key, env, "MODELSTACK_API_KEY", prof, pname, None
        )
        api_key = Sourced(None if raw_key is None else str(raw_key), key_src)
    base_url_given = base_url.value
    base_url = Sourced(_normalised_or_raw(base_url.value), base_url.source)

    t_raw, t_src = _pick(
        "timeout", options.timeout, env, "MSCLI_TIMEOUT", prof, pname, DEFAULT_TIMEOUT
    )
    r_raw, r_src = _pick(
        "max_retries",
        options.max_retries,
        env,
        "MSCLI_MAX_RETRIES",
        prof,
        pname,
        DEFAULT_MAX_RETRIES,
    )
    w_raw, w_src = _pick(
        "max_wait", options.max_wait, env, "MSCLI_MAX_WAIT", prof, pname, DEFAULT_MAX_WAIT
    )
    timeout = Sourced(float(_number(t_raw, "timeout", t_src, minimum=0.001)), t_src)
    retries = Sourced(int(_number(r_raw, "max_retries", r_src, integer=True)), r_src)
    max_wait = Sourced(float(_number(w_raw, "max_wait", w_src)), w_src)

    model_raw, model_src = _pick("default_model", None, env, None, prof, pname, None)
    plan_raw, plan_src = _pick("plan", None, env, None, prof, pname, None)
    log_raw, log_src = _pick("log_history", None, env, None, prof, pname, True)

    overrides: dict[str, tuple[float, float]] = {}
    prices = data.get("prices")
    if isinstance(prices, dict):
        for model, pair in prices.items():
            if isinstance(pair, (list, tuple)) and len(pair) == 2:
                try:
                    overrides[str(model)] = (float(pair[0]), float(pair[1]))
                except (TypeError, ValueError):
                    continue

    return Settings(
        profile=profile,
        api_key=api_key,
        base_url=base_url,
        default_model=Sourced(None if model_raw in (None, "") else str(model_raw), model_src),
        timeout=timeout,
        max_retries=retries,
        max_wait=max_wait,
        plan=Sourced(None if plan_raw in (None, "") else str(plan_raw), plan_src),
        log_history=Sourced(bool(log_raw), log_src),
        config_path=str(store.path),
        base_url_given=base_url_given,
        price_overrides=overrides,
        allow_insecure_http=bool(prof.get("allow_insecure_http", False)),
    )
