"""Settings resolution: flag > environment > profile > default, with the source of every value.

This module and `output/console.py` are the only places that read the environment. It imports no
third-party package at module level, so resolving settings costs nothing at startup.
"""

from __future__ import annotations

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


def describe_source(source: str, key: str | None = None) -> str:
    """A source tag (flag, env:NAME, profile:NAME, config, sandbox, stdin, default) in words, to
    follow "the" in a sentence. With ``key``, a flag is named (``--max-retries flag``)."""
    if source == "flag":
        return f"{flag_name(key)} flag" if key else "command-line flag"
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


def flag_name(key: str) -> str:
    """The global flag that sets a setting: ``max_retries`` -> ``--max-retries``."""
    return "--" + key.replace("_", "-")


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
    #: where allow_insecure_http came from: profile:NAME or default (no flag or variable sets it)
    allow_insecure_http_source: str = "default"

    def client_config(self) -> ClientConfig:
        """The API client's configuration (imports the client module: call from commands only)."""
        from mscli import __version__
        from mscli.api.client import ClientConfig

        self.check_base_url()
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

    def check_base_url(self) -> None:
        """Refuse an unusable base URL before any request (``BaseUrlError``, exit 10), saying where
        it came from and how to change it there. Settings keep such a URL as given, so that
        `config show` and `doctor` still work; this runs when a client is about to be built."""
        from mscli.api.urls import normalise_base_url
        from mscli.errors import BaseUrlError

        try:
            normalise_base_url(self.base_url.value, allow_insecure_http=self.allow_insecure_http)
        except BaseUrlError as exc:
            source = self.base_url.source
            if source in ("default", "sandbox"):
                raise
            exc.message = f"{exc.message} (from the {describe_source(source, 'base_url')})"
            exc.facts["source"] = source
            exc.facts["fix"] = _base_url_fix(source, self.profile.value)
            raise

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
            ("allow_insecure_http", self.allow_insecure_http, self.allow_insecure_http_source),
        ]


def _base_url_fix(source: str, profile: str) -> str:
    example = DEFAULT_BASE_URL
    if source.startswith("env:"):
        var = source[4:]
        return f"change {var} to a usable URL such as {example}, or unset it: `unset {var}`"
    if source == "flag":
        return f"give {flag_name('base_url')} a usable URL such as {example}, or leave it out"
    opt = f" --profile {profile}" if profile != DEFAULT_PROFILE else ""
    return f"set it with `mscli config set base_url {example}{opt}`"


def _nonempty(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value


def _env_fix(var: str, accepted: str) -> str:
    return f"change {var} to {accepted}, or unset it: `unset {var}`"


def _from_source(key: str, raw: Any, source: str) -> Any:
    """A flag's or an environment variable's value for ``key``, checked against the same rules as
    ``mscli config set`` (``config_schema.KNOWN_KEYS``). A bad flag is a usage error (exit 2); a
    bad variable a config error (exit 10) naming the variable, with how to change or unset it.
    Profile values are checked before (``_check_profile``); defaults need no check."""
    from mscli.config_schema import InvalidValue, checked, value_from_text

    if not (source == "flag" or source.startswith("env:")):
        return raw
    try:
        return value_from_text(key, raw) if isinstance(raw, str) else checked(key, raw)
    except InvalidValue as exc:
        if source == "flag":
            raise UsageError(exc.says(flag_name(key)), key=key, accepted=exc.accepted) from None
        var = source[4:]
        raise ConfigError(
            f"{key} from the {describe_source(source)} must be {exc.accepted}, not {raw!r}",
            key=key,
            variable=var,
            source=source,
            accepted=exc.accepted,
            fix=_env_fix(var, exc.accepted),
        ) from None


#: Profile keys whose format is checked where they are used, with the full message (the key by
#: mscli.credentials, the URL by mscli.api.urls): settings check only that they are text, so
#: `config show` and `doctor` still work with a malformed one.
_TYPE_ONLY = ("api_key", "base_url")


def _check_profile(prof: Mapping[str, Any], pname: str, path: str) -> None:
    """Every known key of the profile in use, against ``config_schema.KNOWN_KEYS``: a stored value
    the key does not accept is a config error (exit 10) naming the file, profile and key."""
    from mscli.config_schema import KNOWN_KEYS, InvalidValue, checked, stored_value_error

    for key, value in prof.items():
        spec = KNOWN_KEYS.get(key)
        if spec is None or value is None:
            continue
        if key in _TYPE_ONLY:
            if not isinstance(value, str):
                raise stored_value_error(key, value, pname, path)
            continue
        try:
            checked(key, value)
        except InvalidValue as exc:
            raise stored_value_error(key, value, pname, path, exc) from None


def _check_profile_name(name: str, source: str) -> str:
    from mscli.config_schema import check_profile_name

    try:
        return check_profile_name(name)
    except UsageError:
        if source == "flag":
            raise
        var = source[4:]
        raise ConfigError(
            f"the {describe_source(source)} names an invalid profile {name!r}: use letters, "
            "digits, '_', '-' or '.' (up to 64 characters)",
            variable=var,
            source=source,
            fix=f"change {var} to a profile name (`mscli config profiles` lists them), or unset "
            f"it: `unset {var}`",
        ) from None


def profile_from_env(env: Mapping[str, str]) -> str | None:
    """MSCLI_PROFILE, checked like --profile (a bad one is a config error naming the variable)."""
    value = _nonempty(env, "MSCLI_PROFILE")
    if value is None:
        return None
    return _check_profile_name(value.strip(), "env:MSCLI_PROFILE")


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

    env_profile = None if options.profile is not None else profile_from_env(env)
    if options.profile is not None:
        profile = Sourced(_check_profile_name(options.profile, "flag"), "flag")
    elif env_profile is not None:
        profile = Sourced(env_profile, "env:MSCLI_PROFILE")
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
    _check_profile(prof, pname, str(store.path))

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
    timeout = Sourced(float(_from_source("timeout", t_raw, t_src)), t_src)
    retries = Sourced(int(_from_source("max_retries", r_raw, r_src)), r_src)
    max_wait = Sourced(float(_from_source("max_wait", w_raw, w_src)), w_src)

    model_raw, model_src = _pick("default_model", None, env, None, prof, pname, None)
    plan_raw, plan_src = _pick("plan", None, env, None, prof, pname, None)
    log_raw, log_src = _pick("log_history", None, env, None, prof, pname, True)
    insecure_raw, insecure_src = _pick("allow_insecure_http", None, env, None, prof, pname, False)

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
        plan=Sourced(None if plan_raw in (None, "") else str(plan_raw).lower(), plan_src),
        log_history=Sourced(bool(log_raw), log_src),
        config_path=str(store.path),
        base_url_given=base_url_given,
        price_overrides=overrides,
        allow_insecure_http=insecure_raw is True,
        allow_insecure_http_source=insecure_src,
    )
