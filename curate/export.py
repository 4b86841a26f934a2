"""Export: a slice's kept documents as Parquet or JSONL, written under a temporary name,
checked, and renamed into place (a file of that name always holds that slice, whole); or
the same documents in deterministic splits (train/val/test), one such file per split."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from glob import escape as glob_escape
from pathlib import Path

import duckdb
import pyarrow as pa

from curate import remote
from curate.errors import CurateError, UsageError
from curate.store import path_inside

FORMATS = ("parquet", "jsonl")
_SCHEMA = pa.schema([("doc_id", pa.string()), ("external_id", pa.string()), ("text", pa.string()),
                     ("metadata", pa.string())])


def export_name(slice_id: str, fmt: str, *, redact: bool = False, split: str | None = None) -> str:
    """'<slice_id>.<fmt>', '<slice_id>.redacted.<fmt>', '<slice_id>[.redacted].<split>.<fmt>':
    a slice id names one content, so one file name does too (a split's, for one split spec)."""
    return f"{slice_id}{'.redacted' if redact else ''}{f'.{split}' if split else ''}.{fmt}"


def _remove_stale_temps(final: Path) -> None:
    """Temp files of `final` left by killed exports (their process is gone)."""
    for tmp in final.parent.glob(f"{glob_escape(final.name)}.*.tmp"):
        pid = tmp.name[len(final.name) + 1:-len(".tmp")]
        if pid.isdigit() and not _process_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _out_dir(out_dir: Path, fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"export format must be parquet or jsonl, not {fmt!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the export folder {out_dir}: {exc.strerror or exc}") from exc


def _target(out_dir: Path, name: str) -> Path:
    final = path_inside(out_dir, name)
    if final.is_dir():
        raise UsageError(f"cannot export to {final}: a folder of that name is in the way")
    _remove_stale_temps(final)
    return final


class _File:
    """One export file in the making: rows go to '<final>.<pid>.tmp' (two `curate export`s
    may run at once); publish() checks what was written and renames it into place."""

    def __init__(self, final: Path, fmt: str):
        import pyarrow.parquet as pq

        self.final, self.fmt, self.written = final, fmt, 0
        self.tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")
        self._parquet = pq.ParquetWriter(self.tmp, _SCHEMA) if fmt == "parquet" else None
        self._jsonl = open(self.tmp, "w", encoding="utf-8") if fmt == "jsonl" else None

    def write(self, rows: list[tuple]) -> None:
        self.written += len(rows)
        if self._parquet is not None:
            self._parquet.write_table(pa.table(list(zip(*rows)), schema=_SCHEMA))
        else:
            for a, b, t, m in rows:
                self._jsonl.write(json.dumps({"doc_id": a, "id": b, "text": t,
                                              "metadata": json.loads(m) if m else None}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        for handle in (self._parquet, self._jsonl):
            if handle is not None:
                handle.close()
        self._parquet = self._jsonl = None

    def discard(self) -> None:
        self.close()
        self.tmp.unlink(missing_ok=True)

    def check(self) -> None:
        """Verified before it is published: the Parquet file holds every row written."""
        import pyarrow.parquet as pq

        self.close()
        if self.fmt == "parquet" and pq.read_metadata(self.tmp).num_rows != self.written:
            raise CurateError(f"export {self.final}: the written file does not hold the {self.written:,} "
                              "documents; not published")

    def publish(self) -> None:
        os.replace(self.tmp, self.final)


def _write(con: duckdb.DuckDBPyConnection, slice_id: str, finals: Mapping[str, Path], fmt: str, *,
           route: Callable[[str], str] | None, redact: bool, batch_size: int) -> dict[str, int]:
    """Stream the slice's kept documents into one file per key of `finals` (`route` maps a
    document's text_hash to its key; None: the only one), check every file, then rename
    every file into place; a failure publishes none. Returns the documents per key."""
    redact_fn = None
    if redact:
        from curate.signals.pii import redact_document as redact_fn
    files: dict[str, _File] = {}
    reader = con.cursor()
    try:
        for key, final in finals.items():
            files[key] = _File(final, fmt)
        only = next(iter(files.values())) if route is None else None
        reader.execute(
            """SELECT d.doc_id, d.external_id, d.text, d.metadata::VARCHAR AS metadata, d.text_hash
               FROM decisions k JOIN documents d USING (doc_id)
               WHERE k.slice_id = ? AND k.kept ORDER BY d.doc_id""",
            [slice_id],
        )
        while True:
            batch = reader.fetchmany(batch_size)
            if not batch:
                break
            groups: dict[str, list[tuple]] = {}
            for a, b, t, m, h in batch:
                row = (a, *redact_fn(b, t, m)) if redact_fn is not None else (a, b, t, m)  # doc_id is ours: kept
                groups.setdefault("" if route is None else route(h), []).append(row)
            for key, rows in groups.items():
                (only or files[key]).write(rows)
        for f in files.values():
            f.check()
    except BaseException:
        for f in files.values():
            f.discard()
        raise
    finally:
        reader.close()
    for f in files.values():
        f.publish()
    return {key: f.written for key, f in files.items()}


def export_slice(con: duckdb.DuckDBPyConnection, slice_id: str, out_dir: Path, fmt: str,
                 *, redact: bool = False, batch_size: int = 5000) -> Path:
    """Write the kept documents to '<out>/<export_name>' via a temp name and a rename.

    A file of that name holds the same content by construction (slice ids are content
    digests), so an existing one is left as it is, and none of different content is replaced.
    An `out_dir` URL (s3://...) gets the file written locally, then uploaded (curate/remote.py).
    """
    if remote.is_url(out_dir):
        name = export_name(slice_id, fmt, redact=redact)
        if fmt in FORMATS and remote.output_exists(out_dir, name):
            return remote.join(out_dir, name)
        with remote.staged_output(out_dir) as local:
            export_slice(con, slice_id, local, fmt, redact=redact, batch_size=batch_size)
        return remote.join(out_dir, name)
    _out_dir(out_dir, fmt)
    final = _target(out_dir, export_name(slice_id, fmt, redact=redact))
    if final.exists():
        return final
    _write(con, slice_id, {"": final}, fmt, route=None, redact=redact, batch_size=batch_size)
    return final


# --- deterministic splits ------------------------------------------------------------------

# Each document's split is a function of its text_hash (xxh3-128 of the NFKC, case-folded,
# whitespace-collapsed text), not of its doc_id: a doc_id changes when the same text comes
# again in another file, a text_hash does not, so a document keeps its split across runs,
# re-ingests, re-exports and slices, and every copy of one text (up to case and whitespace)
# lands in the same split: an exact duplicate cannot leak from train into test. A salted
# BLAKE2b of the hash spreads any hash format evenly; near-duplicates (MinHash) are not
# grouped, which a recipe with near-dedup (one copy per cluster) makes moot.
SPLIT_RULE = "blake2b-64(text_hash, person='curate-split-v1') / 2^64, splits in name order"


def split_point(text_hash: str) -> float:
    """The document's place in [0, 1): stable across runs, machines and Python versions."""
    digest = hashlib.blake2b(text_hash.encode("utf-8"), digest_size=8, person=b"curate-split-v1").digest()
    return int.from_bytes(digest, "big") / 2.0**64


def split_router(fractions: Mapping[str, float]) -> Callable[[str], str]:
    """text_hash -> split name. The splits take consecutive intervals of [0, 1) in name order,
    so the order they are written in on the command line changes nothing."""
    names = sorted(fractions)
    bounds, edge = [], 0.0
    for name in names:
        edge += fractions[name]
        bounds.append(edge)

    def route(text_hash: str) -> str:
        u = split_point(text_hash)
        for name, bound in zip(names, bounds):
            if u < bound:
                return name
        return names[-1]  # the fractions sum to 1 within 1e-9: what rounding leaves over

    return route


@dataclass(frozen=True)
class SplitFile:
    name: str
    fraction: float
    documents: int
    path: Path


def export_splits(con: duckdb.DuckDBPyConnection, slice_id: str, out_dir: Path, fmt: str,
                  fractions: Mapping[str, float], *, redact: bool = False, batch_size: int = 5000
                  ) -> list[SplitFile]:
    """Write the kept documents into one file per split, '<out>/<export_name(split=...)>',
    each under a temp name, checked, and renamed (none is renamed unless all were written),
    plus '<slice_id>[.redacted].splits.json' saying how. Split files are written again each
    time: their names do not carry the fractions, so an existing one may hold another split."""
    if not fractions or any(not 0 < f for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-9:
        raise UsageError(f"split fractions must be > 0 and sum to 1, got {dict(fractions)}")
    if remote.is_url(out_dir):  # written locally, uploaded split files first, the manifest last
        with remote.staged_output(out_dir) as local:
            parts = export_splits(con, slice_id, local, fmt, fractions, redact=redact, batch_size=batch_size)
        return [replace(p, path=remote.join(out_dir, p.path.name)) for p in parts]
    _out_dir(out_dir, fmt)
    finals = {name: _target(out_dir, export_name(slice_id, fmt, redact=redact, split=name))
              for name in sorted(fractions)}
    counts = _write(con, slice_id, finals, fmt, route=split_router(fractions), redact=redact, batch_size=batch_size)
    parts = [SplitFile(name, fractions[name], counts[name], finals[name]) for name in fractions]  # as given
    manifest = path_inside(out_dir, f"{slice_id}{'.redacted' if redact else ''}.splits.json")
    tmp = manifest.with_name(f"{manifest.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({
        "slice_id": slice_id, "format": fmt, "redacted": redact, "rule": SPLIT_RULE,
        "splits": [{"name": p.name, "fraction": p.fraction, "documents": p.documents, "file": p.path.name}
                   for p in parts]}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, manifest)
    return parts
