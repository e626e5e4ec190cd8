"""PipeAwareConsole: a closed pipe is reported (BrokenPipeError on the main thread, `pipe_closed`
from any thread), never turned into SystemExit, and nothing written afterwards fails."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from typing import IO

import pytest

from mscli.output.chat_view import MarkdownView
from mscli.output.console import PipeAwareConsole, make_console
from mscli.terminal import Terminal


@pytest.fixture()
def closed_pipe() -> Iterator[IO[str]]:
    """A text stream whose reader has gone away (like `| head` after it has read enough)."""
    r, w = os.pipe()
    os.close(r)
    stream = os.fdopen(w, "w", encoding="utf-8")
    yield stream
    try:
        stream.close()
    except BrokenPipeError:
        pass


def _console(stream: IO[str], mode: str, *, json_mode: bool = False) -> PipeAwareConsole:
    term = Terminal(stdin=io.StringIO(), stdout=stream, stderr=stream)
    console = make_console(term, "out", mode, json_mode=json_mode)
    assert isinstance(console, PipeAwareConsole)
    return console


def test_consoles_are_pipe_aware(closed_pipe: IO[str]) -> None:
    assert isinstance(_console(closed_pipe, "always"), PipeAwareConsole)
    assert isinstance(_console(closed_pipe, "never", json_mode=True), PipeAwareConsole)


def test_main_thread_gets_broken_pipe_error_not_system_exit(closed_pipe: IO[str]) -> None:
    console = _console(closed_pipe, "always")
    with pytest.raises(BrokenPipeError):
        console.print("hello")
    assert console.pipe_closed and console.quiet
    console.print("more")  # quiet now, and the stream points at the null device
    closed_pipe.write("x")
    closed_pipe.flush()


def test_other_threads_only_mark_the_console(closed_pipe: IO[str]) -> None:
    console = _console(closed_pipe, "always")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            console.print("from the refresh thread")
        except BaseException as exc:  # the test records whatever escapes, SystemExit too
            errors.append(exc)

    t = threading.Thread(target=write)
    t.start()
    t.join()
    assert errors == [] and console.pipe_closed


def test_markdown_view_stops_at_the_next_token_once_the_pipe_closed(closed_pipe: IO[str]) -> None:
    console = _console(closed_pipe, "always")
    view = MarkdownView(console, live=False)
    console.pipe_closed = True  # as the live region's thread would have found it
    with pytest.raises(BrokenPipeError):
        view.feed("more text")
