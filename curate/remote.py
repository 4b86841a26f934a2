"""Object storage: inputs and outputs named by fsspec URLs (`s3://`, `gs://`, `hf://`, `file://`).

An input URL is expanded as a local path is: a glob by the store's own listing (`**` crosses
folders), a folder (a prefix) searched recursively for the supported file types, a glob that
matches nothing "no file yet", a missing object or bucket a usage error naming the URL. Each
object is then streamed, one at a time and in bounded chunks, into a local spool file that the
ordinary readers read; its sha256 is taken from the bytes as they arrive, and the source is
recorded under its URL, so idempotence (the same content is not ingested twice), quarantine
and every message name the object, not the spool. What the listing said of the object (its
size and ETag, version or modified time: `listing_of`) is recorded beside that hash; a rerun
whose listing says the same skips the object without downloading it, and an object whose
listing gives none of these is downloaded and hashed each time. An object that delivers fewer (or more)
bytes than its listing announced, or whose read breaks off, fails as a file does locally.

`file://` URLs are local paths and are handled as such (no copy, the same change detection).

Outputs (`--out`) are written into a local staging folder by the same code as local exports,
then uploaded file by file. An object store (S3, GCS, Azure, the Hugging Face Hub) publishes
an object only when its upload completes, so the final name never holds half a file; on any
other filesystem a file goes to '<name>.<pid>.tmp' and is moved into place.

Credentials and endpoints come only from each filesystem's own configuration: for S3 the
AWS_* variables (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...) and ~/.aws, for GCS
GOOGLE_APPLICATION_CREDENTIALS or gcloud's login, for hf:// HF_TOKEN or `hf auth login`, and
fsspec's own config (~/.config/fsspec/, FSSPEC_<PROTOCOL>_<OPTION>). curate stores none.
"""
from __future__ import annotations

import contextlib
import fnmatch
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from curate.errors import CurateError, UsageError

REMOTE_EXTRA_HINT = "pip install 'curate[remote]'"
CHUNK_BYTES = 1 << 20  # one read from the store; the spool file holds the object, memory holds this

# The package behind each protocol, for the message when it is missing.
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "hf": "huggingface_hub",
             "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs", "http": "aiohttp", "https": "aiohttp"}
_IN_EXTRA = {"s3fs"}

# Stores where an upload becomes visible only once complete (S3 and GCS multipart included):
# a temporary key and a move would copy every byte a second time for nothing.
_ATOMIC_PUT = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "hf", "memory"}
# Stores without real folders: a prefix with no object under it is an empty folder.
_PREFIX_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)://")  # two letters at least: C:// is a drive

# Spool file -> the URL it holds, so that every message naming a file names the object.
SPOOLED: dict[str, str] = {}


class RemoteReadError(CurateError):
    """An object could not be read whole (per file: that file fails, the others go on)."""


def is_url(location: object) -> bool:
    return isinstance(location, str) and _SCHEME.match(location) is not None


def protocol_of(url: str) -> str:
    return _SCHEME.match(url).group(1).lower()


def localized(location):
    """A `file://` URL as the local path it names; anything else unchanged."""
    if not is_url(location) or protocol_of(location) not in ("file", "local"):
        return location
    rest = location.split("://", 1)[1]
    if rest.startswith("localhost/"):
        rest = rest[len("localhost"):]
    return rest or "."


def location(text: str) -> Path | str:
    """An argparse type for an output or input location: a URL stays text (Path would fold
    its '//'), a `file://` URL or a plain path becomes a Path."""
    text = localized(text)
    return text if is_url(text) else Path(text)


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for a URL; a missing package is a usage error
    naming what to install (exit 2), an unknown scheme one listing the known ones."""
    try:
        import fsspec
        from fsspec.registry import known_implementations, registry
    except ImportError:
        raise UsageError(f"{url}: URLs need fsspec (not installed); install it with: `{REMOTE_EXTRA_HINT}`") from None
    proto = protocol_of(url)
    if proto not in known_implementations and proto not in registry:
        known = ", ".join(sorted(p for p in known_implementations if len(p) > 1)[:40])
        raise UsageError(f"{url}: unknown URL scheme {proto}:// (fsspec knows {known}, ...)")
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError:
        pkg = _PACKAGES.get(proto, f"the fsspec implementation of {proto}://")
        how = (f"install it with: `{REMOTE_EXTRA_HINT}`" if pkg in _IN_EXTRA
               else f"install it beside curate's [remote] extra (fsspec's filesystem for {proto}://)")
        raise UsageError(f"{url}: {proto}:// needs {pkg} (not installed); {how}") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{url}: not a usable URL: {exc}") from None
    return fs, path


# The fields of a listing that change when an object is written again, by the names the
# filesystems give them: S3's ETag and VersionId, GCS's generation, Azure's etag, the Hub's
# blob id, and a modified time. Size alone says too little (a rewrite may keep it).
_CHANGE_FIELDS = ("ETag", "etag", "VersionId", "version_id", "generation", "blob_id",
                  "LastModified", "last_modified", "mtime", "updated")


def listing_of(info: dict) -> str | None:
    """What an object's listing says that changes when the object is written again, as text
    to compare with the next listing; None when the listing has no such field (a size alone
    does not tell a rewrite), so that the object is downloaded and hashed each time."""
    seen = {k: str(info[k]) for k in _CHANGE_FIELDS if info.get(k) not in (None, "")}
    if not seen or info.get("size") is None:
        return None
    return json.dumps({"size": info["size"], **seen}, sort_keys=True)


@dataclass(frozen=True)
class RemoteFile:
    """One object named by the inputs: its URL, the size its listing announced, and what
    else the listing said that changes with its content (`listing_of`)."""

    url: str
    size: int | None
    fs_path: str = field(compare=False)
    fs: object = field(compare=False, repr=False)
    listing: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.fs_path.rstrip("/").rsplit("/", 1)[-1]


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


def expand(pattern: str, accept: Callable[[str], bool], supported: str) -> tuple[list[RemoteFile], bool]:
    """(the objects a URL names, whether a glob matched anything), as match_inputs does for
    paths: `accept(name)` says whether a file name has a supported type (`supported` lists them)."""
    fs, path = filesystem(pattern)
    fs.invalidate_cache()  # a listing cached by an earlier call in this process may be stale

    def obj(p: str, info: dict) -> RemoteFile:
        return RemoteFile(fs.unstrip_protocol(p), info.get("size"), p, fs, listing_of(info))

    def walk(folder: str) -> list[RemoteFile]:
        found = fs.find(folder, detail=True)
        return [obj(p, i) for p, i in sorted(found.items())
                if i.get("type") != "directory" and accept(p.rstrip("/").rsplit("/", 1)[-1])]

    def one_file(p: str, info: dict) -> RemoteFile:
        name = p.rstrip("/").rsplit("/", 1)[-1]
        if not accept(name):
            raise UsageError(f"{fs.unstrip_protocol(p)}: unsupported file type (supported: {supported})")
        return obj(p, info)

    try:
        if glob.has_magic(path):
            hits = fs.glob(path, detail=True)
            if not hits:
                base = _glob_base(path)
                if not _folder_exists(fs, base):
                    raise UsageError(f"no folder {fs.unstrip_protocol(base)} for the input glob {pattern!r}")
                return [], False
            files: list[RemoteFile] = []
            for p, info in sorted(hits.items()):
                files.extend(walk(p) if info.get("type") == "directory" else [one_file(p, info)])
            return files, True
        try:
            info = fs.info(path)
        except FileNotFoundError:
            raise UsageError(f"no such file or folder: {pattern}") from None
        if info.get("type") == "directory":
            return walk(path), True
        return [one_file(path, info)], True
    except CurateError:
        raise
    except PermissionError as exc:
        raise UsageError(f"{pattern}: access denied ({_describe(exc)}); credentials come from the "
                         f"store's own configuration (for S3: AWS_* variables or ~/.aws)") from None
    except Exception as exc:  # the store's client raises its own kinds (botocore, aiohttp, ...)
        raise CurateError(f"{pattern}: cannot list: {_describe(exc)}") from None


def _glob_base(path: str) -> str:
    parts = path.split("/")
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def _folder_exists(fs, base: str) -> bool:
    if base.strip("/") == "" or fs.isdir(base):
        return True
    protos = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    if protos & _PREFIX_STORES:  # no object under the prefix yet: an empty inbox, if the bucket is there
        return fs.exists(base.strip("/").split("/", 1)[0])
    return False


@contextlib.contextmanager
def spooled(obj: RemoteFile, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[Path, str]]:
    """(a local file holding the object, the sha256 of the bytes received), removed on exit.

    The file keeps the object's name, so its type (.jsonl.gz, .parquet) is read from it.
    RemoteReadError when the object is gone, the read breaks off, or the bytes received are
    not as many as the listing announced (a truncated download must not pass for a file).
    """
    folder = tempfile.mkdtemp(prefix="curate-spool-")
    local = Path(folder) / (obj.name[-200:] or "object")
    digest = hashlib.sha256()
    received = 0
    try:
        try:
            with obj.fs.open(obj.fs_path, "rb", block_size=chunk_bytes) as src, open(local, "wb") as dst:
                while True:
                    data = src.read(chunk_bytes)
                    if not data:
                        break
                    received += len(data)
                    digest.update(data)
                    dst.write(data)
        except FileNotFoundError:
            raise RemoteReadError(f"{obj.url}: the object was listed but no longer exists; "
                                  "none of its records were kept") from None
        except OSError as exc:
            if exc.errno is not None and exc.filename == str(local):  # the spool, not the store
                raise RemoteReadError(f"{obj.url}: cannot spool it to {local}: {exc.strerror}") from None
            raise RemoteReadError(f"{obj.url}: the read broke off after {received:,} bytes "
                                  f"({_describe(exc)}); none of its records were kept") from None
        except Exception as exc:  # the store's client raises its own kinds
            raise RemoteReadError(f"{obj.url}: the read broke off after {received:,} bytes "
                                  f"({_describe(exc)}); none of its records were kept") from None
        if obj.size is not None and received != obj.size:
            raise RemoteReadError(
                f"{obj.url}: received {received:,} bytes of the {obj.size:,} its listing announced "
                f"({'truncated download' if received < obj.size else 'the object changed'}); "
                "none of its records were kept: ingest it again")
        SPOOLED[str(local)] = obj.url
        yield local, digest.hexdigest()
    finally:
        SPOOLED.pop(str(local), None)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def local_file(location: Path | str, label: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Path]:
    """A local path for one input file given as a path or a URL (`--val-text`, `--prompts`,
    `--reference`, `--benchmark NAME=FILE`, a recipe file): a path (or a `file://` URL) is
    yielded as it is, for the caller's own checks and messages; an object is streamed into a
    spool file that keeps its name (see `spooled`) and is removed on exit. A missing object is
    a usage error naming `label` and the URL, a folder one too; a short read a RemoteReadError."""
    location = localized(location)
    if not is_url(location):
        yield Path(location)
        return
    fs, path = filesystem(location)
    fs.invalidate_cache()
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise UsageError(f"{label} {location}: no such file") from None
    except PermissionError as exc:
        raise UsageError(f"{label} {location}: access denied ({_describe(exc)}); credentials come from the "
                         f"store's own configuration (for S3: AWS_* variables or ~/.aws)") from None
    except Exception as exc:  # the store's client raises its own kinds
        raise CurateError(f"{label} {location}: cannot be read: {_describe(exc)}") from None
    if info.get("type") == "directory":
        raise UsageError(f"{label} {location}: is a folder, not a file")
    with spooled(RemoteFile(location, info.get("size"), path, fs), chunk_bytes) as (local, _sha):
        yield local


# --- outputs --------------------------------------------------------------------------------


def join(url: str, name: str) -> str:
    return url.rstrip("/") + "/" + name


def output_exists(out: Path | str, name: str) -> bool:
    """Whether '<out>/<name>' exists, for a local folder or a URL."""
    if not is_url(out):
        return (Path(out) / name).exists()
    fs, path = filesystem(join(out, name))
    fs.invalidate_cache()
    try:
        return fs.exists(path)
    except Exception as exc:
        raise CurateError(f"{join(out, name)}: cannot be checked: {_describe(exc)}") from None


def put_file(local: Path, url: str) -> None:
    """Upload one file so that `url` never names half of it (see the module's docstring)."""
    fs, path = filesystem(url)
    protos = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    try:
        if protos & _ATOMIC_PUT:
            fs.put_file(str(local), path)
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            fs.put_file(str(local), tmp)
            fs.mv(tmp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm(tmp)
            raise
    except CurateError:
        raise
    except Exception as exc:
        raise CurateError(f"{url}: upload failed: {_describe(exc)}") from None


@contextlib.contextmanager
def staged_output(out: str) -> Iterator[Path]:
    """A local folder standing for the output URL `out`: the files written into it are
    uploaded in the order they were written (a manifest written last arrives last) when
    the block ends without error, and the folder is removed either way."""
    filesystem(out)  # a missing package or a bad scheme fails before any work is done
    folder = Path(tempfile.mkdtemp(prefix="curate-out-"))
    try:
        yield folder
        written = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: (p.stat().st_mtime_ns, p.name))
        for p in written:
            put_file(p, join(out, p.name))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def output_inside_inputs(out: Path | str | None, patterns: Iterable[str], formats: Iterable[str]) -> str | None:
    """The URL input an output URL lies inside (or whose glob would match its exports), else None."""
    if not is_url(out):
        return None
    o_proto, o_path = protocol_of(out), PurePosixPath(out.split("://", 1)[1].rstrip("/"))
    candidates = [o_path, *[o_path / f"export.{fmt}" for fmt in formats]]
    for pattern in patterns:
        if not is_url(pattern) or protocol_of(pattern) != o_proto:
            continue
        p_path = pattern.split("://", 1)[1].rstrip("/")
        if glob.has_magic(p_path):
            parts = PurePosixPath(p_path).parts
            if any(_parts_match(parts, c.parts) for c in [*candidates, *o_path.parents]):
                return pattern
        elif o_path == PurePosixPath(p_path) or PurePosixPath(p_path) in o_path.parents:
            return pattern
    return None


def _parts_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_parts_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _parts_match(pattern[1:], parts[1:])


def write_text(target: Path | str, text: str) -> Path | str:
    """Write a report (`curate audit --html FILE`) to a local path (its folder created) or a URL."""
    target = localized(target)
    if not is_url(target):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path
    filesystem(target)
    folder = Path(tempfile.mkdtemp(prefix="curate-out-"))
    try:
        local = folder / "report"
        local.write_text(text, encoding="utf-8")
        put_file(local, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return target
