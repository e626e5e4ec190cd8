"""The local ledger: credits spent through mscli, estimated from `usage` × list price.

ModelStack documents no balance endpoint (modelstack-api.md §7), so `mscli balance` can only say what
mscli itself spent. One JSON line per completed request (no prompt text, ever), in the user data dir;
entries older than 8 days are dropped when the file is rewritten. Every figure is an estimate.
Recording is best-effort: a ledger that cannot be written never fails a chat.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from mscli.jsontext import dumps
from mscli.limits import MAX_COUNT, MAX_CREDITS


class Entry(NamedTuple):
    ts: float
    base_url: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    credits: float | None  # estimate at list price; None for a model without a known price


def record(
    path: Path,
    base_url: str,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    overrides: Mapping[str, tuple[float, float]] | None = None,
    now: float | None = None,
) -> Entry | None:
    """Append one entry to the ledger at `path` (`Paths.ledger`); returns it, or None when the
    ledger could not be written."""
    from mscli.pricing import estimate_credits

    entry = Entry(
        ts=time.time() if now is None else now,
        base_url=base_url,
        model=model,
        prompt_tokens=int(prompt_tokens),
        completion_tokens=int(completion_tokens),
        credits=estimate_credits(model, prompt_tokens, completion_tokens, overrides),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(dumps(entry._asdict(), ensure_ascii=True) + "\n")
    except OSError:
        return None
    return entry


def entries(path: Path, *, since: float = 0.0, base_url: str | None = None) -> list[Entry]:
    """Entries of the ledger at `path` newer than `since` (epoch seconds); malformed lines are
    skipped."""
    out: list[Entry] = []
    try:
        with open(path, encoding="utf-8") as fh:
            lines: Iterable[str] = fh.readlines()
    except OSError:
        return out
    for line in lines:
        try:
            raw = json.loads(line)
            e = Entry(
                ts=float(raw["ts"]),
                base_url=str(raw["base_url"]),
                model=str(raw["model"]),
                prompt_tokens=int(raw["prompt_tokens"]),
                completion_tokens=int(raw["completion_tokens"]),
                credits=None if raw["credits"] is None else float(raw["credits"]),
            )
        except (ValueError, KeyError, TypeError, OverflowError):
            continue
        if not _sane(e):  # an edited or damaged line: never sum an infinite or negative figure
            continue
        if e.ts >= since and (base_url is None or e.base_url == base_url):
            out.append(e)
    return out


def _sane(e: Entry) -> bool:
    return (
        math.isfinite(e.ts)
        and 0 <= e.prompt_tokens <= MAX_COUNT
        and 0 <= e.completion_tokens <= MAX_COUNT
        and (e.credits is None or (math.isfinite(e.credits) and 0 <= e.credits <= MAX_CREDITS))
    )
