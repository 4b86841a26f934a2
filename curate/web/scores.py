"""The `web` signals (curate/signals/web.py) of scored documents, copied from the counts
their extractor stored in the document's metadata at ingest; one SQL pass in the store.

Only rows still null are written, and only for documents that came with HTML, so a rerun on
an unchanged store writes nothing and documents without HTML keep their nulls.
"""
from __future__ import annotations

import duckdb

from curate import store
from curate.signals.web import META_KEY, NAMES


def update_web_signals(con: duckdb.DuckDBPyConnection) -> int:
    """Fill the `web` signals of scored documents from their metadata; returns rows written."""
    if not store.table_exists(con, "signals"):
        return 0
    if not set(NAMES) <= store.signal_columns(con):
        return 0
    first = NAMES[0]
    # identifiers from the registry (snake_case names), values bound as parameters
    sets = ", ".join(f"{n} = TRY_CAST(json_extract(d.metadata, ?) AS DOUBLE)" for n in NAMES)
    params = [f"$.{META_KEY}.{n}" for n in NAMES]
    with store.transaction(con):
        n = con.execute(
            f"""UPDATE signals SET {sets} FROM documents d
                WHERE signals.doc_id = d.doc_id AND signals.{first} IS NULL
                  AND json_extract(d.metadata, ?) IS NOT NULL""",
            [*params, f"$.{META_KEY}"]).fetchone()
    return int(n[0]) if n else 0
