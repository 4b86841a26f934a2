"""`curate explain`: every rule of the slice's recipe judged on the document's own values."""
from __future__ import annotations

import json
from pathlib import Path

from curate import explain, pipeline, recipes, store
from curate.engines import LocalEngine
from curate.recipes import parse_recipe

CLEAN = ("The committee met on Tuesday to review the budget for the coming year, and the members agreed "
         "that the library should stay open later in the evening during the winter months. ") * 4
RECIPE = """name: explained
filters:
  word_count: {min: 20}
  gopher_word_count: {min: 50, max: 100000}
  c4_curly_bracket_count: {max: 0}
"""


def _store(db: Path, tmp_path: Path) -> str:
    docs = {"clean": CLEAN, "short": "far too short to keep here"}
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    pipeline.ingest(db, [str(path)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        return recipes.build_slice(con, parse_recipe(RECIPE)).slice_id


def _rule_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        for signal in ("word_count", "gopher_word_count", "c4_curly_bracket_count"):
            if line.split()[:1] == [signal]:
                out[signal] = line
    return out


def test_every_failing_rule_says_fail_and_the_recorded_one_is_marked(db, tmp_path):
    sid = _store(db, tmp_path)
    with store.open_store(db, read_only=True) as con:
        text = explain.explain_document(con, "short", sid)
    lines = _rule_lines(text)
    assert "FAIL" in lines["word_count"] and "drop reason" in lines["word_count"]
    # fails its bound too, though the decision recorded only the first failing rule
    assert "FAIL" in lines["gopher_word_count"] and "drop reason" not in lines["gopher_word_count"]
    assert "ok" in lines["c4_curly_bracket_count"] and "FAIL" not in lines["c4_curly_bracket_count"]
    assert "DROPPED — first failing rule: word_count_below_min" in text
    assert "note:" not in text


def test_a_kept_document_passes_every_rule(db, tmp_path):
    sid = _store(db, tmp_path)
    with store.open_store(db, read_only=True) as con:
        text = explain.explain_document(con, "clean", sid)
    lines = _rule_lines(text)
    assert all("FAIL" not in line and "ok" in line for line in lines.values()), lines
    assert "KEPT" in text


def test_signals_changed_after_the_slice_are_called_out(db, tmp_path):
    sid = _store(db, tmp_path)
    with store.open_store(db) as con:
        con.execute("UPDATE signals SET word_count = 100 FROM documents d "
                    "WHERE d.doc_id = signals.doc_id AND d.external_id = 'short'")
    with store.open_store(db, read_only=True) as con:
        text = explain.explain_document(con, "short", sid)
    lines = _rule_lines(text)
    assert "ok" in lines["word_count"] and "drop reason" in lines["word_count"]
    assert "first failing rule is gopher_word_count_below_min" in text
