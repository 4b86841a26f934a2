"""The batch text hash (ingest's) against the definition, text_hash, kept as the oracle."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import textnorm
from curate.textnorm import text_hash, text_hashes

# Every whitespace str.split() knows, case pairs, compatibility forms NFKC rewrites (ligatures,
# full-width letters, a non-breaking space), combining marks, characters case-folding expands
# (ß, İ), a lone surrogate, and the byte sequences next to the whitespace ones (U+2000's
# neighbours U+1FFF and U+200B, U+3001).
ODD = (" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
       "AaZz\u00df\u0130\ufb01\uff21\u0301e\u1fff\u200b\u3001\u180e\ud800\u00c0")
TEXTS = st.lists(st.text(alphabet=st.sampled_from(ODD), max_size=40) | st.text(max_size=40), max_size=20)


def _ascii_lower(s: str) -> str:
    return s.translate({c: c + 32 for c in range(65, 91)})


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_batch_hashes_are_the_definitions(texts):
    assert text_hashes(texts) == [text_hash(t) for t in texts]


@pytest.mark.parametrize("compiled", [False, True])
def test_batch_hashes_compiled_and_as_python(compiled, monkeypatch):
    texts = ["Hello\u3000World  \n", "  ", "", "ﬁne ＡＢＣ  Straße", "a\u2028b\x1cc", "x" * 30_000]
    if not compiled:
        monkeypatch.setattr(textnorm, "SMALL_INPUT", 1 << 40)
        monkeypatch.setattr(textnorm, "_COMPILED", [])
    assert textnorm._collapse_fn(sum(map(len, texts))) is (textnorm.collapse_ws if not compiled
                                                          else textnorm._collapse_fn(1 << 30))
    assert text_hashes(texts) == [text_hash(t) for t in texts]


def test_collapse_splits_on_exactly_what_str_split_splits_on():
    """"a" + c + "b" for every code point c: one space where c.isspace(), else the three
    characters (A-Z lowered)."""
    texts = ["a" + chr(c) + "b" for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    parts = [t.encode("utf-8") for t in texts]
    starts = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=starts[1:])
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
    out, out_starts = np.empty_like(buf), np.empty_like(starts)
    textnorm._collapse_fn(1 << 30)(buf, starts, out, out_starts)
    got = out.tobytes()
    wrong = [t for i, t in enumerate(texts)
             if got[out_starts[i]:out_starts[i + 1]] != _ascii_lower(" ".join(t.split())).encode("utf-8")]
    assert wrong == []
