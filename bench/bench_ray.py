"""Local engine vs Ray engine: wall time per stage on this machine, and Ray's overhead ratio.

    python bench/bench_ray.py                              # the sample corpus
    python bench/bench_ray.py --input /tmp/big20k/corpus   # a generated one (sample_data/build.py)

Both engines start from the same ingested store (copied), with no quality model, so the
score stage is the same work. Ray starts locally with --cpus CPUs; its start-up time is
reported apart. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from curate.engines import LocalEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    from curate import pipeline, store
    from curate.dedup import lsh, minhash
    from curate.engines.ray_data import dedup_ray, score_ray
    from curate.engines.ray_session import RayOptions

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(Path(__file__).resolve().parents[1] / "sample_data" / "corpus"))
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        local, dist = work / "local.duckdb", work / "ray.duckdb"
        pipeline.ingest(local, [args.input])
        shutil.copyfile(local, dist)
        with store.open_store(local) as con:
            n_docs, n_bytes = con.execute("SELECT count(*), sum(n_bytes) FROM documents").fetchone()
        spec = minhash.SignatureSpec()
        times: dict[str, dict[str, float]] = {"local": {}, "ray": {}}
        with store.open_store(local) as con:
            _, times["local"]["score"] = _timed(lambda: LocalEngine(args.cpus).score(con, local))
            rep_l, times["local"]["dedup"] = _timed(lambda: lsh.dedup(con, args.threshold, spec, 1))
        import ray

        _, ray_start = _timed(lambda: ray.init(num_cpus=args.cpus, include_dashboard=False))
        opts = RayOptions(bucket_parts=2 * args.cpus)
        with store.open_store(dist) as con:
            _, times["ray"]["score"] = _timed(lambda: score_ray(con, dist, opts=opts))
            rep_r, times["ray"]["dedup"] = _timed(lambda: dedup_ray(con, args.threshold, spec, 1, db=dist, opts=opts))
        ray.shutdown()
        if rep_l != rep_r:
            raise SystemExit(f"engines disagree: {rep_l} vs {rep_r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = n_bytes / 1e6
    print(f"corpus: {args.input} — {n_docs:,} documents, {mb:.1f} MB; {args.cpus} CPUs; "
          f"Ray start-up {ray_start:.1f} s (not counted below); dedup at {args.threshold}: "
          f"{rep_r.candidate_pairs:,} candidate pairs, {rep_r.clusters:,} clusters (same in both)\n")
    print("| stage | local (s) | Ray (s) | Ray / local | local MB/s | Ray MB/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for stage in ("score", "dedup"):
        lo, ra = times["local"][stage], times["ray"][stage]
        print(f"| {stage} | {lo:.1f} | {ra:.1f} | {ra / lo:.2f} | {mb / lo:.2f} | {mb / ra:.2f} |")
    lo, ra = sum(times["local"].values()), sum(times["ray"].values())
    print(f"| total | {lo:.1f} | {ra:.1f} | {ra / lo:.2f} | {mb / lo:.2f} | {mb / ra:.2f} |")


if __name__ == "__main__":
    main()
