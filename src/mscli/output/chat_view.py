"""Streaming renderers for chat replies.

Three views, one interface (`feed(text)` per chunk, `close()` once):

* `MarkdownView`, for a terminal: the reply is cut into finished top-level markdown blocks (separated by
  a blank line, never inside a fenced code block, and never between the items of one list). Each
  finished block is rendered with Rich Markdown and printed **once**; only the unfinished tail is shown
  in a small transient `rich.live.Live` region, cropped to the screen and built from a bounded slice of
  the text. So the cost is linear in the reply's length, and a reply longer than the screen scrolls like
  normal output: it never collapses or flickers.
* `PipeView`, for a pipe or file: exactly the text received, UTF-8, flushed per chunk, no escape codes.
* `RawView`, `--raw` on a terminal: the plain text, with control characters (escape sequences a model
  could emit) removed, and a final newline so the prompt starts on its own line.

`Waiting` wraps a view on a terminal: the wait is shown on stderr (`AppContext.waiting`, as for every
request) from the request until the first text or the end, so a slow first token is no hang.

`quiet_input()` turns the terminal's echo off while a rendered reply streams: an echoed `^C` or
type-ahead would land inside the live region, make it a line taller than Rich thinks, and leave a
stale line (a heading printed twice) when the region is erased.

The block splitter (`BlockSplitter`) only decides on complete lines, so where the chunks were split
never changes the blocks (tests feed every split point).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import IO, TYPE_CHECKING, Any, Protocol

from mscli.redact import strip_control

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live


_FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")

#: How much of the unfinished tail the live region renders (it is only a preview).
PREVIEW_MAX_LINES = 60
PREVIEW_MAX_CHARS = 8000


class BlockSplitter:
    """Incremental markdown block splitter: text in, finished top-level blocks out.

    A block ends at a blank line outside a fenced code block, confirmed by the next non-blank line
    starting at column 0 (an indented line continues a list item or an indented code block) and not
    being another item of the same list. Every decision is taken on complete lines, so the blocks
    depend only on the text, not on how it was chunked.
    """

    def __init__(self) -> None:
        self._partial: list[str] = []  # the current incomplete line, in pieces
        self._partial_len = 0
        self._lines: list[str] = []  # complete lines of the unfinished block
        self._blanks: list[str] = []  # blank lines after it, pending a decision
        self._fence: tuple[str, int] | None = None  # (char, length) of the open fence
        self._fence_line = ""
        self._is_list = False

    # -- feeding ------------------------------------------------------------------------------

    def feed(self, text: str) -> list[str]:
        """Add text; return the blocks it finished (usually none or one)."""
        done: list[str] = []
        start = 0
        while True:
            nl = text.find("\n", start)
            if nl < 0:
                break
            piece = text[start : nl + 1]
            if self._partial:
                self._partial.append(piece)
                line = "".join(self._partial)
                self._partial = []
                self._partial_len = 0
            else:
                line = piece
            block = self._line(line)
            if block is not None:
                done.append(block)
            start = nl + 1
        if start < len(text):
            rest = text[start:]
            self._partial.append(rest)
            self._partial_len += len(rest)
            if len(self._partial) > 256:  # keep the piece list short (amortised linear)
                self._partial = ["".join(self._partial)]
        return done

    def finish(self) -> list[str]:
        """End of the reply: the remaining blocks (the last line may lack its newline)."""
        done: list[str] = []
        if self._partial:
            line = "".join(self._partial)
            self._partial = []
            self._partial_len = 0
            block = self._line(line)
            if block is not None:
                done.append(block)
        if self._lines:
            done.append("".join(self._lines))
        self._lines = []
        self._blanks = []
        self._fence = None
        self._is_list = False
        return done

    def _line(self, line: str) -> str | None:
        if self._fence is not None:
            self._lines.append(line)
            char, length = self._fence
            s = line.rstrip("\r\n")
            body = s.lstrip(" ")
            if (
                len(s) - len(body) <= 3
                and body.startswith(char * length)
                and body.strip(char).strip() == ""
            ):
                self._fence = None
            return None
        if not line.strip():
            if self._lines:
                self._blanks.append(line)
            return None
        finished: str | None = None
        if self._blanks:
            if self._starts_block(line):
                finished = "".join(self._lines)
                self._lines = []
                self._is_list = False
            else:
                self._lines.extend(self._blanks)
            self._blanks = []
        if not self._lines:
            self._is_list = bool(_LIST_ITEM.match(line))
        self._lines.append(line)
        m = _FENCE_OPEN.match(line.rstrip("\r\n"))
        if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            self._fence = (m.group(2)[0], len(m.group(2)))
            self._fence_line = line if line.endswith("\n") else line + "\n"
        return finished

    def _starts_block(self, line: str) -> bool:
        if line[0] in " \t":
            return False
        return not (self._is_list and _LIST_ITEM.match(line))

    # -- the unfinished tail ------------------------------------------------------------------

    def tail(self, max_lines: int | None = None, max_chars: int | None = None) -> str:
        """The unfinished text (bounded for previews: the last lines, fence opener kept)."""
        lines = self._lines if max_lines is None else self._lines[-max_lines:]
        head = ""
        if max_lines is not None and len(self._lines) > max_lines and self._fence is not None:
            head = self._fence_line
        partial = "".join(self._partial)
        if max_chars is not None and len(partial) > max_chars:
            partial = partial[-max_chars:]
        text = "".join(lines) + "".join(self._blanks) + partial
        if max_chars is not None and len(text) > max_chars:
            text = text[-max_chars:]
            nl = text.find("\n")
            if 0 <= nl < len(text) - 1:
                text = text[nl + 1 :]
        return head + text


def split_blocks(text: str) -> list[str]:
    """All blocks of a complete text (what streaming it in any chunks gives)."""
    s = BlockSplitter()
    return s.feed(text) + s.finish()


# --- views ------------------------------------------------------------------------------------


class ReplyView(Protocol):
    def feed(self, text: str) -> None: ...

    def close(self) -> None: ...


class Waiting:
    """`view`, after `waiting` (what shows the wait: `AppContext.waiting`) until the first text
    arrives or the exchange ends."""

    def __init__(self, view: ReplyView, waiting: AbstractContextManager[None]) -> None:
        self.view = view
        self._waiting: AbstractContextManager[None] | None = waiting
        waiting.__enter__()

    def _end(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.__exit__(None, None, None)

    def feed(self, text: str) -> None:
        self._end()
        self.view.feed(text)

    def close(self) -> None:
        self._end()
        self.view.close()


class PipeView:
    """Exactly the text received, UTF-8, flushed per chunk (a pipe or a file).

    On a buffered binary file (stdout), each piece goes straight to the raw file in one write
    (~0.4 us a token less than a copy into the buffer and a flush): the buffer is flushed when the
    view is made and nothing else writes to the stream while a reply streams, so the bytes and
    their order are those of write + flush. A write that fails (a closed pipe, Ctrl-C) or comes
    back short (a signal, a non-blocking descriptor) leaves its bytes in the buffer, for
    `close()` or the next flush, as write + flush did, and the view goes on through the buffer.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._text = stream
        self._bin: IO[bytes] | None = getattr(stream, "buffer", None)
        #: the raw file's write, while the buffer above it holds nothing
        self._raw_write: Callable[[bytes], int | None] | None = None
        if self._bin is not None:
            stream.flush()
            raw = getattr(self._bin, "raw", None)
            if isinstance(raw, io.RawIOBase):
                self._raw_write = raw.write

    def feed(self, text: str) -> None:
        if not text:
            return
        if self._raw_write is not None:
            data = text.encode("utf-8", "replace")
            try:
                written = self._raw_write(data)
            except BaseException:  # nothing was written: the bytes wait in the buffer
                self._buffered(data, flush=False)
                raise
            if written != len(data):  # None: nothing written (a non-blocking descriptor)
                self._buffered(data[written:], flush=True)
        elif self._bin is not None:
            self._bin.write(text.encode("utf-8", "replace"))
            self._bin.flush()
        else:
            self._text.write(text)
            self._text.flush()

    def _buffered(self, data: bytes, *, flush: bool) -> None:
        """From now on through the buffer (so nothing can overtake what it holds)."""
        assert self._bin is not None
        self._raw_write = None
        self._bin.write(data)
        if flush:
            self._bin.flush()

    def close(self) -> None:
        if self._bin is not None:
            self._bin.flush()
        else:
            self._text.flush()


class RawView:
    """Plain text on a terminal (`--raw`): control characters removed, final newline ensured."""

    def __init__(self, stream: IO[str]) -> None:
        self._pipe = PipeView(stream)
        self._last = "\n"

    def feed(self, text: str) -> None:
        text = strip_control(text)
        if text:
            self._last = text[-1]
            self._pipe.feed(text)

    def close(self) -> None:
        if self._last != "\n":
            self._pipe.feed("\n")
            self._last = "\n"
        self._pipe.close()


class _Separated:
    """A rendered block preceded by one blank line, unless it already starts with one."""

    def __init__(self, inner: Any, separate: bool) -> None:
        self.inner = inner
        self.separate = separate

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        pending = self.separate
        for seg in console.render(self.inner, options):
            if pending and seg.text:
                if not seg.text.startswith("\n"):
                    yield Segment.line()
                pending = False
            yield seg


def _code_block_class() -> type[Any]:
    """Rich's markdown code block (`rich.markdown.CodeBlock`), with the pygments lexer and the
    syntax theme looked up once per language and theme instead of on every render: `Syntax` given
    a name calls `get_lexer_by_name` (a scan of pygments' lexer table, ~0.2 ms) and builds a new
    theme each time it renders, which a streamed reply does for every code block and every live
    tail inside one. `Syntax` accepts the lexer and theme objects themselves; they are built with
    the options `Syntax` uses for a name (an unknown name falls back to its "text" lexer, as
    `Syntax.highlight` does), so the output is the same (test)."""
    global _CODE_BLOCK
    if _CODE_BLOCK is None:
        from functools import lru_cache

        from pygments.util import ClassNotFound
        from rich.markdown import CodeBlock
        from rich.syntax import Syntax

        tab_size = 4  # Syntax's default, which CodeBlock keeps

        @lru_cache(maxsize=64)
        def lexer(name: str) -> Any:
            from pygments.lexers import get_lexer_by_name

            options = {"stripnl": False, "ensurenl": True, "tabsize": tab_size}
            try:
                return get_lexer_by_name(name, **options)
            except ClassNotFound:
                return get_lexer_by_name("text", **options)

        @lru_cache(maxsize=8)
        def theme(name: str) -> Any:
            return Syntax.get_theme(name)

        class CachedCodeBlock(CodeBlock):
            def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
                code = str(self.text).rstrip()
                yield Syntax(
                    code,
                    lexer(self.lexer_name),
                    theme=theme(self.theme),
                    word_wrap=True,
                    padding=1,
                    tab_size=tab_size,
                )

        _CODE_BLOCK = CachedCodeBlock
    return _CODE_BLOCK


_CODE_BLOCK: type[Any] | None = None


class _Tail:
    """The live region: the finished blocks not printed yet (their lines as they will be printed,
    see `MarkdownView._print_pending`), then the unfinished tail as markdown, cropped to the last
    lines. The tail is rendered again only when it, the width or the height changed: a refresh
    of an unchanged tail (the model pausing) redraws the lines kept from the last render."""

    def __init__(self, view: MarkdownView) -> None:
        self.view = view
        self._key: tuple[Any, ...] | None = None
        self._lines: list[Any] = []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        pending, text = self.view.preview()
        if not pending and not text.strip():
            return
        height = max(3, (options.height or console.height) - 2)
        key = (pending, text, options.max_width, height)
        if key != self._key:
            lines: list[list[Segment]] = []
            for block in pending:
                lines.extend(_unterminated(line) for line in self.view.block_lines(block))
            if text.strip():
                lines.extend(
                    console.render_lines(
                        self.view.markdown(text), options.update(height=None), pad=False
                    )
                )
            self._lines = [[*line, Segment.line()] for line in lines[-height:]]
            self._key = key
        for line in self._lines:
            yield from line


def _unterminated(line: list[Any]) -> list[Any]:
    """A printed line without its newline segment (the live region adds its own)."""
    return line[:-1] if line and line[-1].text == "\n" else line


class _Block:
    """A finished block waiting to be printed, and its lines once rendered (for one width)."""

    __slots__ = ("lines", "separate", "text", "width")

    def __init__(self, text: str, separate: bool) -> None:
        self.text = text
        self.separate = separate
        self.lines: list[Any] | None = None
        self.width = 0


class MarkdownView:
    """Markdown rendered as it streams: finished blocks printed once, the tail redrawn in a Live.

    With the live region on, finished blocks are printed at most once per refresh period (and
    sooner when they would fill half the region): printing a block redraws the live region below
    it, and when blocks finish faster than the region refreshes, that redraw (a markdown render of
    a tail that changes again at once) cost as much as the block itself. A block waiting for the
    next print is shown in the live region with the lines it will be printed with (rendered once,
    `block_lines`), so the screen shows the same text at every moment, at most one refresh period
    later in the scrollback; at the pace of a model read by a person, every block still prints as
    it finishes."""

    def __init__(
        self,
        console: Console,
        *,
        live: bool | None = None,
        code_theme: str = "monokai",
        refresh_per_second: float = 12.0,
    ) -> None:
        self.console = console
        self.code_theme = code_theme
        self._use_live = console.is_interactive if live is None else live
        self._refresh = refresh_per_second
        self._split = BlockSplitter()
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._printed = 0
        self._finished = 0  # blocks finished so far (printed or pending)
        self._last_print = float("-inf")  # time.monotonic() of the last print in the live region
        self._closed = False
        self._clock = time.monotonic
        self._pending_rendered = 0  # how many of the pending blocks have their lines rendered
        self._pending_lines = 0  # and how many lines they take
        self._pending: tuple[_Block, ...] = ()  # finished blocks not printed yet, in order
        self._template: Any = None  # an empty rich Markdown, copied for each block
        self._parser: Any = None  # one MarkdownIt for the whole reply

    def markdown(self, text: str) -> Any:
        """``rich.markdown.Markdown(text)``, without building a new MarkdownIt parser (~0.25 ms,
        more than parsing a block) for each block and each tail render: a copy of an empty
        Markdown gets the text parsed by the view's one parser, configured as Rich does."""
        if self._template is None:
            from markdown_it import MarkdownIt
            from rich.markdown import Markdown

            self._template = Markdown("", code_theme=self.code_theme)
            code_block = _code_block_class()
            self._template.elements = {
                **Markdown.elements,
                "fence": code_block,
                "code_block": code_block,
            }
            self._parser = MarkdownIt().enable("strikethrough").enable("table")
        md = copy.copy(self._template)
        md.markup = text
        md.parsed = self._parser.parse(text)
        return md

    def preview_text(self) -> str:
        with self._lock:
            return self._split.tail(PREVIEW_MAX_LINES, PREVIEW_MAX_CHARS)

    def preview(self) -> tuple[tuple[_Block, ...], str]:
        """What the live region shows: the blocks waiting to be printed, and the tail."""
        with self._lock:
            return self._pending, self._split.tail(PREVIEW_MAX_LINES, PREVIEW_MAX_CHARS)

    def block_lines(self, block: _Block) -> list[Any]:
        """The segments `console.print` writes for the block (one blank line before it unless it
        is the first), split into lines that end in a newline segment; rendered once per width.
        Called with the live region's lock held (or without a live region)."""
        width = self.console.width
        if block.lines is None or block.width != width:
            from rich.segment import Segment

            # The options and cropping of `Console.print` with its defaults.
            options = self.console.options.update(
                justify=None, overflow=None, height=None, no_wrap=None, markup=None, highlight=None
            )
            rendered = self.console.render(
                _Separated(self.markdown(block.text), block.separate), options
            )
            block.lines = list(Segment.split_and_crop_lines(rendered, width, pad=False))
            block.width = width
        return block.lines

    def _live_lock(self) -> AbstractContextManager[Any]:
        lock = getattr(self._live, "_lock", None) if self._live is not None else None
        return lock if lock is not None else contextlib.nullcontext()

    def feed(self, text: str) -> None:
        if getattr(self.console, "pipe_closed", False):  # found by the live region's thread
            raise BrokenPipeError(32, "the reader of this output went away")
        if not text or self._closed:
            return
        text = strip_control(text)  # no escape sequence from a model reaches the terminal
        with self._lock:
            blocks = self._split.feed(text)
            if blocks:
                self._pending += tuple(
                    _Block(b, self._finished + i > 0) for i, b in enumerate(blocks)
                )
                self._finished += len(blocks)
        if self._pending and (
            self._live is None
            or len(self._pending) > self._pending_rendered
            or self._clock() - self._last_print >= 1 / self._refresh
        ):
            self._print_pending()
        if self._use_live and self._live is None:
            from rich.live import Live

            self._live = Live(
                _Tail(self),
                console=self.console,
                auto_refresh=True,
                refresh_per_second=self._refresh,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def close(self) -> None:
        """Print what is left (also after an error or Ctrl-C: partial text is never dropped)."""
        if self._closed:
            return
        self._closed = True
        live, self._live = self._live, None
        try:
            if live is not None:
                live.stop()
        finally:
            with self._lock:
                blocks = self._split.finish()
                self._pending += tuple(
                    _Block(b, self._finished + i > 0) for i, b in enumerate(blocks)
                )
                self._finished += len(blocks)
            self._print_pending()

    def _print_pending(self) -> None:
        """Print the finished blocks in order; a block leaves the list only once printed, so a
        Ctrl-C in the middle leaves the rest for `close()` instead of dropping it.

        Without a live region each block is printed as it comes. With one, the waiting blocks are
        printed together, by one `console.print` (one redraw of the live region below them), once
        a refresh period has passed since the last print or once they fill half the region; until
        then the region shows them."""
        if self._live is None:
            while self._pending:
                block = self._pending[0]
                self.console.print(_Separated(self.markdown(block.text), block.separate))
                self._printed += 1
                with self._lock:
                    self._pending = self._pending[1:]
            return
        now = self._clock()
        if now - self._last_print < 1 / self._refresh:
            # Within a refresh period of the last print: render the new blocks now (the live
            # region shows them) and print only once they would fill half the region.
            with self._live_lock():
                fresh = self._pending[self._pending_rendered :]
                for block in fresh:
                    self._pending_lines += len(self.block_lines(block))
                self._pending_rendered += len(fresh)
                if self._pending_lines <= (self.console.height - 2) // 2:
                    return
        from rich.segment import Segments

        # Rich computes how far to erase the live region under the Live's lock but writes after
        # releasing it; a refresh in between (its own thread) changes the region's height and
        # the write then erases lines of finished text. Holding the lock for the whole print
        # keeps the refresh out (same lock order as Live.refresh: Live's, then the console's).
        with self._live_lock():
            pending = self._pending
            segments = [
                seg for block in pending for line in self.block_lines(block) for seg in line
            ]
            # The live region drawn below them by this print must no longer show them; they
            # go back to the list if the print is interrupted.
            with self._lock:
                self._pending = ()
            try:
                self.console.print(Segments(segments), crop=False)
            except BaseException:
                with self._lock:
                    self._pending = pending + self._pending
                raise
            self._printed += len(pending)
            self._last_print = now
            self._pending_rendered = self._pending_lines = 0


@contextlib.contextmanager
def quiet_input(stream: IO[str]) -> Iterator[bool]:
    """Turn off the terminal's ECHO and ECHOCTL on `stream` for the block, and restore the previous
    settings afterwards, also after an exception or Ctrl-C. ISIG is left alone, so Ctrl-C still
    interrupts. Type-ahead is kept (TCSANOW, nothing flushed).

    The caller passes stdin when it is the terminal, else stdout: the settings belong to the terminal, not to
    the descriptor, so `cat notes | mscli chat "summarize"` on a terminal is quiet too (keys typed
    there still echo on the screen even though stdin is the pipe).

    A no-op (yields False) when the stream is not a terminal, on Windows (no termios) and in a
    background job (changing the terminal from there would stop the process with SIGTTOU).
    """
    try:
        import termios
    except ImportError:  # Windows
        yield False
        return
    saved: list[Any] | None = None
    try:
        fd = stream.fileno()
        if _in_foreground(fd):
            saved = termios.tcgetattr(fd)
            quiet = list(saved)
            quiet[3] = saved[3] & ~(termios.ECHO | getattr(termios, "ECHOCTL", 0))
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (AttributeError, ValueError, OSError, termios.error):
        saved = None
    if saved is None:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


def _in_foreground(fd: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return True  # not our controlling terminal: no SIGTTOU to fear


def render_markdown(console: Console, text: str, *, code_theme: str = "monokai") -> None:
    """A whole (non-streamed) reply, rendered the same way as a streamed one."""
    view = MarkdownView(console, live=False, code_theme=code_theme)
    view.feed(text)
    view.close()
