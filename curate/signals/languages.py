"""Per-language parameters for the word-based rules.

Gopher's constants were set on English. Three things do not transfer and are looked up
here by the document's language (fastText `lang`, or the caller's `batch_lang`):

- stop words: Gopher keeps a document only if it has >= 2 of {the, be, to, of, and, that,
  have, with}; every other language needs its own list of its most frequent function words.
- mean word length: with one word per CJK character (see text.py) a clean Chinese text has
  a mean word length near 1, far below Gopher's 3..10.
- FineWeb's "short line" length (30 characters): a CJK character carries roughly what
  2-3 Latin letters do.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

# Gopher (Rae et al. 2021, App. A): "the, be, to, of, and, that, have, with".
# Other lists: the most frequent function words of each language, 8-16 each.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the be to of and that have with".split()),
    "de": frozenset("der die das und ist zu den von mit nicht sich ein eine auf für im".split()),
    "fr": frozenset("le la les de des et un une que est pas pour dans du au sur".split()),
    "es": frozenset("el la los las de que y en un una es por con para del se".split()),
    "it": frozenset("il la le di che e è un una per non con del della sono gli".split()),
    "pt": frozenset("o a os as de que e do da em um uma para com não é".split()),
    "nl": frozenset("de het een en van dat is in niet op te zijn met voor".split()),
    "pl": frozenset("i w nie na się z że do to jest jak o".split()),
    "ru": frozenset("и в не на что с он как это по но к я из за то".split()),
    "uk": frozenset("і в не на що з він як це по але до я та".split()),
    "sv": frozenset("och i att det som en på är av för med till".split()),
    "tr": frozenset("ve bir bu da de için ile ne çok olarak daha".split()),
    "zh": frozenset("的 是 了 在 和 有 也 不 这 我 他 就 都 与 中 人".split()),
    "ja": frozenset("の に は を た が で て と し も な です ます".split()),
    "ko": frozenset("이 그 는 은 을 를 에 의 가 고 하는 있다 수 것".split()),
}

# Languages whose stop words are matched as substrings: no spaces mark word boundaries.
SUBSTRING_STOP_LANGS = frozenset({"zh", "ja"})

# fastText lid.176 has several Chinese varieties; they share the Chinese parameters.
_ALIASES = {"yue": "zh", "wuu": "zh", "gan": "zh", "lzh": "zh", "zh-cn": "zh", "zh-tw": "zh"}

# For a language without its own list: the union of the space-delimited lists, so that a
# Latin- or Cyrillic-script language still needs real function words to pass.
FALLBACK_STOP_WORDS: frozenset[str] = frozenset().union(
    *(v for k, v in STOP_WORDS.items() if k not in SUBSTRING_STOP_LANGS)
)


@dataclass(frozen=True)
class LanguageParams:
    stop_words: frozenset[str]
    stop_words_as_substrings: bool
    # Raw mean word length range that plays the role of Gopher's 3..10 for this language.
    word_len_lo: float
    word_len_hi: float
    # FineWeb: a line of at most this many characters is short.
    short_line_chars: int
    # Gopher n-gram rules: text.py words per n-gram word (2 for zh/ja, see gopher.py).
    cjk_chars_per_word: int = 1


GOPHER_WORD_LEN = (3.0, 10.0)  # Rae et al. 2021, App. A: mean word length outside 3..10
FINEWEB_SHORT_LINE = 30  # Penedo et al. 2024: lines of <= 30 characters are short

_CJK_WORD_LEN = (0.5, 3.0)  # one word per character: clean text sits near 1.0
_CJK_SHORT_LINE = 12  # 30 Latin characters carry about as much as 12 CJK ones
_CJK_CHARS_PER_WORD = 2  # most modern Chinese (and Sino-Japanese) words are two characters


def canonical_lang(lang: str | None) -> str:
    if not lang:
        return "und"
    code = lang.strip().lower().replace("_", "-")
    return _ALIASES.get(code, code.split("-")[0] if code.split("-")[0] in STOP_WORDS else code)


@functools.lru_cache(maxsize=4096)  # called per document by several families; the result is frozen
def params_for(lang: str | None) -> LanguageParams:
    code = canonical_lang(lang)
    if code in ("zh", "ja"):
        return LanguageParams(STOP_WORDS[code], True, *_CJK_WORD_LEN, _CJK_SHORT_LINE, _CJK_CHARS_PER_WORD)
    return LanguageParams(
        STOP_WORDS.get(code, FALLBACK_STOP_WORDS), False, *GOPHER_WORD_LEN, FINEWEB_SHORT_LINE
    )
