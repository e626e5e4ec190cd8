"""`mscli history list|show|delete`, with and without --json, on conversations made by `mscli chat`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from support.chat_run import MODEL, chat, flat, run
from support.paths import run_paths

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox


def test_empty_history() -> None:
    res = run("history", "list")
    assert res.code == 0
    assert "No saved conversations" in res.stderr
    res = run("history", "list", "--json")
    assert json.loads(res.stdout) == {"object": "list", "data": []}
    assert run("history", "show", "1").code == 2
    assert run("history", "delete", "1").code == 2


def test_list_show_delete(sandbox: EmbeddedSandbox) -> None:
    assert chat(sandbox, "First topic", "--max-tokens", "5").code == 0
    assert chat(sandbox, "Second topic", "--max-tokens", "5", "-s", "Be kind").code == 0
    assert chat(sandbox, "-c", "More on it", "--max-tokens", "5").code == 0

    listed = json.loads(run("history", "list", "--json").stdout)["data"]
    assert [(c["id"], c["title"], c["exchange_count"]) for c in listed] == [
        (2, "Second topic", 2),
        (1, "First topic", 1),
    ]
    assert listed[0]["model"] == MODEL and listed[0]["system"] == "Be kind"

    table = run("history", "list")
    assert table.code == 0
    assert "Second topic" in table.text and "First topic" in table.text

    limited = json.loads(run("history", "list", "--json", "-n", "1").stdout)["data"]
    assert [c["id"] for c in limited] == [2]

    shown = run("history", "show", "2")
    assert shown.code == 0
    text = flat(shown.text)
    assert (
        "Second topic" in text and "More on it" in text and "Be kind" in text and "tokens" in text
    )

    doc = json.loads(run("history", "show", "2", "--json").stdout)
    ex = doc["exchanges"]
    assert [e["prompt"] for e in ex] == ["Second topic", "More on it"]
    for e in ex:
        assert e["status"] == "complete" and e["model"] == MODEL
        assert e["completion_tokens"] == 5 and e["estimated_credits"] > 0
        assert e["total_ms"] is not None and e["first_token_ms"] is not None
        assert e["params"]["max_tokens"] == 5 and e["params"]["system"] == "Be kind"

    res = run("history", "delete", "2", "--json")
    assert res.code == 0 and json.loads(res.stdout) == {"id": 2, "deleted": True}
    assert [c["id"] for c in json.loads(run("history", "list", "--json").stdout)["data"]] == [1]
    assert run("history", "show", "2").code == 2
    res = run("history", "delete", "1")
    assert res.code == 0 and "Deleted conversation 1" in res.stderr


def test_corrupt_database_is_reported(sandbox: EmbeddedSandbox) -> None:

    path = run_paths().history
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 100)
    res = run("history", "list")
    assert res.code == 10
    assert "damaged" in flat(res.stderr)
    assert path.read_bytes() == b"garbage" * 100
    doc = json.loads(run("--json", "history", "list").stderr)["error"]
    assert doc["advice"].startswith("Move it aside (mv ") and ".damaged'" in doc["advice"]


def test_list_shortens_the_title_only_on_a_narrow_terminal(sandbox: EmbeddedSandbox) -> None:
    long_title = "This is a rather long first message that goes on and on about many things"
    assert chat(sandbox, long_title, "--max-tokens", "3").code == 0
    r = run("history", "list", env={"COLUMNS": "80"})
    assert r.code == 0, r.stderr
    out = r.stdout.decode() if isinstance(r.stdout, bytes) else r.stdout
    lines = out.splitlines()
    assert len(lines) == 2 and all(len(line.rstrip()) <= 80 for line in lines)
    row = lines[1]
    assert MODEL in row and "…" in row and long_title[:10] in row
    import re

    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", row)  # the date is whole, on one line


def test_history_alone_lists_the_conversations(sandbox: EmbeddedSandbox) -> None:
    assert chat(sandbox, "remember the alamo").code == 0
    alone, listed = run("history"), run("history", "list")
    assert (
        alone.code == 0 and alone.stdout == listed.stdout and b"remember the alamo" in alone.stdout
    )
    as_json = json.loads(run("--json", "history").stdout)
    assert as_json == json.loads(run("history", "list", "--json").stdout)
