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

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sample_data import cross_dirt as xd  # noqa: E402
from sample_data.build import (  # noqa: E402
    BrokenFile, CorpusWriter, Recipe, arg_parser, checked_args, load_or_report, partition, write_corpus,
)
from sample_data.cross_sources import cross_loaders, package_versions  # noqa: E402
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


# --- broken.jsonl ------------------------------------------------------------------------------

def _bad_lines() -> tuple[tuple[bytes, str], ...]:
    """(raw line, the quarantine error a reader should report); other wording than build.py's.
    The last is cut off and ends the file without a newline."""
    return (
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
        (b'{"id": "xbad10", "text": "no closing quote and no newline at the end of the fi', "malformed_json"),
    )


# The plan of build.py with this corpus's languages, templates (cross_dirt), files and seeds.
CROSS = Recipe(
    id_prefix=ID_PREFIX, seed_tag="cross-", lang_weights=LANG_WEIGHTS, junk_langs=JUNK_LANGS, makers=xd,
    crawl_years=(18, 25), file_weights=FILE_WEIGHTS, zstd_level=19, parquet_level=19,
    material_share=MATERIAL_SHARE, corpus_share=None, prompts=False,
    broken=BrokenFile(_bad_lines(), layout="bbgbbbggbbbbgb", crawl_date="2025-01-31", bad_id_prefix=ID_PREFIX),
)


def build(cfg: CrossConfig, sources: list[Source]) -> dict:
    out, corpus = cfg.out, cfg.out / "corpus"
    pool, _, mat = partition(sources, cfg.seed, CROSS)
    writer = CorpusWriter(corpus, CROSS)
    counts, langs, tr = write_corpus(CROSS, cfg.seed, cfg.n_docs, pool, mat, writer, out / "labels.jsonl.gz")
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
    args = checked_args(arg_parser(__doc__, CrossConfig.n_docs, CrossConfig.out, "corpus records (plus broken.jsonl)"),
                        argv)
    cfg = CrossConfig(seed=args.seed, n_docs=args.docs, out=args.out)
    t0 = time.monotonic()
    sources = load_or_report("build_cross.py", load_sources)
    if sources is None:
        return 1
    cfg.out.mkdir(parents=True, exist_ok=True)
    stats = build(cfg, sources)
    print(json.dumps({k: stats[k] for k in ("records", "junk_types")}, indent=1))
    print(f"built {cfg.out} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
