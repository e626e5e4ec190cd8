"""The conversation store: SQLite (standard library) in the user data dir, schema versioned.

One row per conversation, one per exchange (the user's message, the reply, model, parameters, usage,
timings and how it ended). The schema version lives in `PRAGMA user_version`; a database from a newer
mscli, a damaged file or a lock held too long raises `LocalStoreError` and is never reset or rewritten.
The file is created 0600 in a 0700 directory: it holds conversation text.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from mscli.errors import LocalStoreError
from mscli.jsontext import dumps

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0

#: How an exchange ended.
STATUSES = ("complete", "interrupted", "truncated", "error")

_SCHEMA_V1 = """
CREATE TABLE conversations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    title       TEXT NOT NULL,
    model       TEXT,
    system      TEXT,
    base_url    TEXT
);
CREATE TABLE exchanges (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id   INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    created_at        REAL NOT NULL,
    model             TEXT NOT NULL,
    params            TEXT NOT NULL DEFAULT '{}',
    prompt            TEXT NOT NULL,
    reply             TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    finish_reason     TEXT,
    completion_id     TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    estimated_credits REAL,
    first_token_ms    REAL,
    total_ms          REAL,
    error             TEXT
);
CREATE INDEX exchanges_by_conversation ON exchanges(conversation_id, id);
CREATE INDEX conversations_by_update ON conversations(updated_at);
"""


class Exchange(NamedTuple):
    """One exchange as stored: `created_at` and `id` are set by the store (0.0 / None before)."""

    prompt: str
    reply: str
    model: str
    status: str = "complete"
    params: Mapping[str, Any] = MappingProxyType({})
    finish_reason: str | None = None
    completion_id: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    estimated_credits: float | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None
    error: str | None = None
    created_at: float = 0.0
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self._asdict(), "params": dict(self.params)}


class Conversation(NamedTuple):
    """A stored conversation: with its exchanges from `HistoryStore.get`, without them (but with
    their count and models) from `HistoryStore.list`."""

    id: int
    created_at: float
    updated_at: float
    title: str
    model: str | None
    system: str | None
    base_url: str | None
    exchanges: tuple[Exchange, ...] = ()
    exchange_count: int = 0
    #: every model its exchanges used, first used first (`model` is the latest)
    models: tuple[str, ...] = ()

    def to_json(self, *, with_exchanges: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "model": self.model,
            "system": self.system,
            "base_url": self.base_url,
            "exchange_count": self.exchange_count or len(self.exchanges),
            "models": list(self.models),
        }
        if with_exchanges:
            d["exchanges"] = [e.to_json() for e in self.exchanges]
        return d


def make_title(prompt: str, limit: int = 60) -> str:
    words = " ".join(prompt.split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


class HistoryStore:
    """Open with `HistoryStore.open(path)` (`Paths.history`); every failure becomes `LocalStoreError` with the path."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> HistoryStore:
        path = Path(path)
        if not path.exists():
            if not create:
                raise LocalStoreError("There is no history yet.", path=str(path), reason="missing")
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                os.close(fd)
            except OSError as err:
                raise LocalStoreError(
                    f"The history database {path} cannot be created: {err.strerror or err}",
                    path=str(path),
                ) from err
        elif path.is_dir():
            raise LocalStoreError(
                f"The history database path {path} is a directory.", path=str(path)
            )
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as err:
            raise _store_error(err, path) from err
        store = cls(path, conn)
        try:
            store._migrate()
        except BaseException:
            conn.close()
            raise
        return store

    def _migrate(self) -> None:
        with self._guard():
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise LocalStoreError(
                    f"The history database was written by a newer mscli (schema {version}, this mscli "
                    f"knows {SCHEMA_VERSION}): {self.path}",
                    path=str(self.path),
                    reason="newer schema",
                )
            self._conn.execute("PRAGMA foreign_keys = ON")
            if version == SCHEMA_VERSION:
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # Re-read inside the write lock: another mscli may have created it meanwhile.
                version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
                if version == 0:
                    tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                    if tables:
                        raise LocalStoreError(
                            "The history database has tables but no schema version: it was not "
                            f"written by mscli: {self.path}",
                            path=str(self.path),
                            reason="unknown schema",
                        )
                    for stmt in _SCHEMA_V1.split(";"):
                        if stmt.strip():
                            self._conn.execute(stmt)
                    self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            raise _store_error(err, self.path) from err

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        try:
            self._conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def new_conversation(
        self,
        title: str,
        *,
        model: str | None,
        system: str | None,
        base_url: str | None,
        now: float | None = None,
    ) -> int:
        now = time.time() if now is None else now
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO conversations (created_at, updated_at, title, model, system, base_url) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now, now, make_title(title) or "(untitled)", model, system, base_url),
            )
            return int(cur.lastrowid or 0)

    def add_exchange(self, conversation_id: int, ex: Exchange) -> int:
        if ex.status not in STATUSES:
            raise ValueError(f"bad status {ex.status!r}")
        now = ex.created_at or time.time()
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO exchanges (conversation_id, created_at, model, params, prompt, reply, status, "
                "finish_reason, completion_id, prompt_tokens, completion_tokens, estimated_credits, "
                "first_token_ms, total_ms, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    now,
                    ex.model,
                    dumps(dict(ex.params), sort_keys=True),
                    ex.prompt,
                    ex.reply,
                    ex.status,
                    ex.finish_reason,
                    ex.completion_id,
                    ex.prompt_tokens,
                    ex.completion_tokens,
                    ex.estimated_credits,
                    ex.first_token_ms,
                    ex.total_ms,
                    ex.error,
                ),
            )
            c.execute(
                "UPDATE conversations SET updated_at = ?, model = ? WHERE id = ?",
                (now, ex.model, conversation_id),
            )
            return int(cur.lastrowid or 0)

    def delete_exchange(self, exchange_id: int) -> bool:
        with self._tx() as c:
            return c.execute("DELETE FROM exchanges WHERE id = ?", (exchange_id,)).rowcount > 0

    def set_system(self, conversation_id: int, system: str | None) -> None:
        with self._tx() as c:
            c.execute("UPDATE conversations SET system = ? WHERE id = ?", (system, conversation_id))

    def delete(self, conversation_id: int) -> bool:
        with self._tx() as c:
            c.execute("DELETE FROM exchanges WHERE conversation_id = ?", (conversation_id,))
            return (
                c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount > 0
            )

    # -- reading ------------------------------------------------------------------------------

    def list(self, limit: int | None = None) -> list[Conversation]:
        sql = (
            "SELECT c.id, c.created_at, c.updated_at, c.title, c.model, c.system, c.base_url, "
            "(SELECT count(*) FROM exchanges e WHERE e.conversation_id = c.id), "
            "(SELECT group_concat(model, char(10)) FROM (SELECT model FROM exchanges e "
            "WHERE e.conversation_id = c.id GROUP BY model ORDER BY min(e.id))) "
            "FROM conversations c ORDER BY c.updated_at DESC, c.id DESC"
        )
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        with self._guard():
            rows = self._conn.execute(sql, params).fetchall()
        return [
            Conversation(
                id=r[0],
                created_at=r[1],
                updated_at=r[2],
                title=r[3],
                model=r[4],
                system=r[5],
                base_url=r[6],
                exchange_count=r[7],
                models=tuple(r[8].split("\n")) if r[8] else (),
            )
            for r in rows
        ]

    def latest_id(self, base_url: str) -> int | None:
        """The most recent conversation held with `base_url` (an API's base URL, or "sandbox")."""
        with self._guard():
            row = self._conn.execute(
                "SELECT id FROM conversations WHERE base_url = ? "
                "ORDER BY updated_at DESC, id DESC LIMIT 1",
                (base_url,),
            ).fetchone()
        return None if row is None else int(row[0])

    def get(self, conversation_id: int) -> Conversation | None:
        with self._guard():
            row = self._conn.execute(
                "SELECT id, created_at, updated_at, title, model, system, base_url FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            if row is None:
                return None
            ex_rows = self._conn.execute(
                "SELECT id, created_at, model, params, prompt, reply, status, finish_reason, completion_id, "
                "prompt_tokens, completion_tokens, estimated_credits, first_token_ms, total_ms, error "
                "FROM exchanges WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        exchanges: list[Exchange] = []
        for r in ex_rows:
            try:
                params = json.loads(r[3]) if r[3] else {}
            except ValueError:
                params = {}
            exchanges.append(
                Exchange(
                    id=r[0],
                    created_at=r[1],
                    model=r[2],
                    params=params,
                    prompt=r[4],
                    reply=r[5],
                    status=r[6],
                    finish_reason=r[7],
                    completion_id=r[8],
                    prompt_tokens=r[9],
                    completion_tokens=r[10],
                    estimated_credits=r[11],
                    first_token_ms=r[12],
                    total_ms=r[13],
                    error=r[14],
                )
            )
        cid, created_at, updated_at, title, model, system, base_url = row
        return Conversation(
            cid,
            created_at,
            updated_at,
            title,
            model,
            system,
            base_url,
            exchanges=tuple(exchanges),
            exchange_count=len(exchanges),
            models=tuple(dict.fromkeys(e.model for e in exchanges)),
        )


def _store_error(err: sqlite3.Error, path: Path) -> LocalStoreError:
    text = str(err)
    low = text.lower()
    no_log = "Chat still works meanwhile with --no-log."
    if "locked" in low or "busy" in low:
        reason, message = "locked", "The history database is locked by another process."
        fix = f"Another mscli (or a program holding {path}) is writing to it: let it finish or close it, then try again. {no_log}"
    elif "not a database" in low or "malformed" in low or "corrupt" in low:
        reason, message = "corrupt", "The history database is damaged (it was not changed)."
        fix = f"Move it aside (mv '{path}' '{path}.damaged'); mscli then starts a new one. {no_log}"
    elif "readonly" in low or "read-only" in low or "unable to open" in low:
        reason, message = "unwritable", "The history database cannot be opened for writing."
        fix = f"Check the permissions of {path} and its directory (ls -l). {no_log}"
    else:
        reason, message = "error", "The history database cannot be used."
        fix = None
    facts: dict[str, Any] = {"fix": fix} if fix else {}
    return LocalStoreError(
        f"{message} ({path}: {text})", path=str(path), reason=reason, detail=text, **facts
    )
