"""Dedup benchmark: MinHash signatures, ours against datasketch and rensa.

    .venv/bin/python bench/bench_dedup.py [--docs 20000] [--num-perm 128] [--workers N]
        [--baseline-docs 2000] [--scale 10000 100000 1000000]

Texts come from sample_data/corpus/web-000.jsonl.gz when present (repeated up to --docs),
else from a fixed-seed synthetic corpus (Zipf-distributed words in sentences and
paragraphs). Every method runs in a fresh process (peak RSS is that process tree's), once
on one core and once on all cores: a multiprocessing pool over batches of BATCH_DOCS for
the baselines, numba's own threads (plus one thread preparing the next batch) for ours.
Slow baselines run on the first --baseline-docs documents only; rates are per second
either way, and every number in one table comes from one run on one machine, so compare
ratios. The scaling run feeds ours (all cores) 10k -> 1M documents in chunks of
SCALE_CHUNK, as curate/dedup/lsh.py does, keeping only a checksum, so its peak RSS is the
working memory. Prints markdown tables.
"""
from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.dedup.minhash import SignatureSpec, datasketch_hashfunc, shingles, signatures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH_DOCS = 500
SCALE_CHUNK = 20000


# --------------------------------------------------------------------------- corpus


def load_texts(n: int, seed: int = 0) -> tuple[list[str], str]:
    path = ROOT / "sample_data" / "corpus" / "web-000.jsonl.gz"
    texts: list[str] = []
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    text = json.loads(line).get("text")
                except (ValueError, AttributeError):
                    continue
                if isinstance(text, str):
                    texts.append(text)
    if len(texts) >= n:
        return texts[:n], "sample_data/corpus/web-000.jsonl.gz"
    if texts:
        return (texts * (n // len(texts) + 1))[:n], f"sample_data/corpus/web-000.jsonl.gz ({len(texts)} docs repeated)"
    return synthetic_texts(n, seed), "synthetic (Zipf words, seed %d)" % seed


def synthetic_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    p = 1.0 / np.arange(1, 27) ** 0.9
    vocab = ["".join(rng.choice(letters, int(rng.integers(1, 11)), p=p / p.sum())) for _ in range(30000)]
    zipf = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    zipf /= zipf.sum()
    texts = []
    for _ in range(n):
        n_words = int(rng.lognormal(6.0, 0.8)) + 1  # median ~400 words, long tail
        words = rng.choice(vocab, n_words, p=zipf)
        out, i = [], 0
        while i < n_words:
            k = int(rng.integers(5, 25))
            sentence = " ".join(words[i : i + k])
            out.append(sentence[:1].upper() + sentence[1:] + ".")
            out.append("\n\n" if rng.random() < 0.15 else " ")
            i += k
        texts.append("".join(out).strip())
    return texts


# --------------------------------------------------------------------------- stages


def ours_numba(texts: Sequence[str], spec: SignatureSpec, threads: int | None = 1):
    return signatures(texts, spec, backend="numba", threads=threads)


def ours_numpy(texts: Sequence[str], spec: SignatureSpec):
    return signatures(texts, spec, backend="numpy")


def ours_torch_cpu(texts: Sequence[str], spec: SignatureSpec):
    import torch

    torch.set_num_threads(1)  # one core means one core
    return signatures(texts, spec, backend="torch", threads=1)


def ours_xxh32(texts: Sequence[str], spec: SignatureSpec):
    return signatures(texts, SignatureSpec(spec.num_perm, spec.seed, spec.ngram, hash_name="xxh32"))


def datasketch_update_loop(texts: Sequence[str], spec: SignatureSpec):
    from datasketch import MinHash

    h = datasketch_hashfunc(SignatureSpec(spec.num_perm, spec.seed, spec.ngram, hash_name="xxh32"))
    out = []
    for text in texts:
        m = MinHash(spec.num_perm, seed=spec.seed, scheme="affine32", hashfunc=h)
        for s in shingles(text, spec.ngram):
            m.update(s.encode("utf-8", "surrogatepass"))
        out.append(m.hashvalues)
    return out


def datasketch_bulk(texts: Sequence[str], spec: SignatureSpec):
    from datasketch import MinHash

    h = datasketch_hashfunc(SignatureSpec(spec.num_perm, spec.seed, spec.ngram, hash_name="xxh32"))
    sets = ([s.encode("utf-8", "surrogatepass") for s in shingles(t, spec.ngram)] for t in texts)
    return [m.hashvalues for m in MinHash.bulk(sets, num_perm=spec.num_perm, seed=spec.seed, scheme="affine32", hashfunc=h)]


def rensa_rminhash(texts: Sequence[str], spec: SignatureSpec):
    from rensa import RMinHash

    out = []
    for text in texts:
        m = RMinHash(num_perm=spec.num_perm, seed=spec.seed)
        m.update(shingles(text, spec.ngram))
        out.append(m.digest())
    return out


@dataclass(frozen=True)
class Stage:
    fn: Callable
    slow: bool = False  # run on --baseline-docs documents only
    threaded: bool = False  # all cores = its own threads (fn(..., threads=N)), not a pool


STAGES: dict[str, Stage] = {
    "datasketch update() loop [xxh32]": Stage(datasketch_update_loop, slow=True),
    "datasketch MinHash.bulk [xxh32]": Stage(datasketch_bulk, slow=True),
    "rensa RMinHash (not datasketch-compatible)": Stage(rensa_rminhash),
    "ours numba [poly64]": Stage(ours_numba, threaded=True),
    "ours numpy [poly64]": Stage(ours_numpy),
    "ours torch cpu [poly64]": Stage(ours_torch_cpu),
    "ours [xxh32] (Python hash per shingle)": Stage(ours_xxh32, slow=True),
}


# --------------------------------------------------------------------------- harness


def _work(args):
    name, batch, spec = args
    STAGES[name].fn(batch, spec)
    return len(batch)


def _peak_rss_mib() -> float:
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(self_rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def _measure(name: str, texts: list[str], spec: SignatureSpec, workers: int, queue) -> None:
    stage = STAGES[name]
    warm = {"threads": workers} if stage.threaded else {}
    stage.fn(texts[:200], spec, **warm)  # imports, numba cache loads, thread start, outside the timing
    t0 = time.perf_counter()
    if stage.threaded:
        stage.fn(texts, spec, threads=workers)  # sub-batches itself, memory bounded
    elif workers == 1:
        for i in range(0, len(texts), BATCH_DOCS):
            stage.fn(texts[i : i + BATCH_DOCS], spec)
    else:
        batches = [(name, texts[i : i + BATCH_DOCS], spec) for i in range(0, len(texts), BATCH_DOCS)]
        with mp.get_context("fork").Pool(workers) as pool:
            sum(pool.imap_unordered(_work, batches))
    queue.put((time.perf_counter() - t0, _peak_rss_mib()))


def _measure_scale(texts: list[str], spec: SignatureSpec, queue) -> None:
    signatures(texts[:200], spec)
    t0 = time.perf_counter()
    checksum = 0
    for i in range(0, len(texts), SCALE_CHUNK):
        sigs, has_sig = signatures(texts[i : i + SCALE_CHUNK], spec)
        checksum ^= int(np.bitwise_xor.reduce(sigs[has_sig, 0])) if has_sig.any() else 0
    queue.put((time.perf_counter() - t0, _peak_rss_mib()))


def _in_child(target, *args) -> tuple[float, float]:
    # fork: the child inherits `texts` without a copy through a pipe. The parent never
    # runs numba's threads itself, so no OpenMP runtime is forked mid-flight.
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def run_stage(name: str, texts: list[str], spec: SignatureSpec, workers: int) -> tuple[float, float]:
    return _in_child(_measure, name, texts, spec, workers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--baseline-docs", type=int, default=2000, help="documents for the slow baselines")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", nargs="*", help="substrings of stage names to run")
    ap.add_argument("--scale", type=int, nargs="*", default=[10_000, 100_000, 1_000_000],
                    help="document counts for the scaling run of ours (none: skip)")
    args = ap.parse_args()

    spec = SignatureSpec(num_perm=args.num_perm)
    texts, origin = load_texts(max([args.docs, *args.scale]))
    print(f"corpus: {origin}; num_perm={spec.num_perm}, ngram={spec.ngram}; "
          f"{args.workers} workers for 'all cores'; load average {os.getloadavg()[0]:.1f}\n")
    print("| method | cores | docs | docs/s | MB/s | MB/s per core | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, stage in STAGES.items():
        if args.only is not None and not any(s in name for s in args.only):
            continue
        subset = texts[: args.baseline_docs if stage.slow else args.docs]
        mb = sum(len(t.encode()) for t in subset) / 1e6
        for workers in sorted({1, args.workers}):
            seconds, rss = run_stage(name, subset, spec, workers)
            print(f"| {name} | {workers} | {len(subset)} | {len(subset) / seconds:,.0f} | {mb / seconds:.1f} "
                  f"| {mb / seconds / workers:.1f} | {rss:.0f} |", flush=True)
    if args.scale:
        print(f"\nscaling, ours numba [poly64], all cores, chunks of {SCALE_CHUNK} documents:\n")
        print("| docs | MB | seconds | docs/s | MB/s | peak RSS MiB |")
        print("|---|---|---|---|---|---|")
        for n in args.scale:
            subset = texts[:n]
            mb = sum(len(t.encode()) for t in subset) / 1e6
            seconds, rss = _in_child(_measure_scale, subset, spec)
            print(f"| {n:,} | {mb:,.0f} | {seconds:.1f} | {n / seconds:,.0f} | {mb / seconds:.1f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
