"""The reply generator's kept tokens: a conversation asked again is answered from the tokens
generated for it before (no new seeding and drawing), with exactly the tokens a fresh generation
gives, whatever was asked before; bounded in conversations and in tokens."""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

import pytest

from mscli.sandbox import generator
from mscli.sandbox.generator import KEPT_CONVERSATIONS, KEPT_TOKENS, Reply, iter_tokens


def conversation(n: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"Tell me about streams, number {n}"}]


_fresh = itertools.count()


def fresh() -> list[dict[str, Any]]:
    """A conversation no test asked before (so nothing of it is kept)."""
    return conversation(10**9 + next(_fresh))


def first_cycle(messages: list[dict[str, Any]], seed: int) -> list[str]:
    """The default reply, generated here from the pieces: one cycle."""
    rng = random.Random(generator.conversation_digest(messages, seed))
    topic = generator.topic_of(messages)
    pieces = [generator._piece(rng, topic, 0, i) for i in range(1 + len(generator._PIECES))]
    return [tok for piece in pieces for tok in piece]


@pytest.fixture()
def generated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the generations started (the first heading of a conversation's reply)."""
    started: list[int] = []
    real = generator._heading

    def counting(rng: random.Random, cycle: int, topic: str) -> list[str]:
        if cycle == 0:
            started.append(1)
        return real(rng, cycle, topic)

    monkeypatch.setattr(generator, "_heading", counting)
    return started


def test_any_order_of_requests_gets_the_tokens_of_a_fresh_generation() -> None:
    messages = fresh()
    expected = list(itertools.islice(iter_tokens(messages, 7), 3 * KEPT_TOKENS))
    cycle = first_cycle(messages, 7)
    assert expected[: len(cycle)] == cycle
    for max_tokens in (20, 3, None, 400, 1, KEPT_TOKENS, KEPT_TOKENS + 1, 2 * KEPT_TOKENS, 20):
        reply = Reply(messages, 7, max_tokens)
        want = cycle if max_tokens is None else expected[:max_tokens]
        assert reply.text() == "".join(want)
        assert reply.completion_tokens == len(want)
        assert reply.finish_reason == ("stop" if max_tokens is None else "length")
        streamed = Reply(messages, 7, max_tokens)
        assert list(streamed) == want  # streamed token by token, the same
        assert streamed.completion_tokens == len(want)
    # another seed is another conversation
    assert Reply(messages, 8, 50).text() != Reply(messages, 7, 50).text()


def test_stop_sequences_cut_kept_tokens_as_fresh_ones() -> None:
    messages = fresh()
    fresh_text = "".join(itertools.islice(iter_tokens(messages, 0), 300))
    Reply(messages, 0, 300).text()  # keep them
    cut = fresh_text.find("\n\n")
    reply = Reply(messages, 0, 300, stop=["\n\n"])
    assert reply.text() == fresh_text[:cut]
    assert reply.finish_reason == "stop"


def test_a_conversation_asked_again_is_not_generated_again(generated: list[int]) -> None:
    messages = fresh()
    Reply(messages, 0, 20).text()
    Reply(messages, 0, 300).text()  # reads on from where the first stopped
    Reply(messages, 0).text()
    list(Reply(messages, 0, 150))
    assert len(generated) == 1
    Reply(messages, 1, 20).text()  # another seed
    Reply(fresh(), 0, 20).text()  # another conversation
    assert len(generated) == 3


def test_longer_replies_are_generated_afresh_and_not_kept(generated: list[int]) -> None:
    messages = fresh()
    Reply(messages, 0, 20).text()
    Reply(messages, 0, KEPT_TOKENS + 1).text()
    Reply(messages, 0, KEPT_TOKENS + 1).text()
    assert len(generated) == 3
    kept = generator._kept_tokens(messages, 0)
    assert len(kept.tokens) < 100  # only what the 20-token reply needed


def test_the_least_recently_used_conversation_is_dropped(generated: list[int]) -> None:
    first, second = fresh(), fresh()
    Reply(first, 0, 5).text()
    Reply(second, 0, 5).text()
    for _ in range(KEPT_CONVERSATIONS - 2):
        Reply(fresh(), 0, 5).text()
    Reply(first, 0, 5).text()  # kept: now the most recently used
    Reply(fresh(), 0, 5).text()  # one too many: `second` goes
    assert len(generator._kept) == KEPT_CONVERSATIONS
    started = len(generated)
    Reply(first, 0, 5).text()
    assert len(generated) == started
    Reply(second, 0, 5).text()
    assert len(generated) == started + 1


def test_threads_reading_one_conversation_get_the_same_tokens() -> None:
    messages = fresh()
    expected = list(itertools.islice(iter_tokens(messages, 0), KEPT_TOKENS))
    results: list[list[str]] = []
    barrier = threading.Barrier(8)

    def read() -> None:
        barrier.wait(timeout=10)
        results.append(list(Reply(messages, 0, KEPT_TOKENS)))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [expected] * 8
