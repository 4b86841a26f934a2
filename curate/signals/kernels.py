"""Compiled per-document loops of the scorers (numba), the same approach as MinHash's kernel.

Plain Python, compiled by compiled() on first use (importing numba costs about half a second
that `import curate` should not pay; cache=True keeps the machine code in __pycache__ between
processes). Without numba the same functions run as Python, slowly but with the same values.

ngram_kernel: Gopher's top and duplicated n-gram character counts of every document, from the
polars hashes of its words (gopher.ngram_char_fracs). An n-gram's key is the polynomial
h[i] * P**(n-1) + ... + h[i+n-1] (mod 2**64) of its word hashes, as the vectorized numpy
version it replaces computed it, and one open-addressing table per document and n finds
repeats: one pass over the words per n instead of a polars group_by / is_first_distinct over
all n-grams of the batch. Character counts are sums of integer word lengths (exact in float64),
so the values are those of the numpy version, bit for bit.

class_kernel: one pass over the UTF-8 bytes of every text, counting what shape's and
gopher_quality's regex passes counted (letters, digits, uppercase, whitespace, punctuation,
non-ASCII, "#", ellipses, CJK characters, whitespace-separated chunks with CJK removed and
those holding a letter). Character classes come from a table that polars' own regex engine
fills for every code point (class_table), so `\\p{L}` here is `\\p{L}` there, Unicode version
included.

token_kernel: text.TOKEN_RE's matches (Batch.tokens, the one tokenization every word-based
family shares), from the same bytes and table, in the order polars' extract_all finds them.

Before anything is compiled, an input under SMALL_INPUT bytes runs the kernels as Python (the
registry's probe batch at import would otherwise import numba). tests/test_signals_reference.py
checks every signal against the implementation these kernels replaced, value for value.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np

P = np.uint64(0x9E3779B97F4A7C15)  # the n-gram polynomial's multiplier (gopher.py)
_MIX = np.uint64(0xBF58476D1CE4E5B9)  # slot index of a key: its top bits after one multiply
_EMPTY = np.int64(-1)


def ngram_kernel(h, wlen, starts, scale, grams, top, out):
    """For document d (words h[starts[d]:starts[d+1]], lengths wlen) and rule k (n = grams[k] *
    scale[d] words per n-gram), out[d, k] =
    - top[k]: count x characters of the most frequent n-gram occurring at least twice (ties on
      the count: the largest count x characters), 0 when none repeats;
    - else: characters of the words covered by an n-gram occurrence repeating an earlier one.
    """
    n_docs = starts.shape[0] - 1
    longest = 0
    for d in range(n_docs):
        longest = max(longest, starts[d + 1] - starts[d])
    size = 16
    while size < 2 * longest:
        size *= 2
    slot_key = np.zeros(size, dtype=np.uint64)
    slot_pos = np.full(size, _EMPTY, dtype=np.int64)
    slot_cnt = np.zeros(size, dtype=np.int64)
    keys = np.zeros(longest + 1, dtype=np.uint64)
    cum = np.zeros(longest + 1, dtype=np.float64)
    for d in range(n_docs):
        s = starts[d]
        length = starts[d + 1] - s
        if length == 0:
            continue
        acc = 0.0
        for j in range(length):
            cum[j] = acc
            acc += wlen[s + j]
        cum[length] = acc
        for k in range(grams.shape[0]):
            n = grams[k] * scale[d]
            m = length - n + 1
            if m <= 0:
                out[d, k] = 0.0
                continue
            # Rolling: key[i+1] = (key[i] - h[i] * P**(n-1)) * P + h[i+n], exact mod 2**64.
            lead = np.uint64(1)
            key = h[s]
            for j in range(1, n):
                key = key * P + h[s + j]
                lead = lead * P
            keys[0] = key
            for i in range(1, m):
                key = (key - h[s + i - 1] * lead) * P + h[s + i + n - 1]
                keys[i] = key
            tsize = 16
            while tsize < 2 * m:
                tsize *= 2
            mask = np.uint64(tsize - 1)
            bits = 0
            while (1 << bits) < tsize:
                bits += 1
            shift = np.uint64(64 - bits)
            for t in range(tsize):
                slot_pos[t] = _EMPTY
            best_cnt = 0
            best_val = 0.0
            reach = 0  # words before this index are already counted as covered
            covered = 0.0
            is_top = top[k]
            for i in range(m):
                key = keys[i]
                t = (key * _MIX) >> shift
                while True:
                    p = slot_pos[t]
                    if p == _EMPTY:
                        slot_key[t] = key
                        slot_pos[t] = i
                        slot_cnt[t] = 1
                        first = -1
                        break
                    if slot_key[t] == key:
                        slot_cnt[t] += 1
                        first = p
                        break
                    t = (t + np.uint64(1)) & mask
                if is_top:
                    c = slot_cnt[t]
                    if c >= 2:
                        val = c * (cum[first + n] - cum[first])
                        if c > best_cnt:
                            best_cnt = c
                            best_val = val
                        elif c == best_cnt and val > best_val:
                            best_val = val
                elif first >= 0:
                    j = max(i, reach)
                    while j < i + n:
                        covered += wlen[s + j]
                        j += 1
                    reach = i + n
            out[d, k] = best_val if is_top else covered


# class_table bits, one per regex class the counts replace.
LETTER, DIGIT, UPPER, SPACE, PUNCT, CJK, LMN = 1, 2, 4, 8, 16, 32, 64
# class_kernel's output columns, in order.
CLASS_COLUMNS = ("chars", "letters", "digits", "upper", "space", "punct", "non_ascii", "hashes", "ellipses",
                 "cjk", "ws_words", "alpha_ws_words")
_HASH, _DOT, _ELLIPSIS = 0x23, 0x2E, 0x2026


def class_kernel(data, offsets, table, out):
    """out[d] = CLASS_COLUMNS counts of text d (UTF-8 bytes data[offsets[d]:offsets[d+1]]):
    `\\.\\.\\.+|…+` matches are the runs of 3+ dots and the runs of "…"; `\\S+` and
    `\\S*\\p{L}\\S*` on the text with CJK characters removed are the runs of non-space, non-CJK
    characters (a CJK character joins its neighbours) and those of them holding a letter."""
    for d in range(offsets.shape[0] - 1):
        i = offsets[d]
        end = offsets[d + 1]
        chars = letters = digits = upper = space = punct = non_ascii = hashes = ellipses = 0
        cjk = ws_words = alpha_ws = 0
        dots = 0
        in_ellipsis = False
        in_run = False
        run_alpha = False
        while i < end:
            b0 = data[i]
            if b0 < 0x80:
                cp = np.int64(b0)
                i += 1
            elif b0 < 0xE0:
                cp = (np.int64(b0 & 0x1F) << 6) | np.int64(data[i + 1] & 0x3F)
                i += 2
            elif b0 < 0xF0:
                cp = (np.int64(b0 & 0x0F) << 12) | (np.int64(data[i + 1] & 0x3F) << 6) | np.int64(data[i + 2] & 0x3F)
                i += 3
            else:
                cp = ((np.int64(b0 & 0x07) << 18) | (np.int64(data[i + 1] & 0x3F) << 12)
                      | (np.int64(data[i + 2] & 0x3F) << 6) | np.int64(data[i + 3] & 0x3F))
                i += 4
            cls = table[cp]
            chars += 1
            if cls & LETTER:
                letters += 1
            if cls & DIGIT:
                digits += 1
            if cls & UPPER:
                upper += 1
            if cls & SPACE:
                space += 1
            if cls & PUNCT:
                punct += 1
            if cp > 0x7F:
                non_ascii += 1
            if cp == _HASH:
                hashes += 1
            if cp == _DOT:
                dots += 1
            else:
                if dots >= 3:
                    ellipses += 1
                dots = 0
            if cp == _ELLIPSIS:
                if not in_ellipsis:
                    ellipses += 1
                in_ellipsis = True
            else:
                in_ellipsis = False
            if cls & CJK:
                cjk += 1
            elif cls & SPACE:
                if in_run and run_alpha:
                    alpha_ws += 1
                in_run = False
            else:
                if not in_run:
                    ws_words += 1
                    in_run = True
                    run_alpha = False
                if cls & LETTER:
                    run_alpha = True
        if dots >= 3:
            ellipses += 1
        if in_run and run_alpha:
            alpha_ws += 1
        out[d, 0] = chars
        out[d, 1] = letters
        out[d, 2] = digits
        out[d, 3] = upper
        out[d, 4] = space
        out[d, 5] = punct
        out[d, 6] = non_ascii
        out[d, 7] = hashes
        out[d, 8] = ellipses
        out[d, 9] = cjk
        out[d, 10] = ws_words
        out[d, 11] = alpha_ws


_APOS, _RSQUO, _DASH = 0x27, 0x2019, 0x2D  # text.py's joiners: ' ’ - .


def _decode(data, i):
    """(code point, next index) of the UTF-8 sequence at data[i] (valid UTF-8)."""
    b0 = data[i]
    if b0 < 0x80:
        return np.int64(b0), i + 1
    if b0 < 0xE0:
        return (np.int64(b0 & 0x1F) << 6) | np.int64(data[i + 1] & 0x3F), i + 2
    if b0 < 0xF0:
        return ((np.int64(b0 & 0x0F) << 12) | (np.int64(data[i + 1] & 0x3F) << 6)
                | np.int64(data[i + 2] & 0x3F)), i + 3
    return ((np.int64(b0 & 0x07) << 18) | (np.int64(data[i + 1] & 0x3F) << 12)
            | (np.int64(data[i + 2] & 0x3F) << 6) | np.int64(data[i + 3] & 0x3F)), i + 4


def token_kernel(data, offsets, table, fill, tok_doc, tok_start, tok_end, tok_len, tok_word):
    """text.TOKEN_RE's matches, in order (leftmost-first, as polars' extract_all finds them):
    a CJK character is a word; a run of other letters/marks/digits, joined by one of ' ’ - .
    before another such run, is a word; a run of other non-space characters is a symbol token.
    Returns the number of tokens; with `fill`, writes each one's doc, byte span, length in code
    points and whether it is a word."""
    count = 0
    for d in range(offsets.shape[0] - 1):
        i = offsets[d]
        end = offsets[d + 1]
        while i < end:
            cp, j = _decode(data, i)
            cls = table[cp]
            if cls & CJK:
                start, stop, n, word = i, j, 1, True
            elif cls & LMN:
                start, n, word = i, 1, True
                while j < end:  # letters, then (joiner letters)* while a letter follows the joiner
                    cp2, k = _decode(data, j)
                    c2 = table[cp2]
                    if (c2 & LMN) and not (c2 & CJK):
                        j = k
                        n += 1
                    elif (cp2 == _APOS or cp2 == _RSQUO or cp2 == _DASH or cp2 == _DOT) and k < end:
                        cp3, k3 = _decode(data, k)
                        c3 = table[cp3]
                        if (c3 & LMN) and not (c3 & CJK):
                            j = k3
                            n += 2
                        else:
                            break
                    else:
                        break
                stop = j
            elif cls & SPACE:
                i = j
                continue
            else:
                start, n, word = i, 1, False
                while j < end:
                    cp2, k = _decode(data, j)
                    if table[cp2] & (SPACE | LMN | CJK):
                        break
                    j = k
                    n += 1
                stop = j
            if fill:
                tok_doc[count] = d
                tok_start[count] = start
                tok_end[count] = stop
                tok_len[count] = n
                tok_word[count] = word
            count += 1
            i = stop
    return count


def gather_spans(data, start, end, out_data, out_offsets):
    """Bytes data[start[t]:end[t]] of every span back to back, with their offsets."""
    pos = 0
    for t in range(start.shape[0]):
        out_offsets[t] = pos
        for b in range(start[t], end[t]):
            out_data[pos] = data[b]
            pos += 1
    out_offsets[start.shape[0]] = pos


_TABLE: list[np.ndarray] = []


_CLASSES = ((LETTER, r"\p{L}"), (DIGIT, r"\p{Nd}"), (UPPER, r"\p{Lu}"), (SPACE, r"\s"), (PUNCT, r"\p{P}"),
            (LMN, r"[\p{L}\p{M}\p{N}]"))


def class_table() -> np.ndarray:
    """uint8 class bits of every code point (surrogates: 0), as polars' regex engine classifies
    them: about 0.3 s, once, then read from __pycache__ (keyed by the polars version, whose
    regex engine fixes the Unicode version, and by the patterns)."""
    with _COMPILE_LOCK:
        if not _TABLE:
            import hashlib
            from pathlib import Path

            import polars as pl

            from curate.signals.text import CJK_CHAR

            classes = (*_CLASSES, (CJK, CJK_CHAR))
            key = hashlib.sha256(repr((pl.__version__, classes)).encode()).hexdigest()[:16]
            cached = Path(__file__).with_name("__pycache__") / f"class_table-{key}.npy"
            try:
                bits = np.load(cached)
            except (OSError, ValueError):
                bits = None
            if bits is None or bits.shape != (0x110000,) or bits.dtype != np.uint8:
                cps = np.concatenate([np.arange(0, 0xD800), np.arange(0xE000, 0x110000)]).astype("<u4")
                chars = pl.Series(list(cps.tobytes().decode("utf-32-le")), dtype=pl.String)
                bits = np.zeros(0x110000, dtype=np.uint8)
                for bit, pattern in classes:
                    bits[cps[chars.str.contains(pattern).to_numpy()]] |= bit
                try:
                    cached.parent.mkdir(exist_ok=True)
                    tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")
                    np.save(tmp, bits)
                    os.replace(tmp, cached)
                except OSError:
                    pass  # a read-only installation computes it once per process
            _TABLE.append(bits)
        return _TABLE[0]


def utf8_buffers(series) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets [n + 1]) of a polars string Series without nulls."""
    import pyarrow as pa

    arr = series.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    _, offs, data = arr.buffers()
    offsets = np.frombuffer(offs, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return buf, np.ascontiguousarray(offsets)


def string_series(data: np.ndarray, offsets: np.ndarray):
    """A polars string Series of the UTF-8 strings data[offsets[i]:offsets[i+1]]."""
    import polars as pl
    import pyarrow as pa

    n = len(offsets) - 1
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return pl.Series(arr, dtype=pl.String)


_COMPILE_LOCK = threading.RLock()
_COMPILED: dict[str, Callable] = {}
_KERNELS = ("ngram_kernel", "class_kernel", "token_kernel", "gather_spans")
# Below this many bytes of input, before anything is compiled, a kernel runs as Python: the
# registry's probe batch at import (and a handful of short texts) pays no numba import.
SMALL_INPUT = 1 << 14


def compiled() -> dict[str, Callable]:
    """{name: compiled kernel}, or the plain Python functions when numba is not installed."""
    with _COMPILE_LOCK:
        if not _COMPILED:
            module = globals()
            try:
                import numba
            except ImportError:
                _COMPILED.update({name: _as_python(module[name]) for name in _KERNELS})
            else:
                jit = numba.njit(cache=True, nogil=True)
                module["_decode"] = numba.njit(cache=True, nogil=True, inline="always")(_decode)
                _COMPILED.update({name: jit(module[name]) for name in _KERNELS})
        return _COMPILED


def kernel(name: str, input_bytes: int) -> Callable:
    """The kernel `name` for an input of that size: compiled, or Python for a small input
    while nothing is compiled yet (same code, same values)."""
    if not _COMPILED and input_bytes < SMALL_INPUT:
        return _as_python(globals()[name])
    return compiled()[name]


def _as_python(fn: Callable) -> Callable:
    def run(*args):
        with np.errstate(over="ignore"):  # uint64 arithmetic wraps, as compiled
            return fn(*args)
    return run
