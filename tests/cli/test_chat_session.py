"""The interactive chat session, driven through prompt_toolkit's pipe input against the sandbox, and
once through a real pseudo-terminal (the whole CLI, with a real Ctrl-C)."""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console

from mscli.chat.engine import Chat
from mscli.chat.exchange import Params
from mscli.chat.recorder import Recorder
from mscli.chat.session import Session
from mscli.context import AppContext
from mscli.history import HistoryStore
from mscli.output.chat_view import MarkdownView
from mscli.output.console import THEME
from mscli.settings import GlobalOptions
from support.chat_run import MODEL, completion, flat

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


class Harness:
    def __init__(
        self, sb: EmbeddedSandbox, pipe: PipeInput, tmp: Path, key: str | None = None
    ) -> None:
        os.environ["MODELSTACK_API_KEY"] = key or sb.api_key
        self.sb = sb
        self.actx = AppContext(GlobalOptions(base_url=sb.base_url))
        self.out = Console(file=io.StringIO(), width=100, color_system=None, theme=THEME)
        self.err = Console(file=io.StringIO(), width=100, color_system=None, theme=THEME)
        self.store = HistoryStore.open()
        self.pipe = pipe
        self.tmp = tmp
        self.interrupt_after: int | None = None

    def view(self) -> Any:
        h = self

        class Interrupting(MarkdownView):
            fed = 0

            def feed(self, text: str) -> None:
                super().feed(text)
                Interrupting.fed += 1
                if h.interrupt_after is not None and Interrupting.fed >= h.interrupt_after:
                    h.interrupt_after = None
                    raise KeyboardInterrupt  # what SIGINT does in the middle of a reply

        return Interrupting(self.out, live=False)

    def session(self, *, max_tokens: int | None = 6, log: bool = True, **kw: Any) -> Session:
        from prompt_toolkit.output import DummyOutput

        from mscli.advice import advise
        from mscli.output.errors import print_error

        catalogue = self.actx.catalogue()
        catalogue.check(MODEL)
        s = self.actx.settings
        recorder = Recorder(s.base_url.value, store=self.store, log=log)
        chat = Chat(self.actx.client(), Params(model=MODEL, max_tokens=max_tokens), recorder)
        return Session(
            chat,
            catalogue,
            out=self.out,
            err=self.err,
            show_error=lambda e: print_error(
                self.err, advise(e, self.actx.advice_context()), self.actx.redact, show_exit=False
            ),
            history_file=self.tmp / "input_history" if log else None,
            pt_input=self.pipe,
            pt_output=DummyOutput(),
            view_factory=self.view,
            **kw,
        )

    def run(self, keys: str, **kw: Any) -> int:
        self.pipe.send_text(keys)
        try:
            return self.session(**kw).run()
        finally:
            self.store.close()

    @property
    def stdout(self) -> str:
        return str(self.out.file.getvalue())  # type: ignore[attr-defined]

    @property
    def stderr(self) -> str:
        return flat(str(self.err.file.getvalue()))  # type: ignore[attr-defined]

    def conversations(self) -> list[Any]:
        with HistoryStore.open() as store:
            return [store.get(c.id) for c in store.list()]


@pytest.fixture()
def harness(
    sandbox: EmbeddedSandbox, pipe: PipeInput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Harness:
    monkeypatch.setenv("MODELSTACK_API_KEY", sandbox.api_key)
    return Harness(sandbox, pipe, tmp_path)


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
    assert harness.stdout == _rendered(one) + _rendered(two)
    (conv,) = harness.conversations()
    assert [(e.prompt, e.reply, e.status) for e in conv.exchanges] == [
        ("Hello", one, "complete"),
        ("And more", two, "complete"),
    ]
    assert "mscli chat" in harness.stderr and MODEL in harness.stderr
    assert (harness.tmp / "input_history").read_text().count("+Hello") == 1


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


def test_ctrl_c_mid_reply_keeps_the_partial_text_and_the_session_goes_on(harness: Harness) -> None:
    harness.interrupt_after = 3
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

    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    session = harness.session()
    monkeypatch.setattr(session.catalogue, "check", interrupted)
    harness.pipe.send_text("/model gpt-5-mini" + ENTER + "Hello" + ENTER + "/exit" + ENTER)
    assert session.run() == 0
    harness.store.close()
    assert "[cancelled]" in harness.stderr
    (conv,) = harness.conversations()
    assert [e.prompt for e in conv.exchanges] == ["Hello"]
    assert conv.exchanges[0].model == MODEL  # the switch did not happen


def test_enter_after_tab_completion_runs_the_line(harness: Harness) -> None:
    """`/mo` Tab Enter runs /model at once (it took a second Enter). Completion runs
    asynchronously, so the typist presses Enter once the completion is shown, as a person does."""
    import threading
    import time

    session = harness.session()

    def typist() -> None:
        deadline = time.monotonic() + 30
        while session._prompt is None or session._prompt.app.current_buffer.text != "/mo":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        harness.pipe.send_text("\t")
        buf = session._prompt.app.current_buffer
        while buf.text != "/model":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        harness.pipe.send_text(ENTER)
        harness.pipe.send_text("/exit" + ENTER)

    harness.pipe.send_text("/mo")
    thread = threading.Thread(target=typist, daemon=True)
    thread.start()
    try:
        assert session.run() == 0
    finally:
        harness.store.close()
        thread.join(5)
    assert f"model: {MODEL}" in harness.stderr
    assert "unknown command" not in harness.stderr


def test_multiline_input(harness: Harness) -> None:
    assert (
        harness.run("line one\\" + ENTER + "line two" + "\x1b" + ENTER + "three" + ENTER + CTRL_D)
        == 0
    )
    (conv,) = harness.conversations()
    assert conv.exchanges[0].prompt == "line one\nline two\nthree"


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


def test_no_log_session_saves_nothing(harness: Harness) -> None:
    assert harness.run("Hi" + ENTER + CTRL_D, log=False) == 0
    assert harness.conversations() == []
    assert not (harness.tmp / "input_history").exists()
    assert "not saved to history" in harness.stderr


def test_error_is_a_panel_and_the_session_goes_on(
    sandbox: EmbeddedSandbox, pipe: PipeInput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSTACK_API_KEY", sandbox.api_key)
    h = Harness(sandbox, pipe, tmp_path)
    h.session = _session_with_key(h, "sk_test_cutoff")  # type: ignore[method-assign]
    assert h.run("Cut me" + ENTER + "/exit" + ENTER, max_tokens=40) == 0
    assert "The reply was cut off" in h.stderr
    assert "exit 9" not in h.stderr  # the session goes on: the panel announces no exit code
    (conv,) = h.conversations()
    assert conv.exchanges[0].status == "truncated" and conv.exchanges[0].reply


def test_auth_error_offers_to_exit(
    sandbox: EmbeddedSandbox, pipe: PipeInput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSTACK_API_KEY", sandbox.api_key)
    h = Harness(sandbox, pipe, tmp_path)
    h.session = _session_with_key(h, "sk_test_invalid")  # type: ignore[method-assign]
    assert h.run("Hi" + ENTER + "y" + ENTER) == 3
    assert "rejected" in h.stderr


def test_auth_error_declined_goes_on(
    sandbox: EmbeddedSandbox, pipe: PipeInput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSTACK_API_KEY", sandbox.api_key)
    h = Harness(sandbox, pipe, tmp_path)
    h.session = _session_with_key(h, "sk_test_invalid")  # type: ignore[method-assign]
    assert h.run("Hi" + ENTER + "n" + ENTER + CTRL_D) == 0


def _session_with_key(h: Harness, key: str) -> Callable[..., Session]:
    original = Harness.session

    def session(**kw: Any) -> Session:
        s = original(h, **kw)  # the model check runs with the good key
        h.actx.env["MODELSTACK_API_KEY"] = key  # the context copied the environment when built
        h.actx.__dict__.pop("settings", None)
        s.chat._client = h.actx.client()
        return s

    return session


def test_completion_of_commands_and_models(harness: Harness) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from mscli.chat.session import _completer

    comp = _completer(lambda: ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5-mini"])

    def names(text: str) -> list[str]:
        return [c.text for c in comp.get_completions(Document(text), CompleteEvent())]

    assert names("/mo") == ["/model"]
    assert "/temperature" in names("/t")
    assert names("/model claude-") == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert names("hello") == []
    assert names("/system x") == []


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


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminal")
def test_a_session_starts_when_the_model_list_is_temporarily_failing(
    sandbox_factory: Callable[..., Any], subprocess_env: dict[str, str]
) -> None:
    """The model check before a session meets a 5xx: warn and start (the session's own panels
    handle errors); a one-shot still fails at once."""
    sb = sandbox_factory()
    env = {**_pty_env(sb, subprocess_env), "MODELSTACK_API_KEY": "sk_test_server_error"}
    import subprocess

    argv = [
        *_argv(sb)[:3],
        "--max-retries",
        "0",
        *_argv(sb)[3:],
    ]  # python -m mscli --max-retries 0 ...
    term = Pty(argv, env)
    ok = False
    try:
        term.read_until("›".encode())
        term.write(b"/exit\r")
        term.drain()
        ok = True
    finally:
        status = term.finish(30 if ok else 0)
    assert status == 0
    assert "Could not check the model list" in " ".join(term.plain().split())
    one_shot = subprocess.run(
        [*argv, "hi"],
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    assert one_shot.returncode == 7


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

    with HistoryStore.open() as store:
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
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
