"""The Ray engine's stages on Ray Data, writing exactly the rows the local engine writes.

The store stays in DuckDB on the driver. Each stage exports its input from DuckDB to
Parquet shards under a work folder, Ray Data runs the *same* pure code as the local engine
(`curate.signals.score_texts`, `minhash.signatures`, `band_hashes`, `estimated_jaccard_pairs`,
`pair_jaccards`) in `map_batches`, writes Parquet, and DuckDB loads that Parquet into
`signals`, `minhash`, `lsh_bands`, `dup_pairs` and `dup_clusters`. On a real cluster the
work folder must be a path that the driver and every worker see (a shared mount).

LSH buckets are grouped with a shuffle that Ray Data runs through the work folder: every
band row is written under `part=<(bucket + band) mod P>`, then one task per part reads the
whole part, so all members of a bucket meet in one task (a bucket never straddles two
parts). Memory per task is one part, about rows / P. Ray's own `groupby().map_groups()`
costs one Python call per bucket (33 s for 180k buckets on 2 cores) and its list
aggregations cannot be sorted, which is why this module partitions by itself.

Rules shared with curate.dedup.lsh, so that both engines agree bit for bit: exact copies are
collapsed onto their smallest doc_id before banding; a bucket of more than
`lsh.STAR_BUCKET_SIZE` members becomes a star around its smallest doc_id; a pair is an edge
when its exact Jaccard (checked when the estimate is within `EXACT_CHECK_MARGIN` of the
threshold) or else its estimate reaches the threshold; clusters are connected components
(union-find on the driver: the edges are bounded by the star rule) and the representative
is the best quality, then the longest, then the smallest doc_id.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from curate import store
from curate.dedup import lsh, minhash
from curate.dedup.lsh_params import band_hashes
from curate.engines.base import ScoreReport, finish_scoring, plan_scoring
from curate.engines.ray_session import RayOptions, ensure_ray

# Rows per exported shard: one shard is one Ray block, so this is the unit of parallelism
# and of memory per task (2,000 web pages are about 10 MB of text).
DOC_SHARD_ROWS = 2000
PAIR_SHARD_ROWS = 20000
BAND_SHARD_ROWS = 200_000



def _cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _work_dir(db: Path, opts: RayOptions, stage: str) -> Path:
    root = Path(opts.work_dir) if opts.work_dir else store.ray_work_dir(db)
    d = root / f"{stage}-{os.getpid()}-{time.time_ns()}"
    d.mkdir(parents=True)
    return d


def _sql_path(p: Path) -> str:
    """A path as a SQL string literal (DuckDB's COPY and read_parquet take no bound parameters)."""
    return "'" + str(p).replace("'", "''") + "'"


def _sql_literal(value: object) -> str:
    """A SQL literal for one of the values the stages bind (COPY takes no bound parameters)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"no SQL literal for {type(value).__name__}")
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and not np.isfinite(value):
        raise ValueError(f"no SQL literal for {value!r}")
    return repr(value) if isinstance(value, float) else str(value)


def _bind(sql: str, params: list) -> str:
    """`sql` with each `?` replaced by the literal of the next parameter. The stages' SQL is
    this module's own and holds no `?` other than its placeholders."""
    pieces = sql.split("?")
    if len(pieces) != len(params) + 1:
        raise ValueError(f"{len(pieces) - 1} placeholders for {len(params)} parameters")
    return pieces[0] + "".join(_sql_literal(v) + rest for v, rest in zip(params, pieces[1:]))


def _export(con: duckdb.DuckDBPyConnection, select_sql: str, params: list, out: Path, shard_rows: int) -> int:
    """Write a query's rows as Parquet shards of `shard_rows` rows; returns the row count.

    One pass: the query streams into COPY (it was counted, then materialized in a temporary
    table, then copied: three passes over every exported text). Shards are numbered by
    row_number() without ORDER BY, which DuckDB computes as the rows stream.
    """
    out.mkdir(parents=True, exist_ok=True)
    n = con.execute(
        f"""COPY (SELECT *, (row_number() OVER () - 1) // {int(shard_rows)} AS shard FROM ({_bind(select_sql, params)}))
            TO {_sql_path(out)} (FORMAT parquet, PARTITION_BY (shard), OVERWRITE_OR_IGNORE)"""
    ).fetchall()[0][0]
    return int(n)


def _parquet_glob(d: Path) -> str:
    return _sql_path(d / "**" / "*.parquet")


def _has_parquet(d: Path) -> bool:
    return d.exists() and any(d.rglob("*.parquet"))


def _read(d: Path, columns: list[str]):
    import ray.data

    return ray.data.read_parquet(str(d), partitioning=None).select_columns(columns)


# --- score ---------------------------------------------------------------------------------


# One per Ray worker process: the quality model of the last digest it scored with. Ray reuses
# a worker process for the tasks of one job, so each process loads a model once, not per task.
_WORKER_QUALITY: dict[str, object] = {}


def _quality_model(model, meta_bytes: bytes | None, digest: str | None):
    """The quality model a scoring task needs: this process's copy, or loaded from the object
    store (once per process and digest). None when the stage scores without one."""
    if digest is None:
        return None
    if digest not in _WORKER_QUALITY:
        import tempfile

        import ray

        from curate.signals.quality import load_quality_model

        if isinstance(model, ray.ObjectRef):  # Ray Data passes the arguments of a task unresolved
            model = ray.get(model)
        # The model travels with the task (no shared path needed); fastText loads from a file.
        d = Path(tempfile.mkdtemp(prefix="curate-quality-"))
        (d / "quality.bin").write_bytes(model)
        if meta_bytes is not None:
            (d / "quality.json").write_bytes(meta_bytes)
        _WORKER_QUALITY.clear()
        _WORKER_QUALITY[digest] = load_quality_model(d / "quality.bin")
    return _WORKER_QUALITY[digest]


def _score_shard(batch: pa.Table, *, model, meta_bytes: bytes | None, digest: str | None,
                 signals_version: str) -> pa.Table:
    """Signals of one shard of documents. A task, not an actor: Ray Data fuses the Parquet
    read, this and the Parquet write into one task per shard, so a shard never passes through
    the object store, and as many shards run at once as the cluster has CPUs (an actor pool
    started its batches one at a time: bench/RESULTS.md, "Cluster engine")."""
    from curate.signals import score_texts

    tbl = score_texts(batch.column("text").to_pylist(), quality_model=_quality_model(model, meta_bytes, digest),
                      urls=batch.column("url").to_pylist()).to_arrow()
    return tbl.append_column("doc_id", batch.column("doc_id")).append_column(
        "signals_version", pa.array([signals_version] * batch.num_rows, pa.string()))


def score_ray(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    *,
    address: str | None = None,
    opts: RayOptions | None = None,
    batch_size: int = DOC_SHARD_ROWS,
    on_batch: Callable[[int], None] | None = None,
) -> ScoreReport:
    """The score stage on Ray: signals for unscored (and stale) documents.

    One transaction loads every scored row, so a killed run leaves the store as it was.
    """
    import ray
    import ray.data

    opts = opts or RayOptions(address=address)
    t0 = time.perf_counter()
    plan = plan_scoring(con, db)
    todo_sql = (f"SELECT d.doc_id, d.text, {store.document_url_sql('d')} AS url FROM documents d "
                "ANTI JOIN (SELECT doc_id FROM signals WHERE signals_version = ?) s USING (doc_id)")
    work = _work_dir(db, opts, "score")
    try:
        n = _export(con, todo_sql, [plan.signals_version], work / "in", batch_size)
        if n:
            ensure_ray(opts.address)
            qpath = Path(plan.quality_model) if plan.quality_model else None
            meta = qpath.with_suffix(".json") if qpath else None
            model_bytes = qpath.read_bytes() if qpath else None
            # Put once in the object store; each worker process fetches it once (fastText models
            # are tens of MB).
            kwargs = {"model": ray.put(model_bytes) if model_bytes is not None else None,
                      "meta_bytes": meta.read_bytes() if meta and meta.exists() else None,
                      "digest": hashlib.sha256(model_bytes).hexdigest() if model_bytes is not None else None,
                      "signals_version": plan.signals_version}
            (_read(work / "in", ["doc_id", "text", "url"])
             .map_batches(_score_shard, fn_kwargs=kwargs, batch_size=batch_size, batch_format="pyarrow",
                          num_cpus=1)
             .write_parquet(str(work / "out")))
        with store.transaction(con):
            store.drop_stale_signals(con, plan.signals_version)
            if n:
                con.execute(f"INSERT INTO signals BY NAME SELECT * FROM read_parquet({_parquet_glob(work / 'out')})")
        if on_batch and n:
            on_batch(n)
    finally:
        if not opts.keep_work_dir:
            shutil.rmtree(work, ignore_errors=True)
    finish_scoring(con)  # corpus-level, in the store: the same SQL as the local engine
    return ScoreReport(n, plan.stale, plan.signals_version, plan.quality_model, time.perf_counter() - t0)


# --- dedup: pure per-batch functions (run on the workers) ------------------------------------


def _signature_batch(batch: pa.Table, *, spec: minhash.SignatureSpec, bands: int, rows: int, device: str,
                     run_id: int) -> pa.Table:
    sigs, has = minhash.signatures(batch.column("text").to_pylist(), spec, device=device, threads=1)
    sigs32 = np.ascontiguousarray(sigs.astype("<u4", copy=False))
    n = len(has)
    bh = band_hashes(sigs32, bands, rows)
    return pa.table({
        "doc_id": batch.column("doc_id"),
        "has_sig": pa.array(has),
        "signature": pa.array([sigs32[i].tobytes() if has[i] else None for i in range(n)], pa.binary()),
        "run_id": pa.array(np.full(n, run_id, dtype=np.int64)),
        # The band keys of the setting asked for, computed in the same pass (only where has_sig).
        "buckets": pa.array([bh[i] if has[i] else None for i in range(n)], pa.list_(pa.uint64())),
    })


def _band_batch(batch: pa.Table, *, num_perm: int, bands: int, rows: int) -> pa.Table:
    blobs = batch.column("signature").to_pylist()
    sigs = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(len(blobs), num_perm)
    bh = band_hashes(sigs, bands, rows)
    return pa.table({"doc_id": batch.column("doc_id"),
                     "buckets": pa.array(list(bh), pa.list_(pa.uint64()))})


def _with_part(batch: pa.Table, *, parts: int) -> pa.Table:
    bucket = np.asarray(batch.column("bucket").to_numpy(zero_copy_only=False), dtype=np.uint64)
    band = np.asarray(batch.column("band").to_numpy(zero_copy_only=False), dtype=np.uint64)
    part = ((bucket % np.uint64(parts)) + band) % np.uint64(parts)
    return batch.append_column("part", pa.array(part.astype(np.int32)))


def bucket_pairs(table: pa.Table, star_size: int) -> pa.Table:
    """Candidate pairs (a < b) of the LSH buckets in `table` (band, bucket, doc_id).

    Every member of a bucket must be in `table`. A bucket of 2..star_size members gives all
    its pairs; a larger one gives (smallest doc_id, member) only, so a bucket of n costs
    n - 1 pairs, not n^2 / 2 (the local engine's rule, curate.dedup.lsh._candidate_pairs).
    Pairs repeat across bands; the caller keeps the distinct ones.
    """
    empty = pa.table({"a": pa.array([], pa.string()), "b": pa.array([], pa.string())})
    if table.num_rows < 2:
        return empty
    t = table.select(["band", "bucket", "doc_id"]).sort_by(
        [("band", "ascending"), ("bucket", "ascending"), ("doc_id", "ascending")])
    band = t.column("band").to_numpy()
    bucket = t.column("bucket").to_numpy()
    ids = np.asarray(t.column("doc_id").to_pylist(), dtype=object)
    new_group = np.ones(len(ids), dtype=bool)
    new_group[1:] = (band[1:] != band[:-1]) | (bucket[1:] != bucket[:-1])
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, len(ids)))
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    for s in np.unique(sizes[(sizes >= 2) & (sizes <= star_size)]):
        # All buckets of one size at once: a (k, s) matrix of row indices, then its upper triangle.
        idx = starts[sizes == s][:, None] + np.arange(s)
        iu, ju = np.triu_indices(int(s), 1)
        left.append(idx[:, iu].ravel())
        right.append(idx[:, ju].ravel())
    for start, size in zip(starts[sizes > star_size], sizes[sizes > star_size]):
        left.append(np.full(size - 1, start))
        right.append(np.arange(start + 1, start + size))
    if not left:
        return empty
    li, ri = np.concatenate(left), np.concatenate(right)
    return pa.table({"a": pa.array(ids[li].tolist(), pa.string()), "b": pa.array(ids[ri].tolist(), pa.string())})


def _pairs_of_part(batch: dict, *, root: str, star_size: int) -> pa.Table:
    import pyarrow.dataset as pds

    out = []
    for part in batch["part"].tolist():
        d = Path(root) / f"part={int(part)}"
        if d.exists():
            tbl = pds.dataset(str(d), format="parquet").to_table(columns=["band", "bucket", "doc_id"])
            out.append(bucket_pairs(tbl, star_size))
    return pa.concat_tables(out) if out else bucket_pairs(pa.table({}), star_size)


def _estimate_batch(batch: pa.Table, *, num_perm: int) -> pa.Table:
    n = batch.num_rows
    sig_a = np.frombuffer(b"".join(batch.column("sig_a").to_pylist()), dtype="<u4").reshape(n, num_perm)
    sig_b = np.frombuffer(b"".join(batch.column("sig_b").to_pylist()), dtype="<u4").reshape(n, num_perm)
    est = minhash.estimated_jaccard_pairs(np.concatenate([sig_a, sig_b]), np.arange(n), np.arange(n, 2 * n))
    return pa.table({"a": batch.column("a"), "b": batch.column("b"), "est_jaccard": est,
                     "jaccard": pa.nulls(n, pa.float64())})


def _exact_batch(batch: pa.Table, *, ngram: int) -> pa.Table:
    texts = batch.column("text_a").to_pylist() + batch.column("text_b").to_pylist()
    n = batch.num_rows
    j = minhash.pair_jaccards(texts, np.arange(n), np.arange(n, 2 * n), ngram, threads=1)  # one core a task
    return pa.table({"a": batch.column("a"), "b": batch.column("b"), "j": pa.array(j, pa.float64())})


# --- dedup: the stage ---------------------------------------------------------------------------


def _map_to_parquet(src: Path, columns: list[str], fn: Callable, kwargs: dict, dst: Path, batch_size: int) -> None:
    (_read(src, columns)
     .map_batches(fn, fn_kwargs=kwargs, batch_size=batch_size, batch_format="pyarrow", num_cpus=1)
     .write_parquet(str(dst)))


def _signatures(con, spec, setting, bands, rows, run_id, work: Path, device: str) -> int:
    """Signatures (and this setting's band keys) of documents without one; commits them."""
    n = _export(con, "SELECT d.doc_id, d.text FROM documents d ANTI JOIN minhash m USING (doc_id)", [],
                work / "docs", DOC_SHARD_ROWS)
    if not n:
        return 0
    ensure_ray()
    _map_to_parquet(work / "docs", ["doc_id", "text"], _signature_batch,
                    {"spec": spec, "bands": bands, "rows": rows, "device": device, "run_id": run_id},
                    work / "sigs", DOC_SHARD_ROWS)
    src = f"read_parquet({_parquet_glob(work / 'sigs')})"
    with store.transaction(con):
        con.execute(f"INSERT INTO minhash BY NAME SELECT doc_id, has_sig, signature, run_id FROM {src}")
        _insert_bands(con, setting, src)
    return n


def _insert_bands(con, setting: str, src: str) -> None:
    """lsh_bands rows from a relation of (doc_id, buckets list), band = position in the list."""
    con.execute(
        f"""INSERT INTO lsh_bands
            SELECT ?, (g.i - 1)::INTEGER, g.buckets[g.i], g.doc_id
            FROM (SELECT doc_id, buckets, generate_subscripts(buckets, 1) AS i FROM {src}
                  WHERE buckets IS NOT NULL) g""",
        [setting],
    )


def _band_old_signatures(con, setting, bands, rows, num_perm, work: Path) -> None:
    """Band keys for stored signatures that lack this setting's (a new threshold)."""
    n = _export(con, """SELECT m.doc_id, m.signature FROM minhash m
                        WHERE m.has_sig AND m.doc_id NOT IN (SELECT doc_id FROM lsh_bands WHERE setting = ?)""",
                [setting], work / "unbanded", BAND_SHARD_ROWS // 10)
    if not n:
        return
    ensure_ray()
    _map_to_parquet(work / "unbanded", ["doc_id", "signature"], _band_batch,
                    {"num_perm": num_perm, "bands": bands, "rows": rows}, work / "banded", 8192)
    _insert_bands(con, setting, f"read_parquet({_parquet_glob(work / 'banded')})")


def _candidates(con, setting: str, work: Path, parts: int) -> int:
    """Distinct candidate pairs of the setting into temp table _ray_cands; returns their count."""
    import ray.data

    con.execute("CREATE OR REPLACE TEMP TABLE _ray_cands (a VARCHAR, b VARCHAR)")
    n = _export(con, f"""SELECT l.band, l.bucket, l.doc_id FROM lsh_bands l
                         SEMI JOIN {lsh.CANONICAL_DOCS} c USING (doc_id)
                         WHERE l.setting = ?""", [setting], work / "bands", BAND_SHARD_ROWS)
    if not n:
        return 0
    ensure_ray()
    # The shuffle: map side writes each row under its part, reduce side reads one part per task.
    (_read(work / "bands", ["band", "bucket", "doc_id"])
     .map_batches(_with_part, fn_kwargs={"parts": parts}, batch_format="pyarrow", num_cpus=1)
     .write_parquet(str(work / "by_part"), partition_cols=["part"]))
    (ray.data.range(parts, override_num_blocks=min(parts, 4 * _cluster_cpus()))
     .map_batches(lambda b: {"part": b["id"]}, batch_format="numpy")
     .map_batches(_pairs_of_part, fn_kwargs={"root": str(work / "by_part"), "star_size": lsh.STAR_BUCKET_SIZE},
                  batch_size=1, batch_format="numpy", num_cpus=1)
     .write_parquet(str(work / "pairs")))
    if _has_parquet(work / "pairs"):
        con.execute(f"INSERT INTO _ray_cands SELECT DISTINCT a, b FROM read_parquet({_parquet_glob(work / 'pairs')})")
    return con.execute("SELECT count(*) FROM _ray_cands").fetchone()[0]


def _verify(con, threshold: float, spec: minhash.SignatureSpec, work: Path) -> int:
    """Estimated Jaccard of new candidate pairs, then exact Jaccard where the estimate is close."""
    n_new = _export(con, """SELECT p.a, p.b, ma.signature AS sig_a, mb.signature AS sig_b
                            FROM (SELECT * FROM _ray_cands ANTI JOIN dup_pairs USING (a, b)) p
                            JOIN minhash ma ON ma.doc_id = p.a JOIN minhash mb ON mb.doc_id = p.b""",
                    [], work / "new_pairs", PAIR_SHARD_ROWS)
    if n_new:
        _map_to_parquet(work / "new_pairs", ["a", "b", "sig_a", "sig_b"], _estimate_batch,
                        {"num_perm": spec.num_perm}, work / "estimated", PAIR_SHARD_ROWS)
        con.execute(f"INSERT INTO dup_pairs SELECT a, b, est_jaccard, jaccard "
                    f"FROM read_parquet({_parquet_glob(work / 'estimated')})")
    n_exact = _export(con, """SELECT p.a, p.b, da.text AS text_a, db.text AS text_b FROM dup_pairs p
                              JOIN documents da ON da.doc_id = p.a JOIN documents db ON db.doc_id = p.b
                              WHERE p.jaccard IS NULL AND p.est_jaccard >= ?""",
                      [threshold - lsh.EXACT_CHECK_MARGIN], work / "near_pairs", DOC_SHARD_ROWS)
    if n_exact:
        _map_to_parquet(work / "near_pairs", ["a", "b", "text_a", "text_b"], _exact_batch,
                        {"ngram": spec.ngram}, work / "exact", DOC_SHARD_ROWS)
        con.execute(f"""UPDATE dup_pairs SET jaccard = e.j FROM read_parquet({_parquet_glob(work / 'exact')}) e
                        WHERE dup_pairs.a = e.a AND dup_pairs.b = e.b""")
    return n_new


def _clusters(con, threshold: float) -> tuple[int, int, int]:
    """dup_clusters for `threshold`: the local engine's own clustering, over the candidate
    pairs this engine grouped on Ray (table _ray_cands) instead of recomputing them."""
    return lsh.build_clusters(con, threshold, "_ray_cands")


def dedup_ray(
    con: duckdb.DuckDBPyConnection,
    threshold: float,
    spec: minhash.SignatureSpec,
    run_id: int,
    *,
    db: Path,
    address: str | None = None,
    opts: RayOptions | None = None,
    device: str = "cpu",
    on_batch: Callable[[int], None] | None = None,
) -> lsh.DedupReport:
    """`lsh.dedup` on Ray: same tables, same rows, same report.

    Signatures commit first (as the local engine's per-batch commits do); banding, pair
    verification and clusters are one transaction.
    """
    lsh.check_threshold(threshold)
    opts = opts or RayOptions(address=address)
    ensure_ray(opts.address)
    spec = lsh.bind_spec(con, spec)
    setting, bands, rows = lsh.setting_for(threshold, spec.num_perm)
    parts = opts.bucket_parts or 2 * _cluster_cpus()
    work = _work_dir(db, opts, "dedup")
    try:
        new_sigs = _signatures(con, spec, setting, bands, rows, run_id, work, device)
        if on_batch and new_sigs:
            on_batch(new_sigs)
        with store.transaction(con):
            _band_old_signatures(con, setting, bands, rows, spec.num_perm, work)
            n_cand = _candidates(con, setting, work, parts)
            n_new = _verify(con, threshold, spec, work)
            n_edges, n_clusters, n_dups = _clusters(con, threshold)
            lsh.record_threshold(con, threshold)
    finally:
        if not opts.keep_work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return lsh.DedupReport(threshold, setting, new_sigs, n_cand, n_new, n_edges, n_clusters, n_dups)
