"""API keys: normalising what people paste, and the key rules (``usable_key``): the ModelStack
``sk_`` format on ModelStack's host, the key as given on any other OpenAI-compatible gateway.

Standard library only. Masking lives in ``mscli.redact.mask_key``.

ModelStack keys are ``sk_`` (underscore) followed by a random string of letters and digits
(modelstack-api.md §1; the docs' placeholder is ``sk_`` + 32 characters). We also accept ``_`` and
``-`` after the prefix (``sk_test_...`` keys, future formats) and only refuse what cannot be a key.
Nothing here ever puts the key itself into a message: at most the offending character.
"""

from __future__ import annotations

import re
import unicodedata

from mscli.errors import KeyFormatError, KeyMissingError

__all__ = [
    "KEY_PREFIX",
    "MAX_KEY_LENGTH",
    "MIN_KEY_LENGTH",
    "check_key_format",
    "header_safe",
    "key_problems",
    "normalise_key",
    "usable_key",
]

KEY_PREFIX = "sk_"
#: Shortest key accepted locally (``sk_`` + 7, so the sandbox's ``sk_test_pro`` passes). Real keys
#: are ``sk_`` + 32; this only catches a key cut off while copying, not a wrong one (the server
#: decides that).
MIN_KEY_LENGTH = 10
MAX_KEY_LENGTH = 256

_QUOTE_PAIRS = {
    '"': '"',
    "'": "'",
    "`": "`",
    "\u201c": "\u201d",
    "\u2018": "\u2019",
    "\u00ab": "\u00bb",
}
_QUOTES = frozenset(_QUOTE_PAIRS) | frozenset(_QUOTE_PAIRS.values())
#: Invisible characters that ride along with copy-paste (zero-width space/joiners, BOM, word joiner).
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_BEARER_RE = re.compile(r"^(?:authorization\s*:\s*)?bearer\s+", re.IGNORECASE)
_VALID_RE = re.compile(r"sk_[A-Za-z0-9_-]+")


def _strip_edges(text: str) -> str:
    return text.strip().strip(_INVISIBLE).strip()


def normalise_key(raw: str) -> str:
    """What the user meant: strip surrounding whitespace and newlines, invisible characters,
    surrounding quotes (straight or curly), and a leading ``Bearer `` / ``Authorization: Bearer ``.

    Characters *inside* the key are left alone, so ``check_key_format`` can say what is wrong.
    """
    key = _strip_edges(raw)
    for _ in range(4):  # quotes around "Bearer sk_..." or Bearer around a quoted key
        before = key
        if len(key) >= 2 and key[0] in _QUOTE_PAIRS and key[-1] == _QUOTE_PAIRS[key[0]]:
            key = _strip_edges(key[1:-1])
        match = _BEARER_RE.match(key)
        if match:
            key = _strip_edges(key[match.end() :])
        if key == before:
            break
    return key


def _describe_char(ch: str) -> str:
    if ch == "\n" or ch == "\r":
        return "a line break"
    if ch == "\t":
        return "a tab"
    if ch == " ":
        return "a space"
    if ch.isspace():
        return f"a {unicodedata.name(ch, 'whitespace').lower()} (U+{ord(ch):04X})"
    if ch in _INVISIBLE or unicodedata.category(ch) in ("Cf", "Cc"):
        return f"an invisible character (U+{ord(ch):04X})"
    if ch in _QUOTES:
        return f"a quote ({ch})"
    if ord(ch) > 127:
        return f"a non-ASCII character {ch!r} (U+{ord(ch):04X})"
    return f"the character {ch!r}"


def _format_problems(key: str) -> list[str]:
    """Every reason ``key`` (as given) is not a well-formed ModelStack key. Empty when it is."""
    if not key:
        return ["the key is empty"]
    problems: list[str] = []
    if key != key.strip() or key != _strip_edges(key):
        problems.append(
            "it has whitespace or invisible characters around it (pasted with a space or newline?)"
        )
    inner = _strip_edges(key)
    if inner[:1] in _QUOTES or inner[-1:] in _QUOTES:
        problems.append("it is wrapped in quotes; the quotes are not part of the key")
    if _BEARER_RE.match(inner):
        problems.append("it starts with 'Bearer '; give only the key, mscli adds the header itself")
    core = normalise_key(key)
    if not core:
        return [*problems, "the key is empty"]
    if core.lower().startswith("sk-"):
        problems.append(
            "it starts with 'sk-' (a hyphen): that looks like an OpenAI-style key; "
            "ModelStack keys start with 'sk_' (an underscore)"
        )
    elif not core.startswith(KEY_PREFIX):
        if core.lower().startswith(KEY_PREFIX):
            problems.append(
                "it starts with 'SK_' in capitals; ModelStack keys start with lower-case 'sk_'"
            )
        else:
            problems.append(
                "it does not start with 'sk_'; ModelStack keys do (is this a key from another service?)"
            )
    for i, ch in enumerate(core):
        if not (ch.isascii() and (ch.isalnum() or ch in "_-")):
            where = "inside the key" if ch.isspace() else "in the key"
            problems.append(
                f"it contains {_describe_char(ch)} {where} at position {i + 1}; "
                "keys hold only letters, digits, '_' and '-'"
            )
            break
    if len(core) < MIN_KEY_LENGTH:
        problems.append(
            f"it is too short ({len(core)} characters); ModelStack keys are 'sk_' followed by "
            "about 32 characters (was it cut off when copying?)"
        )
    elif len(core) > MAX_KEY_LENGTH:
        problems.append(
            f"it is too long ({len(core)} characters, at most {MAX_KEY_LENGTH}); "
            "did more than the key get pasted?"
        )
    return problems


def _where(source: str) -> str:
    """``env:MODELSTACK_API_KEY`` -> ``the environment variable MODELSTACK_API_KEY``."""
    from mscli.settings import describe_source  # settings imports this module lazily too

    return "the " + describe_source(source, "api_key")


def check_key_format(key: str, source: str) -> None:
    """Raise ``KeyFormatError`` (``KeyMissingError`` when empty) if ``key`` is not a well-formed
    ModelStack key; ``source`` (``flag``, ``env:MODELSTACK_API_KEY``, ``profile:work``, ``stdin``…)
    says where it came from. The message names exactly what is wrong, never the key itself.
    """
    if not key or not key.strip(" \t\r\n" + _INVISIBLE):
        raise KeyMissingError(f"the API key from {_where(source)} is empty", source=source)
    if _VALID_RE.fullmatch(key) and MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH:
        return
    problems = _format_problems(key)
    if not problems:  # pragma: no cover - _VALID_RE and _format_problems agree
        problems = ["it is not a ModelStack key (sk_ followed by letters and digits)"]
    raise KeyFormatError(
        f"the API key from {_where(source)} is malformed: {problems[0]}",
        source=source,
        problem=problems[0],
        problems=problems,
    )


def key_problems(raw: str) -> list[str]:
    """Every problem with a key as it was stored or given (for ``mscli doctor``); ``[]`` if none.

    Problems that ``normalise_key`` would repair (whitespace, quotes, ``Bearer``) are listed too:
    mscli copes with them, other tools reading the same variable may not.
    """
    if not raw or not raw.strip(" \t\r\n" + _INVISIBLE):
        return ["the key is empty"]
    if _VALID_RE.fullmatch(raw) and MIN_KEY_LENGTH <= len(raw) <= MAX_KEY_LENGTH:
        return []
    return _format_problems(raw)


def header_safe(value: str) -> bool:
    """Whether ``value`` can go in an HTTP header as it is (printable ASCII, no whitespace)."""
    return value.isascii() and value.isprintable() and not any(c.isspace() for c in value)


def usable_key(raw: str, source: str, *, modelstack: bool) -> str:
    """THE key rules, by host: the key to send, normalised. On ModelStack's host (and the
    sandbox) a key that is not a well-formed ``sk_`` key is refused locally (exit 3); any other
    gateway (LiteLLM's ``sk-…`` virtual keys, a self-hosted proxy) gets the key as given, refused
    only when it is empty or cannot travel in an HTTP header at all."""
    key = normalise_key(raw)
    if modelstack:
        check_key_format(key, source)
        return key
    if not key:
        raise KeyMissingError(f"the API key from {_where(source)} is empty", source=source)
    bad = next((ch for ch in key if not header_safe(ch)), None)
    if bad is not None:
        problem = f"it contains {_describe_char(bad)}, which cannot be sent in a header"
        raise KeyFormatError(
            f"the API key from {_where(source)} is malformed: {problem}",
            source=source,
            problem=problem,
            problems=[problem],
        )
    return key
