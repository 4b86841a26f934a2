"""Shared by the dashboard tests: an AppTest runner and a second process that holds a store read-write."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

APP = str(Path(__file__).resolve().parents[1] / "app.py")

HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
if len(sys.argv) > 2:
    con.execute("INSERT INTO runs (run_id, command, started_at, status) VALUES (?, 'slow job', now(), 'running')",
                [int(sys.argv[2])])
print("holding", flush=True)
sys.stdin.readline()
con.close()
"""


class Holder:
    """`with Holder(db):` a real writer process holds the DuckDB lock until the block ends."""

    def __init__(self, db: Path, new_run: int | None = None):
        self.db = db
        self.new_run = new_run  # the holder records a run of its own, as a real job would

    def __enter__(self) -> Holder:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(self.db),
                                      *([str(self.new_run)] if self.new_run is not None else [])],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "holding" not in line:
            self.proc.kill()
            raise RuntimeError(f"the lock holder did not start: {line!r}")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=20)


def run_app(monkeypatch, db: Path, **query):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CURATE_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}: {[m.label for m in at.metric]}"
    return values[0]


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)
