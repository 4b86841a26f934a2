"""PII redaction on export: every exported string field, international formats, few false
positives, and a validation suite that checks what the export writes."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import pipeline, store
from curate.engines import LocalEngine
from curate.export import export_slice
from curate.recipes import parse_recipe
from curate.signals import Batch, pii
from curate.signals.pii import count_exported, redact_document, redact_metadata, redact_pii
from curate.validate import validate_in_store

NAMES = [s.name for s in pii.SIGNALS]


def counts(text: str) -> dict[str, int]:
    return dict(zip(NAMES, pii.score(Batch([text])).select(NAMES).row(0)))


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("ruf an: +49 30 1234567", "pii_phone_count"),
        ("ruf an: +49 (0)30 1234567", "pii_phone_count"),
        ("call +1 (555) 123-4567", "pii_phone_count"),
        ("appelez +33 1 23 45 67 89", "pii_phone_count"),
        ("appelez 01 23 45 67 89", "pii_phone_count"),
        ("tel +81-3-1234-5678", "pii_phone_count"),
        ("tel +44.20.7946.0958", "pii_phone_count"),
        ("unseparated +4930123456", "pii_phone_count"),
        ("host 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up", "pii_ip_count"),
        ("host 2001:db8::8a2e:370:7334 up", "pii_ip_count"),
        ("host fe80::1 up", "pii_ip_count"),
        ("host ::1 up", "pii_ip_count"),
        ("mapped ::ffff:192.0.2.128 here", "pii_ip_count"),
        ("host 1.2.3.4 up", "pii_ip_count"),
        ("mail josé@exämple.com now", "pii_email_count"),
        ("mail ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ now", "pii_email_count"),
        ("mail 山田@例え.日本 now", "pii_email_count"),
        ("mail ivan@xn--e1afmkfd.xn--p1ai now", "pii_email_count"),
        ("mail jose\u0301@exa\u0308mple.com now", "pii_email_count"),  # decomposed accents (NFD)
        ("mail उदाहरण@उदाहरण.भारत now", "pii_email_count"),  # Devanagari vowel signs are marks
    ],
)
def test_international_pii_is_counted_and_redacted(text, signal):
    assert counts(text)[signal] == 1
    out = redact_pii(text)
    placeholder = {"pii_phone_count": "[PHONE]", "pii_ip_count": "[IP]", "pii_email_count": "[EMAIL]"}[signal]
    assert out.count(placeholder) == 1 and not any(ch.isdigit() or ch in "@＠" for ch in out), out
    assert counts(out) == dict.fromkeys(NAMES, 0)


def test_the_reported_document_is_redacted_completely():
    text = ("Büro +49 30 1234567, host 2001:db8::8a2e:370:7334, mail josé@exämple.com "
            "oder ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ.")
    assert redact_pii(text) == "Büro [PHONE], host [IP], mail [EMAIL] oder [EMAIL]."


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3.4 is out",  # a dotted quad after "version"/"v"/"release" is a version string
        "Version: 10.0.19045.3570",
        "release 2.3.4.5",
        "libfoo v1.2.3.4",
        "meet at 12:30:45 sharp",
        "from 09:00 to 17:30",
        "born 1999-12-31, score 3-2",
        "on 31.12.2024 10:30 we met",
        "logged 2024-01-02 12:30:45",
        "it costs $1,234,567.89",
        "es kostet 1.299,99 €",
        "il coûte 1 299,99 €",
        "1 234 567 890 people",
        "1.234.567.890 Einwohner",
        "scores 10 20 30 40 50 60",
        "pi is 3.14159265358979",
        "ISBN 978-3-16-148410-0",
        "order 12345678 is short",
        "a::b and std::vector and dead::beef",
        "the ratio was 3:2:1",
        "MAC 00:1A:2B:3C:4D:5E",
        "not an address: john@localhost",
    ],
)
def test_ordinary_numbers_dates_versions_times_and_prices_are_kept(text):
    assert counts(text) == dict.fromkeys(NAMES, 0)
    assert redact_pii(text) == text


PII_PIECES = ["+49 30 1234567", "(555) 123-4567", "+1-555-123-4567", "192.168.0.1", "10.0.0.254",
              "2001:db8::1", "::ffff:10.1.2.3", "fe80::1:2", "a.b@ex.org", "josé@exämple.com",
              "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "4111 1111 1111 1111", "4111-1111-1111-1111", "01 23 45 67 89"]
GLUE = ["", " ", ".", "-", ":", "@", "+", "(", ")", "\n", ", ", "x", "0", "12", "version ", "[EMAIL]", "é", "．"]
texts = st.lists(st.one_of(st.sampled_from(PII_PIECES), st.sampled_from(GLUE),
                           st.text(alphabet="0123456789abcdef.:-+@ ()xé＠．", max_size=12)), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_redacted_text_holds_no_detectable_pii(text):
    out = redact_pii(text)
    assert counts(out) == dict.fromkeys(NAMES, 0), (text, out)
    assert all(not pii.pii_spans(out, name) for name in NAMES)


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text(max_size=40)))
def test_redacting_twice_is_redacting_once(text):
    once = redact_pii(text)
    assert redact_pii(once) == once


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), st.text(alphabet="ab1_.-+@＠．\u0301\u093eé", max_size=30)))
def test_python_finds_the_emails_polars_counts(text):
    assert len(pii.email_spans(text)) == counts(text)["pii_email_count"]


def test_long_runs_do_not_backtrack_for_ever():
    blob = "a." * 50_000 + "@" + "b-" * 50_000
    assert redact_pii(blob) == blob  # no e-mail; must return promptly (linear per "@")


def test_metadata_strings_are_redacted_recursively_and_the_rest_kept():
    meta = json.dumps({"author": {"email": "a.b@ex.org", "phones": ["+49 30 1234567", "n/a"]},
                       "views": 4930123456, "ok": True, "note": None, "contact@ex.org": "key kept"})
    assert json.loads(redact_metadata(meta)) == {
        "author": {"email": "[EMAIL]", "phones": ["[PHONE]", "n/a"]},
        "views": 4930123456, "ok": True, "note": None, "contact@ex.org": "key kept"}
    assert redact_metadata(None) is None


def test_the_no_pii_count_looks_at_every_exported_field():
    rows = [("jo@ex.org", "clean text", '{"phone": "+49 30 1234567", "ip": ["10.0.0.1"]}'),
            (None, "clean text", None)]
    got = count_exported(rows)
    assert got.row(0, named=True) == {"pii_email_count": 1, "pii_phone_count": 1, "pii_ip_count": 1,
                                      "pii_card_count": 0}
    assert got.row(1) == (0, 0, 0, 0)
    assert count_exported([redact_document(*r) for r in rows]).sum().row(0) == (0, 0, 0, 0)


TEXT = ("The committee met on Tuesday to review the budget for the coming year, and the members agreed "
        "that the library should stay open later. Call +49 30 1234567 or write to josé@exämple.com. ")
RECORDS = [
    {"id": "john.doe@example.com", "text": TEXT + "First.",
     "author": {"email": "ann@ex.org", "tel": "+1 (555) 123-4567"},
     "hosts": ["2001:db8::8a2e:370:7334", "plain"], "rank": 3},
    {"id": "doc-2", "text": TEXT + "Second, from ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ.", "source": "crawl"},
]
RECIPE = "name: red\nfilters:\n  word_count: {min: 5}\nexport: {redact_pii: true}\n"


@pytest.fixture
def built(tmp_path):
    db = tmp_path / "s.duckdb"
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    pipeline.ingest(db, [str(src)], pipeline.IngestOptions(id_field="id"))
    from curate.recipes import build_slice

    with store.open_store(db) as con:
        LocalEngine(1).score(con, db)
        res = build_slice(con, parse_recipe(RECIPE))
    assert res.n_kept == 2
    return db, res.slice_id


def _no_pii(value: str | None) -> bool:
    return value is None or not any(pii.pii_spans(value, n) for n in NAMES)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_redacted_export_holds_no_pii_in_any_field(built, tmp_path, fmt):
    db, slice_id = built
    with store.open_store(db, read_only=True) as con:
        path = export_slice(con, slice_id, tmp_path / "out", fmt, redact=True)
        doc_ids = [r[0] for r in con.execute("SELECT doc_id FROM documents ORDER BY doc_id").fetchall()]
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        rows = [(r["doc_id"], r["id"], r["text"], json.dumps(r["metadata"], ensure_ascii=False)) for r in rows]
    else:
        t = pq.read_table(path).to_pylist()
        rows = [(r["doc_id"], r["external_id"], r["text"], r["metadata"]) for r in t]
    assert [r[0] for r in rows] == doc_ids  # doc_id is ours and stays
    for _, ext, text, meta in rows:
        assert _no_pii(ext) and _no_pii(text) and _no_pii(meta)
        for s in pii.exported_strings(ext, text, meta):
            assert _no_pii(s), s
    first = next(r for r in rows if "First." in r[2])
    assert first[1] == "[EMAIL]"
    assert json.loads(first[3]) == {"author": {"email": "[EMAIL]", "tel": "[PHONE]"}, "hosts": ["[IP]", "plain"],
                                    "rank": 3}
    assert "[PHONE]" in first[2] and "[EMAIL]" in first[2]


def test_validation_checks_what_the_export_writes(built, monkeypatch):
    db, slice_id = built
    recipe = parse_recipe(RECIPE)
    with store.open_store(db) as con:
        assert validate_in_store(con, db, recipe, slice_id, None).success
        # An export that left the metadata as it was would fail the "no PII" expectations.
        monkeypatch.setattr(pii, "redact_document", lambda e, t, m: (e, pii.redact_pii(t), m))
        outcome = validate_in_store(con, db, recipe, slice_id, None)
    assert not outcome.success
    assert set(outcome.failed_checks()) == {"no_pii_email", "no_pii_phone", "no_pii_ip"}
