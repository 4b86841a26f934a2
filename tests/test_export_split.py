"""`curate export --split`: deterministic splits by a hash of each document's normalized text."""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate import cli, export, store
from curate.dashboard.synthetic import build_store
from curate.recipes import build_slice, load_recipe

SPLIT = "train=0.8,val=0.1,test=0.1"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """400 documents, ~5% exact copies (one text_hash), and a `raw` slice that keeps them all."""
    path = build_store(tmp_path_factory.mktemp("split") / "store.duckdb", 400, seed=3)
    with store.open_store(path) as con:
        build_slice(con, load_recipe("raw"), store.start_run(con, "slice", "{}"))
    return path


def _export(capsys, db: Path, out: Path, *extra) -> tuple[int, str, str]:
    code = cli.main(["export", "raw", "--db", str(db), "--out", str(out), *[str(a) for a in extra]])
    got = capsys.readouterr()
    return code, got.out, got.err


def _ids(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        return [json.loads(line)["doc_id"] for line in path.read_text().splitlines()]
    return pq.read_table(path, columns=["doc_id"]).column("doc_id").to_pylist()


def _splits(out: Path, fmt: str = "parquet") -> dict[str, list[str]]:
    return {p.name.split(".")[-2]: _ids(p) for p in sorted(out.glob(f"raw-*.{fmt}"))}


def _hashes(db: Path) -> dict[str, str]:
    with store.open_store(db, read_only=True) as con:
        return dict(con.execute("SELECT doc_id, text_hash FROM documents").fetchall())


def test_every_document_lands_in_one_split_with_its_copies(db, tmp_path, capsys):
    code, out, _ = _export(capsys, db, tmp_path, "--split", SPLIT)
    assert code == 0
    splits = _splits(tmp_path)
    assert set(splits) == {"train", "val", "test"}
    everyone = [d for ids in splits.values() for d in ids]
    assert len(everyone) == len(set(everyone)) == 400  # each kept document once
    hashes = _hashes(db)
    where: dict[str, set[str]] = defaultdict(set)
    for name, ids in splits.items():
        for d in ids:
            where[hashes[d]].add(name)
    copies = [h for h in where if list(hashes.values()).count(h) > 1]
    assert copies, "the store has exact copies to test with"
    assert all(len(where[h]) == 1 for h in where)  # no text in two splits: no leak from train to test
    assert 270 <= len(splits["train"]) <= 370 and 10 <= len(splits["test"]) <= 75  # ~80/10/10
    for name, ids in splits.items():  # the printed counts are the files'
        assert f"{name}  " in out and f"{len(ids):,}" in out
    assert "exported 400 documents" in out
    manifest = json.loads(next(tmp_path.glob("raw-*.splits.json")).read_text())
    assert {s["name"]: s["documents"] for s in manifest["splits"]} == {k: len(v) for k, v in splits.items()}
    assert not list(tmp_path.glob("*.tmp"))


def test_the_split_is_the_same_on_every_export_whatever_the_order_and_format(db, tmp_path, capsys):
    assert _export(capsys, db, tmp_path / "a", "--split", SPLIT)[0] == 0
    assert _export(capsys, db, tmp_path / "b", "--split", "test=0.1,val=0.1,train=0.8")[0] == 0
    assert _export(capsys, db, tmp_path / "c", "--split", SPLIT, "--format", "jsonl")[0] == 0
    first = _splits(tmp_path / "a")
    assert first == _splits(tmp_path / "b") == _splits(tmp_path / "c", "jsonl")
    assert _export(capsys, db, tmp_path / "a", "--split", SPLIT)[0] == 0  # again, into the same folder
    assert _splits(tmp_path / "a") == first


def test_a_document_split_depends_on_its_text_hash_only():
    route = export.split_router({"train": 0.5, "test": 0.5})
    assert route("h000000000001") == route("h000000000001")
    assert export.split_point("abc") == export.split_point("abc")
    assert 0 <= export.split_point("abc") < 1
    # a pinned value: the rule may never change silently, or every re-export would move documents
    assert export.split_point("00000000000000000000000000000000") == pytest.approx(0.716545, abs=1e-6)
    names = [route(f"{i:032x}") for i in range(2000)]
    assert 900 < names.count("train") < 1100


def test_split_files_are_named_after_the_export(db, tmp_path, capsys):
    assert _export(capsys, db, tmp_path, "--split", "train=0.5,dev=0.5", "--redact-pii")[0] == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3
    assert names[0].startswith("raw-") and names[0].endswith(".redacted.dev.parquet")
    assert names[1].endswith(".redacted.splits.json") and names[2].endswith(".redacted.train.parquet")


@pytest.mark.parametrize(("spec", "message"), [
    ("train=0.98,val=0.01", "sum to 0.99, not 1"),
    ("train=1.01,val=-0.01", "must be > 0"),
    ("train=1,val=0", "must be > 0"),
    ("train=nan,val=0.5", "must be > 0"),
    ("train=0.5,train=0.5", "given twice"),
    ("train", "not NAME=FRACTION"),
    ("../x=1", "split name"),
    ("train=half,val=0.5", "not a number"),
])
def test_fractions_are_checked(spec, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        cli.split_spec(spec)


def test_fractions_summing_to_one_within_rounding_pass():
    assert cli.split_spec("a=0.1,b=0.2,c=0.7") == {"a": 0.1, "b": 0.2, "c": 0.7}
    assert cli.split_spec(" train = 0.98 , val=0.01,test=0.01") == {"train": 0.98, "val": 0.01, "test": 0.01}
    assert cli.split_spec("all=1") == {"all": 1.0}


def test_a_bad_split_is_a_usage_error(db, tmp_path, capsys):
    code, out, err = _export(capsys, db, tmp_path, "--split", "train=0.9")
    assert code == 2 and "sum to 0.9, not 1" in err and not list(tmp_path.iterdir())


def test_a_failed_split_publishes_no_split(db, tmp_path, monkeypatch):
    original = export._File.check

    def check(self):
        if ".val." in self.final.name:
            raise export.CurateError("simulated: the val file does not hold its rows")
        original(self)

    monkeypatch.setattr(export._File, "check", check)
    with store.open_store(db, read_only=True) as con:
        sid = con.execute("SELECT slice_id FROM slices WHERE name = 'raw'").fetchone()[0]
        with pytest.raises(export.CurateError, match="simulated"):
            export.export_splits(con, sid, tmp_path, "parquet", {"train": 0.8, "val": 0.2})
    assert list(tmp_path.iterdir()) == []  # neither train nor val, and no temp file


def test_a_plain_export_is_unchanged(db, tmp_path, capsys):
    code, out, _ = _export(capsys, db, tmp_path)
    assert code == 0
    [path] = tmp_path.glob("raw-*.parquet")
    assert out == f"exported {path}\n" and len(_ids(path)) == 400
    assert path.name == export.export_name(path.name.split(".")[0], "parquet")
