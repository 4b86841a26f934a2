"""Gopher + C4 + FineWeb heuristics: curate.signals against datatrove, same documents, one core.

    python bench/bench_signals.py [--docs 3000] [--corpus PATH.jsonl.gz]

Each implementation runs in its own child process with one thread (POLARS_MAX_THREADS=1),
so docs/s and MB/s are per core and peak RSS is the child's own. datatrove is a benchmark
dependency only (`pip install datatrove spacy`); curate never imports it.

Agreement is the keep/drop verdict per family on the same document: ours keeps a document
when every signal of the family is inside its published default range; datatrove keeps it
when its filter returns True. datatrove's FineWeb filter is configured with the paper's
10 % duplicate-line-character threshold (its code ships 1 %), as ours is.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
DEFAULT_CORPUS = ROOT / "sample_data" / "corpus" / "web-000.jsonl.gz"


def load_docs(corpus: Path | None, n: int) -> tuple[list[str], str]:
    if corpus is not None and corpus.is_file():
        with gzip.open(corpus, "rt", encoding="utf-8", errors="replace") as fh:
            docs = [json.loads(line).get("text") or "" for line in fh if line.strip()]
        source = str(corpus.relative_to(ROOT) if corpus.is_relative_to(ROOT) else corpus)
    else:
        # No corpus built yet: the long descriptions of installed packages are real prose
        # mixed with markdown lists, tables and code, which exercises every rule.
        import importlib.metadata as md

        docs = []
        for dist in md.distributions():
            body = dist.metadata.get_payload() or ""
            docs += [s.strip() for s in body.split("\n## ") if len(s.strip()) > 200]
        source = "site-packages METADATA descriptions (fallback)"
    docs = [d for d in docs if d]
    out = (docs * (n // max(len(docs), 1) + 1))[:n]
    return out, source


def run_ours(docs: list[str]) -> dict:
    from curate.signals import REGISTRY, c4, fineweb, gopher
    from curate.signals.batch import Batch

    t0 = time.perf_counter()
    frames = []
    for i in range(0, len(docs), 1000):
        b = Batch(docs[i : i + 1000], ["en"] * len(docs[i : i + 1000]))
        import polars as pl

        frames.append(
            pl.concat([gopher.score_quality(b), gopher.score_repetition(b), c4.score(b), fineweb.score(b)],
                      how="horizontal")
        )
    import polars as pl

    df = pl.concat(frames)
    elapsed = time.perf_counter() - t0
    verdicts = {}
    for fam in FAMILIES:
        keep = pl.lit(True)
        for s in REGISTRY.family(fam):
            if s.default_min is not None:
                keep = keep & (pl.col(s.name) >= s.default_min)
            if s.default_max is not None:
                keep = keep & (pl.col(s.name) <= s.default_max)
        verdicts[fam] = df.select(keep.alias("k"))["k"].to_list()
    return {"seconds": elapsed, "verdicts": verdicts}


def run_datatrove(docs: list[str]) -> dict:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    filters = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb": FineWebQualityFilter(char_duplicates_ratio=0.1),
    }
    # Warm spaCy's tokenizer outside the timing (its first call builds the pipeline).
    for f in filters.values():
        f.filter(Document(text="Warm up the tokenizer. It is loaded lazily.", id="w"))
    t0 = time.perf_counter()
    verdicts = {fam: [] for fam in FAMILIES}
    for i, text in enumerate(docs):
        for fam, f in filters.items():
            res = f.filter(Document(text=text, id=str(i)))
            verdicts[fam].append(res is True or (isinstance(res, tuple) and res[0] is True))
    return {"seconds": time.perf_counter() - t0, "verdicts": verdicts}


def child(impl: str, n: int, corpus: Path | None) -> None:
    docs, source = load_docs(corpus, n)
    result = run_ours(docs) if impl == "ours" else run_datatrove(docs)
    result.update(
        impl=impl,
        docs=len(docs),
        mb=sum(len(d.encode("utf-8")) for d in docs) / 1e6,
        source=source,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    json.dump(result, sys.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--impl", choices=["ours", "datatrove"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.impl:
        child(args.impl, args.docs, args.corpus)
        return
    env = {**os.environ, "POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    results = {}
    for impl in ("ours", "datatrove"):
        out = subprocess.run(
            [sys.executable, __file__, "--impl", impl, "--docs", str(args.docs), "--corpus", str(args.corpus)],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        results[impl] = json.loads(out)
    ours, dt = results["ours"], results["datatrove"]
    print(f"corpus: {ours['source']}, {ours['docs']} docs, {ours['mb']:.1f} MB; one core each\n")
    print("| implementation | docs/s | MB/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|")
    for r, label in ((ours, "curate.signals (polars/numpy)"), (dt, "datatrove 4 filters (spaCy words)")):
        print(f"| {label} | {r['docs'] / r['seconds']:,.0f} | {r['mb'] / r['seconds']:.2f} | {r['peak_rss_mb']:.0f} |")
    print(f"\nspeed-up: {dt['seconds'] / ours['seconds']:.1f}x\n")
    print("| family | agreement | both keep | both drop | only ours keeps | only datatrove keeps |")
    print("|---|---:|---:|---:|---:|---:|")
    for fam in FAMILIES:
        a, b = ours["verdicts"][fam], dt["verdicts"][fam]
        pairs = list(zip(a, b))
        agree = sum(x == y for x, y in pairs) / len(pairs)
        print(
            f"| {fam} | {agree:.1%} | {sum(x and y for x, y in pairs)} | {sum(not x and not y for x, y in pairs)} "
            f"| {sum(x and not y for x, y in pairs)} | {sum(y and not x for x, y in pairs)} |"
        )


if __name__ == "__main__":
    main()
