"""The ``numba`` backend (the CPU default), the Python side of the kernel.

Python encodes a batch into one byte buffer; one compiled pass per document (kernel.py)
NFKC-normalizes and casefolds by table, splits the words, hashes the shingles and takes
the permutation minimum, with no (shingles x num_perm) temporaries. Python NFKC-normalizes
first only the few texts the table cannot (composing marks, spacing accents; see
unicode_tables). Documents run in parallel over all cores (``threads``) while Python
prepares the next batch. poly64 only; the other hashes call Python per shingle and take
the numpy path (numpy_backend).

Called by dispatch (signatures, shingle hashes for torch_backend) and similarity
(pair_jaccards, on 64-bit hashes).
"""
from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from curate.dedup.minhash import kernel
from curate.dedup.minhash.spec import EMPTY_VALUE, ShingleBatch, SignatureSpec, permutations


def _nfkc(text: str) -> str:
    """unicodedata.normalize("NFKC", text), fully normalizing only the lines that need it.

    CPython's full normalization runs ~20x slower than its quick check, and one full-width
    comma sends a whole document through it. A line feed is a starter that never composes,
    decomposes or reorders, so NFKC of the text is NFKC of each line, joined.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    return "\n".join(
        line if unicodedata.is_normalized("NFKC", line) else unicodedata.normalize("NFKC", line)
        for line in text.split("\n")
    )


def _joined(encoded: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def encode_batch(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes of the texts back to back, int64 offsets [n + 1]) for the numba kernel,
    which NFKC-normalizes and casefolds by table (see unicode_tables): doing either in
    Python cost more than the whole kernel."""
    return _joined([t.encode("utf-8", "surrogatepass") for t in texts])


def _run_kernel(
    buf: np.ndarray, offsets: np.ndarray, spec: SignatureSpec, sigs: np.ndarray | None, threads: int | None,
    check: bool = True, wide: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (uncompacted: document d's at hashes[offsets[d]:]; uint32 H, or uint64
    when ``wide``) and counts (-1 for a document left to unicodedata, see
    kernel._batch_kernel); fills sigs unless it is None."""
    serial, parallel = kernel.numba_kernels()
    n = len(offsets) - 1
    hashes = np.empty(len(buf), dtype=np.uint64 if wide else np.uint32)
    shift = np.uint64(0 if wide else 32)
    counts = np.zeros(n, dtype=np.int64)
    if sigs is None:
        a = b = np.empty(0, dtype=np.uint32)
        sigs = np.empty((n, 0), dtype=np.uint32)
    else:
        a, b = permutations(spec)
    if threads == 1 or n < 2:
        serial(buf, offsets, spec.ngram, a, b, hashes, counts, sigs, check, shift)
    elif threads is None:
        parallel(buf, offsets, spec.ngram, a, b, hashes, counts, sigs, check, shift)
    else:
        import numba

        before = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            parallel(buf, offsets, spec.ngram, a, b, hashes, counts, sigs, check, shift)
        finally:
            numba.set_num_threads(before)
    return hashes, counts


def kernel_pass(
    texts: Sequence[str], buf: np.ndarray, offsets: np.ndarray, spec: SignatureSpec, sigs: np.ndarray | None,
    threads: int | None, wide: bool = False, keep_hashes: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel over a batch (``buf``, ``offsets``: encode_batch(texts)), then again over
    the NFKC of the texts it left to unicodedata. Returns (hashes, starts, counts): text d's
    shingle hashes are hashes[starts[d]:starts[d] + counts[d]] (with ``keep_hashes`` False,
    the left texts' are not kept). Fills sigs unless it is None."""
    hashes, counts = _run_kernel(buf, offsets, spec, sigs, threads, wide=wide)
    starts = offsets[:-1].copy()
    slow = np.flatnonzero(counts < 0)
    if len(slow):
        buf, offsets = _joined([_nfkc(texts[d]).encode("utf-8", "surrogatepass") for d in slow])
        redone_sigs = None if sigs is None else np.full((len(slow), spec.num_perm), EMPTY_VALUE, dtype=np.uint32)
        redone, counts[slow] = _run_kernel(buf, offsets, spec, redone_sigs, threads, check=False, wide=wide)
        if sigs is not None:
            sigs[slow] = redone_sigs
        if keep_hashes:
            starts[slow] = offsets[:-1] + len(hashes)
            hashes = np.concatenate([hashes, redone])
    return hashes, starts, counts


def _compact(hashes: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> ShingleBatch:
    docs = np.flatnonzero(counts > 0)
    n_sh = counts[docs]
    seg_starts = np.cumsum(n_sh) - n_sh
    idx = np.repeat(starts[docs] - seg_starts, n_sh) + np.arange(int(n_sh.sum()), dtype=np.int64)
    return ShingleBatch(hashes[idx], seg_starts, docs, counts > 0)


def shingle_batch(texts: Sequence[str], spec: SignatureSpec, threads: int | None = None) -> ShingleBatch:
    """Hashes of every shingle of ``texts`` by the kernel (poly64 only)."""
    buf, offsets = encode_batch(texts)
    return _compact(*kernel_pass(texts, buf, offsets, spec, None, threads))


def _prefetched(texts: Sequence[str], ranges: list[tuple[int, int]], prepare: Callable, ahead: bool) -> Iterator:
    """prepare(texts[lo:hi]) for each range, the next one computed in a thread while the
    caller works on the current one (the kernels release the GIL) when ``ahead``."""
    if not ahead or len(ranges) < 2:
        for lo, hi in ranges:
            yield lo, hi, prepare(texts[lo:hi])
        return
    with ThreadPoolExecutor(1, thread_name_prefix="minhash-prepare") as pool:
        pending = pool.submit(prepare, texts[ranges[0][0] : ranges[0][1]])
        for i, (lo, hi) in enumerate(ranges):
            prepared = pending.result()
            if i + 1 < len(ranges):
                nlo, nhi = ranges[i + 1]
                pending = pool.submit(prepare, texts[nlo:nhi])
            yield lo, hi, prepared


def fill_signatures(texts: Sequence[str], ranges: list[tuple[int, int]], spec: SignatureSpec, sigs: np.ndarray,
                    has_sig: np.ndarray, threads: int | None) -> None:
    """Fills sigs and has_sig for texts[lo:hi] of each range (poly64 only), encoding the
    next range in a thread unless ``threads`` is 1."""
    for lo, hi, (buf, offsets) in _prefetched(texts, ranges, encode_batch, ahead=threads != 1):
        _, _, counts = kernel_pass(texts[lo:hi], buf, offsets, spec, sigs[lo:hi], threads, keep_hashes=False)
        has_sig[lo:hi] = counts > 0
