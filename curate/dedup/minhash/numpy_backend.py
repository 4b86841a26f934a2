"""The ``numpy`` backend: whole-array shingle hashing and permutation minimum.

The same arithmetic as the numba kernel, as numpy operations over a whole batch: used
when numba is missing, for the xxh32 and sha1 hashes (which call Python per shingle), as
the reference the kernel is tested against, and (minhash) for ``backend="numpy"``.
Called by dispatch.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from curate.dedup.minhash.hashing import FMIX32, HASH_POLY64, SCALAR_HASHES, poly_span_hashes
from curate.dedup.minhash.shingling import is_char_mode, normalize
from curate.dedup.minhash.spec import EMPTY_VALUE, ShingleBatch, SignatureSpec, permutations

# Python's str.split() separators: the ASCII ones are found in the byte buffer by numpy,
# the others replaced by a space in non-ASCII text before encoding (NFKC already turns
# most of them, e.g. U+00A0 and U+3000, into U+0020). tests/test_minhash.py checks this
# list against str.isspace over all of Unicode.
_ASCII_WS = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "
_NON_ASCII_WS = re.compile(r"[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def _ascii_whitespace(buf: np.ndarray) -> np.ndarray:
    """Mask of the bytes in _ASCII_WS (9..13, 28..32); two uint8 range tests, no table gather."""
    ws = np.subtract(buf, 9, dtype=np.uint8) <= 4  # uint8 wraparound sends bytes < 9 above 4
    ws |= np.subtract(buf, 28, dtype=np.uint8) <= 4
    return ws


def _encode(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def _group_hashes(
    norms: list[str], ngram: int, char_mode: bool, hash_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """(token counts per document, hashes of all shingles document after document).

    Byte-level equivalent of :func:`shingling.shingles` for many documents at once: the
    documents are joined by a space into one UTF-8 buffer, whitespace runs become one space
    (word mode) or vanish (char mode), and every shingle is a span of the compacted buffer.
    """
    norms = [t if t.isascii() else _NON_ASCII_WS.sub(" ", t) for t in norms]
    encoded = [_encode(t) for t in norms]
    buf = np.frombuffer(b" ".join(encoded), dtype=np.uint8)
    ws = _ascii_whitespace(buf)
    tok = ~ws
    if char_mode:
        tok &= (buf & 0xC0) != 0x80  # a token is a code point: count UTF-8 lead bytes only
        keep = ~ws
    else:
        tok[1:] &= ws[:-1]  # a word starts after whitespace (or at 0)
        keep = ~ws
        keep[1:] |= ~ws[:-1]  # keep the first whitespace byte after a word, as the separator
    tok_pos = np.flatnonzero(tok)
    doc_starts = np.cumsum([0] + [len(e) + 1 for e in encoded[:-1]])
    counts = np.bincount(np.searchsorted(doc_starts, tok_pos, side="right") - 1, minlength=len(norms))
    # Positions in the compacted buffer: every kept byte before a token start.
    kept_before = np.cumsum(keep, dtype=np.int32 if len(buf) < 1 << 31 else np.int64)
    kept_before -= keep
    compact = buf[keep]
    tok_start = kept_before[tok_pos]
    if char_mode:
        tok_end = np.append(tok_start[1:], len(compact))
    else:
        # a word ends at its kept separator byte (made a plain space), the last word at the
        # buffer's end minus a trailing separator
        tok_end = np.append(tok_start[1:] - 1, len(compact) - bool(len(compact) and ws[-1]))
        compact[tok_end[:-1]] = 0x20
    n_sh = np.maximum(counts - ngram + 1, 0)
    first_tok = np.cumsum(counts) - counts
    first_sh = np.cumsum(n_sh) - n_sh
    total = int(n_sh.sum())
    # token index that starts each shingle: doc's first token + rank of the shingle in the doc
    start_tok = np.arange(total, dtype=np.int64) + np.repeat(first_tok - first_sh, n_sh)
    starts = tok_start[start_tok]
    ends = tok_end[start_tok + (ngram - 1)]
    if hash_name == HASH_POLY64:
        return counts, poly_span_hashes(compact, starts, ends)
    fn = SCALAR_HASHES[hash_name]
    raw = compact.tobytes()
    it = (fn(raw[s:e]) for s, e in zip(starts.tolist(), ends.tolist()))
    return counts, np.fromiter(it, dtype=np.uint32, count=total)


def shingle_batch(texts: Sequence[str], spec: SignatureSpec) -> ShingleBatch:
    """Tokenize and hash every shingle of ``texts`` with whole-array numpy operations."""
    groups: dict[bool, tuple[list[int], list[str]]] = {False: ([], []), True: ([], [])}
    for i, text in enumerate(texts):
        norm = normalize(text)
        docs, norms = groups[is_char_mode(norm)]
        docs.append(i)
        norms.append(norm)
    has_sig = np.zeros(len(texts), dtype=bool)
    hashes, seg_starts, seg_docs = [], [], []
    offset = 0
    for char_mode, (docs, norms) in groups.items():
        if not docs:
            continue
        counts, h = _group_hashes(norms, spec.ngram, char_mode, spec.hash_name)
        n_sh = np.maximum(counts - spec.ngram + 1, 0)
        signed = n_sh > 0
        doc_idx = np.asarray(docs, dtype=np.int64)
        has_sig[doc_idx[signed]] = True
        hashes.append(h)
        seg_starts.append(offset + (np.cumsum(n_sh) - n_sh)[signed])
        seg_docs.append(doc_idx[signed])
        offset += len(h)
    return ShingleBatch(
        np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint32),
        np.concatenate(seg_starts) if seg_starts else np.empty(0, dtype=np.int64),
        np.concatenate(seg_docs) if seg_docs else np.empty(0, dtype=np.int64),
        has_sig,
    )


def _fmix32_np(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = (np.uint32(c) for c in FMIX32)
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def minhash(batch: ShingleBatch, spec: SignatureSpec, sigs: np.ndarray, chunk: int) -> None:
    """sigs[d] = the signature of each document d of the batch, ``chunk`` shingles at a time."""
    a, b = (x[:, None] for x in permutations(spec))
    hv = _fmix32_np(batch.hashes)
    starts = batch.seg_starts
    # Permutation-major layout: every pass runs over `chunk` contiguous shingles per
    # permutation, and the per-document min is a reduceat along contiguous rows.
    mins = np.full((spec.num_perm, len(starts)), EMPTY_VALUE, dtype=np.uint32)
    work = np.empty((spec.num_perm, chunk), dtype=np.uint32)
    total = len(hv)
    for c0 in range(0, total, chunk):
        c1 = min(c0 + chunk, total)
        g0 = int(np.searchsorted(starts, c0, side="right")) - 1  # run that contains c0
        g1 = int(np.searchsorted(starts, c1, side="left"))  # runs starting before c1
        tmp = work[:, : c1 - c0]
        np.multiply(a, hv[None, c0:c1], out=tmp)  # uint32 wraparound = mod 2**32, as datasketch
        tmp += b
        local = np.maximum(starts[g0:g1] - c0, 0)
        part = np.minimum.reduceat(tmp, local, axis=1)
        np.minimum(mins[:, g0:g1], part, out=mins[:, g0:g1])
    sigs[batch.seg_docs] = mins.T
