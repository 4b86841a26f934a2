"""The curate dashboard: corpus audit, settings explorer, slice comparison, validation, runs.

    curate app [--db PATH]          (or: streamlit run app.py -- --db PATH)

Thin by design: every query and computation lives in `curate.dashboard` (tested there).
The store is opened read-only per query and never held; while a job holds it, the pages
read the snapshot the last successful run published and say so. Which of the two to read is
decided again when a file changes, and by a full rerun at least every PROBE_TTL_S. The settings
explorer is a fragment: a slider move reruns it alone, from caches and its in-memory frame.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from curate.dashboard import charts, queries
from curate.dashboard import params as qp
from curate.dashboard.explorer import (
    ExplorerFrame,
    Settings,
    categories,
    dup_thresholds,
    rule_from_range,
    save_recipe,
    signal_ranges,
)
from curate.dashboard.highlight import highlight_html, md_code, md_literal, offending_lines, samples_html
from curate.dashboard.source import StoreUnavailable, StoreView, ViewChanged, file_stats, probe, read_store
from curate.recipes import RecipeError, Rule, load_recipe, parse_recipe, shipped_recipe_names
from curate.signals import REGISTRY

# Read functions the cache may call, by name: nothing else runs against the store.
READS = {
    "overview": queries.overview, "sources": queries.sources, "languages": queries.languages,
    "histogram": queries.signal_histogram, "slices": queries.slices, "drop_reasons": queries.drop_reasons,
    "cluster_sizes": queries.cluster_sizes, "examples": queries.examples, "document": queries.document,
    "quarantine": queries.quarantine, "quarantine_by_error": queries.quarantine_by_error, "runs": queries.runs,
    "validations": queries.validations, "validation_checks": queries.validation_checks,
    "train_results": queries.train_results, "comparison": queries.comparison,
    "slice_settings": queries.slice_settings, "prompts": queries.prompts,
    "generations": queries.generations_for_prompt, "signal_columns": queries.signal_columns,
    "thresholds": dup_thresholds, "ranges": signal_ranges, "categories": categories,
    "recipe_yaml": lambda con, sid: (con.execute(
        "SELECT r.yaml FROM slices s JOIN recipes r USING (recipe_id) WHERE s.slice_id = ?", [sid]).fetchall()
        or [[None]])[0][0],
}
DEFAULT_EXPLORER_SIGNALS = ("gopher_word_count", "gopher_alpha_word_frac", "gopher_dup_line_frac", "quality")
# A job's DuckDB lock shows in no file stat until the job writes, so a probe is trusted this long
# at most; a read that finds the store taken in between reruns the page at once (Store._read).
PROBE_TTL_S = 5.0


def store_path() -> Path:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--db", default=None)
    args, _ = ap.parse_known_args(sys.argv[1:])
    return Path(args.db or os.environ.get("CURATE_DB") or "curate.duckdb")


@st.cache_data(ttl=PROBE_TTL_S, show_spinner=False, max_entries=16)
def _probe(db: str, stats: tuple) -> StoreView:
    """`probe` again only when a file changed or PROBE_TTL_S passed: it opens the store, the
    costliest step of a rerun that hits every other cache (40-90 ms at 100k documents)."""
    return probe(db)


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(db: str, path: str, fingerprint: tuple, name: str, *args):
    with read_store(db, expect=path) as (con, _):
        return READS[name](con, *args)


@st.cache_resource(show_spinner="loading the signals for the explorer…", max_entries=2)
def _frame(db: str, path: str, fingerprint: tuple) -> ExplorerFrame:
    with read_store(db, expect=path) as (con, _):
        return ExplorerFrame(con)


class Store:
    """The store as this rerun sees it: every read cached until a file changes."""

    def __init__(self, db: Path):
        self.db = db
        self.stats = file_stats(db)
        self.view = _probe(str(db), self.stats)

    def __call__(self, name: str, *args):
        return self._read(_cached, name, *args)

    def frame(self) -> ExplorerFrame:
        return self._read(_frame)

    def _read(self, fn, *args):
        try:
            return fn(str(self.db), str(self.view.path), self.view.fingerprint, *args)
        except ViewChanged:
            _probe.clear()
            st.rerun()  # a job took or freed the store since the probe: the whole page again, with its notice

    def current(self) -> Store:
        """This store if no file changed since its probe, else a fresh probe of it.

        A fragment rerun gets the Store of the page's last full run; when the fresh probe reads
        another file (a job began, or ended), the whole page runs again, so that its notice is right.
        """
        if file_stats(self.db) == self.stats:
            return self
        try:
            fresh = Store(self.db)
        except StoreUnavailable:
            st.rerun()  # the full page says why
        if fresh.view.path != self.view.path:
            st.rerun()
        return fresh


def _init(key: str, value) -> None:
    """Seed a widget's state once (from the URL), then let the widget own it."""
    if key not in st.session_state and value is not None:
        st.session_state[key] = value


def _set_param(key: str, value) -> None:
    if value is None:
        st.query_params.pop(key, None)
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)


def _signal_label(name: str) -> str:
    return f"{name} — {REGISTRY.get(name).meaning}" if name in REGISTRY else name


# --- pages -------------------------------------------------------------------------------------


def page_audit(s: Store, p: qp.Params) -> None:
    st.header("Corpus audit")
    ov = s("overview")
    cols = st.columns(6)
    for col, (label, value) in zip(cols, (("sources", ov.sources), ("documents", ov.documents),
                                          ("≈ tokens (bytes/4)", ov.tokens), ("quarantined", ov.quarantined),
                                          ("scored", ov.scored), ("slices", ov.slices))):
        col.metric(label, f"{value:,}")
    if ov.documents == 0 and ov.quarantined == 0:
        st.info("The store has no documents yet: run `curate ingest PATH…` or `curate demo`.")
        return
    st.subheader("Sources")
    st.dataframe(s("sources"), hide_index=True, width="stretch")

    left, right = st.columns(2)
    langs = s("languages")
    with left:
        if langs.empty:
            st.info("No language scores yet: run `curate score`.")
        else:
            st.altair_chart(charts.languages(langs), width="stretch")
    with right:
        clusters = s("cluster_sizes")
        if clusters.empty:
            st.info("No near-duplicate clusters yet: run `curate dedup`.")
        else:
            st.altair_chart(charts.cluster_sizes(clusters), width="stretch")

    st.subheader("Signal distributions")
    numeric = [n for n in s("signal_columns") if REGISTRY.get(n).dtype != "VARCHAR"]
    if numeric:
        name = st.selectbox("Signal", numeric, format_func=_signal_label, key="audit_signal")
        sig = REGISTRY.get(name)
        hist = s("histogram", name)
        if hist.empty:
            st.info(f"No document has a value for {name}.")
        else:
            st.altair_chart(charts.histogram(hist, name, sig.default_min, sig.default_max), width="stretch")
        st.caption(f"{sig.meaning}. Source: {sig.source}. "
                   + ("Red lines: the published default bounds." if sig.has_default else "No published default."))

    st.subheader("Drop reasons per recipe")
    reasons = s("drop_reasons")
    if reasons.empty:
        st.info("No slices built yet: run `curate slice RECIPE`.")
    else:
        st.altair_chart(charts.drop_reasons(reasons), width="stretch")
        _examples(s, p)

    doc_id = st.text_input("Open a document by id", value=p.doc_id or "", key="audit_doc", max_chars=200).strip()
    if doc_id:
        _document(s, doc_id)

    st.subheader("Quarantine")
    quarantine = s("quarantine")
    if quarantine.empty:
        st.success("No record was quarantined.")
    else:
        st.altair_chart(charts.quarantine_by_error(s("quarantine_by_error")), width="stretch")
        st.dataframe(quarantine, hide_index=True, width="stretch")


def _examples(s: Store, p: qp.Params) -> None:
    st.subheader("Example dropped documents")
    sl = s("slices")
    ids = list(sl["slice_id"])
    _init("slice", p.slice_id)
    c1, c2 = st.columns(2)
    slice_id = c1.selectbox("Slice", ids, key="slice",
                            format_func=lambda i: f"{i} ({int(sl.loc[sl.slice_id == i, 'n_dropped'].iloc[0]):,} dropped)")
    _set_param("slice", slice_id)
    reasons = s("drop_reasons", slice_id)
    options = ["(any reason)", *reasons["reason"]]
    reason = c2.selectbox("Reason", options, key="audit_reason")
    rows = s("examples", slice_id, None if reason == "(any reason)" else reason, 5)
    if not rows:
        st.info("This slice drops nothing.")
    for row in rows:
        lines = offending_lines(row["text"], row["reason"])
        with st.expander(f"{md_literal(row['doc_id'])} — {md_literal(row['reason'])}"
                         + (f" — {len(lines)} offending line(s) marked" if lines else "")):
            st.html(highlight_html(row["text"], lines))
            st.caption(f"link: {md_code('?page=audit&doc=' + str(row['doc_id']))}")


def _document(s: Store, doc_id: str) -> None:
    doc = s("document", doc_id)
    if doc is None:
        st.warning(f"No document {qp.shown(doc_id)} in this store.")
        return
    _set_param("doc", doc_id)
    st.markdown(f"**Document {md_code(doc['doc_id'])}** — source {md_code(doc['source_id'])}, "
                f"record {md_literal(doc['record_no'])}, {doc['n_bytes']:,} bytes")
    decisions = doc["decisions"]
    dropped = [d for d in decisions if not d[2]]
    if decisions:
        st.dataframe([{"slice": n, "slice_id": sid, "kept": k, "reason": r} for n, sid, k, r in decisions],
                     hide_index=True)
    reason = dropped[0][3] if dropped else None
    st.html(highlight_html(doc["text"], offending_lines(doc["text"], reason)))
    if reason:
        st.caption(f"marked: lines counted against {md_code(reason)} (slice {md_literal(dropped[0][1])})")
    with st.expander("signals"):
        st.dataframe([{"signal": k, "value": v} for k, v in doc["signals"].items()], hide_index=True)


def _load_preset(s: Store, ranges: dict, langs: list[str]) -> None:
    """on_change of 'Start from': copy a recipe's rules into the explorer's widgets."""
    choice = st.session_state.get("ex_preset")
    try:
        if choice.startswith("slice: "):
            text = s("recipe_yaml", choice[len("slice: "):])
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


@st.fragment
def page_explorer(s: Store, p: qp.Params) -> None:
    """A fragment: a move of one of its widgets reruns this page alone, not the whole script."""
    try:
        _explorer(s.current(), p)
    except StoreUnavailable as exc:  # main() catches it on a full run, not on a fragment's own rerun
        st.info(str(exc))


def _explorer(s: Store, p: qp.Params) -> None:
    st.header("Settings explorer")
    frame = s.frame()
    if frame.n_documents == 0:
        st.info("The store has no documents yet: run `curate ingest PATH…` or `curate demo`.")
        return
    if not frame.signals:
        st.info("No signals yet: run `curate score` first; every document counts as not scored.")
    ranges = s("ranges", list(frame.signals))
    langs = [v for v, _ in s("categories", "lang")] if "lang" in frame.signals else []
    thresholds = list(frame.thresholds)
    st.session_state["ex_thresholds"] = thresholds
    _init("ex_threshold", p.threshold)
    _init("ex_signals", [n for n in DEFAULT_EXPLORER_SIGNALS if n in ranges])

    controls, results = st.columns([2, 3])
    with controls:
        presets = ["(no filters)", *(f"recipe: {n}" for n in shipped_recipe_names()),
                   *(f"slice: {i}" for i in s("slices")["slice_id"])]
        st.selectbox("Start from", presets, key="ex_preset", on_change=_load_preset, args=(s, ranges, langs))
        if "ex_error" in st.session_state:
            st.error(st.session_state.pop("ex_error"))
        rules: list[Rule] = []
        if langs:
            allow = st.multiselect("Keep languages (empty = all)", langs, key="ex_lang")
            if allow:
                rules.append(Rule("lang", allow=tuple(allow)))
        chosen = st.multiselect("Filter on signals (in this order)", list(ranges), key="ex_signals",
                                format_func=_signal_label)
        for name in chosen:
            rng = ranges[name]
            sig = REGISTRY.get(name)
            lo = rng.lo if sig.default_min is None else min(max(sig.default_min, rng.lo), rng.hi)
            hi = rng.hi if sig.default_max is None else max(min(sig.default_max, rng.hi), rng.lo)
            _init(f"ex_{name}", _slider_value(rng, lo, hi))
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
        _set_param("threshold", None if near == "off" else near)
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
            st.dataframe([{"reason": w.reason, "dropped": w.dropped, "dropped ≈ tokens": w.dropped_bytes // 4,
                           "left after": w.remaining} for w in out.waterfall], hide_index=True, key="ex_waterfall")
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
        recipe_yaml = recipe.to_yaml()
        st.code(recipe_yaml, language="yaml")
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
        c2.download_button("Download YAML", recipe_yaml, file_name=f"{name or 'explorer'}.yaml",
                           mime="application/yaml", key="ex_download")


def page_compare(s: Store, p: qp.Params) -> None:
    st.header("Slice comparison")
    runs = s("train_results")
    if runs.empty:
        st.info("No train results yet: train models on slices with `curate train --slice NAME …` "
                "(or run `curate demo` without `--no-train`). The settings of each built slice:")
        settings = s("slice_settings")
        if not settings.empty:
            st.dataframe(settings[["slice_id", "documents_kept", "kept_share", "rules", "exact_dedup",
                                   "near_threshold", "settings"]], hide_index=True, width="stretch")
        return
    comp = s("comparison")
    st.altair_chart(charts.bpb_by_slice(runs), width="stretch")
    metrics = [m for m in ("bpb", *queries.GENERATION_METRICS) if m in comp and comp[m].notna().any()]
    skip = {"seeds", "tokens", "bpb_sd", "bpb_min", "bpb_max", *queries.GENERATION_METRICS, "bpb"}
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
    prompt_rows = s("prompts")
    if not prompt_rows:
        st.info("These models have no stored generations.")
        return
    labels = {no: f"{no}: {prompt[:80]}" + (f" ({kind})" if kind else "") for no, prompt, kind in prompt_rows}
    prompt_no = st.selectbox("Prompt", list(labels), format_func=labels.get, key="cmp_prompt")
    trained = list(dict.fromkeys(runs["slice_id"]))
    _init("cmp_slices", ([p.slice_id] if p.slice_id in trained else []) + [t for t in trained if t != p.slice_id][:2])
    chosen = st.multiselect("Slices", trained, key="cmp_slices")
    gens = s("generations", prompt_no, chosen)
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


def page_validation(s: Store, p: qp.Params) -> None:
    st.header("Validation (Great Expectations)")
    vals = s("validations")
    if vals.empty:
        st.info("No validation results yet: `curate run RECIPE` (and `curate demo`) validate the slices they build.")
        return
    st.dataframe(vals, hide_index=True, width="stretch")
    ids = list(dict.fromkeys(vals["slice_id"]))
    _init("slice", p.slice_id if p.slice_id in ids else None)
    slice_id = st.selectbox("Slice", ids, key="slice")
    _set_param("slice", slice_id)
    checks = s("validation_checks", slice_id)
    failed = int((checks["success"] == False).sum()) if not checks.empty else 0  # noqa: E712
    (st.error if failed else st.success)(f"{slice_id}: {failed} failed check(s) of {len(checks)}")
    st.dataframe(checks, hide_index=True, width="stretch")
    docs = vals.loc[vals.slice_id == slice_id, "docs_path"].dropna()
    if not docs.empty:
        st.caption(f"Data Docs: {md_code(docs.iloc[0])}")


def page_runs(s: Store, p: qp.Params) -> None:
    st.header("Runs")
    runs = s("runs")
    if runs.empty:
        st.info("No runs recorded yet.")
        return
    by_status = runs["status"].value_counts()
    cols = st.columns(max(1, len(by_status)))
    for col, (status, n) in zip(cols, by_status.items()):
        col.metric(status, int(n))
    st.dataframe(runs, hide_index=True, width="stretch")


PAGES = {"audit": page_audit, "explorer": page_explorer, "compare": page_compare,
         "validation": page_validation, "runs": page_runs}


def main() -> None:
    st.set_page_config(page_title="curate", layout="wide")
    db = store_path()
    st.sidebar.title("curate")
    st.sidebar.caption(f"store: {md_code(db)}")
    try:
        s = Store(db)
    except StoreUnavailable as exc:
        st.title("curate")
        st.info(str(exc))
        return
    if s.view.notice:
        st.warning(s.view.notice)
    p = qp.parse(st.query_params.to_dict(), slices=list(s("slices")["slice_id"]),
                 thresholds=s("thresholds"), doc_exists=lambda d: s("document", d) is not None)
    for problem in p.problems:
        st.warning(problem)
    _init("page", p.page)
    page = st.sidebar.radio("Page", list(qp.PAGES), format_func=qp.PAGES.get, key="page")
    _set_param("page", page)
    try:
        PAGES[page](s, p)
    except StoreUnavailable as exc:
        st.info(str(exc))


if __name__ == "__main__":  # `streamlit run` on this file; app.py imports it and calls main()
    main()
