"""The streaming markdown renderer: block splitting, split-point invariance, the three views."""

from __future__ import annotations

import io
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.markdown import Markdown

from mscli.output.chat_view import (
    BlockSplitter,
    MarkdownView,
    PipeView,
    RawView,
    quiet_input,
    render_markdown,
    split_blocks,
)
from mscli.terminal import Terminal

DOC = (
    "## A heading\n\n"
    "A paragraph with **bold** and `code`,\nwrapped over two lines.\n\n"
    "- one\n- two\n\n- three, loose\n  continued\n\n"
    "```python\ndef f():\n\n    return 1\n\n\n```\n\n"
    "> a quote\n\n"
    "1. first\n2. second\n\n"
    "~~~\ntilde fence\n\n~~~\n\n"
    "Last words é 🚀"
)


def _console(terminal: bool = False) -> Console:
    return Console(
        file=io.StringIO(),
        width=72,
        color_system=None,
        force_terminal=terminal,
        legacy_windows=False,
    )


def _stream(chunks: list[str]) -> str:
    console = _console()
    view = MarkdownView(console, live=False)
    for c in chunks:
        view.feed(c)
    view.close()
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_blocks_of_a_document() -> None:
    blocks = split_blocks(DOC)
    assert blocks[0] == "## A heading\n"
    assert blocks[1].startswith("A paragraph") and blocks[1].endswith("two lines.\n")
    assert blocks[2] == "- one\n- two\n\n- three, loose\n  continued\n"  # one list stays one block
    assert (
        blocks[3] == "```python\ndef f():\n\n    return 1\n\n\n```\n"
    )  # blank lines inside the fence
    assert blocks[4] == "> a quote\n"
    assert blocks[5] == "1. first\n2. second\n"
    assert blocks[6] == "~~~\ntilde fence\n\n~~~\n"
    assert blocks[7] == "Last words é 🚀"
    assert len(blocks) == 8


def test_fenced_code_with_blank_lines_is_one_block() -> None:
    text = "```\na\n\n\nb\n\n```\nafter\n\nnext\n"
    assert split_blocks(text) == ["```\na\n\n\nb\n\n```\nafter\n", "next\n"]


def test_unclosed_fence_keeps_everything_in_one_block() -> None:
    text = "intro\n\n```sh\necho 1\n\necho 2\n"
    assert split_blocks(text) == ["intro\n", "```sh\necho 1\n\necho 2\n"]


def test_longer_fence_needs_a_closing_fence_as_long() -> None:
    text = "````\n```\ninner\n\n```\n````\n\nafter\n"
    assert split_blocks(text) == ["````\n```\ninner\n\n```\n````\n", "after\n"]


def test_indented_code_after_a_blank_line_stays_with_its_block() -> None:
    text = "para\n\n    code\n\n    more code\n\nnext\n"
    assert split_blocks(text) == ["para\n\n    code\n\n    more code\n", "next\n"]


def test_crlf_line_endings() -> None:
    assert split_blocks("a\r\n\r\nb\r\n") == ["a\r\n", "b\r\n"]


@pytest.mark.parametrize("text", [DOC, "x", "", "\n\n\n", "```\nunclosed\n\ncode", "a\n\n\n\nb"])
def test_blocks_do_not_depend_on_chunking(text: str) -> None:
    whole = split_blocks(text)
    for i in range(len(text) + 1):
        s = BlockSplitter()
        got = s.feed(text[:i]) + s.feed(text[i:]) + s.finish()
        assert got == whole, i
    s = BlockSplitter()
    got = [b for ch in text for b in s.feed(ch)] + s.finish()
    assert got == whole


def test_rendered_output_is_the_same_at_every_split_point() -> None:
    expected = _stream([DOC])
    for i in range(len(DOC) + 1):
        assert _stream([DOC[:i], DOC[i:]]) == expected, i
    assert _stream(list(DOC)) == expected


def test_streamed_render_matches_rich_rendering_the_whole_reply() -> None:
    console = _console()
    console.print(Markdown(DOC))
    assert _stream([DOC]) == console.file.getvalue()  # type: ignore[attr-defined]


def test_markdown_view_on_a_terminal_keeps_every_block_and_clears_the_live_region() -> None:
    console = _console(terminal=True)
    view = MarkdownView(console, live=True, refresh_per_second=50)
    for ch in DOC:
        view.feed(ch)
    view.close()
    out = console.file.getvalue()  # type: ignore[attr-defined]
    for needle in ("A heading", "return 1", "a quote", "tilde fence", "Last words"):
        assert needle in out


def test_close_after_partial_text_prints_the_tail() -> None:
    out = _stream(["Half a sent"])
    assert "Half a sent" in out


def test_preview_is_bounded_for_a_huge_tail() -> None:
    console = _console()
    view = MarkdownView(console, live=False)
    view.feed("```\n" + "line\n" * 10_000)
    preview = view.preview_text()
    assert preview.startswith("```\n")  # the fence opener is kept so the preview renders as code
    assert len(preview) < 10_000
    view.close()


def test_markup_in_the_reply_is_not_interpreted() -> None:
    out = _stream(["[bold red]not markup[/] \x1b[31mno escape\n"])
    assert "[bold red]not markup[/]" in out
    assert "\x1b" not in out


def test_render_markdown_whole() -> None:
    console = _console()
    render_markdown(console, DOC)
    assert console.file.getvalue() == _stream([DOC])  # type: ignore[attr-defined]


class _Bin(io.BytesIO):
    pass


def test_pipe_view_writes_exact_utf8_bytes_and_flushes_per_chunk() -> None:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="ascii")  # a non-UTF-8 text layer must not matter
    flushes: list[int] = []
    orig = raw.flush

    def flush() -> None:
        flushes.append(len(raw.getvalue()))
        orig()

    raw.flush = flush  # type: ignore[method-assign]
    view = PipeView(text)
    for chunk in ["## Hé", "llo 🚀\n", "\x1b[31m", "end"]:
        view.feed(chunk)
    view.close()
    assert raw.getvalue() == "## Héllo 🚀\n\x1b[31mend".encode()
    assert len(flushes) >= 4


class _Raw(io.RawIOBase):
    """A raw file that records what reaches it; `script` says what each write does: accept n
    bytes (an int), "again" (a non-blocking descriptor: None), "interrupt" (Ctrl-C), or, past its
    end, accept everything."""

    def __init__(self, script: list[int | str] | None = None) -> None:
        self.got = bytearray()
        self.script = list(script or [])

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int | None:
        data = bytes(b)
        action = self.script.pop(0) if self.script else len(data)
        if action == "interrupt":
            raise KeyboardInterrupt
        if action == "again":
            return None
        assert isinstance(action, int)
        self.got += data[:action]
        return min(action, len(data))


def _stdout_on(raw: _Raw) -> io.TextIOWrapper:
    """Like sys.stdout on a pipe: text over a BufferedWriter over a raw file."""
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")


def test_pipe_view_on_a_buffered_file_sends_each_piece_at_once() -> None:
    raw = _Raw()
    out = _stdout_on(raw)
    out.write("before ")  # earlier output, still in the text and byte buffers, comes first
    view = PipeView(out)
    for piece in ["## Hé", "llo 🚀\n", "\ud800", "\x1b[31m", "end"]:
        view.feed(piece)
        assert raw.got.endswith(piece.encode("utf-8", "replace"))  # now, not at close()
    view.close()
    assert bytes(raw.got) == "before ## Héllo 🚀\n?\x1b[31mend".encode()


@pytest.mark.parametrize("script", [[3], ["again"], [3, 1]])
def test_pipe_view_sends_the_rest_of_a_short_write(script: list[int | str]) -> None:
    raw = _Raw(script)
    view = PipeView(_stdout_on(raw))
    view.feed("hello")
    assert bytes(raw.got) == b"hello"
    view.feed(" world")
    view.close()
    assert bytes(raw.got) == b"hello world"


def test_pipe_view_keeps_the_bytes_of_an_interrupted_write_in_order() -> None:
    raw = _Raw(["interrupt"])
    view = PipeView(_stdout_on(raw))
    with pytest.raises(KeyboardInterrupt):
        view.feed("a")
    view.feed("b")
    view.close()
    assert bytes(raw.got) == b"ab"


def test_raw_view_strips_escapes_and_ends_with_a_newline() -> None:
    raw = io.BytesIO()
    view = RawView(io.TextIOWrapper(raw, encoding="utf-8"))
    view.feed("a\x1b[2Jb\x07")
    view.feed("c")
    view.close()
    assert raw.getvalue() == b"a[2Jbc\n"


# --- quiet_input: the terminal's echo off while a reply streams ---------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="termios")
def test_quiet_input_turns_echo_off_and_restores_it_even_after_ctrl_c() -> None:
    import pty
    import termios

    master, slave = pty.openpty()
    try:
        tty = os.fdopen(slave, "r", closefd=False)
        before = termios.tcgetattr(slave)
        assert before[3] & termios.ECHO and before[3] & termios.ECHOCTL
        with pytest.raises(KeyboardInterrupt), quiet_input(tty) as active:
            assert active
            lflag = termios.tcgetattr(slave)[3]
            assert not lflag & termios.ECHO and not lflag & termios.ECHOCTL
            assert lflag & termios.ISIG and lflag & termios.ICANON  # Ctrl-C still interrupts
            raise KeyboardInterrupt
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(slave)
        os.close(master)


def test_quiet_input_is_a_no_op_off_a_terminal(tmp_path: Path) -> None:
    with quiet_input(io.StringIO()) as active:
        assert not active
    with open(tmp_path / "f", "w") as fh, quiet_input(fh) as active:
        assert not active


@pytest.mark.skipif(sys.platform == "win32", reason="termios")
def test_quiet_input_uses_stdouts_terminal_when_stdin_is_a_pipe() -> None:
    """`cat notes | mscli chat "summarize"` on a terminal: stdin is the pipe, the terminal is
    stdout's, and its echo goes off (keys typed there would otherwise land in the live region)."""
    import pty
    import termios

    master, slave = pty.openpty()
    r, w = os.pipe()
    try:
        term = Terminal(
            stdin=os.fdopen(r, "r", closefd=False),
            stdout=os.fdopen(slave, "w", closefd=False),
            stderr=io.StringIO(),
            stdin_tty=False,
            stdout_tty=True,
        )
        with quiet_input(term.controlling) as active:
            assert active
            assert not termios.tcgetattr(slave)[3] & termios.ECHO
        assert termios.tcgetattr(slave)[3] & termios.ECHO
    finally:
        for fd in (master, slave, r, w):
            os.close(fd)


class _RefreshWhenReleased:
    """The Live's lock, such that whenever the main thread lets go of it completely, a refresh
    from another thread runs to its end before the main thread goes on. Rich computes how far to
    erase the live region under this lock and writes afterwards: the refresh lands in that gap
    every time, where the live region's own thread landed only now and then on a loaded machine.
    """

    def __init__(self, live: Any) -> None:
        self.live = live
        self.lock = live._lock
        self.depth = 0  # the main thread's holds

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        got = bool(self.lock.acquire(*args, **kwargs))
        if got and threading.current_thread() is threading.main_thread():
            self.depth += 1
        return got

    def release(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        if main:
            self.depth -= 1
        self.lock.release()
        if main and self.depth == 0:
            refresher = threading.Thread(target=self.live.refresh)
            refresher.start()
            refresher.join(30)
            assert not refresher.is_alive(), "the refresh never got the lock"

    def __enter__(self) -> _RefreshWhenReleased:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_live_refreshes_never_erase_finished_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live region's thread redraws while the main thread prints finished blocks. Rich works
    out how many lines to erase under the Live lock but writes after releasing it, so a redraw in
    between made the next print erase lines of finished text (seen on loaded machines). With the
    view holding the Live lock for the whole print, the final screen (scrollback included) is the
    whole reply rendered once. `_RefreshWhenReleased` puts a redraw in that gap every time the
    main thread lets go of the lock (without the view's lock, dozens of lines are lost)."""
    import itertools

    from mscli.sandbox.generator import iter_tokens
    from support.vt import render

    tokens = list(
        itertools.islice(iter_tokens([{"role": "user", "content": "Explain streams"}], 0), 1200)
    )
    cols, rows = 80, 24
    monkeypatch.setenv("TERM", "xterm-256color")  # a dumb terminal gets no live redraws at all

    def console(terminal: bool) -> Console:
        return Console(
            file=io.StringIO(),
            width=cols,
            height=rows,
            color_system=None,
            force_terminal=terminal,
            legacy_windows=False,
        )

    expected_console = console(False)
    render_markdown(expected_console, "".join(tokens))
    expected = [line.rstrip() for line in expected_console.file.getvalue().splitlines()]  # type: ignore[attr-defined]

    live_console = console(True)
    view = MarkdownView(live_console, live=True)
    for token in tokens:
        view.feed(token)
        live = view._live
        if live is not None and not isinstance(live._lock, _RefreshWhenReleased):
            live._lock = _RefreshWhenReleased(live)  # type: ignore[assignment]
    view.close()
    written = live_console.file.getvalue().replace("\n", "\r\n")  # type: ignore[attr-defined]  # a tty's ONLCR
    got = [line.rstrip() for line in render(written.encode(), cols, rows).text_lines()]
    while got and not got[-1]:
        got.pop()
    while expected and not expected[-1]:
        expected.pop()
    assert got == expected


def test_ctrl_c_while_a_block_prints_drops_no_block() -> None:
    """Ctrl-C landing in the middle of printing finished blocks: the block being printed and the
    ones after it are printed by close(), not lost."""
    console = _console()
    real_print = console.print
    calls = {"n": 0}

    def print_(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # SIGINT while the second block renders
        real_print(*args, **kwargs)  # type: ignore[arg-type]

    console.print = print_  # type: ignore[method-assign]
    view = MarkdownView(console, live=False)
    interrupted = False
    for chunk in ("# Title\n\nSecond block\n\nThird", " block\n\nFourth"):
        try:
            view.feed(chunk)
        except KeyboardInterrupt:
            interrupted = True
            break  # as chat does: stop feeding, then close
    view.close()
    assert interrupted
    out = console.file.getvalue()  # type: ignore[attr-defined]
    for text in ("Title", "Second block"):
        assert out.count(text) == 1, text
    assert out.index("Title") < out.index("Second block")


TABLE_DOC = (
    "| a | b |\n|---|---|\n| ~~gone~~ | **kept** |\n\n"
    "Text with ~~strike~~, `code` and a [link](https://example.com).\n\n"
    "```python\nprint('hi')\n```\n"
)


def test_reused_parser_renders_exactly_as_rich_markdown() -> None:
    # MarkdownView parses with one MarkdownIt for the whole reply; the result must be what
    # rich.markdown.Markdown gives (tables and strikethrough enabled, same code theme), in colour.
    def render(md: object) -> str:
        console = Console(
            file=io.StringIO(), width=60, color_system="truecolor", force_terminal=True
        )
        console.print(md)
        out: str = console.file.getvalue()  # type: ignore[attr-defined]
        return re.sub(r"id=\d+;", "id=N;", out)  # hyperlink ids are random per render

    view = MarkdownView(_console(), live=False, code_theme="monokai")
    for text in (TABLE_DOC, DOC, TABLE_DOC):  # the parser is reused across texts
        assert render(view.markdown(text)) == render(Markdown(text, code_theme="monokai"))


def test_an_unchanged_tail_is_not_rendered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    console = _console(terminal=True)
    view = MarkdownView(console, live=False)
    rendered: list[str] = []
    real = view.markdown

    def counting(text: str) -> object:
        rendered.append(text)
        return real(text)

    monkeypatch.setattr(view, "markdown", counting)
    view.feed("## A heading\n\nA paragraph still being writ")
    from mscli.output.chat_view import _Tail

    tail = _Tail(view)
    for _ in range(5):  # five refreshes of the live region while the model pauses
        console.print(tail)
    assert len(rendered) == 1
    view.feed("ten")
    console.print(tail)
    assert len(rendered) == 2 and rendered[-1].endswith("written")
