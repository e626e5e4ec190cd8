"""Batch output lines (strict JSON, every key) and --resume's reading of an earlier output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mscli.batch.output import KEYS, Writer, dumps, read_previous, record


def test_a_record_has_every_key_in_order_and_is_one_strict_json_line() -> None:
    doc = record(3, model="m", content="h\u00e9llo\n", error=None)
    text = dumps(doc)
    assert text.endswith("\n") and text.count("\n") == 1
    assert list(json.loads(text)) == list(KEYS)
    assert "héllo" in text  # UTF-8, not \u escapes
    with pytest.raises(ValueError):
        dumps(record(1, estimated_credits=float("nan")))


def test_a_lone_surrogate_from_a_server_is_escaped_not_a_crash() -> None:
    text = dumps(record(1, content="bad \ud800 char"))
    assert "\\ud800" in text
    text.encode("utf-8")


def test_the_writer_flushes_each_line() -> None:
    stream = io.StringIO()
    w = Writer(stream, durable=False, close=False)
    w.write(record(1))
    assert stream.getvalue().count("\n") == 1


def test_read_previous_last_line_per_id_wins(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = [
        record(1, content="a"),
        record(2, error={"type": "server"}),
        record(3, error={"type": "server"}),
        record(3, content="c"),  # retried by an earlier --resume
        record("1", error={"type": "x"}),  # "1" is not 1
    ]
    out.write_text("".join(dumps(d) for d in lines) + "not json\n", encoding="utf-8")
    prev = read_previous(out)
    assert prev.succeeded == {"1", "3"}  # 2 and "1" failed: sent again
    assert prev.unreadable == 1


def test_a_line_cut_off_mid_write_is_removed_before_appending(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(dumps(record(1, content="a")) + '{"id": 2, "cont', encoding="utf-8")
    prev = read_previous(out)
    assert prev.succeeded == {"1"}
    assert out.read_text(encoding="utf-8") == dumps(record(1, content="a"))
    w = Writer.to_file(out, append=True)
    w.write(record(2, content="b"))
    w.close()
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == [1, 2]


def test_a_missing_output_is_an_empty_one(tmp_path: Path) -> None:
    prev = read_previous(tmp_path / "nothing.jsonl")
    assert prev.succeeded == set() and prev.unreadable == 0
