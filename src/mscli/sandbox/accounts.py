"""Sandbox accounts: credits, charging, and the per-key sliding-window rate limiter.

Thread-safe: one lock guards every account (contention is negligible at sandbox scale). Charging
follows modelstack-api.md §7: subscription credits first; when they run out, the rest is paid from
lifetime credits with the plan's discount (`pricing.PLANS[plan].lifetime_discount`). Pools never go
negative. The clock is injectable so tests can drive the rate window without sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mscli import pricing
from mscli.sandbox.keys import MagicKey

#: Credits of the `sk_test_low_credits` account.
LOW_CREDITS = 5.0


#: What the sandbox charges per 1M (input, output) tokens for a model the docs publish no price
#: for: the server has to charge something; mscli itself never estimates such a model (None).
UNPRICED_CHARGE: tuple[float, float] = (30.0, 150.0)


@dataclass
class Account:
    key: str
    kind: str
    plan: pricing.Plan
    rpm: int
    subscription: float
    lifetime: float
    #: wall-clock creation time (for `next_refill_at`)
    created_at: float
    #: requests seen with this key (any endpoint, any outcome): drives `sk_test_flaky`
    requests: int = 0
    #: clock times of the requests admitted in the current window
    window: deque[float] = field(default_factory=deque)

    @property
    def empty(self) -> bool:
        return self.subscription <= 0 and self.lifetime <= 0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    #: seconds until the oldest request in the window leaves it (a slot frees)
    reset_after: float

    @property
    def retry_after(self) -> int:
        """Whole seconds for `Retry-After` (at least 1)."""
        return max(1, math.ceil(self.reset_after - 1e-9))


@dataclass(frozen=True)
class Charge:
    list_price: float  # credits at list price
    from_subscription: float
    from_lifetime: float  # after the plan's discount


class AccountStore:
    def __init__(
        self,
        *,
        plan: str = "pro",
        subscription_credits: float | None = None,
        lifetime_credits: float = 100.0,
        rpm: int | None = None,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.plan = plan
        self.subscription_credits = subscription_credits
        self.lifetime_credits = lifetime_credits
        self.rpm = rpm
        self.window_seconds = window_seconds
        self.clock = clock
        self.wall = wall
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}

    def get(self, key: str, magic: MagicKey) -> Account:
        """The account for `key`, created on first use."""
        with self._lock:
            acct = self._accounts.get(key)
            if acct is None:
                acct = self._accounts[key] = self._new(key, magic)
            return acct

    def _new(self, key: str, magic: MagicKey) -> Account:
        plan = pricing.PLANS[magic.plan or self.plan]
        sub = (
            plan.refill_credits if self.subscription_credits is None else self.subscription_credits
        )
        life = self.lifetime_credits
        if magic.kind == "no_credits":
            sub, life = 0.0, 0.0
        elif magic.kind == "low_credits":
            sub, life = LOW_CREDITS, 0.0
        return Account(
            key=key,
            kind=magic.kind,
            plan=plan,
            rpm=self.rpm if self.rpm is not None else plan.rpm,
            subscription=float(sub),
            lifetime=float(life),
            created_at=self.wall(),
        )

    def count_request(self, acct: Account) -> int:
        """Count one request for `acct`; returns its 1-based number."""
        with self._lock:
            acct.requests += 1
            return acct.requests

    def admit(self, acct: Account) -> RateDecision:
        """Sliding window: admit the request if fewer than `rpm` were admitted in the last
        `window_seconds`. Rejected requests do not take a slot."""
        with self._lock:
            now = self.clock()
            win = acct.window
            while win and win[0] <= now - self.window_seconds:
                win.popleft()
            allowed = len(win) < acct.rpm
            if allowed:
                win.append(now)
            reset = (win[0] + self.window_seconds - now) if win else 0.0
            return RateDecision(allowed, acct.rpm, max(0, acct.rpm - len(win)), max(0.0, reset))

    def charge(
        self, acct: Account, model: str, prompt_tokens: int, completion_tokens: int
    ) -> Charge:
        cost = pricing.estimate_credits(model, prompt_tokens, completion_tokens)
        if cost is None:  # the server charges something for a model mscli has no price for
            overrides = {model: UNPRICED_CHARGE}
            cost = (
                pricing.estimate_credits(model, prompt_tokens, completion_tokens, overrides) or 0.0
            )
        with self._lock:
            from_sub = min(acct.subscription, cost)
            acct.subscription = max(0.0, acct.subscription - from_sub)
            rest = cost - from_sub
            from_life = 0.0
            if rest > 0:
                from_life = min(acct.lifetime, rest * (1.0 - acct.plan.lifetime_discount))
                acct.lifetime = max(0.0, acct.lifetime - from_life)
            return Charge(cost, from_sub, from_life)

    def snapshot(self, acct: Account) -> tuple[float, float]:
        with self._lock:
            return acct.subscription, acct.lifetime
