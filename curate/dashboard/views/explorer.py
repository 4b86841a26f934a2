"""Settings explorer: filter rules and dedup settings against the whole store, live, and the
result saved as a recipe (`?threshold=` seeds the near-duplicate threshold).

A fragment: a move of one of its widgets reruns this page alone, from caches and its
in-memory frame, not the whole script.
"""
from __future__ import annotations

import streamlit as st

from curate.dashboard import charts
from curate.dashboard import params as qp
from curate.dashboard.explorer import Settings, categories, rule_from_range, save_recipe, signal_ranges
from curate.dashboard.highlight import md_code, samples_html
from curate.dashboard.queries import recipe_yaml, slices
from curate.dashboard.reads import Store
from curate.dashboard.source import StoreUnavailable
from curate.dashboard.widgets import init, set_param, signal_label
from curate.recipes import RecipeError, Rule, load_recipe, parse_recipe, shipped_recipe_names
from curate.signals import REGISTRY

TITLE = "Settings explorer"
URL_PATH = "explorer"
DEFAULT_SIGNALS = ("gopher_word_count", "gopher_alpha_word_frac", "gopher_dup_line_frac", "quality")


@st.fragment
def render(s: Store, p: qp.Params) -> None:
    try:
        _explorer(s.current(), p)
    except StoreUnavailable as exc:  # the page catches it on a full run, not on a fragment's own rerun
        st.info(str(exc))


def _load_preset(s: Store, ranges: dict, langs: list[str]) -> None:
    """on_change of 'Start from': copy a recipe's rules into the explorer's widgets."""
    choice = st.session_state.get("ex_preset")
    try:
        if choice.startswith("slice: "):
            text = s.read(recipe_yaml, choice[len("slice: "):])
            recipe = parse_recipe(text, origin=choice) if text else None
        elif choice.startswith("recipe: "):
            recipe = load_recipe(choice[len("recipe: "):])
        else:
            recipe = None
    except RecipeError as exc:
        st.session_state["ex_error"] = str(exc)
        return
    rules = recipe.rules if recipe else ()
    chosen = []
    st.session_state["ex_lang"] = []
    for r in rules:
        if r.allow is not None and r.signal == "lang":
            st.session_state["ex_lang"] = [x for x in r.allow if x in langs]
        elif r.signal in ranges:
            rng = ranges[r.signal]
            lo = rng.lo if r.min is None else min(max(r.min, rng.lo), rng.hi)
            hi = rng.hi if r.max is None else max(min(r.max, rng.hi), rng.lo)
            st.session_state[f"ex_{r.signal}"] = _slider_value(rng, lo, hi)
            chosen.append(r.signal)
    st.session_state["ex_signals"] = chosen
    st.session_state["ex_exact"] = bool(recipe and recipe.dedup.exact)
    near = recipe.dedup.near_threshold if recipe else None
    st.session_state["ex_threshold"] = near if near in st.session_state.get("ex_thresholds", ()) else "off"


def _slider_value(rng, lo: float, hi: float):
    if rng.dtype == "BIGINT":
        return (int(round(lo)), int(round(hi)))
    return (float(lo), float(hi))


def _explorer(s: Store, p: qp.Params) -> None:
    st.header("Settings explorer")
    frame = s.frame()
    if frame.n_documents == 0:
        st.info("The store has no documents yet: run `curate ingest PATH…` or `curate demo`.")
        return
    if not frame.signals:
        st.info("No signals yet: run `curate score` first; every document counts as not scored.")
    ranges = s.read(signal_ranges, list(frame.signals))
    langs = [v for v, _ in s.read(categories, "lang")] if "lang" in frame.signals else []
    thresholds = list(frame.thresholds)
    st.session_state["ex_thresholds"] = thresholds
    init("ex_threshold", p.threshold)
    init("ex_signals", [n for n in DEFAULT_SIGNALS if n in ranges])

    controls, results = st.columns([2, 3])
    with controls:
        presets = ["(no filters)", *(f"recipe: {n}" for n in shipped_recipe_names()),
                   *(f"slice: {i}" for i in s.read(slices)["slice_id"])]
        st.selectbox("Start from", presets, key="ex_preset", on_change=_load_preset, args=(s, ranges, langs))
        if "ex_error" in st.session_state:
            st.error(st.session_state.pop("ex_error"))
        rules: list[Rule] = []
        if langs:
            allow = st.multiselect("Keep languages (empty = all)", langs, key="ex_lang")
            if allow:
                rules.append(Rule("lang", allow=tuple(allow)))
        chosen = st.multiselect("Filter on signals (in this order)", list(ranges), key="ex_signals",
                                format_func=signal_label)
        for name in chosen:
            rng = ranges[name]
            sig = REGISTRY.get(name)
            lo = rng.lo if sig.default_min is None else min(max(sig.default_min, rng.lo), rng.hi)
            hi = rng.hi if sig.default_max is None else max(min(sig.default_max, rng.hi), rng.lo)
            init(f"ex_{name}", _slider_value(rng, lo, hi))
            if rng.lo == rng.hi:
                st.caption(f"{name}: every document has {rng.lo:g}; nothing to filter")
                continue
            kwargs = {} if rng.dtype == "BIGINT" else {"step": (rng.hi - rng.lo) / 200, "format": "%.3g"}
            lo_v, hi_v = st.slider(name, min_value=_slider_value(rng, rng.lo, rng.hi)[0],
                                   max_value=_slider_value(rng, rng.lo, rng.hi)[1], key=f"ex_{name}",
                                   help=sig.meaning, **kwargs)
            rule = rule_from_range(name, lo_v, hi_v, rng)
            if rule is not None:
                rules.append(rule)
        exact = st.checkbox("Drop exact duplicates (keep the best copy)", key="ex_exact")
        near = "off"
        if thresholds:
            near = st.select_slider("Near-duplicate threshold (Jaccard)", ["off", *thresholds], key="ex_threshold")
        else:
            st.caption("No near-duplicate clusters in this store: run `curate dedup` to enable.")
        set_param("threshold", None if near == "off" else near)
    settings = Settings(tuple(rules), exact, None if near == "off" else float(near))

    out = frame.explore(settings)
    with results:
        m1, m2, m3 = st.columns(3)
        m1.metric("surviving documents", f"{out.n_kept:,}", help=f"of {out.n_documents:,} documents")
        m2.metric("surviving tokens (≈ bytes/4)", f"{out.kept_tokens:,}", help=f"of {out.total_tokens:,} tokens")
        m3.metric("kept share", f"{out.n_kept / out.n_documents:.1%}" if out.n_documents else "-")
        st.caption(f"{out.n_dropped:,} of {out.n_documents:,} documents dropped; "
                   f"{out.kept_tokens:,} of {out.total_tokens:,} tokens kept "
                   f"({out.kept_tokens / out.total_tokens:.1%})" if out.total_tokens else "nothing to keep")
        st.vega_lite_chart(charts.waterfall_data(out), charts.waterfall_spec(), width="stretch")
        with st.expander("waterfall as a table"):
            st.dataframe([{"reason": w.reason, "dropped": w.dropped, "drops only this rule": w.alone,
                           "dropped ≈ tokens": w.dropped_bytes // 4, "left after": w.remaining}
                          for w in out.waterfall], hide_index=True, key="ex_waterfall")
        st.caption("dropped: documents this rule was the first to fail, in the recipe's order; drops only this "
                   "rule: those no other rule fails, which the settings would keep without it.")
        kept_col, dropped_col = st.columns(2)
        for col, kept in ((kept_col, True), (dropped_col, False)):
            picked = frame.pick(settings, kept=kept, limit=5)
            with col:
                st.markdown(f"**{'Kept' if kept else 'Dropped'} (sample)**")
                if picked:
                    st.html(samples_html(picked))
                else:
                    st.caption("none")

        st.subheader("Save as a recipe")
        recipe = settings.to_recipe(st.session_state.get("ex_name") or "explorer",
                                    "saved from the settings explorer")
        text = recipe.to_yaml()
        st.code(text, language="yaml")
        name = st.text_input("Recipe name", key="ex_name", max_chars=64,
                             help="letters, digits, '-' and '_'; saved under the store's folder, in recipes/")
        overwrite = st.checkbox("Overwrite an existing file", key="ex_overwrite")
        c1, c2 = st.columns(2)
        if c1.button("Save recipe", key="ex_save", disabled=not name):
            try:
                path = save_recipe(settings, name, s.db.parent, overwrite=overwrite)
                st.success(f"saved {md_code(path)} — build it with {md_code(f'curate slice {path}')}")
            except (ValueError, FileExistsError, OSError) as exc:
                st.error(str(exc))
        c2.download_button("Download YAML", text, file_name=f"{name or 'explorer'}.yaml",
                           mime="application/yaml", key="ex_download")
