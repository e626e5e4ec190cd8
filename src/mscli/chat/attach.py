"""What a message carries besides its words: text files (`chat -f PATH`, `/file PATH` in the
session), the prompt written in $EDITOR (`/edit`, Ctrl-X Ctrl-E), and THE input-size rule
(`check_size`: `limits.INPUT_SOFT_BYTES` asks or needs --yes, `limits.INPUT_HARD_BYTES` refuses),
applied to the whole message: prompt, piped text and files together.

Standard library only; the terminal is passed in (its stdin and environment), never read here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from mscli.errors import UsageError
from mscli.limits import INPUT_HARD_BYTES, INPUT_SOFT_BYTES

if TYPE_CHECKING:
    from mscli.terminal import Terminal

STDIN_NAME = "standard input"


class Attachment(NamedTuple):
    """One text file's contents, sent before the prompt under a line naming it."""

    name: str
    text: str

    @property
    def size(self) -> int:
        return _bytes(self.text)


def stdin_bytes(terminal: Terminal, limit: int | None = INPUT_HARD_BYTES) -> bytes:
    """Piped stdin as bytes. For a chat message, at most one byte past the hard limit (a 10 GB
    pipe is not read whole to be refused; the size check then says it is over the limit);
    `limit=None` reads it all (a batch's input is many messages)."""
    size = -1 if limit is None else limit + 1
    stream: Any = getattr(terminal.stdin, "buffer", None)
    if stream is not None:
        data = stream.read(size)
        return data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogateescape")
    text = terminal.stdin.read(size)
    return text.encode("utf-8", "surrogateescape")


def stdin_text(terminal: Terminal, limit: int | None = INPUT_HARD_BYTES) -> str:
    """Piped stdin as UTF-8 (invalid bytes replaced, one BOM dropped), whatever the locale; read
    no further than `limit` (`stdin_bytes`)."""
    text = stdin_bytes(terminal, limit).decode("utf-8", "replace")
    return text[1:] if text.startswith("\ufeff") else text


def load(path: str, terminal: Terminal) -> Attachment:
    """The text file at `path` (`-`: stdin), or UsageError naming it: missing, a directory,
    unreadable, over the hard limit, binary, or not UTF-8."""
    if path == "-":
        return _text(STDIN_NAME, stdin_bytes(terminal))
    file = Path(path).expanduser()
    try:
        if file.is_dir():
            raise UsageError(f"{path} is a directory; -f/--file takes a text file.", path=path)
        size = file.stat().st_size
        if size > INPUT_HARD_BYTES:
            raise _too_large(f"{path} is {_shown(size)}", size)
        with file.open("rb") as fh:
            data = fh.read(INPUT_HARD_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"Cannot read {path}: there is no such file.", path=path) from None
    except OSError as err:
        raise UsageError(f"Cannot read {path}: {err.strerror or err}.", path=path) from None
    return _text(path, data)


def _text(name: str, data: bytes) -> Attachment:
    if b"\0" in data:
        raise UsageError(
            f"{name} is a binary file; mscli sends text files only.",
            path=name,
            fix="Attach a text file (source, markdown, CSV, JSON, logs...).",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"{name} is not UTF-8 text; mscli sends text files only.",
            path=name,
            fix="Convert it first, e.g. `iconv -f latin1 -t utf-8 FILE > FILE.txt`.",
        ) from None
    return Attachment(name, text[1:] if text.startswith("\ufeff") else text)


def compose(prompt: str, attachments: Sequence[Attachment]) -> str:
    """The message: each file under a `==> NAME <==` line (as `head` names files), then the
    prompt."""
    parts = [f"==> {a.name} <==\n{a.text.rstrip(chr(10))}" for a in attachments]
    if prompt:
        parts.append(prompt)
    return "\n\n".join(parts)


def check_size(text: str, confirm: Callable[[str], bool] | None) -> bool:
    """THE input-size rule. Over the hard limit: UsageError, always. Over the soft limit: ask
    `confirm` (None: nobody can answer, so UsageError pointing to --yes); returns the answer."""
    size = _bytes(text)
    if size > INPUT_HARD_BYTES:
        raise _too_large(f"The message is {_shown(size)}", size)
    if size <= INPUT_SOFT_BYTES:
        return True
    what = (
        f"The message is {_shown(size)} (about {size // 4:,} tokens, all charged as prompt "
        f"tokens), over the {_shown(INPUT_SOFT_BYTES)} mscli sends without asking"
    )
    if confirm is None:
        raise UsageError(
            f"{what}.",
            size=size,
            limit=INPUT_SOFT_BYTES,
            fix="Add --yes to send it, or send less (a part of the file, a summary).",
        )
    return confirm(f"{what}. Send it?")


def _too_large(what: str, size: int) -> UsageError:
    return UsageError(
        f"{what}, over mscli's limit of {_shown(INPUT_HARD_BYTES)} for one message "
        "(prompt and files together).",
        size=size,
        limit=INPUT_HARD_BYTES,
        fix="Send less: a part of the file, or a summary of it.",
    )


def _bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _shown(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def edit(terminal: Terminal, initial: str = "") -> str:
    """Open $EDITOR (else $VISUAL) on a private temporary file (0600, deleted after) holding
    `initial` (a line), without a shell; returns what was saved, without trailing blank lines."""
    import os
    import shlex
    import subprocess
    import tempfile

    command = terminal.getenv("EDITOR") or terminal.getenv("VISUAL")
    if command is None:
        raise UsageError(
            "No editor: EDITOR is not set.",
            fix="Set it, e.g. `export EDITOR=nano`, or type the message at the prompt.",
        )
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    if not argv:
        raise UsageError(f"EDITOR is not a command line: {command!r}.")
    fd, name = tempfile.mkstemp(prefix="mscli-prompt-", suffix=".md")  # 0600 from birth
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(initial + "\n" if initial else "")
        try:
            status = subprocess.run([*argv, name], check=False).returncode
        except OSError as err:
            raise UsageError(
                f"Cannot run the editor {argv[0]!r}: {err.strerror or err}.",
                fix="Set EDITOR to an editor that is installed.",
            ) from None
        if status != 0:
            raise UsageError(f"The editor exited with status {status}; nothing was sent.")
        with open(name, "rb") as fh:
            text = _text("the edited message", fh.read(INPUT_HARD_BYTES + 1)).text
    finally:
        os.unlink(name)
    return text.rstrip()
