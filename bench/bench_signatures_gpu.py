"""MinHash signatures on a GPU machine: numba on 1 thread and all cores, torch on CUDA.

    python bench/bench_signatures_gpu.py [--docs 40000]

Texts: sample_data/corpus/web-000.jsonl.gz repeated. Also checks CPU and CUDA bits agree.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curate.dedup import minhash as mh  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40_000)
    args = ap.parse_args()
    corpus = Path(__file__).resolve().parent.parent / "sample_data/corpus/web-000.jsonl.gz"
    base = [json.loads(line)["text"] for line in gzip.open(corpus, "rt", encoding="utf-8")]
    texts = (base * (args.docs // len(base) + 1))[: args.docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    spec = mh.SignatureSpec()
    runs = [("numba, 1 thread", dict(device="cpu", threads=1)), ("numba, all cores", dict(device="cpu"))]
    try:
        import torch

        if torch.cuda.is_available():
            runs.append(("torch, cuda", dict(device="cuda")))
    except ImportError:
        torch = None
    print("| method | docs | MB | seconds | MB/s |\n|---|---:|---:|---:|---:|")
    for name, kw in runs:
        mh.signatures(texts[:2000], spec, **kw)  # compile / warm up
        t0 = time.perf_counter()
        mh.signatures(texts, spec, **kw)
        if kw["device"] == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        print(f"| {name} | {len(texts):,} | {mb:.0f} | {dt:.2f} | {mb / dt:.1f} |")
    if any(kw["device"] == "cuda" for _, kw in runs):
        a, _ = mh.signatures(texts[:5000], spec, device="cpu")
        b, _ = mh.signatures(texts[:5000], spec, device="cuda")
        print(f"\nCPU and CUDA signatures bit-identical: {bool(np.array_equal(a, b))}")


if __name__ == "__main__":
    main()
