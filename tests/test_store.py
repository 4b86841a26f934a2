from __future__ import annotations

import os
import subprocess
import sys

import pytest

from curate import store
from curate.errors import SchemaError


def test_schema_created_with_version(db):
    with store.open_store(db) as con:
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    # `signals` is created from the registry by the scoring stage
    assert set(store.TABLES) - {"signals"} <= tables


def test_reopen_is_noop(db):
    with store.open_store(db) as con:
        con.execute("INSERT INTO meta VALUES ('x', '1')")
    with store.open_store(db) as con:
        assert store.get_meta(con, "x") == "1"


def test_newer_schema_refused(db):
    with store.open_store(db) as con:
        store.set_meta(con, "schema_version", str(store.SCHEMA_VERSION + 1))
    with pytest.raises(SchemaError, match="newer than this curate understands"):
        store.connect(db)
    with pytest.raises(SchemaError, match="newer"):
        store.connect(db, read_only=True)


def test_read_only_missing_store(tmp_path):
    with pytest.raises(SchemaError, match="no store"):
        store.connect(tmp_path / "nope.duckdb", read_only=True)


def test_second_process_gets_lock_error(db):
    con = store.connect(db)
    try:
        code = (
            "import sys; from curate import store\n"
            "from curate.errors import StoreLockedError\n"
            f"try:\n    store.connect({str(db)!r})\n"
            "except StoreLockedError as e:\n    print('LOCKED', e); sys.exit(3)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode == 3, proc.stderr
        assert "locked by another curate process" in proc.stdout
    finally:
        con.close()


def test_ensure_signals_table_adds_columns(db):
    with store.open_store(db) as con:
        store.ensure_signals_table(con, [("chars", "BIGINT")])
        store.ensure_signals_table(con, [("chars", "BIGINT"), ("lang", "VARCHAR")])
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name='signals' ORDER BY ordinal_position"
        ).fetchall()]
    assert cols == ["doc_id", "signals_version", "chars", "lang"]


def test_bad_identifier_rejected():
    with pytest.raises(ValueError):
        store.ident("x; DROP TABLE documents")


def test_writer_lock_refuses_second_writer(db, tmp_path):
    with store.writer_lock(db):
        code = (
            "import sys; from curate.cli import main\n"
            f"sys.exit(main(['ingest', '--db', {str(db)!r}, {str(tmp_path / 'x.jsonl')!r}]))\n"
        )
        (tmp_path / "x.jsonl").write_text('{"text": "hello"}\n')
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode == 3
        assert f"locked by pid {os.getpid()} (`" in proc.stderr  # the holder, named
    # released: the same command now works
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_publish_snapshot_is_readable(db):
    with store.open_store(db) as con:
        con.execute("INSERT INTO meta VALUES ('k', 'v')")
    snap = store.publish_snapshot(db)
    with store.open_store(snap, read_only=True) as con:
        assert store.get_meta(con, "k") == "v"
    assert not snap.with_name(snap.name + ".tmp").exists()
