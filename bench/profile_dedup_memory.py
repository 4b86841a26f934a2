"""Where the dedup stage's memory goes: peak resident memory of each of its steps.

    .venv/bin/python bench/profile_dedup_memory.py STORE [STORE ...] [--threshold 0.8]

Each STORE is an ingested store (`curate ingest`; scoring is optional), copied to a temporary
file, so the original is left as it was. `curate.dedup.lsh.dedup` then runs on the copy in a
fresh process, with each of its steps (signatures, band hashes, candidate pairs and their
estimates, the exact check, the clusters) wrapped so that a sampler reading this process's
VmRSS from /proc every 50 ms records the peak during the step, and the growth over the RSS
the step started at. DuckDB's own accounting (`duckdb_memory()`, the buffer pool that
CURATE_MEMORY_LIMIT bounds) is read at the end of each step. Prints a markdown table per
store, and one line of JSON per store for scripts.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("compute_signatures", "_band_new_docs", "_verify_new_pairs", "_exact_check", "build_clusters")


def _rss_mb() -> float:
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.open: list[list[float]] = []  # one [peak] per step running now (steps nest)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            rss = _rss_mb()
            for window in list(self.open):
                window[0] = max(window[0], rss)


def _child(db: Path, threshold: float) -> None:
    sys.path.insert(0, str(ROOT))
    from curate import store
    from curate.dedup import lsh, minhash

    sampler = Sampler()
    sampler.start()
    rows: list[dict] = []
    depth = [0]

    def wrap(name: str):
        fn = getattr(lsh, name)

        def timed(con, *a, **kw):
            depth[0] += 1
            start, t0 = _rss_mb(), time.perf_counter()
            window = [start]
            sampler.open.append(window)
            try:
                return fn(con, *a, **kw)
            finally:
                wall = time.perf_counter() - t0
                sampler.open.remove(window)
                peak = max(window[0], _rss_mb())
                duck = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0] or 0
                rows.append({"step": name, "depth": depth[0], "t0": t0, "wall_s": round(wall, 1),
                             "start_mb": round(start), "peak_mb": round(peak),
                             "growth_mb": round(peak - start), "duckdb_mb": round(duck / 2**20)})
                depth[0] -= 1
        setattr(lsh, name, timed)

    for name in STEPS:
        wrap(name)
    t0 = time.perf_counter()
    with store.open_store(db) as con:
        docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        before = _rss_mb()
        report = lsh.dedup(con, threshold, minhash.SignatureSpec(), 1)
    sampler.stop.set()
    print(json.dumps({"docs": docs, "open_mb": round(before), "wall_s": round(time.perf_counter() - t0, 1),
                      "peak_mb": round(max(r["peak_mb"] for r in rows)), "report": dataclasses.asdict(report),
                      "steps": rows}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="+", type=Path)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.stores[0], args.threshold)
        return
    for src in args.stores:
        with tempfile.TemporaryDirectory(prefix="dedup-mem-") as tmp:
            db = Path(tmp) / src.name
            shutil.copyfile(src, db)
            out = subprocess.run([sys.executable, __file__, "--child", str(db), "--threshold", str(args.threshold)],
                                 check=True, capture_output=True, text=True, env=os.environ.copy()).stdout
        res = json.loads(out.strip().splitlines()[-1])
        print(f"\n### {src} — {res['docs']:,} documents, dedup {res['wall_s']} s, peak RSS {res['peak_mb']:,} MB"
              f" (store opened: {res['open_mb']:,} MB)\n")
        print("| step | wall s | RSS at start MB | peak MB | growth MB | DuckDB at end MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in sorted(res["steps"], key=lambda r: r["t0"]):
            name = ("  " * (r["depth"] - 1)) + r["step"]
            print(f"| {name} | {r['wall_s']} | {r['start_mb']:,} | {r['peak_mb']:,} | {r['growth_mb']:,} |"
                  f" {r['duckdb_mb']:,} |")
        print(json.dumps(res))


if __name__ == "__main__":
    main()
