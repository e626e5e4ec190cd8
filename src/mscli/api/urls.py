"""Base-URL normalisation and the loopback rule (standard library only, imported at start-up).

Rules (modelstack-api §11.1, reliability §4.4):

- the scheme must be ``http`` or ``https``;
- an empty path or ``/`` gets ``/v1`` appended (form ``appended_v1``);
- a path ending in ``/v1`` is kept (form ``with_v1``); one ending in ``/v1/v1`` is refused;
- any other path is kept as is (form ``custom_path``: a proxy or a self-hosted gateway);
- ``http://`` is refused unless the host is loopback or ``allow_insecure_http`` is set, because
  the key would cross the network in clear text;
- a URL carrying ``user:password@`` is refused (the password would end up in logs and config);
- query strings and fragments are refused (they cannot be combined with endpoint paths).

`proxy_for` says which proxy variable, if any, routes a URL (HTTPS_PROXY / HTTP_PROXY, then
ALL_PROXY, unless NO_PROXY matches), as httpx reads them; the client and the doctor name it when
the proxy is what fails.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from mscli.errors import BaseUrlError, InsecureTransportError

__all__ = [
    "NormalisedUrl",
    "Proxy",
    "UrlForm",
    "env_getter",
    "is_loopback_host",
    "join_url",
    "normalise_base_url",
    "proxy_for",
]

UrlForm = Literal["with_v1", "appended_v1", "custom_path"]


@dataclass(frozen=True)
class NormalisedUrl:
    """A checked base URL. ``url`` has no trailing slash (normally it ends in ``/v1``)."""

    url: str
    form: UrlForm
    host: str
    scheme: str
    port: int | None = None

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, the part a redirect must not change."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (exactly), 127.0.0.0/8 and ::1 (also IPv4-mapped). Never for names
    that merely start with ``localhost`` (``localhost.evil.com``)."""
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if h.endswith("."):
        h = h[:-1]
    if h == "localhost":
        return True
    if "%" in h:  # IPv6 zone id (fe80::1%eth0)
        h = h.split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(h)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def _display(url: str) -> str:
    """The URL as it may be shown in an error: no userinfo, credential query parameters masked."""
    from mscli.redact import Redactor

    return Redactor().url(url)


def normalise_base_url(url: str, *, allow_insecure_http: bool = False) -> NormalisedUrl:
    """Check and normalise a base URL. Raises `BaseUrlError` or `InsecureTransportError`."""
    raw = url.strip()
    shown = _display(raw)
    if not raw:
        raise BaseUrlError("The base URL is empty", base_url=raw)
    if any(ch.isspace() for ch in raw) or any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise BaseUrlError(
            f"The base URL contains spaces or control characters: {shown!r}", base_url=shown
        )
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise BaseUrlError(
            f"The base URL is not a valid URL: {shown} ({exc})", base_url=shown
        ) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if not parts.scheme or not parts.netloc:
            msg = f"The base URL must start with https:// (got {shown!r})"
        else:
            msg = f"The base URL must use http or https, not {parts.scheme!r}: {shown}"
        raise BaseUrlError(msg, base_url=shown)
    if "@" in parts.netloc:
        raise BaseUrlError(
            "The base URL contains a user name or password (user:pass@host); "
            "put the API key in the key setting instead",
            base_url=shown,
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise BaseUrlError(f"The base URL has no host: {shown}", base_url=shown)
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise BaseUrlError(
            f"The base URL must not contain a query string or fragment: {shown}", base_url=shown
        )

    path = parts.path.rstrip("/")
    form: UrlForm
    if path == "":
        path = "/v1"
        form = "appended_v1"
    elif path.endswith("/v1/v1"):
        raise BaseUrlError(f"The base URL has /v1 doubled: {shown}", base_url=shown)
    elif path.endswith("/v1"):
        form = "with_v1"
    else:
        form = "custom_path"

    host_part = f"[{host}]" if ":" in host else host
    default_port = 443 if scheme == "https" else 80
    netloc = host_part if port is None or port == default_port else f"{host_part}:{port}"
    normalised = f"{scheme}://{netloc}{path}"

    if scheme == "http" and not allow_insecure_http and not is_loopback_host(host):
        raise InsecureTransportError(
            f"Refusing to send the API key over plain http:// to {host} "
            "(only loopback hosts may use http)",
            base_url=normalised,
            host=host,
        )
    return NormalisedUrl(url=normalised, form=form, host=host, scheme=scheme, port=port)


def join_url(base_url: str, path: str) -> str:
    """``base_url`` + ``/path`` with exactly one slash between them."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True)
class Proxy:
    """The proxy that routes a URL: its URL (with a scheme) and the variable it came from."""

    url: str
    variable: str


def env_getter(env: Mapping[str, str] | None = None) -> Callable[[str], str | None]:
    """A lookup of a variable by its upper- or lower-case name (proxy variables come in both)."""
    source = os.environ if env is None else env

    def getenv(name: str) -> str | None:
        for candidate in (name, name.lower()):
            value = source.get(candidate)
            if value is not None and value.strip():
                return value.strip()
        return None

    return getenv


def proxy_for(scheme: str, host: str, getenv: Callable[[str], str | None]) -> Proxy | None:
    """The proxy httpx would use for this scheme and host: ``<SCHEME>_PROXY``, else ALL_PROXY,
    unless NO_PROXY matches the host (``*``, a name and its subdomains, ``.suffix``, a CIDR)."""
    variable = f"{scheme.upper()}_PROXY"
    proxy = getenv(variable)
    if not proxy:
        variable, proxy = "ALL_PROXY", getenv("ALL_PROXY")
    if not proxy:
        return None
    h = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in (getenv("NO_PROXY") or "").split(",")):
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
    return Proxy(proxy if "://" in proxy else f"http://{proxy}", variable)
