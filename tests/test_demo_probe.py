"""The demo's dedup probe: which documents it copies, and how many times."""
from __future__ import annotations

import json
from collections import Counter

from curate import pipeline, store
from curate.comparison import is_held_out
from curate.demo import PROBE_TIERS, write_probe
from curate.ingest import IngestOptions
from curate.resources import sample_data_dir
from curate.textnorm import text_hash


def test_the_probe_copies_distinct_clean_documents_to_each_tier(tmp_path):
    data = sample_data_dir()
    db = tmp_path / "s.duckdb"
    pipeline.ingest(db, [str(data / "corpus")], IngestOptions(id_field="id"), command="test ingest")
    out = tmp_path / "probe.jsonl"
    made = write_probe(db, data / "labels.jsonl.gz", out)
    assert made == {k: n for k, n, _ in PROBE_TIERS}

    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len({r["id"] for r in rows}) == len(rows)
    copies = Counter(r["text"] for r in rows)
    with store.open_store(db, read_only=True) as con:
        originals = dict(con.execute("SELECT text, count(*) FROM documents GROUP BY text").fetchall())
    by_tier: dict[int, list[str]] = {}
    for text, c in copies.items():
        assert originals.get(text) == 1  # a document of the sample, unique there
        by_tier.setdefault(c + 1, []).append(text)  # the corpus holds the original and its copies
    assert {k: len(v) for k, v in by_tier.items()} == made
    for k, _, (lo, hi) in PROBE_TIERS:
        for text in by_tier[k]:
            assert lo <= len(text.split()) <= hi
            assert not is_held_out(text_hash(text))  # a probe document is trained on
