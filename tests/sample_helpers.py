"""Readers for the labelled corpora under sample_data/ (the sample corpus and cross/), written
with nothing but the standard formats, and the README's shingle Jaccard re-implemented:
the tests check the builders' output against these, not against the builders' own code."""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import zstandard

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "sample_data"


def jsonl_lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def read_corpus(corpus: Path) -> dict[str, tuple[str, str]]:
    """id -> (text, file) for every good record of a corpus folder: web-000.jsonl.gz,
    web-001.jsonl.zst, forum.parquet, notes.csv or notes.csv.gz, pages/*.txt where there
    are any, and the records of broken.jsonl that a reader can ingest."""
    out: dict[str, tuple[str, str]] = {}

    def add(doc_id: str, text: str, file: str) -> None:
        assert doc_id not in out, f"duplicate id {doc_id}"
        out[doc_id] = (text, file)

    for rec in jsonl_lines(gzip.decompress((corpus / "web-000.jsonl.gz").read_bytes())):
        add(rec["id"], rec["text"], "web-000.jsonl.gz")
    with zstandard.ZstdDecompressor().stream_reader(open(corpus / "web-001.jsonl.zst", "rb")) as fh:
        for rec in jsonl_lines(fh.read()):
            add(rec["id"], rec["text"], "web-001.jsonl.zst")
    for rec in pq.read_table(corpus / "forum.parquet").to_pylist():
        add(rec["id"], rec["text"], "forum.parquet")
    notes = "notes.csv.gz" if (corpus / "notes.csv.gz").exists() else "notes.csv"
    raw = gzip.open(corpus / notes) if notes.endswith(".gz") else open(corpus / notes, "rb")
    with io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            add(rec["id"], rec["text"], notes)
    for path in sorted((corpus / "pages").glob("*.txt")):
        add(path.stem, path.read_text(encoding="utf-8"), f"pages/{path.name}")
    for line in (corpus / "broken.jsonl").read_bytes().split(b"\n"):
        try:
            rec = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and isinstance(rec.get("text"), str) and rec["text"].strip():
            add(rec["id"], rec["text"], "broken.jsonl")
    return out


def label_rows(path: Path) -> list[dict]:
    """The rows of a labels.jsonl.gz, in file order."""
    return jsonl_lines(gzip.decompress(path.read_bytes()))


def read_labels(path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in label_rows(path)}


def shingles(text: str) -> set[tuple[str, ...]]:
    """The README's definition, re-implemented: lowercased whitespace words, 5-word shingles
    (a text of fewer words is one shingle; an empty text has none)."""
    w = text.lower().split()
    return {tuple(w)} if 0 < len(w) < 5 else {tuple(w[i:i + 5]) for i in range(len(w) - 4)}


def shingle_jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return 1.0 if not sa and not sb else len(sa & sb) / len(sa | sb)
