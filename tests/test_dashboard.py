"""The dashboard's engine: explorer, queries, URL parameters, highlighting, store access."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from curate import store
from curate.dashboard import params as qp
from curate.dashboard import queries
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
        assert queries.train_results(con).empty and queries.comparison(con).empty
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


def test_comparison_joins_metrics_and_settings(syn):
    with read_store(syn) as (con, _):
        comp = queries.comparison(con)
        runs = queries.train_results(con)
    assert set(comp["slice"]) == {"loose", "tight"} and (comp["seeds"] == 2).all()
    tight = comp[comp.slice == "tight"].iloc[0]
    assert tight["near_threshold"] == 0.8 and tight["quality.min"] == 0.5
    assert tight["bpb"] == pytest.approx(runs[runs.slice == "tight"]["bpb"].mean())
    with read_store(syn) as (con, _):
        gens = queries.generations_for_prompt(con, 0, [tight["slice_id"]])
    assert len(gens) == 2 and set(gens["slice"]) == {"tight"}


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
