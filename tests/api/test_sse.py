"""The sans-IO SSE parser against WHATWG §9.2 and reliability §6 rows 12-16, 21."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from mscli.api.sse import SSEEvent, SSEParser
from mscli.errors import ResponseTooLargeError


def parse(chunks: Iterable[bytes], **kw: int) -> tuple[list[SSEEvent], SSEParser]:
    p = SSEParser(**kw)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(p.feed(chunk))
    events.extend(p.close())
    return events, p


def datas(chunks: Iterable[bytes]) -> list[str]:
    return [e.data for e in parse(chunks)[0]]


STREAM = (
    "\ufeff: hello\r\n"
    "event: delta\r\n"
    'data: {"t": "caf\u00e9 \U0001f600"}\r\n'
    "\r\n"
    "data: line1\n"
    "data: line2\r"
    "\r"
    "id: 7\n"
    "data:\U0001f600no-space\n"
    "\n"
    "data: [DONE]\r\n\r\n"
).encode()

EXPECTED = [
    SSEEvent(data='{"t": "caf\u00e9 \U0001f600"}', event="delta", id=""),
    SSEEvent(data="line1\nline2", event="message", id=""),
    SSEEvent(data="\U0001f600no-space", event="message", id="7"),
    SSEEvent(data="[DONE]", event="message", id="7"),
]


def test_whole_stream() -> None:
    events, p = parse([STREAM])
    assert events == EXPECTED
    assert p.comments == 1
    assert not p.truncated


@pytest.mark.parametrize("split", range(1, len(STREAM)))
def test_every_split_point(split: int) -> None:
    events, p = parse([STREAM[:split], STREAM[split:]])
    assert events == EXPECTED
    assert not p.truncated


def test_every_pair_of_split_points_small() -> None:
    data = "data: a\r\n\r\ndata: \U0001f600\r\n\r\n".encode()
    want = ["a", "\U0001f600"]
    for i in range(1, len(data)):
        for j in range(i, len(data)):
            assert datas([data[:i], data[i:j], data[j:]]) == want, (i, j)


def test_one_byte_per_chunk() -> None:
    events, _ = parse(STREAM[i : i + 1] for i in range(len(STREAM)))
    assert events == EXPECTED


@pytest.mark.parametrize("sep", [b"\n", b"\r", b"\r\n"])
def test_line_endings(sep: bytes) -> None:
    data = b"data: a" + sep + b"data: b" + sep + sep + b"data: c" + sep + sep
    assert datas([data]) == ["a\nb", "c"]


def test_cr_at_chunk_end_then_lf_is_one_line_ending() -> None:
    assert datas([b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n"]) == ["a", "b"]


def test_cr_at_chunk_end_then_data_is_a_line_ending() -> None:
    # CR then a chunk starting with something other than LF: CR alone ended the line.
    assert datas([b"data: a\r", b"\r", b"data: b\r", b"\r"]) == ["a", "b"]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1e"])
def test_unicode_separators_inside_json_stay_intact(char: str) -> None:
    # httpx iter_lines() would split at these; an SSE parser must not (reliability §3.2).
    payload = json.dumps({"content": f"before{char}after"}, ensure_ascii=False)
    raw = f"data: {payload}\n\n".encode()
    (event,) = parse([raw])[0]
    assert json.loads(event.data)["content"] == f"before{char}after"
    # and split inside the multi-byte encoding of the separator
    for i in range(1, len(raw)):
        assert parse([raw[:i], raw[i:]])[0] == [event]


def test_invalid_utf8_becomes_replacement_character() -> None:
    events, _ = parse([b"data: a\xffb\xc3\n\n"])
    assert events[0].data == "a\ufffdb\ufffd"


def test_split_multibyte_is_not_replaced() -> None:
    emoji = "\U0001f600".encode()
    assert len(emoji) == 4
    for i in range(1, 4):
        assert datas([b"data: " + emoji[:i], emoji[i:] + b"\n\n"]) == ["\U0001f600"]


def test_bom_stripped_once_only() -> None:
    events, _ = parse([b"\xef\xbb\xbfdata: a\n\n\xef\xbb\xbfdata: b\n\n"])
    # The second BOM is not at the start of the stream: its line is an unknown field.
    assert [e.data for e in events] == ["a"]


def test_bom_split_across_chunks() -> None:
    assert datas([b"\xef", b"\xbb", b"\xbfdata: a\n\n"]) == ["a"]


def test_comments_ignored_but_counted() -> None:
    events, p = parse([b": keep-alive\n\n: OPENROUTER PROCESSING\n\ndata: x\n\n:\n"])
    assert [e.data for e in events] == ["x"]
    assert p.comments == 3
    assert not p.truncated


def test_no_data_means_no_dispatch() -> None:
    # retry alone, event: ping alone, id then extra blank line: nothing dispatched.
    events, p = parse([b"retry: 3000\n\nevent: ping\n\nid: 5\n\n\n\n"])
    assert events == []
    assert p.retry == 3000
    assert p.last_event_id == "5"


def test_bare_data_line_dispatches_empty_data() -> None:
    # Per spec "data:" appends an empty line: an event with data "" (the stream layer skips it).
    assert datas([b"data:\n\n"]) == [""]
    assert datas([b"data\n\n"]) == [""]


def test_event_type_resets_after_dispatch() -> None:
    events, _ = parse([b"event: error\ndata: a\n\ndata: b\n\n"])
    assert [(e.event, e.data) for e in events] == [("error", "a"), ("message", "b")]


def test_event_type_reset_by_empty_dispatch() -> None:
    events, _ = parse([b"event: error\n\ndata: b\n\n"])
    assert [(e.event, e.data) for e in events] == [("message", "b")]


def test_only_one_leading_space_removed() -> None:
    assert datas([b"data:  two\n\n"]) == [" two"]
    assert datas([b"data:x:y\n\n"]) == ["x:y"]


def test_id_rules() -> None:
    events, p = parse([b"id: 1\ndata: a\n\nid: bad\x00id\ndata: b\n\ndata: c\n\nid\ndata: d\n\n"])
    assert [(e.id, e.data) for e in events] == [("1", "a"), ("1", "b"), ("1", "c"), ("", "d")]
    assert p.last_event_id == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"3000", 3000),
        (b"+5", None),
        (b" 5", 5),
        (b"5 ", None),
        (b"1_000", None),
        (b"-1", None),
        (b"", None),
        (b"\xd9\xa3", None),
    ],
)
def test_retry_rules(value: bytes, expected: int | None) -> None:
    # " 5": the single leading space after the colon is removed, leaving "5".
    _, p = parse([b"retry:" + value + b"\n\n"])
    assert p.retry == expected


def test_unknown_fields_ignored() -> None:
    assert datas([b"foo: bar\ndata: a\nbaz\n\n"]) == ["a"]


def test_partial_event_at_eof_discarded_and_reported() -> None:
    events, p = parse([b"data: a\n\ndata: b\n"])
    assert [e.data for e in events] == ["a"]
    assert p.truncated


def test_unterminated_line_at_eof_reported() -> None:
    events, p = parse([b'data: a\n\ndata: {"half'])
    assert [e.data for e in events] == ["a"]
    assert p.truncated


def test_clean_eof_not_truncated() -> None:
    _, p = parse([b"data: a\n\n: bye"])
    assert not p.truncated


def test_feed_after_close_is_an_error() -> None:
    p = SSEParser()
    p.close()
    with pytest.raises(RuntimeError):
        p.feed(b"data: x\n\n")
    assert p.close() == []


def test_line_size_cap_without_newline() -> None:
    p = SSEParser(max_size=1024)
    p.feed(b"data: " + b"x" * 1000)
    with pytest.raises(ResponseTooLargeError):
        p.feed(b"x" * 100)


def test_line_size_cap_in_one_chunk() -> None:
    with pytest.raises(ResponseTooLargeError):
        SSEParser(max_size=100).feed(b"data: " + b"y" * 200 + b"\n\n")


def test_event_size_cap_many_lines() -> None:
    p = SSEParser(max_size=100)
    with pytest.raises(ResponseTooLargeError):
        for _ in range(20):
            p.feed(b"data: 0123456789\n")


def test_default_cap_is_8_mib() -> None:
    p = SSEParser()
    assert p.max_size == 8 * 1024 * 1024
    big = b"data: " + b"z" * (1024 * 1024) + b"\n\n"
    assert len(p.feed(big)[0].data) == 1024 * 1024


def test_many_small_chunks_of_a_large_event_is_linear_enough() -> None:
    # 200k one-byte feeds of one line: quadratic buffering would take minutes.
    p = SSEParser()
    line = b"data: " + b"q" * 200_000 + b"\n\n"
    events: list[SSEEvent] = []
    view = memoryview(line)
    for i in range(0, len(line), 1):
        events.extend(p.feed(bytes(view[i : i + 1])))
    assert len(events) == 1 and len(events[0].data) == 200_000


def test_counters() -> None:
    _, p = parse([b"data: a\n\n"])
    assert p.bytes_received == 9
    assert p.lines == 2
    assert p.pending_bytes == 0


# --- feed's short path: a chunk that is one whole `data:` event -----------------------------------
# `feed` takes it when the parser is between events with nothing held. A one-byte chunk never takes
# it (it is no whole event), so feeding the same bytes one at a time is the reference: every
# chunking below must give the same events and leave the same counters.

FIRST = b": stream start\n\n"  # the general path; leaves the parser between events


def same_as_bytewise(chunks: list[bytes]) -> list[SSEEvent]:
    events, p = parse(chunks)
    data = b"".join(chunks)
    ref_events, ref = parse(data[i : i + 1] for i in range(len(data)))
    assert events == ref_events
    state = ("lines", "bytes_received", "comments", "last_event_id", "retry", "truncated")
    assert [getattr(p, a) for a in state] == [getattr(ref, a) for a in state]
    return events


def test_short_path_values() -> None:
    chunks = [
        FIRST,
        b"data: a\n\n",
        b"data:b\n\n",  # no space after the colon
        b"data:  c\n\n",  # only one space removed
        b"data:\n\n",
        b"data: \n\n",
        b'data: {"x": "caf\xc3\xa9"}\n\n',
        b"data: a\xffb\n\n",  # invalid UTF-8: U+FFFD, as on the general path
        b"data: x:y: z\n\n",
    ]
    events = same_as_bytewise(chunks)
    assert [e.data for e in events] == [
        "a",
        "b",
        " c",
        "",
        "",
        '{"x": "café"}',
        "a\ufffdb",
        "x:y: z",
    ]
    assert {(e.event, e.id, e.retry) for e in events} == {("message", "", None)}


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        (b"data: a\n", [("message", "a\nb")]),  # data buffered: the event goes on
        (b"event: delta\n", [("delta", "b")]),  # an event type buffered
        (b":", []),  # an unterminated comment line: ":data: b" is a comment
        (b"da", []),  # an unterminated line: "dadata: b" is an unknown field
        (b"data: a\r", [("message", "a\nb")]),  # a CR ended the line, data buffered
    ],
)
def test_short_path_not_taken_with_something_held(
    held: bytes, expected: list[tuple[str, str]]
) -> None:
    events = same_as_bytewise([FIRST, held, b"data: b\n\n"])
    assert [(e.event, e.data) for e in events] == expected


def test_short_path_after_a_chunk_ending_in_cr() -> None:
    # The CR's pending LF is not spent by a `data:` chunk: the next chunk's LF is an empty line
    # (nothing to dispatch, but a line all the same).
    events = same_as_bytewise([FIRST, b"data: a\r\r", b"data: b\n\n", b"\ndata: c\n\n"])
    assert [e.data for e in events] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"data: a\ndata: b\n\n"], ["a\nb"]),  # two data lines
        ([b"data: a\n\ndata: b\n\n"], ["a", "b"]),  # two events
        ([b"data: a\n\n\n"], ["a"]),  # an extra empty line
        ([b"data: a\nd", b"ata: b\n\n"], ["a\nb"]),  # a line ends inside, the chunk does not
        ([b"data: a\n", b"\n"], ["a"]),  # the event's end in the next chunk
        ([b"data: a\r\n\n"], ["a"]),  # CRLF then LF
        ([b"data: a\rb\n\n"], ["a"]),  # CR-only line end: "b" is an unknown field
        ([b"data: a\r\r"], ["a"]),  # CR-only line ends
        ([b"data: a\r", b"\n\n"], ["a"]),  # CR at a chunk's end, then LF: one line end
        ([b"id: 7\nretry: 10\n\n", b"data: a\n\n"], ["a"]),
    ],
)
def test_short_path_only_for_one_whole_event(chunks: list[bytes], expected: list[str]) -> None:
    assert [e.data for e in same_as_bytewise([FIRST, *chunks])] == expected


def test_short_path_event_keeps_last_event_id_and_retry() -> None:
    (event,) = same_as_bytewise([FIRST, b"id: 7\nretry: 10\n\n", b"data: a\n\n"])
    assert event == SSEEvent("a", "message", "7", 10)


def test_bom_is_not_stripped_after_a_first_chunk_that_is_one_event() -> None:
    # The first chunk goes the general way (its first line is where a BOM would be): a BOM later
    # is not at the start of the stream.
    assert [e.data for e in same_as_bytewise([b"data: a\n\n", b"\xef\xbb\xbfdata: b\n\n"])] == ["a"]


def test_short_path_line_size_cap() -> None:
    p = SSEParser(max_size=20)
    p.feed(FIRST)
    assert p.feed(b"data: " + b"x" * 14 + b"\n\n") == [SSEEvent("x" * 14)]  # a 20-byte line
    with pytest.raises(ResponseTooLargeError):
        p.feed(b"data: " + b"x" * 15 + b"\n\n")


# A stream as gateways send it: the events of a chat, with the other kinds of line between them.
CHAT_EVENTS = [
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"caf\xc3\xa9 \xf0\x9f\x98\x80"}}]}\n\n',
    b": keep-alive\n\n",
    b'data:{"choices":[{"index":0,"delta":{"content":" no space"}}]}\n\n',
    b"event: ping\ndata: {}\n\n",
    b'id: 3\ndata: {"choices":[{"index":0,"delta":{"content":"\\u2028"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\r\n\r\n',
    b"retry: 50\n\n",
    b'data: {"choices":[],"usage":{"total_tokens":3}}\n\n',
    b"data: [DONE]\n\n",
]


@pytest.mark.parametrize("k", range(len(CHAT_EVENTS)))
def test_one_event_split_at_every_offset_among_whole_ones(k: int) -> None:
    whole = parse([b"".join(CHAT_EVENTS)])[0]
    assert len(whole) == 8
    event = CHAT_EVENTS[k]
    for i in range(1, len(event)):
        chunks = [*CHAT_EVENTS[:k], event[:i], event[i:], *CHAT_EVENTS[k + 1 :]]
        assert same_as_bytewise(chunks) == whole, i
