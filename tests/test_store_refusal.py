"""A --db that is not a curate store, or one that is damaged, is refused and left byte for byte
as it was: by the store module, and by the CLI for both a writing and a reading command."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from curate import cli, store
from curate.errors import SchemaError


def _text(p: Path) -> None:
    p.write_text("my notes\n")


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _sqlite(p: Path) -> None:
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()


def _foreign_duckdb(p: Path) -> None:
    con = duckdb.connect(str(p))
    con.execute("CREATE TABLE users (id INTEGER, email VARCHAR)")
    con.execute("INSERT INTO users VALUES (1, 'a@b.c')")
    con.close()


def _ours(p: Path, *statements: str) -> None:
    store.connect(p).close()
    con = duckdb.connect(str(p))
    for sql in statements:
        con.execute(sql)
    con.close()


def _missing_table(p: Path) -> None:
    _ours(p, "DROP TABLE dup_pairs")


def _missing_column(p: Path) -> None:
    _ours(p, "ALTER TABLE runs DROP COLUMN finished_at")


def _unreadable_version(p: Path) -> None:
    _ours(p, "UPDATE meta SET value = 'one' WHERE key = 'schema_version'")


def _truncated(p: Path) -> None:
    _ours(p, "CREATE TABLE pad AS SELECT range AS x FROM range(300000)")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


CASES = {
    "text file": (_text, "not a DuckDB file"),
    "empty file": (_empty, "an empty file"),
    "SQLite database": (_sqlite, "a SQLite database"),
    "someone else's DuckDB": (_foreign_duckdb, r"curate did not make \(tables: users\)"),
    "table dropped": (_missing_table, "damaged: dup_pairs missing"),
    "column dropped": (_missing_column, r"damaged: runs\.finished_at missing"),
    "version unreadable": (_unreadable_version, "damaged: its schema version cannot be read"),
    "truncated": (_truncated, "damaged|cannot open"),
}


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def bad_store(request, tmp_path):
    make, message = CASES[request.param]
    path = tmp_path / "store.db"
    make(path)
    return path, message, path.read_bytes()


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_the_store_module_refuses_it_unchanged(bad_store, read_only):
    path, message, before = bad_store
    with pytest.raises(SchemaError, match=message):
        store.connect(path, read_only=read_only)
    assert path.read_bytes() == before


@pytest.mark.parametrize("argv", [["ingest", "{data}"], ["runs"], ["check"]], ids=["ingest", "runs", "check"])
def test_commands_refuse_it_with_a_message_and_leave_it_as_it_was(bad_store, argv, tmp_path, capsys):
    path, message, before = bad_store
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "a document"}\n')
    rc = cli.main([a.format(data=data) for a in argv] + ["--db", str(path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert str(path) in err and "Traceback" not in err
    assert path.read_bytes() == before
    assert not (tmp_path / "store.db.artifacts").exists()


def test_a_folder_given_as_the_store_is_refused(tmp_path):
    with pytest.raises(SchemaError, match="is a folder"):
        store.connect(tmp_path)


def test_an_empty_duckdb_database_becomes_a_store(tmp_path):
    path = tmp_path / "blank.duckdb"
    duckdb.connect(str(path)).close()
    with store.open_store(path) as con:
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)


def test_a_store_whose_creation_was_interrupted_is_finished(tmp_path):
    path = tmp_path / "half.duckdb"
    con = duckdb.connect(str(path))
    con.execute(store._DDL[0])  # meta only, no version yet
    con.close()
    with store.open_store(path) as con:
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)
        assert store.table_exists(con, "documents")


def test_the_dashboard_refuses_it_with_the_same_message_and_leaves_it(bad_store):
    from curate.dashboard.source import StoreUnavailable, probe

    path, message, before = bad_store
    with pytest.raises(StoreUnavailable, match=message):
        probe(path)
    assert path.read_bytes() == before
