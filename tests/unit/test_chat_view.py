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


CODE_DOC = (
    "# Code in several languages\n\n"
    "```python\nimport os\n\n\ndef f(x: int) -> str:\n    return f'{x!r}'  # comment\n```\n\n"
    "```python\n\n# after a blank line\nx = 1\n```\n\n"
    "```javascript\nconst x = async () => { await fetch('/v1'); };\n```\n\n"
    '```bash\nfor f in *.txt; do echo "$f" | wc -l; done\n```\n\n'
    '```rust\nfn main() { println!("{}", 1 + 2); }\n```\n\n'
    '```json\n{"a": [1, 2.5, null, true]}\n```\n\n'
    "```nosuchlanguage\nplain text, unknown lexer\n```\n\n"
    "```\nno info string\n\twith a tab\n```\n\n"
    "    indented code block\n\n"
    "> a quote with `code`\n\n"
    "- a list\n- with **bold**\n\n"
    "1. numbered\n2. items\n"
)


def _colour_console(width: int = 60) -> Console:
    return Console(file=io.StringIO(), width=width, color_system="truecolor", force_terminal=True)


def _printed(print_: Any, width: int = 60) -> str:
    console = _colour_console(width)
    print_(console)
    out: str = console.file.getvalue()  # type: ignore[attr-defined]
    return re.sub(r"id=\d+;", "id=N;", out)  # hyperlink ids are random per render


def test_code_blocks_keep_rich_colours_with_the_lexers_looked_up_once() -> None:
    # The view's code blocks reuse one pygments lexer per language and one theme: the colours
    # must be those of rich.markdown.Markdown, which looks both up on every render (an unknown
    # language falls back to plain text, a tab keeps its width), for every theme and again
    # once the cached lexers are reused.
    for theme in ("monokai", "ansi_dark", "github-dark"):
        view = MarkdownView(_console(), live=False, code_theme=theme)
        for _ in range(2):
            for text in (CODE_DOC, *split_blocks(CODE_DOC)):
                assert _printed(lambda c, t=text, v=view: c.print(v.markdown(t))) == _printed(
                    lambda c, t=text, th=theme: c.print(Markdown(t, code_theme=th))
                ), (theme, text)


def test_a_blocks_rendered_lines_print_the_bytes_rich_prints_for_it() -> None:
    # With the live region on, blocks are rendered once to lines (shown in the live region while
    # they wait, then printed as segments): the bytes must be those of printing the block itself.
    from rich.segment import Segments

    from mscli.output.chat_view import _Block, _Separated

    view = MarkdownView(_colour_console(), live=False)
    for i, text in enumerate(split_blocks(CODE_DOC + "\n\n" + DOC + "\n\n" + TABLE_DOC)):
        block = _Block(text, i > 0)
        lines = view.block_lines(block)
        assert all(line[-1].text == "\n" for line in lines)
        via_lines = _printed(
            lambda c, ls=lines: c.print(Segments([s for line in ls for s in line]), crop=False)
        )
        assert via_lines == _printed(
            lambda c, t=text, sep=i > 0: c.print(_Separated(Markdown(t), sep))
        ), text


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _deferring_view(clock: _Clock) -> tuple[MarkdownView, list[str]]:
    """A live view on a 100x40 colour terminal with a fake clock; the live region's own thread
    redraws only when started and stopped (refresh period: 1,000 s of the fake clock, ~17 min
    of real time); returns the view and the list of the texts of its prints."""
    console = Console(
        file=io.StringIO(),
        width=100,
        height=40,
        color_system="truecolor",
        force_terminal=True,
        legacy_windows=False,
    )
    prints: list[str] = []
    real_print = console.print

    def print_(*objects: Any, **kwargs: Any) -> None:
        from rich.segment import Segments

        for o in objects:
            if isinstance(o, Segments):
                prints.append("".join(s.text for s in o.segments))
        real_print(*objects, **kwargs)

    console.print = print_  # type: ignore[method-assign]
    view = MarkdownView(console, live=True, refresh_per_second=0.001)
    view._clock = clock
    return view, prints


def _region_text(view: MarkdownView) -> list[str]:
    """The live region's lines as it would draw them now, stripped."""
    from rich.live_render import LiveRender

    from mscli.output.chat_view import _Tail

    shown = view.console.render_lines(LiveRender(_Tail(view)), pad=False)
    return ["".join(s.text for s in line).strip() for line in shown]


def test_blocks_finished_within_a_refresh_period_are_printed_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # a dumb terminal gets no live region
    clock = _Clock()
    view, prints = _deferring_view(clock)
    view.feed("Intro.\n\n")
    view.feed("## First\n\n")  # "Intro." is finished: printed at once (nothing printed before)
    assert len(prints) == 1 and "Intro." in prints[0]
    view.feed("Para one.\n\n")  # "## First" is finished within the period: it waits...
    view.feed("Para two.\n\nTai")  # ... and so does "Para one."
    assert len(prints) == 1
    # ... shown in the live region as they will be printed, then the tail below them
    assert _region_text(view) == ["", "First", "", "Para one.", "Para two.", "", "Tai"]
    clock.now += 1000  # a refresh period later, the next text prints them, in one print
    view.feed("l")
    assert len(prints) == 2
    assert "First" in prints[1] and "Para one." in prints[1] and "Para two" not in prints[1]
    # the live region drawn below them by that print shows only the tail
    assert _region_text(view) == ["Para two.", "", "Tail"]
    written = view.console.file.getvalue()  # type: ignore[attr-defined]
    # "First": drawn as the tail below "Intro." by the first print, then printed; "Para one.":
    # only printed (the region's own thread redraws only at start and stop here)
    assert written.count("First") == 2 and written.count("Para one.") == 1
    view.close()
    assert len(prints) == 2  # close() prints the rest without a live region
    from support.vt import render as vt_render

    out = view.console.file.getvalue()  # type: ignore[attr-defined]
    screen = [
        line.rstrip()
        for line in vt_render(out.replace("\n", "\r\n").encode(), 100, 40).text_lines()
    ]
    assert [line.strip() for line in screen if line.strip()] == [
        "Intro.",
        "First",
        "Para one.",
        "Para two.",
        "Tail",
    ]


def test_blocks_finishing_at_a_readers_pace_print_as_they_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # a dumb terminal gets no live region
    clock = _Clock()
    view, prints = _deferring_view(clock)
    for i in range(5):
        clock.now += 1000  # more than a refresh period between blocks
        view.feed(f"Paragraph {i}.\n\n")
    assert [p.strip() for p in prints] == [f"Paragraph {i}." for i in range(4)]
    view.close()


def test_waiting_blocks_are_printed_before_they_fill_half_the_live_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # a dumb terminal gets no live region
    clock = _Clock()
    view, prints = _deferring_view(clock)
    for i in range(40):  # all within one refresh period
        view.feed(f"Paragraph {i}.\n\n")
    # 40 rows: at most 19 lines wait (a paragraph and its blank line take 2)
    assert 3 <= len(prints) <= 6
    assert all(p.count("\n") <= 19 + 2 for p in prints)
    view.close()
    out = view.console.file.getvalue()  # type: ignore[attr-defined]
    for i in range(40):
        assert f"Paragraph {i}." in out


def test_ctrl_c_while_waiting_blocks_print_drops_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    from rich.segment import Segments

    clock = _Clock()
    view, prints = _deferring_view(clock)
    view.feed("Intro.\n\n")
    view.feed("## First\n\n")  # Intro. printed at once
    view.feed("Para one.\n\nPara two.\n\n")  # First and Para one. wait
    assert len(prints) == 1
    real_print = view.console.print

    def interrupted(*objects: Any, **kwargs: Any) -> None:
        if any(isinstance(o, Segments) for o in objects):
            raise KeyboardInterrupt
        real_print(*objects, **kwargs)

    view.console.print = interrupted  # type: ignore[method-assign]
    clock.now += 1000
    with pytest.raises(KeyboardInterrupt):
        view.feed("x")
    view.console.print = real_print  # type: ignore[method-assign]
    view.close()
    from support.vt import render as vt_render

    out = view.console.file.getvalue()  # type: ignore[attr-defined]
    screen = vt_render(out.replace("\n", "\r\n").encode(), 100, 40).text_lines()
    assert [line.strip() for line in screen if line.strip()] == [
        "Intro.",
        "First",
        "Para one.",
        "Para two.",
        "x",
    ]
