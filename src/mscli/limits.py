"""The limits mscli puts on what it is given (README "Limits"; docs/architecture.md).

Stdlib only and import-free, so any layer can use them. A value from a server beyond a limit is
treated as unknown (None), never stored or shown as is; local input beyond a limit is refused with
a message naming the limit.
"""

from __future__ import annotations

#: Largest token count or rate accepted from a server: a trillion, far above any real reply,
#: exact as a float and within SQLite's 64-bit integers. Negative or fractional counts are unknown.
MAX_COUNT = 10**12

#: Largest credit amount accepted from a server or read back from the ledger (either sign for a
#: balance, never negative for spending): sums of a few stay finite.
MAX_CREDITS = 1e12

#: Model timestamps accepted: 1970-01-01 up to 9999-12-31T23:59:59Z (what a date can show).
MAX_TIMESTAMP = 253_402_300_799

#: Extra fields a server adds are kept only as integers within 64 bits (else null).
MAX_INT64 = 2**63 - 1

#: Largest config file mscli reads or writes (1 MiB; a real one is under a kilobyte). A bigger one
#: is refused with its size and path before it is parsed, so `config show` answers at once.
MAX_CONFIG_BYTES = 1024 * 1024

#: What one message may carry (prompt, piped text and attached files together, counted in UTF-8
#: bytes): above the soft limit (256 KiB, some 60,000 tokens) mscli asks on a terminal and needs
#: --yes in scripts; above the hard limit (4 MiB, past any model's context) it refuses always.
#: One rule for one-shot chat, piped stdin, -f files and the session (mscli.chat.attach).
INPUT_SOFT_BYTES = 256 * 1024
INPUT_HARD_BYTES = 4 * 1024 * 1024

#: `history show` prints at most this many characters of a stored prompt or system prompt on a
#: terminal (the rest is counted; --json gives the whole text).
SHOWN_PROMPT_CHARS = 4000

#: Sampling bounds of a request, shared by the chat/batch options and [roles.NAME] tables.
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MIN_MAX_TOKENS = 1
#: Most stop sequences one request may carry (chat --stop, a batch line's `stop`).
MAX_STOP = 4
