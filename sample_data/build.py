#!/usr/bin/env python
"""Build the sample corpus: real text from Debian/PyPI packages, mixed with labelled dirt.

    python sample_data/build.py --seed 0 --docs 3000 --out sample_data
    python sample_data/build.py --seed 0 --docs 200000 --out /tmp/big   # benchmark size

Documents are generated one at a time and streamed to the output files, so memory
stays bounded whatever --docs is (only a few hundred texts are kept, to copy as
duplicates). Same seed + same installed packages -> identical bytes.
See sample_data/README.md for the files, sources, licences and junk types.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import heapq
import io
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import zstandard  # noqa: E402

from sample_data import dirt  # noqa: E402
from sample_data.sources import (  # noqa: E402
    LegacyText, Source, SourceMissing, clean_loaders, load_python_docs, load_vim_tutors, word_count,
)
from sample_data.warc_pages import build_web  # noqa: E402

LANG_WEIGHTS = {"en": 0.34, "de": 0.11, "fr": 0.07, "es": 0.09, "ru": 0.10, "zh": 0.10, "ja": 0.07,
                "it": 0.06, "pt": 0.06}
# Organic share of each document kind; scheduled copies of "hot" documents add ~4% exact_dup.
KIND_WEIGHTS = {
    "clean": 0.50, "pii": 0.04, "exact_dup": 0.04, "near_dup": 0.08, "boilerplate": 0.05,
    "seo_spam": 0.035, "link_farm": 0.03, "mojibake": 0.04, "repeated_lines": 0.03, "lorem_ipsum": 0.02,
    "number_table": 0.025, "templated": 0.03, "short_fragment": 0.04,
}
JUNK_LANGS = {
    "boilerplate": {"en": 0.55, "de": 0.15, "fr": 0.15, "es": 0.15},
    "seo_spam": {"en": 0.6, "de": 0.15, "fr": 0.1, "es": 0.15},
    "link_farm": {"en": 0.8, "de": 0.1, "es": 0.1},
    "repeated_lines": LANG_WEIGHTS,
    "short_fragment": {"en": 0.4, "de": 0.12, "fr": 0.1, "es": 0.1, "ru": 0.1, "zh": 0.1, "ja": 0.08},
}
FILE_WEIGHTS = {"web-000.jsonl.gz": 0.46, "web-001.jsonl.zst": 0.36, "forum.parquet": 0.10,
                "notes.csv": 0.05, "pages": 0.03}
SPACED_LANGS = ("en", "de", "fr", "es", "ru", "it", "pt")
POOL_SHARES = (("reference", 0.30), ("material", 0.10), ("corpus", 0.60))
PROMPT_WORDS = 32


@dataclass(frozen=True)
class BuildConfig:
    seed: int = 0
    n_docs: int = 3000
    out: Path = Path("sample_data")
    reference_docs: int = 2500
    validation_bytes: int = 300_000
    pages_max: int = 150
    n_dup_prompts: int = 32
    n_clean_prompts: int = 28
    web: bool = True  # also build web/ (crawl.warc.gz, its labels and expected texts)


@dataclass(frozen=True)
class Bundle:
    """Everything read from the installed packages; independent of the seed."""
    sources: tuple[Source, ...]
    tutors: tuple[LegacyText, ...]
    validation: str


def load_bundle(validation_bytes: int = BuildConfig.validation_bytes, only: tuple[str, ...] | None = None) -> Bundle:
    """Read every source (or the named ones: tests use the small, fast chatterbot sources)."""
    seen: set[str] = set()  # the same fortune/paragraph in two files is kept once
    sources = tuple(loader(random.Random(f"pack:{name}"), seen) for name, loader in clean_loaders()
                    if only is None or name in only)
    return Bundle(sources, tuple(load_vim_tutors()), load_python_docs(validation_bytes))


@dataclass(frozen=True)
class BrokenFile:
    """broken.jsonl: a few good records between lines a reader must quarantine."""
    bad_lines: tuple[tuple[bytes, str], ...]  # (raw line, the quarantine error); the last one, cut off, ends the file
    layout: str  # the lines in file order: "g" the next good record, "b" the next bad line
    crawl_date: str  # of the good records
    bad_id_prefix: str  # bad line j (from 1) is labelled f"{bad_id_prefix}bad{j:02d}"


@dataclass(frozen=True)
class Recipe:
    """What a build makes its records from and where it writes them. This build and
    build_cross.py run one plan with their own recipe: partition the sources, then a stream
    of records of the KIND_WEIGHTS kinds (hot documents and their scheduled copies, copies
    and near copies of earlier clean documents, PII, junk), labels, broken.jsonl."""
    id_prefix: str  # record i is f"{id_prefix}{i:06d}"
    seed_tag: str  # in every seed string: f"{seed}:{seed_tag}corpus", ...broken, ...pool:<source>
    lang_weights: dict[str, float]  # languages of clean documents
    junk_langs: dict[str, dict[str, float]]  # languages of the junk types that come in several
    # url_for, near_duplicate, insert_pii, MOJIBAKE_LANGS, and a maker named after each junk type
    # (short_fragment returns (text, is an interface string)): dirt or cross_dirt.
    makers: ModuleType
    crawl_years: tuple[int, int]  # crawl dates fall in 20xx, xx in this range
    # Where records go, by weight: web-000.jsonl.gz, web-001.jsonl.zst, forum.parquet,
    # notes.csv or notes.csv.gz, and optionally pages (one .txt file per record).
    file_weights: dict[str, float]
    zstd_level: int  # of web-001.jsonl.zst
    parquet_level: int | None  # zstd level of forum.parquet (None: pyarrow's default)
    material_share: float  # of each source, real text that junk is made around
    corpus_share: float | None  # of each source; the rest is reference text (None: all but the material)
    prompts: bool  # pick the prompts' clean candidates (a draw from the stream for some clean documents)
    broken: BrokenFile


# --- clean documents ---------------------------------------------------------------------------

class SourceQueue:
    """One source's corpus share, served in a seeded order. When exhausted (only for
    large --docs), it serves re-chunked documents: the second half of one document joined
    to the first half of the next, which overlap earlier documents (see README)."""

    def __init__(self, source: Source, docs: list[str], rng: random.Random):
        self.source = source
        self.docs = docs
        self.rng = rng
        self.queue = list(docs)
        self.passes = 0

    def next(self) -> str:
        if not self.queue:
            self.passes += 1
            self.queue = self._rechunk()
        return self.queue.pop()

    def _rechunk(self) -> list[str]:
        out = []
        for a, b in zip(self.docs, self.docs[1:] + self.docs[:1]):
            pa_, pb = a.split("\n\n"), b.split("\n\n")
            merged = "\n\n".join(pa_[len(pa_) // 2:] + pb[: max(1, len(pb) // 2)])
            if word_count(merged) >= 80:
                out.append(merged)
        self.rng.shuffle(out)
        return out or list(self.docs)


class CleanPool:
    def __init__(self, queues: list[SourceQueue]):
        self.by_lang: dict[str, list[SourceQueue]] = {}
        for q in queues:
            if q.docs:
                self.by_lang.setdefault(q.source.lang, []).append(q)

    def draw(self, rng: random.Random, lang: str) -> tuple[str, Source]:
        queues = self.by_lang[lang]
        # sqrt: big sources (the whole KJV) must not swamp small ones; a source whose
        # share is used up waits until every source of the language is used up.
        weights = [math.sqrt(len(q.docs)) if q.queue else 0.0 for q in queues]
        if not any(weights):
            weights = [math.sqrt(len(q.docs)) for q in queues]
        q = rng.choices(queues, weights=weights)[0]
        return q.next(), q.source


def partition(sources: Sequence[Source], seed: int, recipe: Recipe, legacy: Sequence[LegacyText] = (),
              ) -> tuple[CleanPool, list[tuple[str, Source]], dirt.Material]:
    """Split every source's documents into disjoint reference / junk-material / corpus shares.
    `legacy` (texts in legacy encodings) goes into the material for mojibake."""
    queues, reference, material = [], [], dirt.Material(legacy=tuple(legacy))
    for src in sources:
        rng = random.Random(f"{seed}:{recipe.seed_tag}pool:{src.name}")
        docs = list(src.docs)
        rng.shuffle(docs)
        if recipe.corpus_share is None:
            n_material = min(len(docs) - 1, max(1, round(len(docs) * recipe.material_share)))
            n_corpus = len(docs) - n_material
        else:
            # Every source keeps at least one corpus document, so each language can be drawn.
            n_corpus = max(1, round(len(docs) * recipe.corpus_share))
            n_material = min(len(docs) - n_corpus, max(1, round(len(docs) * recipe.material_share)))
        cut1 = len(docs) - n_corpus - n_material
        cut2 = cut1 + n_material
        reference += [(d, src) for d in docs[:cut1]]
        for d in docs[cut1:cut2]:
            material.add(src.lang, d, src.name)
        queues.append(SourceQueue(src, docs[cut2:], rng))
    return CleanPool(queues), reference, material


# --- output files ------------------------------------------------------------------------------

def _gzip_writer(path: Path) -> io.TextIOWrapper:
    raw = open(path, "wb")
    # mtime=0 and no file name in the header: identical bytes on every build.
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9)
    return io.TextIOWrapper(gz, encoding="utf-8", newline="\n")


class CorpusWriter:
    """Streams each record to one of the recipe's files, drawn by weight; "pages" (one text
    file per record) takes at most `pages_max` records, the rest go to web-000.jsonl.gz."""
    SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("url", pa.string()),
                        ("crawl_date", pa.string())])

    def __init__(self, corpus: Path, recipe: Recipe, pages_max: int = 0):
        corpus.mkdir(parents=True, exist_ok=True)
        self.weights = recipe.file_weights
        if "pages" in self.weights:
            (corpus / "pages").mkdir(exist_ok=True)
        self.dir = corpus
        self.pages_max = pages_max
        self.n_pages = 0
        self.gz = _gzip_writer(corpus / "web-000.jsonl.gz")
        self._zst_raw = open(corpus / "web-001.jsonl.zst", "wb")
        self._zst = zstandard.ZstdCompressor(level=recipe.zstd_level).stream_writer(self._zst_raw)
        self.zst = io.TextIOWrapper(self._zst, encoding="utf-8", newline="\n")
        self.parquet = pq.ParquetWriter(corpus / "forum.parquet", self.SCHEMA, compression="zstd",
                                        compression_level=recipe.parquet_level)
        self.parquet_rows: list[dict] = []
        self.notes = next(name for name in self.weights if name.startswith("notes.csv"))
        if self.notes.endswith(".gz"):
            self._csv_fh = _gzip_writer(corpus / self.notes)
        else:
            self._csv_fh = open(corpus / self.notes, "w", encoding="utf-8", newline="")
        self.csv = csv.writer(self._csv_fh, lineterminator="\n")
        self.csv.writerow(["id", "text", "url", "crawl_date"])

    def write(self, rng: random.Random, rec: dict) -> str:
        name = _pick(rng, self.weights)
        if name == "pages" and self.n_pages >= self.pages_max:
            name = "web-000.jsonl.gz"
        if name == "pages":
            self.n_pages += 1
            rel = f"pages/{rec['id']}.txt"
            (self.dir / rel).write_text(rec["text"], encoding="utf-8", newline="\n")
            return rel
        if name == "forum.parquet":
            self.parquet_rows.append(rec)
            if len(self.parquet_rows) >= 2000:
                self._flush_parquet()
        elif name == self.notes:
            self.csv.writerow([rec["id"], rec["text"], rec["url"], rec["crawl_date"]])
        else:
            fh = self.gz if name.endswith(".gz") else self.zst
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        return name

    def _flush_parquet(self) -> None:
        if self.parquet_rows:
            self.parquet.write_table(pa.Table.from_pylist(self.parquet_rows, schema=self.SCHEMA))
            self.parquet_rows = []

    def close(self) -> None:
        self._flush_parquet()
        self.parquet.close()
        self.gz.close()
        self.zst.close()
        self._csv_fh.close()


def label(doc_id: str, kind: str, lang: str | None, source: str, file: str, *, dup_of: str | None = None,
          jaccard: float | None = None, detail: str | None = None, pii: dict | None = None,
          line: int | None = None) -> dict:
    return {"id": doc_id, "junk_type": kind, "lang": lang, "dup_of": dup_of, "jaccard": jaccard,
            "source": source, "file": file, "detail": detail, "pii": pii, "line": line}


# --- the corpus --------------------------------------------------------------------------------

@dataclass
class Tracker:
    """The little state the stream needs: a buffer of clean docs to copy, the scheduled
    copies of hot docs, and what the prompts file needs at the end."""
    buffer: list[tuple[str, str, str, Source]] = field(default_factory=list)  # id, text, lang, source
    schedule: list[tuple[int, int, str]] = field(default_factory=list)  # (position, seq, original id)
    hot: dict[str, tuple[str, str, Source]] = field(default_factory=dict)
    copies: Counter = field(default_factory=Counter)
    prompt_text: dict[str, str] = field(default_factory=dict)
    clean_candidates: list[str] = field(default_factory=list)
    seq: int = 0

    def remember(self, rng: random.Random, item: tuple[str, str, str, Source], cap: int = 400) -> None:
        if len(self.buffer) < cap:
            self.buffer.append(item)
        elif rng.random() < 0.5:
            self.buffer[rng.randrange(cap)] = item


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _first_words(text: str) -> str:
    return " ".join(text.split()[:PROMPT_WORDS])


def generate(recipe: Recipe, seed: int, n: int, pool: CleanPool, mat: dirt.Material, writer: CorpusWriter,
             labels: io.TextIOWrapper) -> tuple[Counter, Counter, Tracker]:
    """The stream of `n` records, each with its label line. Returns the records per junk
    type, per (junk type, language), and the tracker (hot documents, prompt candidates)."""
    rng = random.Random(f"{seed}:{recipe.seed_tag}corpus")
    make = recipe.makers
    y0, y1 = recipe.crawl_years
    n_hot = max(3, round(n * 0.0133))
    hot_until = int(n * 0.6)
    p_hot = min(1.0, n_hot / max(1.0, hot_until * KIND_WEIGHTS["clean"] * 0.6))
    tr = Tracker()
    counts: Counter = Counter()
    langs: Counter = Counter()

    def emit(doc_id: str, text: str, lab: dict) -> None:
        rec = {"id": doc_id, "text": text, "url": make.url_for(rng, text),
               "crawl_date": f"20{rng.randint(y0, y1)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
        lab["file"] = writer.write(rng, rec)
        labels.write(json.dumps(lab, ensure_ascii=False) + "\n")
        counts[lab["junk_type"]] += 1
        langs[(lab["junk_type"], lab["lang"])] += 1

    for i in range(n):
        doc_id = f"{recipe.id_prefix}{i:06d}"
        if tr.schedule and tr.schedule[0][0] <= i:
            _, _, orig = heapq.heappop(tr.schedule)
            text, lang, src = tr.hot[orig]
            tr.copies[orig] += 1
            emit(doc_id, text, label(doc_id, "exact_dup", lang, src.name, "", dup_of=orig, jaccard=1.0,
                                     detail="scheduled copy of a hot document"))
            continue
        kind = _pick(rng, KIND_WEIGHTS)
        if kind == "exact_dup" and len(tr.buffer) >= 20:
            orig, text, lang, src = rng.choice(tr.buffer)
            tr.copies[orig] += 1
            emit(doc_id, text, label(doc_id, kind, lang, src.name, "", dup_of=orig, jaccard=1.0))
            continue
        if kind == "near_dup":
            cands = [b for b in rng.sample(tr.buffer, min(10, len(tr.buffer)))
                     if b[2] in SPACED_LANGS and len(b[1].split()) >= 200]
            if cands:
                orig, base, lang, src = cands[0]
                text, jac, edits = make.near_duplicate(rng, base, rng.uniform(0.62, 0.98))
                tr.copies[orig] += 0  # marks it as duplicated for the prompt picker
                emit(doc_id, text, label(doc_id, kind, lang, src.name, "", dup_of=orig, jaccard=jac,
                                         detail=f"{edits} word edits"))
                continue
        if kind in ("exact_dup", "near_dup"):
            kind = "clean"
        if kind in ("clean", "pii"):
            lang = _pick(rng, recipe.lang_weights)
            text, src = pool.draw(rng, lang)
            if kind == "pii":
                text, pii = make.insert_pii(rng, text, lang)
                emit(doc_id, text, label(doc_id, kind, lang, src.name, "", pii=pii))
                continue
            emit(doc_id, text, label(doc_id, kind, lang, src.name, ""))
            item = (doc_id, text, lang, src)
            if lang in SPACED_LANGS and i < hot_until and len(tr.hot) < n_hot and rng.random() < p_hot:
                tr.hot[doc_id] = (text, lang, src)
                tr.prompt_text[doc_id] = _first_words(text)
                for _ in range(rng.randint(2, 4)):
                    tr.seq += 1
                    heapq.heappush(tr.schedule, (rng.randint(i + 1, n - 1), tr.seq, doc_id))
            else:
                tr.remember(rng, item)
                if recipe.prompts and lang in SPACED_LANGS and len(tr.clean_candidates) < 400 and rng.random() < 0.3:
                    tr.clean_candidates.append(doc_id)
                    tr.prompt_text[doc_id] = _first_words(text)
            continue
        text, lang, source, detail = _junk(rng, kind, mat, recipe)
        emit(doc_id, text, label(doc_id, kind, lang, source, "", detail=detail))
    return counts, langs, tr


def _junk(rng: random.Random, kind: str, mat: dirt.Material, recipe: Recipe) -> tuple[str, str, str, str | None]:
    """(text, lang, source, detail) of one junk record."""
    make = getattr(recipe.makers, kind)
    if kind == "mojibake":
        text, lang, how = make(rng, mat, rng.choice(recipe.makers.MOJIBAKE_LANGS))
        # A Vim tutor in its legacy encoding (Material.legacy), or real text after a wrong decode.
        source = "vim-runtime" if how.startswith("tutor") else f"synthetic+{mat.last_source}"
        return text, lang, source, how
    if kind == "lorem_ipsum":
        return make(rng, mat, "la"), "la", "synthetic", None
    if kind in ("number_table", "templated"):
        return make(rng, mat, "en"), "en", "synthetic", None
    lang = _pick(rng, recipe.junk_langs[kind])
    if kind == "short_fragment":
        text, ui = make(rng, mat, lang)
        if ui:
            return text, lang, "synthetic", "interface string"
        return text, lang, f"synthetic+{mat.last_source}", "truncated real text"
    return make(rng, mat, lang), lang, f"synthetic+{mat.last_source}", None


# --- broken.jsonl ------------------------------------------------------------------------------

def _bad_lines() -> tuple[tuple[bytes, str], ...]:
    """(raw line, the quarantine error the reader should report) for each bad record; the
    last is cut off in the middle and ends the file without a newline."""
    return (
        (b'{"id": "bad01", "text": "The crawler died while writing this record", "url": "https://a.example/x"\n',
         "malformed_json"),
        (b"{'id': 'bad02', 'text': 'single quotes are not JSON'}\n", "malformed_json"),
        (b'{"id": "bad03", "text": "Caf\xe9 au lait, na\xefve \xff\xfe bytes that are not UTF-8"}\n', "invalid_utf8"),
        (b'{"id": "bad04", "body": "this record names its text field body", "url": "https://b.example/y"}\n',
         "missing_text_field"),
        (b'{"id": "bad05", "text": 12345}\n', "non_string_text"),
        (b'{"id": "bad06", "text": null}\n', "non_string_text"),
        (b'{"id": "bad07", "text": ["a", "list", "of", "words"]}\n', "non_string_text"),
        (b'{"id": "bad08", "text": ""}\n', "empty_text"),
        (b'{"id": "bad09", "text": "   \\n\\t  "}\n', "empty_text"),
        (b'["bad10", "an array is not a record"]\n', "not_an_object"),
        (b"\n", "empty_line"),
        (b'{"id": "bad12", "text": "The last record of the file was cut off in the mi', "malformed_json"),
    )


def write_broken(recipe: Recipe, seed: int, n_docs: int, pool: CleanPool, corpus: Path,
                 labels: io.TextIOWrapper) -> tuple[Counter, Counter]:
    """broken.jsonl and its labels: clean records (ids after the stream's) between the bad lines."""
    spec = recipe.broken
    rng = random.Random(f"{seed}:{recipe.seed_tag}broken")
    good = []
    for k in range(spec.layout.count("g")):
        lang = _pick(rng, recipe.lang_weights)
        text, src = pool.draw(rng, lang)
        doc_id = f"{recipe.id_prefix}{n_docs + k:06d}"
        rec = {"id": doc_id, "text": text, "url": recipe.makers.url_for(rng, text), "crawl_date": spec.crawl_date}
        good.append((json.dumps(rec, ensure_ascii=False).encode("utf-8") + b"\n",
                     label(doc_id, "clean", lang, src.name, "broken.jsonl")))
    bad = [(raw, label(f"{spec.bad_id_prefix}bad{j + 1:02d}", "malformed", None, "synthetic", "broken.jsonl",
                       detail=err)) for j, (raw, err) in enumerate(spec.bad_lines)]
    assert spec.layout.count("b") == len(bad) and spec.layout.endswith("b"), spec.layout
    queues = {"g": iter(good), "b": iter(bad)}
    lines = [next(queues[c]) for c in spec.layout]
    counts: Counter = Counter()
    langs: Counter = Counter()
    with open(corpus / "broken.jsonl", "wb") as fh:
        for line_no, (raw, lab) in enumerate(lines, start=1):
            fh.write(raw)
            if lab["junk_type"] == "malformed":
                lab["line"] = line_no
            labels.write(json.dumps(lab, ensure_ascii=False) + "\n")
            counts[lab["junk_type"]] += 1
            langs[(lab["junk_type"], lab["lang"])] += 1
    return counts, langs


def write_corpus(recipe: Recipe, seed: int, n_docs: int, pool: CleanPool, mat: dirt.Material,
                 writer: CorpusWriter, labels_path: Path) -> tuple[Counter, Counter, Tracker]:
    """The stream (generate) and broken.jsonl, with their labels in `labels_path`. Returns the
    records per junk type and per (junk type, language), and the stream's tracker."""
    with _gzip_writer(labels_path) as labels:
        counts, langs, tr = generate(recipe, seed, n_docs, pool, mat, writer, labels)
        writer.close()
        broken_counts, broken_langs = write_broken(recipe, seed, n_docs, pool, writer.dir, labels)
    return counts + broken_counts, langs + broken_langs, tr


SAMPLE = Recipe(
    id_prefix="d", seed_tag="", lang_weights=LANG_WEIGHTS, junk_langs=JUNK_LANGS, makers=dirt, crawl_years=(19, 24),
    file_weights=FILE_WEIGHTS, zstd_level=10, parquet_level=None, material_share=POOL_SHARES[1][1],
    corpus_share=POOL_SHARES[2][1], prompts=True,
    broken=BrokenFile(_bad_lines(), layout="ggbbbbgbbbbggbbbb", crawl_date="2024-02-29", bad_id_prefix=""),
)


# --- reference, validation, prompts -----------------------------------------------------------

def write_reference(cfg: BuildConfig, reference: list[tuple[str, Source]], path: Path) -> Counter:
    rng = random.Random(f"{cfg.seed}:reference")
    by_lang: dict[str, list[tuple[str, Source]]] = {}
    for text, src in reference:
        by_lang.setdefault(src.lang, []).append((text, src))
    chosen: list[tuple[str, Source]] = []
    for lang, weight in LANG_WEIGHTS.items():
        items = by_lang.get(lang, [])
        rng.shuffle(items)
        chosen += items[: round(cfg.reference_docs * weight)]
    rng.shuffle(chosen)
    langs: Counter = Counter()
    with _gzip_writer(path) as fh:
        for k, (text, src) in enumerate(chosen):
            fh.write(json.dumps({"id": f"r{k:06d}", "text": text, "lang": src.lang, "source": src.name},
                                ensure_ascii=False) + "\n")
            langs[src.lang] += 1
    return langs


def write_prompts(cfg: BuildConfig, tr: Tracker, path: Path) -> dict[str, int]:
    rng = random.Random(f"{cfg.seed}:prompts")
    hot = sorted(h for h in tr.hot if tr.copies[h] >= 2)  # original + >= 2 copies
    dup_ids = sorted(rng.sample(hot, min(cfg.n_dup_prompts, len(hot))))
    clean = [c for c in tr.clean_candidates if c not in tr.copies]
    clean_ids = sorted(rng.sample(clean, min(cfg.n_clean_prompts, len(clean))))
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for kind, ids in (("dup", dup_ids), ("clean", clean_ids)):
            for doc_id in ids:
                fh.write(json.dumps({"prompt": tr.prompt_text[doc_id], "kind": kind, "doc_id": doc_id,
                                     "copies": tr.copies[doc_id] + 1}, ensure_ascii=False) + "\n")
    return {"dup": len(dup_ids), "clean": len(clean_ids)}


def build(cfg: BuildConfig, bundle: Bundle) -> dict:
    out = cfg.out
    corpus = out / "corpus"
    if corpus.exists():
        for old in sorted(corpus.glob("pages/*.txt")):
            old.unlink()
    pool, reference, mat = partition(bundle.sources, cfg.seed, SAMPLE, bundle.tutors)
    writer = CorpusWriter(corpus, SAMPLE, cfg.pages_max)
    counts, _, tr = write_corpus(SAMPLE, cfg.seed, cfg.n_docs, pool, mat, writer, out / "labels.jsonl.gz")
    ref_langs = write_reference(cfg, reference, out / "reference.jsonl.gz")
    (out / "validation.txt").write_text(bundle.validation, encoding="utf-8", newline="\n")
    prompts = write_prompts(cfg, tr, out / "prompts.jsonl")
    stats = {"seed": cfg.seed, "docs": cfg.n_docs, "junk_types": dict(sorted(counts.items())),
             "reference_langs": dict(sorted(ref_langs.items())), "prompts": prompts,
             "hot_docs": len(tr.hot), "pages_files": writer.n_pages}
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    if cfg.web:  # the crawl of real HTML pages (sample_data/warc_pages.py), beside the corpus
        stats["web"] = build_web(out / "web", cfg.seed)
    return stats


# --- the command line ---------------------------------------------------------------------------

T = TypeVar("T")


def arg_parser(doc: str, docs: int, out: Path, docs_help: str) -> argparse.ArgumentParser:
    """--seed, --docs and --out, the arguments every build takes (check them with checked_args)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--docs", type=int, default=docs, help=docs_help)
    ap.add_argument("--out", type=Path, default=out)
    return ap


def checked_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = ap.parse_args(argv)
    if args.docs < 100:
        ap.error("--docs must be at least 100")
    return args


def load_or_report(prog: str, load: Callable[[], T]) -> T | None:
    """load(), or None once the missing source package and its install command are printed."""
    try:
        return load()
    except SourceMissing as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    ap = arg_parser(__doc__, 3000, Path(__file__).resolve().parent, "corpus documents (plus broken.jsonl)")
    ap.add_argument("--reference-docs", type=int, default=BuildConfig.reference_docs)
    args = checked_args(ap, argv)
    cfg = BuildConfig(seed=args.seed, n_docs=args.docs, out=args.out, reference_docs=args.reference_docs)
    bundle = load_or_report("build.py", lambda: load_bundle(cfg.validation_bytes))
    if bundle is None:
        return 1
    cfg.out.mkdir(parents=True, exist_ok=True)
    stats = build(cfg, bundle)
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
