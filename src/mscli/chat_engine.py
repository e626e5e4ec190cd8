"""The chat exchange engine shared by one-shot chat and the interactive session.

`Chat` holds one conversation (parameters, messages, the history store) and sends one exchange at a
time through `Chat.send`, which streams the reply into a view and returns an `Outcome` whatever
happened: a complete reply, a reply stopped by Ctrl-C or by its reader closing stdout (kept, marked
interrupted), a stream cut short (kept, marked truncated) or an error (with the partial text, if
any). While a reply is rendered on a terminal, the terminal's echo is off (`quiet_input`). A reply
that ended early without a usage report gets an estimate (`Outcome.partial`: tokens received, the
prompt at ~4 characters a token) for `--usage` and the ledger. Nothing here picks an exit code:
one-shot chat re-raises the error for the funnel in `app.main`; the session shows it as a panel and
goes on. Nothing is retried here: the client retries before the first token only. `check_model`
refuses a model the gateway does not serve, before the first exchange and on `/model`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mscli.chat_exchange import Outcome, Params, Totals
from mscli.errors import MscliError

if TYPE_CHECKING:
    from mscli.context import AppContext
    from mscli.history import Conversation, HistoryStore
    from mscli.output.chat_view import ReplyView

#: The model used when none is given or configured, in sandbox mode only.
SANDBOX_DEFAULT_MODEL = "claude-sonnet-4-5"


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


def _turn(
    prompt: str, reply: str, exchange_id: int | None
) -> tuple[dict[str, str], dict[str, str], int | None]:
    """One answered exchange as `Chat.turns` keeps it: (user message, assistant message, id)."""
    return {"role": "user", "content": prompt}, {"role": "assistant", "content": reply}, exchange_id


class Chat:
    """One conversation: parameters, prior messages and where exchanges are recorded."""

    def __init__(
        self,
        actx: AppContext,
        params: Params,
        *,
        store: HistoryStore | None = None,
        conversation: Conversation | None = None,
        log: bool = True,
    ) -> None:
        self.actx = actx
        self.params = params
        self.store = store
        self.log = log and store is not None
        self.conversation_id: int | None = conversation.id if conversation else None
        self.title = conversation.title if conversation else None
        #: (user message, assistant message, exchange id or None) per answered exchange.
        self.turns: list[tuple[dict[str, str], dict[str, str], int | None]] = []
        if conversation is not None:
            for ex in conversation.exchanges:
                if ex.reply:
                    self.turns.append(_turn(ex.prompt, ex.reply, ex.id))
        self.totals = Totals()
        self._client: Any = None

    # -- requests -----------------------------------------------------------------------------

    def messages_for(self, prompt: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        if self.params.system:
            out.append({"role": "system", "content": self.params.system})
        for user, assistant, _ in self.turns:
            out.append(user)
            out.append(assistant)
        out.append({"role": "user", "content": prompt})
        return out

    def client(self) -> Any:
        if self._client is None:
            self._client = self.actx.client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    def send(
        self,
        prompt: str,
        view: ReplyView,
        *,
        stream: bool = True,
        on_text: Callable[[str], None] | None = None,
    ) -> Outcome:
        """Send one exchange and stream its reply into `view`. Never raises MscliError,
        KeyboardInterrupt or BrokenPipeError: they are in the outcome (`error`, status interrupted,
        `output_closed`), so the caller can record the exchange first."""
        from mscli.output.chat_view import MarkdownView, quiet_input

        guard = (
            quiet_input(self.actx.terminal.controlling)
            if isinstance(view, MarkdownView)
            else contextlib.nullcontext()
        )
        with guard:  # no echoed ^C or type-ahead inside the live region
            return self._send(prompt, view, stream=stream, on_text=on_text)

    def _send(
        self,
        prompt: str,
        view: ReplyView,
        *,
        stream: bool,
        on_text: Callable[[str], None] | None,
    ) -> Outcome:
        from mscli import gateway_notes
        from mscli.api.models import ChatRequest, Finish, TextDelta, UsageInfo
        from mscli.errors import StreamTruncatedError

        p = self.params
        base_url = self.actx.settings.base_url.value
        messages = self.messages_for(prompt)
        req = ChatRequest(
            model=p.model,
            messages=messages,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            top_p=p.top_p,
            stop=list(p.stop) if p.stop else None,
            include_usage=not gateway_notes.refuses_stream_options(base_url),
        )
        out = Outcome(prompt=prompt, model=p.model)
        out.prompt_chars = sum(len(m["content"]) for m in messages)
        parts: list[str] = []
        t0 = time.monotonic()
        first: float | None = None
        usage: Any = None
        result: Any = None
        opened: Any = None
        try:
            client = self.client()
            if stream:
                with client.chat_stream(req) as s:
                    opened = s  # its result so far is kept even when the stream fails
                    if req.include_usage and getattr(client, "stream_options_refused", False):
                        gateway_notes.remember_refuses_stream_options(base_url)
                    for ev in s:
                        if isinstance(ev, TextDelta):
                            if not ev.text:
                                continue
                            if first is None:
                                first = time.monotonic()
                            parts.append(ev.text)
                            out.received_tokens += 1
                            view.feed(ev.text)
                            if on_text is not None:
                                on_text(ev.text)
                        elif isinstance(ev, Finish):
                            out.finish_reason = ev.reason
                        elif isinstance(ev, UsageInfo):
                            usage = ev
                    result = getattr(s, "result", None)
            else:
                result = client.chat(req)
                text = getattr(result, "content", None) or ""
                first = time.monotonic()
                if text:
                    parts.append(text)
                    view.feed(text)
                    if on_text is not None:
                        on_text(text)
        except KeyboardInterrupt:
            out.status = "interrupted"
            result = result or getattr(opened, "result", None)
        except BrokenPipeError as err:  # the reader went away (`| head`): nothing more to show
            out.status = "interrupted"
            out.output_closed = err
        except MscliError as err:
            out.error = err
            out.status = "truncated" if isinstance(err, StreamTruncatedError) else "error"
            result = result or getattr(opened, "result", None)
        finally:
            if out.output_closed is None:
                try:
                    view.close()
                except KeyboardInterrupt:
                    out.status = "interrupted" if out.status == "complete" else out.status
                except BrokenPipeError as err:  # the last flush: the reply itself was received
                    out.output_closed = err
            out.reply = "".join(parts)
            out.total_ms = round((time.monotonic() - t0) * 1000, 1)
            out.first_token_ms = round((first - t0) * 1000, 1) if first is not None else None
            self._fill(out, result, usage)
        return out

    def _fill(self, out: Outcome, result: Any, usage: Any) -> None:
        if result is not None:
            out.completion_id = getattr(result, "id", None)
            out.response_model = getattr(result, "model", None)
            out.finish_reason = out.finish_reason or getattr(result, "finish_reason", None)
            if usage is None:
                usage = getattr(result, "usage", None)
        if usage is not None:
            out.prompt_tokens = getattr(usage, "prompt_tokens", None)
            out.completion_tokens = getattr(usage, "completion_tokens", None)
            out.total_tokens = getattr(usage, "total_tokens", None)
        from mscli.pricing import estimate_credits

        model = out.response_model or out.model
        overrides = self.actx.settings.price_overrides
        if out.usage is not None:
            out.credits = estimate_credits(
                model, out.prompt_tokens or 0, out.completion_tokens or 0, overrides
            )
        elif out.status != "complete" and out.received_tokens:
            # Ended early, no usage report: the tokens received, and the prompt at ~4 characters
            # per token. The request was made and is charged, so this is what the ledger gets.
            prompt_tokens = -(-out.prompt_chars // 4)
            out.partial = (
                prompt_tokens,
                out.received_tokens,
                estimate_credits(model, prompt_tokens, out.received_tokens, overrides),
            )

    # -- after an exchange --------------------------------------------------------------------

    def record(self, out: Outcome) -> None:
        """Ledger (always, when usage is known or estimated for a reply that ended early: it stores
        no text), history (when logging), and the conversation's context (when there is reply
        text)."""
        s = self.actx.settings
        tokens: tuple[int, int] | None = None
        if out.usage is not None:
            tokens = (out.prompt_tokens or 0, out.completion_tokens or 0)
        elif out.partial is not None:
            tokens = out.partial[:2]
        if tokens is not None:
            from mscli import ledger

            ledger.record(
                s.base_url.value,
                out.response_model or out.model,
                tokens[0],
                tokens[1],
                overrides=s.price_overrides,
            )
        self.totals.add(out)
        if self.title is None:
            from mscli.history import make_title

            self.title = make_title(out.prompt)
        if self.log and self.store is not None:
            from mscli.history import Exchange

            try:
                if self.conversation_id is None:
                    self.conversation_id = self.store.new_conversation(
                        out.prompt,
                        model=out.model,
                        system=self.params.system,
                        base_url=s.base_url.value,
                    )
                out.exchange_id = self.store.add_exchange(
                    self.conversation_id,
                    Exchange(
                        prompt=_stored_prompt(out),
                        reply=out.reply,
                        model=out.model,
                        status=out.status,
                        params=self.params.stored(),
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
        if out.reply:
            self.turns.append(_turn(out.prompt, out.reply, out.exchange_id))

    def undo(self) -> tuple[dict[str, str], dict[str, str]] | None:
        """Forget the last answered exchange (also in the history). Returns it, or None."""
        if not self.turns:
            return None
        user, assistant, eid = self.turns.pop()
        if eid is not None and self.store is not None and self.log:
            self.store.delete_exchange(eid)
        return user, assistant

    def clear(self) -> None:
        """Start a new conversation (parameters kept)."""
        self.turns = []
        self.conversation_id = None
        self.title = None
        self.totals = Totals()

    def set_system(self, text: str | None) -> None:
        self.params.system = text
        if self.store is not None and self.log and self.conversation_id is not None:
            self.store.set_system(self.conversation_id, text)

    def transcript(self) -> str:
        """The conversation as a markdown document (`/save`)."""
        lines = [f"# {self.title or 'mscli chat'}", ""]
        lines.append(f"*Model: {self.params.model}*")
        lines.append("")
        if self.params.system:
            lines += ["## System", "", self.params.system, ""]
        for user, assistant, _ in self.turns:
            lines += [
                "## You",
                "",
                _nested(user["content"].rstrip()),
                "",
                "## Assistant",
                "",
                _nested(assistant["content"].rstrip()),
                "",
            ]
        return "\n".join(lines).rstrip() + "\n"


_HEADING = re.compile(r"^(#{1,6})(\s)")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def _nested(text: str) -> str:
    """A message's own headings moved two levels down (at most ######), so they sit under the
    transcript's "## You" / "## Assistant"; fenced code is left alone."""
    out: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if m and (fence is None or (m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence))):
            fence = m.group(1) if fence is None else None
        elif fence is None:
            line = _HEADING.sub(lambda h: "#" * min(6, len(h.group(1)) + 2) + h.group(2), line)
        out.append(line)
    return "\n".join(out)


# --- the model check ---------------------------------------------------------------------------


def check_model(actx: AppContext, model: str) -> list[str]:
    """Raise ModelNotServedError (with did-you-mean) unless `model` is served; returns the known ids.

    Uses the 10-minute cache and refetches once before saying no. A gateway without a usable model
    list (404/405, or a reply that is not a list) is not a reason to refuse: the check is skipped.
    """
    from mscli.advice import suggest
    from mscli.commands.models import fetch_models
    from mscli.errors import ApiError, ModelNotServedError, ProtocolError

    try:
        entries, cached = fetch_models(actx)
        known = [str(e["id"]) for e in entries]
        if model not in known and cached:
            entries, cached = fetch_models(actx, refresh=True)
            known = [str(e["id"]) for e in entries]
    except ApiError as err:
        if err.status in (404, 405, 501):
            return []
        raise
    except ProtocolError:
        return []
    if known and model not in known:
        raise ModelNotServedError(
            f"The model {model!r} is not served by {actx.settings.base_url.value}.",
            model=model,
            suggestions=suggest(model, known),
        )
    return known
