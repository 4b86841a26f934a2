"""Exact and estimated Jaccard similarity, of texts and of signatures.

exact_jaccard and set_jaccard define the similarity on shingling.shingles(); pair_jaccards
computes it for many pairs at once on the kernel's 64-bit shingle hashes (kernel,
numba_backend); the estimates compare signature positions, as datasketch does. Called by
curate.dedup.lsh (verifying candidate pairs), curate.evaluation and the ray engine.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curate.dedup.minhash import kernel, numba_backend
from curate.dedup.minhash.shingling import shingles
from curate.dedup.minhash.spec import SignatureSpec


def exact_jaccard(a: str, b: str, ngram: int) -> float:
    """Jaccard of the two shingle sets; 0.0 when either has no shingle (never a duplicate)."""
    return set_jaccard(set(shingles(a, ngram)), set(shingles(b, ngram)))


def pair_jaccards(texts: Sequence[str], left: np.ndarray, right: np.ndarray, ngram: int,
                  threads: int | None = None) -> np.ndarray:
    """exact_jaccard(texts[left[i]], texts[right[i]], ngram) for every i, float64.

    With numba, each text's shingles become the 64-bit finished polynomials of the
    poly64 hash (their high halves are H), sorted and deduplicated once, however many
    pairs the text is in, and each pair is one merge of two sorted arrays: two shingles
    count as equal when their 64-bit hashes are, so the result is exact unless two
    different shingles of a pair collide in 64 bits (about |A| |B| / 2**64). Without
    numba, Python sets of the shingle strings. ``threads``: as for :func:`signatures`.
    """
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    if kernel.numba_kernels() is None:
        sets = {i: set(shingles(texts[i], ngram)) for i in set(left.tolist()) | set(right.tolist())}
        return np.array([set_jaccard(sets[a], sets[b]) for a, b in zip(left.tolist(), right.tolist())])
    buf, offsets = numba_backend.encode_batch(texts)
    spec = SignatureSpec(ngram=ngram)
    values, starts, counts = numba_backend.kernel_pass(texts, buf, offsets, spec, None, threads, wide=True)
    # kernel.<name>, not imported names: numba_kernels() rebound them to the compiled kernels
    sizes = kernel.sort_unique_runs(values, starts, starts + counts)
    out = np.empty(len(left), dtype=np.float64)
    kernel.merge_jaccards(values, starts, sizes, left, right, out)
    return out


def set_jaccard(sa: set[str], sb: set[str]) -> float:
    """Jaccard of two shingle sets; 0.0 when either is empty."""
    if not sa or not sb:
        return 0.0
    inter = len(sa & sb)
    return inter / (len(sa) + len(sb) - inter)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal positions, as datasketch's MinHash.jaccard."""
    if sig_a.shape != sig_b.shape:
        raise ValueError(f"signature shapes differ: {sig_a.shape} vs {sig_b.shape}")
    return float(np.count_nonzero(sig_a == sig_b)) / sig_a.shape[-1]


def estimated_jaccard_pairs(sigs: np.ndarray, left: np.ndarray, right: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Estimated Jaccard of many candidate pairs (rows ``left[i]``, ``right[i]`` of ``sigs``)."""
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    out = np.empty(len(left), dtype=np.float64)
    for c0 in range(0, len(left), chunk):
        eq = sigs[left[c0 : c0 + chunk]] == sigs[right[c0 : c0 + chunk]]
        out[c0 : c0 + chunk] = np.count_nonzero(eq, axis=1) / sigs.shape[1]
    return out
