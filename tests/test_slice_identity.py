"""One slice id, one content: a slice is named by its decisions, and `curate run` decides
"nothing to do" from the store's state, not from names."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate import pipeline, recipes, store
from curate.cli import main
from curate.dedup import lsh, minhash
from curate.engines import LocalEngine
from curate.errors import ExitCode
from curate.export import export_slice
from curate.invariants import check_invariants
from curate.recipes import parse_recipe

SENT = ("The committee met on Tuesday to review the budget for the coming year, and the members agreed that "
        "the library should stay open later in the evening during the winter months. ")
RECIPE = """name: nightly
filters:
  word_count: {min: 20}
dedup: {exact: true, near_threshold: 0.8}
"""
QUALITY_RECIPE = "name: q\nfilters:\n  quality: {min: 0.5}\n"


def _doc(i: int) -> str:
    return f"Report number {i}. " + SENT * 4 + f"The {i}th meeting ended at noon after a short vote on the {i} items."


def _near(i: int) -> str:  # one word changed: a near-duplicate of _doc(i) at 0.8
    return _doc(i).replace("Tuesday", "Wednesday", 1)


def _write(path: Path, docs: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    return path


def _corpus(ids: range = range(6)) -> dict[str, str]:
    docs = {f"r{i}": _doc(i) for i in ids}
    docs["r0_near"] = _near(0)
    docs["short"] = "too short to keep"
    return docs


def _store(db: Path, tmp_path: Path, docs: dict[str, str], name: str = "a") -> None:
    pipeline.ingest(db, [str(_write(tmp_path / f"{name}.jsonl", docs))], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        lsh.dedup(con, 0.8, minhash.SignatureSpec(), 1)


def _set_quality(db: Path, values: dict[str, float], default: float = 0.7) -> None:
    with store.open_store(db) as con:
        con.execute("UPDATE signals SET quality = ?", [default])
        for ext, q in values.items():
            con.execute("UPDATE signals SET quality = ? FROM documents d "
                        "WHERE d.doc_id = signals.doc_id AND d.external_id = ?", [q, ext])
        lsh.dedup(con, 0.8, minhash.SignatureSpec(), 1)  # representatives follow the new scores


def _build(db: Path, text: str = RECIPE) -> recipes.SliceResult:
    with store.open_store(db) as con:
        return recipes.build_slice(con, parse_recipe(text))


def _decisions(db: Path, slice_id: str) -> list[tuple]:
    with store.open_store(db, read_only=True) as con:
        return con.execute("SELECT d.external_id, k.kept, k.reason FROM decisions k JOIN documents d USING (doc_id) "
                           "WHERE k.slice_id = ? ORDER BY d.external_id", [slice_id]).fetchall()


# --- the id ---------------------------------------------------------------------------------


def test_same_recipe_twice_same_id_and_decisions(db, tmp_path):
    _store(db, tmp_path, _corpus())
    a = _build(db)
    first = _decisions(db, a.slice_id)
    b = _build(db)
    assert a.slice_id == b.slice_id and a.new and not b.new
    assert _decisions(db, b.slice_id) == first
    assert (a.n_kept, a.n_dropped, a.reasons) == (b.n_kept, b.n_dropped, b.reasons)
    with store.open_store(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM slices").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM decisions").fetchone()[0] == a.n_documents


def test_id_is_the_documented_digest(db, tmp_path):
    """sha256 over the recipe id and 'doc_id TAB 1|0 TAB reason' lines in doc_id order:
    fixed by its specification, so another machine or library version gives the same id."""
    _store(db, tmp_path, _corpus())
    res = _build(db)
    with store.open_store(db, read_only=True) as con:
        rows = con.execute("SELECT doc_id, kept, reason FROM decisions WHERE slice_id = ? ORDER BY doc_id",
                           [res.slice_id]).fetchall()
    h = hashlib.sha256(f"curate slice v1\nrecipe {res.recipe_id}\n".encode())
    h.update("".join(f"{d}\t{int(k)}\t{r or ''}\n" for d, k, r in rows).encode())
    assert res.slice_id == f"nightly-{h.hexdigest()[:12]}"
    assert res.recipe_id == parse_recipe(RECIPE).recipe_id  # the slices table keeps the recipe's own hash


def test_changed_quality_scores_make_a_new_id(db, tmp_path):
    _store(db, tmp_path, _corpus())
    _set_quality(db, {"r1": 0.2})
    a = _build(db, QUALITY_RECIPE)
    _set_quality(db, {"r1": 0.2, "r2": 0.3})
    b = _build(db, QUALITY_RECIPE)
    assert a.slice_id != b.slice_id and b.n_kept == a.n_kept - 1


def test_changed_representative_makes_a_new_id(db, tmp_path):
    """The bug this id fixes: near-duplicate representatives chosen before and after a quality
    model existed gave two different slices under one name."""
    _store(db, tmp_path, _corpus())
    before = _build(db)  # no quality scores: the longer copy represents the cluster
    assert {e: k for e, k, _ in _decisions(db, before.slice_id)}["r0_near"]
    _set_quality(db, {"r0": 0.9, "r0_near": 0.1})
    after = _build(db)
    assert before.slice_id != after.slice_id
    assert before.n_kept == after.n_kept  # same counts, different documents
    kept = {e: k for e, k, _ in _decisions(db, after.slice_id)}
    assert kept["r0"] and not kept["r0_near"]


def test_scores_that_move_no_decision_keep_the_id(db, tmp_path):
    _store(db, tmp_path, _corpus())
    a = _build(db)
    _set_quality(db, {"r3": 0.4})  # r3 is in no cluster and the recipe does not filter on quality
    assert _build(db).slice_id == a.slice_id


def test_new_documents_make_a_new_id(db, tmp_path):
    _store(db, tmp_path, _corpus())
    a = _build(db)
    _store(db, tmp_path, {"r9": _doc(9)}, name="b")
    b = _build(db)
    assert a.slice_id != b.slice_id and b.n_documents == a.n_documents + 1


def test_older_slices_are_pruned_unless_trained(db, tmp_path):
    _store(db, tmp_path, _corpus())
    a = _build(db)
    _store(db, tmp_path, {"r10": _doc(10)}, name="b")
    b = _build(db)
    with store.open_store(db) as con:
        assert [r[0] for r in con.execute("SELECT slice_id FROM slices").fetchall()] == [b.slice_id]
        assert con.execute("SELECT count(*) FROM decisions WHERE slice_id = ?", [a.slice_id]).fetchone()[0] == 0
        con.execute("INSERT INTO train_runs (train_run_id, slice_id, slice_name, seed, config, tokens, created_at) "
                    "VALUES ('m1', ?, 'nightly', 0, '{}', 1000, now())", [b.slice_id])
    _store(db, tmp_path, {"r11": _doc(11)}, name="c")
    c = _build(db)
    with store.open_store(db, read_only=True) as con:
        assert {r[0] for r in con.execute("SELECT slice_id FROM slices").fetchall()} == {b.slice_id, c.slice_id}
        assert recipes.resolve_slice(con, "nightly") == (c.slice_id, "nightly")
        assert recipes.resolve_slice(con, b.slice_id) == (b.slice_id, "nightly")
        assert all(ok for _, ok, _ in check_invariants(con))


# --- export ---------------------------------------------------------------------------------


def test_export_is_named_by_content_and_never_rewritten(db, tmp_path):
    _store(db, tmp_path, _corpus())
    res = _build(db)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f"{res.slice_id}.parquet.999999999.tmp"  # left by a killed export (no such process)
    stale.write_bytes(b"partial")
    alive = out / f"{res.slice_id}.parquet.{os.getppid()}.tmp"  # another export still writing
    alive.write_bytes(b"partial")
    with store.open_store(db, read_only=True) as con:
        path = export_slice(con, res.slice_id, out, "parquet")
        stat = path.stat()
        assert export_slice(con, res.slice_id, out, "parquet") == path
        redacted = export_slice(con, res.slice_id, out, "parquet", redact=True)
    assert path.name == f"{res.slice_id}.parquet" and redacted.name == f"{res.slice_id}.redacted.parquet"
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert pq.read_table(path).num_rows == res.n_kept
    assert not stale.exists() and alive.exists()


# --- `curate run`: nothing to do, decided from the store --------------------------------------


def _run(db: Path, recipe: Path, inputs: str, out: Path | None, *extra: str) -> int:
    return main(["run", str(recipe), "--db", str(db), "-q", "-i", inputs, "--workers", "1", "--id-field", "id",
                 *(["--out", str(out)] if out else []), *extra])


@pytest.fixture
def nightly(tmp_path) -> Path:
    p = tmp_path / "nightly.yaml"
    p.write_text(RECIPE)
    return p


def _slices(db: Path) -> list[str]:
    with store.open_store(db, read_only=True) as con:
        return [r[0] for r in con.execute("SELECT slice_id FROM slices ORDER BY built_at").fetchall()]


def _statuses(db: Path) -> list[str]:
    with store.open_store(db, read_only=True) as con:
        return [r[0] for r in con.execute("SELECT status FROM runs WHERE command = 'run' ORDER BY run_id").fetchall()]


def test_slice_then_run_same_id_completes_validation_and_export(db, tmp_path, nightly, capsys):
    """`curate slice` then `curate run` with no new input is also what a run killed between
    slice and validate leaves: the next run validates and exports the same slice."""
    inp = _write(tmp_path / "a.jsonl", _corpus())
    assert main(["ingest", str(inp), "--db", str(db), "-q", "--id-field", "id"]) == 0
    assert main(["score", "--db", str(db), "-q", "--workers", "1"]) == 0
    assert main(["dedup", "--db", str(db), "-q", "--threshold", "0.8"]) == 0
    assert main(["slice", str(nightly), "--db", str(db), "-q"]) == 0
    (sid,) = _slices(db)
    decisions = _decisions(db, sid)
    out = tmp_path / "out"
    capsys.readouterr()
    assert _run(db, nightly, str(inp), out, "--exit-5-when-idle") == 0  # not validated nor exported yet
    assert "already stored with these decisions" in capsys.readouterr().out
    assert _slices(db) == [sid] and _decisions(db, sid) == decisions
    with store.open_store(db, read_only=True) as con:
        assert con.execute("SELECT slice_id, success FROM validations").fetchall() == [(sid, True)]
    assert sorted(p.name for p in out.iterdir()) == [f"{sid}.parquet"]
    assert _run(db, nightly, str(inp), out, "--exit-5-when-idle") == ExitCode.NOTHING_TO_DO
    assert _statuses(db) == ["ok", "nothing_to_do"]


def test_missing_validation_or_export_is_done_by_the_next_run(db, tmp_path, nightly):
    inp = _write(tmp_path / "a.jsonl", _corpus())
    out = tmp_path / "out"
    assert _run(db, nightly, str(inp), None, "--no-validate") == 0
    (sid,) = _slices(db)
    # validated and exported: neither was asked before, so the run is not idle
    assert _run(db, nightly, str(inp), out, "--exit-5-when-idle") == 0
    assert (out / f"{sid}.parquet").exists()
    assert _run(db, nightly, str(inp), out, "--exit-5-when-idle") == ExitCode.NOTHING_TO_DO
    # an export that went missing is written again, under the same name
    (out / f"{sid}.parquet").unlink()
    assert _run(db, nightly, str(inp), out, "--exit-5-when-idle") == 0
    assert (out / f"{sid}.parquet").exists() and _slices(db) == [sid]


def test_changed_store_state_is_not_idle(db, tmp_path, nightly):
    """No new file, but the store gives other decisions (new quality scores): the run
    rebuilds, under a new id and a new export name."""
    inp = _write(tmp_path / "a.jsonl", _corpus())
    out = tmp_path / "out"
    assert _run(db, nightly, str(inp), out, "--no-validate") == 0
    (old,) = _slices(db)
    _set_quality(db, {"r0": 0.9, "r0_near": 0.1})
    assert _run(db, nightly, str(inp), out, "--no-validate", "--exit-5-when-idle") == 0
    (new,) = _slices(db)
    assert new != old
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{old}.parquet", f"{new}.parquet"])


def test_failed_validation_is_run_again_not_hidden(db, tmp_path, nightly):
    inp = _write(tmp_path / "a.jsonl", _corpus())
    suite = store.suite_path(db, "nightly")
    suite.write_text(json.dumps({"name": "nightly", "min_documents": 1000}))
    assert _run(db, nightly, str(inp), None) == ExitCode.VALIDATION_FAILED
    assert _run(db, nightly, str(inp), None, "--exit-5-when-idle") == ExitCode.VALIDATION_FAILED
    suite.write_text(json.dumps({"name": "nightly", "min_documents": 1}))
    assert _run(db, nightly, str(inp), None, "--exit-5-when-idle") == 0
    assert _run(db, nightly, str(inp), None, "--exit-5-when-idle") == ExitCode.NOTHING_TO_DO
    os.utime(suite, (suite.stat().st_atime, suite.stat().st_mtime + 3600))  # edited after its last run
    assert _run(db, nightly, str(inp), None, "--exit-5-when-idle") == 0


# --- inputs ---------------------------------------------------------------------------------


def test_glob_matching_nothing_is_nothing_to_do_for_run(db, tmp_path, nightly, capsys):
    inbox = tmp_path / "incoming"
    inbox.mkdir()
    glob = str(inbox / "*.jsonl.zst")
    assert _run(db, nightly, glob, None, "--exit-5-when-idle") == ExitCode.NOTHING_TO_DO
    assert _run(db, nightly, glob, None) == ExitCode.OK
    assert f"{glob!r} matched no file" in capsys.readouterr().out
    assert _statuses(db) == ["nothing_to_do", "nothing_to_do"]
    # a glob in a folder that does not exist is a mistake, not an empty inbox
    assert _run(db, nightly, str(tmp_path / "incomng" / "*.jsonl.zst"), None) == ExitCode.USAGE
    assert "no folder" in capsys.readouterr().err


def test_glob_matching_nothing_is_a_usage_error_for_ingest(db, tmp_path, capsys):
    (tmp_path / "incoming").mkdir()
    glob = str(tmp_path / "incoming" / "*.jsonl")
    assert main(["ingest", glob, "--db", str(db), "-q"]) == ExitCode.USAGE
    assert f"no file matches {glob!r}" in capsys.readouterr().err


@pytest.mark.slow
def test_strict_slice_and_run_agree(db, tmp_path, capsys):
    """The shipped `strict` on a fresh store (the run trains the quality model as a stage):
    `curate slice strict` afterwards names the same slice, and the next run has nothing to do."""
    import gzip
    import itertools

    sample = Path(__file__).resolve().parent.parent / "sample_data/corpus/web-000.jsonl.gz"
    inp = tmp_path / "web.jsonl"
    with gzip.open(sample, "rt", encoding="utf-8") as fh:
        inp.write_text("".join(itertools.islice(fh, 300)), encoding="utf-8")
    out = tmp_path / "out"
    assert _run(db, Path("strict"), str(inp), out) == 0
    (sid,) = _slices(db)
    decisions = _decisions(db, sid)
    capsys.readouterr()
    assert main(["slice", "strict", "--db", str(db), "-q"]) == 0
    assert f"slice {sid}:" in capsys.readouterr().out
    assert _slices(db) == [sid] and _decisions(db, sid) == decisions
    assert _run(db, Path("strict"), str(inp), out, "--exit-5-when-idle") == ExitCode.NOTHING_TO_DO
    assert [p.name for p in out.iterdir()] == [f"{sid}.parquet"]
