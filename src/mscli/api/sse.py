"""A sans-IO Server-Sent Events parser (WHATWG HTML §9.2.5–9.2.6): bytes in, events out.

- Lines end at CR, LF or CRLF only (never at U+2028, U+0085…: do not use ``iter_lines``); a CR at
  the end of one chunk and an LF at the start of the next are one line ending.
- Each complete line is decoded as UTF-8 with replacement (U+FFFD), so a multi-byte character
  split across chunks is never broken; one leading BOM is stripped.
- ``:comment`` lines are ignored but counted (`SSEParser.comments`): they are keep-alives.
- ``data`` lines append to the data buffer; an empty line dispatches; an event whose data buffer is
  empty is not dispatched; ``id`` values containing NUL are ignored; ``retry`` takes ASCII digits
  only; unknown fields are ignored.
- At end of stream a half-built event is discarded, as the spec says, but `SSEParser.close`
  records it (``truncated``) so the caller can tell a cut stream from a finished one.
- A line or an event larger than ``max_size`` (8 MiB) raises `ResponseTooLargeError`.

A chunk that is exactly one ``data:VALUE\\n\\n`` event (no CR, no other line), arriving between
events with nothing held, takes a short path in `feed` (most streamed chunks are one such event):
the same event, counters and state as the general path, which the tests check chunking by
chunking against one byte at a time (a one-byte chunk never takes the short path).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from mscli.errors import ResponseTooLargeError

__all__ = ["DEFAULT_MAX_SIZE", "SSEEvent", "SSEParser"]

DEFAULT_MAX_SIZE = 8 * 1024 * 1024

_EOL = re.compile(rb"\r\n|\r|\n")


class SSEEvent(NamedTuple):
    """One dispatched event. ``event`` defaults to ``"message"``; ``id`` is the last event ID.
    (A named tuple: one per streamed token, built in a third of a frozen dataclass's time.)"""

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


#: ``SSEEvent``'s constructor without the named tuple's own ``__new__`` (a Python function).
_new_event = tuple.__new__


class SSEParser:
    """Incremental SSE parser. Feed it bytes as they arrive; it returns complete events."""

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self._pending = bytearray()  # bytes of the current, unterminated line
        self._skip_lf = False  # the previous chunk ended with CR
        self._first_line = True  # BOM check not done yet
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._closed = False
        #: The last event ID (persists across events, as the spec says).
        self.last_event_id = ""
        #: The last valid ``retry:`` value in milliseconds.
        self.retry: int | None = None
        #: Number of comment lines seen (keep-alives).
        self.comments = 0
        #: Number of complete lines processed (any kind): a measure of activity.
        self.lines = 0
        #: Total bytes fed.
        self.bytes_received = 0
        #: Set by `close` when a half-built event (or an unterminated line) was discarded.
        self.truncated = False
        #: `_at_boundary()`, as the last `feed` left it: `feed`'s short path may be taken.
        self._clean = False

    # -- public API -----------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse ``chunk`` and return the events it completed (possibly none)."""
        if self._closed:
            raise RuntimeError("SSEParser.feed() after close()")
        size = len(chunk)
        if (  # the usual chunk: one whole event, a single `data:` line, LF line ends
            self._clean
            and chunk[-1:] == b"\n"
            and chunk.startswith(b"data:")
            and chunk.find(b"\n", 5) == size - 2
            and chunk.find(b"\r") < 0
        ):
            # What the general path does with its two lines (the data line, then the empty line
            # that dispatches), without splitting them. The data buffer is empty and the value is
            # shorter than its line, so the line's size check is the only one that can refuse it.
            self.bytes_received += size
            self.lines += 2
            if size - 2 > self.max_size:
                self._check_line_size(size - 2)
            value = chunk[6 if chunk[5] == 32 else 5 : -2].decode("utf-8", "replace")
            return [_new_event(SSEEvent, (value, "message", self.last_event_id, self.retry))]
        events: list[SSEEvent] = []
        if not chunk:
            return events
        self._clean = False  # until this chunk is parsed (a line too large raises midway)
        self.bytes_received += size
        start = 0
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                start = 1
        pending = self._pending
        if not pending and b"\r" not in chunk:  # the usual chunk: whole LF-terminated lines
            lines = chunk[start:].split(b"\n")
            rest = lines.pop()
            for line in lines:
                self._check_line_size(len(line))
                event = self._process_line(line)
                if event is not None:
                    events.append(event)
            if rest:
                self._check_line_size(len(rest))
                pending += rest
            self._clean = self._at_boundary()
            return events
        for match in _EOL.finditer(chunk, start):
            end = match.start()
            if pending:
                self._check_line_size(len(pending) + end - start)
                pending += chunk[start:end]
                line = bytes(pending)
                pending.clear()
            else:
                self._check_line_size(end - start)
                line = chunk[start:end]
            start = match.end()
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        if start < len(chunk):
            self._check_line_size(len(pending) + len(chunk) - start)
            pending += chunk[start:]
        if chunk[-1:] == b"\r":
            self._skip_lf = True
        self._clean = self._at_boundary()
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream. Never dispatches (the spec discards a half-built event) but sets
        ``truncated`` when something was discarded. Always returns an empty list."""
        if self._closed:
            return []
        self._closed = True
        pending_line = bytes(self._pending).strip(b" \t")
        partial_line = bool(pending_line) and not pending_line.startswith(b":")
        self.truncated = bool(self._data) or partial_line
        self._pending.clear()
        self._data.clear()
        self._data_size = 0
        self._event_type = ""
        return []

    @property
    def pending_bytes(self) -> int:
        """Bytes held for an unterminated line."""
        return len(self._pending)

    # -- internals ------------------------------------------------------------------------------

    def _at_boundary(self) -> bool:
        """Between two events with nothing held: no unterminated line, no data or event type
        buffered, no CR waiting for its LF, the BOM check done. A chunk that is one whole
        ``data:`` event then completes exactly that event (`feed`'s short path)."""
        return not (
            self._pending or self._data or self._event_type or self._skip_lf or self._first_line
        )

    def _check_line_size(self, size: int) -> None:
        if size > self.max_size:
            raise ResponseTooLargeError(
                f"A server-sent event line is larger than {self.max_size} bytes",
                limit=self.max_size,
            )

    def _process_line(self, raw: bytes) -> SSEEvent | None:
        self.lines += 1
        line = raw.decode("utf-8", "replace")
        if self._first_line:
            self._first_line = False
            if line.startswith("\ufeff"):
                line = line[1:]
        if not line:
            return self._dispatch()
        if line.startswith("data: "):  # the usual line, before the general field parsing
            self._add_data(line[6:])
            return None
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._add_data(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
        elif name == "retry" and value and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _add_data(self, value: str) -> None:
        self._data_size += len(value) + 1
        if self._data_size > self.max_size:
            raise ResponseTooLargeError(
                f"A server-sent event is larger than {self.max_size} characters",
                limit=self.max_size,
            )
        self._data.append(value)

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event_type = ""
            return None
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = SSEEvent(data, self._event_type or "message", self.last_event_id, self.retry)
        self._data = []
        self._data_size = 0
        self._event_type = ""
        return event
