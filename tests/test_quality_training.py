"""The quality classifier trained on the corpus's own documents (curate/quality.py)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from curate import pipeline, quality, recipes, store
from curate.engines import LocalEngine
from curate.errors import UsageError
from curate.ingest import IngestOptions
from curate.signals import SIGNALS_VERSION
from curate.signals.quality import calibration_points, load_quality_model

WORDS = ("the river ran past the old mill and the children of the village walked along it every "
         "morning while their parents talked about the harvest the weather and the price of bread").split()
SPAM = "cheap best buy discount offer".split()


def _clean(rng: random.Random, i: int) -> str:
    sentences = []
    for _ in range(8):
        n = rng.randrange(8, 16)
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
    return f"Story {i}. " + " ".join(sentences)


def _junk(rng: random.Random, i: int) -> str:
    if i % 2:
        return f"Lorem ipsum dolor sit amet {i}, consectetur adipiscing elit. " * 12
    return "\n".join(f"{rng.choice(SPAM)} {rng.choice(SPAM)} {i}" for _ in range(30))


def _store(tmp_path: Path, n_clean: int = 40, n_junk: int = 30, copies: int = 3) -> Path:
    rng = random.Random(0)
    docs = {f"c{i}": _clean(rng, i) for i in range(n_clean)}
    docs.update({f"j{i}": _junk(rng, i) for i in range(n_junk)})
    docs.update({f"copy{k}": docs["c0"] for k in range(copies)})
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    db = tmp_path / "s.duckdb"
    pipeline.ingest(db, [str(path)], IngestOptions(id_field="id"))
    with pipeline.recorded_run(db, "score", {}) as ctx:
        LocalEngine(1).score(ctx.con, db)
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0)
    return db


def _quality(db: Path) -> dict[str, float]:
    with store.open_store(db, read_only=True) as con:
        return dict(con.execute("SELECT d.external_id, s.quality FROM documents d JOIN signals s USING (doc_id)")
                    .fetchall())


def test_labels_scores_and_calibration(tmp_path):
    db = _store(tmp_path)
    with store.open_store(db) as con:
        rep = quality.train_quality(con, db)
    # one document per text: the three copies of c0 are not trained on twice
    assert rep.n_positive == 40 and rep.n_negative == 30
    q = _quality(db)
    assert all(v is not None and 0.0 <= v <= 1.0 for v in q.values())
    clean = np.median([q[f"c{i}"] for i in range(40)])
    junk = np.median([q[f"j{i}"] for i in range(30)])
    assert clean > 0.3 and junk < 0.05, (clean, junk)
    # identical texts score the same (the copies get c0's out-of-fold score)
    assert {q["c0"], q["copy0"], q["copy1"], q["copy2"]} == {q["c0"]}
    model = load_quality_model(quality.quality_model_path(db))
    assert len(model.meta["calibration"]) == 1001
    assert model.meta["design"]["labels"] == "heuristic" and model.meta["heldout"]["auc"] > 0.9
    assert model.meta["signals_version"] == SIGNALS_VERSION  # the rules that labelled it
    assert quality.eval_quality(db)["design"] == "heuristic"


def test_calibration_is_the_share_of_clean_scores_below():
    points = calibration_points(np.linspace(0.2, 0.8, 5000))
    model = quality.QualityModel.__new__(quality.QualityModel)
    model._points = np.asarray(points)
    out = model.calibrate(np.array([0.0, 0.2, 0.5, 0.8, 1.0]))
    assert out[0] == 0.0 and out[-1] == 1.0
    assert out[2] == pytest.approx(0.5, abs=0.002)
    assert np.all(np.diff(out) >= 0)


def test_too_few_documents_say_what_to_do(tmp_path):
    db = _store(tmp_path, n_clean=5, n_junk=3, copies=0)
    with store.open_store(db) as con, pytest.raises(UsageError, match="--labels reference --reference FILE"):
        quality.train_quality(con, db)


def test_reference_labels_need_a_file(tmp_path):
    db = _store(tmp_path, n_clean=12, n_junk=12, copies=0)
    with store.open_store(db) as con:
        with pytest.raises(UsageError, match="--reference"):
            quality.train_quality(con, db, quality.QualityDesign(labels="reference"))
        with pytest.raises(UsageError, match="not found"):
            quality.train_quality(con, db, quality.QualityDesign(labels="reference"), reference=tmp_path / "no.jsonl")


def test_a_run_trains_the_model_once_as_a_recorded_stage(tmp_path):
    rng = random.Random(1)
    docs = {f"c{i}": _clean(rng, i) for i in range(40)}
    docs.update({f"j{i}": _junk(rng, i) for i in range(30)})
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.jsonl").write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    recipe = recipes.parse_recipe("name: q\nfilters:\n  quality: {min: 0.02}\n")
    db = tmp_path / "s.duckdb"
    stages: list[str] = []
    rep = pipeline.run_pipeline(db, recipe, [str(inbox / "*.jsonl")], opts=IngestOptions(id_field="id"),
                            validate_slice=False, on_stage=stages.append)
    assert rep.quality is not None and any(s.startswith("quality") for s in stages)
    assert rep.slice.n_kept > 0
    with store.open_store(db, read_only=True) as con:
        message = con.execute("SELECT message FROM runs WHERE run_id = ?", [rep.run_id]).fetchone()[0]
    assert "trained the quality classifier" in message
    (inbox / "b.jsonl").write_text(json.dumps({"id": "new", "text": _clean(rng, 99)}) + "\n")
    again = pipeline.run_pipeline(db, recipe, [str(inbox / "*.jsonl")], opts=IngestOptions(id_field="id"),
                              validate_slice=False)
    assert again.quality is None  # the model exists: new documents are scored with it
    assert _quality(db)["new"] is not None


def test_a_run_killed_after_the_model_was_saved_scores_the_rest(tmp_path):
    db = _store(tmp_path, copies=0)
    with store.open_store(db) as con:
        quality.train_quality(con, db)
        # as if killed after the model file was renamed into place, before the scores committed
        con.execute("UPDATE signals SET quality = NULL WHERE doc_id IN (SELECT doc_id FROM signals LIMIT 10)")
        stages: list[str] = []
        recipe = recipes.parse_recipe("name: q\nfilters:\n  quality: {min: 0.02}\n")
        assert quality.obtain_quality_model(con, db, recipe, stages.append) is None
        assert con.execute("SELECT count(*) FROM signals WHERE quality IS NULL").fetchone()[0] == 0
    assert stages and "scoring 10 documents" in stages[0]


def test_a_language_with_its_own_points_is_ranked_among_its_own_clean_documents():
    model = quality.QualityModel.__new__(quality.QualityModel)
    model._points = np.asarray(calibration_points(np.linspace(0.5, 1.0, 1000)))
    model._points_by_lang = {"de": np.asarray(calibration_points(np.linspace(0.1, 0.5, 1000)))}
    raw = np.array([0.3, 0.3, 0.3])
    out = model.calibrate(raw, ["de", "en", None])
    assert out[0] == pytest.approx(0.5, abs=0.01)  # the middle of German clean documents
    assert out[1] == 0.0 and out[2] == 0.0  # below every clean document of the common ranking
    assert np.array_equal(model.calibrate(raw), np.zeros(3))  # no languages: the common ranking


def test_parallel_training_gives_the_serial_scores(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    serial, parallel = _store(tmp_path / "a"), _store(tmp_path / "b")
    reports = []
    for db, workers in ((serial, 1), (parallel, 2)):
        with store.open_store(db) as con:
            reports.append(quality.train_quality(con, db, quality.QualityDesign(), workers=workers))
    a, b = _quality(serial), _quality(parallel)
    assert a == b and len(a) == 73 and all(v is not None for v in a.values())
    assert reports[0].heldout == reports[1].heldout
    probe = ["the river ran past the old mill", "cheap best buy discount offer"]
    models = [load_quality_model(r.model_path) for r in reports]
    assert np.array_equal(models[0].predict_raw(probe), models[1].predict_raw(probe))


def test_rescoring_in_the_process_pool_gives_the_serial_scores(tmp_path, monkeypatch):
    """The pool's workers load the saved model and predict batches while the main process
    writes earlier ones: every document gets the score the main process gives it, texts with
    an out-of-fold score keep it, and an only-missing pass touches only the missing."""
    db = _store(tmp_path)
    with store.open_store(db) as con:
        quality.train_quality(con, db, quality.QualityDesign(), workers=1)
    model = quality.load_model_or_none(db)
    monkeypatch.setattr(quality, "PARALLEL_RESCORE_MIN", 0)
    results = []
    for workers in (1, 2):
        with store.open_store(db) as con:
            con.execute("UPDATE signals SET quality = NULL")
            n = quality.rescore_quality(con, model, batch_size=7, workers=workers)
        results.append((n, _quality(db)))
    assert results[0] == results[1] and results[0][0] == 73
    serial = results[0][1]
    assert all(v is not None for v in serial.values())
    with store.open_store(db) as con:
        hashes = dict(con.execute("SELECT external_id, text_hash FROM documents").fetchall())
        some = sorted(serial)[:5]
        con.execute("UPDATE signals SET quality = NULL")
        quality.rescore_quality(con, model, out_of_fold={hashes[d]: 0.123 for d in some}, batch_size=7, workers=2)
    got = _quality(db)
    assert {d for d in got if got[d] == 0.123} >= set(some)  # with every copy of those texts
    assert all(got[d] == serial[d] for d in got if hashes[d] not in {hashes[x] for x in some})
    with store.open_store(db) as con:
        missing = sorted(serial)[10:30]
        con.execute("UPDATE signals SET quality = NULL WHERE doc_id IN "
                    "(SELECT doc_id FROM documents WHERE list_contains(?, external_id))", [missing])
        n = quality.rescore_quality(con, model, only_missing=True, batch_size=7, workers=2)
    assert n == len(missing)
    after = _quality(db)
    assert all(after[d] == serial[d] for d in missing) and all(after[d] == got[d] for d in got if d not in missing)
