"""Preparing a batch (all lines checked first, --resume leaves out what succeeded) and --dry-run's
estimate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscli.batch.engine import estimate, prepare
from mscli.batch.inputs import Defaults
from mscli.batch.output import dumps, record
from mscli.batch.pacer import Rate
from mscli.errors import UsageError


def _prepare(text: str, **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "plain": False,
        "defaults": Defaults(model="claude-haiku-4-5"),
        "default_model": lambda: "unused",
        "skip_invalid": False,
        "resume": None,
    }
    options.update(kw)
    return prepare(text, **options)  # type: ignore[arg-type]


def test_malformed_lines_are_all_listed_up_to_ten_then_counted() -> None:
    text = "".join("nope\n" for _ in range(12))
    with pytest.raises(UsageError) as caught:
        _prepare(text)
    message = caught.value.message
    assert message.startswith("The input has 12 malformed lines, nothing was sent: line 1: ")
    assert "line 10: " in message and "line 11: " not in message and message.endswith("and 2 more")


def test_skip_invalid_keeps_them_for_the_output() -> None:
    job = _prepare('{"prompt": "a"}\nnope\n', skip_invalid=True)
    assert [ln.id for ln in job.lines] == [1]
    assert [i.number for i in job.invalid] == [2]


def test_resume_leaves_out_the_ids_that_succeeded(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(dumps(record(1, content="x")) + dumps(record(2, error={"type": "server"})))
    text = "".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(1, 4))
    job = _prepare(text, resume=out)
    assert [ln.id for ln in job.lines] == [2, 3] and job.skipped == 1


def test_estimate_counts_tokens_credits_and_time() -> None:
    text = json.dumps({"prompt": "x" * 40, "max_tokens": 100}) + "\n"
    text += json.dumps({"prompt": "y" * 41, "max_tokens": 10}) + "\n"
    est = estimate(_prepare(text), Rate(30, "--rpm"), {})
    assert est.prompt_tokens == 10 + 11  # about four characters a token, rounded up
    # haiku: 10 credits per 1M prompt tokens, 50 per 1M completion tokens
    assert est.credits_min == pytest.approx(21 * 10 / 1e6)
    assert est.credits_max == pytest.approx(21 * 10 / 1e6 + 110 * 50 / 1e6)
    assert est.seconds == 2.0
    assert "Dry run, nothing sent: 2 requests" in est.text()


def test_without_max_tokens_there_is_no_upper_bound() -> None:
    est = estimate(_prepare('{"prompt": "a"}\n'), Rate(15, "lowest plan"), {})
    assert est.credits_max is None and est.to_json()["estimated_credits"]["max"] is None
    assert "no upper bound" in est.text() and "--max-tokens N" in est.text()
