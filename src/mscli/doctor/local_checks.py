"""The local checks: versions, the config file, the API key, the base URL, and the proxy and CA
variables. Nothing here touches the network."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys

from mscli import __version__
from mscli.doctor.base import (
    API_HOST,
    CheckResult,
    DoctorState,
    advice_fix,
    fail,
    from_error,
    ok,
    skip,
    warn,
)
from mscli.errors import ConfigError, KeyFormatError, KeyMissingError
from mscli.settings import describe_source


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
            f"{path} parses, but has no profile '{profile}' (selected by the {describe_source(state.settings.profile.source, 'profile')})",
            key="config.invalid",
            fix=f"create it with `mscli --profile {profile} keys set`, or pick an existing one: {', '.join(sorted(profiles)) or 'none'}.",
        )
    return ok(f"{path} parses, permissions are private, profile '{profile}'")


def check_key(state: DoctorState) -> CheckResult:
    from mscli.credentials import key_problems, usable_key
    from mscli.redact import mask_key

    s = state.settings
    if s is None:
        return skip("settings could not be resolved", blocked_by="config")
    raw = s.api_key.value
    source = s.api_key.source
    if s.key_error is not None:  # the profile's api_key_command or OS keyring gave no key
        return from_error(state, s.key_error)
    if raw is None:
        if state.config_error is not None:
            return skip(
                "the config file could not be read, and it may hold the key", blocked_by="config"
            )
        where = f"--api-key, $MODELSTACK_API_KEY, profile '{s.profile.value}' in {s.config_path}"
        return fail(f"no API key (looked at {where})", key="auth.missing")
    label = "the " + describe_source(source)
    try:
        key = usable_key(raw, source, modelstack=s.host.modelstack)
    except KeyMissingError as exc:
        return fail(f"the key from {label} is empty", key=exc.advice_key)
    except KeyFormatError as exc:
        problems = exc.facts.get("problems") or [
            exc.facts.get("problem") or "it is not a ModelStack key"
        ]
        detail = f"the key from {label} is malformed: " + "; ".join(str(p) for p in problems[:2])
        return fail(detail, key=exc.advice_key, fix=advice_fix(state, exc))
    state.key = key
    masked = mask_key(key)
    if source == "sandbox":
        return ok(f"{masked} (sandbox test key)", source=source)
    if not s.host.modelstack:
        rules = f"{s.host.url.host if s.host.url else 'this gateway'} is not ModelStack: key sent as given"
        repaired = ["it has whitespace, quotes or 'Bearer ' around it"] if key != raw else []
        if not repaired:
            return ok(f"{masked} from {label} ({rules})", source=source)
    else:
        repaired = key_problems(raw)
    if repaired:
        return warn(
            f"{masked} from {label}: {repaired[0]}; mscli strips it, other tools may not",
            key="auth.malformed",
            fix="Store the key without the extra characters: `mscli keys set` (it cleans what you paste).",
            source=source,
        )
    return ok(f"{masked} from {label}", source=source)


def check_base_url(state: DoctorState) -> CheckResult:
    """What the host policy (`api.urls.decide_host`) decided about the base URL, in words."""
    s = state.settings
    if s is None:
        return skip("settings could not be resolved", blocked_by="config")
    raw = s.base_url_given or s.base_url.value
    source = s.base_url.source
    exc = s.host.refused
    why = exc.facts.get("lookalike") if exc is not None else None
    if exc is not None and why:
        good = f"https://{API_HOST}/v1"
        return fail(
            f"{exc.facts.get('base_url')} (from the {describe_source(source, 'base_url')}): {why}; "
            "not contacted, your key would go to it",
            key="config.base_url",
            fix=f"Use the API's address: {_set_hint(state, 'base_url', good)}; or, if you really "
            f"mean {exc.facts.get('host')}, `mscli config set trusted_host {exc.facts.get('host')}`.",
        )
    if exc is not None:
        sent = "; nothing was sent" if exc.advice_key == "config.insecure_http" else ""
        fix = advice_fix(state, exc)
        if exc.advice_key == "config.base_url":  # say how to change it where it is set
            from mscli.redact import Redactor

            doubled = re.search(r"(?:/v1){2,}/?$", raw.strip())
            good = (
                Redactor().url(raw.strip()[: doubled.start()] + "/v1")
                if doubled
                else f"https://{API_HOST}/v1"
            )
            fix = f"Correct the base URL: {_set_hint(state, 'base_url', good)}."
        return fail(
            f"{exc.message}{sent} (base URL from the {describe_source(source, 'base_url')})",
            key=exc.advice_key,
            fix=fix,
        )
    url = s.host.check()
    state.url = url
    where = f"(from the {describe_source(source, 'base_url')})"
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
    if s.host.trusted:
        return warn(
            f"{url.url} {where}: {url.host} looks like {API_HOST} but is not; used because "
            "trusted_host names it",
            key="config.base_url",
            **data,
        )
    host_note = (
        ""
        if url.host == API_HOST or url.is_loopback
        else f"; {url.host} is not {API_HOST} (a proxy or gateway: its own key rules apply)"
    )
    return ok(f"{url.url} {where}, /v1 present{note}{host_note}", **data)


_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
_CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")


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
        from mscli.api.urls import proxy_for

        found = proxy_for(state.url.scheme, state.url.host, state.getenv)
        if found:
            proxy = found.url
            shown = red.url(proxy)
            state.proxy, state.proxy_var = shown, found.variable
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
            parts.insert(0, f"{state.url.host} goes through proxy {shown} ({found.variable})")
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
