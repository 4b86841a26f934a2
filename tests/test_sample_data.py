"""The committed sample data parses, agrees with its labels, and the generator is deterministic."""
from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from tests.sample_helpers import SAMPLE_ROOT as ROOT
from tests.sample_helpers import jsonl_lines, read_corpus, read_labels, shingle_jaccard

CORPUS = ROOT / "corpus"
REQUIRED_LANGS = ("en", "de", "fr", "es", "zh", "ru", "ja")
MIN_CLEAN_PER_LANG = 50


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[str, str]]:
    return read_corpus(CORPUS)


@pytest.fixture(scope="module")
def labels() -> dict[str, dict]:
    return read_labels(ROOT / "labels.jsonl.gz")


def test_every_good_record_has_a_label_and_every_label_a_record(corpus, labels):
    good_labels = {k for k, v in labels.items() if v["junk_type"] != "malformed"}
    assert set(corpus) == good_labels
    for doc_id, (_, file) in corpus.items():
        assert labels[doc_id]["file"] == file


def test_malformed_labels_point_at_lines_that_cannot_be_ingested(labels):
    lines = (CORPUS / "broken.jsonl").read_bytes().split(b"\n")
    bad = [v for v in labels.values() if v["junk_type"] == "malformed"]
    assert len(bad) >= 10
    kinds = Counter(v["detail"] for v in bad)
    assert {"malformed_json", "invalid_utf8", "missing_text_field", "non_string_text", "empty_text"} <= set(kinds)
    for row in bad:
        raw = lines[row["line"] - 1]
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        assert not (isinstance(rec, dict) and isinstance(rec.get("text"), str) and rec["text"].strip()), row
    assert not (CORPUS / "broken.jsonl").read_bytes().endswith(b"\n"), "the last line must be truncated"


def test_required_languages_have_clean_documents(labels):
    clean = Counter(v["lang"] for v in labels.values() if v["junk_type"] == "clean")
    for lang in REQUIRED_LANGS:
        assert clean[lang] >= MIN_CLEAN_PER_LANG, (lang, clean)


def test_junk_is_a_realistic_share_and_every_type_is_present(labels):
    kinds = Counter(v["junk_type"] for v in labels.values())
    expected = {"clean", "boilerplate", "seo_spam", "link_farm", "mojibake", "repeated_lines", "lorem_ipsum",
                "number_table", "templated", "short_fragment", "pii", "exact_dup", "near_dup", "malformed"}
    assert set(kinds) == expected
    dirty = sum(n for k, n in kinds.items() if k not in ("clean", "pii"))
    assert 0.35 <= dirty / sum(kinds.values()) <= 0.55


def test_labelled_jaccard_matches_the_texts(corpus, labels):
    near = []
    for doc_id, row in labels.items():
        if row["dup_of"] is None:
            assert row["jaccard"] is None
            continue
        got = shingle_jaccard(corpus[row["dup_of"]][0], corpus[doc_id][0])
        assert got == pytest.approx(row["jaccard"], abs=1e-12), doc_id
        if row["junk_type"] == "exact_dup":
            assert corpus[row["dup_of"]][0] == corpus[doc_id][0]
        else:
            near.append(got)
    assert len(near) >= 100
    assert min(near) >= 0.55 and max(near) <= 0.99
    assert sum(j < 0.75 for j in near) >= 20 and sum(j > 0.9 for j in near) >= 10  # spread, not one value


def test_pii_documents_hold_their_planted_pii(corpus, labels):
    email = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    card = re.compile(r"\b\d{4}[ -]?\d{4,6}[ -]?\d{4,5}(?:[ -]?\d{4})?\b")

    def luhn(number: str) -> bool:
        digits = [int(c) for c in number if c.isdigit()][::-1]
        return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0

    pii = [(corpus[k][0], v["pii"]) for k, v in labels.items() if v["junk_type"] == "pii"]
    assert len(pii) >= 50
    for text, planted in pii:
        assert len(email.findall(text)) >= planted["email"]
        assert sum(luhn(m) for m in card.findall(text)) >= planted["card"]


def test_reference_is_clean_multilingual_and_disjoint_from_the_corpus(corpus):
    ref = jsonl_lines(gzip.decompress((ROOT / "reference.jsonl.gz").read_bytes()))
    assert len(ref) >= 2000
    langs = Counter(r["lang"] for r in ref)
    assert all(langs[lang] >= 50 for lang in REQUIRED_LANGS), langs
    corpus_texts = {t for t, _ in corpus.values()}
    assert not corpus_texts & {r["text"] for r in ref}


def test_validation_text_is_english_and_sized_for_bpb():
    text = (ROOT / "validation.txt").read_text(encoding="utf-8")
    assert 200_000 <= len(text.encode("utf-8")) <= 400_000
    words = text.lower().split()
    assert sum(w in {"the", "and", "of", "to", "is"} for w in words) / len(words) > 0.08


def test_dup_prompts_come_from_documents_with_three_or_more_copies(corpus):
    prompts = [json.loads(line) for line in (ROOT / "prompts.jsonl").read_text(encoding="utf-8").splitlines()]
    kinds = Counter(p["kind"] for p in prompts)
    assert kinds["dup"] >= 25 and kinds["clean"] >= 20
    copies = Counter(t for t, _ in corpus.values())
    for p in prompts:
        text = corpus[p["doc_id"]][0]
        assert " ".join(text.split()[:32]) == p["prompt"]
        if p["kind"] == "dup":
            assert copies[text] >= 3
        else:
            assert copies[text] == 1


def test_sample_data_stays_small():
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert total <= 10e6  # the hard cap for the whole folder (web/ is ~1.1 MB of it)


# --- the generator ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle():
    from sample_data.build import load_bundle
    from sample_data.sources import CHATTERBOT_LANGS, SourceMissing
    try:
        # The small chatterbot sources cover every corpus language and load in a second.
        return load_bundle(50_000, only=tuple(f"chatterbot-corpus-{lang}" for lang in CHATTERBOT_LANGS))
    except SourceMissing as exc:
        pytest.skip(f"sample-data source packages are not installed: {exc}")


def _tiny_build(bundle, out: Path, seed: int) -> None:
    from sample_data.build import BuildConfig, build
    build(BuildConfig(seed=seed, n_docs=300, out=out, reference_docs=100, validation_bytes=50_000), bundle)


def _content(out: Path) -> dict[str, bytes]:
    c = out / "corpus"
    with zstandard.ZstdDecompressor().stream_reader(open(c / "web-001.jsonl.zst", "rb")) as fh:
        zst = fh.read()
    return {"web-000": gzip.decompress((c / "web-000.jsonl.gz").read_bytes()), "web-001": zst,
            "labels": gzip.decompress((out / "labels.jsonl.gz").read_bytes()),
            "forum": (c / "forum.parquet").read_bytes(), "notes": (c / "notes.csv").read_bytes(),
            "prompts": (out / "prompts.jsonl").read_bytes(),
            "reference": gzip.decompress((out / "reference.jsonl.gz").read_bytes())}


def test_generator_is_deterministic_per_seed(bundle, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        _tiny_build(bundle, tmp_path / name, seed)
    a, b, c = (_content(tmp_path / n) for n in "abc")
    assert a == b
    assert (tmp_path / "a" / "corpus" / "web-000.jsonl.gz").read_bytes() == \
        (tmp_path / "b" / "corpus" / "web-000.jsonl.gz").read_bytes()
    assert a["web-000"] != c["web-000"] and a["labels"] != c["labels"]
    tiny = read_corpus(tmp_path / "a" / "corpus")
    assert set(tiny) == {k for k, v in read_labels(tmp_path / "a" / "labels.jsonl.gz").items()
                         if v["junk_type"] != "malformed"}


@pytest.mark.slow
def test_committed_files_are_what_the_generator_builds(bundle, tmp_path):
    # Byte-identical only with the same package versions as the committed build (see README).
    from sample_data.build import BuildConfig, build, load_bundle
    build(BuildConfig(seed=0, n_docs=3000, out=tmp_path), load_bundle())
    for rel in ("corpus/web-000.jsonl.gz", "corpus/web-001.jsonl.zst", "corpus/notes.csv", "labels.jsonl.gz",
                "reference.jsonl.gz", "prompts.jsonl", "validation.txt"):
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


def test_a_stray_pyproject_beside_the_package_is_not_a_checkout(tmp_path, monkeypatch):
    """site-packages/pyproject.toml of some other project (or a broken one) must not make
    curate read site-packages/sample_data as its own."""
    from curate import resources

    pkg = tmp_path / "site-packages" / "curate"
    pkg.mkdir(parents=True)
    (tmp_path / "site-packages" / "sample_data" / "corpus").mkdir(parents=True)
    monkeypatch.setattr(resources, "_PACKAGE_ROOT", pkg)
    for text in ('[project]\nname = "other"\n', "not toml [[[", ""):
        (pkg.parent / "pyproject.toml").write_text(text)
        assert resources._checkout_sample_dir() is None
    (pkg.parent / "pyproject.toml").write_text('[project]\nname = "curate"\n')
    assert resources._checkout_sample_dir() == pkg.parent / "sample_data"
