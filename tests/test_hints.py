"""Every command line a message suggests to the user is a real command.

The scan reads the string literals of curate/ and train/ (with `ast`: every str constant, every
f-string with its fields), finds the command lines in them and parses each with the CLI's own
parser. It catches the hints of error messages, the argparse help/description/epilog texts
(they are literals too) and the usage lines of docstrings. A second test does the same for the
README's command table, inline code and code blocks.

What counts as a suggested command:
  - text inside backticks starting with `curate ` or `pip install `;
  - `curate …` / `pip install …` after a colon ("run: curate …", "with: pip install …"), up to
    the end of the clause (two spaces, a parenthesis, a semicolon, a comma, a sentence end);
  - `pip install …` anywhere;
  - an indented docstring line starting with `curate ` after a blank line or a line ending
    in a colon (a usage block).

Placeholders, replaced before parsing (`to_argv`):
  - an f-string field `{…}` and an all-caps word (DOC_ID, FILE, PATH, N, RECIPE, SLICE, …) become
    DUMMY ("1": a valid str, int, float and path value alike); COMMAND and ACTION name a real
    subcommand instead;
  - `...` / `…` (alone or ending a word, as in `PATH…`) means "more of the same" and is dropped;
  - `[` `]` mark an optional part and are removed; `a|b` is an alternative and keeps `a`.

A hint may leave out required arguments (`curate train` names the command in prose, `curate run
--exit-5-when-idle` names one option), so parsing uses a copy of the parser in which nothing is
required; unknown subcommands, unknown options, bad choices and bad values still fail.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import io
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from curate.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("curate", "train")

DUMMY = "1"
NAMED_PLACEHOLDERS = {"COMMAND": "score", "ACTION": "train"}
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*")
ELLIPSES = ("...", "…")

@dataclass(frozen=True)
class Hint:
    where: str  # file:line
    text: str  # the hint as written (f-string fields shown as {…})

    @property
    def file(self) -> str:
        return self.where.rsplit(":", 1)[0]


# --- finding hints in text ----------------------------------------------------------------

_BACKTICKS = re.compile(r"`([^`\n]+)`")
_AFTER_COLON = re.compile(r"\w:[ \t]+((?:curate|pip install)\s[^`\n]*)")
_PIP = re.compile(r"\bpip install\s[^`\n]*")
_CLAUSE_END = re.compile(r" {2,}|[();,]|\.(?:\s|$)")


def _clause(text: str) -> str:
    m = _CLAUSE_END.search(text)
    return (text[: m.start()] if m else text).strip().rstrip(".")


def _is_command(text: str) -> bool:
    return text.startswith(("curate ", "pip install "))


def extract_hints(text: str) -> list[str]:
    """The command lines suggested in one string."""
    found: list[str] = []
    for m in _BACKTICKS.finditer(text):
        if _is_command(m.group(1).strip()):
            found.append(m.group(1).strip())
    outside = _BACKTICKS.sub(" ", text)  # already taken, and keeps a backticked span out of the rest
    for m in _AFTER_COLON.finditer(outside):
        found.append(_clause(m.group(1)))
    for m in _PIP.finditer(outside):
        hint = _clause(m.group(0))
        if hint not in found:
            found.append(hint)
    lines = text.split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if (line[:1].isspace() and stripped.startswith("curate ") and i > 0
                and (not lines[i - 1].strip() or lines[i - 1].rstrip().endswith(":"))):
            found.append(_clause(stripped))
    return found


# --- finding strings in Python source ------------------------------------------------------


def _field_text(node: ast.FormattedValue) -> str:
    src = ast.unparse(node.value)
    return "{" + (src if re.fullmatch(r"[\w.]+", src) else "…") + "}"


def python_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) for every str constant and every f-string (fields rendered as {…})."""
    tree = ast.parse(source)
    parts: set[int] = set()  # the pieces of an f-string, read as part of the whole
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts.update(id(v) for v in node.values if isinstance(v, ast.Constant))
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            parts.add(id(node.format_spec))
    out = []
    for node in ast.walk(tree):
        if id(node) in parts:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else _field_text(v) for v in node.values)
            out.append((node.lineno, text))
    return sorted(out, key=lambda t: t[0])


def hints_in_python(source: str, name: str) -> list[Hint]:
    return [Hint(f"{name}:{line}", h) for line, text in python_strings(source) for h in extract_hints(text)]


def source_hints() -> list[Hint]:
    hints = []
    for d in SOURCE_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            hints += hints_in_python(path.read_text(encoding="utf-8"), rel)
    return hints


# --- checking a hint -----------------------------------------------------------------------


def _substitute(token: str) -> str | None:
    for e in ELLIPSES:
        if token == e:
            return None
        if token.endswith(e):
            token = token[: -len(e)]
    if "|" in token:
        token = token.split("|", 1)[0]
    if token.startswith("--") and "=" in token:
        opt, value = token.split("=", 1)
        return f"{opt}={_substitute(value) or DUMMY}"
    if PLACEHOLDER.fullmatch(token):
        return NAMED_PLACEHOLDERS.get(token, DUMMY)
    return token


def to_argv(hint: str) -> list[str]:
    """The hint's words with placeholders replaced, without the leading `curate`."""
    text = re.sub(r"\{[^{}]*\}", DUMMY, hint).replace("[", " ").replace("]", " ")
    words = [w for w in (_substitute(t) for t in shlex.split(text)) if w]
    assert words and words[0] == "curate", hint
    return words[1:]


@functools.cache
def _relaxed_parser() -> argparse.ArgumentParser:
    """build_parser() with every argument optional, so that a partial command line still parses."""
    parser = build_parser()
    todo = [parser]
    while todo:
        p = todo.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
                continue
            action.required = False
            if not action.option_strings:
                action.nargs = "*" if action.nargs in ("+", "*") else "?"
    return parser


def check_curate(hint: str) -> str | None:
    """None if the hint parses, else argparse's complaint."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            _relaxed_parser().parse_args(to_argv(hint))
    except SystemExit as exc:
        if exc.code not in (0, None):  # 0: --help
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {exc.code}"
    except ValueError as exc:  # shlex: unbalanced quotes
        return str(exc)
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    return _normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req.strip()).group(0))


@functools.cache
def allowed_distributions() -> tuple[str, frozenset[str], frozenset[str]]:
    """(this project's name, its extras, every distribution pyproject.toml names)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    extras = project.get("optional-dependencies", {})
    reqs = list(project.get("dependencies", [])) + [r for rs in extras.values() for r in rs]
    reqs += meta.get("build-system", {}).get("requires", [])
    names = {_requirement_name(r) for r in reqs} | {"pip"}
    return _normalize(project["name"]), frozenset(extras), frozenset(names)


def check_pip(hint: str) -> str | None:
    own, extras, known = allowed_distributions()
    try:
        words = shlex.split(hint)[2:]
    except ValueError as exc:
        return str(exc)
    packages = [w for w in words if not w.startswith("-")]
    if not packages:
        return "installs nothing"
    for spec in packages:
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?(?:\s*[<>=!~].*)?", spec)
        if m is None:
            return f"{spec!r} is not a requirement"
        name = _normalize(m.group(1))
        wanted = [e.strip() for e in (m.group(2) or "").split(",") if e.strip()]
        if name == own:
            unknown = [e for e in wanted if e not in extras]
            if unknown:
                return f"{own} has no extra {', '.join(unknown)} (extras: {', '.join(sorted(extras))})"
        elif name not in known:
            return f"{m.group(1)} is not a distribution pyproject.toml names"
    return None


def check(hint: str) -> str | None:
    return check_pip(hint) if hint.startswith("pip install ") else check_curate(hint)


def failures(hints: list[Hint]) -> list[str]:
    out = []
    for h in hints:
        problem = check(h.text)
        if problem:
            out.append(f"{h.where}: `{h.text}`: {problem}")
    return out


# --- README --------------------------------------------------------------------------------

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_SHELL_BLOCKS = {"bash", "sh", "shell", "console", "cron", "ini", ""}


def _curate_invocation(line: str) -> str | None:
    """`curate …` out of a shell-ish line (cron, ExecStart=, a path to the executable), or None."""
    if "curate" not in line:
        return None
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    for i, tok in enumerate(tokens):
        if re.fullmatch(r"(?:\w+=)?(?:\S*/)?curate", tok):
            words = ["curate"]
            for t in tokens[i + 1:]:
                if re.fullmatch(r"[;&|<>()]+", t):
                    if t[0] in "<>" and words[-1].isdigit():
                        words.pop()  # the fd of 2>&1
                    break
                words.append(t)
            return shlex.join(words)
    return None


def readme_hints(text: str, name: str = "README.md") -> list[Hint]:
    hints: list[Hint] = []

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    for m in _FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        start = line_of(m.start(2))
        if lang in _SHELL_BLOCKS:
            for i, line in enumerate(body.splitlines()):
                inv = _curate_invocation(line)
                if inv:
                    hints.append(Hint(f"{name}:{start + i}", inv))
        elif lang == "python":
            for line, s in python_strings(body):
                inv = _curate_invocation(s) if s.lstrip().startswith("curate ") else None
                if inv:
                    hints.append(Hint(f"{name}:{start + line - 1}", inv))
    prose = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keeps the line numbers
    for m in _BACKTICKS.finditer(prose):
        if _is_command(m.group(1).strip()):
            hints.append(Hint(f"{name}:{prose.count(chr(10), 0, m.start()) + 1}", m.group(1).strip()))
    return hints


# --- the tests -----------------------------------------------------------------------------


def test_every_hint_in_the_source_is_a_real_command():
    hints = source_hints()
    assert len(hints) >= 30, f"the scan found only {len(hints)} hints; is it still reading the source?"
    bad = failures(hints)
    assert not bad, "hints that are not real commands:\n" + "\n".join(bad)


def test_every_command_in_the_readme_is_a_real_command():
    hints = readme_hints((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(hints) >= 20, f"the scan found only {len(hints)} commands in README.md"
    bad = failures(hints)
    assert not bad, "README.md commands that are not real:\n" + "\n".join(bad)


# --- the checker can fail ------------------------------------------------------------------


@pytest.mark.parametrize("hint", [
    "curate score --rescore quality",  # no such option
    "curate rescore",  # no such subcommand
    "curate quality retrain",  # no such action
    "curate run strict -i x --format csv",  # not a choice
    "curate train --slice S --tokens lots",  # not an int
    "curate explain DOC_ID extra-word",  # one positional too many
])
def test_the_checker_reports_a_wrong_hint(hint):
    assert check(hint) is not None


@pytest.mark.parametrize("hint", [
    "curate score",
    "curate train",  # named in prose: required arguments may be left out
    "curate run --exit-5-when-idle",
    "curate explain DOC_ID --slice {name}",
    "curate ingest PATH…",
    "curate dedup [--threshold T ...]",
    "curate audit [--slice S] [--html FILE]",
    "curate COMMAND --help",
    "curate run strict --input 'a b/*.jsonl' --out DIR --format jsonl",
])
def test_the_checker_accepts_a_real_command(hint):
    assert check(hint) is None


def test_placeholders():
    assert to_argv("curate explain DOC_ID --slice {name}") == ["explain", DUMMY, "--slice", DUMMY]
    assert to_argv("curate ingest PATH… --id-field=ID") == ["ingest", DUMMY, f"--id-field={DUMMY}"]
    assert to_argv("curate train --slice S ... --device cpu|cuda") == ["train", "--slice", DUMMY, "--device", "cpu"]
    assert to_argv("curate COMMAND --help") == ["score", "--help"]


def test_a_wrong_hint_in_source_is_reported_with_its_file_and_line():
    source = (
        'def f(recipe):\n'
        '    raise UsageError(\n'
        '        f"recipe {recipe.name!r} needs quality: "\n'
        '        "run `curate quality train`, then `curate score --rescore quality`")\n'
        'def g(t):\n'
        '    return f"run `curate dedup --threshold {t}` first"\n'
        'HELP = """Usage:\n'
        '\n'
        '    curate bogus [--db PATH]          (or: streamlit run app.py)\n'
        '"""\n'
        'X = "missing; install it with: pip install --no-deps not-a-dependency"\n'
        'Y = "--engine ray needs Ray Data: pip install \'curate[distributed]\' (ray[data])"\n'
        'Z = "no model: run: curate quality trian --db PATH, then retry"\n'
    )
    hints = hints_in_python(source, "mod.py")
    assert [h.text for h in hints] == [
        "curate quality train", "curate score --rescore quality", "curate dedup --threshold {t}",
        "curate bogus [--db PATH]", "pip install --no-deps not-a-dependency",
        "pip install 'curate[distributed]'", "curate quality trian --db PATH",
    ]
    bad = failures(hints)
    assert len(bad) == 4, bad
    assert bad[0].startswith("mod.py:3: `curate score --rescore quality`: ")
    assert "--rescore" in bad[0]
    assert bad[1].startswith("mod.py:7: `curate bogus [--db PATH]`")
    assert bad[2].startswith("mod.py:11: `pip install --no-deps not-a-dependency`")
    assert bad[3].startswith("mod.py:13: `curate quality trian --db PATH`")


def test_pip_hints():
    assert check("pip install 'curate[distributed]'") is None
    assert check("pip install --force-reinstall curate") is None
    assert check("pip install ray[data]") is None
    assert check("pip install 'curate[gpu]'") is not None
    assert check("pip install surely-not-a-dependency") is not None


def test_readme_scan_reads_tables_blocks_and_cron_lines():
    text = (
        "| `curate slice RECIPE` | build |\n"
        "```bash\nmake demo\ncurate score --rescore quality\n```\n"
        "```cron\n15 2 * * * cd /srv && /srv/.venv/bin/curate run strict -i '/in/*.zst' --quiet"
        " >> /var/log/c.log 2>&1\n```\n"
        "```ini\nExecStart=/srv/.venv/bin/curate run strict --input /in --bogus\n```\n"
        '```python\nop = BashOperator(bash_command="curate run strict --input x "\n    "--exit-5-when-idle")\n```\n'
        "```yaml\nname: curate ingest\n```\n"
        "then `curate expliain DOC_ID`\n"
    )
    hints = readme_hints(text, "R.md")
    assert [(h.where, h.text) for h in hints] == [
        ("R.md:4", "curate score --rescore quality"),
        ("R.md:7", "curate run strict -i '/in/*.zst' --quiet"),
        ("R.md:10", "curate run strict --input /in --bogus"),
        ("R.md:13", "curate run strict --input x --exit-5-when-idle"),
        ("R.md:1", "curate slice RECIPE"),
        ("R.md:19", "curate expliain DOC_ID"),
    ]
    assert [b.split(":")[1] for b in failures(hints)] == ["4", "10", "19"]
