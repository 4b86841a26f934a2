"""Threshold sweeps: each metric against the swept value with its spread over seeds, the kept share
below it, and the values whose slice the budget reads more than four times shaded (the
data-constrained regime). The curve is curate/sweeps.py's, as `curate sweep` prints it; the
charts are curate/dashboard/sweeps.py's."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from curate import sweeps
from curate.dashboard import params as qp
from curate.dashboard import sweeps as charts
from curate.dashboard.highlight import md_literal
from curate.dashboard.reads import Store

TITLE = "Threshold sweeps"
URL_PATH = "sweeps"


def _label(w: dict) -> str:
    return (f"{w['recipe_name']}: {w['signal']} {w['bound']} — {w['n_values']} values, {w['n_models']} models, "
            f"{w['token_budget']:,} tokens, {w['preset']} ({w['sweep_id']})")


def render(s: Store, p: qp.Params) -> None:
    st.header(TITLE)
    listed = s.read(sweeps.sweep_list)
    if not listed:
        st.info("No sweeps yet. A sweep builds one slice per value of a recipe's threshold and trains one model "
                "per slice and seed at the same budget, e.g. "
                "`curate sweep strict --signal quality --values 0.02 0.1 0.3 --tokens 100000 --seeds 2`.")
        return
    by_id = {w["sweep_id"]: w for w in listed}
    chosen = st.selectbox("Sweep", list(by_id), format_func=lambda k: _label(by_id[k]), key="sw_sweep")
    sweep = by_id[chosen]
    points = s.read(sweeps.sweep_points, chosen)
    curve = sweeps.curve(points, int(sweep["token_budget"]))
    if not curve:
        st.info("This sweep has no trained models yet: rerun its `curate sweep` command to train them.")
        return
    value_title = f"{sweep['signal']} {sweep['bound']}"
    spans = charts.constrained_spans(curve)
    note = sweeps.constrained_note(curve)
    if note:
        st.warning(md_literal(note))
    metrics = sweeps.metric_names(points)
    metric = st.selectbox("Metric", metrics, key="sw_metric",
                          help="bpb: bits per byte of the clean validation text (lower is better); every "
                               "metric the models recorded is listed")
    if metric:
        st.altair_chart(charts.metric_chart(charts.curve_frame(curve, metric), charts.seed_frame(points, metric),
                                            spans, metric=metric, value_title=value_title), width="stretch")
        st.caption("Line: the mean over seeds; bars: ± one standard deviation; grey dots: each seed's model.")
    st.altair_chart(charts.kept_chart(curve, spans, value_title=value_title), width="stretch")
    shown = list(dict.fromkeys(m for m in ("bpb", metric) if m))
    verdicts = [f"{sweep['signal']} {sweep['bound']} {sweeps.value_text(r['value'])}: "
                f"{'bits/byte' if m == 'bpb' else m} {r[f'{m}_vs_loosest']:+.4f} against the loosest value, "
                f"{r[f'{m}_verdict']}"
                for m in shown for r in curve if r.get(f"{m}_vs_loosest") is not None]
    for line in verdicts:
        st.markdown(f"- {md_literal(line)}")
    table = pd.DataFrame(curve)
    st.dataframe(table, hide_index=True, width="stretch")
