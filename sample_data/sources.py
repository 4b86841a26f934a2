"""Raw text sources for the sample corpus: real text from Debian and PyPI packages.

Every loader names the system path it reads and raises `SourceMissing` (with the
install command) when that path is absent, so a failed build says what to install
instead of dying on a FileNotFoundError deep inside the generator.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sample_data.htmltext import html_blocks, sections

FORTUNES_DIR = Path("/usr/share/games/fortunes")
DEBREF_DIR = Path("/usr/share/debian-reference")
APTITUDE_RU_DIR = Path("/usr/share/doc/aptitude/html/ru")
VIM_TUTOR_DIR = Path("/usr/share/vim/vim90/tutor")
PYDOC_DIR = Path("/usr/share/doc/python3.11/html")
BIBLE_DATA = Path("/usr/lib/bible.data")

APT_PACKAGES = (
    "fortunes fortunes-min fortunes-de fortunes-es fortunes-it fortunes-ru fortunes-zh "
    "bible-kjv bible-kjv-text python3.11-doc vim-runtime aptitude-doc-ru "
    "debian-reference-en debian-reference-de debian-reference-fr debian-reference-es "
    "debian-reference-it debian-reference-ja debian-reference-zh-cn debian-reference-pt"
)
PIP_PACKAGES = "chatterbot-corpus==1.3.3 pyjokes==0.8.3"
INSTALL_HINT = (
    f"install the sources with:\n  apt-get update && apt-get install -y --no-install-recommends {APT_PACKAGES}\n"
    f"  pip install {PIP_PACKAGES}"
)

# Doc size is counted in "words"; CJK text has no spaces, so two CJK characters count as one word.
MIN_WORDS, MAX_WORDS = 80, 1500
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BLANKS = re.compile(r"\n{3,}")


class SourceMissing(RuntimeError):
    """A raw source package is not installed."""


@dataclass(frozen=True)
class Source:
    name: str  # recorded as `source` in labels
    package: str  # the Debian or PyPI package it comes from
    licence: str
    lang: str  # ISO 639-1
    docs: tuple[str, ...]  # document-sized texts, in the source's own order


def word_count(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return len(_CJK.sub(" ", text).split()) + cjk // 2


def missing(what: str, package: str, hint: str = INSTALL_HINT) -> SourceMissing:
    """The error for a file or program of a source package that is absent, with `hint` (how to install)."""
    return SourceMissing(f"{what} not found (package {package}); {hint}")


def _require(path: Path, package: str, hint: str = INSTALL_HINT) -> Path:
    if not path.exists():
        raise missing(str(path), package, hint)
    return path


def _clean(text: str) -> str:
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln.rstrip() for ln in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _split_long(par: str, limit: int) -> list[str]:
    """Split a paragraph longer than `limit` words at line, then sentence, boundaries."""
    if word_count(par) <= limit:
        return [par]
    pieces = par.split("\n") if "\n" in par else re.split(r"(?<=[.!?。！？])\s*", par)
    out, cur = [], ""
    for piece in pieces:
        if not piece.strip():
            continue
        joiner = "\n" if "\n" in par else " "
        cand = f"{cur}{joiner}{piece}" if cur else piece
        if cur and word_count(cand) > limit:
            out.append(cur)
            cur = piece
        else:
            cur = cand
    if cur:
        out.append(cur)
    return out


def pack(units: Iterable[str], rng: random.Random, *, sep: str = "\n\n", title: str | None = None) -> list[str]:
    """Concatenate consecutive units (fortunes, verses, paragraphs) into document-sized
    texts of MIN_WORDS..MAX_WORDS words, each with a size drawn around ~350 words."""
    docs: list[str] = []
    cur: list[str] = []
    size = 0
    target = _draw_target(rng)
    for unit in units:
        for part in _split_long(unit, MAX_WORDS // 2):
            n = word_count(part)
            cur.append(part)
            size += n
            if size >= target:
                docs.append(_join(cur, sep, title))
                cur, size, target = [], 0, _draw_target(rng)
    if cur and size >= MIN_WORDS:
        docs.append(_join(cur, sep, title))
    return docs


def _draw_target(rng: random.Random) -> int:
    return int(min(900, max(110, rng.lognormvariate(5.7, 0.5))))


def _join(parts: list[str], sep: str, title: str | None) -> str:
    body = sep.join(parts)
    return f"{title}\n\n{body}" if title else body


def _dedup_units(units: Iterable[str], seen: set[str]) -> list[str]:
    out = []
    for u in units:
        key = " ".join(u.lower().split())
        if key and key not in seen:
            seen.add(key)
            out.append(u)
    return out


def _mostly_letters(text: str) -> bool:
    """Drop ASCII-art fortunes: real prose is mostly letters."""
    n_visible = len(text) - sum(map(str.isspace, text))
    return n_visible > 0 and sum(map(str.isalpha, text)) / n_visible >= 0.6


# --- fortunes ---------------------------------------------------------------------------

FORTUNE_SKIP = frozenset({"art", "ascii-art", "asciiart", "banner", "chinese", "tang300", "song100",
                          "songs-poems", "off"})
FORTUNE_PACKAGES = {"en": "fortunes", "de": "fortunes-de", "es": "fortunes-es", "it": "fortunes-it",
                    "ru": "fortunes-ru", "zh": "fortunes-zh"}
FORTUNE_LICENCES = {
    "en": "BSD (fortune-mod, Regents of the University of California); quotations",
    "de": "GPL-2+",
    "es": "GPL-2+ (packaging); fortunes presumed public domain",
    "it": "public domain (declared freeware/public domain by fortune-it)",
    "ru": "GPL-2+",
    "zh": "GPL-3+",
}


def _fortune_files(lang: str) -> list[Path]:
    if lang == "zh":
        return [_require(FORTUNES_DIR / n, "fortunes-zh") for n in ("tang300", "song100", "chinese")]
    base = FORTUNES_DIR if lang == "en" else FORTUNES_DIR / lang
    _require(base if lang != "en" else FORTUNES_DIR / "fortunes", FORTUNE_PACKAGES[lang])
    files = []
    for p in sorted(base.iterdir()):
        # In the top directory, symlinks point into it/ (Italian): keep only real English files.
        if p.is_dir() or p.suffix in (".dat", ".u8") or p.name.endswith((".dat", ".u8")):
            continue
        if p.name in FORTUNE_SKIP or (lang == "en" and p.is_symlink()):
            continue
        files.append(p)
    return files


def read_fortunes(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", "replace")
    items = re.split(r"\n%[ \t]*\n", "\n" + text.replace("\r\n", "\n") + "\n")
    return [c for c in (_clean(i) for i in items) if c and c != "%" and _mostly_letters(c)]


def load_fortunes(lang: str, rng: random.Random, seen: set[str]) -> Source:
    """Reads /usr/share/games/fortunes[/<lang>] (Debian fortunes, fortunes-<lang>)."""
    docs: list[str] = []
    for path in _fortune_files(lang):
        docs += pack(_dedup_units(read_fortunes(path), seen), rng)
    return Source(f"fortunes-{lang}", FORTUNE_PACKAGES[lang], FORTUNE_LICENCES[lang], lang, tuple(docs))


# --- King James Bible ---------------------------------------------------------------------

BIBLE_BOOKS = {
    "Ge": "Genesis", "Exo": "Exodus", "Lev": "Leviticus", "Num": "Numbers", "Deu": "Deuteronomy",
    "Josh": "Joshua", "Jdgs": "Judges", "Ruth": "Ruth", "1Sm": "1 Samuel", "2Sm": "2 Samuel",
    "1Ki": "1 Kings", "2Ki": "2 Kings", "1Chr": "1 Chronicles", "2Chr": "2 Chronicles", "Ezra": "Ezra",
    "Neh": "Nehemiah", "Est": "Esther", "Job": "Job", "Psa": "Psalms", "Prv": "Proverbs",
    "Eccl": "Ecclesiastes", "SSol": "Song of Solomon", "Isa": "Isaiah", "Jer": "Jeremiah",
    "Lam": "Lamentations", "Eze": "Ezekiel", "Dan": "Daniel", "Hos": "Hosea", "Joel": "Joel",
    "Amos": "Amos", "Obad": "Obadiah", "Jonah": "Jonah", "Mic": "Micah", "Nahum": "Nahum",
    "Hab": "Habakkuk", "Zep": "Zephaniah", "Hag": "Haggai", "Zec": "Zechariah", "Mal": "Malachi",
    "Mat": "Matthew", "Mark": "Mark", "Luke": "Luke", "John": "John", "Acts": "Acts", "Rom": "Romans",
    "1Cor": "1 Corinthians", "2Cor": "2 Corinthians", "Gal": "Galatians", "Eph": "Ephesians",
    "Phi": "Philippians", "Col": "Colossians", "1Th": "1 Thessalonians", "2Th": "2 Thessalonians",
    "1Tim": "1 Timothy", "2Tim": "2 Timothy", "Titus": "Titus", "Phmn": "Philemon", "Heb": "Hebrews",
    "Jas": "James", "1Pet": "1 Peter", "2Pet": "2 Peter", "1Jn": "1 John", "2Jn": "2 John",
    "3Jn": "3 John", "Jude": "Jude", "Rev": "Revelation",
}
_VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")


def load_kjv(rng: random.Random, seen: set[str]) -> Source:
    """Reads /usr/lib/bible.data through the `bible` program (Debian bible-kjv, bible-kjv-text)."""
    _require(BIBLE_DATA, "bible-kjv-text")
    exe = shutil.which("bible")
    if exe is None:
        raise SourceMissing(f"the `bible` program is not installed (package bible-kjv); {INSTALL_HINT}")
    out = subprocess.run([exe, "-f", "Gen1:1-Rev22:21"], capture_output=True, check=True,
                         env={**os.environ, "COLUMNS": "100000"}).stdout.decode("utf-8", "replace")
    chapters: dict[tuple[str, str], list[str]] = {}
    for line in out.splitlines():
        m = _VERSE.match(line)
        if m:
            chapters.setdefault((m.group(1), m.group(2)), []).append(f"{m.group(3)} {m.group(4)}")
    docs: list[str] = []
    pending: list[str] = []
    for (book, chap), verses in chapters.items():
        title = f"{BIBLE_BOOKS.get(book, book)} {chap}"
        body = "\n".join(verses)
        if body in seen:
            continue
        seen.add(body)
        if word_count(body) > MAX_WORDS:
            docs += pack(verses, rng, sep="\n", title=title)
            continue
        pending.append(f"{title}\n\n{body}")
        if sum(word_count(p) for p in pending) >= MIN_WORDS + 40:
            docs.append("\n\n".join(pending))
            pending = []
    return Source("bible-kjv", "bible-kjv-text", "public domain (King James Version, 1611)", "en", tuple(docs))


# --- HTML manuals -------------------------------------------------------------------------

DOCBOOK_SKIP = frozenset({"navheader", "navfooter", "toc", "table", "informaltable", "list-of-tables",
                          "index", "footnotes"})
DEBREF_LANGS = {"en": "en", "de": "de", "fr": "fr", "es": "es", "it": "it", "ja": "ja", "zh": "zh-cn",
                "pt": "pt"}


def _docbook_docs(paths: list[Path], rng: random.Random, seen: set[str]) -> list[str]:
    docs: list[str] = []
    for path in paths:
        blocks = html_blocks(path.read_text(encoding="utf-8", errors="replace"), skip_classes=DOCBOOK_SKIP)
        for sec in sections(blocks, frozenset({"h1", "h2", "h3"})):
            title = sec[0].text if sec[0].kind.startswith("h") else None
            # Long <pre> blocks are terminal screen dumps and command listings, not prose.
            body = [b.text for b in (sec[1:] if title else sec)
                    if b.kind != "pre" or b.text.count("\n") < 8]
            body = [_BLANKS.sub("\n\n", t).replace("\n\n", "\n") if "\n" in t else t for t in body]
            # Admonition captions ("Note", "Tip") stand alone as blocks; they carry no text.
            body = [t for t in body if word_count(t) > 2 or "\n" in t]
            body = _dedup_units(body, seen)
            if sum(word_count(t) for t in body) < MIN_WORDS:
                continue
            docs += pack(body, rng, title=title)
    return docs


def load_debian_reference(lang: str, rng: random.Random, seen: set[str]) -> Source:
    """Reads /usr/share/debian-reference/*.<lang>.html (Debian debian-reference-<lang>)."""
    code = DEBREF_LANGS[lang]
    package = f"debian-reference-{code}"
    _require(DEBREF_DIR / f"index.{code}.html", package)
    paths = sorted(DEBREF_DIR.glob(f"ch*.{code}.html")) + sorted(DEBREF_DIR.glob(f"ap*.{code}.html"))
    return Source(f"debian-reference-{code}", package, "GPL-2+", lang, tuple(_docbook_docs(paths, rng, seen)))


def load_aptitude_ru(rng: random.Random, seen: set[str]) -> Source:
    """Reads /usr/share/doc/aptitude/html/ru/*.html (Debian aptitude-doc-ru)."""
    _require(APTITUDE_RU_DIR / "index.html", "aptitude-doc-ru")
    paths = [p for p in sorted(APTITUDE_RU_DIR.glob("*.html")) if p.name != "index.html"]
    return Source("aptitude-doc-ru", "aptitude-doc-ru", "GPL-2+", "ru", tuple(_docbook_docs(paths, rng, seen)))


# --- PyPI dialogue and jokes --------------------------------------------------------------

CHATTERBOT_LANGS = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
                    "zh": "chinese", "ru": "russian", "ja": "japanese", "pt": "portuguese"}


def _chatterbot_dir() -> Path:
    try:
        import chatterbot_corpus
    except ImportError as exc:
        raise SourceMissing(f"PyPI package chatterbot-corpus is not installed; {INSTALL_HINT}") from exc
    return Path(chatterbot_corpus.__file__).parent / "data"


def load_chatterbot(lang: str, rng: random.Random, seen: set[str]) -> Source:
    """Reads <site-packages>/chatterbot_corpus/data/<language>/*.yml (PyPI chatterbot-corpus)."""
    import yaml

    folder = _require(_chatterbot_dir() / CHATTERBOT_LANGS[lang], "chatterbot-corpus")
    units: list[str] = []
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conv in data.get("conversations") or []:
            turns = [" ".join(str(t).split()) for t in conv if t is not None and str(t).strip()]
            if len(turns) >= 2:
                units.append("\n".join(f"- {t}" for t in turns))
    docs = pack(_dedup_units(units, seen), rng)
    return Source(f"chatterbot-corpus-{lang}", "chatterbot-corpus", "BSD-3-Clause", lang, tuple(docs))


def load_pyjokes(lang: str, rng: random.Random, seen: set[str]) -> Source:
    """Reads the joke lists of PyPI pyjokes (pyjokes.get_jokes)."""
    try:
        import pyjokes
    except ImportError as exc:
        raise SourceMissing(f"PyPI package pyjokes is not installed; {INSTALL_HINT}") from exc
    jokes = [j.strip() for j in pyjokes.get_jokes(language=lang, category="all")]
    docs = pack(_dedup_units(jokes, seen), rng)
    return Source(f"pyjokes-{lang}", "pyjokes", "BSD-3-Clause", lang, tuple(docs))


# --- legacy-encoded text for real mojibake -----------------------------------------------

# (file, its real encoding, language): the Vim tutor as shipped in pre-Unicode encodings.
VIM_TUTORS = (
    ("tutor.de", "latin-1", "de"), ("tutor.fr", "latin-1", "fr"), ("tutor.es", "latin-1", "es"),
    ("tutor.it", "latin-1", "it"), ("tutor.pt", "latin-1", "pt"), ("tutor.ru", "koi8-r", "ru"),
    ("tutor.ru.cp1251", "cp1251", "ru"), ("tutor.ja.euc", "euc-jp", "ja"), ("tutor.ja.sjis", "shift_jis", "ja"),
    ("tutor.zh.euc", "gb2312", "zh"), ("tutor.zh.big5", "big5", "zh"),
)


@dataclass(frozen=True)
class LegacyText:
    name: str
    encoding: str
    lang: str
    chunks: tuple[bytes, ...]  # lesson-sized byte chunks in the legacy encoding


def load_vim_tutors() -> list[LegacyText]:
    """Reads /usr/share/vim/vim90/tutor/tutor.* in their legacy encodings (Debian vim-runtime)."""
    out = []
    for name, enc, lang in VIM_TUTORS:
        raw = _require(VIM_TUTOR_DIR / name, "vim-runtime").read_bytes()
        # Lessons are separated by rows of '~'; splitting the bytes keeps the original encoding.
        parts = [p.strip(b"\r\n") for p in re.split(rb"\n~{20,}\n", raw)]
        chunks = tuple(p for p in parts if len(p) > 400)
        out.append(LegacyText(name, enc, lang, chunks))
    return out


# --- Python documentation: the validation text -----------------------------------------

def load_python_docs(max_bytes: int) -> str:
    """Reads /usr/share/doc/python3.11/html/{tutorial,howto,faq}/*.html (Debian python3.11-doc):
    prose only (code samples and tables dropped), about `max_bytes` of UTF-8."""
    _require(PYDOC_DIR / "tutorial" / "index.html", "python3.11-doc")
    parts: list[str] = []
    total = 0
    for sub in ("tutorial", "howto", "faq"):
        for path in sorted((PYDOC_DIR / sub).glob("*.html")):
            if path.name == "index.html":
                continue
            blocks = html_blocks(path.read_text(encoding="utf-8"), root_class="body",
                                 skip_classes=frozenset({"highlight", "headerlink", "toctree-wrapper"}),
                                 skip_tags=frozenset({"pre", "table"}))
            for b in blocks:
                text = b.text.replace("\u00b6", "").strip()
                if not text or (b.kind == "p" and word_count(text) < 4):
                    continue
                parts.append(text)
                total += len(text.encode("utf-8")) + 2
                if total >= max_bytes:
                    return "\n\n".join(parts) + "\n"
    return "\n\n".join(parts) + "\n"


# --- the registry used by build.py --------------------------------------------------------

Loader = Callable[[random.Random, set[str]], Source]


def clean_loaders() -> list[tuple[str, Loader]]:
    """(name, loader) for every clean-text source, in a fixed order (determinism)."""
    loaders: list[tuple[str, Loader]] = [("bible-kjv", load_kjv)]
    for lang in FORTUNE_PACKAGES:
        loaders.append((f"fortunes-{lang}", lambda r, s, lang=lang: load_fortunes(lang, r, s)))
    for lang in DEBREF_LANGS:
        loaders.append((f"debian-reference-{lang}", lambda r, s, lang=lang: load_debian_reference(lang, r, s)))
    loaders.append(("aptitude-doc-ru", load_aptitude_ru))
    for lang in CHATTERBOT_LANGS:
        loaders.append((f"chatterbot-corpus-{lang}", lambda r, s, lang=lang: load_chatterbot(lang, r, s)))
    for lang in ("en", "de", "es", "it", "fr", "ru"):
        loaders.append((f"pyjokes-{lang}", lambda r, s, lang=lang: load_pyjokes(lang, r, s)))
    return loaders
