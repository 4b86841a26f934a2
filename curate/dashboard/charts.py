"""Altair charts shared by the dashboard and the HTML audit report (one definition each)."""
from __future__ import annotations

import copy
import functools

import altair as alt
import pandas as pd

from curate.dashboard.explorer import Outcome

WIDTH = 600


def languages(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, title="Documents per language (fastText)").mark_bar().encode(
        x=alt.X("documents:Q", title="documents"),
        y=alt.Y("lang:N", sort="-x", title="language"),
        tooltip=["lang", "documents", "tokens"],
    ).properties(width=WIDTH)


def histogram(df: pd.DataFrame, signal: str, default_min: float | None = None,
              default_max: float | None = None) -> alt.LayerChart | alt.Chart:
    bars = alt.Chart(df, title=f"{signal} (last bin holds values above the 99th percentile)").mark_bar().encode(
        x=alt.X("bin_lo:Q", bin="binned", title=signal),
        x2="bin_hi:Q",
        y=alt.Y("documents:Q", title="documents"),
        tooltip=[alt.Tooltip("bin_lo:Q", format=".3g"), alt.Tooltip("bin_hi:Q", format=".3g"), "documents"],
    ).properties(width=WIDTH, height=220)
    bounds = [{"bound": f"default {k}", "value": v} for k, v in (("min", default_min), ("max", default_max))
              if v is not None]
    if not bounds:
        return bars
    rules = alt.Chart(pd.DataFrame(bounds)).mark_rule(color="#d62728", strokeDash=[4, 3]).encode(
        x="value:Q", tooltip=["bound", "value"])
    return alt.layer(bars, rules)


def drop_reasons(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, title="Dropped documents by first failing rule, per slice").mark_bar().encode(
        x=alt.X("documents:Q", stack="zero", title="dropped documents"),
        y=alt.Y("name:N", title="slice"),
        color=alt.Color("reason:N", legend=alt.Legend(columns=2, labelLimit=260, symbolLimit=0)),
        tooltip=["name", "reason", "documents"],
    ).properties(width=WIDTH)


def cluster_sizes(df: pd.DataFrame) -> alt.Chart:
    frame = df.assign(threshold=df["threshold"].astype(str))
    return alt.Chart(frame, title="Near-duplicate clusters by size").mark_bar().encode(
        x=alt.X("cluster_size:O", title="documents in the cluster"),
        xOffset="threshold:N",
        y=alt.Y("clusters:Q", scale=alt.Scale(type="symlog"), title="clusters (symlog)"),
        color=alt.Color("threshold:N", title="Jaccard threshold"),
        tooltip=["threshold", "cluster_size", "clusters", "documents"],
    ).properties(width=WIDTH, height=220)


def waterfall_data(outcome: Outcome) -> pd.DataFrame:
    """Documents left after each rule, in the order the recipe tests them: the waterfall's rows."""
    rows = [{"step": "all documents", "order": 0, "start": outcome.n_documents, "end": 0,
             "documents": outcome.n_documents, "kind": "total"}]
    before = outcome.n_documents
    for i, step in enumerate(outcome.waterfall, start=1):
        if step.dropped == 0 and step.reason == "not_scored":
            continue
        rows.append({"step": step.reason, "order": i, "start": before, "end": step.remaining,
                     "documents": -step.dropped, "kind": "dropped"})
        before = step.remaining
    rows.append({"step": "kept", "order": len(rows) + 1000, "start": outcome.n_kept, "end": 0,
                 "documents": outcome.n_kept, "kind": "total"})
    return pd.DataFrame(rows)


def waterfall_spec() -> dict:
    """The waterfall's Vega-Lite spec without its rows, for `st.vega_lite_chart(waterfall_data(...), spec)`.

    A fresh copy each call: Streamlit may patch the spec it is given.
    """
    return copy.deepcopy(_waterfall_spec())


@functools.cache
def _waterfall_spec() -> dict:
    """Built and validated by Altair once per process: that costs several times the slider move's
    query, and only the rows change from one move to the next."""
    chart = alt.Chart(title="Drop-reason waterfall (first failing rule, in rule order)").mark_bar().encode(
        y=alt.Y("step:N", sort=alt.EncodingSortField("order"), title=None, axis=alt.Axis(labelLimit=280)),
        x=alt.X("start:Q", title="documents"),
        x2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["total", "dropped"], range=["#4c78a8", "#e45756"]),
                        legend=None),
        tooltip=["step:N", "documents:Q", alt.Tooltip("end:Q", title="left after step")],
    ).properties(width=WIDTH)
    spec = chart.to_dict()
    for key in ("data", "datasets"):  # Altair's placeholder for the rows
        spec.pop(key, None)
    return spec


def bpb_by_slice(runs: pd.DataFrame) -> alt.LayerChart:
    """Bits-per-byte on the clean validation text: each seed a dot, the mean a bar."""
    base = alt.Chart(runs, title="Bits per byte on clean validation text (lower is better)")
    bars = base.mark_bar(opacity=0.5).encode(
        x=alt.X("slice:N", title="slice"), y=alt.Y("mean(bpb):Q", title="bits per byte", scale=alt.Scale(zero=False)))
    dots = base.mark_circle(size=60, color="black").encode(x="slice:N", y="bpb:Q", tooltip=["slice", "seed", "bpb"])
    return alt.layer(bars, dots).properties(width=WIDTH, height=260)


def metric_against_setting(comp: pd.DataFrame, setting: str, metric: str) -> alt.Chart:
    """One point per slice: the setting that made it against what its models did."""
    return alt.Chart(comp, title=f"{metric} against {setting}").mark_circle(size=120).encode(
        x=alt.X(f"{setting}:Q", title=setting, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color("slice:N"),
        tooltip=["slice", setting, metric, "seeds"],
    ).properties(width=WIDTH, height=300)


def quarantine_by_error(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, title="Quarantined records by error kind").mark_bar().encode(
        x=alt.X("records:Q"), y=alt.Y("error_kind:N", sort="-x", title=None), tooltip=["error_kind", "records"],
    ).properties(width=WIDTH)
