"""Option annotations shared by several commands (typer and stdlib only: imported at startup)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from mscli.completers import complete_model, complete_profile

#: A command's own --json; OR'ed with the global one (`mscli --json X` == `mscli X --json`).
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout; errors as JSON on stderr.")]

#: A command's own -p/--profile: the profile to act on, like the global --profile.
ProfileOpt = Annotated[
    Optional[str],
    typer.Option(
        "--profile",
        "-p",
        help="Profile to act on (same as the global --profile). \\[env: MSCLI_PROFILE]",
        show_default=False,
        autocompletion=complete_profile,
    ),
]


# --- the request parameters of chat and batch: names and bounds in one place -------------------


def model_option(help: str) -> Any:
    return typer.Option(
        "--model", "-m", help=help, autocompletion=complete_model, show_default=False
    )


def system_option(help: str) -> Any:
    return typer.Option("--system", "-s", help=help, show_default=False)


def temperature_option(help: str) -> Any:
    return typer.Option("--temperature", min=0.0, max=2.0, help=help, show_default=False)


def max_tokens_option(help: str) -> Any:
    return typer.Option("--max-tokens", min=1, help=help, show_default=False)
