"""Where a conversation's exchanges are recorded: the spend ledger (always, when usage is known or
estimated: it holds no text) and the history store (when logging), and what they cost (estimates
at list price, with the profile's price overrides)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from mscli.errors import MscliError

if TYPE_CHECKING:
    from mscli.chat.exchange import Outcome, Params
    from mscli.history import HistoryStore
    from mscli.paths import Paths

#: A prompt the server refused as too large is kept only this long in the history (it was never
#: read, and storing megabytes per retry would only grow the database).
REFUSED_PROMPT_KEPT = 4096


def _stored_prompt(out: Outcome) -> str:
    prompt = out.prompt
    refused = out.error is not None and out.error.advice_key == "request.too_large"
    if refused and not out.reply and len(prompt) > REFUSED_PROMPT_KEPT:
        cut = len(prompt) - REFUSED_PROMPT_KEPT
        return (
            prompt[:REFUSED_PROMPT_KEPT]
            + f"\n… [{cut} more characters not stored: refused as too large]"
        )
    return prompt


class Recorder:
    def __init__(
        self,
        base_url: str,
        paths: Paths,
        *,
        overrides: Mapping[str, tuple[float, float]] | None = None,
        store: HistoryStore | None = None,
        log: bool = True,
        api: str | None = None,
    ) -> None:
        self.base_url = base_url
        #: where the ledger (`paths.ledger`) and the gateway notes (`paths.cache_dir`) are kept
        self.paths = paths
        #: where the history says the conversation was held (base URL, or "sandbox")
        self.api = api or base_url
        self.overrides = overrides
        self.store = store
        self.logging = log and store is not None

    def price(self, out: Outcome) -> None:
        """The exchange's estimated credits; for a reply that ended early without a usage report,
        an estimate (`out.partial`) from the tokens received and the prompt at ~4 characters per
        token: the request was made and is charged, so this is what the ledger gets."""
        from mscli.pricing import estimate_credits

        model = out.response_model or out.model
        if out.usage is not None:
            out.credits = estimate_credits(
                model, out.prompt_tokens or 0, out.completion_tokens or 0, self.overrides
            )
        elif out.status != "complete" and out.received_tokens:
            prompt_tokens = -(-out.prompt_chars // 4)
            out.partial = (
                prompt_tokens,
                out.received_tokens,
                estimate_credits(model, prompt_tokens, out.received_tokens, self.overrides),
            )

    def record(self, conversation_id: int | None, params: Params, out: Outcome) -> int | None:
        """Ledger and history. Returns the conversation's id (a new one for its first exchange
        when logging); sets `out.exchange_id`, or `out.store_error` when the history failed."""
        tokens: tuple[int, int] | None = None
        if out.usage is not None:
            tokens = (out.prompt_tokens or 0, out.completion_tokens or 0)
        elif out.partial is not None:
            tokens = out.partial[:2]
        if tokens is not None:
            from mscli import ledger

            ledger.record(
                self.paths.ledger,
                self.base_url,
                out.response_model or out.model,
                tokens[0],
                tokens[1],
                overrides=self.overrides,
            )
        if not self.logging or self.store is None:
            return conversation_id
        from mscli.history import Exchange

        try:
            if conversation_id is None:
                conversation_id = self.store.new_conversation(
                    out.prompt, model=out.model, system=params.system, base_url=self.api
                )
            out.exchange_id = self.store.add_exchange(
                conversation_id,
                Exchange(
                    prompt=_stored_prompt(out),
                    reply=out.reply,
                    model=out.model,
                    status=out.status,
                    params=params.stored(),
                    finish_reason=out.finish_reason,
                    completion_id=out.completion_id,
                    prompt_tokens=out.prompt_tokens,
                    completion_tokens=out.completion_tokens,
                    estimated_credits=out.credits,
                    first_token_ms=out.first_token_ms,
                    total_ms=out.total_ms,
                    error=(f"{type(out.error).__name__}: {out.error}" if out.error else None),
                ),
            )
        except MscliError as err:
            out.store_error = err
        return conversation_id

    def forget(self, exchange_id: int | None) -> None:
        if exchange_id is not None and self.logging and self.store is not None:
            self.store.delete_exchange(exchange_id)

    def set_system(self, conversation_id: int | None, text: str | None) -> None:
        if self.logging and self.store is not None and conversation_id is not None:
            self.store.set_system(conversation_id, text)
