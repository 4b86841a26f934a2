#!/usr/bin/env python
"""Build the cross-source corpus: labelled dirty text from sources the sample corpus does not use.

    python sample_data/build_cross.py --seed 0 --docs 4400 --out sample_data/cross

The filters were tuned on sample_data/ (fortunes, the KJV, Debian Reference, chatterbot,
pyjokes); this corpus is made the same way from manual pages, GNU Info manuals and
dictionaries (cross_sources.py), with the same junk types but other templates
(cross_dirt.py), to check the filters on text they were never tuned on. It is for
reporting only: never train or tune on it. Same seed + same packages -> identical bytes.
"""
from __future__ import annotations

import argparse
import csv
import heapq
import io
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import zstandard  # noqa: E402

from sample_data import cross_dirt as xd  # noqa: E402
from sample_data import dirt  # noqa: E402
from sample_data.build import KIND_WEIGHTS, SPACED_LANGS, CleanPool, SourceQueue, Tracker, _gzip_writer, _pick, label  # noqa: E402
from sample_data.cross_sources import SourceMissing, cross_loaders, package_versions  # noqa: E402
from sample_data.sources import MAX_WORDS, MIN_WORDS, Source, word_count  # noqa: E402

LANG_WEIGHTS = {"en": 0.46, "de": 0.08, "fr": 0.08, "es": 0.08, "it": 0.06, "ru": 0.08, "ja": 0.08, "zh": 0.08}
JUNK_LANGS = {
    "boilerplate": {"en": 0.5, "de": 0.1, "fr": 0.1, "es": 0.1, "it": 0.1, "ru": 0.1},
    "seo_spam": {"en": 0.5, "de": 0.1, "fr": 0.1, "es": 0.1, "it": 0.1, "ru": 0.1},
    "link_farm": {"en": 0.7, "de": 0.1, "es": 0.1, "fr": 0.1},
    "repeated_lines": LANG_WEIGHTS,
    "short_fragment": {"en": 0.35, "de": 0.1, "fr": 0.1, "es": 0.1, "it": 0.05, "ru": 0.1, "zh": 0.1, "ja": 0.1},
}
# Most records go to the zstd file (level 19): the whole directory must stay near 3 MB.
FILE_WEIGHTS = {"web-000.jsonl.gz": 0.20, "web-001.jsonl.zst": 0.60, "forum.parquet": 0.15, "notes.csv.gz": 0.05}
MATERIAL_SHARE = 0.15  # of each source, for junk built around real text; the rest is corpus
ID_PREFIX = "x"


@dataclass(frozen=True)
class CrossConfig:
    seed: int = 0
    n_docs: int = 4400
    out: Path = Path(__file__).resolve().parent / "cross"


def load_sources() -> list[Source]:
    seen: set[str] = set()
    out = []
    for name, loader in cross_loaders():
        src = loader(random.Random(f"pack:{name}"), seen)
        docs = tuple(d for d in src.docs if MIN_WORDS <= word_count(d) <= MAX_WORDS)
        out.append(Source(src.name, src.package, src.licence, src.lang, docs))
    return out


def partition(sources: list[Source], seed: int) -> tuple[CleanPool, dirt.Material]:
    queues, material = [], dirt.Material()
    for src in sources:
        rng = random.Random(f"{seed}:cross-pool:{src.name}")
        docs = list(src.docs)
        rng.shuffle(docs)
        n_material = min(len(docs) - 1, max(1, round(len(docs) * MATERIAL_SHARE)))
        for d in docs[:n_material]:
            material.add(src.lang, d, src.name)
        queues.append(SourceQueue(src, docs[n_material:], rng))
    return CleanPool(queues), material


class CrossWriter:
    SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("url", pa.string()),
                        ("crawl_date", pa.string())])

    def __init__(self, corpus: Path):
        corpus.mkdir(parents=True, exist_ok=True)
        self.gz = _gzip_writer(corpus / "web-000.jsonl.gz")
        self._zst_raw = open(corpus / "web-001.jsonl.zst", "wb")
        self.zst = io.TextIOWrapper(zstandard.ZstdCompressor(level=19).stream_writer(self._zst_raw),
                                    encoding="utf-8", newline="\n")
        self.parquet = pq.ParquetWriter(corpus / "forum.parquet", self.SCHEMA, compression="zstd",
                                       compression_level=19)
        self.rows: list[dict] = []
        self._csv_fh = _gzip_writer(corpus / "notes.csv.gz")
        self.csv = csv.writer(self._csv_fh, lineterminator="\n")
        self.csv.writerow(["id", "text", "url", "crawl_date"])

    def write(self, rng: random.Random, rec: dict) -> str:
        name = _pick(rng, FILE_WEIGHTS)
        if name == "forum.parquet":
            self.rows.append(rec)
            if len(self.rows) >= 2000:
                self._flush()
        elif name == "notes.csv.gz":
            self.csv.writerow([rec["id"], rec["text"], rec["url"], rec["crawl_date"]])
        else:
            (self.gz if name.endswith(".gz") else self.zst).write(json.dumps(rec, ensure_ascii=False) + "\n")
        return name

    def _flush(self) -> None:
        if self.rows:
            self.parquet.write_table(pa.Table.from_pylist(self.rows, schema=self.SCHEMA))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.parquet.close()
        self.gz.close()
        self.zst.close()
        self._csv_fh.close()


def generate(cfg: CrossConfig, pool: CleanPool, mat: dirt.Material, writer: CrossWriter,
             labels: io.TextIOWrapper) -> tuple[Counter, Counter, Tracker]:
    """The stream of records; the same plan as build.generate, with cross_dirt's junk."""
    rng = random.Random(f"{cfg.seed}:cross-corpus")
    n = cfg.n_docs
    n_hot = max(3, round(n * 0.0133))
    hot_until = int(n * 0.6)
    p_hot = min(1.0, n_hot / max(1.0, hot_until * KIND_WEIGHTS["clean"] * 0.6))
    tr = Tracker()
    counts: Counter = Counter()
    langs: Counter = Counter()

    def emit(doc_id: str, text: str, lab: dict) -> None:
        rec = {"id": doc_id, "text": text, "url": xd.url_for(rng, text),
               "crawl_date": f"20{rng.randint(18, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
        lab["file"] = writer.write(rng, rec)
        labels.write(json.dumps(lab, ensure_ascii=False) + "\n")
        counts[lab["junk_type"]] += 1
        langs[(lab["junk_type"], lab["lang"])] += 1

    for i in range(n):
        doc_id = f"{ID_PREFIX}{i:06d}"
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
                text, jac, edits = xd.near_duplicate(rng, base, rng.uniform(0.62, 0.98))
                emit(doc_id, text, label(doc_id, kind, lang, src.name, "", dup_of=orig, jaccard=jac,
                                         detail=f"{edits} word edits"))
                continue
        if kind in ("exact_dup", "near_dup"):
            kind = "clean"
        if kind in ("clean", "pii"):
            lang = _pick(rng, LANG_WEIGHTS)
            text, src = pool.draw(rng, lang)
            if kind == "pii":
                text, pii = xd.insert_pii(rng, text, lang)
                emit(doc_id, text, label(doc_id, kind, lang, src.name, "", pii=pii))
                continue
            emit(doc_id, text, label(doc_id, kind, lang, src.name, ""))
            if lang in SPACED_LANGS and i < hot_until and len(tr.hot) < n_hot and rng.random() < p_hot:
                tr.hot[doc_id] = (text, lang, src)
                for _ in range(rng.randint(2, 4)):
                    tr.seq += 1
                    heapq.heappush(tr.schedule, (rng.randint(i + 1, n - 1), tr.seq, doc_id))
            else:
                tr.remember(rng, (doc_id, text, lang, src))
            continue
        text, lang, source, detail = _junk(rng, kind, mat)
        emit(doc_id, text, label(doc_id, kind, lang, source, "", detail=detail))
    return counts, langs, tr


def _junk(rng: random.Random, kind: str, mat: dirt.Material) -> tuple[str, str, str, str | None]:
    if kind == "mojibake":
        text, lang, how = xd.mojibake(rng, mat, rng.choice(xd.MOJIBAKE_LANGS))
        return text, lang, f"synthetic+{mat.last_source}", how
    if kind == "lorem_ipsum":
        return xd.lorem_ipsum(rng, mat, "la"), "la", "synthetic", None
    if kind in ("number_table", "templated"):
        return getattr(xd, kind)(rng, mat, "en"), "en", "synthetic", None
    if kind == "repeated_lines":
        lang = _pick(rng, JUNK_LANGS[kind])
        return dirt.repeated_lines(rng, mat, lang), lang, f"synthetic+{mat.last_source}", None
    lang = _pick(rng, JUNK_LANGS[kind])
    if kind == "short_fragment":
        text, ui = xd.short_fragment(rng, mat, lang)
        if ui:
            return text, lang, "synthetic", "interface string"
        return text, lang, f"synthetic+{mat.last_source}", "truncated real text"
    return getattr(xd, kind)(rng, mat, lang), lang, f"synthetic+{mat.last_source}", None


# --- broken.jsonl ------------------------------------------------------------------------------

def _bad_lines() -> list[tuple[bytes, str]]:
    """(raw line, the quarantine error a reader should report); other wording than build.py's."""
    return [
        (b'{"id": "xbad01", "text": "export stopped here because the disk was full", "url": "https://q.test/1",\n',
         "malformed_json"),
        (b'{id: "xbad02", text: "keys without quotes"}\n', "malformed_json"),
        (b'{"id": "xbad03", "text": "Gr\xfc\xdfe aus K\xf6ln \x80\x81 in a legacy code page"}\n', "invalid_utf8"),
        (b'{"id": "xbad04", "content": "the text sits under another key", "url": "https://r.test/2"}\n',
         "missing_text_field"),
        (b'{"id": "xbad05", "text": true}\n', "non_string_text"),
        (b'{"id": "xbad06", "text": {"en": "nested object"}}\n', "non_string_text"),
        (b'{"id": "xbad07", "text": "\\n\\n  \\r\\n"}\n', "empty_text"),
        (b'"just a JSON string on its own line"\n', "not_an_object"),
        (b"   \n", "empty_line"),
    ]


def write_broken(cfg: CrossConfig, pool: CleanPool, corpus: Path, labels: io.TextIOWrapper) -> tuple[Counter, Counter]:
    rng = random.Random(f"{cfg.seed}:cross-broken")
    good = []
    for k in range(4):
        lang = _pick(rng, LANG_WEIGHTS)
        text, src = pool.draw(rng, lang)
        doc_id = f"{ID_PREFIX}{cfg.n_docs + k:06d}"
        rec = {"id": doc_id, "text": text, "url": xd.url_for(rng, text), "crawl_date": "2025-01-31"}
        good.append((json.dumps(rec, ensure_ascii=False).encode("utf-8") + b"\n",
                     label(doc_id, "clean", lang, src.name, "broken.jsonl")))
    bad = [(raw, label(f"{ID_PREFIX}bad{j + 1:02d}", "malformed", None, "synthetic", "broken.jsonl", detail=err))
           for j, (raw, err) in enumerate(_bad_lines())]
    lines = bad[:2] + good[:1] + bad[2:5] + good[1:3] + bad[5:] + good[3:]
    lines.append((b'{"id": "xbad10", "text": "no closing quote and no newline at the end of the fi',
                  label(f"{ID_PREFIX}bad10", "malformed", None, "synthetic", "broken.jsonl", detail="malformed_json")))
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


def build(cfg: CrossConfig, sources: list[Source]) -> dict:
    out, corpus = cfg.out, cfg.out / "corpus"
    pool, mat = partition(sources, cfg.seed)
    writer = CrossWriter(corpus)
    with _gzip_writer(out / "labels.jsonl.gz") as labels:
        counts, langs, tr = generate(cfg, pool, mat, writer, labels)
        writer.close()
        c2, l2 = write_broken(cfg, pool, corpus, labels)
    counts += c2
    langs += l2
    per_lang: dict[str, dict[str, int]] = {}
    for (kind, lang), k in sorted(langs.items(), key=lambda x: (x[0][0], str(x[0][1]))):
        per_lang.setdefault(kind, {})[str(lang)] = k
    versions = package_versions()
    stats = {
        "seed": cfg.seed, "docs": cfg.n_docs, "records": sum(counts.values()),
        "junk_types": dict(sorted(counts.items())), "langs_by_junk_type": per_lang,
        "hot_docs": len(tr.hot),
        "sources": {s.name: {"package": s.package, "version": versions.get(s.package, "?"), "licence": s.licence,
                             "lang": s.lang, "documents": len(s.docs)} for s in sources},
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--docs", type=int, default=CrossConfig.n_docs, help="corpus records (plus broken.jsonl)")
    ap.add_argument("--out", type=Path, default=CrossConfig.out)
    args = ap.parse_args(argv)
    if args.docs < 100:
        ap.error("--docs must be at least 100")
    cfg = CrossConfig(seed=args.seed, n_docs=args.docs, out=args.out)
    t0 = time.monotonic()
    try:
        sources = load_sources()
    except SourceMissing as exc:
        print(f"build_cross.py: {exc}", file=sys.stderr)
        return 1
    cfg.out.mkdir(parents=True, exist_ok=True)
    stats = build(cfg, sources)
    print(json.dumps({k: stats[k] for k in ("records", "junk_types")}, indent=1))
    print(f"built {cfg.out} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
