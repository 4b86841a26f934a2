"""Definitions checked against their sources: C4's terminal punctuation, FineWeb's strict
punctuation bound, LSH band counts datasketch accepts, the datasketch the code needs."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from curate.dedup import lsh
from curate.dedup.lsh_params import lsh_params
from curate.recipes import load_recipe
from curate.signals import REGISTRY, score_texts
from curate.signals.fineweb import PUNCT_LINE_MIN

ROOT = Path(__file__).resolve().parents[1]


def _c4_terminal(line: str) -> bool:
    return score_texts([line], batch_lang=["en"])["c4_terminal_punct_line_frac"].item() == 1.0


# --- C4: lines ending in terminal punctuation (TFDS c4_utils; datatrove's C4QualityFilter) ---


@pytest.mark.parametrize("line", [
    "The meeting ended at noon.",
    "Did the meeting end at noon?",
    "The meeting ended at noon!",
    'She said "the meeting ended at noon."',
    "She said ‘the meeting ended at noon.’",
    'They call it "the noon meeting"',  # the source counts a closing quote as a terminal mark
    "会议在中午结束。",
    "「会议在中午结束。」",
])
def test_c4_terminal_lines(line):
    assert _c4_terminal(line)


@pytest.mark.parametrize("line", [
    "The meeting ended at noon (see the minutes)",
    "The meeting ended at noon (see the minutes.)",  # ends in ")": the source drops it
    "The meeting ended at noon [1",
    "The list of the items [a, b]",
    "The meeting ended at noon（见纪要）",
    "The meeting ended at noon...",
    "The meeting ended at noon",
])
def test_c4_non_terminal_lines(line):
    assert not _c4_terminal(line)


def test_c4_bracketed_lines_are_not_kept_and_their_sentences_do_not_count():
    page = "\n".join(f"Line number {i} of the page ends here (see note {i}.)" for i in range(6))
    df = score_texts([page], batch_lang=["en"])
    assert df["c4_kept_line_frac"].item() == 0.0
    assert df["c4_sentence_count"].item() == 0
    assert not REGISTRY.get("c4_sentence_count").keeps(df["c4_sentence_count"].item())


def test_c4_definition_change_bumped_the_versions():
    assert REGISTRY.get("c4_sentence_count").version == "v3"
    assert REGISTRY.get("c4_kept_line_frac").version == "v2"
    assert REGISTRY.get("c4_terminal_punct_line_frac").version == "v2"


# --- FineWeb: drop when <= 12 % of lines end in punctuation ---------------------------------


def _punct_doc(punct: int, lines: int) -> str:
    return "\n".join(f"Line {i} of the document goes here" + ("." if i < punct else "") for i in range(lines))


def test_fineweb_exactly_12_percent_is_dropped():
    sig = REGISTRY.get("fineweb_punct_line_frac")
    df = score_texts([_punct_doc(3, 25), _punct_doc(6, 50), _punct_doc(4, 25), _punct_doc(13, 100)],
                     batch_lang=["en"] * 4)
    at, at2, above, just_above = df["fineweb_punct_line_frac"].to_list()
    assert at == at2 == 0.12 and not sig.keeps(at) and not sig.keeps(at2)
    assert sig.keeps(above) and sig.keeps(just_above)


def test_fineweb_default_is_the_next_double_above_012_in_recipes_too():
    assert 0.12 < PUNCT_LINE_MIN and PUNCT_LINE_MIN == pytest.approx(0.12, abs=1e-16)
    rule = next(r for r in load_recipe("fineweb").rules if r.signal == "fineweb_punct_line_frac")
    assert rule.min == PUNCT_LINE_MIN and rule.min > 0.12


# --- LSH: at least two bands, as datasketch's MinHashLSH requires ----------------------------


@pytest.mark.parametrize("threshold,num_perm", [(0.95, 16), (0.97, 16), (0.98, 32), (0.99, 64)])
def test_lsh_params_never_give_one_band(threshold, num_perm):
    from datasketch import MinHashLSH

    for fp, fn in ((0.2, 0.8), (lsh.FP_WEIGHT, lsh.FN_WEIGHT), (0.5, 0.5)):
        b, r = lsh_params(threshold, num_perm, fp, fn)
        assert b >= 2 and b * r <= num_perm
        MinHashLSH(threshold=threshold, num_perm=num_perm, params=(b, r))  # datasketch accepts it
    setting, b, r = lsh.setting_for(threshold, num_perm)
    assert b >= 2 and setting == f"b{b}r{r}"


def test_lsh_params_one_band_case_recall():
    b, r = lsh_params(0.95, 16)
    assert (b, r) != (1, 15)
    assert 1 - (1 - 0.95 ** r) ** b > 0.8  # probability a pair at the threshold becomes a candidate


def test_lsh_params_match_datasketch_where_it_gives_two_bands_or_more():
    from datasketch.lsh import _optimal_param

    for threshold, num_perm in ((0.8, 128), (0.5, 64), (0.9, 32)):
        assert lsh_params(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.2, 0.8)


def test_lsh_params_refuse_too_few_permutations():
    with pytest.raises(ValueError, match="num_perm"):
        lsh_params(0.8, 1)


# --- the datasketch the code needs ----------------------------------------------------------


def test_datasketch_pin_has_the_scheme_argument():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if re.match(r"datasketch\b", d))
    low = re.search(r">=\s*([\d.]+)", pin)
    assert low and tuple(int(x) for x in low.group(1).split(".")[:2]) >= (2, 0), pin
    from datasketch import MinHash

    assert MinHash(num_perm=4, seed=1, scheme="affine32").scheme == "affine32"
