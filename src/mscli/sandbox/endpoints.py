"""The sandbox's endpoints: the route table, the key check (magic keys, plan RPM window, injected
faults), `GET /v1/models`, `GET /v1/balance` and `POST /v1/chat/completions`, answered as one JSON
body or as an SSE stream, charged once generated."""

from __future__ import annotations

import datetime as _dt
import json
import time
from typing import NoReturn
from urllib.parse import urlsplit

from mscli import pricing
from mscli.sandbox import keys as magic_keys
from mscli.sandbox.accounts import Account, RateDecision
from mscli.sandbox.generator import Reply
from mscli.sandbox.handler import BaseHandler
from mscli.sandbox.protocol import (
    MSG_INTERNAL,
    MSG_INVALID_KEY,
    MSG_NO_BALANCE,
    MSG_RATE_LIMIT,
    Reject,
    compact_json,
    new_id,
)
from mscli.sandbox.validation import ChatParams, parse_chat, prompt_tokens_of

#: Fixed `created` of every model in /v1/models (deterministic output).
MODELS_CREATED = 1_700_000_000


def _rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_seconds(s: float) -> str:
    """Duration for x-ratelimit-reset-requests, OpenAI-style (`1s`, `12.5s`, `250ms`)."""
    if s < 1:
        return f"{round(s * 1000)}ms"
    return f"{round(s, 3):g}s"


def _credits(x: float) -> float | int:
    x = round(x, 6)
    return int(x) if x == int(x) else x


def _ratelimit_headers(decision: RateDecision, remaining: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(decision.limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": _fmt_seconds(decision.reset_after),
    }


class Handler(BaseHandler):
    """`BaseHandler` with the routes: what `SandboxServer` serves."""

    #: whether the current stream uses chunked framing (not for HTTP/1.0, see `_stream`)
    _chunked = True

    def _route(self) -> None:
        body = self._read_body()
        path = urlsplit(self.path).path
        if len(path) > 1:
            path = path.rstrip("/")
        methods = {
            "/v1/models": {"GET": self._models},
            "/v1/chat/completions": {"POST": self._chat},
            "/v1/balance": {"GET": self._balance},
        }.get(path)
        if methods is None:
            raise Reject(404, f"Not found: {self.command} {path[:200]}")
        # HEAD is GET without the body (`_respond` leaves it out)
        handler = methods.get("GET" if self.command == "HEAD" else self.command)
        if handler is None:
            allowed = [*methods, *(["HEAD"] if "GET" in methods else [])]
            raise Reject(
                405,
                f"Method not allowed: {self.command} {path}; use {' or '.join(allowed)}.",
                headers={"Allow": ", ".join(allowed)},
            )
        acct = self._authenticate()
        handler(acct, body)

    # --- auth, magic keys, rate limit, faults ----------------------------------------------------

    def _authenticate(self) -> Account:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.strip().partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else ""
        if key.startswith(magic_keys.TEST_KEY_PREFIX):
            self._key_label = key[:40]
        elif key:
            self._key_label = key[:3] + "…(not a test key)"
        magic = magic_keys.lookup(key)
        if magic is None or magic.kind == "invalid":
            raise Reject(401, MSG_INVALID_KEY)
        sb = self.sandbox
        acct = sb.accounts.get(key, magic)
        n = sb.accounts.count_request(acct)
        if magic.kind == "slow":
            self._extra_delay = sb.config.slow_ms / 1000
        if magic.kind == "rate_limited":
            self._rate_limited(RateDecision(False, acct.rpm, 0, 1.0))
        if magic.kind == "retry_after_long":
            self._rate_limited(RateDecision(False, acct.rpm, 0, 3600.0))
        if magic.kind == "server_error" or (magic.kind == "flaky" and n % 2 == 1):
            self._note = f"magic key {magic.kind}"
            raise Reject(500, MSG_INTERNAL)
        decision = sb.accounts.admit(acct)
        self._rate_headers = _ratelimit_headers(decision, decision.remaining)
        if not decision.allowed:
            self._rate_limited(decision)
        if sb.fault():
            self._note = "injected fault (--fail-rate)"
            raise Reject(500, MSG_INTERNAL)
        return acct

    def _rate_limited(self, decision: RateDecision) -> NoReturn:
        self._rate_headers = _ratelimit_headers(decision, 0)
        raise Reject(429, MSG_RATE_LIMIT, headers={"Retry-After": str(decision.retry_after)})

    # --- endpoints -----------------------------------------------------------------------------

    def _models(self, acct: Account, body: bytes) -> None:
        data = [
            {"id": m.id, "object": "model", "created": MODELS_CREATED, "owned_by": m.provider}
            for m in pricing.CATALOGUE
        ]
        self._json(200, {"object": "list", "data": data})

    def _balance(self, acct: Account, body: bytes) -> None:
        sub, life = self.sandbox.accounts.snapshot(acct)
        # a top-up-only plan has no subscription, so no refill: null, not a time that never comes
        refill = (
            _rfc3339(acct.created_at + pricing.REFILL_INTERVAL_HOURS * 3600)
            if acct.plan.refill_credits > 0
            else None
        )
        self._json(
            200,
            {
                "object": "balance",
                "plan": acct.plan.name,
                "rate_limit_rpm": acct.rpm,
                "subscription_credits": _credits(sub),
                "lifetime_credits": _credits(life),
                "next_refill_at": refill,
                "weekly_cap": _credits(acct.plan.weekly_cap),
            },
        )

    def _chat(self, acct: Account, body: bytes) -> None:
        params = parse_chat(body, stream_options=self.sandbox.config.stream_options)
        if acct.empty:
            raise Reject(402, MSG_NO_BALANCE)
        reply = Reply(params.messages, self.sandbox.config.seed, params.max_tokens, params.stop)
        prompt_tokens = prompt_tokens_of(params.messages)
        cid = new_id("chatcmpl-")
        created = int(time.time())
        if params.stream:
            self._stream(acct, params, reply, prompt_tokens, cid, created)
            return
        text = reply.text()
        usage = self._usage(prompt_tokens, reply.completion_tokens)
        self.sandbox.accounts.charge(acct, params.model, prompt_tokens, reply.completion_tokens)
        self._note = f"{reply.completion_tokens} tok {reply.finish_reason}"
        payload = compact_json(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": params.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": usage,
            }
        ).encode()
        if acct.kind == "cutoff":
            # announce the full length, send half, close: the client sees a body cut short
            self.close_connection = True
            head = self._start(
                200, {"Content-Type": "application/json", "Content-Length": str(len(payload))}
            )
            self._write(head + payload[: len(payload) // 2])
            self._note += " cut off (magic key)"
            return
        self._json_bytes(payload)

    def _json_bytes(self, payload: bytes) -> None:
        self._respond(200, payload, "application/json")

    @staticmethod
    def _usage(prompt: int, completion: int) -> dict[str, int]:
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _chunk(self, data: bytes) -> None:
        """One piece of a streamed body; b"" ends it. HTTP/1.0 has no chunked coding: the data
        goes as is and the body ends when the connection closes."""
        if not self._chunked:
            if data:
                self._write(data)
            return
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _stream(
        self,
        acct: Account,
        params: ChatParams,
        reply: Reply,
        prompt_tokens: int,
        cid: str,
        created: int,
    ) -> None:
        sb = self.sandbox
        cutoff = acct.kind == "cutoff"
        # Transfer-Encoding is HTTP/1.1 (RFC 9112 §6.1): an HTTP/1.0 client gets the bare SSE body,
        # ended by closing the connection
        self._chunked = self.request_version >= "HTTP/1.1"
        if cutoff or not self._chunked:
            self.close_connection = True
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        if self._chunked:
            headers["Transfer-Encoding"] = "chunked"
        self._write(self._start(200, headers))
        head = (
            f'data: {{"id":"{cid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{json.dumps(params.model)},"choices":'
        )
        delta_head = (head + '[{"index":0,"delta":{"content":').encode()
        delta_tail = b'},"finish_reason":null}]}\n\n'
        self._chunk(
            (
                head
                + '[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
            ).encode()
        )
        tps = sb.config.tokens_per_second or 0.0
        interval = 1.0 / tps if tps > 0 else 0.0
        cut_at = max(1, (params.max_tokens or 150) // 2) if cutoff else -1
        start = time.perf_counter()
        charged = False
        try:
            for i, tok in enumerate(reply):
                if sb.stopping.is_set():
                    self.close_connection = True
                    self._note = f"{i} tok, aborted: server stopping"
                    return
                if interval:
                    wait = start + i * interval - time.perf_counter()
                    if wait > 0:
                        sb.stopping.wait(wait)
                self._chunk(delta_head + json.dumps(tok).encode() + delta_tail)
                if i + 1 == cut_at:
                    self._chunk(b"")  # a clean end of the body, but no finish_reason and no [DONE]
                    self._note = f"stream {i + 1} tok cut off (magic key)"
                    return
            sb.accounts.charge(acct, params.model, prompt_tokens, reply.completion_tokens)
            charged = True
            finish = (
                head + f'[{{"index":0,"delta":{{}},"finish_reason":"{reply.finish_reason}"}}]}}\n\n'
            ).encode()
            self._chunk(finish)
            if params.include_usage:
                usage = compact_json(self._usage(prompt_tokens, reply.completion_tokens))
                self._chunk((head + f'[],"usage":{usage}}}\n\n').encode())
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
            self._note = f"stream {reply.completion_tokens} tok {reply.finish_reason}"
        finally:
            if not charged:
                # disconnects, cut-offs and shutdowns pay for what was generated
                sb.accounts.charge(acct, params.model, prompt_tokens, reply.completion_tokens)
                if not self._note:
                    self._note = f"stream {reply.completion_tokens} tok"
