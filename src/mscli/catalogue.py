"""The model catalogue: what an API serves, for chat, `models`, `balance --probe` and the doctor.

`Catalogue` lists the served models (the last `GET /models` answer per base URL is cached 10
minutes), checks a model before it is used (`check`: refetches once before saying no) and suggests
the closest ids (`suggest`). The cache functions below are read without any network call by shell
completion and "did you mean" advice. Stdlib only at import time. A damaged cache file is ignored
(it is only a cache) and rewritten.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscli.jsontext import dumps
from mscli.pricing import DEFAULT_MODEL as DEFAULT_MODEL  # the catalogue's default, re-exported

if TYPE_CHECKING:
    from mscli.api.client import GatewayClient

TTL_SECONDS = 600.0


def _path(directory: Path, base_url: str) -> Path:
    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
    return directory / f"models-{digest}.json"


def _read(path: Path) -> tuple[float, list[dict[str, Any]]] | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        fetched = float(raw["fetched_at"])
        models = [m for m in raw["models"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return fetched, models


def _files(directory: Path) -> list[Path]:
    """The cached lists, newest first."""
    try:
        return sorted(
            directory.glob("models-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
    except OSError:
        return []


def load(
    directory: Path, base_url: str, *, max_age: float | None = TTL_SECONDS, now: float | None = None
) -> list[dict[str, Any]] | None:
    """Cached model entries for `base_url` in the cache `directory` (`Paths.cache_dir`), or None
    when absent, unreadable or older than max_age."""
    read = _read(_path(directory, base_url))
    if read is None or (max_age is not None and ((now or time.time()) - read[0]) > max_age):
        return None
    return read[1]


def cached_ids(directory: Path, base_url: str) -> list[str]:
    """Model ids from the cache whatever its age (completion and suggestions); [] when none."""
    return [m["id"] for m in load(directory, base_url, max_age=None) or []]


def all_cached_ids(directory: Path) -> list[str]:
    """Model ids from every cached base URL (for shell completion, which knows no base URL)."""
    reads = (_read(path) for path in _files(directory))
    return list(dict.fromkeys(m["id"] for read in reads if read for m in read[1]))


def save(
    directory: Path, base_url: str, models: list[dict[str, Any]], *, now: float | None = None
) -> None:
    """Write the cache atomically; a failure to write is ignored (the cache is an optimisation)."""
    path = _path(directory, base_url)
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
    for old in _files(directory)[MAX_FILES:]:
        with contextlib.suppress(OSError):
            old.unlink()


def suggest(model: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Closest model ids for a did-you-mean line."""
    known = list(dict.fromkeys(known))
    picks = difflib.get_close_matches(model, known, n=n, cutoff=0.5)
    if not picks:
        low = model.lower()
        picks = [m for m in known if low and (low in m.lower() or m.lower() in low)][:n]
    return picks


def no_model_list(err: BaseException) -> bool:
    """THE rule for "this gateway offers no usable model list" (404/405/501 on /models, or a
    reply that is not a list): chat then does not refuse a model, and a probe picks its own."""
    from mscli.errors import ApiError, ProtocolError

    return isinstance(err, ProtocolError) or (
        isinstance(err, ApiError) and err.status in (404, 405, 501)
    )


class Catalogue:
    """The models one API serves, cached in `cache_dir`. `client` opens a client for the one
    request it may send; `warn` reports a model list with entries left out; `waiting(what)` shows
    the wait."""

    def __init__(
        self,
        cache_dir: Path,
        base_url: str,
        client: Callable[[], GatewayClient],
        *,
        warn: Callable[[str], None] = lambda _text: None,
        waiting: Callable[[str], AbstractContextManager[None]] = lambda _what: nullcontext(),
    ) -> None:
        self.cache_dir = cache_dir
        self.base_url = base_url
        self._client = client
        self._warn = warn
        self._waiting = waiting

    def entries(self, *, refresh: bool = False) -> tuple[list[dict[str, Any]], bool]:
        """The model entries (dicts with at least "id"), and whether they came from the cache.
        A fresh cache entry is used unless `refresh`; otherwise the live list is fetched and
        cached."""
        if not refresh:
            cached = load(self.cache_dir, self.base_url)
            if cached is not None:
                return cached, True
        with self._client() as client, self._waiting(f"Asking {client.host} for its models"):
            listing = client.list_models()
        if listing.skipped:
            self._warn(f"{listing.skipped} entries of the server's model list had no id; left out.")
        entries = [m.model_dump(mode="json", exclude_none=True) for m in listing.data]
        save(self.cache_dir, self.base_url, entries)
        return entries, False

    def check(self, model: str, *, refresh: bool = False, lenient: bool = False) -> list[str]:
        """Raise ModelNotServedError (with did-you-mean) unless `model` is served; returns the
        known ids. A stale cache never says no: the list is refetched once first. `lenient`
        (chat): a gateway without a usable model list (404/405/501, a reply that is not a list,
        an empty list) is no reason to refuse a model."""
        from mscli.errors import ApiError, ModelNotServedError, ProtocolError

        try:
            entries, cached = self.entries(refresh=refresh)
            known = [str(e["id"]) for e in entries]
            if model not in known and cached:
                entries, _ = self.entries(refresh=True)
                known = [str(e["id"]) for e in entries]
        except (ApiError, ProtocolError) as err:
            if lenient and no_model_list(err):
                return []
            raise
        if model not in known and (known or not lenient):
            raise ModelNotServedError(
                f"The model {model!r} is not served by {self.base_url}.",
                model=model,
                suggestions=suggest(model, known),
            )
        return known

    def cached_ids(self) -> list[str]:
        """Ids from the cache whatever its age, without a request; [] when none."""
        return cached_ids(self.cache_dir, self.base_url)
