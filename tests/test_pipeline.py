"""`curate run`: incremental, idempotent, validated, safe to kill, one writer."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate import pipeline, store
from curate.cli import main
from curate.errors import ExitCode
from curate.invariants import check_invariants

RECIPE = """name: nightly
filters:
  lang: {allow: [en]}
  gopher_quality: defaults
dedup: {exact: true, near_threshold: 0.8}
"""
SENT = ("The committee met on Tuesday to review the budget for the coming year, and the members agreed that "
        "the library should stay open later in the evening during the winter months. ")


def _doc(i: int) -> str:
    return f"Report number {i}. " + SENT * 4 + f"The {i}th meeting ended at noon after a short vote on the {i} items."


def _write(path: Path, ids: range, extra: dict | None = None) -> Path:
    rows = [{"id": f"r{i}", "text": _doc(i)} for i in ids]
    rows += [{"id": k, "text": v} for k, v in (extra or {}).items()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run(db: Path, recipe: Path, inputs: str, out: Path, *extra: str) -> int:
    return main(["run", str(recipe), "--db", str(db), "-q", "-i", inputs, "--out", str(out),
                 "--format", "parquet", "--format", "jsonl", "--workers", "1", "--id-field", "id", *extra])


@pytest.fixture
def recipe(tmp_path) -> Path:
    p = tmp_path / "nightly.yaml"
    p.write_text(RECIPE)
    return p


def _kept(db: Path, out: Path) -> list[str]:
    """External ids in the export of the recipe's latest slice (exports are named by slice id)."""
    from curate import recipes

    with store.open_store(db, read_only=True) as con:
        sid = recipes.latest_slice(con, "nightly")
    return sorted(pq.read_table(out / f"{sid}.parquet").column("external_id").to_pylist())


def test_three_runs_new_changed_repeated(tmp_path, recipe):
    db, out, inp = tmp_path / "s.duckdb", tmp_path / "out", tmp_path / "in"
    inp.mkdir()
    _write(inp / "a.jsonl", range(0, 20), {"dup_of_r3": _doc(3), "de": "Das ist ein deutscher Text. " * 20})
    assert _run(db, recipe, str(inp / "*.jsonl"), out) == 0
    first = _kept(db, out)
    first_file = (out / next(out.glob("*.parquet")).name).read_bytes()
    assert "r3" in first and "dup_of_r3" not in first and "de" not in first
    # run 2: a new file and a changed file
    _write(inp / "b.jsonl", range(20, 30))
    _write(inp / "a.jsonl", range(0, 21), {"dup_of_r3": _doc(3), "de": "Das ist ein deutscher Text. " * 20})
    assert _run(db, recipe, str(inp / "*.jsonl"), out) == 0
    second = _kept(db, out)
    assert set(second) >= set(first) | {f"r{i}" for i in range(20, 30)}
    # the changed a.jsonl is a new source: its unchanged records are exact duplicates of the old ones
    assert len(second) == 30  # r20 is in both files: one copy kept
    # run 3: the same input again changes nothing
    with store.open_store(db, read_only=True) as con:
        before = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert _run(db, recipe, str(inp / "*.jsonl"), out, "--exit-5-when-idle") == ExitCode.NOTHING_TO_DO
    assert _run(db, recipe, str(inp / "*.jsonl"), out) == 0
    with store.open_store(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == before
        statuses = [r[0] for r in con.execute("SELECT status FROM runs ORDER BY run_id").fetchall()]
        results = check_invariants(con)
    assert statuses == ["ok", "ok", "nothing_to_do", "nothing_to_do"]
    assert all(ok for _, ok, _ in results), results
    assert main(["check", "--db", str(db)]) == 0
    assert _kept(db, out) == second
    # each run's export is named by its slice's content: the first one is still there, unchanged
    exports = sorted(out.glob("*.parquet"))
    assert len(exports) == 2 and first_file in [f.read_bytes() for f in exports]


def test_validation_failure_exits_4(tmp_path, recipe):
    db, out = tmp_path / "s.duckdb", tmp_path / "out"
    inp = _write(tmp_path / "a.jsonl", range(5))
    suite = store.suite_path(db, "nightly")
    suite.write_text(json.dumps({"name": "nightly", "allowed_langs": ["en"], "min_documents": 1000}))
    assert _run(db, recipe, str(inp), out) == ExitCode.VALIDATION_FAILED
    with store.open_store(db, read_only=True) as con:
        success, result = con.execute("SELECT success, result_json FROM validations").fetchone()
    assert success is False and "min_documents" in result
    # a slice that failed its suite is neither exported nor published for the dashboard
    assert not out.exists() or not list(out.glob("*.parquet"))
    assert not store.snapshot_path(db).exists()


def test_failed_input_file_exits_1_and_keeps_the_rest(tmp_path, recipe):
    db, out = tmp_path / "s.duckdb", tmp_path / "out"
    inp = tmp_path / "in"
    inp.mkdir()
    _write(inp / "good.jsonl", range(5))
    (inp / "bad.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert _run(db, recipe, str(inp), out) == ExitCode.FAILED
    assert len(_kept(db, out)) == 5


def test_second_writer_exits_3(tmp_path, recipe):
    db = tmp_path / "s.duckdb"
    inp = _write(tmp_path / "a.jsonl", range(3))
    with store.writer_lock(db):
        assert _run(db, recipe, str(inp), tmp_path / "out") == ExitCode.LOCKED


def _snapshot(db: Path, out: Path) -> dict:
    with store.open_store(db, read_only=True) as con:
        state = {
            "documents": con.execute("SELECT doc_id, text_hash FROM documents ORDER BY 1").fetchall(),
            "quarantine": con.execute(
                "SELECT source_id, record_no, error_kind FROM quarantine ORDER BY 1, 2").fetchall(),
            "signals": con.execute("SELECT count(*), count(DISTINCT doc_id) FROM signals").fetchall(),
            "clusters": con.execute(
                "SELECT threshold, doc_id, cluster_id, is_representative FROM dup_clusters ORDER BY 1, 2").fetchall(),
            "decisions": con.execute("SELECT slice_id, doc_id, kept, reason FROM decisions ORDER BY 1, 2").fetchall(),
        }
    for f in sorted(out.glob("*")):
        state[f.name] = f.read_bytes() if f.suffix == ".jsonl" else pq.read_table(f).to_pylist()
    return state


@pytest.mark.slow
def test_sigkill_at_many_points_then_rerun_equals_uninterrupted(tmp_path, recipe):
    inp = tmp_path / "in"
    inp.mkdir()
    _write(inp / "a.jsonl", range(0, 300), {"dup": _doc(7)})
    _write(inp / "b.jsonl", range(300, 600))
    cmd = [sys.executable, "-m", "curate.cli", "run", str(recipe), "-q", "-i", str(inp), "--workers", "1",
           "--id-field", "id", "--format", "parquet", "--format", "jsonl"]

    ref_db, ref_out = tmp_path / "ref.duckdb", tmp_path / "ref_out"
    t0 = time.perf_counter()
    subprocess.run([*cmd, "--db", str(ref_db), "--out", str(ref_out)], check=True, capture_output=True)
    full = time.perf_counter() - t0
    reference = _snapshot(ref_db, ref_out)

    db, out = tmp_path / "k.duckdb", tmp_path / "k_out"
    kills = 0
    for frac in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9):
        proc = subprocess.Popen([*cmd, "--db", str(db), "--out", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * frac)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3
    done = subprocess.run([*cmd, "--db", str(db), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _snapshot(db, out) == reference
    assert not list(out.glob("*.tmp"))
    assert main(["check", "--db", str(db)]) == 0


@pytest.mark.parametrize("inside", ["store.transaction", "a transaction left open"])
def test_a_stage_whose_statement_fails_is_recorded_as_failed(tmp_path, inside):
    """After a failed statement DuckDB refuses every later one until the transaction ends:
    the run must still be recorded as failed, with the error, and the store stay usable."""
    import duckdb

    db = tmp_path / "s.duckdb"
    with pytest.raises(duckdb.Error):
        with pipeline.recorded_run(db, "score", {}) as ctx:
            if inside == "store.transaction":
                with store.transaction(ctx.con):
                    ctx.con.execute("INSERT INTO meta VALUES ('k', 'v')")
                    ctx.con.execute("SELECT * FROM no_such_table")
            else:
                ctx.con.execute("BEGIN")
                ctx.con.execute("INSERT INTO meta VALUES ('k', 'v')")
                ctx.con.execute("SELECT * FROM no_such_table")
    with store.open_store(db, read_only=True) as con:
        status, message = con.execute("SELECT status, message FROM runs").fetchone()
        assert status == "failed" and "no_such_table" in message
        assert store.get_meta(con, "k") is None  # the stage's writes rolled back


def test_insert_writes_by_column_name_and_refuses_unknown_columns(tmp_path):
    db = tmp_path / "s.duckdb"
    with store.open_store(db) as con:
        store.insert(con, "meta", {"value": "2", "key": "b"})  # any order
        assert store.get_meta(con, "b") == "2"
        with pytest.raises(ValueError, match="not columns"):
            store.insert(con, "meta", {"key": "c", "vaule": "typo"})
        with pytest.raises(ValueError, match="not columns"):
            store.insert(con, "no_table", {"key": "c"})
