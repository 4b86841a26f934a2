from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from curate.signals import score_texts
from curate.signals.quality import (
    QualityModelError,
    QualityParams,
    evaluate_quality_model,
    load_quality_model,
    train_quality_model,
)

_SUBJECTS = ["The committee", "Our research team", "The museum", "The hospital", "A local farmer", "The engineer"]
_VERBS = ["published a detailed report on", "carefully explained", "spent two years studying",
          "presented new evidence about", "wrote a clear summary of"]
_OBJECTS = ["the history of the river valley.", "how the bridge was repaired.", "the causes of the drought.",
            "the effects of the new policy.", "the migration of birds in autumn."]
GOOD = [f"{s} {v} {o} The findings were shared with the public and discussed at length."
        for s in _SUBJECTS for v in _VERBS for o in _OBJECTS][:120]
_SPAM = ["BUY NOW cheap pills", "click here free $$$ win", "best price viagra casino", "hot deals !!! limited offer",
         "lol omg click click", "free download crack keygen"]
BAD = [f"{a} {b} >>> {c}" for a in _SPAM for b in _SPAM for c in ("www", "!!!", "cheap", "login")][:120]

TINY = QualityParams(epoch=25, lr=0.5, min_count=1, dim=16, bucket=2**14)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("q") / "quality.bin"
    train_quality_model(GOOD[::2], BAD[::2], path, TINY)
    return path


def test_training_writes_model_and_metadata_atomically(model_path):
    assert model_path.is_file()
    meta = json.loads(model_path.with_suffix(".json").read_text())
    assert meta["n_positive"] == 60 and meta["n_negative"] == 60 and meta["params"]["thread"] == 1
    assert sorted(p.name for p in model_path.parent.iterdir()) == ["quality.bin", "quality.json"]


def test_model_separates_good_from_bad_without_nan(model_path):
    model = load_quality_model(model_path)
    good, bad = model.predict_proba(GOOD[1::2]), model.predict_proba(BAD[1::2])
    assert np.isfinite(good).all() and np.isfinite(bad).all()
    assert good.min() > bad.max()
    report = evaluate_quality_model(model, GOOD[1::2], BAD[1::2])
    assert report["accuracy"] == 1.0 and report["n"] == 120 and report["f1"] == 1.0


def test_training_is_deterministic(tmp_path, model_path):
    again = train_quality_model(GOOD[::2], BAD[::2], tmp_path / "again.bin", TINY)
    first = load_quality_model(model_path)
    assert np.array_equal(again.predict_proba(GOOD[:10] + BAD[:10]), first.predict_proba(GOOD[:10] + BAD[:10]))


def test_blank_texts_score_zero_and_feed_score_texts(model_path):
    model = load_quality_model(model_path)
    assert model.predict_proba(["", " \n "]).tolist() == [0.0, 0.0]
    df = score_texts([GOOD[1], BAD[1], ""], quality_model=model)
    probs = df["quality"].to_list()
    assert all(p is not None and math.isfinite(p) for p in probs)
    assert probs[0] > 0.5 > probs[1] and probs[2] == 0.0


def test_missing_and_corrupt_models_name_the_path(tmp_path):
    with pytest.raises(QualityModelError, match="not found: .*nope.bin"):
        load_quality_model(tmp_path / "nope.bin")
    bad = tmp_path / "corrupt.bin"
    bad.write_bytes(b"not a model")
    with pytest.raises(QualityModelError, match="corrupt.bin"):
        load_quality_model(bad)


def test_training_needs_both_classes(tmp_path):
    with pytest.raises(ValueError, match="non-blank"):
        train_quality_model(GOOD, ["", "  "], tmp_path / "m.bin", TINY)
