"""Recipes: YAML -> validated recipe -> one parameterized SQL query -> decisions.

A recipe is an ordered list of range predicates over stored signals plus a dedup
setting. Its rules run in order and a dropped document records the first rule it
failed, so every drop has a reason. Identifiers come only from the signal registry;
values are always bound parameters.

    name: strict
    filters:                      # run in this order; the first failing one is the drop reason
      lang: {allow: [en]}
      mojibake_count: default     # the registry's published threshold
      gopher_quality: defaults    # every published threshold of a signal family
      quality: {min: 0.5}
      url_blocklist: {adult: lists/adult.txt}   # list files, relative to the recipe (curate/urllists.py)
      url_allowlist: {trusted: lists/ok.txt}    # documents on it pass every url_blocklist
      decontam_overlap: [mmlu]                  # benchmarks `curate decontaminate` checked
    dedup: {exact: true, near_threshold: 0.8}
    export: {redact_pii: false}

Recipes come from anyone, so they are refused (exit 2, file and line) unless they are UTF-8
(a leading byte-order mark is dropped) of at most 1 MB and 10,000 YAML values, without
anchors or aliases, with every key given once and every bound a finite number, and named by
a plain file stem (RECIPE_NAME): the name becomes the slice id, the suite's file name and
the export's.

Three filters are not ranges over a stored signal (DocRule): `url_blocklist` drops a document
whose URL a list names (reason `url_blocklist:NAME`, one reason per list) and one without a
URL (`url_missing`: a null, which fails a rule here as everywhere); `url_allowlist` exempts the
documents it names from every blocklist; `decontam_overlap` drops a document that shares an
n-gram with an item of a benchmark (`decontam_overlap:NAME`). They run where they are written
among the other filters.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import yaml

from curate import remote, store
from curate.errors import UsageError
from curate.store import RECIPE_NAME, RECIPE_NAME_RULE, best_copy_order, ident, now

RECIPES_PACKAGE = "curate.recipes_shipped"
TOP_KEYS = {"name", "description", "filters", "dedup", "export"}
# A recipe is a screenful of YAML; the bounds keep a hostile one from costing memory or time.
MAX_RECIPE_BYTES = 1 << 20
MAX_RECIPE_DEPTH = 16
MAX_RECIPE_NODES = 10_000  # every shipped recipe has under 200 YAML values


class RecipeError(UsageError):
    """A recipe that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Rule:
    signal: str
    min: float | None = None
    max: float | None = None
    allow: tuple[str, ...] | None = None
    line: int | None = None  # where the rule was written, for messages

    def to_dict(self) -> dict:
        d: dict = {}
        if self.allow is not None:
            d["allow"] = list(self.allow)
        if self.min is not None:
            d["min"] = self.min
        if self.max is not None:
            d["max"] = self.max
        return d


DOC_RULE_KINDS = ("url_blocklist", "url_allowlist", "decontam_overlap")


@dataclass(frozen=True)
class DocRule:
    """A filter over what the signals table does not hold: URL lists (`names` are (list name,
    absolute path) pairs) or benchmark overlaps (`names` are (benchmark, "") pairs)."""

    kind: str
    names: tuple[tuple[str, str], ...]
    position: int = 0  # how many of the recipe's signal rules run before it
    line: int | None = field(default=None, compare=False)  # where it was written, for messages

    def to_value(self):
        if self.kind == "decontam_overlap":
            return [n for n, _ in self.names]
        return {n: path for n, path in self.names}


@dataclass(frozen=True)
class DedupSetting:
    exact: bool = False
    near_threshold: float | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    rules: tuple[Rule, ...] = ()
    dedup: DedupSetting = DedupSetting()
    description: str = ""
    redact_pii: bool = False
    origin: str = "<string>"
    doc_rules: tuple[DocRule, ...] = ()

    def to_dict(self) -> dict:
        """The resolved recipe (defaults expanded), the form that is hashed and stored."""
        filters: dict = {}
        for i in range(len(self.rules) + 1):
            for dr in self.doc_rules:
                if dr.position == i:
                    filters[dr.kind] = dr.to_value()
            if i < len(self.rules):
                filters[self.rules[i].signal] = self.rules[i].to_dict()
        return {
            "name": self.name,
            "description": self.description,
            "filters": filters,
            "dedup": {"exact": self.dedup.exact, "near_threshold": self.dedup.near_threshold},
            "export": {"redact_pii": self.redact_pii},
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @property
    def recipe_id(self) -> str:
        canon = {k: v for k, v in self.to_dict().items() if k != "description"}
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def signals_used(self) -> list[str]:
        return [r.signal for r in self.rules]


# --- parsing and validation ---------------------------------------------------------------


def _registry():
    from curate.signals import REGISTRY

    return REGISTRY


class _Refused(Exception):
    """Something a recipe may not contain, at a YAML mark."""

    def __init__(self, mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases, at most MAX_RECIPE_NODES values MAX_RECIPE_DEPTH deep.

    An alias repeats a node without repeating its text, so a few hundred bytes of aliases
    expand into gigabytes when the value is walked or stringified (billion laughs). A
    recipe has no use for them: refusing them bounds every recipe's size by its file's.
    """

    _depth = 0
    _nodes = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(event.start_mark, f"aliases (*{event.anchor}) are not allowed in a recipe; "
                                             "write the value out")
        if getattr(event, "anchor", None) is not None:
            raise _Refused(event.start_mark, f"anchors (&{event.anchor}) are not allowed in a recipe; "
                                             "write the value out")
        if self._depth >= MAX_RECIPE_DEPTH:
            raise _Refused(event.start_mark, f"nested more than {MAX_RECIPE_DEPTH} levels deep")
        self._nodes += 1
        if self._nodes > MAX_RECIPE_NODES:
            raise _Refused(event.start_mark, f"more than {MAX_RECIPE_NODES} YAML values; a recipe is short")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_keys(root) -> dict[tuple[str, ...], int]:
    """Line number (1-based) of every mapping key, by key path; refuses a key given twice.

    PyYAML keeps the last of two equal keys without a word, so a rule written twice would
    silently lose its first bound.
    """
    lines: dict[tuple[str, ...], int] = {}
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            _check_text(node)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, path) for v in node.value)
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise _Refused(k.start_mark, "a key must be a plain name, not a list or mapping")
                if k.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(k.start_mark, "merge keys (<<) are not allowed in a recipe")
                _check_text(k)
                name, line = str(k.value), k.start_mark.line + 1
                if name in first:
                    where = ".".join((*path, name))
                    raise _Refused(k.start_mark, f"key {where!r} is given twice (first on line {first[name]}); "
                                                 "every recipe key is given once")
                first[name] = line
                lines[(*path, name)] = line
                stack.append((v, (*path, name)))
    return lines


def _check_text(node) -> None:
    """Refuse a scalar holding a lone surrogate (a "\\udc80" escape): it is no text, so no
    store or SQL parameter takes it, and a recipe with one would fail only when it is used."""
    try:
        node.value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Refused(node.start_mark, f"\\u{ord(node.value[exc.start]):04x} is a lone surrogate, not a "
                                        "character; a recipe's text must be valid Unicode") from None


def _load_yaml(text: str, origin: str) -> tuple[object, dict[tuple[str, ...], int]]:
    """The recipe's data and its key lines; RecipeError (with file and line) for what it may not hold."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(text) > MAX_RECIPE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_RECIPE_BYTES:
        raise RecipeError(f"{origin}: over {MAX_RECIPE_BYTES} bytes; a recipe is a short YAML file")
    loader = None
    try:
        loader = _RecipeLoader(text)
        root = loader.get_single_node()
        lines = _check_keys(root) if root is not None else {}
        data = loader.construct_document(root) if root is not None else None
    except _Refused as exc:
        raise RecipeError(f"{origin} line {exc.mark.line + 1}: {exc.message}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise RecipeError(f"{origin} line {line}: not valid YAML: character {exc.character!r} "
                          "is not allowed") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{origin}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more digits than Python converts
        raise RecipeError(f"{origin}: a value cannot be read: {str(exc)[:200]}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def parse_recipe(text: str, origin: str = "<string>", base_dir: Path | None = None) -> Recipe:
    """A validated recipe; list files in it are resolved against `base_dir` (the recipe
    file's folder; the working directory when None)."""
    data, lines = _load_yaml(text, origin)

    def err(path: tuple[str, ...], msg: str) -> RecipeError:
        line = lines.get(path)
        return RecipeError(f"{origin}{f' line {line}' if line else ''}: {msg}")

    if not isinstance(data, dict):
        raise RecipeError(f"{origin}: a recipe is a YAML mapping with at least `name` and `filters`")
    unknown = set(data) - TOP_KEYS
    if unknown:
        k = sorted(unknown, key=str)[0]
        raise err((str(k),), f"unknown key {k!r} (allowed: {', '.join(sorted(TOP_KEYS))})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise err(("name",), "`name` must be a non-empty string")
    if not RECIPE_NAME.fullmatch(name.strip()):
        raise err(("name",), f"`name` must be {RECIPE_NAME_RULE} (it names the slice, its suite "
                             f"and its export files), got {name[:80]!r}")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise err(("description",), f"`description` must be text, got {type(description).__name__}")
    registry = _registry()

    rules: dict[str, Rule | DocRule] = {}
    families = sorted({s.family for s in list(registry)})
    filters = data.get("filters") or {}
    if not isinstance(filters, dict):
        raise err(("filters",), "`filters` must be a mapping of signal -> {min, max} | {allow: [...]} | default")
    for key, spec in filters.items():
        path = ("filters", str(key))
        if spec == "defaults":
            if key not in families:
                raise err(path, f"`{key}: defaults` needs a signal family (known: {', '.join(families)})")
            for s in list(registry):
                if s.family == key and (s.default_min is not None or s.default_max is not None):
                    rules.pop(s.name, None)
                    rules[s.name] = Rule(s.name, s.default_min, s.default_max, line=lines.get(path))
            continue
        if key in DOC_RULE_KINDS:
            rules.pop(key, None)
            rules[key] = _parse_doc_rule(str(key), spec, path, err, lines.get(path), base_dir)
            continue
        try:
            sig = registry.get(str(key))
        except KeyError:
            raise err(path, f"unknown signal {key!r} (known: {', '.join(registry_names(registry))}; "
                            f"or a family with `defaults`: {', '.join(families)}; "
                            f"or {', '.join(DOC_RULE_KINDS)})") from None
        rules.pop(sig.name, None)  # a later rule for the same signal replaces the earlier one
        if spec == "default":
            if sig.default_min is None and sig.default_max is None:
                raise err(path, f"{sig.name!r} has no published default threshold; give min/max")
            rules[sig.name] = Rule(sig.name, sig.default_min, sig.default_max, line=lines.get(path))
        else:
            rules[sig.name] = _parse_rule(sig, spec, path, err, lines.get(path))

    dedup_raw = data.get("dedup") or {}
    if not isinstance(dedup_raw, dict) or set(dedup_raw) - {"exact", "near_threshold"}:
        raise err(("dedup",), "`dedup` takes `exact: true|false` and `near_threshold: 0..1 or null`")
    exact = dedup_raw.get("exact", False)
    if not isinstance(exact, bool):
        raise err(("dedup", "exact"), "`dedup.exact` must be true or false")
    near = dedup_raw.get("near_threshold")
    if near is not None and (not _num(near) or not 0 < near <= 1):
        raise err(("dedup", "near_threshold"), "`dedup.near_threshold` must be a number in (0, 1] or null")

    export = data.get("export") or {}
    if not isinstance(export, dict) or set(export) - {"redact_pii"}:
        raise err(("export",), "`export` takes only `redact_pii: true|false`")
    redact = export.get("redact_pii", False)
    if not isinstance(redact, bool):
        raise err(("export", "redact_pii"), "`export.redact_pii` must be true or false")

    signal_rules: list[Rule] = []
    doc_rules: list[DocRule] = []
    for r in rules.values():
        if isinstance(r, DocRule):
            doc_rules.append(replace(r, position=len(signal_rules)))
        else:
            signal_rules.append(r)
    if any(d.kind == "url_allowlist" for d in doc_rules) and not any(d.kind == "url_blocklist" for d in doc_rules):
        raise err(("filters", "url_allowlist"), "`url_allowlist` exempts documents from `url_blocklist`: "
                                                "give a `url_blocklist` too")
    return Recipe(
        name=name.strip(),
        rules=tuple(signal_rules),
        doc_rules=tuple(doc_rules),
        dedup=DedupSetting(exact=exact, near_threshold=float(near) if near is not None else None),
        description=description or "",
        redact_pii=redact,
        origin=origin,
    )


def _parse_doc_rule(kind: str, spec, path, err, line, base_dir: Path | None) -> DocRule:
    if kind == "decontam_overlap":
        from curate.decontam import BENCHMARK_NAME, BENCHMARK_NAME_RULE

        names = [spec] if isinstance(spec, str) else spec
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise err(path, "`decontam_overlap` takes a list of benchmark names, e.g. [mmlu, gsm8k]")
        for n in names:
            if not BENCHMARK_NAME.fullmatch(n):
                raise err(path, f"benchmark name {n[:80]!r} must be {BENCHMARK_NAME_RULE}")
        return DocRule(kind, tuple((n, "") for n in dict.fromkeys(names)), line=line)
    from curate.urllists import LIST_NAME, LIST_NAME_RULE

    if kind == "url_allowlist" and isinstance(spec, str):
        spec = {"allow": spec}
    if not isinstance(spec, dict) or not spec:
        raise err(path, f"`{kind}` takes a mapping of list name -> list file, e.g. {{adult: lists/adult.txt}}")
    out = []
    for name, file in spec.items():
        if not isinstance(name, str) or not LIST_NAME.fullmatch(name):
            raise err((*path, str(name)), f"list name {str(name)[:80]!r} must be {LIST_NAME_RULE} "
                                          f"(it names the drop reason {kind}:NAME)")
        if not isinstance(file, str) or not file.strip():
            raise err((*path, name), f"`{kind}.{name}` must be the path of a list file")
        p = Path(file.strip()).expanduser()
        if not p.is_absolute():
            p = (base_dir if base_dir is not None else Path.cwd()) / p
        out.append((name, os.path.abspath(p)))
    return DocRule(kind, tuple(out), line=line)


def registry_names(registry) -> list[str]:
    return [s.name for s in list(registry)]


def _num(v) -> bool:
    """A finite number: YAML's .nan and .inf (and integers past a double) are no bound."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _parse_rule(sig, spec, path, err, line) -> Rule:
    if not isinstance(spec, dict) or not spec or set(spec) - {"min", "max", "allow"}:
        raise err(path, f"rule for {sig.name!r} must be {{min: .., max: ..}} or {{allow: [..]}}")
    if sig.dtype == "VARCHAR":
        allow = spec.get("allow")
        well_formed = isinstance(allow, list) and allow and all(isinstance(a, str) for a in allow)
        if set(spec) != {"allow"} or not well_formed:
            raise err(path, f"{sig.name!r} is text: use {{allow: [value, ...]}} with a non-empty list of strings")
        return Rule(sig.name, allow=tuple(allow), line=line)
    if "allow" in spec:
        raise err(path, f"{sig.name!r} is numeric: use min/max, not allow")
    lo, hi = spec.get("min"), spec.get("max")
    for key, v in (("min", lo), ("max", hi)):
        if v is not None and not _num(v):
            shown = v if not isinstance(v, int) or v.bit_length() < 64 else "an integer too large"
            raise err((*path, key), f"{sig.name}.{key} must be a number (finite), got {type(v).__name__} {shown!r}")
    if lo is None and hi is None:  # stored as `{}`, which would not parse back
        raise err(path, f"rule for {sig.name!r} has no bound: give min, max or both (null is no bound)")
    if lo is not None and hi is not None and lo > hi:
        raise err(path, f"{sig.name}: min {lo} > max {hi}")
    return Rule(sig.name, None if lo is None else float(lo), None if hi is None else float(hi), line=line)


def shipped_recipe_names() -> list[str]:
    folder = resources.files(RECIPES_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


_UTF16_32_BOMS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\xfe\xff", b"\xff\xfe")


def read_recipe_file(path: Path) -> str:
    """A recipe file's text: at most MAX_RECIPE_BYTES of UTF-8, a leading byte-order mark dropped."""
    if not path.is_file():
        raise RecipeError(f"{path}: not a file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_RECIPE_BYTES:
        raise RecipeError(f"{path}: over {MAX_RECIPE_BYTES} bytes; a recipe is a short YAML file")
    if raw.startswith(_UTF16_32_BOMS) and not raw.startswith(b"\xef\xbb\xbf"):
        raise RecipeError(f"{path}: UTF-16/UTF-32 text (byte-order mark); save the recipe as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RecipeError(f"{path} line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "save the recipe as UTF-8") from None


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe's name (`strict`), a path to a YAML file or its URL (`s3://...`; the
    list files it names are then found from the working folder, not beside it)."""
    name_or_path = remote.localized(name_or_path)
    if remote.is_url(name_or_path):
        with remote.local_file(name_or_path, "recipe") as local:
            try:
                text = read_recipe_file(local)
            except RecipeError as exc:
                raise RecipeError(str(exc).replace(str(local), name_or_path)) from None
        return parse_recipe(text, origin=name_or_path)
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise RecipeError(f"no recipe file {p}")
        return parse_recipe(read_recipe_file(p), origin=str(p), base_dir=p.absolute().parent)
    name = str(name_or_path)
    if name not in shipped_recipe_names():
        raise RecipeError(
            f"unknown recipe {name!r}: give a YAML path or one of {', '.join(shipped_recipe_names())}"
        )
    text = resources.files(RECIPES_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return parse_recipe(text, origin=f"{name}.yaml")


# --- compilation ---------------------------------------------------------------------------


def rule_reasons(rule: Rule) -> list[tuple[str, str, list]]:
    """(SQL condition that fails the rule, reason code, bound values) in order."""
    col = f"s.{ident(rule.signal)}"
    out: list[tuple[str, str, list]] = []
    if rule.allow is not None:
        marks = ", ".join("?" for _ in rule.allow)
        out.append((f"{col} IS NULL OR {col} NOT IN ({marks})", f"{rule.signal}_not_allowed", list(rule.allow)))
        return out
    if rule.min is not None:
        out.append((f"{col} IS NULL OR {col} < ?", f"{rule.signal}_below_min", [rule.min]))
    if rule.max is not None:
        out.append((f"{col} IS NULL OR {col} > ?", f"{rule.signal}_above_max", [rule.max]))
    return out


def reason_case(rules: tuple[Rule, ...]) -> tuple[str, list]:
    """A CASE expression over alias `s` giving the first failing rule's reason, or NULL."""
    return _case([c for rule in rules for c in rule_reasons(rule)])


def _case(conds: list[tuple[str, str, list]]) -> tuple[str, list]:
    """CASE WHEN cond THEN reason ... over (condition, reason, bound values), first match wins."""
    whens, params = [], []
    for cond, reason, values in conds:
        whens.append(f"WHEN {cond} THEN ?")
        params.extend(values)
        params.append(reason)
    if not whens:
        return "CAST(NULL AS VARCHAR)", []
    return "CASE " + " ".join(whens) + " ELSE NULL END", params


def doc_rule_reasons(rule: DocRule) -> list[tuple[str, str, list]]:
    """(SQL condition over alias `d` that fails the rule, reason code, bound values) in order.

    The URL conditions read the temp tables `_prepare_doc_rules` makes for one build.
    """
    from curate.urllists import URL_DOCS, URL_HITS

    if rule.kind == "decontam_overlap":
        return [("EXISTS (SELECT 1 FROM decontam_hits x WHERE x.doc_id = d.doc_id AND x.benchmark = ?)",
                 f"decontam_overlap:{name}", [name]) for name, _ in rule.names]
    if rule.kind == "url_allowlist":
        return []
    out = [(f"NOT EXISTS (SELECT 1 FROM {URL_DOCS} u WHERE u.doc_id = d.doc_id)", "url_missing", [])]
    for name, _ in rule.names:
        out.append((f"EXISTS (SELECT 1 FROM {URL_HITS} x WHERE x.doc_id = d.doc_id AND x.kind = 'block' "
                     f"AND x.name = ?) AND NOT EXISTS (SELECT 1 FROM {URL_HITS} a WHERE a.doc_id = d.doc_id "
                     "AND a.kind = 'allow')", f"url_blocklist:{name}", [name]))
    return out


def _decision_case(recipe: Recipe) -> tuple[str, list]:
    """reason_case over the signal rules with the recipe's DocRules at their places."""
    if not recipe.doc_rules:
        return reason_case(recipe.rules)
    conds: list[tuple[str, str, list]] = []
    for i in range(len(recipe.rules) + 1):
        conds += [c for dr in recipe.doc_rules if dr.position == i for c in doc_rule_reasons(dr)]
        if i < len(recipe.rules):
            conds += rule_reasons(recipe.rules[i])
    return _case(conds)


def _prepare_doc_rules(con: duckdb.DuckDBPyConnection, recipe: Recipe) -> None:
    """The temp tables the recipe's URL rules read (the lists' matches), for one build."""
    from curate import urllists

    lists = tuple(urllists.UrlList(name, path, "block" if dr.kind == "url_blocklist" else "allow")
                  for dr in recipe.doc_rules if dr.kind in ("url_blocklist", "url_allowlist")
                  for name, path in dr.names)
    if lists:
        urllists.materialize_hits(con, lists)


def _drop_doc_rule_tables(con: duckdb.DuckDBPyConnection) -> None:
    from curate import urllists

    urllists.drop_temp(con)


def compile_decisions(recipe: Recipe) -> tuple[str, list]:
    """One SELECT giving (doc_id, reason) for every document; reason NULL = kept.

    Filters run first, in the recipe's order; dedup last, so a duplicate is dropped
    only when another copy (the cluster's best member) exists.
    """
    case_sql, params = _decision_case(recipe)
    dup_sql = "NULL"
    dup_params: list = []
    joins = ""
    if recipe.dedup.near_threshold is not None:
        joins += " LEFT JOIN dup_clusters c ON c.doc_id = d.doc_id AND c.threshold = ?"
        dup_params.append(recipe.dedup.near_threshold)
    if recipe.dedup.exact:
        order = best_copy_order("s2.quality" if _has_quality() else "NULL", "d2.n_bytes", "d2.doc_id")
        joins += (
            f" LEFT JOIN (SELECT d2.doc_id, row_number() OVER (PARTITION BY d2.text_hash ORDER BY {order})"
            " AS copy_rank FROM documents d2 LEFT JOIN signals s2 USING (doc_id)) e ON e.doc_id = d.doc_id"
        )
    dup_whens = []
    if recipe.dedup.exact:
        dup_whens.append("WHEN e.copy_rank > 1 THEN 'exact_duplicate'")
    if recipe.dedup.near_threshold is not None:
        dup_whens.append("WHEN c.is_representative = false THEN 'near_duplicate'")
    if dup_whens:
        dup_sql = "CASE " + " ".join(dup_whens) + " ELSE NULL END"
    sql = (
        "SELECT d.doc_id, CASE WHEN s.doc_id IS NULL THEN 'not_scored' "
        f"ELSE coalesce({case_sql}, {dup_sql}) END AS reason "
        f"FROM documents d LEFT JOIN signals s ON s.doc_id = d.doc_id{joins}"
    )
    # bound values in the order their ? appear: join parameters come after the SELECT list
    return sql, [*params, *dup_params]


def _has_quality() -> bool:
    try:
        _registry().get("quality")
    except KeyError:
        return False
    return True


# --- slices: one id, one content -----------------------------------------------------------

SLICE_DIGEST_HEX = 12  # '<recipe name>-<12 hex>': 48 bits, no accidental collision among a recipe's slices
_BUILDING = "_slice_decisions"  # temp table: the decisions the store's state gives, before they are named


@dataclass(frozen=True)
class SliceResult:
    slice_id: str
    name: str
    recipe_id: str
    n_documents: int
    n_kept: int
    n_dropped: int
    kept_bytes: int
    reasons: list[tuple[str, int]]
    new: bool = True  # False: a slice with these decisions was stored already and nothing was rewritten


def _check_buildable(con: duckdb.DuckDBPyConnection, recipe: Recipe) -> None:
    from curate.store import table_exists

    if not table_exists(con, "signals"):
        raise UsageError("no signals yet: run `curate score` first")
    _check_signals_present(con, recipe)
    for dr in recipe.doc_rules:
        if dr.kind == "decontam_overlap":
            from curate.decontam import check_usable

            check_usable(con, [n for n, _ in dr.names], recipe.name)
        else:
            from curate.urllists import check_readable

            for _, path in dr.names:
                check_readable(Path(path))
    if recipe.dedup.near_threshold is not None:
        from curate.dedup.lsh import dedup_thresholds

        if recipe.dedup.near_threshold not in dedup_thresholds(con):
            raise UsageError(
                f"recipe {recipe.name!r} asks for near-dedup at {recipe.dedup.near_threshold}: "
                f"run `curate dedup --threshold {recipe.dedup.near_threshold}` first"
            )


def _decide(con: duckdb.DuckDBPyConnection, recipe: Recipe) -> str:
    """Every document's decision into the temp table _BUILDING; returns the slice id they make."""
    _prepare_doc_rules(con, recipe)
    sql, params = compile_decisions(recipe)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_BUILDING} AS "
                f"SELECT doc_id, reason IS NULL AS kept, reason FROM ({sql})", params)
    return f"{recipe.name}-{_decisions_digest(con, recipe.recipe_id)}"


def _decisions_digest(con: duckdb.DuckDBPyConnection, recipe_id: str) -> str:
    """sha256 of the recipe id and every decision in doc_id order, one line 'doc_id TAB 1|0 TAB reason'.

    All a slice's content depends on (the recipe, the stored signals whatever version computed
    them, the quality model through its scores, the dedup clusters and their representatives,
    the documents) reaches it through these decisions: equal digests are equal slices, and a
    change that moves one decision makes a new id; one that moves none leaves the same content
    under the same id. sha256 is fixed by its specification (DuckDB's and
    polars' hash() are not). Doc ids and reason codes hold no tab or newline.
    """
    import pyarrow as pa

    h = hashlib.sha256(f"curate slice v1\nrecipe {recipe_id}\n".encode())
    con.execute("SELECT 1").fetchall()  # see store.register(): close a half-fetched result first
    lines = con.sql(
        f"""SELECT doc_id || chr(9) || CASE WHEN kept THEN '1' ELSE '0' END || chr(9) || coalesce(reason, '')
                   || chr(10) AS line
            FROM {_BUILDING} ORDER BY doc_id"""
    ).to_arrow_reader(65536)
    for batch in lines:
        col = batch.column(0).cast(pa.large_string())
        if len(col) == 0:
            continue
        if col.null_count:  # pragma: no cover - doc_id is NOT NULL and reason is coalesced
            raise AssertionError("a decision without a doc_id")
        # the values of a string array lie back to back in its data buffer: hash them in one call
        offsets = np.frombuffer(col.buffers()[1], dtype=np.int64)[col.offset:col.offset + len(col) + 1]
        h.update(memoryview(col.buffers()[2])[offsets[0]:offsets[-1]])
    return h.hexdigest()[:SLICE_DIGEST_HEX]


def current_slice_id(con: duckdb.DuckDBPyConnection, recipe: Recipe) -> str:
    """The id of the slice the store's state gives for this recipe now; writes nothing.

    Raises UsageError where the slice cannot be built yet (no signals, no quality scores,
    no clusters for the recipe's threshold).
    """
    _check_buildable(con, recipe)
    try:
        return _decide(con, recipe)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_BUILDING}")
        _drop_doc_rule_tables(con)


def build_slice(con: duckdb.DuckDBPyConnection, recipe: Recipe, run_id: int | None = None) -> SliceResult:
    """Build the recipe's slice from the store's state in one transaction; returns its counts.

    The decisions are made first and name the slice. A slice stored under that id has the
    same decisions by construction, so it is not rewritten: it only becomes the latest slice
    of its recipe again (built_at). Older slices of the recipe are pruned (_prune_older).
    """
    _check_buildable(con, recipe)
    from curate.signals import SIGNALS_VERSION

    try:
        with store.transaction(con):
            sid = _decide(con, recipe)
            store.insert(con, "recipes", {"recipe_id": recipe.recipe_id, "name": recipe.name,
                                          "yaml": recipe.to_yaml(), "created_at": now()}, replace=True)
            stored = con.execute("SELECT count(*) FROM slices WHERE slice_id = ?", [sid]).fetchone()[0]
            if stored:  # built_at and signals_version: of its latest build; run_id: the run that wrote it
                con.execute("UPDATE slices SET built_at = ?, signals_version = ? WHERE slice_id = ?",
                            [now(), SIGNALS_VERSION, sid])
            else:
                con.execute("INSERT INTO decisions BY NAME "
                            f"SELECT ? AS slice_id, doc_id, kept, reason FROM {_BUILDING}", [sid])
                n_docs, n_kept, kept_bytes = con.execute(
                    f"""SELECT count(*), count(*) FILTER (WHERE kept),
                               coalesce(sum(d.n_bytes) FILTER (WHERE kept), 0)
                        FROM {_BUILDING} k JOIN documents d USING (doc_id)"""
                ).fetchone()
                total = con.execute("SELECT count(*) FROM documents").fetchone()[0]
                if n_docs != total:
                    raise AssertionError(f"slice {sid}: {n_docs} decisions for {total} documents")
                store.insert(con, "slices", {
                    "slice_id": sid, "recipe_id": recipe.recipe_id, "name": recipe.name, "built_at": now(),
                    "n_documents": n_docs, "n_kept": n_kept, "n_dropped": n_docs - n_kept, "kept_bytes": kept_bytes,
                    "signals_version": SIGNALS_VERSION, "run_id": run_id, "config": json.dumps(recipe.to_dict())})
            _prune_older(con, recipe.name, sid)
            n_docs, n_kept, n_dropped, kept_bytes = con.execute(
                "SELECT n_documents, n_kept, n_dropped, kept_bytes FROM slices WHERE slice_id = ?", [sid]
            ).fetchone()
            reasons = con.execute(
                f"SELECT reason, count(*) FROM {_BUILDING} WHERE NOT kept GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_BUILDING}")
        _drop_doc_rule_tables(con)
    return SliceResult(sid, recipe.name, recipe.recipe_id, n_docs, n_kept, n_dropped, kept_bytes, reasons,
                       new=not stored)


def _prune_older(con: duckdb.DuckDBPyConnection, name: str, latest: str) -> None:
    """Drop the older slices of a recipe name, with their decisions and validations.

    Every nightly run with new input makes a new slice, one decision per document each, so
    they would pile up. Kept: the latest (run, export, explain, audit and the dashboard
    resolve a name to it) and every slice a model was trained on (train_runs, the slice
    comparison and memorization read its decisions). `curate check` then covers exactly the
    slices that remain; the runs table keeps the counts of every run, exports stay on disk.
    """
    old = [r[0] for r in con.execute(
        """SELECT slice_id FROM slices WHERE name = ? AND slice_id <> ?
           AND slice_id NOT IN (SELECT slice_id FROM train_runs)""", [name, latest]).fetchall()]
    if old:
        for table in ("decisions", "validations", "slices"):
            con.execute(f"DELETE FROM {table} WHERE slice_id IN (SELECT unnest(?))", [old])


def latest_slice(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The id of the slice built last from a recipe of this name, if any."""
    row = con.execute("SELECT slice_id FROM slices WHERE name = ? ORDER BY built_at DESC, slice_id LIMIT 1",
                      [name]).fetchone()
    return row[0] if row else None


def _check_signals_present(con: duckdb.DuckDBPyConnection, recipe: Recipe) -> None:
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'signals'").fetchall()}
    missing = [s for s in recipe.signals_used if s not in cols]
    if missing:
        raise UsageError(f"recipe {recipe.name!r} uses signals not yet scored: {', '.join(missing)}; "
                         "run `curate score`")
    if "quality" in recipe.signals_used:
        has_q = con.execute("SELECT count(quality) FROM signals").fetchone()[0]
        if not has_q:
            raise UsageError(
                f"recipe {recipe.name!r} filters on `quality` but no document has a quality score: "
                "run `curate quality train` (it trains on this corpus and rescores every document), "
                "or `curate run` with this recipe, which trains it as a stage"
            )


def resolve_slice(con: duckdb.DuckDBPyConnection, name_or_id: str) -> tuple[str, str]:
    """A slice by id, or the latest slice built from a recipe of that name: (slice_id, name)."""
    row = con.execute(
        """SELECT slice_id, name FROM slices WHERE slice_id = ? OR name = ?
           ORDER BY (slice_id = ?) DESC, built_at DESC, slice_id LIMIT 1""",
        [name_or_id, name_or_id, name_or_id],
    ).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT DISTINCT name FROM slices ORDER BY 1").fetchall()]
        raise UsageError(f"no slice {name_or_id!r} (built: {', '.join(known) or 'none'}); run `curate slice RECIPE`")
    return row[0], row[1]


def evaluate_frame(recipe: Recipe, frame, *, skip_families: tuple[str, ...] = (),
                   skip_signals: tuple[str, ...] = ()) -> list[str | None]:
    """First failing rule per row of an in-memory signals frame (no dedup), same SQL as slices.

    Used to ask "would the curation engine drop this text?" of generated samples.
    """
    registry = _registry()
    rules = tuple(r for r in recipe.rules
                  if registry.get(r.signal).family not in skip_families and r.signal not in skip_signals)
    case_sql, params = reason_case(rules)
    con = duckdb.connect()
    try:
        store.register(con, "s", frame)
        return [r[0] for r in con.execute(f"SELECT {case_sql} FROM s", params).fetchall()]
    finally:
        con.close()
