"""The slice comparison's statistics (known inputs -> known verdicts), its reads, the CLI's table,
and the Slice comparison page on stores whose models are built to give each verdict."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from curate import comparison as verdicts
from curate import store
from curate.comparison import BEYOND, ONE_SEED, WITHIN, Run
from curate.dashboard import comparison as cmp

# --- Student's t ---------------------------------------------------------------------------------


@pytest.mark.parametrize("df, t", [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (10, 2.228), (30, 2.042),
                                   (120, 1.980), (1e6, 1.960)])
def test_t975_matches_the_printed_tables(df, t):
    assert verdicts.t975(df) == pytest.approx(t, abs=5e-4)


def test_t975_matches_scipy_at_fractional_degrees_of_freedom():
    scipy_stats = pytest.importorskip("scipy.stats", reason="scipy is only the oracle here")
    for df in (0.7, 1.3, 1.9, 2.5, 4.2, 7.77, 55.5):
        assert verdicts.t975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-9)


def test_t975_refuses_no_degrees_of_freedom():
    with pytest.raises(ValueError):
        verdicts.t975(0)


# --- differences and their noise -----------------------------------------------------------------


def test_a_clear_gap_over_three_seeds_is_beyond_noise():
    d = verdicts.difference([3.40, 3.42, 3.41], [3.54, 3.56, 3.55])
    assert d.diff == pytest.approx(-0.14)
    # sd 0.01 on each side: se = sqrt(2 * 0.01**2 / 3), Welch's df = 4, t = 2.776
    assert d.se == pytest.approx(math.sqrt(2 * 0.0001 / 3))
    assert d.half_width == pytest.approx(2.776445 * d.se, rel=1e-5)
    assert d.noise == BEYOND and d.lo < d.hi < 0


def test_a_gap_smaller_than_the_seeds_spread_is_within_noise():
    d = verdicts.difference([3.40, 3.50], [3.45, 3.52])
    assert d.diff == pytest.approx(-0.035) and d.lo < 0 < d.hi
    assert d.noise == WITHIN


def test_one_seed_on_either_side_gives_no_spread():
    for a, b in (([3.40], [3.55, 3.56]), ([3.40, 3.41], [3.55]), ([3.4], [3.5])):
        d = verdicts.difference(a, b)
        assert d.half_width is None and d.se is None and d.noise == ONE_SEED
        assert d.diff == pytest.approx(sum(a) / len(a) - sum(b) / len(b))


def test_identical_seeds_leave_no_noise():
    assert verdicts.difference([0.5, 0.5], [0.25, 0.25]).noise == BEYOND
    same = verdicts.difference([1.0, 1.0], [1.0, 1.0])
    assert same.diff == 0 and same.noise == WITHIN


def test_missing_values_are_left_out_and_nothing_measured_is_none():
    assert verdicts.difference([], [1.0]) is None and verdicts.difference([None, float("nan")], [1.0]) is None
    assert verdicts.difference([3.4, None, 3.41], [3.5, 3.52]).n == 2


# --- judgements and their sentences ---------------------------------------------------------------


def _runs(values: dict[str, list[float]], key: str = "bpb", **run_kw) -> list[Run]:
    return [Run(s, i, metrics={key: v}, **run_kw) for s, vs in values.items() for i, v in enumerate(vs)]


def test_the_sentence_of_a_gap_beyond_noise():
    runs = _runs({"raw": [3.54, 3.56, 3.55], "strict": [3.40, 3.42, 3.41]}, tokens=2_000_000, n_params=1_000_000)
    [j] = verdicts.judge(runs, "raw", metrics=["bpb"])
    assert j.better and j.verdict == "better, beyond noise"
    assert j.sentence() == ("strict is 0.140 bits/byte better than raw (±0.023, 95% interval over 3 seeds each): "
                            "beyond noise.")


def test_a_worse_slice_and_a_share_metric_read_the_right_way():
    runs = _runs({"raw": [0.10, 0.11, 0.12], "strict": [0.30, 0.31, 0.32]}, key="junk_rate")
    [j] = verdicts.judge(runs, "raw", metrics=["junk_rate"])
    assert not j.better and j.verdict == "worse, beyond noise"
    assert j.sentence().startswith("strict's junk rate is 20.0 points higher than raw's (worse) (±")
    runs = _runs({"raw": [0.5, 0.52], "strict": [0.7, 0.72]}, key="distinct_2")  # higher is better
    assert verdicts.judge(runs, "raw", metrics=["distinct_2"])[0].better


def test_the_sentence_within_noise_and_with_one_seed():
    [j] = verdicts.judge(_runs({"raw": [3.45, 3.52], "strict": [3.40, 3.50]}), "raw", metrics=["bpb"])
    assert j.verdict == f"better, {WITHIN}"
    assert "within noise, the seeds disagree as much as the slices do" in j.sentence()
    [j] = verdicts.judge(_runs({"raw": [3.55], "strict": [3.41]}), "raw", metrics=["bpb"])
    assert j.verdict == ONE_SEED
    assert j.sentence() == ("strict is 0.140 bits/byte better than raw (1 seed each: no spread can be computed "
                            "from a single seed; train with --seeds 2 or more).")


def test_too_few_tokens_per_parameter_is_too_small_to_judge_even_beyond_noise():
    runs = _runs({"raw": [3.54, 3.56, 3.55], "strict": [3.40, 3.42, 3.41]}, tokens=150_000, n_params=850_000)
    [j] = verdicts.judge(runs, "raw", metrics=["bpb"])
    assert j.verdict == "better, beyond noise; too small to judge (0.18 tokens/parameter)"
    s = j.sentence()
    assert s.startswith("strict is 0.140 bits/byte better than raw (±0.023, 95% interval over 3 seeds each, "
                        "beyond noise), but the models are too small to judge: a model saw 150,000 training tokens")


def test_bits_per_byte_near_the_unigram_baseline_is_too_small_to_judge():
    runs = _runs({"raw": [3.54, 3.56], "strict": [3.40, 3.42]})
    assert verdicts.judge(runs, "raw", metrics=["bpb"], unigram_bpb=3.11)[0].verdict.endswith(
        "; too small to judge (near the unigram baseline)")
    assert "no better than a unigram model's (3.11" in verdicts.judge(runs, "raw", unigram_bpb=3.11)[0].sentence()
    # 3.40 is 9% under 3.75: within the 10% margin; 20% under is a model that learned something
    assert verdicts.judge(runs, "raw", unigram_bpb=3.75)[0].too_small is not None
    assert verdicts.judge(runs, "raw", unigram_bpb=4.3)[0].too_small is None


def test_junk_samples_make_only_the_generation_metrics_too_small():
    runs = [Run(s, i, metrics={"bpb": b, "junk_rate": 0.95 + i * 0.05, "memorization": 0.2 + i * 0.1})
            for s, bs in {"raw": [3.0, 3.01], "strict": [2.5, 2.51]}.items() for i, b in enumerate(bs)]
    by = {j.metric.key: j for j in verdicts.judge(runs, "raw")}
    assert by["bpb"].verdict == "better, beyond noise"
    assert by["junk_rate"].verdict == "within noise; too small to judge (junk samples)"
    assert by["memorization"].too_small is None
    one_clean = [Run("raw", 0, metrics={"junk_rate": 0.5}), Run("strict", 0, metrics={"junk_rate": 1.0})]
    assert verdicts.caveats(one_clean).generations is None  # "every slice": raw's samples are half readable


def test_no_memorization_anywhere_is_too_small_to_judge():
    runs = _runs({"raw": [0.0, 0.0], "strict": [0.0, 0.0]}, key="memorization")
    [j] = verdicts.judge(runs, "raw", metrics=["memorization"])
    assert j.verdict == "within noise; too small to judge (nothing memorized)"
    assert "have the same memorization" in j.sentence()


def test_judge_skips_the_baseline_and_metrics_nobody_measured():
    runs = _runs({"raw": [3.5, 3.6], "a": [3.4, 3.5], "b": [3.3, 3.2]})
    js = verdicts.judge(runs, "raw")
    assert [(j.slice, j.metric.key) for j in js] == [("b", "bpb"), ("a", "bpb")]  # the best bits/byte first


def test_the_baseline_is_raw_or_the_least_filtered_slice_said_so():
    assert verdicts.pick_baseline({"strict": 10, "raw": 100}) == ("raw", None)
    base, note = verdicts.pick_baseline({"strict": 10, "loose": 90, "tight": 90})
    assert base == "loose" and "no model was trained on `raw`" in note and "keeps the most documents" in note


# --- the table and the charts ---------------------------------------------------------------------


def test_the_table_is_short_strings_that_fit_the_page():
    runs = _runs({"raw": [3.54, 3.56, 3.55], "strict": [3.40, 3.42, 3.41]})
    df = cmp.table(verdicts.judge(runs, "raw"), "raw")
    assert list(df.columns) == ["slice", "metric", "raw", "this slice", "difference (95%)", "seeds", "verdict"]
    row = df.iloc[0].to_dict()
    assert row == {"slice": "strict", "metric": "bits/byte", "raw": "3.550", "this slice": "3.410",
                   "difference (95%)": "−0.140 ± 0.023", "seeds": "3 / 3", "verdict": "better, beyond noise"}
    assert max(len(str(v)) for v in row.values()) <= 40


def _layers(spec: dict) -> list[dict]:
    return [layer for layer in spec.get("layer", [spec])]


def test_the_difference_chart_starts_at_zero():
    runs = _runs({"raw": [3.54, 3.56, 3.55], "strict": [3.40, 3.42, 3.41], "loose": [3.50, 3.58, 3.52]})
    data = cmp.chart_data(verdicts.judge(runs, "raw"), "bpb")
    assert list(data["slice"]) == ["strict", "loose"] and (data["difference"] < 0).all()
    spec = cmp.difference_chart(data, "bpb", "raw").to_dict()
    xs = [layer["encoding"]["x"] for layer in _layers(spec) if "field" in layer["encoding"]["x"]]
    assert xs and all(x["scale"]["zero"] is True and "domain" not in x["scale"] for x in xs)
    assert any(layer["encoding"]["x"].get("datum") == 0 for layer in _layers(spec))  # the line at 0
    assert "difference to raw" in spec["title"]["text"]


def test_the_absolute_chart_starts_at_zero():
    import pandas as pd

    runs = pd.DataFrame({"slice": ["raw", "raw", "strict"], "seed": [0, 1, 0], "bpb": [3.5, 3.6, 3.4]})
    spec = cmp.absolute_chart(runs, "bpb").to_dict()
    bars = _layers(spec)[0]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["x"]["scale"]["zero"] is True


# --- generations, legibly ---------------------------------------------------------------------------


def test_legible_collapses_whitespace_and_names_the_invisible():
    assert cmp.legible("line one\n\nline   two\r\n\tend") == "line one ⏎ ⏎ line two ⏎ end"
    assert cmp.legible("a\x07b\u200bc\ufffd") == "a⟨U+0007⟩b⟨U+200B⟩c\ufffd"
    assert cmp.legible("") == "(blank: the model wrote nothing)"
    assert cmp.legible(" \t  ") == "(blank: only whitespace)"
    assert cmp.legible("x" * 50, max_chars=10) == "x" * 10 + " … (40 more characters)"
    # Markdown and HTML stay characters (the page shows them with st.text)
    assert cmp.legible("**bold** <b>x</b> [a](b)") == "**bold** <b>x</b> [a](b)"


def test_blank_lines_only_read_as_line_breaks():
    assert cmp.legible("\n\n\n") == "⏎ ⏎ ⏎"


def test_the_samples_caveat_when_the_models_write_junk():
    assert cmp.samples_caveat({"samples": 0, "junk": 0, "blank": 0, "replacement": 0}) is None
    assert cmp.samples_caveat({"samples": 20, "junk": 3, "blank": 1, "replacement": 0}) is None
    text = cmp.samples_caveat({"samples": 20, "junk": 19, "blank": 8, "replacement": 5})
    assert text.startswith("The models are too small to generate readable text at this budget (95% of the 20 "
                           "samples fail the junk rules, 40% are blank, 25% hold replacement characters")
    assert text.endswith("compare bits/byte above, not these samples.")


# --- the unigram baseline -------------------------------------------------------------------------------


def test_unigram_bits_per_byte_of_known_counts():
    assert verdicts.unigram_bpb_of_ids([1, 2, 3, 4], 4) == pytest.approx(2.0)  # 4 equally likely tokens, a byte each
    assert verdicts.unigram_bpb_of_ids([7, 7, 7], 6) == 0.0
    with pytest.raises(ValueError):
        verdicts.unigram_bpb_of_ids([], 0)


def test_unigram_baseline_of_a_validation_file(tmp_path):
    text = "The river runs past the market and the garden. " * 40
    (tmp_path / "val.txt").write_text(text, encoding="utf-8")
    bpb = cmp.unigram_bpb(None, str(tmp_path / "val.txt"))
    assert bpb is not None and 0 < bpb < 8
    assert cmp.unigram_bpb(None, str(tmp_path / "missing.txt")) is None and cmp.unigram_bpb(None, None) is None


# --- a store whose models give known verdicts ------------------------------------------------------------

CLEAR = {  # tight is clearly better than raw, loose is not
    "raw": [3.55, 3.56, 3.54], "tight": [3.41, 3.40, 3.42], "loose": [3.50, 3.58, 3.53]}


def trained_store(path: Path, bpbs: dict[str, list[float]], *, tokens: int = 2_000_000, n_params: int = 1_000_000,
                  junk: bool = True, samples: dict[str, str] | None = None) -> Path:
    """The synthetic store with a `raw` slice too, and one model per (slice, seed) of `bpbs`
    with those bits/byte; every generation junk unless `junk` is False."""
    from curate.dashboard.synthetic import build_store
    from curate.recipes import build_slice, load_recipe

    build_store(path, 120, seed=7)
    with store.open_store(path) as con:
        run_id = store.start_run(con, "slice", "{}")
        build_slice(con, load_recipe("raw"), run_id)
        store.finish_run(con, run_id, status="ok", exit_code=0)
    return add_models(path, bpbs, tokens=tokens, n_params=n_params, junk=junk, samples=samples)


def add_models(path: Path, bpbs: dict[str, list[float]], *, tokens: int, n_params: int = 1_000_000,
               junk: bool = True, samples: dict[str, str] | None = None) -> Path:
    from curate.dashboard.synthetic import PROMPTS

    with store.open_store(path) as con:
        ids = dict(con.execute("SELECT name, slice_id FROM slices").fetchall())
        for name, values in bpbs.items():
            for seed, bpb in enumerate(values):
                tid = f"{ids[name]}-small-t{tokens}-s{seed}"
                metrics = {"junk_rate": 1.0 if junk else 0.1, "repetition_4gram": 0.3, "memorization": 0.0,
                           "quality_mean": 0.2, "distinct_2": 0.6}
                store.insert(con, "train_runs", {
                    "train_run_id": tid, "slice_id": ids[name], "slice_name": name, "seed": seed,
                    "config": json.dumps({"preset": "small", "token_budget": tokens}), "tokens": tokens,
                    "bpb": bpb, "n_params": n_params, "metrics": json.dumps(metrics), "created_at": store.now()})
                for k, (prompt, kind) in enumerate(PROMPTS):
                    sample = (samples or {}).get(name, f"{prompt} from {name}\n\n\n  seed {seed} \ufffd")
                    store.insert(con, "generations", {"train_run_id": tid, "prompt_no": k, "kind": kind,
                                                      "prompt": prompt, "sample": sample, "quality": 0.2,
                                                      "junk": junk})
    return path


@pytest.fixture(scope="module")
def clear_store(tmp_path_factory) -> Path:
    return trained_store(tmp_path_factory.mktemp("clear") / "store.duckdb", CLEAR)


def test_reads_of_the_trained_store(clear_store):
    from curate.dashboard.source import read_store

    with read_store(clear_store) as (con, _):
        runs = cmp.train_runs(con)
        ids = tuple(runs["train_run_id"])
        health = cmp.generation_health(con, ids)
        prompts = cmp.prompts(con, ids)
        one = cmp.samples(con, 0, ids[:1])
    assert len(runs) == 9 and set(runs["slice"]) == {"raw", "tight", "loose"}
    assert cmp.setups(runs) == ["small preset, 2,000,000 tokens"]
    assert runs.loc[runs.slice == "tight", "bpb"].tolist() == [3.41, 3.40, 3.42]
    assert (runs["documents_kept"] > 0).all() and (runs["junk_rate"] == 1.0).all()
    assert health == {"samples": 18, "junk": 18, "blank": 0, "replacement": 18}
    assert [p for _, p, _ in prompts] == ["The river", "In the market"] and len(one) == 1


def test_the_cli_table_says_the_same(clear_store):
    from train.pipeline import COMPARISON_HEADERS, comparison, train_rows_from_store

    with store.open_store(clear_store, read_only=True) as con:
        rows = comparison(train_rows_from_store(con))
    table = {r[0]: dict(zip(COMPARISON_HEADERS, r)) for r in rows}
    assert all(len(r) == len(COMPARISON_HEADERS) for r in rows)
    assert table["raw"]["verdict"] == "baseline (raw)"
    assert table["tight"]["vs baseline (95%)"].startswith("-0.1400 ± 0.0")
    assert table["tight"]["verdict"] == "better, beyond noise"
    assert table["loose"]["verdict"] == f"better, {WITHIN}"
    assert table["tight"]["seeds"] == 3 and table["tight"]["bits/byte (mean ± sd)"] == "3.4100 ± 0.0100"


def test_the_cli_table_with_one_seed_and_no_raw():
    from train.pipeline import comparison

    rows = [{"slice": "a", "seed": 0, "documents": 50, "tokens": 100, "bpb": 3.0},
            {"slice": "b", "seed": 0, "documents": 90, "tokens": 100, "bpb": 3.2}]
    out = {r[0]: r for r in comparison(rows)}
    assert out["b"][7] == "baseline (b)" and out["a"][6] == "-0.2000" and out["a"][7] == ONE_SEED


# --- the page --------------------------------------------------------------------------------------------

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")


def _texts(at, *kinds: str) -> str:
    return " ".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def _plain(markdown: str) -> str:
    """md_literal's output as the page shows it: the backslash escapes gone."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown)


def _table(at, i: int = 0):
    """The page's i-th static table as plain strings (its cells went through md_literal)."""
    value = at.table[i].value
    df = value.data if hasattr(value, "data") else value  # a Styler or a DataFrame
    return df.map(_plain)


def _vega_specs(at) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]


def test_the_page_says_what_is_beyond_and_within_noise(monkeypatch, clear_store):
    from tests.dashboard_helpers import run_app

    at = run_app(monkeypatch, clear_store, page="compare")
    good = _plain(_texts(at, "success"))
    assert "tight is 0.140 bits/byte better than raw (±0.023, 95% interval over 3 seeds each): beyond noise." in good
    warned = _plain(_texts(at, "warning"))
    assert "loose is 0.013 bits/byte better than raw" in warned and "within noise" in warned
    assert "The models are too small to generate readable text at this budget (100% of the 18 samples" in warned
    assert "Generation metrics are too small to judge" in warned
    table = _table(at)
    verdicts = dict(zip(zip(table["slice"], table["metric"]), table["verdict"]))
    assert verdicts[("tight", "bits/byte")] == "better, beyond noise"
    assert verdicts[("loose", "bits/byte")] == f"better, {WITHIN}"
    assert verdicts[("tight", "junk rate")] == "within noise; too small to judge (junk samples)"
    assert list(table.columns)[2] == "raw"
    [spec] = [s for s in _vega_specs(at) if "difference to raw" in json.dumps(s.get("title"))]
    xs = [layer["encoding"]["x"] for layer in spec["layer"] if "field" in layer["encoding"]["x"]]
    assert xs and all(x["scale"]["zero"] is True for x in xs)


def test_the_samples_are_plain_text_on_one_line(monkeypatch, clear_store):
    from tests.dashboard_helpers import run_app

    at = run_app(monkeypatch, clear_store, page="compare")
    shown = [t.value for t in at.text]
    assert "The river from raw ⏎ ⏎ ⏎ seed 0 \ufffd" in shown
    assert all("\n" not in t for t in shown)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    readable = {name: "The river runs past the market, and the market sells bread." for name in CLEAR}
    return trained_store(tmp_path_factory.mktemp("small") / "store.duckdb", CLEAR, tokens=150_000,
                         n_params=850_000, junk=False, samples=readable)


def test_the_page_says_when_the_models_are_too_small(monkeypatch, small_store):
    from tests.dashboard_helpers import run_app

    at = run_app(monkeypatch, small_store, page="compare")
    warned = _plain(_texts(at, "warning"))
    assert ("tight is 0.140 bits/byte better than raw (±0.023, 95% interval over 3 seeds each, beyond noise), "
            "but the models are too small to judge: a model saw 150,000 training tokens") in warned
    assert not at.success
    assert "too small to generate readable text" not in warned  # their samples are not junk
    assert {v.split("; ")[-1] for v in _table(at)["verdict"]} == {"too small to judge (0.18 tokens/parameter)"}


@pytest.fixture(scope="module")
def one_seed_store(tmp_path_factory) -> Path:
    return trained_store(tmp_path_factory.mktemp("one") / "store.duckdb", {"raw": [3.55], "tight": [3.41]})


def test_the_page_says_one_seed_gives_no_spread(monkeypatch, one_seed_store):
    from tests.dashboard_helpers import run_app

    at = run_app(monkeypatch, one_seed_store, page="compare")
    warned = _plain(_texts(at, "warning"))
    assert ("tight is 0.140 bits/byte better than raw (1 seed each: no spread can be computed from a single "
            "seed; train with --seeds 2 or more).") in warned
    assert _table(at)["verdict"].iloc[0] == ONE_SEED


def test_the_page_without_raw_says_what_it_compares_with(monkeypatch, tmp_path):
    from curate.dashboard.synthetic import build_store
    from tests.dashboard_helpers import run_app

    at = run_app(monkeypatch, build_store(tmp_path / "s.duckdb", 80, seed=5, train=True), page="compare")
    assert "no model was trained on `raw`" in _plain(_texts(at, "warning"))
    assert _table(at).columns[2] == "loose"


EVIL = "**bold** <img src=x onerror=alert(1)> [link](http://x) $x$ :red[r]\n\n# heading"


def test_a_hostile_sample_is_shown_as_its_characters(monkeypatch, tmp_path):
    from tests.dashboard_helpers import run_app

    db = trained_store(tmp_path / "store.duckdb", {"raw": [3.5, 3.6], "tight": [3.4, 3.3]}, samples={"raw": EVIL})
    at = run_app(monkeypatch, db, page="compare")
    shown = [t.value for t in at.text]
    assert "**bold** <img src=x onerror=alert(1)> [link](http://x) $x$ :red[r] ⏎ ⏎ # heading" in shown
    # nothing of it reached an element that renders Markdown
    assert not any("onerror" in m.value or "**bold**" in m.value
                   for kind in ("markdown", "caption", "warning", "success", "error") for m in getattr(at, kind))


def test_models_of_another_budget_are_compared_apart(monkeypatch, tmp_path):
    from tests.dashboard_helpers import run_app

    db = trained_store(tmp_path / "store.duckdb", CLEAR)
    add_models(db, {"raw": [3.30, 3.31], "tight": [3.30, 3.32]}, tokens=4_000_000)
    at = run_app(monkeypatch, db, page="compare")
    setup = at.selectbox(key="cmp_setup")
    assert setup.value == "small preset, 2,000,000 tokens"  # three slices trained there, two here
    assert "tight is 0.140 bits/byte better than raw" in _plain(_texts(at, "success"))
    setup.set_value("small preset, 4,000,000 tokens").run()
    assert not at.exception and not at.success
    assert "tight is 0.005 bits/byte worse than raw" in _plain(_texts(at, "warning"))
    assert set(_table(at)["seeds"]) == {"2 / 2"}
    assert at.multiselect(key="cmp_slices").value == ["raw", "tight"]


def test_a_single_trained_slice_says_what_to_train(monkeypatch, tmp_path):
    from tests.dashboard_helpers import run_app

    at = run_app(monkeypatch, trained_store(tmp_path / "store.duckdb", {"raw": [3.5, 3.6]}), page="compare")
    assert "Only raw has trained models here: train another slice to compare" in _plain(_texts(at, "warning"))
    assert not at.table and not at.success


def test_the_url_slice_is_shown_first(monkeypatch, clear_store):
    from tests.dashboard_helpers import run_app

    with store.open_store(clear_store, read_only=True) as con:
        tight = con.execute("SELECT slice_id FROM slices WHERE name = 'tight'").fetchone()[0]
    at = run_app(monkeypatch, clear_store, page="compare", slice=tight)
    assert at.multiselect(key="cmp_slices").value == ["tight", "loose", "raw"]


def test_the_page_shows_exposure_per_copy_count_and_junk_bits_without_a_better_side(monkeypatch, tmp_path):
    from tests.dashboard_helpers import run_app

    db = trained_store(tmp_path / "store.duckdb", {"raw": [3.55, 3.56], "tight": [3.41, 3.40]})
    with store.open_store(db) as con:
        for tid, name, seed, met in con.execute(
                "SELECT train_run_id, slice_name, seed, metrics FROM train_runs").fetchall():
            m = json.loads(met)
            raw = name == "raw"
            m.update({"exposure_k2": 0.05 if raw else 0.01,
                      "exposure_k17_32": (0.40 if raw else 0.02) + 0.02 * seed,
                      "heldout_bpb_spam": (3.0 if raw else 3.5) + 0.01 * seed})
            con.execute("UPDATE train_runs SET metrics = ? WHERE train_run_id = ?", [json.dumps(m), tid])
    at = run_app(monkeypatch, db, page="compare")
    assert "Memorization by likelihood" in [h.value for h in at.subheader]
    rows = [r for i in range(len(at.table)) for r in _table(at, i).to_dict("records")]
    exposure = {r["slice"]: r for r in rows if "k=17–32" in r}
    assert exposure["raw"]["k=17–32"] == "+0.410 ± 0.014" and exposure["tight"]["k=2"] == "+0.010 ± 0.000"
    verdict = {(r.get("slice"), r.get("metric")): r.get("verdict") for r in rows}
    assert verdict[("tight", "exposure k=17–32")] == "better, beyond noise"
    assert verdict[("tight", "held-out spam bits/byte")] == "higher, beyond noise"
    assert "tight's exposure k=17–32 is 0.380 bits/byte lower than raw's (better)" in _plain(_texts(at, "success"))
