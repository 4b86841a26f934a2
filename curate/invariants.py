"""The invariants `curate check` and every demo run verify: nothing is lost.

Every source: records read = ingested + quarantined; every document has its source; every
run's counts add up; every slice: documents = kept + dropped, and every drop has a reason.
"""
from __future__ import annotations

import duckdb

from curate import store


def check_invariants(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool, str]]:
    """(invariant, holds, detail) for every source, run and slice in the store."""
    out: list[tuple[str, bool, str]] = []
    bad_sources = con.execute("""
        SELECT s.uri, s.n_records, s.n_documents, s.n_quarantined,
               (SELECT count(*) FROM documents d WHERE d.source_id = s.source_id) AS docs,
               (SELECT count(*) FROM quarantine q WHERE q.source_id = s.source_id) AS quar
        FROM sources s
        WHERE s.n_records <> s.n_documents + s.n_quarantined OR docs <> s.n_documents OR quar <> s.n_quarantined
    """).fetchall()
    n_sources = store.count_rows(con, "sources")
    out.append(("every source: records read = ingested + quarantined", not bad_sources,
                f"{n_sources} sources" if not bad_sources else f"broken: {bad_sources[:5]}"))
    orphans = con.execute("SELECT count(*) FROM documents ANTI JOIN sources USING (source_id)").fetchone()[0]
    out.append(("every document belongs to a recorded source", orphans == 0, f"{orphans} orphans"))
    bad_runs = con.execute(
        "SELECT run_id FROM runs WHERE records_read <> documents_ingested + quarantined").fetchall()
    out.append(("every run: records read = ingested + quarantined", not bad_runs,
                "ok" if not bad_runs else f"runs {[r[0] for r in bad_runs]}"))
    n_docs = store.count_rows(con, "documents")
    for sid, n_slice_docs, n_kept, n_dropped in con.execute(
            "SELECT slice_id, n_documents, n_kept, n_dropped FROM slices ORDER BY slice_id").fetchall():
        counts = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE kept), count(*) FILTER (WHERE NOT kept),
                      count(*) FILTER (WHERE NOT kept AND reason IS NULL)
               FROM decisions WHERE slice_id = ?""", [sid]).fetchone()
        holds = counts[0] == n_slice_docs == counts[1] + counts[2] and (counts[1], counts[2]) == (n_kept, n_dropped)
        out.append((f"slice {sid}: documents = kept + dropped", holds,
                    f"{counts[0]} = {counts[1]} + {counts[2]}" + ("" if n_slice_docs == n_docs else
                                                                   f" (store now holds {n_docs}: rebuild the slice)")))
        out.append((f"slice {sid}: every drop has a reason", counts[3] == 0, f"{counts[3]} without reason"))
    return out
