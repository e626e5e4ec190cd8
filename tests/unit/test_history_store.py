"""The SQLite conversation store: schema version, round trips, and refusing to reset a bad file."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from mscli.errors import LocalStoreError
from mscli.history import SCHEMA_VERSION, Exchange, HistoryStore, make_title


def _store(tmp_path: Path) -> HistoryStore:
    return HistoryStore.open(tmp_path / "data" / "history.sqlite3")


def test_new_database_is_versioned_and_private(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.close()
    path = tmp_path / "data" / "history.sqlite3"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_round_trip_and_messages(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        cid = store.new_conversation(
            "  Explain   SSE\nplease ", model="m1", system="be brief", base_url="u"
        )
        store.add_exchange(
            cid,
            Exchange(
                prompt="Explain SSE",
                reply="It is…",
                model="m1",
                params={"temperature": 0.2},
                prompt_tokens=3,
                completion_tokens=4,
                estimated_credits=0.001,
                first_token_ms=5.0,
                total_ms=9.0,
                finish_reason="stop",
                completion_id="chatcmpl-1",
            ),
        )
        store.add_exchange(
            cid, Exchange(prompt="failed", reply="", model="m1", status="error", error="boom")
        )
        store.add_exchange(
            cid, Exchange(prompt="cut", reply="half", model="m2", status="interrupted")
        )
        conv = store.get(cid)
        assert conv is not None
        assert conv.title == "Explain SSE please"
        assert conv.model == "m2"
        assert [e.status for e in conv.exchanges] == ["complete", "error", "interrupted"]
        assert conv.exchanges[0].params == {"temperature": 0.2}
        assert conv.exchanges[0].prompt_tokens == 3
        listed = store.list()
        assert [c.id for c in listed] == [cid]
        assert listed[0].exchange_count == 3
        assert store.latest_id("u") == cid
        assert conv.to_json()["exchanges"][2]["reply"] == "half"


def test_latest_and_delete(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        a = store.new_conversation("a", model=None, system=None, base_url="sandbox", now=1.0)
        b = store.new_conversation("b", model=None, system=None, base_url="sandbox", now=2.0)
        other = store.new_conversation("c", model=None, system=None, base_url="x", now=5.0)
        assert store.latest_id("sandbox") == b
        store.add_exchange(a, Exchange(prompt="x", reply="y", model="m", created_at=3.0))
        assert store.latest_id("sandbox") == a  # the latest of that API, not `other`
        assert store.latest_id("x") == other and store.latest_id("y") is None
        assert store.delete(other) is True
        assert store.delete(a) is True
        assert store.delete(a) is False
        assert store.get(a) is None
        assert [c.id for c in store.list()] == [b]


def test_set_system(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        cid = store.new_conversation("a", model=None, system="one", base_url=None)
        store.set_system(cid, "two")
        conv = store.get(cid)
        assert conv is not None and conv.system == "two"


def test_delete_exchange(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        cid = store.new_conversation("a", model=None, system=None, base_url=None)
        eid = store.add_exchange(cid, Exchange(prompt="x", reply="y", model="m"))
        assert store.delete_exchange(eid)
        conv = store.get(cid)
        assert conv is not None and conv.exchanges == ()


def test_bad_status_is_refused(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        cid = store.new_conversation("a", model=None, system=None, base_url=None)
        with pytest.raises(ValueError):
            store.add_exchange(cid, Exchange(prompt="x", reply="y", model="m", status="weird"))


def test_corrupt_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    junk = b"this is not a database\n" * 200
    path.write_bytes(junk)
    with pytest.raises(LocalStoreError) as exc:
        HistoryStore.open(path)
    assert exc.value.facts["reason"] == "corrupt"
    assert str(path) in str(exc.value)
    assert path.read_bytes() == junk


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(LocalStoreError) as exc:
        HistoryStore.open(path)
    assert exc.value.facts["reason"] == "newer schema"
    assert path.read_bytes() == before


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE other (x)")
    with pytest.raises(LocalStoreError) as exc:
        HistoryStore.open(path)
    assert exc.value.facts["reason"] == "unknown schema"


def test_locked_database_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mscli.history as history

    monkeypatch.setattr(history, "BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "history.sqlite3"
    HistoryStore.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LocalStoreError) as exc:
            with HistoryStore.open(path) as store:
                store.new_conversation("x", model=None, system=None, base_url=None)
        assert exc.value.facts["reason"] == "locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_missing_database_without_create(tmp_path: Path) -> None:
    with pytest.raises(LocalStoreError):
        HistoryStore.open(tmp_path / "none.sqlite3", create=False)
    assert not (tmp_path / "none.sqlite3").exists()


def test_directory_in_place_of_the_database(tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()
    with pytest.raises(LocalStoreError):
        HistoryStore.open(tmp_path / "h")


def test_make_title() -> None:
    assert make_title("a\n b") == "a b"
    assert len(make_title("x" * 200)) == 60
    assert make_title("x" * 200).endswith("…")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="permissions")
def test_unwritable_directory(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(LocalStoreError):
            HistoryStore.open(d / "sub" / "history.sqlite3")
    finally:
        d.chmod(0o700)
