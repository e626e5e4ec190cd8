"""man/mscli.1 renders without a single groff or man warning, and escapes what roff needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mscli import devtools
from mscli.devtools import manpage

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / devtools.MAN_PATH


def _page(tmp_path: Path) -> Path:
    """The page as generated now (the drift test compares it with the committed one)."""
    path = tmp_path / "mscli.1"
    path.write_text(manpage.render_man(), encoding="utf-8")
    return path


@pytest.mark.skipif(
    shutil.which("groff") is None, reason="groff is not installed (.ci/run installs groff-base)"
)
@pytest.mark.parametrize("device", [None, "ascii", "utf8"])
def test_groff_renders_without_warnings(tmp_path: Path, device: str | None) -> None:
    args = (
        ["groff", "-man", "-ww", "-z"]
        if device is None
        else ["groff", "-man", "-ww", f"-T{device}"]
    )
    for page in (_page(tmp_path), MAN):
        proc = subprocess.run([*args, str(page)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stderr == "", f"{page}: {proc.stderr}"


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_renders_without_warnings(tmp_path: Path) -> None:
    env = {**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"}
    proc = subprocess.run(
        ["man", "--warnings", "-l", str(_page(tmp_path))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "EXIT STATUS" in proc.stdout and "mscli models check" in proc.stdout


def test_roff_escaping() -> None:
    assert manpage.roff_text("use --max-wait or -p") == "use \\-\\-max\\-wait or \\-p"
    assert manpage.roff_text("read-only, claude-sonnet-4-5") == "read-only, claude-sonnet-4-5"
    assert manpage.roff_text("run `mscli keys set`") == "run \\fBmscli keys set\\fR"
    assert manpage.roff_text("a\\b") == "a\\eb"
    assert manpage.roff_text("sk_… — ×") == "sk_\\&... \\(em \\(mu"
    assert manpage.roff_text("π") == "\\[u03C0]"
    assert manpage._lines(".hidden\n'quote\n  x") == ["\\&.hidden", "\\&'quote", "x"]


def test_page_is_ascii_and_has_no_blank_lines() -> None:
    text = manpage.render_man()
    assert text.isascii()
    assert "\n\n" not in text
    assert all(not line.startswith(" ") for line in text.splitlines())
