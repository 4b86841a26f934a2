"""The numba kernel: one compiled pass per document from UTF-8 bytes to shingle hashes and
the MinHash minimum, and the sort-and-merge behind exact pair Jaccards.

Plain Python, compiled by numba_kernels() on first use: importing numba costs about half
a second that `import curate` should not pay. Compiling rebinds this module's names to
the compiled dispatchers, so compiled kernels call compiled helpers, and callers must
look the kernels up here at call time (``kernel.sort_unique_runs``), not import them;
cache=True keeps the machine code in __pycache__ between processes. The kernel reads the
UTF-8 bytes of the text and reproduces shingling.shingles() exactly: NFKC and
str.casefold() by table (unicode_tables; it gives up on the few texts that need
unicodedata.normalize, which then run again normalized), str.split()'s whitespace, the
character-mode rule; it hashes with hashing's poly64 and permutes as spec describes.

Driven by numba_backend (signatures, shingle hashes) and similarity (pair_jaccards).
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from curate.dedup.minhash.hashing import FMIX32, FMIX64, M32, POLY_K, POLY_K_INV
from curate.dedup.minhash.unicode_tables import (
    MAP_BLOCK,
    MAP_ENTRY,
    MAP_KPOW,
    MAP_LEN,
    MAP_POLY,
    MAP_UNITS,
    MAP_UNSPACED,
    NF_BLOCK,
    NF_CHECK,
    NF_SLOW,
)

_U0, _U1 = np.uint64(0), np.uint64(1)
_UK = np.uint64(POLY_K)
_USEP = np.uint64(0x20 + 1)  # a joining space enters the polynomial as (0x20 + 1) * K**i
_UM32 = np.uint64(M32)
_UF64_S, _UF64_M1, _UF64_M2 = np.uint64(FMIX64[0]), np.uint64(FMIX64[1]), np.uint64(FMIX64[3])
_UF32_S1, _UF32_M1, _UF32_S2, _UF32_M2 = (np.uint64(c) for c in FMIX32[:4])
_LANES = 32  # shingle hashes padded to this multiple so the vectorized minimum has no tail
_TABLE = 1024  # K**-i for i < _TABLE, one lookup per token; longer tokens use _pow64
prange = range  # numba.prange once compiled


def _power_table(k: int) -> np.ndarray:
    out = np.full(_TABLE + 1, k, dtype=np.uint64)
    out[0] = 1
    return np.multiply.accumulate(out)  # wraps mod 2**64, as intended


_K_INV_POW = _power_table(POLY_K_INV)
_UK_INV = np.uint64(POLY_K_INV)
_ASCII_SPACE = np.array([chr(c).isspace() for c in range(128)])
# (byte + 1) after casefolding (for ASCII, text.lower()) of a byte inside a word's ASCII run;
# 0 where such a run stops (whitespace, or a non-ASCII byte)
_WORD_VALUE = np.array([0 if c >= 0x80 or chr(c).isspace() else ord(chr(c).lower()) + 1 for c in range(256)],
                       dtype=np.uint64)
_UK2 = np.uint64(pow(POLY_K, 2, 1 << 64))
_UK3 = np.uint64(pow(POLY_K, 3, 1 << 64))
_UK4 = np.uint64(pow(POLY_K, 4, 1 << 64))


def _map_entry(cp):
    """0 when the kernel keeps the code point as it is, else 1 + the index of its replacement."""
    b = cp >> 6
    if b >= MAP_BLOCK.shape[0]:
        return 0
    return MAP_ENTRY[MAP_BLOCK[b] * 64 + (cp & 63)]


def _nf_check(cp):
    """NF_CHECK's value of a code point (0 beyond its last block)."""
    b = cp >> 6
    if b >= NF_BLOCK.shape[0]:
        return 0
    return NF_CHECK[NF_BLOCK[b] * 64 + (cp & 63)]


def _is_space(cp):
    """str.isspace() of a code point: what str.split() splits on."""
    if cp < 0x80:
        return 9 <= cp <= 13 or 28 <= cp <= 32
    return (cp == 0x85 or cp == 0xA0 or cp == 0x1680 or 0x2000 <= cp <= 0x200A or cp == 0x2028
            or cp == 0x2029 or cp == 0x202F or cp == 0x205F or cp == 0x3000)


def _is_unspaced(cp):
    """The code point ranges of shingling.UNSPACED."""
    return (0x0E00 <= cp <= 0x0EFF or 0x1000 <= cp <= 0x109F or 0x1780 <= cp <= 0x17FF
            or 0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x3134F)


def _code_point(buf, i):
    """(code point, byte length) of the UTF-8 sequence at buf[i]; the buffer is valid UTF-8
    (surrogates included, as 'surrogatepass' writes them) because Python encoded it."""
    c = np.int64(buf[i])
    if c < 0x80:
        return c, 1
    if c < 0xE0:
        return ((c & 0x1F) << 6) | (np.int64(buf[i + 1]) & 0x3F), 2
    if c < 0xF0:
        return ((c & 0x0F) << 12) | ((np.int64(buf[i + 1]) & 0x3F) << 6) | (np.int64(buf[i + 2]) & 0x3F), 3
    return (((c & 0x07) << 18) | ((np.int64(buf[i + 1]) & 0x3F) << 12)
            | ((np.int64(buf[i + 2]) & 0x3F) << 6) | (np.int64(buf[i + 3]) & 0x3F)), 4


def _char_mode(buf, lo, hi):
    """shingling.is_char_mode() of the document buf[lo:hi]."""
    for i in range(lo, hi):  # the unspaced scripts all start at U+0E00: 3-byte sequences
        if buf[i] >= 0xE0:
            break
    else:
        return False
    nonspace = 0
    unspaced = 0
    i = lo
    while i < hi:
        if buf[i] < 0x80:  # a branch, not a select, so i does not wait for the load
            nonspace += not _is_space(buf[i])
            i += 1
            continue
        cp, n = _code_point(buf, i)
        if not _is_space(cp):
            e = _map_entry(cp)
            if e == 0:
                nonspace += 1
                unspaced += _is_unspaced(cp)
            else:  # counted after mapping, as is_char_mode sees the normalized text
                nonspace += MAP_UNITS[e] - MAP_UNITS[e - 1]
                unspaced += MAP_UNSPACED[e - 1]
        i += n
    return unspaced > 0 and 2 * unspaced >= nonspace


def _pow64(base, e):
    """base**e mod 2**64 by squaring (tokens longer than _TABLE bytes only)."""
    r = _U1
    while e > 0:
        if e & 1:
            r *= base
        base *= base
        e >>= 1
    return r


def _poly_finish(p, length):
    """fmix64(p XOR length): H is its high half."""
    h = p ^ np.uint64(length)
    h ^= h >> _UF64_S
    h *= _UF64_M1
    h ^= h >> _UF64_S
    h *= _UF64_M2
    h ^= h >> _UF64_S
    return h


def _doc_shingle_hashes(buf, lo, hi, ngram, out, check, shift):
    """Writes H(shingle) (``shift`` 32; with 0, all 64 bits of the finished polynomial) of
    every shingle of the document buf[lo:hi], in order, to out; returns how many. Tokens
    are words, or code points in character mode.

    With ``check``, returns -1 as soon as the text turns out to need unicodedata.normalize
    (see unicode_tables): a NF_SLOW code point, or a combining class after a higher one
    (CPython's quick check, with the code points the map replaces as the starters they
    become). Without, the text must be NFKC already.

    The document's shingle stream is its tokens joined by one space (word mode) or by
    nothing; with P(x) = sum over the stream's bytes before position x of
    (byte + 1) * K**pos, a shingle spanning [s, e) has polynomial (P(e) - P(s)) * K**-s.
    So each token is hashed once, and each shingle costs one multiply, whatever ngram is.
    """
    char_mode = _char_mode(buf, lo, hi)
    sep = 0 if char_mode else 1
    ring_p = np.empty(ngram, np.uint64)  # P(s) of the last ngram tokens' starts s
    ring_inv = np.empty(ngram, np.uint64)  # K**-s
    ring_pos = np.empty(ngram, np.int64)  # s
    w = 0  # next ring slot; after a write it holds the oldest token's start
    n_tok = 0
    n_out = 0
    big_p, k_s, k_inv_s, pos = _U0, _U1, _U1, 0  # P, K**s, K**-s, s at the current token's start
    in_token = False
    tp, kp, length = _U0, _U1, 0  # the current token's own polynomial (from K**0), K**len, len
    prev_ccc = 0  # the combining class of the code point before (0 for ASCII)
    i = lo
    while i <= hi:
        if i < hi:
            c = np.int64(buf[i])
            if c < 0x80 and not char_mode and not _ASCII_SPACE[c]:
                # ASCII letters of a word, the common case: a tight loop
                if not in_token:
                    tp, kp, length, in_token = _U0, _U1, 0, True
                start = i
                # four bytes a step: one multiply of the running K**len per step, not per byte
                while i + 4 <= hi:
                    v0, v1 = _WORD_VALUE[buf[i]], _WORD_VALUE[buf[i + 1]]
                    v2, v3 = _WORD_VALUE[buf[i + 2]], _WORD_VALUE[buf[i + 3]]
                    if v0 == _U0 or v1 == _U0 or v2 == _U0 or v3 == _U0:
                        break
                    tp += (v0 + v1 * _UK + v2 * _UK2 + v3 * _UK3) * kp
                    kp *= _UK4
                    i += 4
                while i < hi:
                    v0 = _WORD_VALUE[buf[i]]
                    if v0 == _U0:
                        break
                    tp += v0 * kp
                    kp *= _UK
                    i += 1
                length += i - start
                prev_ccc = 0
                continue
            n = 1
            e = 0
            if c < 0x80:
                space = _ASCII_SPACE[c]
                prev_ccc = 0
            else:
                c, n = _code_point(buf, i)
                if check:
                    ccc = _nf_check(c)
                    if ccc == NF_SLOW or (ccc != 0 and prev_ccc > ccc):
                        return -1
                    prev_ccc = ccc
                space = _is_space(c)
                if not space:
                    e = _map_entry(c)
        else:
            c, n, space, e = 0x20, 1, True, 0  # a final space closes the last token
        # Units to append: this code point, or each code point of its replacement. In
        # character mode every unit is a token of its own; whitespace only closes one.
        u, u_end = (MAP_UNITS[e - 1], MAP_UNITS[e]) if e else (0, 1)
        while u < u_end:
            if in_token and (space or char_mode):
                ring_p[w], ring_inv[w], ring_pos[w] = big_p, k_inv_s, pos
                w = w + 1 if w + 1 < ngram else 0
                n_tok += 1
                in_token = False
                big_p += k_s * tp  # P at the token's end
                if n_tok >= ngram:
                    out[n_out] = _poly_finish((big_p - ring_p[w]) * ring_inv[w], pos + length - ring_pos[w]) >> shift
                    n_out += 1
                k_s *= kp  # K**length
                if sep:
                    big_p += _USEP * k_s
                    k_s *= _UK
                step = length + sep
                k_inv_s *= _K_INV_POW[step] if step < _TABLE else _pow64(_UK_INV, step)
                pos += step
            if space:
                break
            if not in_token:
                tp, kp, length, in_token = _U0, _U1, 0, True
            if e:  # the unit's own polynomial, K**len and len, from the map tables
                tp += MAP_POLY[u] * kp
                kp *= MAP_KPOW[u]
                length += MAP_LEN[u]
            elif c < 0x80:
                tp += _WORD_VALUE[c] * kp  # c is not whitespace: that broke out above
                kp *= _UK
                length += 1
            else:
                for j in range(i, i + n):
                    tp += (np.uint64(buf[j]) + _U1) * kp
                    kp *= _UK
                length += n
            u += 1
        i += n
    return n_out


def _doc_minhash(hashes, a, b, row):
    """row[k] = min over the shingles of (a[k] * fmix32(h) + b[k]) mod 2**32.

    Permutation-outer: the inner loop is a min-reduction over contiguous hashes, which
    LLVM vectorizes; padding with a repeat of the first hash (min is idempotent) spares
    it a scalar tail.
    """
    n = hashes.shape[0]
    padded = (n + _LANES - 1) // _LANES * _LANES
    hv = np.empty(padded, np.uint32)
    for j in range(n):
        h = np.uint64(hashes[j])
        h ^= h >> _UF32_S1
        h = (h * _UF32_M1) & _UM32
        h ^= h >> _UF32_S2
        h = (h * _UF32_M2) & _UM32
        h ^= h >> _UF32_S1
        hv[j] = np.uint32(h)
    for j in range(n, padded):
        hv[j] = hv[0]
    for k in range(a.shape[0]):
        ak, bk = a[k], b[k]
        m = np.uint32(M32)
        for j in range(padded):
            m = min(m, np.uint32(ak * hv[j] + bk))  # uint32 wraparound = mod 2**32
        row[k] = m


def _doc_kernel(buf, offsets, d, ngram, a, b, hashes, counts, sigs, check, shift):
    lo, hi = offsets[d], offsets[d + 1]
    n = _doc_shingle_hashes(buf, lo, hi, ngram, hashes[lo:hi], check, shift)  # shingles <= bytes
    counts[d] = n
    if n > 0 and a.shape[0] > 0:
        _doc_minhash(hashes[lo : lo + n], a, b, sigs[d])


def _batch_kernel(buf, offsets, ngram, a, b, hashes, counts, sigs, check, shift):
    """Document d: buf[offsets[d]:offsets[d+1]]; its shingle hashes go to hashes[offsets[d]:]
    (counts[d] of them; uint32 H, or with ``shift`` 0 into uint64 hashes, 64-bit ones) and,
    unless a is empty, its signature to sigs[d]; counts[d] is -1 (and sigs[d] untouched)
    when ``check`` finds that its text needs unicodedata.normalize."""
    for d in range(counts.shape[0]):
        _doc_kernel(buf, offsets, d, ngram, a, b, hashes, counts, sigs, check, shift)


def _batch_kernel_parallel(buf, offsets, ngram, a, b, hashes, counts, sigs, check, shift):
    for d in prange(counts.shape[0]):
        _doc_kernel(buf, offsets, d, ngram, a, b, hashes, counts, sigs, check, shift)


def sort_unique_runs(values, starts, ends):
    """Sorts each run values[starts[d]:ends[d]] in place and moves its distinct values to
    its front; returns how many each run has."""
    sizes = np.zeros(starts.shape[0], np.int64)
    for d in range(starts.shape[0]):
        lo, hi = starts[d], ends[d]
        if hi <= lo:
            continue
        values[lo:hi] = np.sort(values[lo:hi])
        k = lo + 1
        for i in range(lo + 1, hi):
            if values[i] != values[k - 1]:
                values[k] = values[i]
                k += 1
        sizes[d] = k - lo
    return sizes


def merge_jaccards(values, starts, sizes, left, right, out):
    """out[i] = |A & B| / |A | B| of the sorted distinct runs of left[i] and right[i] (0.0 when
    either is empty)."""
    for p in range(left.shape[0]):
        a, na = starts[left[p]], sizes[left[p]]
        b, nb = starts[right[p]], sizes[right[p]]
        if na == 0 or nb == 0:
            out[p] = 0.0
            continue
        i, j, inter = 0, 0, 0
        while i < na and j < nb:
            x, y = values[a + i], values[b + j]
            if x == y:
                inter += 1
                i += 1
                j += 1
            elif x < y:
                i += 1
            else:
                j += 1
        out[p] = inter / (na + nb - inter)


_KERNEL_HELPERS = ("_is_space", "_is_unspaced", "_code_point", "_map_entry", "_nf_check", "_char_mode", "_pow64",
                   "_poly_finish", "_doc_shingle_hashes", "_doc_minhash", "_doc_kernel",
                   "sort_unique_runs", "merge_jaccards")
_INLINED = ("_is_space", "_is_unspaced", "_code_point", "_map_entry", "_nf_check", "_poly_finish")
_COMPILE_LOCK = threading.Lock()


_COMPILED: list = []  # [(serial, parallel) or None] once numba_kernels() has run


def numba_kernels() -> tuple[Callable, Callable] | None:
    """(serial, parallel) batch kernels, or None when numba is not installed.

    The parallel kernel uses numba's default threading layer; with only GNU OpenMP
    available that layer is not fork-safe, so start worker processes with "spawn".
    """
    with _COMPILE_LOCK:
        if not _COMPILED:
            _COMPILED.append(_compile_kernels())
        return _COMPILED[0]


def _compile_kernels() -> tuple[Callable, Callable] | None:
    try:
        import numba
    except ImportError:
        return None
    module = globals()
    module["prange"] = numba.prange
    jit = numba.njit(cache=True, nogil=True)
    # numba-IR inlining: LLVM does not inline across separately cached functions
    inline = numba.njit(cache=True, nogil=True, inline="always")
    for name in _KERNEL_HELPERS:
        module[name] = (inline if name in _INLINED else jit)(module[name])
    serial = jit(_batch_kernel)
    parallel = numba.njit(cache=True, nogil=True, parallel=True)(_batch_kernel_parallel)
    return serial, parallel


def numba_available() -> bool:
    return numba_kernels() is not None
