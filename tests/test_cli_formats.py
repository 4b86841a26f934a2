"""The CLI in scripts and terminals: --format json|csv on every reading command, tables that
fit the terminal, quiet exits into `head`, --version, help for every option, "did you mean",
`curate recipes NAME` as written, `curate runs --trained`."""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from curate import cli
from curate.console import ELLIPSIS, MIN_CUT_WIDTH, format_table, to_json
from curate.dashboard.synthetic import build_store
from curate.errors import ExitCode

CURATE = str(Path(sys.executable).with_name("curate"))
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("formats") / "store.duckdb", 60, seed=7, train=True)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def as_json(capsys, *argv) -> dict:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)  # the whole of stdout is one JSON document


def as_csv(capsys, *argv) -> list[dict]:
    code, out, err = run(capsys, *argv, "--format", "csv")
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


# --- json and csv ---------------------------------------------------------------------------


def test_runs_as_json_and_csv(db, capsys):
    doc = as_json(capsys, "runs", "--db", db)
    assert doc["snapshot"] is None
    runs = doc["runs"]
    assert [r["run_id"] for r in runs] == [4, 3, 2, 1]  # newest first, numbers as numbers
    assert runs[-1]["command"] == "ingest" and runs[-1]["records_read"] == 62 and runs[-1]["quarantined"] == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", runs[0]["started_at"])
    assert isinstance(runs[0]["seconds"], float) and runs[0]["message"] is None  # null, not ""
    rows = as_csv(capsys, "runs", "--db", db)
    assert list(rows[0]) == list(runs[0])  # the same keys, in the same order
    assert [int(r["run_id"]) for r in rows] == [4, 3, 2, 1] and rows[0]["message"] == ""


def test_trained_runs_list_every_model(db, capsys):
    doc = as_json(capsys, "runs", "--trained", "--db", db)
    models = doc["trained_runs"]
    assert len(models) == 4  # two slices x two seeds
    assert {m["slice_name"] for m in models} == {"loose", "tight"} and {m["seed"] for m in models} == {0, 1}
    assert all(isinstance(m["bpb"], float) and m["tokens"] == 20000 and m["device"] == "cpu" for m in models)
    code, out, _ = run(capsys, "runs", "--trained", "--db", db)
    assert code == 0
    assert out.splitlines()[0].split() == ["train_run_id", "slice", "seed", "tokens", "bits/byte", "device",
                                           "created", "(UTC)"]
    assert all(m["train_run_id"] in out for m in models)


def test_check_as_json_says_ok_and_each_invariant(db, capsys):
    doc = as_json(capsys, "check", "--db", db)
    assert doc["ok"] is True
    assert doc["invariants"] and all(i["holds"] is True for i in doc["invariants"])
    assert any("documents = kept + dropped" in i["invariant"] for i in doc["invariants"])
    rows = as_csv(capsys, "check", "--db", db)
    assert list(rows[0]) == ["invariant", "holds", "detail"] and {r["holds"] for r in rows} == {"true"}


def test_quarantine_as_json_carries_the_total(db, capsys):
    doc = as_json(capsys, "quarantine", "--db", db, "--limit", "1")
    assert doc["total"] == 2 and len(doc["records"]) == 1
    assert doc["records"][0] == {"uri": "synthetic.jsonl", "record_no": 60, "error_kind": "record",
                                 "error": "invalid JSON: Expecting value"}
    rows = as_csv(capsys, "quarantine", "--db", db)
    assert [r["record_no"] for r in rows] == ["60", "61"]


def test_signals_as_json_keep_bounds_as_numbers(capsys):
    doc = as_json(capsys, "signals")
    by_name = {s["name"]: s for s in doc["signals"]}
    wc = by_name["gopher_word_count"]
    assert (wc["lo"], wc["hi"], wc["default_min"], wc["default_max"]) == (0, None, 50, 100000)
    assert wc["family"] == "gopher_quality" and wc["source"].startswith("Rae et al.")
    assert re.fullmatch(r"[0-9a-f]{12}", doc["signals_version"])
    rows = as_csv(capsys, "signals", "gopher_word_count")
    assert rows == [{**{k: str(v) if v is not None else "" for k, v in wc.items()}}]


def test_recipes_list_as_json(capsys):
    doc = as_json(capsys, "recipes")
    names = [r["name"] for r in doc["recipes"]]
    assert {"raw", "strict", "gopher"} <= set(names)
    strict = next(r for r in doc["recipes"] if r["name"] == "strict")
    assert strict["exact_dedup"] is True and isinstance(strict["rules"], int) and strict["rules"] > 10
    assert Path(strict["path"]).is_file()


def test_explain_as_json_and_csv(db, capsys):
    doc = as_json(capsys, "explain", "5a17000000000000-000000003", "--db", db, "--slice", "tight")
    assert doc["doc_id"] == "5a17000000000000-000000003" and doc["external_id"] is None and doc["text"]
    assert doc["slice"]["name"] == "tight" and isinstance(doc["slice"]["kept"], bool)
    by_name = {s["name"]: s for s in doc["signals"]}
    rule = by_name["gopher_dup_line_frac"]["rule"]
    assert rule["max"] == 0.3 and rule["min"] is None and rule["status"] in ("ok", "fail")
    assert (rule["status"] == "fail") == (by_name["gopher_dup_line_frac"]["value"] > 0.3)
    assert by_name["lang"]["rule"]["allow"] == ["en"]
    assert by_name["char_count"]["rule"] is None and isinstance(by_name["char_count"]["value"], int)
    if not doc["slice"]["kept"]:  # the drop reason is one of the rules, marked
        assert sum(s["rule"]["drop_reason"] for s in doc["signals"] if s["rule"]) == 1
    rows = as_csv(capsys, "explain", "5a17000000000000-000000003", "--db", db, "--slice", "tight")
    assert len(rows) == len(doc["signals"]) and rows[0]["name"] == doc["signals"][0]["name"]


def test_audit_as_json(db, capsys):
    pytest.importorskip("altair")
    pytest.importorskip("vl_convert")
    doc = as_json(capsys, "audit", "--db", db)
    assert doc["snapshot"] is None and doc["slice_id"] is None
    titles = [s["title"] for s in doc["sections"]]
    assert "Overview" in titles
    overview = doc["sections"][titles.index("Overview")]
    counts = {r[overview["columns"][0]]: r[overview["columns"][1]] for r in overview["rows"]}
    assert counts["documents"] == 60 and isinstance(counts["documents"], int)


def test_a_table_only_command_refuses_csv_where_it_has_no_table(capsys):
    code, _, err = run(capsys, "recipes", "strict", "--format", "csv")
    assert code == 2 and "--format json" in err
    assert cli.main(["audit", "--format", "csv"]) == 2  # audit is many tables: json or table only
    capsys.readouterr()


def test_json_is_valid_and_terminal_safe_for_a_hostile_value():
    evil = "x\x1b[2J\x9b31m\u202eexe \ud7ff \t\n"
    text = to_json({"v": evil, "n": float("nan"), "inf": float("-inf")})
    assert not UNSAFE.search(text)
    assert json.loads(text) == {"v": evil, "n": None, "inf": None}


# --- tables that fit the terminal ----------------------------------------------------------


def test_a_wide_table_is_cut_to_the_width_and_keeps_its_numbers():
    rows = [["a" * 70, "short", 1_234_567], ["b" * 10, "m" * 90, 7]]
    table = format_table(["name", "meaning", "count"], rows, width=60)
    lines = table.splitlines()
    assert max(len(x) for x in lines) <= 60
    assert "1,234,567" in table and ELLIPSIS in lines[2] and ELLIPSIS in lines[3]
    assert lines[3].startswith("b" * 10)  # a column narrower than the others' cut is left whole
    assert format_table(["name", "meaning", "count"], rows, width=None) == format_table(
        ["name", "meaning", "count"], rows, width=1000)  # no cut when it fits
    assert "a" * 70 in format_table(["name", "meaning", "count"], rows, width=None)


def test_a_table_never_cuts_below_the_floor():
    table = format_table(["x" * 20, "y" * 20], [["p" * 30, "q" * 30]], width=10)
    assert all(len(cell) == MIN_CUT_WIDTH for cell in table.splitlines()[2].split("  "))


def test_a_number_column_gives_its_header_before_the_first_column_is_cut():
    rows = [["gopher_word_count", 12, "x" * 40]]
    table = format_table(["signal", "documents quarantined", "meaning"], rows, width=40)
    header, _, row = table.splitlines()
    assert f"documents {ELLIPSIS}" in header and "quarantined" not in header
    assert row.startswith("gopher_word_count  ") and " 12  " in row  # the name and the number whole
    assert len(row) <= 40


def test_wide_characters_count_twice():
    table = format_table(["text", "n"], [["漢字" * 20, 1]], width=30)
    first = table.splitlines()[2]
    assert first.endswith(" 1") and ELLIPSIS in first
    assert sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in first) <= 30


def _on_a_terminal(argv: list[str], columns: int) -> str:
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns)}
    proc = subprocess.Popen([CURATE, *argv], stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    assert proc.returncode == 0, proc.stderr.read()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_signals_fit_a_terminal_and_are_whole_when_piped():
    shown = _on_a_terminal(["signals"], 100)
    lines = [x for x in shown.splitlines() if x]
    assert len(lines) > 20 and max(len(x) for x in lines) <= 100 and ELLIPSIS in shown
    assert "gopher_word_count" in shown  # the names are narrower than the cut
    piped = subprocess.run([CURATE, "signals"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
    assert max(len(x) for x in piped.stdout.splitlines()) > 100
    from curate.signals import REGISTRY

    longest = max(REGISTRY, key=lambda sig: len(sig.meaning))
    assert longest.meaning in piped.stdout and longest.meaning not in shown  # whole when piped, cut on a terminal


# --- head, --version, help -----------------------------------------------------------------


def test_piped_into_head_no_traceback():
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{CURATE}' signals | head -1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split()[:2] == ["signal", "family"]
    assert proc.stderr == ""
    assert proc.returncode in (0, cli.EXIT_BROKEN_PIPE)


def test_a_closed_pipe_ends_quietly_with_141():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails with EPIPE
    proc = subprocess.run([CURATE, "signals", "--format", "json"], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == cli.EXIT_BROKEN_PIPE == 141


def test_version_comes_from_the_package_metadata(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"curate {metadata.version('curate')}"


def _walk(parser: argparse.ArgumentParser, path: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_option_of_every_command_has_help():
    missing = [f"{path}: {'/'.join(a.option_strings) or a.dest}" for path, a in _walk(cli.build_parser(), "curate")
               if not a.help or a.help == argparse.SUPPRESS]
    assert not missing, missing
    commands = {path for path, _ in _walk(cli.build_parser(), "curate")}
    assert {"curate runs", "curate export", "curate quality train"} <= commands  # the walk reached them


# --- did you mean --------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "suggestion"), [
    (["signals", "gopher_word_cont"], "did you mean 'gopher_word_count'"),
    (["signals", "--family", "gopherr"], "did you mean 'gopher_quality' or 'gopher_repetition'"),
    (["recipes", "strct"], "did you mean 'strict'"),
    (["slice", "strickt"], "did you mean 'strict'"),
])
def test_a_near_miss_is_named(capsys, argv, suggestion, tmp_path):
    code, out, err = run(capsys, *argv, *(["--db", tmp_path / "s.duckdb"] if argv[0] == "slice" else []))
    assert code == 2 and out == ""
    assert suggestion in err


@pytest.mark.parametrize("argv", [
    ["explain", "5a17000000000000-000000003", "--slice", "tigth"],
    ["explain", "5a17000000000000-000000003", "--slice", "tigth", "--format", "json"],
    ["export", "tigth", "--out", "{out}"],
    ["audit", "--slice", "tigth"],
])
def test_an_unknown_slice_names_the_near_one(db, capsys, tmp_path, argv):
    if argv[0] == "audit":
        pytest.importorskip("altair")
        pytest.importorskip("vl_convert")
    code, out, err = run(capsys, *[a.replace("{out}", str(tmp_path)) for a in argv], "--db", db)
    assert code == 2 and out == ""
    assert "no slice 'tigth'; did you mean 'tight'? (built: loose, tight)" in err


@pytest.mark.slow  # imports torch
def test_an_unknown_trained_model_names_the_near_one(db, capsys, tmp_path):
    (tmp_path / "v.txt").write_text("clean text\n")
    model = as_json(capsys, "runs", "--trained", "--db", db)["trained_runs"][0]["train_run_id"]
    code, _, err = run(capsys, "eval", model + "x", "--val-text", tmp_path / "v.txt", "--db", db)
    assert code == 2 and f"did you mean {model!r}" in err


# --- curate recipes NAME --------------------------------------------------------------------


def test_recipes_strict_prints_the_shipped_file_as_written(capsys):
    code, out, err = run(capsys, "recipes", "strict")
    assert code == 0
    path = Path(err.strip().removeprefix("# "))
    assert err.startswith("# ") and path.name == "strict.yaml" and path.is_file()
    assert out == path.read_text(encoding="utf-8")  # comments and all
    assert "# Gopher's quality rules" in out
    assert yaml.safe_load(out)["name"] == "strict"
    assert yaml.safe_load(err + out)["name"] == "strict"  # 2>&1 stays YAML too


def test_recipes_name_as_json_is_the_resolved_recipe(capsys):
    doc = as_json(capsys, "recipes", "strict")
    assert doc["name"] == "strict" and Path(doc["path"]).name == "strict.yaml"
    assert doc["recipe"]["filters"]["common_line_char_frac"] == {"max": 0.3}
    assert doc["recipe"]["dedup"]["exact"] is True and "# Gopher" in doc["text"]


def test_a_recipe_file_is_checked_then_printed_as_written(capsys, tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("# keep long pages\nname: mine\nfilters:\n  gopher_word_count: {min: 80}  # longer\n")
    code, out, err = run(capsys, "recipes", good)
    assert code == 0 and out == good.read_text() and str(good.resolve()) in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nfilters:\n  gopher_word_count: {min: lots}\n")
    code, out, err = run(capsys, "recipes", bad)
    assert code == 2 and out == "" and "bad.yaml" in err


def test_recipes_still_lists_the_shipped_ones(capsys):
    code, out, _ = run(capsys, "recipes")
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["recipe", "rules"]
    assert {line.split()[0] for line in out.splitlines()[2:]} >= {"raw", "strict", "c4", "fineweb", "gopher"}


def test_a_store_out_of_memory_is_a_clear_error_not_a_traceback(monkeypatch, capsys):
    import duckdb

    def needs_more_memory(args):  # a real DuckDB out-of-memory error, as a big stage can raise
        con = duckdb.connect()
        con.execute("SET memory_limit = '8MB'")
        con.execute("SELECT string_agg(x::VARCHAR, ',') FROM range(3000000) t(x)").fetchall()
        return 0

    monkeypatch.setattr(cli, "cmd_check", needs_more_memory)
    assert cli.main(["check", "--db", "unused.duckdb"]) == int(ExitCode.FAILED)
    err = capsys.readouterr().err
    assert err.startswith("curate: the store's database ran out of its memory limit")
    assert "CURATE_MEMORY_LIMIT" in err and "Out of Memory Error" in err and "Traceback" not in err
