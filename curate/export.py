"""Export: a slice's kept documents as Parquet or JSONL, written under a temporary name,
checked, and renamed into place (a file of that name always holds that slice, whole)."""
from __future__ import annotations

import json
import os
from glob import escape as glob_escape
from pathlib import Path

import duckdb
import pyarrow as pa

from curate.errors import CurateError, UsageError
from curate.store import path_inside


def export_name(slice_id: str, fmt: str, *, redact: bool = False) -> str:
    """'<slice_id>.<fmt>', or '<slice_id>.redacted.<fmt>': a slice id names one content, so
    one file name does too."""
    return f"{slice_id}{'.redacted' if redact else ''}.{fmt}"


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


def export_slice(con: duckdb.DuckDBPyConnection, slice_id: str, out_dir: Path, fmt: str,
                 *, redact: bool = False, batch_size: int = 5000) -> Path:
    """Write the kept documents to '<out>/<export_name>' via a temp name and a rename.

    A file of that name holds the same content by construction (slice ids are content
    digests), so an existing one is left as it is, and none of different content is replaced.
    """
    import pyarrow.parquet as pq

    if fmt not in ("parquet", "jsonl"):
        raise UsageError(f"export format must be parquet or jsonl, not {fmt!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the export folder {out_dir}: {exc.strerror or exc}") from exc
    final = path_inside(out_dir, export_name(slice_id, fmt, redact=redact))
    if final.is_dir():
        raise UsageError(f"cannot export to {final}: a folder of that name is in the way")
    _remove_stale_temps(final)
    if final.exists():
        return final
    tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")  # two `curate export`s may run at once
    redact_fn = None
    if redact:
        from curate.signals.pii import redact_document as redact_fn
    reader = con.cursor()
    reader.execute(
        """SELECT d.doc_id, d.external_id, d.text, d.metadata::VARCHAR AS metadata
           FROM decisions k JOIN documents d USING (doc_id) WHERE k.slice_id = ? AND k.kept ORDER BY d.doc_id""",
        [slice_id],
    )
    schema = pa.schema([("doc_id", pa.string()), ("external_id", pa.string()), ("text", pa.string()),
                        ("metadata", pa.string())])
    writer = pq.ParquetWriter(tmp, schema) if fmt == "parquet" else None
    fh = open(tmp, "w", encoding="utf-8") if fmt == "jsonl" else None
    written = 0
    try:
        while True:
            rows = reader.fetchmany(batch_size)
            if not rows:
                break
            written += len(rows)
            if redact_fn is not None:
                rows = [(a, *redact_fn(b, t, m)) for a, b, t, m in rows]  # doc_id is ours: kept
            if writer is not None:
                writer.write_table(pa.table(list(zip(*rows)), schema=schema))
            else:
                for a, b, t, m in rows:
                    fh.write(json.dumps({"doc_id": a, "id": b, "text": t,
                                         "metadata": json.loads(m) if m else None}, ensure_ascii=False) + "\n")
    except BaseException:
        for closing in (writer, fh):
            if closing is not None:
                closing.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    if writer is not None:
        writer.close()
    if fh is not None:
        fh.close()
    if fmt == "parquet" and pq.read_metadata(tmp).num_rows != written:  # verified before it is published
        tmp.unlink(missing_ok=True)
        raise CurateError(f"export {final}: the written file does not hold the {written:,} documents; not published")
    os.replace(tmp, final)
    return final
