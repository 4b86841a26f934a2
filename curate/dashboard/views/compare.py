"""Slice comparison: what cleaning did to the models. Each slice's models against the models
of `raw`, every difference with its spread over seeds and a verdict in words (beyond noise,
within noise, one seed, too small to judge); then the generations, legibly (`?slice=` picks
the first slice shown). The statistics are in `curate.comparison`, the reads and charts in
`curate.dashboard.comparison`."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from curate import comparison as verdicts
from curate.dashboard import charts
from curate.dashboard import comparison as cmp
from curate.dashboard import params as qp
from curate.dashboard.highlight import md_literal
from curate.dashboard.queries import slice_settings
from curate.dashboard.reads import Store
from curate.dashboard.widgets import init

TITLE = "Slice comparison"
URL_PATH = "compare"

METHOD = (
    "**How to read this.** A difference is a slice's mean over its seeds minus the baseline's; ± is "
    "half the 95% interval (Welch's t over the seeds of both slices). *Within noise*: the interval "
    "covers 0 (or the difference is under twice its standard deviation), so other seeds could reverse "
    "the sign. *Beyond noise*: neither. With one "
    "seed on a side no spread can be computed. *Too small to judge*: the gap may be real, but the "
    "models saw fewer tokens than they have parameters, or score within "
    f"{verdicts.UNIGRAM_MARGIN:.0%} of a unigram model of the validation text, or (for the generation "
    f"metrics) at least {verdicts.JUNK_CEILING:.0%} of every slice's samples are junk: they have not "
    "learned enough for the difference to say what the data is worth. Every verdict says first whether the "
    "difference is beyond or within the seed spread and which way (better or worse; higher or lower where "
    "neither side is better: bits/byte on held-out junk, which a model finds predictable when it has learned "
    "that junk). *Held-out* documents (5% of the corpus's texts, by text hash) are left out of every slice's "
    "training data and grouped by the rule family the strict recipe drops them by; *exposure* is the held-out "
    "clean bits/byte minus the bits/byte of training documents the corpus holds k times."
)


def _box(j: verdicts.Judgement) -> None:
    text = md_literal(j.sentence())  # slice names come from recipes: never Markdown
    if j.too_small or j.difference is None or j.difference.noise != verdicts.BEYOND:
        st.warning(text)
    elif j.better is None:
        st.info(text)
    elif j.better:
        st.success(text)
    else:
        st.error(text)


def render(s: Store, p: qp.Params) -> None:
    st.header("Slice comparison")
    runs = s.read(cmp.train_runs)
    if runs.empty:
        st.info("No train results yet: train models on slices with `curate train --slice NAME …` "
                "(or run `curate demo` without `--no-train`). The settings of each built slice:")
        settings = s.read(slice_settings)
        if not settings.empty:
            st.dataframe(settings[["slice_id", "documents_kept", "kept_share", "rules", "exact_dedup",
                                   "near_threshold", "settings"]], hide_index=True, width="stretch")
        return

    options = cmp.setups(runs)
    setup = options[0] if len(options) == 1 else st.selectbox(
        "Training setup", options, key="cmp_setup",
        help="Only models trained alike (preset, token budget, validation text) are compared.")
    runs = runs[runs["setup"] == setup].reset_index(drop=True)
    kept = dict(zip(runs["slice"], runs["documents_kept"]))
    baseline, note = verdicts.pick_baseline(kept)
    val_texts = runs["val_text"].dropna().unique()
    recorded = runs["unigram_bpb"].dropna()  # recorded at training time, else measured here
    unigram = float(recorded.iloc[0]) if len(recorded) else (
        s.read(cmp.unigram_bpb, str(val_texts[0])) if len(val_texts) == 1 else None)
    models = cmp.runs_of(runs)
    judgements = verdicts.judge(models, baseline, unigram_bpb=unigram)
    caveats = verdicts.caveats(models, unigram)

    st.caption(md_literal(f"{len(runs)} models ({setup}), compared with {baseline}"
                          + (f"; a unigram model of the validation text scores {unigram:.2f} bits/byte"
                             if unigram else "") + "."))
    if note:
        st.warning(md_literal(note))
    for j in judgements:
        if j.metric.key == "bpb":
            _box(j)
    if caveats.generations and not caveats.models:
        st.warning(md_literal(f"Generation metrics are too small to judge: {caveats.generations.text}."))
    if len(kept) == 1:
        st.warning(md_literal(f"Only {baseline} has trained models here: train another slice to compare, "
                              f"e.g. curate train --slice {baseline} --slice strict."))
    elif not any(j.metric.key == "bpb" for j in judgements):
        st.warning("These models have no bits/byte on the validation text to compare.")

    main = [j for j in judgements if j.metric.key in verdicts.MAIN_METRICS]
    if main:
        # a static table: it wraps to the page's width instead of scrolling; its cells render
        # Markdown, so each goes through md_literal
        st.table(cmp.table(main, baseline).map(md_literal).style.hide(axis="index"), border="horizontal")
        st.caption(md_literal(f"difference: this slice − {baseline}, ± half its 95% interval over seeds (shares in "
                              f"percentage points); seeds: models of this slice / of {baseline}."))

    _exposure(runs, judgements)

    metrics = [m.key for m in verdicts.METRICS if m.key in runs and runs[m.key].notna().any()]
    metric = st.selectbox("Metric", metrics, key="cmp_metric",
                          help="bpb: bits per byte of the clean validation text (lower is better)")
    data = cmp.chart_data(judgements, metric) if metric else None
    if data is not None and not data.empty:
        st.altair_chart(cmp.difference_chart(data, metric, baseline), width="stretch")

    with st.expander("Details: every model, absolute values, all metrics, the slices' settings"):
        st.markdown(METHOD)
        if metric:
            st.altair_chart(cmp.absolute_chart(runs, metric), width="stretch")
        extra = [j for j in judgements if j.metric.key not in verdicts.MAIN_METRICS]
        if extra:
            st.table(cmp.table(extra, baseline).map(md_literal).style.hide(axis="index"), border="horizontal")
        st.dataframe(runs[["slice", "seed", "tokens", "n_params", *metrics, "train_run_id"]], hide_index=True,
                     width="stretch", column_config={m: st.column_config.NumberColumn(format="%.3f") for m in metrics})
        _settings_scatter(s, runs, metrics)

    _generations(s, p, runs)


def _exposure(runs, judgements: list[verdicts.Judgement]) -> None:
    """Memorization by likelihood: each slice's exposure per copy count, and the verdict of the
    largest copy count measured."""
    table = cmp.exposure_means(runs)
    if table.empty:
        return
    st.subheader("Memorization by likelihood")
    st.caption("Exposure, in bits/byte: the held-out clean text's bits/byte minus that of training documents the "
               "corpus holds k times (both clean by the strict recipe, no slice trains on the held-out ones). "
               "About 0: the model does not tell them apart from text it never saw; more: it has learned them. "
               "Mean ± sd over seeds. Deduplication should lower it, more copies raise it (Lee et al. 2022).")
    st.table(table.map(md_literal).style.hide(axis="index"), border="horizontal")
    exposure = [j for j in judgements if j.metric.kind == "exposure" and j.difference is not None]
    if exposure:
        top = max(exposure, key=lambda j: verdicts.COPY_BINS.index(j.metric.key.removeprefix("exposure_")))
        for j in exposure:
            if j.metric.key == top.metric.key:
                _box(j)


def _settings_scatter(s: Store, runs, metrics: list[str]) -> None:
    """One point per slice: a setting that made it against what its models did."""
    settings = s.read(slice_settings)
    if settings.empty or not metrics:
        return
    means = runs.groupby(["slice_id", "slice"], as_index=False)[metrics].mean()
    means["seeds"] = runs.groupby(["slice_id", "slice"])["seed"].count().values
    comp = means.merge(settings.drop(columns=["slice"]), on="slice_id", how="left")
    skip = {"seeds", *metrics}
    cols = [c for c in comp.columns if c not in skip and comp[c].dtype.kind in "fiub" and comp[c].notna().any()]
    if not cols:
        return
    c1, c2 = st.columns(2)
    setting = c1.selectbox("Setting", cols, key="cmp_setting",
                           index=cols.index("kept_share") if "kept_share" in cols else 0)
    against = c2.selectbox("against", metrics, key="cmp_against")
    if setting and against:
        st.altair_chart(charts.metric_against_setting(comp, setting, against), width="stretch")


def _generations(s: Store, p: qp.Params, runs) -> None:
    st.subheader("Generations side by side")
    run_ids = tuple(runs["train_run_id"])
    prompt_rows = s.read(cmp.prompts, run_ids)
    if not prompt_rows:
        st.caption("These models have no stored generations.")
        return
    warning = cmp.samples_caveat(s.read(cmp.generation_health, run_ids))
    if warning:
        st.warning(md_literal(warning))
    labels = {no: f"{no}: {cmp.legible(prompt, 80)}" + (f" ({kind})" if kind else "")
              for no, prompt, kind in prompt_rows}
    prompt_no = st.selectbox("Prompt", list(labels), format_func=labels.get, key="cmp_prompt")
    trained = list(dict.fromkeys(runs["slice"]))
    by_id = dict(zip(runs["slice_id"], runs["slice"]))
    first = by_id.get(p.slice_id)
    if "cmp_slices" in st.session_state:  # another training setup: keep only its slices
        st.session_state["cmp_slices"] = [c for c in st.session_state["cmp_slices"] if c in trained]
    init("cmp_slices", ([first] if first else []) + [t for t in trained if t != first][: 3 - bool(first)])
    chosen = [c for c in st.multiselect("Slices", trained, key="cmp_slices") if c in trained]
    if not chosen:
        return
    st.markdown(f"**Prompt:** {md_literal(cmp.legible(dict((n, pr) for n, pr, _ in prompt_rows)[prompt_no]))}")
    st.caption("Shown as plain text: line breaks as ⏎, runs of spaces as one, invisible characters as ⟨U+XXXX⟩; "
               "� is a replacement character the model wrote (bytes that are not UTF-8).")
    gens = s.read(cmp.samples, prompt_no, run_ids).merge(runs[["train_run_id", "slice", "seed"]], on="train_run_id")
    for col, name in zip(st.columns(len(chosen)), chosen):
        with col:
            st.markdown(f"**{md_literal(name)}**")
            with st.container(height=320):
                for _, row in gens[gens["slice"] == name].sort_values("seed").iterrows():
                    junk = " — junk" if row["junk"] else ""
                    quality = "" if pd.isna(row["quality"]) else f" — quality {row['quality']:.2f}"
                    st.caption(f"seed {row['seed']}{quality}{junk}")
                    st.text(cmp.legible(row["sample"]))
