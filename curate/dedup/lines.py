"""Common lines: the corpus-level `common_line_char_frac` signal (curate/signals/corpus.py
has its definition and source), computed in one SQL pass over the store's documents.

It is recomputed for every document whenever the set of documents or the signal version
changed since the last pass (a new document can make an old document's lines common), and
skipped otherwise, so a rerun on an unchanged store writes nothing.
"""
from __future__ import annotations

import json

import duckdb

from curate import store
from curate.signals.corpus import MIN_DOCUMENTS, MIN_LINE_CHARS

META_KEY = "common_lines"
_TRIM = " \t\r\f\v"


def _state(con: duckdb.DuckDBPyConnection) -> dict:
    from curate.signals import SIGNALS_VERSION

    n_docs, max_doc = con.execute("SELECT count(*), max(doc_id) FROM documents").fetchone()
    return {"documents": n_docs, "max_doc_id": max_doc, "signals_version": SIGNALS_VERSION,
            "min_line_chars": MIN_LINE_CHARS, "min_documents": MIN_DOCUMENTS}


def update_common_lines(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> int:
    """Fill `signals.common_line_char_frac` for every scored document; returns how many were
    written (0 when nothing changed since the last pass). One transaction."""
    if not store.table_exists(con, "signals"):
        return 0
    state = _state(con)
    unset = con.execute("SELECT count(*) FROM signals WHERE common_line_char_frac IS NULL").fetchone()[0]
    if not force and not unset and json.loads(store.get_meta(con, META_KEY) or "null") == state:
        return 0
    with store.transaction(con):
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _doc_lines AS
            SELECT d.doc_id, d.text_hash, trim(x.line, ?) AS line
            FROM documents d JOIN signals s USING (doc_id), unnest(string_split(d.text, chr(10))) AS x(line)
            WHERE length(trim(x.line, ?)) >= ?""",
            [_TRIM, _TRIM, MIN_LINE_CHARS])
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _common AS
            SELECT l.doc_id, sum(length(l.line)) AS common_chars
            FROM _doc_lines l SEMI JOIN (
                SELECT line FROM _doc_lines GROUP BY line HAVING count(DISTINCT text_hash) >= ?
            ) c USING (line)
            GROUP BY l.doc_id""",
            [MIN_DOCUMENTS])
        con.execute("UPDATE signals SET common_line_char_frac = 0.0")
        con.execute(
            """
            UPDATE signals SET common_line_char_frac = f.frac
            FROM (SELECT c.doc_id, least(c.common_chars / greatest(length(d.text), 1), 1.0) AS frac
                  FROM _common c JOIN documents d USING (doc_id)) f
            WHERE signals.doc_id = f.doc_id""")
        n = store.count_rows(con, "signals")
        con.execute("DROP TABLE _doc_lines")
        con.execute("DROP TABLE _common")
        store.set_meta(con, META_KEY, json.dumps(state))
    return int(n)
