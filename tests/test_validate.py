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
    DEFAULT_MIN_DOCUMENTS,
    DEFAULT_MIN_TOKENS,
    History,
    SuiteSpec,
    ValidationOutcome,
    build_suite,
    load_suite_spec,
    save_suite_spec,
    slice_profile,
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


# --- floors and drift against the last validated run -----------------------------------------


def corpus(n: int = 600, de_share: float = 0.3, words: int = 300, seed: int = 0) -> pd.DataFrame:
    """A slice of `n` documents: English and German, word counts around `words`, quality 0.4-1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_de = round(n * de_share)
    counts = rng.integers(words // 2, words * 2, size=n)
    return pd.DataFrame({
        "doc_id": [f"d{i}" for i in range(n)],
        "text": [f"Document {i} text." for i in range(n)],
        "lang": ["de"] * n_de + ["en"] * (n - n_de),
        "quality": rng.uniform(0.4, 1.0, size=n),
        "is_duplicate": [False] * n,
        "n_bytes": counts * 6,
        "gopher_word_count": counts,
    })


DRIFT = SuiteSpec(name="nightly", allowed_langs=("en", "de"), min_allowed_lang_share=1.0, min_tokens=1000)


def history_of(frame: pd.DataFrame, n_documents: int, spec: SuiteSpec = DRIFT) -> History:
    """What validate_in_store would pass after `frame` passed: its profile as the reference."""
    prepared = frame.assign(lang=frame["lang"].fillna("<null>"))
    return History(n_documents, slice_profile(prepared, n_documents, spec.quantiles()), "run 7 (slice nightly-abc)")


def drift_rows(outcome: ValidationOutcome) -> dict[str, dict]:
    return {r["check"]: r for r in outcome.results if "drift" in r["check"]}


def test_generated_suite_adds_floors_and_drift_checks_the_recipe_cannot_promise(tmp_path):
    recipe = {"name": "en-hq", "filters": {"lang": {"allow": ["en"]}, "quality": {"min": 0.4}}}
    demo_sized = suite_spec_from_recipe(recipe, first_slice=(578, 357_000))
    assert (demo_sized.min_documents, demo_sized.min_tokens) == (DEFAULT_MIN_DOCUMENTS, DEFAULT_MIN_TOKENS)
    small = suite_spec_from_recipe(recipe, first_slice=(20, 2_500))
    assert (small.min_documents, small.min_tokens) == (10, 1_250)  # half of a first try on a few files
    assert demo_sized.max_kept_share_drift == 0.05 and demo_sized.max_lang_share_drift == 0.05
    assert demo_sized.quantiles() == {"gopher_word_count": (0.1, 0.5, 0.9), "quality": (0.1, 0.5)}
    # every bound is a key of the suite file, editable like the rest
    saved = json.loads(save_suite_spec(demo_sized, tmp_path / "en-hq.json").read_text())
    assert saved["drift_quantiles"] == {"gopher_word_count": [0.1, 0.5, 0.9], "quality": [0.1, 0.5]}
    assert saved["min_tokens"] == 50_000 and saved["drift_min_documents"] == 500
    saved["drift_quantiles"] = {"gopher_word_count": [0.5]}
    saved["max_lang_share_drift"] = None
    (tmp_path / "edited.json").write_text(json.dumps(saved))
    edited = load_suite_spec(tmp_path / "edited.json")
    assert edited.quantiles() == {"gopher_word_count": (0.5,)} and edited.max_lang_share_drift is None
    # the suite built for a slice with a reference holds the new expectations
    frame = corpus()
    profile = slice_profile(frame, 1000, DRIFT.quantiles())
    suite = build_suite(DRIFT, set(frame.columns) | {"tokens"}, history_of(frame, 1000), profile)
    checks = {e.meta["check"] for e in suite.expectations}
    assert {"min_tokens", "kept_share_drift", "lang_share_drift:en", "lang_share_drift:de",
            "gopher_word_count_q50_drift", "quality_q10_drift"} <= checks


def test_first_run_records_drift_as_skipped_with_the_reason():
    outcome = validate_slice(corpus(), DRIFT, history=History(1000, None, "first validated run of recipe 'nightly'"))
    assert outcome.success is True
    drift = drift_rows(outcome)
    assert set(drift) == {"kept_share_drift", "lang_share_drift", "gopher_word_count_q10_drift",
                          "gopher_word_count_q50_drift", "gopher_word_count_q90_drift", "quality_q10_drift",
                          "quality_q50_drift"}
    assert all(r["success"] is None and "first validated run" in r["skipped"] for r in drift.values())
    assert row(outcome, "min_tokens")["success"] is True


def test_an_unchanged_slice_passes_every_drift_check():
    frame = corpus()
    outcome = validate_slice(corpus(seed=1), DRIFT, history=history_of(frame, 1000))
    drift = drift_rows(outcome)
    assert outcome.success is True, outcome.failure_messages()
    assert drift["kept_share_drift"]["observed_value"] == pytest.approx(0.6)
    assert drift["lang_share_drift:de"]["observed_value"] == pytest.approx(0.3)
    assert "25.0% – 35.0%" in drift["lang_share_drift:de"]["bound"]  # last run 30% +- 5 points
    assert 0.4 <= drift["gopher_word_count_q50_drift"]["observed_value"] <= 0.6


def test_a_drifted_language_mix_fails_and_names_the_language():
    outcome = validate_slice(corpus(de_share=0.55), DRIFT, history=history_of(corpus(), 1000))
    assert outcome.success is False
    assert {"lang_share_drift:de", "lang_share_drift:en"} <= set(outcome.failed_checks())
    (de,) = [m for m in outcome.failure_messages() if m.startswith("lang_share_drift:de")]
    assert "'de'" in de and "55.0%" in de and "25.0% – 35.0%" in de  # observed, and the bound around 30%
    assert row(outcome, "kept_share_drift")["success"] is True  # as many kept as before


def test_a_kept_share_that_moved_fails():
    outcome = validate_slice(corpus(), DRIFT, history=history_of(corpus(), 1000))  # kept 600 of 1000
    assert row(outcome, "kept_share_drift")["success"] is True
    shrunk = validate_slice(corpus(), DRIFT, history=History(1500, history_of(corpus(), 1000).previous, "run 7"))
    assert shrunk.failed_checks() == ["kept_share_drift"]  # 600 of 1500 = 40%, was 60% +- 5
    assert row(shrunk, "kept_share_drift")["observed"] == "40.0%"
    assert "55.0% – 65.0%" in row(shrunk, "kept_share_drift")["bound"]


def test_a_shifted_signal_distribution_fails_its_quantile_bands():
    outcome = validate_slice(corpus(words=600), DRIFT, history=history_of(corpus(words=300), 1000))
    failed = set(outcome.failed_checks())
    assert {"gopher_word_count_q10_drift", "gopher_word_count_q50_drift", "gopher_word_count_q90_drift"} <= failed
    assert not failed & {"quality_q10_drift", "quality_q50_drift"}  # quality did not move
    median = row(outcome, "gopher_word_count_q50_drift")
    assert median["observed_value"] < 0.2  # most documents are now above last run's median
    assert "median now" in median["observed"]


def test_quantile_bands_count_ties_half():
    """A signal with one value everywhere (all zeros) compares equal to itself, not 0% vs 100%."""
    frame = corpus().assign(quality=0.0)
    outcome = validate_slice(frame, DRIFT, history=history_of(frame, 1000))
    assert row(outcome, "quality_q10_drift")["success"] is True
    assert row(outcome, "quality_q10_drift")["observed_value"] == pytest.approx(0.5)


def test_small_slices_skip_drift_instead_of_judging_noise():
    small = corpus(n=100)
    outcome = validate_slice(corpus(n=100, de_share=0.9), DRIFT, history=history_of(small, 150))
    drift = drift_rows(outcome)
    assert all(r["success"] is None and "too few documents" in r["skipped"] for r in drift.values())
    assert outcome.success is True


def test_switched_off_drift_checks_are_not_listed():
    spec = SuiteSpec(name="x", max_kept_share_drift=None, max_lang_share_drift=None, max_quantile_drift=None)
    outcome = validate_slice(corpus(), spec, history=history_of(corpus(), 1000))
    assert drift_rows(outcome) == {}


def test_token_floor_fails_below_it():
    outcome = validate_slice(corpus(n=10), SuiteSpec(name="x", min_tokens=100_000))
    assert outcome.failed_checks() == ["min_tokens"]
    assert row(outcome, "min_tokens")["bound"] == ">= 100,000"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "x", "drift_quantiles": {"gopher_word_count": [1.5]}}', "drift_quantiles.gopher_word_count"),
        ('{"name": "x", "drift_quantiles": {"Bad Name": [0.5]}}', "not a signal name"),
        ('{"name": "x", "drift_quantiles": [0.5]}', "drift_quantiles"),
        ('{"name": "x", "max_lang_share_drift": 2}', "max_lang_share_drift"),
        ('{"name": "x", "min_tokens": -1}', "min_tokens"),
    ],
)
def test_bad_drift_settings_name_the_key(tmp_path, content, message):
    path = tmp_path / "suite.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_suite_spec(path)


# --- in the store: the reference is the last run of the same recipe that passed -------------


@pytest.fixture
def synthetic(tmp_path):
    pytest.importorskip("polars")
    from curate.dashboard.synthetic import build_store

    db = build_store(tmp_path / "s.duckdb", 160, seed=5)
    from curate import store

    with store.open_store(db, read_only=True) as con:
        sid, name = con.execute("SELECT slice_id, name FROM slices ORDER BY n_kept DESC LIMIT 1").fetchone()
    return db, sid, name


def _recipe(con, slice_id):
    from curate import store
    from curate.recipes import parse_recipe

    return parse_recipe(store.slice_recipe_yaml(con, slice_id))


@pytest.fixture
def drifted(synthetic):
    """Three validations of a stored slice: the first (nothing to compare with), the same slice
    again, then with half its kept documents identified as another language."""
    from curate import store
    from curate.validate import validate_in_store

    db, sid, _ = synthetic
    with store.open_store(db) as con:
        recipe = _recipe(con, sid)
        save_suite_spec(SuiteSpec(name=recipe.name, max_dup_share=1.0, drift_min_documents=20,
                                  drift_quantiles={"gopher_word_count": [0.5]}), store.suite_path(db, recipe.name))
        runs = [validate_in_store(con, db, recipe, sid, 1), validate_in_store(con, db, recipe, sid, 2)]
        baseline = store.get_meta(con, f"validation_baseline:{recipe.name}")
        con.execute("""UPDATE signals SET lang = 'xx' WHERE doc_id IN (SELECT doc_id FROM decisions
                       WHERE slice_id = ? AND kept ORDER BY doc_id LIMIT (SELECT count(*) // 2 FROM decisions
                       WHERE slice_id = ? AND kept))""", [sid, sid])
        runs.append(validate_in_store(con, db, recipe, sid, 3))
        after = store.get_meta(con, f"validation_baseline:{recipe.name}")
    return db, sid, runs, baseline, after


def test_a_second_run_with_a_drifted_slice_fails_drift_in_the_store(drifted):
    from curate import store
    from curate.validate import validation_report

    db, sid, (first, again, drifted_run), baseline, after = drifted
    assert first.success, first.failure_messages()
    assert "first validated run" in row(first, "kept_share_drift")["skipped"]
    assert again.success and row(again, "kept_share_drift")["success"] is True  # same slice: nothing moved
    assert drifted_run.success is False
    assert "lang_share_drift:xx" in drifted_run.failed_checks()
    assert any("'xx'" in m and "50.0%" in m for m in drifted_run.failure_messages())
    # a failed run is not the new reference: the next run still compares with run 2
    assert after == baseline
    assert json.loads(drifted_run.result_json)["compared_with"].startswith("run 2 ")
    with store.open_store(db, read_only=True) as con:
        report = validation_report(con, sid)
    results = [c["success"] for c in report["checks"]]
    assert results[0] is False and results == sorted(results, key=lambda s: {False: 0, True: 1, None: 2}[s])
    xx = next(c for c in report["checks"] if c["check"] == "lang_share_drift:xx")
    assert xx["bound"].startswith("0.0% – 5.0%") and xx["observed"] == "50.0%"


def test_the_validation_page_shows_each_bound_beside_its_observed_value(drifted, monkeypatch):
    pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")
    from tests.dashboard_helpers import run_app, texts

    db, sid, runs, *_ = drifted
    at = run_app(monkeypatch, db, page="validation", slice=sid)
    table = at.dataframe[1].value
    assert list(table.columns[:4]) == ["expectation", "bound", "observed", "result"]
    assert len(table) == len(runs[-1].results)
    failed = table[table["result"] == "✗ failed"]
    assert len(failed) == len(runs[-1].failed_checks()) and list(failed.index) == list(range(len(failed)))
    xx = table[table["check"] == "lang_share_drift:xx"].iloc[0]
    assert "'xx'" in xx["expectation"] and xx["bound"].startswith("0.0% – 5.0%") and xx["observed"] == "50.0%"
    kept = table[table["check"] == "min_documents"].iloc[0]
    assert kept["bound"] == ">= 1" and kept["result"] == "✓ passed" and kept["observed"].replace(",", "").isdigit()
    assert f"{len(failed)} of {len(table)} check(s) failed" in texts(at.error)
    assert "compare with run 2" in texts(at.caption)
    overview = at.dataframe[0].value
    assert overview.loc[overview["slice_id"] == sid, "result"].iloc[0] == "✗ failed"


def test_a_changed_recipe_restarts_the_drift_reference(synthetic):
    from curate import store
    from curate.validate import validate_in_store

    db, sid, _ = synthetic
    with store.open_store(db) as con:
        recipe = _recipe(con, sid)
        save_suite_spec(SuiteSpec(name=recipe.name, max_dup_share=1.0, drift_min_documents=20),
                        store.suite_path(db, recipe.name))
        assert validate_in_store(con, db, recipe, sid, 1).success
        # the reference was made by another version of the recipe (its content hash differs)
        store.set_meta(con, f"validation_baseline:{recipe.name}", json.dumps(
            {**json.loads(store.get_meta(con, f"validation_baseline:{recipe.name}")), "recipe_id": "other"}))
        outcome = validate_in_store(con, db, recipe, sid, 2)
    assert outcome.success
    assert "changed since its last validated run 1" in row(outcome, "kept_share_drift")["skipped"]


def test_validate_in_store_generates_floors_from_the_first_slice(synthetic):
    from curate import store
    from curate.validate import validate_in_store

    db, sid, _ = synthetic
    with store.open_store(db) as con:
        recipe = _recipe(con, sid)
        kept, kept_bytes = con.execute("SELECT n_kept, kept_bytes FROM slices WHERE slice_id = ?", [sid]).fetchone()
        outcome = validate_in_store(con, db, recipe, sid, 1)
    spec = load_suite_spec(store.suite_path(db, recipe.name))
    assert spec.min_documents == min(DEFAULT_MIN_DOCUMENTS, kept // 2)
    assert spec.min_tokens == min(DEFAULT_MIN_TOKENS, kept_bytes // 4 // 2)
    assert row(outcome, "min_tokens")["observed_value"] == kept_bytes // 4
    assert row(outcome, "min_tokens")["success"] is True
