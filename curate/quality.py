"""Training the quality classifier on the user's own corpus, labelled by the heuristics.

Why not the reference-vs-raw design of DCLM (Li et al. 2024): a classifier trained on a
clean reference set against the corpus learns "looks like the reference's sources". On the
labelled corpus from other sources (sample_data/cross) it dropped 91% of the clean English
documents at the threshold that cost 0.4 points on the sample. Here the labels come from the
corpus itself:

- the teacher: the published content rules (Gopher quality and repetition, C4, FineWeb,
  encoding) except those that drop clean genres (GENRE_RULES: dialogue, poems, scripture,
  quotes, technical text), the "precise" rules;
- positives: documents that pass every precise rule;
- negatives: documents that fail at least ``min_failed`` of them (junk the heuristics see);
- blank documents are scored but not trained on;
- one document per exact-duplicate group (``text_hash``), at most ``max_per_class`` of each;
- out-of-fold scores: every document a model trained on is scored by a fold model that did
  not see it; all other documents by the model trained on every labelled document, which
  is also the one saved for documents ingested later;
- calibration: the stored `quality` is the share of out-of-fold *positive* scores below the
  document's raw score (optionally among the positives of its own language), so a recipe's
  ``quality: {min: 0.02}`` means "drop what scores lower than 98% of the documents the
  heuristics call clean" in every corpus, whatever the raw probabilities of that corpus's
  model look like.

The classifier then judges the corpus's junk by what the heuristics already found in that
same corpus (vocabulary of boilerplate, spam and templates) and generalizes it to documents
that slip past the rules, instead of judging unfamiliar sources. bench/RESULTS.md
("Quality classifier") has the figures of each design on both labelled corpora.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import xxhash

from curate import store
from curate.errors import UsageError
from curate.signals import SIGNALS_VERSION
from curate.signals.quality import (
    QualityModel,
    QualityParams,
    calibration_points,
    load_quality_model,
    train_quality_model,
)

TEACHER_FAMILIES = ("gopher_quality", "gopher_repetition", "c4", "fineweb", "encoding")
# Published rules that drop clean genres (ablation on the sample, bench/RESULTS.md "Cleaning
# quality"): Gopher's bullet lines drop dialogue, its duplicated 5-10-grams scripture, C4's
# sentence count short quotes and its curly brackets technical text, FineWeb's line rules
# poems. As teachers they would make the classifier learn "dialogue / poems are junk".
GENRE_RULES = ("gopher_bullet_line_frac", "gopher_dup_5gram_char_frac", "gopher_dup_6gram_char_frac",
               "gopher_dup_7gram_char_frac", "gopher_dup_8gram_char_frac", "gopher_dup_9gram_char_frac",
               "gopher_dup_10gram_char_frac", "c4_sentence_count", "c4_curly_bracket_count",
               "fineweb_punct_line_frac", "fineweb_short_line_frac", "fineweb_dup_line_char_frac",
               "fineweb_newline_word_ratio")
TEACHERS = ("precise", "published")
DESIGNS = ("heuristic", "heuristic+reference", "reference")


@dataclass(frozen=True)
class QualityDesign:
    """How the classifier is trained; the default is the one bench/RESULTS.md chose."""

    labels: str = "heuristic"  # heuristic | heuristic+reference | reference (DCLM: reference vs raw)
    min_failed: int = 1  # negatives fail at least this many of the teacher's rules
    teacher: str = "precise"  # precise: published content rules but GENRE_RULES; published: all
    folds: int = 3
    max_per_class: int = 20_000
    calibrate: bool = True
    out_of_fold: bool = True  # False: documents trained on are scored by the model that saw them
    # None: one ranking for the corpus (chosen: bench/RESULTS.md). N: a language with N or more
    # clean-with-margin documents is ranked among its own (fairer to minority languages, but
    # every language then loses its bottom share, English included)
    min_per_language: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.labels not in DESIGNS:
            raise UsageError(f"quality labels must be one of {', '.join(DESIGNS)}, not {self.labels!r}")
        if self.teacher not in TEACHERS:
            raise UsageError(f"quality teacher must be one of {', '.join(TEACHERS)}, not {self.teacher!r}")
        if self.folds < 2:
            raise UsageError(f"quality folds must be at least 2, not {self.folds}")


@dataclass(frozen=True)
class QualityReport:
    model_path: Path
    design: QualityDesign
    n_positive: int
    n_negative: int
    n_reference: int
    heldout: dict
    rescored: int
    seconds: float
    notes: list[str] = field(default_factory=list)


quality_model_path = store.quality_model_path


def teacher_rules(teacher: str = "precise"):
    """The published content rules (signals with their default bounds) the labels come from."""
    from curate.signals import REGISTRY

    return [s for s in REGISTRY if s.family in TEACHER_FAMILIES and s.has_default
            and (teacher == "published" or s.name not in GENRE_RULES)]


def _failed_rules_sql(teacher: str = "precise") -> tuple[str, list]:
    from curate.recipes import Rule, rule_reasons

    parts, params = [], []
    for s in teacher_rules(teacher):
        for cond, _reason, values in rule_reasons(Rule(s.name,
                                              min=s.default_min, max=s.default_max)):
            parts.append(f"(CASE WHEN {cond} THEN 1 ELSE 0 END)")
            params.extend(values)
    return " + ".join(parts) or "0", params


def heuristic_labels(con: duckdb.DuckDBPyConnection, design: QualityDesign) -> pa.Table:
    """doc_id, text, y (1 clean with margin, 0 junk) for one document per text_hash."""
    failed, params = _failed_rules_sql(design.teacher)
    sql = f"""
        WITH f AS (
            SELECT d.doc_id, d.text, d.text_hash, s.lang, ({failed}) AS n_failed
            FROM documents d JOIN signals s USING (doc_id)
            WHERE length(trim(d.text)) > 0
        ), one AS (
            SELECT *, row_number() OVER (PARTITION BY text_hash ORDER BY doc_id) AS copy_no FROM f
        ), labelled AS (
            SELECT doc_id, text_hash, lang, text, CASE WHEN n_failed = 0 THEN 1 ELSE 0 END AS y FROM one
            WHERE copy_no = 1 AND (n_failed = 0 OR n_failed >= ?)
        )
        SELECT doc_id, text_hash, lang, text, y FROM (
            SELECT *, row_number() OVER (PARTITION BY y ORDER BY md5(doc_id || ?::VARCHAR)) AS pick
            FROM labelled)
        WHERE pick <= ? ORDER BY doc_id"""
    return store.arrow(con, sql, [*params, design.min_failed, design.seed, design.max_per_class])


def raw_negatives(con: duckdb.DuckDBPyConnection, n: int, seed: int) -> pa.Table:
    """DCLM's negatives: a random sample of the raw corpus, junk and clean alike."""
    return store.arrow(
        con, "SELECT d.doc_id, d.text_hash, s.lang, d.text, 0 AS y FROM documents d LEFT JOIN signals s USING (doc_id) "
        "ORDER BY md5(d.doc_id || ?::VARCHAR) LIMIT ?", [seed, n])


def read_reference(path: Path | str) -> list[str]:
    """The texts of the reference file, a local path or a URL (`s3://...`)."""
    from curate import remote
    from curate.ingest import IngestOptions, read_records

    with remote.local_file(path, "--reference") as local:
        if not local.is_file():
            raise UsageError(f"reference file not found: {path}")
        return [r.text for r in read_records(local, IngestOptions()) if r.text is not None]


def _fold(doc_ids: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """A document's fold, from a hash fixed by its specification (xxh64), not a library's."""
    return np.array([xxhash.xxh64_intdigest(f"{seed}:{d}".encode()) % folds for d in doc_ids], dtype=np.int64)


def _metrics(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    keep = scores >= threshold
    tp = int((keep & (y == 1)).sum())
    fp = int((keep & (y == 0)).sum())
    fn = int((~keep & (y == 1)).sum())
    tn = int((~keep & (y == 0)).sum())
    pos, neg = scores[y == 1], scores[y == 0]
    auc = None
    if len(pos) and len(neg):  # Mann-Whitney: P(score of a positive > score of a negative)
        order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
        ranks = np.empty(len(order))
        ranks[order] = np.arange(1, len(order) + 1)
        auc = float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
    return {
        "threshold": threshold,
        "clean-with-margin kept (recall)": round(tp / (tp + fn), 4) if tp + fn else None,
        "heuristic junk dropped": round(tn / (tn + fp), 4) if tn + fp else None,
        "precision of kept": round(tp / (tp + fp), 4) if tp + fp else None,
        "auc": None if auc is None else round(auc, 4),
        "n": tp + fp + fn + tn,
    }


def train_quality(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    design: QualityDesign = QualityDesign(),
    *,
    reference: Path | str | None = None,
    params: QualityParams | None = None,
    on_log: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> QualityReport:
    """Train the classifier the design says, save it beside the store and rescore `quality`.

    Every stored score comes from a model that did not train on that document. The fold
    models and the final one train side by side on up to `workers` threads (default: all
    cores); the models, and so the stored scores, are the same for any number of workers.
    """
    t0 = time.perf_counter()
    say = on_log or (lambda m: None)
    params = params or QualityParams(seed=design.seed)
    if not store.count_rows(con, "signals"):
        raise UsageError("no scored documents: run `curate score` before `curate quality train`")
    notes: list[str] = []
    ref_texts: list[str] = []
    if design.labels in ("reference", "heuristic+reference"):
        if reference is None:
            raise UsageError(f"quality labels {design.labels!r} need --reference FILE (clean JSONL)")
        ref_texts = read_reference(reference)
        if not ref_texts:
            raise UsageError(f"{reference}: no reference documents")
    if design.labels == "reference":
        table = raw_negatives(con, len(ref_texts), design.seed)
    else:
        table = heuristic_labels(con, design)
    doc_ids = table.column("doc_id").to_pylist()
    text_hashes = table.column("text_hash").to_pylist()
    langs = table.column("lang").to_pylist()
    texts = table.column("text").to_pylist()
    y = np.asarray(table.column("y").to_pylist(), dtype=np.int64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if design.labels != "reference" and (n_pos < 10 or n_neg < 10):
        raise UsageError(
            f"too few documents to train the quality classifier from the heuristics' verdicts: "
            f"{n_pos} pass every {design.teacher} content rule, {n_neg} fail {design.min_failed} or more "
            f"(need 10 of each); ingest more documents, or train on a clean reference set with "
            f"`curate quality train --labels reference --reference FILE`")
    say(f"quality: {design.labels} labels, {n_pos:,} clean-with-margin vs {n_neg:,} junk documents"
        + (f" + {len(ref_texts):,} reference" if ref_texts else ""))

    def fit(rows: np.ndarray, path: Path, extra_meta: dict | None = None) -> QualityModel:
        pos = [texts[i] for i in rows if y[i] == 1] + ref_texts
        neg = [texts[i] for i in rows if y[i] == 0]
        # the signal version whose rules labelled the documents (the model is its student)
        meta = {"signals_version": SIGNALS_VERSION, **(extra_meta or {})}
        return train_quality_model(pos, neg, path, params, extra_meta=meta)

    path = quality_model_path(db)
    meta = {"design": asdict(design), "reference": str(reference) if reference else None}
    # everything is trained under a temporary folder and the finished model (calibration and
    # figures in its .json) renamed into place last: a killed run leaves no half-made model
    with tempfile.TemporaryDirectory(dir=store.artifacts_dir(db)) as tmp:
        oof = np.zeros(len(texts))

        def fold_scores(k: int) -> None:  # each fold writes only its own held-out rows
            held = np.flatnonzero(fold == k)
            model_k = fit(np.flatnonzero(fold != k), Path(tmp) / f"fold{k}.bin")
            oof[held] = model_k.predict_raw([texts[i] for i in held])

        def final() -> QualityModel:
            return fit(np.arange(len(texts)), Path(tmp) / path.name, extra_meta=meta)

        # The fold models and the final one are independent, each trained with thread=1 and
        # the design's seed, so running them side by side gives the very models the serial
        # order gives. fastText's training releases the GIL: threads suffice (bench_quality_stage.py).
        tasks: list[Callable] = [final]
        if design.out_of_fold:
            fold = _fold(doc_ids, design.folds, design.seed)
            tasks += [lambda k=k: fold_scores(k) for k in range(design.folds) if (fold == k).any()]
        n_workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
        if n_workers == 1:
            results = [task() for task in tasks]
        else:
            with ThreadPoolExecutor(n_workers, thread_name_prefix="quality-train") as pool:
                results = [f.result() for f in [pool.submit(task) for task in tasks]]
        model = results[0]
        if not design.out_of_fold:  # in-sample: the documents are scored by the model that saw them
            oof = model.predict_raw(texts)
        # the positive class's scores define the calibration; with reference labels every corpus
        # document is a "negative", so the corpus sample's own scores calibrate (the weaker choice)
        if design.calibrate:
            calibrating = y == 1 if n_pos else np.ones(len(y), dtype=bool)
            by_lang = (_points_by_lang(oof, langs, calibrating, design.min_per_language)
                       if design.min_per_language else None)
            model.set_calibration(calibration_points(oof[calibrating]), by_lang)
        stored_oof = model.calibrate(oof, langs)
        heldout = _metrics(stored_oof, y, 0.5 if not design.calibrate else 0.02)
        model.record_metrics(heldout)
        os.replace(model.path.with_suffix(".json"), path.with_suffix(".json"))
        os.replace(model.path, path)
        model.path = path
    n = rescore_quality(con, model, out_of_fold=dict(zip(text_hashes, stored_oof)), workers=workers)
    from curate.dedup import lsh

    # clusters keep their best member by quality: choose them again with the new scores
    refreshed = lsh.refresh_clusters(con)
    if refreshed:
        notes.append(f"near-duplicate representatives chosen again at {', '.join(map(str, refreshed))}")
    return QualityReport(path, design, n_pos, n_neg, len(ref_texts), heldout, n, time.perf_counter() - t0, notes)


def _points_by_lang(scores: np.ndarray, langs: list, calibrating: np.ndarray, minimum: int) -> dict:
    """Calibration points of every language with at least `minimum` calibrating documents."""
    by: dict[str, list[int]] = {}
    for i in np.flatnonzero(calibrating):
        if langs[i]:
            by.setdefault(langs[i], []).append(i)
    return {lang: calibration_points(scores[rows]) for lang, rows in sorted(by.items()) if len(rows) >= minimum}


# Below this many documents to predict, rescoring stays in this process: starting a worker
# (its imports and the model) costs about as much as predicting them.
PARALLEL_RESCORE_MIN = 20_000

_worker_model: QualityModel | None = None


def _load_worker_model(path: str) -> None:
    global _worker_model
    _worker_model = load_quality_model(Path(path))


def _worker_predict(texts: list[str], langs: list) -> np.ndarray:
    return _worker_model.predict_proba(texts, langs)


def _nothing() -> None:
    pass


def rescore_quality(con: duckdb.DuckDBPyConnection, model: QualityModel, *, out_of_fold: dict | None = None,
                    only_missing: bool = False, batch_size: int = 5000, workers: int | None = None) -> int:
    """Refresh `quality` of every scored document in one transaction. `out_of_fold` maps a
    text_hash the model trained on to its out-of-fold score, which every copy of that text
    gets (identical texts must score the same, or the copy dedup keeps and the copy the
    quality rule drops could differ).

    fastText's prediction holds the GIL, so with more than one worker (default: all cores)
    and at least PARALLEL_RESCORE_MIN documents to predict, batches are predicted in a process
    pool (curate.pool) whose workers load the saved model: the same file, the same scores."""
    from curate.pool import ordered_map

    where = "WHERE s.quality IS NULL " if only_missing else ""
    oof = out_of_fold or {}
    n_docs = con.execute(f"SELECT count(*) FROM signals s {where}").fetchone()[0]
    n_workers = max(1, workers or os.cpu_count() or 1)
    if n_docs - len(oof) < PARALLEL_RESCORE_MIN:
        n_workers = 1
    predict, setup, setup_args = ((model.predict_proba, _nothing, ()) if n_workers == 1
                                  else (_worker_predict, _load_worker_model, (str(model.path),)))
    reader = con.cursor()
    reader.execute("SELECT s.doc_id, d.text_hash, d.text, s.lang FROM signals s JOIN documents d USING (doc_id) "
                   + where)  # unsorted: no text is held back

    def batches():  # ((rows, their scores so far, the rows to predict), the arguments of predict)
        while rows := reader.fetchmany(batch_size):
            # a text the model trained on keeps its out-of-fold score: predict only the others
            probs = np.array([oof.get(r[1], np.nan) for r in rows], dtype=np.float64)
            todo = np.flatnonzero(np.isnan(probs))
            yield (rows, probs, todo), ([rows[i][2] for i in todo], [rows[i][3] for i in todo])

    n = 0
    with store.transaction(con):
        try:
            for (rows, probs, todo), predicted in ordered_map(predict, batches(), workers=n_workers,
                                                                initializer=setup, initargs=setup_args):
                probs[todo] = predicted
                store.register(con, "_q_batch", pa.table({"doc_id": [r[0] for r in rows], "q": probs}))
                con.execute("UPDATE signals SET quality = b.q FROM _q_batch b WHERE signals.doc_id = b.doc_id")
                con.unregister("_q_batch")
                n += len(rows)
        finally:
            reader.close()
    return n


def recipe_needs_model(recipe) -> bool:
    return "quality" in recipe.signals_used


def load_model_or_none(db: Path) -> QualityModel | None:
    path = quality_model_path(db)
    return load_quality_model(path) if path.exists() else None


def eval_quality(db: Path) -> dict:
    """The held-out (out-of-fold) figures recorded when the model was trained."""
    path = quality_model_path(db)
    if not path.exists():
        raise UsageError(f"no quality model at {path}: run `curate quality train` first")
    model = load_quality_model(path)
    return {**model.meta.get("heldout", {}), "design": model.meta.get("design", {}).get("labels", "reference (v1)")}


# --- the quality stage of `curate run` -------------------------------------------------


def obtain_quality_model(con: duckdb.DuckDBPyConnection, db: Path, recipe, stage: Callable[[str], None]):
    """A recipe that filters on `quality` on a store with no model: train one the default way
    (QualityDesign()) as a stage of this run, and rescore. None when not needed."""
    if not recipe_needs_model(recipe):
        return None
    model = load_model_or_none(db)
    if model is None:
        stage("quality (no model yet: training the classifier on this corpus, labelled by the heuristics)")
        return train_quality(con, db, QualityDesign(), on_log=stage)
    # a run killed after the model was saved and before its scores were: score the rest
    unscored = con.execute("SELECT count(*) FROM signals WHERE quality IS NULL").fetchone()[0]
    if unscored:
        stage(f"quality (scoring {unscored:,} documents the model has not scored)")
        rescore_quality(con, model, only_missing=True)
    return None


def quality_note(rep) -> str:
    return (f"trained the quality classifier ({rep.design.labels} labels: {rep.n_positive:,} clean-with-margin vs "
            f"{rep.n_negative:,} junk documents) and rescored {rep.rescored:,} documents")
