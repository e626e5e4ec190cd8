"""Model catalogue, credit prices and plan facts: one data table, used by the sandbox, the cost
estimates of `chat --usage`/`--json`, the balance ledger and the advice panels.

Facts come from modelstack-api.md §4, §6, §7; the model IDs of the priced models are our decision
(§11.6), because the pricing page gives display names only. Every credit figure derived from this table
is an *estimate* and must be labelled so wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple


class ModelInfo(NamedTuple):
    id: str
    provider: str
    #: credits per 1M input / output tokens, or None when the docs publish no price
    input_per_m: float | None = None
    output_per_m: float | None = None


#: The catalogue the sandbox serves (§11.6): IDs named in the docs plus the priced models.
CATALOGUE: tuple[ModelInfo, ...] = (
    ModelInfo("claude-opus-4-6", "anthropic", 50.0, 250.0),
    ModelInfo("claude-sonnet-4-5", "anthropic", 30.0, 150.0),
    ModelInfo("claude-haiku-4-5", "anthropic", 10.0, 50.0),
    ModelInfo("claude-3-7-sonnet-20250219", "anthropic"),
    ModelInfo("claude-3-5-sonnet-20241022", "anthropic"),
    ModelInfo("claude-3-5-haiku-20241022", "anthropic"),
    ModelInfo("claude-3-haiku-20240307", "anthropic"),
    ModelInfo("gpt-5.2", "openai", 17.5, 140.0),
    ModelInfo("gpt-5.1", "openai", 15.0, 120.0),
    ModelInfo("gpt-5-mini", "openai", 12.5, 100.0),
    ModelInfo("gpt-4o", "openai"),
    ModelInfo("gemini-2.5-pro", "google", 18.75, 150.0),
    ModelInfo("gemini-2.5-flash", "google", 6.0, 50.0),
)

MODELS: dict[str, ModelInfo] = {m.id: m for m in CATALOGUE}

#: The model chat uses when none is given or configured: the model of every example in the
#: ModelStack docs (modelstack-api.md S1, S2, S3, S5). `mscli doctor` checks the server serves it.
DEFAULT_MODEL = "claude-sonnet-4-5"

#: The priced model with the lowest output price: what `balance --probe` and `doctor --live` use
#: when the served model list is unknown (see `cheapest_of`).
CHEAPEST_MODEL = "gemini-2.5-flash"


def price_of(
    model: str, overrides: Mapping[str, tuple[float, float]] | None = None
) -> tuple[float, float] | None:
    """Credits per 1M (input, output) tokens for `model`: config overrides win, then the table;
    None when neither prices it (every estimate for it is then unknown, never invented)."""
    if overrides and model in overrides:
        return overrides[model]
    info = MODELS.get(model)
    if info is not None and info.input_per_m is not None and info.output_per_m is not None:
        return (info.input_per_m, info.output_per_m)
    return None


def cheapest_of(served: Iterable[str] | None, default: str | None = None) -> str:
    """The model `balance --probe` and `doctor --live` send their one-token request to.

    Of the `served` ids, the priced one with the lowest output price (then input price, then the
    server's order); the first served id when none is priced; when the list is unknown or empty
    (a gateway without /models), `default` (the profile's default_model) if given, else
    `CHEAPEST_MODEL`. Pure: the callers fetch the list.
    """
    ids = [i for i in (served or ()) if i]
    priced = [
        (info.output_per_m, info.input_per_m, n, i)
        for n, i in enumerate(ids)
        if (info := MODELS.get(i)) is not None
        and info.output_per_m is not None
        and info.input_per_m is not None
    ]
    if priced:
        return min(priced)[3]
    return ids[0] if ids else (default or CHEAPEST_MODEL)


def estimate_credits(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    overrides: Mapping[str, tuple[float, float]] | None = None,
) -> float | None:
    """Estimated credits for one completion at list price (no plan discount); None when the
    model has no known price."""
    price = price_of(model, overrides)
    if price is None:
        return None
    pin, pout = price
    return round((prompt_tokens * pin + completion_tokens * pout) / 1_000_000, 6)


class Plan(NamedTuple):
    name: str
    label: str
    rpm: int
    refill_credits: float  # per ~5 h refill (docs S8); 0 for top-up only
    weekly_cap: float
    lifetime_discount: float  # fraction off when lifetime credits are spent (docs S8: 20/30/50 %)


#: RPM from the API reference (15/40/60, top-up 40). Refill, cap and discount are the docs' (S8)
#: figures; the pricing page disagrees (§7 "Conflicts") so no logic beyond estimates rests on them.
PLANS: dict[str, Plan] = {
    "starter": Plan("starter", "Starter", 15, 250.0, 2000.0, 0.20),
    "pro": Plan("pro", "Pro", 40, 750.0, 6000.0, 0.30),
    "max": Plan("max", "Max", 60, 1600.0, 12800.0, 0.50),
    "topup": Plan("topup", "Top-up only", 40, 0.0, 0.0, 0.0),
}

REFILL_INTERVAL_HOURS = 5
