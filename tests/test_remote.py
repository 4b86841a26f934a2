"""Object storage (curate/remote.py): inputs and outputs as fsspec URLs, against a local S3
server (moto's server mode) started here, plus in-memory filesystems that misbehave on purpose."""
from __future__ import annotations

import gzip
import io
import json
import logging
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import cli, pipeline, remote, store
from curate.errors import UsageError
from curate.ingest import IngestOptions, match_inputs, refuse_output_inside_inputs

fsspec = pytest.importorskip("fsspec", reason="URLs need fsspec (the [remote] extra)")
from fsspec.implementations.memory import MemoryFileSystem  # noqa: E402


def _rows(db: Path, sql: str) -> list[tuple]:
    with store.open_store(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def _documents(db: Path) -> list[tuple]:
    """Every stored document, with its file's own `path` field left out (it names where it was read)."""
    rows = _rows(db, "SELECT doc_id, record_no, external_id, text, text_hash, n_bytes, metadata::VARCHAR "
                     "FROM documents ORDER BY doc_id")
    out = []
    for *head, meta in rows:
        m = json.loads(meta) if meta else {}
        m.pop("path", None)
        out.append((*head, m))
    return out


def _quarantine(db: Path) -> list[tuple]:
    return _rows(db, "SELECT source_id, record_no, error_kind, error FROM quarantine ORDER BY source_id, record_no")


def _sources(db: Path) -> list[tuple]:
    return _rows(db, "SELECT sha256, format, n_bytes, n_records, n_documents, n_quarantined FROM sources "
                     "ORDER BY sha256")


def _corpus(folder: Path) -> dict[str, bytes]:
    """A small dirty corpus in every format: name under the folder -> bytes."""
    lines = [json.dumps({"id": f"j{i}", "text": f"jsonl document number {i} about rivers", "lang": "en"})
             for i in range(6)]
    jsonl = ("\n".join(lines[:3]) + "\n{not json\n\n" + "\n".join(lines[3:]) + "\n").encode()
    table = pa.table({"id": ["p1", "p2", "p3"], "text": ["parquet one", "", "parquet three"]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    files = {
        "a.jsonl": jsonl,
        "b.jsonl.gz": gzip.compress(b"".join(f'{{"id": "g{i}", "text": "gzip doc {i}"}}\n'.encode()
                                             for i in range(4)), mtime=0),
        "c.csv": b"id,text\nc1,first csv row\nc2,\"quoted, row\"\nc3,short\n",
        "d.parquet": buf.getvalue(),
        "pages/one.txt": b"A page of text.\nWith two lines.",
        "pages/two.txt": b"\xef\xbb\xbfAnother page with a BOM.",
        "notes.md": b"# not an input type: folders skip it",
    }
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return files


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on a free localhost port, the AWS variables pointing at it (fake
    credentials), and an s3fs filesystem to arrange objects with."""
    pytest.importorskip("s3fs", reason="s3:// needs s3fs (the [remote] extra)")
    server_mod = pytest.importorskip("moto.server", reason="the S3 tests need moto[server] (the [dev] extra)")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as home:
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        mp.setenv("AWS_CONFIG_FILE", str(Path(home, "config")))  # never the machine's own ~/.aws
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(Path(home, "credentials")))
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        yield s3fs.S3FileSystem()
        s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


@pytest.fixture
def bucket(s3, tmp_path) -> tuple[str, Path]:
    """A fresh bucket holding the corpus under dir/, and the same files in a local folder."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.mkdir(name)
    local = tmp_path / "corpus"
    for rel in _corpus(local):
        s3.put_file(str(local / rel), f"{name}/dir/{rel}")
    s3.invalidate_cache()
    return name, local


@pytest.fixture(autouse=True)
def spool_in_tmp(tmp_path, monkeypatch):
    """Spool files go under the test's folder, so a test can see that none is left behind."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    yield spool
    assert not remote.SPOOLED
    assert not list(spool.iterdir()), "a spool file was left behind"


# --- ingest from S3 ---------------------------------------------------------------------------


def test_glob_of_objects_ingests_what_the_local_files_give(bucket, tmp_path):
    name, local = bucket
    _, rep_local = pipeline.ingest(tmp_path / "local.duckdb", [str(local / "*.jsonl")], IngestOptions(id_field="id"))
    _, rep = pipeline.ingest(tmp_path / "s3.duckdb", [f"s3://{name}/dir/*.jsonl"], IngestOptions(id_field="id"))
    assert (rep.records, rep.documents, rep.quarantined) == (rep_local.records, rep_local.documents,
                                                            rep_local.quarantined) == (8, 6, 2)
    assert [f.path for f in rep.files] == [f"s3://{name}/dir/a.jsonl"]
    assert _documents(tmp_path / "s3.duckdb") == _documents(tmp_path / "local.duckdb")
    assert _quarantine(tmp_path / "s3.duckdb") == _quarantine(tmp_path / "local.duckdb")
    assert _sources(tmp_path / "s3.duckdb") == _sources(tmp_path / "local.duckdb")
    # the store names the object, not the spool file it was read from
    assert _rows(tmp_path / "s3.duckdb", "SELECT DISTINCT uri FROM quarantine") == [(f"s3://{name}/dir/a.jsonl",)]
    assert _rows(tmp_path / "s3.duckdb", "SELECT uri FROM sources") == [(f"s3://{name}/dir/a.jsonl",)]


def test_folder_of_objects_is_searched_like_a_local_folder(bucket, tmp_path):
    name, local = bucket
    opts = IngestOptions(id_field="id")
    _, rep_local = pipeline.ingest(tmp_path / "local.duckdb", [str(local)], opts)
    _, rep = pipeline.ingest(tmp_path / "s3.duckdb", [f"s3://{name}/dir/"], opts)
    assert not rep.failed and not rep_local.failed
    assert [f.path.rsplit("/dir/", 1)[1] for f in rep.files] == [
        "a.jsonl", "b.jsonl.gz", "c.csv", "d.parquet", "pages/one.txt", "pages/two.txt"]  # notes.md is no input
    assert (rep.records, rep.documents, rep.quarantined) == (rep_local.records, rep_local.documents,
                                                            rep_local.quarantined)
    assert _documents(tmp_path / "s3.duckdb") == _documents(tmp_path / "local.duckdb")
    assert _quarantine(tmp_path / "s3.duckdb") == _quarantine(tmp_path / "local.duckdb")
    assert _sources(tmp_path / "s3.duckdb") == _sources(tmp_path / "local.duckdb")
    paths = dict(_rows(tmp_path / "s3.duckdb", "SELECT external_id, metadata->>'path' FROM documents "
                                               "WHERE metadata->>'path' IS NOT NULL"))
    assert paths == {"one": f"s3://{name}/dir/pages/one.txt", "two": f"s3://{name}/dir/pages/two.txt"}
    # `**` crosses folders, as locally
    found, unmatched = match_inputs([f"s3://{name}/dir/**/*.txt"])
    assert [f.url for f in found] == [f"s3://{name}/dir/pages/one.txt", f"s3://{name}/dir/pages/two.txt"]
    assert not unmatched


def test_rerun_is_a_no_op_and_a_changed_object_is_a_new_version(s3, bucket, tmp_path):
    name, _ = bucket
    db = tmp_path / "s3.duckdb"
    url = f"s3://{name}/dir/"
    _, first = pipeline.ingest(db, [url])
    before = _rows(db, "SELECT count(*) FROM documents")[0][0]
    _, again = pipeline.ingest(db, [url])
    assert [f.status for f in again.files] == ["skipped"] * len(first.files)
    assert again.records == 0 and _rows(db, "SELECT count(*) FROM documents")[0][0] == before
    s3.pipe(f"{name}/dir/c.csv", b"id,text\nc1,first csv row\nc9,a new row\n")  # the same key, new content
    _, third = pipeline.ingest(db, [url])
    assert {f.path.rsplit("/", 1)[1]: f.status for f in third.files} == {
        "a.jsonl": "skipped", "b.jsonl.gz": "skipped", "c.csv": "ingested", "d.parquet": "skipped",
        "one.txt": "skipped", "two.txt": "skipped"}
    versions = _rows(db, f"SELECT n_records FROM sources WHERE uri = 's3://{name}/dir/c.csv' ORDER BY ingested_at")
    assert versions == [(3,), (2,)]  # both versions are stored, as for a local file that changed


def test_a_missing_object_or_bucket_is_a_usage_error_naming_the_url(bucket, tmp_path, capsys):
    name, _ = bucket
    db = str(tmp_path / "s3.duckdb")
    assert cli.main(["ingest", "--db", db, f"s3://{name}/dir/nope.jsonl"]) == 2
    assert f"no such file or folder: s3://{name}/dir/nope.jsonl" in capsys.readouterr().err
    assert cli.main(["ingest", "--db", db, "s3://no-such-bucket-here/dir/*.jsonl"]) == 2
    assert "no folder s3://no-such-bucket-here/dir for the input glob" in capsys.readouterr().err
    assert cli.main(["ingest", "--db", db, f"s3://{name}/dir/*.zzz.jsonl"]) == 2  # a glob that matches nothing
    assert f"no file matches 's3://{name}/dir/*.zzz.jsonl'" in capsys.readouterr().err
    assert cli.main(["ingest", "--db", db, f"s3://{name}/dir/notes.md"]) == 2
    assert "unsupported file type" in capsys.readouterr().err
    # `curate run`: an empty prefix in an existing bucket is an empty inbox, not a mistake
    assert match_inputs([f"s3://{name}/incoming/*.jsonl"]) == ([], [f"s3://{name}/incoming/*.jsonl"])
    assert not Path(db).exists() or _rows(Path(db), "SELECT count(*) FROM documents") == [(0,)]


def test_a_truncated_gzip_object_fails_alone_and_leaves_no_rows(s3, bucket, tmp_path, capsys):
    name, local = bucket
    whole = (local / "b.jsonl.gz").read_bytes()
    s3.pipe(f"{name}/dir/b.jsonl.gz", whole[: len(whole) // 2])
    db = tmp_path / "s3.duckdb"
    assert cli.main(["ingest", "--db", str(db), f"s3://{name}/dir/"]) == 1
    err = capsys.readouterr().err
    assert f"s3://{name}/dir/b.jsonl.gz: cannot be read after record" in err
    failed = _rows(db, "SELECT count(*) FROM sources WHERE uri LIKE '%b.jsonl.gz'")
    assert failed == [(0,)]
    assert _rows(db, "SELECT count(*) FROM documents WHERE text LIKE 'gzip doc%'") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM sources") == [(5,)]  # the other files are in


def test_export_to_s3_writes_the_bytes_a_local_export_writes(s3, bucket, tmp_path, capsys):
    name, _ = bucket
    from curate.dashboard.synthetic import build_store
    from curate.recipes import build_slice, load_recipe

    db = build_store(tmp_path / "s3.duckdb", 120, seed=3)
    with store.open_store(db) as con:
        sid = build_slice(con, load_recipe("raw"), store.start_run(con, "slice", "{}")).slice_id
    for fmt in ("parquet", "jsonl"):
        assert cli.main(["export", "raw", "--db", str(db), "--out", str(tmp_path / "out"), "--format", fmt]) == 0
        assert cli.main(["export", "raw", "--db", str(db), "--out", f"s3://{name}/exports", "--format", fmt]) == 0
        assert f"exported s3://{name}/exports/{sid}.{fmt}" in capsys.readouterr().out
        assert s3.cat_file(f"{name}/exports/{sid}.{fmt}") == (tmp_path / "out" / f"{sid}.{fmt}").read_bytes()
    assert cli.main(["export", "raw", "--db", str(db), "--out", f"s3://{name}/exports/", "--split",
                     "train=0.5,test=0.5"]) == 0
    assert cli.main(["export", "raw", "--db", str(db), "--out", str(tmp_path / "out"), "--split",
                     "train=0.5,test=0.5"]) == 0
    s3.invalidate_cache()
    keys = sorted(k.rsplit("/", 1)[1] for k in s3.find(f"{name}/exports"))
    assert keys == sorted(p.name for p in (tmp_path / "out").iterdir())  # no temporary object left
    for key in keys:
        assert s3.cat_file(f"{name}/exports/{key}") == (tmp_path / "out" / key).read_bytes()


def test_run_reads_and_writes_urls_and_refuses_an_out_inside_its_url_input(bucket):
    name, _ = bucket
    with pytest.raises(UsageError, match="is inside the input"):
        refuse_output_inside_inputs(f"s3://{name}/dir/clean", [f"s3://{name}/dir/"], ["parquet"])
    with pytest.raises(UsageError, match="is inside the input"):
        refuse_output_inside_inputs(f"s3://{name}/dir", [f"s3://{name}/dir/*.parquet"], ["parquet"])
    with pytest.raises(UsageError, match="is inside the input"):
        refuse_output_inside_inputs(f"s3://{name}/dir/x/y", [f"s3://{name}/**"], ["parquet"])
    refuse_output_inside_inputs(f"s3://{name}/clean", [f"s3://{name}/dir/", f"s3://{name}/dir/*.jsonl"], ["parquet"])
    refuse_output_inside_inputs(f"gs://{name}/dir/clean", [f"s3://{name}/dir/"], ["parquet"])  # another store
    refuse_output_inside_inputs(Path("clean"), [f"s3://{name}/dir/"], ["parquet"])
    assert cli.build_parser().parse_args(["run", "raw", "-i", "x", "--out", f"s3://{name}/o"]).out == f"s3://{name}/o"


# --- file:// --------------------------------------------------------------------------------


def test_file_urls_are_local_paths(tmp_path):
    local = tmp_path / "corpus"
    _corpus(local)
    _, rep_local = pipeline.ingest(tmp_path / "a.duckdb", [str(local)])
    _, rep = pipeline.ingest(tmp_path / "b.duckdb", [f"file://{local}/", f"file://{local}/*.jsonl"])
    assert not rep.failed and len(rep.files) == len(rep_local.files) == 6  # the glob's file once
    assert _documents(tmp_path / "b.duckdb") == _documents(tmp_path / "a.duckdb")
    args = cli.build_parser().parse_args(["export", "raw", "--out", f"file://{tmp_path}/out"])
    assert args.out == tmp_path / "out"


# --- misbehaving stores (in memory) -------------------------------------------------------------


class _Memory(MemoryFileSystem):
    """An in-memory store under its own scheme, with its own objects."""

    protocol = "memorylike"
    store: dict = {}
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, str) and path.startswith(f"{cls.protocol}://"):
            path = "memory://" + path[len(cls.protocol) + 3:]
        return super()._strip_protocol(path)


class _Truncating(_Memory):
    """Its listing announces each object's size; reading a 'bad' one gives a third of it, then EOF."""

    protocol = "truncating"
    store: dict = {}

    def _open(self, path, mode="rb", **kwargs):
        f = super()._open(path, mode, **kwargs)
        return io.BytesIO(f.read()[: f.size // 3]) if "r" in mode and "bad" in path else f


class _Breaking(_Memory):
    """Reading a 'bad' object breaks off with a connection error after its first 10 bytes."""

    protocol = "breaking"
    store: dict = {}

    def _open(self, path, mode="rb", **kwargs):
        f = super()._open(path, mode, **kwargs)
        if "r" not in mode or "bad" not in path:
            return f

        class Broken(io.BytesIO):
            def read(self, n=-1):
                if self.tell():
                    raise ConnectionResetError(104, "Connection reset by peer")
                return super().read(10)

        return Broken(f.read())


@pytest.fixture
def misbehaving(monkeypatch):
    for cls in (_Truncating, _Breaking):
        monkeypatch.setitem(sys.modules["fsspec.registry"]._registry, cls.protocol, cls)
        cls.store.clear()
        fs = cls()
        fs.pipe("/in/good.jsonl", b'{"text": "a good document"}\n' * 5)
        fs.pipe("/in/bad.jsonl", b'{"text": "a document cut short"}\n' * 50)
    yield
    for cls in (_Truncating, _Breaking):
        cls.store.clear()


@pytest.mark.parametrize("proto, why", [("truncating", "bytes of the 1,650 its listing announced (truncated download)"),
                                         ("breaking", "the read broke off after 10 bytes (ConnectionResetError")])
def test_an_object_read_short_fails_named_and_leaves_no_rows(misbehaving, tmp_path, capsys, proto, why):
    db = tmp_path / "m.duckdb"
    assert cli.main(["ingest", "--db", str(db), f"{proto}://in/"]) == 1
    out, err = capsys.readouterr()
    assert f"curate: {proto}:///in/bad.jsonl: " in err and why in err
    assert "Traceback" not in err
    _, rep = pipeline.ingest(db, [f"{proto}://in/"])
    status = {f.path: f.status for f in rep.files}
    assert status == {f"{proto}:///in/bad.jsonl": "failed", f"{proto}:///in/good.jsonl": "skipped"}
    assert _rows(db, "SELECT uri, n_documents FROM sources") == [(f"{proto}:///in/good.jsonl", 5)]
    assert _rows(db, "SELECT count(*) FROM documents") == [(5,)]  # none of the cut object's records
    assert _rows(db, "SELECT count(*) FROM quarantine") == [(0,)]


def test_uploads_go_to_a_temporary_name_where_the_store_has_no_atomic_put(monkeypatch, tmp_path):
    class Plain(_Memory):
        protocol = "plainfs"
        store: dict = {}

    monkeypatch.setitem(sys.modules["fsspec.registry"]._registry, "plainfs", Plain)
    seen: list[str] = []
    real_put = Plain.put_file

    def put_file(self, lpath, rpath, **kwargs):
        seen.append(rpath)
        return real_put(self, lpath, rpath, **kwargs)

    monkeypatch.setattr(Plain, "put_file", put_file)
    (tmp_path / "x.jsonl").write_bytes(b"payload")
    remote.put_file(tmp_path / "x.jsonl", "plainfs://out/x.jsonl")
    assert seen and seen[0].endswith(".tmp")  # written under a temporary name, then moved
    assert Plain().cat_file("/out/x.jsonl") == b"payload"
    assert [p for p in Plain().find("/out")] == ["/out/x.jsonl"]
    Plain.store.clear()


def test_a_missing_filesystem_package_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed
    monkeypatch.delitem(sys.modules["fsspec.registry"]._registry, "s3", raising=False)
    assert cli.main(["ingest", "--db", str(tmp_path / "x.duckdb"), "s3://bucket/dir/*.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "s3:// needs s3fs (not installed)" in err and "pip install 'curate[remote]'" in err
    assert cli.main(["ingest", "--db", str(tmp_path / "x.duckdb"), "nosuchscheme://x/y.jsonl"]) == 2
    assert "unknown URL scheme nosuchscheme://" in capsys.readouterr().err


@pytest.mark.slow  # a whole `curate run` twice (score, slice, validate, export): ~13 s
def test_a_scheduled_run_from_s3_to_s3_is_idle_the_second_time(s3, bucket, tmp_path, capsys):
    name, _ = bucket
    argv = ["run", "raw", "--db", str(tmp_path / "s3.duckdb"), "-i", f"s3://{name}/dir/*.jsonl",
            "-i", f"s3://{name}/dir/**/*.txt", "--out", f"s3://{name}/clean", "--workers", "1", "-q"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    s3.invalidate_cache()
    exported = s3.find(f"{name}/clean")
    assert len(exported) == 1 and f"exported s3://{exported[0]}" in out
    assert pq.read_table(io.BytesIO(s3.cat_file(exported[0]))).num_rows == 8  # 6 JSON lines + 2 pages
    assert cli.main([*argv, "--exit-5-when-idle"]) == 5  # the export is there: nothing to do
    assert "nothing to do" in capsys.readouterr().out
    s3.rm(exported[0])
    assert cli.main([*argv, "--exit-5-when-idle"]) == 0  # gone: exported again
    s3.invalidate_cache()
    assert s3.find(f"{name}/clean") == exported


def test_a_report_is_written_to_a_url_or_a_path(s3, bucket, tmp_path):
    name, _ = bucket
    assert remote.write_text(f"s3://{name}/r/a.html", "<p>é</p>") == f"s3://{name}/r/a.html"
    assert s3.cat_file(f"{name}/r/a.html") == "<p>é</p>".encode()
    assert remote.write_text(f"file://{tmp_path}/r/a.html", "<p>x</p>") == tmp_path / "r" / "a.html"
    assert (tmp_path / "r" / "a.html").read_text() == "<p>x</p>"


@pytest.mark.slow  # the audit itself takes ~10 s
def test_the_audit_report_can_be_written_to_s3(s3, bucket, tmp_path, capsys):
    pytest.importorskip("altair", reason="curate audit needs the [app] extra")
    pytest.importorskip("vl_convert", reason="curate audit needs the [app] extra")
    from curate.dashboard.synthetic import build_store

    name, _ = bucket
    db = build_store(tmp_path / "a.duckdb", 60, seed=1)
    assert cli.main(["audit", "--db", str(db), "--format", "json", "--html", f"s3://{name}/reports/audit.html"]) == 0
    assert f"wrote s3://{name}/reports/audit.html" in capsys.readouterr().err
    s3.invalidate_cache()
    assert s3.cat_file(f"{name}/reports/audit.html").startswith(b"<!DOCTYPE html>")
    assert s3.find(f"{name}/reports") == [f"{name}/reports/audit.html"]


# --- single-file inputs: --val-text, --prompts, --reference, --benchmark, recipe files --------


def test_val_text_and_prompts_are_read_from_s3_and_named_by_their_url(s3, bucket):
    from train.pipeline import load_prompts, load_val_text

    name, _ = bucket
    text = "Clean held-out text, é and all.\nA second line.\n"
    s3.pipe(f"{name}/eval/val.txt", text.encode())
    s3.pipe(f"{name}/eval/prompts.jsonl", b'{"prompt": "Once upon"}\n\n{"prompt": "The river"}\n')
    s3.pipe(f"{name}/eval/binary.txt", b"\x00\x01checkpoint")
    assert load_val_text(f"s3://{name}/eval/val.txt", "--val-text") == text
    assert load_prompts(f"s3://{name}/eval/prompts.jsonl", "--prompts") == [{"prompt": "Once upon"},
                                                                            {"prompt": "The river"}]
    with pytest.raises(UsageError, match=rf"--val-text s3://{name}/eval/binary.txt: NUL byte at offset 0"):
        load_val_text(f"s3://{name}/eval/binary.txt", "--val-text")
    with pytest.raises(UsageError, match=rf"--prompts s3://{name}/eval/nope.jsonl: no such file"):
        load_prompts(f"s3://{name}/eval/nope.jsonl", "--prompts")
    with pytest.raises(UsageError, match=rf"--val-text s3://{name}/eval: is a folder, not a file"):
        load_val_text(f"s3://{name}/eval", "--val-text")
    # the options keep the URL whole (a Path would fold 's3://' into 's3:/')
    args = cli.build_parser().parse_args(["train", "--slice", "x", "--val-text", f"s3://{name}/eval/val.txt",
                                          "--prompts", f"s3://{name}/eval/prompts.jsonl"])
    assert (args.val_text, args.prompts) == (f"s3://{name}/eval/val.txt", f"s3://{name}/eval/prompts.jsonl")


def test_a_quality_reference_is_read_from_s3(s3, bucket, capsys):
    from curate.quality import read_reference

    name, _ = bucket
    s3.pipe(f"{name}/ref/clean.jsonl", b'{"text": "a clean reference page"}\n{"text": "another one"}\n')
    assert read_reference(f"s3://{name}/ref/clean.jsonl") == ["a clean reference page", "another one"]
    with pytest.raises(UsageError, match=rf"--reference s3://{name}/ref/nope.jsonl: no such file"):
        read_reference(f"s3://{name}/ref/nope.jsonl")
    args = cli.build_parser().parse_args(["quality", "train", "--reference", f"s3://{name}/ref/clean.jsonl"])
    assert args.reference == f"s3://{name}/ref/clean.jsonl"


def test_decontaminate_reads_a_benchmark_from_s3_and_reruns_from_its_url(s3, bucket, tmp_path, capsys):
    from curate import decontam

    name, _ = bucket
    item = "Which planet in our solar system has the largest number of confirmed moons orbiting it today"
    filler = "Our town library opens at nine and closes at six on every weekday of the year."
    s3.pipe(f"{name}/bench/qa.jsonl.gz", gzip.compress(json.dumps({"id": "q1", "text": item}).encode() + b"\n"))
    src = tmp_path / "corpus.jsonl"
    src.write_text(json.dumps({"id": "leak", "text": f"{filler} Quiz: {item}."}) + "\n"
                   + json.dumps({"id": "clean", "text": filler}) + "\n", encoding="utf-8")
    db = tmp_path / "d.duckdb"
    pipeline.ingest(db, [str(src)], IngestOptions(id_field="id"))
    url = f"s3://{name}/bench/qa.jsonl.gz"
    assert cli.main(["decontaminate", "--db", str(db), "-q", "--format", "json", "--benchmark", f"qa={url}"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["leaked_items"][0]["item_id"] == "q1" and doc["benchmarks"][0]["documents_contaminated"] == 1
    assert _rows(db, "SELECT benchmark, uri FROM decontam_benchmarks") == [("qa", url)]  # the URL, not a spool

    # a document ingested later is checked from the stored URL (what `curate run` does)
    src.write_text(json.dumps({"id": "late", "text": f"{item} again"}) + "\n", encoding="utf-8")
    pipeline.ingest(db, [str(src)], IngestOptions(id_field="id"))
    with store.open_store(db) as con:
        rep = decontam.catch_up(con, ["qa"], store.start_run(con, "run", "{}"))
    assert rep.scanned == {"qa": 1}
    assert _rows(db, "SELECT count(*) FROM decontam_hits") == [(2,)]

    # a missing object: exit 2 naming it, the store untouched
    assert cli.main(["decontaminate", "--db", str(db), "--benchmark", f"gone=s3://{name}/bench/nope.jsonl"]) == 2
    err = capsys.readouterr().err
    assert f"benchmark gone: s3://{name}/bench/nope.jsonl: no such file" in err and "Traceback" not in err
    assert _rows(db, "SELECT benchmark FROM decontam_benchmarks") == [("qa",)]


def test_a_recipe_file_is_read_from_s3(s3, bucket):
    from importlib import resources

    from curate import recipes

    name, _ = bucket
    text = resources.files(recipes.RECIPES_PACKAGE).joinpath("strict.yaml").read_text(encoding="utf-8")
    s3.pipe(f"{name}/recipes/mine.yaml", text.encode())
    got = recipes.load_recipe(f"s3://{name}/recipes/mine.yaml")
    assert got.origin == f"s3://{name}/recipes/mine.yaml"
    assert got.to_dict() == recipes.load_recipe("strict").to_dict()
    s3.pipe(f"{name}/recipes/utf16.yaml", "name: x\n".encode("utf-16"))
    with pytest.raises(recipes.RecipeError, match=rf"^s3://{name}/recipes/utf16.yaml: UTF-16"):
        recipes.load_recipe(f"s3://{name}/recipes/utf16.yaml")
    with pytest.raises(UsageError, match=rf"recipe s3://{name}/recipes/nope.yaml: no such file"):
        cli._load_recipe(f"s3://{name}/recipes/nope.yaml")


@pytest.mark.parametrize("proto, why", [("truncating", "bytes of the 1,650 its listing announced (truncated download)"),
                                         ("breaking", "the read broke off after 10 bytes (ConnectionResetError")])
def test_a_single_input_file_read_short_fails_naming_its_url(misbehaving, proto, why):
    from train.pipeline import load_val_text

    with pytest.raises(remote.RemoteReadError) as exc:
        load_val_text(f"{proto}://in/bad.jsonl", "--val-text")
    assert str(exc.value).startswith(f"{proto}://in/bad.jsonl: ") and why in str(exc.value)
    with remote.local_file(f"{proto}://in/good.jsonl", "--val-text") as local:
        assert local.read_bytes() == b'{"text": "a good document"}\n' * 5
    with remote.local_file("some/local.txt", "--val-text") as local:  # a path is yielded as given
        assert local == Path("some/local.txt")


# --- reruns: an unchanged object is not downloaded again ----------------------------------------


def _count_spools(monkeypatch) -> list[str]:
    """The URLs spooled (downloaded) from here on."""
    seen: list[str] = []
    real = remote.spooled

    def counting(obj, *args, **kwargs):
        seen.append(obj.url)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(remote, "spooled", counting)
    return seen


def test_a_rerun_downloads_no_unchanged_object_and_reports_it_skipped(bucket, tmp_path, monkeypatch, capsys):
    name, _ = bucket
    db = tmp_path / "s3.duckdb"
    url = f"s3://{name}/dir/"
    seen = _count_spools(monkeypatch)
    _, first = pipeline.ingest(db, [url], IngestOptions(id_field="id"))
    assert not first.failed and len(seen) == len(first.files) == 6
    listed = dict(_rows(db, "SELECT uri, listing FROM remote_objects"))
    assert sorted(listed) == sorted(f.path for f in first.files)
    assert all('"ETag"' in v and '"size"' in v for v in listed.values())
    seen.clear()
    before = _rows(db, "SELECT * FROM documents ORDER BY doc_id")
    assert cli.main(["ingest", "--db", str(db), "--id-field", "id", url]) == 0
    assert seen == []  # not one object downloaded
    assert "files skipped (already stored) 6, failed 0" in capsys.readouterr().out
    _, again = pipeline.ingest(db, [url], IngestOptions(id_field="id"))
    assert seen == [] and [f.status for f in again.files] == ["skipped"] * 6
    assert {f.source_id for f in again.files} == {f.source_id for f in first.files}
    assert _rows(db, "SELECT * FROM documents ORDER BY doc_id") == before


def test_an_object_rewritten_with_the_same_size_is_ingested_again(s3, bucket, tmp_path, monkeypatch):
    name, _ = bucket
    db = tmp_path / "s3.duckdb"
    key = f"{name}/same/x.jsonl"
    s3.pipe(key, b'{"text": "first version of it"}\n')
    s3.pipe(f"{name}/same/y.jsonl", b'{"text": "a neighbour that stays"}\n')
    seen = _count_spools(monkeypatch)
    _, first = pipeline.ingest(db, [f"s3://{name}/same/"])
    assert [f.status for f in first.files] == ["ingested", "ingested"]
    s3.pipe(key, b'{"text": "other version of it"}\n')  # the same size, another ETag
    s3.invalidate_cache()
    assert s3.info(key)["size"] == len(b'{"text": "first version of it"}\n')
    seen.clear()
    _, again = pipeline.ingest(db, [f"s3://{name}/same/"])
    assert seen == [f"s3://{key}"]  # the rewritten one only
    assert {f.path: f.status for f in again.files} == {f"s3://{key}": "ingested",
                                                       f"s3://{name}/same/y.jsonl": "skipped"}
    assert sorted(t for (t,) in _rows(db, "SELECT text FROM documents")) == [
        "a neighbour that stays", "first version of it", "other version of it"]
    assert len(_rows(db, "SELECT * FROM remote_objects")) == 2  # one row per URL, the last read
    seen.clear()
    pipeline.ingest(db, [f"s3://{name}/same/"])
    assert seen == []
    # back to the first content: downloaded (the ETag changed), then skipped as already stored
    s3.pipe(key, b'{"text": "first version of it"}\n')
    s3.invalidate_cache()
    _, back = pipeline.ingest(db, [f"s3://{name}/same/"])
    assert seen == [f"s3://{key}"] and [f.status for f in back.files] == ["skipped", "skipped"]


def test_an_object_whose_listing_has_no_etag_nor_time_is_downloaded_each_time(misbehaving, tmp_path, monkeypatch):
    assert remote.listing_of({"size": 5, "type": "file", "created": 1.0}) is None
    assert remote.listing_of({"ETag": '"ab"', "type": "file"}) is None  # no size
    db = tmp_path / "m.duckdb"
    seen = _count_spools(monkeypatch)
    pipeline.ingest(db, ["truncating://in/good.jsonl"])
    _, again = pipeline.ingest(db, ["truncating://in/good.jsonl"])
    assert len(seen) == 2 and [f.status for f in again.files] == ["skipped"]  # hashed, then skipped
    assert _rows(db, "SELECT count(*) FROM remote_objects") == [(0,)]


def test_a_version_3_store_reads_as_it_was_and_gains_remote_objects(bucket, tmp_path, monkeypatch):
    import duckdb

    name, _ = bucket
    db = tmp_path / "s3.duckdb"
    url = f"s3://{name}/dir/*.jsonl"
    pipeline.ingest(db, [url])
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE remote_objects")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()
    with store.open_store(db, read_only=True) as con:  # read as it is
        assert store.get_meta(con, "schema_version") == "3"
        assert not store.table_exists(con, "remote_objects")
        assert store.count_rows(con, "sources") == 1
    seen = _count_spools(monkeypatch)
    _, rep = pipeline.ingest(db, [url])  # a read-write open upgrades it; the object is hashed once more
    assert len(seen) == 1 and [f.status for f in rep.files] == ["skipped"]
    with store.open_store(db, read_only=True) as con:
        assert store.get_meta(con, "schema_version") == str(store.SCHEMA_VERSION) == "4"
        assert store.count_rows(con, "remote_objects") == 1
    seen.clear()
    pipeline.ingest(db, [url])
    assert seen == []
