"""Run the ordered checks and name the root cause.

The root cause is the first failed check in path order (a failed prerequisite turns its dependents
into `skip`, so it is never hidden behind a later symptom). With `strict`, a warning counts as a
failure too, but a real failure still wins over an earlier warning. The exit code is the root
cause's class from the exit-code table; 0 when nothing failed.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mscli import __version__
from mscli.doctor.base import STEP_TIMEOUT, CheckResult, DoctorState
from mscli.doctor.checks import BY_NAME, CHECK_NAMES, CHECKS
from mscli.errors import UsageError
from mscli.redact import Redactor

if TYPE_CHECKING:
    from mscli.context import AppContext

#: Bump only on a breaking change of the JSON document (adding keys is not one).
SCHEMA_VERSION = 1


@dataclass
class DoctorReport:
    results: list[CheckResult]
    strict: bool = False
    live: bool = False
    duration_ms: float = 0.0
    base_url: str | None = None
    base_url_form: str | None = None
    profile: str | None = None
    state: DoctorState | None = field(default=None, repr=False)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "warn"]

    @property
    def root_cause(self) -> CheckResult | None:
        if self.failures:
            return self.failures[0]
        if self.strict and self.warnings:
            return self.warnings[0]
        return None

    @property
    def ok(self) -> bool:
        return self.root_cause is None

    @property
    def exit_code(self) -> int:
        cause = self.root_cause
        if cause is None:
            return 0
        return cause.exit_code or 1

    def as_dict(self) -> dict[str, Any]:
        """The `--json` document. Keys are fixed (null when unknown); see SCHEMA_VERSION."""
        cause = self.root_cause

        def brief(r: CheckResult) -> dict[str, Any]:
            return {
                "check": r.name,
                "detail": r.detail,
                "fix": r.fix or None,
                "exit_code": r.exit_code,
            }

        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "root_cause": brief(cause) if cause else None,
            "warnings": [brief(r) for r in self.warnings],
            "checks": [r.as_dict() for r in self.results],
            "strict": self.strict,
            "live": self.live,
            "mscli_version": __version__,
            "python_version": platform.python_version(),
            "base_url": self.base_url,
            "base_url_form": self.base_url_form,
            "profile": self.profile,
            "duration_ms": round(self.duration_ms, 1),
        }


def parse_names(value: str | None, option: str) -> list[str]:
    """`--only`/`--skip` values: comma-separated check names; unknown names are a usage error."""
    if not value:
        return []
    names = [n.strip().lower().replace("-", "_") for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UsageError(
            f"{option}: unknown check {', '.join(unknown)}; the checks are: {', '.join(CHECK_NAMES)}"
        )
    return names


def _with_prerequisites(names: Iterable[str]) -> set[str]:
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        todo.extend(BY_NAME[name].needs)
    return wanted


def run(
    actx: AppContext,
    *,
    only: Iterable[str] | None = None,
    skip: Iterable[str] | None = None,
    live: bool = False,
    strict: bool = False,
    on_result: Callable[[CheckResult], None] | None = None,
) -> DoctorReport:
    """Run the checks in order. `only` also runs what the named checks need; `skip` reports the
    named checks as skipped, and the checks that need them (directly or through another) as
    skipped too: they cannot run without them (`--skip http` cannot still judge the reply)."""
    started = time.perf_counter()
    only = list(only or [])
    skipped = set(skip or [])
    selected = _with_prerequisites(only) if only else set(CHECK_NAMES)
    state = DoctorState(actx=actx, live=live)
    state.resolve_settings()
    state.timeout = max(0.001, step_timeout(state, actx))
    results: list[CheckResult] = []
    held: dict[str, str] = {}  # checks not run because of --skip -> the check the user skipped
    try:
        for check in CHECKS:
            if check.name not in selected:
                continue
            t0 = time.perf_counter()
            waiting = next((held[n] for n in check.needs if n in held), None)
            if check.name in skipped:
                result = CheckResult(status="skip", detail="skipped (--skip)")
                held[check.name] = check.name
            elif waiting is not None:
                result = CheckResult(
                    status="skip", detail=f"skipped: needs {waiting}, skipped with --skip"
                )
                held[check.name] = waiting
            else:
                result = _blocked(check.needs, state.results) or _call(check.fn, state)
            result = replace(
                result,
                name=check.name,
                title=check.title,
                duration_ms=0.0 if result.status == "skip" else (time.perf_counter() - t0) * 1000,
                detail=state.redact(result.detail),
                fix=state.redact(result.fix),
            )
            state.results[check.name] = result
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        state.close()
    s = state.settings
    return DoctorReport(
        results=results,
        strict=strict,
        live=live,
        duration_ms=(time.perf_counter() - started) * 1000,
        base_url=state.url.url
        if state.url is not None
        else (state.redact(Redactor().url(s.base_url.value)) if s else None),
        base_url_form=state.url.form if state.url is not None else None,
        profile=s.profile.value if s is not None else None,
        state=state,
    )


def step_timeout(state: DoctorState, actx: AppContext) -> float:
    """Each step's time limit: --timeout (or MSCLI_TIMEOUT) when given for this run, so "raise
    --timeout" is advice that works; else the configured timeout capped at STEP_TIMEOUT (a
    profile's long chat timeout must not make the doctor hang on a silent server)."""
    s = state.settings
    if s is None:
        return float(actx.options.timeout or STEP_TIMEOUT)
    if s.timeout.source == "flag" or s.timeout.source.startswith("env:"):
        return float(s.timeout.value)
    return min(float(s.timeout.value), STEP_TIMEOUT)


def _blocked(needs: tuple[str, ...], results: dict[str, CheckResult]) -> CheckResult | None:
    """A `skip` naming the failed check behind a prerequisite, or None when all may run."""
    for need in needs:
        prior = results.get(need)
        if prior is None:
            continue
        if prior.status == "fail":
            return CheckResult(status="skip", detail=f"skipped: {need} failed", blocked_by=need)
        if prior.status == "skip" and prior.blocked_by:
            return CheckResult(
                status="skip",
                detail=f"skipped: {prior.blocked_by} failed",
                blocked_by=prior.blocked_by,
            )
    return None


def _call(fn: Callable[[DoctorState], CheckResult], state: DoctorState) -> CheckResult:
    from mscli.errors import MscliError

    try:
        return fn(state)
    except MscliError as exc:
        from mscli.doctor.base import from_error

        return from_error(state, exc)
    except Exception as exc:  # a bug in a check must not hide the others
        from mscli.doctor.base import fail

        return fail(f"the check itself crashed: {type(exc).__name__}: {exc}", key="internal")
