"""Ingest a generated multi-GB JSONL file and report throughput and peak memory.

    python bench/bench_ingest.py --gb 0.5 2 --workdir /tmp/bench_ingest

Peer, in the same run: polars.read_ndjson on the same file (loads it whole), to show
what bounded, streaming ingestion saves. Each side runs in its own process; peak RSS is
that child's ru_maxrss.
"""
from __future__ import annotations

import argparse
import json
import os
import random
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
    """Wall seconds, peak RSS (MB) of that child alone (os.wait4), its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN only as a max over all
    # children, so each side runs in a fresh interpreter that reports its own peak instead.
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {err.decode()[-2000:]}")
    return wall, 0.0, out.decode()


def peak_rss_of(cmd: list[str]) -> tuple[float, float]:
    """Run cmd under a wrapper that prints its own peak RSS (ru_maxrss of RUSAGE_CHILDREN)."""
    wrapper = [sys.executable, "-c",
               "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)",
               *cmd]
    wall, _, out = run_child(wrapper)
    kb = int(next(line.split()[1] for line in out.splitlines() if line.startswith("PEAK_KB")))
    return wall, kb / 1024


def prefix_file(src: Path, dst: Path, n_bytes: int) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        written = 0
        for line in fin:
            if written + len(line) > n_bytes:
                break
            fout.write(line)
            written += len(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, nargs="+", default=[0.5, 2.0],
                    help="corpus sizes; peak RSS should not grow with them")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ingest"))
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    corpus = args.workdir / "big.jsonl"
    target = int(max(args.gb) * 1e9)
    if not corpus.exists() or corpus.stat().st_size < target * 0.999:
        t0 = time.perf_counter()
        n = make_corpus(corpus, target)
        print(f"generated {corpus} ({corpus.stat().st_size / 1e9:.2f} GB, {n:,} docs) "
              f"in {time.perf_counter() - t0:.0f}s")
    rows = []
    for gb in sorted(args.gb):
        path = corpus if gb == max(args.gb) else args.workdir / f"prefix-{gb}.jsonl"
        if path != corpus and not path.exists():
            prefix_file(corpus, path, int(gb * 1e9))
        size_mb = path.stat().st_size / 1e6
        db = args.workdir / "bench.duckdb"
        for p in (db, db.with_name(db.name + ".wal")):
            if p.exists():
                p.unlink()
        wall, rss = peak_rss_of([sys.executable, "-m", "curate.cli", "ingest", "--db", str(db), "-q", str(path)])
        rows.append((f"curate ingest, {size_mb:,.0f} MB", wall, size_mb / wall, rss))
    if not args.skip_peer:
        size_mb = corpus.stat().st_size / 1e6
        peer = [sys.executable, "-c", f"import polars as pl; df = pl.read_ndjson({str(corpus)!r}); print(len(df))"]
        pwall, prss = peak_rss_of(peer)
        rows.append((f"polars.read_ndjson (whole file in memory), {size_mb:,.0f} MB", pwall, size_mb / pwall, prss))
    print(f"\nmachine: {os.cpu_count()} cores; "
          f"CURATE_MEMORY_LIMIT={os.environ.get('CURATE_MEMORY_LIMIT', '1GB (default)')}\n")
    print("| run | wall s | MB/s | peak RSS MB |\n|---|---:|---:|---:|")
    for name, w, mbs, r in rows:
        print(f"| {name} | {w:.1f} | {mbs:.1f} | {r:,.0f} |")


if __name__ == "__main__":
    main()
