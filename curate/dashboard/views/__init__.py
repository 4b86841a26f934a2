"""The dashboard's pages, one module each, in the order of the navigation menu.

A page module holds TITLE (the menu entry), URL_PATH (its address, /URL_PATH, and the name an
old `?page=NAME` link uses) and `render(s, p)`: it draws the page from `s`, the store as this
rerun sees it (`s.read(fn, *args)`, a read function imported from `queries` or `explorer`,
cached on the store's fingerprint), and `p`, the validated URL parameters.

Adding a page: a module here, and its entry in PAGES. The first entry is the default page (/).
"""
from __future__ import annotations

from curate.dashboard.views import audit, compare, documents, explorer, runs, sweeps, validation

PAGES = (audit, documents, explorer, compare, sweeps, validation, runs)


def page_titles() -> dict[str, str]:
    """URL path -> title of every page, in menu order, the default first."""
    return {view.URL_PATH: view.TITLE for view in PAGES}
