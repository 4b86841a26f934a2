"""URL blocklists and benchmark decontamination: curate against the obvious peers, same input.

    python bench/bench_url_decontam.py [--docs 20000] [--items 2000]

URL lists (each implementation in a child process of its own, for its peak RSS): the
UT1-derived `domains` list that datatrove ships in its assets (millions of
lines, read from datatrove's tarball, never downloaded), matched by curate's slice-time join
(`curate.urllists.materialize_hits`: list into DuckDB, documents' host suffixes, one join)
and by datatrove 0.10.1's `URLFilter` with the same list as `extra_domains` and its word lists
off (`use_integrated_lists=False`; it needs `pip install pyahocorasick fasteners`), on the
same URLs: list loading included in both.
datatrove blocks a URL whose registered domain or full host is on the list; curate one with
any dot-suffix of its host on it (a domain covers its subdomains), so curate's blocked set
contains datatrove's.

Decontamination: `curate.decontam` (numpy n-gram hashes over a batch) against the plain
implementation (a Python dict from 13-gram tuples to items, GPT-3's rule as usually written),
same normalised words, same items and documents; both must find the same (document, item) pairs.

Both run in this process, one after the other (POLARS_MAX_THREADS=1, DuckDB threads=1): per core.
CPU seconds (process_time) are reported beside wall seconds: on a shared machine the wall clock
also counts the time other processes held the cores.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "sample_data" / "corpus" / "web-000.jsonl.gz"


def corpus_docs() -> list[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8", errors="replace") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def datatrove_domains() -> list[str]:
    import datatrove
    from datatrove.utils._import_utils import ASSETS_PATH

    del datatrove
    with tarfile.open(os.path.join(ASSETS_PATH, "url_filterblacklistsv0_3_0.tar.gz"), "r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("domains"))
        data = tar.extractfile(member).read().decode("utf-8", "replace")
    return [ln.strip() for ln in data.splitlines() if ln.strip() and not ln.startswith("#")]


def _rss_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def urls_part(part: str, work: Path) -> None:
    """One implementation in its own process: blocked ids to work/<part>.json, with times and RSS."""
    urls = json.loads((work / "urls.json").read_text())
    lst = work / "domains"
    if part == "curate":
        import duckdb
        import pyarrow as pa

        from curate import urllists

        con = duckdb.connect()
        con.execute("SET threads = 1")
        con.execute("CREATE TABLE documents (doc_id VARCHAR, metadata JSON)")
        con.register("d", pa.table({"doc_id": [f"d{i:08d}" for i in range(len(urls))],
                                    "metadata": [json.dumps({"url": u}) for u in urls]}))
        con.execute("INSERT INTO documents SELECT doc_id, metadata::JSON FROM d")
        rss0 = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        urllists.materialize_hits(con, (urllists.UrlList("adult", str(lst), "block"),))
        blocked = sorted(r[0] for r in con.execute(f"SELECT doc_id FROM {urllists.URL_HITS}").fetchall())
    else:
        from datatrove.data import Document
        from datatrove.pipeline.filters.url_filter import URLFilter
        from tldextract import TLDExtract

        rss0 = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        with open(lst, encoding="utf-8") as fh:  # the same file, read by its own parser
            f = URLFilter(use_integrated_lists=False, extra_domains=fh)
        f.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)  # its default fetches the PSL
        f.banned_subwords_automaton.make_automaton()
        blocked = [f"d{i:08d}" for i, u in enumerate(urls)
                   if f.filter(Document(text="", id=str(i), metadata={"url": u})) is not True]
    out = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss0": rss0, "rss": _rss_mb(),
           "blocked": blocked}
    (work / f"{part}.json").write_text(json.dumps(out))


def bench_urls(n_docs: int) -> dict:
    import subprocess

    from curate.signals.url import normalize_host

    rng = random.Random(0)
    domains = datatrove_domains()
    usable = [d for d in domains if normalize_host(d) == d]  # the lines curate reads as they are
    real = [d.get("url") for d in corpus_docs() if d.get("url")]
    urls = []
    for i in range(n_docs):
        r = rng.random()
        if r < 0.1:
            urls.append(f"https://{rng.choice(usable)}/page/{i}")
        elif r < 0.2:
            urls.append(f"http://www.{rng.choice(usable)}/p?i={i}")  # a subdomain of a listed domain
        else:
            urls.append(rng.choice(real).replace("/news/", f"/news/{i}-"))
    work = Path(tempfile.mkdtemp(prefix="curate-bench-"))
    (work / "domains").write_text("\n".join(domains) + "\n", encoding="utf-8")
    (work / "urls.json").write_text(json.dumps(urls))
    res = {}
    for part in ("curate", "datatrove"):
        subprocess.run([sys.executable, __file__, "--part", part, "--work", str(work)], check=True)
        res[part] = json.loads((work / f"{part}.json").read_text())
    ours, theirs = set(res["curate"]["blocked"]), set(res["datatrove"]["blocked"])
    return {"list_lines": len(domains), "list_used": len(usable), "docs": n_docs,
            "curate_s": res["curate"]["wall"], "datatrove_s": res["datatrove"]["wall"],
            "curate_cpu": res["curate"]["cpu"], "datatrove_cpu": res["datatrove"]["cpu"],
            "curate_rss": (res["curate"]["rss0"], res["curate"]["rss"]),
            "datatrove_rss": (res["datatrove"]["rss0"], res["datatrove"]["rss"]),
            "curate_blocked": len(ours), "datatrove_blocked": len(theirs), "both": len(ours & theirs),
            "only_datatrove": len(theirs - ours), "only_curate": len(ours - theirs)}


def naive_decontam(items: list[list[str]], docs: list[list[str]], n: int, min_words: int) -> set[tuple[int, int]]:
    index: dict[tuple[str, ...], list[int]] = {}
    lengths = {n}
    for k, w in enumerate(items):
        if len(w) >= n:
            for i in range(len(w) - n + 1):
                index.setdefault(tuple(w[i:i + n]), []).append(k)
        elif len(w) >= min_words:
            index.setdefault(tuple(w), []).append(k)
            lengths.add(len(w))
    found = set()
    for d, w in enumerate(docs):
        for L in lengths:
            for i in range(len(w) - L + 1):
                for k in index.get(tuple(w[i:i + L]), ()):
                    found.add((d, k))
    return found


def bench_decontam(n_docs: int, n_items: int) -> dict:
    from curate import decontam

    rng = random.Random(1)
    base = [d.get("text") or "" for d in corpus_docs()]
    texts = [base[i % len(base)] for i in range(n_docs)]
    sentences = [s.strip() for t in base for s in t.replace("\n", " ").split(". ") if len(s.split()) >= 5]
    items = [rng.choice(sentences) for _ in range(n_items // 2)]  # leaked: text of the corpus
    items += [" ".join(rng.choice(sentences).split()[::-1]) for _ in range(n_items - len(items))]  # scrambled
    p = Path(tempfile.mkdtemp(prefix="curate-bench-")) / "items.txt"
    p.write_text("\n".join(items) + "\n", encoding="utf-8")
    n_bytes = sum(len(t.encode()) for t in texts)

    t0, c0 = time.perf_counter(), time.process_time()
    bench = decontam.load_benchmark(decontam.BenchmarkSpec("b", p))
    found: set[tuple[int, int]] = set()
    for start in range(0, n_docs, decontam.SCAN_BATCH):
        batch = texts[start:start + decontam.SCAN_BATCH]
        h, doc = decontam._word_hashes(batch)
        for (d, k) in decontam.match_batch(bench, h, doc):
            found.add((start + d, k))
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    words_items = decontam.normalized_words(items)
    words_docs = decontam.normalized_words(texts)
    theirs = naive_decontam(words_items, words_docs, bench.ngram, bench.min_words)
    t_naive, c_naive = time.perf_counter() - t0, time.process_time() - c0
    return {"docs": n_docs, "mb": n_bytes / 1e6, "items": n_items, "curate_s": t_ours, "naive_s": t_naive,
            "curate_cpu": c_ours, "naive_cpu": c_naive,
            "pairs": len(found), "same_pairs": found == theirs, "naive_pairs": len(theirs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--part", choices=["curate", "datatrove"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        urls_part(args.part, args.work)
        return
    u = bench_urls(args.docs)
    print(f"URL blocklist: {u['list_used']:,} of {u['list_lines']:,} list lines, {u['docs']:,} URLs")
    for who in ("curate", "datatrove"):
        rss0, rss = u[f"{who}_rss"]
        print(f"  {who:9} {u[f'{who}_s']:.2f} s wall, {u[f'{who}_cpu']:.2f} s CPU, peak RSS {rss:,.0f} MB "
              f"({rss0:,.0f} MB before the list), blocked {u[f'{who}_blocked']:,}")
    print(f"  both {u['both']:,}, only datatrove {u['only_datatrove']:,}, only curate {u['only_curate']:,}; "
          f"CPU ratio datatrove/curate {u['datatrove_cpu'] / u['curate_cpu']:.2f}x")
    d = bench_decontam(args.docs, args.items)
    print(f"Decontamination: {d['docs']:,} documents ({d['mb']:.1f} MB), {d['items']:,} items, 13-grams")
    print(f"  curate {d['curate_s']:.2f} s wall, {d['curate_cpu']:.2f} s CPU "
          f"({d['docs'] / d['curate_cpu']:,.0f} docs/s, {d['mb'] / d['curate_cpu']:.2f} MB/s per CPU second)")
    print(f"  naive  {d['naive_s']:.2f} s wall, {d['naive_cpu']:.2f} s CPU "
          f"({d['docs'] / d['naive_cpu']:,.0f} docs/s)")
    print(f"  pairs found {d['pairs']:,}, identical to the naive set: {d['same_pairs']}; "
          f"CPU ratio naive/curate {d['naive_cpu'] / d['curate_cpu']:.2f}x")


if __name__ == "__main__":
    main()
