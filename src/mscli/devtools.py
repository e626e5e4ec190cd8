"""Generators for the files derived from the Typer app: completions, man page, README regions.

    python -m mscli.devtools completions|man|readme|all [--check]

Everything is generated from the running app (`typer.main.get_command(app)`, walked recursively)
and from the data tables the code itself uses (`EXIT_CODE_DOCS`, `ENV_VARS`, the sandbox's
`MAGIC_KEYS`, the path functions of the config store, models cache, ledger and history), so the
committed copies cannot drift: `tests/docs/test_generated.py` regenerates them in memory and fails on
any difference. `--check` writes nothing and exits 1 listing the files that differ (for CI).

Output is deterministic: no dates, no colour, no terminal width, and paths shown with `~` for the
home directory (the Linux/XDG defaults, with the macOS ones beside them).

A developer tool: never imported by `mscli` itself, so it may import rich.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import typer.main

from mscli import __version__
from mscli.exit_codes import EXIT_CODE_DOCS
from mscli.settings import ENV_VARS

PROG = "mscli"
TARGETS = ("completions", "man", "readme")
REGENERATE = "python -m mscli.devtools all"

COMPLETIONS_DIR = "completions"
MAN_PATH = "man/mscli.1"
README_PATH = "README.md"
README_FALLBACK = "docs/readme-generated.md"
README_REGIONS = ("exit-codes", "env-vars", "commands", "sandbox-keys", "files")

#: Man page EXAMPLES: (what it does, command line). A line whose mscli command or options the app
#: does not have is left out of the page and reported by `example_problems()` (a test fails on it).
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Try mscli without a key, against the built-in sandbox:", 'mscli --sandbox chat "Hello"'),
    ("Store your API key (asked at a hidden prompt, never on the command line):", "mscli keys set"),
    ("Check the key and see which models it can use:", "mscli keys check"),
    ("List the model ids, one per line, for scripts:", "mscli models --ids"),
    (
        "Check a model id before a scripted run (exit 0 if served, 6 if not):",
        "mscli models check claude-sonnet-4-5 && echo served",
    ),
    (
        "Ask one question with a given model:",
        'mscli chat -m claude-sonnet-4-5 "Explain SSE in two sentences"',
    ),
    (
        "Machine-readable output, and the exit code for scripts:",
        'mscli --json chat "Hi" > reply.json; echo $?',
    ),
    ("Find out why a setup is broken:", "mscli doctor"),
    ("A CI smoke check that needs no key:", "mscli --sandbox doctor --json"),
    ("What can be known about your credits:", "mscli balance"),
    ("Show each effective setting and where it came from:", "mscli config show"),
    ("Install tab completion for your shell:", "mscli completion install"),
)


# --- the app as data -------------------------------------------------------------------------


@dataclass
class Param:
    kind: str  # "option" or "argument"
    opts: list[str]
    secondary: list[str]
    metavar: str | None  # None for flags
    help: str  # plain text (rich markup resolved)
    extra: str  # typer's "[default: ...; required]" suffix, or ""
    required: bool
    multiple: bool


@dataclass
class Command:
    path: list[str]
    help: str  # plain text, paragraphs separated by blank lines
    epilog: str
    params: list[Param]
    is_group: bool
    optional_command: bool = (
        False  # a group that does something on its own (invoke_without_command)
    )
    subcommands: list[Command] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def summary(self) -> str:
        first = self.help.split("\n\n")[0] if self.help else ""
        return " ".join(first.split())

    def walk(self) -> Iterator[Command]:
        yield self
        for sub in self.subcommands:
            yield from sub.walk()

    def usage(self) -> str:
        pieces = [self.name]
        if any(p.kind == "option" for p in self.params):
            pieces.append("[OPTIONS]")
        for p in self.params:
            if p.kind == "argument":
                name = (p.metavar or p.opts[0]) + ("..." if p.multiple else "")
                pieces.append(name if p.required else f"[{name}]")
        if self.is_group:
            pieces.append("[COMMAND [ARGS]...]" if self.optional_command else "COMMAND [ARGS]...")
        return " ".join(pieces)


def _markup_to_plain(text: str) -> str:
    """Typer's rich markup (`[bold]`, `\\[` escapes) as the plain text --help shows."""
    if "[" not in text:
        return text
    from rich.text import Text

    try:
        return Text.from_markup(text).plain
    except Exception:
        return text


def _clean_help(text: str | None) -> str:
    """Help text as paragraphs of single-line plain text (click's `\\f` cut, `\\b` no-rewrap)."""
    if not text:
        return ""
    text = inspect.cleandoc(text.split("\f")[0])
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        if para.startswith("\b"):
            paragraphs.append(para[1:].strip("\n"))
        else:
            paragraphs.append(" ".join(para.split()))
    return _markup_to_plain("\n\n".join(p for p in paragraphs if p))


_TYPE_NAMES = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "NUMBER",
    "path": "PATH",
    "bool": "BOOLEAN",
}


def _metavar(param: Any, ctx: Any) -> str | None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.metavar:
        return str(param.metavar)
    if param.param_type_name == "argument":
        return str(param.name).upper()
    shown = param.display_type_rich(ctx) if hasattr(param, "display_type_rich") else None
    if not shown:
        return "VALUE"
    inner = str(shown).strip("<>").removesuffix(" range")
    list_of = re.fullmatch(r"list\[(.*)\]", inner)
    if list_of:
        inner = list_of.group(1)
    return _TYPE_NAMES.get(inner, inner.upper() if inner.isidentifier() else inner)


def _param(param: Any, ctx: Any) -> Param | None:
    if getattr(param, "hidden", False):
        return None
    raw = param.help if getattr(param, "help", None) else ""
    record = param.get_help_record(ctx)
    extra = ""
    if record is not None and record[1] != raw:
        tail = record[1][len(raw) :] if record[1].startswith(raw) else ""
        extra = tail.strip()
    return Param(
        kind=param.param_type_name,
        opts=sorted(param.opts, key=lambda o: (o.startswith("--"), 0)),
        secondary=list(getattr(param, "secondary_opts", []) or []),
        metavar=_metavar(param, ctx),
        help=_clean_help(raw),
        extra=extra,
        required=bool(param.required),
        multiple=bool(getattr(param, "multiple", False)) or param.nargs == -1,
    )


def _command(cmd: Any, path: list[str], ctx: Any) -> Command:
    params: list[Param] = []
    for p in cmd.get_params(ctx):
        is_help = p.name == "help" and "--help" in p.opts
        if is_help and len(path) > 1:
            continue  # -h/--help is listed once, with the global options
        converted = _param(p, ctx)
        if converted is not None:
            params.append(converted)
    node = Command(
        path=path,
        help=_clean_help(cmd.help),
        epilog=_clean_help(cmd.epilog) if len(path) > 1 else "",
        params=params,
        is_group=hasattr(cmd, "list_commands"),
        optional_command=bool(getattr(cmd, "invoke_without_command", False)),
    )
    if node.is_group:
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            sub_ctx = typer.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
            node.subcommands.append(_command(sub, [*path, name], sub_ctx))
    return node


def command_tree() -> Command:
    """The whole app: every command, subcommand, option and argument, with plain help text."""
    from mscli.app import app

    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name=PROG, **root.context_settings)
    return _command(root, [PROG], ctx)


# --- examples ----------------------------------------------------------------------------------


def _example_problem(tree: Command, line: str) -> str | None:
    """Why `line` does not fit the app (unknown command or option), or None when it does."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    start = next((i for i, t in enumerate(tokens) if t == PROG), None)
    if start is None:
        return "does not run mscli"
    words: list[str] = []
    for tok in tokens[start + 1 :]:
        if tok and set(tok) <= set("|&;<>()"):
            break
        words.append(tok)
    node = tree
    known: dict[str, Param] = {}
    i = 0
    while i < len(words):
        for p in node.params:
            for o in p.opts + p.secondary:
                known[o] = p
        word = words[i]
        if word.startswith("-") and word != "-":
            opt = word.split("=", 1)[0]
            param = known.get(opt)
            if param is None:
                return f"{node.name} has no option {opt}"
            if param.metavar is not None and "=" not in word:
                i += 1
            i += 1
            continue
        if node.is_group:
            sub = next((s for s in node.subcommands if s.path[-1] == word), None)
            if sub is None:
                return f"{node.name} has no command {word!r}"
            node = sub
        i += 1
    if node.is_group and not node.params and node.subcommands:
        return f"{node.name} needs a command"
    return None


def example_problems(tree: Command | None = None) -> list[str]:
    tree = command_tree() if tree is None else tree
    out = []
    for _, line in EXAMPLES:
        problem = _example_problem(tree, line)
        if problem:
            out.append(f"{line}: {problem}")
    return out


# --- files (paths from the code's own functions, with ~ for home) ------------------------------

_HOME = "/MSCLI-HOME-PLACEHOLDER"
_PATH_ENV = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "MSCLI_CONFIG_DIR",
    "MSCLI_CACHE_DIR",
    "MSCLI_DATA_DIR",
)


@contextlib.contextmanager
def _placeholder_home(platform: str) -> Iterator[None]:
    """Run path functions as for a user with default settings on `platform` ("unix" or "macos")."""
    import platformdirs
    from platformdirs.macos import MacOS
    from platformdirs.unix import Unix

    dirs: Any = MacOS if platform == "macos" else Unix
    saved = {k: os.environ.get(k) for k in _PATH_ENV}
    saved_cls = platformdirs.PlatformDirs
    try:
        for k in _PATH_ENV:
            os.environ.pop(k, None)
        os.environ["HOME"] = _HOME
        platformdirs.PlatformDirs = dirs  # type: ignore[misc]
        yield
    finally:
        platformdirs.PlatformDirs = saved_cls  # type: ignore[misc]
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _tilde(path: Path | str) -> str:
    text = str(path)
    return "~" + text[len(_HOME) :] if text.startswith(_HOME) else text


@dataclass(frozen=True)
class FileDoc:
    linux: str
    macos: str
    meaning: str


def _history_path() -> Path:
    try:
        from mscli.history import default_path

        return Path(default_path())
    except ImportError:
        from mscli.completers import history_path

        path = history_path()
        assert path is not None
        return path


def file_docs() -> list[FileDoc]:
    """The files mscli reads and writes, from the same functions the code uses."""
    from mscli import ledger, models_cache
    from mscli.config_store import CONFIG_FILENAME, config_dir

    getters: list[tuple[Callable[[], Path], str]] = [
        (
            lambda: config_dir() / CONFIG_FILENAME,
            "Profiles and settings (API key, base URL, default model, ...), written 0600. "
            "`MSCLI_CONFIG_DIR` names another directory.",
        ),
        (
            lambda: models_cache.cache_dir() / "models-*.json",
            "The model list per base URL, reused for 10 minutes, and read without network by "
            "shell completion. `MSCLI_CACHE_DIR` names another directory.",
        ),
        (
            ledger.ledger_path,
            "Credits spent through mscli (estimates, no prompt text), for `mscli balance`. "
            "`MSCLI_DATA_DIR` names another directory.",
        ),
        (_history_path, "Saved conversations (SQLite, 0600), for `mscli history`."),
    ]
    out = []
    for getter, meaning in getters:
        with _placeholder_home("unix"):
            linux = _tilde(getter())
        with _placeholder_home("macos"):
            macos = _tilde(getter())
        out.append(FileDoc(linux, macos, meaning))
    return out


def magic_keys() -> tuple[list[Any], str] | None:
    """The sandbox's magic test keys and the note for other keys, or None before they exist."""
    try:
        from mscli.sandbox import keys
    except ImportError:
        return None
    rows = getattr(keys, "MAGIC_KEYS", None)
    if not rows:
        return None
    return list(rows), str(getattr(keys, "NON_TEST_KEY_BEHAVIOUR", ""))


# --- completions ---------------------------------------------------------------------------------


def render_completions() -> dict[str, str]:
    from mscli.commands.completion import COMMITTED_FILES, script

    return {f"{COMPLETIONS_DIR}/{name}": script(shell) for shell, name in COMMITTED_FILES.items()}


# --- man page ------------------------------------------------------------------------------------

_GLYPHS = {
    "\u2026": "\\&...",
    "\u2014": "\\(em",
    "\u2013": "\\(en",
    "\u00b7": "\\(md",
    "\u00d7": "\\(mu",
    "\u2192": "\\(->",
    "\u2190": "\\(<-",
    "\u2264": "\\(<=",
    "\u2265": "\\(>=",
    "\u201c": "\\(lq",
    "\u201d": "\\(rq",
    "\u2018": "\\(oq",
    "\u2019": "\\(cq",
    "\u00a0": "\\ ",
}
_OPTION_RE = re.compile(r"(?<![\w\-/.])(--?[A-Za-z][\w\-]*)")
_CODE_RE = re.compile(r"`([^`\n]+)`")


def _roff_chars(text: str) -> str:
    text = text.replace("\\", "\\e")
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
        else:
            out.append(_GLYPHS.get(ch, f"\\[u{ord(ch):04X}]"))
    return "".join(out)


def _hyphens(text: str) -> str:
    return text.replace("-", "\\-")


def roff_text(text: str) -> str:
    """Plain text as roff: escapes, `code` in bold, option names with real minus signs."""
    pieces = []
    last = 0
    for m in _CODE_RE.finditer(text):
        pieces.append(
            _OPTION_RE.sub(lambda o: _hyphens(o.group(1)), _roff_chars(text[last : m.start()]))
        )
        pieces.append("\\fB" + _hyphens(_roff_chars(m.group(1))) + "\\fR")
        last = m.end()
    pieces.append(_OPTION_RE.sub(lambda o: _hyphens(o.group(1)), _roff_chars(text[last:])))
    return "".join(pieces)


def _lines(text: str) -> list[str]:
    """Text lines safe at the start of a roff line (no leading control character or space)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line[0] in ".'":
            line = "\\&" + line
        out.append(line)
    return out


def _paragraphs(text: str) -> list[str]:
    out: list[str] = []
    for i, para in enumerate(p for p in text.split("\n\n") if p.strip()):
        if i:
            out.append(".PP")
        out.extend(_lines(roff_text(para)))
    return out


def _literal(text: str) -> str:
    """A command line shown verbatim (every hyphen a minus sign)."""
    return _hyphens(_roff_chars(text))


def _param_tag(p: Param) -> str:
    if p.kind == "argument":
        return f"\\fI{_literal(p.metavar or p.opts[0])}\\fR" + ("..." if p.multiple else "")
    names = ", ".join(f"\\fB{_literal(o)}\\fR" for o in p.opts)
    if p.secondary:
        names += " / " + ", ".join(f"\\fB{_literal(o)}\\fR" for o in p.secondary)
    if p.metavar:
        names += f" \\fI{_literal(p.metavar)}\\fR"
    return names


def _param_items(params: list[Param]) -> list[str]:
    out = []
    for p in sorted(params, key=lambda q: q.kind != "argument"):
        out.append(".TP")
        out.append(_param_tag(p))
        text = " ".join(x for x in (p.help, p.extra) if x) or "(no help)"
        out.extend(_lines(roff_text(text)))
    return out


def _usage_roff(cmd: Command) -> str:
    parts = [f"\\fB{_literal(cmd.name)}\\fR"]
    for piece in cmd.usage()[len(cmd.name) :].split():
        parts.append(re.sub(r"([A-Z][A-Z_]*)", r"\\fI\1\\fR", _literal(piece)))
    return " ".join(parts)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _name_line(summary: str) -> str:
    text = summary.split(":")[0].rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def render_man(tree: Command | None = None) -> str:
    tree = command_tree() if tree is None else tree
    good_examples = [(d, line) for d, line in EXAMPLES if _example_problem(tree, line) is None]
    out: list[str] = [
        f'.\\" Generated by `{REGENERATE.replace("all", "man")}` from the Typer app: do not edit.',
        f'.TH MSCLI 1 "" "mscli {__version__}" "User Commands"',
        ".SH NAME",
        f"mscli \\- {roff_text(_name_line(tree.summary))}",
        ".SH SYNOPSIS",
        _usage_roff(tree).replace("\\fIOPTIONS\\fR", "\\fIGLOBAL\\-OPTIONS\\fR"),
        ".SH DESCRIPTION",
        *_paragraphs(tree.help),
        ".PP",
        "Every command accepts the global options before its name, and \\fB\\-h\\fR, "
        "\\fB\\-\\-help\\fR after it.",
        ".SH GLOBAL OPTIONS",
        *_param_items(tree.params),
        ".SH COMMANDS",
    ]
    for cmd in tree.walk():
        if cmd is tree:
            continue
        out.append(f".SS {_literal(cmd.name)}")
        out.append(_usage_roff(cmd))
        if cmd.help:
            out.append(".PP")
            out.extend(_paragraphs(cmd.help))
        if cmd.params:
            out.extend(_param_items(cmd.params))
        if cmd.epilog:
            out.append(".PP")
            out.extend(_paragraphs(cmd.epilog))
        if cmd.is_group and cmd.subcommands:
            out.append(".PP")
            subs = ", ".join(f"\\fB{_literal(s.path[-1])}\\fR" for s in cmd.subcommands)
            out.append(f"Commands: {subs}.")
    out.append(".SH ENVIRONMENT")
    for var in ENV_VARS:
        out.append(".TP")
        out.append("\\fB" + _roff_chars(var.name).replace(" / ", "\\fR, \\fB") + "\\fR")
        out.extend(_lines(roff_text(_sentence(var.meaning))))
    out.append(".SH FILES")
    files = file_docs()
    for f in files:
        out.append(".TP")
        out.append(f"\\%\\fI{_literal(f.linux)}\\fR")
        out.extend(_lines(roff_text(f.meaning)))
    mac_dirs = list(dict.fromkeys(f.macos.rsplit("/", 1)[0] for f in files))
    out.append(".PP")
    out.append(
        "These are the Linux defaults (\\fBXDG_CONFIG_HOME\\fR, \\fBXDG_CACHE_HOME\\fR and "
        "\\fBXDG_DATA_HOME\\fR move them). On macOS the files are in "
        + " and ".join(f"\\%\\fI{_literal(d)}\\fR" for d in mac_dirs)
        + "; on Windows, under %LOCALAPPDATA%\\emscli. "
        "\\fBmscli config path\\fR prints the config file in use."
    )
    out.append(".SH EXIT STATUS")
    for code, text in EXIT_CODE_DOCS.items():
        out.append(".TP")
        out.append(f"\\fB{int(code)}\\fR")
        out.extend(_lines(roff_text(_sentence(text))))
    keys = magic_keys()
    if keys:
        rows, note = keys
        out.append(".SH SANDBOX TEST KEYS")
        out.append(
            "With \\fB\\-\\-sandbox\\fR (or \\fBmscli sandbox\\fR as a server), these keys trigger "
            "documented behaviours, like a payment provider's test cards:"
        )
        for row in rows:
            out.append(".TP")
            out.append(f"\\fB{_literal(row.key)}\\fR")
            text = f"{row.behaviour} (mscli exits {int(row.exit_code)}.)"
            out.extend(_lines(roff_text(text)))
        if note:
            out.append(".PP")
            out.extend(_lines(roff_text(note)))
    if good_examples:
        out.append(".SH EXAMPLES")
        for description, line in good_examples:
            out.append(".PP")
            out.extend(_lines(roff_text(description)))
            out.extend([".PP", ".RS 4", ".nf", _literal(line), ".fi", ".RE"])
    out.extend(
        [
            ".SH SEE ALSO",
            "\\fBmscli \\-\\-help\\fR, \\fBmscli\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR, "
            "and the README at \\fIhttps://pypi.org/project/mscli/\\fR.",
        ]
    )
    return "\n".join(out) + "\n"


# --- README regions ------------------------------------------------------------------------------


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
        pattern = _marker_re(name)
        if not pattern.search(text):
            if body is not None:
                missing.append(name)
            continue
        if body is None:
            continue  # no data yet (sandbox keys): leave the region as it is
        match = pattern.search(text)
        assert match is not None
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


# --- driver --------------------------------------------------------------------------------------


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
    here = Path(__file__).resolve().parents[2]
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


if __name__ == "__main__":
    sys.exit(main())
