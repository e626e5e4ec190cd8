"""Lenient request/response models (reliability §6 row 31).

Responses are parsed with ``extra="allow"`` and optional fields, so an additive change on the
server never breaks mscli. The few fields mscli cannot work without are required: ``data[].id``
in the model list. Streaming chunks are read by `mscli.api.stream` straight from dicts (faster and
more tolerant than validating every chunk); the events it yields are the small dataclasses at the
bottom of this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from mscli.limits import MAX_COUNT, MAX_CREDITS, MAX_INT64, MAX_TIMESTAMP

__all__ = [
    "Balance",
    "ChatEvent",
    "ChatRequest",
    "ChatResult",
    "Finish",
    "ModelEntry",
    "ModelList",
    "TextDelta",
    "Usage",
    "UsageInfo",
]


class _Lenient(BaseModel):
    """Extra fields are kept (and shown by `models`, written by ``--json``), but only as finite
    numbers within 64 bits: anything else becomes null (`_bounded`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _bound_numbers(cls, value: Any) -> Any:
        return _bounded(value) if isinstance(value, dict) else value


def _bounded(value: Any) -> Any:
    """`value` with every non-finite float and every integer beyond 64 bits replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -MAX_INT64 <= value <= MAX_INT64 else None
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return value


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


def _float_or_none(value: Any, limit: float = MAX_CREDITS) -> float | None:
    """A finite number within ``±limit``; None otherwise."""
    number = _number(value)
    if number is None or abs(number) > limit:
        return None
    return float(number)


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


# --- /models ---------------------------------------------------------------------------------


class ModelEntry(_Lenient):
    """One model. Only ``id`` is required."""

    id: str
    object: str | None = None
    owned_by: str | None = None
    created: int | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("model id is empty")
        return value

    @field_validator("object", "owned_by", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        return _str_or_none(value)

    @field_validator("created", mode="before")
    @classmethod
    def _created(cls, value: Any) -> int | None:
        return _int_or_none(value, MAX_TIMESTAMP)


def _has_id(entry: Any) -> bool:
    return (
        isinstance(entry, dict) and isinstance(entry.get("id"), str) and bool(entry["id"].strip())
    )


class ModelList(_Lenient):
    """``GET /models``. Accepts ``{"data": [...]}``, a bare list, and bare-string entries."""

    object: str | None = None
    data: list[ModelEntry]
    #: entries dropped for having no usable id (the rest of the list is still served)
    skipped: int = 0

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = {"data": value}
        if isinstance(value, dict):
            data = value.get("data")
            if data is None and isinstance(value.get("models"), list):
                data = value["models"]
            if isinstance(data, list):
                entries = [{"id": d} if isinstance(d, str) else d for d in data]
                good = [e for e in entries if _has_id(e)]
                if good or not entries:  # a list with no usable entry at all stays invalid
                    entries = good
                value = {**value, "data": entries, "skipped": len(data) - len(good)}
        return value

    @field_validator("object", mode="before")
    @classmethod
    def _object(cls, value: Any) -> str | None:
        return _str_or_none(value)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.data]


# --- /chat/completions --------------------------------------------------------------------


@dataclass
class ChatRequest:
    """A chat completion request. ``include_usage`` asks for the final usage chunk when streaming."""

    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    include_usage: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_payload(self, *, stream: bool) -> dict[str, Any]:
        """The JSON body. Unset options are left out, so the server's defaults apply."""
        payload: dict[str, Any] = {"model": self.model, "messages": self.messages}
        for name in ("temperature", "max_tokens", "top_p", "stop"):
            value = getattr(self, name)
            if value is not None:
                payload[name] = value
        payload.update(self.extra)
        payload["stream"] = stream
        if stream and self.include_usage:
            payload["stream_options"] = {"include_usage": True}
        return payload


class Usage(_Lenient):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    @field_validator("prompt_tokens", "completion_tokens", "total_tokens", mode="before")
    @classmethod
    def _count(cls, value: Any) -> int | None:
        return _int_or_none(value)

    @classmethod
    def from_any(cls, value: Any) -> Usage | None:
        """A `Usage` from a ``usage`` object, or ``None`` when it is missing or not an object."""
        if not isinstance(value, dict):
            return None
        return cls.model_validate(value)


@dataclass
class ChatResult:
    """A finished (or cut) completion. ``done_seen``: the stream ended with ``[DONE]``."""

    id: str | None = None
    model: str | None = None
    content: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    done_seen: bool = False


# --- /balance (mscli decision, modelstack-api §11.5) ------------------------------------------


class Balance(_Lenient):
    """``GET /balance`` as the mscli sandbox serves it. Every field is optional."""

    object: str | None = None
    plan: str | None = None
    rate_limit_rpm: int | None = None
    subscription_credits: float | None = None
    lifetime_credits: float | None = None
    next_refill_at: str | None = None
    weekly_cap: float | None = None

    @field_validator("object", "plan", "next_refill_at", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        return _str_or_none(value)

    @field_validator("rate_limit_rpm", mode="before")
    @classmethod
    def _int(cls, value: Any) -> int | None:
        return _int_or_none(value)

    @field_validator("subscription_credits", "lifetime_credits", "weekly_cap", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        return _float_or_none(value)

    @property
    def spendable(self) -> float | None:
        """Subscription plus lifetime credits; None when the reply reports neither."""
        if self.subscription_credits is None and self.lifetime_credits is None:
            return None
        return (self.subscription_credits or 0.0) + (self.lifetime_credits or 0.0)

    @property
    def next_refill(self) -> datetime | None:
        """``next_refill_at`` as an aware datetime, or ``None`` if missing or unparsable."""
        if not self.next_refill_at:
            return None
        text = self.next_refill_at.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None

    @property
    def total_credits(self) -> float | None:
        parts = [p for p in (self.subscription_credits, self.lifetime_credits) if p is not None]
        return sum(parts) if parts else None


# --- streaming events -------------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply text."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class Finish:
    """The model stopped: ``reason`` is ``stop``, ``length``, ``content_filter``, ``tool_calls``…"""

    reason: str
    kind: Literal["finish"] = "finish"


@dataclass(frozen=True)
class UsageInfo:
    """Token counts (the final usage chunk, or the usage of a non-streamed reply)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    kind: Literal["usage"] = "usage"

    @classmethod
    def from_usage(cls, usage: Usage) -> UsageInfo:
        return cls(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


ChatEvent = TextDelta | Finish | UsageInfo
