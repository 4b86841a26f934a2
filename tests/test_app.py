"""Every dashboard page through Streamlit's AppTest: numbers move with the widgets, empty and
partial stores say what to do, hostile URL parameters become messages."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")

from curate import store  # noqa: E402
from curate.dashboard.synthetic import build_store  # noqa: E402
from tests.dashboard_helpers import metric, run_app, texts  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("trained") / "store.duckdb", 300, seed=2, train=True)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("untrained") / "store.duckdb", 120, seed=3)


def test_audit_page(monkeypatch, trained):
    at = run_app(monkeypatch, trained)
    assert metric(at, "documents") == "300"
    assert metric(at, "quarantined") == "2"
    assert at.header[0].value == "Corpus audit"  # the default page, at /
    before = [e.label for e in at.expander]
    assert before and all(" — " in label for label in before)
    reasons = at.selectbox(key="audit_reason").options
    at.selectbox(key="audit_reason").set_value(reasons[1]).run()
    after = [e.label for e in at.expander]
    assert after and all(label.split(" — ")[1] == reasons[1] for label in after)
    at.selectbox(key="audit_signal").set_value("quality").run()
    assert not at.exception
    assert any("calibrated fastText quality score" in c.value for c in at.caption)


def test_dropped_examples_name_their_file_value_and_bound_and_link_to_the_document(monkeypatch, trained):
    at = run_app(monkeypatch, trained)
    reasons = at.selectbox(key="audit_reason").options
    bounded = next(r for r in reasons if r.endswith(("_below_min", "_above_max")))
    at.selectbox(key="audit_reason").set_value(bounded).run()
    labels = [e.label for e in at.expander]
    # '<external id or doc_id> — <reason> — <value> < min <bound>' (or > max)
    assert labels and all(len(label.split(" — ")) >= 3 and ("min" in label or "max" in label) for label in labels)
    bodies = " ".join(h.proto.body for h in at.get("html"))
    assert bodies.count("file <code>synthetic.jsonl</code> · record <code>") == len(labels)
    links = [b.proto.url for b in at.get("link_button") if b.proto.label == "Open in the document browser"]
    assert len(links) == len(labels) and all(link.startswith("documents?doc=") for link in links)


def url_problems(at) -> list[str]:
    """The page's warnings but the audit's own (what each slice wipes out, a bulleted list)."""
    return [w.value for w in at.warning if not w.value.startswith("- ")]


def test_audit_opens_a_document_from_the_url(monkeypatch, trained):
    at = run_app(monkeypatch, trained, doc="5a17000000000000-000000007")
    assert any("5a17000000000000-000000007" in m.value for m in at.markdown)
    assert not url_problems(at)


def test_explorer_slider_changes_the_numbers(monkeypatch, trained):
    at = run_app(monkeypatch, trained, page="explorer")
    at.multiselect(key="ex_signals").set_value(["quality"]).run()
    assert metric(at, "surviving documents") == "300"  # an untouched slider is no rule
    at.checkbox(key="ex_exact").check().run()
    deduped = int(metric(at, "surviving documents").replace(",", ""))
    assert deduped < 300
    at.select_slider(key="ex_threshold").set_value(0.7).run()
    near = int(metric(at, "surviving documents").replace(",", ""))
    assert near < deduped
    assert at.query_params["threshold"] == "0.7"
    at.slider(key="ex_quality").set_value((0.4, at.slider(key="ex_quality").max)).run()
    quality = int(metric(at, "surviving documents").replace(",", ""))
    assert quality < near
    at.multiselect(key="ex_lang").set_value(["en"]).run()
    assert int(metric(at, "surviving documents").replace(",", "")) < quality
    steps = at.dataframe[-1].value
    assert list(steps["reason"]) == ["not_scored", "lang_not_allowed", "quality_below_min",
                                     "exact_duplicate", "near_duplicate"]
    assert steps["dropped"].sum() + int(metric(at, "surviving documents")) == 300
    assert "allow:\n    - en" in texts(at.code)


def test_explorer_starts_from_a_slice_and_saves_a_recipe(monkeypatch, trained):
    at = run_app(monkeypatch, trained, page="explorer", threshold="0.8")
    assert at.select_slider(key="ex_threshold").value == 0.8
    slice_option = next(o for o in at.selectbox(key="ex_preset").options if o.startswith("slice: tight"))
    at.selectbox(key="ex_preset").set_value(slice_option).run()
    with store.open_store(trained, read_only=True) as con:
        n_kept = con.execute("SELECT n_kept FROM slices WHERE name = 'tight'").fetchone()[0]
    assert metric(at, "surviving documents") == f"{n_kept:,}"
    at.text_input(key="ex_name").input("from-test").run()
    at.button(key="ex_save").click().run()
    saved = trained.parent / "recipes" / "from-test.yaml"
    assert saved.is_file() and "near_threshold: 0.8" in saved.read_text()
    assert any("from-test.yaml" in s.value for s in at.success)
    at.text_input(key="ex_name").input("../escape").run()
    at.button(key="ex_save").click().run()
    assert not (trained.parent.parent / "escape.yaml").exists()
    assert at.error and "letters, digits" in at.error[0].value


def test_compare_page_with_train_results(monkeypatch, trained):
    at = run_app(monkeypatch, trained, page="compare")
    assert not at.info
    assert at.selectbox(key="cmp_metric").options[0] == "bpb"
    at.selectbox(key="cmp_metric").set_value("junk_rate").run()
    assert not at.exception
    samples = texts(at.text)
    assert "sample from loose" in samples and "sample from tight" in samples
    at.selectbox(key="cmp_prompt").set_value(1).run()
    assert "In the market sample" in texts(at.text)


def test_compare_page_without_train_results(monkeypatch, untrained):
    at = run_app(monkeypatch, untrained, page="compare")
    assert "No train results yet" in texts(at.info)
    assert at.dataframe  # the settings of each built slice are still shown


def test_validation_and_runs_pages(monkeypatch, trained):
    at = run_app(monkeypatch, trained, page="validation")
    assert at.success or at.error
    first = at.selectbox(key="slice").value
    other = next(o for o in at.selectbox(key="slice").options if o != first)
    at.selectbox(key="slice").set_value(other).run()
    assert at.query_params["slice"] == other
    at = run_app(monkeypatch, trained, page="runs")
    assert metric(at, "ok") == "4"


# --- the navigation ------------------------------------------------------------------------------

def _pages():
    from curate.dashboard.views import PAGES

    return PAGES


@pytest.mark.parametrize("view", _pages(), ids=lambda v: v.URL_PATH)
def test_every_page_in_the_navigation_renders(monkeypatch, trained, view):
    at = run_app(monkeypatch, trained, page=view.URL_PATH)  # run_app asserts no exception
    assert at.header and at.header[0].value.startswith(view.TITLE)
    assert "page" not in at.query_params  # the address names the page now
    at.run()  # a rerun stays on the page
    assert not at.exception and at.header[0].value.startswith(view.TITLE)


def test_the_navigation_lists_each_page_once():
    pages = _pages()
    assert len({v.URL_PATH for v in pages}) == len(pages) and all(callable(v.render) for v in pages)
    from curate.dashboard.views import page_titles

    assert list(page_titles()) == ["audit", "documents", "explorer", "compare", "sweeps", "validation", "runs"]


def test_an_old_link_opens_its_page_with_its_parameters(monkeypatch, trained):
    at = run_app(monkeypatch, trained, page="explorer", threshold="0.8")
    assert at.header[0].value == "Settings explorer"
    assert at.select_slider(key="ex_threshold").value == 0.8
    assert dict(at.query_params) == {"threshold": "0.8"}
    slice_id = at.selectbox(key="ex_preset").options[-1].removeprefix("slice: ")
    at = run_app(monkeypatch, trained, page="validation", slice=slice_id)
    assert at.header[0].value == "Validation (Great Expectations)"
    assert at.selectbox(key="slice").value == slice_id and not at.warning
    at = run_app(monkeypatch, trained, page="audit", doc="5a17000000000000-000000007")
    assert at.header[0].value == "Corpus audit" and not url_problems(at)
    assert any("5a17000000000000-000000007" in m.value for m in at.markdown)


def test_a_read_is_keyed_by_its_module_and_name():
    from curate.dashboard import queries
    from curate.dashboard.explorer import categories
    from curate.dashboard.reads import read_name

    assert read_name(queries.runs) == "curate.dashboard.queries.runs"
    assert read_name(categories) == "curate.dashboard.explorer.categories"
    with pytest.raises(TypeError, match="module-level"):
        read_name(lambda con: None)


# --- the audit's main questions, and the same figures in the terminal and the report ------------


def test_audit_page_terminal_and_report_agree(monkeypatch, trained, tmp_path):
    import html
    import io

    from curate.audit import run_audit
    from curate.dashboard import queries
    from curate.dashboard.source import read_store

    with read_store(trained) as (con, _):
        tiles = queries.headline(con).tiles()
        overview = queries.kept_overview(queries.kept_by_group(con))
        tight = queries.latest_slices(con).iloc[0]["slice_id"]
        alerts = queries.kept_alerts(queries.kept_by_group(con))
        rules = queries.rule_drops(con, tight)
    at = run_app(monkeypatch, trained)
    assert [m.label for m in at.metric][:len(tiles)] == [t.label for t in tiles]  # the tiles come first
    for t in tiles:
        assert metric(at, t.label) == t.value
    assert at.dataframe[0].value.reset_index(drop=True).equals(overview)
    out = io.StringIO()
    report = tmp_path / "audit.html"
    run_audit(trained, None, report, out=out)
    text, page = out.getvalue(), report.read_text()
    assert text.index("== How dirty is this corpus ==") < text.index("== Overview ==")
    lines = text.splitlines()
    for t in tiles:
        assert any(line.startswith(t.label) and f"  {t.value}  " in line for line in lines), t
        assert (f"<td>{html.escape(t.label)}</td>\n      <td>{html.escape(t.value)}</td>\n      <td>{t.n}</td>\n"
                f"      <td>{t.of}</td>") in page
    for row in overview.itertuples(index=False):
        assert any(line.startswith(row.slice) and row[1] in line and row[2] in line for line in lines)
        assert f"<td>{row.slice}</td>\n      <td>{row[1]}</td>\n      <td>{row[2]}</td>" in page
    assert len(alerts) == 1 and alerts[0].startswith("tight (keeps ") and "nothing of 5 of 6 languages" in alerts[0]
    assert alerts[0] in text and html.escape(alerts[0]) in page
    assert any("nothing of 5 of 6 languages" in w.value for w in at.warning)
    # why tight drops: every rule with both counts, on the page as in the terminal
    shown = next(d.value for d in at.dataframe if "drops alone" in d.value.columns)
    assert list(shown["reason"]) == list(rules["reason"])
    assert list(shown["drops alone"]) == list(rules["alone"])
    first = rules.set_index("reason")["first"]
    assert "quality_below_min" in text and f"{first['quality_below_min']:,}" in text


def test_audit_page_shows_a_bounded_signal_with_the_recipe_bound(monkeypatch, trained):
    at = run_app(monkeypatch, trained)
    assert at.selectbox(key="slice").value.startswith("tight-")  # the slice that drops most
    shown = at.selectbox(key="audit_signal").value
    assert shown in ("quality", "gopher_dup_line_frac")  # a numeric rule of tight's recipe
    caption = next(c.value for c in at.caption if "bounds:" in c.value)
    assert "black, solid: the recipe of slice" in caption and ("tight min 0.5" in caption or "tight max 0.3" in caption)
    at.selectbox(key="audit_signal").set_value("gopher_word_count").run()
    caption = next(c.value for c in at.caption if "bounds:" in c.value)
    assert "bounds: published default min 50; published default max 100,000." in caption
    assert "does not bound it" in caption and "symlog" in caption
    at.selectbox(key="slice").set_value(next(o for o in at.selectbox(key="slice").options
                                             if o.startswith("loose-"))).run()
    caption = next(c.value for c in at.caption if "bounds:" in c.value)
    assert caption.endswith("bounds: published default min 50; published default max 100,000; loose min 20.")


def test_audit_kept_table_per_source_and_in_tokens(monkeypatch, trained):
    at = run_app(monkeypatch, trained)
    assert at.radio(key="audit_group").options == ["languages", "sources"]
    table = at.dataframe[1].value
    assert table.iloc[0]["group"] in ("de", "es", "fr", "ru", "zh") and table.iloc[0]["tight"] == 0
    at.radio(key="audit_group").set_value("source").run()
    assert list(at.dataframe[1].value["group"]) == ["synthetic.jsonl"]
    at.radio(key="audit_unit").set_value("tokens").run()
    assert not at.exception


def test_audit_page_before_any_slice(monkeypatch, tmp_path):
    db = build_store(tmp_path / "unsliced.duckdb", 60, seed=8, slices=False)
    at = run_app(monkeypatch, db)
    assert "No slices built yet" in texts(at.info)
    assert metric(at, "exact duplicates").endswith("%")
    assert at.selectbox(key="audit_signal").value == "gopher_word_count"  # the first with a published default
    caption = next(c.value for c in at.caption if "bounds:" in c.value)
    assert "no recipe" not in caption and caption.endswith("published default max 100,000.")
