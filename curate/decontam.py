"""Benchmark decontamination: which documents contain text of which evaluation items.

GPT-3's rule (Brown et al. 2020, Appendix C): a document is contaminated by an item when they
share an n-gram of normalised words, n = 13. Normalised words: Unicode NFKC, lower case,
runs of letters, marks and digits (punctuation and whitespace ignored, so "Hello, World!"
and "hello world" are the same two words); every Han, hiragana and katakana character is a
word of its own, as curate's signals segment them (curate/signals/text.py).

Items shorter than n words: GPT-3 used the item itself. An item of k words, MIN_WORDS <= k < n,
is one k-gram, and a document containing those k words in a row overlaps it. An item under
MIN_WORDS words ("yes", "the answer is 4") would match most of any corpus and prove nothing:
it is counted as unchecked in the report, never matched (GPT-3 likewise never went below 8).

The index is of the benchmarks, not the corpus: per length, a sorted array of 64-bit n-gram
hashes and the items that hold them. Documents stream through in batches; a batch's hits and
the fact that it was checked commit together, so a killed run keeps its finished batches.
Hashes are polars' 64-bit hash of each word, combined along the n-gram as a polynomial; they
live for one run and are never stored (what is stored are the matches), so a library's hash
changing between versions moves nothing. Two different n-grams share a hash with odds of
about one in 2**64.

Incremental: a benchmark is remembered by name with the sha256 of its file, n and MIN_WORDS
(its index key). Running again with the same benchmarks checks only documents ingested since;
a changed file (or n) forgets that benchmark's matches and checks every document again.
`curate run` does the same, from the stored file and settings, for the benchmarks its recipe
drops on (`catch_up`).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from curate import remote
from curate.errors import UsageError
from curate.signals.text import CJK_CHAR

if TYPE_CHECKING:
    import duckdb

DEFAULT_NGRAM = 13  # GPT-3
MIN_WORDS = 8  # GPT-3's floor "on non-synthetic tasks"
NORMALIZATION = "nfkc+lower+words(letters|marks|digits, CJK per char) v1"
BENCHMARK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
BENCHMARK_NAME_RULE = "1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit"
REASON_PREFIX = "decontam_overlap"
SCAN_BATCH = 2000
MAX_ITEM_BYTES = 10 << 20  # one evaluation item; a longer line is no item
MAX_INDEX_NGRAMS = 200_000_000  # about 3 GB of index: far above any published benchmark
PREVIEW_CHARS = 200
_WORDS = CJK_CHAR + r"|[[\p{L}\p{M}\p{N}]--" + CJK_CHAR + "]+"
_P = np.uint64(0x100000001B3)  # the FNV-64 prime, odd: a multiplier that mixes every bit upward


class BenchmarkError(UsageError):
    """A benchmark file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    path: Path | str  # a local path or a URL (s3://, gs://, hf://)


def parse_benchmark_arg(text: str) -> BenchmarkSpec:
    """'NAME=FILE' -> BenchmarkSpec; UsageError for anything else."""
    name, sep, path = text.partition("=")
    name = name.strip()
    if not sep or not name or not path.strip():
        raise UsageError(f"--benchmark {text!r}: give NAME=FILE (e.g. mmlu=mmlu_test.jsonl)")
    if not BENCHMARK_NAME.fullmatch(name):
        raise UsageError(f"--benchmark {text!r}: the name must be {BENCHMARK_NAME_RULE} "
                         f"(it names the drop reason {REASON_PREFIX}:NAME)")
    return BenchmarkSpec(name, remote.location(path.strip()))


@dataclass
class Item:
    item_no: int  # line in the file
    item_id: str | None
    text: str


@dataclass
class Benchmark:
    name: str
    uri: str
    sha256: str
    items: list[Item]
    ngram: int
    min_words: int
    text_field: str = "text"
    id_field: str = "id"
    n_words: list[int] = field(default_factory=list)
    # per length L: (sorted unique hashes, CSR offsets into item_of, item indices)
    index: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def index_key(self) -> str:
        key = (f"{self.sha256};n={self.ngram};min={self.min_words};text={self.text_field};id={self.id_field};"
               f"{NORMALIZATION}")
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    @property
    def n_short(self) -> int:
        return sum(1 for k in self.n_words if self.min_words <= k < self.ngram)

    @property
    def n_unchecked(self) -> int:
        return sum(1 for k in self.n_words if k < self.min_words)


# --- reading benchmark files ------------------------------------------------------------------


def _is_jsonl(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith((".jsonl", ".json", ".ndjson"))


def read_benchmark(spec: BenchmarkSpec, *, text_field: str = "text", id_field: str = "id") -> tuple[list[Item], str]:
    """The items of a benchmark file and the sha256 of its bytes.

    JSONL (.jsonl/.json/.ndjson, optionally .gz): one JSON object a line, its text in
    `text_field`, its id in `id_field` when present. Anything else: plain UTF-8 text, one
    item a line. Blank lines are skipped; everything else that is not an item is an error
    naming the file and line.
    """
    if remote.is_url(spec.path):  # an object: read from a spool file, named by its URL
        try:
            with remote.local_file(spec.path, f"benchmark {spec.name}:") as local:
                return _read_benchmark_file(local, spec.path, text_field, id_field)
        except UsageError as exc:
            raise BenchmarkError(str(exc)) from None
    p = Path(spec.path)
    if not p.exists():
        raise BenchmarkError(f"benchmark {spec.name}: {p}: no such file")
    if not p.is_file():
        raise BenchmarkError(f"benchmark {spec.name}: {p}: not a file")
    return _read_benchmark_file(p, p, text_field, id_field)


def _read_benchmark_file(local: Path, p: Path | str, text_field: str, id_field: str) -> tuple[list[Item], str]:
    """read_benchmark's reading of the file `local`; messages name it `p` (its path or URL)."""
    h = hashlib.sha256()
    jsonl = _is_jsonl(local)
    items: list[Item] = []
    try:
        with open(local, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        with open(local, "rb") as raw_fh:
            fh = gzip.GzipFile(fileobj=raw_fh) if local.name.lower().endswith(".gz") else raw_fh
            no = 0
            while True:
                raw = fh.readline(MAX_ITEM_BYTES + 1)
                if not raw:
                    break
                no += 1
                if len(raw) > MAX_ITEM_BYTES and not raw.endswith(b"\n"):
                    raise BenchmarkError(f"{p} line {no}: over {MAX_ITEM_BYTES >> 20} MB; one item a line")
                if no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    raise BenchmarkError(f"{p} line {no}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                                         f"{exc.start + 1})") from None
                if not line.strip():
                    continue
                items.append(_jsonl_item(p, no, line, text_field, id_field) if jsonl else Item(no, None, line))
    except OSError as exc:  # unreadable, or a .gz that is truncated or is no gzip
        raise BenchmarkError(f"{p}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    except EOFError:
        raise BenchmarkError(f"{p}: the gzip stream is truncated") from None
    if not items:
        raise BenchmarkError(f"{p}: no items (every line is blank)")
    return items, h.hexdigest()


def _jsonl_item(p: Path | str, no: int, line: str, text_field: str, id_field: str) -> Item:
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BenchmarkError(f"{p} line {no}: not JSON ({getattr(exc, 'msg', 'nested too deep')})") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise BenchmarkError(f"{p} line {no}: not JSON ({str(exc)[:100]})") from None
    if not isinstance(obj, dict):
        raise BenchmarkError(f"{p} line {no}: a JSON {type(obj).__name__}, not an object with a "
                             f"{text_field!r} field")
    text = obj.get(text_field)
    if text is None:
        fields = ", ".join(list(obj)[:8])
        raise BenchmarkError(f"{p} line {no}: no {text_field!r} field (fields: {fields or 'none'}); "
                             "give the right one with --text-field")
    if not isinstance(text, str):
        raise BenchmarkError(f"{p} line {no}: {text_field!r} is a {type(text).__name__}, not text")
    item_id = obj.get(id_field)
    return Item(no, None if item_id is None else str(item_id)[:200], text)


# --- normalised words and n-gram hashes -------------------------------------------------------


def normalized_words(texts: Sequence[str]) -> list[list[str]]:
    """Each text's normalised words (see the module's docstring)."""
    from curate.signals.text import to_series

    if not texts:
        return []
    return to_series(texts).str.normalize("NFKC").str.to_lowercase().str.extract_all(_WORDS).to_list()


def _word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every word, in order; the row of the text it is in), for a batch."""
    import polars as pl

    from curate.signals.text import to_series

    if not texts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    words = to_series(texts).str.normalize("NFKC").str.to_lowercase().str.extract_all(_WORDS)
    long = pl.DataFrame({"doc": np.arange(len(texts), dtype=np.int64), "w": words}).explode("w").drop_nulls("w")
    return long["w"].hash(seed=0).to_numpy().astype(np.uint64, copy=False), long["doc"].to_numpy()


def _ngram_hashes(h: np.ndarray, doc: np.ndarray, lengths: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each L in `lengths`: (hash of every L-gram within one text, its start position)."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if not lengths:
        return out
    top = max(lengths)
    acc = h.copy()
    with np.errstate(over="ignore"):
        for L in range(1, top + 1):
            if L > 1:
                m = len(h) - L + 1
                if m <= 0:
                    break
                acc = acc[:m] * _P + h[L - 1:L - 1 + m]
            if L in lengths:
                m = len(acc)
                valid = np.nonzero(doc[:m] == doc[L - 1:L - 1 + m])[0]
                out[L] = (acc[valid], valid)
    return out


def build_index(bench: Benchmark) -> None:
    """The benchmark's n-gram index, in place: per length, unique hashes and their items."""
    texts = [it.text for it in bench.items]
    h, row = _word_hashes(texts)
    counts = np.bincount(row, minlength=len(texts)) if len(row) else np.zeros(len(texts), np.int64)
    bench.n_words = [int(c) for c in counts]
    lengths = sorted({bench.ngram} | {int(k) for k in counts if bench.min_words <= k < bench.ngram})
    grams = _ngram_hashes(h, row, lengths)
    starts = np.concatenate([[0], np.cumsum(counts)])
    total = sum(len(v[0]) for v in grams.values())
    if total > MAX_INDEX_NGRAMS:
        raise BenchmarkError(f"{bench.uri}: {total:,} n-grams, over the {MAX_INDEX_NGRAMS:,} an index may hold; "
                             "split the benchmark into several files")
    for L, (hashes, pos) in grams.items():
        item = row[pos]
        if L < bench.ngram:  # a short item is only its whole self
            keep = (counts[item] == L) & (pos == starts[item])
        else:
            keep = np.ones(len(pos), bool)
        hashes, item = hashes[keep], item[keep]
        if not len(hashes):
            continue
        order = np.lexsort((item, hashes))
        hashes, item = hashes[order], item[order]
        first = np.concatenate([[True], (hashes[1:] != hashes[:-1]) | (item[1:] != item[:-1])])
        hashes, item = hashes[first], item[first]  # one (hash, item) pair once
        uniq, offs = np.unique(hashes, return_index=True)
        bench.index[L] = (uniq, np.append(offs, len(hashes)).astype(np.int64), item.astype(np.int64))


def match_batch(bench: Benchmark, h: np.ndarray, doc: np.ndarray, grams=None) -> dict[tuple[int, int], int]:
    """{(row of the text, item index): number of the item's n-grams found} for one batch."""
    if grams is None:
        grams = _ngram_hashes(h, doc, sorted(bench.index))
    found: dict[tuple[int, int], int] = {}
    for L, (uniq, offs, items) in bench.index.items():
        q, pos = grams.get(L, (np.zeros(0, np.uint64), np.zeros(0, np.int64)))
        if not len(q):
            continue
        at = np.searchsorted(uniq, q)
        at_c = np.minimum(at, len(uniq) - 1)
        hit = np.nonzero(uniq[at_c] == q)[0]
        if not len(hit):
            continue
        u = at_c[hit]
        n = offs[u + 1] - offs[u]
        docs = np.repeat(doc[pos[hit]], n)
        # the items of every matched hash, back to back
        idx = np.repeat(offs[u] - np.cumsum(np.concatenate([[0], n[:-1]])), n) + np.arange(n.sum())
        for d, it in zip(docs.tolist(), items[idx].tolist()):
            found[(d, it)] = found.get((d, it), 0) + 1
    return found


def load_benchmark(spec: BenchmarkSpec, *, ngram: int = DEFAULT_NGRAM, min_words: int | None = None,
                   text_field: str = "text", id_field: str = "id") -> Benchmark:
    items, sha = read_benchmark(spec, text_field=text_field, id_field=id_field)
    mw = min(MIN_WORDS, ngram) if min_words is None else min_words
    if mw > ngram:
        raise UsageError(f"--min-words {mw} is over --ngram {ngram}: an item of {ngram} words is always checked")
    uri = spec.path if remote.is_url(spec.path) else os.path.abspath(spec.path)  # a URL is stored as given
    bench = Benchmark(spec.name, uri, sha, items, ngram, mw, text_field, id_field)
    build_index(bench)
    return bench


# --- the stage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecontamReport:
    scanned: dict[str, int]  # benchmark -> documents checked in this run
    remarked: list[str]  # benchmarks whose file (or n) changed: every document checked again
    new_hits: int


def decontaminate(con: duckdb.DuckDBPyConnection, benchmarks: Sequence[Benchmark], run_id: int, *,
                  batch_size: int = SCAN_BATCH, on_batch: Callable[[int], None] | None = None) -> DecontamReport:
    """Check every document not yet checked against each benchmark; store the matches."""
    import pyarrow as pa

    from curate import store

    names = [b.name for b in benchmarks]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"--benchmark {dup} is given twice")
    remarked: list[str] = []
    with store.transaction(con):
        for b in benchmarks:
            row = con.execute("SELECT index_key FROM decontam_benchmarks WHERE benchmark = ?", [b.name]).fetchone()
            if row is not None and row[0] == b.index_key:  # the same content: where it lies now
                con.execute("UPDATE decontam_benchmarks SET uri = ? WHERE benchmark = ?", [b.uri, b.name])
                continue
            if row is not None:
                remarked.append(b.name)
            for table in ("decontam_hits", "decontam_scanned", "decontam_items", "decontam_benchmarks"):
                con.execute(f"DELETE FROM {table} WHERE benchmark = ?", [b.name])
            store.insert(con, "decontam_benchmarks", {
                "benchmark": b.name, "uri": b.uri, "sha256": b.sha256, "ngram": b.ngram, "min_words": b.min_words,
                "text_field": b.text_field, "id_field": b.id_field, "index_key": b.index_key,
                "n_items": len(b.items), "n_short": b.n_short, "n_unchecked": b.n_unchecked,
                "updated_at": store.now(), "run_id": run_id})
            store.register(con, "_decontam_items", pa.table({
                "benchmark": [b.name] * len(b.items), "item_no": [it.item_no for it in b.items],
                "item_id": pa.array([it.item_id for it in b.items], pa.string()), "n_words": b.n_words,
                "preview": [it.text[:PREVIEW_CHARS] for it in b.items]}))
            con.execute("INSERT INTO decontam_items BY NAME SELECT * FROM _decontam_items")
            con.unregister("_decontam_items")
    joins = " ".join(f"LEFT JOIN (SELECT doc_id FROM decontam_scanned WHERE benchmark = ?) s{i} "
                     f"ON s{i}.doc_id = d.doc_id" for i in range(len(benchmarks)))
    needs = ", ".join(f"s{i}.doc_id IS NULL" for i in range(len(benchmarks)))
    any_need = " OR ".join(f"s{i}.doc_id IS NULL" for i in range(len(benchmarks)))
    scanned = dict.fromkeys(names, 0)
    new_hits = 0
    if not benchmarks:
        return DecontamReport(scanned, remarked, 0)
    reader = con.cursor()
    try:
        reader.execute(f"SELECT d.doc_id, d.text, {needs} FROM documents d {joins} WHERE {any_need} "
                       "ORDER BY d.doc_id", names)
        while rows := reader.fetchmany(batch_size):
            ids = [r[0] for r in rows]
            h, doc = _word_hashes([r[1] for r in rows])
            lengths = sorted({L for b in benchmarks for L in b.index})
            grams = _ngram_hashes(h, doc, lengths)
            hit_rows: dict[str, list] = {"benchmark": [], "doc_id": [], "item_no": [], "n_ngrams": []}
            scan_rows: dict[str, list] = {"benchmark": [], "doc_id": []}
            for i, b in enumerate(benchmarks):
                need = np.array([bool(r[2 + i]) for r in rows])
                for (d, it), n in sorted(match_batch(b, h, doc, grams).items()):
                    if need[d]:
                        hit_rows["benchmark"].append(b.name)
                        hit_rows["doc_id"].append(ids[d])
                        hit_rows["item_no"].append(b.items[it].item_no)
                        hit_rows["n_ngrams"].append(n)
                chosen = [ids[j] for j in np.nonzero(need)[0]]
                scan_rows["benchmark"] += [b.name] * len(chosen)
                scan_rows["doc_id"] += chosen
                scanned[b.name] += len(chosen)
            with store.transaction(con):
                store.register(con, "_decontam_scan", pa.table(scan_rows))
                con.execute("INSERT INTO decontam_scanned BY NAME SELECT * FROM _decontam_scan")
                if hit_rows["doc_id"]:
                    n_hits = len(hit_rows["doc_id"])
                    store.register(con, "_decontam_scan", pa.table({**hit_rows, "run_id": [run_id] * n_hits}))
                    con.execute("INSERT INTO decontam_hits BY NAME SELECT * FROM _decontam_scan")
                    new_hits += n_hits
                con.unregister("_decontam_scan")
            if on_batch:
                on_batch(len(rows))
    finally:
        reader.close()
    return DecontamReport(scanned, remarked, new_hits)


def catch_up(con: duckdb.DuckDBPyConnection, names: Sequence[str], run_id: int) -> DecontamReport | None:
    """Check the documents not yet checked against stored benchmarks, from the files and settings
    they were indexed with (`curate run`, before a slice that drops on them). A benchmark the
    store has never checked is left to the slice to refuse; a file gone is a UsageError."""
    from curate.store import table_exists

    if not table_exists(con, "decontam_benchmarks"):
        return None
    todo = []
    for name in dict.fromkeys(names):
        row = con.execute("SELECT uri, ngram, min_words, text_field, id_field FROM decontam_benchmarks "
                          "WHERE benchmark = ?", [name]).fetchone()
        if row is None or not unchecked_documents(con, name):
            continue
        uri, ngram, min_words, text_field, id_field = row
        todo.append(load_benchmark(BenchmarkSpec(name, remote.location(uri)), ngram=ngram, min_words=min_words,
                                   text_field=text_field, id_field=id_field))
    return decontaminate(con, todo, run_id) if todo else None


def unchecked_documents(con: duckdb.DuckDBPyConnection, benchmark: str) -> int:
    return con.execute("""SELECT count(*) FROM documents d WHERE NOT EXISTS
                            (SELECT 1 FROM decontam_scanned s WHERE s.benchmark = ? AND s.doc_id = d.doc_id)""",
                       [benchmark]).fetchone()[0]


def stored_benchmarks(con: duckdb.DuckDBPyConnection) -> list[str]:
    from curate.store import table_exists

    if not table_exists(con, "decontam_benchmarks"):
        return []
    return [r[0] for r in con.execute("SELECT benchmark FROM decontam_benchmarks ORDER BY 1").fetchall()]


def check_usable(con: duckdb.DuckDBPyConnection, benchmarks: Sequence[str], recipe_name: str) -> None:
    """Refuse (UsageError) a slice that drops on benchmarks not checked against every document."""
    known = stored_benchmarks(con)
    for name in benchmarks:
        if name not in known:
            raise UsageError(f"recipe {recipe_name!r} drops on benchmark {name!r}, which this store has not "
                             f"checked (checked: {', '.join(known) or 'none'}): run "
                             f"`curate decontaminate --benchmark {name}=FILE`")
        n = unchecked_documents(con, name)
        if n:
            raise UsageError(f"recipe {recipe_name!r} drops on benchmark {name!r}, but {n:,} documents were not "
                             f"checked against it yet: run `curate decontaminate --benchmark {name}=FILE` again")


def report(con: duckdb.DuckDBPyConnection, names: Sequence[str] | None = None) -> tuple[list[dict], list[dict]]:
    """(one summary per benchmark, one row per leaked item), from the store; only documents
    still in the store count."""
    from curate.store import table_exists

    if not table_exists(con, "decontam_benchmarks"):
        return [], []
    chosen = list(names) if names else stored_benchmarks(con)
    summaries = []
    for r in con.execute(
        """SELECT b.benchmark, b.uri, b.sha256, b.ngram, b.min_words, b.n_items, b.n_short, b.n_unchecked,
                  (SELECT count(*) FROM decontam_scanned s JOIN documents d USING (doc_id)
                   WHERE s.benchmark = b.benchmark) AS documents_checked,
                  (SELECT count(DISTINCT h.item_no) FROM decontam_hits h JOIN documents d USING (doc_id)
                   WHERE h.benchmark = b.benchmark) AS items_leaked,
                  (SELECT count(DISTINCT h.doc_id) FROM decontam_hits h JOIN documents d USING (doc_id)
                   WHERE h.benchmark = b.benchmark) AS documents_contaminated
           FROM decontam_benchmarks b WHERE b.benchmark IN (SELECT unnest(?)) ORDER BY b.benchmark""",
        [chosen]).fetchall():
        keys = ("benchmark", "file", "sha256", "ngram", "min_words", "items", "items_short", "items_unchecked",
                "documents_checked", "items_leaked", "documents_contaminated")
        summaries.append(dict(zip(keys, r)))
    leaked = [dict(zip(("benchmark", "item_no", "item_id", "n_words", "documents", "preview"), r)) for r in
              con.execute(
                  """SELECT h.benchmark, h.item_no, i.item_id, i.n_words, count(DISTINCT h.doc_id) AS documents,
                            i.preview
                     FROM decontam_hits h JOIN documents d USING (doc_id)
                     LEFT JOIN decontam_items i ON i.benchmark = h.benchmark AND i.item_no = h.item_no
                     WHERE h.benchmark IN (SELECT unnest(?))
                     GROUP BY ALL ORDER BY h.benchmark, documents DESC, h.item_no""", [chosen]).fetchall()]
    return summaries, leaked
