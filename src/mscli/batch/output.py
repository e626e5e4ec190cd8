"""Batch output: one strict JSON line per finished input line, and `--resume`.

A line is written as soon as its request finished, flushed, and fsynced when the output is a file,
so an interruption (Ctrl-C, a killed job, a full disk after it) loses at most the line being
written. `--resume` reads the file back: ids whose last line has no error succeeded and are not
sent again; failed ids are sent again and their new line is appended (the last line of an id wins).
Lines that are not batch results are left as they are, and counted.
A last line cut off mid-write is removed before appending.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mscli import jsontext
from mscli.batch.inputs import LineId, id_key
from mscli.errors import UsageError

#: The keys of every output line, in this order.
KEYS = ("id", "model", "content", "finish_reason", "usage", "estimated_credits", "error")


def _unwritable(path: Path, err: OSError) -> UsageError:
    return UsageError(
        f"Cannot write {path}: {err.strerror or err}",
        fix="Write elsewhere with -o FILE; what was written so far is kept, and --resume "
        "continues from it.",
    )


def record(line_id: LineId, **values: Any) -> dict[str, Any]:
    """An output line: every key present (null when unknown)."""
    doc: dict[str, Any] = {"id": line_id}
    for key in KEYS[1:]:
        doc[key] = values.get(key)
    return doc


def dumps(doc: dict[str, Any]) -> str:
    """Strict JSON (no NaN or Infinity) on one line; \\u escapes only for text that UTF-8 cannot
    carry (lone surrogates from a server)."""
    text = jsontext.dumps(doc, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = jsontext.dumps(doc, ensure_ascii=True, separators=(",", ":"))
    return text + "\n"


class Writer:
    """Writes output lines to a text stream; `durable` (a file) also fsyncs each line."""

    def __init__(
        self, stream: IO[str], *, durable: bool, close: bool, name: str = "stdout"
    ) -> None:
        self._stream = stream
        self._name = name
        self._durable = durable
        self._close = close

    @classmethod
    def to_file(cls, path: Path, *, append: bool) -> Writer:
        try:
            stream = open(path, "a" if append else "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as err:
            raise _unwritable(path, err) from None
        return cls(stream, durable=True, close=True, name=str(path))

    def write(self, doc: dict[str, Any]) -> None:
        try:
            self._stream.write(dumps(doc))
            self._stream.flush()
            if self._durable:
                os.fsync(self._stream.fileno())
        except BrokenPipeError:
            raise
        except OSError as err:
            if not self._durable:
                raise
            raise _unwritable(Path(self._name), err) from None

    def close(self) -> None:
        if self._close:
            self._stream.close()


@dataclass
class Previous:
    """What an earlier run wrote: the ids that succeeded (failed ones are simply sent again)."""

    succeeded: set[str] = field(default_factory=set)
    unreadable: int = 0  # lines that are not output lines (left as they are)


def read_previous(path: Path) -> Previous:
    """Read an output file for --resume (a missing file is an empty one). A last line cut off
    mid-write is truncated away so that appending starts on a fresh line."""
    prev = Previous()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return prev
    except OSError as err:
        raise UsageError(f"Cannot read {path} to resume: {err.strerror or err}") from None
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
        data = data[:cut]
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            prev.unreadable += 1
            continue
        if not isinstance(doc, dict) or "id" not in doc or "error" not in doc:
            prev.unreadable += 1
            continue
        if doc["error"] is None:
            prev.succeeded.add(id_key(doc["id"]))
    return prev
