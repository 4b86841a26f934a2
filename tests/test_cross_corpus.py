"""The committed cross-source corpus (sample_data/cross/) parses, agrees with its labels,
and shares neither ids, sources nor text with the sample corpus it is meant to check."""
from __future__ import annotations

import gzip
import json
import random
from collections import Counter, defaultdict

import pytest

from curate import evaluation
from tests.sample_helpers import SAMPLE_ROOT as ROOT
from tests.sample_helpers import label_rows as read_label_rows
from tests.sample_helpers import read_corpus, shingle_jaccard, shingles

CROSS = ROOT / "cross"
JUNK_TYPES = {"clean", "pii", "exact_dup", "near_dup", "boilerplate", "seo_spam", "link_farm", "mojibake",
              "repeated_lines", "lorem_ipsum", "number_table", "templated", "short_fragment"}
LABEL_FIELDS = {"id", "junk_type", "lang", "dup_of", "jaccard", "source", "file", "detail", "pii", "line"}
LANGS = ("en", "de", "fr", "es", "it", "ru", "ja", "zh")


def _real_source(source: str) -> str | None:
    if source == "synthetic":
        return None
    return source.removeprefix("synthetic+")


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[str, str]]:
    return read_corpus(CROSS / "corpus")


@pytest.fixture(scope="module")
def label_rows() -> list[dict]:
    return read_label_rows(CROSS / "labels.jsonl.gz")


@pytest.fixture(scope="module")
def labels(label_rows) -> dict[str, dict]:
    return {r["id"]: r for r in label_rows}


@pytest.fixture(scope="module")
def sample_labels() -> list[dict]:
    return read_label_rows(ROOT / "labels.jsonl.gz")


def test_every_record_has_exactly_one_label(corpus, label_rows, labels):
    ids = [r["id"] for r in label_rows]
    assert len(ids) == len(set(ids)), "a record is labelled twice"
    good = {r["id"] for r in label_rows if r["junk_type"] != "malformed"}
    assert set(corpus) == good
    for doc_id, (_, file) in corpus.items():
        assert labels[doc_id]["file"] == file, doc_id
    for r in label_rows:
        assert set(r) == LABEL_FIELDS, r["id"]


def test_ids_are_unique_and_disjoint_from_the_sample(label_rows, sample_labels):
    ids = {r["id"] for r in label_rows}
    assert all(i.startswith("x") for i in ids)
    assert not ids & {r["id"] for r in sample_labels}


def test_sources_are_disjoint_from_the_sample(label_rows, sample_labels):
    ours = {_real_source(r["source"]) for r in label_rows} - {None}
    theirs = {_real_source(r["source"]) for r in sample_labels} - {None}
    assert ours and not ours & theirs, ours & theirs
    assert not any(s.startswith(("fortunes", "bible", "debian-reference", "aptitude", "chatterbot", "pyjokes",
                                 "vim", "python")) for s in ours)


def test_every_junk_type_and_language_is_present(label_rows):
    kinds = Counter(r["junk_type"] for r in label_rows)
    assert JUNK_TYPES <= set(kinds), JUNK_TYPES - set(kinds)
    junk = sum(v for k, v in kinds.items() if k not in ("clean", "pii"))
    assert 0.35 <= junk / len(label_rows) <= 0.6
    clean_langs = Counter(r["lang"] for r in label_rows if r["junk_type"] == "clean")
    for lang in LANGS:
        assert clean_langs[lang] >= 100, (lang, clean_langs[lang])


def test_enough_clean_unique_english(corpus, label_rows):
    clean_en = [r["id"] for r in label_rows if r["junk_type"] == "clean" and r["lang"] == "en" and r["dup_of"] is None]
    texts = {" ".join(corpus[i][0].split()) for i in clean_en}
    assert len(clean_en) >= 900
    assert len(texts) == len(clean_en), "two clean English documents share a text"


def test_labels_load_with_curate_evaluation():
    table = evaluation.load_labels(CROSS / "labels.jsonl.gz")
    assert table.num_rows == len(read_label_rows(CROSS / "labels.jsonl.gz"))


def test_duplicates_point_at_clean_originals_and_jaccard_is_exact(corpus, labels):
    dups = [r for r in labels.values() if r["junk_type"] in ("exact_dup", "near_dup")]
    for r in dups:
        assert labels[r["dup_of"]]["junk_type"] == "clean"
        if r["junk_type"] == "exact_dup":
            assert corpus[r["id"]][0] == corpus[r["dup_of"]][0]
            assert r["jaccard"] == 1.0
    near = [r for r in dups if r["junk_type"] == "near_dup"]
    for r in random.Random(0).sample(near, min(60, len(near))):
        assert abs(shingle_jaccard(corpus[r["id"]][0], corpus[r["dup_of"]][0]) - r["jaccard"]) < 1e-9, r["id"]
        assert 0.55 <= r["jaccard"] < 1.0


def test_stats_match_the_labels(label_rows):
    stats = json.loads((CROSS / "stats.json").read_text(encoding="utf-8"))
    assert stats["junk_types"] == dict(sorted(Counter(r["junk_type"] for r in label_rows).items()))


def test_no_clean_document_is_in_the_sample_reference(corpus, labels):
    """No clean cross document has a 5-word shingle Jaccard >= 0.5 with a reference document."""
    index: dict[int, list[int]] = defaultdict(list)
    sizes = []
    with gzip.open(ROOT / "reference.jsonl.gz", "rt", encoding="utf-8") as fh:
        for k, line in enumerate(fh):
            sh = {hash(s) for s in shingles(json.loads(line)["text"])}
            sizes.append(len(sh))
            for h in sh:
                index[h].append(k)
    worst = (0.0, None)
    for doc_id, (text, _) in corpus.items():
        if labels[doc_id]["junk_type"] != "clean":
            continue
        sh = {hash(s) for s in shingles(text)}
        shared: Counter = Counter()
        for h in sh:
            shared.update(index.get(h, ()))
        for k, n in shared.most_common(3):
            worst = max(worst, (n / (len(sh) + sizes[k] - n), doc_id))
    assert worst[0] < 0.5, worst
