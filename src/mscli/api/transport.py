"""httpx plumbing under `GatewayClient`: the client, transport errors, timeouts, bodies, trace.

- `http_client`: redirects never followed (a 3xx is `RedirectError`, `check_redirect`, so the key
  never travels to another host); proxies and CA bundles come from the environment.
- ``map_transport_error`` is the one mapping of an httpx transport exception to a `NetworkError`
  with its ``kind`` (dns, refused, reset, tls, timeouts, proxy); `request_error` adds the request
  errors that are not network faults (undecodable body, unusable URL); `wait_too_long_error` is
  the error when the server asks for a longer wait than mscli accepts.
- Per-attempt timeouts within the overall deadline, and the switch of the read timeout to the
  idle limit once a stream's headers are in (`set_read_timeout`).
- Body reads with a cap (`read_capped`) or a prefix (`read_head`), JSON decoding, the redacted
  trace lines, and `RawResponse` (the doctor's unretried exchange).
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Mapping
from typing import Any, NamedTuple

import httpx

from mscli.api.errors_parse import (
    MAX_ERROR_BODY,
    clean_text,
    html_title,
    looks_like_html,
    request_id_from,
)
from mscli.api.retry import MAX_SANE_HINT
from mscli.api.urls import NormalisedUrl, Proxy, dns_fix, env_getter, proxy_for
from mscli.errors import (
    ApiError,
    BaseUrlError,
    NetworkError,
    NotApiError,
    ProtocolError,
    RateLimitWaitTooLongError,
    RedirectError,
    ResponseTooLargeError,
)
from mscli.redact import Redactor

__all__ = [
    "RAW_EXCERPT",
    "SMALL_ENDPOINT_TIMEOUT",
    "RawResponse",
    "attempt_timeouts",
    "check_redirect",
    "decode_json",
    "excerpt",
    "http_client",
    "map_transport_error",
    "raw_timeouts",
    "read_capped",
    "read_head",
    "request_error",
    "request_trace",
    "response_trace",
    "set_read_timeout",
    "wait_too_long_error",
]

#: How much of the body `GatewayClient.request_raw` keeps.
RAW_EXCERPT = 2048
#: Per-attempt write timeout (request bodies are small).
_WRITE_TIMEOUT = 30.0
#: Read timeout for the small endpoints (models, balance), capped by the overall timeout.
SMALL_ENDPOINT_TIMEOUT = 30.0


def http_client(
    *,
    user_agent: str,
    api_key: str | None,
    transport: httpx.BaseTransport | None,
    timeout: float,
    connect_timeout: float,
    base: NormalisedUrl,
    proxy_env: Mapping[str, str] | None,
) -> httpx.Client:
    """The httpx client: redirects never followed, proxies and CA bundles from the environment.

    The CA bundle is loaded (~30-60 ms) only when a connection can use TLS: an ``https`` base URL,
    or a proxy in ``proxy_env`` (it may be ``https://``), or ``proxy_env`` None (not known). Every
    request goes to ``base`` and
    redirects are never followed, so a plain ``http://`` base without a proxy (the loopback
    sandbox) never opens a TLS connection, and its client gets a context that loads nothing."""
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    tls = (
        base.scheme == "https"
        or proxy_env is None
        or proxy_for(base.scheme, base.host, env_getter(proxy_env)) is not None
    )
    return httpx.Client(
        headers=headers,
        follow_redirects=False,
        trust_env=True,
        verify=tls,
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
    )


class RawResponse(NamedTuple):
    """One unretried exchange, for the doctor. Error statuses are returned, not raised."""

    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    content_type: str | None
    body: bytes  # at most the first 2 KiB
    latency_ms: float
    url: str  # redacted
    request_id: str | None = None
    http_version: str = "HTTP/1.1"
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def is_html(self) -> bool:
        return looks_like_html(self.body, self.content_type)

    @classmethod
    def from_response(
        cls, response: httpx.Response, *, body: bytes, truncated: bool, latency_ms: float, url: str
    ) -> RawResponse:
        """``response``'s status and headers with the ``body`` prefix read from it."""
        headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return cls(
            status=response.status_code,
            reason=response.reason_phrase,
            headers=headers,
            content_type=response.headers.get("content-type"),
            body=body,
            latency_ms=latency_ms,
            url=url,
            request_id=request_id_from(response.headers),
            http_version=response.http_version,
            truncated=truncated,
        )


# --- httpx exception mapping ------------------------------------------------------------------

_DNS_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated with hostname",
    "name resolution",
    "could not resolve",
)
#: getaddrinfo's "this name does not exist" answers (the rest, EAI_AGAIN first, are temporary).
_DNS_NO_SUCH_NAME = {
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
}
_DNS_NO_SUCH_NAME_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "no address associated with hostname",
)
_TLS_MARKERS = ("certificate_verify_failed", "wrong_version_number", "[ssl", "ssl:", "tlsv1")
_REFUSED_ERRNOS = {111, 61, 10061}
_RESET_ERRNOS = {104, 54, 10054, 32}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 12:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _classify(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """The `NetworkError.kind` for an httpx exception, plus extra facts."""
    facts: dict[str, Any] = {}
    if isinstance(exc, httpx.ProxyError):
        return "proxy", facts
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect_timeout", facts
    if isinstance(exc, httpx.ReadTimeout):
        return "read_timeout", facts
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", facts
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    for e in chain:
        if isinstance(e, ssl.SSLError):
            facts["tls_verify"] = isinstance(e, ssl.SSLCertVerificationError) or (
                "certificate_verify_failed" in text
            )
            return "tls", facts
    if any(m in text for m in _TLS_MARKERS):
        facts["tls_verify"] = "certificate_verify_failed" in text
        return "tls", facts
    for e in chain:
        if isinstance(e, socket.gaierror):
            facts["dns_temporary"] = e.errno not in _DNS_NO_SUCH_NAME
            return "dns", facts
    if any(m in text for m in _DNS_MARKERS):
        facts["dns_temporary"] = not any(m in text for m in _DNS_NO_SUCH_NAME_MARKERS)
        return "dns", facts
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or (
            isinstance(e, OSError) and e.errno in _REFUSED_ERRNOS
        ):
            return "refused", facts
    if "connection refused" in text:
        return "refused", facts
    for e in chain:
        if isinstance(e, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) or (
            isinstance(e, OSError) and e.errno in _RESET_ERRNOS
        ):
            return "reset", facts
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "reset", facts
    if "connection reset" in text or "server disconnected" in text or "peer closed" in text:
        return "reset", facts
    return "other", facts


_MESSAGES = {
    "dns": "Could not resolve the host name {host}",
    "refused": "{host} refused the connection",
    "reset": "The connection to {host} was closed or reset",
    "tls": "The TLS (https) handshake with {host} failed",
    "connect_timeout": "Timed out connecting to {host}",
    "read_timeout": "No response from {host}",
    "timeout": "The request to {host} timed out",
    "proxy": "The proxy refused or failed the connection to {host}",
    "other": "Could not connect to {host}",
}


#: Failures to reach a proxy, as the proxy's: connecting to it is the first thing a request does.
_PROXY_REASONS = {
    "refused": "connection refused",
    "dns": "its host name does not resolve",
    "connect_timeout": "timed out connecting to it",
}


def map_transport_error(
    exc: BaseException,
    *,
    host: str | None,
    attempts: int = 1,
    redactor: Redactor | None = None,
    proxy: Proxy | None = None,
    **facts: Any,
) -> NetworkError:
    """A `NetworkError` with the right ``kind`` for an httpx transport exception. With `proxy`
    (the proxy that routes the request), failing to reach it is a proxy failure that names it."""
    kind, extra = _classify(exc)
    redactor = redactor or Redactor()
    detail = redactor.text(clean_text(str(exc) or type(exc).__name__, 200))
    message = _MESSAGES[kind].format(host=host or "the server")
    if kind == "dns":
        temporary = bool(extra["dns_temporary"])
        message += ": the DNS resolver did not answer" if temporary else ": no such name"
        extra["fix"] = dns_fix(host, temporary=temporary)
    if proxy is not None and kind in _PROXY_REASONS:
        shown, var = redactor.url(proxy.url), proxy.variable
        message = f"Could not reach the proxy {shown} (from {var}): {_PROXY_REASONS[kind]}"
        kind = "proxy"
        extra.update(
            proxy=shown,
            fix=f"Start the proxy, or correct {var}. To connect directly instead, unset {var}"
            + (f" or add {host} to NO_PROXY." if host else "."),
        )
    return NetworkError(
        message,
        kind=kind,
        host=host,
        attempts=attempts,
        detail=detail,
        exception=type(exc).__name__,
        **extra,
        **facts,
    )


def request_error(
    exc: httpx.RequestError,
    *,
    attempt: int,
    host: str | None,
    base_url: str,
    redactor: Redactor,
    proxy_env: Mapping[str, str] | None,
) -> NetworkError | ProtocolError | BaseUrlError:
    """The error for an httpx request exception: a body that cannot be decoded, a URL httpx
    refuses, or (everything else) the transport failure from `map_transport_error`."""
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError(
            "The response body could not be decoded",
            excerpt=redactor.text(clean_text(str(exc), 200)),
        )
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return BaseUrlError(
            f"The base URL cannot be used: {clean_text(str(exc), 200)}",
            base_url=redactor.url(base_url),
        )
    scheme = base_url.split("://", 1)[0].lower() if "://" in base_url else "https"
    proxy = proxy_for(scheme, host, env_getter(proxy_env)) if host and proxy_env else None
    err = map_transport_error(exc, host=host, attempts=attempt, redactor=redactor, proxy=proxy)
    limit = _limit_hit(exc, err.kind)
    if limit is not None:  # say which limit ran out: "... within 30 s"
        err.message = f"{err.message} (within {round(limit, 1):g} s)"
        err.facts["limit_s"] = limit
    return err


def _limit_hit(exc: httpx.RequestError, kind: str) -> float | None:
    """The timeout (seconds) that ran out, from the request's own timeout settings."""
    slot = {"connect_timeout": "connect", "read_timeout": "read", "timeout": "read"}.get(kind)
    if slot is None:
        return None
    try:
        value = exc.request.extensions.get("timeout", {}).get(slot)
    except RuntimeError:  # an exception without a request
        return None
    return float(value) if isinstance(value, (int, float)) else None


# --- errors from replies -----------------------------------------------------------------------


def check_redirect(response: httpx.Response, url: str, redactor: Redactor) -> None:
    """A 3xx is `RedirectError`: redirects are never followed, so the key stays with the host."""
    if 300 <= response.status_code < 400:
        location = response.headers.get("location")
        shown_location = redactor.url(location) if location else None
        raise RedirectError(
            f"The server answered {response.status_code} {response.reason_phrase} "
            f"(redirect to {shown_location or 'nowhere'}); mscli does not follow redirects",
            status=response.status_code,
            location=shown_location,
            url=redactor.url(url),
        )


def wait_too_long_error(err: ApiError, hint: float, max_wait: float) -> ApiError:
    """The server asked for a wait longer than max_wait: say so, and when to retry."""
    if hint >= MAX_SANE_HINT:
        when = "more than 7 days"
    else:
        when = f"{hint:.0f} s" + (f" (about {hint / 60:.0f} min)" if hint >= 120 else "")
    detail = f"the server asks to wait {when}, more than the {max_wait:g} s mscli waits"
    facts = {k: v for k, v in err.facts.items() if k not in _API_ERROR_FIELDS}
    common: dict[str, Any] = {
        "status": err.status,
        "error_type": err.error_type,
        "code": err.code,
        "server_message": err.server_message,
        "request_id": err.request_id,
        "retry_after": hint,
        "body_excerpt": err.body_excerpt,
        "attempts": err.attempts,
        "url": err.url,
        "max_wait": max_wait,
        **facts,
    }
    if err.status == 429:
        return RateLimitWaitTooLongError(f"{err.message} ({detail})", **common)
    err.retry_after = hint
    err.facts["retry_after"] = hint
    err.facts["max_wait"] = max_wait
    return err


_API_ERROR_FIELDS = frozenset(
    {"status", "error_type", "code", "request_id", "retry_after", "attempts", "max_wait"}
)


# --- timeouts ------------------------------------------------------------------------------------


def attempt_timeouts(remaining: float, *, read: float | None, connect: float) -> httpx.Timeout:
    """One attempt's timeouts, none beyond the ``remaining`` seconds of the overall deadline;
    ``read=None`` lets the read use all of them."""
    remaining = max(0.001, remaining)
    read_timeout = remaining if read is None else min(read, remaining)
    connect = min(connect, remaining)
    return httpx.Timeout(
        read_timeout, connect=connect, write=min(_WRITE_TIMEOUT, remaining), pool=connect
    )


def raw_timeouts(overall: float, *, connect: float) -> httpx.Timeout:
    """The timeouts of the doctor's single small request."""
    timeout = min(SMALL_ENDPOINT_TIMEOUT, overall)
    return httpx.Timeout(timeout, connect=min(connect, timeout), write=timeout)


def set_read_timeout(response: httpx.Response, read: float) -> None:
    """Change the read timeout for the rest of a streamed body.

    httpcore reads ``request.extensions["timeout"]`` when it starts reading the body (after the
    headers), and the httpx request shares its extensions dict with the httpcore request; so
    replacing the entry here, before the first body read, sets the idle limit between chunks.
    """
    try:
        request = response.request
    except RuntimeError:  # a response built without a request (tests)
        return
    timeouts = dict(request.extensions.get("timeout") or {})
    timeouts["read"] = read
    request.extensions["timeout"] = timeouts


# --- bodies --------------------------------------------------------------------------------------


def read_head(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether more followed; a read error just ends it
    (and counts as truncated)."""
    body = bytearray()
    truncated = False
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= limit:
                truncated = len(body) > limit
                break
    except httpx.RequestError:
        truncated = True
    return bytes(body[:limit]), truncated


def _too_large(limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"The response is larger than {limit // (1024 * 1024)} MiB", limit=limit
    )


def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The whole body, or `ResponseTooLargeError` past ``limit`` bytes (declared or read)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def decode_json(response: httpx.Response, body: bytes, redactor: Redactor) -> Any:
    """A 2xx body as JSON; an HTML page is `NotApiError`, empty or non-JSON `ProtocolError`."""
    content_type = response.headers.get("content-type")
    url = redactor.url(str(response.request.url))
    if looks_like_html(body, content_type):
        title = html_title(body[:MAX_ERROR_BODY].decode("utf-8", "replace"))
        raise NotApiError(
            f"The server answered HTTP {response.status_code} with an HTML page, not the API",
            status=response.status_code,
            url=url,
            content_type=content_type,
            title=title,
        )
    text = body.decode("utf-8", "replace").lstrip("\ufeff").strip()
    if not text:
        raise ProtocolError(
            f"The server answered HTTP {response.status_code} with an empty body",
            status=response.status_code,
            url=url,
            content_type=content_type,
        )
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ProtocolError(
            f"The server answered HTTP {response.status_code} with something that is not JSON",
            excerpt=redactor.text(clean_text(text, 200)),
            status=response.status_code,
            url=url,
            content_type=content_type,
        ) from exc


def excerpt(payload: Any, redactor: Redactor) -> str:
    """A short redacted one-line excerpt of a decoded payload, for protocol errors."""
    try:
        text = json.dumps(payload, ensure_ascii=False)[:400]
    except (TypeError, ValueError):
        text = repr(payload)[:400]
    return redactor.text(clean_text(text, 200))


# --- trace ---------------------------------------------------------------------------------------


def request_trace(request: httpx.Request, redactor: Redactor) -> list[str]:
    """``> METHOD url`` and the request headers, redacted (Authorization masked)."""
    lines = [f"> {request.method} {redactor.url(str(request.url))}"]
    for name, value in redactor.headers(request.headers.multi_items()).items():
        lines.append(f"> {name}: {value}")
    return lines


def response_trace(
    response: httpx.Response, *, latency_ms: float, request_id: str | None, redactor: Redactor
) -> list[str]:
    """``< HTTP/1.1 200 OK (12 ms, request id …)`` and the response headers, redacted."""
    rid = f", request id {request_id}" if request_id else ""
    lines = [
        f"< {response.http_version} {response.status_code} {response.reason_phrase}"
        f" ({latency_ms:.0f} ms{rid})"
    ]
    for name, value in redactor.headers(response.headers.multi_items()).items():
        lines.append(f"< {name}: {value}")
    return lines
