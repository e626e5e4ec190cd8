"""The interactive chat session (prompt_toolkit): multi-line input, persistent input history,
slash-commands with completion, around a `chat.engine.Chat`.

Imported only when a session starts. Its input and output are the terminal's
(`Terminal.line_editor()`), so tests drive the whole CLI with a pipe input and a `DummyOutput`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscli.chat.attach import Attachment, check_size, compose, edit, load
from mscli.chat.exchange import usage_line
from mscli.errors import MscliError

if TYPE_CHECKING:
    from rich.console import Console

    from mscli.catalogue import Catalogue
    from mscli.chat.engine import Chat
    from mscli.config_schema import Role
    from mscli.output.chat_view import ReplyView
    from mscli.terminal import Terminal


@dataclass(frozen=True)
class SlashCommand:
    """One session command: the one source for `/help`, Tab completion, the README and man page."""

    name: str
    args: str  # what follows the name, e.g. "[NAME]" ("" for none)
    help: str
    aliases: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        return f"{self.name} {self.args}" if self.args else self.name

    @property
    def summary(self) -> str:
        also = f"; also {', '.join(self.aliases)}" if self.aliases else ""
        return self.help + also


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("/help", "", "show this help", ("/?",)),
    SlashCommand(
        "/model", "[NAME]", "switch to model NAME (Tab completes served ids); alone, show the model"
    ),
    SlashCommand(
        "/system", "[TEXT]", "set the system prompt; alone, show it; '/system -' clears it"
    ),
    SlashCommand(
        "/temperature", "[N]", "set the temperature (0–2); '-' resets to the server default"
    ),
    SlashCommand(
        "/role",
        "[NAME]",
        "apply role NAME of config.toml (system, model, temperature, max_tokens); alone, list them",
    ),
    SlashCommand("/clear", "", "start a new conversation (model and settings kept)"),
    SlashCommand("/retry", "", "send the last message again, replacing its reply"),
    SlashCommand("/undo", "", "forget the last exchange"),
    SlashCommand("/save", "FILE", "write the conversation as a markdown transcript"),
    SlashCommand("/usage", "", "tokens and estimated credits used in this conversation"),
    SlashCommand(
        "/file",
        "[PATH]",
        "send text file PATH with the next message (repeatable); alone, list the files attached",
    ),
    SlashCommand(
        "/edit",
        "",
        "write the message in $EDITOR; Ctrl-X Ctrl-E does too, starting from the text typed",
    ),
    SlashCommand(
        "/exit",
        "",
        "leave the session; Ctrl-D does too, and Ctrl-C at an empty prompt",
        ("/quit", "/q"),
    ),
)
ALIASES = {alias: c.name for c in COMMANDS for alias in c.aliases}
#: Shown after the table by `/help` (and in the docs).
LITERAL_SLASH = "Start a message with // to send a literal '/'."


def _completer(
    model_ids: Callable[[], Iterable[str]], role_names: Callable[[], Iterable[str]] = tuple
) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class SlashCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterable[Completion]:
            text = document.text_before_cursor
            if not text.startswith("/") or "\n" in text:
                return
            if " " not in text:
                for c in COMMANDS:
                    if c.name.startswith(text):
                        yield Completion(c.name, start_position=-len(text), display_meta=c.help)
                return
            cmd, _, arg = text.partition(" ")
            values = {"/model": model_ids, "/role": role_names}.get(cmd)
            if values is not None:
                arg = arg.lstrip()
                for value in values():
                    if value.startswith(arg):
                        yield Completion(value, start_position=-len(arg))

    return SlashCompleter()


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()

    @kb.add("enter")
    def _enter(event: Any) -> None:
        buf = event.current_buffer
        if buf.complete_state and buf.complete_state.current_completion is not None:
            # the chosen completion is already shown (Tab, or arrows in the menu): take it and
            # send the line, so `/mo` Tab Enter runs /model at once
            buf.apply_completion(buf.complete_state.current_completion)
        if buf.document.text_before_cursor.endswith("\\") and buf.document.is_cursor_at_the_end:
            buf.delete_before_cursor(1)
            buf.insert_text("\n")
            return
        buf.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("c-x", "c-e")
    def _editor(event: Any) -> None:
        # the session runs $EDITOR (chat.attach.edit) on what was typed so far
        event.app.exit(result="/edit " + event.current_buffer.text)

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
        catalogue: Catalogue,
        terminal: Terminal,
        *,
        view: Callable[[], ReplyView],
        err: Console,
        show_error: Callable[[MscliError], None],
        stream: bool = True,
        show_usage: bool = False,
        history_file: Path | None = None,
        yes: bool = False,
        roles: Callable[[], Mapping[str, Role]] = dict,
    ) -> None:
        self.chat = chat
        self.catalogue = catalogue
        self._view = view  # a fresh view for each reply
        self.err = err
        self._error = show_error  # a panel; the session goes on
        self.stream = stream
        self.show_usage = show_usage
        self.history_file = history_file
        self.terminal = terminal
        self.exit_code = 0
        self._roles = roles  # read when /role is used: a bad role is a panel then
        self.yes = yes  # --yes: a large message is sent without asking
        self._attached: list[Attachment] = []  # /file: sent with the next message
        self._prompt: Any = None
        self._last_prompt: str | None = None
        self._last_added = False  # whether the last exchange added a turn (reply text)

    # -- plumbing -----------------------------------------------------------------------------

    def _note(self, text: str, style: str = "muted") -> None:
        from rich.text import Text

        self.err.print(Text(text, style=style))

    def _make_prompt(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory

        pt_input, pt_output = self.terminal.line_editor()
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
            completer=_completer(self.catalogue.cached_ids, self._role_names),
            complete_while_typing=True,
            key_bindings=_key_bindings(),
            multiline=True,
            prompt_continuation=lambda width, line_number, is_soft_wrap: "… ".rjust(width),
            input=pt_input,
            output=pt_output,
            enable_history_search=False,
        )

    def _role_names(self) -> list[str]:
        """For Tab after /role: never fails (a bad role is a panel when /role is used)."""
        try:
            return list(self._roles())
        except MscliError:
            return []

    def _read(self) -> str:
        return str(self._prompt.prompt("› "))

    def _ask(self, question: str, *, default: bool) -> bool:
        from prompt_toolkit.shortcuts import PromptSession

        pt_input, pt_output = self.terminal.line_editor()
        try:
            answer: str = PromptSession(input=pt_input, output=pt_output).prompt(
                f"{question} {'[Y/n]' if default else '[y/N]'} "
            )
        except (EOFError, KeyboardInterrupt):
            return default
        return answer.strip().lower() in (("", "y", "yes") if default else ("y", "yes"))

    def _confirm_exit(self) -> bool:
        return self._ask("The key was rejected. Exit the session?", default=True)

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
        if not self.chat.recorder.logging:
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
                try:
                    if self.handle(text) == "exit":
                        break
                except KeyboardInterrupt:  # e.g. /model fetching the model list: cancel it only
                    self._note("[cancelled]", "warn")
        finally:
            self.chat.close()
        return self.exit_code

    def handle(self, text: str) -> str | None:
        """One line from the prompt: a slash-command, or a message to send."""
        if text.startswith("/") and not text.startswith("//"):
            return self.command(text.strip())
        if text.startswith("//"):
            text = text[1:]
        return self.exchange(text)

    def exchange(self, prompt: str) -> str | None:
        files, self._attached = self._attached, []
        prompt = compose(prompt, files)
        confirm = (lambda q: True) if self.yes else (lambda q: self._ask(q, default=False))
        try:
            if not check_size(prompt, confirm):
                self._note("not sent", "warn")
                return None
        except MscliError as err:
            self._error(err)
            return None
        self._last_prompt = prompt
        view = self._view()
        out = self.chat.send(prompt, view, stream=self.stream)
        self.chat.record(out)
        self._last_added = bool(out.reply)
        if out.status == "interrupted":
            self._note(f"[interrupted: {len(out.reply)} characters kept]", "warn")
        elif out.cut_at_limit:
            self._note(out.cut_at_limit)
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
            for c in COMMANDS:
                table.add_row(c.usage, c.summary)
            self.err.print(table)
            self._note(LITERAL_SLASH)
            return None
        if name == "/model":
            if not arg:
                self._note(f"model: {chat.params.model}")
                return None
            self.catalogue.check(arg, lenient=True)
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
        if name == "/role":
            found = self._roles()
            if not arg:
                self._note(f"roles: {', '.join(found)}" if found else "no roles in config.toml")
                return None
            role = found.get(arg)
            if role is None:
                known = ", ".join(found) or "none in config.toml"
                self._note(f"unknown role {arg!r} (roles: {known})", "warn")
                return None
            if role.model:
                self.catalogue.check(role.model, lenient=True)
                chat.params.model = role.model
            if role.system is not None:
                chat.set_system(role.system)
            if role.temperature is not None:
                chat.params.temperature = role.temperature
            if role.max_tokens is not None:
                chat.params.max_tokens = role.max_tokens
            self._note(f"role {role.name}: model {chat.params.model}")
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
                    prompt = gone.prompt
            if prompt is None:
                self._note("nothing to retry")
                return None
            return self.exchange(prompt)
        if name == "/save":
            if not arg:
                self._note("usage: /save FILE", "warn")
                return None
            if not chat.turns:  # do not overwrite FILE with an empty transcript
                self._note("nothing to save yet: the conversation has no exchange", "warn")
                return None
            path = Path(arg).expanduser()
            try:
                path.write_text(chat.transcript(), encoding="utf-8")
            except OSError as err:
                self._note(f"cannot write {path}: {err.strerror or err}", "warn")
                return None
            self._note(f"saved {_plural(len(chat.turns), 'exchange')} to {path}")
            return None
        if name == "/file":
            if arg == "-":  # stdin is the terminal the session reads
                self._note("/file takes a path here; stdin is this terminal", "warn")
            elif arg:
                attached = load(arg, self.terminal)
                self._attached.append(attached)
                self._note(f"{attached.name} ({attached.size:,} bytes) goes with the next message")
            else:
                names = ", ".join(a.name for a in self._attached)
                self._note(f"attached: {names}" if names else "no file attached")
            return None
        if name == "/edit":
            text = edit(self.terminal, arg)
            if not text.strip():
                self._note("empty message: nothing was sent")
                return None
            return self.exchange(text)
        if name == "/usage":
            tot = chat.totals
            line = (
                f"{_plural(tot.exchanges, 'exchange')} · {tot.prompt_tokens} prompt + {tot.completion_tokens} completion "
                f"tokens · ≈ {tot.credits:.4f} credits (estimate at list price)"
            )
            if tot.unknown:
                line += f" · {tot.unknown} without usage"
            if tot.unpriced:
                line += f" · {tot.unpriced} on an unpriced model, not counted"
            self._note(line)
            return None
        self._note(f"unknown command {name}: /help lists them", "warn")
        return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
