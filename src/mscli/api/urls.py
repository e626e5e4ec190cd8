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

The host policy (`decide_host`) answers, once per run and for every command alike, whether a key
may go to a base URL at all: a look-alike of ``api.modelstack.cc`` (misspellings, other TLDs,
homoglyphs, punycode) is refused unless the profile's ``trusted_host`` (or MSCLI_TRUSTED_HOST) names
exactly that host, and the ModelStack ``sk_`` key rules apply only on ModelStack's own host (and the
built-in sandbox); any other OpenAI-compatible gateway gets the key as given.

`proxy_for` says which proxy variable, if any, routes a URL (HTTPS_PROXY / HTTP_PROXY, then
ALL_PROXY, unless NO_PROXY matches), as httpx reads them; the client and the doctor name it when
the proxy is what fails.
"""

from __future__ import annotations

import contextlib
import ipaddress
import unicodedata
from collections.abc import Callable, Mapping
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from mscli.errors import BaseUrlError, InsecureTransportError

__all__ = [
    "API_HOST",
    "HostDecision",
    "NormalisedUrl",
    "Proxy",
    "UrlForm",
    "decide_host",
    "env_getter",
    "is_loopback_host",
    "join_url",
    "lookalike",
    "normalise_base_url",
    "proxy_env",
    "proxy_for",
]

UrlForm = Literal["with_v1", "appended_v1", "custom_path"]

#: ModelStack's API host: the one host where its key rules and dashboard advice apply.
API_HOST = "api.modelstack.cc"


def not_found_fix(shown_base_url: str, form: str, what: str) -> str:
    """What to do about a 404 for `what` (``"GET /v1/models"``), by the base URL's form: one
    that does not end in /v1 is probably wrong; one that does is right, so the server does not
    offer that endpoint."""
    if form == "custom_path":
        return (
            f"The base URL {shown_base_url} does not end in /v1 ({what} answered 404); for "
            "ModelStack use "
            f"https://{API_HOST}/v1. `mscli doctor` checks it."
        )
    return (
        f"The base URL {shown_base_url} ends in /v1 as it should, so this server does not offer "
        f"{what} (a proxy or gateway that implements only part of the API?). "
        "`mscli doctor` shows what it does answer."
    )


def dns_fix(host: str | None, *, temporary: bool) -> str:
    """What to do about a host name that did not resolve, by how it failed: the resolver did not
    answer (temporary: connection or DNS trouble), or it answered that the name does not exist
    (a misspelling, unless the name is the API's own: then the resolver cannot see the internet)."""
    if temporary:
        return (
            "The DNS resolver did not answer: check your internet connection, VPN or DNS "
            "settings, then try again (`mscli doctor` checks each step)."
        )
    if host is not None and host.lower().rstrip(".") == API_HOST:
        return (
            f"The host {API_HOST} is spelled right and exists, so your resolver cannot see it: "
            "you are probably offline, or a VPN or DNS filter blocks it. Check your connection "
            "(`mscli doctor`)."
        )
    return (
        f"No DNS record exists for {host or 'the host'}: check its spelling in the base URL "
        f"(the ModelStack API is {API_HOST}); `mscli doctor` checks it."
    )


class NormalisedUrl(NamedTuple):
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


# --- the host policy ----------------------------------------------------------------------------

#: Letters from other scripts that render like Latin ones (Cyrillic, Greek, fullwidth forms are
#: folded by NFKC first), and digit swaps: enough to catch a host built to pass for the API's.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "с": "c", "е": "e", "о": "o", "р": "p", "х": "x", "у": "y", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "ӏ": "l", "к": "k", "м": "m", "т": "t", "л": "l",
        "α": "a", "ο": "o", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "τ": "t", "ρ": "p",
        "0": "o", "1": "l",
    }
)  # fmt: skip


def _unicode_host(host: str) -> str:
    """The host as people see it: punycode labels (``xn--…``) decoded."""
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):
                label = label.encode("ascii").decode("idna")
        labels.append(label)
    return ".".join(labels)


def _skeleton(host: str) -> str:
    folded = unicodedata.normalize("NFKC", _unicode_host(host)).lower()
    return folded.translate(_CONFUSABLES).replace("rn", "m")


def lookalike(host: str) -> str | None:
    """Why ``host`` looks like a mistake for (or an imitation of) api.modelstack.cc, or None."""
    h = host.lower().rstrip(".")
    if h == API_HOST:
        return None
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(h.strip("[]"))
        return None
    if h == "localhost" or h.endswith(".localhost"):
        return None
    shown = _unicode_host(h)
    if _skeleton(h) == API_HOST:
        how = "punycode" if "xn--" in h else "look-alike characters"
        return f"{shown} imitates {API_HOST} with {how} (it is a different host)"
    if h in ("modelstack.cc", "www.modelstack.cc"):
        return f"{h} is ModelStack's website, not its API (the API is {API_HOST})"
    if h.endswith(".modelstack.cc"):
        return f"{h} is not the API host ({API_HOST})"
    if h in ("modelstack.app", "api.modelstack.app", "docs.modelstack.app") or h.endswith(
        ".modelstack.app"
    ):
        return f"{h} belongs to a different product with a similar name (the API is {API_HOST})"
    labels = _skeleton(h).split(".")
    if "modelstack" in labels or any(
        lab.replace("-", "") in ("apimodelstack", "modelstack") for lab in labels
    ):
        tld = f" (.{labels[-1]} instead of .cc?)" if labels[-1] != "cc" else ""
        return f"{shown} looks like a misspelling of {API_HOST}{tld}"
    import difflib  # only for a host that is neither the API's nor a known look-alike

    skeleton = _skeleton(h)
    if (
        difflib.SequenceMatcher(None, skeleton, API_HOST).ratio() >= 0.8
        or difflib.SequenceMatcher(None, skeleton, "modelstack.cc").ratio() >= 0.85
    ):
        return f"{shown} looks like a misspelling of {API_HOST}"
    return None


class HostDecision(NamedTuple):
    """What the host policy decided about this run's base URL (made once, by `decide_host`)."""

    #: the URL as written (may carry userinfo: show it only through `Redactor.url`)
    given: str
    #: the checked URL; None when refused
    url: NormalisedUrl | None
    #: why the URL is refused (a `BaseUrlError` or `InsecureTransportError`); None when usable
    refused: BaseUrlError | InsecureTransportError | None = None
    #: the ModelStack key rules (``sk_`` form, dashboard advice) apply: its own host or the sandbox
    modelstack: bool = False
    #: a look-alike of the API host the user vouched for (``trusted_host``)
    trusted: str | None = None
    #: plain http to a host that is not loopback, allowed by allow_insecure_http
    insecure: bool = False

    def check(self) -> NormalisedUrl:
        """The URL, or raise why it is refused (before any I/O)."""
        if self.refused is not None:
            raise self.refused
        assert self.url is not None
        return self.url


def decide_host(
    given: str,
    *,
    allow_insecure_http: bool = False,
    trusted_host: str | None = None,
    sandbox: bool = False,
) -> HostDecision:
    """The host policy for a base URL: its normal form, whether a key may go to it, and which key
    rules apply. Never raises: a refusal is carried in ``refused``, for `check()` to raise."""
    try:
        url = normalise_base_url(given, allow_insecure_http=allow_insecure_http)
    except (BaseUrlError, InsecureTransportError) as exc:
        return HostDecision(given=given, url=None, refused=exc)
    why = lookalike(url.host)
    trusted = None
    if why is not None:
        if trusted_host is not None and trusted_host.strip().lower().rstrip(".") == url.host:
            trusted = url.host
        else:
            refusal = BaseUrlError(
                f"Refusing to contact {_display(url.url)}: {why}; your key would go to it",
                base_url=_display(url.url),
                host=url.host,
                lookalike=why,
                fix=f"use the API's address, https://{API_HOST}/v1; if you really mean "
                f"{url.host}, vouch for it with `mscli config set trusted_host {url.host}`",
            )
            return HostDecision(given=given, url=None, refused=refusal)
    return HostDecision(
        given=given,
        url=url,
        modelstack=sandbox or url.host == API_HOST,
        trusted=trusted,
        insecure=url.scheme == "http" and not url.is_loopback,
    )


def join_url(base_url: str, path: str) -> str:
    """``base_url`` + ``/path`` with exactly one slash between them."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


class Proxy(NamedTuple):
    """The proxy that routes a URL: its URL (with a scheme) and the variable it came from."""

    url: str
    variable: str


#: The proxy variables (each also in lower case), as httpx reads them.
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def proxy_env(env: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables of ``env``, for the client to name the proxy it goes through."""
    names = {*PROXY_VARIABLES, *(name.lower() for name in PROXY_VARIABLES)}
    return {name: value for name, value in env.items() if name in names}


def env_getter(env: Mapping[str, str]) -> Callable[[str], str | None]:
    """A lookup of a variable by its upper- or lower-case name (proxy variables come in both)."""

    def getenv(name: str) -> str | None:
        for candidate in (name, name.lower()):
            value = env.get(candidate)
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
