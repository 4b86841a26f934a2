"""The Threshold sweeps page through Streamlit's AppTest, and its charts' data: every metric against
the value with its seed spread, the kept share, the data-constrained values shaded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")

from curate import recipes, store, sweeps  # noqa: E402
from curate.dashboard import sweeps as sweep_charts  # noqa: E402
from curate.dashboard.synthetic import RECIPES, build_store  # noqa: E402
from tests.dashboard_helpers import run_app, texts  # noqa: E402

VALUES = (150.0, 200.0, 250.0)
BUDGET = 20_000


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """A synthetic store with a sweep of `loose`'s gopher_word_count min over three values, two
    models each, recorded as `curate sweep` records them; the tightest read 6 times over."""
    db = build_store(tmp_path_factory.mktemp("sweeps") / "store.duckdb", 200, seed=5)
    base = recipes.parse_recipe(RECIPES["loose"])
    key = sweeps.SweepKey(base, "gopher_word_count", "min", BUDGET, "tiny", 4)
    with store.open_store(db) as con:
        sweep_id = sweeps.record_sweep(con, key, {"values": list(VALUES)})
        for i, value in enumerate(VALUES):
            slice_id = recipes.build_slice(con, sweeps.derive(base, "gopher_word_count", "min", value)).slice_id
            for seed in (0, 1):
                run_id = f"{slice_id}-tiny-s{seed}"
                store.insert(con, "train_runs", {
                    "train_run_id": run_id, "slice_id": slice_id, "slice_name": slice_id, "seed": seed,
                    "config": "{}", "tokens": BUDGET, "epochs": (1.0, 2.5, 6.0)[i], "bpb": 2.0 + i * 0.1 + seed * 0.01,
                    "metrics": json.dumps({"junk_rate": 0.5 - i * 0.1, "memorization_probes": 3}),
                    "created_at": store.now()})
                sweeps.tag_model(con, sweep_id, value, slice_id, seed, run_id)
    return db


def test_the_sweeps_page_plots_every_metric_and_marks_the_data_constrained_value(monkeypatch, swept):
    at = run_app(monkeypatch, swept, page="sweeps")
    assert at.header[0].value == "Threshold sweeps"
    (sweep,) = at.selectbox(key="sw_sweep").options
    assert "loose: gopher_word_count min" in sweep and "3 values, 6 models" in sweep
    assert at.selectbox(key="sw_metric").options == ["bpb", "junk_rate"]  # counts are no metric
    warning = texts(at.warning).replace("\\", "")  # Markdown escapes
    assert "data-constrained: 250 (6.0 epochs)" in warning and "Muennighoff" in warning
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # the metric, the kept share
    assert all('"rect"' in c.proto.spec for c in charts)  # both shade the data-constrained region
    at.selectbox(key="sw_metric").set_value("junk_rate").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["value"]) == list(VALUES) and list(table["data_constrained"]) == [False, False, True]
    assert list(table["kept_share"]) == sorted(table["kept_share"], reverse=True)  # a tighter bound keeps less
    assert any("beyond noise" in m.value for m in at.markdown)  # each value against the loosest, in words


def test_the_page_says_what_to_run_without_sweeps(monkeypatch, tmp_path):
    db = build_store(tmp_path / "empty.duckdb", 40, seed=1)
    at = run_app(monkeypatch, db, page="sweeps")
    assert "curate sweep strict --signal quality" in texts(at.info)


def test_the_data_constrained_region_reaches_halfway_to_the_neighbours():
    def row(v, over):
        return {"value": v, "data_constrained": over}

    assert sweep_charts.constrained_spans([row(0.1, False), row(0.3, True), row(0.5, True)]) == \
        [(pytest.approx(0.2), pytest.approx(0.6))]
    assert sweep_charts.constrained_spans([row(1, True), row(2, False), row(4, True)]) == [(0.5, 1.5), (3.0, 5.0)]
    assert sweep_charts.constrained_spans([row(1, False)]) == []


def test_the_chart_frames_carry_mean_spread_and_every_seed(swept):
    with store.open_store(swept, read_only=True) as con:
        (listed,) = sweeps.sweep_list(con)
        points = sweeps.sweep_points(con, listed["sweep_id"])
    curve = sweeps.curve(points, BUDGET)
    frame = sweep_charts.curve_frame(curve, "bpb")
    assert list(frame["mean"]) == pytest.approx([2.005, 2.105, 2.205])
    assert list(frame["hi"] - frame["lo"]) == pytest.approx([2 * 0.00707] * 3, abs=1e-4)
    assert len(sweep_charts.seed_frame(points, "bpb")) == 6
    chart = sweep_charts.metric_chart(frame, sweep_charts.seed_frame(points, "bpb"),
                                      sweep_charts.constrained_spans(curve), metric="bpb", value_title="v")
    assert len(chart.layer) == 5  # region, its label, error bars, seeds, the mean's line
