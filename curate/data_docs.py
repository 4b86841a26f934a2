"""Great Expectations' Data Docs, written for offline reading, with every link resolving.

GX's page templates load Bootstrap, bootstrap-table, jQuery, Font Awesome, Vega and a logo
from CDNs: offline the index (a table bootstrap-table fills in from JavaScript) is empty, the
status column has no icons, and every page is unstyled. No copy of those libraries ships with
the environment, so the templates below replace the ones that fetch anything: the pages are
plain HTML with the small stylesheet below inlined in each, icons are inline SVG, tables are
written out on the server, "show more" is a <details>, and the "failed only" filter is CSS.
Nothing is copied from GX's static folder (4 MB of fonts and images these pages do not use).

Called by curate/validate.py after each validation; GX is imported inside the functions.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def gx_errors():
    """GX logs a page it failed to write (with a traceback) and goes on; collect those errors
    instead of printing them, and raise the first one as the reason the docs failed."""
    gx_logger = logging.getLogger("great_expectations")
    handler, propagate = _Collect(), gx_logger.propagate
    gx_logger.addHandler(handler)
    gx_logger.propagate = False
    try:
        yield
    finally:
        gx_logger.removeHandler(handler)
        gx_logger.propagate = propagate
    if handler.records:
        text = handler.records[0].getMessage()
        detail = text.split("Detailed information follows:", 1)[-1].split("Traceback:", 1)[0]
        raise OSError(" ".join(detail.split()).rstrip(". ")[:500] or "Great Expectations reported an error")


# A docs folder written by an older curate (CDN pages, dead suite links) is rendered again once.
_DOCS_VERSION = "offline-1"
_DOCS_VERSION_FILE = "_curate_docs_version"


def _svg_icon(body: str) -> str:
    svg = f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>{body}</svg>"
    return "url(\"data:image/svg+xml," + svg.replace("<", "%3C").replace(">", "%3E").replace("#", "%23") + "\")"


_ICON_OK = _svg_icon("<circle cx='8' cy='8' r='8' fill='#1e8e3e'/>"
                     "<path d='M4.3 8.4l2.4 2.4 5-5.2' stroke='white' stroke-width='2' fill='none'/>")
_ICON_FAIL = _svg_icon("<circle cx='8' cy='8' r='8' fill='#d93025'/>"
                       "<path d='M5 5l6 6M11 5l-6 6' stroke='white' stroke-width='2'/>")
_ICON_WARN = _svg_icon("<path d='M8 1l7.5 14h-15z' fill='#f29900'/><path d='M8 6v4M8 11.5v1.5' stroke='white' "
                       "stroke-width='1.8'/>")
_ICON_INFO = _svg_icon("<circle cx='8' cy='8' r='8' fill='#5f6368'/><path d='M8 7v5M8 4v1.6' stroke='white' "
                       "stroke-width='1.8'/>")

_CSS = """
:root { --fg: #202124; --muted: #5f6368; --line: #dadce0; --bg-soft: #f6f8fa; --ok: #1e8e3e; --bad: #d93025;
        --link: #1a56db; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.45;
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
h1, h2, h3, h4, h5, h6 { margin: .6em 0 .4em; line-height: 1.25; font-weight: 600; }
h3 { font-size: 1.3em; } h4 { font-size: 1.15em; } h5 { font-size: 1.05em; } h6, .h6 { font-size: 1em; }
p { margin: .3em 0 .6em; } .lead { color: var(--muted); } .text-muted { color: var(--muted); }
ul { padding-left: 20px; margin: .3em 0; }
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--bg-soft); padding: 8px; border-radius: 6px; overflow: auto; white-space: pre-wrap; }
[hidden], .d-none { display: none !important; }
.curate-navbar { display: flex; align-items: center; gap: 16px; padding: 10px 24px;
                 border-bottom: 1px solid var(--line); position: sticky; top: 0; background: #fff; z-index: 10; }
.curate-brand { font-weight: 700; font-size: 1.15em; color: var(--fg); }
.curate-breadcrumb { display: flex; flex-wrap: wrap; gap: 6px; list-style: none; margin: 0; padding: 0;
                     color: var(--muted); }
.curate-breadcrumb li + li::before { content: "/"; margin-right: 6px; color: var(--line); }
.container-fluid { padding: 16px 24px 32px; }
.row { display: flex; flex-wrap: wrap; margin: 0 -8px; }
.row > * { padding: 0 8px; }
.col-12, .col-sm-12, .col-xs-12 { flex: 0 0 100%; max-width: 100%; }
.col-6 { flex: 0 0 50%; max-width: 50%; }
.col-md-10, .col-lg-10 { flex: 1 1 0; min-width: 0; }
.col-md-2, .col-lg-2 { flex: 0 0 240px; max-width: 240px; }
@media (max-width: 900px) { .col-md-2, .col-lg-2, .col-md-10, .col-lg-10, .col-6 { flex: 0 0 100%; max-width: 100%; } }
@media (min-width: 768px) { .d-md-block { display: block !important; }
                            .d-md-inline-flex { display: inline-flex !important; } }
.sticky { position: sticky; top: 64px; }
.card { border: 1px solid var(--line); border-radius: 8px; margin-bottom: 12px; background: #fff; }
.card-header { padding: 8px 12px; border-bottom: 1px solid var(--line); background: var(--bg-soft);
               border-radius: 8px 8px 0 0; }
.card-body { padding: 10px 12px; }
.nav { list-style: none; margin: 0; padding: 0; }
.nav-link { display: block; padding: 3px 6px; border-radius: 4px; }
.ge-section { margin-bottom: 24px; }
.alert { padding: 8px 12px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg-soft);
         margin: 6px 0; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; background: #e8eaed;
         color: var(--fg); }
.text-success { color: var(--ok); } .text-danger { color: var(--bad); } .text-warning { color: #b06000; }
.table { width: 100%; border-collapse: collapse; margin: 6px 0 10px; }
.table th, .table td { text-align: left; vertical-align: top; padding: 6px 8px; border-top: 1px solid var(--line); }
.table thead th { border-bottom: 2px solid var(--line); border-top: 0; background: var(--bg-soft); }
.table-sm th, .table-sm td { padding: 3px 6px; }
.table-responsive { overflow-x: auto; }
.show-scrollbars { overflow: auto; }
td .show-scrollbars { max-height: 60vh; }
.cooltip { display: inline-block; position: relative; cursor: help; }
.cooltip .top { display: none; position: absolute; z-index: 20; left: 0; top: 100%; min-width: 220px; padding: 8px 12px;
                color: #fff; background: #202124; border-radius: 6px; white-space: pre-wrap; font-size: 12px; }
.cooltip:hover .top { display: block; }
.fas, .far, .fa { font-style: normal; display: inline-block; width: 1.1em; height: 1.1em; vertical-align: -.2em; }
.fas::before, .far::before, .fa::before { content: ""; display: block; width: 100%; height: 100%;
                                          background: no-repeat center / contain; }
.fa-check-circle::before { background-image: __OK__; }
.fa-times::before, .fa-times-circle::before { background-image: __FAIL__; }
.fa-exclamation-triangle::before { background-image: __WARN__; }
.fa-question-circle::before, .fa-comment::before, .fa-info-circle::before { background-image: __INFO__; }
.curate-status { white-space: nowrap; }
.curate-status-text { margin-left: 6px; font-weight: 600; }
.curate-status-text.ok { color: var(--ok); } .curate-status-text.bad { color: var(--bad); }
.curate-tab-links { display: flex; gap: 16px; border-bottom: 1px solid var(--line); padding: 4px 0;
                    margin-bottom: 8px; }
.curate-tab { margin-bottom: 24px; }
details.curate-collapse > summary { cursor: pointer; color: var(--link); margin: 4px 0; }
.curate-filter label { display: block; margin: 2px 0; cursor: pointer; }
body:has(#curate-failed-only:checked) tr:has(> td.hide-succeeded-validation-target-child),
body:has(#curate-failed-only:checked) .hide-succeeded-validation-target,
body:has(#curate-failed-only:checked) .ge-section:has(.hide-succeeded-validations-column-section-target-child) {
  display: none; }
.curate-footer { color: var(--muted); font-size: 12px; padding: 12px 24px; border-top: 1px solid var(--line); }
""".replace("__OK__", _ICON_OK).replace("__FAIL__", _ICON_FAIL).replace("__WARN__", _ICON_WARN) \
   .replace("__INFO__", _ICON_INFO)

_HEAD = """<meta charset="UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    {% include 'favicon.j2' %}
    <style>{% include 'curate_data_docs.css' %}</style>"""

_OFFLINE_TEMPLATES = {
    "curate_data_docs.css": _CSS,
    "page.j2": """<!DOCTYPE html>
<html lang="en">
  <head>
    <title>{{ (page_title or "Data Docs") | e }} - Data Docs</title>
    """ + _HEAD + """
  </head>
  <body>
    {% include 'top_navbar.j2' %}
    <div class="container-fluid">
      <div class="row">
        {% include 'sidebar.j2' %}
        <main class="col-md-10">
          {% for section in sections %}{% set section_loop = loop -%}{% include 'section.j2' %}{% endfor %}
        </main>
      </div>
    </div>
    {% include 'cloud-footer.j2' %}
  </body>
</html>
""",
    "index_page.j2": """<!DOCTYPE html>
<html lang="en">
  <head>
    <title>Data Docs</title>
    """ + _HEAD + """
  </head>
  <body>
    {% include 'top_navbar.j2' %}
    <div class="container-fluid">
      <main>
        {% for section in sections %}{% set section_loop = loop -%}{% include 'section.j2' %}{% endfor %}
      </main>
    </div>
    {% include 'cloud-footer.j2' %}
  </body>
</html>
""",
    "favicon.j2": """<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' \
viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='8' fill='%231e8e3e'/%3E%3C/svg%3E">""",
    "js_script_imports.j2": "",
    "cta_footer.j2": "",
    "cloud-footer.j2": """<footer class="curate-footer">Written by curate with Great Expectations {{ ge_version }}.
  Every page and style is in this folder: the pages work offline.</footer>""",
    "top_navbar.j2": """{% set dots = expectation_suite_name.count(".") if expectation_suite_name else 0 -%}
{% if "ValidationResults" in renderer_type or "ProfilingResults" in renderer_type -%}
  {% set home_url = ((dots + 4) * "../") + "index.html" -%}
{% elif "ExpectationSuite" in renderer_type -%}
  {% set home_url = ((dots + 1) * "../") + "index.html" -%}
{% else -%}
  {% set home_url = "index.html" -%}
{% endif -%}
<nav class="curate-navbar">
  <a class="curate-brand" href="{{ home_url }}">Data Docs</a>
  {% if page_title %}<ol class="curate-breadcrumb"><li><a href="{{ home_url }}">Home</a></li>
    <li aria-current="page">{{ page_title | e }}</li></ol>{% endif %}
</nav>""",
    "page_action_card.j2": """<div class="card curate-filter">
  <div class="card-header"><strong>Show</strong></div>
  <div class="card-body">
    <label><input type="radio" name="curate-filter" id="curate-show-all" checked> every expectation</label>
    <label><input type="radio" name="curate-filter" id="curate-failed-only"> failed only</label>
  </div>
</div>""",
    "bootstrap_table.j2": """{% include 'content_block_header.j2' %}
{% set table_id = content_block_id ~ "-body-table" %}
{% set table_columns = content_block["table_columns"] %}
{% set table_rows = content_block["table_data"] | render_bootstrap_table_data %}
{% set options = content_block.get("table_options", {}) %}
{% set sort = namespace(key=options.get("sortName")) %}
{% if sort.key %}
  {% for column in table_columns if column["field"] == sort.key %}
    {% set sort.key = column.get("sortName", sort.key) %}
  {% endfor %}
  {% set table_rows = table_rows | sort(attribute=sort.key, reverse=options.get("sortOrder") == "desc") %}
{% endif %}
<div class="table-responsive">
<table id="{{ table_id }}" class="table table-sm">
  <thead><tr>{% for column in table_columns %}<th>{{ column.get("title", "") | e }}</th>{% endfor %}</tr></thead>
  <tbody>
  {% for row in table_rows %}
    {% set link = row.get("_table_row_link_path") %}
    <tr>
    {% for column in table_columns %}
      {% set cell = row.get(column["field"], "") | string %}
      <td{% if column["field"] == "validation_success" %} class="curate-status"{% endif %}>
        {%- if link and "<a " not in cell %}<a href="{{ link | e }}">{{ cell }}</a>{% else %}{{ cell }}{% endif -%}
        {%- if column["field"] == "validation_success" and row.get("_validation_success_text") -%}
          {% set ok = row.get("_validation_success_text") == "Success" %}
          <span class="curate-status-text {{ 'ok' if ok else 'bad' }}">{{ "passed" if ok else "failed" }}</span>
        {%- endif -%}
      </td>
    {% endfor %}
    </tr>
  {% else %}
    <tr><td colspan="{{ table_columns | length }}" class="text-muted">none yet</td></tr>
  {% endfor %}
  </tbody>
</table>
</div>""",
    "tabs.j2": """{% include 'content_block_header.j2' %}
{% set tabs = content_block["tabs"] %}
<div id="{{ content_block_id }}-tabs-container">
  <nav class="curate-tab-links">
  {% for tab in tabs %}{% set tab_id = tab.get('tab_name', '').strip().replace(' ', '-') %}
    <a href="#{{ tab_id | e }}">{{ tab.get('tab_name', '') | e }}</a>{% endfor %}
  </nav>
  {% for tab in tabs %}
    <section class="curate-tab" id="{{ tab.get('tab_name', '').strip().replace(' ', '-') | e }}">
      <h3>{{ tab.get('tab_name', '') | e }}</h3>
      {{ tab.get("tab_content") | render_content_block(content_block_id=content_block_id ~ '-' ~ loop.index) }}
    </section>
  {% endfor %}
</div>""",
    "collapse.j2": """{% set collapse_toggle_link = content_block.get("collapse_toggle_link", "Show more...") %}
<details id="{{ content_block_id }}-parent" class="curate-collapse">
  <summary>{{ collapse_toggle_link | render_content_block }}</summary>
  {% set content_block_body_styling = "" %}
  {% include 'content_block_header.j2' %}
  {% for block in content_block["collapse"] %}
    {% set collapse_block_loop = loop %}
    {% set item_id = content_block_id ~ "-collapse-item-" ~ collapse_block_loop.index %}
    {{ block | render_content_block(content_block_id=item_id) }}
  {% endfor %}
</details>""",
    "graph.j2": """{% include 'content_block_header.j2' %}
<p class="text-muted">(chart not drawn: these pages load no scripts)</p>""",
}


_BYTECODE: dict[str, bytes] = {}


def _offline(builder: Any) -> None:
    """Put the templates above in front of GX's own in every view the site builder renders with.

    Each build makes new Jinja environments, which would compile every template again (about
    0.3 s a validation); their compiled code is kept for the process instead.
    """
    from jinja2 import BytecodeCache, ChoiceLoader, DictLoader

    class _Kept(BytecodeCache):
        def load_bytecode(self, bucket) -> None:
            code = _BYTECODE.get(bucket.key + bucket.checksum)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket) -> None:
            _BYTECODE[bucket.key + bucket.checksum] = bucket.bytecode_to_string()

    views = [s.view_class for s in builder.site_section_builders.values()] + [builder.site_index_builder.view_class]
    for view in views:
        view.env.loader = ChoiceLoader([DictLoader(_OFFLINE_TEMPLATES), view.env.loader])
        view.env.bytecode_cache = _Kept()


def _restore_suites(context: Any) -> None:
    """Put back, from their latest validation result, the suites of results kept under the docs
    folder whose suite is not (docs written before suites were kept there): their pages are
    rendered again so that every validation page's suite link resolves."""
    import great_expectations as gx

    have = {k.name for k in context.expectations_store.list_keys()}
    latest: dict[str, Any] = {}
    for key in context.validation_results_store.list_keys():
        name = key.expectation_suite_identifier.name
        if name not in have and (name not in latest or key.run_id.run_time > latest[name].run_id.run_time):
            latest[name] = key
    for name, key in latest.items():
        result = context.validation_results_store.get(key)
        expectations = [r.expectation_config.to_domain_obj() for r in result.results if r.expectation_config]
        for expectation in expectations:
            expectation.id = None  # GX refuses an expectation with an id as "belonging to another suite"
        context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))


def build_docs(context: Any, docs_dir: Path, run_id: Any, suite_name: str) -> Path:
    """Render this run's validation page, its suite's page and the index into `docs_dir`, offline;
    the index's path. OSError with GX's own reason when a page could not be written."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier
    from great_expectations.render.renderer.site_builder import SiteBuilder

    docs_dir.mkdir(parents=True, exist_ok=True)
    version = docs_dir / _DOCS_VERSION_FILE
    current = version.is_file() and version.read_text(encoding="utf-8").strip() == _DOCS_VERSION
    with gx_errors():
        if not current:
            _restore_suites(context)
        builder = SiteBuilder(
            data_context=context,
            store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            site_name="curate",
            show_how_to_buttons=False,
            # GX renders a run whose name contains "profiling" as a profile, and lists it nowhere
            # else: a recipe may well be called that. Every run here is a validation.
            site_section_builders={"profiling": "None", "validations": {"run_name_filter": {"not_equals": "\0"}}},
        )
        _offline(builder)
        # Render only this run's page and its suite's (older runs' pages are already on disk),
        # everything once for a folder written by an older curate.
        this_run = [k for k in context.validation_results_store.list_keys() if k.run_id == run_id]
        keys = [*this_run, ExpectationSuiteIdentifier(name=suite_name)] if current else None
        for section in builder.site_section_builders.values():
            section.build(resource_identifiers=keys)
        # The index lists the pages on disk whose source is kept (the rest are removed), so every
        # link it writes resolves.
        builder.site_index_builder.build()
    version.write_text(_DOCS_VERSION + "\n", encoding="utf-8")
    docs_path = docs_dir / "index.html"
    if not docs_path.is_file():
        raise OSError(f"the Data Docs build wrote no {docs_path}")
    return docs_path
