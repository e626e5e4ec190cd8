"""`GatewayClient`: one method per endpoint, one retry loop, one place that maps httpx errors.

- ``httpx.Client(follow_redirects=False, trust_env=True)``: a 3xx is a `RedirectError`, so the key
  never travels to another host; proxies and CA bundles come from the environment.
- An ``http://`` base URL to a non-loopback host is refused in ``__init__``, before any I/O.
- Retries (`mscli.api.retry`): error statuses per policy, and connection failures or timeouts
  before any response byte; for non-streamed calls a read error anywhere in the body too. Each
  retry is announced through ``on_retry`` and carries ``X-Retry-Count``.
- Timeouts: connect; first byte (chat); ``min(30, timeout)`` for models/balance; an idle limit
  between stream chunks (the read timeout is switched once the headers are in, see
  `_set_read_timeout`); and one overall deadline per call across attempts and sleeps.
- ``trace`` receives redacted lines: method and URL, request headers (Authorization masked),
  status, latency and request id.
"""

from __future__ import annotations

import json
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from mscli import __version__
from mscli.api.errors_parse import (
    MAX_ERROR_BODY,
    api_error_from_payload,
    clean_text,
    html_title,
    is_error_payload,
    looks_like_html,
    parse_error_response,
    request_id_from,
)
from mscli.api.models import Balance, ChatRequest, ChatResult, ModelList
from mscli.api.retry import (
    RetryNotice,
    RetryPolicy,
    describe_network_kind,
    describe_status,
    should_retry_status,
)
from mscli.api.stream import ChatStream, parse_completion
from mscli.api.urls import join_url, normalise_base_url
from mscli.errors import (
    ApiError,
    BaseUrlError,
    KeyFormatError,
    NetworkError,
    NotApiError,
    ProtocolError,
    RateLimitWaitTooLongError,
    RedirectError,
    ResponseTooLargeError,
)
from mscli.redact import Redactor

__all__ = [
    "MAX_BODY",
    "RAW_EXCERPT",
    "ClientConfig",
    "GatewayClient",
    "RawResponse",
    "map_transport_error",
]

T = TypeVar("T")

#: Largest successful JSON body accepted (a huge /models list): beyond it, ResponseTooLargeError.
MAX_BODY = 32 * 1024 * 1024
#: How much of the body `GatewayClient.request_raw` keeps.
RAW_EXCERPT = 2048
#: Per-attempt write timeout (request bodies are small).
_WRITE_TIMEOUT = 30.0
#: Read timeout for the small endpoints (models, balance), capped by the overall timeout.
_SMALL_ENDPOINT_TIMEOUT = 30.0


@dataclass
class ClientConfig:
    base_url: str  # already normalised, ends with /v1 (no trailing slash)
    api_key: str | None  # plain str inside the client only; never logged
    timeout: float = 600.0  # overall deadline per call, across attempts and sleeps
    connect_timeout: float = 10.0
    first_byte_timeout: float = 120.0  # chat; models/balance use min(30, timeout)
    idle_timeout: float = 60.0  # longest gap between stream chunks
    max_retries: int = 3
    max_wait: float = 60.0  # longest single wait mscli accepts (Retry-After or backoff)
    allow_insecure_http: bool = False
    user_agent: str = f"mscli/{__version__}"

    def __repr__(self) -> str:  # never show the key, even in a traceback
        shown = "None" if self.api_key is None else "'****'"
        return (
            f"ClientConfig(base_url={self.base_url!r}, api_key={shown}, timeout={self.timeout}, "
            f"max_retries={self.max_retries}, max_wait={self.max_wait})"
        )


@dataclass(frozen=True)
class RawResponse:
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
            facts["dns_temporary"] = e.errno == getattr(socket, "EAI_AGAIN", -3)
            return "dns", facts
    if any(m in text for m in _DNS_MARKERS):
        facts["dns_temporary"] = "temporary failure" in text
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
    "read_timeout": "No response from {host} in time",
    "timeout": "The request to {host} timed out",
    "proxy": "The proxy refused or failed the connection to {host}",
    "other": "Could not connect to {host}",
}


def map_transport_error(
    exc: BaseException,
    *,
    host: str | None,
    attempts: int = 1,
    redactor: Redactor | None = None,
    **facts: Any,
) -> NetworkError:
    """A `NetworkError` with the right ``kind`` for an httpx transport exception."""
    kind, extra = _classify(exc)
    redactor = redactor or Redactor()
    detail = redactor.text(clean_text(str(exc) or type(exc).__name__, 200))
    message = _MESSAGES[kind].format(host=host or "the server")
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


# --- the client ----------------------------------------------------------------------------------


@dataclass
class _Call:
    """State of one logical call across its attempts."""

    deadline: float
    retries: int = 0
    url: str = ""


class GatewayClient:
    """Talks to the gateway. Raises only `MscliError` subclasses (plus KeyboardInterrupt)."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[RetryNotice], None] | None = None,
        trace: Callable[[str], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        # Refuse http:// to a non-loopback host here, before any network I/O.
        self.base = normalise_base_url(
            config.base_url, allow_insecure_http=config.allow_insecure_http
        )
        self.base_url = self.base.url
        self.host = self.base.host
        api_key = config.api_key.strip() if config.api_key else None
        if api_key is not None and not _header_safe(api_key):
            raise KeyFormatError(
                "The API key contains spaces, line breaks or non-ASCII characters "
                "and cannot be sent in a header",
                source=None,
            )
        self.redactor = Redactor([api_key])
        self.policy = RetryPolicy(
            max_retries=max(0, config.max_retries),
            max_wait=config.max_wait,
            sleep=sleep,
            clock=clock,
            rand=rand,
            wall_clock=wall_clock,
        )
        self._clock = clock
        self._wall_clock = wall_clock
        self._on_retry = on_retry
        self._trace = trace
        headers = {"User-Agent": config.user_agent, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            headers=headers,
            follow_redirects=False,
            trust_env=True,
            transport=transport,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
        )
        self.last_request_id: str | None = None
        self.last_latency_ms: float | None = None
        self.last_status: int | None = None
        self.attempts = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints ------------------------------------------------------------------------------

    def list_models(self) -> ModelList:
        """``GET /models``. Tolerates ``{"data": [...]}`` and a bare list; ``data[].id`` is required."""
        payload = self._get_json("/models")
        try:
            return ModelList.model_validate(payload)
        except ValidationError as exc:
            raise ProtocolError(
                "The model list does not have the expected shape (data[].id)",
                excerpt=self._excerpt(payload),
                detail=clean_text(str(exc.errors()[0].get("msg", "")) if exc.errors() else "", 200),
            ) from exc

    def get_balance(self) -> Balance:
        """``GET /balance`` (an mscli decision, modelstack-api §11.5; a 404 raises `ApiError`)."""
        payload = self._get_json("/balance")
        if not isinstance(payload, dict):
            raise ProtocolError(
                "The balance answer is not a JSON object", excerpt=self._excerpt(payload)
            )
        return Balance.model_validate(payload)

    def chat(self, req: ChatRequest) -> ChatResult:
        """``POST /chat/completions`` with ``stream: false``."""
        call = self._new_call("/chat/completions")
        payload = req.to_payload(stream=False)
        # A non-streamed reply arrives in one piece after the whole generation, so the read
        # timeout is the time left before the overall deadline, not the first-byte limit.
        status, data = self._execute(
            call,
            "POST",
            json_body=payload,
            read_timeout=None,
            consume=self._consume_json,
        )
        return self._completion(data, status)

    def chat_stream(self, req: ChatRequest) -> ChatStream:
        """``POST /chat/completions`` with ``stream: true``. Sends at once (status errors raise
        here); the returned `ChatStream` is a context manager and an iterator of events."""
        call = self._new_call("/chat/completions")
        payload = req.to_payload(stream=True)

        def open_stream() -> httpx.Response:
            return self._execute(
                call,
                "POST",
                json_body=payload,
                read_timeout=self.config.first_byte_timeout,
                consume=lambda response: self._prepare_stream(call, response),
                accept="text/event-stream",
            )

        def reconnect(error: NetworkError) -> httpx.Response:
            self._retry_or_raise(call, error, describe_network_kind(error.kind))
            return open_stream()

        response = open_stream()
        return ChatStream(
            response,
            reconnect=reconnect,
            clock=self._clock,
            deadline=call.deadline,
            redactor=self.redactor,
            host=self.host,
            url=self.redactor.url(call.url),
            attempts=lambda: self.attempts,
            max_body=MAX_BODY,
        )

    def request_raw(self, method: str, path: str) -> RawResponse:
        """One attempt, no retries, for the doctor: returns error statuses instead of raising.
        Raises `NetworkError` and `RedirectError` like every other call."""
        url = join_url(self.base_url, path)
        timeout = min(_SMALL_ENDPOINT_TIMEOUT, self.config.timeout)
        request = self._http.build_request(
            method.upper(),
            url,
            timeout=httpx.Timeout(
                timeout, connect=min(self.config.connect_timeout, timeout), write=timeout
            ),
        )
        self.attempts = 1
        self._trace_request(request)
        start = self._clock()
        try:
            response = self._http.send(request, stream=True)
        except httpx.RequestError as exc:
            raise self._request_error(exc, 1) from exc
        try:
            latency = self._record(response, start)
            self._check_redirect(response, url)
            body = bytearray()
            truncated = False
            try:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) >= RAW_EXCERPT:
                        truncated = len(body) > RAW_EXCERPT
                        break
            except httpx.RequestError:
                truncated = True
            headers: dict[str, str] = {}
            for name, value in response.headers.multi_items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            return RawResponse(
                status=response.status_code,
                reason=response.reason_phrase,
                headers=headers,
                content_type=response.headers.get("content-type"),
                body=bytes(body[:RAW_EXCERPT]),
                latency_ms=latency,
                url=self.redactor.url(url),
                request_id=request_id_from(response.headers),
                http_version=response.http_version,
                truncated=truncated,
            )
        finally:
            response.close()

    # -- the retry loop ---------------------------------------------------------------------------

    def _new_call(self, path: str) -> _Call:
        return _Call(
            deadline=self._clock() + self.config.timeout, url=join_url(self.base_url, path)
        )

    def _timeouts(self, call: _Call, read_timeout: float | None) -> httpx.Timeout:
        remaining = max(0.001, call.deadline - self._clock())
        read = remaining if read_timeout is None else min(read_timeout, remaining)
        connect = min(self.config.connect_timeout, remaining)
        return httpx.Timeout(
            read, connect=connect, write=min(_WRITE_TIMEOUT, remaining), pool=connect
        )

    def _execute(
        self,
        call: _Call,
        method: str,
        *,
        json_body: dict[str, Any] | None = None,
        read_timeout: float | None,
        consume: Callable[[httpx.Response], T],
        accept: str | None = None,
    ) -> T:
        """Send until a 2xx whose body ``consume`` accepts, retrying per policy.

        ``consume`` owns the response: it reads and closes it (JSON), or hands it on (stream).
        An httpx transport error raised by ``consume`` (a body read) is retried like a failed send.
        """
        while True:
            attempt = call.retries + 1
            self.attempts = attempt
            if call.deadline - self._clock() <= 0:
                raise NetworkError(
                    f"Gave up: the overall timeout of {self.config.timeout:g} s was reached",
                    kind="timeout",
                    host=self.host,
                    attempts=max(1, attempt - 1),
                )
            headers: dict[str, str] = {}
            if accept:
                headers["Accept"] = accept
            if call.retries:
                headers["X-Retry-Count"] = str(call.retries)
            request = self._http.build_request(
                method,
                call.url,
                json=json_body,
                headers=headers,
                timeout=self._timeouts(call, read_timeout),
            )
            self._trace_request(request)
            start = self._clock()
            try:
                response = self._http.send(request, stream=True)
            except httpx.RequestError as exc:
                err = self._request_error(exc, attempt)
                if isinstance(err, NetworkError) and err.kind != "tls":
                    self._retry_or_raise(call, err, describe_network_kind(err.kind), cause=exc)
                    continue
                raise err from exc
            self._record(response, start)
            status = response.status_code
            if not 200 <= status < 300:
                try:
                    self._check_redirect(response, call.url)
                    body = self._read_prefix(response, MAX_ERROR_BODY)
                finally:
                    response.close()
                err_status = parse_error_response(
                    status,
                    response.headers,
                    body,
                    call.url,
                    attempt,
                    redactor=self.redactor,
                    now=self._wall_clock(),
                )
                if should_retry_status(status, response.headers):
                    hint = self.policy.hint(response.headers, status=status)
                    self._retry_or_raise(call, err_status, describe_status(status), hint=hint)
                    continue
                raise err_status
            try:
                return consume(response)
            except httpx.RequestError as exc:
                response.close()
                err = self._request_error(exc, attempt)
                if isinstance(err, NetworkError) and err.kind != "tls":
                    self._retry_or_raise(call, err, describe_network_kind(err.kind), cause=exc)
                    continue
                raise err from exc
            except BaseException:
                response.close()
                raise

    def _retry_or_raise(
        self,
        call: _Call,
        err: ApiError | NetworkError,
        reason: str,
        *,
        hint: float | None = None,
        cause: BaseException | None = None,
    ) -> None:
        """Sleep before the next attempt, or raise ``err`` (or the wait-too-long form of it)."""
        decision = self.policy.decide(call.retries, hint=hint, deadline=call.deadline)
        if not decision.retry:
            if decision.hint_too_long and isinstance(err, ApiError):
                raise _wait_too_long(err, decision.hint or 0.0, self.policy.max_wait) from cause
            if cause is not None:
                raise err from cause
            raise err
        notice = RetryNotice(
            attempt=call.retries + 2,
            max_attempts=self.policy.max_attempts,
            wait=decision.wait,
            reason=reason,
        )
        if self._trace:
            self._trace(f"* {notice}")
        if self._on_retry:
            self._on_retry(notice)
        self.policy.sleep(decision.wait)
        call.retries += 1

    # -- response helpers -----------------------------------------------------------------------

    def _record(self, response: httpx.Response, start: float) -> float:
        latency = max(0.0, (self._clock() - start) * 1000.0)
        self.last_latency_ms = latency
        self.last_status = response.status_code
        self.last_request_id = request_id_from(response.headers)
        if self._trace:
            rid = f", request id {self.last_request_id}" if self.last_request_id else ""
            self._trace(
                f"< {response.http_version} {response.status_code} {response.reason_phrase}"
                f" ({latency:.0f} ms{rid})"
            )
            for name, value in self.redactor.headers(response.headers.multi_items()).items():
                self._trace(f"< {name}: {value}")
        return latency

    def _check_redirect(self, response: httpx.Response, url: str) -> None:
        if 300 <= response.status_code < 400:
            location = response.headers.get("location")
            shown_location = self.redactor.url(location) if location else None
            raise RedirectError(
                f"The server answered {response.status_code} {response.reason_phrase} "
                f"(redirect to {shown_location or 'nowhere'}); mscli does not follow redirects",
                status=response.status_code,
                location=shown_location,
                url=self.redactor.url(url),
            )

    @staticmethod
    def _read_prefix(response: httpx.Response, limit: int) -> bytes:
        """At most ``limit`` bytes of the body; a read error just ends it."""
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= limit:
                    break
        except httpx.RequestError:
            pass
        return bytes(body[:limit])

    @staticmethod
    def _read_capped(response: httpx.Response, limit: int) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLargeError(
                f"The response is larger than {limit // (1024 * 1024)} MiB", limit=limit
            )
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise ResponseTooLargeError(
                    f"The response is larger than {limit // (1024 * 1024)} MiB", limit=limit
                )
        return bytes(body)

    def _consume_json(self, response: httpx.Response) -> tuple[int, Any]:
        """Read a 2xx body (capped) and decode it as JSON; HTML is `NotApiError`."""
        try:
            body = self._read_capped(response, MAX_BODY)
        finally:
            response.close()
        return response.status_code, self._decode_json(response, body)

    def _decode_json(self, response: httpx.Response, body: bytes) -> Any:
        content_type = response.headers.get("content-type")
        url = self.redactor.url(str(response.request.url))
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
                excerpt=self.redactor.text(clean_text(text, 200)),
                status=response.status_code,
                url=url,
                content_type=content_type,
            ) from exc

    def _get_json(self, path: str) -> Any:
        call = self._new_call(path)
        status, payload = self._execute(
            call,
            "GET",
            read_timeout=min(_SMALL_ENDPOINT_TIMEOUT, self.config.timeout),
            consume=self._consume_json,
        )
        if is_error_payload(payload):
            raise api_error_from_payload(
                payload,
                url=call.url,
                attempts=self.attempts,
                redactor=self.redactor,
                now=self._wall_clock(),
                http_status=status,
            )
        return payload

    def _completion(self, payload: Any, status: int) -> ChatResult:
        return parse_completion(
            payload,
            redactor=self.redactor,
            url=self.redactor.url(join_url(self.base_url, "/chat/completions")),
            attempts=self.attempts,
            http_status=status,
        )

    def _prepare_stream(self, call: _Call, response: httpx.Response) -> httpx.Response:
        """Headers are in: from now on the read timeout is the idle gap between chunks."""
        remaining = max(0.001, call.deadline - self._clock())
        _set_read_timeout(response, min(self.config.idle_timeout, remaining))
        return response

    def _request_error(
        self, exc: httpx.RequestError, attempt: int
    ) -> NetworkError | ProtocolError | BaseUrlError:
        if isinstance(exc, httpx.DecodingError):
            return ProtocolError(
                "The response body could not be decoded",
                excerpt=self.redactor.text(clean_text(str(exc), 200)),
            )
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return BaseUrlError(
                f"The base URL cannot be used: {clean_text(str(exc), 200)}",
                base_url=self.redactor.url(self.base_url),
            )
        return map_transport_error(exc, host=self.host, attempts=attempt, redactor=self.redactor)

    def _trace_request(self, request: httpx.Request) -> None:
        if not self._trace:
            return
        self._trace(f"> {request.method} {self.redactor.url(str(request.url))}")
        for name, value in self.redactor.headers(request.headers.multi_items()).items():
            self._trace(f"> {name}: {value}")

    def _excerpt(self, payload: Any) -> str:
        try:
            text = json.dumps(payload, ensure_ascii=False)[:400]
        except (TypeError, ValueError):
            text = repr(payload)[:400]
        return self.redactor.text(clean_text(text, 200))


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable() and not any(c.isspace() for c in value)


def _set_read_timeout(response: httpx.Response, read: float) -> None:
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


def _wait_too_long(err: ApiError, hint: float, max_wait: float) -> ApiError:
    """The server asked for a wait longer than max_wait: say so, and when to retry."""
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
