"""man/mscli.1: roff rendering of the command tree, the environment, files, exit codes, sandbox
keys, and the EXAMPLES (each checked against the app; a line that does not fit is left out)."""

from __future__ import annotations

import re
import shlex

from mscli import __version__
from mscli.devtools.apptree import PROG, REGENERATE, Command, Param, command_tree
from mscli.devtools.sources import file_docs, magic_keys, session_commands
from mscli.envvars import ENV_VARS
from mscli.exit_codes import EXIT_CODE_DOCS

MAN_PATH = "man/mscli.1"

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


def _bold_list(words: list[str]) -> str:
    """Words shown verbatim in bold, comma-separated."""
    return ", ".join(f"\\fB{_literal(w)}\\fR" for w in words)


def _param_tag(p: Param) -> str:
    if p.kind == "argument":
        return f"\\fI{_literal(p.metavar or p.opts[0])}\\fR" + ("..." if p.multiple else "")
    names = _bold_list(p.opts)
    if p.secondary:
        names += " / " + _bold_list(p.secondary)
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
            subs = _bold_list([s.path[-1] for s in cmd.subcommands])
            out.append(f"Commands: {subs}.")
    slash, note = session_commands()
    out.append(".SH SESSION COMMANDS")
    out.append(
        "In an interactive \\fBmscli chat\\fR session (no prompt, on a terminal), a line starting "
        "with / is a command:"
    )
    for c in slash:
        out.append(".TP")
        out.append(
            f"\\fB{_literal(c.name)}\\fR" + (f" \\fI{_literal(c.args)}\\fR" if c.args else "")
        )
        out.extend(_lines(roff_text(_sentence(c.summary))))
    out.append(".PP")
    out.extend(_lines(roff_text(note)))
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
