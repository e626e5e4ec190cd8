"""The magic test keys: ONE table, used by the server, by `mscli sandbox keys` and by the README/man
generator. In the spirit of a payment provider's test cards: any client (curl, the openai SDK,
mscli) can trigger a documented failure by choosing the key.

These keys are a sandbox feature, not a ModelStack one.
"""

from __future__ import annotations

from dataclasses import dataclass

from mscli.exit_codes import ExitCode

#: Every key the sandbox accepts starts with this prefix; anything else gets 401.
TEST_KEY_PREFIX = "sk_test_"


@dataclass(frozen=True)
class MagicKey:
    #: The literal key, or a pattern for the generic row (`sk_test_<anything>`).
    key: str
    #: What the sandbox does for requests with this key (one sentence, user-facing).
    behaviour: str
    #: The exit code `mscli` ends with when a command meets this behaviour (default settings).
    exit_code: ExitCode
    #: Machine name of the behaviour, what the server switches on.
    kind: str
    #: Plan of the account behind the key, or None for the server's `--plan`.
    plan: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "behaviour": self.behaviour,
            "exit_code": int(self.exit_code),
            "exit_code_name": self.exit_code.name.lower(),
            "kind": self.kind,
            "plan": self.plan,
        }


#: The generic row first, then the fixed keys. Order is the order shown to users.
MAGIC_KEYS: tuple[MagicKey, ...] = (
    MagicKey(
        "sk_test_<anything>",
        "A fresh valid account on the server's --plan (default pro), created on first use. "
        "mscli checks key format first: `sk_test_` and at least two more letters or digits.",
        ExitCode.OK,
        "account",
    ),
    MagicKey(
        "sk_test_invalid",
        "401 authentication_error `Invalid API key provided` on every endpoint.",
        ExitCode.AUTH,
        "invalid",
    ),
    MagicKey(
        "sk_test_no_credits",
        "Both balances are zero: 402 insufficient_balance on chat completions (models and balance work).",
        ExitCode.BALANCE,
        "no_credits",
    ),
    MagicKey(
        "sk_test_low_credits",
        "Valid account with 5 subscription credits and no lifetime credits: 402 once they are spent.",
        ExitCode.OK,
        "low_credits",
    ),
    MagicKey(
        "sk_test_rate_limited",
        "429 rate_limit_error with `Retry-After: 1` on every request (retries run out).",
        ExitCode.RATE_LIMIT,
        "rate_limited",
    ),
    MagicKey(
        "sk_test_retry_after_long",
        "429 rate_limit_error with `Retry-After: 3600`, longer than any sensible --max-wait.",
        ExitCode.RATE_LIMIT,
        "retry_after_long",
    ),
    MagicKey(
        "sk_test_flaky",
        "500 internal_error on every other request (1st fails, 2nd succeeds, ...): one retry fixes it.",
        ExitCode.OK,
        "flaky",
    ),
    MagicKey(
        "sk_test_server_error",
        "500 internal_error on every request (retries run out).",
        ExitCode.SERVER,
        "server_error",
    ),
    MagicKey(
        "sk_test_slow",
        "Every response's first byte comes after 2 s (`--slow-ms`); succeeds unless the timeout is shorter.",
        ExitCode.OK,
        "slow",
    ),
    MagicKey(
        "sk_test_cutoff",
        "Chat replies stop half-way: a stream ends without finish_reason or `[DONE]` (mscli: "
        "truncated, exit 9); a non-streamed body is cut short and the connection closed (mscli "
        "retries it, then exit 8).",
        ExitCode.PROTOCOL,
        "cutoff",
    ),
    MagicKey(
        "sk_test_starter",
        "Valid account on the Starter plan (15 RPM).",
        ExitCode.OK,
        "plan",
        "starter",
    ),
    MagicKey("sk_test_pro", "Valid account on the Pro plan (40 RPM).", ExitCode.OK, "plan", "pro"),
    MagicKey("sk_test_max", "Valid account on the Max plan (60 RPM).", ExitCode.OK, "plan", "max"),
    MagicKey(
        "sk_test_topup",
        "Valid top-up-only account (40 RPM): lifetime credits only and no refills; "
        "`--subscription-credits N` gives it N subscription credits too.",
        ExitCode.OK,
        "plan",
        "topup",
    ),
)

#: Row of the generic `sk_test_<anything>` key.
GENERIC: MagicKey = MAGIC_KEYS[0]

#: Literal magic keys -> their row.
BY_KEY: dict[str, MagicKey] = {m.key: m for m in MAGIC_KEYS[1:]}

#: Any key not starting with the prefix (or no key at all) gets 401; this row documents that.
NOT_A_TEST_KEY = MagicKey(
    "<any other key>",
    "Any key not starting with `sk_test_`, or no key at all: 401 authentication_error.",
    ExitCode.AUTH,
    "not_test",
)

#: The note for other keys as plain text (what the README/man generator reads).
NON_TEST_KEY_BEHAVIOUR: str = NOT_A_TEST_KEY.behaviour

#: What users are shown (`mscli sandbox keys`, README, man page): the magic keys, then the rest.
TABLE: tuple[MagicKey, ...] = (*MAGIC_KEYS, NOT_A_TEST_KEY)


def lookup(key: str | None) -> MagicKey | None:
    """The row for `key`: a literal magic key, the generic row for other `sk_test_` keys, or None
    (not a sandbox key: the server answers 401)."""
    if not key or not key.startswith(TEST_KEY_PREFIX) or len(key) == len(TEST_KEY_PREFIX):
        return None
    return BY_KEY.get(key, GENERIC)
