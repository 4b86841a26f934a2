"""Local engine vs Ray engine: wall time and documents/s per stage, per Ray node.

    python bench/bench_ray.py                              # the sample corpus, a local Ray of --cpus CPUs
    python bench/bench_ray.py --input /tmp/big20k/corpus   # a generated one (sample_data/build.py)
    python bench/bench_ray.py --address 192.0.2.2:6379 --address 192.0.2.2:6380 --work-dir /mnt/shared

Every target starts from the same ingested store (copied), with no quality model, so the
score stage is the same work: first the local engine (--cpus processes), then each Ray
target in turn. A target is a local Ray started here with --cpus CPUs (the default, or
--local-ray next to --address), or an existing cluster joined by its address (repeat
--address to measure several clusters in one run, e.g. a one-node and a two-node one; the
Ray stages then write under --work-dir, which every node must see). Joining or starting Ray,
and Ray Data's first execution there (it starts Ray Data's own actors, which then live as
long as the cluster), are timed apart and not counted in the stages. Every Ray target must
write exactly the local engine's dedup report, or the script stops. Prints a markdown table.

A cluster started with token authentication (`ray start --head` turns it on when
~/.ray/auth_token exists) needs RAY_AUTH_MODE=token (and the token: ~/.ray/auth_token,
RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN) in this script's environment too (docs/cluster.md).
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("score", "dedup")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


@dataclass
class Result:
    target: str
    nodes: int
    cpus: int
    startup_s: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)


def _join(address: str | None, cpus: int) -> None:
    """A local Ray of `cpus` CPUs (address None), or the cluster at `address` the way the CLI
    joins it (curate.engines.ray_session.ensure_ray: curate shipped to the workers)."""
    import ray
    import ray.data

    from curate.engines.ray_session import ensure_ray

    if address is None:
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
    ensure_ray(address)
    # Ray Data's first execution on a cluster starts its own actors (stats, autoscaling
    # coordinator), which then live as long as the cluster: counted here, not in the stages.
    ray.data.range(2).map_batches(lambda b: b).materialize()


def _cluster_shape() -> tuple[int, int]:
    import ray

    alive = [n for n in ray.nodes() if n["Alive"]]
    return len(alive), int(ray.cluster_resources().get("CPU", 0))


def main(argv: list[str] | None = None) -> None:
    from curate import pipeline, store
    from curate.dedup import lsh, minhash
    from curate.engines import LocalEngine
    from curate.engines.ray_data import dedup_ray, score_ray
    from curate.engines.ray_session import RayOptions

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(Path(__file__).resolve().parents[1] / "sample_data" / "corpus"))
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2,
                    help="processes of the local engine, and CPUs of a local Ray")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--address", action="append", default=[],
                    help="an existing Ray cluster to measure (repeat for several); without it, a local Ray")
    ap.add_argument("--local-ray", action="store_true", help="with --address: measure a local Ray as well")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure every target this many times (a fresh store copy each); report the best")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="for the Ray stages: a folder every node sees (default: beside the temporary stores)")
    args = ap.parse_args(argv)
    targets: list[str | None] = ([None] if args.local_ray or not args.address else []) + list(args.address)

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    results: list[Result] = []
    try:
        base = work / "base.duckdb"
        pipeline.ingest(base, [args.input])
        with store.open_store(base) as con:
            n_docs, n_bytes = con.execute("SELECT count(*), sum(n_bytes) FROM documents").fetchone()
        spec = minhash.SignatureSpec()

        def measure(res: Result, score, dedup):
            """Both stages on a fresh copy of the ingested store, --repeat times; the best of each."""
            rep, db = None, work / "run.duckdb"
            for _ in range(args.repeat):
                shutil.copyfile(base, db)
                with store.open_store(db) as con:
                    _, s = _timed(lambda: score(con, db))
                    rep, d = _timed(lambda: dedup(con, db))
                db.unlink()
                res.seconds["score"] = min(s, res.seconds.get("score", s))
                res.seconds["dedup"] = min(d, res.seconds.get("dedup", d))
            results.append(res)
            return rep

        rep_l = measure(Result("local engine", 1, args.cpus),
                        lambda con, db: LocalEngine(args.cpus).score(con, db),
                        lambda con, db: lsh.dedup(con, args.threshold, spec, 1))

        import ray

        for address in targets:
            _, startup = _timed(lambda a=address: _join(a, args.cpus))
            nodes, cpus = _cluster_shape()
            opts = RayOptions(address=address, work_dir=args.work_dir or work / "ray-work",
                              bucket_parts=2 * args.cpus if address is None else None)
            rep_r = measure(Result("Ray, local" if address is None else f"Ray cluster {address}", nodes, cpus, startup),
                            lambda con, db, o=opts: score_ray(con, db, opts=o),
                            lambda con, db, o=opts: dedup_ray(con, args.threshold, spec, 1, db=db, opts=o))
            ray.shutdown()
            if rep_l != rep_r:
                raise SystemExit(f"engines disagree on {results[-1].target}: {rep_l} vs {rep_r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = n_bytes / 1e6
    print(f"corpus: {args.input} — {n_docs:,} documents, {mb:.1f} MB; machine: {os.cpu_count()} cores "
          f"({platform.machine()}, Python {platform.python_version()}, Ray {ray.__version__}); local engine "
          f"{args.cpus} processes; best of {args.repeat}; dedup at {args.threshold}: "
          f"{rep_l.candidate_pairs:,} candidate pairs, "
          f"{rep_l.clusters:,} clusters (the same on every target); joining/starting Ray and a first "
          "Ray Data execution, not counted: "
          + ", ".join(f"{r.target} {r.startup_s:.1f} s" for r in results[1:]) + "\n")
    print("| target | nodes | CPUs | score s | dedup s | score docs/s | dedup docs/s "
          "| score docs/s/node | dedup docs/s/node | total / local |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    local_total = sum(results[0].seconds.values())
    for r in results:
        s, d = r.seconds["score"], r.seconds["dedup"]
        print(f"| {r.target} | {r.nodes} | {r.cpus} | {s:.1f} | {d:.1f} | {n_docs / s:,.0f} | {n_docs / d:,.0f} "
              f"| {n_docs / s / r.nodes:,.0f} | {n_docs / d / r.nodes:,.0f} | {(s + d) / local_total:.2f} |")


if __name__ == "__main__":
    main()
