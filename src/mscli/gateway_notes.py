"""What mscli learned about a gateway, per base URL, kept in the cache directory
(``gateways.json``): today one fact, that it refuses ``stream_options`` (issue 11 item 8).

ModelStack does not document ``stream_options``; mscli sends ``{"include_usage": true}`` with
streamed chats to get the token counts. A gateway that rejects unknown parameters answers 400
naming it: the client then retries once without it (`GatewayClient.chat_stream`), and the chat
engine records it here so later runs leave it out from the start. Best-effort, like the models
cache: a note that cannot be read or written costs one extra request, never a failure.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mscli.jsontext import dumps

#: At most this many base URLs are remembered (each `mscli --sandbox` run has its own port).
MAX_ENTRIES = 64


def notes_path(cache_dir: Path) -> Path:
    """The notes file in the cache directory (the README's Files table names it from here)."""
    return cache_dir / "gateways.json"


def _load(cache_dir: Path) -> dict[str, Any]:
    try:
        raw = json.loads(notes_path(cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def refuses_stream_options(cache_dir: Path, base_url: str) -> bool:
    entry = _load(cache_dir).get(base_url.rstrip("/"))
    return isinstance(entry, dict) and entry.get("stream_options") == "refused"


def remember_refuses_stream_options(cache_dir: Path, base_url: str) -> None:
    notes = _load(cache_dir)
    notes.pop(base_url.rstrip("/"), None)
    notes[base_url.rstrip("/")] = {"stream_options": "refused"}  # newest last
    notes = dict(list(notes.items())[-MAX_ENTRIES:])
    path = notes_path(cache_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gateways-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dumps(notes))
            os.replace(tmp, path)
        except OSError:
            os.unlink(tmp)
            raise
    except OSError:
        pass
