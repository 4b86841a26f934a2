"""The sweeps page's frames and charts: each metric against the swept value with its spread over
seeds, the kept share, and the data-constrained region shaded. The reads and the curve are
curate/sweeps.py's (shared with `curate sweep`); the charts import Altair only when drawn."""
from __future__ import annotations

from typing import TYPE_CHECKING

from curate.sweeps import EPOCH_LIMIT

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

CONSTRAINED_COLOUR = "#d62728"
WIDTH = 600


def seed_frame(points: list[dict], metric: str) -> pd.DataFrame:
    """One row per model that recorded `metric`: value, seed, the metric."""
    import pandas as pd

    rows = [{"value": p["value"], "seed": p["seed"], "measured": p["metrics"][metric],
             "train_run_id": p["train_run_id"]} for p in points if metric in p["metrics"]]
    return pd.DataFrame(rows, columns=["value", "seed", "measured", "train_run_id"])


def curve_frame(curve: list[dict], metric: str) -> pd.DataFrame:
    """One row per value with the metric's mean and mean ± sd (the error bar; sd 0 with one seed)."""
    import pandas as pd

    rows = []
    for r in curve:
        mean, sd = r.get(f"{metric}_mean"), r.get(f"{metric}_sd")
        if mean is None:
            continue
        rows.append({"value": r["value"], "mean": mean, "sd": sd, "lo": mean - (sd or 0.0), "hi": mean + (sd or 0.0),
                     "seeds": r["seeds"], "kept_share": r["kept_share"], "epochs": r["epochs"],
                     "data_constrained": r["data_constrained"]})
    return pd.DataFrame(rows, columns=["value", "mean", "sd", "lo", "hi", "seeds", "kept_share", "epochs",
                                       "data_constrained"])


def constrained_spans(curve: list[dict]) -> list[tuple[float, float]]:
    """The stretches of the value axis whose slices are read more than EPOCH_LIMIT times: each such
    value's stretch reaches halfway to its neighbours (at an end, as far outwards as inwards);
    touching stretches merge."""
    values = sorted({r["value"] for r in curve})
    over = {r["value"] for r in curve if r["data_constrained"]}
    if not over:
        return []
    spans: list[tuple[float, float]] = []
    for i, v in enumerate(values):
        if v not in over:
            continue
        half_left = (v - values[i - 1]) / 2 if i > 0 else None
        half_right = (values[i + 1] - v) / 2 if i < len(values) - 1 else None
        alone = max(abs(v) * 0.05, 0.5)  # one value only: a band the width of a few ticks
        lo = v - (half_left if half_left is not None else half_right if half_right is not None else alone)
        hi = v + (half_right if half_right is not None else half_left if half_left is not None else alone)
        if spans and spans[-1][1] >= lo:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def _region(spans: list[tuple[float, float]]) -> list[alt.Chart]:
    """The shaded stretches, each labelled inside the chart: from its left edge, or (for the
    stretch furthest right, where a label would run off the chart) ending at its right edge."""
    import altair as alt
    import pandas as pd

    if not spans:
        return []
    label = f"data-constrained (> {EPOCH_LIMIT:g} epochs)"
    df = pd.DataFrame([{"x0": a, "x1": b, "label": label} for a, b in spans])
    rect = alt.Chart(df).mark_rect(color=CONSTRAINED_COLOUR, opacity=0.12).encode(
        x="x0:Q", x2="x1:Q", tooltip=[alt.Tooltip("label:N", title="region")])
    last = df.iloc[[-1]]
    text = alt.Chart(last).mark_text(color=CONSTRAINED_COLOUR, align="right", baseline="top", dx=-4, dy=4).encode(
        x="x1:Q", y=alt.value(0), text="label:N")
    return [rect, text]


def metric_chart(curve: pd.DataFrame, seeds: pd.DataFrame, spans: list[tuple[float, float]], *,
                 metric: str, value_title: str) -> alt.LayerChart:
    """The metric's mean against the value with mean ± sd error bars, every seed as a dot, and the
    data-constrained region shaded."""
    import altair as alt

    x = alt.X("value:Q", title=value_title, scale=alt.Scale(zero=False))
    y_scale = alt.Scale(zero=False)
    line = alt.Chart(curve).mark_line(point=True).encode(
        x=x, y=alt.Y("mean:Q", title=f"{metric} (mean over seeds)", scale=y_scale),
        tooltip=["value", "mean", "sd", "seeds", "epochs", "kept_share"])
    bars = alt.Chart(curve).mark_errorbar(ticks=True).encode(
        x=x, y=alt.Y("lo:Q", title=None, scale=y_scale), y2="hi:Q")
    dots = alt.Chart(seeds).mark_circle(size=30, color="#9e9e9e", opacity=0.8).encode(
        x=x, y=alt.Y("measured:Q", scale=y_scale), tooltip=["value", "seed", "measured", "train_run_id"])
    return alt.layer(*_region(spans), bars, dots, line).properties(
        width=WIDTH, height=300, title=f"{metric} against {value_title}")


def kept_chart(curve: list[dict], spans: list[tuple[float, float]], *, value_title: str) -> alt.LayerChart:
    """The share of documents each value's slice keeps, the data-constrained region shaded."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame([{"value": r["value"], "kept_share": r["kept_share"], "documents": r["documents"],
                        "epochs": r["epochs"]} for r in curve])
    line = alt.Chart(df).mark_line(point=True, color="#4c78a8").encode(
        x=alt.X("value:Q", title=value_title, scale=alt.Scale(zero=False)),
        y=alt.Y("kept_share:Q", title="kept share of documents", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=["value", alt.Tooltip("kept_share:Q", format=".1%"), "documents", "epochs"])
    return alt.layer(*_region(spans), line).properties(width=WIDTH, height=220,
                                                       title=f"kept share against {value_title}")
