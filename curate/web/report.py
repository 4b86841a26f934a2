"""The sample crawl's figures (sample_data/web/): what ingest made of each kind of record,
what a slice dropped, and the extraction's word precision and recall against the pages' own
main text. Used by `curate demo`; tests/test_web_extraction.py checks the same figures."""
from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa

from curate import store
from curate.signals.web import META_KEY

BOILERPLATE_HIGH = 0.9


def load_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def word_scores(expected: str, got: str) -> tuple[float, float]:
    """(precision, recall) of the multiset of whitespace-separated words of `got` against `expected`."""
    e, g = Counter(expected.split()), Counter(got.split())
    common = sum((e & g).values())
    return common / max(1, sum(g.values())), common / max(1, sum(e.values()))


def extraction_quality(con: duckdb.DuckDBPyConnection, expected: list[dict]) -> tuple[int, float, float]:
    """(pages, mean precision, mean recall) over the pages with an expected text; a page that
    is not a document (no main text found) counts as nothing extracted."""
    store.register(con, "_expected_ids", pa.table({"id": [r["id"] for r in expected]}))
    got = dict(con.execute("SELECT external_id, text FROM documents WHERE external_id IN "
                           "(SELECT id FROM _expected_ids)").fetchall())
    con.unregister("_expected_ids")
    scores = [word_scores(r["text"], got.get(r["id"], "")) for r in expected]
    n = max(1, len(scores))
    return len(scores), sum(p for p, _ in scores) / n, sum(r for _, r in scores) / n


def kind_table(con: duckdb.DuckDBPyConnection, slice_id: str, labels: list[dict]) -> list[list]:
    """Per labelled kind: records, quarantined, documents, dropped by the slice, and documents
    whose page was mostly boilerplate (web_boilerplate_frac > BOILERPLATE_HIGH)."""
    store.register(con, "_web_labels", pa.table({"id": [r["id"] for r in labels], "kind": [r["kind"] for r in labels]}))
    rows = con.execute(
        f"""SELECT l.kind, count(*) AS records, count(*) - count(d.doc_id) AS quarantined,
                   count(d.doc_id) AS documents, count(*) FILTER (WHERE NOT k.kept) AS dropped,
                   count(*) FILTER (WHERE TRY_CAST(json_extract(d.metadata, '$.{META_KEY}.web_boilerplate_frac')
                                              AS DOUBLE) > ?) AS mostly_boilerplate
            FROM _web_labels l LEFT JOIN documents d ON d.external_id = l.id
                 LEFT JOIN decisions k ON k.doc_id = d.doc_id AND k.slice_id = ?
            GROUP BY l.kind ORDER BY records DESC, l.kind""", [BOILERPLATE_HIGH, slice_id]).fetchall()
    con.unregister("_web_labels")
    return [list(r) for r in rows]
