"""The metrics that tell slices apart at small scale: held-out bits/byte per drop-reason family,
exposure per copy count (memorization by likelihood), junk rules a 64-token sample can pass,
and the verdicts in words (CPU, tiny preset)."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import duckdb
import pytest
import torch

from curate import comparison as verdicts
from curate import pipeline, recipes, store
from curate.comparison import Run, exposure_key, extracted_key, heldout_key, is_held_out, verbatim_key
from curate.engines import LocalEngine
from curate.recipes import parse_recipe
from curate.textnorm import text_hash
from train.evaluate import bits_per_byte, document_bits, generation_metrics, pooled_bpb
from train.model import GPT, preset_config
from train.pipeline import (
    VERDICT_HEADERS,
    TrainPlan,
    copy_bin,
    evaluation_sets,
    exposure_table,
    held_out_sql,
    junk_flags,
    reason_family,
    slice_texts,
    train_rows_from_store,
    train_slices,
    verdict_rows,
)
from train.tokenizer import load_tokenizer

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
VOCAB = ("the and of to in a river stone cloud field garden window market letter morning winter summer "
         "teacher doctor village station harbour mountain forest kitchen journey was is by with").split()
# words no other document uses: a model that saw the repeated document learns them
RARE = "zebra quartz velvet tundra saffron marble lantern compass".split()


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def _prose(rng: random.Random, n: int = 120, words=VOCAB) -> str:
    out = []
    while len(out) < n:
        sentence = [rng.choice(words) for _ in range(rng.randint(6, 12))]
        out += sentence[:-1] + [sentence[-1] + "."]
    return " ".join(out).capitalize()


def _split_texts(make, want_held: int, want_train: int) -> tuple[list[str], list[str]]:
    held, train = [], []
    while len(held) < want_held or len(train) < want_train:
        t = make()
        (held if is_held_out(text_hash(t)) else train).append(t)
    return held[:want_held], train[:want_train]


# --- pure parts ---------------------------------------------------------------------------------


def test_copy_counts_fall_in_powers_of_two():
    assert [copy_bin(k) for k in (1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 33, 200, 256, 257, 500)] == [
        "k1", "k2", "k3_4", "k3_4", "k5_8", "k5_8", "k9_16", "k9_16", "k17_32", "k17_32", "k33_64",
        "k129_256", "k129_256", "k257_plus", "k257_plus"]
    assert set(verdicts.COPY_BINS) == {copy_bin(k) for k in range(1, 600)}
    assert verdicts.copy_bin_label("k5_8") == "k=5–8" and verdicts.copy_bin_label("k257_plus") == "k≥257"
    with pytest.raises(ValueError):
        copy_bin(0)


def test_each_drop_reason_has_its_family():
    assert reason_family(None) == "clean"
    assert reason_family("near_duplicate") == "duplicates" and reason_family("exact_duplicate") == "duplicates"
    assert reason_family("lang_not_allowed") == reason_family("lang_score_below_min") == "language"
    assert reason_family("mojibake_count_above_max") == "mojibake"
    assert reason_family("gopher_dup_line_frac_above_max") == "repetition"
    assert reason_family("gopher_top_2gram_char_frac_above_max") == "repetition"
    assert reason_family("fineweb_dup_line_char_frac_above_max") == "repetition"
    assert reason_family("common_line_char_frac_above_max") == "boilerplate"
    assert reason_family("c4_lorem_ipsum_count_above_max") == "boilerplate"
    assert reason_family("gopher_stop_word_count_below_min") == "spam"
    assert reason_family("quality_below_min") == "spam"
    assert reason_family("no_such_signal_above_max") is None
    assert set(verdicts.HELDOUT_FAMILIES) == {"clean", "duplicates", "language", "mojibake", "repetition",
                                              "boilerplate", "spam"}


def test_the_hold_out_rule_is_the_same_in_sql_and_python():
    rng = random.Random(3)
    hashes = [text_hash(f"document {rng.random()}") for _ in range(2000)]
    con = duckdb.connect()
    con.execute("CREATE TABLE d (text_hash VARCHAR)")
    con.executemany("INSERT INTO d VALUES (?)", [[h] for h in hashes])
    in_sql = {h for (h,) in con.execute(f"SELECT text_hash FROM d WHERE {held_out_sql('text_hash')}").fetchall()}
    assert in_sql == {h for h in hashes if is_held_out(h)}
    assert 0.03 < len(in_sql) / len(hashes) < 0.07  # 5%


def test_document_bits_is_bits_per_byte_document_by_document(tok):
    torch.manual_seed(0)
    model = GPT(preset_config("tiny", tok.vocab_size))  # block of 64 tokens: documents span windows
    rng = random.Random(1)
    texts = [_prose(rng, n) for n in (5, 40, 90)] + ["Ünïcödé — 東京 🙂"]
    scores = document_bits(model, tok, texts, batch_size=3)
    for text, (bits, n_bytes) in zip(texts, scores):
        assert n_bytes == len(text.encode("utf-8"))
        assert bits / n_bytes == pytest.approx(bits_per_byte(model, tok, text), rel=1e-5)
    assert pooled_bpb(scores) == pytest.approx(sum(b for b, _ in scores) / sum(n for _, n in scores))
    assert pooled_bpb([]) is None
    # a long document is scored on its first max_tokens tokens, its bytes those of that prefix
    [(bits, n_bytes)] = document_bits(model, tok, [texts[2]], max_tokens=10)
    assert n_bytes == len(tok.decode(tok.encode(texts[2])[:10]).encode("utf-8"))


# --- generation metrics for 64-token samples ------------------------------------------------------


def test_the_junk_rules_pass_clean_64_token_windows_and_fail_junk(tok):
    rng = random.Random(0)
    with gzip.open(SAMPLE / "reference.jsonl.gz", "rt", encoding="utf-8") as fh:
        english = [r["text"] for r in map(json.loads, fh) if r["lang"] == "en"]
    windows = []
    for text in rng.sample(english, 120):
        ids = tok.encode(text)
        if len(ids) >= 96:
            start = rng.randrange(len(ids) - 64)
            windows.append(tok.decode(ids[start:start + 64]))
    flags = junk_flags(windows)
    # every sample failed before the corpus-level rule was left out (its signal is NULL on a sample)
    assert sum(flags) / len(flags) < 0.25, sum(flags) / len(flags)
    junk = ["buy cheap pills buy cheap pills buy cheap pills buy cheap pills buy cheap pills now now",
            "\n".join(["Click here to subscribe"] * 12), "12 34 56 78 90 12 34 56 78 90 11 22 33 44 55 66"]
    assert junk_flags(junk) == [True, True, True]


def test_the_replacement_rate_counts_samples_with_broken_bytes():
    m = generation_metrics(["fine text", "broken \ufffd bytes", "", "\ufffd\ufffd"])
    assert m["replacement_rate"] == pytest.approx(0.5)
    assert generation_metrics([])["replacement_rate"] is None


# --- verdicts in words ------------------------------------------------------------------------------


def _runs(values: dict[str, list[float]], key: str, **kw) -> list[Run]:
    return [Run(s, i, metrics={key: v}, **kw) for s, vs in values.items() for i, v in enumerate(vs)]


def test_junk_bits_per_byte_has_no_better_side_and_says_higher_or_lower():
    key = heldout_key("spam")
    [j] = verdicts.judge(_runs({"raw": [3.0, 3.02, 3.01], "strict": [3.5, 3.52, 3.51]}, key), "raw", metrics=[key])
    assert j.better is None and j.verdict == "higher, beyond noise"
    assert j.sentence().startswith("strict's held-out spam bits/byte is 0.500 bits/byte higher than raw's (±")
    [j] = verdicts.judge(_runs({"raw": [3.0, 3.1], "strict": [2.95, 3.12]}, key), "raw", metrics=[key])
    assert j.verdict == "lower, within noise"


def test_every_verdict_says_the_noise_and_the_way_even_when_too_small():
    runs = _runs({"raw": [3.54, 3.56, 3.55], "strict": [3.40, 3.42, 3.41]}, "bpb", tokens=150_000, n_params=850_000)
    [j] = verdicts.judge(runs, "raw", metrics=["bpb"])
    assert j.verdict == "better, beyond noise; too small to judge (0.18 tokens/parameter)"
    [j] = verdicts.judge(_runs({"raw": [3.45, 3.52], "strict": [3.40, 3.50]}, "bpb"), "raw", metrics=["bpb"])
    assert j.verdict == "better, within noise"


def test_exposure_is_judged_without_the_model_size_caveat():
    key = exposure_key("k17_32")
    runs = _runs({"raw": [0.40, 0.45, 0.42], "dedup": [0.02, 0.01, 0.03]}, key, tokens=150_000, n_params=850_000)
    [j] = verdicts.judge(runs, "raw", metrics=[key])
    assert j.too_small is None and j.better and j.verdict == "better, beyond noise"
    assert "exposure k=17–32" in j.sentence() and "bits/byte lower than raw's (better)" in j.sentence()


def test_the_cli_tables_of_verdicts_and_exposure():
    rows = [{"slice": s, "seed": i, "documents": docs, "tokens": 1000, "bpb": b,
             exposure_key("k2"): e2, exposure_key("k17_32"): e32, "exposure_docs": {"k2": 8, "k17_32": 8}}
            for s, docs, vals in (("raw", 100, [(3.5, 0.05, 0.40), (3.52, 0.06, 0.44)]),
                                  ("dedup", 90, [(3.45, 0.01, 0.02), (3.46, 0.02, 0.01)]))
            for i, (b, e2, e32) in enumerate(vals)]
    table = [dict(zip(VERDICT_HEADERS, r)) for r in verdict_rows(rows)]
    by = {r["metric"]: r for r in table}
    assert set(by) == {"bits/byte", "exposure k=2", "exposure k=17–32"}
    assert by["exposure k=17–32"]["verdict"] == "better, beyond noise"
    assert by["exposure k=17–32"]["baseline"] == "raw 0.420" and by["exposure k=17–32"]["seeds"] == "2 / 2"
    heads, exposure = exposure_table(rows)
    assert heads == ["slice", "seeds", "k=2 (8 docs)", "k=17–32 (8 docs)"]
    assert exposure[0][:2] == ["raw", 2] and exposure[0][3].startswith("+0.420 ± 0.02")


# --- a store: the hold-out, the evaluation sets, and models trained on them --------------------------

FAMILY_RECIPE = """name: fam
filters:
  gopher_dup_line_frac: default
dedup: {exact: true, near_threshold: null}
"""
DEDUP_RECIPE = """name: dd
filters: {}
dedup: {exact: true, near_threshold: null}
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("heldout")
    rng = random.Random(11)
    held_clean, train_clean = _split_texts(lambda: _prose(rng), 3, 24)
    _, (twice, eight) = _split_texts(lambda: _prose(rng, 150, RARE + ["the", "and"]), 0, 2)
    [junk], _ = _split_texts(lambda: "\n".join([_prose(rng, 8)] * 10), 1, 0)
    docs = [*held_clean, *train_clean, junk] + [twice] * 2 + [eight] * 8
    path = root / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(docs)),
                    encoding="utf-8")
    db = root / "store.duckdb"
    pipeline.ingest(db, [str(path)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        ids = {r.name: recipes.build_slice(con, r).slice_id
               for r in (recipes.load_recipe("raw"), parse_recipe(FAMILY_RECIPE), parse_recipe(DEDUP_RECIPE))}
    val = root / "val.txt"
    val.write_text(_prose(random.Random(99), 300), encoding="utf-8")
    return {"db": db, "ids": ids, "held_clean": held_clean, "train_clean": train_clean, "junk": junk,
            "twice": twice, "eight": eight, "val": val}


def test_no_slice_trains_on_a_held_out_text(corpus):
    with store.open_store(corpus["db"], read_only=True) as con:
        raw = list(slice_texts(con, corpus["ids"]["raw"])())
        everything = list(slice_texts(con, corpus["ids"]["raw"], hold_out=False)())
    assert not {*corpus["held_clean"], corpus["junk"]} & set(raw)
    assert raw.count(corpus["eight"]) == 8 and raw.count(corpus["twice"]) == 2
    assert sorted(everything) == sorted(raw + [*corpus["held_clean"], corpus["junk"]])


def test_the_evaluation_sets_by_family_and_copy_count(corpus):
    with store.open_store(corpus["db"], read_only=True) as con:
        sets = evaluation_sets(con, "fam")
        missing = evaluation_sets(con, "no-such-recipe")
    assert sorted(sets.heldout["clean"]) == sorted(corpus["held_clean"])
    assert sets.heldout["repetition"] == [corpus["junk"]]
    assert sets.exposure["k2"] == [corpus["twice"]] and sets.exposure["k5_8"] == [corpus["eight"]]
    assert sorted(sets.exposure["k1"]) == sorted(corpus["train_clean"])
    assert missing.heldout == {} and "curate slice no-such-recipe" in missing.note


def test_models_record_held_out_bits_and_exposure_that_dedup_lowers(corpus, tmp_path):
    db = corpus["db"]
    # 48 steps of 4 x 64 tokens, about 2.5 passes over the raw slice
    plan = TrainPlan(tokens=48 * 4 * 64, seeds=(0, 1), preset="tiny", device="cpu", batch_size=4)
    with store.open_store(db) as con:
        rows = train_slices(con, db, ["raw", "dd"], plan, val_text_path=corpus["val"], prompts_path=None,
                            family_recipe="fam")
        stored = train_rows_from_store(con)
    for r in stored:  # recorded with the run, as every other metric, for any reader of the store
        assert r[heldout_key("clean")] > 0 and r[heldout_key("repetition")] > 0
        assert r[exposure_key("k5_8")] is not None and r["exposure_docs"]["k5_8"] == 1
        # the share of its continuation's 32 tokens each model reproduces, per copy count
        assert 0 <= r[extracted_key("k5_8")] <= 1 and r[verbatim_key("k5_8")] in (0.0, 1.0)
        assert r[heldout_key("mojibake")] is None  # no held-out document of that family
    k8 = {s: [r[exposure_key("k5_8")] for r in rows if r["slice"] == s] for s in ("raw", "dd")}
    # raw saw the 8-copy document 8 times a pass, dd once: raw finds it far more predictable
    assert min(k8["raw"]) > max(k8["dd"]) + 0.3, k8
    [j] = [j for j in verdicts.judge([Run(r["slice"], r["seed"], metrics=r) for r in rows], "raw",
                                     metrics=[exposure_key("k5_8")])]
    assert j.better and j.difference.diff < 0
