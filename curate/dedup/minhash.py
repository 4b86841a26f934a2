"""MinHash signatures for near-duplicate detection, for a whole batch of documents at once.

The signatures are bit-identical to what datasketch 2.x computes with
``MinHash(num_perm, seed=seed, scheme="affine32", hashfunc=H)`` updated with the UTF-8
bytes (``surrogatepass``) of every shingle, where ``H = datasketch_hashfunc(spec)``.
datasketch stays the oracle in the tests and the baseline in bench/bench_dedup.py.

datasketch 2.x "affine32" (read from datasketch/minhash.py, version 2.0.0):
  * permutations: ``gen = np.random.RandomState(seed)``;
    ``a = gen.randint(0, 2**31, num_perm, dtype=uint32) * 2 + 1`` (odd, so a bijection),
    then ``b = gen.randint(0, 2**32, num_perm, dtype=uint32)``, drawn in that order;
  * every input hash ``h = H(shingle)`` (must fit 32 bits) is pre-mixed once with the
    MurmurHash3 32-bit finalizer ``fmix32``;
  * ``phv_k = (a_k * fmix32(h) + b_k) mod 2**32`` (uint32 wraparound), signature =
    element-wise min over the shingles, stored as uint32; an empty MinHash is all 2**32-1.
  The Mersenne-prime arithmetic ``(a*h+b) % (2**61-1)`` belongs to the pre-2.0 "legacy"
  scheme only, which we do not produce.

Shingles: text -> NFKC -> casefold -> split on Unicode whitespace -> word n-grams joined by
one space. Scripts written without spaces between words (Han, Hiragana, Katakana, Thai,
Lao, Khmer, Myanmar) would give a Chinese paragraph one "word"; when such characters are at
least half of a document's non-space characters, its tokens are code points instead (the
whitespace dropped) and shingles are n consecutive code points joined with no separator.
A document with fewer tokens than ``ngram`` has no shingle and gets NO signature
(``has_sig`` False, row left at datasketch's empty value): two short texts must never
land in one cluster just because both are empty sets.

Default shingle hash ``poly64-fmix64-hi32`` (fixed by this specification, so stored
signatures survive library upgrades): for the shingle's UTF-8 bytes x_0..x_{L-1},
``p = sum_i (x_i + 1) * K**i mod 2**64`` with ``K = 0x9E3779B97F4A7C15``, then
``H = fmix64(p XOR L) >> 32`` (fmix64 = MurmurHash3's 64-bit finalizer). Being a
polynomial, it is computable for every shingle of a batch at once from one prefix sum
over the batch's bytes (K is odd, hence invertible mod 2**64), which is what makes it
far faster in numpy than calling xxhash once per shingle from Python. ``xxh32``
(xxhash.xxh32, seed 0) and ``sha1_hash32`` (datasketch's default) are offered as well.

Backends (same bits, checked against datasketch in tests/test_minhash.py):
  * ``numba`` (CPU default): Python encodes a batch into one byte buffer; one compiled
    pass per document NFKC-normalizes and casefolds by table, splits the words, hashes
    the shingles and takes the permutation minimum, with no (shingles x num_perm)
    temporaries. Python NFKC-normalizes first only the few texts the table cannot
    (composing marks, spacing accents; see _unicode_tables). Documents run in parallel
    over all cores (``threads``) while Python prepares the next batch. poly64 only; the
    other hashes call Python per shingle and take the numpy path.
  * ``numpy``: the same arithmetic as whole-array operations (used when numba is missing).
  * ``torch`` (default on GPUs): shingle hashes on the CPU (numba), permutations and
    minimum on the device.
"""
from __future__ import annotations

import hashlib
import re
import struct
import sys
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import xxhash

from curate.dedup.lsh_params import band_hashes, lsh_params  # noqa: F401  (re-exported for lsh.py)

if TYPE_CHECKING:
    from datasketch import LeanMinHash

HASH_POLY64 = "poly64-fmix64-hi32"
HASH_XXH32 = "xxh32"
HASH_SHA1_32 = "sha1_hash32"
HASH_NAMES = (HASH_POLY64, HASH_XXH32, HASH_SHA1_32)
SCHEME_AFFINE32 = "affine32"

EMPTY_VALUE = np.uint32(0xFFFFFFFF)  # datasketch's affine32 value of a MinHash that saw nothing

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_POLY_K = 0x9E3779B97F4A7C15
_POLY_K_INV = pow(_POLY_K, -1, 1 << 64)
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)
_FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)

# Scripts that separate words without spaces; Hangul is absent because Korean uses spaces.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+"
)


@dataclass(frozen=True)
class SignatureSpec:
    """Everything that fixes a signature's bits; stored next to the signatures."""

    num_perm: int = 128
    seed: int = 1
    ngram: int = 5
    hash_name: str = HASH_POLY64
    scheme: str = SCHEME_AFFINE32

    def __post_init__(self) -> None:
        if self.scheme != SCHEME_AFFINE32:
            raise ValueError(f"scheme must be {SCHEME_AFFINE32!r}, got {self.scheme!r}")
        if self.hash_name not in HASH_NAMES:
            raise ValueError(f"unknown hash_name {self.hash_name!r}; known: {', '.join(HASH_NAMES)}")
        if not 1 <= self.num_perm <= 1 << 16:
            raise ValueError(f"num_perm must be in 1..65536, got {self.num_perm}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if not 0 <= self.seed < 1 << 32:
            raise ValueError(f"seed must fit numpy's RandomState (0..2**32-1), got {self.seed}")

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


# --------------------------------------------------------------------------- shingles

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


def _normalize(text: str) -> str:
    if text.isascii():  # O(1) in CPython; NFKC leaves ASCII unchanged, casefold == lower
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def _is_char_mode(norm: str) -> bool:
    """True when at least half the non-space characters are in a script without word spaces."""
    if norm.isascii() or _UNSPACED.search(norm) is None:
        return False
    compact = "".join(norm.split())
    return 2 * (len(compact) - len(_UNSPACED.sub("", compact))) >= len(compact)


def shingles(text: str, ngram: int) -> list[str]:
    """The exact shingle strings of ``text`` (in order, repeats kept); [] when too short.

    Plain-Python reference of what :func:`signatures` hashes with numpy byte arithmetic.
    """
    norm = _normalize(text)
    if _is_char_mode(norm):
        chars = "".join(norm.split())
        return [chars[i : i + ngram] for i in range(len(chars) - ngram + 1)]
    words = norm.split()
    return [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]


def _encode(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- hashes


def _fmix64_int(h: int) -> int:
    s1, m1, s2, m2, s3 = _FMIX64
    h ^= h >> s1
    h = (h * m1) & _M64
    h ^= h >> s2
    h = (h * m2) & _M64
    return h ^ (h >> s3)


def _poly64(data: bytes) -> int:
    """sum (x_i + 1) * K**i mod 2**64 over the bytes x_i: the polynomial before finishing."""
    p = 0
    for x in reversed(data):  # Horner
        p = (p * _POLY_K + x + 1) & _M64
    return p


def poly64_hash32(data: bytes) -> int:
    """Scalar reference of ``poly64-fmix64-hi32`` (plain Python ints, no numpy)."""
    return _fmix64_int(_poly64(data) ^ len(data)) >> 32


def xxh32_hash32(data: bytes) -> int:
    return xxhash.xxh32_intdigest(data, seed=0)


def sha1_hash32(data: bytes) -> int:
    return struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0]


_SCALAR_HASHES: dict[str, Callable[[bytes], int]] = {
    HASH_POLY64: poly64_hash32,
    HASH_XXH32: xxh32_hash32,
    HASH_SHA1_32: sha1_hash32,
}


def datasketch_hashfunc(spec: SignatureSpec) -> Callable[[bytes], int]:
    """The ``hashfunc`` to give datasketch (it receives one shingle's UTF-8 bytes)."""
    return _SCALAR_HASHES[spec.hash_name]


_POWERS_CACHE: dict[int, np.ndarray] = {}
_POWERS_CACHE_MAX = 1 << 23  # 64 MiB per base; longer buffers are computed uncached


def _powers(k: int, n: int) -> np.ndarray:
    """k**i mod 2**64 for i < n (a view of a cached array when it fits)."""
    cached = _POWERS_CACHE.get(k)
    if cached is not None and len(cached) >= n:
        return cached[:n]
    size = n if n > _POWERS_CACHE_MAX else max(1 << 16, 1 << (n - 1).bit_length())
    out = np.full(size, k, dtype=np.uint64)
    out[0] = 1
    np.multiply.accumulate(out, out=out)  # wraps mod 2**64, as intended
    if size <= _POWERS_CACHE_MAX:
        _POWERS_CACHE[k] = out
    return out[:n]


def _fmix64_np(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = (np.uint64(c) for c in _FMIX64)
    h ^= h >> s1
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def _poly_span_hashes(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """poly64-fmix64-hi32 of every byte span buf[starts[i]:ends[i]] at once."""
    n = len(buf)
    prefix = np.empty(n + 1, dtype=np.uint64)
    prefix[0] = 0
    v = buf.astype(np.uint64)
    v += np.uint64(1)
    v *= _powers(_POLY_K, n)
    np.cumsum(v, out=prefix[1:])
    del v
    # sum over the span of (x_i+1) K**i, shifted to start at K**0 by K**-start
    p = prefix[ends] - prefix[starts]
    p *= _powers(_POLY_K_INV, n)[starts]
    p ^= (ends - starts).astype(np.uint64)
    return (_fmix64_np(p) >> np.uint64(32)).astype(np.uint32)


@dataclass(frozen=True)
class ShingleBatch:
    """Hashes of all shingles of a batch, in contiguous runs of one document each."""

    hashes: np.ndarray  # uint32 [S], H(shingle)
    seg_starts: np.ndarray  # int64 [G], first shingle of each run (strictly increasing)
    seg_docs: np.ndarray  # int64 [G], document index of each run
    has_sig: np.ndarray  # bool [n_docs]


def _group_hashes(
    norms: list[str], ngram: int, char_mode: bool, hash_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """(token counts per document, hashes of all shingles document after document).

    Byte-level equivalent of :func:`shingles` for many documents at once: the documents
    are joined by a space into one UTF-8 buffer, whitespace runs become one space (word
    mode) or vanish (char mode), and every shingle is a span of the compacted buffer.
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
        return counts, _poly_span_hashes(compact, starts, ends)
    fn = _SCALAR_HASHES[hash_name]
    raw = compact.tobytes()
    it = (fn(raw[s:e]) for s, e in zip(starts.tolist(), ends.tolist()))
    return counts, np.fromiter(it, dtype=np.uint32, count=total)


def _shingle_batch_numpy(texts: Sequence[str], spec: SignatureSpec) -> ShingleBatch:
    """Tokenize and hash every shingle of ``texts`` with whole-array numpy operations."""
    groups: dict[bool, tuple[list[int], list[str]]] = {False: ([], []), True: ([], [])}
    for i, text in enumerate(texts):
        norm = _normalize(text)
        docs, norms = groups[_is_char_mode(norm)]
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


# --------------------------------------------------------------------------- numba kernels
# Plain Python, compiled by _numba_kernels() on first use: importing numba costs about half
# a second that `import curate` should not pay. Compiling rebinds these module names to
# the compiled dispatchers, so compiled kernels call compiled helpers; cache=True keeps
# the machine code in __pycache__ between processes. The kernel reads the UTF-8 bytes of
# the text and reproduces shingles() exactly: NFKC and str.casefold() by table (it gives
# up on the few texts that need unicodedata.normalize, which then run again normalized),
# str.split()'s whitespace, the character-mode rule.

_U0, _U1, _U32 = np.uint64(0), np.uint64(1), np.uint64(32)
_UK = np.uint64(_POLY_K)
_USEP = np.uint64(0x20 + 1)  # a joining space enters the polynomial as (0x20 + 1) * K**i
_UM32 = np.uint64(_M32)
_UF64_S, _UF64_M1, _UF64_M2 = np.uint64(_FMIX64[0]), np.uint64(_FMIX64[1]), np.uint64(_FMIX64[3])
_UF32_S1, _UF32_M1, _UF32_S2, _UF32_M2 = (np.uint64(c) for c in _FMIX32[:4])
_LANES = 32  # shingle hashes padded to this multiple so the vectorized minimum has no tail
_TABLE = 1024  # K**-i for i < _TABLE, one lookup per token; longer tokens use _pow64
prange = range  # numba.prange once compiled


def _power_table(k: int) -> np.ndarray:
    out = np.full(_TABLE + 1, k, dtype=np.uint64)
    out[0] = 1
    return np.multiply.accumulate(out)  # wraps mod 2**64, as intended


_K_INV_POW = _power_table(_POLY_K_INV)
_UK_INV = np.uint64(_POLY_K_INV)
_ASCII_SPACE = np.array([chr(c).isspace() for c in range(128)])
# (byte + 1) after casefolding (for ASCII, text.lower()) of a byte inside a word's ASCII run;
# 0 where such a run stops (whitespace, or a non-ASCII byte)
_WORD_VALUE = np.array([0 if c >= 0x80 or chr(c).isspace() else ord(chr(c).lower()) + 1 for c in range(256)],
                       dtype=np.uint64)
_UK2 = np.uint64(pow(_POLY_K, 2, 1 << 64))
_UK3 = np.uint64(pow(_POLY_K, 3, 1 << 64))
_UK4 = np.uint64(pow(_POLY_K, 4, 1 << 64))


_NF_SLOW = 255  # _NF_CHECK's value for a code point whose documents go to unicodedata.normalize
# NFKC and casefold change nothing in planes 4-13 (unassigned) and 15-16 (private use);
# tests/test_minhash.py checks the tables against every code point
_SCANNED = (range(0, 0x40000), range(0xE0000, 0xF0000))


def _scanned() -> Iterator[int]:
    for r in _SCANNED:
        yield from r


def _two_level(values: dict[int, int], dtype) -> tuple[np.ndarray, np.ndarray]:
    """(block, entry): ``entry[block[cp >> 6] * 64 + (cp & 63)]`` is values[cp], or 0 for a
    code point not in values (block 0 is all zeros); cp beyond the last block reads 0."""
    n_blocks = (max(values, default=0) >> 6) + 1
    block = np.zeros(n_blocks, dtype=np.int32)
    for cp in values:
        block[cp >> 6] = 1
    used = np.flatnonzero(block)
    block[used] = np.arange(1, len(used) + 1, dtype=np.int32)
    entry = np.zeros((len(used) + 1) * 64, dtype=dtype)
    for cp, v in values.items():
        entry[block[cp >> 6] * 64 + (cp & 63)] = v
    return block, entry


def _room_for_shingles(ch: str, units: str) -> bool:
    """Whether the kernel may replace ch by units: u + 2s <= 2b, for u units, s of them
    unspaced, in place of b UTF-8 bytes.

    The kernel has room for as many shingles as a document has bytes, and that is enough
    when every code point (replaced or kept) satisfies this. In word mode each token takes
    at least one code point. In character mode the tokens are the units, and at least
    half of them are unspaced (sum u <= 2 sum s), so summing u + 2s <= 2b over the
    document gives sum u <= 2 sum b - 2 sum s <= 2 sum b - sum u.
    """
    unspaced = sum(1 for u in units if _UNSPACED.match(u))
    return len(units) + 2 * unspaced <= 2 * len(ch.encode("utf-8", "surrogatepass"))


def _unicode_tables() -> tuple[np.ndarray, ...]:
    """NFKC and str.casefold() for the kernel, a code point at a time.

    CPython folds each code point on its own, so a text's fold is its code points' folds
    joined. NFKC needs context, but not for most texts: by the Unicode quick check, a text
    whose code points are all NFKC_Quick_Check=Yes, with no non-starter after one of a
    higher combining class, is normalized. Replace each code point of a text by its own
    NFKC; when every one of those replacements consists of such starters, the result
    passes the quick check, and it has the text's full decomposition, so it is the text's
    NFKC. The kernel applies casefold(NFKC(cp)) to "mappable" code points (their NFKC
    replacement is made of Yes-starters, and whitespace stays whitespace), and gives up
    on the documents for which that is not enough (they go to unicodedata.normalize
    first): any code point that may compose with the one before it, any other code point
    that NFKC changes, a combining class out of order.

    * MAP: ``MAP_ENTRY[MAP_BLOCK[cp >> 6] * 64 + (cp & 63)]``, 0 when the kernel keeps cp
      as it is, else 1 + the index e of its replacement, which is the code points
      ``MAP_UNITS[e]:MAP_UNITS[e + 1]`` (any number), each given as its UTF-8 bytes'
      polynomial sum (x_j + 1) K**j, K**len and len, so the kernel appends it to a token
      like a code point of the text; MAP_UNSPACED[e] of them are in an unspaced script.
    * NF: ``NF_CHECK[NF_BLOCK[cp >> 6] * 64 + (cp & 63)]`` is 0 for a starter the map
      handles, the combining class (1..254) of a non-starter NFKC leaves as it is, and
      _NF_SLOW (255) for a code point that needs unicodedata.normalize.

    No replacement is whitespace unless its code point is (the kernel splits on the
    text's own code points), only code points of three UTF-8 bytes or more map into an
    unspaced script (_char_mode's first test), and every replacement passes
    _room_for_shingles; code points whose NFKC would not (most of the squared katakana
    words of U+3300..U+3357) are left to unicodedata. tests/test_minhash.py checks all
    this for every code point.
    """
    # Code points that may compose with the one before them, a superset of
    # NFKC_Quick_Check=Maybe: the Hangul vowel and trailing-consonant jamo that compose
    # algorithmically, and second halves of two-code-point canonical decompositions.
    maybe = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    check: dict[int, int] = {}
    replaced: dict[int, str] = {}
    nfkc_changes = []
    for cp in _scanned():
        ch = chr(cp)
        ccc = unicodedata.combining(ch)
        if ccc:
            check[cp] = ccc
        parts = unicodedata.decomposition(ch).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            maybe.add(int(parts[1], 16))
        if not unicodedata.is_normalized("NFKC", ch):
            nfkc_changes.append(cp)
        folded = ch.casefold()
        if folded != ch:
            replaced[cp] = folded
    check.update(dict.fromkeys(maybe, _NF_SLOW))
    for cp in nfkc_changes:
        ch = chr(cp)
        nfkc = unicodedata.normalize("NFKC", ch)
        units = nfkc.casefold()
        mappable = (check.get(cp, 0) == 0 and all(check.get(ord(u), 0) == 0 for u in nfkc)
                    and (all(u.isspace() for u in nfkc) if ch.isspace() else not any(u.isspace() for u in nfkc))
                    and _room_for_shingles(ch, units))
        if mappable:
            replaced[cp] = units
        else:
            check[cp] = _NF_SLOW
            replaced.pop(cp, None)  # never in the kernel's input: its documents get normalized
    replaced = {cp: s for cp, s in replaced.items() if s != chr(cp)}
    map_block, map_entry = _two_level({cp: e + 1 for e, cp in enumerate(replaced)}, np.int32)
    nf_block, nf_check = _two_level(check, np.uint8)
    units = [0]
    poly, kpow, length, unspaced = [], [], [], []
    for cp, s in replaced.items():
        for ch in s:
            data = ch.encode("utf-8", "surrogatepass")
            poly.append(_poly64(data))
            kpow.append(pow(_POLY_K, len(data), 1 << 64))
            length.append(len(data))
        units.append(len(poly))
        unspaced.append(sum(1 for ch in s if _UNSPACED.match(ch)))
    return (map_block, map_entry, np.array(units, dtype=np.int32), np.array(poly, dtype=np.uint64),
            np.array(kpow, dtype=np.uint64), np.array(length, dtype=np.int64), np.array(unspaced, dtype=np.int64),
            nf_block, nf_check)


(_MAP_BLOCK, _MAP_ENTRY, _MAP_UNITS, _MAP_POLY, _MAP_KPOW, _MAP_LEN, _MAP_UNSPACED,
 _NF_BLOCK, _NF_CHECK) = _unicode_tables()


def _map_entry(cp):
    """0 when the kernel keeps the code point as it is, else 1 + the index of its replacement."""
    b = cp >> 6
    if b >= _MAP_BLOCK.shape[0]:
        return 0
    return _MAP_ENTRY[_MAP_BLOCK[b] * 64 + (cp & 63)]


def _nf_check(cp):
    """_NF_CHECK's value of a code point (0 beyond its last block)."""
    b = cp >> 6
    if b >= _NF_BLOCK.shape[0]:
        return 0
    return _NF_CHECK[_NF_BLOCK[b] * 64 + (cp & 63)]


def _is_space(cp):
    """str.isspace() of a code point: what str.split() splits on."""
    if cp < 0x80:
        return 9 <= cp <= 13 or 28 <= cp <= 32
    return (cp == 0x85 or cp == 0xA0 or cp == 0x1680 or 0x2000 <= cp <= 0x200A or cp == 0x2028
            or cp == 0x2029 or cp == 0x202F or cp == 0x205F or cp == 0x3000)


def _is_unspaced(cp):
    """The code point ranges of _UNSPACED."""
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
    """_is_char_mode() of the document buf[lo:hi]."""
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
            else:  # counted after mapping, as _is_char_mode sees the normalized text
                nonspace += _MAP_UNITS[e] - _MAP_UNITS[e - 1]
                unspaced += _MAP_UNSPACED[e - 1]
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
    (see _unicode_tables): a _NF_SLOW code point, or a combining class after a higher one
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
                    if ccc == _NF_SLOW or (ccc != 0 and prev_ccc > ccc):
                        return -1
                    prev_ccc = ccc
                space = _is_space(c)
                if not space:
                    e = _map_entry(c)
        else:
            c, n, space, e = 0x20, 1, True, 0  # a final space closes the last token
        # Units to append: this code point, or each code point of its replacement. In
        # character mode every unit is a token of its own; whitespace only closes one.
        u, u_end = (_MAP_UNITS[e - 1], _MAP_UNITS[e]) if e else (0, 1)
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
                tp += _MAP_POLY[u] * kp
                kp *= _MAP_KPOW[u]
                length += _MAP_LEN[u]
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
        m = np.uint32(_M32)
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


_KERNEL_HELPERS = ("_is_space", "_is_unspaced", "_code_point", "_map_entry", "_nf_check", "_char_mode", "_pow64",
                   "_poly_finish", "_doc_shingle_hashes", "_doc_minhash", "_doc_kernel",
                   "_sort_unique_runs", "_merge_jaccards")
_INLINED = ("_is_space", "_is_unspaced", "_code_point", "_map_entry", "_nf_check", "_poly_finish")
_COMPILE_LOCK = threading.Lock()


_COMPILED: list = []  # [(serial, parallel) or None] once _numba_kernels() has run


def _numba_kernels() -> tuple[Callable, Callable] | None:
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
    return _numba_kernels() is not None

# --------------------------------------------------------------------------- permutations


def permutations(spec: SignatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) uint32 [num_perm], drawn exactly as datasketch 2.x draws them for affine32.

    np.random.RandomState is NumPy's frozen legacy generator: its stream is guaranteed not
    to change between NumPy versions, so the parameters are fixed by (seed, num_perm).
    """
    gen = np.random.RandomState(spec.seed)
    a = gen.randint(0, 1 << 31, spec.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, spec.num_perm, dtype=np.uint32)
    return a, b


def _fmix32_np(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = (np.uint32(c) for c in _FMIX32)
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def _minhash_numpy(batch: ShingleBatch, spec: SignatureSpec, sigs: np.ndarray, chunk: int) -> None:
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


def _mul32_exact(x, c_lo, c_hi):
    """(x * c) mod 2**32 in int64 without overflow: c = c_hi * 2**16 + c_lo, x < 2**32.

    Both partial products stay below 2**48, so no intermediate leaves int64's range; torch
    has no unsigned 32/64-bit multiply to lean on.
    """
    return (x * c_lo + (((x * c_hi) & 0xFFFF) << 16)) & _M32


def _minhash_torch(batch: ShingleBatch, spec: SignatureSpec, sigs: np.ndarray, device: str, chunk: int) -> None:
    import torch

    dev = torch.device(device)
    a_np, b_np = permutations(spec)
    a = torch.from_numpy(a_np.astype(np.int64)).to(dev)
    a_lo, a_hi = a & 0xFFFF, a >> 16
    b = torch.from_numpy(b_np.astype(np.int64)).to(dev)

    h = torch.from_numpy(batch.hashes.astype(np.int64)).to(dev)
    s1, m1, s2, m2, s3 = _FMIX32
    h = h ^ (h >> s1)
    h = _mul32_exact(h, m1 & 0xFFFF, m1 >> 16)
    h = h ^ (h >> s2)
    h = _mul32_exact(h, m2 & 0xFFFF, m2 >> 16)
    h = h ^ (h >> s3)

    n_sh = np.diff(np.append(batch.seg_starts, len(batch.hashes)))
    seg_of = torch.from_numpy(np.repeat(np.arange(len(n_sh), dtype=np.int64), n_sh)).to(dev)
    mins = torch.full((len(n_sh), spec.num_perm), _M32, dtype=torch.int64, device=dev)
    for c0 in range(0, len(h), chunk):
        hc = h[c0 : c0 + chunk, None]
        phv = (_mul32_exact(hc, a_lo, a_hi) + b) & _M32
        idx = seg_of[c0 : c0 + chunk, None].expand_as(phv)
        mins.scatter_reduce_(0, idx, phv, reduce="amin", include_self=True)
    sigs[batch.seg_docs] = mins.cpu().numpy().astype(np.uint32)


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


def _encode_batch(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes of the texts back to back, int64 offsets [n + 1]) for the numba kernel,
    which NFKC-normalizes and casefolds by table (see _unicode_tables): doing either in
    Python cost more than the whole kernel."""
    return _joined([t.encode("utf-8", "surrogatepass") for t in texts])


def _run_kernel(
    buf: np.ndarray, offsets: np.ndarray, spec: SignatureSpec, sigs: np.ndarray | None, threads: int | None,
    check: bool = True, wide: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (uncompacted: document d's at hashes[offsets[d]:]; uint32 H, or uint64
    when ``wide``) and counts (-1 for a document left to unicodedata, see _batch_kernel);
    fills sigs unless it is None."""
    serial, parallel = _numba_kernels()
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


def _kernel_pass(
    texts: Sequence[str], buf: np.ndarray, offsets: np.ndarray, spec: SignatureSpec, sigs: np.ndarray | None,
    threads: int | None, wide: bool = False, keep_hashes: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel over a batch (``buf``, ``offsets``: _encode_batch(texts)), then again over
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


def _shingle_batch(texts: Sequence[str], spec: SignatureSpec, threads: int | None = None) -> ShingleBatch:
    """Hashes of every shingle of ``texts``: the numba kernel for poly64 when numba is
    installed, else (or for xxh32 / sha1) the numpy path."""
    if spec.hash_name != HASH_POLY64 or _numba_kernels() is None:
        return _shingle_batch_numpy(texts, spec)
    buf, offsets = _encode_batch(texts)
    return _compact(*_kernel_pass(texts, buf, offsets, spec, None, threads))


def shingle_hashes(text: str, spec: SignatureSpec, backend: str | None = None) -> np.ndarray:
    """uint32 ``H(shingle)`` for the shingles of ``text``: what datasketch's hashfunc returns.

    ``backend="numpy"`` forces the numpy tokenizer (the numba one is the default).
    """
    if backend == "numpy":
        return _shingle_batch_numpy([text], spec).hashes
    return _shingle_batch([text], spec).hashes


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
        backend = "torch" if device != "cpu" else ("numba" if _numba_kernels() is not None else "numpy")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and _numba_kernels() is None:
        raise ValueError("backend 'numba' needs the numba package")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    sigs = np.full((len(texts), spec.num_perm), EMPTY_VALUE, dtype=np.uint32)
    has_sig = np.zeros(len(texts), dtype=bool)
    ranges = _sub_batches(texts, max_batch_chars)
    if backend == "numba" and spec.hash_name == HASH_POLY64:
        for lo, hi, (buf, offsets) in _prefetched(texts, ranges, _encode_batch, ahead=threads != 1):
            _, _, counts = _kernel_pass(texts[lo:hi], buf, offsets, spec, sigs[lo:hi], threads, keep_hashes=False)
            has_sig[lo:hi] = counts > 0
        return sigs, has_sig
    for lo, hi in ranges:
        batch = _shingle_batch(texts[lo:hi], spec, threads) if backend == "torch" else _shingle_batch_numpy(texts[lo:hi], spec)
        has_sig[lo:hi] = batch.has_sig
        if not len(batch.hashes):
            continue
        out = sigs[lo:hi]
        if backend == "torch":
            per_chunk = (1 << 27 if device != "cpu" else 1 << 21) // spec.num_perm
            _minhash_torch(batch, spec, out, device, chunk=max(1024, per_chunk))
        else:
            # 8 MiB of uint32 work per chunk: long contiguous rows, measured fastest
            _minhash_numpy(batch, spec, out, chunk=max(1024, (1 << 21) // spec.num_perm))
    return sigs, has_sig

# --------------------------------------------------------------------------- similarity


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
    if _numba_kernels() is None:
        sets = {i: set(shingles(texts[i], ngram)) for i in set(left.tolist()) | set(right.tolist())}
        return np.array([set_jaccard(sets[a], sets[b]) for a, b in zip(left.tolist(), right.tolist())])
    buf, offsets = _encode_batch(texts)
    values, starts, counts = _kernel_pass(texts, buf, offsets, SignatureSpec(ngram=ngram), None, threads, wide=True)
    sizes = _sort_unique_runs(values, starts, starts + counts)
    out = np.empty(len(left), dtype=np.float64)
    _merge_jaccards(values, starts, sizes, left, right, out)
    return out


def _sort_unique_runs(values, starts, ends):
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


def _merge_jaccards(values, starts, sizes, left, right, out):
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


def to_lean_minhash(sig: np.ndarray, spec: SignatureSpec) -> LeanMinHash:
    from datasketch import LeanMinHash

    return LeanMinHash(seed=spec.seed, hashvalues=np.asarray(sig, dtype=np.uint32), scheme=spec.scheme)
