"""Error body -> `ApiError`, whatever the server sent (reliability §6 rows 1–8, 21, 32).

One tolerant extractor tries, in order: the OpenAI/ModelStack envelope
``{"error": {"message", "type", "code", "param"}}`` (OpenRouter's ``{"error": {"code": 402, …}}``
too), ``{"error": "text"}``, vLLM's ``{"object": "error", "message": …}``, FastAPI's
``{"detail": "…"}`` and ``{"detail": [{"msg": …}]}``, ``{"message": …}``, ``{"errors": [...]}``.
Anything else: an HTML page gives its ``<title>`` (never the markup), other text gives the status
plus the first 200 characters, and an empty body gives the status phrase.

Text that leaves this module is one line, free of control characters and terminal escapes, at
most ~300 characters, and passed through the redactor (servers echo keys back in error text).
Nothing here is Rich-specific: the output layer renders with ``Text`` objects.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, NamedTuple

from mscli.api.retry import get_header, parse_retry_after
from mscli.errors import ApiError
from mscli.redact import Redactor, strip_control

__all__ = [
    "MAX_ERROR_BODY",
    "MAX_TEXT",
    "ErrorFields",
    "api_error_from_payload",
    "clean_text",
    "extract_error_fields",
    "html_title",
    "is_error_payload",
    "looks_like_html",
    "parse_error_response",
    "request_id_from",
    "status_from_code",
    "status_phrase",
]

#: At most this much of an error body is read or looked at.
MAX_ERROR_BODY = 64 * 1024
#: Longest message or excerpt that leaves this module.
MAX_TEXT = 300
#: Excerpt length for bodies that are not understood (malformed JSON, plain text).
_RAW_EXCERPT = 200

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI (colours, cursor moves)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (titles, hyperlinks)
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
)
_SPACE = re.compile(r"\s+")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "cf-ray", "x-amzn-requestid", "x-trace-id")


def status_phrase(status: int) -> str:
    """``"Bad Gateway"`` for 502; ``"HTTP error"`` for a status Python does not know."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """One line, no control characters or terminal escapes, at most ``limit`` characters."""
    text = _ANSI.sub("", text)
    text = strip_control(text.replace("\t", " ").replace("\r", " "))
    text = _SPACE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def request_id_from(headers: Mapping[str, str] | None) -> str | None:
    """The request id for support tickets: ``x-request-id``, ``request-id`` or ``cf-ray``."""
    for name in _REQUEST_ID_HEADERS:
        value = get_header(headers, name)
        if value and value.strip():
            return clean_text(value, 120)
    return None


def looks_like_html(body: bytes | str, content_type: str | None = None) -> bool:
    """``text/html`` (or xhtml), or a body whose first non-blank character is ``<``."""
    if content_type and "html" in content_type.lower():
        return True
    head = body[:512].lstrip()
    if isinstance(head, bytes):
        head = head.lstrip(b"\xef\xbb\xbf")
        return head.startswith(b"<")
    return head.lstrip("\ufeff").startswith("<")


def html_title(text: str) -> str | None:
    """The page's ``<title>`` (or first ``<h1>``) as plain text, or ``None``."""
    for pattern in (_TITLE, _H1):
        match = pattern.search(text)
        if match:
            import html  # only for an HTML error page

            title = clean_text(html.unescape(_TAG.sub(" ", match.group(1))), 200)
            if title:
                return title
    return None


def status_from_code(code: object, default: int = 500) -> int:
    """An HTTP status from an error object's ``code`` when it is an int in 400..599."""
    if isinstance(code, bool):
        return default
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    if isinstance(code, str) and code.strip().isdigit() and 400 <= int(code.strip()) <= 599:
        return int(code.strip())
    return default


class ErrorFields(NamedTuple):
    """What could be read from an error payload. Every field may be missing."""

    message: str | None = None
    error_type: str | None = None
    code: int | str | None = None
    param: str | None = None


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))[:MAX_ERROR_BODY]
    return str(value)


def _as_code(value: object) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, str)):
        return value
    return None


def _as_type(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _detail_text(detail: object) -> str | None:
    if isinstance(detail, list):
        parts: list[str] = []
        for item in detail[:5]:
            if isinstance(item, dict):
                msg = _as_text(item.get("msg") or item.get("message"))
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) and loc else ""
                if msg:
                    parts.append(f"{where}: {msg}" if where else msg)
            elif isinstance(item, str) and item:
                parts.append(item)
        return "; ".join(parts) or None
    if isinstance(detail, dict):
        return _as_text(detail.get("message") or detail.get("msg")) or _as_text(detail)
    return _as_text(detail)


def extract_error_fields(payload: Any) -> ErrorFields | None:
    """Read message/type/code/param from any known error shape; ``None`` if none matches."""
    if isinstance(payload, list):
        return (
            extract_error_fields(payload[0]) if payload and isinstance(payload[0], dict) else None
        )
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    if isinstance(err, dict):
        message = _as_text(err.get("message") or err.get("msg") or err.get("detail"))
        return ErrorFields(
            message=message,
            error_type=_as_type(err.get("type")) or _as_type(err.get("status")),
            code=_as_code(err.get("code")),
            param=_as_type(err.get("param")),
        )
    if isinstance(err, str) and err.strip():
        return ErrorFields(
            message=_as_text(payload.get("message")) or err,
            error_type=_as_type(payload.get("type")),
            code=_as_code(payload.get("code")),
        )
    if payload.get("object") == "error":  # vLLM
        return ErrorFields(
            message=_as_text(payload.get("message")),
            error_type=_as_type(payload.get("type")),
            code=_as_code(payload.get("code")),
            param=_as_type(payload.get("param")),
        )
    if "detail" in payload:  # FastAPI
        return ErrorFields(
            message=_detail_text(payload.get("detail")),
            error_type=_as_type(payload.get("type")),
            code=_as_code(payload.get("code")),
        )
    if "message" in payload:
        return ErrorFields(
            message=_as_text(payload.get("message")),
            error_type=_as_type(payload.get("type")),
            code=_as_code(payload.get("code")),
            param=_as_type(payload.get("param")),
        )
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            return ErrorFields(
                message=_as_text(first.get("message") or first.get("msg")),
                error_type=_as_type(first.get("type")),
                code=_as_code(first.get("code")),
            )
        return ErrorFields(message=_as_text(first))
    return None


def is_error_payload(payload: Any) -> bool:
    """Does a (2xx or streamed) JSON payload carry an error instead of a result?

    True for a truthy ``error`` key and for vLLM's ``{"object": "error"}``.
    """
    if not isinstance(payload, dict):
        return False
    return bool(payload.get("error")) or payload.get("object") == "error"


def _build(
    *,
    status: int,
    fields: ErrorFields | None,
    excerpt: str | None,
    headers: Mapping[str, str] | None,
    url: str | None,
    attempts: int,
    redactor: Redactor,
    now: float | None,
    **facts: Any,
) -> ApiError:
    server_message = None
    if fields is not None and fields.message:
        server_message = redactor.text(clean_text(fields.message))
    if excerpt is not None:
        excerpt = redactor.text(clean_text(excerpt))
    if facts.get("status_assumed"):
        where = "in the stream" if facts.get("mid_stream") else "in its reply"
        summary = f"The server sent an error {where} (no HTTP status given)"
    else:
        summary = f"HTTP {status} {status_phrase(status)}"
    detail = server_message or excerpt
    message = f"{summary}: {detail}" if detail else summary
    retry_after = parse_retry_after(
        headers,
        now=time.time() if now is None else now,
        include_ratelimit_reset=(status == 429),
    )
    if fields is not None and fields.param:
        facts["param"] = clean_text(fields.param, 100)
    return ApiError(
        message,
        status=status,
        error_type=clean_text(fields.error_type, 100) if fields and fields.error_type else None,
        code=fields.code if fields else None,
        server_message=server_message,
        request_id=request_id_from(headers),
        retry_after=retry_after,
        body_excerpt=excerpt,
        attempts=attempts,
        url=redactor.url(url) if url else None,
        **facts,
    )


def api_error_from_payload(
    payload: Any,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
    attempts: int = 1,
    redactor: Redactor | None = None,
    now: float | None = None,
    **facts: Any,
) -> ApiError:
    """An `ApiError` from an already-parsed JSON error (a mid-stream error event, or an error
    inside a 200 body). Without ``status`` it comes from the error's ``code`` (int); failing
    that it is 500 for the advice (a server-side failure) with ``status_assumed`` set, so no
    message or panel claims the server sent "HTTP 500"."""
    fields = extract_error_fields(payload)
    if status is None:
        status = status_from_code(fields.code if fields else None, default=0)
        if status == 0:
            status, facts["status_assumed"] = 500, True
    excerpt = None
    if fields is None or not fields.message:
        excerpt = _as_text(payload)
    return _build(
        status=status,
        fields=fields,
        excerpt=excerpt,
        headers=headers,
        url=url,
        attempts=attempts,
        redactor=redactor or Redactor(),
        now=now,
        **facts,
    )


def parse_error_response(
    status: int,
    headers: Mapping[str, str] | None,
    body_bytes: bytes,
    url: str | None,
    attempts: int,
    *,
    redactor: Redactor | None = None,
    now: float | None = None,
) -> ApiError:
    """Turn an HTTP error answer into an `ApiError`. Never raises anything else.

    Only the first 64 KiB of ``body_bytes`` are looked at. ``redactor`` masks the configured key
    (and anything key-shaped); ``now`` is the wall clock for HTTP-date ``Retry-After`` values.
    """
    redactor = redactor or Redactor()
    body = body_bytes[:MAX_ERROR_BODY]
    content_type = get_header(headers, "content-type")
    text = body.decode("utf-8", "replace").lstrip("\ufeff").strip()
    common: dict[str, Any] = {
        "headers": headers,
        "url": url,
        "attempts": attempts,
        "redactor": redactor,
        "now": now,
    }
    if not text:
        return _build(status=status, fields=None, excerpt=None, **common)

    if text[:1] in '{["' or (content_type and "json" in content_type.lower()):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        else:
            fields = extract_error_fields(payload)
            if isinstance(payload, str) and payload.strip():
                fields = ErrorFields(message=payload)
            if fields is not None and fields.message:
                return _build(status=status, fields=fields, excerpt=None, **common)
            excerpt = _as_text(payload)
            return _build(status=status, fields=fields, excerpt=excerpt, **common)

    if looks_like_html(text, content_type):
        title = html_title(text)
        return _build(
            status=status,
            fields=ErrorFields(message=title) if title else None,
            excerpt=None,
            content="html",
            **common,
        )

    return _build(status=status, fields=None, excerpt=clean_text(text, _RAW_EXCERPT), **common)


def refuses_parameter(err: ApiError, name: str) -> bool:
    """Whether `err` is a 400/422 that names the request parameter `name` (as its ``param``, or
    in its message or body): a gateway that rejects parameters it does not know."""
    if err.status not in (400, 422):
        return False
    texts = (err.facts.get("param"), err.server_message, err.body_excerpt)
    return any(isinstance(text, str) and name in text for text in texts)
