"""Lenient pydantic models of the small endpoints' replies (reliability §6 row 31).

Parsed with ``extra="allow"`` and optional fields, so an additive change on the server never breaks
mscli. The few fields mscli cannot work without are required: ``data[].id`` in the model list.
Only `GatewayClient.list_models` and `get_balance` need them: the chat path never imports pydantic.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from mscli.api.models import _int_or_none, _number
from mscli.limits import MAX_CREDITS, MAX_INT64, MAX_TIMESTAMP

__all__ = ["Balance", "ModelEntry", "ModelList"]


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
