"""THE table that turns an error into advice: a title, the fix in our own words, an exit code.

Rows are keyed by `MscliError.advice_key`. The documented fixes (docs-errors-page.txt) are
paraphrased, not copied; the undocumented cases (modelstack-api.md §11.3) map to the nearest class.
Nothing else in mscli writes fix advice for an error, and nothing else picks an exit code for one.

`advise()` looks up the row, takes the facts every API error carries, then runs the special cases
registered for that row with `@refines(...)`, defined after the table: a new case is a new small
function, not a longer ladder. The result is an `Advice` of typed fields; the panel and the
`--json` error object (`mscli.output.errors`) are both rendered from them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mscli.catalogue import suggest
from mscli.errors import ApiError, MscliError
from mscli.exit_codes import ExitCode
from mscli.pricing import PLANS
from mscli.settings import describe_source


@dataclass(frozen=True)
class Row:
    title: str
    fix: tuple[str, ...]
    exit_code: ExitCode


@dataclass(frozen=True)
class Advice:
    """What one error means for the user. Scripts read the typed fields (through the JSON
    object); `details` are the panel's extra lines, written for people."""

    key: str
    title: str
    message: str
    fix: tuple[str, ...]
    #: the exit code mscli ends with (an `ExitCode`, or 128 + signal after SIGTERM/SIGHUP)
    exit_code: int
    #: the HTTP status of the server's answer, if there was one
    status: int | None = None
    #: the server's documented error type, e.g. authentication_error
    api_type: str | None = None
    request_id: str | None = None
    #: how long the server asked to wait before retrying, in seconds
    retry_after_s: float | None = None
    #: the server's own message (already cleaned by mscli.api.errors_parse)
    server_message: str | None = None
    #: closest model ids, for "did you mean"
    suggestions: tuple[str, ...] = ()
    #: (label, value) lines for the panel
    details: tuple[tuple[str, str], ...] = ()


@dataclass
class AdviceContext:
    """What the funnel knows about the run, used to make the fix specific. All optional."""

    key_source: str | None = None  # flag, env:MODELSTACK_API_KEY, profile:NAME, sandbox
    profile: str | None = None
    base_url: str | None = None
    config_path: str | None = None
    plan: str | None = None
    known_models: list[str] = field(default_factory=list)
    #: the gateway's host when it is not ModelStack's (the host policy's `modelstack` is False):
    #: its keys and billing are its own, so the advice names no ModelStack dashboard
    gateway: str | None = None


_RPM = ", ".join(f"{p.label} {p.rpm} RPM" for p in PLANS.values() if p.name != "topup")

ADVICE: dict[str, Row] = {
    "internal": Row(
        "Unexpected error in mscli",
        ("This is a bug in mscli. Run again with --debug for the traceback and please report it.",),
        ExitCode.INTERNAL,
    ),
    # mscli's own usage errors say what to do in their message; only Click's parse errors get
    # the pointer to --help (app._render_click_error)
    "usage": Row("Invalid usage", (), ExitCode.USAGE),
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
    "config.port": Row(
        "Cannot listen on that address",
        ("Pick another --port, or --port 0 for any free one.",),
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
    "auth.source": Row(
        "The API key could not be read or stored",
        (
            "Check the profile's api_key_command by running it yourself (`mscli config get "
            "api_key_command`), or store the key with `mscli keys set`, or export "
            "MODELSTACK_API_KEY.",
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
    "balance.unknown": Row(
        "The balance cannot be checked against --min",
        (
            "This server does not report balances, so the guard fails closed. Add --probe (one "
            "1-token request shows whether requests are still served), or --allow-unknown to "
            "accept not knowing (exit 0 with a warning); the real figure is in Dashboard → Billing.",
        ),
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
    "network.stream_stalled": Row(
        "The reply stopped arriving before it was complete",
        (
            "The partial reply above was kept. The server went silent past the idle limit, or the "
            "overall --timeout passed; it was not retried automatically (that would cost twice): "
            "run it again, or raise --timeout.",
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


def row_for(key: str) -> Row:
    return ADVICE.get(key) or ADVICE.get(key.split(".")[0]) or ADVICE["internal"]


@dataclass
class _Draft:
    """The parts of the advice a special case may change, while `advise()` builds it."""

    fix: list[str]
    details: list[tuple[str, str]]
    suggestions: list[str] = field(default_factory=list)


Refiner = Callable[[MscliError, AdviceContext, _Draft], None]

#: (row keys, special case), in the order they are defined, which is the order they run in.
REFINERS: list[tuple[tuple[str, ...], Refiner]] = []


def refines(*keys: str) -> Callable[[Refiner], Refiner]:
    """Register a special case for the rows `keys`; a family ("network") covers its rows
    ("network.dns"), and no key at all means every error."""

    def register(fn: Refiner) -> Refiner:
        REFINERS.append((keys, fn))
        return fn

    return register


def advise(err: MscliError, ctx: AdviceContext | None = None) -> Advice:
    """Turn an error into advice specific to this run."""
    ctx = ctx or AdviceContext()
    key = err.advice_key
    row = row_for(key)
    api = err if isinstance(err, ApiError) else None
    draft = _Draft(list(row.fix), _answer_details(api) if api else [])
    for keys, refine in REFINERS:
        if not keys or any(key == k or key.startswith(k + ".") for k in keys):
            refine(err, ctx, draft)
    specific = err.facts.get("fix")
    if isinstance(specific, str) and specific:
        draft.fix = [_specific_fix(specific)]  # the concrete command for this case
    request_id = api.request_id if api else err.facts.get("request_id")
    return Advice(
        key=key,
        title=row.title,
        message=err.message,
        fix=tuple(draft.fix),
        exit_code=row.exit_code,
        status=api.status if api and not api.facts.get("status_assumed") else None,
        api_type=api.error_type if api else None,
        request_id=str(request_id) if request_id not in (None, "") else None,
        retry_after_s=_seconds(err.facts.get("retry_after")),
        server_message=api.server_message if api else None,
        suggestions=tuple(draft.suggestions),
        details=tuple(draft.details),
    )


def _answer_details(err: ApiError) -> list[tuple[str, str]]:
    # no status line for an error the server sent without one (an `event: error`)
    rows = [] if err.facts.get("status_assumed") else [("status", str(err.status))]
    if err.server_message:
        rows.append(("server_said", err.server_message))
    elif err.body_excerpt:
        rows.append(("body", err.body_excerpt))
    if err.request_id:
        rows.append(("request_id", err.request_id))
    return rows


def _specific_fix(fix: str) -> str:
    """A sentence gets its capital; a fix that opens with a command (`mscli ...`) stays as is."""
    lead = fix.split(" ", 1)[0]
    starts_with_command = lead in ("mscli", "export", "unset", "chmod", "mv") or lead[:1] == "`"
    return fix if starts_with_command else fix[0].upper() + fix[1:]


def _seconds(value: object) -> float | None:
    """A positive, finite number of seconds, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value > 0 and math.isfinite(value) else None


def _fmt_wait(seconds: float) -> str:
    if seconds >= 90:
        minutes = seconds / 60
        return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


# --- the special cases, keyed to their rows --------------------------------------------------


_GATEWAY_FIX = {
    "auth": "{host} is not ModelStack: mscli sends its key as given. Check the key this gateway "
    "expects (its own admin page or your operator), then store it with `mscli keys set`.",
    "balance": "{host} is not ModelStack: its credits and billing are its own; ask its operator.",
}


@refines("auth.invalid", "auth.malformed", "auth.forbidden", "balance.empty")
def _other_gateway(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    if ctx.gateway:
        family = err.advice_key.split(".")[0]
        out.fix[:] = [_GATEWAY_FIX[family].format(host=ctx.gateway)]


@refines("auth.invalid", "auth.malformed", "auth.forbidden")
def _key_source(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    source = err.facts.get("source") or ctx.key_source
    if source:
        out.details.append(("key_from", describe_source(source)))
        replace = _how_to_replace(source, ctx.profile)
        if replace:
            out.fix.append(replace)


def _how_to_replace(source: str, profile: str | None) -> str | None:
    if source.startswith("env:"):
        return f"Replace it: export {source[4:]}=<new key> (or unset it to use the config file)."
    if source.startswith("profile:"):
        name = source[8:]
        flag = f"--profile {name} " if name != "default" else ""
        return f"Replace it: `mscli {flag}keys set`."
    if source == "flag":
        return "Replace the value given to --api-key (better: store it with `mscli keys set`)."
    if source.startswith(("command:", "keyring:")):
        kind, name = source.split(":", 1)
        flag = f"--profile {name} " if name != "default" else ""
        if kind == "keyring":
            return f"Replace it: `mscli {flag}keys set --keyring`."
        return "Replace it where your api_key_command reads it from (your password manager)."
    return None


@refines("auth.missing")
def _missing_for_profile(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    if ctx.profile and ctx.profile != "default":
        out.fix.append(
            f"(profile in use: {ctx.profile}; store a key for it with `mscli --profile {ctx.profile} keys set`)"
        )


_UNSUPPORTED = re.compile(r'unsupported model:\s*"([^"]+)"', re.IGNORECASE)


@refines("model.unsupported")
def _did_you_mean(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    model = err.facts.get("model")
    if model is None and isinstance(err, ApiError) and err.server_message:
        m = _UNSUPPORTED.search(err.server_message)
        model = m.group(1) if m else None
    suggestions = list(err.facts.get("suggestions") or [])
    if not suggestions and model and ctx.known_models:
        suggestions = suggest(str(model), ctx.known_models)
    if model:
        out.details.insert(0, ("model", str(model)))
    if suggestions:
        out.fix.insert(0, "Did you mean: " + ", ".join(suggestions) + "?")
    out.suggestions = suggestions


@refines("rate_limit")
def _rate_limit(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    attempts = err.facts.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        out.details.append(("retries", f"{attempts - 1} made before giving up"))
    wait = _seconds(err.facts.get("retry_after"))
    if wait is not None:
        out.details.append(("retry_after", _fmt_wait(wait)))
    plan = PLANS.get(ctx.plan or "")
    if plan is not None:
        out.details.append(("your_plan", f"{plan.label}, {plan.rpm} RPM"))


@refines("server", "request.timeout", "request.conflict")
def _retried(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    facts = err.facts
    attempts = facts.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        times = "1 time" if attempts == 2 else f"{attempts - 1} times"
        out.details.append(("retried", f"{times} with backoff, all failed"))
    elif facts.get("retryable") is False:
        status = facts.get("status") or getattr(err, "status", None)
        out.details.append(("retried", f"no: HTTP {status} is not worth retrying"))
    elif facts.get("mid_stream"):
        out.details.append(("retried", "no: an error sent inside a stream is not retried"))
    elif facts.get("max_retries") == 0:
        out.details.append(("retried", "no (--max-retries 0)"))


@refines()
def _deadline(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    wait = err.facts.get("deadline_wait")
    if isinstance(wait, (int, float)):
        out.details.append(
            ("gave_up", f"the next wait ({_fmt_wait(float(wait))}) would pass --timeout")
        )
        out.fix.insert(
            0, "Raise --timeout (the overall deadline, retries included) to wait longer."
        )


#: (detail key, fact) rows shown for local and connection failures, in this order
_WHERE = (
    ("host", "host"),
    ("proxy", "proxy"),
    ("path", "path"),
    ("line", "line"),
    ("redirects_to", "location"),
    ("base_url", "base_url"),
    ("request_id", "request_id"),
)

#: The panel's words for a detail key, where they differ from the key: the JSON error object's
#: `details` uses the keys, so a label can be reworded without changing the JSON.
DETAIL_LABELS = {
    "server_said": "server said",
    "request_id": "request id",
    "key_from": "key from",
    "retry_after": "retry after",
    "your_plan": "your plan",
    "gave_up": "gave up",
    "redirects_to": "redirects to",
    "base_url": "base URL",
    "parser_said": "parser said",
}


def detail_label(key: str) -> str:
    """How the panel names a detail row."""
    return DETAIL_LABELS.get(key, key)


@refines("network", "protocol", "config", "store")
def _where(err: MscliError, ctx: AdviceContext, out: _Draft) -> None:
    facts = err.facts
    for key, name in _WHERE:
        value = facts.get(name)
        if value not in (None, ""):
            out.details.append((key, str(value)))
    if err.advice_key == "config.corrupt" and facts.get("detail"):
        out.details.append(("parser_said", str(facts["detail"])))
    if facts.get("excerpt"):
        out.details.append(("received", str(facts["excerpt"])))
    partial = facts.get("partial_chars")
    if isinstance(partial, int) and partial > 0:
        out.details.append(("kept", f"{partial} characters of partial reply"))
    attempts = facts.get("attempts")
    if err.advice_key.startswith("network.") and isinstance(attempts, int) and attempts > 1:
        out.details.append(("attempts", str(attempts)))


def exit_code_for(err: BaseException) -> ExitCode:
    if isinstance(err, MscliError):
        return row_for(err.advice_key).exit_code
    return ExitCode.INTERNAL
