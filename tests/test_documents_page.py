"""The document browser (`/documents`): search, filters and pages agree with the store; a document
opens by doc_id or external id, in a slice named by its recipe, with every rule against it and its
duplicates; nothing a document holds is interpreted on the page."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

pytest.importorskip("streamlit", reason="the dashboard needs the [app] extra (streamlit)")

from curate import pipeline, store  # noqa: E402
from curate.dashboard import documents as D  # noqa: E402
from curate.dashboard import params as qp  # noqa: E402
from curate.dashboard.source import read_store  # noqa: E402
from curate.dashboard.views import page_titles  # noqa: E402
from curate.dedup import lsh, minhash  # noqa: E402
from curate.engines import LocalEngine  # noqa: E402
from curate.recipes import build_slice, parse_recipe  # noqa: E402
from tests.dashboard_helpers import run_app  # noqa: E402
from tests.test_dashboard_injection import EVIL, _parse  # noqa: E402

WORDS = ("river", "garden", "history", "market", "music", "science", "city", "winter", "harbour", "letter",
         "morning", "village", "teacher", "window", "summer", "bridge", "kitchen", "station", "forest", "story")
GLUE = ("the", "a", "of", "and", "to", "in", "is", "that", "with", "for", "on", "was", "by", "at")
RECIPE = ("name: wordy\nfilters:\n  word_count: {min: 20}\n  lang: {allow: [en]}\n"
          "dedup: {exact: true, near_threshold: 0.7}\n")
EVIL_ID = "[x](http://evil.example)"
EVIL_META = {"url": "javascript:alert(1)", "note": "<img src=\"http://127.0.0.1:9/m.png\"> **b** [l](http://evil.example)"}
GERMAN = ("Der Bahnhof liegt am Rand der Stadt, und jeden Morgen fahren die Züge pünktlich ab. Die Menschen "
          "warten auf dem Bahnsteig, trinken Kaffee und lesen die Zeitung, bevor sie zur Arbeit fahren. ")


def _prose(rng: np.random.Generator, n_words: int) -> str:
    words = [str(rng.choice(WORDS)) if i % 2 else str(rng.choice(GLUE)) for i in range(n_words)]
    sentences = [" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, n_words, 12)]
    return " ".join(sentences)


def build_corpus(tmp: Path) -> Path:
    """A real store (ingested, scored, deduplicated, sliced) of 75 documents in two files: three
    hold `heliotrope` in three cases, one `100% natural_fibre` and one `1000 naturalXfibre`, two
    are German, one is an exact and one a near copy of others, one is too short, one is EVIL;
    b-002 names a-010 in its text."""
    rng = np.random.default_rng(16)
    a = [{"id": f"a-{i:03d}", "text": _prose(rng, 60), "crawl": "2024"} for i in range(60)]
    for i, word in ((3, "heliotrope"), (17, "HELIOTROPE"), (42, "Heliotrope")):
        a[i]["text"] = a[i]["text"].replace(" ", f" {word} ", 1)
    b = [{"id": f"b-{i:03d}", "text": _prose(rng, 40)} for i in range(8)]
    b[0]["text"] += " It is made of 100% natural_fibre."
    b[1]["text"] += " It weighs 1000 naturalXfibre units."
    b[2]["text"] += " See a-010 for the rest."
    b += [{"id": "de-1", "text": GERMAN * 2}, {"id": "de-2", "text": GERMAN + GERMAN.replace("Stadt", "Insel")},
          {"id": "dup-1", "text": a[5]["text"]},
          {"id": "near-1", "text": a[6]["text"].replace("river", "canal", 1) + " And so on."},
          {"id": "short-1", "text": "Too short to keep."},
          {"id": EVIL_ID, "text": EVIL, **EVIL_META}]
    (tmp / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in a), encoding="utf-8")
    (tmp / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in b), encoding="utf-8")
    db = tmp / "store.duckdb"
    pipeline.ingest(db, [str(tmp / "a.jsonl"), str(tmp / "b.jsonl")], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        lsh.dedup(con, 0.7, minhash.SignatureSpec(), 1)
        build_slice(con, parse_recipe(RECIPE))
    return db


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("documents"))


def _sql(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with read_store(db) as (con, _):
        return con.execute(sql, params or []).fetchall()


def _doc(db: Path, external_id: str) -> str:
    return _sql(db, "SELECT doc_id FROM documents WHERE external_id = ?", [external_id])[0][0]


def _slice(db: Path) -> str:
    return _sql(db, "SELECT slice_id FROM slices WHERE name = 'wordy'")[0][0]


def _table(at):
    """The list of documents: the last table on the page."""
    return at.dataframe[-1].value


def _count(at) -> str:
    found = [m.value for m in at.markdown if " documents · " in m.value]
    assert found, [m.value for m in at.markdown]
    return found[0].split("**")[1]


def _open(monkeypatch, db, **query):
    return run_app(monkeypatch, db, page="documents", **query)


# --- the reads ---------------------------------------------------------------------------------


def test_search_is_a_literal_substring_in_any_case(corpus):
    with read_store(corpus) as (con, _):
        def found(q: str) -> set[str]:
            return set(D.search(con, D.Search(q=q)).rows["external_id"])

        assert found("heliotrope") == found("HeLiOtRoPe") == {"a-003", "a-017", "a-042"}
        assert found("100%") == {"b-000"}  # not a LIKE wildcard: 1000 does not match
        assert found("l_f") == {"b-000"}  # nor is _: naturalXfibre does not match
        assert found("(http://evil.example)") == {EVIL_ID}  # regex syntax is literal too
        assert found("züge pünktlich") == {"de-1", "de-2"}  # Unicode case folding
        assert found("a-010") == {"a-010", "b-002"}  # an external id, and a text that holds it
        assert found("no such words anywhere") == set()


def test_an_exact_id_comes_first(corpus):
    with read_store(corpus) as (con, _):
        rows = D.search(con, D.Search(q="a-010")).rows
        assert list(rows["external_id"]) == ["a-010", "b-002"]  # the id, then the text that names it
        target = _doc(corpus, "b-000")
        hits = D.search(con, D.Search(q=target))
        assert list(hits.rows["doc_id"]) == [target] and hits.total == 1
        assert D.search(con, D.Search(q="a-00")).rows.empty  # an id is matched whole


def test_filters_and_pages_agree_with_sql(corpus):
    sid = _slice(corpus)
    with read_store(corpus) as (con, _):
        everything = D.search(con, D.Search(slice_id=sid))
        (n_docs,) = con.execute("SELECT count(*) FROM documents").fetchone()
        assert everything.total == n_docs == 74 and len(everything.rows) == qp.PAGE_SIZE
        second = D.search(con, D.Search(slice_id=sid, offset=qp.PAGE_SIZE))
        ids = [*everything.rows["doc_id"], *second.rows["doc_id"]]
        assert ids == [r[0] for r in con.execute("SELECT doc_id FROM documents ORDER BY doc_id").fetchall()]
        dropped = D.search(con, D.Search(slice_id=sid, decision="dropped"))
        expected = {r[0]: r[1] for r in con.execute(
            "SELECT doc_id, reason FROM decisions WHERE slice_id = ? AND NOT kept", [sid]).fetchall()}
        assert dropped.total == len(expected) and set(dropped.rows["decision"]) == {"dropped"}
        assert dict(zip(dropped.rows["doc_id"], dropped.rows["reason"])) == expected
        for reason in set(expected.values()):
            rows = D.search(con, D.Search(slice_id=sid, reason=reason)).rows
            assert set(rows["doc_id"]) == {d for d, r in expected.items() if r == reason}
        german = D.search(con, D.Search(slice_id=sid, lang="de")).rows
        assert set(german["external_id"]) == {"de-1", "de-2"} and set(german["lang"]) == {"de"}
        (b_file,) = con.execute("SELECT source_id FROM sources WHERE uri LIKE '%b.jsonl'").fetchone()
        from_b = D.search(con, D.Search(slice_id=sid, source=b_file))
        assert from_b.total == 14 and all(u.endswith("b.jsonl") for u in from_b.rows["source"])
        both = D.search(con, D.Search(q="heliotrope", slice_id=sid, decision="kept", source=b_file))
        assert both.total == 0  # every heliotrope is in a.jsonl


def test_why_shows_the_failing_value_against_its_bound(corpus):
    sid = _slice(corpus)
    with read_store(corpus) as (con, _):
        rows = D.search(con, D.Search(slice_id=sid, decision="dropped")).rows.set_index("external_id")
        (words,) = con.execute("SELECT word_count FROM signals JOIN documents USING (doc_id)"
                               " WHERE external_id = 'short-1'").fetchone()
    assert rows.loc["short-1", "reason"] == "word_count_below_min"
    assert rows.loc["short-1", "why"] == f"{words} < min 20"
    copy_of = rows.loc["dup-1", "why"] if "dup-1" in rows.index else rows.loc["a-005", "why"]
    assert copy_of.startswith("copy of ")
    assert copy_of[len("copy of "):] in {_doc(corpus, "dup-1"), _doc(corpus, "a-005")}
    near = [w for w, r in zip(rows["why"], rows["reason"]) if r == "near_duplicate"]
    assert near and all(w.startswith("near-duplicate of ") and "at 0.7" in w for w in near)


def test_every_documents_rules_give_the_slices_decision(corpus):
    """The rule table re-derives each decision: its first FAIL is the reason the slice recorded,
    for filters and both dedup steps, or there is none and the document was kept."""
    sid = _slice(corpus)
    with read_store(corpus) as (con, _):
        decisions = con.execute("SELECT doc_id, kept, reason FROM decisions WHERE slice_id = ?", [sid]).fetchall()
        reasons = set()
        for doc_id, kept, reason in decisions:
            view = D.document_view(con, doc_id, sid)["slice"]
            assert (view["decided"], view["kept"], view["reason"]) == (True, kept, reason)
            fails = [r for r in view["rules"] if r["result"] == "FAIL"]
            recorded = [r for r in view["rules"] if r["recorded"]]
            assert view["note"] is None
            if kept:
                assert not fails and not recorded
            else:
                assert recorded and fails[0] is recorded[0], (doc_id, reason, view["rules"])
                reasons.add(reason)
            assert [r["rule"] for r in view["rules"]] == ["word_count", "lang", "exact dedup", "near dedup at 0.7"]
    assert reasons == {"word_count_below_min", "lang_not_allowed", "exact_duplicate", "near_duplicate"}


def test_duplicates_list_the_copies_and_the_cluster(corpus):
    sid = _slice(corpus)
    dup, original, near = _doc(corpus, "dup-1"), _doc(corpus, "a-005"), _doc(corpus, "near-1")
    with read_store(corpus) as (con, _):
        d = D.duplicates(con, dup, sid)
        assert d["exact_total"] == 2 and set(d["exact"]["doc_id"]) == {dup, original}
        assert list(d["exact"]["decision"]) == ["kept", "dropped"]  # the copy dedup keeps first
        (cluster,) = [n for n in D.duplicates(con, near, sid)["near"] if n["threshold"] == 0.7]
        members = cluster["members"].set_index("doc_id")
        assert cluster["size"] == len(members) >= 2 and _doc(corpus, "a-006") in members.index
        (exact_j,) = con.execute("SELECT jaccard FROM dup_pairs WHERE a = least(?, ?) AND b = greatest(?, ?)",
                                 [near, _doc(corpus, "a-006")] * 2).fetchone()
        assert members.loc[_doc(corpus, "a-006"), "jaccard"] == pytest.approx(exact_j)
        assert 0.7 <= members.loc[_doc(corpus, "a-006"), "est_jaccard"] <= 1
        assert members.loc[near, "this"] and members["kept_by_dedup"].sum() == 1


def test_links_are_url_encoded():
    assert D.doc_link(EVIL_ID, "wordy") == "documents?doc=%5Bx%5D%28http%3A%2F%2Fevil.example%29&slice=wordy"
    assert parse_qs(urlparse(D.doc_link("a&b=c d", "s-1")).query) == {"doc": ["a&b=c d"], "slice": ["s-1"]}


def test_the_url_takes_what_the_cli_takes(corpus):
    with read_store(corpus) as (con, _):
        sid = _slice(corpus)
        kw = {"pages": page_titles(), "slices": [sid], "thresholds": [0.7],
              "resolve_slice": lambda k: D.resolve_slice_key(con, k),
              "resolve_doc": lambda k: D.resolve_document(con, k)}
        p = qp.parse({"slice": "wordy", "doc": "a-003"}, **kw)
        assert (p.slice_id, p.doc_id, p.problems) == (sid, _doc(corpus, "a-003"), ())
        again = qp.parse({"slice": sid, "doc": p.doc_id}, **kw)
        assert (again.slice_id, again.doc_id, again.problems) == (sid, p.doc_id, ())
        bad = qp.parse({"slice": "nope' OR 1=1", "doc": "x" * 500}, **kw)
        assert (bad.slice_id, bad.doc_id, len(bad.problems)) == (None, None, 2)


@pytest.mark.parametrize("raw, problem", [
    ({"q": "x" * 500}, "cut to its first 200"), ({"decision": "maybe"}, "no decision"),
    ({"reason": "<script>"}, "no drop reason"), ({"lang": "[en](http://x)"}, "no language"),
    ({"source": "/etc/passwd"}, "no source"), ({"offset": "-50"}, "not a row number"),
    ({"offset": "1e9"}, "not a row number"), ({"offset": "٣"}, "not a row number"),
])
def test_browse_params_refuse_hostile_values(raw, problem):
    b = qp.parse_browse(raw, reasons=["word_count_below_min"], langs=["en"], sources={"5a17": "in/a.jsonl"})
    assert len(b.problems) == 1 and problem in b.problems[0]
    assert "<script>" not in b.problems[0] and "](" not in b.problems[0]
    assert (b.decision, b.reason, b.lang, b.source, b.offset) == (None, None, None, None, 0)
    assert len(b.q) <= qp.MAX_PATTERN


def test_browse_params_accept_valid_values():
    b = qp.parse_browse({"q": "river", "decision": "dropped", "reason": "r", "lang": "en", "source": "in/a.jsonl",
                         "offset": "120"}, reasons=["r"], langs=["en"], sources={"5a17": "in/a.jsonl"})
    assert (b.q, b.decision, b.reason, b.lang, b.source, b.offset, b.problems) == \
        ("river", "dropped", "r", "en", "5a17", 100, ())


# --- the page ----------------------------------------------------------------------------------


def test_the_page_searches_and_keeps_the_search_in_the_url(monkeypatch, corpus):
    at = _open(monkeypatch, corpus, slice="wordy")
    assert at.header[0].value == "Documents" and not at.warning
    assert _count(at) == "1–50 of 74"
    at.text_input(key="docs_q").input("HELIOTROPE").run()
    assert _count(at) == "1–3 of 3"
    assert set(_table(at)["external_id"]) == {"a-003", "a-017", "a-042"}
    assert at.query_params["q"] == "HELIOTROPE" and at.query_params["slice"] == "wordy"
    links = list(_table(at)["doc"])
    assert links == [D.doc_link(d, "wordy") for d in _table(at)["doc_id"]]


def test_the_page_filters_and_turns_pages(monkeypatch, corpus):
    at = _open(monkeypatch, corpus, slice="wordy")
    first = list(_table(at)["doc_id"])
    at.button(key="docs_next").click().run()
    assert _count(at) == "51–74 of 74" and at.query_params["offset"] == "50"
    second = list(_table(at)["doc_id"])
    assert len(second) == 24 and first[-1] < second[0]
    assert at.button(key="docs_next").disabled
    at.button(key="docs_prev").click().run()
    assert list(_table(at)["doc_id"]) == first and "offset" not in at.query_params
    at.selectbox(key="docs_decision").set_value("dropped").run()
    (n_dropped,) = _sql(corpus, "SELECT n_dropped FROM slices WHERE name = 'wordy'")[0]
    assert _count(at) == f"1–{n_dropped} of {n_dropped}" and set(_table(at)["decision"]) == {"dropped"}
    at.selectbox(key="docs_reason").set_value("lang_not_allowed").run()
    assert set(_table(at)["reason"]) == {"lang_not_allowed"}
    at.selectbox(key="docs_reason").set_value(None).run()
    at.selectbox(key="docs_decision").set_value(None).run()
    at.selectbox(key="docs_lang").set_value("de").run()
    assert set(_table(at)["external_id"]) == {"de-1", "de-2"} and at.query_params["lang"] == "de"


def test_a_link_opens_page_two_with_its_filters(monkeypatch, corpus):
    (b_file,) = _sql(corpus, "SELECT source_id FROM sources WHERE uri LIKE '%a.jsonl'")[0]
    at = _open(monkeypatch, corpus, slice="wordy", source=b_file, offset="50")
    assert _count(at) == "51–60 of 60" and not at.warning
    assert set(_table(at)["source"]) == {"a.jsonl"}
    at = _open(monkeypatch, corpus, offset="abc", lang="xx")
    assert len(at.warning) == 2 and _count(at) == "1–50 of 74"


def test_a_document_opens_by_external_id_in_a_slice_named_by_its_recipe(monkeypatch, corpus):
    at = _open(monkeypatch, corpus, doc="short-1", slice="wordy")
    doc_id = _doc(corpus, "short-1")
    assert not at.warning
    assert at.subheader[0].value == f"Document {doc_id}"
    assert "word_count_below_min" in at.error[0].value and "< min 20" in at.error[0].value
    rules = at.dataframe[0].value
    assert list(rules["rule"]) == ["word_count", "lang", "exact dedup", "near dedup at 0.7"]
    assert list(rules["result"])[0] == "FAIL" and rules["recorded"].iloc[0].startswith("◀")
    body = "".join(_parse(at.get("html")[0].proto.body).text)
    assert body == "Too short to keep."
    at = _open(monkeypatch, corpus, doc=_doc(corpus, "a-003"), slice=_slice(corpus))
    assert at.success and "Kept" in at.success[0].value and set(at.dataframe[0].value["result"]) == {"pass"}


def test_a_document_shows_its_exact_copy(monkeypatch, corpus):
    at = _open(monkeypatch, corpus, doc="dup-1", slice="wordy")
    copies = [df.value for df in at.dataframe if "this" in df.value.columns]
    assert copies and set(copies[0]["doc_id"]) == {_doc(corpus, "dup-1"), _doc(corpus, "a-005")}
    assert any("Exact copies: 2 documents share this text" in c.value for c in at.caption)


def test_the_injection_document_is_inert_on_the_page(monkeypatch, corpus):
    at = _open(monkeypatch, corpus, doc=EVIL_ID, slice="wordy")
    assert at.subheader and not at.warning
    bodies = [_parse(e.proto.body) for e in at.get("html")]
    assert "\n".join(EVIL.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").split("\n")) in [
        "".join(b.text) for b in bodies]
    for b in bodies:
        assert {t for t, _ in b.tags} <= {"div", "br", "mark", "p", "code", "b", "i"}
        assert not any("href" in a or "src" in a for _, a in b.tags)
    sources = [m.value for m in (*at.markdown, *at.caption, *at.warning, *at.info, *at.error, *at.success,
                                 *at.subheader)]
    assert any(f"` {EVIL_ID} `" in source for source in sources)  # the external id, in a code span: literal
    for source in sources:
        # outside code spans (CommonMark renders their content as it is): no link but the page's own
        prose = re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", "", source)
        for target in re.findall(r"\]\(([^)]*)\)", prose):
            assert target.startswith("documents?doc=") and re.fullmatch(r"[A-Za-z0-9?=&%._~-]+", target), source
        prose = re.sub(r"\[link to this document\]\(documents\?[A-Za-z0-9=&%._~-]+\)", "", prose)
        assert not any(bad in prose for bad in ("](", "http:", "<img", "<a ", "<script")), source
    assert [j.value for j in at.json] and json.loads(at.json[0].value) == EVIL_META  # shown as data, by st.json
    at = _open(monkeypatch, corpus, q="evil.example")
    assert list(_table(at)["external_id"]) == [EVIL_ID]  # in a table cell, as text
