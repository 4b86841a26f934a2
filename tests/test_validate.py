"""Great Expectations suites for slices: one failing case per check, spec files, Data Docs."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("great_expectations", reason="great_expectations not installed")

from curate.errors import ExitCode, UsageError  # noqa: E402
from curate.validate import (  # noqa: E402
    SuiteSpec,
    ValidationOutcome,
    build_suite,
    load_suite_spec,
    save_suite_spec,
    suite_spec_from_recipe,
    validate_slice,
)

STRICT = SuiteSpec(
    name="strict",
    allowed_langs=("en",),
    min_allowed_lang_share=0.75,
    max_dup_share=0.0,
    quality_min_mean=0.5,
    quality_min_q10=0.3,
    require_no_pii=True,
    min_documents=4,
)


def good_slice() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "doc_id": [1, 2, 3, 4, 5],
            "text": ["The cat sat.", "Dogs bark loudly.", "Rain today.", "Bonjour.", "Fine prose."],
            "lang": ["en", "en", "en", "fr", "en"],  # 80% English, above 75%
            "quality": [0.9, 0.8, 0.7, 0.6, 0.85],
            "is_duplicate": [False] * 5,
            "pii_email_count": [0] * 5,
            "pii_phone_count": [0] * 5,
            "pii_ip_count": [0] * 5,
            "pii_card_count": [0] * 5,
        }
    )


def row(outcome: ValidationOutcome, check: str) -> dict:
    (found,) = [r for r in outcome.results if r["check"] == check]
    return found


@pytest.fixture(scope="module")
def passing() -> ValidationOutcome:
    return validate_slice(good_slice(), STRICT, run_name="passing")


def test_clean_slice_passes_every_check(passing):
    assert passing.success is True
    assert passing.failed_checks() == []
    assert passing.skipped_checks() == []
    assert {r["check"] for r in passing.results} == {
        "text_not_null", "text_not_blank", "lang_allowed", "no_duplicates", "quality_mean",
        "quality_q10", "no_pii_email", "no_pii_phone", "no_pii_ip", "no_pii_card", "min_documents",
    }
    assert row(passing, "min_documents")["observed_value"] == 5
    assert row(passing, "lang_allowed")["observed_value"] == pytest.approx(0.8)
    assert row(passing, "quality_mean")["observed_value"] == pytest.approx(0.77)
    assert passing.statistics["row_count"] == 5
    assert passing.statistics["unsuccessful_expectations"] == 0


def test_result_json_is_plain_json_with_the_gx_result(passing):
    stored = json.loads(passing.result_json)
    assert stored["success"] is True
    assert stored["spec"]["allowed_langs"] == ["en"]
    assert len(stored["great_expectations"]["results"]) == len(passing.results)


def _broken(**changes) -> pd.DataFrame:
    df = good_slice()
    for column, values in changes.items():
        df[column] = values
    return df


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"text": ["ok", None, "ok", "ok", "ok"]}, "text_not_null"),
        ({"text": ["ok", "", "ok", "ok", "ok"]}, "text_not_blank"),
        ({"text": ["ok", " \n\t", "ok", "ok", "ok"]}, "text_not_blank"),
        ({"lang": ["en", "en", "de", "fr", "en"]}, "lang_allowed"),  # 60% < 75%
        ({"lang": ["en", "en", None, "fr", "en"]}, "lang_allowed"),  # unknown counts as not allowed
        ({"is_duplicate": [False, True, False, False, False]}, "no_duplicates"),
        ({"quality": [0.4, 0.45, 0.5, 0.55, 0.45]}, "quality_mean"),
        ({"pii_email_count": [0, 2, 0, 0, 0]}, "no_pii_email"),
        ({"pii_phone_count": [0, 0, 1, 0, 0]}, "no_pii_phone"),
        ({"pii_ip_count": [1, 0, 0, 0, 0]}, "no_pii_ip"),
        ({"pii_card_count": [0, 0, 0, 0, 3]}, "no_pii_card"),
    ],
)
def test_each_broken_contract_fails_its_own_check(changes, check):
    outcome = validate_slice(_broken(**changes), STRICT)
    assert outcome.success is False
    assert outcome.failed_checks() == [check]


def test_low_tail_quality_fails_q10_but_not_mean():
    # Mean 0.7 passes 0.5, but a fifth of the slice sits below 0.3, so q10 < 0.3.
    outcome = validate_slice(_broken(quality=[0.9, 0.9, 0.9, 0.9, 0.1]), STRICT)
    assert outcome.success is False
    assert outcome.failed_checks() == ["quality_q10"]
    assert row(outcome, "quality_q10")["observed_value"] < 0.3
    assert row(outcome, "quality_q10")["partial_unexpected"] == [0.1]


def test_exactly_ten_percent_below_the_q10_bound_still_passes():
    df = pd.concat([good_slice()] * 2, ignore_index=True)
    df["quality"] = [0.1] + [0.9] * 9
    outcome = validate_slice(df, STRICT)
    assert row(outcome, "quality_q10")["success"] is True
    assert row(outcome, "quality_q10")["observed_value"] == 0.9


def test_too_few_documents_fails_the_count_floor():
    outcome = validate_slice(good_slice().head(3), STRICT)
    assert outcome.success is False
    assert outcome.failed_checks() == ["min_documents"]
    assert row(outcome, "min_documents")["observed_value"] == 3


def test_empty_slice_fails_clearly_instead_of_raising():
    outcome = validate_slice(good_slice().iloc[:0], STRICT)
    assert outcome.success is False
    assert "min_documents" in outcome.failed_checks()
    assert row(outcome, "min_documents")["observed_value"] == 0


def test_duplicates_within_allowed_share_pass():
    spec = SuiteSpec(name="loose", allowed_langs=None, max_dup_share=0.2,
                     quality_min_mean=None, quality_min_q10=None)
    outcome = validate_slice(_broken(is_duplicate=[True, False, False, False, False]), spec)
    assert outcome.success is True
    assert row(outcome, "no_duplicates")["observed_value"] == pytest.approx(0.8)


def test_absent_columns_skip_their_checks_and_say_so():
    df = good_slice().drop(columns=["quality", "pii_card_count"])
    outcome = validate_slice(df, STRICT)
    assert set(outcome.skipped_checks()) == {"quality_mean", "quality_q10", "no_pii_card"}
    assert all(row(outcome, c)["success"] is None for c in outcome.skipped_checks())
    assert "quality" in row(outcome, "quality_mean")["skipped"]
    assert outcome.statistics["skipped_expectations"] == 3
    assert outcome.success is True  # the checks that could run all passed


def test_polars_frame_is_accepted():
    pl = pytest.importorskip("polars")
    outcome = validate_slice(pl.from_pandas(good_slice()), STRICT)
    assert outcome.success is True


def test_build_suite_leaves_out_switched_off_checks():
    spec = SuiteSpec(name="minimal", allowed_langs=None, max_dup_share=1.0,
                     quality_min_mean=None, quality_min_q10=None)
    types = [e.expectation_type for e in build_suite(spec).expectations]
    assert types == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_match_regex",
        "expect_table_row_count_to_be_between",
    ]
    assert len(build_suite(STRICT).expectations) == 11


def test_spec_from_recipe_restates_its_rules():
    recipe = {
        "name": "en-hq",
        "filters": {"lang": {"allow": ["en", "de"]}, "quality": {"min": 0.4},
                    "gopher_quality_stop_words": {"min": 2}, "chars": {"min": 50}},
        "dedup": {"exact": True, "near_threshold": 0.8},
        "export": {"redact_pii": True},
    }
    spec = suite_spec_from_recipe(recipe)
    assert spec == SuiteSpec(name="en-hq", allowed_langs=("en", "de"), min_allowed_lang_share=1.0,
                             max_dup_share=0.0, quality_min_mean=0.4, quality_min_q10=0.4,
                             require_no_pii=True, min_documents=1)


def test_spec_from_sparse_recipe_switches_checks_off():
    spec = suite_spec_from_recipe({"name": "raw"})
    assert spec.allowed_langs is None and spec.quality_min_mean is None
    assert spec.max_dup_share == 1.0 and spec.require_no_pii is False


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_spec_round_trips_through_a_file(tmp_path, suffix):
    path = save_suite_spec(STRICT, tmp_path / f"strict{suffix}")
    assert load_suite_spec(path) == STRICT


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{not json", "not valid JSON"),
        ("bad.yaml", "name: [unclosed", "not valid YAML"),
        ("list.yaml", "- a\n- b\n", "must be a mapping"),
        ("typo.json", '{"name": "x", "max_dupe_share": 0.1}', "max_dupe_share"),
        ("noname.json", '{"min_documents": 3}', "missing key 'name'"),
        ("share.json", '{"name": "x", "max_dup_share": 1.5}', "max_dup_share"),
        ("count.yaml", "name: x\nmin_documents: many\n", "min_documents"),
        ("spec.txt", "name: x\n", "must end in"),
    ],
)
def test_bad_spec_file_names_file_and_key(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        load_suite_spec(path)
    assert name in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_missing_spec_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        load_suite_spec(tmp_path / "absent.json")


def test_data_docs_site_is_written_and_keeps_history(tmp_path, monkeypatch):
    connects: list = []

    def refuse(self, address, *args):
        connects.append(address)
        raise OSError("network is off in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    docs = tmp_path / "docs"
    first = validate_slice(good_slice(), STRICT, docs_dir=docs, run_name="nightly-1")
    second = validate_slice(good_slice().head(2), STRICT, docs_dir=docs, run_name="nightly-2")
    assert first.docs_path == second.docs_path == docs / "index.html"
    index = (docs / "index.html").read_text()
    assert "nightly-1" in index and "nightly-2" in index
    assert len(list((docs / "validations" / "strict").rglob("*.html"))) == 2
    assert (docs / "expectations" / "strict.html").is_file()
    assert connects == []


def test_importing_the_module_does_not_import_gx():
    code = "import sys, curate.validate; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    assert out.stdout.strip() == "False"


def test_a_file_where_the_data_docs_folder_goes_costs_the_docs_not_the_result(tmp_path):
    docs = tmp_path / "data_docs"
    docs.write_text("in the way")  # root ignores chmod; a file in the way blocks root too
    outcome = validate_slice(good_slice(), STRICT, docs_dir=docs, run_name="blocked")
    assert outcome.success is True and outcome.failed_checks() == []
    assert outcome.docs_path is None
    assert "Data Docs not written" in outcome.docs_error and str(docs) in outcome.docs_error
    assert json.loads(outcome.result_json)["data_docs_error"] == outcome.docs_error
    assert docs.read_text() == "in the way"


@pytest.mark.parametrize("fail_on", ["any", "html"])
def test_unwritable_data_docs_still_validate(tmp_path, monkeypatch, fail_on):
    """A write refused anywhere under the folder (the validation results kept there, or only the
    HTML pages) gives a warning and the full result."""
    from great_expectations.data_context.store.tuple_store_backend import TupleFilesystemStoreBackend

    original = TupleFilesystemStoreBackend._set

    def refuse(self, key, value, **kwargs):
        if fail_on == "any" or ".html" in str(self._convert_key_to_filepath(key)):
            raise PermissionError(13, "Permission denied", str(tmp_path / "docs" / "x"))
        return original(self, key, value, **kwargs)

    monkeypatch.setattr(TupleFilesystemStoreBackend, "_set", refuse)
    outcome = validate_slice(_broken(quality=[0.1] * 5), STRICT, docs_dir=tmp_path / "docs", run_name="ro")
    assert outcome.success is False and "quality_mean" in outcome.failed_checks()
    assert outcome.docs_path is None and "Permission denied" in outcome.docs_error


def test_curate_run_stores_the_validation_when_data_docs_cannot_be_written(tmp_path, capsys):
    from curate import store
    from curate.cli import main

    inp = tmp_path / "in"
    inp.mkdir()
    text = "The committee met on Tuesday to review the budget for the coming year and agreed on it. "
    (inp / "a.jsonl").write_text("".join(json.dumps({"id": f"r{i}", "text": f"Report {i}. " + text * 3}) + "\n"
                                         for i in range(8)))
    recipe = tmp_path / "plain.yaml"
    recipe.write_text("name: plain\nfilters:\n  char_count: {min: 10}\ndedup: {exact: true}\n")
    db = tmp_path / "s.duckdb"
    (store.artifacts_dir(db) / "data_docs").write_text("in the way")
    code = main(["run", str(recipe), "--db", str(db), "-q", "-i", str(inp / "*.jsonl"), "--workers", "1",
                 "--id-field", "id", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "warning: Data Docs not written" in err and "Traceback" not in err
    with store.open_store(db, read_only=True) as con:
        rows = con.execute("SELECT success, docs_path, result_json FROM validations").fetchall()
    assert len(rows) == 1 and rows[0][0] is True and rows[0][1] is None
    assert "Data Docs not written" in json.loads(rows[0][2])["data_docs_error"]
