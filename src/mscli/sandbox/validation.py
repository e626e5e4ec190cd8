"""Chat completion request bodies: JSON decoding and the 400s for fields and parameters (the first
problem wins), and the deterministic prompt-token estimate.

One stance for what ModelStack does not document (modelstack-api.md §2 lists `tools`, `n`,
`response_format`, the `developer`/`tool` roles, array `content`, ...): **refused with a 400 that
names it**, as a strict gateway does, never silently ignored. The sandbox accepts exactly the
documented fields (`DOCUMENTED`, `role` and `content` in messages, the three documented roles,
string content) plus its own extensions (`EXTENSIONS`), which `--no-stream-options` (config
``stream_options=False``) turns into refusals too, to stand in for a gateway that rejects them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mscli import pricing
from mscli.sandbox.protocol import MSG_MISSING_MODEL, Reject, unsupported_model_message

#: Largest `max_tokens` accepted (a sandbox limit, so one request cannot run for ever).
MAX_TOKENS_LIMIT = 131_072

_ROLES = ("system", "user", "assistant")

#: The request fields ModelStack documents (modelstack-api.md §2).
DOCUMENTED = ("model", "messages", "stream", "temperature", "max_tokens", "top_p", "stop")
#: Sandbox extensions, not ModelStack facts: the final usage chunk, and OpenAI's newer name for
#: max_tokens.
EXTENSIONS = ("stream_options", "max_completion_tokens")
_MESSAGE_FIELDS = ("role", "content")


def prompt_tokens_of(messages: Iterable[dict[str, Any]]) -> int:
    """Deterministic estimate: ceil(chars / 4) + 4 per message."""
    return sum(math.ceil(len(m["content"]) / 4) + 4 for m in messages)


@dataclass(frozen=True)
class ChatParams:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    stop: list[str]


def _number(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    v = body.get(name)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise Reject(
            400,
            f"Invalid '{name}': {json.dumps(v)[:50]}. Expected a number between {lo:g} and {hi:g}.",
        )


def _unrecognized(name: str) -> Reject:
    shown = json.dumps(name)[1:-1][:60]
    return Reject(
        400,
        f"Unrecognized request argument supplied: {shown}. "
        "This API accepts only its documented parameters.",
    )


def validate_chat(body: Any, *, stream_options: bool = True) -> ChatParams:
    """400s for the chat body; the first problem wins. With ``stream_options=False`` the
    sandbox's extensions are refused like any undocumented parameter."""
    if not isinstance(body, dict):
        raise Reject(400, "Request body must be a JSON object.")
    allowed = DOCUMENTED + (EXTENSIONS if stream_options else ())
    for name in body:
        if name not in allowed:
            raise _unrecognized(name)
    model = body.get("model")
    if model is None or model == "":
        raise Reject(400, MSG_MISSING_MODEL)
    if not isinstance(model, str):
        raise Reject(400, "Invalid 'model': expected a string.")
    if model not in pricing.MODELS:
        raise Reject(400, unsupported_model_message(model))
    messages = body.get("messages")
    if messages is None:
        raise Reject(400, "Messages field is required in request body")
    if not isinstance(messages, list) or not messages:
        raise Reject(400, "Invalid 'messages': expected a non-empty array of messages.")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise Reject(
                400, f"Invalid 'messages[{i}]': expected an object with 'role' and 'content'."
            )
        role = m.get("role")
        if role not in _ROLES:
            raise Reject(
                400,
                f"Invalid 'messages[{i}].role': {json.dumps(role)[:40]}. "
                f"Expected one of {', '.join(_ROLES)}.",
            )
        if not isinstance(m.get("content"), str):
            raise Reject(400, f"Invalid 'messages[{i}].content': expected a string.")
        for name in m:
            if name not in _MESSAGE_FIELDS:
                raise _unrecognized(f"messages[{i}].{name}")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise Reject(
            400,
            f"Invalid 'max_tokens': {json.dumps(max_tokens)[:50]}. "
            f"Expected an integer between 1 and {MAX_TOKENS_LIMIT}.",
        )
    stop = body.get("stop")
    if stop is None:
        stops: list[str] = []
    elif isinstance(stop, str):
        stops = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if len(stop) > 4:
            raise Reject(
                400, f"Invalid 'stop': {len(stop)} sequences given, at most 4 are allowed."
            )
        stops = list(stop)
    else:
        raise Reject(400, "Invalid 'stop': expected a string or an array of up to 4 strings.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise Reject(400, "Invalid 'stream': expected a boolean.")
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise Reject(400, "Invalid 'stream_options': expected an object.")
    include_usage = bool(opts and opts.get("include_usage") is True)
    return ChatParams(model, messages, stream, include_usage, max_tokens, stops)


def parse_chat(body: bytes, *, stream_options: bool = True) -> ChatParams:
    """The chat body as parameters: 400 for a body that is not UTF-8 JSON, then `validate_chat`."""
    try:
        parsed = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Reject(400, "Request body is not valid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise Reject(
            400,
            f"Request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
        ) from None
    except RecursionError:  # '[' * 200000: json's parser gives up on deep nesting
        raise Reject(400, "Request body is not valid JSON: nested too deeply.") from None
    except ValueError:  # an integer literal longer than int() converts (sys.int_info)
        raise Reject(400, "Request body is not valid JSON: a number is too long.") from None
    return validate_chat(parsed, stream_options=stream_options)
