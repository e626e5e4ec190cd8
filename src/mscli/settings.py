"""Settings resolution: flag > environment > profile > default, with the source of every value.

This module (with `mscli.paths` for the directories) and `output/console.py` are the only places
that read the run's environment, the mapping `Terminal.env`, never the process's. It imports no
third-party package at module level, so resolving settings costs nothing at startup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from mscli.errors import ConfigError, MscliError, UsageError
from mscli.paths import Paths

if TYPE_CHECKING:
    from mscli.api.client import ClientConfig
    from mscli.api.urls import HostDecision
    from mscli.config_store import ConfigStore

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.modelstack.cc/v1"
DEFAULT_PROFILE = "default"
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_WAIT = 60.0


class Sourced(NamedTuple, Generic[T]):
    """A resolved value and where it came from: flag, env:NAME, profile:NAME, sandbox or default;
    for the key also command:NAME (the profile's api_key_command) or keyring:NAME (OS keyring)."""

    value: T
    source: str


def describe_source(source: str, key: str | None = None) -> str:
    """A source tag (flag, env:NAME, profile:NAME, command:NAME, keyring:NAME, config, sandbox,
    stdin, default) in words, to follow "the" in a sentence. With ``key``, a flag is named
    (``--max-retries flag``)."""
    if source == "flag":
        return f"{flag_name(key)} flag" if key else "command-line flag"
    if source.startswith("env:"):
        return f"environment variable {source[4:]}"
    if source.startswith("profile:"):
        return f"config file, profile '{source[8:]}'"
    if source.startswith("command:"):
        return f"api_key_command of profile '{source[8:]}'"
    if source.startswith("keyring:"):
        return f"OS keyring (profile '{source[8:]}')"
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


class GlobalOptions(NamedTuple):
    """The root command's options, as given on the command line (None = not given). A
    subcommand's own --json/--profile make a new one (`_replace`), never an edit."""

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


class Settings(NamedTuple):
    """Every setting of the run, resolved once (`resolve`) and never changed afterwards."""

    profile: Sourced[str]
    #: the key as its source gave it; None when there is none, or its source failed (`key_error`)
    api_key: Sourced[str | None]
    #: The API base URL in its normal form (`…/v1`, no trailing slash): what the client calls and
    #: what caches and the ledger are keyed by (as given when the host policy refused it).
    base_url: Sourced[str]
    default_model: Sourced[str | None]
    timeout: Sourced[float]
    max_retries: Sourced[int]
    max_wait: Sourced[float]
    plan: Sourced[str | None]
    log_history: Sourced[bool]
    config_path: str
    #: what the host policy decided about the base URL (mscli.api.urls.decide_host)
    host: HostDecision
    #: where the config, the caches and the data live (`Paths.from_env` of the run's environment)
    paths: Paths
    #: the look-alike host the user vouched for (profile trusted_host or MSCLI_TRUSTED_HOST)
    trusted_host: Sourced[str | None] = Sourced(None, "default")
    #: every value that must never be shown: the key as given anywhere, and normalised
    secrets: tuple[str, ...] = ()
    price_overrides: Mapping[str, tuple[float, float]] = MappingProxyType({})
    #: why the profile's api_key_command or OS keyring gave no key (raised by `key()`)
    key_error: MscliError | None = None
    #: the profile's api_key_command as written (not a secret, but shown redacted)
    key_command: Sourced[str | None] = Sourced(None, "default")
    #: the proxy variables of the run's environment (`urls.proxy_env`), handed to the client
    proxy_env: Mapping[str, str] = MappingProxyType({})
    allow_insecure_http: bool = False
    #: where allow_insecure_http came from: profile:NAME or default (no flag or variable sets it)
    allow_insecure_http_source: str = "default"

    @property
    def configured_model(self) -> str | None:
        """The default model the user chose (flag, profile), not mscli's built-in one: what a
        probe (`balance --probe`, `doctor --live`) prefers over the cheapest served model."""
        return self.default_model.value if self.default_model.source != "default" else None

    @property
    def base_url_given(self) -> str:
        return self.host.given

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
            proxy_env=self.proxy_env,
        )

    def check_base_url(self) -> None:
        """Apply the host policy before any I/O: raise why the base URL is refused (exit 10),
        saying where it came from and how to change it there. Settings keep such a URL as given,
        so that `config show` and `doctor` still work."""
        exc = self.host.refused
        if exc is None:
            return
        source = self.base_url.source
        if source in ("default", "sandbox"):
            raise exc
        facts = dict(exc.facts)
        shown = str(facts.pop("base_url", ""))
        facts["source"] = source
        if "lookalike" not in facts:
            facts["fix"] = _base_url_fix(source, self.profile.value)
        message = f"{exc.message} (from the {describe_source(source, 'base_url')})"
        raise type(exc)(message, base_url=shown, **facts) from None

    def key(self, *, required: bool = True) -> str | None:
        """The key to send, after the key rules of the host (`credentials.usable_key`)."""
        from mscli.credentials import usable_key
        from mscli.errors import KeyMissingError

        if self.key_error is not None:  # the profile's key source failed: never fall through
            raise self.key_error
        if self.api_key.value is None:
            if required:
                raise KeyMissingError("No API key is configured.", source=None)
            return None
        return usable_key(self.api_key.value, self.api_key.source, modelstack=self.host.modelstack)

    def as_rows(self) -> list[tuple[str, Any, str]]:
        """(name, value, source) for display; the key is masked, and the base URL is shown without
        userinfo and with credential query parameters masked (both are refused, but must not be
        printed on the way)."""
        from mscli.redact import Redactor, mask_key

        key = self.api_key.value
        command = self.key_command.value
        return [
            ("profile", self.profile.value, self.profile.source),
            ("api_key", mask_key(key) if key else None, self.api_key.source),
            (
                "api_key_command",
                Redactor(self.secrets).text(command) if command else None,
                self.key_command.source,
            ),
            ("base_url", Redactor().url(self.base_url.value), self.base_url.source),
            ("default_model", self.default_model.value, self.default_model.source),
            ("timeout", self.timeout.value, self.timeout.source),
            ("max_retries", self.max_retries.value, self.max_retries.source),
            ("max_wait", self.max_wait.value, self.max_wait.source),
            ("plan", self.plan.value, self.plan.source),
            ("log_history", self.log_history.value, self.log_history.source),
            ("allow_insecure_http", self.allow_insecure_http, self.allow_insecure_http_source),
            ("trusted_host", self.trusted_host.value, self.trusted_host.source),
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
#: mscli.credentials, the command by mscli.keysource, the URL by mscli.api.urls): settings check
#: only that they are text, so `config show` and `doctor` still work with a malformed one.
_TYPE_ONLY = ("api_key", "api_key_command", "base_url")


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


def resolve_profile(
    flag: str | None, env: Mapping[str, str], data: Mapping[str, Any]
) -> Sourced[str]:
    """THE profile precedence: --profile, then MSCLI_PROFILE, then the file's active_profile,
    then "default" (used by `resolve` and by the commands that edit a profile)."""
    if flag is not None:
        return Sourced(_check_profile_name(flag, "flag"), "flag")
    from_env = profile_from_env(env)
    if from_env is not None:
        return Sourced(from_env, "env:MSCLI_PROFILE")
    active = data.get("active_profile")
    if isinstance(active, str) and active:
        return Sourced(active, "config")
    return Sourced(DEFAULT_PROFILE, "default")


_TRUE = ("1", "true", "yes", "on")


def sandbox_requested(options: GlobalOptions, env: Mapping[str, str]) -> bool:
    """--sandbox, or MSCLI_SANDBOX=1/true/yes/on."""
    return options.sandbox or (env.get("MSCLI_SANDBOX") or "").strip().lower() in _TRUE


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


def check_colour_env(options: GlobalOptions, env: Mapping[str, str]) -> None:
    """--color (checked by the root callback) beats MSCLI_COLOR, which must be a known word."""
    from mscli.terminal import COLOUR_MODES

    raw = (env.get("MSCLI_COLOR") or "").strip()
    if options.color is None and raw and raw.lower() not in COLOUR_MODES:
        raise ConfigError(
            f"MSCLI_COLOR must be auto, always or never, not {raw!r}",
            variable="MSCLI_COLOR",
            fix="Change MSCLI_COLOR to auto, always or never, or unset it: `unset MSCLI_COLOR`.",
        )


def known_secrets(
    options: GlobalOptions, env: Mapping[str, str], extra: Sequence[Any] = ()
) -> tuple[str, ...]:
    """THE list of values every redactor masks: each key given for this run (flag, environment,
    profile, its api_key_command or OS keyring, sandbox), as given and normalised."""
    from mscli.credentials import normalise_key

    given = [options.api_key, env.get("MODELSTACK_API_KEY"), *extra]
    return tuple(
        dict.fromkeys(
            v
            for k in given
            if isinstance(k, str) and k.strip()
            for v in (k, k.strip(), normalise_key(k))
            if v
        )
    )


class ResolvedKey(NamedTuple):
    """What `resolve_key` found: the key and its source, why the profile's source failed, and
    every key value seen on the way (for `known_secrets`)."""

    key: Sourced[str | None]
    error: MscliError | None = None
    seen: tuple[str, ...] = ()


def profile_key(
    prof: Mapping[str, Any], pname: str, env: Mapping[str, str]
) -> tuple[str | None, str, MscliError | None]:
    """The key a profile holds itself, (key, source, error), looked at in this order: its
    `api_key_command` (run now, with a timeout), else the OS keyring when `api_key_keyring` is
    true, else `api_key` in config.toml. Used by `resolve_key` and by `keys list`."""
    from mscli import keysource
    from mscli.errors import KeySourceError

    command = prof.get("api_key_command")
    try:
        if isinstance(command, str) and command.strip():
            source = f"command:{pname}"
            return keysource.run_key_command(command, source, env), source, None
        if prof.get("api_key_keyring") is True:
            source = f"keyring:{pname}"
            return keysource.keyring_get(pname, source), source, None
    except KeySourceError as exc:
        return None, exc.source or "default", exc
    stored = prof.get("api_key")
    if stored is not None:
        return str(stored), f"profile:{pname}", None
    return None, "default", None


def resolve_key(
    options: GlobalOptions,
    env: Mapping[str, str],
    prof: Mapping[str, Any],
    pname: str,
    *,
    sandbox_key: str | None = None,
) -> ResolvedKey:
    """THE key precedence: --api-key > MODELSTACK_API_KEY > the profile's own source
    (`profile_key`: api_key_command > OS keyring > config.toml) > none. With the embedded sandbox,
    its key replaces the profile's (which is then not even read) and any key that is not a
    `sk_test_` key: a test key given by the flag or the environment still wins."""
    if options.api_key is not None:
        given: tuple[str | None, str] = (options.api_key, "flag")
    else:
        from_env = _nonempty(env, "MODELSTACK_API_KEY")
        given = (from_env, "env:MODELSTACK_API_KEY") if from_env else (None, "default")
    raw, source = given
    if sandbox_key is not None:
        from mscli.credentials import normalise_key
        from mscli.sandbox.keys import TEST_KEY_PREFIX

        if raw is None or not normalise_key(raw).startswith(TEST_KEY_PREFIX):
            raw, source = sandbox_key, "sandbox"
        return ResolvedKey(Sourced(raw, source), None, (sandbox_key,))
    if raw is not None:
        return ResolvedKey(Sourced(raw, source))
    key, source, error = profile_key(prof, pname, env)
    return ResolvedKey(Sourced(key, source), error, (key,) if key else ())


def resolve(
    options: GlobalOptions,
    env: Mapping[str, str],
    store: ConfigStore | None = None,
    *,
    sandbox: tuple[str, str] | None = None,
) -> Settings:
    """Resolve every setting once. The embedded sandbox is one more source: `sandbox=(base_url,
    key)` puts its URL above every other, and its key above the profile's (a test key given by the
    flag or the environment still wins, so `MODELSTACK_API_KEY=sk_test_no_credits` works)."""
    paths = Paths.from_env(env)
    if store is None:
        from mscli.config_store import ConfigStore

        store = ConfigStore(paths.config_dir)
    data = store.load()

    profile = resolve_profile(options.profile, env, data)
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    assert isinstance(profiles, dict)
    prof: Mapping[str, Any] = profiles.get(profile.value) or {}
    if not isinstance(prof, dict):
        prof = {}
    pname = profile.value
    _check_profile(prof, pname, str(store.path))

    def pick(name: str, flag: Any, env_name: str | None, default: Any) -> tuple[Any, str]:
        return _pick(name, flag, env, env_name, prof, pname, default)

    raw_url, url_src = pick("base_url", options.base_url, "MODELSTACK_BASE_URL", DEFAULT_BASE_URL)
    if sandbox is not None:
        raw_url, url_src = sandbox[0], "sandbox"
    found = resolve_key(
        options, env, prof, pname, sandbox_key=sandbox[1] if sandbox is not None else None
    )
    secrets = known_secrets(options, env, [prof.get("api_key"), *found.seen])
    command_raw, command_src = pick("api_key_command", None, None, None)

    insecure_raw, insecure_src = pick("allow_insecure_http", None, None, False)
    trusted, trusted_src = pick("trusted_host", None, "MSCLI_TRUSTED_HOST", None)
    given_url = str(raw_url).strip()
    from mscli.api.urls import decide_host, proxy_env

    host = decide_host(
        given_url,
        allow_insecure_http=insecure_raw is True,
        trusted_host=str(trusted) if trusted else None,
        sandbox=sandbox is not None,
    )

    t_raw, t_src = pick("timeout", options.timeout, "MSCLI_TIMEOUT", DEFAULT_TIMEOUT)
    r_raw, r_src = pick(
        "max_retries", options.max_retries, "MSCLI_MAX_RETRIES", DEFAULT_MAX_RETRIES
    )
    w_raw, w_src = pick("max_wait", options.max_wait, "MSCLI_MAX_WAIT", DEFAULT_MAX_WAIT)
    model_raw, model_src = pick("default_model", None, None, None)
    if model_raw in (None, ""):
        from mscli.pricing import DEFAULT_MODEL

        model_raw, model_src = DEFAULT_MODEL, "default"
    plan_raw, plan_src = pick("plan", None, None, None)
    log_raw, log_src = pick("log_history", None, None, True)

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
        api_key=found.key,
        base_url=Sourced(host.url.url if host.url is not None else given_url, url_src),
        default_model=Sourced(str(model_raw), model_src),
        timeout=Sourced(float(_from_source("timeout", t_raw, t_src)), t_src),
        max_retries=Sourced(int(_from_source("max_retries", r_raw, r_src)), r_src),
        max_wait=Sourced(float(_from_source("max_wait", w_raw, w_src)), w_src),
        plan=Sourced(None if plan_raw in (None, "") else str(plan_raw).lower(), plan_src),
        log_history=Sourced(bool(log_raw), log_src),
        config_path=str(store.path),
        host=host,
        paths=paths,
        trusted_host=Sourced(str(trusted) if trusted else None, trusted_src),
        secrets=secrets,
        price_overrides=overrides,
        key_error=found.error,
        key_command=Sourced(None if command_raw is None else str(command_raw), command_src),
        proxy_env=proxy_env(env),
        allow_insecure_http=insecure_raw is True,
        allow_insecure_http_source=insecure_src,
    )
