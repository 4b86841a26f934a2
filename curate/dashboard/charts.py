"""Altair charts shared by the dashboard and the HTML audit report (one definition each)."""
from __future__ import annotations

import copy
import functools
from typing import NamedTuple

import altair as alt
import pandas as pd

from curate.dashboard.explorer import Outcome
from curate.dashboard.queries import kept_mark, number_text

WIDTH = 600


def languages(df: pd.DataFrame) -> alt.Chart:
    return alt.Chart(df, title="Documents per language (fastText)").mark_bar().encode(
        x=alt.X("documents:Q", title="documents"),
        y=alt.Y("lang:N", sort="-x", title="language"),
        tooltip=["lang", "documents", "tokens"],
    ).properties(width=WIDTH)


# One colour per drop-reason family, never two alike: the families of the registry, the dedup
# steps, "not scored" and "other". A family added later takes the next of EXTRA_COLOURS.
FAMILY_COLOURS = {
    "language": "#54a24b", "quality": "#e45756", "near duplicates": "#b279a2", "exact duplicates": "#9d755d",
    "gopher_quality": "#4c78a8", "gopher_repetition": "#72b7b2", "c4": "#f58518", "fineweb": "#eeca3b",
    "encoding": "#ff9da6", "pii": "#1b3a6b", "shape": "#8c6d31", "corpus": "#bcbd22", "not scored": "#4d4d4d",
    "other": "#bab0ac",
}
EXTRA_COLOURS = ("#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
BOUND_COLOURS = {"published default": "#d62728", "recipe": "#111111"}
DASHES = {"published default": [5, 3], "recipe": [1, 0]}
EDGE_COLOUR = "#9e9e9e"
BAR_COLOUR = "#4c78a8"


def family_colours(families) -> dict[str, str]:
    """Family -> colour for the families shown, in the order given; no colour twice."""
    from curate.signals import REGISTRY

    known = [f.name for f in REGISTRY.families]
    extra = iter(c for c in EXTRA_COLOURS if c not in FAMILY_COLOURS.values())
    later = {f: next(extra) for f in sorted({*known, *families} - set(FAMILY_COLOURS))}
    return {f: FAMILY_COLOURS.get(f) or later[f] for f in dict.fromkeys(families)}


class Bound(NamedTuple):
    who: str  # "published default", or the recipe's name
    side: str  # "min" or "max"
    value: float


def bound_rows(bounds: list[Bound], lo: float, hi: float) -> pd.DataFrame:
    """Where each bound is drawn and what its label says: a bound beyond the axis sits at its edge,
    its label pointing the way; two bounds at one value share a line and a label."""
    rows: dict[tuple[str, float], dict] = {}
    for b in bounds:
        key = (b.side, float(b.value))
        kind = "published default" if b.who == "published default" else "recipe"
        if key in rows:
            rows[key]["who"] = f"{rows[key]['who']} = {b.who}"
            rows[key]["kind"] = "recipe"  # the recipe's line is drawn; the label names both
            continue
        rows[key] = {"who": b.who, "side": b.side, "value": float(b.value), "kind": kind}
    out = []
    for i, r in enumerate(sorted(rows.values(), key=lambda r: (r["value"], r["side"]))):
        x = min(max(r["value"], lo), hi)
        arrow = " →" if r["value"] > hi else ""
        back = "← " if r["value"] < lo else ""
        out.append({**r, "x": x, "label": f"{back}{r['who']} {r['side']} {number_text(r['value'])}{arrow}",
                    "align": "right" if x >= hi - (hi - lo) * 0.25 else "left", "row": i})
    return pd.DataFrame(out, columns=["who", "side", "value", "kind", "x", "label", "align", "row"])


def histogram(h, bounds: list[Bound] | None = None, *, height: int = 240) -> alt.LayerChart | alt.Chart:
    """Bars of a `queries.Histogram` (edge bars grey, labelled), and every bound as a vertical line:
    the published default red and dashed, the selected recipe's black and solid, each labelled."""
    bins = h.bins.assign(colour=[EDGE_COLOUR if e else BAR_COLOUR for e in h.bins["edge"]],
                         tip=[_bin_tip(r, h.integer) for r in h.bins.itertuples()])
    lo, hi = float(bins["bin_lo"].min()), float(bins["bin_hi"].max())
    x_scale = alt.Scale(type=h.scale, domain=[lo, hi], nice=False)
    if h.scale == "symlog":  # Vega's symlog ticks bunch up: 1-2-5 steps instead
        ticks = [v for e in range(0, 10) for v in (10 ** e, 2 * 10 ** e, 5 * 10 ** e) if lo <= v <= hi]
        axis = alt.Axis(values=([0] if lo <= 0 else []) + ticks, format=",.0f", labelOverlap="greedy")
    else:
        axis = alt.Axis(labelOverlap="greedy", tickCount=10)
    bars = alt.Chart(bins).mark_bar().encode(
        x=alt.X("bin_lo:Q", bin="binned", title=h.signal, scale=x_scale, axis=axis),
        x2="bin_hi:Q",
        y=alt.Y("documents:Q", title="documents"),
        color=alt.Color("colour:N", scale=None),
        tooltip=[alt.Tooltip("tip:N", title="values"), alt.Tooltip("documents:Q", format=",")],
    )
    layers = [bars]
    edges = bins[bins["edge"] != ""].assign(text=lambda d: [
        f"< {number_text(h.lo)}" if e == "below" else f"> {number_text(h.hi)}" for e in d["edge"]])
    if not edges.empty:
        layers.append(alt.Chart(edges).mark_text(dy=-6, fontSize=11, color="#555").encode(
            x=alt.X("bin_lo:Q", scale=x_scale), x2="bin_hi:Q", y="documents:Q", text="text:N"))
    lines = bound_rows(list(bounds or ()), lo, hi)
    if not lines.empty:
        shown = [k for k in BOUND_COLOURS if k in set(lines["kind"])]
        kinds = alt.Scale(domain=shown, range=[BOUND_COLOURS[k] for k in shown])
        top = float(bins["documents"].max() or 1)
        lines = lines.assign(y=[top * (1.12 - 0.1 * r) for r in lines["row"]])  # labels stacked from the top
        layers.append(alt.Chart(lines).mark_rule(strokeWidth=2).encode(
            x=alt.X("x:Q", scale=x_scale),
            color=alt.Color("kind:N", title="bound", scale=kinds,
                            legend=alt.Legend(orient="bottom", labelLimit=0, symbolType="stroke", symbolStrokeWidth=2)),
            strokeDash=alt.StrokeDash("kind:N", scale=alt.Scale(domain=shown, range=[DASHES[k] for k in shown]),
                                      legend=None),
            tooltip=[alt.Tooltip("label:N", title="bound")]))
        for align in ("left", "right"):
            part = lines[lines["align"] == align]
            if not part.empty:
                layers.append(alt.Chart(part).mark_text(align=align, dx=4 if align == "left" else -4, fontSize=11,
                                                        fontWeight="bold").encode(
                    x=alt.X("x:Q", scale=x_scale), y="y:Q", text="label:N",
                    color=alt.Color("kind:N", scale=kinds, legend=None)))
    return alt.layer(*layers).properties(width=WIDTH, height=height)


def _bin_tip(row, integer: bool) -> str:
    if row.edge == "below":
        return f"below {number_text(row.bin_hi)} (under the 0.5th percentile)"
    if row.edge == "above":
        return f"above {number_text(row.bin_lo)} (over the 99.5th percentile)"
    if integer and row.bin_hi - row.bin_lo == 1:
        return number_text(row.bin_lo)
    if integer:
        return f"{number_text(row.bin_lo)} to {number_text(row.bin_hi - 1)}"
    return f"{row.bin_lo:,.4g} to {row.bin_hi:,.4g}"


def drop_reasons(df: pd.DataFrame, *, facet: bool = False) -> alt.Chart | alt.FacetChart:
    """Horizontal bars from `queries.grouped_reasons`: per reason the documents it was the first failing
    rule for (pale) and, inside, those it drops alone (solid); one colour per family, counts on the bars.
    `facet`: one panel per slice (a `slice` column), for the report that shows them all."""
    frame = df.assign(order=df.groupby("slice").cumcount() if "slice" in df.columns else range(len(df)), text=[
        f"{int(f):,}" + ("" if pd.isna(a) else f" · {int(a):,} alone") for f, a in zip(df["first"], df["alone"])],
        alone=df["alone"].fillna(0))
    colours = family_colours(list(frame["family"]))
    colour = alt.Color("family:N", title="family", scale=alt.Scale(domain=list(colours), range=list(colours.values())),
                       legend=alt.Legend(orient="bottom", columns=4, labelLimit=0, symbolLimit=0, symbolOpacity=1))
    # The bars' order is in the value itself ("03 near_duplicate", the prefix cut from the axis label):
    # Vega-Lite drops a field sort shared by layers in a facet, and an explicit list is one for all panels.
    frame["key"] = [f"{i:02d} {label}" for i, label in zip(frame["order"], frame["label"])]
    y = alt.Y("key:N", sort="ascending", title=None,
              axis=alt.Axis(labelExpr="substring(datum.label, 3)", labelLimit=0))
    top = float(frame["first"].max() or 1) * 1.35  # room for the labels
    x_scale = alt.Scale(domain=[0, top], nice=False)
    tooltip = [alt.Tooltip("label:N", title="reason"), "family:N",
               alt.Tooltip("first:Q", title="first failing rule for", format=","),
               alt.Tooltip("alone:Q", title="drops alone", format=",")]
    base = alt.Chart().encode(y=y)
    layers = alt.layer(
        base.mark_bar(opacity=0.45).encode(x=alt.X("first:Q", title="dropped documents (pale: first failing rule; "
                                                              "solid: no other rule drops them)", scale=x_scale),
                                           color=colour, tooltip=tooltip),
        base.mark_bar().encode(x=alt.X("alone:Q", scale=x_scale), color=colour, tooltip=tooltip),
        base.mark_text(align="left", dx=4, fontSize=11).encode(x=alt.X("first:Q", scale=x_scale), text="text:N"),
        data=frame,
    )
    if facet:
        return layers.properties(width=WIDTH, height=alt.Step(20)).facet(
            row=alt.Row("slice:N", title=None, sort=list(dict.fromkeys(frame["slice"])),
                        header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold")),
            title="Why each slice drops what it drops").resolve_scale(y="independent")
    return layers.properties(width=WIDTH, height=alt.Step(22))


KEPT_COLOURS = {"wiped": "background-color: #f4a6a6; font-weight: bold", "low": "background-color: #fbd9a6"}


def kept_styler(table: pd.DataFrame, overall: dict[str, float]):
    """`queries.kept_table` as a pandas Styler (st.dataframe and the HTML report take it): shares as
    percentages, a group a slice keeps none of red, one under half the slice's overall share orange;
    every group name escaped."""
    slices = [c for c in overall if c in table.columns]

    def colour(col: pd.Series) -> list[str]:
        return [KEPT_COLOURS.get(kept_mark(v, overall[col.name]), "") for v in col]

    return (table.style.hide(axis="index")
            .format({**{c: "{:.1%}" for c in slices}, "documents": "{:,}", "≈ tokens": "{:,}"}, na_rep="–")
            .format(escape="html", subset=["group"])  # after the numbers: a second dict would reset them
            .apply(colour, subset=slices))


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
    """Documents left after each rule, in the order the recipe tests them: the waterfall's rows, each
    dropping step with the documents that rule drops alone (no other rule of the settings fails them)."""
    pad = outcome.n_documents * 1.45  # room right of the longest bar for its label
    rows = [{"step": "all documents", "order": 0, "start": outcome.n_documents, "end": 0,
             "documents": outcome.n_documents, "alone": None, "kind": "total",
             "label": f"{outcome.n_documents:,}", "pad": pad}]
    before = outcome.n_documents
    for i, step in enumerate(outcome.waterfall, start=1):
        if step.dropped == 0 and step.reason == "not_scored":
            continue
        rows.append({"step": step.reason, "order": i, "start": before, "end": step.remaining,
                     "documents": -step.dropped, "alone": step.alone, "kind": "dropped",
                     "label": f"−{step.dropped:,} · {step.alone:,} only this rule", "pad": pad})
        before = step.remaining
    rows.append({"step": "kept", "order": len(rows) + 1000, "start": outcome.n_kept, "end": 0,
                 "documents": outcome.n_kept, "alone": None, "kind": "total", "label": f"{outcome.n_kept:,}",
                 "pad": pad})
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
    base = alt.Chart().encode(
        y=alt.Y("step:N", sort=alt.EncodingSortField("order"), title=None, axis=alt.Axis(labelLimit=280)))
    bars = base.mark_bar().encode(
        x=alt.X("start:Q", title="documents"),
        x2="end:Q",
        color=alt.Color("kind:N", scale=alt.Scale(domain=["total", "dropped"], range=["#4c78a8", "#e45756"]),
                        legend=None),
        tooltip=["step:N", "documents:Q", alt.Tooltip("alone:Q", title="drops only this rule"),
                 alt.Tooltip("end:Q", title="left after step")],
    )
    labels = base.mark_text(align="left", dx=4, fontSize=11).encode(x="start:Q", text="label:N")
    room = base.mark_point(opacity=0).encode(x="pad:Q")
    chart = alt.layer(bars, labels, room, title="Drop-reason waterfall (first failing rule, in rule order)"
                      ).properties(width=WIDTH)
    spec = chart.to_dict()
    for part in (spec, *spec["layer"]):  # Altair's placeholder for the rows
        for key in ("data", "datasets"):
            part.pop(key, None)
    return spec


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
