"""Dedup benchmark: MinHash signatures, ours against datasketch, rensa and datatrove; then
clustering end to end (signatures + LSH + clusters), ours against datasketch and rensa.

    .venv/bin/python bench/bench_dedup.py [--docs 20000] [--num-perm 128] [--workers N]
        [--baseline-docs 2000] [--scale 10000 100000 1000000]
        [--cluster-docs 20000] [--dup-fraction 0.5] [--threshold 0.8] [--repeat 3] [--lang en]

Texts come from sample_data/corpus/web-000.jsonl.gz when present (repeated up to --docs;
with --lang, only the documents its labels give that language), else from a fixed-seed
synthetic corpus (Zipf-distributed words in sentences and paragraphs). Every method runs
in a fresh process (peak RSS is that process tree's), --repeat times on one core and as
often on all cores, in round robin over the methods, and the fastest run is reported. All
cores means a multiprocessing pool over batches of BATCH_DOCS for the baselines, numba's
own threads (plus one thread preparing the next batch) for ours.
Slow baselines run on the first --baseline-docs documents only; rates are per second
either way, and every number in one table comes from one run on one machine, so compare
ratios. The scaling run feeds ours (all cores) 10k -> 1M documents in chunks of
SCALE_CHUNK, as curate/dedup/lsh.py does, keeping only a checksum, so its peak RSS is the
working memory. Prints markdown tables.

datatrove is a benchmark dependency only (`pip install datatrove regex spacy`; not its
[processing] extra, which pins xxhash<4); curate never imports it. Its row calls
MinhashDedupSignature's own get_shingles (simplify_text, spaCy blank-English words, 5-word
n-grams, xxh64) and get_signature on in-memory texts; the stage's run() (which writes
and sorts per-bucket files) is not timed. Its config is buckets x hashes per bucket, set
to ours' LSH banding at threshold 0.8 (14 x 9 = 126 hashes for --num-perm 128). Its
64-bit signatures are not datasketch-compatible. Its xxhash64 helper hands str to xxhash,
which xxhash>=4 refuses, so the row hashes the UTF-8 bytes (what xxhash 3 did with str).

The clustering table runs every method on one corpus of --cluster-docs documents:
originals (distinct corpus texts, topped up with word-shuffled versions of them, which
share next to no 5-gram with their source) plus a --dup-fraction of perturbed copies of
them (each copy has 0-4 % of its words replaced: most land above a 0.8 threshold, some
below, and some, short ones mostly, are exact copies once whitespace is normalized).
Ours is the whole `curate dedup` job (recorded run, curate.dedup.lsh.dedup: signatures
-> bands -> verified pairs -> dup_clusters) on a DuckDB store that already holds the
documents (ingested untimed). datasketch (MinHash.bulk [xxh32] + MinHashLSH) and rensa
(RMinHash + RMinHashLSH) use the same shingles and the same bands x rows as ours (b14r9
at 0.8; rensa's index needs num_perm = bands x rows, so rensa signs with 126
permutations there), insert every document, query every document, keep candidates whose
estimated Jaccard is >= --threshold and union-find them; on all cores their signatures
come from a pool, their LSH runs on one thread. datatrove runs its own three stages
(MinhashDedupSignature writing and sorting signature files per bucket, MinhashDedupBuckets
per bucket, MinhashDedupCluster), with its buckets x hashes set to the same bands x rows,
its signature tasks split over the cores and its bucket tasks spread over them; it joins
every pair that shares a bucket, with no estimate, on its own shingles (see its signature
row above). One-core runs are pinned to one CPU (numba and DuckDB set to one thread).
"""
from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.dedup.lsh import setting_for  # noqa: E402
from curate.dedup.minhash import SignatureSpec, datasketch_hashfunc, shingles, signatures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BATCH_DOCS = 500
SCALE_CHUNK = 20000
DATATROVE_THRESHOLD = 0.8  # datatrove's buckets x hashes per bucket = ours' LSH banding here
MAX_EDIT = 0.04  # a perturbed copy has up to this fraction of its words replaced


# --------------------------------------------------------------------------- corpus


def _sample_langs() -> dict[str, str]:
    """Document id -> labelled language, from sample_data's ground truth."""
    path = ROOT / "sample_data" / "labels.jsonl.gz"
    if not path.exists():
        return {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return {r["id"]: r.get("lang") for r in map(json.loads, fh) if r.get("id")}


def load_texts(n: int, seed: int = 0, lang: str | None = None) -> tuple[list[str], str]:
    """n texts of web-000.jsonl.gz (repeated as needed), only those labelled ``lang`` if given."""
    path = ROOT / "sample_data" / "corpus" / "web-000.jsonl.gz"
    langs = _sample_langs() if lang else {}
    texts: list[str] = []
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                    text = record.get("text")
                except (ValueError, AttributeError):
                    continue
                if isinstance(text, str) and (lang is None or langs.get(record.get("id")) == lang):
                    texts.append(text)
    origin = "sample_data/corpus/web-000.jsonl.gz" + (f", documents labelled {lang!r}" if lang else "")
    if len(texts) >= n:
        return texts[:n], origin
    if texts:
        return (texts * (n // len(texts) + 1))[:n], f"{origin} ({len(texts)} docs repeated)"
    return synthetic_texts(n, seed), f"synthetic (Zipf words, seed {seed})"


def cluster_corpus(texts: Sequence[str], n: int, dup_fraction: float, seed: int = 0) -> tuple[list[str], str]:
    """n documents: distinct originals, then perturbed copies of them, shuffled."""
    n_copies = int(round(n * dup_fraction))
    n_orig = n - n_copies
    originals = list(dict.fromkeys(t for t in texts if t.strip()))[:n_orig]
    n_real = len(originals)
    rng = np.random.default_rng(seed)
    for i in range(n_orig - n_real):  # more originals: a distinct text's words in a new order
        words = originals[i % n_real].split()
        originals.append(" ".join(words[j] for j in rng.permutation(len(words))))
    docs = list(originals)
    for i in range(n_copies):
        words = originals[i % len(originals)].split()
        for j in rng.integers(0, len(words), int(rng.uniform(0, MAX_EDIT) * len(words))):
            words[j] = f"edit{rng.integers(10**9)}"
        docs.append(" ".join(words))
    docs = [docs[i] for i in rng.permutation(len(docs))]
    return docs, (f"{n_real} distinct texts + {n_orig - n_real} word-shuffled ones as originals, {n_copies} copies "
                  f"of originals with 0-{MAX_EDIT:.0%} of words replaced, in random order")


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
    return [m.hashvalues
            for m in MinHash.bulk(sets, num_perm=spec.num_perm, seed=spec.seed, scheme="affine32", hashfunc=h)]


def rensa_rminhash(texts: Sequence[str], spec: SignatureSpec):
    from rensa import RMinHash

    out = []
    for text in texts:
        m = RMinHash(num_perm=spec.num_perm, seed=spec.seed)
        m.update(shingles(text, spec.ngram))
        out.append(m.digest())
    return out


def datatrove_buckets(num_perm: int) -> tuple[int, int]:
    _, buckets, per_bucket = setting_for(DATATROVE_THRESHOLD, num_perm)
    return buckets, per_bucket


def datatrove_label(spec: SignatureSpec) -> str:
    buckets, per_bucket = datatrove_buckets(spec.num_perm)
    return (f"{buckets} buckets x {per_bucket} hashes = {buckets * per_bucket} [xxh64, spaCy words, in memory] "
            "(not datasketch-compatible)")


_DATATROVE_STEPS: dict = {}  # one step (and spaCy tokenizer) per process; forked workers inherit it


def _datatrove_config(spec: SignatureSpec, threshold: float):
    from datatrove.pipeline.dedup.minhash import MinhashConfig

    _, buckets, per_bucket = setting_for(threshold, spec.num_perm)  # ours' bands x rows
    return MinhashConfig(n_grams=spec.ngram, num_buckets=buckets, hashes_per_bucket=per_bucket, seed=spec.seed)


def _datatrove_signature_step(config, output_folder: str):
    import xxhash
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    step = MinhashDedupSignature(output_folder=output_folder, config=config)
    # datatrove's xxhash64(str) needs xxhash<4; xxhash 4 wants bytes: the same hash of the UTF-8 bytes.
    step._hash_func = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8"))
    return step


def datatrove_minhash(texts: Sequence[str], spec: SignatureSpec):
    step = _DATATROVE_STEPS.get(spec)
    if step is None:
        # output_folder is never written: only get_shingles and get_signature are called, not run()
        config = _datatrove_config(spec, DATATROVE_THRESHOLD)
        step = _DATATROVE_STEPS[spec] = _datatrove_signature_step(config, tempfile.gettempdir())
    out = []
    for text in texts:
        sh = step.get_shingles(text)
        out.append(step.get_signature(sh) if sh.size else None)  # run() skips empty documents too
    return out


@dataclass(frozen=True)
class Stage:
    fn: Callable
    slow: bool = False  # run on --baseline-docs documents only
    threaded: bool = False  # all cores = its own threads (fn(..., threads=N)), not a pool
    label: Callable[[SignatureSpec], str] | None = None  # settings shown after the name


STAGES: dict[str, Stage] = {
    "datasketch update() loop [xxh32]": Stage(datasketch_update_loop, slow=True),
    "datasketch MinHash.bulk [xxh32]": Stage(datasketch_bulk, slow=True),
    "rensa RMinHash (not datasketch-compatible)": Stage(rensa_rminhash),
    "datatrove MinhashDedupSignature": Stage(datatrove_minhash, slow=True, label=datatrove_label),
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
    while True:
        try:
            result = queue.get(timeout=1)
            break
        except Empty:
            if not proc.is_alive() and queue.empty():
                raise RuntimeError(f"{getattr(target, '__name__', target)} child exited with code {proc.exitcode} "
                                   "and no result") from None
    proc.join()
    return result


def run_stage(name: str, texts: list[str], spec: SignatureSpec, workers: int) -> tuple[float, float]:
    return _in_child(_measure, name, texts, spec, workers)


# --------------------------------------------------------------------------- clustering


def _datasketch_sign(texts: Sequence[str], spec: SignatureSpec) -> list:
    from datasketch import LeanMinHash, MinHash

    h = datasketch_hashfunc(SignatureSpec(spec.num_perm, spec.seed, spec.ngram, hash_name="xxh32"))
    sets = [[s.encode("utf-8", "surrogatepass") for s in shingles(t, spec.ngram)] for t in texts]
    done = iter(MinHash.bulk([s for s in sets if s], num_perm=spec.num_perm, seed=spec.seed, scheme="affine32",
                             hashfunc=h))
    return [LeanMinHash(next(done)) if s else None for s in sets]  # no shingles: no signature, as ours


def _datasketch_index(threshold: float, spec: SignatureSpec, bands: int, rows: int):
    from datasketch import MinHashLSH

    return MinHashLSH(threshold=threshold, num_perm=spec.num_perm, params=(bands, rows))


def _rensa_sign(texts: Sequence[str], spec: SignatureSpec) -> list:
    from rensa import RMinHash

    out = []
    for text in texts:
        sh = shingles(text, spec.ngram)
        m = None
        if sh:
            m = RMinHash(num_perm=spec.num_perm, seed=spec.seed)
            m.update(sh)
        out.append(m)
    return out


def _rensa_index(threshold: float, spec: SignatureSpec, bands: int, rows: int):
    from rensa import RMinHashLSH

    return RMinHashLSH(threshold=threshold, num_perm=spec.num_perm, num_bands=bands)  # rows = num_perm / bands


def _datatrove_stage(args) -> None:
    """One task of datatrove's MinHash pipeline: ("sign", config, folder, texts, rank, world)
    or ("buckets", config, folder, None, bucket, buckets)."""
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

    stage, config, folder, texts, rank, world = args
    if stage == "sign":
        docs = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
        _datatrove_signature_step(config, f"{folder}/sigs").run(docs, rank=rank, world_size=world)
    else:
        step = MinhashDedupBuckets(input_folder=f"{folder}/sigs", output_folder=f"{folder}/buckets", config=config)
        step.run(None, rank=rank, world_size=world)


def datatrove_pairs(texts: list[str], config, workers: int) -> set[tuple[int, int]]:
    """datatrove's own three MinHash stages with ``config`` (a MinhashConfig), as its
    LocalPipelineExecutor would run them: signatures (one task per core, each a contiguous
    share of the documents; written and sorted per bucket), then one task per bucket
    pairing equal bucket signatures, then the union-find that writes the ids to remove.
    Returns the pairs it found (document indices, smaller first), read back from its files."""
    import struct

    from datatrove.pipeline.dedup.minhash import MinhashDedupCluster

    shares = np.array_split(np.arange(len(texts)), workers)
    with tempfile.TemporaryDirectory(prefix="bench_datatrove_") as folder:
        sign = [("sign", config, folder, [texts[i] for i in share], r, workers) for r, share in enumerate(shares)]
        bucket = [("buckets", config, folder, None, b, config.num_buckets) for b in range(config.num_buckets)]
        if workers == 1:
            for task in sign + bucket:
                _datatrove_stage(task)
        else:
            with mp.get_context("fork").Pool(workers) as pool:
                pool.map(_datatrove_stage, sign)
                pool.map(_datatrove_stage, bucket)
        MinhashDedupCluster(input_folder=f"{folder}/buckets", output_folder=f"{folder}/remove",
                            config=config).run(None, 0, 1)
        first = np.cumsum([0] + [len(s) for s in shares])
        pairs = set()
        for path in Path(folder, "buckets").glob("*.dups"):
            for r1, d1, r2, d2 in struct.iter_unpack("<4I", path.read_bytes()):  # (rank, index in its share) x 2
                a, b = int(first[r1] + d1), int(first[r2] + d2)
                pairs.add((min(a, b), max(a, b)))  # a pair found in several buckets counts once
    return pairs


def quiet_datatrove() -> None:
    """Imports datatrove's MinHash stages with no progress bars (tqdm reads TQDM_DISABLE
    when imported) and no log lines (after the import, which adds its log handler)."""
    os.environ["TQDM_DISABLE"] = "1"
    import datatrove.pipeline.dedup.minhash  # noqa: F401
    from loguru import logger

    logger.remove()


def _datatrove_warm_up(spec: SignatureSpec, threshold: float) -> None:
    quiet_datatrove()
    step = _datatrove_signature_step(_datatrove_config(spec, threshold), tempfile.gettempdir())
    step.get_shingles("loads spaCy's tokenizer")


def _datatrove_pipeline(texts: list[str], spec: SignatureSpec, threshold: float, workers: int):
    """datatrove_pairs with its buckets x hashes set to ours' bands x rows."""
    pairs = datatrove_pairs(texts, _datatrove_config(spec, threshold), workers)
    return (len(pairs), *_components(len(texts), sorted(pairs)))


@dataclass(frozen=True)
class ClusterMethod:
    sign: Callable | None  # (texts, spec) -> [minhash or None]; None: ours, the curate dedup job
    index: Callable | None = None  # (threshold, spec, bands, rows) -> LSH index with insert(key, m), query(m)
    whole_bands: bool = False  # the index needs num_perm = bands x rows: sign with that many permutations
    pipeline: Callable | None = None  # (texts, spec, threshold, workers) -> counts: a peer's own whole pipeline
    warm_up: Callable | None = None  # (spec, threshold): its imports and models, loaded before the timing


def cluster_spec(method: ClusterMethod, spec: SignatureSpec, threshold: float) -> SignatureSpec:
    _, bands, rows = setting_for(threshold, spec.num_perm)
    if method.whole_bands and spec.num_perm != bands * rows:
        return SignatureSpec(bands * rows, spec.seed, spec.ngram, spec.hash_name)
    return spec


CLUSTER_METHODS: dict[str, ClusterMethod] = {
    "ours: curate dedup job (store -> dup_clusters)": ClusterMethod(None),
    "datasketch MinHash.bulk [xxh32] + MinHashLSH": ClusterMethod(_datasketch_sign, _datasketch_index),
    "rensa RMinHash + RMinHashLSH": ClusterMethod(_rensa_sign, _rensa_index, whole_bands=True),
    "datatrove MinhashDedupSignature + Buckets + Cluster [xxh64, spaCy words]":
        ClusterMethod(None, pipeline=_datatrove_pipeline, warm_up=_datatrove_warm_up, whole_bands=True),
}


def _components(n: int, edges: list[tuple[int, int]]) -> tuple[int, int]:
    """(clusters of two or more documents, documents that are not their cluster's first), by
    the union-find ours uses (curate.dedup.lsh)."""
    from curate.dedup import lsh

    pairs = np.array(edges, dtype=np.int64).reshape(-1, 2)
    _, sizes = np.unique(lsh._union_find(n, pairs[:, 0], pairs[:, 1]), return_counts=True)
    multi = sizes[sizes > 1]
    return len(multi), int(multi.sum()) - len(multi)


def _cluster_work(args):
    name, batch, spec = args
    return CLUSTER_METHODS[name].sign(batch, spec)


def _set_cores(workers: int) -> None:
    """One core: pinned to one CPU. numba (and, in the job, DuckDB) get as many threads as cores."""
    if workers == 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    try:
        import numba

        numba.set_num_threads(min(workers, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


def _baseline_clusters(name: str, texts: list[str], spec: SignatureSpec, threshold: float, workers: int):
    method = CLUSTER_METHODS[name]
    _, bands, rows = setting_for(threshold, spec.num_perm)
    spec = cluster_spec(method, spec, threshold)
    if workers == 1:
        sigs = method.sign(texts, spec)
    else:
        batches = [(name, texts[i : i + BATCH_DOCS], spec) for i in range(0, len(texts), BATCH_DOCS)]
        with mp.get_context("fork").Pool(workers) as pool:
            sigs = [m for part in pool.imap(_cluster_work, batches) for m in part]
    index = method.index(threshold, spec, bands, rows)
    for i, m in enumerate(sigs):
        if m is not None:
            index.insert(i, m)
    candidates, edges = 0, []
    for i, m in enumerate(sigs):
        if m is None:
            continue
        for j in index.query(m):
            if j > i:
                candidates += 1
                if m.jaccard(sigs[j]) >= threshold:
                    edges.append((i, j))
    return (candidates, *_components(len(texts), edges))


def _ours_clusters(db: Path, spec: SignatureSpec, threshold: float, workers: int):
    from curate import pipeline, store
    from curate.dedup import lsh

    with pipeline.recorded_run(db, "dedup", {"threshold": [threshold], "num_perm": spec.num_perm}) as ctx:
        ctx.con.execute(f"SET threads = {int(workers)}")
        rep = lsh.dedup(ctx.con, threshold, spec, ctx.run_id, device="cpu")
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0, counts_json=json.dumps(rep.__dict__))
    return rep.candidate_pairs, rep.clusters, rep.duplicates


def _measure_cluster(name: str, texts: list[str], spec: SignatureSpec, threshold: float, workers: int,
                     template: Path, queue) -> None:
    _set_cores(workers)
    method = CLUSTER_METHODS[name]
    with tempfile.TemporaryDirectory(prefix="bench_dedup_") as tmp:
        if method.pipeline is not None:
            method.warm_up(spec, threshold)
        elif method.sign is None:
            db = Path(tmp) / "store.duckdb"
            shutil.copyfile(template, db)  # a store holding the documents and nothing else, untimed
            signatures(texts[:200], spec)  # numba cache loads, outside the timing
            import pandas  # noqa: F401  (DuckDB imports it to register an Arrow table)

            import curate.pipeline  # noqa: F401

            setting_for(threshold, spec.num_perm)  # imports datasketch, as the baselines' warm-up does
        else:
            method.sign(texts[:200], spec)  # imports
        t0 = time.perf_counter()
        if method.pipeline is not None:
            counts = method.pipeline(texts, spec, threshold, workers)
        elif method.sign is None:
            counts = _ours_clusters(db, spec, threshold, workers)
        else:
            counts = _baseline_clusters(name, texts, spec, threshold, workers)
        seconds = time.perf_counter() - t0
    queue.put((seconds, _peak_rss_mib(), *counts))


def _build_store(texts: list[str], path: Path, queue) -> None:
    from curate import pipeline

    src = path.with_suffix(".jsonl")
    with open(src, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"d{i:08d}", "text": text}) + "\n")
    _, report = pipeline.ingest(path, [str(src)], pipeline.IngestOptions(id_field="id"))
    src.unlink()
    queue.put((report.documents, report.quarantined))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--baseline-docs", type=int, default=2000, help="documents for the slow baselines")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", nargs="*", help="substrings of method names to run (both tables)")
    ap.add_argument("--scale", type=int, nargs="*", default=[10_000, 100_000, 1_000_000],
                    help="document counts for the scaling run of ours (none: skip)")
    ap.add_argument("--cluster-docs", type=int, default=20000,
                    help="documents for the clustering table, every method on all of them (0: skip)")
    ap.add_argument("--dup-fraction", type=float, default=0.5,
                    help="fraction of the clustering corpus that is perturbed copies of the rest")
    ap.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold for the clustering table")
    ap.add_argument("--repeat", type=int, default=3,
                    help="signature table: runs per method and core count, the fastest reported")
    ap.add_argument("--lang", help="only sample documents labelled with this language (e.g. en)")
    args = ap.parse_args()

    spec = SignatureSpec(num_perm=args.num_perm)
    texts, origin = load_texts(max([args.docs, *args.scale, args.cluster_docs]), lang=args.lang)
    print(f"corpus: {origin}; num_perm={spec.num_perm}, ngram={spec.ngram}; "
          f"{args.workers} workers for 'all cores'; load average {os.getloadavg()[0]:.1f}\n")
    cells = [(name, stage, workers) for name, stage in STAGES.items()
             if args.only is None or any(x in name for x in args.only) for workers in sorted({1, args.workers})]
    # Round robin: every method once, then every method again, --repeat times, and the fastest
    # run of each reported. This machine slows down under minutes of load, so measuring one
    # method's repeats back to back would favour whichever methods come first.
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(args.repeat):
        for name, stage, workers in cells:
            subset = texts[: args.baseline_docs if stage.slow else args.docs]
            runs.setdefault((name, workers), []).append(run_stage(name, subset, spec, workers))
    print("| method | cores | docs | docs/s | MB/s | MB/s per core | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, stage, workers in cells:
        subset = texts[: args.baseline_docs if stage.slow else args.docs]
        mb = sum(len(t.encode()) for t in subset) / 1e6
        label = f"{name} {stage.label(spec)}" if stage.label else name
        seconds = min(r[0] for r in runs[name, workers])
        rss = max(r[1] for r in runs[name, workers])
        print(f"| {label} | {workers} | {len(subset)} | {len(subset) / seconds:,.0f} | {mb / seconds:.1f} "
              f"| {mb / seconds / workers:.1f} | {rss:.0f} |", flush=True)
    if args.scale:
        print(f"\nscaling, ours numba [poly64], all cores, chunks of {SCALE_CHUNK} documents:\n")
        print("| docs | MB | seconds | docs/s | MB/s | peak RSS MiB |")
        print("|---|---|---|---|---|---|")
        for n in args.scale:
            subset = texts[:n]
            mb = sum(len(t.encode()) for t in subset) / 1e6
            seconds, rss = _in_child(_measure_scale, subset, spec)
            print(f"| {n:,} | {mb:,.0f} | {seconds:.1f} | {n / seconds:,.0f} | {mb / seconds:.1f} | {rss:.0f} |",
                  flush=True)
    if args.cluster_docs:
        cluster(args, texts, spec)


def cluster(args, texts: list[str], spec: SignatureSpec) -> None:
    names = [n for n in CLUSTER_METHODS if args.only is None or any(s in n for s in args.only)]
    if not names:
        return
    docs, origin = cluster_corpus(texts, args.cluster_docs, args.dup_fraction)
    mb = sum(len(t.encode()) for t in docs) / 1e6
    setting, _, _ = setting_for(args.threshold, spec.num_perm)
    with tempfile.TemporaryDirectory(prefix="bench_dedup_") as tmp:
        template = Path(tmp) / "template.duckdb"
        stored, quarantined = _in_child(_build_store, docs, template)
        print(f"\nclustering end to end (signatures + LSH {setting} + clusters), threshold {args.threshold}; "
              f"{len(docs):,} documents, {mb:,.0f} MB: {origin}; {stored:,} stored, {quarantined} quarantined:\n")
        print("| method | cores | docs | seconds | docs/s | MB/s | peak RSS MiB | candidate pairs | clusters "
              "| duplicate docs |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name in names:
            used = cluster_spec(CLUSTER_METHODS[name], spec, args.threshold).num_perm
            label = f"{name} [{used} permutations: num_perm must be bands x rows]" if used != spec.num_perm else name
            for workers in sorted({1, args.workers}):
                seconds, rss, cand, clusters, dups = _in_child(
                    _measure_cluster, name, docs, spec, args.threshold, workers, template)
                print(f"| {label} | {workers} | {len(docs)} | {seconds:.1f} | {len(docs) / seconds:,.0f} "
                      f"| {mb / seconds:.1f} | {rss:.0f} | {cand:,} | {clusters:,} | {dups:,} |", flush=True)


if __name__ == "__main__":
    main()
