"""A model the sandbox serves but the price table does not know (gpt-4o): every estimate says
unknown (JSON null, "unpriced" in text) instead of inventing a price, as `models` shows '—'; the
ledger records no credits for it and `balance` says how many requests were unpriced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscli import ledger
from mscli.pricing import MODELS
from support.cli import Result, run
from support.paths import run_paths

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

UNPRICED = "gpt-4o"
PRICED = "claude-haiku-4-5"


def mscli(sb: EmbeddedSandbox, *args: str) -> Result:
    return run("--base-url", sb.base_url, *args, env={"MODELSTACK_API_KEY": sb.api_key})


def test_chat_json_usage_ledger_and_history_say_unknown(sandbox: EmbeddedSandbox) -> None:
    assert MODELS[UNPRICED].input_per_m is None  # served by the sandbox, no price in the table
    r = mscli(sandbox, "chat", "-m", UNPRICED, "--max-tokens", "5", "--json", "--usage", "Hi")
    assert r.code == 0, r.stderr
    doc = r.json()
    assert doc["usage"]["completion_tokens"] == 5
    assert doc["estimated_credits"] is None
    assert "credits unknown (unpriced model)" in " ".join(r.stderr.split())
    (entry,) = ledger.entries(run_paths().ledger)
    assert entry.model == UNPRICED and entry.completion_tokens == 5 and entry.credits is None
    raw = json.loads(run_paths().ledger.read_text(encoding="utf-8"))
    assert raw["credits"] is None  # written as null, not an invented figure
    shown = mscli(sandbox, "history", "show", "1", "--json").json()
    assert shown["exchanges"][0]["estimated_credits"] is None


def test_balance_counts_unpriced_requests_apart(sandbox: EmbeddedSandbox) -> None:
    for model in (PRICED, UNPRICED, UNPRICED):
        assert mscli(sandbox, "chat", "-m", model, "--max-tokens", "3", "Hi").code == 0
    week = mscli(sandbox, "balance", "--json").json()["ledger"]["last_7d"]
    priced = [e.credits for e in ledger.entries(run_paths().ledger) if e.credits is not None]
    assert week["requests"] == 3 and week["unpriced_requests"] == 2
    assert len(priced) == 1 and week["credits"] == round(priced[0], 4) > 0


def _lines(tmp_path: Path, *models: str) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [{"prompt": f"Q{i}", "model": m, "max_tokens": 4} for i, m in enumerate(models)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_batch_output_and_summary(sandbox: EmbeddedSandbox, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    src = _lines(tmp_path, PRICED, UNPRICED)
    r = mscli(sandbox, "--json", "batch", str(src), "-o", str(out))
    assert r.code == 0, r.stderr
    docs: dict[Any, dict[str, Any]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        docs[d["model"]] = d
    assert docs[UNPRICED]["estimated_credits"] is None
    assert docs[UNPRICED]["usage"]["completion_tokens"] == 4
    assert docs[PRICED]["estimated_credits"] > 0
    summary = json.loads(r.stderr.splitlines()[-1])["summary"]
    assert summary["unpriced_requests"] == 1
    assert summary["estimated_credits"] == round(docs[PRICED]["estimated_credits"], 6)
    assert sorted(e.credits is None for e in ledger.entries(run_paths().ledger)) == [False, True]


def test_batch_dry_run_does_not_invent_a_price(sandbox: EmbeddedSandbox, tmp_path: Path) -> None:
    src = _lines(tmp_path, PRICED, UNPRICED)
    doc = mscli(sandbox, "batch", str(src), "--dry-run", "--json").json()
    assert doc["estimated_credits"] == {"min": None, "max": None, "unpriced_requests": 1}
    text = mscli(sandbox, "batch", str(src), "--dry-run")
    assert text.code == 0, text.stderr
    assert "credits unknown (1 requests on a model without a known price)" in " ".join(
        text.output.split()
    )
    priced = mscli(sandbox, "batch", str(_lines(tmp_path, PRICED)), "--dry-run", "--json").json()
    assert priced["estimated_credits"]["min"] > 0
