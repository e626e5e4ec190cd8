"""Request/response models (reliability §6 row 31), without pydantic: the chat path imports this
module, so a streamed reply never pays for pydantic's import (~25 ms) and model building (~30 ms).

Streaming chunks are read by `mscli.api.stream` straight from dicts (faster and more tolerant than
validating every chunk); the events it yields are the small classes at the bottom of this module,
and `Usage` reads its counts leniently (`_int_or_none`: a whole number within bounds, else None).
The replies of the small endpoints (`ModelList`, `ModelEntry`, `Balance`) are lenient pydantic
models in `mscli.api.lenient`, which only the client methods of those endpoints import.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

from mscli.limits import MAX_COUNT

__all__ = [
    "ChatEvent",
    "ChatRequest",
    "ChatResult",
    "Finish",
    "TextDelta",
    "Usage",
    "UsageInfo",
]


def _number(value: Any) -> float | int | None:
    """A finite number from a JSON number or numeric string; None otherwise (bools too)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _int_or_none(value: Any, limit: int = MAX_COUNT) -> int | None:
    """A whole number in ``0..limit`` (``12.0`` counts as 12); anything else (negative,
    fractional, beyond the limit, non-finite, not a number) is unknown: None."""
    number = _number(value)
    if number is None or number < 0 or number > limit or number != int(number):
        return None
    return int(number)


# --- /chat/completions --------------------------------------------------------------------


class ChatRequest(NamedTuple):
    """A chat completion request. ``include_usage`` asks for the final usage chunk when streaming."""

    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    include_usage: bool = True

    def to_payload(self, *, stream: bool) -> dict[str, Any]:
        """The JSON body. Unset options are left out, so the server's defaults apply."""
        payload: dict[str, Any] = {"model": self.model, "messages": self.messages}
        for name in ("temperature", "max_tokens", "top_p", "stop"):
            value = getattr(self, name)
            if value is not None:
                payload[name] = value
        payload["stream"] = stream
        if stream and self.include_usage:
            payload["stream_options"] = {"include_usage": True}
        return payload


class Usage(NamedTuple):
    """Token counts of a reply, each read by `_int_or_none` (a count the server got wrong is
    unknown, None)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    @classmethod
    def from_any(cls, value: Any) -> Usage | None:
        """A `Usage` from a ``usage`` object, or ``None`` when it is missing or not an object."""
        if not isinstance(value, dict):
            return None
        return cls(
            _int_or_none(value.get("prompt_tokens")),
            _int_or_none(value.get("completion_tokens")),
            _int_or_none(value.get("total_tokens")),
        )


class ChatResult:
    """A finished (or cut) completion. ``done_seen``: the stream ended with ``[DONE]``. Filled in
    as a stream goes (a plain class, not a dataclass: docs/architecture.md, "Records")."""

    __slots__ = ("content", "done_seen", "finish_reason", "id", "model", "usage")

    def __init__(
        self,
        *,
        id: str | None = None,
        model: str | None = None,
        content: str = "",
        finish_reason: str | None = None,
        usage: Usage | None = None,
        done_seen: bool = False,
    ) -> None:
        self.id = id
        self.model = model
        self.content = content
        self.finish_reason = finish_reason
        self.usage = usage
        self.done_seen = done_seen


# --- streaming events -------------------------------------------------------------------------


class TextDelta(NamedTuple):
    """A piece of the reply text."""

    text: str
    kind: Literal["text"] = "text"


class Finish(NamedTuple):
    """The model stopped: ``reason`` is ``stop``, ``length``, ``content_filter``, ``tool_calls``…"""

    reason: str
    kind: Literal["finish"] = "finish"


class UsageInfo(NamedTuple):
    """Token counts (the final usage chunk, or the usage of a non-streamed reply)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    kind: Literal["usage"] = "usage"

    @classmethod
    def from_usage(cls, usage: Usage) -> UsageInfo:
        return cls(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


ChatEvent = TextDelta | Finish | UsageInfo
