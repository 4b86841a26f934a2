"""Documents: every document, searchable and filtered by a slice's decision, its reason, the
language and the source file, fifty a page; one opened (a row's link, a row selected, or
`?doc=`) with every rule of the slice's recipe against it and its duplicates.

The address holds the whole state, so a link opens what its sender saw:
`documents?doc=ID&slice=KEY&q=TEXT&decision=kept|dropped&reason=CODE&lang=LANG&source=FILE&offset=N`,
where ID is a doc_id or an external id and KEY a slice id or a recipe name (its latest slice),
as the CLI takes them (`curate explain ID --slice KEY`).
"""
from __future__ import annotations

import functools
import os
import time

import pandas as pd
import streamlit as st

from curate.dashboard import params as qp
from curate.dashboard.documents import (
    Search,
    doc_link,
    document_count,
    document_view,
    duplicates,
    filter_options,
    fmt,
    search,
    slice_choices,
    slice_key,
)
from curate.dashboard.highlight import highlight_html, md_code, md_literal, offending_lines
from curate.dashboard.reads import Store
from curate.dashboard.widgets import init, set_param

TITLE = "Documents"
URL_PATH = "documents"
TEXT_CHARS = 50_000  # of an opened document's text on the page; the whole text is a download
NO_SLICE = "(no slice)"
ANY = "(any)"
_LINK = st.column_config.LinkColumn("doc", display_text=r"documents\?doc=([^&]*)",
                                    help="open the document (a link: a new tab, or copy it to share)")


def render(s: Store, p: qp.Params) -> None:
    st.header("Documents")
    if not s.read(document_count):
        st.info("The store has no documents yet: run `curate ingest PATH…` or `curate demo`.")
        return
    choices = s.read(slice_choices)
    slice_id = _slice_picker(choices, p)
    key = slice_key(choices, slice_id) if slice_id else None
    if p.doc_id:
        _document(s, p.doc_id, slice_id, key)
    _browser(s, slice_id, key, p.doc_id)


def _slice_picker(choices: pd.DataFrame, p: qp.Params) -> str | None:
    ids = list(choices["slice_id"])
    if ids:
        latest = choices[choices["latest"]].sort_values("built_at")
        default = p.slice_id or (latest["slice_id"].iloc[-1] if len(latest) else ids[0])
        init("docs_slice", default if default in ids else None)
    rows = {r.slice_id: r for r in choices.itertuples()}

    def label(sid: str) -> str:
        if sid == NO_SLICE:
            return "(no slice: no decisions shown)"
        r = rows[sid]
        return (f"{r.name} — {sid}{' (latest)' if r.latest else ''}: "
                f"{int(r.n_kept):,} of {int(r.n_documents):,} kept")

    chosen = st.selectbox("Slice", [*ids, NO_SLICE], key="docs_slice", format_func=label,
                          on_change=_first_page, help="a recipe's decisions: which documents it keeps, "
                          "and why it drops the others (`?slice=` takes a slice id or a recipe name)")
    return None if chosen == NO_SLICE else chosen


def _first_page() -> None:
    st.session_state["docs_offset"] = 0


def _browser(s: Store, slice_id: str | None, key: str | None, opened: str | None) -> None:
    opts = s.read(filter_options, slice_id)
    root, short = _short_names([uri for _, uri, _ in opts.sources])
    files = {sid: short[uri] for sid, uri, _ in opts.sources}
    browse = qp.parse_browse(st.query_params.to_dict(), reasons=[r for r, _ in opts.reasons],
                             langs=[lang for lang, _ in opts.langs],
                             sources={sid: uri for sid, uri, _ in opts.sources})
    for problem in browse.problems:
        st.warning(problem)
    init("docs_q", browse.q or None)
    init("docs_decision", browse.decision)
    init("docs_reason", browse.reason)
    init("docs_lang", browse.lang)
    init("docs_source", browse.source)
    init("docs_offset", browse.offset)

    q = st.text_input("Search all documents", key="docs_q", max_chars=qp.MAX_PATTERN, on_change=_first_page,
                      placeholder="words from the text (any case), or a doc_id or external id",
                      help="a substring of the text, in any case, taken literally (% _ * . match themselves); "
                           "or a whole doc_id or external id, listed first").strip()
    c1, c2, c3, c4 = st.columns([1, 2, 1, 2])
    reason_n = dict(opts.reasons)
    decision = _choice(c1, "Decision", "docs_decision", [None, "kept", "dropped"], lambda v: v or ANY,
                       disabled=slice_id is None)
    reason = _choice(c2, "Drop reason", "docs_reason", [None, *reason_n],
                     lambda v: ANY if v is None else f"{v} ({reason_n[v]:,})", disabled=slice_id is None)
    lang_n = dict(opts.langs)
    lang = _choice(c3, "Language", "docs_lang", [None, *lang_n],
                   lambda v: ANY if v is None else f"{v} ({lang_n[v]:,})")
    source_n = {sid: n for sid, _, n in opts.sources}
    source = _choice(c4, "Source file", "docs_source", [None, *source_n],
                     lambda v: ANY if v is None else f"{files[v]} ({source_n[v]:,})")
    if slice_id is None:
        decision = reason = None

    offset = int(st.session_state.get("docs_offset") or 0)
    query = Search(q=q, slice_id=slice_id, decision=decision, reason=reason, lang=lang, source=source,
                   offset=offset)
    started = time.perf_counter()
    hits = s.read(search, query)
    if hits.total and offset >= hits.total:  # past the end (the URL, or fewer matches now): the last page
        offset = (hits.total - 1) // qp.PAGE_SIZE * qp.PAGE_SIZE
        st.session_state["docs_offset"] = offset
        query = Search(**{**query.__dict__, "offset": offset})
        hits = s.read(search, query)
    elapsed = time.perf_counter() - started
    for name, value in (("q", q or None), ("slice", key), ("decision", decision), ("reason", reason),
                        ("lang", lang), ("source", source),
                        ("offset", offset or None)):
        set_param(name, value)

    _pager(hits.total, offset, elapsed)
    if not hits.total:
        st.info("No document matches." + (" The search looks for the words as written, in any case; "
                                           "an id must be given whole." if q else ""))
        return
    table = hits.rows.copy()
    table["reason"] = table["reason"].fillna("")
    ids = list(table["doc_id"])
    table.insert(0, "doc", [doc_link(d, key) for d in ids])
    table["source"] = [short.get(uri, uri) for uri in table["source"]]
    config = {"doc": _LINK, "doc_id": None, "external_id": st.column_config.TextColumn("external id"),
              "source": st.column_config.TextColumn("source file"),
              "bytes": st.column_config.NumberColumn("bytes", format="localized"),
              "why": st.column_config.TextColumn("why (value against bound)", width="medium"),
              "text": st.column_config.TextColumn("text (start)", width="large")}
    if slice_id is None:
        config.update({"decision": None, "reason": None, "why": None})
    # a new table (no row selected) for every page of results and every document opened or closed,
    # so that selecting a row always opens its document
    table_key = f"docs_table_{abs(hash((query, opened))) % 10**12}"
    st.dataframe(table, hide_index=True, width="stretch", column_config=config, key=table_key,
                 on_select=functools.partial(_open_selected, table_key, ids), selection_mode="single-row")
    st.caption("Select a row to open it here, or follow its link (a new tab; copy it to share). "
               + (f"Files under {md_code(root)}. " if root else "")
               + "Signals: " + ", ".join(md_code(k) for k in hits.key_signals) + ".")


def _choice(col, label: str, key: str, options: list, fmt, disabled: bool = False):
    if st.session_state.get(key) not in options:  # a value of another slice, or from the URL
        st.session_state[key] = None
    return col.selectbox(label, options, key=key, format_func=fmt, disabled=disabled, on_change=_first_page)


def _pager(total: int, offset: int, elapsed: float) -> None:
    left, mid, right = st.columns([1, 4, 1])
    left.button("← previous", key="docs_prev", disabled=offset <= 0, on_click=_turn, args=(-qp.PAGE_SIZE,),
                width="stretch")
    right.button("next →", key="docs_next", disabled=offset + qp.PAGE_SIZE >= total, on_click=_turn,
                 args=(qp.PAGE_SIZE,), width="stretch")
    shown = f"{offset + 1:,}–{min(offset + qp.PAGE_SIZE, total):,} of {total:,}" if total else "0 of 0"
    mid.markdown(f"**{shown}** documents · {elapsed:.2f} s")


def _turn(step: int) -> None:
    st.session_state["docs_offset"] = max(0, int(st.session_state.get("docs_offset") or 0) + step)


def _open_selected(table_key: str, ids: list[str]) -> None:
    rows = st.session_state[table_key].selection.rows
    if rows and rows[0] < len(ids):
        st.query_params["doc"] = ids[rows[0]]


def _short_names(uris: list[str]) -> tuple[str, dict[str, str]]:
    """(the folder every source file lies under, file -> its path under that folder)."""
    if not uris:
        return "", {}
    try:
        root = os.path.commonpath(uris) if len(uris) > 1 else os.path.dirname(uris[0])
    except ValueError:  # absolute and relative paths mixed
        root = ""
    if root in uris:  # one file, or one file's path is the others' folder
        root = os.path.dirname(root)
    cut = len(root.rstrip("/")) + 1 if root else 0
    return root, {u: u[cut:] for u in uris}


def _close_document() -> None:
    st.query_params.pop("doc", None)


def _document(s: Store, doc_id: str, slice_id: str | None, key: str | None) -> None:
    doc = s.read(document_view, doc_id, slice_id)
    if doc is None:  # the URL was checked against the store; it changed since
        st.warning(f"No document {qp.shown(doc_id)} in this store.")
        return
    box = st.container(border=True)
    head, close = box.columns([6, 1])
    head.subheader(f"Document {md_literal(doc['doc_id'])}", anchor=False)
    close.button("close ✕", key="docs_close", on_click=_close_document, width="stretch")
    files = ", ".join(md_code(f) for f in doc["files"]) or md_code(doc["source_id"])
    box.markdown(f"external id {md_code(doc['external_id']) if doc['external_id'] is not None else '(none)'} · "
                 f"file {files} · record {md_literal(doc['record_no'])} · {doc['n_bytes']:,} bytes · "
                 f"ingested by run {md_literal(doc['run_id'])} · "
                 f"[link to this document]({doc_link(doc['doc_id'], key)})")
    verdict = doc["slice"]
    reason = None
    if verdict is not None:
        reason = _verdict(box, verdict)
    else:
        box.caption("Choose a slice above to see every rule of its recipe against this document.")
    text = doc["text"]
    box.html(highlight_html(text, offending_lines(text, reason), max_chars=TEXT_CHARS))
    marked = offending_lines(text, reason)
    if marked:
        box.caption(f"marked: the {len(marked)} line(s) counted against {md_code(reason)}")
    if len(text) > TEXT_CHARS:
        box.download_button(f"the whole text ({len(text):,} characters)", text, file_name="document.txt",
                            mime="text/plain", key="docs_download")
    meta, sig = box.columns(2)
    with meta:
        st.markdown("**Metadata**")
        if doc["metadata"] is None:
            st.caption("none")
        elif isinstance(doc["metadata"], (dict, list)):
            st.json(doc["metadata"], expanded=2)
        else:
            st.text(str(doc["metadata"]))
    with sig:
        st.markdown("**Every signal**")
        values = pd.DataFrame({"signal": list(doc["signals"]), "value": [fmt(v) for v in doc["signals"].values()]})
        st.dataframe(values, hide_index=True, width="stretch", height=300)
    _duplicates(box, s, doc["doc_id"], slice_id, key)


def _verdict(box, verdict: dict) -> str | None:
    """The slice's decision and every rule of its recipe; the reason the decision recorded."""
    name = md_code(verdict.get("name", verdict["slice_id"]))
    if not verdict["decided"]:
        box.warning(f"Slice {md_code(verdict['slice_id'])} has no decision for this document: it was ingested "
                    f"after the slice was built (`curate slice {md_literal(verdict.get('name', 'RECIPE'))}` builds it "
                    "again).")
        reason = None
    elif verdict["kept"]:
        box.success(f"**Kept** by {name}: it passes every rule below.")
        reason = None
    else:
        reason = verdict["reason"]
        failing = next((r["failing"] for r in verdict["rules"] if r["recorded"]), "")
        box.error(f"**Dropped** by {name}: {md_code(reason)}" + (f" — {md_code(failing)}" if failing else "")
                  + " (the first rule it fails, in the recipe's order)")
    if verdict["note"]:
        box.warning(md_literal(verdict["note"]))
    if verdict["rules"]:
        rules = pd.DataFrame(verdict["rules"])
        rules["recorded"] = ["◀ the slice's reason" if r else "" for r in rules["recorded"]]
        box.dataframe(rules[["#", "rule", "value", "bound", "result", "failing", "recorded"]], hide_index=True,
                      width="stretch", column_config={"failing": st.column_config.TextColumn("value against bound"),
                                     "recorded": st.column_config.TextColumn("decision")})
    else:
        box.caption("The recipe has no rule: it keeps every document.")
    return reason


def _duplicates(box, s: Store, doc_id: str, slice_id: str | None, key: str | None) -> None:
    dups = s.read(duplicates, doc_id, slice_id)
    box.markdown("**Duplicates**")
    link = {"doc": _LINK, "doc_id": None, "this": st.column_config.CheckboxColumn("this one"),
            "external_id": st.column_config.TextColumn("external id")}
    if dups["exact"] is None:
        box.caption("Exact copies: none (no other document has the same normalized text).")
    else:
        copies = dups["exact"].copy()
        copies.insert(0, "doc", [doc_link(d, key) for d in copies["doc_id"]])
        more = f", the first {len(copies)} shown" if dups["exact_total"] > len(copies) else ""
        box.caption(f"Exact copies: {dups['exact_total']:,} documents share this text{more}; the first row is the "
                    "copy exact dedup keeps (highest quality, then longest, then smallest doc_id).")
        box.dataframe(copies, hide_index=True, width="stretch", column_config=link)
    if not dups["near"]:
        box.caption("Near-duplicates: no clusters yet (`curate dedup`).")
    for near in dups["near"]:
        t = near["threshold"]
        if near["members"] is None:
            box.caption(f"Near-duplicates at Jaccard {t:g}: in no cluster.")
            continue
        members = near["members"].copy()
        members.insert(0, "doc", [doc_link(d, key) for d in members["doc_id"]])
        more = f", the first {len(members)} shown" if near["size"] > len(members) else ""
        box.caption(f"Near-duplicates at Jaccard {t:g}: a cluster of {near['size']:,}{more}; the first row is its "
                    "representative, the member near dedup keeps. Jaccard: exact where dedup verified the pair, "
                    "else estimated from the MinHash signatures.")
        box.dataframe(members, hide_index=True, width="stretch", column_config={
            **link, "kept_by_dedup": st.column_config.CheckboxColumn("representative"),
            "jaccard": st.column_config.NumberColumn("Jaccard (exact)", format="%.3f"),
            "est_jaccard": st.column_config.NumberColumn("Jaccard (MinHash est.)", format="%.3f")})
