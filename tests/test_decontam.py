"""Benchmark decontamination: the 13-gram rule, short items, normalisation, incremental reruns,
bad benchmark files, old stores, the report's formats, and recipes dropping on it."""
from __future__ import annotations

import csv
import gzip
import io
import json

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import cli, decontam, pipeline, recipes, store
from curate.decontam import BenchmarkError, BenchmarkSpec, load_benchmark, normalized_words, read_benchmark
from curate.errors import UsageError
from curate.recipes import parse_recipe

FILLER = ("Our town library opens at nine and closes at six, and on Saturdays the children's corner "
          "runs a reading hour that most families in the street attend.")
# 20 words: its 13-grams are what a leak looks like
QUESTION = "Which planet in our solar system has the largest number of confirmed moons orbiting it as of the year"
SHORT = "Name the longest river that flows through Egypt"  # 8 words: under 13, matched whole
TINY = "true or false"  # 3 words: under min_words, not checked


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_store(tmp_path, docs: dict[str, str], name: str = "corpus.jsonl"):
    db = tmp_path / "store.duckdb"
    src = tmp_path / name
    write_jsonl(src, [{"id": k, "text": v} for k, v in docs.items()])
    pipeline.ingest(db, [str(src)], pipeline.IngestOptions(id_field="id"))
    return db


def run_decontam(db, *specs, ngram=13, min_words=None, batch_size=2000):
    benches = [load_benchmark(decontam.parse_benchmark_arg(s), ngram=ngram, min_words=min_words) for s in specs]
    with store.open_store(db) as con:
        run_id = store.start_run(con, "decontaminate", "{}")
        rep = decontam.decontaminate(con, benches, run_id, batch_size=batch_size)
        summaries, leaked = decontam.report(con)
    return rep, summaries, leaked


def hits(db) -> set[tuple[str, str, int]]:
    with store.open_store(db, read_only=True) as con:
        return set(con.execute("""SELECT h.benchmark, d.external_id, h.item_no FROM decontam_hits h
                                  JOIN documents d USING (doc_id)""").fetchall())


@pytest.fixture
def bench(tmp_path):
    p = tmp_path / "qa.jsonl"
    other = "An item that no document of the corpus contains anywhere at all, not even in part."
    write_jsonl(p, [{"id": "q-moons", "text": QUESTION}, {"id": "q-nile", "text": SHORT},
                    {"id": "q-tf", "text": TINY}, {"id": "q-other", "text": other}])
    return p


def test_leaked_item_found_with_benchmark_and_item(tmp_path, bench):
    words = QUESTION.split()
    leak = f"{FILLER} Quiz night: {' '.join(words[:13])} and more."  # 13 words of the item in a row
    twelve = f"{FILLER} Quiz night: {' '.join(words[:12])} and more."  # one short of a 13-gram
    db = make_store(tmp_path, {"leak": leak, "clean": FILLER, "twelve": twelve})
    rep, summaries, leaked = run_decontam(db, f"qa={bench}")
    assert hits(db) == {("qa", "leak", 1)}
    assert rep.scanned == {"qa": 3}
    (s,) = summaries
    assert (s["items"], s["items_leaked"], s["documents_contaminated"], s["documents_checked"]) == (4, 1, 1, 3)
    assert [(r["item_no"], r["item_id"], r["documents"]) for r in leaked] == [(1, "q-moons", 1)]


def test_case_punctuation_and_unicode_forms_are_normalised(tmp_path, bench):
    shouted = "WHICH planet, in our SOLAR system... has the largest — number of “confirmed” moons!"
    fullwidth = "ｗｈｉｃｈ ｐｌａｎｅｔ in our solar system has the largest number of confirmed moons"
    db = make_store(tmp_path, {"shouted": shouted, "fullwidth": fullwidth, "clean": FILLER})
    run_decontam(db, f"qa={bench}")
    assert hits(db) == {("qa", "shouted", 1), ("qa", "fullwidth", 1)}
    assert normalized_words(["Don't STOP—now!"]) == [["don", "t", "stop", "now"]]


def test_short_items_match_whole_and_tiny_ones_are_not_checked(tmp_path, bench):
    docs = {"nile": "Trivia: name the LONGEST river that flows through Egypt? (Answer below.)",
            "half": "name the longest river that flows through",  # 7 of the item's 8 words
            "tf": "This statement is true or false depending on the day."}
    db = make_store(tmp_path, docs)
    _, (s,), _ = run_decontam(db, f"qa={bench}")
    assert hits(db) == {("qa", "nile", 2)}
    assert (s["items_short"], s["items_unchecked"]) == (1, 1)  # SHORT matched whole; TINY never


def test_chinese_is_matched_per_character(tmp_path):
    item = "床前明月光疑是地上霜举头望明月低头思故乡"
    p = tmp_path / "poems.txt"
    p.write_text(item + "\n", encoding="utf-8")
    db = make_store(tmp_path, {"zh": "李白写道：" + item + "。", "other": "今天天气很好，我们去公园散步吧。"})
    run_decontam(db, f"poems={p}")
    assert hits(db) == {("poems", "zh", 1)}


def test_ngram_is_configurable(tmp_path, bench):
    db = make_store(tmp_path, {"five": "we asked which planet in our solar system today"})
    run_decontam(db, f"qa={bench}")
    assert hits(db) == set()
    run_decontam(db, f"qa={bench}", ngram=5)  # another n is another index: every document again
    assert hits(db) == {("qa", "five", 1)}


def test_rerun_checks_only_new_documents_and_a_changed_file_remarks(tmp_path, bench):
    db = make_store(tmp_path, {"leak": QUESTION, "clean": FILLER})
    rep, _, _ = run_decontam(db, f"qa={bench}", batch_size=1)
    assert rep.scanned == {"qa": 2} and rep.remarked == []
    rep, _, _ = run_decontam(db, f"qa={bench}")
    assert rep.scanned == {"qa": 0} and rep.new_hits == 0  # nothing new: nothing checked
    src = tmp_path / "more.jsonl"
    write_jsonl(src, [{"id": "leak2", "text": "Repeat: " + QUESTION}, {"id": "other", "text": FILLER + " again"}])
    pipeline.ingest(db, [str(src)], pipeline.IngestOptions(id_field="id"))
    rep, _, leaked = run_decontam(db, f"qa={bench}")
    assert rep.scanned == {"qa": 2}
    assert hits(db) == {("qa", "leak", 1), ("qa", "leak2", 1)}
    assert leaked[0]["documents"] == 2
    # a second benchmark checks every document; the first one none
    other = tmp_path / "other.txt"
    other.write_text(FILLER + "\n", encoding="utf-8")
    rep, _, _ = run_decontam(db, f"qa={bench}", f"lib={other}")
    assert rep.scanned == {"qa": 0, "lib": 4}
    # the file changes: its old matches go, every document is checked against the new items
    write_jsonl(bench, [{"text": FILLER}])
    rep, summaries, _ = run_decontam(db, f"qa={bench}")
    assert rep.remarked == ["qa"] and rep.scanned == {"qa": 4}
    assert {h for h in hits(db) if h[0] == "qa"} == {("qa", "clean", 1), ("qa", "other", 1)}
    assert {s["benchmark"]: s["items"] for s in summaries} == {"lib": 1, "qa": 1}


@pytest.mark.parametrize("name, content, message", [
    ("b.jsonl", '{"text": "fine item here"}\n{"text": "broken\n', r"b\.jsonl line 2: not JSON"),
    ("b.jsonl", '{"text": "ok"}\n\n{"question": "where is the text"}\n', r"b\.jsonl line 3: no 'text' field "
                                                                          r"\(fields: question\)"),
    ("b.jsonl", '{"text": 12}\n', r"b\.jsonl line 1: 'text' is a int, not text"),
    ("b.jsonl", '["a", "list"]\n', r"b\.jsonl line 1: a JSON list, not an object"),
    ("b.jsonl", "\n  \n", r"b\.jsonl: no items"),
    ("b.txt", b"good line\n\xe9t\xe9\n", r"b\.txt line 2: not UTF-8 \(byte 0xe9 at column 1\)"),
    ("b.jsonl.gz", b"\x1f\x8bnot really gzip", r"b\.jsonl\.gz: cannot be read"),
])
def test_bad_benchmark_files_name_file_and_line(tmp_path, name, content, message):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    with pytest.raises(BenchmarkError, match=message):
        read_benchmark(BenchmarkSpec("b", p))


def test_benchmark_arguments_and_missing_files(tmp_path):
    for arg, message in (("noequals", "give NAME=FILE"), ("Bad Name=x.txt", "the name must be"),
                         ("=x.txt", "give NAME=FILE")):
        with pytest.raises(UsageError, match=message):
            decontam.parse_benchmark_arg(arg)
    with pytest.raises(BenchmarkError, match="nope.jsonl: no such file"):
        read_benchmark(BenchmarkSpec("b", tmp_path / "nope.jsonl"))
    with pytest.raises(BenchmarkError, match="not a file"):
        read_benchmark(BenchmarkSpec("b", tmp_path))


def test_gzipped_jsonl_and_plain_text(tmp_path):
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"text": "one item", "id": 7}\n{"text": "two"}\n'))
    items, sha = read_benchmark(BenchmarkSpec("b", gz))
    assert [(i.item_no, i.item_id, i.text) for i in items] == [(1, "7", "one item"), (2, None, "two")]
    txt = tmp_path / "b.txt"
    txt.write_text("\ufefffirst\n\nthird\n", encoding="utf-8")
    assert [(i.item_no, i.text) for i in read_benchmark(BenchmarkSpec("b", txt))[0]] == [(1, "first"), (3, "third")]


def test_recipe_drops_on_overlap_with_the_benchmark_as_reason(tmp_path, bench):
    db = make_store(tmp_path, {"leak": FILLER + " " + QUESTION, "clean": FILLER})
    recipe = parse_recipe("name: clean\nfilters:\n  word_count: {min: 1}\n  decontam_overlap: [qa]\n")
    with store.open_store(db) as con:
        from curate.engines import LocalEngine

        LocalEngine(1).score(con, db)
        with pytest.raises(UsageError, match="has not checked"):
            recipes.build_slice(con, recipe)
    run_decontam(db, f"qa={bench}")
    with store.open_store(db) as con:
        res = recipes.build_slice(con, recipe)
        assert res.reasons == [("decontam_overlap:qa", 1)] and res.n_kept == 1
    # a new document not yet checked: the slice is refused until decontaminate runs again
    src = tmp_path / "new.jsonl"
    write_jsonl(src, [{"id": "new", "text": FILLER + " new"}])
    pipeline.ingest(db, [str(src)], pipeline.IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        from curate.engines import LocalEngine

        LocalEngine(1).score(con, db)
        with pytest.raises(UsageError, match="1 documents were not checked"):
            recipes.build_slice(con, recipe)


def test_cli_report_as_table_json_and_csv(tmp_path, bench, capsys):
    db = make_store(tmp_path, {"leak": QUESTION, "clean": FILLER})
    assert cli.main(["decontaminate", "--db", str(db), "-q", "--benchmark", f"qa={bench}"]) == 0
    out = capsys.readouterr().out
    assert "q-moons" in out and "items leaked" in out
    assert cli.main(["decontaminate", "--db", str(db), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["benchmarks"][0]["items_leaked"] == 1 and doc["leaked_items"][0]["item_id"] == "q-moons"
    assert cli.main(["decontaminate", "--db", str(db), "-q", "--benchmark", f"qa={bench}", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["benchmark"], r["item_no"], r["documents"]) for r in rows] == [("qa", "1", "1")]


def test_cli_bad_benchmark_exits_2_before_touching_the_store(tmp_path, capsys):
    db = make_store(tmp_path, {"a": FILLER})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n{oops}\n', encoding="utf-8")
    assert cli.main(["decontaminate", "--db", str(db), "--benchmark", f"bad={bad}"]) == 2
    assert "bad.jsonl line 2: not JSON" in capsys.readouterr().err
    with store.open_store(db, read_only=True) as con:
        assert store.count_rows(con, "decontam_benchmarks") == 0


def test_a_version_2_store_gains_the_tables_and_reads_as_it_was(tmp_path, bench):
    db = make_store(tmp_path, {"a": FILLER})
    con = duckdb.connect(str(db))
    for t in ("decontam_hits", "decontam_scanned", "decontam_items", "decontam_benchmarks"):
        con.execute(f"DROP TABLE {t}")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    with store.open_store(db, read_only=True) as con:  # read as it is
        assert decontam.report(con) == ([], [])
    run_decontam(db, f"qa={bench}")  # a read-write open upgrades it
    with store.open_store(db, read_only=True) as con:
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION)
        assert store.count_rows(con, "decontam_scanned") == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "Dé", "e,", "f!"]), max_size=40), min_size=1, max_size=6),
       st.lists(st.lists(st.sampled_from(["a", "b", "c", "dé", "e", "f"]), min_size=1, max_size=16),
                min_size=1, max_size=5),
       st.integers(2, 6))
def test_matches_equal_the_plain_definition(tmp_path_factory, docs, items, n):
    """Every (document, item) pair the index finds, and only those, shares an n-gram of
    normalised words with it (or holds a short item whole)."""
    p = tmp_path_factory.mktemp("b") / "items.txt"
    p.write_text("\n".join(" ".join(w) for w in items) + "\n", encoding="utf-8")
    bench = load_benchmark(BenchmarkSpec("b", p), ngram=n, min_words=2)
    texts = [" ".join(d) for d in docs]
    h, doc = decontam._word_hashes(texts)
    got = set(decontam.match_batch(bench, h, doc))
    words_d = normalized_words(texts)
    want = set()
    for k, it in enumerate(normalized_words([" ".join(w) for w in items])):
        grams = [tuple(it[i:i + n]) for i in range(len(it) - n + 1)] if len(it) >= n else \
            ([tuple(it)] if len(it) >= 2 else [])
        for d, w in enumerate(words_d):
            L = len(grams[0]) if grams else 0
            if grams and set(grams) & {tuple(w[i:i + L]) for i in range(len(w) - L + 1)}:
                want.add((d, k))
    assert got == want


def test_curate_run_checks_new_documents_against_the_recipes_benchmarks(tmp_path, bench, capsys, monkeypatch):
    first = tmp_path / "in" / "a.jsonl"
    first.parent.mkdir()
    write_jsonl(first, [{"id": "clean", "text": FILLER}])
    db = tmp_path / "store.duckdb"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: clean\nfilters:\n  decontam_overlap: [qa]\n", encoding="utf-8")
    pipeline.ingest(db, [str(first)], pipeline.IngestOptions(id_field="id"))
    run_decontam(db, f"qa={bench}")
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"id": "leak", "text": "Repeat: " + QUESTION}])
    monkeypatch.chdir(tmp_path / "in")  # the benchmark's stored path is absolute
    code = cli.main(["run", str(recipe), "--db", str(db), "-q", "--no-validate", "--id-field", "id",
                     "--input", str(tmp_path / "in" / "*.jsonl")])
    assert code == 0, capsys.readouterr().err
    assert hits(db) == {("qa", "leak", 1)}
    with store.open_store(db, read_only=True) as con:
        sid = recipes.latest_slice(con, "clean")
        assert con.execute("SELECT reason FROM decisions WHERE slice_id = ? AND NOT kept", [sid]).fetchall() == [
            ("decontam_overlap:qa",)]
