"""Deterministic, markdown-rich fake replies.

A reply is a sequence of tokens (one token = one streamed chunk = one unit of `completion_tokens`).
It depends only on the conversation and the seed: the same (messages, seed) always gives the same
text. The text cycles through sections (heading, paragraph with **bold** and `inline code`, bullet
list, fenced code block, numbered list, block quote), so it can be as long as asked: with no
`max_tokens` the reply is one complete cycle of about 150 tokens (finish_reason "stop"); with
`max_tokens` N the sandbox's model is verbose and writes until it is cut at exactly N tokens
(finish_reason "length"). Stop sequences end the reply early (finish_reason "stop").

The tokens of the conversations answered last are kept (`_Kept`): a conversation asked again is
not seeded and generated again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any


def _split(words: str) -> tuple[str, ...]:
    return tuple(words.split())


_WORDS = _split(
    "request model gateway token stream credit plan latency retry header cache client server "
    "response prompt context budget window limit reply chunk sandbox example config profile key "
    "balance usage error status network socket timeout output input format schema field value "
    "default option command script pipeline batch queue worker thread buffer signal event"
)
_VERBS = _split(
    "check send parse measure retry stream count store render validate compare choose "
    "configure inspect record return handle"
)
_ADJ = _split("simple fast careful stable small quiet clear typical useful precise robust local")
_FUNCS = _split("parse_reply count_tokens send_request stream_chunks load_config check_balance")
_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")


def _conversation_hash(messages: Sequence[dict[str, Any]], seed: int) -> bytes:
    """SHA-256 of (messages, seed): the reply depends on nothing else."""
    blob = json.dumps([seed, [[m.get("role"), m.get("content")] for m in messages]], sort_keys=True)
    return hashlib.sha256(blob.encode()).digest()


def conversation_digest(messages: Sequence[dict[str, Any]], seed: int) -> int:
    """A stable 64-bit number for (messages, seed): the seed of the reply's generator."""
    return int.from_bytes(_conversation_hash(messages, seed)[:8], "big")


def topic_of(messages: Sequence[dict[str, Any]]) -> str:
    """The first words of the last user message, stripped of markup, for the first heading."""
    for m in reversed(messages):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            words = _WORD_RE.findall(m["content"])[:6]
            if words:
                return " ".join(words)
            break
    return "Your request"


def _words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(_WORDS) for _ in range(n)]


def _spaced(words: Iterable[str]) -> list[str]:
    return [w + " " for w in words]


def _close(tokens: list[str], end: str) -> list[str]:
    """Replace the trailing space of the last token with `end`."""
    tokens[-1] = tokens[-1].rstrip(" ") + end
    return tokens


def _heading(rng: random.Random, cycle: int, topic: str) -> list[str]:
    if cycle == 0:
        title = topic.split()
    else:
        title = [f"Part {cycle + 1}:", rng.choice(_ADJ).capitalize(), *_words(rng, 2)]
    return _close(["## ", *_spaced(title)], "\n\n")


# The paragraph, a phrase at a time: a short reply draws only the words of the phrases it sends.


def _here(rng: random.Random) -> list[str]:
    return [
        "Here ",
        "is ",
        "a ",
        rng.choice(_ADJ) + " ",
        "answer ",
        "from ",
        "the ",
        "sandbox",
        ". ",
    ]


def _it_will(rng: random.Random) -> list[str]:
    return ["It ", "will ", rng.choice(_VERBS) + " ", "the ", *_spaced(_words(rng, 4))]


def _with_care(rng: random.Random) -> list[str]:
    return ["with ", "**", rng.choice(_ADJ) + " ", rng.choice(_WORDS), "** ", "care, "]


def _you_can_call(rng: random.Random) -> list[str]:
    return ["and ", "you ", "can ", "call ", "`", rng.choice(_FUNCS) + "()", "` "]


def _to(rng: random.Random) -> list[str]:
    return _close(["to ", rng.choice(_VERBS) + " ", *_spaced(_words(rng, rng.randint(3, 6)))], ". ")


def _then(rng: random.Random) -> list[str]:
    then = ["Then ", rng.choice(_VERBS) + " ", "each "]
    return _close([*then, *_spaced(_words(rng, rng.randint(4, 7)))], ".\n\n")


def _bullets(rng: random.Random) -> list[str]:
    out: list[str] = []
    for _ in range(4):
        item = [rng.choice(_VERBS).capitalize(), "the", *_words(rng, rng.randint(2, 4))]
        out += ["- ", *_close(_spaced(item), "\n")]
    out[-1] += "\n"
    return out


def _code(rng: random.Random) -> list[str]:
    name, arg = rng.choice(_FUNCS), rng.choice(_WORDS)
    factor = rng.randint(2, 9)
    return [
        "```python\n",
        "def ", name, "(", arg, "):\n",
        '    """', rng.choice(_VERBS).capitalize(), " ", "the ", arg, '."""\n',
        "    return ", arg, " * ", str(factor), "\n",
        "```\n\n",
        "The ", "function ", "above ", "shows ", "how ", "to ", rng.choice(_VERBS) + " ",
        "a ", arg + " ", "in ", "a ", rng.choice(_ADJ) + " ", "way.\n\n",
    ]  # fmt: skip


def _numbered(rng: random.Random) -> list[str]:
    out: list[str] = []
    for i in range(1, 5):
        item = [rng.choice(_VERBS).capitalize(), *_words(rng, rng.randint(2, 3))]
        out += [f"{i}. ", *_close(_spaced(item), "\n")]
    out[-1] += "\n"
    return out


def _quote(rng: random.Random) -> list[str]:
    out = ["> ", "**Note:** ", "this ", "reply ", "is ", "generated ", "by ", "the ", "mscli "]
    out += ["sandbox ", "and ", "is ", "the ", "same ", "for ", "the ", "same ", "prompt ", "and "]
    out += ["seed, ", "so ", "you ", "can ", *_spaced(_words(rng, rng.randint(3, 5)))]
    return _close(out, ".\n\n")


#: A cycle after its heading, in order: the paragraph's phrases, then the other sections. A reply
#: is generated a piece at a time, so that a short one (max_tokens 20) draws only what it sends;
#: the draws come in the same order either way.
_PIECES = (
    _here,
    _it_will,
    _with_care,
    _you_can_call,
    _to,
    _then,
    _bullets,
    _code,
    _numbered,
    _quote,
)


def _piece(rng: random.Random, topic: str, cycle: int, i: int) -> list[str]:
    """Piece `i` of a cycle (0 is its heading, then `_PIECES`)."""
    return _heading(rng, cycle, topic) if i == 0 else _PIECES[i - 1](rng)


def iter_tokens(messages: Sequence[dict[str, Any]], seed: int) -> Iterator[str]:
    """An endless, deterministic token stream for (messages, seed)."""
    rng = random.Random(conversation_digest(messages, seed))
    topic = topic_of(messages)
    for cycle in itertools.count():
        for i in range(1 + len(_PIECES)):
            yield from _piece(rng, topic, cycle, i)


def default_reply(messages: Sequence[dict[str, Any]], seed: int) -> list[str]:
    """The complete reply given when no max_tokens is asked: one full cycle (~150 tokens)."""
    kept = _kept_tokens(messages, seed)
    return kept.tokens[: kept.first_cycle()]


#: Conversations whose tokens are kept for the next reply (the least recently used go first), and
#: how many tokens each keeps: a longer reply is generated afresh, as it was before.
KEPT_CONVERSATIONS = 128
KEPT_TOKENS = 1024


class _Kept:
    """One conversation's tokens (those of `iter_tokens`), generated a piece at a time as far as
    the replies to it have read them, and kept for the next reply: a client that asks again (a
    retry, a test, a benchmark) gets the same tokens without seeding and drawing them again."""

    __slots__ = ("_cycle", "_lock", "_next", "_rng", "_topic", "cycle_end", "tokens")

    def __init__(self, digest: int, topic: str) -> None:
        self._rng = random.Random(digest)
        self._topic = topic
        self._cycle = self._next = 0  # the piece to generate next
        self._lock = threading.Lock()
        #: the tokens generated so far (only ever appended to, under the lock)
        self.tokens: list[str] = []
        #: how many tokens the first cycle has (the default reply), once it is generated
        self.cycle_end = 0

    def _more(self) -> None:
        """One more piece (the caller holds the lock)."""
        self.tokens.extend(_piece(self._rng, self._topic, self._cycle, self._next))
        if self._next < len(_PIECES):
            self._next += 1
            return
        if self._cycle == 0:
            self.cycle_end = len(self.tokens)
        self._cycle, self._next = self._cycle + 1, 0

    def upto(self, n: int) -> list[str]:
        """The tokens generated so far: at least `n` of them."""
        tokens = self.tokens
        if len(tokens) < n:
            with self._lock:
                while len(tokens) < n:
                    self._more()
        return tokens

    def iter(self, n: int) -> Iterator[str]:
        """The first `n` tokens, generated as they are read (a stream stays incremental)."""
        tokens = self.tokens
        for i in range(n):
            if i >= len(tokens):
                self.upto(i + 1)
            yield tokens[i]

    def first_cycle(self) -> int:
        """How many tokens the first cycle has (the default reply), generated."""
        if not self.cycle_end:
            with self._lock:
                while not self.cycle_end:
                    self._more()
        return self.cycle_end


_kept: OrderedDict[bytes, _Kept] = OrderedDict()
_kept_lock = threading.Lock()


def _kept_tokens(messages: Sequence[dict[str, Any]], seed: int) -> _Kept:
    """The kept tokens of (messages, seed), new ones if none are kept."""
    key = _conversation_hash(messages, seed)
    with _kept_lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
            return kept
    kept = _Kept(int.from_bytes(key[:8], "big"), topic_of(messages))
    with _kept_lock:
        kept = _kept.setdefault(key, kept)
        if len(_kept) > KEPT_CONVERSATIONS:
            _kept.popitem(last=False)
    return kept


def _first_stop(text: str, stops: Sequence[str]) -> int:
    """Where the first occurrence of any stop sequence starts in `text`, or -1."""
    return min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)


class Reply:
    """Iterate to get the reply's tokens; then read `finish_reason` and `completion_tokens`.

    Stop sequences follow OpenAI: the reply ends right before the first occurrence of any of them
    in the generated text (even one that spans tokens), the stop text itself is never sent, and
    finish_reason is "stop". To decide, whole tokens are held back while the text after them is
    shorter than the longest stop sequence minus one character; everything before is sent at once,
    so a stream stays incremental. Each piece sent is one generated token (the last one possibly
    cut where the stop sequence starts) and counts as one completion token, so `completion_tokens`
    is the number of chunks streamed, and the streamed and non-streamed replies are the same.
    """

    def __init__(
        self,
        messages: Sequence[dict[str, Any]],
        seed: int,
        max_tokens: int | None = None,
        stop: Sequence[str] = (),
    ) -> None:
        self._finish = "stop" if max_tokens is None else "length"
        self._kept: _Kept | None = None
        if max_tokens is None or max_tokens <= KEPT_TOKENS:
            self._kept = _kept_tokens(messages, seed)
            self._n = self._kept.first_cycle() if max_tokens is None else max_tokens
            self._tokens: Iterator[str] = self._kept.iter(self._n)
        else:  # too long to keep
            self._tokens = itertools.islice(iter_tokens(messages, seed), max_tokens)
        self._stops = [s for s in stop if s]
        self.finish_reason: str | None = None
        self.completion_tokens = 0

    def __iter__(self) -> Iterator[str]:
        stops = self._stops
        if not stops:
            for tok in self._tokens:
                self.completion_tokens += 1
                yield tok
            self.finish_reason = self._finish
            return
        # a stop sequence starting in the held-back text may still be completed by later tokens;
        # one that could start before text[-keep:] would already be complete, and found
        keep = max(len(s) for s in stops) - 1
        held: deque[str] = deque()  # generated tokens not sent yet, in order
        text = ""  # "".join(held)
        for tok in self._tokens:
            held.append(tok)
            text += tok
            cut = _first_stop(text, stops)
            # a longer stop sequence starting before `cut` ends by `cut + keep`: wait for that
            # much text, so the first occurrence wins, not the first one completed
            if cut >= 0 and len(text) >= cut + keep:
                break
            while held and len(text) - len(held[0]) >= keep:
                sent = held.popleft()
                text = text[len(sent) :]
                self.completion_tokens += 1
                yield sent
        cut = _first_stop(text, stops)
        if cut < 0:  # no stop sequence: send the rest
            for tok in held:
                self.completion_tokens += 1
                yield tok
            self.finish_reason = self._finish
            return
        pos = 0
        for tok in held:
            piece = tok[: cut - pos]
            if piece:
                self.completion_tokens += 1
                yield piece
            pos += len(tok)
            if pos >= cut:
                break
        self.finish_reason = "stop"

    def text(self) -> str:
        """The whole reply (what iterating sends), at once."""
        if self._kept is not None and not self._stops:
            n = self.completion_tokens = self._n
            self.finish_reason = self._finish
            return "".join(self._kept.upto(n)[:n])
        return "".join(self)
