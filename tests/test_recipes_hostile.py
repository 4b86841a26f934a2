"""Recipes from anyone: names stay file names, YAML stays small, every value means one thing."""
from __future__ import annotations

import resource
import time

import pytest

from curate import store
from curate.cli import main
from curate.errors import UsageError
from curate.recipes import MAX_RECIPE_BYTES, RecipeError, load_recipe, parse_recipe

OK_FILTERS = "filters:\n  word_count: {min: 20}\n"


# --- names become file names ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../evil", "/abs/path", "a/b", "..", ".hidden", "-x", "a b", "x\\ty",
                                  "a" * 65, "C:\\\\evil", "naïve"])
def test_a_name_that_is_no_plain_file_stem_is_refused_with_its_line(name):
    text = f"description: d\nname: \"{name}\"\n{OK_FILTERS}"
    with pytest.raises(RecipeError, match=r"<string> line 2: `name` must be 1-64 letters"):
        parse_recipe(text)


@pytest.mark.parametrize("name", ["strict", "strict-multi", "v1.2_final", "A" * 64])
def test_plain_names_load(name):
    assert parse_recipe(f"name: {name}\n{OK_FILTERS}").name == name


def test_a_bad_name_exits_2_naming_the_file(tmp_path, capsys):
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: ../../evil\n{OK_FILTERS}")
    assert main(["slice", str(path), "--db", str(tmp_path / "s.duckdb")]) == 2
    assert f"{path} line 1: `name`" in capsys.readouterr().err
    assert not list(tmp_path.parent.glob("evil*"))


@pytest.mark.parametrize("name", ["../../evil", "/abs/path", "a/b", ".."])
def test_suite_path_stays_in_the_suites_folder(tmp_path, name):
    with pytest.raises(UsageError):
        store.suite_path(tmp_path / "s.duckdb", name)
    good = store.suite_path(tmp_path / "s.duckdb", "strict")
    assert good.parent == (tmp_path / "s.duckdb.artifacts" / "suites").resolve() and good.name == "strict.json"


def test_suite_path_refuses_a_symlink_out(tmp_path):
    suites = store.suite_path(tmp_path / "s.duckdb", "x").parent
    (suites / "out.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UsageError, match="outside"):
        store.suite_path(tmp_path / "s.duckdb", "out")


def test_path_inside_refuses_what_leaves_the_folder(tmp_path):
    assert store.path_inside(tmp_path, "a.json") == (tmp_path / "a.json").resolve()
    for bad in ("../a.json", "/etc/passwd", "sub/a.json", "..", ""):
        with pytest.raises(UsageError):
            store.path_inside(tmp_path, bad)


# --- YAML cannot exhaust memory or time ------------------------------------------------------


def _laughs(levels: int = 9) -> str:
    out = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        out.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(out)


def _bounded(fn, seconds: float = 5.0, extra_mb: int = 300):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    try:
        fn()
    finally:
        assert time.perf_counter() - t0 < seconds
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < extra_mb * 1024


@pytest.mark.parametrize("where", ["description", "filters"])
def test_billion_laughs_is_refused_at_its_line(where):
    bomb = _laughs().replace("\n", "\n  ")
    if where == "description":
        text = f"name: t\n{OK_FILTERS}description:\n  {bomb}\n  all: *a9\n"
    else:
        text = f"name: t\nfilters:\n  word_count: {{min: 20}}\n  x:\n    {bomb.replace(chr(10), chr(10) + '  ')}\n"

    def load():
        with pytest.raises(RecipeError, match=r"<string> line \d+: anchors \(&a0\) are not allowed"):
            parse_recipe(text)

    _bounded(load)


def test_a_lone_alias_is_refused():
    with pytest.raises(RecipeError, match=r"line 2: aliases \(\*x\) are not allowed"):
        parse_recipe("name: t\ndescription: *x\n")


def test_merge_keys_are_refused():
    with pytest.raises(RecipeError, match=r"line 3: merge keys"):
        parse_recipe("name: t\nfilters:\n  <<: {word_count: {min: 1}}\n")


def test_deep_nesting_is_refused_not_a_recursion_error():
    text = "name: t\ndescription: " + "[" * 50_000 + "]" * 50_000 + "\n"
    with pytest.raises(RecipeError, match="line 2: nested more than"):
        _bounded(lambda: parse_recipe(text))


def test_an_oversized_recipe_is_refused_before_parsing(tmp_path):
    big = f"name: t\n{OK_FILTERS}description: \"" + "x" * MAX_RECIPE_BYTES + "\"\n"
    with pytest.raises(RecipeError, match="over 1048576 bytes"):
        parse_recipe(big)
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(RecipeError, match=f"{path}: over"):
        _bounded(lambda: load_recipe(path))


def test_description_is_text_not_any_structure():
    with pytest.raises(RecipeError, match="line 2: `description` must be text, got list"):
        parse_recipe("name: t\ndescription: [1, 2]\n")
    assert parse_recipe("name: t\ndescription: a note\n").description == "a note"


# --- every key once, every number finite ----------------------------------------------------


def test_a_key_given_twice_is_refused_with_both_lines():
    text = "name: t\nfilters:\n  word_count: {min: 20}\n  lang: {allow: [en]}\n  word_count: {min: 5}\n"
    with pytest.raises(RecipeError, match=r"line 5: key 'filters.word_count' is given twice \(first on line 3\)"):
        parse_recipe(text)


def test_a_top_level_key_given_twice_is_refused():
    with pytest.raises(RecipeError, match=r"line 3: key 'name' is given twice"):
        parse_recipe("name: a\nfilters: {}\nname: b\n")


def test_a_bound_key_given_twice_is_refused():
    with pytest.raises(RecipeError, match=r"line 3: key 'filters.word_count.min' is given twice"):
        parse_recipe("name: t\nfilters:\n  word_count: {min: 20, min: 5}\n")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN", "1e400", "1" + "0" * 400])
def test_non_finite_bounds_are_refused(value):
    with pytest.raises(RecipeError, match=r"line 4: word_count.min must be a number \(finite\)"):
        parse_recipe(f"name: t\nfilters:\n  word_count:\n    min: {value}\n")


@pytest.mark.parametrize("value", [".nan", ".inf"])
def test_non_finite_near_threshold_is_refused(value):
    with pytest.raises(RecipeError, match="near_threshold"):
        parse_recipe(f"name: t\n{OK_FILTERS}dedup: {{near_threshold: {value}}}\n")


def test_an_integer_python_will_not_convert_is_a_recipe_error():
    with pytest.raises(RecipeError):
        parse_recipe("name: t\nfilters:\n  word_count: {min: " + "9" * 5000 + "}\n")


# --- encodings -------------------------------------------------------------------------------


def test_a_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + f"name: t\n{OK_FILTERS}".encode())
    assert load_recipe(path).name == "t"
    assert parse_recipe("\ufeffname: t\n").name == "t"


def test_non_utf8_bytes_name_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: t\ndescription: caf\xe9\n")
    with pytest.raises(RecipeError, match=rf"{path} line 2: not UTF-8 \(byte 0xe9"):
        load_recipe(path)


def test_utf16_is_named(tmp_path):
    path = tmp_path / "u16.yaml"
    path.write_bytes("name: t\n".encode("utf-16"))
    with pytest.raises(RecipeError, match="UTF-16"):
        load_recipe(path)


def test_a_control_character_names_its_line():
    with pytest.raises(RecipeError, match=r"line 2: not valid YAML"):
        parse_recipe("name: t\ndescription: a\x07b\n")


def test_a_folder_named_like_a_recipe_is_refused(tmp_path):
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(RecipeError, match="not a file"):
        load_recipe(tmp_path / "d.yaml")


def test_shipped_recipes_still_load():
    from curate.recipes import shipped_recipe_names

    for name in shipped_recipe_names():
        assert load_recipe(name).name == name


def test_a_recipe_of_too_many_values_is_refused_quickly():
    text = "name: t\ndescription:\n" + "".join(f"  k{i}: [1, 2]\n" for i in range(60_000))
    with pytest.raises(RecipeError, match=r"line \d+: more than 10000 YAML values"):
        _bounded(lambda: parse_recipe(text), seconds=3.0)
