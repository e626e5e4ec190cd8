"""`GatewayClient`: one method per endpoint and one retry loop (httpx plumbing: `api.transport`).

- ``httpx.Client(follow_redirects=False, trust_env=True)``: a 3xx is a `RedirectError`, so the key
  never travels to another host; proxies and CA bundles come from the environment.
- An ``http://`` base URL to a non-loopback host is refused in ``__init__``, before any I/O.
- Retries (`mscli.api.retry`): error statuses per policy, and connection failures or timeouts
  before any response byte; for non-streamed calls a read error anywhere in the body too. Each
  retry is announced through ``on_retry`` and carries ``X-Retry-Count``.
- Timeouts: connect; first byte (chat); ``min(30, timeout)`` for models/balance; an idle limit
  between stream chunks (the read timeout is switched once the headers are in, see
  `mscli.api.transport.set_read_timeout`); and one overall deadline per call across attempts and
  sleeps.
- ``trace`` receives redacted lines: method and URL, request headers (Authorization masked),
  status, latency and request id.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import httpx

from mscli import __version__
from mscli.api.errors_parse import (
    MAX_ERROR_BODY,
    api_error_from_payload,
    clean_text,
    is_error_payload,
    parse_error_response,
    refuses_parameter,
    request_id_from,
)
from mscli.api.models import ChatRequest, ChatResult
from mscli.api.retry import (
    RetryNotice,
    RetryPolicy,
    describe_network_kind,
    describe_status,
    should_retry_status,
)
from mscli.api.stream import ChatStream, parse_completion
from mscli.api.transport import (
    RAW_EXCERPT,
    SMALL_ENDPOINT_TIMEOUT,
    RawResponse,
    attempt_timeouts,
    check_redirect,
    decode_json,
    excerpt,
    http_client,
    raw_timeouts,
    read_capped,
    read_head,
    request_error,
    request_trace,
    response_trace,
    set_read_timeout,
    wait_too_long_error,
)
from mscli.api.urls import join_url, normalise_base_url, not_found_fix
from mscli.credentials import header_safe
from mscli.errors import (
    ApiError,
    BaseUrlError,
    KeyFormatError,
    NetworkError,
    ProtocolError,
)
from mscli.redact import Redactor

if TYPE_CHECKING:
    from mscli.api.lenient import Balance, ModelList

__all__ = [
    "MAX_BODY",
    "ClientConfig",
    "GatewayClient",
]

T = TypeVar("T")

#: Largest successful JSON body accepted (a huge /models list): beyond it, ResponseTooLargeError.
MAX_BODY = 32 * 1024 * 1024


class ClientConfig(NamedTuple):
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
    #: the proxy variables of the run's environment (`urls.proxy_env`, from `Settings`): they name
    #: the proxy in an error and tell whether a plain-http base can still use TLS (an https
    #: proxy). httpx itself reads them from the process's environment (trust_env). None: not
    #: known, so no proxy is named and TLS is always possible (the CA bundle is loaded).
    proxy_env: Mapping[str, str] | None = None

    def __repr__(self) -> str:  # never show the key, even in a traceback
        shown = "None" if self.api_key is None else "'****'"
        return (
            f"ClientConfig(base_url={self.base_url!r}, api_key={shown}, timeout={self.timeout}, "
            f"max_retries={self.max_retries}, max_wait={self.max_wait})"
        )


# --- the client ----------------------------------------------------------------------------------


#: How often a server that accepts the connection and then says nothing (a read timeout before
#: any response byte) is asked again: once for the small requests (models, balance: at most
#: about a minute in all), never for a chat (its first-byte limit, 120 s, is the wait). Retrying
#: it like any failure turned a silent gateway into minutes of silence.
SILENT_RETRIES = 1


class _Call:
    """State of one logical call across its attempts (a plain class, not a dataclass:
    docs/architecture.md, rule 7, "Records")."""

    __slots__ = ("deadline", "retries", "silent", "silent_retries", "started", "url")

    def __init__(self, deadline: float, url: str, started: float, silent_retries: int) -> None:
        self.deadline = deadline
        self.retries = 0
        self.url = url
        self.started = started
        #: read timeouts before any response byte so far, and how many may be retried
        self.silent = 0
        self.silent_retries = silent_retries


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
        if api_key is not None and not header_safe(api_key):
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
        self._http = http_client(
            user_agent=config.user_agent,
            api_key=api_key,
            transport=transport,
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            base=self.base,
            proxy_env=config.proxy_env,
        )
        self.last_request_id: str | None = None
        self.last_latency_ms: float | None = None
        self.attempts = 0
        #: Set when a streamed chat was refused for its ``stream_options`` and sent again without.
        self.stream_options_refused = False

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
        from pydantic import ValidationError  # not on the chat path (mscli.api.lenient)

        from mscli.api.lenient import ModelList

        payload = self._get_json("/models")
        try:
            return ModelList.model_validate(payload)
        except ValidationError as exc:
            raise ProtocolError(
                "The model list does not have the expected shape (data[].id)",
                excerpt=excerpt(payload, self.redactor),
                detail=clean_text(str(exc.errors()[0].get("msg", "")) if exc.errors() else "", 200),
            ) from exc

    def get_balance(self) -> Balance:
        """``GET /balance`` (an mscli decision, modelstack-api §11.5; a 404 raises `ApiError`)."""
        payload = self._get_json("/balance")
        if not isinstance(payload, dict):
            raise ProtocolError(
                "The balance answer is not a JSON object", excerpt=excerpt(payload, self.redactor)
            )
        from mscli.api.lenient import Balance

        return Balance.model_validate(payload)

    def chat(self, req: ChatRequest) -> ChatResult:
        """``POST /chat/completions`` with ``stream: false``."""
        call = self._new_call("/chat/completions", silent_retries=0)
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
        call = self._new_call("/chat/completions", silent_retries=0)
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

        try:
            response = open_stream()
        except ApiError as err:
            if "stream_options" not in payload or not refuses_parameter(err, "stream_options"):
                raise
            # not documented by ModelStack: a gateway that rejects unknown parameters gets the
            # request once more without it (no usage counts then); the caller may remember it
            del payload["stream_options"]
            self.stream_options_refused = True
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
        request = self._http.build_request(
            method.upper(),
            url,
            timeout=raw_timeouts(self.config.timeout, connect=self.config.connect_timeout),
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
            check_redirect(response, url, self.redactor)
            body, truncated = read_head(response, RAW_EXCERPT)
            return RawResponse.from_response(
                response,
                body=body,
                truncated=truncated,
                latency_ms=latency,
                url=self.redactor.url(url),
            )
        finally:
            response.close()

    # -- the retry loop ---------------------------------------------------------------------------

    def _new_call(self, path: str, *, silent_retries: int = SILENT_RETRIES) -> _Call:
        now = self._clock()
        return _Call(
            deadline=now + self.config.timeout,
            url=join_url(self.base_url, path),
            started=now,
            silent_retries=silent_retries,
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
                timeout=attempt_timeouts(
                    call.deadline - self._clock(),
                    read=read_timeout,
                    connect=self.config.connect_timeout,
                ),
            )
            self._trace_request(request)
            start = self._clock()
            try:
                response = self._http.send(request, stream=True)
            except httpx.RequestError as exc:
                self._retry_transport(call, exc, attempt, before_response=True)
                continue
            self._record(response, start)
            status = response.status_code
            if not 200 <= status < 300:
                try:
                    check_redirect(response, call.url, self.redactor)
                    body, _ = read_head(response, MAX_ERROR_BODY)
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
                if status == 404 and err_status.advice_key == "not_found":
                    self._explain_not_found(err_status, method, call.url)
                if should_retry_status(status, response.headers):
                    hint = self.policy.hint(response.headers, status=status)
                    self._retry_or_raise(call, err_status, describe_status(status), hint=hint)
                    continue
                err_status.facts["retryable"] = False  # the advice says why nothing was retried
                raise err_status
            try:
                return consume(response)
            except httpx.RequestError as exc:
                response.close()
                self._retry_transport(call, exc, attempt)
                continue
            except BaseException:
                response.close()
                raise

    def _explain_not_found(self, err: ApiError, method: str, url: str) -> None:
        """Name the path that answered 404, and say what the base URL's form tells about it: a
        URL ending in /v1 is right, so the server does not offer this endpoint."""
        path = urlsplit(url).path
        err.message = f"{method} {path} answered 404" + (
            f": {err.server_message}" if err.server_message else ""
        )
        shown = self.redactor.url(self.base_url)
        err.facts["fix"] = not_found_fix(shown, self.base.form, f"{method} {path}")

    def _retry_transport(
        self, call: _Call, exc: httpx.RequestError, attempt: int, *, before_response: bool = False
    ) -> None:
        """A send or body read failed: sleep before the next attempt, or raise the mapped error
        (`NetworkError.retryable` says which network failures are worth it). A read timeout
        `before_response` is a silent server (`SILENT_RETRIES`); one while reading a body is not."""
        err = self._request_error(exc, attempt)
        if isinstance(err, NetworkError) and err.kind == "read_timeout" and before_response:
            call.silent += 1
            if call.silent > call.silent_retries:
                self._say_how_long(call, err)
                raise err from exc
        if isinstance(err, NetworkError) and err.retryable:
            self._retry_or_raise(call, err, describe_network_kind(err.kind), cause=exc)
            return
        raise err from exc

    def _say_how_long(self, call: _Call, err: NetworkError) -> None:
        """A silent server's message says the whole wait, not only the last attempt's limit."""
        limit = err.facts.get("limit_s")
        attempts = call.retries + 1
        silent_all_along = err.kind == "read_timeout" and call.silent >= attempts
        if not silent_all_along or attempts < 2 or not isinstance(limit, (int, float)):
            return
        waited = self._clock() - call.started
        err.message = (
            f"No response from {self.host}: {attempts} attempts waited {limit:g} s each "
            f"({waited:.0f} s in all)"
        )
        err.facts["waited_s"] = round(waited, 1)

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
            err.facts["max_retries"] = self.policy.max_retries  # what the advice may quote
            if isinstance(err, NetworkError):
                self._say_how_long(call, err)
            if decision.reason == "deadline":  # the next wait would pass the --timeout deadline
                err.facts["deadline_wait"] = decision.wait
            if decision.hint_too_long and isinstance(err, ApiError):
                raise wait_too_long_error(
                    err, decision.hint or 0.0, self.policy.max_wait
                ) from cause
            if cause is not None:
                raise err from cause
            raise err
        notice = RetryNotice(
            attempt=call.retries + 2,
            max_attempts=self.policy.max_attempts,
            wait=decision.wait,
            reason=reason,
            status=err.status if isinstance(err, ApiError) else None,
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
        self.last_request_id = request_id_from(response.headers)
        if self._trace:
            for line in response_trace(
                response,
                latency_ms=latency,
                request_id=self.last_request_id,
                redactor=self.redactor,
            ):
                self._trace(line)
        return latency

    def _consume_json(self, response: httpx.Response) -> tuple[int, Any]:
        """Read a 2xx body (capped) and decode it as JSON; HTML is `NotApiError`."""
        try:
            body = read_capped(response, MAX_BODY)
        finally:
            response.close()
        return response.status_code, decode_json(response, body, self.redactor)

    def _get_json(self, path: str) -> Any:
        call = self._new_call(path)
        status, payload = self._execute(
            call,
            "GET",
            read_timeout=min(SMALL_ENDPOINT_TIMEOUT, self.config.timeout),
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
        set_read_timeout(response, min(self.config.idle_timeout, remaining))
        return response

    def _request_error(
        self, exc: httpx.RequestError, attempt: int
    ) -> NetworkError | ProtocolError | BaseUrlError:
        return request_error(
            exc,
            attempt=attempt,
            host=self.host,
            base_url=self.base_url,
            redactor=self.redactor,
            proxy_env=self.config.proxy_env,
        )

    def _trace_request(self, request: httpx.Request) -> None:
        if not self._trace:
            return
        for line in request_trace(request, self.redactor):
            self._trace(line)
