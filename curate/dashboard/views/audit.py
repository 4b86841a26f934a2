"""Corpus audit: what the store holds, its signals, why each slice drops what it drops, and
any document by id (`?doc=ID`)."""
from __future__ import annotations

import streamlit as st

from curate.dashboard import charts
from curate.dashboard import params as qp
from curate.dashboard.highlight import highlight_html, md_code, md_literal, offending_lines
from curate.dashboard.queries import (
    cluster_sizes,
    document,
    drop_reasons,
    examples,
    languages,
    overview,
    quarantine,
    quarantine_by_error,
    signal_columns,
    signal_histogram,
    slices,
    sources,
)
from curate.dashboard.reads import Store
from curate.dashboard.widgets import init, set_param, signal_label
from curate.signals import REGISTRY

TITLE = "Corpus audit"
URL_PATH = "audit"


def render(s: Store, p: qp.Params) -> None:
    st.header("Corpus audit")
    ov = s.read(overview)
    cols = st.columns(6)
    for col, (label, value) in zip(cols, (("sources", ov.sources), ("documents", ov.documents),
                                          ("≈ tokens (bytes/4)", ov.tokens), ("quarantined", ov.quarantined),
                                          ("scored", ov.scored), ("slices", ov.slices))):
        col.metric(label, f"{value:,}")
    if ov.documents == 0 and ov.quarantined == 0:
        st.info("The store has no documents yet: run `curate ingest PATH…` or `curate demo`.")
        return
    st.subheader("Sources")
    st.dataframe(s.read(sources), hide_index=True, width="stretch")

    left, right = st.columns(2)
    langs = s.read(languages)
    with left:
        if langs.empty:
            st.info("No language scores yet: run `curate score`.")
        else:
            st.altair_chart(charts.languages(langs), width="stretch")
    with right:
        clusters = s.read(cluster_sizes)
        if clusters.empty:
            st.info("No near-duplicate clusters yet: run `curate dedup`.")
        else:
            st.altair_chart(charts.cluster_sizes(clusters), width="stretch")

    st.subheader("Signal distributions")
    numeric = [n for n in s.read(signal_columns) if REGISTRY.get(n).dtype != "VARCHAR"]
    if numeric:
        name = st.selectbox("Signal", numeric, format_func=signal_label, key="audit_signal")
        sig = REGISTRY.get(name)
        hist = s.read(signal_histogram, name)
        if hist.empty:
            st.info(f"No document has a value for {name}.")
        else:
            st.altair_chart(charts.histogram(hist, name, sig.default_min, sig.default_max), width="stretch")
        st.caption(f"{sig.meaning}. Source: {sig.source}. "
                   + ("Red lines: the published default bounds." if sig.has_default else "No published default."))

    st.subheader("Drop reasons per recipe")
    reasons = s.read(drop_reasons)
    if reasons.empty:
        st.info("No slices built yet: run `curate slice RECIPE`.")
    else:
        st.altair_chart(charts.drop_reasons(reasons), width="stretch")
        _examples(s, p)

    doc_id = st.text_input("Open a document by id", value=p.doc_id or "", key="audit_doc", max_chars=200).strip()
    if doc_id:
        _document(s, doc_id)

    st.subheader("Quarantine")
    quarantined = s.read(quarantine)
    if quarantined.empty:
        st.success("No record was quarantined.")
    else:
        st.altair_chart(charts.quarantine_by_error(s.read(quarantine_by_error)), width="stretch")
        st.dataframe(quarantined, hide_index=True, width="stretch")


def _examples(s: Store, p: qp.Params) -> None:
    st.subheader("Example dropped documents")
    sl = s.read(slices)
    ids = list(sl["slice_id"])
    init("slice", p.slice_id)
    c1, c2 = st.columns(2)
    slice_id = c1.selectbox(
        "Slice", ids, key="slice",
        format_func=lambda i: f"{i} ({int(sl.loc[sl.slice_id == i, 'n_dropped'].iloc[0]):,} dropped)")
    set_param("slice", slice_id)
    reasons = s.read(drop_reasons, slice_id)
    options = ["(any reason)", *reasons["reason"]]
    reason = c2.selectbox("Reason", options, key="audit_reason")
    rows = s.read(examples, slice_id, None if reason == "(any reason)" else reason, 5)
    if not rows:
        st.info("This slice drops nothing.")
    for row in rows:
        lines = offending_lines(row["text"], row["reason"])
        with st.expander(f"{md_literal(row['doc_id'])} — {md_literal(row['reason'])}"
                         + (f" — {len(lines)} offending line(s) marked" if lines else "")):
            st.html(highlight_html(row["text"], lines))
            st.caption(f"link: {md_code('?page=audit&doc=' + str(row['doc_id']))}")


def _document(s: Store, doc_id: str) -> None:
    doc = s.read(document, doc_id)
    if doc is None:
        st.warning(f"No document {qp.shown(doc_id)} in this store.")
        return
    set_param("doc", doc_id)
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
