"""Ingest a generated multi-GB JSONL file and report throughput and peak memory.

    python bench/bench_ingest.py --gb 2 --workdir /tmp/bench_ingest

Peer, in the same run: polars.read_ndjson on the same file (loads it whole), to show
what bounded, streaming ingestion saves. Each side runs in its own process; peak RSS is
that child's ru_maxrss.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but "
         "have an they you were her she there been one all we their has would when if so no will more "
         "data model corpus text clean token quality filter language word sentence document page river "
         "mountain history science music winter summer garden village library market station").split()


def make_corpus(path: Path, target_bytes: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    n = 0
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target_bytes:
            n_words = rng.randint(50, 1500)
            text = " ".join(rng.choice(WORDS) for _ in range(n_words))
            line = json.dumps({"id": f"g{n:09d}", "text": text, "url": f"https://example.org/{n}"}) + "\n"
            fh.write(line)
            written += len(line)
            n += 1
    return n


def run_child(cmd: list[str]) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr[-2000:]}")
    # ru_maxrss of RUSAGE_CHILDREN is the max over children so far: run the leaner side first
    return wall, max(peak_kb, before) / 1024, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ingest"))
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.workdir / "big.jsonl"
    target = int(args.gb * 1e9)
    if not corpus.exists() or corpus.stat().st_size < target:
        t0 = time.perf_counter()
        n = make_corpus(corpus, target)
        print(f"generated {corpus} ({corpus.stat().st_size / 1e9:.2f} GB, {n:,} docs) in {time.perf_counter() - t0:.0f}s")
    size_mb = corpus.stat().st_size / 1e6
    db = args.workdir / "bench.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        if p.exists():
            p.unlink()
    curate = [sys.executable, "-m", "curate.cli", "ingest", "--db", str(db), "-q", str(corpus)]
    wall, rss, out = run_child(curate)
    rows = [("curate ingest (streaming, batches)", wall, size_mb / wall, rss)]
    if not args.skip_peer:
        peer = [sys.executable, "-c", f"import polars as pl; df = pl.read_ndjson({str(corpus)!r}); print(len(df))"]
        pwall, prss, _ = run_child(peer)
        rows.append(("polars.read_ndjson (whole file in memory)", pwall, size_mb / pwall, prss))
    print(f"\ninput: {corpus} {size_mb:,.0f} MB; machine: {os.cpu_count()} cores\n")
    print("| reader | wall s | MB/s | peak RSS MB |\n|---|---:|---:|---:|")
    for name, w, mbs, r in rows:
        print(f"| {name} | {w:.1f} | {mbs:.1f} | {r:,.0f} |")


if __name__ == "__main__":
    main()
