"""The dashboard's engine: explorer, queries, URL parameters, highlighting, store access."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from curate import store
from curate.dashboard import charts, comparison, queries
from curate.dashboard import params as qp
from curate.dashboard.explorer import (
    ExplorerFrame,
    Settings,
    explore_reference,
    rule_from_range,
    save_recipe,
    signal_ranges,
)
from curate.dashboard.highlight import highlight_html, offending_lines, samples_html, signal_of
from curate.dashboard.source import StoreUnavailable, ViewChanged, file_stats, probe, read_store
from curate.dashboard.synthetic import THRESHOLDS, build_store
from curate.dashboard.views import page_titles
from curate.recipes import Rule, compile_decisions, load_recipe, parse_recipe
from tests.dashboard_helpers import Holder


@pytest.fixture(scope="module")
def syn(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("syn") / "store.duckdb", 300, seed=1, train=True)


@pytest.fixture(scope="module")
def frame(syn):
    with read_store(syn) as (con, _):
        f = ExplorerFrame(con)
    yield f
    f.close()


SETTINGS = [
    Settings(),
    Settings((Rule("gopher_word_count", 150, None),)),
    Settings((Rule("lang", allow=("en", "de")), Rule("quality", 0.2, 0.8), Rule("c4_curly_bracket_count", None, 0))),
    Settings((Rule("alpha_frac", 0.1, None),), exact_dedup=True),
    Settings((Rule("alpha_frac", 0.1, None),), near_threshold=0.8),
    Settings((Rule("mean_word_len", None, 5.0), Rule("lang", allow=("zh",))), exact_dedup=True, near_threshold=0.7),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=range(len(SETTINGS)))
def test_frame_equals_compile_decisions(syn, frame, settings):
    with read_store(syn) as (con, _):
        assert frame.explore(settings) == explore_reference(con, settings)


def test_frame_matches_built_slices(syn, frame):
    with read_store(syn) as (con, _):
        built = con.execute("SELECT s.slice_id, s.n_kept, s.kept_bytes, r.yaml"
                            " FROM slices s JOIN recipes r USING (recipe_id)").fetchall()
        assert built
        for slice_id, n_kept, kept_bytes, text in built:
            out = frame.explore(Settings.from_recipe(parse_recipe(text)))
            assert (out.n_kept, out.kept_bytes) == (n_kept, kept_bytes)
            reasons = dict(con.execute("SELECT reason, count(*) FROM decisions"
                                       " WHERE slice_id = ? AND NOT kept GROUP BY 1", [slice_id]).fetchall())
            assert {s.reason: s.dropped for s in out.waterfall if s.dropped} == reasons


def test_waterfall_accounts_for_every_document(frame):
    out = frame.explore(SETTINGS[5])
    assert out.n_documents == 300
    assert sum(s.dropped for s in out.waterfall) + out.n_kept == out.n_documents
    assert out.waterfall[-1].remaining == out.n_kept
    assert [s.reason for s in out.waterfall][-2:] == ["exact_duplicate", "near_duplicate"]
    remaining = [s.remaining for s in out.waterfall]
    assert remaining == sorted(remaining, reverse=True)


def test_tighter_setting_keeps_fewer(frame):
    loose = frame.explore(Settings((Rule("quality", 0.1, None),)))
    tight = frame.explore(Settings((Rule("quality", 0.5, None),)))
    assert tight.n_kept < loose.n_kept
    assert tight.kept_tokens == tight.kept_bytes // 4


def test_unknown_threshold_or_signal_is_refused(frame):
    with pytest.raises(ValueError, match="no dedup clusters"):
        frame.explore(Settings(near_threshold=0.55))
    assert frame.thresholds == THRESHOLDS


def test_pick_returns_kept_and_dropped(syn, frame):
    s = Settings((Rule("quality", 0.4, None),))
    kept = frame.pick(s, kept=True, limit=3)
    dropped = frame.pick(s, kept=False, limit=3, reason="quality_below_min")
    assert len(kept) == 3 and all(r is None for _, r, _ in kept)
    assert len(dropped) == 3 and all(r == "quality_below_min" for _, r, _ in dropped)
    with read_store(syn) as (con, _):
        doc_id, _, excerpt = kept[0]
        text = con.execute("SELECT text FROM documents WHERE doc_id = ?", [doc_id]).fetchone()[0]
    assert excerpt == text[:300]


@pytest.mark.parametrize("settings", SETTINGS[1:], ids=range(1, len(SETTINGS)))
def test_pick_samples_in_hash_order(syn, frame, settings):
    """The frame's stored order stands in for ORDER BY: the same documents as sorting the decisions."""
    sql, params = compile_decisions(settings.to_recipe())
    with read_store(syn) as (con, _):
        for kept in (True, False):
            want = con.execute(f"SELECT doc_id, reason FROM ({sql}) WHERE (reason IS NULL) = ? "
                               "ORDER BY hash(doc_id), doc_id LIMIT 20", [*params, kept]).fetchall()
            got = [(doc_id, reason) for doc_id, reason, _ in frame.pick(settings, kept=kept, limit=20)]
            assert got == want


def test_empty_and_unscored_stores(tmp_path):
    empty = tmp_path / "empty.duckdb"
    store.connect(empty).close()
    with read_store(empty) as (con, _):
        f = ExplorerFrame(con)
        assert f.explore(Settings()).n_documents == 0
        assert explore_reference(con, Settings()).n_documents == 0
        assert queries.languages(con).empty and queries.drop_reasons(con).empty
        assert comparison.train_runs(con).empty
        assert queries.overview(con).documents == 0
    with store.open_store(empty) as con:
        con.execute("INSERT INTO documents VALUES ('d1', 's', 0, NULL, 'hello', 'h', 5, NULL, 1)")
    with read_store(empty) as (con, _):
        out = ExplorerFrame(con).explore(Settings())
        assert ((out.n_documents, out.n_kept, out.waterfall[0].reason, out.waterfall[0].dropped)
                == (1, 0, "not_scored", 1))
        assert explore_reference(con, Settings()) == out


def test_rule_from_range_only_bounds_moved_ends(syn):
    with read_store(syn) as (con, _):
        rng = signal_ranges(con, ["quality"])["quality"]
    assert rule_from_range("quality", rng.lo, rng.hi, rng) is None
    assert rule_from_range("quality", 0.3, rng.hi, rng) == Rule("quality", 0.3, None)
    assert rule_from_range("quality", rng.lo, 0.6, rng) == Rule("quality", None, 0.6)


def test_save_recipe_round_trip(tmp_path):
    s = Settings((Rule("lang", allow=("en",)), Rule("quality", 0.5, None)), exact_dedup=True, near_threshold=0.8)
    path = save_recipe(s, "mine", tmp_path)
    assert path == (tmp_path / "recipes" / "mine.yaml").resolve()
    back = load_recipe(path)
    assert back.to_dict() == s.to_recipe("mine", "saved from the settings explorer").to_dict()
    assert [r.signal for r in back.rules] == ["lang", "quality"]
    with pytest.raises(FileExistsError):
        save_recipe(s, "mine", tmp_path)
    assert save_recipe(s, "mine", tmp_path, overwrite=True) == path


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/b", "", ".hidden", "x" * 65, "a b", "..", "c:\\x"])
def test_save_recipe_refuses_paths(tmp_path, name):
    with pytest.raises(ValueError):
        save_recipe(Settings(), name, tmp_path / "data")
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.yaml"))


def test_save_recipe_refuses_symlink_out(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    (data / "recipes").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the data folder"):
        save_recipe(Settings(), "x", data)
    assert not list(outside.iterdir())


# --- URL parameters ----------------------------------------------------------------------------


def test_params_accept_valid_values():
    p = qp.parse({"page": "explorer", "slice": "a-1", "threshold": "0.8", "doc": "d1"}, pages=page_titles(),
                 slices=["a-1"], thresholds=[0.7, 0.8], doc_exists=lambda d: d == "d1")
    assert (p.page, p.slice_id, p.threshold, p.doc_id, p.problems) == ("explorer", "a-1", 0.8, "d1", ())


@pytest.mark.parametrize("raw, field", [
    ({"threshold": "abc"}, "threshold"), ({"threshold": "0.8; DROP TABLE documents"}, "threshold"),
    ({"threshold": "nan"}, "threshold"), ({"threshold": "1e400"}, "threshold"), ({"threshold": "0.75"}, "threshold"),
    ({"slice": "x' OR 1=1 --"}, "slice"), ({"slice": "a" * 5000}, "slice"),
    ({"doc": "../../etc/passwd"}, "doc"), ({"page": "<script>alert(1)</script>"}, "page"),
])
def test_params_hostile_values_become_messages(raw, field):
    p = qp.parse(raw, pages=page_titles(), slices=["a-1"], thresholds=[0.7, 0.8], doc_exists=lambda d: False)
    assert len(p.problems) == 1
    assert (p.page, p.slice_id, p.threshold, p.doc_id) == ("audit", None, None, None)
    assert "<script>" not in p.problems[0] and len(p.problems[0]) < 300


# --- queries -----------------------------------------------------------------------------------


def test_queries_agree_with_tables(syn):
    with read_store(syn) as (con, _):
        n_scored = con.execute("SELECT count(*) FROM signals").fetchone()[0]
        hist = queries.signal_histogram(con, "quality", bins=20)
        assert int(hist["documents"].sum()) == n_scored and len(hist) <= 20
        assert queries.signal_histogram(con, "lang").empty  # text signal: no histogram
        assert queries.signal_histogram(con, "no_such_signal").empty
        dropped = dict(con.execute("SELECT slice_id, n_dropped FROM slices").fetchall())
        by_slice = queries.drop_reasons(con).groupby("slice_id")["documents"].sum().to_dict()
        assert by_slice == dropped
        clusters = queries.cluster_sizes(con)
        n_members = con.execute("SELECT count(*) FROM dup_clusters").fetchone()[0]
        assert int(clusters["documents"].sum()) == n_members
        assert int(queries.languages(con)["documents"].sum()) == n_scored
        sid = next(iter(dropped))
        ex = queries.examples(con, sid, limit=3)
        assert len(ex) == 3 and all(e["reason"] for e in ex)
        doc = queries.document(con, ex[0]["doc_id"])
        assert doc["text"] == ex[0]["text"] and "quality" in doc["signals"] and doc["decisions"]
        assert queries.document(con, "nope") is None
        assert len(queries.validation_checks(con, sid)) == 3
        assert queries.runs(con)["run_id"].tolist() == sorted(queries.runs(con)["run_id"], reverse=True)


# --- highlighting ------------------------------------------------------------------------------


def test_offending_lines():
    good = "A good sentence that is long enough to count."
    text = f"{good}\nPlease enable JavaScript to view this page.\nshort\n{good}\n• bullet"
    assert offending_lines(text, "c4_javascript_line_count_above_max") == {1}
    assert offending_lines(text, "gopher_dup_line_frac_above_max") == {3}
    assert offending_lines(text, "fineweb_short_line_frac_above_max") == {2, 4}
    assert offending_lines(text, "fineweb_punct_line_frac_below_min") == {2, 4}
    assert offending_lines(text, "gopher_bullet_line_frac_above_max") == {4}
    assert offending_lines(text, "near_duplicate") == set()
    assert offending_lines("", "c4_javascript_line_count_above_max") == set()
    assert signal_of("lang_not_allowed") == "lang" and signal_of(None) is None


def test_highlight_escapes_html():
    out = highlight_html("<script>alert(1)</script>\nok", {0})
    assert "<script>" not in out and "&lt;script&gt;" in out and out.count("<mark") == 1


def test_samples_html_escapes_every_field():
    out = samples_html([("<b>id</b>", None, "<script>alert(1)</script>\n\nnext"),
                        ("d2", "quality_below_min", "<img src=x onerror=alert(1)>")])
    assert "<script>" not in out and "<img" not in out and "<b>id</b>" not in out
    assert "&lt;script&gt;" in out and "&lt;b&gt;id&lt;/b&gt;" in out and "<b>quality_below_min</b>" in out
    assert "\n" not in out  # one line: markdown cannot end the HTML block inside an excerpt


# --- store access ------------------------------------------------------------------------------


def test_read_only_connection_has_no_file_access(syn):
    with read_store(syn) as (con, view):
        assert not view.is_snapshot and view.notice is None
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
        with pytest.raises(duckdb.Error):
            con.execute("CREATE TABLE x (a INT)")


def test_missing_store_is_a_message(tmp_path):
    with pytest.raises(StoreUnavailable, match="curate demo"):
        probe(tmp_path / "nothing.duckdb")


def test_locked_store_reads_the_snapshot(tmp_path):
    db = build_store(tmp_path / "s.duckdb", 40, slices=False)
    with Holder(db):
        with pytest.raises(StoreUnavailable, match="no snapshot"):
            probe(db)
    store.publish_snapshot(db)
    with Holder(db, new_run=999):
        with read_store(db) as (con, view):
            assert view.is_snapshot and view.snapshot_run == 3
            assert view.notice == "a job is running; showing data as of run 3"
            assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 40
    view = probe(db)  # the writer is gone: back to the store itself, with the writer's run
    assert not view.is_snapshot
    with read_store(db) as (con, _):
        assert con.execute("SELECT max(run_id) FROM runs").fetchone()[0] == 999


def test_a_read_keyed_on_one_file_refuses_another(tmp_path):
    """What lets the page cache a probe: a read that would come from another file says so."""
    db = build_store(tmp_path / "s.duckdb", 40, slices=False)
    store.publish_snapshot(db)
    with read_store(db, expect=db) as (_, view):
        assert not view.is_snapshot
    before = file_stats(db)
    with Holder(db):
        assert file_stats(db) == before  # a lock alone changes no file stat
        with pytest.raises(ViewChanged):
            with read_store(db, expect=db):
                pass
        with read_store(db, expect=store.snapshot_path(db)) as (_, view):
            assert view.is_snapshot
    with pytest.raises(ViewChanged):
        with read_store(db, expect=store.snapshot_path(db)):
            pass
    with store.open_store(db) as con:
        con.execute("INSERT INTO runs (run_id, command, started_at, status) VALUES (99, 'x', now(), 'ok')")
    assert file_stats(db) != before


# --- curate audit and curate app -------------------------------------------------------------


def test_audit_text_and_offline_html(syn, tmp_path):
    import io

    from curate.audit import run_audit

    out = io.StringIO()
    html_path = tmp_path / "report" / "audit.html"
    assert run_audit(syn, "tight", html_path, out=out) == 0
    text = out.getvalue()
    assert "== Drop reasons (slice tight-" in text and "quality_below_min" in text
    assert "documents        300" in text.replace(",", "")
    page = html_path.read_text()
    assert page.count("vegaEmbed('#chart") >= 4
    assert "<script src=" not in page and "cdn.jsdelivr" not in page  # renders with no network


def test_audit_unknown_slice_is_a_usage_error(syn):
    from curate.audit import run_audit
    from curate.errors import UsageError

    with pytest.raises(UsageError, match="no slice"):
        run_audit(syn, "nope")


def test_launch_command_is_headless_and_passes_the_store(tmp_path):
    from curate.dashboard.launch import APP, command

    cmd = command(tmp_path / "x.duckdb", 8999)
    assert APP.is_file() and str(APP) in cmd
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("--server.port") + 1] == "8999"
    assert cmd[-2:] == ["--db", str((tmp_path / "x.duckdb").resolve())]


# --- the audit's questions: how dirty, what each slice keeps, why it drops, the signals ---------


def test_headline_counts_what_it_says(syn):
    import polars as pl

    from curate.signals import REGISTRY, first_failing

    with read_store(syn) as (con, _):
        h = queries.headline(con)
        frame = pl.from_pandas(con.execute("SELECT * FROM signals").df())
        per_signal = queries.failing_defaults(con).set_index("signal")["documents outside"]
        hashes = [r[0] for r in con.execute("SELECT text_hash FROM documents").fetchall()]
        near = dict(con.execute("SELECT threshold, count(*) FROM dup_clusters WHERE NOT is_representative "
                                "GROUP BY 1").fetchall())
    assert h.failing_default == first_failing(frame).is_not_null().sum()  # the registry's own keep-rule
    for name, n in per_signal.items():
        sig = REGISTRY.get(name)
        assert n == sum(not sig.keeps(v) for v in frame[name].to_list()), name
    assert h.exact_duplicates == len(hashes) - len(set(hashes)) == 15
    assert dict(h.near_duplicates) == near and list(dict(h.near_duplicates)) == list(THRESHOLDS)
    assert (h.documents, h.quarantined, h.records_read) == (300, 2, 302)
    tiles = {t.label: t for t in h.tiles()}
    assert tiles["exact duplicates"].value == "5.0%" and "15 of 300" in tiles["exact duplicates"].detail
    assert tiles["quarantined records"].value == "0.7%" and "2 of 302 records" in tiles["quarantined records"].detail
    assert tiles["near dups (J ≥ 0.7)"].value == queries.share_text(near[0.7], 300)


def test_share_text_never_rounds_to_all_or_nothing():
    assert [queries.share_text(n, 1000) for n in (0, 1, 5, 999, 1000)] == ["0%", "0.1%", "0.5%", "99.9%", "100%"]
    assert queries.share_text(1, 100_000) == "<0.1%" and queries.share_text(99_999, 100_000) == ">99.9%"
    assert queries.share_text(3, 0) == "–"


def test_kept_by_group_adds_up_to_each_slice(syn):
    with read_store(syn) as (con, _):
        long = queries.kept_by_group(con)
        built = {name: (n, kept, kb) for name, n, kept, kb in con.execute(
            "SELECT name, n_documents, n_kept, kept_bytes FROM slices").fetchall()}
        langs = dict(con.execute("SELECT lang, count(*) FROM signals GROUP BY 1").fetchall())
    assert set(long["kind"]) == {"all", "language", "source"}  # no document has a URL: no domain view
    for name, (n, kept, kept_bytes) in built.items():
        mine = long[long.slice == name]
        total = mine[mine.kind == "all"].iloc[0]
        assert (total.documents, total.kept, total.kept_bytes) == (n, kept, kept_bytes)
        for kind in ("language", "source"):
            part = mine[mine.kind == kind]
            assert (part.documents.sum(), part.kept.sum(), part.kept_bytes.sum()) == (n, kept, kept_bytes)
    tight = long[(long.slice == "tight") & (long.kind == "language")].set_index("group")
    assert dict(tight["documents"]) == langs
    assert (tight.drop(index="en")["kept"] == 0).all() and tight.loc["en", "kept"] > 0  # allow: [en]
    assert list(long[(long.kind == "source")]["group"].unique()) == ["synthetic.jsonl"]


def test_a_slice_that_wipes_out_a_language_stands_out(syn):
    with read_store(syn) as (con, _):
        long = queries.kept_by_group(con)
    overview = queries.kept_overview(long).set_index("slice")
    assert list(overview.index) == ["loose", "tight"]  # the one keeping most first
    assert overview.loc["tight", "languages ✗ / ↓"] == "5 / 0 of 6"
    assert overview.loc["loose", "languages ✗ / ↓"] == "0 / 0 of 6"
    assert overview.loc["tight", "worst language"].endswith(": 0% of 39")
    alerts = queries.kept_alerts(long)
    assert len(alerts) == 1 and alerts[0].startswith("tight (keeps 2.7%) keeps nothing of 5 of 6 languages (")
    table = queries.kept_table(long, "language")
    assert list(table.columns) == ["group", "documents", "≈ tokens", "loose", "tight"]
    assert table.iloc[-1]["group"] == "en"  # the only language tight keeps comes last
    assert (table.iloc[:-1]["tight"] == 0).all()
    overall = queries.overall_shares(long)
    assert queries.kept_mark(0.0, overall["tight"]) == "wiped" and queries.kept_mark(0.01, 0.5) == "low"
    assert queries.kept_mark(0.3, 0.5) == "" and queries.kept_mark(None, 0.5) == ""
    styled = charts.kept_styler(table, overall).to_html()
    assert "#f4a6a6" in styled and "0.0%" in styled and ">100.0%<" in styled


def test_domains_from_metadata_urls(tmp_path):
    db = build_store(tmp_path / "urls.duckdb", 60, seed=5)
    urls = ["https://www.News.example/a", "http://user@news.example:8080/b?q=1", "https://blog.example/x",
            "ftp-like: not a url"]
    with store.open_store(db) as con:
        con.execute("UPDATE documents SET metadata = json_object('url', "
                    "(?::VARCHAR[])[1 + (record_no % 4)::INTEGER]) WHERE record_no < 40", [urls])
    with read_store(db) as (con, _):
        long = queries.kept_by_group(con)
    domains = long[(long.kind == "domain") & (long.slice == "loose")].set_index("group")["documents"].to_dict()
    assert domains == {"news.example": 20, "blog.example": 10, "(no URL)": 30}


def test_rule_drops_first_alone_and_fails(syn):
    with read_store(syn) as (con, _):
        for slice_id, text in con.execute("SELECT s.slice_id, r.yaml FROM slices s JOIN recipes r "
                                          "USING (recipe_id)").fetchall():
            rules = queries.rule_drops(con, slice_id).set_index("reason")
            stored = dict(con.execute("SELECT reason, count(*) FROM decisions WHERE slice_id = ? AND NOT kept "
                                      "GROUP BY 1", [slice_id]).fetchall())
            settings = Settings.from_recipe(parse_recipe(text))
            reference = explore_reference(con, settings)  # alone by definition: kept without that rule
            assert {r: int(n) for r, n in rules["first"].items() if n} == stored
            assert list(rules.index) == [s.reason for s in reference.waterfall if s.reason != "not_scored"]
            for step in reference.waterfall:
                if step.reason == "not_scored":
                    continue
                row = rules.loc[step.reason]
                assert row["alone"] == step.alone and row["alone"] <= row["first"] <= row["fails"]
    with read_store(syn) as (con, _):
        tight = queries.rule_drops(con, queries.latest_slices(con).iloc[0]["slice_id"]).set_index("reason")
        n_en_fail = con.execute("SELECT count(*) FROM signals WHERE lang <> 'en'").fetchone()[0]
    assert {"lang_not_allowed", "quality_below_min", "near_duplicate", "exact_duplicate"} <= set(tight.index)
    assert tight.loc["lang_not_allowed", "fails"] == tight.loc["lang_not_allowed", "first"] == n_en_fail
    assert list(tight["family"]) == ["language", "quality", "gopher_repetition", "exact duplicates",
                                     "near duplicates"]


def test_grouped_reasons_keep_the_top_and_group_the_rest():
    import pandas as pd

    rules = pd.DataFrame(
        [(f"gopher_dup_{k}gram_char_frac_above_max", "gopher_repetition", 100 - k, 1, 200) for k in range(5, 11)]
        + [("lang_not_allowed", "language", 500, 300, 500), ("quality_below_min", "quality", 200, 50, 400),
           ("near_duplicate", "near duplicates", 90, 90, 120), ("mojibake_count_above_max", "encoding", 3, 0, 9),
           ("gopher_word_count_below_min", "gopher_quality", 1, 1, 4)],
        columns=["reason", "family", "first", "alone", "fails"])
    out = queries.grouped_reasons(rules, top=4)
    assert list(out["label"]) == ["lang_not_allowed", "quality_below_min", "gopher_dup_5gram_char_frac_above_max",
                                  "gopher_dup_6gram_char_frac_above_max", "gopher_repetition: 4 more rules",
                                  "near_duplicate", "other: 2 rules"]
    assert out["first"].sum() == rules["first"].sum() and out["alone"].sum() == rules["alone"].sum()
    assert out.iloc[4]["first"] == 93 + 92 + 91 + 90 and pd.isna(out.iloc[4]["fails"])
    assert queries.grouped_reasons(rules.assign(first=0)).empty
    small = rules.assign(first=[100] * 6 + [5000, 1, 1, 1, 1])  # 1 of 5,604 each: under OTHER_SHARE
    labels = list(queries.grouped_reasons(small, top=8)["label"])
    assert labels[7] == "gopher_word_count_below_min"  # the last of the top 8 (ties by name)
    assert labels[8:] == ["near_duplicate", "quality_below_min", "other: 1 rule"]  # key families are never "other"


def test_reason_families_and_their_colours():
    from curate.signals import REGISTRY

    assert queries.reason_family("lang_not_allowed") == "language"
    assert queries.reason_family("quality_below_min") == "quality"
    assert queries.reason_family("gopher_dup_line_frac_above_max") == "gopher_repetition"
    assert queries.reason_family("near_duplicate") == "near duplicates"
    assert queries.reason_family("exact_duplicate") == "exact duplicates"
    assert queries.reason_family("no_such_rule_below_min") == "other"
    every = [f.name for f in REGISTRY.families] + [*queries.REASON_FAMILIES.values(), "other"]
    colours = charts.family_colours(every)
    assert list(colours) == every and len(set(colours.values())) == len(every)  # no colour twice
    assert charts.family_colours(["language", "a_new_family"])["a_new_family"] not in charts.FAMILY_COLOURS.values()


def test_drop_reason_chart_labels_every_bar(syn):
    with read_store(syn) as (con, _):
        grouped = queries.grouped_reasons(queries.rule_drops(con, queries.latest_slices(con).iloc[0]["slice_id"]))
    spec = charts.drop_reasons(grouped).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [r["label"] for r in rows] == list(grouped["label"])
    assert sorted(r["key"] for r in rows) == [r["key"] for r in rows]  # the order the axis sorts by
    assert all(r["text"].startswith(f"{r['first']:,}") and "alone" in r["text"] for r in rows)
    colour = spec["layer"][0]["encoding"]["color"]
    assert colour["scale"]["domain"] == list(dict.fromkeys(grouped["family"]))
    assert colour["legend"]["labelLimit"] == 0


def test_histogram_axis_fits_the_data(tmp_path):
    db = build_store(tmp_path / "tail.duckdb", 400, seed=7, slices=False)
    with store.open_store(db) as con:
        con.execute("UPDATE signals SET gopher_word_count = 10000000 WHERE doc_id = (SELECT min(doc_id) FROM signals)")
        con.execute("UPDATE signals SET quality = NULL WHERE doc_id = (SELECT max(doc_id) FROM signals)")
    with read_store(db) as (con, _):
        words = queries.histogram(con, "gopher_word_count")
        quality = queries.histogram(con, "quality", bins=20)
        stops = queries.histogram(con, "c4_curly_bracket_count")
        assert queries.histogram(con, "lang") is None and queries.histogram(con, "nope") is None
    assert words.scale == "symlog" and words.hi < 1000 and words.above >= 1  # the outlier is an edge bar
    assert int(words.bins["documents"].sum()) == 400
    edges = words.bins[words.bins["edge"] != ""]
    assert set(edges["edge"]) <= {"below", "above"} and edges["documents"].sum() == words.below + words.above
    inner = words.bins[words.bins["edge"] == ""]
    assert (inner["bin_lo"] == inner["bin_lo"].round()).all()  # integer edges: no empty fractional bins
    assert "99.5th percentile" in words.caption and f"{words.above:,} document" in words.caption
    assert quality.scale == "linear" and len(quality.bins) <= 20 and quality.missing == 1
    assert int(quality.bins["documents"].sum()) == 399 and quality.caption.endswith(" 1 document has no value.")
    assert stops.scale == "linear" and "One bar per value" in stops.caption


def test_histogram_draws_the_recipe_bound_beside_the_default(syn):
    with read_store(syn) as (con, _):
        h = queries.histogram(con, "gopher_word_count")
    bounds = [charts.Bound("published default", "min", 50), charts.Bound("published default", "max", 100_000),
              charts.Bound("loose", "min", 20)]
    rows = charts.bound_rows(bounds, float(h.bins.bin_lo.min()), float(h.bins.bin_hi.max()))
    lo, hi = float(h.bins.bin_lo.min()), float(h.bins.bin_hi.max())
    assert lo > 50  # every synthetic document has more words than either minimum
    assert list(rows["label"]) == ["← loose min 20", "← published default min 50", "published default max 100,000 →"]
    assert list(rows["x"]) == [lo, lo, hi]  # beyond the axis: drawn at its edge, the label says which way
    assert list(rows["kind"]) == ["recipe", "published default", "published default"]
    same = charts.bound_rows([charts.Bound("published default", "max", 0.3), charts.Bound("strict", "max", 0.3)], 0, 1)
    assert list(same["label"]) == ["published default = strict max 0.3"] and same.iloc[0]["kind"] == "recipe"
    spec = charts.histogram(h, bounds).to_dict()
    texts = [r.get("label") for d in spec["datasets"].values() for r in d if "label" in r]
    assert "← loose min 20" in texts and "published default max 100,000 →" in texts
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "symlog"


def test_waterfall_counts_what_only_one_rule_drops(frame):
    settings = Settings((Rule("lang", allow=("en",)), Rule("quality", 0.5, None)), exact_dedup=True,
                        near_threshold=0.8)
    out = frame.explore(settings)
    assert all(s.alone <= s.dropped for s in out.waterfall)
    lone = frame.explore(Settings((Rule("quality", 0.5, None),)))
    step = next(s for s in lone.waterfall if s.reason == "quality_below_min")
    assert step.alone == step.dropped > 0  # one rule: it drops every document alone
    rows = charts.waterfall_data(out)
    dropped = rows[rows.kind == "dropped"].set_index("step")
    assert dropped.loc["lang_not_allowed", "label"].endswith(
        f"· {next(s.alone for s in out.waterfall if s.reason == 'lang_not_allowed'):,} only this rule")


def test_the_audit_reads_answer_on_an_empty_store(tmp_path):
    empty = tmp_path / "empty.duckdb"
    store.connect(empty).close()
    with read_store(empty) as (con, _):
        h = queries.headline(con)
        assert (h.documents, h.failing_default, h.exact_duplicates, h.near_duplicates) == (0, 0, 0, ())
        assert [t.value for t in h.tiles()] == ["–", "–", "–", "–"]
        assert queries.kept_by_group(con).empty and queries.kept_overview(queries.kept_by_group(con)).empty
        assert queries.kept_alerts(queries.kept_by_group(con)) == []
        assert queries.rule_drops(con, "nope").empty and queries.rule_drops_all(con).empty
        assert queries.histogram(con, "quality") is None and queries.failing_defaults(con).empty
