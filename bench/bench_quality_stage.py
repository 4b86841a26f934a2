"""The quality stage (curate/quality.py train_quality) in the serial order vs side by side.

Serial: the fold models and the final one trained one after another (workers=1), and every
document predicted by the final model at rescoring (the out-of-fold score then replacing it
for the documents trained on), as before. Parallel: the models trained on `--workers`
threads, and only the documents without an out-of-fold score predicted. Both run on copies
of the same scored store in one run; the stored `quality` values must be identical.

    .venv/bin/python bench/bench_quality_stage.py STORE.duckdb [--workers N]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from curate import quality, store


def _rescore_all(con, model, *, out_of_fold=None, only_missing=False, batch_size=5000) -> int:
    """The rescoring before: predict every document, then keep the out-of-fold scores."""
    reader = con.cursor()
    reader.execute("SELECT s.doc_id, d.text_hash, d.text, s.lang FROM signals s JOIN documents d USING (doc_id) "
                   "ORDER BY s.doc_id")
    import pyarrow as pa

    n, oof = 0, out_of_fold or {}
    with store.transaction(con):
        while rows := reader.fetchmany(batch_size):
            probs = model.predict_proba([r[2] for r in rows], [r[3] for r in rows])
            probs = np.array([oof.get(r[1], p) for r, p in zip(rows, probs)], dtype=np.float64)
            store.register(con, "_q_batch", pa.table({"doc_id": [r[0] for r in rows], "q": probs}))
            con.execute("UPDATE signals SET quality = b.q FROM _q_batch b WHERE signals.doc_id = b.doc_id")
            con.unregister("_q_batch")
            n += len(rows)
    reader.close()
    return n


def _run(src: Path, tmp: Path, name: str, workers: int, old_rescore: bool) -> tuple[dict, dict]:
    db = tmp / name / src.name
    db.parent.mkdir()
    shutil.copy(src, db)
    saved = quality.rescore_quality
    rescore = _rescore_all if old_rescore else saved
    timed = {}

    def timed_rescore(*a, **kw):
        t = time.perf_counter()
        try:
            return rescore(*a, **kw)
        finally:
            timed["rescore"] = time.perf_counter() - t

    quality.rescore_quality = timed_rescore
    try:
        with store.open_store(db) as con:
            t, cpu = time.perf_counter(), time.process_time()
            quality.train_quality(con, db, quality.QualityDesign(), workers=workers)
            timed["total"] = time.perf_counter() - t
            timed["cpu"] = time.process_time() - cpu  # every thread of the process
            scores = dict(con.execute("SELECT doc_id, quality FROM signals").fetchall())
    finally:
        quality.rescore_quality = saved
    return timed, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path, help="a scored store (`curate score`); it is copied, not changed")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with store.open_store(args.store, read_only=True) as con:
        n = store.count_rows(con, "signals")
    with tempfile.TemporaryDirectory(dir=args.store.parent) as tmp:
        serial, a = _run(args.store, Path(tmp), "serial", 1, old_rescore=True)
        parallel, b = _run(args.store, Path(tmp), "parallel", args.workers, old_rescore=False)
    print(f"documents {n:,}, cores {os.cpu_count()}, workers {args.workers}")
    for name, t in (("serial", serial), ("parallel", parallel)):
        print(f"{name:8} total {t['total']:6.1f}s  (rescore {t['rescore']:5.1f}s, the rest "
              f"{t['total'] - t['rescore']:6.1f}s)  process CPU {t['cpu']:6.1f}s")
    print(f"ratio serial/parallel: total {serial['total'] / parallel['total']:.2f}x, "
          f"rescore {serial['rescore'] / parallel['rescore']:.2f}x")
    print(f"stored quality identical: {a == b} ({len(a):,} documents)")


if __name__ == "__main__":
    main()
