"""NFKC and str.casefold() as lookup tables, a code point at a time, for the numba kernel.

Built once at import from the running Python's unicodedata. Only kernel reads them (and
tests/test_minhash.py, which checks them against every code point). The kernel reads
these arrays as globals, which numba freezes into the compiled code and its on-disk
cache; that cache is keyed on kernel.py's own source file alone, so a change to how the
tables are built here (or to shingling.UNSPACED) reaches the kernel only once kernel.py
is touched or its __pycache__ cleared.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import numpy as np

from curate.dedup.minhash.hashing import POLY_K, poly64
from curate.dedup.minhash.shingling import UNSPACED

NF_SLOW = 255  # NF_CHECK's value for a code point whose documents go to unicodedata.normalize
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
    unspaced = sum(1 for u in units if UNSPACED.match(u))
    return len(units) + 2 * unspaced <= 2 * len(ch.encode("utf-8", "surrogatepass"))


def _build_tables() -> tuple[np.ndarray, ...]:
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
      NF_SLOW (255) for a code point that needs unicodedata.normalize.

    No replacement is whitespace unless its code point is (the kernel splits on the
    text's own code points), only code points of three UTF-8 bytes or more map into an
    unspaced script (kernel._char_mode's first test), and every replacement passes
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
    check.update(dict.fromkeys(maybe, NF_SLOW))
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
            check[cp] = NF_SLOW
            replaced.pop(cp, None)  # never in the kernel's input: its documents get normalized
    replaced = {cp: s for cp, s in replaced.items() if s != chr(cp)}
    map_block, map_entry = _two_level({cp: e + 1 for e, cp in enumerate(replaced)}, np.int32)
    nf_block, nf_check = _two_level(check, np.uint8)
    units = [0]
    poly, kpow, length, unspaced = [], [], [], []
    for s in replaced.values():
        for ch in s:
            data = ch.encode("utf-8", "surrogatepass")
            poly.append(poly64(data))
            kpow.append(pow(POLY_K, len(data), 1 << 64))
            length.append(len(data))
        units.append(len(poly))
        unspaced.append(sum(1 for ch in s if UNSPACED.match(ch)))
    return (map_block, map_entry, np.array(units, dtype=np.int32), np.array(poly, dtype=np.uint64),
            np.array(kpow, dtype=np.uint64), np.array(length, dtype=np.int64), np.array(unspaced, dtype=np.int64),
            nf_block, nf_check)


(MAP_BLOCK, MAP_ENTRY, MAP_UNITS, MAP_POLY, MAP_KPOW, MAP_LEN, MAP_UNSPACED,
 NF_BLOCK, NF_CHECK) = _build_tables()
