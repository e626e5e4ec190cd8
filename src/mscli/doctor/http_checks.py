"""The checks that talk HTTP to the API: reachability, is it the API, auth, rate limit, models,
the default model, balance, and the opt-in live completion. They share one raw GET /models."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

from mscli.advice import row_for
from mscli.catalogue import suggest
from mscli.doctor.base import (
    API_HOST,
    CheckResult,
    DoctorState,
    advice_fix,
    fail,
    fmt_ms,
    from_error,
    join_fix,
    ok,
    skip,
    warn,
)
from mscli.errors import ApiError, MscliError
from mscli.settings import describe_source

#: A spendable balance below this many credits is reported as low.
LOW_CREDITS = 50.0
#: Warn when fewer than this share of the rate-limit window is left.
RATE_HEADROOM_WARN = 0.1


def _html_title(text: str) -> str | None:
    m = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    title = re.sub(r"\s+", " ", m.group(1)).strip()
    return title[:80] or None


def _server_message(text: str) -> str | None:
    import json

    try:
        body = json.loads(text)
    except ValueError:
        return None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:200].rstrip(".")
        if isinstance(err, str):
            return err[:200].rstrip(".")
        for k in ("message", "detail"):
            if isinstance(body.get(k), str):
                return str(body[k])[:200].rstrip(".")
    return None


def check_http(state: DoctorState) -> CheckResult:
    assert state.url is not None
    path = state.url.path + "/models"
    started = time.perf_counter()
    try:
        raw = state.client().request_raw("GET", "/models")
    except MscliError as exc:
        took = fmt_ms(time.perf_counter() - started)
        if exc.advice_key == "network.read_timeout" or getattr(exc, "kind", "") in (
            "read_timeout",
            "timeout",
        ):
            return from_error(
                state,
                exc,
                detail=(
                    f"GET {path}: the server accepted the connection but sent no answer within {state.timeout:g} s"
                ),
                fix="The server is not answering HTTP. Retry later; check a proxy or load balancer in between; raise --timeout if it is only slow.",
            )
        return from_error(state, exc, detail=f"GET {path} failed after {took}: {exc.message}")
    status = raw.status
    first_failure: int | None = None
    # one retry, as every other command does: one transient 5xx is not a verdict
    if status >= 500 and state.pause_before_retry(state.retry.hint(raw.headers)):
        try:
            again = state.client().request_raw("GET", "/models")
        except MscliError:
            again = None
        if again is not None and again.status < 500:
            first_failure, raw, status = status, again, again.status
    state.raw = raw
    latency = raw.latency_ms
    if first_failure is not None:
        return warn(
            f"GET {path} answered HTTP {first_failure}, then HTTP {status} on a retry: the server "
            f"is flaky (server latency {latency:.0f} ms)",
            key="server",
            fix="Requests are retried automatically; if this keeps happening, check ModelStack's "
            "status and contact support.",
            http_status=status,
            latency_ms=round(latency, 1),
        )
    if status >= 500:
        text = raw.text
        said = (
            _server_message(text)
            or _html_title(text)
            or (text.strip()[:80] if text.strip() else "empty body")
        )
        rid = raw.request_id
        rid_note = f"; request id {rid}" if rid else ""
        return fail(
            f"GET {path} answered HTTP {status}: {said}{rid_note}", key="server", http_status=status
        )
    return ok(
        f"GET {path} answered HTTP {status} (server latency {latency:.0f} ms)",
        status=status,
        latency_ms=round(latency, 1),
    )


def check_api(state: DoctorState) -> CheckResult:
    raw = state.raw
    assert raw is not None  # the http check ran
    status, text = raw.status, raw.text
    ctype = (raw.headers.get("content-type") or "").lower()
    stripped = text.lstrip()
    if "html" in ctype or stripped[:1] == "<":
        title = _html_title(text)
        page = f" ('{title}')" if title else ""
        url = state.url
        extra = ""
        if url is not None and url.form != "with_v1":
            from mscli.redact import Redactor

            given = state.settings.base_url_given if state.settings is not None else None
            shown = Redactor().url(given or url.url)
            extra = f" The base URL {shown} has no /v1 (mscli tried {url.url}); use https://{API_HOST}/v1."
        return fail(
            f"GET {url.path if url else ''}/models answered an HTML page{page} (HTTP {status}), not the API",
            key="protocol.not_api",
            fix=join_fix(row_for("protocol.not_api").fix) + extra,
        )
    if status == 404:
        said = _server_message(text)
        what = f"GET {state.url.path if state.url else ''}/models"
        fix = _not_found_fix(state, what)
        if "json" in ctype or stripped[:1] == "{":  # the API's own error: it just has no list
            return warn(
                f"{what} answered 404{': ' + said if said else ''}: this server does not list "
                "models (chat may still work: --live tries it)",
                key="not_found",
                fix=fix,
            )
        return fail(
            f"{what} answered 404{': ' + said if said else ''}: the path is wrong for this server",
            key="not_found",
            fix=fix,
        )
    if "json" in ctype or stripped[:1] in ("{", "["):
        return ok(f"JSON ({ctype.split(';')[0] or 'no content type'})")
    if not stripped:
        if status in (401, 403, 429):
            return ok(f"HTTP {status} with an empty body")
        return fail(
            f"HTTP {status} with an empty body and no content type", key="protocol.malformed"
        )
    return fail(
        f"the reply is neither JSON nor an error page ({ctype or 'no content type'}): {stripped[:60]!r}",
        key="protocol.malformed",
    )


def check_auth(state: DoctorState) -> CheckResult:
    raw = state.raw
    assert raw is not None  # the http check ran
    status = raw.status
    said = _server_message(raw.text)
    s = state.settings
    source = "the " + describe_source(s.api_key.source) if s is not None else "?"
    if status in (401, 403):
        key = "auth.invalid" if status == 401 else "auth.forbidden"
        err = ApiError(said or f"HTTP {status}", status=status, server_message=said)
        return fail(
            f"the key from {source} was rejected (HTTP {status}{': ' + said if said else ''})",
            key=key,
            fix=advice_fix(state, err),
        )
    if 200 <= status < 300:
        return ok(f"the key from {source} was accepted")
    return ok(f"the key from {source} was not rejected (the server answered HTTP {status})")


def check_rate_limit(state: DoctorState) -> CheckResult:
    raw = state.raw
    assert raw is not None  # the http check ran
    status, headers = raw.status, raw.headers
    plan = state.plan
    plan_note = (
        f"plan {plan.label} allows {plan.rpm} RPM"
        if plan
        else "plan unknown (`mscli config set plan pro` to compare)"
    )
    if status == 429:
        import time as _time

        from mscli.api.retry import parse_retry_after

        wait = parse_retry_after(headers, now=_time.time())
        after = f", retry after {wait:g} s" if wait else ""
        said = _server_message(raw.text)
        detail = f"HTTP 429 on GET /models{after}{': ' + said if said else ''}; {plan_note}"
        max_wait = state.settings.max_wait.value if state.settings is not None else 60.0
        if wait is not None and wait > max(60.0, float(max_wait or 0)):
            # longer than a per-minute window and than mscli waits: not a matter of retrying
            at = _time.strftime("%H:%M UTC", _time.gmtime(_time.time() + wait))
            span = f"{wait / 60:.0f} min" if wait >= 90 else f"{wait:.0f} s"
            return fail(
                detail,
                key="rate_limit.wait_too_long",
                fix=f"The server asks to wait {span}: retry after {at}. "
                "More retries will not help; if this persists, check the plan in Dashboard → Billing.",
                retry_after=wait,
            )
        return fail(detail, key="rate_limit", retry_after=wait)
    limit = headers.get("x-ratelimit-limit-requests") or headers.get("x-ratelimit-limit")
    remaining = headers.get("x-ratelimit-remaining-requests") or headers.get(
        "x-ratelimit-remaining"
    )
    try:
        lim = int(float(limit)) if limit else None
        rem = int(float(remaining)) if remaining else None
    except ValueError:
        lim = rem = None
    if lim is None or rem is None:
        return ok(f"the server reports no rate-limit headers (none are documented); {plan_note}")
    mismatch = f"; the server says {lim} RPM" if plan and plan.rpm != lim else ""
    detail = f"{rem} of {lim} requests left in this minute (x-ratelimit headers, not documented by ModelStack){mismatch}"
    if lim > 0 and rem / lim < RATE_HEADROOM_WARN:
        return warn(
            detail + f"; {plan_note}",
            key="rate_limit",
            fix="Another process is using most of your requests per minute: slow it down, or upgrade your plan.",
            limit=lim,
            remaining=rem,
        )
    return ok(detail, limit=lim, remaining=rem)


def _not_found_fix(state: DoctorState, what: str) -> str | None:
    if state.url is None:
        return None
    from mscli.api.urls import not_found_fix
    from mscli.redact import Redactor

    return not_found_fix(Redactor().url(state.url.url), state.url.form, what)


def check_models(state: DoctorState) -> CheckResult:
    try:
        listing = state.call(lambda: state.client().list_models())
    except ApiError as exc:
        from mscli.catalogue import no_model_list
        from mscli.pricing import cheapest_of

        if not no_model_list(exc):
            return from_error(state, exc)

        s = state.settings
        pick = cheapest_of(None, s.configured_model if s is not None else None)
        return warn(
            f"{exc.message}: this server does not list models; --live and balance --probe use "
            f"{pick}",
            key="not_found",
            fix=str(exc.facts.get("fix") or "") or None,
        )
    except MscliError as exc:
        return from_error(state, exc)
    ids = listing.ids
    state.models = ids
    if not ids:
        return warn(
            "the model list is empty",
            key="model.unsupported",
            fix="Check the key's plan and model stacks in the dashboard.",
        )
    from mscli.pricing import CHEAPEST_MODEL, cheapest_of

    sample = ", ".join(ids[:3]) + (" …" if len(ids) > 3 else "")
    pick = cheapest_of(ids)
    cheap = (
        ""
        if pick == CHEAPEST_MODEL
        else f"; --live and balance --probe use {pick}, the cheapest served"
    )
    return ok(f"{len(ids)} models served ({sample}){cheap}", count=len(ids))


def check_default_model(state: DoctorState) -> CheckResult:
    s = state.settings
    if s is None or not s.default_model.value:
        return skip("the settings could not be read")
    model, source = s.default_model.value, s.default_model.source
    origin = (
        "mscli's built-in default"
        if source == "default"
        else f"from the {describe_source(source, 'default_model')}"
    )
    if state.models is None:
        return skip(f"{model}: not checked, the server does not list models")
    ids = state.models
    if model in ids:
        return ok(f"{model} ({origin}) is served")
    picks = suggest(model, ids)
    mean = f"; did you mean {', '.join(picks)}?" if picks else ""
    return fail(
        f"{model} ({origin}) is not served{mean}",
        key="model.unsupported",
        fix=f"Pick a served model: `mscli config set default_model {picks[0] if picks else 'MODEL'}` (`mscli models` lists them).",
    )


def _fmt_credits(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def _next_refill(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    secs = (when - datetime.now(timezone.utc)).total_seconds()
    if secs <= 0:
        return "due now"
    h, m = divmod(int(secs // 60), 60)
    return f"in {h} h {m} min" if h else f"in {m} min"


def check_balance(state: DoctorState) -> CheckResult:
    try:
        bal = state.call(lambda: state.client().get_balance())
    except ApiError as exc:
        if exc.status == 404:
            return skip(
                "not reported: this server has no balance endpoint (ModelStack documents none); "
                "a 402 on a request is the only sign of an empty balance (Dashboard → Billing; --live)"
            )
        return from_error(state, exc)
    except MscliError as exc:
        return from_error(state, exc)
    state.balance = bal
    total = bal.spendable
    if total is None:
        return skip(
            "not reported: the balance reply carries no credit figures "
            "(Dashboard → Billing shows them; --live tries a request)"
        )
    sub, life = bal.subscription_credits or 0.0, bal.lifetime_credits or 0.0
    refill = _next_refill(bal.next_refill)
    refill_note = f"; next refill {refill}" if refill else ""
    detail = f"{_fmt_credits(total)} credits ({_fmt_credits(sub)} subscription + {_fmt_credits(life)} lifetime){refill_note}"
    data: dict[str, Any] = {"subscription_credits": sub, "lifetime_credits": life}
    if total <= 0:
        return fail(
            f"no credits left: {detail}; requests will get 402", key="balance.empty", **data
        )
    if total < LOW_CREDITS:
        return warn(
            f"low: {detail}",
            key="balance.empty",
            fix="Buy lifetime credits in Dashboard → Billing, or wait for the next refill.",
            **data,
        )
    return ok(detail, **data)


def check_live(state: DoctorState) -> CheckResult:
    if not state.live:
        return skip("not run: --live sends a tiny completion (costs a few credits)")
    from mscli.pricing import cheapest_of

    s = state.settings
    # the list the models check fetched; without one, the user's default model
    model = cheapest_of(state.models, s.configured_model if s is not None else None)
    from mscli.api.models import ChatRequest, TextDelta

    req = ChatRequest(
        model=model, messages=[{"role": "user", "content": "Reply with OK."}], max_tokens=1
    )
    started = time.perf_counter()
    first: float | None = None
    try:
        with state.client().chat_stream(req) as stream:
            for event in stream:
                if first is None and isinstance(event, TextDelta):
                    first = time.perf_counter() - started
            result = stream.result
    except MscliError as exc:
        return from_error(
            state, exc, detail=f"streamed completion on {model} failed: {exc.message}"
        )
    total = time.perf_counter() - started
    usage = result.usage
    cost = ""
    if usage is not None and state.url is not None and s is not None:
        from mscli import ledger
        from mscli.pricing import estimate_credits

        pt, ct = usage.prompt_tokens or 0, usage.completion_tokens or 0
        ledger.record(s.paths.ledger, s.base_url.value, model, pt, ct, overrides=s.price_overrides)
        credits = estimate_credits(model, pt, ct, s.price_overrides)
        cost = (
            f", about {credits:.4f} credits (estimate)"
            if credits is not None
            else ", credits unknown (no price for this model)"
        )
    if first is None:
        return ok(
            f"{model}: the stream finished in {fmt_ms(total)} without text (max_tokens=1){cost}",
            total_ms=round(total * 1000, 1),
        )
    return ok(
        f"{model}: first token after {fmt_ms(first)}, done in {fmt_ms(total)}{cost}",
        ttft_ms=round(first * 1000, 1),
        total_ms=round(total * 1000, 1),
    )
