"""`mscli chat`: one-shot, piped and interactive chat, with streaming markdown and saved conversations.

Only typer and the standard library are imported here at module level; the client, Rich Markdown,
prompt_toolkit and sqlite3 are imported inside the command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mscli.commands._options import (
    max_tokens_option,
    model_option,
    system_option,
    temperature_option,
)
from mscli.completers import complete_conversation, complete_role
from mscli.limits import INPUT_SOFT_BYTES, MAX_STOP, TOP_P_RANGE
from mscli.pricing import DEFAULT_MODEL

if TYPE_CHECKING:
    from collections.abc import Callable

    from mscli.chat.exchange import Outcome, Params
    from mscli.config_schema import Role
    from mscli.context import AppContext
    from mscli.errors import MscliError
    from mscli.history import Conversation, HistoryStore
    from mscli.output.chat_view import ReplyView

HELP = (
    'Chat with a model: one-shot (`mscli chat "prompt"`), piped (`cat f | mscli chat "summarize"`, '
    "`mscli chat -` reads the prompt from stdin) or an interactive session (no prompt, on a terminal). "
    "Replies stream as rendered markdown on a terminal and as exact text when piped; conversations are "
    "saved (see `mscli history`) unless --no-log."
)


def command(
    ctx: typer.Context,
    prompt: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="The prompt (words are joined with spaces). `-` reads the whole prompt from stdin. "
            "With piped stdin and a prompt, the piped text is sent first, then the prompt. "
            "No prompt on a terminal starts an interactive session.",
            show_default=False,
            metavar="PROMPT",
        ),
    ] = None,
    model: Annotated[
        Optional[str],
        model_option(f"Model id (default: default_model from the config, else {DEFAULT_MODEL})."),
    ] = None,
    system: Annotated[Optional[str], system_option("System prompt.")] = None,
    role: Annotated[
        Optional[str],
        typer.Option(
            "--role",
            "-r",
            help="Apply a [roles.NAME] table of config.toml (system, model, temperature, "
            "max_tokens; `mscli roles` lists them). Options given explicitly win.",
            autocompletion=complete_role,
            show_default=False,
            metavar="NAME",
        ),
    ] = None,
    temperature: Annotated[
        Optional[float], temperature_option("Sampling temperature, 0 to 2.")
    ] = None,
    max_tokens: Annotated[Optional[int], max_tokens_option("Longest reply, in tokens.")] = None,
    top_p: Annotated[
        Optional[float],
        typer.Option(
            "--top-p",
            min=TOP_P_RANGE[0],
            max=TOP_P_RANGE[1],
            help="Nucleus sampling, 0 to 1.",
            show_default=False,
        ),
    ] = None,
    stop: Annotated[
        Optional[list[str]],
        typer.Option(
            "--stop",
            help=f"Stop sequence (repeatable, at most {MAX_STOP}).",
            show_default=False,
            metavar="TEXT",
        ),
    ] = None,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Wait for the whole reply instead of streaming it.")
    ] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="Plain text on a terminal (no markdown rendering).")
    ] = False,
    usage: Annotated[
        bool,
        typer.Option("--usage", help="Tokens and estimated credits on stderr after the reply."),
    ] = False,
    json_: Annotated[
        bool,
        typer.Option(
            "--json",
            help="The final completion as JSON on stdout (id, model, content, finish_reason, usage, estimated_credits).",
        ),
    ] = False,
    continue_: Annotated[
        bool,
        typer.Option(
            "--continue",
            "-c",
            help="Continue the most recent conversation held with this API (base URL; "
            "`--sandbox` runs share one).",
        ),
    ] = False,
    conversation: Annotated[
        Optional[int],
        typer.Option(
            "--conversation",
            help="Continue the conversation with this id (`mscli history list`).",
            autocompletion=complete_conversation,
            show_default=False,
            metavar="ID",
        ),
    ] = None,
    other_api: Annotated[
        bool,
        typer.Option(
            "--other-api",
            help="Let --conversation ID continue a conversation held with another API (its text "
            "is sent to this one); on a terminal mscli asks instead.",
        ),
    ] = False,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not save this conversation to the history.")
    ] = False,
    file: Annotated[
        Optional[list[str]],
        typer.Option(
            "--file",
            "-f",
            help="Send this text file before the prompt, under a line naming it (repeatable; "
            "`-` is stdin). Binary files are refused. With no prompt, the files are the message.",
            show_default=False,
            metavar="PATH",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help=f"Send a message over {INPUT_SOFT_BYTES // 1024} KiB (prompt and files) without "
            "asking; scripts need it for one.",
        ),
    ] = False,
) -> None:
    from mscli.chat import attach
    from mscli.chat.exchange import Params
    from mscli.context import get_app_context
    from mscli.errors import UsageError

    actx = get_app_context(ctx, json=json_)
    # Arguments that are not valid UTF-8 arrive as surrogate escapes: replace the bad bytes, as
    # for piped input, rather than fail when the request is encoded.
    prompt = [_valid_text(w) for w in prompt] if prompt else prompt
    system = _valid_text(system) if system is not None else None
    model = _valid_text(model) if model is not None else None
    stops = [_valid_text(s) for s in stop or []]
    if len(stops) > MAX_STOP:
        raise UsageError(f"--stop can be given at most {MAX_STOP} times (got {len(stops)}).")
    if continue_ and conversation is not None:
        raise UsageError("Use either --continue or --conversation ID, not both.")

    if role is not None:
        chosen = _role(actx, role)
        model = model if model is not None else chosen.model
        system = system if system is not None else chosen.system
        temperature = temperature if temperature is not None else chosen.temperature
        max_tokens = max_tokens if max_tokens is not None else chosen.max_tokens

    words = list(prompt or [])
    interactive = False
    from mscli.chat.attach import stdin_text

    term = actx.terminal
    if [*(file or []), *words].count("-") > 1:
        raise UsageError("Standard input can be read once: give `-` (or `-f -`) only once.")
    files = [attach.load(path, term) for path in file or []]
    if words == ["-"]:
        text = stdin_text(term)
        if not text.strip():
            raise UsageError("`mscli chat -` read an empty prompt from stdin.")
    elif words:
        text = " ".join(words)
        if not term.stdin_tty:
            piped = stdin_text(term)
            if piped.strip():
                text = piped.rstrip("\n") + "\n\n" + text
    elif files:  # the files are the message (with any piped text after them)
        text = "" if term.stdin_tty else stdin_text(term).rstrip("\n")
    elif term.stdin_tty:
        if actx.json:
            raise UsageError('--json needs a prompt: `mscli chat --json "prompt"`.')
        if not term.stdout_tty:
            raise UsageError("No prompt given. An interactive session needs a terminal on stdout.")
        interactive = True
        text = ""
    else:
        text = stdin_text(term)
        if not text.strip():
            raise UsageError(
                'No prompt: give one (`mscli chat "prompt"`) or pipe text into `mscli chat`.'
            )

    if files:
        text = attach.compose(text, files)
    if not interactive and not attach.check_size(text, _size_confirm(actx, yes)):
        actx.note("Cancelled: nothing was sent.")
        raise typer.Exit(0)

    requested = Params(
        model=model or "",
        system=system,
        temperature=temperature,
        max_tokens=max_tokens,
        top_p=top_p,
        stop=stops or None,
    )
    log = not no_log and bool(actx.settings.log_history.value)
    store, conv = _open_history(
        actx, log=log, continue_=continue_, conversation_id=conversation, other_api=other_api
    )
    try:
        _run(
            actx, text, requested, interactive, store, conv, log, not no_stream, raw, usage, yes=yes
        )
    finally:
        if store is not None:
            store.close()


def _api(actx: AppContext) -> str:
    """Where conversations are held, as the history records it: the base URL, or "sandbox" for
    the built-in sandbox (its port changes with every run)."""
    s = actx.settings
    return "sandbox" if s.base_url.source == "sandbox" else s.base_url.value


def _open_history(
    actx: AppContext,
    *,
    log: bool,
    continue_: bool,
    conversation_id: int | None,
    other_api: bool = False,
) -> tuple[HistoryStore | None, Conversation | None]:
    """Open the store before anything is sent: a locked or damaged database stops the run here
    (exit 10, nothing spent), never after the reply. -c takes the latest conversation of this
    API; a conversation of another API is continued only when the user says so."""
    from mscli.errors import UsageError
    from mscli.history import HistoryStore

    path = actx.paths.history
    wants = continue_ or conversation_id is not None
    if not log and not wants:
        return None, None
    if not log and not path.exists():
        raise UsageError(
            "There is no saved conversation to continue.",
            fix='Start one with `mscli chat "Hello"`; `mscli history list` shows the saved ones.',
        )
    store = HistoryStore.open(path)
    try:
        conv = None
        if wants:
            api = _api(actx)
            cid = store.latest_id(api) if continue_ else conversation_id
            if cid is None:
                raise UsageError(
                    f"There is no saved conversation held with {_shown(api)} to continue.",
                    fix="`mscli history list` shows where each one was held; "
                    "`--conversation ID` continues one of them.",
                )
            conv = store.get(cid)
            if conv is None:
                raise UsageError(
                    f"There is no conversation {cid}.",
                    fix="`mscli history list` shows the saved conversations and their ids.",
                )
            if conv.base_url != api and not other_api:
                _confirm_other_api(actx, cid, conv.base_url, api)
    except BaseException:
        store.close()
        raise
    return store, conv


def _shown(api: str | None) -> str:
    from mscli.redact import Redactor

    return "the built-in sandbox" if api == "sandbox" else Redactor().url(api or "an unknown API")


def _confirm_other_api(actx: AppContext, cid: int, held: str | None, api: str) -> None:
    """Conversation `cid` was held with another API: ask on a terminal, else refuse."""
    from mscli.errors import UsageError

    what = f"Conversation {cid} was held with {_shown(held)}; this run uses {_shown(api)}"
    if actx.json or not actx.terminal.stdin_tty:
        raise UsageError(
            f"{what}.", fix="Add --other-api to send its text to this API, or use that API."
        )
    try:
        answer = actx.terminal.confirm(f"{what}. Send its text there?")
    except EOFError:
        raise typer.Abort() from None
    if not answer:
        actx.note("Cancelled: nothing was sent.")
        raise typer.Exit(0)


def _role(actx: AppContext, name: str) -> Role:
    """The role called `name`, checked; a usage error listing the roles there are if none is."""
    from mscli.commands.roles import load
    from mscli.errors import UsageError

    found = load(actx)
    if name not in found:
        known = ", ".join(found) or "none yet"
        raise UsageError(
            f"There is no role {name!r} in {actx.store.path} (roles: {known}).",
            role=name,
            fix="`mscli roles` lists the roles; add one as a [roles.NAME] table in config.toml.",
        )
    return found[name]


def _size_confirm(actx: AppContext, yes: bool) -> Callable[[str], bool] | None:
    """Who answers "send this large message?": --yes, else a person at a terminal, else nobody
    (scripts and --json: the size check then refuses, pointing to --yes)."""
    if yes:
        return lambda question: True
    if actx.json or not actx.terminal.interactive:
        return None

    def ask(question: str) -> bool:
        try:
            return actx.terminal.confirm(question)
        except EOFError:
            raise typer.Abort() from None

    return ask


def _valid_text(arg: str) -> str:
    """A command-line argument with undecodable bytes (surrogate escapes) replaced by U+FFFD."""
    try:
        return arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return arg.encode("utf-8", "replace").decode("utf-8")


def _pick_model(actx: AppContext, model: str | None, conv: Conversation | None) -> str:
    """-m, else the conversation's model, else the settings' default_model (which falls back to
    pricing.DEFAULT_MODEL)."""
    if model:
        return model.strip()
    if conv is not None and conv.model:
        return conv.model
    return str(actx.settings.default_model.value)


def _view(actx: AppContext, *, raw: bool) -> ReplyView:
    """The reply's view; on a terminal (never in pipes; --json has its own), a waiting line until
    the first text."""
    from mscli.output.chat_view import MarkdownView, PipeView, RawView, Waiting

    term = actx.terminal
    view: ReplyView
    if _rendered(actx, raw=raw):
        view = MarkdownView(actx.out)
    elif raw and term.stdout_tty:
        view = RawView(term.stdout)
    else:
        view = PipeView(term.stdout)
    return Waiting(view, actx.waiting("Waiting for the reply")) if term.stdout_tty else view


def _rendered(actx: AppContext, *, raw: bool) -> bool:
    """Markdown rendering: only on a terminal, and not --raw. Piped output is always the exact
    text received, even with --color always / FORCE_COLOR (CI often sets it, and `$(mscli chat
    ...)` must not get cursor movements); --color always does win over TERM=dumb on a terminal."""
    if raw or not actx.terminal.stdout_tty:
        return False
    return actx.colour == "always" or not actx.out.is_dumb_terminal


class _Collect:
    """--json: nothing is shown while the reply arrives."""

    def feed(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _run(
    actx: AppContext,
    text: str,
    requested: Params,
    interactive: bool,
    store: HistoryStore | None,
    conv: Conversation | None,
    log: bool,
    stream: bool,
    raw: bool,
    show_usage: bool,
    *,
    yes: bool = False,
) -> None:
    """`requested`: the options given; the model, and the system prompt when none is given,
    come from the conversation continued or the settings."""
    from mscli.chat.engine import Chat
    from mscli.chat.recorder import Recorder
    from mscli.errors import ApiError, NetworkError

    chosen = _pick_model(actx, requested.model, conv)
    catalogue = actx.catalogue()
    try:
        catalogue.check(chosen, lenient=True)
    except (ApiError, NetworkError) as err:
        # a session can still work (its panels handle these); a one-shot fails now, as it would
        from mscli.api.retry import RETRYABLE_STATUSES

        temporary = (
            err.retryable if isinstance(err, NetworkError) else err.status in RETRYABLE_STATUSES
        )
        if not (interactive and temporary):
            raise
        actx.warn(f"Could not check the model list ({err.message}); starting anyway.")
    system = requested.system
    params = requested
    params.model = chosen
    if system is None and conv is not None:
        params.system = conv.system
    s = actx.settings
    recorder = Recorder(
        s.base_url.value,
        s.paths,
        overrides=s.price_overrides,
        store=store,
        log=log,
        api=_api(actx),
    )
    term = actx.terminal
    controlling = term.controlling if (term.stdin_tty or term.stdout_tty) else None
    chat = Chat(actx.client(), params, recorder, conversation=conv, controlling=controlling)
    if system is not None and conv is not None and system != conv.system:
        chat.set_system(system)

    if interactive:
        from mscli.chat.session import Session
        from mscli.commands.roles import load

        session = Session(
            chat,
            catalogue,
            actx.terminal,
            view=lambda: _view(actx, raw=raw),
            err=actx.err,
            show_error=lambda err: _panel(actx, err),
            stream=stream,
            show_usage=show_usage,
            history_file=s.paths.input_history if log else None,
            yes=yes,
            roles=lambda: load(actx),
        )
        code = session.run()
        if code:
            raise typer.Exit(code)
        return

    try:
        _one_shot(actx, chat, text, stream=stream, raw=raw, show_usage=show_usage)
    finally:
        chat.close()


def _panel(actx: AppContext, err: MscliError) -> None:
    """An error as the funnel shows it, without an exit code: the session goes on."""
    from mscli.advice import advise
    from mscli.output.errors import print_error

    print_error(actx.err, advise(err, actx.advice_context()), actx.redact, show_exit=False)


def _one_shot(
    actx: AppContext, chat: Any, text: str, *, stream: bool, raw: bool, show_usage: bool
) -> None:
    from mscli.chat.exchange import usage_line

    view: ReplyView = _Collect() if actx.json else _view(actx, raw=raw)
    out: Outcome = chat.send(text, view, stream=stream)
    chat.record(out)  # also when stdout was closed: the request was made and charged
    if out.store_error is not None:
        actx.warn(f"The reply was not saved to the history: {out.store_error}")
    if out.output_closed is not None:
        raise out.output_closed  # app.main exits 0, quietly
    if actx.json and (out.reply or out.error is None):
        actx.emit_json(out.to_json(chat.conversation_id if chat.recorder.logging else None))
    # a piped one-shot builds no Rich console unless it prints something on stderr
    err_is_terminal = actx.terminal.console_is_terminal("err", actx.colour)
    if out.cut_at_limit and not actx.json and (show_usage or err_is_terminal):
        note = out.cut_at_limit[:-1] + "; --max-tokens N allows a longer one]"
        actx.err.print(note, style="muted", highlight=False, markup=False)
    if show_usage and out.usage_to_show:
        actx.err.print(usage_line(out), style="muted", highlight=False)
    if out.status == "interrupted":
        if not actx.json and err_is_terminal:  # as the session says it
            actx.err.print(
                f"\n[interrupted: {len(out.reply)} characters kept]", style="warn", markup=False
            )
        raise typer.Exit(130)  # app.main ends the line on stderr
    if out.error is not None:
        raise out.error
