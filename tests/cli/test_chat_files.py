"""`mscli chat -f PATH` and the input-size rule (limits.INPUT_SOFT_BYTES / INPUT_HARD_BYTES), end to
end against the sandbox through main(); `history show` on a stored large prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mscli.limits import INPUT_HARD_BYTES, INPUT_SOFT_BYTES, SHOWN_PROMPT_CHARS
from support.chat_run import MODEL, chat, content, flat, history_json, run
from support.cli import run as run_cli

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

BIG = "word " * (INPUT_SOFT_BYTES // 5 + 100)  # over the soft limit, under the hard one


def said(stderr: str) -> str:
    """An error panel's words on one line."""
    return flat(stderr.replace("│", " "))


def _prompts() -> list[str]:
    """Every prompt sent (and so saved), oldest first."""
    res = run("history", "list", "--json")
    if res.code != 0:
        return []
    ids = sorted(c["id"] for c in json.loads(res.stdout)["data"])
    return [e["prompt"] for i in ids for e in history_json("show", str(i))["exchanges"]]


def test_files_are_sent_before_the_prompt_each_under_its_name(
    sandbox: EmbeddedSandbox, tmp_path: Path
) -> None:
    one, two = tmp_path / "a.py", tmp_path / "notes.md"
    one.write_text("print('hi')\n")
    two.write_text("\ufeff# Notes\n\nsecond file\n\n")
    res = chat(sandbox, "-f", str(one), "--file", str(two), "Review", "--max-tokens", "8")
    assert res.code == 0, res.stderr
    sent = f"==> {one} <==\nprint('hi')\n\n==> {two} <==\n# Notes\n\nsecond file\n\nReview"
    assert _prompts() == [sent]
    assert res.text == content(sandbox, sent, max_tokens=8)


def test_dash_is_stdin_and_a_file_alone_is_the_message(
    sandbox: EmbeddedSandbox, tmp_path: Path
) -> None:
    res = chat(sandbox, "-f", "-", "What is this?", "--max-tokens", "4", input="piped text\n")
    assert res.code == 0, res.stderr
    (path := tmp_path / "q.txt").write_text("just the file\n")
    res = chat(sandbox, "-f", str(path), "--max-tokens", "4", "--continue")
    assert res.code == 0, res.stderr
    assert _prompts() == [
        "==> standard input <==\npiped text\n\nWhat is this?",
        f"==> {path} <==\njust the file",
    ]


@pytest.mark.parametrize("args", [["-f", "-", "-"], ["-f", "-", "--file", "-", "x"]])
def test_stdin_is_read_once(sandbox: EmbeddedSandbox, args: list[str]) -> None:
    res = chat(sandbox, *args, input="text\n")
    assert res.code == 2
    assert "Standard input can be read once" in said(res.stderr)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x7fELF\x02\x01\x00\x00binary", "is a binary file"),
        (b"caf\xe9 latin-1", "is not UTF-8 text"),
    ],
)
def test_a_binary_file_is_refused_by_name_and_nothing_is_sent(
    sandbox: EmbeddedSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    needle: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blob.bin").write_bytes(data)
    path = "blob.bin"
    res = chat(sandbox, "-f", path, "Explain")
    assert res.code == 2
    assert f"{path} {needle}" in said(res.stderr)
    assert len(_prompts()) == 0


def test_a_missing_file_or_a_directory_is_a_usage_error(
    sandbox: EmbeddedSandbox, tmp_path: Path
) -> None:
    res = chat(sandbox, "-f", str(tmp_path / "nope.txt"), "x")
    assert res.code == 2 and "no such file" in said(res.stderr)
    res = chat(sandbox, "-f", str(tmp_path), "x")
    assert res.code == 2 and "is a directory" in said(res.stderr)


def test_over_the_soft_limit_a_script_needs_yes(sandbox: EmbeddedSandbox, tmp_path: Path) -> None:
    (path := tmp_path / "big.txt").write_text(BIG)
    res = chat(sandbox, "-f", str(path), "Summarize", "--max-tokens", "3")
    assert res.code == 2
    assert "KiB" in said(res.stderr) and "--yes" in said(res.stderr)
    assert len(_prompts()) == 0
    res = chat(sandbox, "-f", str(path), "Summarize", "--max-tokens", "3", "--yes")
    assert res.code == 0, res.stderr
    assert len(_prompts()) == 1
    # piped text counts as much as a file
    res = chat(sandbox, "Summarize", "--max-tokens", "3", input=BIG)
    assert res.code == 2 and "--yes" in said(res.stderr)


@pytest.mark.parametrize(("answer", "sent"), [("y\n", 1), ("n\n", 0)])
def test_over_the_soft_limit_a_terminal_is_asked(
    sandbox: EmbeddedSandbox, tmp_path: Path, answer: str, sent: int
) -> None:
    (path := tmp_path / "big.txt").write_text(BIG)
    res = run_cli(
        "--base-url",
        sandbox.base_url,
        "chat",
        "-m",
        MODEL,
        "-f",
        str(path),
        "Summarize",
        "--max-tokens",
        "3",
        input=answer,
        env={"MODELSTACK_API_KEY": sandbox.api_key},
        stdin_tty=True,
        stderr_tty=True,
    )
    assert res.code == 0, res.stderr
    assert "Send it? [y/N]" in said(res.stderr)
    assert len(_prompts()) == sent
    if not sent:
        assert "Cancelled" in said(res.stderr)


def test_over_the_hard_limit_is_refused_even_with_yes(
    sandbox: EmbeddedSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "huge.txt").write_bytes(b"a" * (INPUT_HARD_BYTES + 1))
    res = chat(sandbox, "-f", "huge.txt", "x", "--yes")
    assert res.code == 2
    assert "huge.txt is 4.0 MiB, over mscli's limit of 4.0 MiB" in said(res.stderr)
    res = chat(sandbox, "x", "--yes", input=b"b" * (INPUT_HARD_BYTES + 10))
    assert res.code == 2 and "limit of 4.0 MiB" in said(res.stderr)
    # files and prompt together: two files each under the limit, over it together
    half = tmp_path / "half.txt"
    half.write_bytes(b"c" * (INPUT_HARD_BYTES // 2 + 1))
    res = chat(sandbox, "-f", str(half), "-f", str(half), "x", "--yes")
    assert res.code == 2 and "The message is 4.0 MiB" in said(res.stderr)
    assert len(_prompts()) == 0


def test_history_show_prints_the_start_of_a_large_prompt_and_json_has_it_all(
    sandbox: EmbeddedSandbox,
) -> None:
    res = chat(sandbox, "--yes", "--max-tokens", "3", "-", input=BIG)
    assert res.code == 0, res.stderr
    shown = run("history", "show", "1")
    assert shown.code == 0, shown.stderr
    assert len(shown.text) < SHOWN_PROMPT_CHARS + 2000
    stored = history_json("show", "1")["exchanges"][0]["prompt"]
    assert stored.strip() == BIG.strip()
    rest = len(stored) - SHOWN_PROMPT_CHARS
    assert f"{rest:,} more characters; --json shows the whole text" in flat(shown.text)
