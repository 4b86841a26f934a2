from __future__ import annotations

import json

import pyarrow as pa
import pytest

from curate import pipeline, recipes, store
from curate.engines import LocalEngine
from curate.errors import UsageError
from curate.recipes import RecipeError, load_recipe, parse_recipe

CLEAN = (
    "The river runs through the old town and the people who live there have always fished in it. "
    "In the spring the water is high and cold, and the children are told to stay away from the bank. "
    "By the summer it is slow and warm, and the whole town comes down to swim in the evening. "
    "The mayor has said that the bridge will be repaired before the winter comes back again. "
    "Nobody believes him, because he has said the same thing for the last seven years. "
    "Still, it is a good place to live, and most of those who leave it come back in the end."
)


def test_shipped_recipes_load():
    names = recipes.shipped_recipe_names()
    assert {"raw", "gopher", "c4", "fineweb", "strict", "strict-multi"} <= set(names)
    strict = load_recipe("strict")
    assert strict.rules[0].signal == "lang" and strict.rules[0].allow == ("en",)
    assert strict.dedup.exact and strict.dedup.near_threshold == 0.7
    assert load_recipe("strict-multi").rules[0].allow == ("en", "de", "fr", "es", "zh", "ru")


def test_family_defaults_expand_in_place():
    r = parse_recipe("name: t\nfilters:\n  lang: {allow: [en]}\n  c4: defaults\n  quality: {min: 0.3}\n")
    names = [x.signal for x in r.rules]
    assert names[0] == "lang" and names[-1] == "quality"
    assert "c4_sentence_count" in names


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: t\nfilters:\n  wordz: {min: 1}\n", "line 3: unknown signal 'wordz'"),
        ("name: t\nfilters:\n  word_count: {min: 10, max: 2}\n", "line 3: word_count: min 10 > max 2"),
        ("name: t\nfilters:\n  word_count:\n    min: ten\n", "line 4: word_count.min must be a number"),
        ("name: t\nfilters:\n  lang: {min: 1}\n", "line 3: 'lang' is text"),
        ("name: t\nfilters:\n  word_count: {allow: [a]}\n", "line 3: 'word_count' is numeric"),
        ("name: t\nfiltres: {}\n", "line 2: unknown key 'filtres'"),
        ("filters: {}\n", "`name` must be a non-empty string"),
        ("name: t\ndedup: {near_threshold: 2}\n", "line 2: `dedup.near_threshold`"),
        ("name: t\nfilters:\n  nonsense: defaults\n", "needs a signal family"),
        ("name: t\nfilters:\n  word_count: default\n", "no published default"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_recipes_name_the_line(text, message):
    with pytest.raises(RecipeError) as exc:
        parse_recipe(text, origin="my.yaml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("my.yaml")


def test_recipe_id_is_content_hash():
    a = parse_recipe("name: a\ndescription: one\nfilters:\n  word_count: {min: 5}\n")
    b = parse_recipe("name: a\ndescription: two\nfilters:\n  word_count: {min: 5.0}\n")
    c = parse_recipe("name: a\nfilters:\n  word_count: {min: 6}\n")
    assert a.recipe_id == b.recipe_id != c.recipe_id
    assert parse_recipe(a.to_yaml()).recipe_id == a.recipe_id


def test_unknown_recipe_lists_shipped():
    with pytest.raises(RecipeError, match="strict"):
        load_recipe("nope")


def test_compiled_sql_binds_values_not_text():
    r = parse_recipe("name: t\nfilters:\n  lang: {allow: [\"en'; DROP TABLE documents; --\"]}\n")
    sql, params = recipes.compile_decisions(r)
    assert "DROP" not in sql
    assert any("DROP" in str(p) for p in params)


def _store_with(db, tmp_path, texts: list[str]):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"id": f"x{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    pipeline.ingest(db, [str(path)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
    return path


def test_slice_first_failing_rule_and_conservation(db, tmp_path):
    texts = [CLEAN, "short text here", CLEAN.replace(". ", ".\n"), "Das ist ein deutscher Text. " * 30]
    _store_with(db, tmp_path, texts)
    r = parse_recipe("name: t\nfilters:\n  lang: {allow: [en]}\n  word_count: {min: 50}\n"
                     "dedup: {exact: true}\n")
    with store.open_store(db) as con:
        res = recipes.build_slice(con, r)
        rows = dict(con.execute(
            "SELECT d.external_id, k.reason FROM decisions k JOIN documents d USING (doc_id) WHERE slice_id = ?",
            [res.slice_id]).fetchall())
    assert res.n_documents == 4 == res.n_kept + res.n_dropped
    assert rows["x0"] is None  # kept
    assert rows["x1"] == "word_count_below_min"  # short English text: lang passes, words fail
    assert rows["x2"] == "exact_duplicate"  # same normalized text, same length: the smaller doc_id is kept
    assert rows["x3"] == "lang_not_allowed"


def test_slice_rebuild_is_idempotent(db, tmp_path):
    _store_with(db, tmp_path, [CLEAN, "tiny"])
    r = load_recipe("gopher")
    with store.open_store(db) as con:
        a = recipes.build_slice(con, r)
        b = recipes.build_slice(con, r)
        n = con.execute("SELECT count(*) FROM decisions WHERE slice_id = ?", [a.slice_id]).fetchone()[0]
    assert (a.n_kept, a.n_dropped) == (b.n_kept, b.n_dropped) and n == 2
    assert a.slice_id == b.slice_id and a.new and not b.new


def test_quality_rule_without_model_is_clear_error(db, tmp_path):
    _store_with(db, tmp_path, [CLEAN])
    with store.open_store(db) as con, pytest.raises(UsageError, match="quality train"):
        recipes.build_slice(con, parse_recipe("name: q\nfilters:\n  quality: {min: 0.5}\n"))


def test_near_dedup_needs_clusters(db, tmp_path):
    _store_with(db, tmp_path, [CLEAN])
    with store.open_store(db) as con, pytest.raises(UsageError, match="curate dedup"):
        recipes.build_slice(con, parse_recipe("name: n\ndedup: {near_threshold: 0.8}\n"))


def test_evaluate_frame_matches_slice_rules():
    from curate.signals import score_texts

    r = parse_recipe("name: t\nfilters:\n  lang: {allow: [en]}\n  word_count: {min: 50}\n")
    frame = score_texts([CLEAN, "too short", "Dies ist ein deutscher Satz. " * 20])
    assert recipes.evaluate_frame(r, frame.to_arrow()) == [None, "word_count_below_min", "lang_not_allowed"]
    assert recipes.evaluate_frame(r, pa.Table.from_pylist([]).append_column("lang", pa.array([], pa.string()))
                                  .append_column("word_count", pa.array([], pa.int64()))) == []
