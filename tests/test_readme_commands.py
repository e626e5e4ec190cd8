"""README.md's two fresh-machine commands stay true: CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fenced_after(heading_text: str, readme: str) -> str:
    idx = readme.index(heading_text)
    match = re.search(r"```sh\n(.*?)\n```", readme[idx:], re.S)
    assert match, heading_text
    return match.group(1).strip()


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = _fenced_after("Install and run the tests:", readme)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # The README chains venv creation, install and the test run; CI runs the same steps in order.
    steps = [s.strip() for s in command.split("&&")]
    assert steps[0] == "python3 -m venv .venv"
    assert steps[1] == ". .venv/bin/activate"
    assert steps[2] == "pip install -e '.[test]'"
    assert steps[3] == "python -m pytest"
    positions = [
        ci.index(step)
        for step in ("python3 -m venv .venv", ". .venv/bin/activate", "pip install -q -e '.[test]'")
    ]
    assert positions == sorted(positions)
    assert re.search(r"^python -m pytest( <\s*/dev/null)?$", ci, re.M), (
        "CI must run the README's test command"
    )


def test_readme_main_job_uses_the_sandbox() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = _fenced_after("Install and run the main job", readme)
    assert command.endswith('mscli --sandbox chat "Hello"')
