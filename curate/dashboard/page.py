"""The curate dashboard: corpus audit, document browser, settings explorer, slice comparison,
threshold sweeps, validation, runs.

    curate app [--db PATH]          (or: streamlit run app.py -- --db PATH)

This file is the entry script and the frame every page shares: the sidebar, the store's
notice, the URL's problems, and `st.navigation` over the pages of `curate.dashboard.views`
(one module a page; adding one: its module and its entry in `views.PAGES`). Each page is at
/URL_PATH, the first at /; a link from before st.navigation, `?page=NAME&…`, opens page NAME
at its own address with the rest of its parameters.

Thin by design: every query and computation lives in `curate.dashboard` (tested there).
The store is opened read-only per query and never held; while a job holds it, the pages
read the snapshot the last successful run published and say so (`curate.dashboard.reads`).
The settings explorer is a fragment: a slider move reruns it alone, from caches and its
in-memory frame.
"""
from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType

import streamlit as st

from curate.dashboard import params as qp
from curate.dashboard.documents import resolve_document, resolve_slice_key
from curate.dashboard.explorer import dup_thresholds
from curate.dashboard.highlight import md_code
from curate.dashboard.queries import slices
from curate.dashboard.reads import PROBE_TTL_S, Store, _probe, store_path  # noqa: F401  (tests and bench use them)
from curate.dashboard.source import StoreUnavailable
from curate.dashboard.views import PAGES, page_titles


def show(view: ModuleType, db: Path) -> None:
    """One page in the shared frame: the store (or why there is none), its notice, the URL's problems."""
    raw = st.query_params.to_dict()
    st.query_params.pop("page", None)  # the address names the page now; parse still checks the old name
    try:
        s = Store(db)
    except StoreUnavailable as exc:
        st.title("curate")
        st.info(str(exc))
        return
    if s.view.notice:
        st.warning(s.view.notice)
    built = list(s.read(slices)["slice_id"])
    # A slice id the page itself put in the URL is checked against the list read already: a
    # rerun that sets ?slice= must not open the store again (while a job holds it, that read
    # would show the job's notice before the probe expires).
    p = qp.parse(raw, slices=built, thresholds=s.read(dup_thresholds),
                 resolve_slice=lambda key: key if key in built else s.read(resolve_slice_key, key),
                 resolve_doc=lambda key: s.read(resolve_document, key), pages=page_titles())
    for problem in p.problems:
        st.warning(problem)
    try:
        view.render(s, p)
    except StoreUnavailable as exc:
        st.info(str(exc))


def follow_old_link(current: st.Page, pages: dict[str, st.Page]) -> None:
    """`?page=NAME` (links made before st.navigation): open page NAME at its own address, with
    the link's other parameters. An unknown NAME opens the default page, where parse says so."""
    name = st.query_params.get("page")
    if name is None:
        return
    target = pages.get(name) or next(iter(pages.values()))
    if target is current:
        return
    keep = {k: st.query_params.get_all(k) for k in st.query_params if k != "page" or name not in pages}
    st.switch_page(target, query_params=keep)


def main() -> None:
    st.set_page_config(page_title="curate", layout="wide")
    db = store_path()
    st.sidebar.title("curate")
    st.sidebar.caption(f"store: {md_code(db)}")
    pages = {view.URL_PATH: st.Page(functools.partial(show, view, db), title=view.TITLE, url_path=view.URL_PATH,
                                    default=i == 0)
             for i, view in enumerate(PAGES)}
    current = st.navigation(list(pages.values()))
    follow_old_link(current, pages)
    current.run()


if __name__ == "__main__":  # `streamlit run` on this file; app.py imports it and calls main()
    main()
