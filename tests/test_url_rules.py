"""URL and domain signals, blocklists and allow-lists: the signals from a document's `url`,
list files (comments, bad lines, unreadable files), and recipes dropping on them."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import cli, pipeline, recipes, store
from curate.engines import LocalEngine
from curate.recipes import RecipeError, load_recipe, parse_recipe
from curate.signals import REGISTRY, score_texts
from curate.signals.url import MAX_URL_CHARS, url_host_path, url_signals
from curate.urllists import ListFileError, parse_line, read_list

TEXT = "A plain sentence about the weather in the valley, long enough to be a document of its own."


def signals_of(url):
    return url_signals(url)


@pytest.mark.parametrize("url, expected", [
    ("https://www.bbc.co.uk/news?x=1", ("www.bbc.co.uk", "bbc.co.uk", "uk")),
    ("HTTP://Docs.Python.ORG:8080/3/", ("docs.python.org", "python.org", "org")),
    ("https://user:pw@shop.example.com./cart", ("shop.example.com", "example.com", "com")),
    ("example.com/no-scheme", ("example.com", "example.com", "com")),
    ("https://www.cityscope.test/news/1", ("www.cityscope.test", "cityscope.test", "test")),  # no known suffix
    ("http://192.168.0.1/admin", ("192.168.0.1", "192.168.0.1", None)),
    ("http://[2001:db8::1]:80/", ("2001:db8::1", "2001:db8::1", None)),
    ("http://a.b.kawasaki.jp/", ("a.b.kawasaki.jp", "a.b.kawasaki.jp", "jp")),  # *.kawasaki.jp is a suffix
])
def test_domain_registered_domain_and_tld(url, expected):
    assert signals_of(url) == expected


def test_idn_and_punycode_are_one_host():
    uni = signals_of("https://пример.рф/путь")
    puny = signals_of("https://xn--e1afmkfd.xn--p1ai/")
    assert uni == puny == ("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai", "xn--p1ai")
    assert signals_of("http://MÜNCHEN.de/")[0] == "xn--mnchen-3ya.de"


@pytest.mark.parametrize("url", [
    None, "", "   ", 42, "mailto:someone@example.com", "javascript:alert(1)", "http://", "http://[::1",
    "http://a b.com/", "http://" + "a" * 64 + ".com/", "http://" + "a." * 130 + "com/",
    "http://" + "x" * MAX_URL_CHARS + ".com/", "http://exa<mple.com/", "http://xn--.com\x00/",
])
def test_no_url_or_an_invalid_one_gives_nulls(url):
    assert signals_of(url) == (None, None, None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_as_url_never_raises(text):
    hp = url_host_path(text)
    if hp is not None:
        assert hp[0] == hp[0].lower() and hp[0].isascii() and len(hp[0]) <= 253


def test_score_texts_reads_urls_and_nulls_without():
    df = score_texts([TEXT, "", "   "], urls=["https://www.bbc.co.uk/", None, "not a url at all"])
    assert df["url_domain"].to_list() == ["www.bbc.co.uk", None, None]
    assert df["url_tld"].to_list() == ["uk", None, None]
    assert score_texts([TEXT])["url_registered_domain"].to_list() == [None]  # no URLs given at all
    assert [s.name for s in REGISTRY.family("url")] == ["url_domain", "url_registered_domain", "url_tld"]


def test_the_suffix_list_is_the_bundled_snapshot_no_network(monkeypatch):
    from curate.signals import url

    def no_network(*a, **k):
        raise AssertionError("a network connection was attempted")

    url._extractor.cache_clear()
    url.domain_parts.cache_clear()
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert url_signals("https://www.example.ac.uk/") == ("www.example.ac.uk", "example.ac.uk", "uk")


# --- list files -----------------------------------------------------------------------------------


def test_list_lines_comments_domains_and_urls(tmp_path):
    p = tmp_path / "adult.txt"
    p.write_text("\ufeff# UT1 adult, a few lines\n\nexample.com\n*.Wild.ORG   # trailing comment\n.dot.net\n"
                 "http://www.pages.io/Some/Path\nпример.рф\n", encoding="utf-8")
    entries, digest = read_list(p)
    got = sorted((e.host, e.path) for e in entries)
    assert got == sorted([("example.com", ""), ("wild.org", ""), ("dot.net", ""), ("pages.io", "/some/path"),
                          ("xn--e1afmkfd.xn--p1ai", "")])
    assert len(digest.hexdigest()) == 64


@pytest.mark.parametrize("line, message", [
    ("two words.com", "holds a space"),
    ("exa$mple.com", "not a domain name"),
    ("a" * 64 + ".com", "not a domain name"),
    ("http:///path-only", "not a URL with a host"),
])
def test_bad_list_lines(line, message):
    with pytest.raises(ValueError, match=message):
        parse_line(line)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.from_regex(r"\A[\*\.]{0,2}[A-Za-z0-9_.-]{0,70}\Z"), st.text(max_size=40)), max_size=8))
def test_the_fast_chunk_path_agrees_with_parse_line(tmp_path_factory, lines):
    from curate.urllists import _chunk_entries

    lines = [ln.replace("\n", " ").replace("\r", " ") for ln in lines]
    expected, error = [], None
    for ln in lines:
        try:
            e = parse_line(ln)
        except ValueError:
            error = True
            break
        if e is not None:
            expected.append((e.host, e.path))
    try:
        plain, hosts, paths = _chunk_entries(Path("l.txt"), 1, lines)
    except ListFileError:
        assert error
        return
    got = [(h, "") for h in plain.to_list()] + list(zip(hosts, paths))
    assert not error and sorted(got) == sorted(expected)


def test_a_bad_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("ok.com\n# fine\nnot ok.com\n", encoding="utf-8")
    with pytest.raises(ListFileError, match=r"bad\.txt line 3: 'not ok\.com' holds a space"):
        list(read_list(p)[0])
    p.write_bytes(b"ok.com\n\xff\xfe.com\n")
    with pytest.raises(ListFileError, match=r"bad\.txt line 2: not UTF-8"):
        list(read_list(p)[0])


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path):
    p = tmp_path / "huge.txt"
    p.write_bytes(b"ok.com\n" + b"a" * (1 << 22) + b".com\n")
    with pytest.raises(ListFileError, match=r"huge\.txt line 2: over [\d,]+ bytes"):
        list(read_list(p)[0])


def test_line_numbers_hold_across_read_blocks(tmp_path, monkeypatch):
    from curate import urllists

    monkeypatch.setattr(urllists, "_BLOCK", 16)  # lines straddle many reads
    lines = [f"host{i}.example.com" for i in range(1, 51)]
    p = tmp_path / "l.txt"
    p.write_text("\n".join(lines), encoding="utf-8")  # no newline at the end
    assert sorted(e.host for e in read_list(p)[0]) == sorted(lines)
    lines[36] = "bad host.com"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ListFileError, match=r"l\.txt line 37: 'bad host\.com'"):
        list(read_list(p)[0])
    p.write_bytes(("\n".join(lines[:39]) + "\n").encode() + b"caf\xe9.com\n")
    with pytest.raises(ListFileError, match=r"l\.txt line 37"):  # the first fault wins
        list(read_list(p)[0])
    p.write_bytes(("\n".join(lines[:36]) + "\n").encode() + b"caf\xe9.com\n")
    with pytest.raises(ListFileError, match=r"l\.txt line 37: not UTF-8 \(byte 0xe9\)"):
        list(read_list(p)[0])


def test_missing_or_unreadable_list(tmp_path):
    with pytest.raises(ListFileError, match="no such list file"):
        list(read_list(tmp_path / "nope.txt")[0])
    with pytest.raises(ListFileError, match="a folder"):
        list(read_list(tmp_path)[0])


# --- recipes ----------------------------------------------------------------------------------------

DOCS = [
    {"id": "blocked", "text": TEXT + " one", "url": "https://www.bad-site.com/page"},
    {"id": "sub", "text": TEXT + " two", "url": "https://cdn.bad-site.com/x"},
    {"id": "allowed", "text": TEXT + " three", "url": "https://good.bad-site.com/x"},
    {"id": "urlpat", "text": TEXT + " four", "url": "http://forum.org/Board/Adult/42"},
    {"id": "clean", "text": TEXT + " five", "url": "https://forum.org/board/cooking"},
    {"id": "gamble", "text": TEXT + " six", "url": "https://casino.xn--e1afmkfd.xn--p1ai/"},
    {"id": "nourl", "text": TEXT + " seven"},
    {"id": "badurl", "text": TEXT + " eight", "url": "javascript:void(0)"},
]


@pytest.fixture
def web_store(tmp_path):
    db = tmp_path / "store.duckdb"
    src = tmp_path / "web.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    pipeline.ingest(db, [str(src)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "adult.txt").write_text("# adult\nbad-site.com\nforum.org/board/adult\n", encoding="utf-8")
    (lists / "gambling.txt").write_text("пример.рф\n", encoding="utf-8")
    (lists / "ok.txt").write_text("good.bad-site.com\n", encoding="utf-8")
    return db


def reasons(db, recipe) -> dict[str, str | None]:
    with store.open_store(db) as con:
        res = recipes.build_slice(con, recipe)
        rows = con.execute("""SELECT d.external_id, k.reason FROM decisions k JOIN documents d USING (doc_id)
                              WHERE k.slice_id = ?""", [res.slice_id]).fetchall()
        assert res.n_documents == res.n_kept + res.n_dropped == len(DOCS)
    return dict(rows)


def test_recipe_drops_on_blocklists_with_the_list_in_the_reason(web_store, tmp_path):
    recipe_file = tmp_path / "web.yaml"  # list paths are relative to the recipe file
    recipe_file.write_text("name: web\nfilters:\n"
                           "  url_blocklist: {adult: lists/adult.txt, gambling: lists/gambling.txt}\n"
                           "  url_allowlist: {ok: lists/ok.txt}\n", encoding="utf-8")
    got = reasons(web_store, load_recipe(recipe_file))
    assert got == {"blocked": "url_blocklist:adult", "sub": "url_blocklist:adult", "allowed": None,
                   "urlpat": "url_blocklist:adult", "clean": None, "gamble": "url_blocklist:gambling",
                   "nourl": "url_missing", "badurl": "url_missing"}


def test_domain_signals_in_recipe_rules(web_store):
    got = reasons(web_store, parse_recipe("name: tld\nfilters:\n  url_tld: {allow: [org, com]}\n"))
    assert got["clean"] is None and got["blocked"] is None
    assert got["gamble"] == "url_tld_not_allowed"
    assert got["nourl"] == "url_tld_not_allowed"  # a null fails a rule, as for every signal


def test_blocklist_runs_where_it_is_written(web_store, tmp_path):
    (tmp_path / "l.txt").write_text("bad-site.com\n", encoding="utf-8")
    first = parse_recipe("name: a\nfilters:\n  url_blocklist: {x: l.txt}\n  url_tld: {allow: [org]}\n",
                         base_dir=tmp_path)
    second = parse_recipe("name: b\nfilters:\n  url_tld: {allow: [org]}\n  url_blocklist: {x: l.txt}\n",
                          base_dir=tmp_path)
    assert reasons(web_store, first)["blocked"] == "url_blocklist:x"
    assert reasons(web_store, second)["blocked"] == "url_tld_not_allowed"


def test_recipe_round_trips_with_absolute_list_paths(tmp_path):
    r = parse_recipe("name: w\nfilters:\n  word_count: {min: 1}\n  url_blocklist: {adult: a.txt}\n"
                     "  url_allowlist: b.txt\n  decontam_overlap: [mmlu]\n", base_dir=tmp_path)
    d = r.to_dict()
    assert list(d["filters"]) == ["word_count", "url_blocklist", "url_allowlist", "decontam_overlap"]
    assert d["filters"]["url_blocklist"] == {"adult": str(tmp_path / "a.txt")}
    assert d["filters"]["url_allowlist"] == {"allow": str(tmp_path / "b.txt")}
    again = parse_recipe(r.to_yaml())
    assert again.recipe_id == r.recipe_id and again.doc_rules == r.doc_rules


@pytest.mark.parametrize("filters, message", [
    ("url_blocklist: [a.txt]", "takes a mapping of list name -> list file"),
    ("url_blocklist: {Bad Name: a.txt}", "list name 'Bad Name' must be"),
    ("url_blocklist: {adult: 3}", "must be the path of a list file"),
    ("url_allowlist: {ok: a.txt}", "give a `url_blocklist` too"),
    ("decontam_overlap: {a: b}", "takes a list of benchmark names"),
])
def test_bad_url_rules_name_the_line(filters, message):
    with pytest.raises(RecipeError, match=message) as exc:
        parse_recipe(f"name: t\nfilters:\n  {filters}\n", origin="r.yaml")
    assert str(exc.value).startswith("r.yaml line ")


def test_a_missing_or_bad_list_file_fails_the_slice_and_writes_nothing(web_store, tmp_path, capsys):
    (tmp_path / "bad.txt").write_text("fine.com\nnot fine.com\n", encoding="utf-8")
    for name, message in (("missing.txt", "missing.txt: no such list file"),
                          ("bad.txt", "bad.txt line 2: 'not fine.com' holds a space")):
        recipe_file = tmp_path / f"r-{name}.yaml"
        recipe_file.write_text(f"name: r\nfilters:\n  url_blocklist: {{x: {name}}}\n", encoding="utf-8")
        code = cli.main(["slice", str(recipe_file), "--db", str(web_store), "-q"])
        assert code == 2
        assert message in capsys.readouterr().err
    with store.open_store(web_store) as con:
        assert con.execute("SELECT count(*) FROM slices").fetchone()[0] == 0


def test_unreadable_list_file(web_store, tmp_path, capsys, monkeypatch):
    import os

    from curate import urllists

    p = tmp_path / "secret.txt"
    p.write_text("x.com\n", encoding="utf-8")
    p.chmod(0)
    if os.access(p, os.R_OK):  # root reads anything: make the open fail as it would for a user

        def refuse(*a, **k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(urllists, "open", refuse, raising=False)
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text("name: r\nfilters:\n  url_blocklist: {x: secret.txt}\n", encoding="utf-8")
    assert cli.main(["slice", str(recipe_file), "--db", str(web_store), "-q"]) == 2
    assert "secret.txt: cannot be read" in capsys.readouterr().err


def test_documents_without_metadata_score_null_url_signals(tmp_path):
    db = tmp_path / "s.duckdb"
    src = tmp_path / "plain"
    src.mkdir()
    (src / "a.txt").write_text(TEXT, encoding="utf-8")
    pipeline.ingest(db, [str(src)])
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        assert con.execute("SELECT url_domain, url_registered_domain, url_tld FROM signals").fetchall() == [
            (None, None, None)]


def test_the_readme_names_where_lists_come_from():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "dsi.ut-capitole.fr/blacklists" in readme


def test_hostile_url_fields_score_null_and_nothing_is_lost(tmp_path):
    rows = [{"id": "num", "text": TEXT, "url": 12345}, {"id": "list", "text": TEXT, "url": ["http://a.com/"]},
            {"id": "obj", "text": TEXT, "url": {"href": "http://a.com/"}},
            {"id": "huge", "text": TEXT, "url": "http://a.com/" + "x" * 100_000},
            {"id": "ctrl", "text": TEXT, "url": "http://a\x00b.com/"},
            {"id": "idn", "text": TEXT, "url": "https://bücher.example/"}]
    src = tmp_path / "h.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    db = tmp_path / "s.duckdb"
    pipeline.ingest(db, [str(src)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        got = dict(con.execute("SELECT d.external_id, s.url_domain FROM signals s JOIN documents d USING (doc_id)"
                               ).fetchall())
    assert got == {"num": None, "list": None, "obj": None, "huge": None, "ctrl": None,
                   "idn": "xn--bcher-kva.example"}
