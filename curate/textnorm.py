"""Text normalization for exact-duplicate hashing.

Two documents are exact duplicates when their normalized texts are equal: Unicode NFKC,
case-folded, runs of whitespace collapsed to one space, ends stripped. The hash is
xxh3_128 (output fixed by its specification), so stored hashes stay valid across
library upgrades.

`text_hash` is the definition, one text at a time; `text_hashes` computes the same values for
a batch (ingest's), with the whitespace collapse in a compiled loop over the UTF-8 bytes
(tests/test_ingest_fast.py checks the two against each other).
"""
from __future__ import annotations

import threading
import unicodedata

import numpy as np
import xxhash

TEXT_HASH_NAME = "xxh3_128(nfkc+casefold+collapse-ws)"


def normalize_for_hash(text: str) -> str:
    # str.split() splits on exactly the characters re's \s matches (str.isspace), 10x faster.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(normalize_for_hash(text).encode("utf-8", "surrogatepass"))


def collapse_ws(buf, starts, out, out_starts):
    """For each text buf[starts[d]:starts[d+1]] (UTF-8): its whitespace runs collapsed to one
    space, both ends stripped and ASCII A-Z lowered, into out[out_starts[d]:out_starts[d+1]].

    Whitespace is what str.split() splits on (str.isspace: ASCII 9-13 and 28-32, U+0085,
    U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), matched as UTF-8
    sequences: a lead byte never occurs inside another character's sequence, so a match
    cannot straddle two characters. Lowering A-Z leaves a case-folded text as it is and
    case-folds an ASCII one.
    """
    n_docs = starts.shape[0] - 1
    o = 0
    for d in range(n_docs):
        out_starts[d] = o
        i, end = starts[d], starts[d + 1]
        pending = False  # a whitespace run after a word: one space, once the next word starts
        begun = False
        while i < end:
            b = buf[i]
            w = 0
            if b == 32 or 9 <= b <= 13 or 28 <= b <= 31:
                w = 1
            elif b == 0xC2 and i + 1 < end and (buf[i + 1] == 0x85 or buf[i + 1] == 0xA0):
                w = 2
            elif 0xE1 <= b <= 0xE3 and i + 2 < end:
                b1, b2 = buf[i + 1], buf[i + 2]
                if b == 0xE1:
                    w = 3 if b1 == 0x9A and b2 == 0x80 else 0
                elif b == 0xE2:
                    if b1 == 0x80 and (b2 <= 0x8A or b2 == 0xA8 or b2 == 0xA9 or b2 == 0xAF):
                        w = 3
                    elif b1 == 0x81 and b2 == 0x9F:
                        w = 3
                elif b1 == 0x80 and b2 == 0x80:
                    w = 3
            if w:
                pending = begun
                i += w
                continue
            if pending:
                out[o] = 32
                o += 1
                pending = False
            out[o] = b + 32 if 65 <= b <= 90 else b
            o += 1
            begun = True
            i += 1
    out_starts[n_docs] = o


_LOCK = threading.Lock()
_COMPILED: list = []
# Below this many bytes, before it is compiled, the loop runs as Python: a small ingest pays
# neither numba's import nor its compilation.
SMALL_INPUT = 1 << 14


def _collapse_fn(n_bytes: int):
    if not _COMPILED and n_bytes < SMALL_INPUT:
        return collapse_ws
    with _LOCK:
        if not _COMPILED:
            try:
                import numba
            except ImportError:
                _COMPILED.append(collapse_ws)
            else:
                _COMPILED.append(numba.njit(cache=True, nogil=True)(collapse_ws))
    return _COMPILED[0]


def _folded_utf8(text: str) -> bytes:
    """The UTF-8 of NFKC(text).casefold() up to ASCII case, which collapse_ws lowers: an ASCII
    text is its own NFKC form and needs no case-folding here."""
    if text.isascii():
        return text.encode("ascii")
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.casefold().encode("utf-8", "surrogatepass")


def text_hashes(texts: list[str]) -> list[str]:
    """[text_hash(t) for t in texts], computed a batch at a time."""
    parts = [_folded_utf8(t) for t in texts]
    starts = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=starts[1:])
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
    out = np.empty(max(len(buf), 1), dtype=np.uint8)
    out_starts = np.empty_like(starts)
    _collapse_fn(len(buf))(buf, starts, out, out_starts)
    view = memoryview(out)
    digest = xxhash.xxh3_128_hexdigest
    return [digest(view[a:b]) for a, b in zip(out_starts[:-1].tolist(), out_starts[1:].tolist())]
