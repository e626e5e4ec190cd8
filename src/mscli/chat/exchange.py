"""One chat exchange's data: the request parameters (`Params`), what it produced (`Outcome`), the
running usage `Totals` of a conversation and the `--usage` line (`usage_line`).

Plain mutable classes and formatting, shared by the engine, the recorder, one-shot chat and the
interactive session. Not dataclasses: every class here is built at the start of every chat, where
a dataclass costs ~0.5 ms to create on Python 3.11 (docs/architecture.md, "Records").
"""

from __future__ import annotations

from typing import Any

from mscli.errors import MscliError


class Params:
    """The request parameters of a chat; `/model`, `/system`, `/temperature` and `/role` change
    them between exchanges."""

    __slots__ = ("max_tokens", "model", "stop", "system", "temperature", "top_p")

    def __init__(
        self,
        model: str,
        *,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: list[str] | None = None,
    ) -> None:
        self.model = model
        self.system = system
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.top_p = top_p
        self.stop = stop

    def stored(self) -> dict[str, Any]:
        """The parameters recorded with an exchange (unset ones left out)."""
        d: dict[str, Any] = {}
        for name in ("system", "temperature", "max_tokens", "top_p", "stop"):
            value = getattr(self, name)
            if value not in (None, []):
                d[name] = value
        return d


class Outcome:
    """What one exchange produced. `status` is complete, interrupted, truncated or error; the
    engine fills the rest in as the reply arrives."""

    def __init__(self, prompt: str, model: str) -> None:
        self.prompt = prompt
        self.model = model
        self.reply = ""
        self.status = "complete"
        self.finish_reason: str | None = None
        self.completion_id: str | None = None
        self.response_model: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.total_tokens: int | None = None
        self.credits: float | None = None
        self.first_token_ms: float | None = None
        self.total_ms: float | None = None
        self.error: MscliError | None = None
        self.exchange_id: int | None = None
        self.store_error: MscliError | None = None
        #: Text chunks received (a stream sends about one token per chunk).
        self.received_tokens = 0
        #: Characters of every message sent (for an estimate when the server reports no usage).
        self.prompt_chars = 0
        #: Set when writing the reply failed because its reader went away (`| head`): the caller
        #: records the exchange, then re-raises it.
        self.output_closed: BrokenPipeError | None = None
        #: (prompt tokens estimated, completion tokens received, credits estimated) for a reply
        #: that ended early without a usage report; None otherwise.
        self.partial: tuple[int, int, float | None] | None = None

    @property
    def cut_at_limit(self) -> str | None:
        """A note for a person when the reply stopped at the token limit, else None."""
        if self.status == "complete" and self.finish_reason == "length":
            return "[the reply stopped at the token limit (finish_reason: length)]"
        return None

    @property
    def usage(self) -> dict[str, int | None] | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        total = self.total_tokens
        if total is None and self.prompt_tokens is not None and self.completion_tokens is not None:
            total = self.prompt_tokens + self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": total,
        }

    @property
    def usage_to_show(self) -> bool:
        """Whether `--usage` has a line to print: always after a complete reply, and after one that
        ended early when anything about its usage is known."""
        return self.status == "complete" or self.usage is not None or self.partial is not None

    def to_json(self, conversation_id: int | None) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "model": self.response_model or self.model,
            "content": self.reply,
            "finish_reason": self.finish_reason,
            "status": self.status,
            "usage": self.usage,
            "estimated_credits": self.credits,
            "conversation_id": conversation_id,
        }


class Totals:
    """A conversation's usage so far (`/usage`)."""

    __slots__ = (
        "completion_tokens",
        "credits",
        "exchanges",
        "prompt_tokens",
        "unknown",
        "unpriced",
    )

    def __init__(self) -> None:
        self.exchanges = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.credits = 0.0
        self.unknown = 0  # exchanges without usage
        self.unpriced = 0  # exchanges with usage but no known price (not in `credits`)

    def add(self, prompt: int | None, completion: int | None, credits: float | None) -> None:
        """One exchange's usage (token counts as reported, None when not)."""
        self.exchanges += 1
        if prompt is None and completion is None:
            self.unknown += 1
            return
        self.prompt_tokens += prompt or 0
        self.completion_tokens += completion or 0
        if credits is None:
            self.unpriced += 1
        else:
            self.credits += credits


def usage_line(o: Outcome) -> str:
    """`--usage`: tokens and estimated credits (labelled as an estimate, and as partial when the
    reply ended early)."""
    why = {"interrupted": "interrupted", "truncated": "cut off", "error": "failed"}.get(o.status)
    label = f"Usage (partial: the reply was {why})" if why else "Usage"
    if o.usage is None:
        if o.partial is None:
            return f"{label}: not reported by the server."
        prompt, completion, estimate = o.partial
        return (
            f"{label}: ≈ {prompt} prompt (estimated) + {completion} completion tokens received · "
            f"{_credits(estimate)} ({o.response_model or o.model}; "
            "the server reported no usage)"
        )
    u = o.usage
    return (
        f"{label}: {u['prompt_tokens'] if u['prompt_tokens'] is not None else '?'} prompt + "
        f"{u['completion_tokens'] if u['completion_tokens'] is not None else '?'} completion = "
        f"{u['total_tokens'] if u['total_tokens'] is not None else '?'} tokens · "
        f"{_credits(o.credits)} ({o.response_model or o.model})"
    )


def _credits(credits: float | None) -> str:
    """An estimate as shown; a model without a known price is said to be unpriced, never guessed."""
    if credits is None:
        return "credits unknown (unpriced model)"
    return f"≈ {credits:.4f} credits (estimate at list price)"
