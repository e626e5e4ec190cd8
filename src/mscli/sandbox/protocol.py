"""The sandbox's wire contract: the documented error envelope and messages, the extension headers,
and the exceptions a handler raises to answer with an error or to give up on a gone client."""

from __future__ import annotations

import json
import random
from typing import Any

from mscli import pricing

#: Ids need to be unique, not secret: a generator seeded once from the OS, rather than a
#: `getrandom` system call for each of the two ids of every request.
_IDS = random.Random()


#: One encoder for every JSON body: `json.dumps` with `separators=` builds a new encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact_json(obj: Any) -> str:
    """`obj` as compact JSON (no spaces), the form of every body the sandbox sends."""
    return _COMPACT.encode(obj)


def new_id(prefix: str) -> str:
    """``prefix`` and 24 random hex digits: request ids (``req_``) and completion ids."""
    return f"{prefix}{_IDS.getrandbits(96):024x}"


# Documented messages (docs-errors-page.txt): keep them byte-for-byte.
MSG_MISSING_MODEL = "Model field is required in request body"
MSG_INVALID_KEY = "Invalid API key provided"
MSG_NO_BALANCE = "Insufficient credit balance. Please add credits or upgrade your plan."
MSG_RATE_LIMIT = "Rate limit exceeded. Please retry after a short delay."
MSG_INTERNAL = "An internal error occurred. Please try again later."

#: Documented error types by status; undocumented statuses map to their class (§11.3).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_balance",
    404: "not_found",
    429: "rate_limit_error",
    500: "internal_error",
}

#: Response headers the sandbox sends that ModelStack does NOT document (modelstack-api.md §6):
#: sandbox extensions, for the README/man generator. Clients must not rely on them in production.
EXTENSION_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-request-id", "an id for each response (`req_` + 24 hex digits)"),
    ("Retry-After", "on 429: whole seconds until a request slot frees"),
    ("x-ratelimit-limit-requests", "the plan's requests per window (RPM)"),
    ("x-ratelimit-remaining-requests", "requests left in the current sliding window"),
    (
        "x-ratelimit-reset-requests",
        "time until the oldest request leaves the window (`12.5s`, `250ms`)",
    ),
)


def error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "internal_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str, etype: str | None = None) -> dict[str, Any]:
    """The documented error envelope."""
    return {"error": {"message": message, "type": etype or error_type_for(status), "code": status}}


def unsupported_model_message(model: str) -> str:
    """The docs' exact format. Sorted, the catalogue's first five IDs are the five the docs list."""
    shown = ", ".join(sorted(pricing.MODELS)[:5])
    name = model if len(model) <= 200 else model[:200] + "…"
    return (
        f'Unsupported model: "{name}". Supported models include: {shown}, and more. '
        "Please check the documentation for the full list."
    )


class Reject(Exception):
    """Raised inside a handler to answer with the documented error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
        linger: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.close = close
        #: bytes of unread body the client may still be sending (see `BaseHandler._linger`)
        self.linger = linger


class ClientGone(Exception):
    """The client closed or stalled the connection; nothing more can be sent."""


DISCONNECTS = (ConnectionError, TimeoutError, ClientGone)
