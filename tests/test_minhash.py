"""MinHash signatures against the datasketch oracle, shingling, LSH parameters and band keys."""
from __future__ import annotations

import struct
import sys
import unicodedata

import numpy as np
import pytest
import xxhash
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.lsh import _optimal_param
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.dedup import minhash as mh
from curate.dedup.lsh_params import band_hashes, lsh_params
from curate.dedup.minhash import (
    HASH_NAMES,
    SignatureSpec,
    datasketch_hashfunc,
    dispatch,
    estimated_jaccard,
    estimated_jaccard_pairs,
    exact_jaccard,
    kernel,
    numba_backend,
    numpy_backend,
    shingle_hashes,
    shingles,
    signatures,
    to_lean_minhash,
    torch_backend,
)
from curate.dedup.minhash.hashing import poly64
from curate.dedup.minhash.shingling import UNSPACED
from curate.dedup.minhash.unicode_tables import (
    MAP_BLOCK,
    MAP_ENTRY,
    MAP_POLY,
    MAP_UNITS,
    MAP_UNSPACED,
    NF_BLOCK,
    NF_CHECK,
    NF_SLOW,
    _room_for_shingles,
)

SPECS = [
    SignatureSpec(num_perm=128, seed=1),
    SignatureSpec(num_perm=64, seed=42, ngram=3),
    SignatureSpec(num_perm=17, seed=2**32 - 1, ngram=1),
    SignatureSpec(num_perm=32, seed=7, ngram=2, hash_name="xxh32"),
    SignatureSpec(num_perm=16, seed=3, ngram=4, hash_name="sha1_hash32"),
]

WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680",
              "\u2003", "\u2028", "\u2029", "\u202f", "\u3000"]
WORDS = ["the", "The", "THE", "café", "cafe\u0301", "ﬁne", "Straße", "ǅ", "😀", "👩‍👩‍👧", "e\u0301\u0302",
         "日本語", "中文文本", "テスト", "ไทย", "한국어", "x", "", "\ud800", "İstanbul", "Ⅻ", "a-b", "...",
         "ß", "ΐ", "ﬃ", "\u212a", "ſ", "ᏸ", "\U0001e900", "ŉ", "ΣΑΣ"]  # one-to-many and odd case folds

word_texts = st.lists(
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WHITESPACE)), max_size=40
).map(lambda parts: "".join(w + s for w, s in parts))
any_texts = st.one_of(
    word_texts,
    st.text(max_size=60),
    st.text(alphabet=st.sampled_from("ab 日本\n\u3000ßΐA"), max_size=30),
    st.sampled_from(["", " ", "one", "a b c", "a b c d e", "\u3000\u3000", "日本語のテキスト"]),
)


def oracle(text: str, spec: SignatureSpec) -> MinHash:
    m = MinHash(spec.num_perm, seed=spec.seed, scheme="affine32", hashfunc=datasketch_hashfunc(spec))
    for s in shingles(text, spec.ngram):
        m.update(s.encode("utf-8", "surrogatepass"))
    return m


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(any_texts, min_size=1, max_size=8), spec=st.sampled_from(SPECS))
def test_signatures_equal_datasketch(texts, spec):
    expected = [oracle(t, spec) for t in texts]
    for backend in ("numba", "numpy", "torch"):
        sigs, has_sig = signatures(texts, spec, device="cpu", backend=backend)
        assert sigs.dtype == np.uint32 and sigs.shape == (len(texts), spec.num_perm)
        for text, m, sig, has in zip(texts, expected, sigs, has_sig):
            assert has == (len(shingles(text, spec.ngram)) > 0)
            assert np.array_equal(sig, m.hashvalues), (backend, text)


@settings(max_examples=40, deadline=None)
@given(text=any_texts, spec=st.sampled_from(SPECS))
def test_shingle_hashes_are_the_hashfunc_of_each_shingle(text, spec):
    hashfunc = datasketch_hashfunc(spec)
    expected = [hashfunc(s.encode("utf-8", "surrogatepass")) for s in shingles(text, spec.ngram)]
    for backend in (None, "numpy"):
        got = shingle_hashes(text, spec, backend=backend)
        assert got.dtype == np.uint32
        assert got.tolist() == expected, backend


def test_long_texts_and_sub_batches_equal_one_at_a_time():
    rng = np.random.default_rng(0)
    vocab = [w for w in WORDS if w.strip()] + [f"w{i}" for i in range(300)]
    texts = [" \n".join(rng.choice(vocab, size=int(rng.integers(0, 3000)))) for _ in range(12)]
    texts += ["", "tiny", "日本語" * 400]
    spec = SignatureSpec(num_perm=64, seed=5)
    whole, has_whole = signatures(texts, spec)
    for max_chars in (1, 5000):  # many sub-batches: the prefetching thread's path
        for threads in (None, 1, 2):
            split, has_split = signatures(texts, spec, max_batch_chars=max_chars, threads=threads)
            assert np.array_equal(split, whole) and np.array_equal(has_split, has_whole)
    for backend in ("numpy", "torch"):
        other, has_other = signatures(texts, spec, backend=backend)
        assert np.array_equal(other, whole) and np.array_equal(has_other, has_whole)
    for text, sig, has in zip(texts, whole, has_whole):
        one, has_one = signatures([text], spec)
        assert np.array_equal(one[0], sig) and has_one[0] == has
        assert np.array_equal(sig, oracle(text, spec).hashvalues)


def test_long_tokens_and_many_documents():
    # words longer than the kernel's power table (kernel._TABLE bytes) take its _pow64 path
    long_word = "x" * (kernel._TABLE + 7)
    texts = [f"a {long_word} b c d e {long_word}y f", "日" * (kernel._TABLE + 3) + " z", long_word]
    spec = SignatureSpec(num_perm=32, ngram=2)
    sigs, has_sig = signatures(texts, spec)
    for text, sig, has in zip(texts, sigs, has_sig):
        assert np.array_equal(sig, oracle(text, spec).hashvalues) and has == bool(shingles(text, 2))
    rng = np.random.default_rng(2)
    many = [" ".join(rng.choice(["Alpha", "beta", "ΓΑΜΜΑ", "δ"], int(rng.integers(0, 40)))) for _ in range(3000)]
    spec = SignatureSpec(num_perm=16, ngram=3)
    assert all(np.array_equal(x, y) for x, y in zip(signatures(many, spec), signatures(many, spec, backend="numpy")))


def test_nfkc_by_lines_equals_nfkc():
    pieces = ["a", "e\u0301", "\u0301", "ﬁ", "\n", "\uff0c", "\xa0",
              "\u1100\u1161", "\u11a8", "Å", "\u212b", "日", "\ud800"]
    rng = np.random.default_rng(4)
    for _ in range(3000):
        text = "".join(rng.choice(pieces, int(rng.integers(0, 12))))
        assert numba_backend._nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)


def test_short_documents_get_no_signature():
    spec = SignatureSpec(ngram=5, num_perm=16)
    texts = ["", "   \n\t", "one two three four", "one two three four five", "日本語です", "日本語で"]
    sigs, has_sig = signatures(texts, spec)
    assert has_sig.tolist() == [False, False, False, True, True, False]
    assert (sigs[~has_sig] == np.uint32(0xFFFFFFFF)).all()
    assert MinHash(16, scheme="affine32").hashvalues.tolist() == sigs[0].tolist()  # datasketch's empty value


def test_shingles_normalize_case_unicode_and_whitespace():
    assert shingles("The  QUICK\tbrown\n\nFox", 2) == ["the quick", "quick brown", "brown fox"]
    assert shingles("ﬁne Ｃａｆé", 2) == ["fine café"]  # NFKC: ligature and full-width forms
    assert shingles("Straße STRASSE", 1) == ["strasse", "strasse"]  # casefold
    assert shingles("a b", 3) == []


def test_unspaced_scripts_use_character_ngrams():
    assert shingles("日本語の テキスト", 3) == ["日本語", "本語の", "語のテ", "のテキ", "テキス", "キスト"]
    # mostly Latin text with one CJK word stays in word mode
    assert shingles("the word 日本 is here", 2) == ["the word", "word 日本", "日本 is", "is here"]
    # Korean separates words with spaces
    assert shingles("한국어 문장 입니다", 2) == ["한국어 문장", "문장 입니다"]


def test_non_ascii_whitespace_list_matches_str_isspace():
    expected = {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and ord(c) > 127}
    listed = {c for c in map(chr, range(128, sys.maxunicode + 1)) if numpy_backend._NON_ASCII_WS.match(c)}
    assert listed == expected
    ascii_ws = {chr(c) for c in numpy_backend._ASCII_WS}
    assert ascii_ws == {chr(c) for c in range(128) if chr(c).isspace()}
    buf = np.arange(256, dtype=np.uint8)
    assert set(np.flatnonzero(numpy_backend._ascii_whitespace(buf)).tolist()) == {ord(c) for c in ascii_ws}
    # NFKC maps the others to U+0020 or leaves them; either way split() sees whitespace
    assert all(unicodedata.normalize("NFKC", c).isspace() for c in expected)


def test_kernel_character_classes_match_python():
    kernel.numba_kernels()  # the compiled predicates when numba is there, else the Python ones
    cps = range(sys.maxunicode + 1)
    assert {cp for cp in cps if kernel._is_space(cp)} == {cp for cp in cps if chr(cp).isspace()}
    assert {cp for cp in cps if kernel._is_unspaced(cp)} == {cp for cp in cps if UNSPACED.match(chr(cp))}
    assert kernel._ASCII_SPACE.tolist() == [chr(c).isspace() for c in range(128)]


def _table(block: np.ndarray, entry: np.ndarray, cp: int) -> int:
    return int(entry[block[cp >> 6] * 64 + (cp & 63)]) if cp >> 6 < len(block) else 0


def test_unicode_tables_leave_alone_only_what_nfkc_and_casefold_leave_alone():
    untouched = [chr(cp) for cp in range(sys.maxunicode + 1)
                 if _table(MAP_BLOCK, MAP_ENTRY, cp) == 0 and _table(NF_BLOCK, NF_CHECK, cp) == 0]
    assert len(untouched) > 1_000_000
    assert all(c.casefold() == c and unicodedata.normalize("NFKC", c) == c and not unicodedata.combining(c)
               for c in untouched)
    nonstarters = [cp for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))]
    assert all(_table(NF_BLOCK, NF_CHECK, cp) in (unicodedata.combining(chr(cp)), NF_SLOW)
               for cp in nonstarters)
    for cp in range(sys.maxunicode + 1):
        e = _table(MAP_BLOCK, MAP_ENTRY, cp)
        if not e:
            continue
        c = chr(cp)
        # what the kernel appends: casefold(NFKC(c)) when it normalizes c itself, else casefold(c)
        units = c.casefold() if _table(NF_BLOCK, NF_CHECK, cp) else unicodedata.normalize("NFKC", c).casefold()
        got = range(MAP_UNITS[e - 1], MAP_UNITS[e])
        assert [int(MAP_POLY[u]) for u in got] == [poly64(u.encode("utf-8", "surrogatepass")) for u in units]
        assert MAP_UNSPACED[e - 1] == sum(1 for u in units if UNSPACED.match(u))
        assert _room_for_shingles(c, units), ascii(c)
        assert not any(u.isspace() for u in units) or c.isspace()
        assert cp >= 0x800 or not MAP_UNSPACED[e - 1]


def _by_doc(batch) -> dict[int, list[int]]:
    """Document -> its shingle hashes (the numpy path groups documents by mode, the kernel does not)."""
    ends = np.append(batch.seg_starts[1:], len(batch.hashes))
    return {int(d): batch.hashes[s:e].tolist() for d, s, e in zip(batch.seg_docs, batch.seg_starts, ends)}


def _kernel_normalizes(texts: list[str]) -> np.ndarray:
    """Whether the kernel normalizes each text itself (count -1: left to unicodedata)."""
    buf, offsets = numba_backend.encode_batch(texts)
    return numba_backend._run_kernel(buf, offsets, SignatureSpec(), None, threads=1)[1] >= 0


def _touched() -> list[str]:
    """Every code point the kernel maps or checks."""
    cps = [cp for cp in range(sys.maxunicode + 1)
           if _table(MAP_BLOCK, MAP_ENTRY, cp) or _table(NF_BLOCK, NF_CHECK, cp)]
    return [chr(cp) for cp in cps]


def test_kernel_normalizes_and_folds_every_code_point_like_unicodedata():
    touched = _touched()
    assert len(touched) > 5000
    spec = SignatureSpec(ngram=2, num_perm=8)
    contexts = [  # (text around c, whether some of them need no unicodedata)
        ("x{c} {c}{c} y", True),  # inside, alone in and ending a word
        ("日本{c}語{c}{c}文本日本語", True),  # character mode
        ("a\u0334{c} {c}\u0334\u0305", True),  # non-starters in order
        ("{c}\u0305\u0334", False),  # and out of order
        ("ｶ{c}\uff0c{c}¼ {c}ｶ", True),  # code points the kernel normalizes around it
        ("e{c}\u0301 \u1100{c}\u1161 {c}\u11a8", False),  # marks and jamo that compose with c
    ]
    for context, some_ready in contexts:
        texts = [context.format(c=c) for c in touched]
        ready = _kernel_normalizes(texts)
        assert ready.any() == some_ready and not ready.all()
        got, reference = (_by_doc(dispatch._shingle_batch(texts, spec)),
                          _by_doc(numpy_backend.shingle_batch(texts, spec)))
        bad = [ascii(texts[d]) for d in sorted(set(got) | set(reference)) if got.get(d) != reference.get(d)]
        assert not bad, f"{len(bad)} texts differ, e.g. {bad[:5]}"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(
    "ae \u0301\u0302\u0308\u0323\u0334\u0345\u05b0\u093c\u0bbe\u1100\u1161\u11a8\uac00ｶﾞ\u3099"
    "\uff0c\xa0¼\u2026\u212b\u2126Å\xb8\xa8\u0958\u0344\u1e9b\ufb01ß日\u3000\n\ufdfa"), max_size=40))
def test_kernel_normalization_around_composing_and_combining_marks(text):
    spec = SignatureSpec(ngram=1, num_perm=8)
    assert shingle_hashes(text, spec).tolist() == shingle_hashes(text, spec, backend="numpy").tolist(), ascii(text)


def test_kernel_normalizes_common_compatibility_characters_itself():
    texts = ["你好，世界！（测试）", "½ cup… ™ ³", "ﬁne\xa0day", "ｶﾀｶﾅ", "a\u0334\u0305",
             "e\u0301", "a\u0305\u0334"]
    ready = _kernel_normalizes(texts)
    # unicodedata.normalize decides when U+0301 may compose with the e before it, and
    # when combining classes are out of order (230, then 1)
    assert ready.tolist() == [True, True, True, True, True, False, False]


def test_poly64_hash_matches_its_definition():
    def by_definition(data: bytes) -> int:
        k, m64 = 0x9E3779B97F4A7C15, (1 << 64) - 1
        p = sum((x + 1) * pow(k, i, 1 << 64) for i, x in enumerate(data)) & m64
        h = p ^ len(data)
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & m64
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & m64
        h ^= h >> 33
        return h >> 32

    for data in (b"", b"a", b"the quick brown fox jumps", "日本語 ☃".encode(), bytes(range(256))):
        assert mh.poly64_hash32(data) == by_definition(data)


def test_xxh32_and_sha1_hashes_are_the_library_functions():
    data = "hello wörld".encode()
    assert datasketch_hashfunc(SignatureSpec(hash_name="xxh32"))(data) == xxhash.xxh32_intdigest(data, seed=0)
    sha = datasketch_hashfunc(SignatureSpec(hash_name="sha1_hash32"))
    from datasketch.hashfunc import sha1_hash32

    assert sha(data) == sha1_hash32(data)


def test_permutations_equal_datasketch():
    for spec in SPECS:
        a, b = mh.permutations(spec)
        ref = MinHash(spec.num_perm, seed=spec.seed, scheme="affine32").permutations
        assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])


def test_int64_split_multiply_is_exact():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = np.concatenate([[0, 1, 2**31, 2**32 - 1], rng.integers(0, 2**32, 5000)]).astype(np.uint32)
    for c in (1, 0x85EBCA6B, 0xC2B2AE35, 2**32 - 1, 0x10001):
        got = torch_backend._mul32_exact(torch.from_numpy(x.astype(np.int64)), c & 0xFFFF, c >> 16).numpy()
        assert np.array_equal(got.astype(np.uint32), x * np.uint32(c))


def test_spec_rejects_unknown_settings():
    with pytest.raises(ValueError, match="scheme"):
        SignatureSpec(scheme="legacy")
    with pytest.raises(ValueError, match="known"):
        SignatureSpec(hash_name="python-hash")
    assert set(HASH_NAMES) == {"poly64-fmix64-hi32", "xxh32", "sha1_hash32"}
    assert SignatureSpec().as_dict()["hash_name"] == "poly64-fmix64-hi32"


def test_jaccard_exact_and_estimated():
    base = " ".join(f"token{i}" for i in range(400))
    near = base.replace("token200", "changed").replace("token300", "other")
    assert exact_jaccard(base, base, 5) == 1.0
    assert exact_jaccard("a b", "a b", 5) == 0.0  # too short: never a duplicate
    j = exact_jaccard(base, near, 5)
    sa, sb = set(shingles(base, 5)), set(shingles(near, 5))
    assert j == len(sa & sb) / len(sa | sb)
    spec = SignatureSpec(num_perm=256)
    sigs, _ = signatures([base, near, "unrelated words " * 50], spec)
    est = estimated_jaccard(sigs[0], sigs[1])
    assert est == oracle(base, spec).jaccard(oracle(near, spec))
    assert abs(est - j) < 0.1
    pairs = estimated_jaccard_pairs(sigs, np.array([0, 0, 1]), np.array([1, 2, 2]))
    assert pairs.tolist() == [est, estimated_jaccard(sigs[0], sigs[2]), estimated_jaccard(sigs[1], sigs[2])]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.one_of(any_texts, word_texts.map(lambda t: t * 3)), min_size=2, max_size=8),
       ngram=st.sampled_from([1, 2, 5]), data=st.data())
def test_pair_jaccards_equal_exact_jaccard(texts, ngram, data):
    n = len(texts)
    left = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=12)))
    right = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=len(left), max_size=len(left))))
    got = mh.pair_jaccards(texts, left, right, ngram)
    assert got.tolist() == [exact_jaccard(texts[a], texts[b], ngram) for a, b in zip(left, right)]


def test_pair_jaccards_count_repeated_shingles_once():
    texts = ["a b c " * 30, "a b c d e f", "日本語のテキスト" * 3, "", "x y z w v u " * 9 + "q r"]
    left, right = np.array([0, 0, 2, 3, 4, 1]), np.array([1, 0, 2, 0, 4, 4])
    got = mh.pair_jaccards(texts, left, right, 2)
    assert got.tolist() == [exact_jaccard(texts[a], texts[b], 2) for a, b in zip(left, right)]
    assert got[1] == 1.0 and got[3] == 0.0
    assert mh.pair_jaccards(texts, left, right, 2, threads=1).tolist() == got.tolist()


def test_to_lean_minhash_interoperates():
    spec = SignatureSpec(num_perm=32, seed=9)
    text = "one two three four five six seven eight"
    sigs, _ = signatures([text], spec)
    lean = to_lean_minhash(sigs[0], spec)
    ref = oracle(text, spec)
    assert isinstance(lean, LeanMinHash) and lean.scheme == "affine32" and lean.seed == 9
    assert np.array_equal(lean.hashvalues, ref.hashvalues)
    assert lean.jaccard(ref) == 1.0


@pytest.mark.parametrize("threshold,num_perm", [(0.8, 128), (0.7, 64), (0.9, 256)])
def test_lsh_params_are_datasketchs(threshold, num_perm):
    assert lsh_params(threshold, num_perm, 0.5, 0.5) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    b, r = lsh_params(threshold, num_perm)  # recall-leaning defaults
    assert (b, r) == _optimal_param(threshold, num_perm, 0.2, 0.8)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.2, 0.8))
    assert (lsh.b, lsh.r) == (b, r)


def test_band_hashes_are_xxh3_of_little_endian_rows():
    spec = SignatureSpec(num_perm=20)
    sigs, _ = signatures(["a b c d e f g", "h i j k l m n o p"], spec)
    keys = band_hashes(sigs, bands=3, rows=6)
    assert keys.dtype == np.uint64 and keys.shape == (2, 3)
    for i in range(2):
        for band in range(3):
            values = [int(v) for v in sigs[i, band * 6 : (band + 1) * 6]]
            assert int(keys[i, band]) == xxhash.xxh3_64_intdigest(struct.pack("<6I", *values))
    with pytest.raises(ValueError):
        band_hashes(sigs, bands=4, rows=6)


def test_near_duplicates_share_a_band_and_strangers_do_not():
    base = " ".join(f"w{i}" for i in range(300))
    texts = [base, base.replace("w150", "x"), " ".join(f"v{i}" for i in range(300))]
    spec = SignatureSpec()
    sigs, _ = signatures(texts, spec)
    keys = band_hashes(sigs, *lsh_params(0.8, spec.num_perm))
    assert (keys[0] == keys[1]).any()
    assert not (keys[0] == keys[2]).any()


@pytest.mark.gpu
def test_cuda_signatures_equal_numpy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(3)
    texts = [" ".join(map(str, rng.integers(0, 500, int(rng.integers(0, 2000))))) for _ in range(200)]
    for spec in SPECS:
        cpu, has_cpu = signatures(texts, spec)
        gpu, has_gpu = signatures(texts, spec, device="cuda")
        assert np.array_equal(cpu, gpu) and np.array_equal(has_cpu, has_gpu)
