"""The corpus-level `common_line_char_frac` signal (curate/signals/corpus.py, dedup/lines.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate import pipeline, store
from curate.dedup.lines import update_common_lines
from curate.engines import LocalEngine
from curate.ingest import IngestOptions

FOOTER = "Accept all cookies to continue browsing this site"
MENU = "Home | Products | About us | Contact"


def _own(i: int) -> str:
    return f"Paragraph {i} is written by its author alone and says something about topic number {i}."


def _write(path: Path, docs: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    return path


def _values(db: Path) -> dict[str, float]:
    with store.open_store(db, read_only=True) as con:
        return dict(con.execute(
            "SELECT d.external_id, s.common_line_char_frac FROM documents d JOIN signals s USING (doc_id)").fetchall())


def _score(db: Path) -> None:
    with pipeline.recorded_run(db, "score", {}) as ctx:
        LocalEngine(1).score(ctx.con, db)
        store.finish_run(ctx.con, ctx.run_id, status="ok", exit_code=0)


@pytest.fixture
def corpus(tmp_path):
    docs = {f"t{i}": f"{MENU}\n{_own(i)}\n{FOOTER}\n" for i in range(5)}  # template pages
    docs.update({f"c{i}": f"{_own(100 + i)}\nA second line of its own, number {i}, long enough." for i in range(3)})
    docs.update({f"copy{i}": f"{FOOTER}\n{_own(200)}" for i in range(6)})  # one text copied six times
    docs["short"] = "\n".join(["ok", "ok", "ok"])
    docs["blank"] = "   "
    db = tmp_path / "s.duckdb"
    pipeline.ingest(db, [str(_write(tmp_path / "in.jsonl", docs))], IngestOptions(id_field="id"))
    _score(db)
    return db, tmp_path


def test_template_lines_count_and_own_lines_do_not(corpus):
    db, _ = corpus
    v = _values(db)
    # menu and footer: 5 template pages + one distinct text of the copies = 6 texts >= 5
    text = f"{MENU}\n{_own(0)}\n{FOOTER}\n"
    assert v["t0"] == pytest.approx((len(MENU) + len(FOOTER)) / len(text))
    assert all(v[f"c{i}"] == 0.0 for i in range(3))
    assert v["short"] == 0.0  # lines under 10 characters never count


def test_exact_copies_count_once(tmp_path):
    docs = {f"copy{i}": f"{FOOTER}\n{_own(1)}" for i in range(8)}
    db = tmp_path / "s.duckdb"
    pipeline.ingest(db, [str(_write(tmp_path / "in.jsonl", docs))], IngestOptions(id_field="id"))
    _score(db)
    assert set(_values(db).values()) == {0.0}  # eight copies of one text: nothing is common


def test_rerun_is_a_no_op_and_new_documents_update_old_ones(corpus):
    db, tmp = corpus
    with store.open_store(db) as con:
        assert update_common_lines(con) == 0
    before = _values(db)
    assert before["c0"] == 0.0
    shared = "A second line of its own, number 0, long enough."
    more = {f"n{i}": f"{_own(300 + i)}\n{shared}" for i in range(5)}
    pipeline.ingest(db, [str(_write(tmp / "more.jsonl", more))], IngestOptions(id_field="id"))
    _score(db)
    after = _values(db)
    assert after["c0"] > 0.0  # its line now recurs in 6 texts
    assert after["t0"] == before["t0"]


def test_blank_document_is_zero(corpus):
    db, _ = corpus
    assert _values(db).get("blank", 0.0) == 0.0
