"""`mscli balance`: what can be known about your credits, and honestly what cannot.

The server is asked `GET {base}/balance` (modelstack-api.md §11.5: an mscli decision, served by the
sandbox). ModelStack documents no balance endpoint, so on a 404 mscli says so plainly and shows what
it does know: the local ledger of credits spent through mscli (estimates), the plan's refill rules
(docs figures, which the pricing page contradicts), and where to look (Dashboard → Billing).

Exit codes: 0 shown; 4 when `--min N` is given and the reported spendable balance (subscription +
lifetime) is below N, or when `--probe` gets a 402. When the balance is not reported, a guard that
cannot check fails closed: `--min` exits 4 (`balance.unknown`) unless `--probe` shows requests are
still served, or `--allow-unknown` accepts not knowing (both exit 0 with a warning). Errors (key,
network...) exit with their usual codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from pathlib import Path

    from mscli.api.client import GatewayClient
    from mscli.api.lenient import Balance
    from mscli.context import AppContext
    from mscli.errors import ApiError

HELP = (
    "Show plan, RPM limit, subscription and lifetime credits, next refill and weekly cap. "
    "When the server does not report balances (the real API documents no such endpoint), show the "
    "credits spent through mscli (estimates) and the plan's refill rules. "
    "--min N exits 4 when the spendable balance is below N, or cannot be known (unless --probe finds "
    "requests still served, or --allow-unknown); --probe spends a tiny amount to learn whether "
    "requests get 402."
)

#: The windows of the local ledger: one refill interval and one week.
_WINDOWS = (("last_5h", 5 * 3600, "last 5 h"), ("last_7d", 7 * 24 * 3600, "last 7 days"))


def command(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    min_: Annotated[
        Optional[float],
        typer.Option(
            "--min",
            metavar="N",
            min=0,
            help="Exit 4 when spendable credits (subscription + lifetime) are below N (a CI guard).",
        ),
    ] = None,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="If the server reports no balance: send the smallest completion (1 token, on the cheapest model the server lists; costs a tiny amount) to see whether a 402 comes back.",
        ),
    ] = False,
    allow_unknown: Annotated[
        bool,
        typer.Option(
            "--allow-unknown",
            help="With --min: exit 0 (with a warning) when the server reports no balance, instead of failing closed.",
        ),
    ] = False,
) -> None:
    """Show your credit balance (or what mscli can know about it)."""
    from mscli.context import get_app_context
    from mscli.errors import ApiError, BalanceBelowMinimumError, BalanceUnknownError

    actx = get_app_context(ctx, json=json_)
    base_url = actx.settings.base_url.value
    with actx.client() as client:
        try:
            with actx.waiting(f"Asking {client.host} for the balance"):
                bal = client.get_balance()
        except ApiError as exc:
            if exc.status != 404:
                raise
            bal = None
        result = _result(actx, bal, min_)
        probe_error: ApiError | None = None
        if probe and bal is None:
            probe_error = _probe(actx, client, result)
            result["ledger"] = _ledger(
                actx.settings.paths.ledger, base_url
            )  # now including the probe
        elif probe:
            result["probe"] = {
                "sent": False,
                "reason": "not needed: the server reported the balance",
            }
            if not actx.json:
                actx.note("--probe: not needed, the server reported the balance; nothing was sent.")

    if actx.json:
        actx.emit_json(result)
    else:
        _render(actx, result, base_url)

    if probe_error is not None:
        raise probe_error  # 402: exit 4 with the out-of-credits advice
    if min_ is not None and result["min_check"] == "below":
        raise BalanceBelowMinimumError(
            f"Spendable credits ({_fmt(result['spendable'])}) are below --min {_fmt(min_)}.",
            spendable=result["spendable"],
            minimum=min_,
        )
    if min_ is not None and result["min_check"] == "unknown":
        unknown = f"--min {_fmt(min_)} cannot be checked: this server does not report balances"
        if result["probe"] and result["probe"].get("credits_available"):
            actx.warn(f"{unknown}; the probe shows requests are still served (amount unknown).")
        elif allow_unknown:
            actx.warn(f"{unknown}; exiting 0 as --allow-unknown asks.")
        else:
            raise BalanceUnknownError(f"{unknown}.", minimum=min_)


# --- building the result -------------------------------------------------------------------------


def _result(actx: AppContext, bal: Balance | None, min_: float | None) -> dict[str, Any]:
    from mscli.pricing import PLANS, REFILL_INTERVAL_HOURS

    s = actx.settings
    reported = bal is not None
    plan_name = (bal.plan if bal is not None else None) or s.plan.value
    plan_source = (
        "server" if bal is not None and bal.plan else (s.plan.source if s.plan.value else None)
    )
    plan = PLANS.get(str(plan_name)) if plan_name else None
    sub = bal.subscription_credits if bal is not None else None
    life = bal.lifetime_credits if bal is not None else None
    spendable = bal.spendable if bal is not None else None
    rpm = bal.rate_limit_rpm if bal is not None else None
    if rpm is None and plan is not None:
        rpm = plan.rpm
    cap = bal.weekly_cap if bal is not None else None
    if min_ is None:
        min_check = None
    elif spendable is None:
        min_check = "unknown"
    else:
        min_check = "below" if spendable < min_ else "passed"
    result: dict[str, Any] = {
        "reported": reported,
        "source": "api" if reported else "local",
        "plan": plan_name,
        "plan_source": plan_source,
        "rate_limit_rpm": rpm,
        "subscription_credits": sub,
        "lifetime_credits": life,
        "spendable": spendable,
        "next_refill_at": bal.next_refill_at if bal is not None else None,
        "weekly_cap": cap if cap is not None or reported else None,
        "min": min_,
        "min_check": min_check,
        "ledger": _ledger(s.paths.ledger, s.base_url.value),
        "refill_rules": None,
        "probe": None,
        "note": None,
    }
    if plan is not None:
        result["refill_rules"] = {
            "plan": plan.name,
            "refill_credits": plan.refill_credits,
            "refill_interval_hours": REFILL_INTERVAL_HOURS,
            "weekly_cap": plan.weekly_cap,
            "lifetime_discount": plan.lifetime_discount,
            "source": "docs (billing/credits); the pricing page gives different figures",
        }
    if not reported:
        result["note"] = (
            "This server does not report balances over the API (GET /balance answered 404; "
            "ModelStack documents no balance endpoint). Exact figures: Dashboard → Billing."
        )
    return result


def _ledger(path: Path, base_url: str) -> dict[str, Any]:
    """Credits spent through mscli against this base URL, per window (estimates at list price)."""
    import time

    from mscli import ledger

    now = time.time()
    out: dict[str, Any] = {"estimate": True, "base_url": base_url}
    # the ledger is keyed by the settings' normal form of the base URL, like the model cache
    week = ledger.entries(path, since=now - _WINDOWS[-1][1], base_url=base_url)
    for key, seconds, _label in _WINDOWS:
        picked = [e for e in week if e.ts >= now - seconds]
        priced = [e.credits for e in picked if e.credits is not None]
        out[key] = {
            "credits": round(sum(priced), 4),
            "requests": len(picked),
            "unpriced_requests": len(picked) - len(priced),
        }
    return out


def _probe(actx: AppContext, client: GatewayClient, result: dict[str, Any]) -> ApiError | None:
    """Send the smallest completion to the cheapest served model; record what came back.
    Returns the 402 ApiError, if any."""
    from mscli import ledger
    from mscli.api.models import ChatRequest
    from mscli.catalogue import no_model_list
    from mscli.errors import ApiError, ProtocolError
    from mscli.pricing import cheapest_of, estimate_credits

    s = actx.settings
    try:
        entries, _cached = actx.catalogue().entries()
    except (ApiError, ProtocolError) as exc:  # no model list: the default model, or the cheapest
        if not no_model_list(exc):
            raise
        entries = []
    model = cheapest_of((str(e.get("id", "")) for e in entries), s.configured_model)
    if not actx.json:
        actx.note(
            f"--probe: sending a 1-token completion to {model} (costs a tiny amount of credits)…"
        )
    req = ChatRequest(model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)
    try:
        reply = client.chat(req)
    except ApiError as exc:
        if exc.advice_key != "balance.empty":
            raise
        result["probe"] = {
            "sent": True,
            "model": model,
            "http_status": exc.status,
            "credits_available": False,
        }
        if result["min_check"] == "unknown":
            result["min_check"] = "below"
        return exc
    usage = reply.usage
    pt = (usage.prompt_tokens or 0) if usage is not None else 0
    ct = (usage.completion_tokens or 0) if usage is not None else 0
    cost = None
    if usage is not None:
        ledger.record(
            s.paths.ledger,
            s.base_url.value,
            reply.model or model,
            pt,
            ct,
            overrides=s.price_overrides,
        )
        cost = estimate_credits(reply.model or model, pt, ct, s.price_overrides)
    result["probe"] = {
        "sent": True,
        "model": model,
        "http_status": 200,
        "credits_available": True,
        "estimated_cost": cost,
    }
    return None


# --- output ----------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    v = float(value)
    if abs(v) >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:,.4f}".rstrip("0").rstrip(".")


def _when(value: Any) -> str:
    from datetime import datetime, timezone

    if not value:
        return "—"
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    secs = (when - datetime.now(timezone.utc)).total_seconds()
    stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if secs <= 0:
        return f"due now ({stamp})"
    h, m = divmod(int(secs // 60), 60)
    return f"in {h} h {m} min ({stamp})" if h else f"in {m} min ({stamp})"


def _plan_label(result: dict[str, Any]) -> str:
    from mscli.pricing import PLANS
    from mscli.settings import describe_source

    name = result["plan"]
    if not name:
        return "unknown"
    plan = PLANS.get(str(name))
    label = plan.label if plan else str(name)
    src = result["plan_source"]
    where = "" if src in (None, "server") else f" (from the {describe_source(src, 'plan')})"
    return f"{label}{where}"


def _render(actx: AppContext, result: dict[str, Any], base_url: str) -> None:
    from rich.table import Table
    from rich.text import Text

    out = actx.out
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="muted", no_wrap=True)
    grid.add_column()
    rpm = result["rate_limit_rpm"]
    grid.add_row("Plan", _plan_label(result))
    grid.add_row("RPM limit", f"{rpm} requests/min" if rpm else "—")
    if result["reported"]:
        out.print(Text("Balance", style="title") + Text(f"  reported by {base_url}", style="muted"))
        grid.add_row("Subscription credits", _fmt(result["subscription_credits"]))
        grid.add_row("Lifetime credits", _fmt(result["lifetime_credits"]))
        grid.add_row(
            Text("Spendable", style="title"), Text(_fmt(result["spendable"]), style="title")
        )
        grid.add_row("Next refill", _when(result["next_refill_at"]))
        grid.add_row("Weekly cap", _fmt(result["weekly_cap"]))
        if result["min"] is not None:
            verdict = "below" if result["min_check"] == "below" else "at or above"
            grid.add_row("--min", f"{_fmt(result['min'])} (spendable is {verdict} it)")
        out.print(grid)
        return

    out.print(Text("Balance not reported", style="title") + Text(f"  by {base_url}", style="muted"))
    out.print(
        Text(
            "This server does not report balances over the API (GET /balance answered 404); "
            "ModelStack documents no balance endpoint. Here is what mscli knows."
        ),
        overflow="fold",
    )
    out.print()
    led = result["ledger"]
    for key, _seconds, label in _WINDOWS:
        w = led[key]
        grid.add_row(
            f"Spent, {label}",
            f"{_fmt(w['credits'])} credits in {w['requests']} request{'s' if w['requests'] != 1 else ''} (estimate)"
            + (
                f"; {w['unpriced_requests']} unpriced, not counted"
                if w["unpriced_requests"]
                else ""
            ),
        )
    rules = result["refill_rules"]
    if rules:
        grid.add_row(
            "Refills",
            f"+{_fmt(rules['refill_credits'])} subscription credits about every {rules['refill_interval_hours']} h, "
            f"up to {_fmt(rules['weekly_cap'])} a week"
            if rules["refill_credits"]
            else "none (top-up only: lifetime credits)",
        )
        if rules["lifetime_discount"]:
            grid.add_row(
                "Lifetime credits",
                f"spent after subscription credits, {rules['lifetime_discount']:.0%} off",
            )
    else:
        grid.add_row(
            "Refills",
            "plan unknown: `mscli config set plan starter|pro|max|topup` to see its rules",
        )
    probe = result["probe"]
    if probe and probe.get("sent"):
        if probe.get("credits_available"):
            grid.add_row(
                "Probe", "a 1-token request succeeded: there are credits left (amount unknown)"
            )
        else:
            grid.add_row(
                "Probe", Text(f"HTTP {probe.get('http_status')}: no credits left", style="fail")
            )
    out.print(grid)
    out.print()
    notes = [
        "Estimates: usage × list price of requests made through mscli on this machine only (not other "
        "tools, not other machines, no plan discounts).",
    ]
    if rules:
        notes.append(
            "Refill figures are the docs'; the pricing page gives different ones (monthly credits, smaller "
            "discounts)."
        )
    notes.append("Exact balance: Dashboard → Billing on modelstack.cc.")
    if not probe:
        notes.append(
            "To learn whether requests get 402 now: mscli balance --probe (costs a tiny amount)."
        )
    for n in notes:
        out.print(Text(n, style="muted"), overflow="fold")
