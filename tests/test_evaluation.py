"""Slices against ground-truth labels: what counts as a wrongly dropped clean document."""
from __future__ import annotations

import json
import random

import pyarrow as pa

from curate import evaluation, store
from curate.cli import main

RECIPE = """name: eval
filters:
  gopher_quality: defaults
dedup: {exact: true, near_threshold: 0.8}
"""
VOCAB = ("the and of to in river stone cloud field garden window market letter morning winter "
         "summer teacher doctor village station harbour mountain forest kitchen journey").split()


def _text(rng: random.Random, n: int = 150) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n)) + "."


def _edit(rng: random.Random, text: str, k: int) -> str:
    words = text.split()
    for _ in range(k):
        words[rng.randrange(len(words))] = "lighthouse"
    return " ".join(words)


def test_a_clean_text_the_corpus_repeats_is_not_a_wrong_drop(tmp_path):
    rng = random.Random(3)
    repeated, near = _text(rng), _text(rng)
    docs = {
        "kept": _text(rng),
        "verse_a": repeated, "verse_b": repeated,  # the source itself prints this twice
        "near_a": near, "near_b": _edit(rng, near, 2),  # Jaccard ~0.9 with near_a
        "short": "the river and the stone",  # clean, but the word-count rule drops it
        "junk": "buy cheap " * 60,
    }
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(RECIPE)
    db = tmp_path / "s.duckdb"
    assert main(["run", str(recipe), "--db", str(db), "-q", "-i", str(path), "--out", str(tmp_path / "out"),
                 "--workers", "1", "--id-field", "id"]) == 0
    labels = pa.table({"id": list(docs), "junk_type": ["clean"] * 6 + ["seo_spam"], "lang": ["en"] * 7,
                       "dup_of": [None] * 7, "jaccard": [None] * 7})
    with store.open_store(db, read_only=True) as con:
        (slice_id,) = con.execute("SELECT slice_id FROM slices").fetchone()
        reasons = dict(con.execute("""SELECT d.external_id, k.reason FROM decisions k JOIN documents d USING (doc_id)
                                      WHERE k.slice_id = ?""", [slice_id]).fetchall())
        assert sorted(v for v in reasons.values() if v) == sorted(
            ["exact_duplicate", "near_duplicate", "gopher_word_count_below_min", reasons["junk"]])
        assert sorted(evaluation.content_kept(con, slice_id, 0.8)) == sorted(
            k for k, v in reasons.items() if v in ("exact_duplicate", "near_duplicate"))
        assert evaluation.clean_drop_rate(con, slice_id, labels, ["en"], 0.8) == [
            ("all", 6, 1, round(1 / 6, 3)), ("en", 6, 1, round(1 / 6, 3))]
        # above the pair's Jaccard, the near copy's content is no longer in the slice
        assert evaluation.clean_drop_rate(con, slice_id, labels, ["en"], 0.99)[0][2] == 2
