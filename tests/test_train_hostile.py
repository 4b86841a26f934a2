"""`curate train` / `curate eval` on hostile arguments and files: exit 2 (or 1 for a damaged
stored checkpoint) with the option or file named, never a traceback, and nothing trained or
deleted before the arguments are known to be good."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from curate import pipeline, recipes, store
from curate.cli import main
from curate.engines import LocalEngine
from curate.recipes import parse_recipe

CLEAN = ("The committee met on Tuesday to review the budget for the coming year, and the members agreed "
         "that the library should stay open later in the evening during the winter months. ") * 4
RECIPE = """name: trainable
filters:
  word_count: {min: 20}
"""
PROMPTS = [{"prompt": "The committee met", "kind": "clean"}, {"prompt": "The library", "kind": "clean"}]
# the tiny preset's block is 64 tokens: 2 sequences x 64 tokens is one step
TINY_ARGS = ["--preset", "tiny", "--batch-size", "2", "--tokens", "128", "--device", "cpu", "--quiet"]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A store with one slice and one tiny model trained on it through the CLI."""
    root = tmp_path_factory.mktemp("hostile-train")
    db = root / "store.duckdb"
    docs = _write_jsonl(root / "docs.jsonl", [{"id": f"d{i}", "text": f"{CLEAN} Item {i}."} for i in range(4)])
    pipeline.ingest(db, [str(docs)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        slice_id = recipes.build_slice(con, parse_recipe(RECIPE)).slice_id
    val = root / "val.txt"
    val.write_text(CLEAN, encoding="utf-8")
    prompts = _write_jsonl(root / "prompts.jsonl", PROMPTS)
    common = ["--db", str(db), "--slice", slice_id, "--val-text", str(val)]
    assert main(["train", *common, "--prompts", str(prompts), *TINY_ARGS]) == 0
    with store.open_store(db, read_only=True) as con:
        run_id, ckpt = con.execute("SELECT train_run_id, checkpoint FROM train_runs").fetchone()
    return {"root": root, "db": db, "slice": slice_id, "val": val, "prompts": prompts, "common": common,
            "run": run_id, "checkpoint": Path(ckpt)}


def _generations(db: Path) -> list[tuple]:
    with store.open_store(db, read_only=True) as con:
        return con.execute("SELECT train_run_id, prompt_no, prompt FROM generations ORDER BY 1, 2").fetchall()


def _train_runs(db: Path) -> list[tuple]:
    with store.open_store(db, read_only=True) as con:
        return con.execute("SELECT train_run_id, created_at FROM train_runs ORDER BY 1").fetchall()


def _refused(capsys, argv: list[str], *needles: str, code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


# --- numbers: refused at parse time ------------------------------------------------------


@pytest.mark.parametrize("option, value", [
    ("--tokens", "0"), ("--tokens", "-5"), ("--tokens", "many"),
    ("--seeds", "0"), ("--seeds", "-1"),
    ("--batch-size", "0"), ("--batch-size", "-16"),
])
def test_train_refuses_non_positive_numbers_at_parse_time(capsys, tmp_path, option, value):
    db = tmp_path / "absent.duckdb"
    err = _refused(capsys, ["train", "--db", str(db), "--slice", "any", option, value], option, value)
    assert "usage:" in err
    assert not db.exists()


def test_train_refuses_a_budget_below_one_batch_before_opening_the_store(capsys, tmp_path):
    db = tmp_path / "absent.duckdb"
    # small preset: 16 sequences x 128 tokens = 2,048 tokens per step
    _refused(capsys, ["train", "--db", str(db), "--slice", "any", "--tokens", "2000"], "--tokens", "2,048")
    _refused(capsys, ["train", "--db", str(db), "--slice", "any", "--preset", "tiny", "--batch-size", "4",
                      "--tokens", "255"], "--tokens", "256")
    assert not db.exists()


# --- names and devices: refused before any work -------------------------------------------


def test_train_refuses_an_unknown_preset_listing_the_known_ones(capsys, tmp_path):
    db = tmp_path / "absent.duckdb"
    _refused(capsys, ["train", "--db", str(db), "--slice", "any", "--preset", "huge"], "--preset", "huge", "tiny")
    assert not db.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_train_and_eval_refuse_cuda_without_a_gpu(capsys, trained):
    before = _train_runs(trained["db"])
    _refused(capsys, ["train", *trained["common"], *TINY_ARGS, "--device", "cuda"], "--device", "cuda",
             "CUDA is not available")
    _refused(capsys, ["eval", "--db", str(trained["db"]), trained["run"], "--val-text", str(trained["val"]),
                      "--device", "cuda"], "--device", "cuda", "CUDA is not available")
    assert _train_runs(trained["db"]) == before


def test_train_refuses_an_unknown_device(capsys, tmp_path):
    _refused(capsys, ["train", "--db", str(tmp_path / "x.duckdb"), "--slice", "any", "--device", "tpu"],
             "--device", "tpu")


def test_train_refuses_an_unknown_slice_before_training_the_others(capsys, trained):
    before = _train_runs(trained["db"])
    _refused(capsys, ["train", *trained["common"], "--slice", "no-such-slice", *TINY_ARGS], "no-such-slice")
    assert _train_runs(trained["db"]) == before


# --- validation text ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "folder", "nul", "latin1", "empty"])
def test_val_text_that_is_not_text_is_refused_naming_the_file(capsys, trained, tmp_path, kind):
    path = tmp_path / f"val-{kind}.txt"
    expect = {"missing": "no such file", "folder": "folder", "nul": "NUL", "latin1": "not UTF-8",
              "empty": "empty"}[kind]
    if kind == "folder":
        path.mkdir()
    elif kind == "nul":
        path.write_bytes(b"some text\x00\x01\x02 then binary")
    elif kind == "latin1":
        path.write_bytes("caf\xe9 au lait".encode("latin-1"))
    elif kind == "empty":
        path.write_text("  \n\t", encoding="utf-8")
    before = _train_runs(trained["db"])
    common = ["--db", str(trained["db"]), "--slice", trained["slice"], "--val-text", str(path)]
    _refused(capsys, ["train", *common, *TINY_ARGS], "--val-text", str(path), expect)
    _refused(capsys, ["eval", "--db", str(trained["db"]), trained["run"], "--val-text", str(path)],
             "--val-text", str(path), expect)
    assert _train_runs(trained["db"]) == before


# --- prompts ------------------------------------------------------------------------------


def test_missing_prompts_file_is_an_error_and_deletes_nothing(capsys, trained, tmp_path):
    before_runs, before_gens = _train_runs(trained["db"]), _generations(trained["db"])
    assert before_gens, "the fixture's run has generations"
    typo = tmp_path / "promts.jsonl"
    _refused(capsys, ["train", *trained["common"], "--prompts", str(typo), *TINY_ARGS], "--prompts", str(typo))
    assert _train_runs(trained["db"]) == before_runs
    assert _generations(trained["db"]) == before_gens


@pytest.mark.parametrize("content, expect", [
    (b'{"prompt": "fine"}\n{"prompt": "broken\n', "line 2"),
    (b'{"prompt": "fine"}\n\n["a list"]\n', "line 3"),
    (b'{"prompt": 7}\n', "line 1"),
    (b'{"prompt": "fine"}\n{"prompt": "caf\xe9"}\n', "line 2"),
    (b"\n  \n", "no prompts"),
])
def test_malformed_prompts_are_refused_naming_the_file_and_line(capsys, trained, tmp_path, content, expect):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(content)
    before_runs, before_gens = _train_runs(trained["db"]), _generations(trained["db"])
    _refused(capsys, ["train", *trained["common"], "--prompts", str(path), *TINY_ARGS], str(path), expect)
    assert _train_runs(trained["db"]) == before_runs
    assert _generations(trained["db"]) == before_gens


def test_prompts_folder_is_refused(capsys, trained, tmp_path):
    _refused(capsys, ["train", *trained["common"], "--prompts", str(tmp_path), *TINY_ARGS], "--prompts", "folder")


def test_training_without_prompts_keeps_the_earlier_generations(trained):
    from train.pipeline import TrainPlan, train_slices

    before = _generations(trained["db"])
    assert before
    plan = TrainPlan(tokens=128, seeds=(0,), preset="tiny", device="cpu", batch_size=2)
    with store.open_store(trained["db"]) as con:
        rows = train_slices(con, trained["db"], [trained["slice"]], plan, val_text_path=trained["val"],
                            prompts_path=None)
    assert [r["train_run_id"] for r in rows] == [trained["run"]]
    assert _generations(trained["db"]) == before


# --- checkpoints --------------------------------------------------------------------------


def test_eval_works_on_the_good_checkpoint(capsys, trained):
    assert main(["eval", "--db", str(trained["db"]), trained["run"], "--val-text", str(trained["val"]),
                 "--device", "cpu"]) == 0
    assert "bits/byte" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated", "garbage", "gone"])
def test_eval_on_a_damaged_checkpoint_fails_naming_the_file(capsys, trained, tmp_path, damage):
    good = trained["checkpoint"].read_bytes()
    try:
        if damage == "truncated":
            trained["checkpoint"].write_bytes(good[: len(good) // 2])
        elif damage == "garbage":
            trained["checkpoint"].write_bytes(b"\x89not a checkpoint\x00" * 64)
        else:
            trained["checkpoint"].unlink()
        err = _refused(capsys, ["eval", "--db", str(trained["db"]), trained["run"], "--val-text",
                                str(trained["val"])], str(trained["checkpoint"]), "curate train", code=1)
        if damage == "gone":
            assert "no longer exists" in err
    finally:
        trained["checkpoint"].write_bytes(good)
