"""The fast JSONL path (orjson) against the slow one (json.loads per line), kept as the oracle.

Every line the fast path reads must give the record json.loads would have given; a line
it cannot read the same way must go the slow way (and so be quarantined with the slow
path's own error).
"""
from __future__ import annotations

import json
from dataclasses import astuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate import ingest
from curate.ingest import IngestOptions, read_records

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(2 ** 70), 2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
    max_leaves=20,
)


def _same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down (1 and 1.0 differ here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_fast_json_reads_what_json_reads(value):
    line = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"
    got = ingest._fast_json(line)
    if got is not ingest._SLOW_PATH:
        assert _same(got, json.loads(line.decode("utf-8")))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=60) | st.sampled_from([
    b'{"text": NaN}', b'{"text": "\\ud800"}', b'{"n": 1e400}', b'{"n": 123456789012345678901234567890}',
    b'{"n": -9223372036854775809}', b"[" * 600 + b"]" * 600, b'{"a": 1, "a": 2}', b"\xef\xbb\xbf{}",
]))
def test_fast_json_never_disagrees_on_bytes(line):
    got = ingest._fast_json(line)
    if got is ingest._SLOW_PATH:
        return
    assert _same(got, json.loads(line.decode("utf-8")))


LINES = st.lists(
    st.one_of(
        st.builds(lambda t, extra: json.dumps({"text": t, "id": 7, **extra}, ensure_ascii=False),
                  st.text(max_size=30), st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=3)),
        st.builds(lambda v: json.dumps(v), JSON_VALUES),
        st.sampled_from(['{"text": NaN}', '{"text": "\\ud800 x"}', '{"text": "a", "n": 1e999}', "", "   ",
                         '{"text": "big", "n": 99999999999999999999999}', '{"text": "x"', "[" * 500 + "]" * 500]),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(LINES, st.sampled_from([None, "id"]), st.sampled_from([5, 1000]))
def test_records_match_the_slow_path(tmp_path, monkeypatch, lines, id_field, max_doc_bytes):
    path = tmp_path / "x.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n" + b'{"text": "\xff"}\n')
    opts = IngestOptions(id_field=id_field, max_doc_bytes=max_doc_bytes)
    fast = [astuple(r) for r in read_records(path, opts)]
    with monkeypatch.context() as m:
        m.setattr(ingest, "_fast_json", lambda line: ingest._SLOW_PATH)
        slow = [astuple(r) for r in read_records(path, opts)]
    assert fast == slow
