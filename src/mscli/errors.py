"""The exception hierarchy. Errors carry facts (status, request id, path…), never prose advice:
`mscli.advice` is the one place that turns an error into a title, a fix and an exit code.

Every class has an `advice_key` naming its row in the advice table. Subclasses refine it; an
`ApiError` computes its key from the HTTP status and the documented error type.
"""

from __future__ import annotations

from typing import Any


class MscliError(Exception):
    """Base of every error mscli expects. Anything else reaching the top is a bug (exit 1)."""

    advice_key: str = "internal"

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        #: Extra facts for the advice table and the --json error object (never secrets).
        self.facts: dict[str, Any] = dict(facts)

    def __str__(self) -> str:
        return self.message


class UsageError(MscliError):
    """Bad command-line input that Typer could not catch itself (exit 2)."""

    advice_key = "usage"


class InterruptedByUser(MscliError):
    """Ctrl-C (exit 130); raised only to report it as a JSON error object under --json."""

    advice_key = "interrupted"


# --- configuration and local state (exit 10) -------------------------------------------------


class ConfigError(MscliError):
    advice_key = "config.invalid"

    def __init__(self, message: str, *, path: str | None = None, **facts: Any) -> None:
        super().__init__(message, path=path, **facts)
        self.path = path


class ConfigCorruptError(ConfigError):
    """The config file exists but cannot be parsed or read. It is never overwritten."""

    advice_key = "config.corrupt"

    def __init__(
        self, message: str, *, path: str, line: int | None = None, detail: str = "", **facts: Any
    ) -> None:
        super().__init__(message, path=path, line=line, detail=detail, **facts)
        self.line = line
        self.detail = detail


class ConfigLockedError(ConfigError):
    advice_key = "config.locked"


class BaseUrlError(ConfigError):
    """The base URL is not a usable http(s) URL."""

    advice_key = "config.base_url"

    def __init__(self, message: str, *, base_url: str, **facts: Any) -> None:
        super().__init__(message, base_url=base_url, **facts)
        self.base_url = base_url


class InsecureTransportError(BaseUrlError):
    """A plain http:// base URL to a host that is not loopback: refused before any request."""

    advice_key = "config.insecure_http"


class RedirectError(ConfigError):
    """The server answered with a redirect; mscli never follows one (the key would travel)."""

    advice_key = "config.redirect"

    def __init__(self, message: str, *, status: int, location: str | None, url: str) -> None:
        super().__init__(message, status=status, location=location, url=url)
        self.status = status
        self.location = location
        self.url = url


class PortUnavailableError(ConfigError):
    """The sandbox cannot listen on the address asked for (in use, not permitted)."""

    advice_key = "config.port"


class LocalStoreError(ConfigError):
    """The history/ledger database is locked, corrupt or from a newer mscli. Never reset silently."""

    advice_key = "store.error"


# --- credentials (exit 3) -------------------------------------------------------------------


class CredentialError(MscliError):
    advice_key = "auth.missing"

    def __init__(self, message: str, *, source: str | None = None, **facts: Any) -> None:
        super().__init__(message, source=source, **facts)
        self.source = source


class KeyMissingError(CredentialError):
    advice_key = "auth.missing"


class KeySourceError(CredentialError):
    """The key could not be read from where the profile keeps it: its `api_key_command` failed,
    timed out or printed nothing, or the OS keyring is missing, has no backend or no entry. The
    message carries the command's own words (redacted); `fix` says what to do."""

    advice_key = "auth.source"


class KeyFormatError(CredentialError):
    """The key does not look like a ModelStack key (`sk_…`); no request was sent."""

    advice_key = "auth.malformed"


# --- errors from the API (exit by status class) --------------------------------------------


class ApiError(MscliError):
    """The server answered with an error status. Built by `mscli.api.errors_parse`."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        code: int | str | None = None,
        server_message: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body_excerpt: str | None = None,
        attempts: int = 1,
        url: str | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(
            message,
            status=status,
            error_type=error_type,
            code=code,
            request_id=request_id,
            retry_after=retry_after,
            attempts=attempts,
            **facts,
        )
        self.status = status
        self.error_type = error_type
        self.code = code
        self.server_message = server_message
        self.request_id = request_id
        self.retry_after = retry_after
        self.body_excerpt = body_excerpt
        self.attempts = attempts
        self.url = url

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)

    @property
    def advice_key(self) -> str:  # type: ignore[override]
        s, t, msg = self.status, (self.error_type or ""), (self.server_message or "").lower()
        if s == 401 or t == "authentication_error":
            return "auth.invalid"
        if s == 403:
            return "auth.forbidden"
        if s == 402 or t == "insufficient_balance":
            return "balance.empty"
        if s == 429 or t == "rate_limit_error":
            return "rate_limit"
        if s == 404 and (str(self.code) == "model_not_found" or "model" in t):
            return "model.unsupported"
        if s == 404:
            return "not_found"
        if s == 400 and msg.startswith("unsupported model"):
            return "model.unsupported"
        if s == 400 and "model field is required" in msg:
            return "model.missing"
        if s == 413:
            return "request.too_large"
        if s == 408:
            return "request.timeout"
        if s == 409:
            return "request.conflict"
        if 400 <= s < 500:
            return "request.invalid"
        if s >= 500:
            return "server"
        return "internal"


class RateLimitWaitTooLongError(ApiError):
    """The server asked for a wait longer than --max-wait: fail now and say when to retry."""

    @property
    def advice_key(self) -> str:  # type: ignore[override]
        return "rate_limit.wait_too_long"


# --- network and protocol ------------------------------------------------------------------


class NetworkError(MscliError):
    """No HTTP answer: DNS, refused, reset, TLS, timeout, proxy. `kind` names which."""

    KINDS = (
        "dns",
        "refused",
        "reset",
        "tls",
        "connect_timeout",
        "read_timeout",
        "timeout",
        "proxy",
        "other",
    )

    def __init__(
        self,
        message: str,
        *,
        kind: str = "other",
        host: str | None = None,
        attempts: int = 1,
        **facts: Any,
    ) -> None:
        super().__init__(message, kind=kind, host=host, attempts=attempts, **facts)
        self.kind = kind if kind in self.KINDS else "other"
        self.host = host
        self.attempts = attempts

    @property
    def advice_key(self) -> str:  # type: ignore[override]
        return f"network.{self.kind}"

    @property
    def retryable(self) -> bool:
        """Worth another attempt: not a TLS failure, nor a host name that does not exist (neither
        fixes itself in seconds); a resolver that did not answer is."""
        if self.kind == "tls":
            return False
        return not (self.kind == "dns" and self.facts.get("dns_temporary") is False)


class StreamInterruptedError(NetworkError):
    """The connection broke after part of a streamed reply reached the user (never retried)."""

    #: ``reason`` values that mean the reply stopped coming (idle limit, overall deadline), not
    #: that the connection broke.
    STALLED = ("read_timeout", "timeout", "deadline")

    def __init__(
        self, message: str, *, partial_chars: int, host: str | None = None, **facts: Any
    ) -> None:
        super().__init__(message, kind="reset", host=host, partial_chars=partial_chars, **facts)
        self.partial_chars = partial_chars

    @property
    def advice_key(self) -> str:  # type: ignore[override]
        if self.facts.get("reason") in self.STALLED:
            return "network.stream_stalled"
        return "network.stream_interrupted"


class ProtocolError(MscliError):
    """The reply is not what the API speaks: bad JSON, bad SSE, missing fields."""

    advice_key = "protocol.malformed"

    def __init__(self, message: str, *, excerpt: str | None = None, **facts: Any) -> None:
        super().__init__(message, excerpt=excerpt, **facts)
        self.excerpt = excerpt


class NotApiError(ProtocolError):
    """A 2xx answer that is an HTML page or other non-API content (wrong base URL, captive portal)."""

    advice_key = "protocol.not_api"


class StreamTruncatedError(ProtocolError):
    """A stream that ended with neither finish_reason nor [DONE]."""

    advice_key = "protocol.truncated"

    def __init__(self, message: str, *, partial_chars: int = 0, **facts: Any) -> None:
        super().__init__(message, partial_chars=partial_chars, **facts)
        self.partial_chars = partial_chars


class ResponseTooLargeError(ProtocolError):
    advice_key = "protocol.too_large"


# --- local checks ---------------------------------------------------------------------------


class ModelNotServedError(MscliError):
    """A model id that the live (or cached) model list does not contain; checked before sending."""

    advice_key = "model.unsupported"

    def __init__(self, message: str, *, model: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message, model=model, suggestions=list(suggestions or []))
        self.model = model
        self.suggestions = list(suggestions or [])


class BalanceBelowMinimumError(MscliError):
    advice_key = "balance.below_min"


class BalanceUnknownError(MscliError):
    """`--min` was asked of a server that reports no balance, and nothing confirmed it."""

    advice_key = "balance.unknown"
