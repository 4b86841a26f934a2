"""Language identification with fastText's lid.176 model (Joulin et al. 2016, "Bag of Tricks").

The compressed model (lid.176.ftz, 917 kB, CC BY-SA 3.0) ships inside this package
(`curate/models/`, see its README), and is loaded with `fasttext`, so language ID works
offline from an installed wheel. Nothing here downloads anything.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl

from curate.errors import CurateError
from curate.resources import model_file
from curate.signals.batch import Batch
from curate.signals.registry import Family
from curate.signals.text import to_series

UNDETERMINED = "und"  # BCP 47 / ISO 639-2 code for "undetermined": empty documents
MAX_CHARS = 4000  # the first few thousand characters decide; longer input only costs time

FAMILY = Family("language", source="Joulin et al. 2016 (fastText lid.176, ftz), shipped in curate/models")
SIGNALS = (
    FAMILY.signal(
        name="lang", dtype="VARCHAR", version="v1",
        meaning="language code (ISO 639-1 where one exists, else the model's code); 'und' when empty",
    ),
    FAMILY.signal(
        name="lang_score", dtype="DOUBLE", lo=0, hi=1, version="v1",
        meaning="fastText confidence in `lang` (0 for empty documents)",
    ),
)


class LanguageModelMissing(CurateError):
    pass


def model_path() -> Path:
    path = model_file("lid.176.ftz")
    if not path.is_file():
        raise LanguageModelMissing(
            f"the language-ID model {path} is missing from this installation; "
            "reinstall curate (pip install --force-reinstall curate)")
    return path


def _quiet_fasttext():
    import fasttext

    # fasttext prints a deprecation warning on every load_model; it is not actionable.
    fasttext.FastText.eprint = lambda *_a, **_k: None
    return fasttext


@functools.lru_cache(maxsize=1)
def load_model():
    return _quiet_fasttext().load_model(str(model_path()))


def fasttext_input(texts: list[str]) -> list[str]:
    """fastText reads one line per example: newlines (any kind) become spaces."""
    return to_series(texts).str.slice(0, MAX_CHARS).str.replace_all(r"\s+", " ").to_list()


def fasttext_predict(model, lines: list[str], k: int = 1) -> list[list[tuple[float, str]]]:
    """(probability, label) pairs per newline-free line, best first.

    fasttext 0.9.2 under numpy 2: `predict(str)` raises "Unable to avoid copy", and
    `predict(list)` returns silently wrong probabilities (every entry of a k > 1 row equals
    the top one, and the top one differs from the single-line result). The low-level
    per-line call returns plain tuples and is exact; "\n" ends the line as the public
    single-string path does.
    """
    f = model.f
    return [f.predict(line + "\n", k, 0.0, "replace") for line in lines]


def predict_languages(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(language codes, confidences) for each text; 'und' and 0.0 for blank texts."""
    clean = fasttext_input(texts)
    langs = [UNDETERMINED] * len(texts)
    scores = np.zeros(len(texts), dtype=np.float64)
    # One call per distinct non-blank input: a document repeated in the batch (exact duplicates
    # are common in web dumps) is predicted once, with the same result.
    first: dict[str, int] = {}
    rows = [first.setdefault(t, i) for i, t in enumerate(clean) if t.strip()]
    unique = list(first.values())
    if unique:
        model = load_model()
        for i, pred in zip(unique, fasttext_predict(model, [clean[i] for i in unique], k=1)):
            if pred:
                scores[i], label = pred[0]
                langs[i] = label.removeprefix("__label__")
        for i, j in zip((i for i, t in enumerate(clean) if t.strip()), rows):
            if i != j:
                scores[i], langs[i] = scores[j], langs[j]
    # The quantized model's softmax can exceed 1 by ~1e-5.
    return langs, np.clip(scores, 0.0, 1.0)


def detected(b: Batch) -> tuple[list[str], np.ndarray]:
    """fastText's (codes, confidences) for the batch: the ones it was built with, else found now."""
    return b.detected if b.detected is not None else predict_languages(b.text.to_list())


@FAMILY.computes(*SIGNALS)
def score(b: Batch) -> pl.DataFrame:
    langs, scores = detected(b)
    return pl.DataFrame({"lang": pl.Series(langs, dtype=pl.String), "lang_score": pl.Series(scores, dtype=pl.Float64)})
