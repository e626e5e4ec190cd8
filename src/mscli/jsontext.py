"""The one way mscli writes JSON (stdout under ``--json``, stderr error lines, the ledger, history
parameters, the models cache): strict RFC 8259, never ``NaN`` or ``Infinity``.

Numbers from a server are bounded where they are parsed (`mscli.api.models`); ``allow_nan=False``
here is the guard that turns a value that slipped through into a bug report (exit 1) instead of a
document other JSON parsers reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def dumps(
    obj: Any,
    *,
    indent: int | None = None,
    ensure_ascii: bool = False,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
    separators: tuple[str, str] | None = None,
) -> str:
    return json.dumps(
        obj,
        ensure_ascii=ensure_ascii,
        indent=indent,
        sort_keys=sort_keys,
        default=default,
        separators=separators,
        allow_nan=False,
    )
