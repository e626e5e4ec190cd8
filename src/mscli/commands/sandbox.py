"""`mscli sandbox`: run the local ModelStack-compatible server, and list its magic test keys.

Module level imports only typer and the stdlib; the server is imported inside the commands.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from mscli.terminal import Terminal

app = typer.Typer(
    help=(
        "A local ModelStack-compatible API for trying mscli, scripts and SDKs without spending "
        "credits: `serve` runs it, `keys` lists the test keys that trigger each documented error."
    ),
    no_args_is_help=True,
)


class PlanChoice(str, enum.Enum):
    starter = "starter"
    pro = "pro"
    max = "max"
    topup = "topup"


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on. Anything but loopback exposes the sandbox: a warning is printed."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port; 0 picks any free port.")
    ] = 8787,
    plan: Annotated[
        PlanChoice, typer.Option(help="Plan of fresh `sk_test_…` accounts (sets RPM and discount).")
    ] = PlanChoice.pro,
    subscription_credits: Annotated[
        Optional[float],
        typer.Option(
            min=0,
            help="Subscription credits of a fresh account (default: the plan's refill amount).",
        ),
    ] = None,
    lifetime_credits: Annotated[
        float, typer.Option(min=0, help="Lifetime credits of a fresh account.")
    ] = 100.0,
    latency_ms: Annotated[
        float, typer.Option(min=0, help="Delay before the first byte of every response.")
    ] = 0.0,
    tokens_per_second: Annotated[
        Optional[float],
        typer.Option(min=0, help="Pace streamed replies (one chunk per token) (default: unpaced)."),
    ] = None,
    fail_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Probability of an injected 500 (seeded).")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the replies and of --fail-rate.")] = 0,
    rpm: Annotated[
        Optional[int],
        typer.Option(
            min=1, help="Requests per minute per key (default: the plan's RPM). For load tests."
        ),
    ] = None,
    slow_ms: Annotated[
        float, typer.Option(min=0, help="First-byte delay of the `sk_test_slow` key.")
    ] = 2000.0,
    stream_options: Annotated[
        bool,
        typer.Option(
            help="Accept the sandbox's extensions `stream_options` and `max_completion_tokens`. "
            "--no-stream-options refuses them with a 400, like any undocumented parameter "
            "(a strict gateway).",
        ),
    ] = True,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No per-request log lines on stderr.")
    ] = False,
    json_: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print one JSON line ({"base_url", "api_key", "plan", "pid"}) instead of the banner.',
        ),
    ] = False,
) -> None:
    """Run the sandbox until Ctrl-C. Prints its base URL and a ready test key."""
    import signal

    from mscli.context import get_app_context
    from mscli.errors import PortUnavailableError
    from mscli.sandbox.embedded import new_test_key
    from mscli.sandbox.server import SandboxConfig, SandboxServer, is_loopback

    actx = get_app_context(ctx, json=json_)  # `mscli --json sandbox serve` too
    if not is_loopback(host):
        actx.warn(
            f"listening on {host}: the sandbox is reachable from other machines. "
            "It has no real authentication; use it on trusted networks only."
        )
    config = SandboxConfig(
        host=host,
        port=port,
        plan=plan.value,
        subscription_credits=subscription_credits,
        lifetime_credits=lifetime_credits,
        latency_ms=latency_ms,
        tokens_per_second=tokens_per_second or None,
        fail_rate=fail_rate,
        seed=seed,
        slow_ms=slow_ms,
        rpm=rpm,
        stream_options=stream_options,
        quiet=quiet,
        log=actx.terminal.stderr,
    )
    try:
        server = SandboxServer(config)
    except OSError as err:
        raise PortUnavailableError(
            f"Cannot listen on {host}:{port}: {err.strerror or err}", host=host, port=port
        ) from None

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (in-process tests): Ctrl-C only
        pass
    # From here on, Ctrl-C or SIGTERM at any moment (even during the banner) stops cleanly.
    try:
        if actx.json:  # a script using --port 0 reads the URL and key from one line
            import os

            from mscli.jsontext import dumps

            doc = {"base_url": server.base_url, "api_key": new_test_key(), "plan": plan.value}
            typer.echo(dumps({**doc, "pid": os.getpid()}, ensure_ascii=True))
        else:
            _print_banner(actx.terminal, server.base_url, plan.value, new_test_key())
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    actx.note("Sandbox stopped.")


def _print_banner(term: Terminal, base: str, plan: str, key: str) -> None:
    body = '{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello"}]}'
    lines = [
        f"ModelStack sandbox (plan {plan}) listening on {base}",
        f"Test key: {key}   (any sk_test_… key works; `mscli sandbox keys` lists the magic ones)",
        "",
        f"  export MODELSTACK_BASE_URL={base} MODELSTACK_API_KEY={key}",
        "  mscli models",
        f"  curl -sN {base}/chat/completions -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d '{body}'",
        "",
        "Press Ctrl-C to stop.",
    ]
    term.write(term.stdout, "\n".join(lines) + "\n")


@app.command()
def keys(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """List the magic test keys: each one triggers a fixed behaviour (401, 402, 429, 500, ...)."""
    import shutil
    import textwrap

    from mscli.context import get_app_context
    from mscli.sandbox.keys import TABLE

    actx = get_app_context(ctx, json=json_)  # `mscli --json sandbox keys` too
    if actx.json:
        actx.emit_json({"keys": [row.as_dict() for row in TABLE]})
        return
    key_w = max(len(r.key) for r in TABLE)
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    text_w = max(30, width - key_w - 9)
    typer.echo(f"{'KEY':<{key_w}}  EXIT  BEHAVIOUR")
    for row in TABLE:
        lines = textwrap.wrap(row.behaviour, text_w) or [""]
        typer.echo(f"{row.key:<{key_w}}  {int(row.exit_code):>4}  {lines[0]}")
        for more in lines[1:]:
            typer.echo(f"{'':<{key_w}}        {more}")
    typer.echo("")
    typer.echo("EXIT is the exit code mscli ends with (default retries). Keys are sandbox-only.")
