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
        # One row per kept line: its document, a 128-bit hash of the line and of the document's
        # text (md5_number), and its length. Hashes, not the lines, so the table is a few dozen
        # bytes a line whatever their length; and a line's texts are counted by a plain GROUP BY
        # over distinct (line, text) pairs, which DuckDB spills to disk under its memory limit
        # (a count(DISTINCT) over the lines themselves ran out of memory at 1M documents).
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _doc_lines AS
            SELECT doc_id, th, md5_number(line) AS lh, length(line) AS n
            FROM (SELECT d.doc_id, md5_number(d.text_hash) AS th,
                         trim(unnest(string_split(d.text, chr(10))), ?) AS line
                  FROM documents d JOIN signals s USING (doc_id))
            WHERE length(line) >= ?""",
            [_TRIM, MIN_LINE_CHARS])
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _common AS
            WITH pairs AS (SELECT DISTINCT lh, th FROM _doc_lines),
                 common AS (SELECT lh FROM pairs GROUP BY lh HAVING count(*) >= ?)
            SELECT l.doc_id, sum(l.n) AS common_chars
            FROM _doc_lines l SEMI JOIN common c USING (lh)
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
