"""What every doctor check shares: the `CheckResult` it returns, the `ok`/`warn`/`fail`/`skip`
builders, and the `DoctorState` the checks read and fill in as they run.

Exit codes and fix texts come from `mscli.advice` (`row_for(key)`), never from a second table; the
few fixes that have no error class (a plain-HTTP port, a misspelt host, a CA variable mscli does not
read) live with their checks, with the exit code of their nearest class.

Standard library and light mscli modules only at module level (in every doctor module): httpx and
pydantic come in through the API client, which is imported when the first HTTP check runs.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mscli.advice import advise, detail_label, row_for
from mscli.api.retry import RetryPolicy
from mscli.api.urls import API_HOST as API_HOST  # re-exported for the checks
from mscli.errors import ConfigError, MscliError

T = TypeVar("T")

if TYPE_CHECKING:
    from mscli.api.client import GatewayClient
    from mscli.api.transport import RawResponse
    from mscli.api.urls import NormalisedUrl
    from mscli.context import AppContext
    from mscli.settings import Settings

Status = Literal["ok", "warn", "fail", "skip"]

#: Longest time any single doctor step waits, whatever --timeout says (a doctor must finish).
STEP_TIMEOUT = 15.0


@dataclass
class CheckResult:
    """What one check found. `exit_code` is the exit code of its failure class (0 when ok/skip);
    `blocked_by` names the failed check that made this one `skip`."""

    name: str = ""
    title: str = ""
    status: Status = "ok"
    detail: str = ""
    fix: str = ""
    duration_ms: float = 0.0
    exit_code: int = 0
    blocked_by: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix or None,
            "duration_ms": round(self.duration_ms, 1),
            "exit_code": self.exit_code,
        }


def ok(detail: str, **data: Any) -> CheckResult:
    return CheckResult(status="ok", detail=detail, data=data)


def skip(detail: str, *, blocked_by: str | None = None) -> CheckResult:
    return CheckResult(status="skip", detail=detail, blocked_by=blocked_by)


def problem(
    status: Status, detail: str, *, key: str, fix: str | None = None, **data: Any
) -> CheckResult:
    """A warning or failure of the class `key` (an advice key): its exit code always comes from the
    advice table; the fix too, unless this check knows a more specific one."""
    row = row_for(key)
    text = fix if fix is not None else join_fix(row.fix)
    return CheckResult(
        status=status, detail=detail, fix=text, exit_code=int(row.exit_code), data=data
    )


def fail(detail: str, *, key: str, fix: str | None = None, **data: Any) -> CheckResult:
    return problem("fail", detail, key=key, fix=fix, **data)


def warn(detail: str, *, key: str, fix: str | None = None, **data: Any) -> CheckResult:
    return problem("warn", detail, key=key, fix=fix, **data)


def join_fix(lines: Any) -> str:
    text = " ".join(str(line).strip() for line in lines if str(line).strip())
    return re.sub(r"\s+", " ", text.replace("•", "")).strip()


def advice_fix(state: DoctorState, err: MscliError) -> str:
    """The advice table's fix for `err`, in this run's context, as one line."""
    return join_fix(advise(err, state.advice_context()).fix)


def from_error(
    state: DoctorState, err: MscliError, detail: str | None = None, fix: str | None = None
) -> CheckResult:
    """A failure built from an mscli error through the advice table (exit code, fix, details)."""
    advice = advise(err, state.advice_context())
    parts = [detail or err.message]
    for key, value in advice.details:
        if key in ("status", "host", "base_url"):
            continue
        parts.append(f"{detail_label(key)}: {value}")
    text = fix if fix is not None else join_fix(advice.fix)
    return CheckResult(
        status="fail", detail="; ".join(parts), fix=text, exit_code=int(advice.exit_code)
    )


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f} ms" if ms < 10_000 else f"{seconds:.1f} s"


# --- shared state ------------------------------------------------------------------------------


class _FileLessStore:
    """Stands in for a config store whose file cannot be read, so flags and environment still resolve."""

    def __init__(self, path: Any) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        return {}


@dataclass
class DoctorState:
    """Everything the checks share: the run's context, resolved settings, and what earlier checks
    learnt (addresses, the raw reply, the model list...)."""

    actx: AppContext
    live: bool = False
    #: per-step timeout in seconds (runner.step_timeout: --timeout as given, else capped)
    timeout: float = STEP_TIMEOUT
    results: dict[str, CheckResult] = field(default_factory=dict)
    traces: deque[str] = field(default_factory=lambda: deque(maxlen=120))

    settings: Settings | None = None
    settings_error: MscliError | None = None
    config_error: MscliError | None = None
    key: str | None = None  # the normalised key, only when it may be sent
    url: NormalisedUrl | None = None
    proxy: str | None = None  # the proxy URL that applies to the base URL (redacted)
    proxy_var: str | None = None  # the variable it came from (HTTPS_PROXY, ALL_PROXY, ...)
    proxy_target: tuple[str, int] | None = None
    addrs: list[tuple[Any, ...]] = field(default_factory=list)
    tcp_addr: tuple[Any, ...] | None = None
    raw: RawResponse | None = None  # GET /models
    models: list[str] | None = None
    balance: Any = None
    #: the doctor's one retry after a 5xx: the wait is the retry policy's (its sleep injectable)
    #: (no wait longer than a step: a doctor must finish)
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_retries=1, max_wait=STEP_TIMEOUT)
    )
    _client: GatewayClient | None = None

    # -- environment and settings --

    @property
    def env(self) -> Mapping[str, str]:
        return self.actx.env

    def getenv(self, name: str) -> str | None:
        """An environment variable, upper- or lower-case (proxy variables come in both)."""
        from mscli.api.urls import env_getter

        return env_getter(self.env)(name)

    def resolve_settings(self) -> None:
        """Resolve settings; a config file that cannot be read is recorded, and settings are
        resolved again without it so the checks after it still know flags and environment."""
        try:
            self.settings = self.actx.settings
            return
        except ConfigError as exc:
            self.settings_error = exc
        except MscliError as exc:  # e.g. a bad --timeout (usage)
            self.settings_error = exc
            return
        from mscli.settings import resolve, sandbox_requested

        pair = None
        if sandbox_requested(self.actx.options, self.env):
            sb = self.actx.sandbox()
            pair = (sb.base_url, sb.api_key)
        try:
            store = _FileLessStore(self.actx.store.path)
            self.settings = resolve(self.actx.options, self.env, store, sandbox=pair)  # type: ignore[arg-type]
        except MscliError:
            self.settings = None

    def advice_context(self) -> Any:
        return self.actx.advice_context(self.settings)

    # -- redaction --

    @property
    def secrets(self) -> tuple[str, ...]:
        """The run's secrets (`settings.known_secrets`), also when only the file-less settings
        could be resolved."""
        if self.settings is not None:
            return self.settings.secrets
        return self.actx.secrets

    def redact(self, text: str) -> str:
        from mscli.redact import Redactor

        return Redactor(self.secrets).text(text)

    def trace(self, line: str) -> None:
        shown = self.redact(line)
        self.traces.append(shown)
        if self.actx.options.verbose:
            self.actx.note(shown)

    # -- the client --

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` (an API call), once more when the server answers 5xx: the doctor sends each
        request unretried to see the first answer, but one transient 5xx is not a verdict (every
        other command retries it)."""
        from mscli.errors import ApiError

        try:
            return fn()
        except ApiError as exc:
            hint = exc.facts.get("retry_after")
            if (exc.status or 0) < 500 or not self.pause_before_retry(
                hint if isinstance(hint, (int, float)) else None
            ):
                raise
        return fn()

    def pause_before_retry(self, hint: float | None = None) -> bool:
        """The pause before the doctor's one retry, as the retry policy decides it (the server's
        hint, else backoff), with its sleep; False (no pause) when the policy says not to retry,
        e.g. a hint longer than a doctor's step."""
        decision = self.retry.decide(0, hint=hint)
        if decision.retry:
            self.retry.sleep(decision.wait)
        return decision.retry

    def client(self) -> GatewayClient:
        """A client on the checked base URL, with the key only when the key check passed, no
        retries (the doctor wants the first answer) and the doctor's short timeouts."""
        if self._client is None:
            from mscli.api.client import GatewayClient

            assert self.settings is not None and self.url is not None
            t = self.timeout
            config = self.settings.client_config()._replace(
                base_url=self.url.url,
                api_key=self.key,
                timeout=t,
                connect_timeout=min(t, 10.0),
                first_byte_timeout=t,
                idle_timeout=t,
                max_retries=0,
            )
            self._client = GatewayClient(config, trace=self.trace)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    @property
    def plan(self) -> Any:
        from mscli.pricing import PLANS

        name = self.settings.plan.value if self.settings is not None else None
        return PLANS.get(name) if name else None
