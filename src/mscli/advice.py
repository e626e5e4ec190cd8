"""THE table that turns an error into advice: a title, the fix in our own words, an exit code.

Rows are keyed by `MscliError.advice_key`. The documented fixes (docs-errors-page.txt) are
paraphrased, not copied; the undocumented cases (modelstack-api.md §11.3) map to the nearest class.
Nothing else in mscli writes fix advice for an error, and nothing else picks an exit code for one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mscli.errors import ApiError, MscliError
from mscli.exit_codes import ExitCode
from mscli.pricing import PLANS
from mscli.settings import describe_source


@dataclass(frozen=True)
class Row:
    title: str
    fix: tuple[str, ...]
    exit_code: ExitCode


@dataclass
class Advice:
    key: str
    title: str
    message: str
    fix: list[str]
    exit_code: ExitCode
    #: (label, value) lines for the panel
    details: list[tuple[str, str]] = field(default_factory=list)
    #: the server's documented error type, e.g. authentication_error
    api_type: str | None = None
    #: closest model ids, for "did you mean"
    suggestions: list[str] = field(default_factory=list)


@dataclass
class AdviceContext:
    """What the funnel knows about the run, used to make the fix specific. All optional."""

    key_source: str | None = None  # flag, env:MODELSTACK_API_KEY, profile:NAME, sandbox
    profile: str | None = None
    base_url: str | None = None
    config_path: str | None = None
    plan: str | None = None
    known_models: list[str] = field(default_factory=list)


_RPM = ", ".join(f"{p.label} {p.rpm} RPM" for p in PLANS.values() if p.name != "topup")

ADVICE: dict[str, Row] = {
    "internal": Row(
        "Unexpected error in mscli",
        ("This is a bug in mscli. Run again with --debug for the traceback and please report it.",),
        ExitCode.INTERNAL,
    ),
    "usage": Row(
        "Invalid usage", ("See `mscli --help` or `mscli COMMAND --help`.",), ExitCode.USAGE
    ),
    "interrupted": Row(
        "Interrupted",
        ("Stopped with Ctrl-C; what was received so far was kept.",),
        ExitCode.INTERRUPTED,
    ),
    # configuration and local state
    "config.invalid": Row(
        "Invalid configuration",
        (
            "Fix the value with `mscli config set KEY VALUE`, or unset it with `mscli config unset KEY`.",
        ),
        ExitCode.CONFIG,
    ),
    "config.corrupt": Row(
        "The config file cannot be read",
        (
            "Fix the file by hand at the line shown (it was not changed), or move it aside and "
            "start again with `mscli keys set`.",
        ),
        ExitCode.CONFIG,
    ),
    "config.locked": Row(
        "The config file is locked by another mscli",
        (
            "Wait for the other mscli to finish; if none is running, delete the .lock file next to it.",
        ),
        ExitCode.CONFIG,
    ),
    "config.base_url": Row(
        "The base URL is not usable",
        ("Use the documented base URL: `mscli config set base_url https://api.modelstack.cc/v1`.",),
        ExitCode.CONFIG,
    ),
    "config.insecure_http": Row(
        "Refusing to send your key over plain HTTP",
        (
            "Use https:// (the API is https://api.modelstack.cc/v1). Plain http:// is only allowed "
            "to loopback addresses such as 127.0.0.1, where the key never leaves this machine.",
        ),
        ExitCode.CONFIG,
    ),
    "config.redirect": Row(
        "The server answered with a redirect, which mscli does not follow",
        (
            "A redirect would carry your key to another address. If you trust the target, set it "
            "as the base URL: `mscli config set base_url <target>`.",
        ),
        ExitCode.CONFIG,
    ),
    "store.error": Row(
        "The local history database cannot be used",
        (
            "Nothing was reset. Close other mscli sessions if it is locked; if it is damaged, move "
            "the file aside (mscli starts a new one), or run with --no-log.",
        ),
        ExitCode.CONFIG,
    ),
    # credentials
    "auth.missing": Row(
        "No API key",
        (
            "Store one with `mscli keys set` (hidden prompt), or export MODELSTACK_API_KEY. Keys are "
            "created in the dashboard under API Keys and start with sk_.",
            'To try mscli without a key, add --sandbox: `mscli --sandbox chat "Hello"`.',
        ),
        ExitCode.AUTH,
    ),
    "auth.malformed": Row(
        "This does not look like a ModelStack key",
        (
            "ModelStack keys start with sk_ (underscore). Copy the key again from the dashboard and run `mscli keys set`.",
        ),
        ExitCode.AUTH,
    ),
    "auth.invalid": Row(
        "The API key was rejected (401)",
        (
            "Check that the key is right and starts with sk_; a revoked key fails at once. Create a "
            "new key in the dashboard under API Keys if needed, then `mscli keys set`.",
        ),
        ExitCode.AUTH,
    ),
    "auth.forbidden": Row(
        "The API key is not allowed to do this (403)",
        ("Check the key's plan and permissions in the dashboard, or use another key.",),
        ExitCode.AUTH,
    ),
    # balance
    "balance.empty": Row(
        "Out of credits (402)",
        (
            "Both your subscription credits and your lifetime credits are used up. Either:",
            "  • wait for the next subscription refill (about every 5 hours, up to the weekly cap);",
            "  • buy lifetime credits in Dashboard → Billing (they are credited at once);",
            "  • upgrade your plan (takes effect at once and resets subscription credits).",
            "Check with `mscli balance`.",
        ),
        ExitCode.BALANCE,
    ),
    "balance.below_min": Row(
        "Balance below the minimum",
        ("Add credits in Dashboard → Billing, or lower --min.",),
        ExitCode.BALANCE,
    ),
    # rate limits
    "rate_limit": Row(
        "Rate limited (429)",
        (
            f"You sent more requests per minute than your plan allows ({_RPM}; top-up only 40 RPM).",
            "Wait a minute and retry, send fewer requests at once, raise --max-retries, or upgrade your plan.",
        ),
        ExitCode.RATE_LIMIT,
    ),
    "rate_limit.wait_too_long": Row(
        "Rate limited: the server asked for a longer wait than mscli accepts",
        ("Retry after the time shown, or allow longer waits with --max-wait SECONDS.",),
        ExitCode.RATE_LIMIT,
    ),
    # rejected requests
    "model.unsupported": Row(
        "Unsupported model",
        ("Pick a served model: `mscli models` lists them, `mscli models check MODEL` checks one.",),
        ExitCode.REJECTED,
    ),
    "model.missing": Row(
        "No model given",
        (
            "Pass -m MODEL, or set a default once: `mscli config set default_model claude-sonnet-4-5`. "
            "`mscli models` lists the served ids.",
        ),
        ExitCode.REJECTED,
    ),
    "request.invalid": Row(
        "The request was rejected",
        (
            "The server's message says what it refused. For chat, check the values sent "
            "(temperature 0–2, top_p 0–1, at most 4 stop sequences, non-empty messages).",
        ),
        ExitCode.REJECTED,
    ),
    "request.timeout": Row(
        "The server timed out the request (408)",
        (
            "The server gave up waiting for the request. Try again; on a slow or busy connection, "
            "send less (a shorter prompt or less piped input).",
        ),
        ExitCode.REJECTED,
    ),
    "request.conflict": Row(
        "Conflict (409)",
        (
            "The server could not process the request right now because of a conflict. Try again in a moment.",
        ),
        ExitCode.REJECTED,
    ),
    "request.too_large": Row(
        "The request is too large (413)",
        ("Send a shorter prompt or less piped input.",),
        ExitCode.REJECTED,
    ),
    "not_found": Row(
        "Not found (404)",
        (
            "Check the base URL: it should end in /v1 (https://api.modelstack.cc/v1). `mscli doctor` checks it.",
        ),
        ExitCode.REJECTED,
    ),
    # server
    "server": Row(
        "The server failed",
        (
            "This is a server-side problem. Try again in a little while with backoff; if it persists, "
            "check ModelStack's status and contact support with the request id.",
        ),
        ExitCode.SERVER,
    ),
    # network
    "network.dns": Row(
        "Could not resolve the API host",
        ("Check the host name in the base URL and your internet/DNS connection (`mscli doctor`).",),
        ExitCode.NETWORK,
    ),
    "network.refused": Row(
        "Connection refused",
        ("Nothing is listening at the base URL. Check the host and port, and any proxy settings.",),
        ExitCode.NETWORK,
    ),
    "network.reset": Row(
        "The connection was closed unexpectedly",
        (
            "Try again; if it keeps happening, a proxy or firewall may be cutting connections (`mscli doctor`).",
        ),
        ExitCode.NETWORK,
    ),
    "network.stream_interrupted": Row(
        "The connection broke in the middle of the reply",
        (
            "The partial reply above was kept. It was not retried automatically (that would cost twice): run it again.",
        ),
        ExitCode.NETWORK,
    ),
    "network.tls": Row(
        "TLS handshake or certificate verification failed",
        (
            "Behind a corporate proxy that inspects TLS, point SSL_CERT_FILE at its CA bundle. Check "
            "the system clock, and that the base URL uses https:// on an HTTPS port.",
        ),
        ExitCode.NETWORK,
    ),
    "network.connect_timeout": Row(
        "Timed out connecting to the API",
        (
            "Check your connection, firewall and proxy variables (HTTPS_PROXY, NO_PROXY); `mscli doctor` tests each.",
        ),
        ExitCode.NETWORK,
    ),
    "network.read_timeout": Row(
        "No answer from the API in time",
        (
            "The gateway accepted the connection but did not answer. Retry later, or raise --timeout.",
        ),
        ExitCode.NETWORK,
    ),
    "network.timeout": Row(
        "The request ran out of time",
        ("Raise --timeout, or retry later.",),
        ExitCode.NETWORK,
    ),
    "network.proxy": Row(
        "The proxy failed",
        ("Check HTTPS_PROXY / ALL_PROXY, or add the API host to NO_PROXY.",),
        ExitCode.NETWORK,
    ),
    "network.other": Row(
        "Network error",
        ("Check your connection; `mscli doctor` finds the failing step.",),
        ExitCode.NETWORK,
    ),
    # protocol
    "protocol.malformed": Row(
        "The server's reply is not valid API output",
        (
            "Check that the base URL points at the ModelStack API (`mscli doctor`); retry later if it does.",
        ),
        ExitCode.PROTOCOL,
    ),
    "protocol.not_api": Row(
        "This is not an API endpoint",
        (
            "The base URL answered with a web page instead of the API. Use https://api.modelstack.cc/v1 "
            "(note the /v1), and check for a captive portal or proxy login page.",
        ),
        ExitCode.PROTOCOL,
    ),
    "protocol.truncated": Row(
        "The reply was cut off",
        (
            "The stream ended before the reply was finished; the partial text was kept. Run it again.",
        ),
        ExitCode.PROTOCOL,
    ),
    "protocol.too_large": Row(
        "The reply is larger than mscli accepts",
        ("Check the base URL; the API does not send replies this large.",),
        ExitCode.PROTOCOL,
    ),
}

_UNSUPPORTED = re.compile(r'unsupported model:\s*"([^"]+)"', re.IGNORECASE)


def row_for(key: str) -> Row:
    return ADVICE.get(key) or ADVICE.get(key.split(".")[0]) or ADVICE["internal"]


def suggest(model: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Closest model ids for a did-you-mean line."""
    known = list(dict.fromkeys(known))
    picks = difflib.get_close_matches(model, known, n=n, cutoff=0.5)
    if not picks:
        low = model.lower()
        picks = [m for m in known if low and (low in m.lower() or m.lower() in low)][:n]
    return picks


def _fmt_wait(seconds: float) -> str:
    if seconds >= 90:
        minutes = seconds / 60
        return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def advise(err: MscliError, ctx: AdviceContext | None = None) -> Advice:
    """Turn an error into advice specific to this run."""
    ctx = ctx or AdviceContext()
    key = err.advice_key
    row = row_for(key)
    fix = list(row.fix)
    details: list[tuple[str, str]] = []
    facts: dict[str, Any] = err.facts
    suggested: list[str] = []

    if isinstance(err, ApiError):
        details.append(("status", str(err.status)))
        if err.server_message:
            details.append(("server said", err.server_message))
        elif err.body_excerpt:
            details.append(("body", err.body_excerpt))
        if err.request_id:
            details.append(("request id", err.request_id))

    if key in ("auth.invalid", "auth.malformed", "auth.forbidden"):
        source = facts.get("source") or ctx.key_source
        if source:
            details.append(("key from", describe_source(source)))
            replace = _how_to_replace(source, ctx.profile)
            if replace:
                fix.append(replace)
    if key == "auth.missing" and ctx.profile and ctx.profile != "default":
        fix.append(
            f"(profile in use: {ctx.profile}; store a key for it with `mscli --profile {ctx.profile} keys set`)"
        )

    if key == "model.unsupported":
        model = facts.get("model")
        if model is None and isinstance(err, ApiError) and err.server_message:
            m = _UNSUPPORTED.search(err.server_message)
            model = m.group(1) if m else None
        suggestions = list(facts.get("suggestions") or [])
        if not suggestions and model and ctx.known_models:
            suggestions = suggest(str(model), ctx.known_models)
        if model:
            details.insert(0, ("model", str(model)))
        if suggestions:
            fix.insert(0, "Did you mean: " + ", ".join(suggestions) + "?")
        suggested = suggestions

    if key.startswith("rate_limit"):
        attempts = facts.get("attempts")
        if isinstance(attempts, int) and attempts > 1:
            details.append(("retries", f"{attempts - 1} made before giving up"))
        retry_after = facts.get("retry_after")
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            details.append(("retry after", _fmt_wait(float(retry_after))))
        if ctx.plan and ctx.plan in PLANS:
            details.append(("your plan", f"{PLANS[ctx.plan].label}, {PLANS[ctx.plan].rpm} RPM"))

    if key in ("server", "request.timeout", "request.conflict"):
        attempts = facts.get("attempts")
        if isinstance(attempts, int) and attempts > 1:
            times = "1 time" if attempts == 2 else f"{attempts - 1} times"
            details.append(("retried", f"{times} with backoff, all failed"))
        elif facts.get("retryable") is False:
            status = facts.get("status") or getattr(err, "status", None)
            details.append(("retried", f"no: HTTP {status} is not worth retrying"))
        elif "deadline_wait" not in facts:
            details.append(("retried", "no (--max-retries 0)"))

    deadline_wait = facts.get("deadline_wait")
    if isinstance(deadline_wait, (int, float)):
        details.append(
            ("gave up", f"the next wait ({_fmt_wait(float(deadline_wait))}) would pass --timeout")
        )
        fix.insert(0, "Raise --timeout (the overall deadline, retries included) to wait longer.")

    specific = facts.get("fix")
    if isinstance(specific, str) and specific:
        # the concrete command for this case replaces the row's generic text
        # a sentence gets its capital; a fix that opens with a command (`mscli ...`) stays as is
        lead = specific.split(" ", 1)[0]
        starts_with_command = lead in ("mscli", "export", "unset", "chmod", "mv") or lead[:1] == "`"
        fix = [specific if starts_with_command else specific[0].upper() + specific[1:]]

    if key.startswith(("network.", "protocol.", "config.", "store.")):
        for label, name in (
            ("host", "host"),
            ("proxy", "proxy"),
            ("path", "path"),
            ("line", "line"),
            ("redirects to", "location"),
            ("base URL", "base_url"),
            ("request id", "request_id"),
        ):
            value = facts.get(name)
            if value not in (None, ""):
                details.append((label, str(value)))
        if key == "config.corrupt" and facts.get("detail"):
            details.append(("parser said", str(facts["detail"])))
        excerpt = facts.get("excerpt")
        if excerpt:
            details.append(("received", str(excerpt)))
        partial = facts.get("partial_chars")
        if isinstance(partial, int) and partial > 0:
            details.append(("kept", f"{partial} characters of partial reply"))
        attempts = facts.get("attempts")
        if key.startswith("network.") and isinstance(attempts, int) and attempts > 1:
            details.append(("attempts", str(attempts)))

    return Advice(
        key=key,
        title=row.title,
        message=err.message,
        fix=fix,
        exit_code=row.exit_code,
        details=details,
        api_type=err.error_type if isinstance(err, ApiError) else None,
        suggestions=suggested,
    )


def _how_to_replace(source: str, profile: str | None) -> str | None:
    if source.startswith("env:"):
        return f"Replace it: export {source[4:]}=<new key> (or unset it to use the config file)."
    if source.startswith("profile:"):
        name = source[8:]
        flag = f"--profile {name} " if name != "default" else ""
        return f"Replace it: `mscli {flag}keys set`."
    if source == "flag":
        return "Replace the value given to --api-key (better: store it with `mscli keys set`)."
    return None


def exit_code_for(err: BaseException) -> ExitCode:
    if isinstance(err, MscliError):
        return row_for(err.advice_key).exit_code
    return ExitCode.INTERNAL
