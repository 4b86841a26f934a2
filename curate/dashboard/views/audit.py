"""Corpus audit: how dirty the corpus is, what each slice keeps of each language, source and domain,
why each slice drops what it drops, its signals against the bounds, and any document by id
(`?doc=ID`). The figures are those of `curate audit` (the same functions of `queries`)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from curate.dashboard import charts
from curate.dashboard import params as qp
from curate.dashboard.documents import doc_link, reasons_why
from curate.dashboard.highlight import (
    highlight_html,
    identity_html,
    label_name,
    md_code,
    md_literal,
    offending_lines,
    signal_of,
)
from curate.dashboard.queries import (
    GROUP_KINDS,
    HIT_HARD,
    MIN_GROUP,
    TOP_REASONS,
    cluster_sizes,
    document,
    drop_reasons,
    examples,
    grouped_reasons,
    headline,
    histogram,
    kept_alerts,
    kept_by_group,
    kept_overview,
    kept_table,
    languages,
    number_text,
    overall_shares,
    overview,
    quarantine,
    quarantine_by_error,
    rule_drops,
    signal_columns,
    slice_recipe,
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
    h = s.read(headline)
    if h.documents == 0 and h.quarantined == 0:
        st.info("The store has no documents yet: run `curate ingest PATH…` or `curate demo`.")
        return
    st.subheader("How dirty is this corpus")
    tiles = h.tiles()
    for col, tile in zip(st.columns(len(tiles)), tiles):
        col.metric(tile.label, tile.value, help=tile.detail)
    ov = s.read(overview)
    cols = st.columns(6)
    for col, (label, value) in zip(cols, (("sources", ov.sources), ("documents", ov.documents),
                                          ("≈ tokens (bytes/4)", ov.tokens), ("quarantined", ov.quarantined),
                                          ("scored", ov.scored), ("slices", ov.slices))):
        col.metric(label, f"{value:,}")

    slice_id = _kept(s, p)
    if slice_id is not None:
        _drops(s, p, slice_id)
    _signals(s, slice_id)

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


def _kept(s: Store, p: qp.Params) -> str | None:
    """What each slice keeps, overall and per group; returns the slice the rest of the page shows."""
    st.subheader("What each slice keeps")
    long = s.read(kept_by_group)
    if long.empty:
        st.info("No slices built yet: run `curate slice RECIPE`.")
        return None
    alerts = kept_alerts(long)
    if alerts:
        st.warning("\n".join(f"- {md_literal(a)}" for a in alerts))
    st.dataframe(kept_overview(long), hide_index=True, width="stretch")
    st.caption(f"The latest slice of each recipe. ✗: groups of {MIN_GROUP} documents or more the slice keeps "
               f"nothing of; ↓: groups it keeps under {HIT_HARD:.0%} of its overall share of.")
    kinds = [k for k in GROUP_KINDS if (long.kind == k).any()]
    c1, c2 = st.columns([3, 2])
    kind = c1.radio("Per", kinds, horizontal=True, key="audit_group", format_func=lambda k: GROUP_KINDS[k])
    unit = c2.radio("Share of", ["documents", "tokens"], horizontal=True, key="audit_unit")
    tokens = unit == "tokens"
    table = kept_table(long, kind, tokens=tokens)
    overall = overall_shares(long, tokens=tokens)
    config = {c: st.column_config.NumberColumn(format="percent") for c in overall}
    config |= {c: st.column_config.NumberColumn(format="localized") for c in ("documents", "≈ tokens")}
    st.dataframe(charts.kept_styler(table, overall), hide_index=True, width="stretch", column_config=config,
                 height=min(36 * (len(table) + 1) + 4, 420))
    st.caption(f"Kept share of each {kind}'s {unit} per slice, the {kind} hit hardest (against its slice's "
               f"overall share) first. Red: the slice keeps none of it; orange: under {HIT_HARD:.0%} of the "
               "slice's overall share.")
    return _slice_choice(s, p)


def _slice_choice(s: Store, p: qp.Params) -> str:
    sl = s.read(slices)
    ids = list(sl["slice_id"])
    latest = sl.sort_values("built_at").drop_duplicates("name", keep="last")
    default = str(latest.sort_values(["n_dropped", "name"], ascending=[False, True]).iloc[0]["slice_id"])
    init("slice", p.slice_id or default)
    if st.session_state.get("slice") not in ids:
        st.session_state["slice"] = default
    st.subheader("Why each slice drops what it drops")
    dropped = dict(zip(sl["slice_id"], sl["n_dropped"]))
    slice_id = st.selectbox("Slice", ids, key="slice",
                            format_func=lambda i: f"{i} ({int(dropped[i]):,} dropped)")
    set_param("slice", slice_id)
    return slice_id


def _drops(s: Store, p: qp.Params, slice_id: str) -> None:
    rules = s.read(rule_drops, slice_id)
    grouped = grouped_reasons(rules)
    if grouped.empty:
        st.info("This slice drops nothing.")
        return
    st.altair_chart(charts.drop_reasons(grouped), width="stretch")
    st.caption(f"The top {TOP_REASONS} reasons, the rest by family. Pale bar: documents a rule was the first "
               "failing rule for (the slice's recorded reason); solid: documents it drops alone — no other rule "
               "of the recipe fails them, so the slice would keep them without it.")
    st.markdown(f"**Every rule of the recipe** ({len(rules)}, in the order it tests them)")
    st.dataframe(rules.rename(columns={"first": "first failing rule for", "alone": "drops alone",
                                       "fails": "fails (any order)"}),
                 hide_index=True, width="stretch", key="audit_rules", height=min(36 * (len(rules) + 1) + 4, 380),
                 column_config={c: st.column_config.NumberColumn(format="localized") for c in
                                ("first failing rule for", "drops alone", "fails (any order)")})
    _examples(s, slice_id)


def _examples(s: Store, slice_id: str) -> None:
    st.subheader("Example dropped documents")
    reasons = s.read(drop_reasons, slice_id)
    options = ["(any reason)", *reasons["reason"]]
    reason = st.selectbox("Reason", options, key="audit_reason")
    rows = s.read(examples, slice_id, None if reason == "(any reason)" else reason, 5)
    if not rows:
        st.info("This slice drops nothing.")
    why = s.read(reasons_why, slice_id, tuple(r["doc_id"] for r in rows)) if rows else {}
    for row in rows:
        lines = offending_lines(row["text"], row["reason"])
        because = why.get(row["doc_id"])
        with st.expander(f"{label_name(row['external_id'], row['doc_id'])} — {md_literal(row['reason'])}"
                         + (f" — {md_literal(because)}" if because else "")
                         + (f" — {len(lines)} offending line(s) marked" if lines else "")):
            st.html(identity_html([("id", row["external_id"]), ("file", Path(row["source"] or "?").name),
                                   ("record", row["record_no"]), ("doc_id", row["doc_id"])]))
            st.html(highlight_html(row["text"], lines))
            # a real link (an anchor), not Markdown: no text of the corpus is ever Markdown source
            st.link_button("Open in the document browser", doc_link(row["doc_id"], slice_id))


def _default_signal(s: Store, numeric: list[str], slice_id: str | None) -> str:
    """A signal with a bound to show: the selected recipe's rule that drops most, else the first
    signal with a published default, else the first."""
    if slice_id is not None:
        rules = s.read(rule_drops, slice_id).sort_values(["first", "fails"], ascending=False)
        for reason in rules["reason"]:
            if signal_of(reason) in numeric:
                return signal_of(reason)
    return next((n for n in numeric if REGISTRY.get(n).has_default), numeric[0])


def _signals(s: Store, slice_id: str | None) -> None:
    st.subheader("Signal distributions")
    numeric = [n for n in s.read(signal_columns) if REGISTRY.get(n).dtype != "VARCHAR"]
    if not numeric:
        st.info("No signals yet: run `curate score`.")
        return
    init("audit_signal", _default_signal(s, numeric, slice_id))
    name = st.selectbox("Signal", numeric, format_func=signal_label, key="audit_signal")
    sig = REGISTRY.get(name)
    recipe = s.read(slice_recipe, slice_id) if slice_id else None
    found = [charts.Bound("published default", side, float(v))
             for side, v in (("min", sig.default_min), ("max", sig.default_max)) if v is not None]
    for rule in recipe.rules if recipe else ():
        if rule.signal == name:
            found += [charts.Bound(recipe.name, side, float(v))
                      for side, v in (("min", rule.min), ("max", rule.max)) if v is not None]
    h = s.read(histogram, name)
    if h is None:
        st.info(f"No document has a value for {md_code(name)}.")
    else:
        st.altair_chart(charts.histogram(h, found), width="stretch")
    by_recipe = [b for b in found if b.who != "published default"]
    lines = "; ".join(f"{md_literal(b.who)} {b.side} {number_text(b.value)}" for b in found)
    legend = ["red, dashed: the published default"] if len(by_recipe) < len(found) else []
    if recipe is not None:
        legend.append(f"black, solid: the recipe of slice {md_code(slice_id)}" if by_recipe else
                      f"the recipe of slice {md_code(slice_id)} does not bound it")
    # the histogram's caption and the numbers are ours; the registry's meaning and source hold backticks
    st.caption(f"{md_literal(sig.meaning)}. Source: {md_literal(sig.source)}. "
               + (f"{h.caption} " if h is not None else "")
               + (f"Lines — {'; '.join(legend)}; bounds: {lines}." if found else
                  f"No published default; {legend[0] if legend else 'no recipe selected'}; nothing to draw."))


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
