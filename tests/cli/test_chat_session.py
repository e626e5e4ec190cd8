"""The interactive chat session: the whole CLI in-process through `main(argv, terminal=...)` on a
fake terminal whose keys come from prompt_toolkit's pipe input, against the sandbox; and a few end
to end runs in a real pseudo-terminal (a real Ctrl-C), synchronised on what the terminal shows."""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console

from mscli.app import main
from mscli.history import HistoryStore
from mscli.output.chat_view import MarkdownView
from mscli.terminal import Terminal
from support.chat_run import MODEL, completion, flat
from support.paths import run_paths
from support.vt import render

if TYPE_CHECKING:
    from prompt_toolkit.input import PipeInput

    from mscli.sandbox.embedded import EmbeddedSandbox

ENTER = "\r"
CTRL_C = "\x03"
CTRL_D = "\x04"


@pytest.fixture()
def pipe() -> Iterator[PipeInput]:
    from prompt_toolkit.input import create_pipe_input

    with create_pipe_input() as inp:
        yield inp


def screen(text: str) -> list[str]:
    """The lines a person sees once everything written to the terminal was drawn (LF becomes
    CR LF, as the terminal's output processing makes it)."""
    return render(text.replace("\n", "\r\n").encode(), 100, 40).text_lines()


class Harness:
    """`mscli --base-url SANDBOX chat -m MODEL ...` on a fake terminal (stdin, stdout and stderr
    all terminals), its keys typed through `pipe`."""

    def __init__(self, sb: EmbeddedSandbox, pipe: PipeInput, key: str | None = None) -> None:
        self.sb = sb
        self.pipe = pipe
        self.key = key or sb.api_key
        self.terminal: Terminal | None = None

    def start(
        self,
        *args: str,
        max_tokens: int | None = 6,
        log: bool = True,
        options: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> Callable[[], int]:
        """The run, ready to go (call it); `options` are global ones, `env` more variables for
        the terminal's environment (not the process's)."""
        from prompt_toolkit.output import DummyOutput

        argv = [*options, "--base-url", self.sb.base_url, "chat", "-m", MODEL, *args]
        if max_tokens is not None:
            argv += ["--max-tokens", str(max_tokens)]
        if not log:
            argv.append("--no-log")
        term_env = {**os.environ, "TERM": "xterm", "MODELSTACK_API_KEY": self.key, **(env or {})}
        self.terminal = term = Terminal.fake(
            tty=True, env=term_env, line_input=self.pipe, line_output=DummyOutput()
        )

        def go() -> int:
            try:
                main(argv, terminal=term)
            except SystemExit as exc:
                return exc.code if isinstance(exc.code, int) else 0
            return 0

        return go

    def run(self, keys: str, *args: str, **kw: Any) -> int:
        go = self.start(*args, **kw)
        self.pipe.send_text(keys)
        return go()

    @property
    def stdout(self) -> str:
        assert self.terminal is not None
        return str(self.terminal.stdout.getvalue())  # type: ignore[attr-defined]

    @property
    def stderr(self) -> str:
        assert self.terminal is not None
        return flat(str(self.terminal.stderr.getvalue()))  # type: ignore[attr-defined]

    def conversations(self) -> list[Any]:
        with HistoryStore.open(run_paths().history) as store:
            return [store.get(c.id) for c in store.list()]


@pytest.fixture()
def harness(sandbox: EmbeddedSandbox, pipe: PipeInput) -> Harness:
    return Harness(sandbox, pipe)


def _reply(sb: EmbeddedSandbox, messages: list[dict[str, str]], max_tokens: int = 6) -> str:
    return str(completion(sb, messages, max_tokens=max_tokens)["choices"][0]["message"]["content"])


def _rendered(text: str) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    view = MarkdownView(console, live=False)
    view.feed(text)
    view.close()
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def test_two_exchanges_then_ctrl_d(harness: Harness) -> None:
    code = harness.run("Hello" + ENTER + "And more" + ENTER + CTRL_D)
    assert code == 0
    one = _reply(harness.sb, [{"role": "user", "content": "Hello"}])
    two = _reply(
        harness.sb,
        [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": one},
            {"role": "user", "content": "And more"},
        ],
    )
    assert screen(harness.stdout) == screen(_rendered(one) + _rendered(two))
    (conv,) = harness.conversations()
    assert [(e.prompt, e.reply, e.status) for e in conv.exchanges] == [
        ("Hello", one, "complete"),
        ("And more", two, "complete"),
    ]
    assert "mscli chat" in harness.stderr and MODEL in harness.stderr
    assert run_paths().input_history.read_text().count("+Hello") == 1


def test_a_reply_cut_at_the_token_limit_says_so(harness: Harness) -> None:
    """max_tokens 6: the sandbox fills it (finish_reason length), and the session says so, in
    the messages and not in the reply; a reply that ends by itself gets no note."""
    assert harness.run("Hello" + ENTER + CTRL_D) == 0
    assert harness.stderr.count("stopped at the token limit") == 1
    assert "token limit" not in harness.stdout


def test_a_complete_reply_gets_no_limit_note(harness: Harness) -> None:
    assert harness.run("Hello" + ENTER + CTRL_D, max_tokens=None) == 0
    (conv,) = harness.conversations()
    assert conv.exchanges[0].status == "complete"
    assert "token limit" not in harness.stderr


def test_ctrl_c_at_an_empty_prompt_exits(harness: Harness) -> None:
    assert harness.run(CTRL_C) == 0
    assert harness.conversations() == []


def test_ctrl_c_with_text_clears_the_line_and_goes_on(harness: Harness) -> None:
    assert harness.run("never sent" + CTRL_C + "Hi" + ENTER + "/exit" + ENTER) == 0
    (conv,) = harness.conversations()
    assert [e.prompt for e in conv.exchanges] == ["Hi"]


def test_ctrl_c_mid_reply_keeps_the_partial_text_and_the_session_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = MarkdownView.feed
    fed = 0

    def interrupting(self: MarkdownView, text: str) -> None:
        nonlocal fed
        feed(self, text)
        fed += 1
        if fed == 3:
            raise KeyboardInterrupt  # what SIGINT does in the middle of a reply

    monkeypatch.setattr(MarkdownView, "feed", interrupting)
    code = harness.run("Long please" + ENTER + "Next" + ENTER + "/exit" + ENTER, max_tokens=50)
    assert code == 0
    (conv,) = harness.conversations()
    first, second = conv.exchanges
    full = _reply(harness.sb, [{"role": "user", "content": "Long please"}], 50)
    assert first.status == "interrupted"
    assert first.reply and full.startswith(first.reply) and first.reply != full
    assert "interrupted" in harness.stderr
    # the partial reply is part of the context of the next exchange, as the user saw it
    expected = _reply(
        harness.sb,
        [
            {"role": "user", "content": "Long please"},
            {"role": "assistant", "content": first.reply},
            {"role": "user", "content": "Next"},
        ],
        50,
    )
    assert second.status == "complete" and second.reply == expected


def test_ctrl_c_during_a_slash_command_cancels_it_and_the_session_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/model NAME` fetches the model list; Ctrl-C while it waits cancels the command only."""
    from mscli.catalogue import Catalogue

    check = Catalogue.check

    def interrupted(self: Catalogue, model: str, **kw: Any) -> list[str]:
        if model == "gpt-5-mini":
            raise KeyboardInterrupt
        return check(self, model, **kw)

    monkeypatch.setattr(Catalogue, "check", interrupted)
    code = harness.run("/model gpt-5-mini" + ENTER + "Hello" + ENTER + "/exit" + ENTER)
    assert code == 0
    assert "[cancelled]" in harness.stderr
    (conv,) = harness.conversations()
    assert [e.prompt for e in conv.exchanges] == ["Hello"]
    assert conv.exchanges[0].model == MODEL  # the switch did not happen


def test_enter_after_tab_completion_runs_the_line(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/mo` Tab Enter runs /model at once (it took a second Enter). Completion runs
    asynchronously, so each key is typed once the line shows the effect of the one before, as a
    person does: the typist follows the input buffer's changes."""
    from mscli.chat.session import Session

    make = Session._make_prompt

    def watched(self: Session) -> Any:
        prompt = make(self)

        def changed(buf: Any) -> None:
            if buf.text == "/mo":
                harness.pipe.send_text("\t")
            elif buf.text == "/model":
                harness.pipe.send_text(ENTER + "/exit" + ENTER)

        prompt.default_buffer.on_text_changed += changed
        return prompt

    monkeypatch.setattr(Session, "_make_prompt", watched)
    assert harness.run("/mo") == 0
    assert f"model: {MODEL}" in harness.stderr
    assert "unknown command" not in harness.stderr


def test_multiline_input(harness: Harness) -> None:
    assert (
        harness.run("line one\\" + ENTER + "line two" + "\x1b" + ENTER + "three" + ENTER + CTRL_D)
        == 0
    )
    (conv,) = harness.conversations()
    assert conv.exchanges[0].prompt == "line one\nline two\nthree"


def test_help_shows_the_session_table_and_its_aliases_work(harness: Harness) -> None:
    from mscli.chat.session import COMMANDS

    assert harness.run("/?" + ENTER + "/q" + ENTER) == 0  # aliases of /help and /exit
    for c in COMMANDS:  # the table the README and man page are generated from
        assert flat(f"{c.usage} {c.summary}") in harness.stderr


def test_slash_commands(harness: Harness, tmp_path: Path) -> None:
    save = tmp_path / "t.md"
    keys = (
        "/help"
        + ENTER
        + "/model"
        + ENTER
        + "/model claude-sonet-4-5"
        + ENTER  # typo: refused with did-you-mean, session goes on
        + "/model gpt-5-mini"
        + ENTER
        + "/system Answer in French"
        + ENTER
        + "/temperature 0.3"
        + ENTER
        + "/temperature 7"
        + ENTER
        + "First"
        + ENTER
        + "Second"
        + ENTER
        + "/undo"
        + ENTER
        + "/retry"
        + ENTER
        + f"/save {save}"
        + ENTER
        + "/usage"
        + ENTER
        + "/bogus"
        + ENTER
        + "//literal slash"
        + ENTER
        + "/clear"
        + ENTER
        + "Fresh"
        + ENTER
        + "/quit"
        + ENTER
    )
    assert harness.run(keys) == 0
    err = harness.stderr
    for name in ("/model", "/system", "/retry", "/undo", "/save", "/usage", "/exit"):
        assert name in err
    assert "Did you mean: claude-sonnet-4-5" in err
    assert "temperature must be a number from 0 to 2" in err
    assert "unknown command /bogus" in err
    assert "exchanges" in err and "estimate" in err

    old, new = harness.conversations()[1], harness.conversations()[0]
    # Second was undone (deleted), then /retry replaced First's reply (the old one deleted too)
    prompts = [e.prompt for e in old.exchanges]
    assert prompts == ["First", "/literal slash"]
    assert all(e.model == "gpt-5-mini" for e in old.exchanges)
    assert old.exchanges[0].params == {
        "max_tokens": 6,
        "system": "Answer in French",
        "temperature": 0.3,
    }
    assert old.system == "Answer in French"
    assert [e.prompt for e in new.exchanges] == ["Fresh"]

    text = save.read_text(encoding="utf-8")
    assert text.startswith("# First")
    assert "## System" in text and "Answer in French" in text
    assert text.count("## You") == 1 and "## Assistant" in text  # saved before "//literal slash"
    # the reply's own "## First" heading sits under "## Assistant", two levels down
    assert "\n#### First" in text and "\n## First" not in text


def test_history_and_save_keep_what_each_exchange_used(harness: Harness, tmp_path: Path) -> None:
    """/model and /system mid-session change what the next exchanges use, not the record of the
    earlier ones: the transcript, `history list` and `history show` say what each one used."""
    from support.chat_run import history_json, run

    save = tmp_path / "t.md"
    keys = ["/system Be brief", "First", "/model gpt-5-mini", "/system -", "Second"]
    assert harness.run(ENTER.join([*keys, f"/save {save}", "/exit"]) + ENTER) == 0
    text = save.read_text(encoding="utf-8")
    assert f"*Model: {MODEL}, gpt-5-mini*" in text
    first, second = text.index("## You\n\nFirst"), text.index("## You\n\nSecond")
    assert text.index("## System\n\nBe brief") < first
    assert first < text.index(f"## Assistant ({MODEL})") < text.index("## System\n\n*(none)*")
    assert text.index("## System\n\n*(none)*") < second < text.index("## Assistant (gpt-5-mini)")

    (conv,) = history_json("list")["data"]
    assert conv["models"] == [MODEL, "gpt-5-mini"]
    assert f"{MODEL}, gpt-5-mini" in flat(run("history", "list").text)
    shown = [
        (e["model"], e["params"].get("system")) for e in history_json("show", "1")["exchanges"]
    ]
    assert shown == [(MODEL, "Be brief"), ("gpt-5-mini", None)]
    assert "system: Be brief" in run("history", "show", "1").text


def test_usage_after_continue_counts_the_earlier_exchanges(
    sandbox: EmbeddedSandbox, pipe: PipeInput
) -> None:
    assert Harness(sandbox, pipe).run("Hello" + ENTER + CTRL_D) == 0
    again = Harness(sandbox, pipe)
    assert again.run("/usage" + ENTER + "/exit" + ENTER, "-c") == 0
    assert "1 exchange ·" in again.stderr and "0 exchanges" not in again.stderr


def test_usage_does_not_price_an_unpriced_model(harness: Harness) -> None:
    keys = "Hello" + ENTER + "/model gpt-4o" + ENTER + "Again" + ENTER + "/usage" + ENTER
    assert harness.run(keys + "/exit" + ENTER) == 0
    (conv,) = harness.conversations()
    first, second = conv.exchanges
    assert second.model == "gpt-4o" and second.estimated_credits is None
    assert first.estimated_credits is not None and first.estimated_credits > 0
    assert (
        f"2 exchanges · {first.prompt_tokens + second.prompt_tokens} prompt + 12 completion "
        f"tokens · ≈ {first.estimated_credits:.4f} credits (estimate at list price) · "
        "1 on an unpriced model, not counted"
    ) in harness.stderr


def test_save_with_nothing_to_save_keeps_the_file(harness: Harness, tmp_path: Path) -> None:
    target = tmp_path / "keep.md"
    target.write_text("precious\n")
    assert harness.run(f"/save {target}" + ENTER + "/exit" + ENTER) == 0
    assert target.read_text() == "precious\n" and "nothing to save" in harness.stderr


def test_retry_replaces_the_last_reply(harness: Harness) -> None:
    assert harness.run("Only" + ENTER + "/retry" + ENTER + CTRL_D) == 0
    (conv,) = harness.conversations()
    assert [e.prompt for e in conv.exchanges] == ["Only"]  # the first answer was replaced


def test_nothing_to_undo_or_retry(harness: Harness) -> None:
    assert harness.run("/undo" + ENTER + "/retry" + ENTER + CTRL_D) == 0
    assert "nothing to undo" in harness.stderr and "nothing to retry" in harness.stderr


def test_the_input_history_is_where_the_terminal_env_says(harness: Harness, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert harness.run("Hello" + ENTER + CTRL_D, env={"MSCLI_DATA_DIR": str(data)}) == 0
    assert (data / "chat_input_history").read_text().count("+Hello") == 1
    assert (data / "history.sqlite3").is_file()
    assert not run_paths().input_history.exists()  # where the process's environment points


def test_no_log_session_saves_nothing(harness: Harness) -> None:
    assert harness.run("Hi" + ENTER + CTRL_D, log=False) == 0
    assert harness.conversations() == []
    assert not run_paths().input_history.exists()
    assert "not saved to history" in harness.stderr


def _with_key(sb: EmbeddedSandbox, pipe: PipeInput, key: str) -> Harness:
    """A session whose key gets an error from the server; the model list is cached (it is
    checked before the session starts, with a key that works)."""
    from mscli import catalogue

    catalogue.save(run_paths().cache_dir, sb.base_url, [{"id": MODEL}])
    return Harness(sb, pipe, key)


def test_error_is_a_panel_and_the_session_goes_on(
    sandbox: EmbeddedSandbox, pipe: PipeInput
) -> None:
    h = _with_key(sandbox, pipe, "sk_test_cutoff")
    assert h.run("Cut me" + ENTER + "/exit" + ENTER, max_tokens=40) == 0
    assert "The reply was cut off" in h.stderr
    assert "exit 9" not in h.stderr  # the session goes on: the panel announces no exit code
    (conv,) = h.conversations()
    assert conv.exchanges[0].status == "truncated" and conv.exchanges[0].reply


def test_auth_error_offers_to_exit(sandbox: EmbeddedSandbox, pipe: PipeInput) -> None:
    h = _with_key(sandbox, pipe, "sk_test_invalid")
    assert h.run("Hi" + ENTER + "y" + ENTER) == 3
    assert "rejected" in h.stderr


def test_auth_error_declined_goes_on(sandbox: EmbeddedSandbox, pipe: PipeInput) -> None:
    h = _with_key(sandbox, pipe, "sk_test_invalid")
    assert h.run("Hi" + ENTER + "n" + ENTER + CTRL_D) == 0


def test_completion_of_commands_and_models(harness: Harness) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from mscli.chat.session import _completer

    comp = _completer(
        lambda: ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5-mini"],
        lambda: ["reviewer", "french"],
    )

    def names(text: str) -> list[str]:
        return [c.text for c in comp.get_completions(Document(text), CompleteEvent())]

    assert names("/mo") == ["/model"]
    assert "/temperature" in names("/t")
    assert names("/model claude-") == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert names("hello") == []
    assert names("/system x") == []
    assert names("/role ") == ["reviewer", "french"]
    assert names("/role fr") == ["french"]


# --- a real pseudo-terminal ----------------------------------------------------------------------

COLS, ROWS = 90, 30
HEADING = "Tell me about streams"  # the sandbox's reply starts with the prompt as an h2 heading
TYPE_AHEAD = b"x" * 130  # longer than a line: echoed, it would wrap inside the live region


class Pty:
    """The whole CLI in a child process whose controlling terminal is a pseudo-terminal (so Ctrl-C
    written to it is a real SIGINT), with everything it writes kept for `vt.render`."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.pid, self.master = pty.fork()
        if self.pid == 0:  # pragma: no cover - child
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.seen = bytearray()

    def read_until(self, pattern: bytes, timeout: float = 30.0, start: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while pattern not in self.seen[start:]:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {pattern!r}; got {bytes(self.seen[-800:])!r}"
            if not self._read(min(left, 1.0)):
                raise AssertionError(f"the terminal closed before {pattern!r}: {self.plain()!r}")

    def drain(self, timeout: float = 30.0) -> None:
        """Read until the child closes the terminal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(min(deadline - time.monotonic(), 1.0)):
            pass

    def _read(self, wait: float) -> bool:
        import select

        ready, _, _ = select.select([self.master], [], [], max(wait, 0.0))
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            return False
        self.seen.extend(chunk)
        return bool(chunk)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, grace: float) -> int:
        """Wait for the child; keep the terminal's final local flags (`lflag`), then close it."""
        import termios

        try:
            return _wait(self.pid, grace)
        finally:
            try:
                self.lflag: int | None = int(termios.tcgetattr(self.master)[3])
            except termios.error:
                self.lflag = None
            os.close(self.master)

    def plain(self) -> str:
        return re.sub(rb"\x1b\[[0-9;?]*[ -/]*[@-~]", b"", bytes(self.seen)).decode(
            "utf-8", "replace"
        )

    def screen_lines(self) -> list[str]:
        """What is left on the screen (and scrolled above it) once everything was drawn."""
        from support.vt import render

        return render(bytes(self.seen), COLS, ROWS).text_lines()


def _pty_env(sb: Any, subprocess_env: dict[str, str]) -> dict[str, str]:
    env = {
        **subprocess_env,
        "MODELSTACK_API_KEY": sb.api_key,
        "TERM": "xterm-256color",
        "COLUMNS": str(COLS),
        "LINES": str(ROWS),
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    env.pop("NO_COLOR", None)
    return env


def _argv(sb: Any, *args: str) -> list[str]:
    return [sys.executable, "-m", "mscli", "--base-url", sb.base_url, "chat", "-m", MODEL, *args]


def _assert_clean_after_ctrl_c(term: Pty) -> None:
    """The Ctrl-C and the type-ahead were not echoed into the live region: the heading is on the
    screen once (an echo that wrapped left a stale copy of the region's first line above the final
    one), and the echo is back on once the reply is over."""
    import termios

    lines = term.screen_lines()
    assert [line.strip() for line in lines].count(HEADING) == 1, "\n".join(lines)
    assert b"xxxxxxxxxx" not in term.seen and b"^C" not in term.seen
    assert term.lflag is not None and term.lflag & termios.ECHO


def test_a_session_starts_when_the_model_list_is_temporarily_failing(
    sandbox: EmbeddedSandbox, pipe: PipeInput
) -> None:
    """The model check before a session meets a 5xx: warn and start (the session's own panels
    handle errors); a one-shot still fails at once."""
    h = Harness(sandbox, pipe, "sk_test_server_error")
    assert h.run("/exit" + ENTER, options=("--max-retries", "0")) == 0
    assert "Could not check the model list" in h.stderr
    assert "mscli chat · model" in h.stderr  # the session started
    one_shot = Harness(sandbox, pipe, "sk_test_server_error")
    assert one_shot.run("", "hi", options=("--max-retries", "0")) == 7


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminal")
def test_session_in_a_real_terminal(
    sandbox_factory: Callable[..., Any], subprocess_env: dict[str, str]
) -> None:
    sb = sandbox_factory(tokens_per_second=60)
    term = Pty(_argv(sb, "--max-tokens", "400"), _pty_env(sb, subprocess_env))
    ok = False
    try:
        term.read_until("›".encode())
        term.write(HEADING.encode() + b"\r")
        term.read_until(b"Here is")  # the reply is streaming, the heading still in the live region
        term.write(TYPE_AHEAD + b"\x03")  # keys typed, then Ctrl-C mid-reply: a real SIGINT
        term.read_until(b"interrupted")
        term.read_until("›".encode(), start=term.seen.index(b"interrupted"))  # the session goes on
        term.write(b"/exit\r")
        term.drain()
        ok = True
    finally:
        status = term.finish(30 if ok else 0)
    assert status == 0
    assert "Traceback" not in term.plain()
    _assert_clean_after_ctrl_c(term)

    from mscli.history import HistoryStore

    with HistoryStore.open(run_paths().history) as store:
        (c,) = store.list()
        conv = store.get(c.id)
    assert (
        conv is not None and conv.exchanges[0].status == "interrupted" and conv.exchanges[0].reply
    )


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminal")
def test_one_shot_ctrl_c_in_a_real_terminal(
    sandbox_factory: Callable[..., Any], subprocess_env: dict[str, str]
) -> None:
    sb = sandbox_factory(tokens_per_second=60)
    term = Pty(_argv(sb, "--max-tokens", "400", HEADING), _pty_env(sb, subprocess_env))
    ok = False
    try:
        term.read_until(b"Here is")
        term.write(TYPE_AHEAD + b"\x03")
        term.drain()
        ok = True
    finally:
        status = term.finish(30 if ok else 0)
    assert status == 130
    assert "Traceback" not in term.plain()
    assert re.search(r"\[interrupted: \d+ characters kept\]", term.plain())
    _assert_clean_after_ctrl_c(term)


def _wait(pid: int, grace: float) -> int:
    """Exit status of the pty child; killed if it is still running after `grace` seconds."""
    watchdog = threading.Timer(grace, lambda: _kill(pid))
    watchdog.start()
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        watchdog.cancel()
    return os.waitstatus_to_exitcode(status)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


# --- files, the editor and the input-size rule in the session ---------------------------------


def test_slash_file_goes_with_the_next_message_only(harness: Harness, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("line of notes\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\x01binary")
    keys = (
        f"/file {blob}" + ENTER  # refused by name: a panel, the session goes on
        + "/file -" + ENTER  # stdin is the terminal: refused
        + f"/file {notes}" + ENTER
        + "/file" + ENTER
        + "Summarize" + ENTER
        + "And then" + ENTER
        + "/exit" + ENTER
    )  # fmt: skip
    assert harness.run(keys) == 0
    (conv,) = harness.conversations()
    assert [e.prompt for e in conv.exchanges] == [
        f"==> {notes} <==\nline of notes\n\nSummarize",
        "And then",
    ]
    assert "is a binary file" in harness.stderr.replace("│ ", "")
    assert f"attached: {notes}" in harness.stderr
    assert "/file takes a path here" in harness.stderr


def _editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """EDITOR: a python script that appends to the file it is given and notes its path and mode."""
    script = tmp_path / "editor.py"
    seen = tmp_path / "seen.txt"
    script.write_text(
        "import os, sys\n"
        "path = sys.argv[1]\n"
        "with open(path, encoding='utf-8') as fh:\n"
        "    start = fh.read()\n"
        "with open(path, 'w', encoding='utf-8') as fh:\n"
        "    fh.write(start + 'written in the editor\\n\\n')\n"
        f"with open({str(seen)!r}, 'w') as fh:\n"
        "    fh.write(path + ' ' + oct(os.stat(path).st_mode & 0o777))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} '{script}'")
    return seen


def test_edit_and_ctrl_x_ctrl_e_write_the_message_in_the_editor(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _editor(tmp_path, monkeypatch)
    keys = "/edit" + ENTER + "typed so far" + "\x18\x05" + "/exit" + ENTER
    assert harness.run(keys) == 0
    (conv,) = harness.conversations()
    assert [e.prompt for e in conv.exchanges] == [
        "written in the editor",
        "typed so far\nwritten in the editor",
    ]
    path, mode = seen.read_text().split()
    assert mode == "0o600"
    assert not Path(path).exists()  # deleted after


def test_an_editor_that_fails_is_a_panel_and_nothing_is_sent(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDITOR", f"{sys.executable} -c 'raise SystemExit(3)'")
    assert harness.run("/edit" + ENTER + "Hi" + ENTER + "/exit" + ENTER) == 0
    (conv,) = harness.conversations()
    assert [e.prompt for e in conv.exchanges] == ["Hi"]
    assert "exited with status 3" in harness.stderr.replace("│ ", "")


def test_the_size_rule_in_the_session_asks_or_refuses_and_the_session_goes_on(
    harness: Harness, tmp_path: Path
) -> None:
    from mscli.limits import INPUT_HARD_BYTES, INPUT_SOFT_BYTES

    big = tmp_path / "big.txt"
    big.write_text("a" * (INPUT_SOFT_BYTES + 1))
    half = tmp_path / "half.txt"
    half.write_text("b" * (INPUT_HARD_BYTES // 2 + 1))
    keys = (
        f"/file {big}" + ENTER + "Summarize" + ENTER + "n" + ENTER  # asked, declined
        + f"/file {half}" + ENTER + f"/file {half}" + ENTER + "Both" + ENTER  # over: refused
        + "Small" + ENTER
        + f"/file {big}" + ENTER + "Now" + ENTER + "y" + ENTER  # asked, accepted
        + "/exit" + ENTER
    )  # fmt: skip
    assert harness.run(keys) == 0
    (conv,) = harness.conversations()
    assert [e.prompt[-5:] for e in conv.exchanges] == ["Small", "\n\nNow"]
    err = harness.stderr.replace("│ ", "")
    assert err.count("not sent") == 1  # the declined one (the question is the line editor's)
    assert "over mscli's limit of 4.0 MiB" in err


def _roles(text: str) -> None:
    config = Path(os.environ["MSCLI_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")


TERSE = '[roles.terse]\nsystem = "One line only"\nmodel = "gpt-5-mini"\ntemperature = 0.1\n'


def test_slash_role_applies_a_role(harness: Harness) -> None:
    _roles(TERSE + "max_tokens = 4\n")
    keys = "/role" + ENTER + "/role nope" + ENTER + "/role terse" + ENTER + "Hello" + ENTER
    assert harness.run(keys + "/exit" + ENTER) == 0
    (conv,) = harness.conversations()
    assert [(e.prompt, e.model, e.params) for e in conv.exchanges] == [
        ("Hello", "gpt-5-mini", {"max_tokens": 4, "system": "One line only", "temperature": 0.1}),
    ]
    err = harness.stderr
    assert "roles: terse" in err
    assert "unknown role 'nope' (roles: terse)" in err
    assert "role terse: model gpt-5-mini" in err


def test_a_bad_role_in_the_session_is_a_panel_and_the_session_goes_on(harness: Harness) -> None:
    _roles(TERSE + "max_tokens = 0\n")
    assert harness.run("/role terse" + ENTER + "Hello" + ENTER + "/exit" + ENTER) == 0
    (conv,) = harness.conversations()
    assert [(e.prompt, e.model) for e in conv.exchanges] == [("Hello", MODEL)]
    assert "max_tokens of role 'terse'" in harness.stderr.replace("│ ", "")
