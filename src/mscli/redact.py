"""One redactor for every piece of diagnostic text: headers, URLs, error bodies, trace lines.

Standard library only (it is imported by code that must start fast). Rules (reliability §4.3):

- a known secret value (the configured API key) is masked wherever it appears;
- anything that looks like a ModelStack/OpenAI key (``sk_…``/``sk-…``) is masked;
- the values of credential headers are masked, keeping a short type prefix and the last 4
  characters so two keys can still be told apart;
- URL userinfo is dropped and credential query parameters are masked.

`strip_control` is the one rule for control characters in text bound for a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "SENSITIVE_HEADERS",
    "SENSITIVE_QUERY_PARAMS",
    "Redactor",
    "mask_key",
    "strip_control",
]

#: What a fully masked value looks like.
MASK = "****"

#: Headers whose values are credentials (compared lower-case).
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "cookie",
        "set-cookie",
        "x-amz-security-token",
    }
)

#: Query parameters whose values are credentials (compared lower-case).
SENSITIVE_QUERY_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "auth",
        "password",
        "secret",
        "sig",
        "signature",
    }
)

# ``sk_`` keys (ModelStack) and ``sk-`` keys (OpenAI style, longer) not glued to a preceding word.
_KEY_LIKE = re.compile(
    r"(?<![A-Za-z0-9])sk_[A-Za-z0-9_\-]{8,}|(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}"
)
# Credentials after an auth scheme, in free text ("Authorization: Bearer abc…").
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9._~+/=\-]{8,})")
# Secrets shorter than this are not searched for in free text (they would mask ordinary words).
_MIN_SECRET_LEN = 6
# Keys shorter than this are masked completely.
_MIN_PARTIAL_LEN = 12
# C0 controls but tab and newline, DEL, C1 controls (what could move the cursor or start an
# escape), and the bidirectional marks, embeddings and isolates that make text read differently
# from what it says.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_control(text: str) -> str:
    """``text`` without control characters (tab and newline kept): safe to put on a terminal.
    THE rule for text shown on a terminal (panels, the doctor, server messages, replies)."""
    return _CONTROL.sub("", text)


def mask_key(key: str) -> str:
    """Mask a key for display: ``sk_…a1b2`` (prefix up to the first underscore, last 4 chars).

    Keys shorter than 12 characters are masked completely (``****``): showing four characters of a
    short secret gives too much away. A key without a short ``xx_`` prefix shows only ``…a1b2``.
    """
    key = key.strip()
    if key == MASK or ("…" in key and len(key) <= 12):  # already masked: keep (idempotent)
        return key
    if len(key) < _MIN_PARTIAL_LEN:
        return MASK
    head = ""
    sep = key.find("_")
    if sep == -1:
        sep = key.find("-")
    if 0 < sep <= 4:
        head = key[: sep + 1]
    return f"{head}…{key[-4:]}"


class Redactor:
    """Masks known secrets and anything secret-looking in diagnostic text.

    ``Redactor(secrets=[api_key])``; ``None`` and empty values are ignored, so a missing key is
    fine to pass.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        found = {s.strip() for s in secrets if s and len(s.strip()) >= _MIN_SECRET_LEN}
        # Longest first, so a secret containing another is masked whole.
        self._secrets: tuple[str, ...] = tuple(sorted(found, key=len, reverse=True))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    # -- text -----------------------------------------------------------------------------------

    def text(self, s: str) -> str:
        """Mask every known secret value and every key-looking token in ``s``."""
        if not s:
            return s
        for secret in self._secrets:
            if secret in s:
                s = s.replace(secret, mask_key(secret))
        s = _KEY_LIKE.sub(lambda m: mask_key(m.group(0)), s)
        return _BEARER.sub(lambda m: f"{m.group(1)} {mask_key(m.group(2))}", s)

    # -- headers --------------------------------------------------------------------------------

    def header_value(self, name: str, value: str) -> str:
        """The displayable form of one header value."""
        lname = name.lower()
        if lname in ("authorization", "proxy-authorization"):
            scheme, sep, cred = value.strip().partition(" ")
            if sep and cred:
                return f"{scheme} {mask_key(cred)}"
            return mask_key(value)
        if lname in ("cookie", "set-cookie", "x-amz-security-token"):
            return "<redacted>"
        if lname in SENSITIVE_HEADERS:
            return mask_key(value)
        return self.text(value)

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """A copy of ``headers`` (original name case kept) with credential values masked.

        Repeated names (a list of pairs) are joined with ``", "``.
        """
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        out: dict[str, str] = {}
        for name, value in pairs:
            shown = self.header_value(name, value)
            out[name] = f"{out[name]}, {shown}" if name in out else shown
        return out

    # -- URLs -----------------------------------------------------------------------------------

    def url(self, s: str) -> str:
        """``s`` without userinfo and with credential query parameters masked."""
        try:
            parts = urlsplit(s)
            netloc = parts.netloc
        except ValueError:
            return self.text(s)
        if "@" in netloc:
            netloc = netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(k.lower() in SENSITIVE_QUERY_PARAMS for k, _ in pairs):
                query = urlencode(
                    [(k, MASK if k.lower() in SENSITIVE_QUERY_PARAMS else v) for k, v in pairs],
                    safe="*",
                )
        rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
        return self.text(rebuilt)
