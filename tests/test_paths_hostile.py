"""--db and --out that are not what they should be: a clear error, exit 2, nothing left behind."""
from __future__ import annotations

import json

import pytest

from curate.cli import main


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "in.jsonl"
    text = "The committee met on Tuesday to review the budget for the coming year in the town hall. " * 3
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"{i}. {text}"}) + "\n" for i in range(5)))
    return path


def test_db_in_a_folder_that_does_not_exist_is_made(tmp_path, corpus):
    db = tmp_path / "new" / "nested" / "s.duckdb"
    assert main(["ingest", str(corpus), "--db", str(db), "--quiet"]) == 0
    assert db.exists()


def test_db_under_a_file_is_a_usage_error(tmp_path, corpus, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["ingest", str(corpus), "--db", str(blocker / "s.duckdb"), "--quiet"]) == 2
    assert "cannot use the store" in capsys.readouterr().err


def _built(tmp_path, corpus):
    db = tmp_path / "s.duckdb"
    assert main(["ingest", str(corpus), "--db", str(db), "--quiet"]) == 0
    assert main(["score", "--db", str(db), "--quiet", "--workers", "1"]) == 0
    assert main(["slice", "raw", "--db", str(db), "--quiet"]) == 0
    return db


def test_out_that_is_a_file(tmp_path, corpus, capsys):
    db = _built(tmp_path, corpus)
    out = tmp_path / "out"
    out.write_text("not a folder")
    assert main(["export", "raw", "--db", str(db), "--out", str(out)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert out.read_text() == "not a folder"


def test_export_target_that_is_a_folder(tmp_path, corpus, capsys):
    db = _built(tmp_path, corpus)
    out = tmp_path / "out"
    assert main(["export", "raw", "--db", str(db), "--out", str(out)]) == 0
    first = next(out.glob("raw-*.parquet"))
    first.unlink()
    first.mkdir()  # a folder where the export goes
    assert main(["export", "raw", "--db", str(db), "--out", str(out)]) == 2
    assert "a folder of that name is in the way" in capsys.readouterr().err
    assert not list(out.glob("*.tmp"))


def test_sigterm_marks_the_run_failed(tmp_path, corpus, monkeypatch, capsys):
    import os
    import signal

    from curate import store
    from curate.engines import LocalEngine

    db = tmp_path / "s.duckdb"
    assert main(["ingest", str(corpus), "--db", str(db), "--quiet"]) == 0

    def killed(*_a, **_k):
        os.kill(os.getpid(), signal.SIGTERM)  # what systemd sends mid-stage
        raise AssertionError("not reached")

    monkeypatch.setattr(LocalEngine, "score", killed)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["score", "--db", str(db), "--quiet"]) == 1
    assert "terminated" in capsys.readouterr().err
    with store.open_store(db, read_only=True) as con:
        status = con.execute("SELECT status FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()[0]
    assert status == "failed"
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is given back


@pytest.mark.parametrize("argv", [
    ["ingest", "x.jsonl", "--max-doc-bytes", "0"],
    ["ingest", "x.jsonl", "--max-doc-bytes", "-5"],
    ["score", "--workers", "0"],
    ["score", "--batch-size", "abc"],
    ["dedup", "--threshold", "nan"],
    ["dedup", "--threshold", "0"],
    ["dedup", "--threshold", "1.5"],
    ["dedup", "--num-perm", "1"],
    ["dedup", "--ngram", "0"],
    ["runs", "--limit", "-1"],
    ["quality", "train", "--folds", "1"],
    ["app", "--port", "70000"],
    ["demo", "--seeds", "0"],
])
def test_numeric_arguments_are_range_checked(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: argument" in err and "Traceback" not in err
