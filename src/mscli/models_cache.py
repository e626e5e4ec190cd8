"""The model list cache: the last `GET /models` answer per base URL, kept 10 minutes.

Read without any network call by shell completion, "did you mean" suggestions and the pre-send model
check of `chat`. Stdlib only. A damaged cache file is ignored (it is only a cache) and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mscli.jsontext import dumps

TTL_SECONDS = 600.0


def cache_dir() -> Path:
    override = os.environ.get("MSCLI_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("mscli", appauthor=False))


def _path(base_url: str) -> Path:
    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
    return cache_dir() / f"models-{digest}.json"


def load(
    base_url: str, *, max_age: float | None = TTL_SECONDS, now: float | None = None
) -> list[dict[str, Any]] | None:
    """Cached model entries for `base_url`, or None when absent, unreadable or older than max_age."""
    try:
        raw = json.loads(_path(base_url).read_text(encoding="utf-8"))
        fetched = float(raw["fetched_at"])
        models = [m for m in raw["models"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if max_age is not None and ((now or time.time()) - fetched) > max_age:
        return None
    return models


def cached_ids(base_url: str) -> list[str]:
    """Model ids from the cache whatever its age (completion and suggestions); [] when none."""
    return [m["id"] for m in load(base_url, max_age=None) or []]


def all_cached_ids() -> list[str]:
    """Model ids from every cached base URL (for shell completion, which knows no base URL)."""
    ids: list[str] = []
    try:
        files = sorted(
            cache_dir().glob("models-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
    except OSError:
        return ids
    for path in files:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            ids.extend(
                m["id"]
                for m in raw["models"]
                if isinstance(m, dict) and isinstance(m.get("id"), str)
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return list(dict.fromkeys(ids))


def save(base_url: str, models: list[dict[str, Any]], *, now: float | None = None) -> None:
    """Write the cache atomically; a failure to write is ignored (the cache is an optimisation)."""
    path = _path(base_url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # as the data dirs, any umask
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".models-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(
                dumps({"base_url": base_url, "fetched_at": now or time.time(), "models": models})
            )
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
        return
    _prune(path.parent)


#: Cached lists kept (one per base URL, newest first); every `mscli --sandbox` run has its own
#: port, so without a bound the directory would grow by a file per run.
MAX_FILES = 16


def _prune(directory: Path) -> None:
    try:
        files = sorted(
            directory.glob("models-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for old in files[MAX_FILES:]:
            old.unlink()
    except OSError:
        pass
