"""Chat conversations: the exchange engine shared by one-shot chat and the interactive session.

`Chat` holds one conversation (parameters, messages, the history store) and sends one exchange at a
time through `Chat.send`, which streams the reply into a view and returns an `Outcome` whatever
happened: a complete reply, a reply stopped by Ctrl-C or by its reader closing stdout (kept, marked
interrupted), a stream cut short (kept, marked truncated) or an error (with the partial text, if
any). While a reply is rendered on a terminal, the terminal's echo is off (`quiet_input`). A reply
that ended early without a usage report gets an estimate (`Outcome.partial`: tokens received, the
prompt at ~4 characters a token) for `--usage` and the ledger. Nothing here picks an exit code:
one-shot chat re-raises the error for the funnel in `app.main`; the session shows it as a panel and
goes on. Nothing is retried here: the client retries before the first token only.

`Session` is the interactive loop (prompt_toolkit): multi-line input, persistent input history,
slash-commands with completion. Its input and output are injectable, so tests drive it with
`create_pipe_input()` and `DummyOutput()`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscli.errors import MscliError

if TYPE_CHECKING:
    from rich.console import Console

    from mscli.context import AppContext
    from mscli.history import Conversation, HistoryStore
    from mscli.output.chat_view import ReplyView

#: The model used when none is given or configured, in sandbox mode only.
SANDBOX_DEFAULT_MODEL = "claude-sonnet-4-5"


@dataclass
class Params:
    model: str
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None

    def stored(self) -> dict[str, Any]:
        """The parameters recorded with an exchange (unset ones left out)."""
        d: dict[str, Any] = {}
        for name in ("system", "temperature", "max_tokens", "top_p", "stop"):
            value = getattr(self, name)
            if value not in (None, []):
                d[name] = value
        return d


@dataclass
class Outcome:
    """What one exchange produced. `status` is complete, interrupted, truncated or error."""

    prompt: str
    model: str
    reply: str = ""
    status: str = "complete"
    finish_reason: str | None = None
    completion_id: str | None = None
    response_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    credits: float | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None
    error: MscliError | None = None
    exchange_id: int | None = None
    store_error: MscliError | None = None
    #: Text chunks received (a stream sends about one token per chunk).
    received_tokens: int = 0
    #: Characters of every message sent (for an estimate when the server reports no usage).
    prompt_chars: int = 0
    #: Set when writing the reply failed because its reader went away (`| head`): the caller
    #: records the exchange, then re-raises it.
    output_closed: BrokenPipeError | None = None
    #: (prompt tokens estimated, completion tokens received, credits estimated) for a reply that
    #: ended early without a usage report; None otherwise.
    partial: tuple[int, int, float] | None = None

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


@dataclass
class Totals:
    exchanges: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    credits: float = 0.0
    unknown: int = 0  # exchanges without usage

    def add(self, o: Outcome) -> None:
        self.exchanges += 1
        if o.usage is None:
            self.unknown += 1
            return
        self.prompt_tokens += o.prompt_tokens or 0
        self.completion_tokens += o.completion_tokens or 0
        self.credits += o.credits or 0.0


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
            f"≈ {estimate:.4f} credits (estimate at list price, {o.response_model or o.model}; "
            "the server reported no usage)"
        )
    u = o.usage
    credits = f"{o.credits:.4f}" if o.credits is not None else "?"
    return (
        f"{label}: {u['prompt_tokens'] if u['prompt_tokens'] is not None else '?'} prompt + "
        f"{u['completion_tokens'] if u['completion_tokens'] is not None else '?'} completion = "
        f"{u['total_tokens'] if u['total_tokens'] is not None else '?'} tokens · "
        f"≈ {credits} credits (estimate at list price, {o.response_model or o.model})"
    )


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
                    self.turns.append(
                        (
                            {"role": "user", "content": ex.prompt},
                            {"role": "assistant", "content": ex.reply},
                            ex.id,
                        )
                    )
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

        guard = quiet_input() if isinstance(view, MarkdownView) else contextlib.nullcontext()
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
        from mscli.api.models import ChatRequest, Finish, TextDelta, UsageInfo
        from mscli.errors import StreamTruncatedError

        p = self.params
        messages = self.messages_for(prompt)
        req = ChatRequest(
            model=p.model,
            messages=messages,
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            top_p=p.top_p,
            stop=list(p.stop) if p.stop else None,
            include_usage=True,
        )
        out = Outcome(prompt=prompt, model=p.model)
        out.prompt_chars = sum(len(m["content"]) for m in messages)
        parts: list[str] = []
        t0 = time.monotonic()
        first: float | None = None
        usage: Any = None
        result: Any = None
        try:
            client = self.client()
            if stream:
                with client.chat_stream(req) as s:
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
        except BrokenPipeError as err:  # the reader went away (`| head`): nothing more to show
            out.status = "interrupted"
            out.output_closed = err
        except MscliError as err:
            out.error = err
            out.status = "truncated" if isinstance(err, StreamTruncatedError) else "error"
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
                        prompt=out.prompt,
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
            self.turns.append(
                (
                    {"role": "user", "content": out.prompt},
                    {"role": "assistant", "content": out.reply},
                    out.exchange_id,
                )
            )

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
                user["content"].rstrip(),
                "",
                "## Assistant",
                "",
                assistant["content"].rstrip(),
                "",
            ]
        return "\n".join(lines).rstrip() + "\n"


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


# --- the interactive session -------------------------------------------------------------------

COMMANDS: dict[str, str] = {
    "/help": "show this help",
    "/model": "NAME: switch model (Tab completes served ids); alone: show the model",
    "/system": "TEXT: set the system prompt; alone: show it; '/system -' clears it",
    "/temperature": "N: set the temperature (0–2); '-' resets to the server default",
    "/clear": "start a new conversation (model and settings kept)",
    "/retry": "send the last message again, replacing its reply",
    "/undo": "forget the last exchange",
    "/save": "FILE: write the conversation as a markdown transcript",
    "/usage": "tokens and estimated credits used in this conversation",
    "/exit": "leave (also Ctrl-D, or Ctrl-C at an empty prompt)",
}
ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help"}


def _completer(model_ids: Callable[[], Iterable[str]]) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class SlashCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterable[Completion]:
            text = document.text_before_cursor
            if not text.startswith("/") or "\n" in text:
                return
            if " " not in text:
                for name, meta in COMMANDS.items():
                    if name.startswith(text):
                        yield Completion(name, start_position=-len(text), display_meta=meta)
                return
            cmd, _, arg = text.partition(" ")
            if cmd == "/model":
                arg = arg.lstrip()
                for mid in model_ids():
                    if mid.startswith(arg):
                        yield Completion(mid, start_position=-len(arg))

    return SlashCompleter()


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()

    @kb.add("enter")
    def _enter(event: Any) -> None:
        buf = event.current_buffer
        if buf.complete_state and buf.complete_state.current_completion is not None:
            buf.apply_completion(buf.complete_state.current_completion)
            return
        if buf.document.text_before_cursor.endswith("\\") and buf.document.is_cursor_at_the_end:
            buf.delete_before_cursor(1)
            buf.insert_text("\n")
            return
        buf.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("c-c")
    def _ctrl_c(event: Any) -> None:
        buf = event.current_buffer
        if buf.text:
            buf.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt())

    return kb


class Session:
    """The interactive chat loop. `run()` returns the exit code."""

    def __init__(
        self,
        chat: Chat,
        *,
        out: Console,
        err: Console,
        stream: bool = True,
        raw: bool = False,
        show_usage: bool = False,
        history_file: Path | None = None,
        pt_input: Any = None,
        pt_output: Any = None,
        view_factory: Callable[[], ReplyView] | None = None,
    ) -> None:
        self.chat = chat
        self.out = out
        self.err = err
        self.stream = stream
        self.raw = raw
        self.show_usage = show_usage
        self.history_file = history_file
        self.pt_input = pt_input
        self.pt_output = pt_output
        self.view_factory = view_factory
        self.exit_code = 0
        self._prompt: Any = None
        self._last_prompt: str | None = None
        self._last_added = False  # whether the last exchange added a turn (reply text)

    # -- plumbing -----------------------------------------------------------------------------

    def _note(self, text: str, style: str = "muted") -> None:
        from rich.text import Text

        self.err.print(Text(text, style=style))

    def _error(self, err: MscliError) -> None:
        from mscli.advice import advise
        from mscli.output.errors import print_error

        print_error(
            self.err,
            advise(err, self.chat.actx.advice_context()),
            self.chat.actx.redact,
            show_exit=False,  # the session goes on: no exit code to announce
        )

    def _model_ids(self) -> list[str]:
        from mscli import models_cache

        try:
            return models_cache.cached_ids(self.chat.actx.settings.base_url.value)
        except Exception:
            return []

    def _make_prompt(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory

        history: History
        if self.history_file is not None:
            try:
                import os

                self.history_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(self.history_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
                history = FileHistory(str(self.history_file))
            except OSError:
                history = InMemoryHistory()
        else:
            history = InMemoryHistory()
        return PromptSession(
            history=history,
            completer=_completer(self._model_ids),
            complete_while_typing=True,
            key_bindings=_key_bindings(),
            multiline=True,
            prompt_continuation=lambda width, line_number, is_soft_wrap: "… ".rjust(width),
            input=self.pt_input,
            output=self.pt_output,
            enable_history_search=False,
        )

    def _read(self) -> str:
        return str(self._prompt.prompt("› "))

    def _confirm_exit(self) -> bool:
        from prompt_toolkit.shortcuts import PromptSession

        try:
            answer: str = PromptSession(input=self.pt_input, output=self.pt_output).prompt(
                "The key was rejected. Exit the session? [Y/n] "
            )
        except (EOFError, KeyboardInterrupt):
            return True
        return answer.strip().lower() in ("", "y", "yes")

    def _view(self) -> ReplyView:
        if self.view_factory is not None:
            return self.view_factory()
        from mscli.output.chat_view import MarkdownView, RawView

        if self.raw:
            return RawView(self.out.file)
        return MarkdownView(self.out)

    # -- the loop -----------------------------------------------------------------------------

    def banner(self) -> None:
        p = self.chat.params
        bits = [f"model {p.model}"]
        if p.system:
            bits.append("system prompt set")
        if self.chat.conversation_id is not None:
            bits.append(
                f"continuing conversation {self.chat.conversation_id} ({_plural(len(self.chat.turns), 'exchange')})"
            )
        if not self.chat.log:
            bits.append("not saved to history")
        self._note("mscli chat · " + " · ".join(bits))
        self._note("Enter sends · Esc Enter or a trailing \\ adds a line · /help · Ctrl-D exits")

    def run(self) -> int:
        self._prompt = self._make_prompt()
        self.banner()
        try:
            while True:
                try:
                    text = self._read()
                except KeyboardInterrupt:
                    break  # Ctrl-C at an empty prompt
                except EOFError:
                    break  # Ctrl-D
                if not text.strip():
                    continue
                if text.startswith("/") and not text.startswith("//"):
                    if self.command(text.strip()) == "exit":
                        break
                    continue
                if text.startswith("//"):
                    text = text[1:]
                if self.exchange(text) == "exit":
                    break
        finally:
            self.chat.close()
        return self.exit_code

    def exchange(self, prompt: str) -> str | None:
        self._last_prompt = prompt
        view = self._view()
        out = self.chat.send(prompt, view, stream=self.stream)
        self.chat.record(out)
        self._last_added = bool(out.reply)
        if out.status == "interrupted":
            self._note(f"[interrupted: {len(out.reply)} characters kept]", "warn")
        if out.store_error is not None:
            self._note(f"Not saved to history: {out.store_error}", "warn")
        if self.show_usage and out.usage_to_show:
            self._note(usage_line(out))
        if out.output_closed is not None:
            raise out.output_closed  # recorded; nowhere left to show anything
        if out.error is not None:
            self._error(out.error)
            if out.error.advice_key.startswith("auth.") and self._confirm_exit():
                from mscli.advice import exit_code_for

                self.exit_code = int(exit_code_for(out.error))
                return "exit"
        return None

    def command(self, line: str) -> str | None:
        name, _, arg = line.partition(" ")
        name = ALIASES.get(name.lower(), name.lower())
        arg = arg.strip()
        try:
            return self._command(name, arg)
        except MscliError as err:
            self._error(err)
            return None

    def _command(self, name: str, arg: str) -> str | None:
        chat = self.chat
        if name == "/exit":
            return "exit"
        if name == "/help":
            from rich.table import Table

            table = Table.grid(padding=(0, 2))
            for cmd, meta in COMMANDS.items():
                table.add_row(cmd, meta)
            self.err.print(table)
            self._note("Start a message with // to send a literal '/'.")
            return None
        if name == "/model":
            if not arg:
                self._note(f"model: {chat.params.model}")
                return None
            check_model(chat.actx, arg)
            chat.params.model = arg
            self._note(f"model: {arg}")
            return None
        if name == "/system":
            if not arg:
                self._note(
                    f"system prompt: {chat.params.system!r}"
                    if chat.params.system
                    else "no system prompt"
                )
                return None
            chat.set_system(None if arg == "-" else arg)
            self._note("system prompt cleared" if arg == "-" else "system prompt set")
            return None
        if name == "/temperature":
            if not arg:
                t = chat.params.temperature
                self._note(f"temperature: {t if t is not None else 'server default'}")
                return None
            if arg == "-":
                chat.params.temperature = None
                self._note("temperature: server default")
                return None
            try:
                value = float(arg)
            except ValueError:
                value = -1.0
            if not 0.0 <= value <= 2.0:
                self._note(f"temperature must be a number from 0 to 2, not {arg!r}", "warn")
                return None
            chat.params.temperature = value
            self._note(f"temperature: {value:g}")
            return None
        if name == "/clear":
            chat.clear()
            self._last_prompt, self._last_added = None, False
            self._note("new conversation")
            return None
        if name == "/undo":
            gone = chat.undo()
            self._last_prompt, self._last_added = None, False
            self._note("forgot the last exchange" if gone else "nothing to undo")
            return None
        if name == "/retry":
            # The last message failed (no reply): send it again. Otherwise replace the last reply.
            prompt = self._last_prompt if not self._last_added else None
            if prompt is None:
                gone = chat.undo()
                if gone is not None:
                    prompt = gone[0]["content"]
            if prompt is None:
                self._note("nothing to retry")
                return None
            return self.exchange(prompt)
        if name == "/save":
            if not arg:
                self._note("usage: /save FILE", "warn")
                return None
            path = Path(arg).expanduser()
            try:
                path.write_text(chat.transcript(), encoding="utf-8")
            except OSError as err:
                self._note(f"cannot write {path}: {err.strerror or err}", "warn")
                return None
            self._note(f"saved {_plural(len(chat.turns), 'exchange')} to {path}")
            return None
        if name == "/usage":
            tot = chat.totals
            line = (
                f"{_plural(tot.exchanges, 'exchange')} · {tot.prompt_tokens} prompt + {tot.completion_tokens} completion "
                f"tokens · ≈ {tot.credits:.4f} credits (estimate at list price)"
            )
            if tot.unknown:
                line += f" · {tot.unknown} without usage"
            self._note(line)
            return None
        self._note(f"unknown command {name}: /help lists them", "warn")
        return None


def input_history_path() -> Path:
    from mscli.ledger import data_dir

    return data_dir() / "chat_input_history"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
