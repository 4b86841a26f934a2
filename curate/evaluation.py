"""Slices measured against ground-truth labels (sample_data/labels.jsonl.gz).

For each junk type: recall = share of its documents the slice drops. For clean, unique
documents: the share wrongly dropped, overall and per language. Near-duplicates count as
junk only when their Jaccard with the original reaches the slice's dedup threshold.

The labels know which documents the generator copied, not which texts its sources already
repeat (a Bible verse, a fortune printed twice): a clean document dropped as a duplicate
is not a wrong drop when its content survives in a kept document, by the same truth the
dedup is measured against (bench/bench_dedup_quality.py): identical normalized text, or
an exact shingle Jaccard with the kept cluster representative at the slice's threshold.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pyarrow as pa

from curate import store
from curate.dedup import lsh, minhash

NOT_JUNK = {"clean", "pii"}
DUP_TYPES = {"exact_dup", "near_dup"}


def load_labels(path: Path) -> pa.Table:
    opener = gzip.open if str(path).endswith(".gz") else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
    cols = ["id", "junk_type", "lang", "dup_of", "jaccard"]
    return pa.table({c: [r.get(c) for r in rows] for c in cols})


def _labelled(con: duckdb.DuckDBPyConnection, slice_id: str, labels: pa.Table) -> str:
    """The slice's decisions joined to the labels, registered as `_labelled`; returns its SELECT."""
    store.register(con, "_labels", labels)
    rows = store.arrow(
        con,
        """SELECT l.id, l.junk_type, l.lang, l.dup_of, l.jaccard, k.kept, k.reason
           FROM decisions k JOIN documents d USING (doc_id) JOIN _labels l ON l.id = d.external_id
           WHERE k.slice_id = ?""",
        [slice_id],
    )
    store.register(con, "_labelled", rows)
    return "SELECT * FROM _labelled"


# Dedup keeps one member of a group of copies, and which one is its choice (best quality,
# longest, smallest doc_id): when it keeps a labelled copy and drops the original as a
# duplicate, the content survived once, which is right for both of them.
_DUP_REASONS = "('exact_duplicate', 'near_duplicate')"


def _scored(base: str) -> str:
    return f"""
        WITH b AS ({base}),
        stand_in AS (  -- originals dropped as duplicates, with one kept copy standing in for them
            SELECT c.dup_of AS id, min(c.id) AS copy_id FROM b c JOIN b o ON o.id = c.dup_of
            WHERE c.kept AND NOT o.kept AND o.reason IN {_DUP_REASONS} GROUP BY c.dup_of
        )
        SELECT b.*,
               b.id IN (SELECT id FROM stand_in) AS original_stood_in,
               b.id IN (SELECT copy_id FROM stand_in) AS is_stand_in
        FROM b"""


def junk_recall(con: duckdb.DuckDBPyConnection, slice_id: str, labels: pa.Table,
                near_threshold: float | None) -> list[tuple]:
    """(junk type, documents, dropped, recall) per type; dup types only above the threshold.

    A kept copy that stands in for its dropped original counts as handled (see above).
    """
    base = _scored(_labelled(con, slice_id, labels))
    t = near_threshold if near_threshold is not None else 1.01
    return con.execute(
        f"""SELECT junk_type, count(*), count(*) FILTER (WHERE NOT kept OR is_stand_in),
                   round(count(*) FILTER (WHERE NOT kept OR is_stand_in) / count(*), 3)
            FROM ({base})
            WHERE junk_type NOT IN ('clean', 'pii')
              AND (junk_type <> 'near_dup' OR jaccard >= ?)
            GROUP BY 1 ORDER BY 1""",
        [t],
    ).fetchall()


def content_kept(con: duckdb.DuckDBPyConnection, slice_id: str, near_threshold: float | None) -> list[str]:
    """External ids of the documents the slice dropped as duplicates whose content a kept
    document carries: the same normalized text, or (near duplicates) the kept cluster
    representative at an exact shingle Jaccard of at least ``near_threshold``."""
    exact = [r[0] for r in con.execute(
        """SELECT DISTINCT d.external_id FROM decisions k JOIN documents d USING (doc_id)
           WHERE k.slice_id = ? AND k.reason = 'exact_duplicate' AND d.text_hash IN (
               SELECT d2.text_hash FROM decisions k2 JOIN documents d2 USING (doc_id)
               WHERE k2.slice_id = ? AND k2.kept)""",
        [slice_id, slice_id],
    ).fetchall()]
    if near_threshold is None:
        return exact
    pairs = con.execute(
        """SELECT d.external_id, d.text, r.text FROM decisions k JOIN documents d USING (doc_id)
           JOIN dup_clusters c ON c.doc_id = k.doc_id AND c.threshold = ?
           JOIN documents r ON r.doc_id = c.cluster_id
           JOIN decisions kr ON kr.doc_id = c.cluster_id AND kr.slice_id = k.slice_id
           WHERE k.slice_id = ? AND k.reason = 'near_duplicate' AND kr.kept""",
        [near_threshold, slice_id],
    ).fetchall()
    if not pairs:
        return exact
    ngram = lsh.stored_spec(con).ngram
    return exact + [eid for eid, text, rep in pairs if minhash.exact_jaccard(text, rep, ngram) >= near_threshold]


def clean_drop_rate(con: duckdb.DuckDBPyConnection, slice_id: str, labels: pa.Table,
                    langs: list[str] | None = None, near_threshold: float | None = None) -> list[tuple]:
    """(language, clean unique documents, wrongly dropped, rate); the first row is all languages.

    `langs`: the recipe's allowed languages; a clean document in another language is
    rightly dropped by a language filter, so it does not count here. An original dropped as
    a duplicate while one of its copies was kept is not a wrong drop, nor is a document
    whose text the corpus repeats on its own (see above; `near_threshold`: the slice's).
    """
    base = _scored(_labelled(con, slice_id, labels))
    store.register(con, "_content_kept",
                   pa.table({"id": pa.array(content_kept(con, slice_id, near_threshold), pa.string())}))
    wrong = "NOT kept AND NOT original_stood_in AND id NOT IN (SELECT id FROM _content_kept)"
    rows = con.execute(
        f"""SELECT coalesce(lang, 'all'), count(*), count(*) FILTER (WHERE {wrong}),
                   round(count(*) FILTER (WHERE {wrong}) / count(*), 3)
            FROM ({base}) WHERE junk_type = 'clean' AND dup_of IS NULL
              AND (? IS NULL OR list_contains(?, lang))
            GROUP BY ROLLUP (lang) ORDER BY lang NULLS FIRST""",
        [langs, langs],
    ).fetchall()
    return rows


def wrong_drop_reasons(con: duckdb.DuckDBPyConnection, slice_id: str, labels: pa.Table, limit: int = 10) -> list[tuple]:
    base = _labelled(con, slice_id, labels)
    return con.execute(
        f"""SELECT lang, reason, count(*) FROM ({base})
            WHERE junk_type = 'clean' AND dup_of IS NULL AND NOT kept
            GROUP BY 1, 2 ORDER BY 3 DESC LIMIT ?""",
        [limit],
    ).fetchall()
