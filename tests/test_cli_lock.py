"""While a job holds the store, the commands that only read read the last published snapshot
and say so; the lock message names the holder; a stale lock file blocks nobody. Every holder
here is a real second process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curate import cli, store
from curate.dashboard.synthetic import build_store
from curate.errors import ExitCode, StoreLockedError
from tests.dashboard_helpers import Holder

# A job as `curate run strict` holds the store: the writer lock, then DuckDB's, and a run of its own.
JOB = """
import sys
from curate import store
db, new_run = sys.argv[1], int(sys.argv[2])
sys.argv = ["curate", "run", "strict", "--input", "in/*.jsonl"]
with store.writer_lock(db):
    if new_run:
        con = store.connect(db)
        con.execute("INSERT INTO runs (run_id, command, started_at, status) VALUES (?, 'run', now(), 'running')",
                    [new_run])
    print("holding", flush=True)
    sys.stdin.readline()
"""


class Job:
    """`with Job(db) as job:` another process holds the store as a running job does;
    new_run=0 takes the writer lock only."""

    def __init__(self, db: Path, new_run: int = 99):
        self.db, self.new_run = db, new_run

    def __enter__(self) -> Job:
        self.proc = subprocess.Popen([sys.executable, "-c", JOB, str(self.db), str(self.new_run)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "holding" not in line:
            self.proc.kill()
            raise RuntimeError(f"the job did not start: {line!r}")
        self.pid = self.proc.pid
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=20)


@pytest.fixture
def published(tmp_path) -> Path:
    """A store whose snapshot was published after its last run (4), as `curate run` does."""
    db = build_store(tmp_path / "store.duckdb", 40, seed=1)
    store.publish_snapshot(db)
    return db


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- the lock names its holder ------------------------------------------------------------


def test_the_lock_file_names_the_holder_while_held_and_is_emptied_after(tmp_path):
    db = tmp_path / "s.duckdb"
    with Job(db, new_run=0) as job:
        line = json.loads(store.lock_path(db).read_text())
        assert line["pid"] == job.pid and line["command"] == "curate run strict --input 'in/*.jsonl'"
        holder = store.lock_holder(db)
        assert holder is not None and holder.pid == job.pid
        assert holder.describe().startswith(f"pid {job.pid} (`curate run strict --input 'in/*.jsonl'`) since 20")
        assert holder.describe().endswith(" UTC")
    assert store.lock_path(db).exists() and store.lock_path(db).read_text() == ""
    assert store.lock_holder(db) is None


def test_a_second_writer_is_told_who_holds_the_store(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    data = tmp_path / "a.jsonl"
    data.write_text('{"text": "hello there"}\n')
    with Job(db, new_run=0) as job:
        code, _, err = run(capsys, "ingest", data, "--db", db)
        with pytest.raises(StoreLockedError, match=rf"locked by pid {job.pid} \(`curate run strict"):
            with store.writer_lock(db):
                pass
    assert code == ExitCode.LOCKED
    assert f"locked by pid {job.pid} (`curate run strict --input 'in/*.jsonl'`) since " in err
    assert " UTC (one writer at a time)" in err
    assert run(capsys, "ingest", data, "--db", db)[0] == 0  # released


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("content", [
    '{"pid": DEAD, "command": "curate run strict", "since": "2026-01-01T00:00:00Z"}\n',  # killed holder
    "garbage\x00{",  # not ours
    '{"pid": 1, "command": "curate run strict"}',  # half a line
])
def test_a_stale_lock_file_blocks_nobody(tmp_path, capsys, content):
    db = tmp_path / "s.duckdb"
    store.lock_path(db).write_text(content.replace("DEAD", str(_dead_pid())))
    assert store.lock_holder(db) is None  # names nobody
    with store.writer_lock(db):  # and the lock is free
        assert json.loads(store.lock_path(db).read_text())["pid"] == os.getpid()
    data = tmp_path / "a.jsonl"
    data.write_text('{"text": "hello there"}\n')
    assert run(capsys, "ingest", data, "--db", db)[0] == 0


# --- reading while a job runs -------------------------------------------------------------


def test_reading_commands_read_the_snapshot_while_a_job_holds_the_store(published, capsys, tmp_path):
    with Job(published) as job:
        with pytest.raises(StoreLockedError):  # DuckDB's own lock is held: the store itself cannot be read
            store.connect(published, read_only=True)
        code, out, err = run(capsys, "runs", "--db", published, "--format", "json")
        assert code == 0
        doc = json.loads(out)
        assert [r["run_id"] for r in doc["runs"]] == [4, 3, 2, 1]  # not the job's run 99: the snapshot's
        assert doc["snapshot"]["as_of_run"] == 4
        assert doc["snapshot"]["job"]["pid"] == job.pid
        assert doc["snapshot"]["job"]["command"].startswith("curate run strict")
        assert f"curate: a job is running (pid {job.pid}, `curate run strict --input 'in/*.jsonl'`, since " in err
        assert "UTC); showing data as of run 4" in err
        outputs = {}
        for argv in (["runs"], ["check"], ["quarantine"], ["explain", "5a17000000000000-000000001", "--slice", "tight"],
                     ["export", "loose", "--out", tmp_path / "out"], ["check", "--format", "csv"]):
            code, out, err = run(capsys, *argv, "--db", published)
            assert code == 0, (argv, err)
            assert "showing data as of run 4" in err and "showing" not in out, argv
            outputs[argv[0]] = out
        assert "documents = kept + dropped" in outputs["check"]
        assert "2 quarantined records in all" in outputs["quarantine"]
        assert list((tmp_path / "out").glob("loose-*.parquet"))
    code, out, err = run(capsys, "runs", "--db", published, "--format", "json")  # the job is done: the store
    assert json.loads(out)["snapshot"] is None and json.loads(out)["runs"][0]["run_id"] == 99 and err == ""


def test_audit_reads_the_snapshot_too(published, capsys):
    pytest.importorskip("altair")
    pytest.importorskip("vl_convert")
    with Job(published) as job:
        code, out, err = run(capsys, "audit", "--db", published, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["snapshot"]["as_of_run"] == 4 and doc["snapshot"]["job"]["pid"] == job.pid
    assert "showing data as of run 4" in err


def test_without_a_snapshot_the_lock_stays_an_error_naming_the_holder(tmp_path, capsys):
    db = build_store(tmp_path / "store.duckdb", 20, seed=1)
    with Job(db) as job:
        code, out, err = run(capsys, "runs", "--db", db, "--format", "json")
    assert code == ExitCode.LOCKED and out == ""
    assert f"locked by pid {job.pid} (`curate run strict" in err and "no snapshot has been published yet" in err


def test_a_holder_that_is_no_curate_job_is_not_named(published, capsys):
    with Holder(published, new_run=50):  # a plain DuckDB writer: no writer lock, no lock file
        code, out, err = run(capsys, "runs", "--db", published, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["snapshot"]["as_of_run"] == 4 and doc["snapshot"]["job"] is None
    assert "curate: a job is running; showing data as of run 4" in err


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("reading", flush=True)
sys.stdin.readline()
"""


def test_a_writer_kept_out_by_a_reader_is_not_told_it_locked_itself(published, tmp_path, capsys):
    data = tmp_path / "a.jsonl"
    data.write_text('{"text": "hello there"}\n')
    proc = subprocess.Popen([sys.executable, "-c", READER, str(published)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "reading" in proc.stdout.readline()
        code, _, err = run(capsys, "ingest", data, "--db", published)
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=20)
    assert code == ExitCode.LOCKED
    assert "is open in another process (a reader" in err and f"pid {os.getpid()}" not in err
