"""`curate audit`: the dashboard's corpus audit as terminal tables and a self-contained HTML report.

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


@dataclass(frozen=True)
class Section:
    title: str
    table: pd.DataFrame
    chart: object | None = None  # an Altair chart
    note: str = ""
    text_table: pd.DataFrame | None = None  # what the terminal shows instead of `table`


def _failing_defaults(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per signal with a published default: documents outside it (NULL counts as passing here)."""
    from curate.signals import REGISTRY
    from curate.store import ident

    rows = []
    cols = queries.signal_columns(con)
    exprs, names, params = [], [], []
    for n in cols:
        s = REGISTRY.get(n)
        if not s.has_default:
            continue
        conds = []
        if s.default_min is not None:
            conds.append(f"{ident(n)} < ?")
            params.append(float(s.default_min))
        if s.default_max is not None:
            conds.append(f"{ident(n)} > ?")
            params.append(float(s.default_max))
        exprs.append(f"count(*) FILTER (WHERE {' OR '.join(conds)})")
        names.append(s)
    if not exprs:
        return pd.DataFrame(columns=["signal", "family", "default", "documents outside"])
    counts = con.execute(f"SELECT {', '.join(exprs)} FROM signals", params).fetchall()[0]
    for s, c in zip(names, counts):
        bound = (f"{'' if s.default_min is None else f'{s.default_min:g} ≤ '}x"
                 f"{'' if s.default_max is None else f' ≤ {s.default_max:g}'}")
        rows.append({"signal": s.name, "family": s.family, "default": bound, "documents outside": int(c)})
    return pd.DataFrame(rows)


def sections(con: duckdb.DuckDBPyConnection, slice_id: str | None = None) -> list[Section]:
    from curate.signals import REGISTRY

    ov = queries.overview(con)
    out = [Section("Overview", pd.DataFrame([
        {"what": "sources", "count": ov.sources}, {"what": "documents", "count": ov.documents},
        {"what": "bytes", "count": ov.bytes}, {"what": "≈ tokens (bytes/4)", "count": ov.tokens},
        {"what": "quarantined records", "count": ov.quarantined}, {"what": "scored documents", "count": ov.scored},
        {"what": "slices", "count": ov.slices}, {"what": "runs", "count": ov.runs}]))]
    out.append(Section("Sources", queries.sources(con)))
    langs = queries.languages(con)
    out.append(Section("Languages", langs, charts.languages(langs) if not langs.empty else None))
    cols = queries.signal_columns(con)
    for name in HISTOGRAM_SIGNALS:
        if name not in cols:
            continue
        hist = queries.signal_histogram(con, name)
        if hist.empty:
            continue
        sig = REGISTRY.get(name)
        out.append(Section(f"Signal: {name}", hist.round(4),
                           charts.histogram(hist, name, sig.default_min, sig.default_max),
                           note=f"{sig.meaning}. Source: {sig.source}.",
                           text_table=queries.signal_summary(con, name)))
    out.append(Section("Documents outside each published default", _failing_defaults(con)))
    reasons = queries.drop_reasons(con, slice_id)
    title = f"Drop reasons (slice {slice_id})" if slice_id else "Drop reasons per slice"
    out.append(Section(title, reasons, charts.drop_reasons(reasons) if not reasons.empty else None))
    clusters = queries.cluster_sizes(con)
    out.append(Section("Near-duplicate cluster sizes", clusters,
                       charts.cluster_sizes(clusters) if not clusters.empty else None))
    qerr = queries.quarantine_by_error(con)
    out.append(Section("Quarantine by error kind", qerr, charts.quarantine_by_error(qerr) if not qerr.empty else None))
    return out


def to_text(secs: list[Section], notice: str | None = None) -> str:
    parts = [notice] if notice else []
    for sec in secs:
        parts.append(f"== {sec.title} ==")
        table = sec.table if sec.text_table is None else sec.text_table
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
        body.append("<p>(none)</p>" if sec.table.empty else sec.table.to_html(index=False, escape=True, border=0))
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
    if html_path is not None:
        html_path = Path(html_path)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(to_html(secs, f"Corpus audit: {Path(db).name}", view.notice), encoding="utf-8")
        print(f"wrote {html_path}", file=sys.stderr)
    return 0
