"""Option annotations shared by several commands (typer and stdlib only: imported at startup)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mscli.completers import complete_profile

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
