"""README.md's generated regions (exit codes, environment, commands, sandbox keys, files) between
`<!-- BEGIN/END GENERATED:name -->` markers; regions without markers go to a side file."""

from __future__ import annotations

import re
from pathlib import Path

from mscli.devtools.apptree import REGENERATE, Command, command_tree
from mscli.devtools.sources import file_docs, magic_keys, session_commands
from mscli.envvars import ENV_VARS
from mscli.exit_codes import EXIT_CODE_DOCS

README_PATH = "README.md"
README_FALLBACK = "docs/readme-generated.md"
README_REGIONS = (
    "exit-codes",
    "env-vars",
    "commands",
    "session-commands",
    "sandbox-keys",
    "files",
)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def readme_regions(tree: Command | None = None) -> dict[str, str]:
    tree = command_tree() if tree is None else tree
    regions: dict[str, str] = {}
    rows = ["| Code | Meaning |", "|---:|---|"]
    rows += [f"| {int(code)} | {_cell(text)} |" for code, text in EXIT_CODE_DOCS.items()]
    regions["exit-codes"] = "\n".join(rows)

    rows = ["| Variable | Meaning |", "|---|---|"]
    for var in ENV_VARS:
        names = " / ".join(f"`{n.strip()}`" for n in var.name.split("/"))
        rows.append(f"| {names} | {_cell(var.meaning)} |")
    regions["env-vars"] = "\n".join(rows)

    rows = ["| Command | What it does |", "|---|---|"]
    for cmd in tree.walk():
        if cmd is tree:
            continue
        usage = cmd.name if cmd.is_group else cmd.usage().replace(" [OPTIONS]", "")
        rows.append(f"| `{usage}` | {_cell(cmd.summary)} |")
    regions["commands"] = "\n".join(rows)

    slash, note = session_commands()
    rows = ["| Command | What it does |", "|---|---|"]
    rows += [f"| `{c.usage}` | {_cell(c.summary)} |" for c in slash]
    regions["session-commands"] = "\n".join([*rows, "", note])

    rows = ["| File | What it holds | macOS |", "|---|---|---|"]
    for f in file_docs():
        rows.append(f"| `{f.linux}` | {_cell(f.meaning)} | `{f.macos}` |")
    rows += [
        "",
        "Linux paths follow `XDG_CONFIG_HOME`, `XDG_CACHE_HOME` and `XDG_DATA_HOME`; on Windows the files are under `%LOCALAPPDATA%\\mscli`.",
    ]
    regions["files"] = "\n".join(rows)

    keys = magic_keys()
    if keys:
        key_rows, note = keys
        rows = ["| Key | What the sandbox does | mscli exits |", "|---|---|---:|"]
        for row in key_rows:
            code = row.exit_code
            rows.append(
                f"| `{row.key}` | {_cell(row.behaviour)} | {int(code)} ({code.name.lower()}) |"
            )
        if note:
            rows += ["", note]
        regions["sandbox-keys"] = "\n".join(rows)
    return regions


def _marker_re(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN GENERATED:{re.escape(name)} -->\n)(.*?)(<!-- END GENERATED:{re.escape(name)} -->)",
        re.DOTALL,
    )


def _region_block(name: str, body: str) -> str:
    return f"<!-- BEGIN GENERATED:{name} -->\n{body}\n<!-- END GENERATED:{name} -->"


def render_readme(root: Path, tree: Command | None = None) -> dict[str, str | None]:
    """README.md with its generated regions replaced; regions without markers go to
    docs/readme-generated.md (to be placed by hand) instead, and that file is to be removed (None)
    once every region has its markers. Nothing at all when there is no README."""
    readme = root / README_PATH
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return {}
    regions = readme_regions(tree)
    missing = []
    for name in README_REGIONS:
        body = regions.get(name)
        match = _marker_re(name).search(text)
        if match is None:
            if body is not None:
                missing.append(name)
            continue
        if body is None:
            continue  # no data yet (sandbox keys): leave the region as it is
        text = text[: match.start(2)] + body + "\n" + text[match.end(2) :]
    out: dict[str, str | None] = {README_PATH: text}
    if not missing and (root / README_FALLBACK).exists():
        out[README_FALLBACK] = None
    if missing:
        blocks = "\n\n".join(_region_block(n, regions[n]) for n in missing)
        out[README_FALLBACK] = (
            "# README regions to place\n\n"
            f"README.md has no markers for: {', '.join(missing)}. Paste each block where it belongs; "
            f"from then on `{REGENERATE.replace('all', 'readme')}` keeps it up to date in README.md.\n\n"
            + blocks
            + "\n"
        )
    return out
