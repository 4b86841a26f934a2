"""signatures() and shingle_hashes(): pick the backend, cut the texts into batches.

``numba`` on "cpu" (numba_backend: the whole signature in the kernel), ``numpy`` when numba
is missing or asked for (numpy_backend), ``torch`` on any other device (shingle hashes on
the CPU, permutations and minimum in torch_backend). Every backend gives the same bits.
This is what the package's facade exports; nothing else in it calls this module.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curate.dedup.minhash import kernel, numba_backend, numpy_backend, torch_backend
from curate.dedup.minhash.hashing import HASH_POLY64
from curate.dedup.minhash.spec import EMPTY_VALUE, ShingleBatch, SignatureSpec


def _sub_batches(texts: Sequence[str], max_chars: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) ranges of about ``max_chars`` characters each."""
    ranges, start, size = [], 0, 0
    for i, text in enumerate(texts):
        size += len(text) + 1
        if size >= max_chars:
            ranges.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(texts):
        ranges.append((start, len(texts)))
    return ranges


def _shingle_batch(texts: Sequence[str], spec: SignatureSpec, threads: int | None = None) -> ShingleBatch:
    """Hashes of every shingle of ``texts``: the numba kernel for poly64 when numba is
    installed, else (or for xxh32 / sha1) the numpy path."""
    if spec.hash_name != HASH_POLY64 or kernel.numba_kernels() is None:
        return numpy_backend.shingle_batch(texts, spec)
    return numba_backend.shingle_batch(texts, spec, threads)


def shingle_hashes(text: str, spec: SignatureSpec, backend: str | None = None) -> np.ndarray:
    """uint32 ``H(shingle)`` for the shingles of ``text``: what datasketch's hashfunc returns.

    ``backend="numpy"`` forces the numpy tokenizer (the numba one is the default).
    """
    if backend == "numpy":
        return numpy_backend.shingle_batch([text], spec).hashes
    return _shingle_batch([text], spec).hashes


BACKENDS = ("numba", "numpy", "torch")


def signatures(
    texts: Sequence[str],
    spec: SignatureSpec = SignatureSpec(),
    device: str = "cpu",
    backend: str | None = None,
    max_batch_chars: int = 1 << 22,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of a batch: (sigs uint32 [n, num_perm], has_sig bool [n]).

    uint32 is datasketch's own storage dtype for affine32. Rows with has_sig False (fewer
    tokens than ``spec.ngram``) hold datasketch's empty value 2**32-1 and must be skipped
    by LSH. ``backend``: "numba", "numpy" or "torch"; default numba on "cpu" (numpy if
    numba is missing), torch on any other device (e.g. "cuda"); ``device="cpu",
    backend="torch"`` runs the torch kernel on CPU. ``threads``: CPU threads for the numba
    kernel, None = numba's default (all cores, or NUMBA_NUM_THREADS); 1 keeps everything
    on the calling thread. Texts are processed ``max_batch_chars`` at a time, which bounds
    the working memory (numba: about 6 bytes per character plus the output rows; numpy:
    about 60) independently of ``len(texts)``.
    """
    if backend is None:
        backend = "torch" if device != "cpu" else ("numba" if kernel.numba_kernels() is not None else "numpy")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and kernel.numba_kernels() is None:
        raise ValueError("backend 'numba' needs the numba package")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    sigs = np.full((len(texts), spec.num_perm), EMPTY_VALUE, dtype=np.uint32)
    has_sig = np.zeros(len(texts), dtype=bool)
    ranges = _sub_batches(texts, max_batch_chars)
    if backend == "numba" and spec.hash_name == HASH_POLY64:
        numba_backend.fill_signatures(texts, ranges, spec, sigs, has_sig, threads)
        return sigs, has_sig
    for lo, hi in ranges:
        if backend == "torch":
            batch = _shingle_batch(texts[lo:hi], spec, threads)
        else:
            batch = numpy_backend.shingle_batch(texts[lo:hi], spec)
        has_sig[lo:hi] = batch.has_sig
        if not len(batch.hashes):
            continue
        out = sigs[lo:hi]
        if backend == "torch":
            per_chunk = (1 << 27 if device != "cpu" else 1 << 21) // spec.num_perm
            torch_backend.minhash(batch, spec, out, device, chunk=max(1024, per_chunk))
        else:
            # 8 MiB of uint32 work per chunk: long contiguous rows, measured fastest
            numpy_backend.minhash(batch, spec, out, chunk=max(1024, (1 << 21) // spec.num_perm))
    return sigs, has_sig
