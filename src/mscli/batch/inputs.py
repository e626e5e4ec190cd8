"""Batch input: JSON lines (one request each) or plain text (`--lines`, one prompt per line).

Everything is checked before anything is sent, so a malformed line costs nothing: each problem is
an `Invalid` with its 1-based line number. Blank lines are ignored (they keep their number).
Command-line values (`Defaults`) apply to the lines that do not set them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mscli.limits import MAX_STOP, MIN_MAX_TOKENS, TEMPERATURE_RANGE, TOP_P_RANGE

#: The fields a JSON line may carry.
FIELDS = (
    "id",
    "prompt",
    "messages",
    "model",
    "system",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
)

#: (lowest, highest) accepted for the numeric sampling fields, as `mscli chat` accepts them.
RANGES: dict[str, tuple[float, float]] = {"temperature": TEMPERATURE_RANGE, "top_p": TOP_P_RANGE}

#: Stop sequences per request (the API's limit, as `mscli chat --stop`).

ROLES = ("system", "user", "assistant")

LineId = int | str


@dataclass(frozen=True)
class Defaults:
    """The command line's -m/-s/--temperature/--max-tokens, for lines that do not say."""

    model: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


@dataclass
class Line:
    number: int
    id: LineId
    messages: list[dict[str, str]]
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return id_key(self.id)

    @property
    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


@dataclass(frozen=True)
class Invalid:
    number: int
    message: str
    id: LineId

    def __str__(self) -> str:
        return f"line {self.number}: {self.message}"


def approx_tokens(chars: int) -> int:
    """Tokens of a text of `chars` characters, at about four characters a token."""
    return -(-chars // 4)


def id_key(value: LineId) -> str:
    """One comparable key per id: 3 and "3" are different ids."""
    return json.dumps(value, ensure_ascii=True)


class _Bad(ValueError):
    pass


def parse(
    text: str, *, plain: bool, defaults: Defaults, default_model: Callable[[], str]
) -> tuple[list[Line], list[Invalid]]:
    """The valid lines and the invalid ones. `default_model` is asked (once) only when a line
    names no model and -m was not given."""
    lines: list[Line] = []
    invalid: list[Invalid] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = _plain(number, raw, defaults) if plain else _json_line(number, raw, defaults)
        except _Bad as bad:
            invalid.append(Invalid(number, str(bad), _id_of(raw, number, plain)))
            continue
        first = seen.get(line.key)
        if first is not None:
            invalid.append(
                Invalid(number, f"id {line.key} is already used on line {first}", number)
            )
            continue
        seen[line.key] = number
        lines.append(line)
    if any(line.model is None for line in lines):
        model = default_model()
        for line in lines:
            line.model = line.model or model
    return lines, invalid


def _plain(number: int, raw: str, d: Defaults) -> Line:
    return _line(number, number, [{"role": "user", "content": raw}], None, {}, d)


def _id_of(raw: str, number: int, plain: bool) -> LineId:
    """The id of an invalid line when one can be read, else its number."""
    if not plain:
        try:
            doc = json.loads(raw)
            value = doc.get("id") if isinstance(doc, dict) else None
            if isinstance(value, (int, str)) and _is_id(value):
                return value
        except ValueError:
            pass
    return number


def _is_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value != ""
    )


def _json_line(number: int, raw: str, d: Defaults) -> Line:
    try:
        doc = json.loads(raw, parse_constant=_no_constant)
    except ValueError as err:
        raise _Bad(f"not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise _Bad(f"expected a JSON object, got {type(doc).__name__}")
    unknown = [k for k in doc if k not in FIELDS]
    if unknown:
        raise _Bad(f"unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    line_id = doc.get("id", number)
    if not _is_id(line_id):
        raise _Bad("id must be a non-empty string or an integer")
    has_prompt, has_messages = "prompt" in doc, "messages" in doc
    if has_prompt == has_messages:
        raise _Bad(
            "give either prompt (a string) or messages (a list), not both"
            if has_prompt
            else "needs prompt (a string) or messages (a list)"
        )
    if has_prompt:
        prompt = doc["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise _Bad("prompt must be a non-empty string")
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = _messages(doc["messages"])
    model = doc.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise _Bad("model must be a non-empty string")
    system = doc.get("system")
    if system is not None and not isinstance(system, str):
        raise _Bad("system must be a string")
    params: dict[str, Any] = {}
    for name in ("temperature", "top_p"):
        if doc.get(name) is not None:
            params[name] = _number(name, doc[name])
    if doc.get("max_tokens") is not None:
        value = doc["max_tokens"]
        if not isinstance(value, int) or isinstance(value, bool) or value < MIN_MAX_TOKENS:
            raise _Bad("max_tokens must be a whole number of at least 1")
        params["max_tokens"] = value
    if doc.get("stop") is not None:
        params["stop"] = _stops(doc["stop"])
    if system is not None:
        if messages[0]["role"] == "system":
            raise _Bad("system is given twice (the field and a first system message)")
        messages.insert(0, {"role": "system", "content": system})
    return _line(number, line_id, messages, model.strip() if model else None, params, d)


def _line(
    number: int,
    line_id: LineId,
    messages: list[dict[str, str]],
    model: str | None,
    params: dict[str, Any],
    d: Defaults,
) -> Line:
    if d.system is not None and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": d.system})
    if d.temperature is not None:
        params.setdefault("temperature", d.temperature)
    if d.max_tokens is not None:
        params.setdefault("max_tokens", d.max_tokens)
    return Line(number, line_id, messages, model or d.model, params)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _number(name: str, value: Any) -> float:
    low, high = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Bad(f"{name} must be a number")
    if not low <= value <= high:
        raise _Bad(f"{name} must be between {low:g} and {high:g}")
    return float(value)


def _stops(value: Any) -> str | list[str]:
    if isinstance(value, str) and value:
        return value
    if (
        isinstance(value, list)
        and 0 < len(value) <= MAX_STOP
        and all(isinstance(s, str) and s for s in value)
    ):
        return list(value)
    raise _Bad(f"stop must be a string or a list of 1 to {MAX_STOP} non-empty strings")


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise _Bad("messages must be a non-empty list")
    out: list[dict[str, str]] = []
    for i, m in enumerate(value):
        if (
            not isinstance(m, dict)
            or m.get("role") not in ROLES
            or not isinstance(m.get("content"), str)
        ):
            raise _Bad(
                f"messages[{i}] must be an object with role ({', '.join(ROLES)}) and content (a string)"
            )
        out.append({"role": m["role"], "content": m["content"]})
    if out[-1]["role"] == "system":
        raise _Bad("messages must not end with a system message")
    return out
