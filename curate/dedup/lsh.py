"""Near-duplicate clusters in the store: signatures -> LSH bands -> verified pairs -> clusters.

Score once: signatures and band hashes are computed once per document; candidate pairs
are verified once (cached in `dup_pairs`); clusters are rebuilt from all stored pairs on
every run, so an incremental run gives exactly the clusters of a from-scratch run on the
union of the data.

Skew: exact copies are collapsed onto one canonical document before banding, and a bucket
larger than `max_bucket_pairs` members links its members to its first member (a star)
instead of enumerating every pair, so 10,000 copies of one page cost 10,000 edges.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import duckdb
import numpy as np
import pyarrow as pa

from curate import store
from curate.dedup import minhash
from curate.dedup.lsh_params import band_hashes, lsh_params
from curate.errors import UsageError
from curate.store import get_meta, set_meta

# Candidates whose estimated Jaccard is this far under the threshold are rejected without
# computing the exact Jaccard: with 128 permutations the estimate's standard deviation at
# J = 0.8 is sqrt(0.8 * 0.2 / 128) = 0.035, so 0.15 is over four of them.
EXACT_CHECK_MARGIN = 0.15
# Text whose shingle sets are held at once (minhash.pair_jaccards: 8 bytes of hashes per byte).
EXACT_CHECK_BYTES = 8 << 20
# Pairs fetched at a time while a chunk fills: a chunk overshoots its budget by at most this
# many pairs' texts (a document holds at most 10 MB: curate.ingest.MAX_DOC_BYTES).
EXACT_CHECK_FETCH = 16
STAR_BUCKET_SIZE = 64
# Candidate pairs estimated per batch (two signatures each: 1 KB at 128 permutations).
VERIFY_BATCH = 20000
# Recall first: pairs are verified afterwards, so false positives cost only a check.
FP_WEIGHT, FN_WEIGHT = 0.1, 0.9


@dataclass(frozen=True)
class DedupReport:
    threshold: float
    setting: str
    new_signatures: int
    candidate_pairs: int
    new_pairs_verified: int
    edges: int
    clusters: int
    duplicates: int  # documents that are not their cluster's representative


def stored_spec(con: duckdb.DuckDBPyConnection) -> minhash.SignatureSpec | None:
    """The settings the store's signatures were computed with; None before the first dedup."""
    stored = get_meta(con, "minhash_spec")
    return None if stored is None else minhash.SignatureSpec(**json.loads(stored))


def bind_spec(con: duckdb.DuckDBPyConnection, spec: minhash.SignatureSpec) -> minhash.SignatureSpec:
    """The store's signature settings: `spec` on a store that has none yet (recorded), else the
    stored ones, which `spec` must equal (signatures of two settings cannot be compared)."""
    existing = stored_spec(con)
    if existing is None:
        set_meta(con, "minhash_spec", json.dumps(asdict(spec), sort_keys=True))
        return spec
    if existing != spec:
        raise UsageError(
            f"the store's MinHash signatures use {existing}, not {spec}; "
            "use the stored settings or a new store"
        )
    return existing


def check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise UsageError(f"threshold must be in (0, 1], got {threshold}")


def setting_for(threshold: float, num_perm: int) -> tuple[str, int, int]:
    bands, rows = lsh_params(threshold, num_perm, FP_WEIGHT, FN_WEIGHT)
    return f"b{bands}r{rows}", bands, rows


def compute_signatures(
    con: duckdb.DuckDBPyConnection,
    spec: minhash.SignatureSpec,
    run_id: int,
    *,
    device: str = "cpu",
    batch_size: int = 4096,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Signatures for documents that have none yet; one transaction per batch (resumable)."""
    spec = bind_spec(con, spec)
    reader = con.cursor()
    # No ORDER BY: a signature does not depend on its batch, and sorting every unsigned text
    # first made DuckDB hold them all (at a 200 MB memory limit, 200k documents ran out of it).
    reader.execute("SELECT d.doc_id, d.text FROM documents d ANTI JOIN minhash m USING (doc_id)")
    done = 0
    while True:
        rows = reader.fetchmany(batch_size)
        if not rows:
            break
        ids = [r[0] for r in rows]
        sigs, has = minhash.signatures([r[1] for r in rows], spec, device=device)
        sigs32 = np.ascontiguousarray(sigs.astype("<u4", copy=False))
        blobs = [sigs32[i].tobytes() if has[i] else None for i in range(len(ids))]
        tbl = pa.table({"doc_id": ids, "has_sig": has.tolist(), "signature": pa.array(blobs, pa.binary()),
                        "run_id": [run_id] * len(ids)})
        with store.transaction(con):
            store.register(con, "_sig_batch", tbl)
            con.execute("INSERT INTO minhash BY NAME SELECT * FROM _sig_batch")
            con.unregister("_sig_batch")
        done += len(ids)
        if on_batch:
            on_batch(len(ids))
    reader.close()
    return done


def load_signatures(con: duckdb.DuckDBPyConnection, doc_ids: list[str], num_perm: int) -> dict[str, np.ndarray]:
    """The stored MinHash signatures of `doc_ids` (those that have one), as uint32 arrays."""
    if not doc_ids:
        return {}
    rows = con.execute(
        "SELECT doc_id, signature FROM minhash WHERE has_sig AND doc_id IN (SELECT unnest(?))", [doc_ids]
    ).fetchall()
    return {d: np.frombuffer(b, dtype="<u4", count=num_perm) for d, b in rows}


def _band_new_docs(con: duckdb.DuckDBPyConnection, setting: str, bands: int, rows: int, num_perm: int,
                   batch_size: int = 8192) -> None:
    """Band hashes for signed documents that have none in `setting`; one transaction per batch
    (resumable, as compute_signatures is). DuckDB holds an uncommitted transaction in memory, so
    one transaction over every document's bands grew the stage's memory with the corpus."""
    reader = con.cursor()
    reader.execute(
        """SELECT m.doc_id, m.signature FROM minhash m
           WHERE m.has_sig AND m.doc_id NOT IN (SELECT doc_id FROM lsh_bands WHERE setting = ?)""",
        [setting],
    )
    while True:
        batch = reader.fetchmany(batch_size)
        if not batch:
            break
        ids = [r[0] for r in batch]
        sigs = np.frombuffer(b"".join(r[1] for r in batch), dtype="<u4").reshape(len(ids), num_perm)
        bh = band_hashes(sigs, bands, rows)  # (n, bands) uint64
        tbl = pa.table({
            "setting": [setting] * (len(ids) * bands),
            "band": np.tile(np.arange(bands, dtype=np.int32), len(ids)),
            "bucket": bh.reshape(-1).astype(np.uint64),
            "doc_id": np.repeat(np.array(ids, dtype=object), bands),
        })
        with store.transaction(con):
            store.register(con, "_band_batch", tbl)
            con.execute("INSERT INTO lsh_bands BY NAME SELECT * FROM _band_batch")
            con.unregister("_band_batch")
    reader.close()


_SETTING = re.compile(r"^b[0-9]+r[0-9]+$")
# One document per exact text (the smallest doc_id): copies are collapsed before banding.
CANONICAL_DOCS = """(SELECT doc_id FROM documents
             QUALIFY row_number() OVER (PARTITION BY text_hash ORDER BY doc_id) = 1)"""


def _candidate_pairs(con: duckdb.DuckDBPyConnection, setting: str) -> str:
    """SQL for distinct candidate pairs (a < b) among canonical documents of a band setting."""
    if not _SETTING.match(setting):  # made by setting_for(), checked before it enters SQL
        raise ValueError(f"bad LSH setting {setting!r}")
    return f"""
        WITH lb AS (
            SELECT l.band, l.bucket, l.doc_id FROM lsh_bands l SEMI JOIN {CANONICAL_DOCS} c USING (doc_id)
            WHERE l.setting = '{setting}'
        ),
        sized AS (
            SELECT band, bucket, count(*) AS n, min(doc_id) AS first FROM lb GROUP BY band, bucket HAVING n > 1
        ),
        small AS (
            SELECT x.doc_id AS a, y.doc_id AS b
            FROM lb x JOIN lb y ON x.band = y.band AND x.bucket = y.bucket AND x.doc_id < y.doc_id
            SEMI JOIN sized s ON s.band = x.band AND s.bucket = x.bucket AND s.n <= {STAR_BUCKET_SIZE}
        ),
        star AS (
            SELECT s.first AS a, x.doc_id AS b FROM lb x
            JOIN sized s ON s.band = x.band AND s.bucket = x.bucket AND s.n > {STAR_BUCKET_SIZE}
            WHERE x.doc_id <> s.first
        )
        SELECT DISTINCT a, b FROM (SELECT * FROM small UNION ALL SELECT * FROM star)"""


def _verify_new_pairs(
    con: duckdb.DuckDBPyConnection, setting: str, threshold: float, spec: minhash.SignatureSpec
) -> tuple[int, int]:
    """Estimated Jaccard of every candidate pair not verified before, then the exact check.

    The new pairs stay in DuckDB (a temporary table, which it spills) and come here one
    batch at a time with their signatures, so memory does not grow with the corpus's pairs
    (they were fetched whole into Python tuples)."""
    cand_sql = _candidate_pairs(con, setting)
    n_cand = con.execute(f"SELECT count(*) FROM ({cand_sql})").fetchone()[0]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _new_pairs AS
                    SELECT row_number() OVER () - 1 AS rn, a, b
                    FROM ({cand_sql}) p ANTI JOIN dup_pairs q USING (a, b)""")
    verified = con.execute("SELECT count(*) FROM _new_pairs").fetchall()[0][0]
    for start in range(0, verified, VERIFY_BATCH):
        chunk = con.execute("SELECT a, b FROM _new_pairs WHERE rn >= ? AND rn < ?",
                            [start, start + VERIFY_BATCH]).fetchall()
        sigs = load_signatures(con, sorted({d for p in chunk for d in p}), spec.num_perm)
        est = (np.stack([sigs[a] for a, _ in chunk]) == np.stack([sigs[b] for _, b in chunk])).mean(axis=1)
        store.register(con, "_pair_batch", pa.table({"a": [p[0] for p in chunk], "b": [p[1] for p in chunk],
                                                     "est_jaccard": est,
                                                     "jaccard": pa.nulls(len(chunk), pa.float64())}))
        con.execute("INSERT INTO dup_pairs BY NAME SELECT * FROM _pair_batch")
        con.unregister("_pair_batch")
    con.execute("DROP TABLE _new_pairs")
    _exact_check(con, threshold, spec)
    return n_cand, verified


def _exact_check(con: duckdb.DuckDBPyConnection, threshold: float, spec: minhash.SignatureSpec) -> None:
    """Exact shingle Jaccard for pairs whose estimate is near or above the threshold.

    One pass: the pairs to check stream past the texts of both their documents, in chunks of
    at most EXACT_CHECK_BYTES of text (plus one fetch), and only a row number and a value
    per pair are kept until the single UPDATE. Fetching each chunk's texts by doc_id scanned
    the documents table once per chunk (at 1M documents, 325 of the stage's 455 s)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _exact_todo AS
                   SELECT row_number() OVER () - 1 AS rn, a, b FROM dup_pairs
                   WHERE jaccard IS NULL AND est_jaccard >= ?""", [threshold - EXACT_CHECK_MARGIN])
    todo = con.execute("SELECT count(*) FROM _exact_todo").fetchall()[0][0]
    if todo:
        rns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        reader = con.execute("""SELECT t.rn, t.a, t.b, da.text, db.text, da.n_bytes, db.n_bytes FROM _exact_todo t
                                JOIN documents da ON da.doc_id = t.a JOIN documents db ON db.doc_id = t.b""")
        for chunk in _chunks_by_text_bytes(iter(lambda: reader.fetchmany(EXACT_CHECK_FETCH), []), EXACT_CHECK_BYTES):
            # each document's text once per chunk: a member of a big cluster is in many pairs
            index: dict[str, int] = {}
            texts: list[str] = []
            for _, a, b, ta, tb, _, _ in chunk:
                for d, t in ((a, ta), (b, tb)):
                    if d not in index:
                        index[d] = len(texts)
                        texts.append(t)
            rns.append(np.array([r[0] for r in chunk], dtype=np.int64))
            values.append(minhash.pair_jaccards(texts, np.array([index[r[1]] for r in chunk]),
                                                np.array([index[r[2]] for r in chunk]), spec.ngram))
        store.register(con, "_exact_values", pa.table({"rn": np.concatenate(rns), "j": np.concatenate(values)}))
        con.execute("""UPDATE dup_pairs SET jaccard = e.j
                       FROM (SELECT t.a, t.b, v.j FROM _exact_todo t JOIN _exact_values v USING (rn)) e
                       WHERE dup_pairs.a = e.a AND dup_pairs.b = e.b""")
        con.unregister("_exact_values")
    con.execute("DROP TABLE _exact_todo")


def _chunks_by_text_bytes(fetches: Iterator[list[tuple]], budget: int) -> Iterator[list[tuple]]:
    """(rn, a, b, text of a, text of b, bytes of a, bytes of b) rows, from lists of them, in
    chunks whose distinct documents hold at most ``budget`` bytes of text (or one pair, if a
    single pair holds more)."""
    chunk: list[tuple] = []
    seen: set[str] = set()
    size = 0
    for rows in fetches:
        for row in rows:
            a, b, na, nb = row[1], row[2], row[5], row[6]
            grow = (na if a not in seen else 0) + (nb if b not in seen else 0)
            if chunk and size + grow > budget:
                yield chunk
                chunk, seen, size = [], set(), 0
                grow = na + nb
            chunk.append(row)
            seen.update((a, b))
            size += grow
    if chunk:
        yield chunk


def _union_find(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    parent = np.arange(n)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for x, y in zip(left.tolist(), right.tolist()):
        rx, ry = find(x), find(y)
        if rx != ry:
            if rx < ry:
                parent[ry] = rx
            else:
                parent[rx] = ry
    return np.array([find(i) for i in range(n)])


def build_clusters(con: duckdb.DuckDBPyConnection, threshold: float, candidates: str) -> tuple[int, int, int]:
    """Rebuild dup_clusters for one threshold from exact copies and verified pairs.

    `candidates` is a relation of (a, b) pairs made by this package (the band setting's
    candidate query, or the Ray engine's table of them), never user input. The edges stay
    in DuckDB; only their ends, as integers, come here for the union-find.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _edges AS
            SELECT a, b FROM dup_pairs p
            SEMI JOIN (SELECT a, b FROM {candidates}) c USING (a, b)
            WHERE coalesce(p.jaccard, p.est_jaccard) >= ?
            UNION ALL
            SELECT min(doc_id) OVER (PARTITION BY text_hash), doc_id
            FROM documents QUALIFY count(*) OVER (PARTITION BY text_hash) > 1
                AND row_number() OVER (PARTITION BY text_hash ORDER BY doc_id) > 1""",
        [threshold],
    )
    con.execute("DELETE FROM dup_clusters WHERE threshold = ?", [threshold])
    n_edges = con.execute("SELECT count(*) FROM _edges").fetchone()[0]
    if not n_edges:
        con.execute("DROP TABLE _edges")
        return 0, 0, 0
    # Each document in an edge gets its rank by doc_id as its node number.
    con.execute("""CREATE OR REPLACE TEMP TABLE _nodes AS
                   SELECT doc_id, (row_number() OVER (ORDER BY doc_id) - 1)::BIGINT AS i
                   FROM (SELECT a AS doc_id FROM _edges UNION SELECT b FROM _edges)""")
    ends = con.execute("""SELECT na.i AS a, nb.i AS b FROM _edges e
                          JOIN _nodes na ON na.doc_id = e.a JOIN _nodes nb ON nb.doc_id = e.b""").fetchnumpy()
    n_nodes = con.execute("SELECT count(*) FROM _nodes").fetchone()[0]
    roots = _union_find(n_nodes, np.asarray(ends["a"]), np.asarray(ends["b"]))
    del ends
    store.register(con, "_roots", pa.table({"i": np.arange(n_nodes, dtype=np.int64), "root": roots.astype(np.int64)}))
    has_quality = "quality" in store.signal_columns(con)
    quality = "s.quality" if has_quality else "NULL::DOUBLE"
    quality_join = "LEFT JOIN signals s USING (doc_id)" if has_quality else ""
    # The kept representative is the best member, not the first seen.
    con.execute(
        f"""INSERT INTO dup_clusters
            SELECT ?, doc_id, first(doc_id) OVER w, row_number() OVER w = 1, count(*) OVER (PARTITION BY root)
            FROM (SELECT m.doc_id, r.root, {quality} AS q, d.n_bytes
                  FROM _nodes m JOIN _roots r USING (i) JOIN documents d USING (doc_id) {quality_join})
            WINDOW w AS (PARTITION BY root ORDER BY {store.best_copy_order("q", "n_bytes", "doc_id")}
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)""",
        [threshold],
    )
    con.unregister("_roots")
    con.execute("DROP TABLE _nodes")
    con.execute("DROP TABLE _edges")
    n_clusters, n_dups = con.execute(
        "SELECT count(DISTINCT cluster_id), count(*) FILTER (WHERE NOT is_representative)"
        " FROM dup_clusters WHERE threshold = ?",
        [threshold],
    ).fetchone()
    return n_edges, n_clusters, n_dups


def dedup(
    con: duckdb.DuckDBPyConnection,
    threshold: float,
    spec: minhash.SignatureSpec,
    run_id: int,
    *,
    device: str = "cpu",
    on_batch: Callable[[int], None] | None = None,
) -> DedupReport:
    check_threshold(threshold)
    new_sigs = compute_signatures(con, spec, run_id, device=device, on_batch=on_batch)
    spec = bind_spec(con, spec)
    setting, bands, rows = setting_for(threshold, spec.num_perm)
    _band_new_docs(con, setting, bands, rows, spec.num_perm)
    with store.transaction(con):
        n_cand, n_new = _verify_new_pairs(con, setting, threshold, spec)
        n_edges, n_clusters, n_dups = build_clusters(con, threshold, f"({_candidate_pairs(con, setting)})")
        record_threshold(con, threshold)
    return DedupReport(threshold, setting, new_sigs, n_cand, n_new, n_edges, n_clusters, n_dups)


def refresh_clusters(con: duckdb.DuckDBPyConnection) -> list[float]:
    """Choose every stored threshold's representatives again (after the quality scores
    they are chosen by changed); signatures and verified pairs are reused. One transaction."""
    spec = stored_spec(con)
    thresholds = dedup_thresholds(con)
    if spec is None or not thresholds:
        return []
    with store.transaction(con):
        for t in thresholds:
            setting, _bands, _rows = setting_for(t, spec.num_perm)
            build_clusters(con, t, f"({_candidate_pairs(con, setting)})")
    return thresholds


def record_threshold(con: duckdb.DuckDBPyConnection, threshold: float) -> None:
    """Remember that clusters exist for this threshold (slices and the dashboard ask)."""
    done = set(dedup_thresholds(con))
    done.add(threshold)
    set_meta(con, "dup_thresholds", json.dumps(sorted(done)))


def dedup_thresholds(con: duckdb.DuckDBPyConnection) -> list[float]:
    return json.loads(get_meta(con, "dup_thresholds") or "[]")


def explain(con: duckdb.DuckDBPyConnection, doc_id: str, threshold: float) -> list[tuple]:
    """The document's cluster: members with their estimated Jaccard to the document."""
    row = con.execute(
        "SELECT cluster_id FROM dup_clusters WHERE threshold = ? AND doc_id = ?", [threshold, doc_id]
    ).fetchone()
    if row is None:
        return []
    members = [r[0] for r in con.execute(
        "SELECT doc_id FROM dup_clusters WHERE threshold = ? AND cluster_id = ? ORDER BY doc_id", [threshold, row[0]]
    ).fetchall()]
    spec = stored_spec(con)
    sigs = load_signatures(con, members, spec.num_perm)
    out = []
    base = sigs.get(doc_id)
    info = dict((r[0], r[1:]) for r in con.execute(
        """SELECT c.doc_id, c.is_representative, d.n_bytes, d.external_id, left(d.text, 80)
           FROM dup_clusters c JOIN documents d USING (doc_id) WHERE c.threshold = ? AND c.cluster_id = ?""",
        [threshold, row[0]],
    ).fetchall())
    for m in members:
        est = float((sigs[m] == base).mean()) if base is not None and m in sigs else None
        rep, n_bytes, ext, head = info[m]
        out.append((m, ext, rep, est, n_bytes, head.replace("\n", " ")))
    return out
