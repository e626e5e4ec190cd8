"""Shell completion scripts for completions/, from the same `script()` `mscli completion` uses."""

from __future__ import annotations

COMPLETIONS_DIR = "completions"


def render_completions() -> dict[str, str]:
    from mscli.commands.completion import COMMITTED_FILES, script

    return {f"{COMPLETIONS_DIR}/{name}": script(shell) for shell, name in COMMITTED_FILES.items()}
