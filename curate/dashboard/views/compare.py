"""Slice comparison: what the models trained on each slice score, against the slice's settings,
and their generations side by side (`?slice=` picks the first slice shown)."""
from __future__ import annotations

import streamlit as st

from curate.dashboard import charts
from curate.dashboard import params as qp
from curate.dashboard.highlight import md_literal
from curate.dashboard.queries import (
    GENERATION_METRICS,
    comparison,
    generations_for_prompt,
    prompts,
    slice_settings,
    train_results,
)
from curate.dashboard.reads import Store
from curate.dashboard.widgets import init

TITLE = "Slice comparison"
URL_PATH = "compare"


def render(s: Store, p: qp.Params) -> None:
    st.header("Slice comparison")
    runs = s.read(train_results)
    if runs.empty:
        st.info("No train results yet: train models on slices with `curate train --slice NAME …` "
                "(or run `curate demo` without `--no-train`). The settings of each built slice:")
        settings = s.read(slice_settings)
        if not settings.empty:
            st.dataframe(settings[["slice_id", "documents_kept", "kept_share", "rules", "exact_dedup",
                                   "near_threshold", "settings"]], hide_index=True, width="stretch")
        return
    comp = s.read(comparison)
    st.altair_chart(charts.bpb_by_slice(runs), width="stretch")
    metrics = [m for m in ("bpb", *GENERATION_METRICS) if m in comp and comp[m].notna().any()]
    skip = {"seeds", "tokens", "bpb_sd", "bpb_min", "bpb_max", *GENERATION_METRICS, "bpb"}
    settings_cols = [c for c in comp.columns if c not in skip and comp[c].dtype.kind in "fiub"
                     and comp[c].notna().any()]
    c1, c2 = st.columns(2)
    setting = c1.selectbox("Setting", settings_cols, key="cmp_setting",
                           index=settings_cols.index("kept_share") if "kept_share" in settings_cols else 0)
    metric = c2.selectbox("Metric", metrics, key="cmp_metric")
    if setting and metric:
        st.altair_chart(charts.metric_against_setting(comp, setting, metric), width="stretch")
    st.dataframe(comp, hide_index=True, width="stretch")

    st.subheader("Generations side by side")
    prompt_rows = s.read(prompts)
    if not prompt_rows:
        st.info("These models have no stored generations.")
        return
    labels = {no: f"{no}: {prompt[:80]}" + (f" ({kind})" if kind else "") for no, prompt, kind in prompt_rows}
    prompt_no = st.selectbox("Prompt", list(labels), format_func=labels.get, key="cmp_prompt")
    trained = list(dict.fromkeys(runs["slice_id"]))
    init("cmp_slices", ([p.slice_id] if p.slice_id in trained else []) + [t for t in trained if t != p.slice_id][:2])
    chosen = st.multiselect("Slices", trained, key="cmp_slices")
    gens = s.read(generations_for_prompt, prompt_no, chosen)
    if chosen:
        st.markdown(f"**Prompt:** {md_literal(dict((n, pr) for n, pr, _ in prompt_rows)[prompt_no])}")
        for col, sid in zip(st.columns(len(chosen)), chosen):
            with col:
                st.markdown(f"**{md_literal(sid)}**")
                for _, row in gens[gens.slice_id == sid].iterrows():
                    junk = " — junk" if row["junk"] else ""
                    quality = "" if row["quality"] is None else f" — quality {row['quality']:.2f}"
                    st.caption(f"seed {row['seed']}{quality}{junk}")
                    st.text(row["sample"])
