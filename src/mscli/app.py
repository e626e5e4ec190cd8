"""The root Typer app, its global options, and main(): THE error funnel.

Only typer (and the stdlib) is imported at module level, and every command module follows the same
rule, so `mscli --help` and `mscli --version` never import httpx or pydantic.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from mscli.completers import complete_color, complete_profile
from mscli.envvars import ENV_VARS
from mscli.exit_codes import EXIT_CODE_DOCS
from mscli.terminal import Terminal

EPILOG = (
    "Exit codes: "
    + "; ".join(
        f"{int(code)} {text.split(':')[0].split(' (')[0]}" for code, text in EXIT_CODE_DOCS.items()
    )
    + ".  Environment: "
    + ", ".join(v.name for v in ENV_VARS)
    + ".  Files: config.toml in the user config directory (`mscli config path`), the model cache in"
    " the user cache directory, history and the spend ledger in the user data directory"
    " (`man mscli`, FILES)." + '  Try it without a key: mscli --sandbox chat "Hello".'
)

#: Every command, in the order `mscli --help` lists them: its module under mscli.commands, whether
#: that module holds a Typer sub-app (`app`) or one command (`command`, `HELP`), and the first
#: paragraph of its help, which `mscli --help` shows without importing the module
#: (tests/cli/test_lazy_commands.py keeps this table in step with the modules).
COMMANDS: dict[str, tuple[str, bool, str]] = {
    "chat": (
        "chat",
        False,
        'Chat with a model: one-shot (`mscli chat "prompt"`), piped (`cat f | mscli chat '
        '"summarize"`, `mscli chat -` reads the prompt from stdin) or an interactive session (no '
        "prompt, on a terminal). Replies stream as rendered markdown on a terminal and as exact "
        "text when piped; conversations are saved (see `mscli history`) unless --no-log.",
    ),
    "batch": (
        "batch",
        False,
        "Run many prompts at the plan's pace: INPUT is JSON lines (`prompt` or `messages`, "
        "optional `id`, `model`, `system`, `temperature`, `max_tokens`, `top_p`, `stop`) or, with "
        "--lines, one prompt per line; `-` reads stdin. Each result is one JSON line (id, model, "
        "content, finish_reason, usage, estimated_credits, error) written as it completes. "
        "Requests start at most one every 60/RPM seconds (--rpm, else the profile's plan, else the "
        "server's x-ratelimit-limit-requests, else 15). A 401, 402 or Ctrl-C stops sending and "
        "keeps what finished; --resume sends only what did not succeed. Exit 0 when every line "
        "succeeded, 11 when some failed.",
    ),
    "balance": (
        "balance",
        False,
        "Show plan, RPM limit, subscription and lifetime credits, next refill and weekly cap. When "
        "the server does not report balances (the real API documents no such endpoint), show the "
        "credits spent through mscli (estimates) and the plan's refill rules. --min N exits 4 when "
        "the spendable balance is below N, or cannot be known (unless --probe finds requests still "
        "served, or --allow-unknown); --probe spends a tiny amount to learn whether requests get "
        "402.",
    ),
    "doctor": (
        "doctor",
        False,
        "Check everything between this terminal and the API, in order (config, key, base URL, "
        "proxy, DNS, TCP, TLS, HTTP, auth, rate limit, models, balance) and name the root cause "
        "with its fix. Exits 0 when nothing failed, else the exit code of the root cause (e.g. 3 "
        "auth, 8 network, 10 config). --json or --junit FILE for CI; under GitHub Actions the root "
        "cause is also an ::error annotation.",
    ),
    "roles": (
        "roles",
        False,
        "List the roles of config.toml: [roles.NAME] tables that set system, model, temperature "
        "and max_tokens together, for `mscli chat --role NAME` (explicit flags still win) and "
        "`/role NAME` in a session.",
    ),
    "models": (
        "models",
        True,
        "List the models the API serves (cached for 10 minutes), or check one before you chat.",
    ),
    "keys": (
        "keys",
        True,
        "Store, list, remove and check API keys. `keys set` reads the key from a hidden prompt or "
        "standard input (never the command line) and stores it in the config file or, with "
        "--keyring, the OS keyring; keys are always shown masked.",
    ),
    "history": (
        "history",
        True,
        "Saved chat conversations: list them, show one, delete one. Continue one with `mscli chat "
        "--conversation ID` (or `-c` for the latest). Alone, `mscli history` lists them.",
    ),
    "config": (
        "config_cmd",
        True,
        "Show and change the config file: settings per profile (base_url, default_model, timeout, "
        "max_retries, max_wait, plan, log_history, allow_insecure_http, trusted_host, "
        "api_key_command) and which profile is active. API keys: see `mscli keys`. Alone, `mscli "
        "config` is `mscli config show`.",
    ),
    "sandbox": (
        "sandbox",
        True,
        "A local ModelStack-compatible API for trying mscli, scripts and SDKs without spending "
        "credits: `serve` runs it, `keys` lists the test keys that trigger each documented error.",
    ),
    "completion": (
        "completion",
        True,
        "Shell completion (bash, zsh, fish, PowerShell): print or install the script.",
    ),
}


class LazyGroup(TyperGroup):
    """The root group: a command's module is imported, and its Click object built, only when that
    command is looked up to run it or show its own help. Listing the commands (`mscli --help`)
    reads COMMANDS instead, so it imports and builds none of them."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if self._listing:
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name][2])
        self.commands[cmd_name] = cmd = load_command(cmd_name)
        return cmd

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in COMMANDS:  # Typer suggests "Did you mean" from these names
            loaded, self.commands = self.commands, dict.fromkeys(COMMANDS)  # type: ignore[assignment]
            try:
                return super().resolve_command(ctx, args)
            finally:
                self.commands = loaded
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load_command(name: str) -> Any:
    """The Click command of `name`, built by Typer as it would be under the root app, with its
    metavars in plain words."""
    import importlib

    import typer.main

    module_name, is_app, _ = COMMANDS[name]
    module = importlib.import_module(f"mscli.commands.{module_name}")
    holder = typer.Typer(add_completion=False, rich_markup_mode="rich")
    holder.callback()(_no_callback)  # a group, so that a lone command keeps its name
    if is_app:
        holder.add_typer(module.app, name=name)
    else:
        holder.command(name, help=module.HELP)(module.command)
    _evaluate_hints(holder)
    cmd = typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    _plain_tree(cmd)
    return cmd


def _no_callback() -> None:
    """The holder group's callback (never run)."""


def _evaluate_hints(typer_app: typer.Typer) -> None:
    """Evaluate the annotations of every callback in `typer_app` once. Typer reads a function's
    type hints several times while it builds its command (seven times for `chat`), and under
    ``from __future__ import annotations`` each read compiles and evaluates every annotation
    string again: ~5 ms of a piped chat's start, and of every `chat --help`. The hints are the
    same objects Typer would get (`typing.get_type_hints`, extras kept)."""
    import typing

    todo = [typer_app]
    while todo:
        current = todo.pop()
        infos: list[Any] = [current.registered_callback, *current.registered_commands]
        for group in current.registered_groups:
            infos.append(group)
            if group.typer_instance is not None:
                todo.append(group.typer_instance)
        for info in infos:
            fn = getattr(info, "callback", None)
            annotations = getattr(fn, "__annotations__", None)
            if annotations and any(isinstance(a, str) for a in annotations.values()):
                fn.__annotations__ = typing.get_type_hints(fn, include_extras=True)


def _render_error(err: BaseException, *, force_json: bool = False) -> int:
    """Show an expected error (panel or JSON) and return its exit code."""
    from mscli import context
    from mscli.advice import advise
    from mscli.errors import MscliError
    from mscli.output.console import make_console
    from mscli.output.errors import print_error, print_error_json

    assert isinstance(err, MscliError)
    actx = context.current()
    advice = advise(err, actx.advice_context() if actx else None)
    redact = actx.redact if actx else None
    term = _TERM[0]
    if force_json or _wants_json(actx):
        print_error_json(term, advice, redact)
    else:
        console = actx.err if actx else make_console(term, "err", term.colour_mode(None))
        print_error(console, advice, redact)
    return int(advice.exit_code)


HELP_OPTION_NAMES = ["-h", "--help"]

app = typer.Typer(
    name="mscli",
    help="Call and diagnose the ModelStack API: chat, models, keys, balance, doctor, and a local sandbox.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
    rich_markup_mode="rich",
    cls=LazyGroup,
)


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        from mscli.cli import version_line

        # eager: --json may not be parsed yet, so look for it among the arguments
        term = _terminal_of(ctx)
        term.write(term.stdout, version_line(as_json="--json" in _ARGS))
        raise typer.Exit(0)


def _terminal_of(ctx: typer.Context) -> Terminal:
    """The terminal `main` handed to Click as the root context's object (or the process's own,
    when the app is run some other way)."""
    obj = ctx.find_root().obj
    if isinstance(obj, Terminal):
        return obj
    return getattr(obj, "terminal", None) or Terminal.system()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        Optional[str],
        typer.Option(
            "--profile",
            "-p",
            help="Config profile to use. \\[env: MSCLI_PROFILE]",
            show_default=False,
            autocompletion=complete_profile,
        ),
    ] = None,
    api_key: Annotated[
        Optional[str],
        typer.Option(
            "--api-key",
            help="API key for this run (visible to other users in the process list: prefer `mscli keys set` or MODELSTACK_API_KEY).",
            show_default=False,
        ),
    ] = None,
    base_url: Annotated[
        Optional[str],
        typer.Option(
            "--base-url",
            help="API base URL \\[default: https://api.modelstack.cc/v1] \\[env: MODELSTACK_BASE_URL]",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        Optional[float],
        typer.Option(
            "--timeout",
            help="Overall deadline per request in seconds, retries included \\[default: 600] \\[env: MSCLI_TIMEOUT]",
            show_default=False,
        ),
    ] = None,
    max_retries: Annotated[
        Optional[int],
        typer.Option(
            "--max-retries",
            help="Retries on 408/409/429/5xx and connection failures; 0 disables \\[default: 3] \\[env: MSCLI_MAX_RETRIES]",
            show_default=False,
        ),
    ] = None,
    max_wait: Annotated[
        Optional[float],
        typer.Option(
            "--max-wait",
            help="Longest single wait accepted before giving up, seconds \\[default: 60] \\[env: MSCLI_MAX_WAIT]",
            show_default=False,
        ),
    ] = None,
    json_: Annotated[
        bool,
        typer.Option("--json", help="Machine-readable JSON on stdout; errors as JSON on stderr."),
    ] = False,
    color: Annotated[
        Optional[str],
        typer.Option(
            "--color",
            help="auto, always or never (then NO_COLOR, FORCE_COLOR, TERM=dumb). \\[env: MSCLI_COLOR]",
            show_default=False,
            metavar="WHEN",
            autocompletion=complete_color,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Redacted HTTP trace on stderr.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Run against the built-in sandbox API, with a test key. \\[env: MSCLI_SANDBOX=1]",
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Call and diagnose the ModelStack API."""
    from mscli.context import AppContext
    from mscli.errors import UsageError

    if color is not None and color not in ("auto", "always", "never"):
        raise UsageError(f"--color must be auto, always or never, not {color!r}")
    if profile is not None and not profile.strip():
        raise UsageError("--profile needs a profile name (`mscli config profiles` lists them)")
    from mscli.settings import GlobalOptions, check_colour_env

    terminal = _terminal_of(ctx)
    options = GlobalOptions(
        profile=profile,
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        max_wait=max_wait,
        json=json_,
        color=color,
        verbose=verbose,
        debug=debug,
        sandbox=sandbox,
    )
    actx = AppContext(options, terminal)
    ctx.obj = actx
    ctx.call_on_close(actx.close)
    check_colour_env(options, terminal.env)
    if api_key is not None:
        actx.warn(
            "--api-key is visible to other users of this machine (process list, shell history); "
            "prefer `mscli keys set` or the MODELSTACK_API_KEY variable."
        )


#: The arguments of this run, for errors raised before the app context knows about --json.
_ARGS: list[str] = []
#: The terminal of this run (set by `main`), for errors raised before the app context exists.
_TERM: list[Terminal] = []


def _wants_json(actx: Any) -> bool:
    return bool(actx.json) if actx is not None else "--json" in _ARGS


def _render_internal(err: BaseException) -> int:
    from mscli import context
    from mscli.errors import MscliError

    actx = context.current()
    term = _TERM[0]
    if (actx and actx.options.debug) or term.getenv("MSCLI_DEBUG"):
        import traceback

        traceback.print_exception(type(err), err, err.__traceback__, file=term.stderr)
    wrapped = MscliError(f"{type(err).__name__}: {err}")
    return _render_error(wrapped)


def command() -> Any:
    """The Click command tree Typer builds from `app` (what `app(...)` runs), with its metavars in
    plain words (`plain_metavar`): no `<str>`, `<float range> [0.0<=x<=2.0]` or `<bool>` in --help,
    and the man page reads the same words from this tree."""
    import typer.main

    _evaluate_hints(app)
    root = typer.main.get_command(app)
    _plain_tree(root)  # the commands are built (and given theirs) when looked up: LazyGroup
    return root


def _plain_tree(cmd: Any) -> None:
    todo = [cmd]
    while todo:
        cmd = todo.pop()
        help_option = cmd.get_help_option(
            typer.Context(cmd, help_option_names=HELP_OPTION_NAMES)
        )  # cached
        for param in [*cmd.params, help_option]:
            if param is not None:
                _plain_param(param)
        todo.extend(getattr(cmd, "commands", {}).values())


#: Click's type names in the words --help and the man page use.
_TYPE_WORDS = {
    "str": "TEXT",
    "text": "TEXT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "float": "NUMBER",
    "path": "PATH",
}


def plain_metavar(param: Any) -> str:
    """THE metavar rule: a flag shows none; a choice its values (`a|b|c`); a range with both
    bounds the bounds (`0-2`); anything else the kind of value (TEXT, INTEGER, NUMBER, PATH)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    kind = param.type
    choices = getattr(kind, "choices", None)
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    low, high = getattr(kind, "min", None), getattr(kind, "max", None)
    if low is not None and high is not None:
        return f"{low:g}-{high:g}"
    name = str(getattr(kind, "name", "") or "")
    name = name.removesuffix(" range").strip("<>").lower()
    return _TYPE_WORDS.get(name, name.upper() or "VALUE")


def _plain_param(param: Any) -> None:
    """Give `param` its plain metavar; the help's type column then shows just that (a range's
    `[0.0<=x<=2.0]` is dropped: the bounds are in the metavar, the help text says them too)."""
    if param.param_type_name == "argument":
        shown = ""  # the name column already says PROMPT, ID...
    elif param.metavar is None:
        param.metavar = shown = plain_metavar(param)
    else:
        shown = param.metavar
    if not isinstance(param.type, _PlainType) and (
        param.param_type_name == "argument" or hasattr(param.type, "_describe_range")
    ):
        param.type = _PlainType(param.type, shown)


class _PlainType:
    """A parameter type that converts (and refuses) exactly like the type it wraps, but shows the
    plain metavar instead of Typer's type label."""

    def __init__(self, inner: Any, metavar: str) -> None:
        self.inner, self.metavar = inner, metavar

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, value: Any, param: Any = None, ctx: Any = None) -> Any:
        return self.inner(value, param, ctx)

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        return self.inner.convert(value, param, ctx)

    def get_metavar(self, *args: Any, **kwargs: Any) -> str:
        return self.metavar


def main(argv: list[str] | None = None, terminal: Terminal | None = None) -> None:
    """Entry point: run the app; every outcome leaves through here with its exit code.

    Typer runs with standalone_mode=False so that usage errors, prompts aborted with Ctrl-C/Ctrl-D
    and closed pipes reach this funnel instead of Click's own handlers (which exit 1 for the last two).
    """
    _ARGS[:] = sys.argv[1:] if argv is None else argv
    try:
        _run(argv, terminal)
    finally:  # this run's arguments and terminal are no later run's (in-process tests)
        _ARGS.clear()
        _TERM.clear()


def _run(argv: list[str] | None, terminal: Terminal | None) -> None:
    from mscli import context
    from mscli.exit_codes import ExitCode

    context.forget()  # a context from an earlier run in this process (tests) is not this run's
    term = terminal if terminal is not None else Terminal.system()
    _TERM[:] = [term]
    _stop_on_termination()
    click_exc = _click_exceptions()
    if "_MSCLI_COMPLETE" in term.env:  # tab time: Typer's shell classes must be registered
        import mscli.commands.completion  # noqa: F401
    code = 0
    end_line = True  # after Ctrl-C, end the half-written line on stderr
    try:
        rv = command().main(args=argv, prog_name="mscli", standalone_mode=False, obj=term)
        code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
    except typer.Abort:  # Ctrl-C or Ctrl-D at a prompt; Click's prompt has ended the line
        code = int(ExitCode.INTERRUPTED)
        end_line = False
    except click_exc.ClickException as err:
        code = _render_click_error(err)
    except KeyboardInterrupt:
        code = int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        code = 0
    except SystemExit as exc:
        # Click's handler for a closed stdout ends in SystemExit(1), and so does Rich's in the
        # Console Typer builds for --help (mscli's own consoles raise BrokenPipeError instead:
        # output.console.PipeAwareConsole).
        if exc.code == 1 and (_stdout_pacified() or _stdout_is_devnull()):
            code = 0
        else:
            raise
    except Exception as err:  # the funnel: every error ends here
        from mscli.errors import MscliError

        try:
            code = _render_error(err) if isinstance(err, MscliError) else _render_internal(err)
        except BrokenPipeError:
            code = int(ExitCode.INTERNAL)
    finally:
        from mscli import context

        actx = context.current()
        if actx is not None:
            actx.close()
    if code == int(ExitCode.INTERRUPTED) and _TERMINATED:
        code = 128 + _TERMINATED[0]  # what a shell reports for that signal (143, 129)
    if code >= int(ExitCode.INTERRUPTED):
        if _wants_json(context.current()):  # scripts get the error object, as for any failure
            with contextlib.suppress(BrokenPipeError, OSError):
                _interrupted_json(code, term)
        elif end_line:
            with contextlib.suppress(OSError, ValueError):
                term.write(term.stderr, "\n")
    if _stdout_pacified() or _stdout_broken(term):
        _silence_stdout(term)
    sys.exit(code)


_TERMINATED: list[int] = []


def _stop_on_termination() -> None:
    """SIGTERM and SIGHUP (a cancelled CI job, a closed terminal) stop mscli the way Ctrl-C does,
    so a chat saves what it received; the exit code is then 128 + the signal. POSIX main thread
    only; a signal the parent chose to ignore stays ignored."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        _TERMINATED.append(signum)
        raise KeyboardInterrupt

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, stop)
        except (ValueError, OSError):  # not the main thread (in-process tests)
            return


def _interrupted_json(code: int, term: Terminal) -> None:
    """The --json error object for Ctrl-C (130) or a termination signal (128 + signal): its
    `code` is the exit code this run ends with, its message names what stopped it."""
    import signal
    from dataclasses import replace

    from mscli.advice import advise
    from mscli.errors import InterruptedByUser
    from mscli.output.errors import print_error_json

    what = "Ctrl-C" if code == 130 else signal.Signals(code - 128).name
    how = "with Ctrl-C" if code == 130 else f"by {what}"
    stopped = f"Stopped {how}; what was received so far was kept."
    advice = advise(InterruptedByUser(f"Interrupted ({what})", fix=stopped))
    print_error_json(term, replace(advice, exit_code=code))


def _click_exceptions() -> Any:
    """Click's exception module: vendored as typer._click in Typer >= 0.29, else click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older Typer
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def _render_click_error(err: Any) -> int:
    """A usage error from Typer/Click: its own Rich rendering, or the JSON error object."""
    from mscli import context

    actx = context.current()
    wants_json = _wants_json(actx) or "--json" in _ARGS  # `mscli models --json --bogus` too
    code = int(getattr(err, "exit_code", 2))
    if wants_json:
        from mscli.errors import UsageError

        usage = UsageError(
            err.format_message(), fix="See `mscli --help` or `mscli COMMAND --help`."
        )
        return _render_error(usage, force_json=True) if code == 2 else code
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(err)
    except Exception:
        err.show()
    return code


def _stdout_pacified() -> bool:
    return type(sys.stdout).__name__ == "PacifyFlushWrapper"


def _stdout_is_devnull() -> bool:
    """Rich's Console.on_broken_pipe points fd 1 at os.devnull before raising SystemExit(1)."""
    try:
        fd_stat, null_stat = os.fstat(sys.__stdout__.fileno()), os.stat(os.devnull)  # type: ignore[union-attr]
    except (OSError, ValueError, AttributeError):
        return False
    return (fd_stat.st_dev, fd_stat.st_ino) == (null_stat.st_dev, null_stat.st_ino)


def _stdout_broken(term: Terminal) -> bool:
    try:
        term.stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        return False
    return False


def _silence_stdout(term: Terminal) -> None:
    """After EPIPE, point stdout at devnull so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, term.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
