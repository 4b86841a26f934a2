"""`curate sweep`: one slice per value of a rule's bound, one tiny model per slice and seed, the
curve with its spread and the data-constrained values marked; a rerun trains only what is missing;
bad arguments are refused before anything is opened; an old store keeps working."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from curate import pipeline, recipes, store, sweeps
from curate.cli import main
from curate.engines import LocalEngine

SENTENCE = ("The committee met on Tuesday to review the budget for the coming year, and the members agreed "
            "that the library should stay open later in the evening during the winter months. ")
BASE = "name: base\nfilters:\n  word_count: {min: 20}\n"
PROMPTS = [{"prompt": "The committee met", "kind": "clean"}]
# tiny preset: a step is 2 sequences x 64 tokens; 8 steps read the one-document slice > 4 times
TINY = ["--preset", "tiny", "--batch-size", "2", "--tokens", "1024", "--device", "cpu", "--quiet"]


def _corpus(root: Path) -> dict:
    """Four documents of 1 to 4 repeats of a 32-word sentence, scored; a base recipe keeping all."""
    db = root / "store.duckdb"
    docs = root / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": SENTENCE * i + f"Item {i}."}) + "\n"
                            for i in range(1, 5)), encoding="utf-8")
    pipeline.ingest(db, [str(docs)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
    recipe = root / "base.yaml"
    recipe.write_text(BASE, encoding="utf-8")
    val = root / "val.txt"
    val.write_text(SENTENCE * 3, encoding="utf-8")
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS), encoding="utf-8")
    argv = ["sweep", str(recipe), "--db", str(db), "--signal", "word_count", "--values", "20", "100",
            "--seeds", "2", "--val-text", str(val), "--prompts", str(prompts), *TINY]
    return {"db": db, "argv": argv, "recipe": recipe, "val": val}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _corpus(tmp_path_factory.mktemp("sweep"))


def _sweep(capsys, argv: list[str]) -> dict:
    assert main([*argv, "--format", "json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _models(db: Path) -> dict[str, object]:
    with store.open_store(db, read_only=True) as con:
        return dict(con.execute("SELECT train_run_id, created_at FROM train_runs").fetchall())


@pytest.fixture(scope="module")
def swept(corpus) -> dict:
    out, err = io.StringIO(), io.StringIO()  # module scope has no capsys
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*corpus["argv"], "--format", "json"])
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on one thread: on a small shared machine torch's threads wait on each other
    longer than the work takes (3x the wall time here)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# trains four tiny models (about 20 s on a busy two-core machine)
@pytest.mark.slow
def test_a_sweep_trains_one_model_per_slice_and_seed_and_records_the_curve(corpus, swept):
    sweep, curve = swept["sweep"], swept["curve"]
    assert len(sweep["trained"]) == 4 and not sweep["already_recorded"]
    assert [r["value"] for r in curve] == [20.0, 100.0]
    loose, tight = curve
    assert loose["documents"] == 4 and loose["kept_share"] == 1.0
    assert tight["documents"] == 1 and tight["kept_share"] == pytest.approx(1 / 4)  # only the 4-sentence one
    assert loose["seeds"] == tight["seeds"] == 2
    assert loose["tokens_trained"] == tight["tokens_trained"] == 1024  # equal budget
    # the one-document slice is read more than four times over: data-constrained, the whole corpus is not
    assert tight["epochs"] > sweeps.EPOCH_LIMIT and tight["data_constrained"] and tight["epochs_from"] == "measured"
    assert loose["epochs"] < tight["epochs"] and not loose["data_constrained"]
    # every metric the models recorded, with its spread over the two seeds
    assert loose["bpb_mean"] > 0 and loose["bpb_sd"] is not None
    assert "junk_rate_mean" in loose and "memorization_probes_mean" not in loose
    assert loose["bpb_verdict"] == "reference" and tight["bpb_verdict"] != "reference"
    with store.open_store(corpus["db"], read_only=True) as con:
        tagged = con.execute("SELECT count(*) FROM sweep_runs r JOIN train_runs t USING (train_run_id)").fetchone()[0]
        names = {r[0] for r in con.execute("SELECT name FROM slices").fetchall()}
    assert tagged == 4
    assert {"base.word_count.min.20", "base.word_count.min.100"} <= names  # derived names, not the base's


# trains four tiny models (about 20 s on a busy two-core machine)
@pytest.mark.slow
def test_a_rerun_of_a_killed_sweep_trains_only_the_missing_model(corpus, swept, capsys):
    before = _models(corpus["db"])
    missing = swept["sweep"]["trained"][-1]
    with store.open_store(corpus["db"]) as con:  # as if the sweep had been killed before its last model
        con.execute("DELETE FROM sweep_runs WHERE train_run_id = ?", [missing])
        con.execute("DELETE FROM train_runs WHERE train_run_id = ?", [missing])
    again = _sweep(capsys, corpus["argv"])
    assert again["sweep"]["trained"] == [missing]
    assert sorted(again["sweep"]["already_recorded"]) == sorted(set(before) - {missing})
    after = _models(corpus["db"])
    assert {k: v for k, v in after.items() if k != missing} == {k: v for k, v in before.items() if k != missing}
    assert after[missing] > before[missing]
    # killed after training but before tagging: the model is found and tagged, nothing trains
    with store.open_store(corpus["db"]) as con:
        con.execute("DELETE FROM sweep_runs WHERE train_run_id = ?", [missing])
    third = _sweep(capsys, corpus["argv"])
    assert third["sweep"]["trained"] == [] and third["sweep"]["adopted"] == [missing]
    assert _models(corpus["db"]) == after
    assert len(third["curve"]) == 2 and all(r["seeds"] == 2 for r in third["curve"])


# trains four tiny models (about 20 s on a busy two-core machine)
@pytest.mark.slow
def test_the_table_marks_the_data_constrained_value(corpus, swept, capsys):
    assert main(corpus["argv"]) == 0
    out = capsys.readouterr().out
    assert "trained 0, already recorded 4" in out
    tight = next(line for line in out.splitlines() if line.startswith("100 "))
    assert "data-constrained (> 4 epochs)" in tight
    assert "data-constrained: 100 (" in out and "Muennighoff" in out
    assert "junk_rate" in out  # the per-metric table


# trains four tiny models (about 20 s on a busy two-core machine)
@pytest.mark.slow
def test_the_sweep_as_csv_has_one_line_per_value(corpus, swept, capsys):
    import csv

    assert main([*corpus["argv"], "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["value"] for r in rows] == ["20.0", "100.0"]
    assert rows[1]["data_constrained"] == "true" and rows[0]["data_constrained"] == "false"


def test_models_trained_alike_before_are_tagged_not_trained_again(tmp_path, capsys):
    """What a killed sweep leaves (models in train_runs, not yet tagged) is found by its setup."""
    c = _corpus(tmp_path)
    base = recipes.load_recipe(c["recipe"])
    with store.open_store(c["db"]) as con:
        for value in (20, 100):
            slice_id = recipes.build_slice(con, sweeps.derive(base, "word_count", "min", value)).slice_id
            for seed in (0, 1):
                store.insert(con, "train_runs", {
                    "train_run_id": f"{slice_id}-s{seed}", "slice_id": slice_id, "slice_name": "x", "seed": seed,
                    "config": json.dumps({"token_budget": 1024, "preset": "tiny", "batch_size": 2}),
                    "tokens": 1024, "epochs": None, "bpb": 3.0 + value / 1000 + seed / 100, "val_text": str(c["val"]),
                    "metrics": json.dumps({"junk_rate": 0.5}), "created_at": store.now()})
    doc = _sweep(capsys, c["argv"])
    assert doc["sweep"]["trained"] == [] and len(doc["sweep"]["adopted"]) == 4
    loose, tight = doc["curve"]
    assert loose["bpb_mean"] == pytest.approx(3.025) and tight["bpb_mean"] == pytest.approx(3.105)
    assert tight["bpb_verdict"] == "worse, beyond noise" and tight["epochs_from"] == "estimated"
    again = _sweep(capsys, c["argv"])
    assert sorted(again["sweep"]["already_recorded"]) == sorted(doc["sweep"]["adopted"])


@pytest.mark.parametrize("args, needles", [
    (["strict", "--signal", "pii_email_count"], ["recipe 'strict'", "no rule on 'pii_email_count'"]),
    (["strict", "--signal", "qualty"], ["'qualty'", "did you mean 'quality'"]),
    (["strict", "--signal", "lang"], ["recipe 'strict'", "'lang'", "no min or max"]),
    (["strict", "--signal", "gopher_word_count"], ["both min 50 and max 100000", "--bound"]),
    (["strict", "--signal", "quality", "--values", "1.5"], ["--values 1.5", "quality lies in 0..1"]),
    (["strict", "--signal", "quality", "--tokens", "10"], ["--tokens 10"]),
    (["strcit", "--signal", "quality"], ["did you mean 'strict'"]),
    (["strict", "--signal", "quality", "--values", "nan"], ["finite"]),
    (["strict", "--signal", "quality", "--val-text", "/no/such.txt"], ["--val-text /no/such.txt: no such file"]),
])
def test_bad_arguments_are_refused_before_the_store_is_opened(args, needles, capsys, tmp_path):
    db = tmp_path / "none.duckdb"
    argv = ["sweep", *args, "--db", str(db)]
    if "--values" not in args:
        argv += ["--values", "0.1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    assert not db.exists()


def test_a_derived_recipe_sets_only_the_swept_bound_and_the_same_value_gives_the_same_recipe():
    strict = recipes.load_recipe("strict")
    rule, bound = sweeps.sweep_rule(strict, "quality")
    assert bound == "min" and rule.min == 0.02
    a, b = sweeps.derive(strict, "quality", "min", 0.3), sweeps.derive(strict, "quality", "min", 0.3)
    assert a.recipe_id == b.recipe_id and a.name == "strict.quality.min.0.3"
    assert a.recipe_id != sweeps.derive(strict, "quality", "min", 0.4).recipe_id
    changed = [(x, y) for x, y in zip(strict.rules, a.rules) if x != y]
    assert [(x.signal, y.min) for x, y in changed] == [("quality", 0.3)] and a.dedup == strict.dedup
    _, both = sweeps.sweep_rule(strict, "gopher_word_count", "max")
    assert sweeps.derive(strict, "gopher_word_count", both, 5000).rules[3].max == 5000
    assert store.RECIPE_NAME.fullmatch(sweeps.derive(strict, "quality", "min", 1e-7).name)


def test_metrics_are_read_generically_counts_left_out():
    metrics = {"junk_rate": 0.5, "memorization_probes": 7, "heldout_bpb": {"spam": 2.5, "clean": 3.0, "n_docs": 9},
               "label": "x", "flag": True, "nan": float("nan")}
    assert sweeps.flat_metrics(metrics) == {"junk_rate": 0.5, "heldout_bpb.spam": 2.5, "heldout_bpb.clean": 3.0}


def test_the_curve_estimates_epochs_when_no_model_read_its_slice_through():
    points = [{"value": 0.1, "slice_id": "s", "seed": seed, "train_run_id": f"r{seed}", "n_documents": 10,
               "n_kept": 5, "kept_bytes": 4000, "tokens": 5000, "epochs": None, "metrics": {"bpb": 3.0 + seed}}
              for seed in (0, 1)]
    (row,) = sweeps.curve(points, token_budget=5000)
    assert row["epochs_from"] == "estimated" and row["epochs"] == pytest.approx(5.0)  # 5000 / (4000 / 4)
    assert row["data_constrained"] and row["kept_share"] == 0.5
    assert row["bpb_mean"] == 3.5 and row["bpb_sd"] == pytest.approx(0.7071, abs=1e-4)


def test_an_old_store_without_sweep_tables_reads_and_upgrades(tmp_path):
    db = tmp_path / "old.duckdb"
    with store.open_store(db) as con:  # a store as version 1 made it
        con.execute("DROP TABLE sweep_runs")
        con.execute("DROP TABLE sweeps")
        store.set_meta(con, "schema_version", "1")
    with store.open_store(db, read_only=True) as con:
        assert sweeps.sweep_list(con) == [] and sweeps.sweep_points(con, "x") == []
    with store.open_store(db) as con:
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)
        assert store.table_exists(con, "sweeps") and store.table_exists(con, "sweep_runs")


def test_every_metric_gets_a_verdict_against_the_loosest_value():
    """Which way and whether beyond the seeds' spread, for each metric, in words."""
    def point(value, seed, bpb, junk, heldout):
        return {"value": value, "slice_id": f"s{value}", "n_kept": 100 - value, "n_documents": 100,
                "kept_bytes": 4000, "tokens": 1000, "epochs": None, "seed": seed,
                "metrics": {"bpb": bpb, "junk_rate": junk, "heldout_bpb_spam": heldout}}

    points = [point(10, 0, 3.00, 0.50, 2.0), point(10, 1, 3.01, 0.52, 2.1), point(10, 2, 3.02, 0.51, 2.05),
              point(50, 0, 3.30, 0.20, 2.6), point(50, 1, 3.31, 0.21, 2.7), point(50, 2, 3.32, 0.22, 2.65),
              point(60, 0, 3.00, 0.50, 2.0), point(60, 1, 3.30, 0.10, 2.9)]
    rows = {r["value"]: r for r in sweeps.curve(points, 1000)}
    assert rows[10]["bpb_verdict"] == rows[10]["junk_rate_verdict"] == "reference"
    assert rows[50]["bpb_verdict"] == "worse, beyond noise"
    assert rows[50]["junk_rate_verdict"] == "better, beyond noise"  # a lower junk rate is better
    assert rows[50]["heldout_bpb_spam_verdict"] == "higher, beyond noise"  # no better side
    assert rows[60]["bpb_verdict"].endswith("within noise")
    _, by_metric = sweeps.curve_tables(list(rows.values()), "word_count", "min")[1]
    cells = {row[0]: row[1:] for row in by_metric}
    assert cells["junk_rate"][1].endswith("(better, beyond noise)") and "(" not in cells["junk_rate"][0]
