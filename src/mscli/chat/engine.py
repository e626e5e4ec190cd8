"""The chat exchange engine shared by one-shot chat and the interactive session.

`Chat` holds one conversation (parameters, messages, the history store) and sends one exchange at a
time through `Chat.send`, which streams the reply into a view and returns an `Outcome` whatever
happened: a complete reply, a reply stopped by Ctrl-C or by its reader closing stdout (kept, marked
interrupted), a stream cut short (kept, marked truncated) or an error (with the partial text, if
any). While a reply is rendered on a terminal, the terminal's echo is off (`quiet_input`). A reply
that ended early without a usage report gets an estimate (`Outcome.partial`: tokens received, the
prompt at ~4 characters a token) for `--usage` and the ledger. Nothing here picks an exit code:
one-shot chat re-raises the error for the funnel in `app.main`; the session shows it as a panel and
goes on. Nothing is retried here: the client retries before the first token only. `Chat` gets a
client, its parameters and a `Recorder` (ledger and history), never the app context.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import IO, TYPE_CHECKING, NamedTuple

from mscli.chat.exchange import Outcome, Params, Totals
from mscli.errors import MscliError

if TYPE_CHECKING:
    from mscli.api.client import GatewayClient
    from mscli.api.models import ChatResult, UsageInfo
    from mscli.api.stream import ChatStream
    from mscli.chat.recorder import Recorder
    from mscli.history import Conversation
    from mscli.output.chat_view import ReplyView


class Turn(NamedTuple):
    """One answered exchange: what was said, its history id, and the model and system prompt it
    actually used (a later /model or /system does not rewrite it)."""

    prompt: str
    reply: str
    exchange_id: int | None
    model: str
    system: str | None


class Chat:
    """One conversation: parameters, prior messages and where exchanges are recorded."""

    def __init__(
        self,
        client: GatewayClient,
        params: Params,
        recorder: Recorder,
        *,
        conversation: Conversation | None = None,
        controlling: IO[str] | None = None,
    ) -> None:
        self._client: GatewayClient | None = client
        self.params = params
        self.recorder = recorder
        #: the terminal whose echo is turned off while a reply is rendered (None: no terminal)
        self.controlling = controlling
        self.conversation_id: int | None = conversation.id if conversation else None
        self.title = conversation.title if conversation else None
        self.turns: list[Turn] = []
        #: usage of every exchange of the conversation, those of an earlier run included
        self.totals = Totals()
        for ex in conversation.exchanges if conversation is not None else []:
            self.totals.add(ex.prompt_tokens, ex.completion_tokens, ex.estimated_credits)
            if ex.reply:
                self.turns.append(
                    Turn(ex.prompt, ex.reply, ex.id, ex.model, ex.params.get("system"))
                )

    # -- requests -----------------------------------------------------------------------------

    def messages_for(self, prompt: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        if self.params.system:
            out.append({"role": "system", "content": self.params.system})
        for turn in self.turns:
            out.append({"role": "user", "content": turn.prompt})
            out.append({"role": "assistant", "content": turn.reply})
        out.append({"role": "user", "content": prompt})
        return out

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def send(
        self,
        prompt: str,
        view: ReplyView,
        *,
        stream: bool = True,
    ) -> Outcome:
        """Send one exchange and stream its reply into `view`. Never raises MscliError,
        KeyboardInterrupt or BrokenPipeError: they are in the outcome (`error`, status interrupted,
        `output_closed`), so the caller can record the exchange first."""
        from mscli.output.chat_view import MarkdownView, Waiting, quiet_input

        shown = view.view if isinstance(view, Waiting) else view
        guard = (
            quiet_input(self.controlling)
            if isinstance(shown, MarkdownView) and self.controlling is not None
            else contextlib.nullcontext()
        )
        with guard:  # no echoed ^C or type-ahead inside the live region
            return self._send(prompt, view, stream=stream)

    def _send(self, prompt: str, view: ReplyView, *, stream: bool) -> Outcome:
        from mscli import gateway_notes
        from mscli.api.models import ChatRequest, Finish, TextDelta, UsageInfo
        from mscli.errors import StreamTruncatedError

        p = self.params
        base_url = self.recorder.base_url
        cache_dir = self.recorder.paths.cache_dir
        messages = self.messages_for(prompt)
        req = ChatRequest(
            model=p.model,
            messages=messages,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            top_p=p.top_p,
            stop=list(p.stop) if p.stop else None,
            include_usage=not gateway_notes.refuses_stream_options(cache_dir, base_url),
        )
        out = Outcome(prompt=prompt, model=p.model)
        out.prompt_chars = sum(len(m["content"]) for m in messages)
        parts: list[str] = []
        t0 = time.monotonic()
        first: float | None = None
        usage: UsageInfo | None = None
        result: ChatResult | None = None
        opened: ChatStream | None = None
        try:
            client = self._client
            assert client is not None, "send after close"
            if stream:
                with client.chat_stream(req) as s:
                    opened = s  # its result so far is kept even when the stream fails
                    if req.include_usage and client.stream_options_refused:
                        gateway_notes.remember_refuses_stream_options(cache_dir, base_url)
                    feed, keep = view.feed, parts.append  # per token: no attribute look-ups
                    for ev in s:
                        if isinstance(ev, TextDelta):
                            text = ev.text
                            if not text:
                                continue
                            if first is None:
                                first = time.monotonic()
                            keep(text)
                            out.received_tokens += 1
                            feed(text)
                        elif isinstance(ev, Finish):
                            out.finish_reason = ev.reason
                        elif isinstance(ev, UsageInfo):
                            usage = ev
                    result = s.result
            else:
                result = client.chat(req)
                text = result.content
                first = time.monotonic()
                if text:
                    parts.append(text)
                    view.feed(text)
        except KeyboardInterrupt:
            out.status = "interrupted"
            result = result or (opened.result if opened is not None else None)
        except BrokenPipeError as err:  # the reader went away (`| head`): nothing more to show
            out.status = "interrupted"
            out.output_closed = err
        except MscliError as err:
            out.error = err
            out.status = "truncated" if isinstance(err, StreamTruncatedError) else "error"
            result = result or (opened.result if opened is not None else None)
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

    def _fill(self, out: Outcome, result: ChatResult | None, usage: UsageInfo | None) -> None:
        from mscli.api.models import UsageInfo

        if result is not None:
            out.completion_id = result.id
            out.response_model = result.model
            out.finish_reason = out.finish_reason or result.finish_reason
            if usage is None and result.usage is not None:
                usage = UsageInfo.from_usage(result.usage)
        if usage is not None:
            out.prompt_tokens = usage.prompt_tokens
            out.completion_tokens = usage.completion_tokens
            out.total_tokens = usage.total_tokens
        self.recorder.price(out)

    # -- after an exchange --------------------------------------------------------------------

    def record(self, out: Outcome) -> None:
        """Ledger and history (the recorder), and the conversation's context (when there is
        reply text)."""
        self.conversation_id = self.recorder.record(self.conversation_id, self.params, out)
        self.totals.add(out.prompt_tokens, out.completion_tokens, out.credits)
        if self.title is None:
            from mscli.history import make_title

            self.title = make_title(out.prompt)
        if out.reply:
            p = self.params
            self.turns.append(Turn(out.prompt, out.reply, out.exchange_id, out.model, p.system))

    def undo(self) -> Turn | None:
        """Forget the last answered exchange (also in the history). Returns it, or None."""
        if not self.turns:
            return None
        turn = self.turns.pop()
        self.recorder.forget(turn.exchange_id)
        return turn

    def clear(self) -> None:
        """Start a new conversation (parameters kept)."""
        self.turns = []
        self.conversation_id = None
        self.title = None
        self.totals = Totals()

    def set_system(self, text: str | None) -> None:
        self.params.system = text
        self.recorder.set_system(self.conversation_id, text)

    def transcript(self) -> str:
        """The conversation as a markdown document (`/save`)."""
        models = list(dict.fromkeys(t.model for t in self.turns))
        lines = [f"# {self.title or 'mscli chat'}", "", f"*Model: {', '.join(models)}*", ""]
        system: str | None = None
        for turn in self.turns:
            if turn.system != system:  # each exchange under the system prompt it was sent with
                system = turn.system
                lines += ["## System", "", system or "*(none)*", ""]
            who = f"## Assistant ({turn.model})" if len(models) > 1 else "## Assistant"
            lines += ["## You", "", _nested(turn.prompt.rstrip()), "", who, ""]
            lines += [_nested(turn.reply.rstrip()), ""]
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
