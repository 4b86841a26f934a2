"""`curate audit`: the dashboard's corpus audit as terminal tables and a self-contained HTML report.

It opens as the dashboard's audit page does, with the same functions of `curate.dashboard.queries`:
how dirty the corpus is (headline shares), what each slice keeps overall and of each language,
source and domain (the group a recipe wipes out first), and why each slice drops what it drops
(per rule: the documents it was the first failing rule for, and those it drops alone).

The HTML report embeds each chart's Vega-Lite JSON and, when `vl-convert-python` is
installed, the vega-embed JavaScript bundle that ships inside that wheel, so the report
renders with no network. Without it the report keeps its tables and says the charts need it.
"""
from __future__ import annotations

import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from curate.console import format_table
from curate.dashboard import charts, queries
from curate.dashboard.source import StoreUnavailable, read_store
from curate.errors import CurateError, ExitCode, UsageError

HISTOGRAM_SIGNALS = ("gopher_word_count", "gopher_alpha_word_frac", "fineweb_punct_line_frac", "quality")
MAX_HISTOGRAMS = 8
TEXT_GROUPS = 15  # the terminal lists this many groups per kind, the hardest hit first; the report all
KEPT_NOTE = ("Kept share of each group's documents per slice, the group hit hardest (against its slice's overall "
             f"share) first, groups under {queries.MIN_GROUP} documents last. ✗ (red in the report): the slice keeps "
             "none of it; ↓ (orange): under half the slice's overall kept share.")


@dataclass(frozen=True)
class Section:
    title: str
    table: pd.DataFrame
    chart: object | None = None  # an Altair chart
    note: str = ""
    text_table: pd.DataFrame | None = None  # what the terminal shows instead of `table`
    html: str | None = None  # the report's table, already HTML (escaped), instead of `table`


def headline_table(h: queries.Headline) -> pd.DataFrame:
    """The headline tiles as a table: what the dashboard shows as metrics, word for word."""
    return pd.DataFrame([{"what": t.label, "share": t.value, "count": t.n, "of": t.of, "detail": t.detail}
                         for t in h.tiles()], columns=["what", "share", "count", "of", "detail"])


def kept_cells(table: pd.DataFrame, long: pd.DataFrame, *, tokens: bool = False) -> pd.DataFrame:
    """`queries.kept_table` with each share as text and its mark (✗ nothing kept, ↓ under half the
    slice's overall share): the terminal's form of the table."""
    overall = queries.overall_shares(long, tokens=tokens)
    out = table.copy()
    for name in overall:
        if name not in out.columns:
            continue
        out[name] = [_cell(v, overall[name]) for v in out[name]]
    return out


def _cell(v, overall: float) -> str:
    mark = queries.kept_mark(v, overall)
    text = queries.fraction_text(v)
    return text + {"wiped": " ✗", "low": " ↓"}.get(mark, "")


def kept_html(table: pd.DataFrame, long: pd.DataFrame, *, tokens: bool = False) -> str:
    """The kept table as escaped HTML, a wiped-out cell red and one under half its slice's share orange."""
    return charts.kept_styler(table, queries.overall_shares(long, tokens=tokens)).to_html()


def default_slice(con: duckdb.DuckDBPyConnection) -> str | None:
    """The slice the audit shows first: the latest slice of the recipe that drops most."""
    latest = queries.latest_slices(con)
    return None if latest.empty else str(latest.iloc[0]["slice_id"])


def histogram_signals(rules: pd.DataFrame, present: list[str]) -> list[str]:
    """The signals worth a histogram: those of the recipe's rules that drop most, then HISTOGRAM_SIGNALS."""
    from curate.dashboard.highlight import signal_of
    from curate.signals import REGISTRY

    ranked = rules.sort_values(["first", "fails"], ascending=False, na_position="last") if not rules.empty else rules
    names = [signal_of(r) for r in ranked["reason"]] if not rules.empty else []
    out = []
    for name in [*names, *HISTOGRAM_SIGNALS]:
        if name and name in present and REGISTRY.get(name).dtype != "VARCHAR" and name not in out:
            out.append(name)
    return out[:MAX_HISTOGRAMS]


def bounds(con: duckdb.DuckDBPyConnection, name: str, slice_id: str | None) -> list[charts.Bound]:
    """The published default of a signal and the bounds the slice's recipe gives it."""
    from curate.signals import REGISTRY

    sig = REGISTRY.get(name)
    out = [charts.Bound("published default", side, float(v))
           for side, v in (("min", sig.default_min), ("max", sig.default_max)) if v is not None]
    if slice_id:
        recipe = queries.slice_recipe(con, slice_id)
        for rule in recipe.rules if recipe else ():
            if rule.signal == name:
                out += [charts.Bound(recipe.name, side, float(v))
                        for side, v in (("min", rule.min), ("max", rule.max)) if v is not None]
    return out


def bounds_text(found: list[charts.Bound]) -> str:
    if not found:
        return "no published default and no bound in the recipe"
    return "; ".join(f"{b.who} {b.side} {queries.number_text(b.value)}" for b in found)


def sections(con: duckdb.DuckDBPyConnection, slice_id: str | None = None) -> list[Section]:
    from curate.signals import REGISTRY

    out = [Section("How dirty is this corpus", headline_table(queries.headline(con)),
                   note="Shares of the documents (quarantine: of the records read); the dashboard's tiles.")]
    ov = queries.overview(con)
    out.append(Section("Overview", pd.DataFrame([
        {"what": "sources", "count": ov.sources}, {"what": "documents", "count": ov.documents},
        {"what": "bytes", "count": ov.bytes}, {"what": "≈ tokens (bytes/4)", "count": ov.tokens},
        {"what": "quarantined records", "count": ov.quarantined}, {"what": "scored documents", "count": ov.scored},
        {"what": "slices", "count": ov.slices}, {"what": "runs", "count": ov.runs}])))

    long = queries.kept_by_group(con)
    out.append(Section("What each slice keeps", queries.kept_overview(long),
                       note=(f"Latest slice of each recipe. Wiped out: groups of {queries.MIN_GROUP} documents or "
                             f"more it keeps nothing of; under half: groups kept at under half its overall share. "
                             + " ".join(queries.kept_alerts(long)))))
    for kind, plural in queries.GROUP_KINDS.items():
        table = queries.kept_table(long, kind)
        if table.empty:
            continue
        text = kept_cells(table, long)
        note = KEPT_NOTE
        if len(text) > TEXT_GROUPS:
            note += (f" The terminal shows the {TEXT_GROUPS} hardest hit of {len(text)} {plural}; the --html report "
                     "lists all, in documents and in tokens.")
        tokens = queries.kept_table(long, kind, tokens=True)
        # table: the shares as numbers (for --format json); the terminal its marked text; the report colours
        out.append(Section(f"Kept share per {kind}", table, note=note, text_table=text.head(TEXT_GROUPS),
                           html=kept_html(table, long)
                           + f"<details><summary>The same, as shares of each {kind}'s tokens (bytes/4)</summary>"
                           + kept_html(tokens, long, tokens=True) + "</details>"))

    if slice_id is None:
        slice_ids = list(queries.latest_slices(con)["slice_id"])
    else:
        slice_ids = [slice_id]
    chosen = slice_id or default_slice(con)
    grouped_all = []
    for sid in slice_ids:
        rules = queries.rule_drops(con, sid)
        name = queries.slice_name(con, sid)
        grouped = queries.grouped_reasons(rules)
        if grouped.empty:
            continue
        grouped_all.append(grouped.assign(slice=name))
        text = grouped.drop(columns=["rules"]).rename(columns={
            "label": "reason", "first": "first failing", "alone": "drops alone", "fails": "fails"})
        full = rules.rename(columns={"first": "first failing", "alone": "drops alone"})
        out.append(Section(f"Drop reasons (slice {sid})", full, text_table=None if slice_id else text,
                           note=("first failing: documents this rule was the first to fail (the slice's recorded "
                                 "reason); drops alone: documents no other rule of the recipe fails; fails: "
                                 "documents failing it at all. "
                                 + ("" if slice_id else f"The top {queries.TOP_REASONS} reasons, the rest by family; "
                                    "`curate audit --slice NAME` lists every rule.")).strip()))
    if grouped_all:
        out.insert(next(i for i, s in enumerate(out) if s.title.startswith("Drop reasons")),
                   Section("Drop reasons per slice", pd.DataFrame(),
                           charts.drop_reasons(pd.concat(grouped_all, ignore_index=True), facet=True),
                           note="Pale bar: documents a rule was the first failing rule for; solid: those it drops "
                                "alone. One colour per family."))

    cols = queries.signal_columns(con)
    rules = queries.rule_drops(con, chosen) if chosen else pd.DataFrame(columns=["reason", "first", "fails"])
    recipe_name = queries.slice_name(con, chosen) if chosen else None
    for name in histogram_signals(rules, cols):
        h = queries.histogram(con, name)
        if h is None:
            continue
        sig = REGISTRY.get(name)
        found = bounds(con, name, chosen)
        out.append(Section(f"Signal: {name}", h.bins.round(4), charts.histogram(h, found),
                           note=(f"{sig.meaning}. Source: {sig.source}. {h.caption} Lines: {bounds_text(found)}"
                                 + (f" (the recipe of slice {recipe_name})." if recipe_name else ".")),
                           text_table=queries.signal_summary(con, name).assign(bounds=bounds_text(found))))
    out.append(Section("Documents outside each published default", queries.failing_defaults(con)))
    out.append(Section("Sources", queries.sources(con)))
    langs = queries.languages(con)
    out.append(Section("Languages", langs, charts.languages(langs) if not langs.empty else None))
    clusters = queries.cluster_sizes(con)
    out.append(Section("Near-duplicate cluster sizes", clusters,
                       charts.cluster_sizes(clusters) if not clusters.empty else None))
    qerr = queries.quarantine_by_error(con)
    out.append(Section("Quarantine by error kind", qerr, charts.quarantine_by_error(qerr) if not qerr.empty else None))
    return out


def to_text(secs: list[Section], notice: str | None = None) -> str:
    parts = [notice] if notice else []
    for sec in secs:
        table = sec.table if sec.text_table is None else sec.text_table
        if table.empty and sec.chart is not None:
            continue  # a chart alone: the tables around it say the same in the terminal
        parts.append(f"== {sec.title} ==")
        if sec.note:
            parts.append(sec.note)
        if table.empty:
            parts.append("(none)")
        else:
            rows = [[_plain(v) for v in row] for row in table.itertuples(index=False)]
            parts.append(format_table([str(c) for c in table.columns], rows))
        parts.append("")
    return "\n".join(parts)


def _plain(v):
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def _vega_bundle() -> str | None:
    try:
        import vl_convert
        from altair.utils._importers import vl_version_for_vl_convert
    except ImportError:
        return None
    return vl_convert.javascript_bundle(vl_version=vl_version_for_vl_convert())


def to_html(secs: list[Section], title: str, notice: str | None = None) -> str:
    bundle = _vega_bundle()
    body = [f"<h1>{html.escape(title)}</h1>"]
    if notice:
        body.append(f"<p class='notice'>{html.escape(notice)}</p>")
    if bundle is None:
        body.append("<p class='notice'>Charts need the <code>vl-convert-python</code> package (it carries the "
                    "Vega JavaScript so the report works offline); the tables below are complete.</p>")
    scripts = []
    for i, sec in enumerate(secs):
        body.append(f"<h2>{html.escape(sec.title)}</h2>")
        if sec.note:
            body.append(f"<p>{html.escape(sec.note)}</p>")
        if sec.chart is not None and bundle is not None:
            spec = json.dumps(sec.chart.to_dict()).replace("</", "<\\/")
            body.append(f"<div id='chart{i}'></div>")
            scripts.append(f"vegaEmbed('#chart{i}', {spec}, {{actions: false}}).catch(console.error);")
        if sec.html is not None:
            body.append(sec.html)
        elif not sec.table.empty:
            body.append(sec.table.to_html(index=False, escape=True, border=0, na_rep="–"))
        elif sec.chart is None:
            body.append("<p>(none)</p>")
    head = ("<meta charset='utf-8'><title>" + html.escape(title) + "</title><style>"
            "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:0.85em}"
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
            ".notice{background:#fff3cd;padding:0.5em}"
            "</style>")
    if bundle is not None:
        head += "<script>" + bundle.replace("</script", "<\\/script") + "</script>"
    tail = "<script>" + "\n".join(scripts) + "</script>" if scripts else ""
    return f"<!DOCTYPE html><html><head>{head}</head><body>{''.join(body)}{tail}</body></html>"


def run_audit(db: Path, slice_name: str | None = None, html_path: Path | None = None, *, out=sys.stdout) -> int:
    """`curate audit [--slice S] [--html FILE]`: print the audit; optionally write the HTML report."""
    from curate.recipes import resolve_slice

    try:
        with read_store(db) as (con, view):
            slice_id = resolve_slice(con, slice_name)[0] if slice_name else None
            secs = sections(con, slice_id)
    except StoreUnavailable as exc:
        raise CurateError(str(exc), ExitCode.FAILED) from exc
    except UsageError:
        raise
    print(to_text(secs, view.notice), file=out)
    if html_path is not None:  # a path or a URL (curate/remote.py)
        from curate.remote import write_text

        html_path = write_text(html_path, to_html(secs, f"Corpus audit: {Path(db).name}", view.notice))
        print(f"wrote {html_path}", file=sys.stderr)
    return 0
