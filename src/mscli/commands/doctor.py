"""`mscli doctor`: find the one root cause between this terminal and the gateway, and its fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from mscli.completers import complete_check_names

HELP = (
    "Check everything between this terminal and the API, in order (config, key, base URL, proxy, "
    "DNS, TCP, TLS, HTTP, auth, rate limit, models, balance) and name the root cause with its fix. "
    "Exits 0 when nothing failed, else the exit code of the root cause (e.g. 3 auth, 8 network, "
    "10 config). --json or --junit FILE for CI; under GitHub Actions the root cause is also an "
    "::error annotation."
)


def command(
    ctx: typer.Context,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON document on stdout (schema_version 1) for CI.")
    ] = False,
    only: Annotated[
        Optional[str],
        typer.Option(
            "--only",
            metavar="NAMES",
            help="Run only these checks (comma-separated; what they need runs too).",
            autocompletion=complete_check_names,
        ),
    ] = None,
    skip: Annotated[
        Optional[str],
        typer.Option(
            "--skip",
            metavar="NAMES",
            help="Skip these checks (comma-separated); the checks that need them are skipped too.",
            autocompletion=complete_check_names,
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Warnings fail too (exit with their class).")
    ] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Also stream a tiny completion on the cheapest model the server lists and report time to first token (costs a few credits).",
        ),
    ] = False,
    bundle: Annotated[
        Optional[str],
        typer.Option(
            "--bundle", metavar="FILE", help="Write a redacted support bundle (JSON) to FILE."
        ),
    ] = None,
    junit: Annotated[
        Optional[str],
        typer.Option(
            "--junit",
            metavar="FILE",
            help="Also write a JUnit XML report to FILE: one testcase per check (for CI).",
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the checks in order and exit.")
    ] = False,
) -> None:
    """Diagnose the connection to the API and name the root cause."""
    from mscli.context import get_app_context
    from mscli.doctor import render, runner
    from mscli.doctor.checks import CHECKS
    from mscli.errors import UsageError

    actx = get_app_context(ctx, json=json_)
    if list_:
        if actx.json:
            actx.emit_json(
                {
                    "checks": [
                        {"name": c.name, "title": c.title, "needs": list(c.needs)} for c in CHECKS
                    ]
                }
            )
        else:
            for c in CHECKS:
                actx.out.print(f"{c.name:<{render.NAME_WIDTH}} {c.title}", highlight=False)
        return
    only_names = runner.parse_names(only, "--only")
    skip_names = runner.parse_names(skip, "--skip")
    for option, target in (("--bundle", bundle), ("--junit", junit)):
        if target:  # say so before the checks run, not after
            from pathlib import Path

            parent = Path(target).expanduser().parent
            if not parent.is_dir():
                raise UsageError(
                    f"{option} {target}: the directory {parent} does not exist",
                    fix="Create it first, or give a path in an existing directory.",
                )
    if live and not actx.json:
        actx.note("--live: sending a tiny streamed completion (costs a few credits).")

    on_result = None
    if not actx.json:
        out = actx.out

        def on_result(result: object) -> None:
            render.print_result(out, result)  # type: ignore[arg-type]

        from mscli.redact import Redactor

        s = None
        try:
            s = actx.settings
        except Exception:
            pass
        render.print_header(
            out,
            actx.redact(Redactor().url(s.base_url.value)) if s is not None else None,
            s.profile.value if s is not None else None,
        )

    report = runner.run(
        actx, only=only_names, skip=skip_names, live=live, strict=strict, on_result=on_result
    )

    if actx.json:
        actx.emit_json(report.as_dict())
    else:
        render.print_summary(actx.out, report)
    from mscli.doctor import ci

    annotation = ci.github_annotation(report, actx.env)
    if annotation is not None:  # a workflow command: the runner reads it from stderr too
        actx.terminal.write(actx.terminal.stderr, annotation + "\n")
    if junit:
        written = _write("JUnit report", "--junit", junit, lambda: ci.write_junit(report, junit))
        actx.note(f"JUnit report written to {written}.")
    if bundle:
        from mscli.doctor import bundle as bundle_mod

        path = _write("bundle", "--bundle", bundle, lambda: bundle_mod.write(report, bundle))
        actx.note(
            f"Support bundle written to {path} (redacted: keys masked). Attach it to your ticket."
        )
    raise typer.Exit(report.exit_code)


def _write(what: str, flag: str, target: Any, write: Callable[[], Any]) -> Any:
    """`write()`; a file that cannot be written is a usage error naming it, not a traceback."""
    from mscli.errors import UsageError

    try:
        return write()
    except OSError as exc:
        raise UsageError(
            f"Could not write the {what} to {target}: {exc.strerror or exc}",
            fix=f"Give {flag} a path you can write to.",
        ) from None
