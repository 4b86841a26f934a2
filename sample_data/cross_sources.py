"""Raw text sources for the cross-source corpus (sample_data/cross/).

None of these packages is read by sources.py: manual pages (rendered with groff) in
eight languages, GNU Texinfo manuals as shipped in Info format, and two dictd
dictionaries. Like sources.py, every loader names the path it reads and raises
`SourceMissing` with the install command when it is absent.
"""
from __future__ import annotations

import gzip
import os
import random
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sample_data import sources
from sample_data.sources import (
    MIN_WORDS, Loader, Source, SourceMissing, _dedup_units, _mostly_letters, pack, word_count,
)

MAN_DIR = Path("/usr/share/man")
INFO_DIR = Path("/usr/share/info")
DICT_DIR = Path("/usr/share/dictd")
DPKG_INFO = Path("/var/lib/dpkg/info")

APT_PACKAGES = (
    "groff-base manpages manpages-dev manpages-de manpages-fr manpages-es manpages-it manpages-ru "
    "manpages-ja manpages-zh dict-devil dict-jargon coreutils sed grep diffutils findutils gzip"
)
INSTALL_HINT = (
    "install the cross-corpus sources with:\n"
    f"  apt-get update && apt-get install -y --no-install-recommends {APT_PACKAGES}"
)


# sources.py's checks, with this corpus's install command.
_missing = partial(sources.missing, hint=INSTALL_HINT)
_require = partial(sources._require, hint=INSTALL_HINT)


def _version(package: str) -> str:
    """The installed Debian version, read from dpkg's status file (recorded in stats.json)."""
    status = Path("/var/lib/dpkg/status")
    if not status.exists():
        return "?"
    for block in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        if f"Package: {package}\n" in block + "\n" and "Status: install ok installed" in block:
            m = re.search(r"^Version: (.+)$", block, re.M)
            if m:
                return m.group(1)
    return "?"


# --- language checks for translated pages -----------------------------------------------------

# Translated manual pages keep a paragraph in English when its translation is missing;
# those paragraphs are dropped so that a document's `lang` holds for all of it.
_EN_STOP = frozenset("the of and to is in that for with this are be by it or as an on which".split())
_LATIN_STOP = {
    "de": frozenset("der die das und ist zu den von mit nicht sich ein eine auf für im wird werden".split()),
    "fr": frozenset("le la les de des et un une que est pas pour dans du au sur par ce qui".split()),
    "es": frozenset("el la los las de que y en un una es por con para del se si no".split()),
    "it": frozenset("il la le di che e è un una per non con del della sono gli si da".split()),
}
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_CJK_ANY = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_LETTER = re.compile(r"[^\W\d_]")


def in_language(text: str, lang: str) -> bool:
    words = re.findall(r"[^\W\d_]+", text.lower())
    if lang == "en" or len(words) < 6:
        return True
    if lang in _LATIN_STOP:
        en = sum(w in _EN_STOP for w in words)
        own = sum(w in _LATIN_STOP[lang] for w in words)
        return not (en >= 3 and en > 2 * own)
    letters = len(_LETTER.findall(text)) or 1
    script = _CYRILLIC if lang == "ru" else _CJK_ANY
    return len(script.findall(text)) / letters >= 0.3


_CODE_LINE = re.compile(r"(;|\{|\}|\*/|\)\s*;?)\s*$|^\s*(#\s*include|#\s*define|\$ |% |>>> |/\*)")


_NUMBER = re.compile(r"(0[xX])?[0-9A-Fa-f]*\d[0-9A-Fa-f.,:/-]*")


def prose_like(block: str, lang: str) -> bool:
    """Real sentences or definition items, not code listings, tables or symbol dumps."""
    if not block.strip() or not _mostly_letters(block):
        return False
    lines = [ln for ln in block.split("\n") if ln.strip()]
    if sum(bool(_CODE_LINE.search(ln)) for ln in lines) * 3 > len(lines):
        return False
    toks = block.split()
    if len(toks) >= 6 and sum(bool(_NUMBER.fullmatch(t)) for t in toks) * 4 >= len(toks):
        return False  # a code table (charsets(7), ascii(7)) or a list of values
    if lang == "en" and len(toks) >= 8 and not any(t.lower() in _EN_STOP for t in toks):
        return False  # sample input ("aaa bbb ccc") or a list of names, not sentences
    if lang not in ("ja", "zh"):
        alpha = sum(bool(re.fullmatch(r"[\"'(‘“«]*[^\W\d_][^\W\d_'’.-]*[.,;:!?)\"'’”»]*", t)) for t in toks)
        if alpha < 0.6 * len(toks):
            return False
    return in_language(block, lang)


# --- manual pages ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ManSet:
    name: str  # `source` label
    package: str
    lang: str
    licence: str
    subdir: str  # under /usr/share/man: "" for English, else the locale directory
    sections: tuple[str, ...] | None  # man sections to read (None: all)
    max_pages: int


MAN_L10N = "GPL-3+ (manpages-l10n translations); the translated pages are under their own free licences"
MAN_SETS = (
    ManSet("manpages", "manpages", "en", "Linux man-pages licences (Linux-man-pages-copyleft, GPL-2+, BSD, Expat)",
           "", None, 400),
    ManSet("manpages-dev", "manpages-dev", "en", "Linux man-pages licences (Linux-man-pages-copyleft, GPL-2+, BSD, Expat)",
           "", ("2",), 420),
    ManSet("manpages-de", "manpages-de", "de", MAN_L10N, "de", None, 420),
    ManSet("manpages-fr", "manpages-fr", "fr", MAN_L10N, "fr", None, 420),
    ManSet("manpages-es", "manpages-es", "es", MAN_L10N, "es", None, 420),
    ManSet("manpages-it", "manpages-it", "it", MAN_L10N, "it", None, 420),
    ManSet("manpages-ru", "manpages-ru", "ru", MAN_L10N, "ru", None, 420),
    ManSet("manpages-ja", "manpages-ja", "ja", "as the original pages (JM Project; DFSG-free licences per page)",
           "ja", None, 420),
    ManSet("manpages-zh", "manpages-zh", "zh", "GFDL-1.2+ / GPL-2+ / public domain (per page, CMPP and others)",
           "zh_CN", None, 420),
)

# Sections whose text repeats across pages or is not prose: synopsis, cross references,
# authors, bug-report addresses, translation credits, colophons, code examples.
_DROP_HEADINGS = (
    "SYNOPSIS", "SINOPSIS", "ÜBERSICHT", "SINTASSI", "СИНТАКСИС", "ОБЗОР", "書式", "总览", "概要", "SYNOPSE",
    "SEE ALSO", "SIEHE", "VOIR AUSSI", "VÉASE", "VEASE", "VEDERE", "VEDI", "СМОТРИТЕ", "関連", "参见", "另见",
    "COLOPHON", "KOLOPHON", "ÜBERSETZ", "TRADU", "ПЕРЕВОД", "中文版", "中国", "跋", "AUTHOR", "AUTOR", "AUTEUR",
    "АВТОР", "著者", "作者", "COPYRIGHT", "REPORTING", "MELDEN", "SIGNALER", "INFORMAR", "SEGNALA", "СООБЩЕНИ",
    "EXAMPLE", "BEISPIEL", "EXEMPLE", "EJEMPLO", "ESEMPI", "ПРИМЕР", "例", "示例", "范例", "LICEN", "LIZENZ",
    "HISTORY", "GESCHICHTE", "HISTORIQUE", "HISTORIA", "STORIA", "ИСТОРИЯ", "履歴", "历史",
)
_RUNNING = re.compile(r"\S {10,}\S")
_GROFF = ("groff", "-k", "-t", "-Tutf8", "-mandoc", "-rLL=2000n", "-rHY=0", "-P-cbou")


def _package_files(package: str) -> list[str]:
    listing = DPKG_INFO / f"{package}.list"
    if not listing.exists():
        listing = next(iter(sorted(DPKG_INFO.glob(f"{package}:*.list"))), listing)
    if not listing.exists():
        raise _missing(f"the file list of {package}", package)
    return listing.read_text(encoding="utf-8").split("\n")


def man_pages(ms: ManSet) -> list[Path]:
    """The package's own manual pages (no symlinks, no `.so` redirections), an evenly
    spaced selection of at most `max_pages` of them in sorted order."""
    prefix = str(MAN_DIR / ms.subdir) + "/man" if ms.subdir else str(MAN_DIR) + "/man"
    pages = []
    for f in sorted(_package_files(ms.package)):
        if not (f.startswith(prefix) and f.endswith(".gz")):
            continue
        sect = f[len(prefix):].split("/", 1)[0]
        if ms.sections and sect not in ms.sections:
            continue
        p = Path(f)
        if p.is_symlink() or not p.is_file():
            continue
        pages.append(p)
    if not pages:
        raise _missing(f"manual pages under {prefix}*", ms.package)
    if len(pages) > ms.max_pages:
        step = len(pages) / ms.max_pages
        pages = [pages[int(k * step)] for k in range(ms.max_pages)]
    return pages


def render_man(path: Path) -> str:
    raw = gzip.decompress(path.read_bytes())
    head = raw.lstrip()[:200]
    if head.startswith(b".so ") or not raw.strip():
        return ""
    out = subprocess.run(_GROFF, input=raw, capture_output=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    return out.stdout.decode("utf-8", "replace")


def man_doc_units(rendered: str, lang: str) -> tuple[str | None, list[str]]:
    """(title, prose blocks) of a rendered page: header/footer lines and dropped sections removed."""
    lines = [ln.rstrip() for ln in rendered.replace("\u2010", "-").split("\n")]
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    if len(nonblank) < 4:
        return None, []
    # man(7) pages open and close with a running header/footer ("ls(1)   User Commands   ls(1)");
    # mdoc(7) pages rendered this way have none.
    first, last = nonblank[0], nonblank[-1]
    lines = lines[first + bool(_RUNNING.search(lines[first])):last + (not _RUNNING.search(lines[last]))]
    sections: list[tuple[str, list[str]]] = []
    for ln in lines:
        if ln and not ln[0].isspace():
            sections.append((ln.strip(), []))
        elif sections:
            sections[-1][1].append(ln)
    if not sections:
        return None, []
    title = " ".join(x.strip() for x in sections[0][1] if x.strip()) or None
    units: list[str] = []
    for heading, body in sections[1:]:
        if any(k in heading.upper() for k in _DROP_HEADINGS):
            continue
        blocks, cur = [], []
        for ln in body + [""]:
            if ln.strip():
                cur.append(re.sub(r"[ \t]{3,}", "  ", ln.strip()))
            elif cur:
                blocks.append("\n".join(cur))
                cur = []
        kept = [b for b in blocks if prose_like(b, lang)]
        if kept:
            units.append(heading)
            units += kept
    return title, units


def load_man(ms: ManSet, rng: random.Random, seen: set[str]) -> Source:
    """Reads the package's pages under /usr/share/man[/<locale>]/man*/ (rendered with groff)."""
    if shutil.which("groff") is None:
        raise _missing("the groff program", "groff-base")
    pages = man_pages(ms)
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        rendered = list(ex.map(render_man, pages))
    docs: list[str] = []
    for text in rendered:
        title, units = man_doc_units(text, ms.lang)
        units = _dedup_units(units, seen)
        if sum(word_count(u) for u in units) < MIN_WORDS:
            continue
        docs += pack(units, rng, title=title)
    return Source(ms.name, ms.package, ms.licence, ms.lang, tuple(docs))


# --- GNU manuals in Info format --------------------------------------------------------------------

INFO_MANUALS = (  # (info file stem, package, licence)
    ("coreutils", "coreutils", "GFDL-1.3, no invariant sections"),
    ("sed", "sed", "GFDL-1.3+, no invariant sections"),
    ("grep", "grep", "GFDL-1.3+, no invariant sections (manual); package GPL-3+"),
    ("diffutils", "diffutils", "GFDL-1.3, no invariant sections"),
    ("find", "findutils", "GFDL-1.3+, no invariant sections"),
    ("gzip", "gzip", "GFDL-1.3+, no invariant sections"),
)
_UNDERLINE = re.compile(r"^([*=\-.])\1{2,}$")
_SKIP_NODES = re.compile(r"index|licen[cs]e|copying|top$", re.I)


def info_text(stem: str, package: str) -> str:
    main = _require(INFO_DIR / f"{stem}.info.gz", package)
    parts = sorted(INFO_DIR.glob(f"{stem}.info-*.gz"), key=lambda p: int(p.name.split("-")[-1].split(".")[0]))
    return "".join(gzip.decompress(p.read_bytes()).decode("utf-8", "replace") for p in [main, *parts])


def _unwrap(lines: list[str], indents: list[int]) -> list[str]:
    """Join the wrapped lines of a paragraph: a run of lines at one indentation (the first
    line of a paragraph may be indented further) is one line; short labels stay apart."""
    runs: list[list[str]] = []
    prev = None
    for ln, ind in zip(lines, indents):
        if runs and ind == prev:
            runs[-1].append(ln.strip())
        else:
            runs.append([ln.strip()])
        prev = ind
    out = []
    for run in runs:
        if len(run) > 1 and sum(map(len, run)) / len(run) > 40:
            out.append(" ".join(run))
        else:
            out += run
    # "   First line of a paragraph" + "next lines" at a smaller indent: the same paragraph.
    if len(runs) == 2 and len(runs[0]) == 1 and indents[0] > indents[-1] and len(runs[0][0]) > 40:
        return [" ".join(out)]
    return out


def info_units(text: str) -> list[str]:
    units: list[str] = []
    for node in text.split("\x1f"):
        node = node.strip("\n")
        head, _, body = node.partition("\n")
        m = re.search(r"Node: ([^,\n]+)", head)
        if not head.startswith("File:") or not m or _SKIP_NODES.search(m.group(1).strip()):
            continue
        body = body.split("* Menu:")[0].split("---------- Footnotes ----------")[0]
        for block in re.split(r"\n[ \t]*\n", body):
            lines = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
            if not lines:
                continue
            if len(lines) == 2 and _UNDERLINE.match(lines[1].strip()):
                units.append(lines[0].strip())  # a heading
                continue
            indents = [len(ln) - len(ln.lstrip()) for ln in lines]
            if min(indents) >= 10:
                continue  # an example inside a table item
            block = "\n".join(_unwrap(lines, indents))
            if prose_like(block, "en"):
                units.append(block)
    return units


def load_info(stem: str, package: str, licence: str, rng: random.Random, seen: set[str]) -> Source:
    """Reads /usr/share/info/<stem>.info*.gz (the package's Texinfo manual)."""
    units = _dedup_units(info_units(info_text(stem, package)), seen)
    return Source(f"info-{stem}", package, licence, "en", tuple(pack(units, rng)))


# --- dictd dictionaries --------------------------------------------------------------------------

DICTS = (
    ("devil", "dict-devil", "public domain (Ambrose Bierce, The Devil's Dictionary, 1911)"),
    ("jargon", "dict-jargon", "public domain (The Jargon File 4.4.7)"),
)
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BRACES = re.compile(r"\{([^{}]*)\}")


def _b64(s: str) -> int:
    v = 0
    for c in s:
        v = v * 64 + _B64.index(c)
    return v


def dict_entries(name: str, package: str) -> list[str]:
    """Entries of a dictd database in file order (the .dict.dz is dictzip = gzip)."""
    index = _require(DICT_DIR / f"{name}.index", package)
    data = gzip.decompress(_require(DICT_DIR / f"{name}.dict.dz", package).read_bytes())
    spans = set()
    for line in index.read_text(encoding="utf-8", errors="replace").split("\n"):
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith(("00database", "00-database")):
            continue
        spans.add((_b64(parts[1]), _b64(parts[2])))
    out = []
    for off, length in sorted(spans):
        entry = data[off:off + length].decode("utf-8", "replace")
        entry = _BRACES.sub(lambda m: " ".join(m.group(1).split()), entry)  # {cross reference}
        pars = []
        for par in re.split(r"\n[ \t]*\n", entry.strip("\n")):
            lines = [ln.strip() for ln in par.split("\n") if ln.strip()]
            if not lines:
                continue
            wrapped = sum(map(len, lines)) / len(lines) > 50
            pars.append(" ".join(lines) if wrapped else "\n".join(lines))
        entry = "\n".join(pars) if len(pars) <= 2 and len(entry) < 200 else "\n\n".join(pars)
        if entry and _mostly_letters(entry):
            out.append(entry)
    return out


def load_dict(name: str, package: str, licence: str, rng: random.Random, seen: set[str]) -> Source:
    """Reads /usr/share/dictd/<name>.{index,dict.dz}."""
    units = _dedup_units(dict_entries(name, package), seen)
    return Source(f"dict-{name}", package, licence, "en", tuple(pack(units, rng)))


# --- the registry ----------------------------------------------------------------------------------

def cross_loaders() -> list[tuple[str, Loader]]:
    """(name, loader) for every cross-corpus source, in a fixed order (determinism)."""
    loaders: list[tuple[str, Loader]] = []
    for ms in MAN_SETS:
        loaders.append((ms.name, lambda r, s, ms=ms: load_man(ms, r, s)))
    for stem, pkg, lic in INFO_MANUALS:
        loaders.append((f"info-{stem}", lambda r, s, a=(stem, pkg, lic): load_info(*a, r, s)))
    for name, pkg, lic in DICTS:
        loaders.append((f"dict-{name}", lambda r, s, a=(name, pkg, lic): load_dict(*a, r, s)))
    return loaders


def package_versions() -> dict[str, str]:
    pkgs = [ms.package for ms in MAN_SETS] + [p for _, p, _ in INFO_MANUALS] + [p for _, p, _ in DICTS] + ["groff-base"]
    return {p: _version(p) for p in sorted(set(pkgs))}


__all__ = ["INSTALL_HINT", "SourceMissing", "cross_loaders", "package_versions"]
