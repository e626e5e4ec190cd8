"""The pricing table's one decision: which served model the paid probes use (`cheapest_of`)."""

from __future__ import annotations

import pytest

from mscli.pricing import CATALOGUE, CHEAPEST_MODEL, MODELS, cheapest_of


def test_cheapest_model_is_the_cheapest_priced_entry() -> None:
    assert cheapest_of(m.id for m in CATALOGUE) == CHEAPEST_MODEL


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        # priced ones win by output price, whatever the server's order
        (["gpt-4o", "claude-opus-4-6", "gpt-5-mini", "claude-haiku-4-5"], "claude-haiku-4-5"),
        # equal output price (50): the lower input price wins
        (["claude-haiku-4-5", "gemini-2.5-flash"], "gemini-2.5-flash"),
        (["gpt-5.2", "gpt-5.1"], "gpt-5.1"),
        # nothing priced: the first served id, never a model the server does not list
        (["house-model", "gpt-4o"], "house-model"),
        # the list is unknown or empty: the table's cheapest
        ([], CHEAPEST_MODEL),
        (None, CHEAPEST_MODEL),
        (["", "gpt-5-mini"], "gpt-5-mini"),
    ],
)
def test_cheapest_of(served: list[str] | None, expected: str) -> None:
    assert cheapest_of(served) == expected


def test_every_priced_model_can_be_picked() -> None:
    for model_id, info in MODELS.items():
        if info.output_per_m is not None:
            assert cheapest_of(["house-model", model_id]) == model_id
