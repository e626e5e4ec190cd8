"""`mscli balance`: a reported balance (the sandbox), and a server without a balance endpoint (a
loopback stand-in for the real API: GET /v1/balance answers 404), with --min and --probe."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from support.cli import Result, run
from support.paths import run_paths

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

KEY = "sk_balanceTestKey0123456789abcd"
EMPTY_KEY = "sk_emptyBalanceKey0123456789ab"


def balance(base_url: str, *args: str, key: str | None = KEY) -> Result:
    env = {"MODELSTACK_API_KEY": key} if key else {}
    return run("--base-url", base_url, "--max-retries", "0", "balance", *args, env=env)


def flat(text: str) -> str:
    return " ".join(text.split())


class _NoBalanceApi(BaseHTTPRequestHandler):
    """Like the real API: /v1/models and /v1/chat/completions, and no /v1/balance (404)."""

    chats: ClassVar[list[str]] = []
    served: ClassVar[list[str]] = ["gemini-2.5-flash"]

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _key(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ").strip()

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            data = [{"id": m, "object": "model"} for m in type(self).served]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(
                404,
                {"error": {"message": f"Not found: {self.path}", "type": "not_found", "code": 404}},
            )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        type(self).chats.append(json.dumps(body))
        if self._key() == EMPTY_KEY:
            self._json(
                402,
                {
                    "error": {
                        "message": "Insufficient credit balance. Please add credits or upgrade your plan.",
                        "type": "insufficient_balance",
                        "code": 402,
                    }
                },
            )
            return
        self._json(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "H"},
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
            },
        )

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def no_balance_api() -> Iterator[str]:
    _NoBalanceApi.chats = []
    _NoBalanceApi.served = ["gemini-2.5-flash"]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _NoBalanceApi)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def _config(text: str) -> None:
    d = Path(os.environ["MSCLI_CONFIG_DIR"])
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.toml").write_text(text, encoding="utf-8")
    os.chmod(d / "config.toml", 0o600)


# --- the server reports a balance (the sandbox) -------------------------------------------------------


def test_reported_balance_table(sandbox: EmbeddedSandbox) -> None:
    r = balance(sandbox.base_url, key=sandbox.api_key)
    assert r.code == 0, r.stderr
    out = flat(r.stdout)
    for label in (
        "Plan Pro",
        "RPM limit 40",
        "Subscription credits 750",
        "Lifetime credits 100",
        "Spendable 850",
        "Next refill in",
        "Weekly cap 6,000",
    ):
        assert label in out


def test_reported_balance_json(sandbox: EmbeddedSandbox) -> None:
    r = balance(sandbox.base_url, "--json", key=sandbox.api_key)
    assert r.code == 0
    doc = r.doc
    assert doc["reported"] is True and doc["source"] == "api"
    assert (doc["plan"], doc["rate_limit_rpm"]) == ("pro", 40)
    assert doc["spendable"] == doc["subscription_credits"] + doc["lifetime_credits"] == 850
    assert doc["weekly_cap"] == 6000 and doc["next_refill_at"]
    assert doc["min_check"] is None and doc["probe"] is None


def test_min_below_exits_4_after_printing(sandbox: EmbeddedSandbox) -> None:
    r = balance(sandbox.base_url, "--json", "--min", "10", key="sk_test_low_credits")
    assert r.code == 4
    assert r.doc["spendable"] == 5 and r.doc["min_check"] == "below"
    err = json.loads(r.stderr.strip().splitlines()[-1])
    assert err["error"]["type"] == "balance.below_min" and err["error"]["code"] == 4


def test_min_met_exits_0(sandbox: EmbeddedSandbox) -> None:
    r = balance(sandbox.base_url, "--min", "100", key=sandbox.api_key)
    assert r.code == 0
    assert "at or above" in r.stdout


def test_probe_not_sent_when_balance_reported(sandbox: EmbeddedSandbox) -> None:
    r = balance(sandbox.base_url, "--json", "--probe", key=sandbox.api_key)
    assert r.code == 0 and r.doc["probe"]["sent"] is False


def test_invalid_key_exits_3(sandbox: EmbeddedSandbox) -> None:
    r = balance(sandbox.base_url, key="sk_test_invalid")
    assert r.code == 3


def test_no_key_exits_3(sandbox: EmbeddedSandbox) -> None:
    r = balance(sandbox.base_url, key=None)
    assert r.code == 3
    assert "No API key" in r.stderr


# --- the server does not report balances (404, like the real API) --------------------------------


def test_not_reported_shows_ledger_rules_and_dashboard(no_balance_api: str) -> None:
    from mscli import ledger

    _config('[profiles.default]\nplan = "pro"\n')
    ledger.record(
        run_paths().ledger, no_balance_api, "claude-sonnet-4-5", 1000, 1000
    )  # 0.18 credits at list price
    ledger.record(
        run_paths().ledger, "https://elsewhere.example/v1", "claude-sonnet-4-5", 10**6, 0
    )  # another server
    r = balance(no_balance_api)
    assert r.code == 0, r.stderr
    out = flat(r.stdout)
    assert "does not report balances" in out and "404" in out
    assert "0.18 credits in 1 request (estimate)" in out
    assert "+750 subscription credits about every 5 h, up to 6,000 a week" in out
    assert "30% off" in out and "pricing page" in out
    assert "Dashboard → Billing" in out
    assert "--probe" in out


def test_not_reported_counts_unpriced_requests_apart(no_balance_api: str) -> None:
    from mscli import ledger

    ledger.record(
        run_paths().ledger, no_balance_api, "claude-sonnet-4-5", 1000, 1000
    )  # 0.18 credits at list price
    ledger.record(
        run_paths().ledger, no_balance_api, "gpt-4o", 10**6, 10**6
    )  # no known price: no credits recorded
    out = flat(balance(no_balance_api).stdout)
    assert "0.18 credits in 2 requests (estimate); 1 unpriced, not counted" in out


def test_not_reported_json(no_balance_api: str) -> None:
    r = balance(no_balance_api, "--json")
    assert r.code == 0
    doc = r.doc
    assert doc["reported"] is False and doc["source"] == "local"
    assert doc["spendable"] is None and doc["subscription_credits"] is None
    assert doc["ledger"]["estimate"] is True
    assert set(doc["ledger"]) >= {"last_5h", "last_7d"}
    assert "Dashboard → Billing" in doc["note"]
    assert doc["refill_rules"] is None  # no plan configured


def test_not_reported_min_fails_closed(no_balance_api: str) -> None:
    """A CI guard that cannot check must not pass: exit 4 with its own advice, in JSON too."""
    r = balance(no_balance_api, "--min", "100")
    assert r.code == 4
    assert "cannot be checked" in flat(r.stderr) and "--allow-unknown" in flat(r.stderr)
    assert not _NoBalanceApi.chats  # no request spent without --probe
    r = balance(no_balance_api, "--json", "--min", "100")
    assert r.code == 4 and r.doc["min_check"] == "unknown"
    assert json.loads(r.stderr.splitlines()[-1])["error"]["type"] == "balance.unknown"


def test_not_reported_min_with_allow_unknown_exits_0(no_balance_api: str) -> None:
    r = balance(no_balance_api, "--min", "100", "--allow-unknown")
    assert r.code == 0
    assert "cannot be checked" in flat(r.stderr) and "--allow-unknown" in flat(r.stderr)
    assert not _NoBalanceApi.chats


def test_probe_with_credits(no_balance_api: str) -> None:
    r = balance(no_balance_api, "--json", "--probe", "--min", "5")
    assert r.code == 0
    probe = r.doc["probe"]
    assert (
        probe["sent"] is True
        and probe["credits_available"] is True
        and probe["model"] == "gemini-2.5-flash"
    )
    assert r.doc["min_check"] == "unknown"
    sent = json.loads(_NoBalanceApi.chats[0])
    assert sent["max_tokens"] == 1 and sent["model"] == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        (["gpt-4o", "claude-opus-4-6", "gpt-5-mini", "claude-haiku-4-5"], "claude-haiku-4-5"),
        (["house-model", "gpt-4o"], "house-model"),  # nothing priced: a model it does serve
    ],
)
def test_probe_uses_the_cheapest_served_model(
    no_balance_api: str, served: list[str], expected: str
) -> None:
    _NoBalanceApi.served = served
    r = balance(no_balance_api, "--json", "--probe")
    assert r.code == 0, r.stderr
    assert r.doc["probe"]["model"] == expected
    assert [json.loads(c)["model"] for c in _NoBalanceApi.chats] == [expected]
    r = balance(no_balance_api, "--probe")
    assert f"completion to {expected}" in flat(r.stderr)


def test_probe_says_it_costs(no_balance_api: str) -> None:
    r = balance(no_balance_api, "--probe")
    assert r.code == 0
    assert "costs a tiny amount" in flat(r.stderr)
    assert "there are credits left" in flat(r.stdout)


def test_probe_402_exits_4(no_balance_api: str) -> None:
    r = balance(no_balance_api, "--json", "--probe", key=EMPTY_KEY)
    assert r.code == 4
    assert r.doc["probe"]["credits_available"] is False and r.doc["probe"]["http_status"] == 402
    assert "balance.empty" in r.stderr
