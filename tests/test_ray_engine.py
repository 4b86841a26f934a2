"""The Ray engine writes exactly what the local engine writes (issue 8).

Parity on the sample corpus: one store is ingested and given a quality model (trained once
with quality.train_quality on a third store, so the fastText model is the same file in both
stores), then copied;
the local engine scores and dedups one copy, the Ray engine the other, and every table the
stages write, and every shipped recipe's decisions, are compared row for row.
`bucket_pairs` (the grouping rule) is tested without Ray against a brute-force reference.
"""
from __future__ import annotations

import json
import random
import shutil
from itertools import combinations
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from curate import pipeline, quality, recipes, store
from curate.dedup import lsh, minhash
from curate.engines import LocalEngine
from curate.engines.ray_data import bucket_pairs
from curate.engines.ray_session import RayOptions

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
THRESHOLDS = (0.8, 0.7)  # 0.7 second: bands for stored signatures under a new setting


# --- the grouping rule, without Ray ------------------------------------------------------------


def _reference_pairs(rows: list[tuple[int, int, str]], star: int) -> set[tuple[str, str]]:
    """The local engine's SQL rule, spelled out: all pairs of small buckets, stars of big ones."""
    buckets: dict[tuple[int, int], list[str]] = {}
    for band, bucket, doc in rows:
        buckets.setdefault((band, bucket), []).append(doc)
    out: set[tuple[str, str]] = set()
    for members in buckets.values():
        members = sorted(members)
        if len(members) > star:
            out |= {(members[0], m) for m in members[1:]}
        else:
            out |= set(combinations(members, 2))
    return out


def _band_table(rows):
    band, bucket, doc = zip(*rows)
    return pa.table({"band": pa.array(band, pa.int32()), "bucket": pa.array(bucket, pa.uint64()),
                     "doc_id": pa.array(doc, pa.string())})


def test_bucket_pairs_matches_the_sql_rule():
    rng = random.Random(0)
    rows = []
    for band in range(4):
        for doc in range(300):  # small buckets of every size, and some over the star limit
            rows.append((band, rng.choice([rng.randrange(40), 2**64 - 1 - rng.randrange(3)]), f"d{doc:04d}"))
    got = bucket_pairs(_band_table(rows), star_size=8)
    pairs = set(zip(got.column("a").to_pylist(), got.column("b").to_pylist()))
    assert pairs == _reference_pairs(rows, 8)
    assert all(a < b for a, b in pairs)


def test_bucket_pairs_star_bounds_a_huge_bucket():
    n = 10_000
    rows = [(0, 7, f"doc{i:05d}") for i in range(n)] + [(1, 9, "lonely")]
    got = bucket_pairs(_band_table(rows), star_size=lsh.STAR_BUCKET_SIZE)
    assert got.num_rows == n - 1  # not n * (n - 1) / 2 = 49,995,000
    assert set(got.column("a").to_pylist()) == {"doc00000"}


def test_bucket_pairs_empty_and_singletons():
    assert bucket_pairs(_band_table([(0, 1, "a"), (0, 2, "b"), (1, 1, "c")]), 64).num_rows == 0
    assert bucket_pairs(pa.table({}), 64).num_rows == 0


# --- parity with the local engine on the sample corpus ----------------------------------------


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data] (the [distributed] extra)")
    pytest.importorskip("ray.data", reason="the Ray engine needs ray[data] (the [distributed] extra)")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    if started:
        ray.shutdown()


def _copy_store(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    shutil.copytree(store.artifacts_dir(src), store.artifacts_dir(dst), dirs_exist_ok=True)


@pytest.fixture(scope="module")
def stores(ray_local, tmp_path_factory):
    from curate.engines.ray_data import dedup_ray, score_ray

    d = tmp_path_factory.mktemp("ray_parity")
    local, dist = d / "local.duckdb", d / "ray.duckdb"
    # the quality model is trained once, on a scored store of its own, and both stores score
    # with that same file
    teacher = d / "teacher.duckdb"
    pipeline.ingest(teacher, [str(SAMPLE / "corpus")])
    with store.open_store(teacher) as con:
        LocalEngine(2).score(con, teacher)
        quality.train_quality(con, teacher)
    pipeline.ingest(local, [str(SAMPLE / "corpus")])
    model = quality.quality_model_path(teacher)
    for p in (model, model.with_suffix(".json")):
        shutil.copyfile(p, store.artifacts_dir(local) / p.name)
    _copy_store(local, dist)
    spec = minhash.SignatureSpec()
    reports = {}
    with store.open_store(local) as con:
        reports["local"] = [LocalEngine(2).score(con, local)]
        reports["local"] += [lsh.dedup(con, t, spec, 2) for t in THRESHOLDS]
    opts = RayOptions(bucket_parts=3)
    with store.open_store(dist) as con:
        reports["ray"] = [score_ray(con, dist, opts=opts)]
        reports["ray"] += [dedup_ray(con, t, spec, 2, db=dist, opts=opts) for t in THRESHOLDS]
    return local, dist, reports


def _frame(db: Path, sql: str) -> pl.DataFrame:
    with store.open_store(db, read_only=True) as con:
        return pl.from_arrow(store.arrow(con, sql))


def _same(stores, sql: str) -> pl.DataFrame:
    local, dist, _ = stores
    a, b = _frame(local, sql), _frame(dist, sql)
    assert a.height > 0
    assert_frame_equal(a, b, check_exact=True)
    return a


@pytest.mark.slow
def test_signals_identical(stores):
    sig = _same(stores, "SELECT * FROM signals ORDER BY doc_id")
    n_docs = _frame(stores[0], "SELECT count(*) AS n FROM documents")["n"][0]
    assert sig.height == n_docs
    assert sig["quality"].null_count() == 0  # the quality model took part in both


@pytest.mark.slow
def test_dedup_tables_identical(stores):
    _same(stores, "SELECT doc_id, has_sig, signature, run_id FROM minhash ORDER BY doc_id")
    _same(stores, "SELECT * FROM lsh_bands ORDER BY setting, band, doc_id")
    _same(stores, "SELECT * FROM dup_pairs ORDER BY a, b")
    clusters = _same(stores, "SELECT * FROM dup_clusters ORDER BY threshold, doc_id")
    assert set(clusters["threshold"].to_list()) == set(THRESHOLDS)
    local, dist, reports = stores
    assert reports["local"][1:] == reports["ray"][1:]  # DedupReport: pairs, edges, clusters, duplicates
    assert reports["local"][0].scored == reports["ray"][0].scored
    for db in (local, dist):
        with store.open_store(db, read_only=True) as con:
            assert lsh.dedup_thresholds(con) == sorted(THRESHOLDS)


@pytest.mark.slow
@pytest.mark.parametrize("name", recipes.shipped_recipe_names())
def test_recipe_decisions_identical(stores, name):
    local, dist, _ = stores
    recipe = recipes.load_recipe(name)
    results = []
    for db in (local, dist):
        with store.open_store(db) as con:
            results.append(recipes.build_slice(con, recipe, None))
    assert (results[0].n_kept, results[0].n_dropped, results[0].reasons) == \
           (results[1].n_kept, results[1].n_dropped, results[1].reasons)
    assert results[0].slice_id == results[1].slice_id  # a content id: same decisions, same id
    _same(stores, f"SELECT doc_id, kept, reason FROM decisions WHERE slice_id = '{results[0].slice_id}'"
                  " ORDER BY doc_id")


@pytest.mark.slow
def test_rerun_is_a_no_op(stores):
    from curate.engines.ray_data import dedup_ray, score_ray

    _, dist, reports = stores
    before = _frame(dist, "SELECT * FROM dup_clusters ORDER BY threshold, doc_id")
    with store.open_store(dist) as con:
        assert score_ray(con, dist).scored == 0
        rep = dedup_ray(con, 0.8, minhash.SignatureSpec(), 3, db=dist)
    assert (rep.new_signatures, rep.new_pairs_verified) == (0, 0)
    assert rep.clusters == reports["ray"][1].clusters
    assert_frame_equal(before, _frame(dist, "SELECT * FROM dup_clusters ORDER BY threshold, doc_id"))


# --- skew: one page copied 10,000 times, and 10,000 near-copies --------------------------------


def _page(rng: random.Random, n_words: int = 150) -> str:
    vocab = [f"w{i}" for i in range(5000)]
    return " ".join(rng.choice(vocab) for _ in range(n_words))


@pytest.mark.slow
def test_huge_cluster_is_bounded_and_matches_local(ray_local, tmp_path):
    from curate.engines.ray_data import dedup_ray

    rng = random.Random(1)
    page = _page(rng)
    words = page.split()
    n = 10_000
    recs = [{"id": f"copy{i:05d}", "text": page} for i in range(n)]
    for i in range(n):  # one word changed: Jaccard about 0.97 to the page
        w = list(words)
        w[rng.randrange(len(w))] = f"edit{i}"
        recs.append({"id": f"near{i:05d}", "text": " ".join(w)})
    recs += [{"id": f"other{i}", "text": _page(rng)} for i in range(50)]
    src = tmp_path / "skew.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    local, dist = tmp_path / "local.duckdb", tmp_path / "ray.duckdb"
    pipeline.ingest(local, [str(src)], pipeline.IngestOptions(id_field="id"))
    _copy_store(local, dist)
    spec = minhash.SignatureSpec()
    with store.open_store(local) as con:
        rep_local = lsh.dedup(con, 0.8, spec, 2)
    with store.open_store(dist) as con:
        rep_ray = dedup_ray(con, 0.8, spec, 2, db=dist, opts=RayOptions(bucket_parts=4))
    assert rep_ray == rep_local
    _, bands, _ = lsh.setting_for(0.8, spec.num_perm)
    canonical = n + 1  # the 10,000 exact copies collapse onto one document before banding
    # Star buckets: at most one pair per canonical member and band, never n^2 / 2.
    assert rep_ray.candidate_pairs <= bands * canonical
    assert rep_ray.candidate_pairs < canonical * (canonical - 1) // 2 // 100  # under 1% of all pairs
    clusters = _frame(dist, "SELECT cluster_id, count(*) AS n, sum(is_representative::INT) AS reps "
                            "FROM dup_clusters WHERE threshold = 0.8 GROUP BY cluster_id")
    assert clusters.height == 1 and clusters["n"][0] == 2 * n and clusters["reps"][0] == 1
    _same((local, dist, None), "SELECT * FROM dup_clusters ORDER BY doc_id")
    assert rep_ray.duplicates == 2 * n - 1
