"""Quality classifier: a fastText bigram model (as DCLM's), its calibrated score a signal.

Li et al. 2024 (DataComp-LM) train a bigram fastText classifier with high-quality text as
positives and raw web text as negatives. The platform trains its own, on labels that
curate/quality.py draws from the user's corpus (documents the heuristics call clean with
margin vs junk they are sure of), so nothing is downloaded. The stored score is calibrated:
the share of the classifier's out-of-fold scores of clean-with-margin documents that lie
below the document's raw score (the calibration points are saved with the model).

Determinism: fastText's Hogwild SGD is only reproducible with one thread; `thread=1` and a
fixed seed give the same model for the same data. fasttext-wheel 0.9.2 is required
(0.9.3 leaves part of the input matrix uninitialised when thread < 10 and trains to NaN).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.signals.batch import Batch
from curate.signals.langid import _quiet_fasttext, detected, fasttext_predict
from curate.signals.registry import Family
from curate.signals.text import TOKEN_RE, to_series

POSITIVE = "__label__hq"
NEGATIVE = "__label__lq"

FAMILY = Family(
    "quality",
    source="Li et al. 2024 (DCLM), Sec. 4.3: fastText bigram classifier; labels and calibration: curate/quality.py",
)
SIGNALS = (
    FAMILY.signal(
        name="quality", dtype="DOUBLE", lo=0, hi=1, version="v2",
        meaning="calibrated fastText quality score: the share of the corpus's clean-with-margin documents "
                "(out of fold) that score lower; null when no model was given, 0 for blank documents",
    ),
)


@dataclass(frozen=True)
class QualityParams:
    lr: float = 0.3
    epoch: int = 10
    word_ngrams: int = 2  # DCLM: bigram features
    dim: int = 32
    min_count: int = 2
    bucket: int = 2**18  # hashed n-gram rows: dim x bucket floats (32 MB at these defaults)
    seed: int = 0
    thread: int = 1
    max_tokens: int = 2000  # the opening of a document is enough to judge it, and cheaper


class QualityModelError(RuntimeError):
    pass


def prepare(texts: Sequence[str], max_tokens: int) -> list[str]:
    """One line per text: lowercase tokens (text.py segmentation, so CJK works) joined by spaces."""
    if not texts:
        return []
    toks = to_series(texts).str.to_lowercase().str.extract_all(TOKEN_RE).list.head(max_tokens)
    return toks.list.join(" ").to_list()


CALIBRATION_POINTS = 1001


def calibration_points(scores: np.ndarray) -> list[float]:
    """The quantiles (0, 0.1%, ..., 100%) of the calibrating scores, as saved with the model."""
    scores = np.asarray(scores, dtype=np.float64)
    if not len(scores):
        return []
    return [float(x) for x in np.quantile(scores, np.linspace(0.0, 1.0, CALIBRATION_POINTS))]


class QualityModel:
    def __init__(self, model, path: Path, meta: dict) -> None:
        self._model = model
        self.path = path
        self.meta = meta
        self.max_tokens = int(meta.get("params", {}).get("max_tokens", QualityParams.max_tokens))
        points = meta.get("calibration")
        self._points = np.asarray(points, dtype=np.float64) if points else None
        self._points_by_lang = {lang: np.asarray(p, dtype=np.float64)
                                for lang, p in (meta.get("calibration_by_lang") or {}).items() if p}

    def predict_raw(self, texts: Sequence[str]) -> np.ndarray:
        """The classifier's P(clean) in [0, 1] per text; 0.0 for blank texts."""
        lines = prepare(texts, self.max_tokens)
        out = np.zeros(len(lines), dtype=np.float64)
        rows = [i for i, t in enumerate(lines) if t.strip()]
        if rows:
            for i, pred in zip(rows, fasttext_predict(self._model, [lines[i] for i in rows], k=-1)):
                d = {label: p for p, label in pred}
                out[i] = d[POSITIVE] if POSITIVE in d else 1.0 - d.get(NEGATIVE, 1.0)
        return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)

    def calibrate(self, raw: np.ndarray, langs: Sequence[str | None] | None = None) -> np.ndarray:
        """Raw scores -> the share of calibrating scores below them (identity without points).

        With `langs`, a document of a language that has points of its own is placed among
        that language's clean documents (a minority language's clean text scores lower than
        the majority's and would otherwise sit at the bottom of the common ranking).
        """
        raw = np.asarray(raw, dtype=np.float64)
        if self._points is None:
            return raw
        out = np.searchsorted(self._points, raw, side="left") / len(self._points)  # points strictly below
        if langs is not None and self._points_by_lang:
            langs = np.asarray([x or "" for x in langs], dtype=object)
            for lang, points in self._points_by_lang.items():
                rows = np.flatnonzero(langs == lang)
                if len(rows):
                    out[rows] = np.searchsorted(points, raw[rows], side="left") / len(points)
        return np.clip(out, 0.0, 1.0)

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> np.ndarray:
        """The stored `quality` score per text: calibrated when the model has points (per
        language when `langs` are given); 0.0 for blank texts."""
        return self.calibrate(self.predict_raw(texts), langs)

    def set_calibration(self, points: Sequence[float], by_lang: dict[str, Sequence[float]] | None = None) -> None:
        """Calibrate from now on with these points (calibration_points), saved with the model."""
        self.meta["calibration"] = list(points)
        self.meta["calibration_by_lang"] = {k: list(v) for k, v in (by_lang or {}).items()}
        self._points = np.asarray(points, dtype=np.float64) if len(points) else None
        self._points_by_lang = {k: np.asarray(v, dtype=np.float64) for k, v in (by_lang or {}).items() if len(v)}
        self._save_meta()

    def record_metrics(self, metrics: dict) -> None:
        """Save held-out figures into the model's .json beside it."""
        self.meta["heldout"] = metrics
        self._save_meta()

    def _save_meta(self) -> None:
        meta_path = self.path.with_suffix(".json")
        tmp = meta_path.with_name(meta_path.name + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, meta_path)


def train_quality_model(
    positive: Sequence[str], negative: Sequence[str], path: Path, params: QualityParams = QualityParams(),
    *, calibration: Sequence[float] | None = None, extra_meta: dict | None = None,
) -> QualityModel:
    """Train positives vs negatives; write `path` and its .json (params, calibration points)."""
    pos = [t for t in prepare(positive, params.max_tokens) if t.strip()]
    neg = [t for t in prepare(negative, params.max_tokens) if t.strip()]
    if not pos or not neg:
        raise ValueError(f"need non-blank positive and negative texts, got {len(pos)} and {len(neg)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Interleave so that SGD does not see all of one class first.
    rows = [f"{POSITIVE} {t}" for t in pos] + [f"{NEGATIVE} {t}" for t in neg]
    order = np.random.default_rng(params.seed).permutation(len(rows))
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(rows[i] for i in order) + "\n", encoding="utf-8")
        model = _quiet_fasttext().train_supervised(
            input=str(train_file), lr=params.lr, epoch=params.epoch, wordNgrams=params.word_ngrams,
            dim=params.dim, minCount=params.min_count, bucket=params.bucket, seed=params.seed,
            thread=params.thread, loss="softmax", verbose=0,
        )
        probe = fasttext_predict(model, pos[:1] + neg[:1], k=-1)
        if any(not math.isfinite(p) for pred in probe for p, _ in pred):
            raise QualityModelError("fastText training diverged (NaN); check the fasttext version (need 0.9.2)")
        tmp_model = Path(tmp) / "model.bin"
        model.save_model(str(tmp_model))
        meta = {
            "params": asdict(params),
            "n_positive": len(pos),
            "n_negative": len(neg),
            "labels": [POSITIVE, NEGATIVE],
            "format": "fasttext-0.9.2-bin",
            "calibration": list(calibration) if calibration else None,
            **(extra_meta or {}),
        }
        tmp_meta = Path(tmp) / "model.json"
        tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp_model, path)
        os.replace(tmp_meta, path.with_suffix(".json"))
    return QualityModel(model, path, meta)


def load_quality_model(path: Path) -> QualityModel:
    path = Path(path)
    if not path.is_file():
        raise QualityModelError(f"quality model not found: {path}")
    try:
        model = _quiet_fasttext().load_model(str(path))
    except Exception as exc:  # fastText raises ValueError with a C++ message on a bad file
        raise QualityModelError(f"cannot load quality model {path}: {exc}") from exc
    if not set(model.get_labels()) & {POSITIVE, NEGATIVE}:
        raise QualityModelError(f"{path} is a fastText model without {POSITIVE}/{NEGATIVE} labels")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return QualityModel(model, path, meta)


def evaluate_quality_model(
    model: QualityModel, positive: Sequence[str], negative: Sequence[str], threshold: float = 0.5
) -> dict:
    """Precision, recall, F1 and accuracy of `prob >= threshold` as "high quality"."""
    p = model.predict_proba(list(positive)) >= threshold
    n = model.predict_proba(list(negative)) >= threshold
    tp, fn = int(p.sum()), int((~p).sum())
    fp, tn = int(n.sum()), int((~n).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + fp + tn + fn
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / total if total else 0.0,
        "n": total,
        "threshold": threshold,
    }


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    """Calibrated per language-ID code (the one stored as `lang`); null without the batch's model."""
    if b.quality_model is None:
        return pl.DataFrame({"quality": pl.Series([None] * b.n, dtype=pl.Float64)})
    langs, _ = detected(b)
    scores = b.quality_model.predict_proba(b.text.to_list(), langs)
    return pl.DataFrame({"quality": pl.Series(scores, dtype=pl.Float64)})
