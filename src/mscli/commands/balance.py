"""`mscli balance`: what can be known about your credits, and honestly what cannot.

The server is asked `GET {base}/balance` (modelstack-api.md §11.5: an mscli decision, served by the
sandbox). ModelStack documents no balance endpoint, so on a 404 mscli says so plainly and shows what
it does know: the local ledger of credits spent through mscli (estimates), the plan's refill rules
(docs figures, which the pricing page contradicts), and where to look (Dashboard → Billing).

Exit codes: 0 shown; 4 when `--min N` is given and the reported spendable balance (subscription +
lifetime) is below N, or when `--probe` gets a 402. When the balance is not reported, `--min`
cannot be checked: mscli warns and exits 0 (a CI guard must not fail on what it cannot know; add
`--probe` to fail on an empty balance). Errors (key, network...) exit with their usual codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:
    from mscli.context import AppContext

HELP = (
    "Show plan, RPM limit, subscription and lifetime credits, next refill and weekly cap. "
    "When the server does not report balances (the real API documents no such endpoint), show the "
    "credits spent through mscli (estimates) and the plan's refill rules. "
    "--min N exits 4 when the spendable balance is below N; --probe spends a tiny amount to learn "
    "whether requests get 402."
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
            help="If the server reports no balance: send the smallest completion (1 token, cheapest model; costs a tiny amount) to see whether a 402 comes back.",
        ),
    ] = False,
) -> None:
    """Show your credit balance (or what mscli can know about it)."""
    from mscli.context import get_app_context
    from mscli.errors import ApiError, BalanceBelowMinimumError

    actx = get_app_context(ctx, json=json_)
    base_url = actx.settings.base_url.value
    with actx.client() as client:
        try:
            bal = client.get_balance()
        except ApiError as exc:
            if exc.status != 404:
                raise
            bal = None
        result = _result(actx, bal, min_)
        probe_error: ApiError | None = None
        if probe and bal is None:
            probe_error = _probe(actx, client, result)
            result["ledger"] = _ledger(base_url)  # now including the probe
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
    if min_ is not None and result["min_check"] == "unknown" and not actx.json:
        if result["probe"] and result["probe"].get("credits_available"):
            actx.warn(
                f"--min {_fmt(min_)} cannot be checked: this server does not report balances; the probe "
                "shows there are credits left (amount unknown). Exiting 0."
            )
        else:
            actx.warn(
                f"--min {_fmt(min_)} cannot be checked: this server does not report balances. "
                "Exiting 0; add --probe to fail (exit 4) when requests get 402."
            )
