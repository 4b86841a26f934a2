"""Near-duplicate detection quality against the exact truth, side by side with peers.

    python bench/bench_dedup_quality.py [--data sample_data] [--threshold 0.8]

Truth: every pair of documents whose exact Jaccard over 5-word shingles (the same
shingles for every method) is >= the threshold, computed for all pairs at once with a
sparse incidence-matrix product. Each method is scored on the pairs it reports:

- curate: `curate dedup` on a fresh store; reported pairs = verified edges (exact copies
  and candidate pairs that passed verification), and, separately, every pair of documents
  that ended up in one cluster.
- datasketch MinHashLSH with its default weights (candidates, no verification).
- rensa RMinHashLSH (candidates, no verification), bands: the divisor of num_perm nearest
  datasketch's choice (rensa requires one).
- datatrove's own three MinHash stages with its default MinhashConfig (its own shingles:
  simplified text, spaCy words; 14 buckets x 8 hashes, 64-bit): every pair of documents in
  one of its clusters, as its filter stage acts on them (bench_dedup.datatrove_pairs).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from curate import pipeline, store
from curate.dedup import lsh, minhash
from curate.ingest import IngestOptions, expand_inputs, read_records


def load_corpus(data: Path) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    for path in expand_inputs([str(data / "corpus")]):
        for rec in read_records(path, IngestOptions(id_field="id")):
            if rec.text is not None:
                ids.append(rec.external_id)
                texts.append(rec.text)
    return ids, texts


def truth_pairs(texts: list[str], ngram: int, threshold: float) -> set[tuple[int, int]]:
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, t in enumerate(texts):
        for s in set(minhash.shingles(t, ngram)):
            rows.append(i)
            cols.append(vocab.setdefault(s, len(vocab)))
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), len(vocab)))
    sizes = np.asarray(m.sum(axis=1)).ravel()
    inter = (m @ m.T).tocoo()
    out = set()
    for i, j, v in zip(inter.row, inter.col, inter.data):
        if i < j:
            union = sizes[i] + sizes[j] - v
            if union > 0 and v / union >= threshold:
                out.add((int(i), int(j)))
    # identical texts that are too short for shingles are duplicates too (exact dedup)
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        by_text.setdefault(t, []).append(i)
    for group in by_text.values():
        for a in group:
            for b in group:
                if a < b:
                    out.add((a, b))
    return out


def score(pred: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float]:
    tp = len(pred & truth)
    precision = tp / len(pred) if pred else 1.0
    recall = tp / len(truth) if truth else 1.0
    return precision, recall


def run_curate(data: Path, threshold: float, ids: list[str]) -> tuple[set, set, float]:
    index = {e: i for i, e in enumerate(ids)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "q.duckdb"
        pipeline.ingest(db, [str(data / "corpus")], IngestOptions(id_field="id"))
        t0 = time.perf_counter()
        with store.open_store(db) as con:
            lsh.dedup(con, threshold, minhash.SignatureSpec(), 1)
        secs = time.perf_counter() - t0
        with store.open_store(db, read_only=True) as con:
            ext = dict(con.execute("SELECT doc_id, external_id FROM documents").fetchall())
            edges = con.execute(
                """SELECT a, b FROM dup_pairs WHERE coalesce(jaccard, est_jaccard) >= ?
                   UNION SELECT min(doc_id) OVER (PARTITION BY text_hash), doc_id FROM documents
                   QUALIFY count(*) OVER (PARTITION BY text_hash) > 1""", [threshold]).fetchall()
            clusters = con.execute(
                "SELECT list(doc_id) FROM dup_clusters WHERE threshold = ? GROUP BY cluster_id", [threshold]).fetchall()

    def pair(a: str, b: str):
        i, j = index[ext[a]], index[ext[b]]
        return (min(i, j), max(i, j))

    edge_pairs = {pair(a, b) for a, b in edges if a != b}
    cluster_pairs = pairs_within([[index[ext[d]] for d in members] for (members,) in clusters])
    return edge_pairs, cluster_pairs, secs


def pairs_within(clusters) -> set[tuple[int, int]]:
    """Every pair of documents (smaller index first) that share a cluster."""
    return {(x, y) for members in clusters for x in members for y in members if x < y}


def _query_pairs(index, sigs) -> set[tuple[int, int]]:
    """Every pair an LSH index reports when each document is queried against all."""
    pairs = set()
    for i, m in enumerate(sigs):
        for j in index.query(m):
            if j != i:
                pairs.add((min(i, j), max(i, j)))
    return pairs


def run_datasketch(texts: list[str], spec: minhash.SignatureSpec, threshold: float) -> tuple[set, float]:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    h = minhash.datasketch_hashfunc(spec)
    index = MinHashLSH(threshold=threshold, num_perm=spec.num_perm)
    sigs = []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=spec.num_perm, seed=spec.seed, hashfunc=h, scheme="affine32")
        m.update_batch([s.encode("utf-8", "surrogatepass") for s in minhash.shingles(t, spec.ngram)])
        sigs.append(m)
        index.insert(i, m)
    return _query_pairs(index, sigs), time.perf_counter() - t0


def run_rensa(texts: list[str], spec: minhash.SignatureSpec, threshold: float) -> tuple[set, float]:
    from datasketch.lsh import _optimal_param
    from rensa import RMinHash, RMinHashLSH

    # rensa needs num_perm divisible by the bands: take the divisor nearest datasketch's choice
    best, _ = _optimal_param(threshold, spec.num_perm, 0.5, 0.5)
    bands = min((b for b in range(1, spec.num_perm + 1) if spec.num_perm % b == 0), key=lambda b: abs(b - best))
    t0 = time.perf_counter()
    index = RMinHashLSH(threshold=threshold, num_perm=spec.num_perm, num_bands=bands)
    sigs = []
    for i, t in enumerate(texts):
        m = RMinHash(num_perm=spec.num_perm, seed=spec.seed)
        m.update(minhash.shingles(t, spec.ngram))
        sigs.append(m)
        index.insert(i, m)
    return _query_pairs(index, sigs), time.perf_counter() - t0


def run_datatrove(texts: list[str]) -> tuple[set, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_dedup import datatrove_pairs, quiet_datatrove

    quiet_datatrove()
    from datatrove.pipeline.dedup.minhash import MinhashConfig

    t0 = time.perf_counter()
    pairs = datatrove_pairs(texts, MinhashConfig(), workers=1)
    roots = lsh._union_find(len(texts), np.array([a for a, _ in pairs], dtype=np.int64),
                            np.array([b for _, b in pairs], dtype=np.int64))
    members: dict[int, list[int]] = {}
    for i, r in enumerate(roots.tolist()):
        members.setdefault(r, []).append(i)
    return pairs_within(members.values()), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent / "sample_data")
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args()
    spec = minhash.SignatureSpec()
    ids, texts = load_corpus(args.data)
    truth = truth_pairs(texts, spec.ngram, args.threshold)
    print(f"{len(texts):,} documents; {len(truth):,} true pairs with 5-shingle Jaccard >= {args.threshold}\n")
    rows = []
    edges, cluster_pairs, secs = run_curate(args.data, args.threshold, ids)
    rows.append(("curate (verified edges)", *score(edges, truth), len(edges), secs))
    rows.append(("curate (all pairs within a cluster)", *score(cluster_pairs, truth), len(cluster_pairs), secs))
    ds, secs = run_datasketch(texts, spec, args.threshold)
    rows.append(("datasketch MinHashLSH (defaults)", *score(ds, truth), len(ds), secs))
    try:
        rs, secs = run_rensa(texts, spec, args.threshold)
        rows.append(("rensa RMinHashLSH", *score(rs, truth), len(rs), secs))
    except ImportError:
        print("rensa not installed: skipped")
    try:
        dt, secs = run_datatrove(texts)
        name = "datatrove MinHash stages (defaults; all pairs within a cluster)"
        rows.append((name, *score(dt, truth), len(dt), secs))
    except ImportError:
        print("datatrove not installed: skipped")
    print("| method | pairwise precision | pairwise recall | pairs reported | seconds |\n|---|---:|---:|---:|---:|")
    for name, p, r, n, s in rows:
        print(f"| {name} | {p:.3f} | {r:.3f} | {n:,} | {s:.1f} |")


if __name__ == "__main__":
    main()
