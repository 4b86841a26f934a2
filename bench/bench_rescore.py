"""Rescoring `quality` (curate/quality.py rescore_quality) in this process against the process pool.

    .venv/bin/python bench/bench_rescore.py STORE.duckdb [--workers N]

STORE is a store with signals and a trained quality model (`curate score`, then `curate quality
train`); it is copied, not changed. Each copy has every document predicted again by the saved
model: once with workers=1 (the main process, as before), once with --workers processes. Wall
and process CPU seconds (the main process only: the workers' CPU is not in it); the stored
`quality` values must be identical.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from curate import quality, store


def _rescore(src: Path, tmp: Path, name: str, workers: int) -> tuple[float, float, dict]:
    db = tmp / name / src.name
    db.parent.mkdir()
    shutil.copy(src, db)
    shutil.copytree(store.artifacts_dir(src), store.artifacts_dir(db), dirs_exist_ok=True)
    model = quality.load_model_or_none(db)
    if model is None:
        raise SystemExit(f"{src}: no quality model: run `curate quality train` first")
    with store.open_store(db) as con:
        t, cpu = time.perf_counter(), time.process_time()
        quality.rescore_quality(con, model, workers=workers)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        scores = dict(con.execute("SELECT doc_id, quality FROM signals").fetchall())
    return wall, cpu, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.store.parent) as tmp:
        w1, c1, a = _rescore(args.store, Path(tmp), "serial", 1)
        wn, cn, b = _rescore(args.store, Path(tmp), "pool", args.workers)
    print(f"documents {len(a):,}, cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(f"workers=1: {w1:.1f} s wall, {c1:.1f} s CPU; workers={args.workers}: {wn:.1f} s wall, "
          f"{cn:.1f} s CPU in the main process; ratio {w1 / wn:.2f}x")
    print(f"stored quality identical: {a == b}")


if __name__ == "__main__":
    main()
