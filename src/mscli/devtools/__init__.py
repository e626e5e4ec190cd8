"""Generators for the files derived from the Typer app: completions, man page, README regions.

    python -m mscli.devtools completions|man|readme|all [--check]

Everything is generated from the running app (`typer.main.get_command(app)`, walked recursively)
and from the data tables the code itself uses (`EXIT_CODE_DOCS`, `ENV_VARS`, the sandbox's
`MAGIC_KEYS`, the chat session's slash-command table, the path functions of the config store,
models cache, gateway notes, ledger, history and session input history), so the committed copies
cannot drift: `tests/docs/test_generated_files.py` regenerates them in memory and fails on any
difference. `--check` writes nothing and exits 1 listing the files that differ (for CI).

Output is deterministic: no dates, no colour, no terminal width, and paths shown with `~` for the
home directory (the Linux/XDG defaults, with the macOS ones beside them).

This package holds the driver (`render`, `differences`, `main`); `apptree` walks the app,
`sources` gathers files and sandbox keys, `completions`, `manpage` and `readme` render.
A developer tool: never imported by `mscli` itself, so it may import rich.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mscli.devtools.apptree import REGENERATE, command_tree
from mscli.devtools.completions import render_completions
from mscli.devtools.manpage import MAN_PATH, example_problems, render_man
from mscli.devtools.readme import README_FALLBACK, README_PATH, README_REGIONS, render_readme

__all__ = [
    "MAN_PATH",
    "README_FALLBACK",
    "README_PATH",
    "README_REGIONS",
    "REGENERATE",
    "TARGETS",
    "differences",
    "main",
    "render",
    "repo_root",
]

TARGETS = ("completions", "man", "readme")


def render(targets: tuple[str, ...] | list[str], root: Path) -> dict[str, str | None]:
    """Relative path -> expected content for every file of `targets` (None: must not exist)."""
    out: dict[str, str | None] = {}
    tree = command_tree() if ("man" in targets or "readme" in targets) else None
    if "completions" in targets:
        out.update(render_completions())
    if "man" in targets:
        out[MAN_PATH] = render_man(tree)
    if "readme" in targets:
        out.update(render_readme(root, tree))
    return out


def differences(expected: dict[str, str | None], root: Path) -> list[str]:
    stale = []
    for rel, content in expected.items():
        try:
            current = (root / rel).read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != content:
            stale.append(rel)
    return stale


def repo_root() -> Path:
    """The checkout holding this file (src layout), else the current directory."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mscli.devtools",
        description="Regenerate the files derived from the mscli app (completions/, man/, README regions).",
    )
    parser.add_argument("target", choices=[*TARGETS, "all"])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing the files that differ"
    )
    parser.add_argument(
        "--root", type=Path, default=None, help="checkout to write into (default: this one)"
    )
    args = parser.parse_args(argv)
    root = (args.root or repo_root()).resolve()
    targets = TARGETS if args.target == "all" else (args.target,)
    expected = render(targets, root)
    stale = differences(expected, root)
    if args.check:
        if stale:
            print("Generated files are out of date:", file=sys.stderr)
            for rel in stale:
                print(f"  {rel}", file=sys.stderr)
            print(f"Run `{REGENERATE}` and commit the result.", file=sys.stderr)
            return 1
        print(f"{len(expected)} generated files up to date.")
        return 0
    for rel in stale:
        path = root / rel
        content = expected[rel]
        if content is None:
            path.unlink()
            print(f"removed {rel} (no longer needed)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {rel}")
    if not stale:
        print(f"{len(expected)} generated files already up to date.")
    if "man" in targets:
        for problem in example_problems():
            print(f"note: example left out of the man page: {problem}", file=sys.stderr)
    if "readme" in targets and expected.get(README_FALLBACK):
        print(f"note: README.md lacks some markers; see {README_FALLBACK}", file=sys.stderr)
    return 0
