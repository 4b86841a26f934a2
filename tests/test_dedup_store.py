from __future__ import annotations

import json
import random

import pytest

from curate import pipeline, store
from curate.dedup import lsh, minhash

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu river stone cloud field").split()


def _doc(rng: random.Random, n: int = 120) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _edit(rng: random.Random, text: str, k: int) -> str:
    words = text.split()
    for _ in range(k):
        words[rng.randrange(len(words))] = f"edit{rng.randrange(10**6)}"
    return " ".join(words)


def _ingest(db, tmp_path, name: str, texts: dict[str, str]) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()))
    pipeline.ingest(db, [str(path)], pipeline.IngestOptions(id_field="id"))


def _clusters(db, threshold=0.8) -> set[frozenset[str]]:
    with store.open_store(db, read_only=True) as con:
        rows = con.execute(
            """SELECT list(d.external_id ORDER BY d.external_id) FROM dup_clusters c JOIN documents d USING (doc_id)
               WHERE threshold = ? GROUP BY cluster_id""", [threshold]).fetchall()
    return {frozenset(r[0]) for r in rows}


def _dedup(db, threshold=0.8):
    with store.open_store(db) as con:
        return lsh.dedup(con, threshold, minhash.SignatureSpec(), 1)


def _corpus(seed=0):
    rng = random.Random(seed)
    base = {f"o{i}": _doc(rng) for i in range(30)}
    texts = dict(base)
    texts["o0_near"] = _edit(rng, base["o0"], 2)  # 120 words, 2 edits -> Jaccard ~0.85
    texts["o1_near"] = _edit(rng, base["o1"], 2)
    texts["o1_far"] = _edit(rng, base["o1"], 30)  # far below 0.8
    texts["o2_copy"] = base["o2"]
    texts["short_a"] = "one two three"
    texts["short_b"] = "one two four"
    texts["short_c"] = "one two three"  # an exact copy of a short document
    return texts


def test_near_and_exact_duplicates_cluster(db, tmp_path):
    texts = _corpus()
    _ingest(db, tmp_path, "a", texts)
    rep = _dedup(db)
    clusters = _clusters(db)
    assert frozenset({"o0", "o0_near"}) in clusters
    assert frozenset({"o1", "o1_near"}) in clusters
    assert frozenset({"o2", "o2_copy"}) in clusters
    assert frozenset({"short_a", "short_c"}) in clusters  # exact copies, no signature needed
    assert not any("short_b" in c or "o1_far" in c for c in clusters)
    assert rep.duplicates == 4
    for c in clusters:  # verified: every pair in a cluster really is above the threshold
        ids = sorted(c)
        for a in ids:
            for b in ids:
                if a < b:
                    assert minhash.exact_jaccard(texts[a], texts[b], 5) >= 0.8 or texts[a] == texts[b]


def test_short_documents_get_no_signature(db, tmp_path):
    _ingest(db, tmp_path, "a", {"s1": "a b c", "s2": "a b d", "long": _doc(random.Random(1))})
    _dedup(db)
    with store.open_store(db, read_only=True) as con:
        has = dict(con.execute(
            "SELECT d.external_id, m.has_sig FROM minhash m JOIN documents d USING (doc_id)").fetchall())
    assert has == {"s1": False, "s2": False, "long": True}
    assert _clusters(db) == set()


def test_representative_is_longest_when_no_quality(db, tmp_path):
    rng = random.Random(3)
    base = _doc(rng)
    _ingest(db, tmp_path, "a", {"a_short": base, "b_long": base + " " + " ".join(base.split()[:3])})
    _dedup(db)
    with store.open_store(db, read_only=True) as con:
        rep = con.execute("""SELECT d.external_id FROM dup_clusters c JOIN documents d USING (doc_id)
                             WHERE is_representative""").fetchall()
    assert rep == [("b_long",)]


def test_incremental_equals_from_scratch(db, tmp_path):
    texts = _corpus(seed=5)
    keys = sorted(texts)
    first = {k: texts[k] for k in keys[::2]}
    second = {k: texts[k] for k in keys[1::2]}
    _ingest(db, tmp_path, "first", first)
    _dedup(db)
    _ingest(db, tmp_path, "second", second)
    rep2 = _dedup(db)
    assert rep2.new_signatures == len(second)
    scratch = tmp_path / "scratch.duckdb"
    _ingest(scratch, tmp_path, "first", first)
    _ingest(scratch, tmp_path, "second", second)
    _dedup(scratch)
    assert _clusters(db) == _clusters(scratch)
    with store.open_store(db, read_only=True) as con:
        a = con.execute("SELECT doc_id, cluster_id, is_representative FROM dup_clusters ORDER BY 1").fetchall()
    with store.open_store(scratch, read_only=True) as con:
        b = con.execute("SELECT doc_id, cluster_id, is_representative FROM dup_clusters ORDER BY 1").fetchall()
    assert a == b


def test_a_dedup_killed_while_banding_resumes_to_the_clusters_of_a_clean_run(db, tmp_path, monkeypatch):
    texts = _corpus()
    _ingest(db, tmp_path, "a", texts)
    spec = minhash.SignatureSpec()
    setting, bands, rows = lsh.setting_for(0.8, spec.num_perm)
    real, calls = lsh.band_hashes, []

    def dies_on_the_third_batch(*a):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill between two committed batches
        return real(*a)

    with store.open_store(db) as con:
        lsh.compute_signatures(con, spec, 1)
        monkeypatch.setattr(lsh, "band_hashes", dies_on_the_third_batch)
        with pytest.raises(KeyboardInterrupt):
            lsh._band_new_docs(con, setting, bands, rows, spec.num_perm, batch_size=5)
        # the two batches before the kill are stored whole: every banded document has all its bands
        per_doc = con.execute("SELECT doc_id, count(*) FROM lsh_bands WHERE setting = ? GROUP BY doc_id",
                              [setting]).fetchall()
        assert len(per_doc) == 10 and {n for _, n in per_doc} == {bands}
    monkeypatch.setattr(lsh, "band_hashes", real)
    _dedup(db)
    with store.open_store(db, read_only=True) as con:
        signed, banded, dupes = con.execute(
            """SELECT (SELECT count(*) FROM minhash WHERE has_sig),
                      (SELECT count(DISTINCT doc_id) FROM lsh_bands WHERE setting = ?),
                      (SELECT count(*) FROM (SELECT doc_id, band FROM lsh_bands WHERE setting = ?
                                             GROUP BY ALL HAVING count(*) > 1))""", [setting, setting]).fetchone()
    assert banded == signed and dupes == 0
    fresh = tmp_path / "fresh.duckdb"
    _ingest(fresh, tmp_path, "b", texts)
    _dedup(fresh)
    assert _clusters(db) == _clusters(fresh)


def test_rerun_is_noop(db, tmp_path):
    _ingest(db, tmp_path, "a", _corpus())
    _dedup(db)
    before = _clusters(db)
    rep = _dedup(db)
    assert rep.new_signatures == 0 and rep.new_pairs_verified == 0
    assert _clusters(db) == before


def test_explain_lists_cluster(db, tmp_path):
    _ingest(db, tmp_path, "a", _corpus())
    _dedup(db)
    with store.open_store(db, read_only=True) as con:
        doc = con.execute("SELECT doc_id FROM documents WHERE external_id = 'o0'").fetchone()[0]
        rows = lsh.explain(con, doc, 0.8)
    assert sorted(r[1] for r in rows) == ["o0", "o0_near"]
    assert all(0.6 < r[3] <= 1.0 for r in rows)


def test_other_spec_refused(db, tmp_path):
    _ingest(db, tmp_path, "a", _corpus())
    _dedup(db)
    with store.open_store(db) as con, pytest.raises(Exception, match="MinHash signatures use"):
        lsh.dedup(con, 0.8, minhash.SignatureSpec(num_perm=64), 2)


def test_large_cluster_costs_linear_edges(db, tmp_path):
    """1,500 near-copies of one page: buckets become stars, not 1.1M pairs."""
    rng = random.Random(9)
    base = _doc(rng, 200)
    texts = {f"c{i:05d}": _edit(rng, base, 1) for i in range(1500)}
    _ingest(db, tmp_path, "a", texts)
    rep = _dedup(db)
    assert rep.candidate_pairs < 1500 * 20  # bands per setting, not n^2 / 2
    clusters = _clusters(db)
    assert max(len(c) for c in clusters) >= 1400


def test_exact_check_chunks_hold_a_bounded_amount_of_text():
    pairs = [("a", "b", 5, 5), ("a", "c", 5, 5), ("b", "c", 5, 5), ("d", "e", 5, 5), ("f", "g", 30, 30)]
    rows = [(i, a, b, "text " + a, "text " + b, na, nb) for i, (a, b, na, nb) in enumerate(pairs)]
    # rows arrive in fetches of any size; a chunk may span two of them
    chunks = list(lsh._chunks_by_text_bytes(iter([rows[:1], rows[1:4], [], rows[4:]]), 15))
    # a, b, c fit (15 bytes, each document counted once); d+e start a new chunk; an oversized pair goes alone
    assert [[(r[1], r[2]) for r in c] for c in chunks] == [[("a", "b"), ("a", "c"), ("b", "c")], [("d", "e")],
                                                           [("f", "g")]]
    assert [r for c in chunks for r in c] == rows
