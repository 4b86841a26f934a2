"""LSH banding parameters and band bucket hashes (pure; the store groups the buckets).

Candidates from LSH are verified afterwards against the estimated (or exact) Jaccard, so
a false positive costs one comparison while a false negative is a duplicate left in the
training data: the default weights favour recall.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import xxhash

BAND_HASH_NAME = "xxh3_64(seed=0) of the band's num_rows uint32 values, little-endian"

RECALL_FP_WEIGHT = 0.2
RECALL_FN_WEIGHT = 0.8
MIN_BANDS = 2  # datasketch's MinHashLSH: "The number of bands are too small (b < 2)"


@lru_cache(maxsize=256)
def lsh_params(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = RECALL_FP_WEIGHT,
    false_negative_weight: float = RECALL_FN_WEIGHT,
) -> tuple[int, int]:
    """(bands, rows) minimizing datasketch's weighted false positive/negative areas, bands >= 2.

    datasketch's MinHashLSH refuses the single band its routine can return for a high
    threshold with few permutations ("b < 2"): one band of r rows finds a pair of Jaccard s
    with probability s**r, under one half at the threshold itself (0.95**15 = 0.46). Where the
    routine's optimum has one band we take the best setting with two or more, by the same
    weighted error; elsewhere the result is datasketch's.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if abs(false_positive_weight + false_negative_weight - 1.0) > 1e-9:
        raise ValueError("false_positive_weight + false_negative_weight must be 1.0")
    if num_perm < MIN_BANDS:
        raise ValueError(f"num_perm must be at least {MIN_BANDS} for LSH bands, got {num_perm}")
    # private in datasketch, but the reference routine
    from datasketch.lsh import _false_negative_probability, _false_positive_probability, _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)
    if bands >= MIN_BANDS:
        return int(bands), int(rows)

    def error(b: int, r: int) -> float:
        return (_false_positive_probability(threshold, b, r) * false_positive_weight
                + _false_negative_probability(threshold, b, r) * false_negative_weight)

    best = min(((b, r) for b in range(MIN_BANDS, num_perm + 1) for r in range(1, num_perm // b + 1)),
               key=lambda br: error(*br))
    return int(best[0]), int(best[1])


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 [n, bands]: bucket key of each band (signature columns b*rows .. (b+1)*rows-1).

    The key is xxh3_64 (seed 0) of the band's values as little-endian uint32 bytes, a hash
    fixed by its specification, so keys stored by earlier runs stay comparable.
    Columns past bands*rows are unused, as in datasketch's MinHashLSH.
    """
    sigs = np.asarray(sigs)
    if sigs.ndim != 2 or sigs.dtype != np.uint32:
        raise ValueError(f"sigs must be a 2-D uint32 array, got {sigs.dtype} {sigs.shape}")
    if bands < 1 or rows < 1 or bands * rows > sigs.shape[1]:
        raise ValueError(f"bands*rows = {bands}*{rows} exceeds num_perm {sigs.shape[1]}")
    n = sigs.shape[0]
    raw = np.ascontiguousarray(sigs[:, : bands * rows], dtype="<u4").tobytes()
    width = 4 * rows
    digest = xxhash.xxh3_64_intdigest
    out = np.fromiter(
        (digest(raw[i : i + width]) for i in range(0, n * bands * width, width)),
        dtype=np.uint64,
        count=n * bands,
    )
    return out.reshape(n, bands)
