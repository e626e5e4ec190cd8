"""The doctor's checks, in order. Each is a small function taking the shared `DoctorState` and
returning a `CheckResult`; the runner stamps the name, title and duration on it.

Order is the path a request takes: local facts first (versions, config, key, base URL, proxy and CA
variables), then the network one layer at a time (DNS, TCP, TLS, HTTP), then what the API says
(is it the API, does it take the key, rate limit, models, default model, balance), then the opt-in
live completion. A check lists the checks it `needs`; when one of them failed, it is reported as
`skip` naming that failure instead of failing again, so the first failure is the root cause.

Exit codes and fix texts come from `mscli.advice` (`row_for(key)`), never from a second table; the
few fixes that have no error class (a plain-HTTP port, a misspelt host, a CA variable mscli does not
read) live here, with the exit code of their nearest class.

Standard library and light mscli modules only at module level: httpx and pydantic come in through
the API client, which is imported when the first HTTP check runs.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import ipaddress
import os
import platform
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mscli import __version__
from mscli.advice import advise, row_for, suggest
from mscli.errors import ApiError, ConfigError, KeyFormatError, KeyMissingError, MscliError
from mscli.settings import describe_source

if TYPE_CHECKING:
    from mscli.api.client import GatewayClient
    from mscli.api.urls import NormalisedUrl
    from mscli.context import AppContext
    from mscli.settings import Settings

Status = Literal["ok", "warn", "fail", "skip"]

#: The host of the real API (modelstack-api.md §1).
API_HOST = "api.modelstack.cc"
#: Longest time any single doctor step waits, whatever --timeout says (a doctor must finish).
STEP_TIMEOUT = 15.0
#: A spendable balance below this many credits is reported as low.
LOW_CREDITS = 50.0
#: A certificate expiring within this many days is a warning.
CERT_WARN_DAYS = 14
#: Warn when fewer than this share of the rate-limit window is left.
RATE_HEADROOM_WARN = 0.1
#: Reasons OpenSSL gives when the other end does not speak TLS at all.
_NOT_TLS_REASONS = (
    "WRONG_VERSION_NUMBER",
    "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "UNEXPECTED_MESSAGE",
)
#: Issuer names of common TLS-inspecting proxies and security products.
_INTERCEPTORS = (
    "zscaler",
    "netskope",
    "fortinet",
    "fortigate",
    "palo alto",
    "bluecoat",
    "blue coat",
    "symantec web",
    "forcepoint",
    "sophos",
    "cisco umbrella",
    "mitmproxy",
    "charles proxy",
    "fiddler",
    "kaspersky",
    "avast",
    "eset",
    "checkpoint",
    "check point",
)


@dataclass
class CheckResult:
    """What one check found. `exit_code` is the exit code of its failure class (0 when ok/skip);
    `blocked_by` names the failed check that made this one `skip`."""

    name: str = ""
    title: str = ""
    status: Status = "ok"
    detail: str = ""
    fix: str = ""
    duration_ms: float = 0.0
    exit_code: int = 0
    blocked_by: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix or None,
            "duration_ms": round(self.duration_ms, 1),
            "exit_code": self.exit_code,
        }


def ok(detail: str, **data: Any) -> CheckResult:
    return CheckResult(status="ok", detail=detail, data=data)


def skip(detail: str, *, blocked_by: str | None = None) -> CheckResult:
    return CheckResult(status="skip", detail=detail, blocked_by=blocked_by)


def problem(
    status: Status, detail: str, *, key: str, fix: str | None = None, **data: Any
) -> CheckResult:
    """A warning or failure of the class `key` (an advice key): its exit code always comes from the
    advice table; the fix too, unless this check knows a more specific one."""
    row = row_for(key)
    text = fix if fix is not None else _join_fix(row.fix)
    return CheckResult(
        status=status, detail=detail, fix=text, exit_code=int(row.exit_code), data=data
    )


def fail(detail: str, *, key: str, fix: str | None = None, **data: Any) -> CheckResult:
    return problem("fail", detail, key=key, fix=fix, **data)


def warn(detail: str, *, key: str, fix: str | None = None, **data: Any) -> CheckResult:
    return problem("warn", detail, key=key, fix=fix, **data)


def _join_fix(lines: Any) -> str:
    text = " ".join(str(line).strip() for line in lines if str(line).strip())
    return re.sub(r"\s+", " ", text.replace("•", "")).strip()


def from_error(
    state: DoctorState, err: MscliError, detail: str | None = None, fix: str | None = None
) -> CheckResult:
    """A failure built from an mscli error through the advice table (exit code, fix, details)."""
    advice = advise(err, state.advice_context())
    parts = [detail or err.message]
    for label, value in advice.details:
        if label in ("status", "host", "base URL"):
            continue
        parts.append(f"{label}: {value}")
    text = fix if fix is not None else _join_fix(advice.fix)
    return CheckResult(
        status="fail", detail="; ".join(parts), fix=text, exit_code=int(advice.exit_code)
    )


# --- shared state ------------------------------------------------------------------------------


class _FileLessStore:
    """Stands in for a config store whose file cannot be read, so flags and environment still resolve."""

    def __init__(self, path: Any) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        return {}


@dataclass
class DoctorState:
    """Everything the checks share: the run's context, resolved settings, and what earlier checks
    learnt (addresses, the raw reply, the model list...)."""

    actx: AppContext
    live: bool = False
    #: per-step timeout in seconds (min of --timeout and STEP_TIMEOUT)
    timeout: float = STEP_TIMEOUT
    results: dict[str, CheckResult] = field(default_factory=dict)
    traces: deque[str] = field(default_factory=lambda: deque(maxlen=120))

    settings: Settings | None = None
    settings_error: MscliError | None = None
    config_error: MscliError | None = None
    key: str | None = None  # the normalised key, only when it may be sent
    url: NormalisedUrl | None = None
    proxy: str | None = None  # the proxy URL that applies to the base URL (redacted)
    proxy_target: tuple[str, int] | None = None
    addrs: list[tuple[Any, ...]] = field(default_factory=list)
    tcp_addr: tuple[Any, ...] | None = None
    raw: Any = None  # the RawResponse of GET /models
    models: list[str] | None = None
    balance: Any = None
    _client: GatewayClient | None = None

    # -- environment and settings --

    @property
    def env(self) -> Mapping[str, str]:
        return self.actx.env

    def getenv(self, name: str) -> str | None:
        """An environment variable, upper- or lower-case (proxy variables come in both)."""
        for candidate in (name, name.lower()):
            value = self.env.get(candidate)
            if value is not None and value.strip():
                return value.strip()
        return None

    def resolve_settings(self) -> None:
        """Resolve settings; a config file that cannot be read is recorded, and settings are
        resolved again without it so the checks after it still know flags and environment."""
        try:
            self.settings = self.actx.settings
            return
        except ConfigError as exc:
            self.settings_error = exc
        except MscliError as exc:  # e.g. a bad --timeout (usage)
            self.settings_error = exc
            return
        from mscli.settings import resolve

        pair = None
        if self.actx.options.sandbox:
            sb = self.actx.sandbox()
            pair = (sb.base_url, sb.api_key)
        try:
            store = _FileLessStore(self.actx.store.path)
            self.settings = resolve(self.actx.options, self.env, store, sandbox=pair)  # type: ignore[arg-type]
        except MscliError:
            self.settings = None

    def advice_context(self) -> Any:
        ctx = self.actx.advice_context()
        if self.settings is not None:
            ctx.key_source = self.settings.api_key.source if self.settings.api_key.value else None
            ctx.profile = self.settings.profile.value
            ctx.plan = self.settings.plan.value
            ctx.config_path = self.settings.config_path
        return ctx

    # -- redaction --

    def redact(self, text: str) -> str:
        from mscli.redact import Redactor

        secrets = [self.actx.options.api_key, self.env.get("MODELSTACK_API_KEY"), self.key]
        if self.settings is not None:
            secrets.append(self.settings.api_key.value)
        return Redactor(secrets).text(self.actx.redact(text))

    def trace(self, line: str) -> None:
        shown = self.redact(line)
        self.traces.append(shown)
        if self.actx.options.verbose:
            self.actx.note(shown)

    # -- the client --

    def client(self) -> GatewayClient:
        """A client on the checked base URL, with the key only when the key check passed, no
        retries (the doctor wants the first answer) and the doctor's short timeouts."""
        if self._client is None:
            from dataclasses import replace

            from mscli.api.client import GatewayClient

            assert self.settings is not None and self.url is not None
            t = self.timeout
            config = replace(
                self.settings.client_config(),
                base_url=self.url.url,
                api_key=self.key,
                timeout=t,
                connect_timeout=min(t, 10.0),
                first_byte_timeout=t,
                idle_timeout=t,
                max_retries=0,
            )
            self._client = GatewayClient(config, trace=self.trace)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    @property
    def plan(self) -> Any:
        from mscli.pricing import PLANS

        name = self.settings.plan.value if self.settings is not None else None
        return PLANS.get(name) if name else None


# --- small helpers -------------------------------------------------------------------------------


def _set_hint(state: DoctorState, name: str, value: str) -> str:
    """How to change setting `name` where it currently comes from."""
    s = state.settings
    source = getattr(getattr(s, name, None), "source", "") if s is not None else ""
    if source.startswith("env:"):
        return f"export {source[4:]}={value}"
    if source == "flag":
        flag = "--" + name.replace("_", "-")
        return f"pass {flag} {value}"
    return f"mscli config set {name} {value}"


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms < 10_000 else f"{seconds:.1f} s"


def _host_port(state: DoctorState) -> tuple[str, int]:
    """Where the connection goes: the proxy when one applies, else the API host."""
    if state.proxy_target is not None:
        return state.proxy_target
    assert state.url is not None
    port = state.url.port or (443 if state.url.scheme == "https" else 80)
    return state.url.host, port


def _fmt_addr(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name)
        if value is not None:
            return str(value)
        lname = name.lower()
        for k, v in headers.items():
            if str(k).lower() == lname:
                return str(v)
    except Exception:
        return None
    return None


def _raw_status(raw: Any) -> int:
    for attr in ("status", "status_code"):
        value = getattr(raw, attr, None)
        if isinstance(value, int):
            return value
    return 0


def _raw_text(raw: Any) -> str:
    for attr in ("excerpt", "body_excerpt", "text", "body"):
        value = getattr(raw, attr, None)
        if isinstance(value, bytes):
            return value[:2000].decode("utf-8", "replace")
        if isinstance(value, str):
            return value
    return ""


def _raw_latency_ms(raw: Any, fallback_ms: float) -> float:
    for attr in ("latency_ms", "elapsed_ms"):
        value = getattr(raw, attr, None)
        if isinstance(value, (int, float)):
            return float(value)
    value = getattr(raw, "latency", None)
    if isinstance(value, (int, float)):
        return float(value) * 1000 if value < 100 else float(value)
    return fallback_ms


def _html_title(text: str) -> str | None:
    m = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    title = re.sub(r"\s+", " ", m.group(1)).strip()
    return title[:80] or None


def _server_message(text: str) -> str | None:
    import json

    try:
        body = json.loads(text)
    except ValueError:
        return None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:200].rstrip(".")
        if isinstance(err, str):
            return err[:200].rstrip(".")
        for k in ("message", "detail"):
            if isinstance(body.get(k), str):
                return str(body[k])[:200].rstrip(".")
    return None


# --- 1. local checks -------------------------------------------------------------------------


def check_versions(state: DoctorState) -> CheckResult:
    py = platform.python_version()
    parts = [f"mscli {__version__}", f"Python {py}"]
    try:
        from importlib.metadata import version

        parts.append(f"httpx {version('httpx')}")
    except Exception:
        pass
    parts.append(f"{platform.system() or sys.platform} {platform.machine()}".strip())
    data = {"mscli": __version__, "python": py, "platform": sys.platform}
    return ok(", ".join(parts), **data)


def check_config(state: DoctorState) -> CheckResult:
    store = state.actx.store
    path = store.path
    try:
        data = store.load()
    except ConfigError as exc:
        state.config_error = exc
        detail = exc.message
        fix = exc.facts.get("fix")
        return from_error(
            state, exc, detail=detail, fix=(str(fix).rstrip(".") + ".") if fix else None
        )
    if state.settings_error is not None:  # a bad value in the file or the environment
        return from_error(state, state.settings_error)
    if not os.path.exists(path):
        return ok(f"no config file at {path} (settings come from flags, environment and defaults)")
    warning = None
    with contextlib.suppress(Exception):
        warning = store.permission_warning()
    profile = state.settings.profile.value if state.settings is not None else "default"
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    if warning:
        detail, _, fix = warning.partition(" Fix: ")
        return warn(
            detail.strip(),
            key="config.invalid",
            fix=(fix.strip() or f"chmod 600 {path}")
            + " (only you should be able to read a file holding a key).",
        )
    if (
        profiles is not None
        and profile not in profiles
        and state.settings is not None
        and state.settings.profile.source != "default"
    ):
        return warn(
            f"{path} parses, but has no profile '{profile}' (selected by {state.settings.profile.source})",
            key="config.invalid",
            fix=f"create it with `mscli --profile {profile} keys set`, or pick an existing one: {', '.join(sorted(profiles)) or 'none'}.",
        )
    return ok(f"{path} parses, permissions are private, profile '{profile}'")


def check_key(state: DoctorState) -> CheckResult:
    from mscli.credentials import check_key_format, key_problems, normalise_key
    from mscli.redact import mask_key

    s = state.settings
    if s is None:
        return skip("settings could not be resolved", blocked_by="config")
    raw = s.api_key.value
    source = s.api_key.source
    if raw is None:
        if state.config_error is not None:
            return skip(
                "the config file could not be read, and it may hold the key", blocked_by="config"
            )
        where = f"--api-key, $MODELSTACK_API_KEY, profile '{s.profile.value}' in {s.config_path}"
        return fail(f"no API key (looked at {where})", key="auth.missing")
    label = "the " + describe_source(source)
    try:
        key = normalise_key(raw)
        check_key_format(key, source)
    except KeyMissingError as exc:
        return fail(f"the key from {label} is empty", key=exc.advice_key)
    except KeyFormatError as exc:
        problems = exc.facts.get("problems") or [
            exc.facts.get("problem") or "it is not a ModelStack key"
        ]
        detail = f"the key from {label} is malformed: " + "; ".join(str(p) for p in problems[:2])
        advice = advise(exc, state.advice_context())
        return fail(detail, key=exc.advice_key, fix=_join_fix(advice.fix))
    state.key = key
    masked = mask_key(key)
    if source == "sandbox":
        return ok(f"{masked} (sandbox test key)", source=source)
    repaired = key_problems(raw)
    if repaired:
        return warn(
            f"{masked} from {label}: {repaired[0]}; mscli strips it, other tools may not",
            key="auth.malformed",
            fix="Store the key without the extra characters: `mscli keys set` (it cleans what you paste).",
            source=source,
        )
    return ok(f"{masked} from {label}", source=source)


def _lookalike(host: str) -> str | None:
    """Why `host` looks like a mistake for api.modelstack.cc, or None."""
    h = host.lower().rstrip(".")
    if h == API_HOST:
        return None
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(h.strip("[]"))
        return None
    if h == "localhost" or h.endswith(".localhost"):
        return None
    if h == "modelstack.cc" or h == "www.modelstack.cc":
        return f"{h} is ModelStack's website, not its API (the API is {API_HOST})"
    if h.endswith(".modelstack.cc"):
        return f"{h} is not the API host ({API_HOST})"
    if h in ("modelstack.app", "api.modelstack.app", "docs.modelstack.app") or h.endswith(
        ".modelstack.app"
    ):
        return f"{h} belongs to a different product with a similar name (the API is {API_HOST})"
    labels = h.split(".")
    if "modelstack" in labels or any(
        lab.replace("-", "") in ("apimodelstack", "modelstack") for lab in labels
    ):
        return f"{h} looks like a misspelling of {API_HOST} (.{labels[-1]} instead of .cc?)"
    ratio = difflib.SequenceMatcher(None, h, API_HOST).ratio()
    if ratio >= 0.8 or difflib.SequenceMatcher(None, h, "modelstack.cc").ratio() >= 0.85:
        return f"{h} looks like a misspelling of {API_HOST}"
    return None


def check_base_url(state: DoctorState) -> CheckResult:
    from mscli.api.urls import normalise_base_url

    s = state.settings
    if s is None:
        return skip("settings could not be resolved", blocked_by="config")
    raw = s.base_url_given or s.base_url.value
    source = s.base_url.source
    try:
        url = normalise_base_url(raw, allow_insecure_http=s.allow_insecure_http)
    except MscliError as exc:
        advice = advise(exc, state.advice_context())
        sent = "; nothing was sent" if exc.advice_key == "config.insecure_http" else ""
        return fail(
            f"{exc.message}{sent} (base URL from {source})",
            key=exc.advice_key,
            fix=_join_fix(advice.fix),
        )
    why = _lookalike(url.host)
    if why:
        good = f"https://{API_HOST}/v1"
        return fail(
            f"{url.url} (from {source}): {why}; not contacted, your key would go to it",
            key="config.base_url",
            fix=f"Use the API's address: {_set_hint(state, 'base_url', good)}.",
        )
    state.url = url
    where = f"(from {source})"
    data = {"url": url.url, "form": url.form, "source": source}
    if url.scheme == "http" and not url.is_loopback:
        return warn(
            f"{url.url} {where}: plain http to a non-loopback host, allowed by allow_insecure_http; the key travels unencrypted",
            key="config.insecure_http",
            **data,
        )
    note = "; plain http to a loopback host (allowed)" if url.scheme == "http" else ""
    if url.form == "appended_v1":
        given = raw.strip().rstrip("/")
        return warn(
            f"{given} {where} has no /v1: mscli appended it and uses {url.url}{note}; other OpenAI-compatible tools need it written out",
            key="config.base_url",
            fix=f"Write the full base URL: {_set_hint(state, 'base_url', url.url)}.",
            **data,
        )
    if url.form == "custom_path":
        return warn(
            f"{url.url} {where}: the path {url.path} does not end in /v1; used as given (a proxy or self-hosted gateway?){note}",
            key="config.base_url",
            fix=f"If this is ModelStack, use https://{API_HOST}/v1: {_set_hint(state, 'base_url', f'https://{API_HOST}/v1')}.",
            **data,
        )
    host_note = (
        ""
        if url.host == API_HOST or url.is_loopback
        else f"; {url.host} is not {API_HOST} (a proxy or gateway?)"
    )
    return ok(f"{url.url} {where}, /v1 present{note}{host_note}", **data)


_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
_CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")


def _proxy_for(state: DoctorState, scheme: str, host: str) -> str | None:
    """The proxy httpx would use for this scheme and host (HTTPS_PROXY/HTTP_PROXY, then ALL_PROXY,
    unless NO_PROXY matches), following httpx's rules closely enough for a diagnosis."""
    proxy = state.getenv(f"{scheme.upper()}_PROXY") or state.getenv("ALL_PROXY")
    if not proxy:
        return None
    no_proxy = state.getenv("NO_PROXY") or ""
    h = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return None
        entry = entry.split("://", 1)[-1].split(":")[0].strip("[]")
        if entry.startswith("."):
            if h.endswith(entry):
                return None
        elif h == entry or h.endswith("." + entry):
            return None
        with contextlib.suppress(ValueError):
            if "/" in entry and ipaddress.ip_address(h) in ipaddress.ip_network(
                entry, strict=False
            ):
                return None
    return proxy if "://" in proxy else f"http://{proxy}"


def check_proxy(state: DoctorState) -> CheckResult:
    from mscli.redact import Redactor

    red = Redactor()
    seen = {name: state.getenv(name) for name in (*_PROXY_VARS, *_CA_VARS)}
    parts: list[str] = []
    warnings: list[tuple[str, str]] = []
    cert_file, cert_dir = seen["SSL_CERT_FILE"], seen["SSL_CERT_DIR"]
    if cert_file is not None and not os.path.isfile(cert_file):
        return fail(
            f"SSL_CERT_FILE={cert_file} does not exist or is not a file; every https request would fail",
            key="config.invalid",
            fix="Point SSL_CERT_FILE at your CA bundle (a .pem file), or unset it.",
        )
    if cert_file is None and cert_dir is not None and not os.path.isdir(cert_dir):
        return fail(
            f"SSL_CERT_DIR={cert_dir} is not a directory; every https request would fail",
            key="config.invalid",
            fix="Point SSL_CERT_DIR at a directory of CA certificates, or unset it.",
        )
    if cert_file:
        parts.append(f"CA bundle {cert_file} (SSL_CERT_FILE)")
    elif cert_dir:
        parts.append(f"CA certificates in {cert_dir} (SSL_CERT_DIR)")
    else:
        parts.append("CA bundle: certifi's")
        for other in ("REQUESTS_CA_BUNDLE",):  # Python `requests` users' setting; httpx ignores it
            if seen[other]:
                warnings.append(
                    (
                        f"{other} is set but mscli does not read it (it reads SSL_CERT_FILE)",
                        f'If mscli should trust the same CAs: export SSL_CERT_FILE="${other}".',
                    )
                )
                break
    if state.url is not None:
        proxy = _proxy_for(state, state.url.scheme, state.url.host)
        if proxy:
            shown = red.url(proxy)
            state.proxy = shown
            from urllib.parse import urlsplit

            try:
                p = urlsplit(proxy)
                pscheme = (p.scheme or "http").lower()
                if p.hostname:
                    state.proxy_target = (
                        p.hostname,
                        p.port
                        or (
                            443
                            if pscheme == "https"
                            else 1080
                            if pscheme.startswith("socks")
                            else 80
                        ),
                    )
            except ValueError:
                return fail(f"the proxy setting {shown} is not a valid URL", key="network.proxy")
            if pscheme.startswith("socks"):
                try:
                    import socksio  # noqa: F401
                except ImportError:
                    return fail(
                        f"{shown} is a SOCKS proxy, which needs the socksio package",
                        key="network.proxy",
                        fix="pip install 'httpx[socks]' into mscli's environment, or use an HTTP proxy.",
                    )
            parts.insert(0, f"{state.url.host} goes through proxy {shown}")
        else:
            set_vars = [n for n in _PROXY_VARS[:3] if seen[n]]
            if set_vars and seen["NO_PROXY"]:
                parts.insert(
                    0,
                    f"direct to {state.url.host} (NO_PROXY matches; {', '.join(set_vars)} not used)",
                )
            elif set_vars:
                parts.insert(
                    0, f"direct to {state.url.host} ({', '.join(set_vars)} set for other schemes)"
                )
            else:
                parts.insert(0, "no proxy variables, direct connection")
    if warnings:
        detail, fix = warnings[0]
        return warn("; ".join(parts) + f"; {detail}", key="network.tls", fix=fix)
    return ok("; ".join(parts))


# --- 2. the network, one layer at a time ---------------------------------------------------------


def _getaddrinfo(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """socket.getaddrinfo with a timeout (it has none of its own: run it in a daemon thread)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    t = threading.Thread(target=work, name="mscli-doctor-dns", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"no answer from DNS within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return list(box["result"])


def check_dns(state: DoctorState) -> CheckResult:
    host, port = _host_port(state)
    what = "proxy host " if state.proxy_target else ""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.strip("[]"))
        state.addrs = _getaddrinfo(host.strip("[]"), port, state.timeout)
        return ok(f"{what}{host} is an IP address, no lookup needed")
    try:
        infos = _getaddrinfo(host, port, state.timeout)
    except socket.gaierror as exc:
        code = exc.args[0] if exc.args else None
        if code in (socket.EAI_AGAIN,):
            why = "the DNS server could not be reached or did not answer (EAI_AGAIN)"
            fix = "Check your internet connection and DNS settings; retry in a moment."
        elif code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            why = "the name does not exist"
            fix = "Check the spelling of the host in the base URL (the API is api.modelstack.cc), then your DNS."
        else:
            why = str(exc.strerror or exc)
            fix = None
        return fail(f"{what}{host} does not resolve: {why}", key="network.dns", fix=fix)
    except TimeoutError as exc:
        return fail(
            f"{what}{host}: {exc}",
            key="network.dns",
            fix="Check your DNS settings and connection; a slow resolver delays every request.",
        )
    except OSError as exc:
        return fail(f"{what}{host} does not resolve: {exc}", key="network.dns")
    state.addrs = infos
    shown = list(dict.fromkeys(str(info[4][0]) for info in infos))
    more = f" (+{len(shown) - 3} more)" if len(shown) > 3 else ""
    return ok(f"{what}{host} → {', '.join(shown[:3])}{more}")


def check_tcp(state: DoctorState) -> CheckResult:
    host, port = _host_port(state)
    addrs = state.addrs or _getaddrinfo(host, port, state.timeout)
    connect_timeout = min(state.timeout, 10.0)
    last: tuple[str, OSError] | None = None
    for family, socktype, proto, _canon, sockaddr in addrs[:4]:
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(connect_timeout)
        started = time.perf_counter()
        try:
            sock.connect(sockaddr)
        except OSError as err:
            last = (_fmt_addr(sockaddr), err)
            continue
        finally:
            sock.close()
        state.tcp_addr = sockaddr
        took = time.perf_counter() - started
        via = " (the proxy)" if state.proxy_target else ""
        return ok(
            f"connected to {_fmt_addr(sockaddr)}{via}",
            connect_ms=round(took * 1000, 1),
        )
    if last is None:
        return fail(f"{host} has no address to connect to", key="network.other")
    where, exc = last
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return fail(
            f"{where} refused the connection: nothing is listening on port {port}",
            key="network.refused",
            fix="Check the host and port in the base URL (the API listens on 443), and that the server or proxy is running.",
        )
    if isinstance(exc, TimeoutError):
        return fail(
            f"no answer from {where} within {connect_timeout:g} s (packets dropped: firewall, VPN or wrong address?)",
            key="network.connect_timeout",
        )
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return fail(
            f"{where} is unreachable: {exc.strerror}",
            key="network.other",
            fix="Check your network connection, VPN and routes; a proxy may be required (HTTPS_PROXY).",
        )
    return fail(f"cannot connect to {where}: {exc.strerror or exc}", key="network.other")


def _tls_context(state: DoctorState) -> ssl.SSLContext:
    """The same trust store the client uses: SSL_CERT_FILE / SSL_CERT_DIR, else certifi."""
    cert_file, cert_dir = state.getenv("SSL_CERT_FILE"), state.getenv("SSL_CERT_DIR")
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _name(entries: Any, key: str) -> str | None:
    for rdn in entries or ():
        for k, v in rdn:
            if k == key:
                return str(v)
    return None


def _unverified_cert(addr: tuple[Any, ...], host: str, timeout: float) -> dict[str, Any] | None:
    """The server's certificate fetched without verification, decoded (for the diagnosis only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(addr[:2], timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    if not der:
        return None
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(ssl.DER_cert_to_PEM_cert(der))
        return dict(decode(path))
    except Exception:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _speaks_plain_http(addr: tuple[Any, ...], host: str, timeout: float) -> bool:
    try:
        with socket.create_connection(addr[:2], timeout=timeout) as sock:
            sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii", "replace"))
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def _cert_expiry(cert: dict[str, Any]) -> float | None:
    not_after = cert.get("notAfter")
    if not not_after:
        return None
    try:
        return ssl.cert_time_to_seconds(str(not_after))
    except ValueError:
        return None


def check_tls(state: DoctorState) -> CheckResult:
    assert state.url is not None
    if state.url.scheme != "https":
        return skip("plain http to a loopback host: no TLS")
    if state.proxy_target is not None:
        return skip(
            f"through proxy {state.proxy}: TLS to {state.url.host} is tunnelled, the HTTP check covers it"
        )
    host = state.url.host
    addr = state.tcp_addr or (host, state.url.port or 443)
    timeout = min(state.timeout, 10.0)
    port = addr[1]
    plain_fix = (
        f"Port {port} speaks plain HTTP. Use the API's https port (https://{API_HOST}/v1, port 443); "
        f"for a local server, use http://{host}:{port}/v1 instead of https://."
    )
    try:
        ctx = _tls_context(state)
    except (OSError, ssl.SSLError) as exc:
        return fail(
            f"the CA bundle could not be loaded: {exc}",
            key="network.tls",
            fix="Point SSL_CERT_FILE at a valid PEM bundle, or unset it.",
        )
    started = time.perf_counter()
    try:
        with (
            socket.create_connection(addr[:2], timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            version = tls.version() or "TLS"
            cert = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        code = getattr(exc, "verify_code", None)
        message = getattr(exc, "verify_message", None) or str(exc)
        cert = _unverified_cert(addr, host, timeout) or {}
        issuer = _name(cert.get("issuer"), "organizationName") or _name(
            cert.get("issuer"), "commonName"
        )
        by = f" (issued by '{issuer}')" if issuer else ""
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            when = cert.get("notAfter") or "an earlier date"
            now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            return fail(
                f"{host}'s certificate expired ({when}){by}; this machine's clock says {now}",
                key="network.tls",
                fix="If the clock is wrong, fix the date and time; otherwise the server's certificate really expired: report it.",
            )
        if code == 62 or "hostname mismatch" in message.lower():
            return fail(
                f"{host}'s certificate is for another name{by}: {message}",
                key="network.tls",
                fix="Check the host in the base URL; a proxy or captive portal may be answering in its place.",
            )
        lower = (issuer or "").lower()
        interceptor = any(word in lower for word in _INTERCEPTORS)
        likely = (
            "a TLS-inspecting proxy or security software"
            if interceptor or code in (19, 20, 21)
            else "an unknown authority"
        )
        return fail(
            f"certificate verification failed: {message}{by}; signed by {likely}",
            key="network.tls",
            fix=(
                "Behind a corporate proxy that inspects TLS, export SSL_CERT_FILE=/path/to/its-ca-bundle.pem "
                "(ask IT for it); check the system clock; never turn verification off."
            ),
            issuer=issuer,
        )
    except ssl.SSLError as exc:
        reason = str(getattr(exc, "reason", "") or "")
        plain = _speaks_plain_http(addr, host, timeout)
        if (
            plain
            or any(r in reason.upper() for r in _NOT_TLS_REASONS)
            or "wrong version number" in str(exc).lower()
        ):
            said = "answers plain HTTP" if plain else f"does not speak TLS ({reason or exc})"
            return fail(
                f"{_fmt_addr(addr)} {said}: https:// was used on a plain-HTTP port",
                key="network.tls",
                fix=plain_fix,
            )
        return fail(
            f"TLS handshake with {_fmt_addr(addr)} failed: {reason or exc}", key="network.tls"
        )
    except TimeoutError:
        if _speaks_plain_http(addr, host, timeout):
            return fail(
                f"{_fmt_addr(addr)} did not answer the TLS handshake but answers plain HTTP: "
                "https:// was used on a plain-HTTP port",
                key="network.tls",
                fix=plain_fix,
            )
        return fail(
            f"{_fmt_addr(addr)} accepted the connection but did not answer the TLS handshake within {timeout:g} s",
            key="network.tls",
            fix="Check the port in the base URL; a firewall or proxy may be holding the connection (HTTPS_PROXY).",
        )
    except (ConnectionResetError, ssl.SSLEOFError, EOFError, BrokenPipeError) as exc:
        if _speaks_plain_http(addr, host, timeout):
            return fail(
                f"{_fmt_addr(addr)} closed the TLS handshake and answers plain HTTP",
                key="network.tls",
                fix=plain_fix,
            )
        return fail(
            f"{_fmt_addr(addr)} closed the connection during the TLS handshake ({type(exc).__name__})",
            key="network.tls",
            fix="A firewall or proxy may be cutting TLS connections; check HTTPS_PROXY and your network.",
        )
    except OSError as exc:
        return fail(
            f"TLS connection to {_fmt_addr(addr)} failed: {exc.strerror or exc}", key="network.tls"
        )
    took = time.perf_counter() - started
    issuer = _name(cert.get("issuer"), "organizationName") or _name(
        cert.get("issuer"), "commonName"
    )
    expiry = _cert_expiry(cert)
    by = f", issued by {issuer}" if issuer else ""
    if expiry is not None:
        days = (expiry - time.time()) / 86400
        until = time.strftime("%Y-%m-%d", time.gmtime(expiry))
        if days < CERT_WARN_DAYS:
            return warn(
                f"{version}, certificate valid for {days:.0f} more days (until {until}){by}",
                key="network.tls",
                fix="Nothing to do on your side unless it lapses; then report it (or check the clock).",
                days_left=round(days, 1),
            )
        return ok(
            f"{version} in {_ms(took)}, certificate valid until {until}{by}",
            days_left=round(days, 1),
        )
    return ok(f"{version} in {_ms(took)}, certificate verified{by}")


# --- 3. HTTP and what the API says -----------------------------------------------------------------


def check_http(state: DoctorState) -> CheckResult:
    assert state.url is not None
    path = state.url.path + "/models"
    started = time.perf_counter()
    try:
        raw = state.client().request_raw("GET", "/models")
    except MscliError as exc:
        took = _ms(time.perf_counter() - started)
        if exc.advice_key == "network.read_timeout" or getattr(exc, "kind", "") in (
            "read_timeout",
            "timeout",
        ):
            return from_error(
                state,
                exc,
                detail=(
                    f"GET {path}: the server accepted the connection but sent no answer within {state.timeout:g} s"
                ),
                fix="The server is not answering HTTP. Retry later; check a proxy or load balancer in between; raise --timeout if it is only slow.",
            )
        return from_error(state, exc, detail=f"GET {path} failed after {took}: {exc.message}")
    state.raw = raw
    status = _raw_status(raw)
    latency = _raw_latency_ms(raw, (time.perf_counter() - started) * 1000)
    if status >= 500:
        text = _raw_text(raw)
        said = (
            _server_message(text)
            or _html_title(text)
            or (text.strip()[:80] if text.strip() else "empty body")
        )
        rid = _header(getattr(raw, "headers", None), "x-request-id")
        rid_note = f"; request id {rid}" if rid else ""
        return fail(
            f"GET {path} answered HTTP {status}: {said}{rid_note}", key="server", http_status=status
        )
    return ok(
        f"GET {path} answered HTTP {status} (server latency {latency:.0f} ms)",
        status=status,
        latency_ms=round(latency, 1),
    )


def check_api(state: DoctorState) -> CheckResult:
    raw = state.raw
    status = _raw_status(raw)
    text = _raw_text(raw)
    ctype = (_header(getattr(raw, "headers", None), "content-type") or "").lower()
    stripped = text.lstrip()
    if "html" in ctype or stripped[:1] == "<":
        title = _html_title(text)
        page = f" ('{title}')" if title else ""
        url = state.url
        extra = ""
        if url is not None and url.form != "with_v1":
            extra = (
                f" The base URL {url.url} does not end in /v1 as given; use https://{API_HOST}/v1."
            )
        return fail(
            f"GET {url.path if url else ''}/models answered an HTML page{page} (HTTP {status}), not the API",
            key="protocol.not_api",
            fix=_join_fix(row_for("protocol.not_api").fix) + extra,
        )
    if status == 404:
        said = _server_message(text)
        return fail(
            f"GET {state.url.path if state.url else ''}/models answered 404{': ' + said if said else ''}: the path is wrong for this server",
            key="not_found",
        )
    if "json" in ctype or stripped[:1] in ("{", "["):
        return ok(f"JSON ({ctype.split(';')[0] or 'no content type'})")
    if not stripped:
        if status in (401, 403, 429):
            return ok(f"HTTP {status} with an empty body")
        return fail(
            f"HTTP {status} with an empty body and no content type", key="protocol.malformed"
        )
    return fail(
        f"the reply is neither JSON nor an error page ({ctype or 'no content type'}): {stripped[:60]!r}",
        key="protocol.malformed",
    )


def check_auth(state: DoctorState) -> CheckResult:
    raw = state.raw
    status = _raw_status(raw)
    said = _server_message(_raw_text(raw))
    s = state.settings
    source = "the " + describe_source(s.api_key.source) if s is not None else "?"
    if status in (401, 403):
        key = "auth.invalid" if status == 401 else "auth.forbidden"
        from mscli.errors import ApiError as _ApiError

        err = _ApiError(said or f"HTTP {status}", status=status, server_message=said)
        advice = advise(err, state.advice_context())
        return fail(
            f"the key from {source} was rejected (HTTP {status}{': ' + said if said else ''})",
            key=key,
            fix=_join_fix(advice.fix),
        )
    if 200 <= status < 300:
        return ok(f"the key from {source} was accepted")
    return ok(f"the key from {source} was not rejected (the server answered HTTP {status})")


def check_rate_limit(state: DoctorState) -> CheckResult:
    raw = state.raw
    status = _raw_status(raw)
    headers = getattr(raw, "headers", None)
    plan = state.plan
    plan_note = (
        f"plan {plan.label} allows {plan.rpm} RPM"
        if plan
        else "plan unknown (`mscli config set plan pro` to compare)"
    )
    if status == 429:
        retry = _header(headers, "retry-after")
        after = f", retry after {retry} s" if retry else ""
        said = _server_message(_raw_text(raw))
        return fail(
            f"HTTP 429 on GET /models{after}{': ' + said if said else ''}; {plan_note}",
            key="rate_limit",
            retry_after=retry,
        )
    limit = _header(headers, "x-ratelimit-limit-requests") or _header(headers, "x-ratelimit-limit")
    remaining = _header(headers, "x-ratelimit-remaining-requests") or _header(
        headers, "x-ratelimit-remaining"
    )
    try:
        lim = int(float(limit)) if limit else None
        rem = int(float(remaining)) if remaining else None
    except ValueError:
        lim = rem = None
    if lim is None or rem is None:
        return ok(f"the server reports no rate-limit headers (none are documented); {plan_note}")
    mismatch = f"; the server says {lim} RPM" if plan and plan.rpm != lim else ""
    detail = f"{rem} of {lim} requests left in this minute (x-ratelimit headers, not documented by ModelStack){mismatch}"
    if lim > 0 and rem / lim < RATE_HEADROOM_WARN:
        return warn(
            detail + f"; {plan_note}",
            key="rate_limit",
            fix="Another process is using most of your requests per minute: slow it down, or upgrade your plan.",
            limit=lim,
            remaining=rem,
        )
    return ok(detail, limit=lim, remaining=rem)


def check_models(state: DoctorState) -> CheckResult:
    try:
        listing = state.client().list_models()
    except MscliError as exc:
        return from_error(state, exc)
    ids = [str(getattr(m, "id", m)) for m in getattr(listing, "data", listing)]
    state.models = ids
    if not ids:
        return warn(
            "the model list is empty",
            key="model.unsupported",
            fix="Check the key's plan and model stacks in the dashboard.",
        )
    from mscli.pricing import CHEAPEST_MODEL, cheapest_of

    sample = ", ".join(ids[:3]) + (" …" if len(ids) > 3 else "")
    pick = cheapest_of(ids)
    cheap = (
        ""
        if pick == CHEAPEST_MODEL
        else f"; --live and balance --probe use {pick}, the cheapest served"
    )
    return ok(f"{len(ids)} models served ({sample}){cheap}", count=len(ids))


def check_default_model(state: DoctorState) -> CheckResult:
    s = state.settings
    model = s.default_model.value if s is not None else None
    if not model:
        return skip(
            "no default_model set (chat needs -m MODEL; `mscli config set default_model MODEL`)"
        )
    assert s is not None
    ids = state.models or []
    if model in ids:
        return ok(f"{model} (from {s.default_model.source}) is served")
    picks = suggest(model, ids)
    mean = f"; did you mean {', '.join(picks)}?" if picks else ""
    return fail(
        f"{model} (from {s.default_model.source}) is not served{mean}",
        key="model.unsupported",
        fix=f"Pick a served model: `mscli config set default_model {picks[0] if picks else 'MODEL'}` (`mscli models` lists them).",
    )


def _fmt_credits(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _next_refill(value: Any) -> str | None:
    if not value:
        return None
    from datetime import datetime, timezone

    try:
        when = (
            value
            if isinstance(value, datetime)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    secs = (when - datetime.now(timezone.utc)).total_seconds()
    if secs <= 0:
        return "due now"
    h, m = divmod(int(secs // 60), 60)
    return f"in {h} h {m} min" if h else f"in {m} min"


def check_balance(state: DoctorState) -> CheckResult:
    try:
        bal = state.client().get_balance()
    except ApiError as exc:
        if exc.status == 404:
            return skip(
                "not reported: this server has no balance endpoint (ModelStack documents none); "
                "a 402 on a request is the only sign of an empty balance (Dashboard → Billing; --live)"
            )
        return from_error(state, exc)
    except MscliError as exc:
        return from_error(state, exc)
    state.balance = bal
    sub = float(getattr(bal, "subscription_credits", 0) or 0)
    life = float(getattr(bal, "lifetime_credits", 0) or 0)
    total = sub + life
    refill = _next_refill(getattr(bal, "next_refill_at", None))
    refill_note = f"; next refill {refill}" if refill else ""
    detail = f"{_fmt_credits(total)} credits ({_fmt_credits(sub)} subscription + {_fmt_credits(life)} lifetime){refill_note}"
    data: dict[str, Any] = {"subscription_credits": sub, "lifetime_credits": life}
    if total <= 0:
        return fail(
            f"no credits left: {detail}; requests will get 402", key="balance.empty", **data
        )
    if total < LOW_CREDITS:
        return warn(
            f"low: {detail}",
            key="balance.empty",
            fix="Buy lifetime credits in Dashboard → Billing, or wait for the next refill.",
            **data,
        )
    return ok(detail, **data)


def check_live(state: DoctorState) -> CheckResult:
    if not state.live:
        return skip("not run: --live sends a tiny completion (costs a few credits)")
    from mscli.pricing import cheapest_of

    s = state.settings
    model = cheapest_of(state.models)  # the list the models check fetched
    from mscli.api.models import ChatRequest

    req = ChatRequest(
        model=model, messages=[{"role": "user", "content": "Reply with OK."}], max_tokens=1
    )
    started = time.perf_counter()
    first: float | None = None
    try:
        with state.client().chat_stream(req) as stream:
            for event in stream:
                if first is None and getattr(event, "text", None) is not None:
                    first = time.perf_counter() - started
            result = getattr(stream, "result", None)
    except MscliError as exc:
        return from_error(
            state, exc, detail=f"streamed completion on {model} failed: {exc.message}"
        )
    total = time.perf_counter() - started
    usage = getattr(result, "usage", None)
    cost = ""
    if usage is not None and state.url is not None and s is not None:
        from mscli import ledger
        from mscli.pricing import estimate_credits

        pt, ct = (
            int(getattr(usage, "prompt_tokens", 0) or 0),
            int(getattr(usage, "completion_tokens", 0) or 0),
        )
        ledger.record(s.base_url.value, model, pt, ct, overrides=s.price_overrides)
        cost = (
            f", about {estimate_credits(model, pt, ct, s.price_overrides):.4f} credits (estimate)"
        )
    if first is None:
        return ok(
            f"{model}: the stream finished in {_ms(total)} without text (max_tokens=1){cost}",
            total_ms=round(total * 1000, 1),
        )
    return ok(
        f"{model}: first token after {_ms(first)}, done in {_ms(total)}{cost}",
        ttft_ms=round(first * 1000, 1),
        total_ms=round(total * 1000, 1),
    )


# --- the ordered list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    fn: Callable[[DoctorState], CheckResult]
    #: checks that must not have failed for this one to run
    needs: tuple[str, ...] = ()


CHECKS: tuple[Check, ...] = (
    Check("versions", "mscli and Python versions", check_versions),
    Check("config", "config file parses, permissions", check_config),
    Check("key", "API key present, source, format", check_key),
    Check("base_url", "base URL: https, /v1, host", check_base_url),
    Check("proxy", "proxy and CA bundle variables", check_proxy),
    Check("dns", "DNS resolution", check_dns, ("base_url",)),
    Check("tcp", "TCP connect", check_tcp, ("dns",)),
    Check("tls", "TLS handshake and certificate", check_tls, ("tcp",)),
    Check("http", "HTTP reachability and latency", check_http, ("tls", "tcp", "proxy")),
    Check("api", "the reply is the API, not a web page", check_api, ("http",)),
    Check("auth", "authentication", check_auth, ("api", "key")),
    Check("rate_limit", "rate-limit headroom for the plan", check_rate_limit, ("auth",)),
    Check("models", "the model list", check_models, ("auth", "rate_limit")),
    Check("default_model", "the default model is served", check_default_model, ("models",)),
    Check("balance", "credit balance", check_balance, ("auth", "rate_limit")),
    Check("live", "a tiny streamed completion (--live)", check_live, ("models", "balance")),
)

CHECK_NAMES: tuple[str, ...] = tuple(c.name for c in CHECKS)
BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}
