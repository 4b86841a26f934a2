"""Settings-explorer latency: one slider move = one aggregate query over the explorer frame.

    python bench/bench_explorer.py [--docs 100000] [--moves 50] [--db PATH] [--keep]

Builds a synthetic store (signals drawn at random inside each registry range, no scorers;
see curate/dashboard/synthetic.py), then times `explore()` for --moves random settings:
3-8 random rules over the registry's numeric signals (bounds at random quantiles), an
optional language allow-list, and random exact/near dedup. Each move is timed as the
dashboard runs it (`ExplorerFrame.explore`: the frame is loaded once per store version, then
every move scans it in memory) and, for comparison, through `compile_decisions` on the store
(`explore_reference`, a read-only open + joins + close per move). Also times the one-off frame
load. Prints p50/p95/max in milliseconds. The target is p95 < 200 ms at 100k documents.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.dashboard.explorer import ExplorerFrame, Settings, explore_reference, signal_ranges  # noqa: E402
from curate.dashboard.source import read_store  # noqa: E402
from curate.dashboard.synthetic import LANGS, THRESHOLDS, build_store  # noqa: E402
from curate.recipes import Rule  # noqa: E402
from curate.signals import signals  # noqa: E402


def random_settings(rng: random.Random, ranges: dict) -> Settings:
    names = rng.sample(sorted(ranges), rng.randint(3, min(8, len(ranges))))
    rules = []
    for n in names:
        r = ranges[n]
        lo = r.lo + (r.hi - r.lo) * rng.uniform(0, 0.3)
        hi = r.lo + (r.hi - r.lo) * rng.uniform(0.5, 1.0)
        rules.append(Rule(n, lo if rng.random() < 0.6 else None, hi if rng.random() < 0.6 else None))
    rules = [r for r in rules if r.min is not None or r.max is not None]
    if rng.random() < 0.5:
        rules.insert(0, Rule("lang", allow=tuple(rng.sample(LANGS, rng.randint(1, 3)))))
    return Settings(tuple(rules), exact_dedup=rng.random() < 0.5,
                    near_threshold=rng.choice([None, *THRESHOLDS]))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--moves", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db", type=Path, default=None, help="reuse or create the store here")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    db = args.db or Path(tmp.name) / "bench.duckdb"
    if not db.exists():
        t = time.perf_counter()
        build_store(db, args.docs, seed=args.seed, slices=False)
        print(f"built {args.docs:,}-document store in {time.perf_counter() - t:.1f}s: {db}", file=sys.stderr)
    with read_store(db) as (con, _):
        n_docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        ranges = signal_ranges(con, [s.name for s in signals()])
    rng = random.Random(args.seed)
    moves = [random_settings(rng, ranges) for _ in range(args.moves)]

    t = time.perf_counter()
    with read_store(db) as (con, _):
        frame = ExplorerFrame(con)
    load_ms = (time.perf_counter() - t) * 1000
    fast, kept = [], []
    for s in moves:
        t = time.perf_counter()
        out = frame.explore(s)
        fast.append((time.perf_counter() - t) * 1000)
        kept.append(out.n_kept)
    ref = []
    for s in moves:
        t = time.perf_counter()
        with read_store(db) as (con, _):
            same = explore_reference(con, s)
        ref.append((time.perf_counter() - t) * 1000)
        if same != frame.explore(s):
            raise SystemExit(f"frame and compile_decisions disagree for {s}")
    frame.close()

    print(f"explorer latency, {n_docs:,} documents, {args.moves} random settings "
          f"(kept documents from {min(kept):,} to {max(kept):,})")
    print("| path | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|")
    for label, v in (("explorer frame, one move (as the app runs it)", fast),
                     ("compile_decisions on the store: open + query + close", ref)):
        print(f"| {label} | {statistics.median(v):.1f} | {pct(v, 0.95):.1f} | {max(v):.1f} |")
    print(f"| explorer frame load, once per store version | {load_ms:.0f} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
