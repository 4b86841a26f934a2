"""Great Expectations (1.x) suites for cleaned slices, and their Data Docs.

A slice's contract is a small `SuiteSpec` (derived from its recipe, editable as JSON/YAML);
`build_suite` turns it into a GX `ExpectationSuite`, `validate_slice` runs it on a dataframe.
Besides what the recipe promises, a suite holds floors (documents, tokens) and drift checks
against the recipe's last validated run (kept share, language mix, key signals' quantiles);
`validate_in_store` keeps that run's profile in the store's meta table. Every check records
its bound beside its observed value (`validation_report` is what the Validation page reads).

The Data Docs are written for offline reading: GX's templates that fetch CSS, scripts, fonts
and icons from CDNs are replaced (see "Data Docs that work offline"), and the suites are kept
beside the validation results so that every page a link names exists (curate/data_docs.py).

GX is imported lazily: importing it takes ~4 s, and `curate --help` must stay instant.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate import store
from curate.data_docs import build_docs, gx_errors
from curate.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import great_expectations as gx
    import pandas as pd
    import polars as pl

PII_COLUMNS = ("pii_email_count", "pii_phone_count", "pii_ip_count", "pii_card_count")
# Quantile whose lower bound `quality_min_q10` constrains.
QUALITY_QUANTILE = 0.10
_PARTIAL_UNEXPECTED_KEEP = 5
# Floors a generated suite starts from (suite_spec_from_recipe, first_slice=): see SuiteSpec.
DEFAULT_MIN_DOCUMENTS = 100
DEFAULT_MIN_TOKENS = 50_000
DEFAULT_DRIFT_QUANTILES = (("gopher_word_count", (0.1, 0.5, 0.9)), ("quality", (QUALITY_QUANTILE, 0.5)))
# A run's signal distribution is kept as its lower quantile at every whole percent (101 values).
_GRID = 100
_NULL_LANG = "<null>"
_SIGNAL_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class SuiteSpec:
    """The data contract of one slice. `None` (or a share of 1.0 for duplicates) switches a check off.

    The first group restates the recipe (a kept document outside its languages, a duplicate
    kept under dedup, PII left after redaction would be a bug). The rest checks what no recipe
    can promise, because it depends on the data that arrives:

    Floors. `min_documents` and `min_tokens` (tokens estimated as bytes / 4): a slice below them
    is too small to train on or to trust. The defaults a generated suite starts from are 100
    documents and 50,000 tokens (about a third of the 150,000-token budget `curate demo` trains
    each model on; the demo's smallest slice, strict, keeps 578 documents and ~357,000 tokens),
    each capped at half of what the recipe's first slice had, so a first try on twenty files
    passes and a slice that later shrinks to less than half fails.

    Drift, against the last run of the same recipe (same content) whose validation passed:

    - `max_kept_share_drift`: the kept share of documents stays within +-5 points. A nightly run
      adds a little data to a large store, so its kept share moves by far less; a new source
      that is all junk, or a signal that broke, moves it by more.
    - `max_lang_share_drift`: each language's share of the kept documents stays within +-5 points
      (only languages at or above 5% in either run are listed: below that in both runs no
      difference can reach 5 points). A language filter that broke or a source in another
      language shows here by name.
    - `drift_quantiles` ({signal: [quantiles]}) and `max_quantile_drift`: the distribution of
      key signals stays put, measured where it matters: the share of today's kept documents
      below last run's quantile value (e.g. below last run's median gopher_word_count, 412
      words) stays within +-10 points of last run's own share there (50%). A band in percentile
      points fits every signal's scale (word counts, a 0-1 quality score), and ties count half,
      so a signal with many equal values does not move it. With at least 500 documents the
      standard error of such a share is at most sqrt(0.25 / 500) = 2.2 points, so 10 points is a
      shift of the distribution, not noise. Defaults: gopher_word_count's 10%, 50% and 90%
      quantiles (length, the first thing a broken source or extractor changes) and quality's
      10% (QUALITY_QUANTILE, the tail the quality floor guards) and 50%.
    - `drift_min_documents`: the drift checks are skipped (and say so) when either run kept fewer
      documents: at 500 documents a share's sampling error is already +-4.4 points (95%), the
      size of the bound, so on smaller slices a drift verdict would be noise.

    On the first validated run of a recipe there is nothing to compare with: the drift checks
    are recorded as skipped with that reason. To accept a drift, widen its bound here (or set it
    to null): the next run that passes becomes the new reference.
    """

    name: str
    allowed_langs: tuple[str, ...] | None = None
    min_allowed_lang_share: float = 0.99
    max_dup_share: float = 0.0
    quality_min_mean: float | None = None
    quality_min_q10: float | None = None
    require_no_pii: bool = False
    min_documents: int = 1
    min_tokens: int | None = None
    max_kept_share_drift: float | None = 0.05
    max_lang_share_drift: float | None = 0.05
    # JSON/YAML: {signal: [quantiles]}; kept as a tuple of (signal, quantiles) pairs so the spec stays hashable.
    drift_quantiles: Any = DEFAULT_DRIFT_QUANTILES
    max_quantile_drift: float | None = 0.10
    drift_min_documents: int = 500

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("name: must be a non-empty string")
        if self.allowed_langs is not None:
            langs = self.allowed_langs
            if isinstance(langs, str) or not all(isinstance(x, str) for x in langs):
                raise ValueError("allowed_langs: must be a list of language codes or null")
            # Lists come back from JSON/YAML; a frozen spec must stay hashable.
            object.__setattr__(self, "allowed_langs", tuple(langs))
        for key in ("min_allowed_lang_share", "max_dup_share"):
            value = getattr(self, key)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{key}: must be a number in [0, 1], got {value!r}")
        for key in ("quality_min_mean", "quality_min_q10"):
            value = getattr(self, key)
            if value is not None and not _is_number(value):
                raise ValueError(f"{key}: must be a number or null, got {value!r}")
        for key in ("max_kept_share_drift", "max_lang_share_drift", "max_quantile_drift"):
            value = getattr(self, key)
            if value is not None and (not _is_number(value) or not 0.0 <= value <= 1.0):
                raise ValueError(f"{key}: must be a number in [0, 1] or null, got {value!r}")
        if not isinstance(self.require_no_pii, bool):
            raise ValueError(f"require_no_pii: must be true or false, got {self.require_no_pii!r}")
        for key in ("min_documents", "min_tokens", "drift_min_documents"):
            value = getattr(self, key)
            if value is None and key == "min_tokens":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key}: must be an integer, got {value!r}")
            if value < 0:
                raise ValueError(f"{key}: must be >= 0, got {value}")
        object.__setattr__(self, "drift_quantiles", _quantile_pairs(self.drift_quantiles))

    def quantiles(self) -> dict[str, tuple[float, ...]]:
        """drift_quantiles as {signal: quantiles}."""
        return dict(self.drift_quantiles)

    def to_dict(self) -> dict:
        """Plain JSON/YAML values (lists, a mapping of quantiles), as `load_suite_spec` reads them."""
        data = asdict(self)
        if data["allowed_langs"] is not None:
            data["allowed_langs"] = list(data["allowed_langs"])
        data["drift_quantiles"] = {s: list(qs) for s, qs in self.drift_quantiles}
        return data


def _quantile_pairs(value: Any) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """{signal: [q, ...]} (or pairs, or null for none) -> hashable pairs, quantiles sorted; refuses the rest."""
    if value is None:
        return ()
    items = value.items() if isinstance(value, dict) else value
    try:
        pairs = [(signal, qs) for signal, qs in items]
    except (TypeError, ValueError):
        raise ValueError(f"drift_quantiles: must map signal names to lists of quantiles, got {value!r}") from None
    out = []
    for signal, qs in pairs:
        if not isinstance(signal, str) or not _SIGNAL_NAME.fullmatch(signal):
            raise ValueError(f"drift_quantiles: {signal!r} is not a signal name")
        if isinstance(qs, (str, bytes)) or not isinstance(qs, (list, tuple)) or not qs:
            raise ValueError(f"drift_quantiles.{signal}: must be a non-empty list of quantiles, got {qs!r}")
        if not all(_is_number(q) and 0.0 <= q <= 1.0 for q in qs):
            raise ValueError(f"drift_quantiles.{signal}: quantiles must be numbers in [0, 1], got {list(qs)!r}")
        out.append((signal, tuple(sorted({float(q) for q in qs}))))
    return tuple(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def suite_spec_from_recipe(recipe: dict, first_slice: tuple[int, int] | None = None) -> SuiteSpec:
    """Restate a recipe's promises as expectations on the slice it builds, plus floors and drift.

    The `lang` filter's `allow` list fixes the allowed languages; the `quality` filter's `min`
    bounds both the mean and the 10% quantile (every kept document passed that `min`, so both
    must hold). Other signals' filters have no column in the validated slice and are ignored.
    Any dedup setting means no duplicate may be kept; PII redaction on export means every
    pii_* count must be 0.

    `first_slice` (documents, tokens) is the size of the recipe's first slice: the floors start
    at DEFAULT_MIN_DOCUMENTS / DEFAULT_MIN_TOKENS, capped at half of it (see SuiteSpec). Without
    it the floors stay at 1 document and no token floor. The drift checks take their defaults.
    """
    filters = recipe.get("filters") or {}
    allowed_langs: tuple[str, ...] | None = None
    quality_min: float | None = None
    for signal, rule in filters.items():
        if not isinstance(rule, dict):
            continue
        if signal == "lang" and rule.get("allow") is not None:
            allowed_langs = tuple(str(x) for x in rule["allow"])
        if signal == "quality" and _is_number(rule.get("min")):
            quality_min = float(rule["min"])
    dedup = recipe.get("dedup") or {}
    dedup_on = bool(dedup.get("exact")) or dedup.get("near_threshold") is not None
    export = recipe.get("export") or {}
    return SuiteSpec(
        name=str(recipe.get("name") or "slice"),
        allowed_langs=allowed_langs,
        # The recipe's language filter is absolute, so a kept document outside it is a bug.
        min_allowed_lang_share=1.0,
        max_dup_share=0.0 if dedup_on else 1.0,
        quality_min_mean=quality_min,
        quality_min_q10=quality_min,
        require_no_pii=bool(export.get("redact_pii", False)),
        min_documents=max(1, min(DEFAULT_MIN_DOCUMENTS, first_slice[0] // 2)) if first_slice else 1,
        min_tokens=min(DEFAULT_MIN_TOKENS, first_slice[1] // 2) if first_slice else None,
    )


def save_suite_spec(spec: SuiteSpec, path: str | Path) -> Path:
    """Write the spec as JSON (.json) or YAML (.yaml/.yml)."""
    path = Path(path)
    data = spec.to_dict()
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    elif suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    else:
        raise UsageError(f"{path}: suite spec must end in .json, .yaml or .yml")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def load_suite_spec(path: str | Path) -> SuiteSpec:
    """Read a spec written by `save_suite_spec` (or by hand); errors name the file and key."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise UsageError(f"{path}: suite spec must end in .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read suite spec: {exc.strerror or exc}") from exc
    import yaml

    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: not valid {suffix.lstrip('.').upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: suite spec must be a mapping of keys, got {type(data).__name__}")
    known = {f.name for f in fields(SuiteSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    if "name" not in data:
        raise UsageError(f"{path}: missing key 'name'")
    try:
        return SuiteSpec(**data)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class History:
    """What the store knows beyond the kept documents, for the checks that compare runs.

    `validate_in_store` builds it: `previous` is the profile (`slice_profile`) of the last run
    of the same recipe whose validation passed, `previous_run` names that run or says why there
    is none, `signals_changed` says why signal quantiles cannot be compared (signals re-scored).
    """

    n_documents: int
    previous: dict | None = None
    previous_run: str = ""
    signals_changed: str | None = None


def slice_profile(frame: pd.DataFrame, n_documents: int | None, signals: Iterable[str]) -> dict:
    """What the drift checks compare between runs: sizes, kept share, language mix, and each
    signal's distribution as its lower quantile at every whole percent (`_GRID` + 1 values)
    with the share of documents below each of them (ties counted half)."""
    import numpy as np

    n = int(len(frame))
    profile: dict[str, Any] = {
        "documents": n,
        "decided": n_documents,
        "kept_share": (n / n_documents) if n_documents else None,
        "tokens": int(frame["n_bytes"].sum()) // store.BYTES_PER_TOKEN if "n_bytes" in frame.columns else None,
        "lang_shares": None,
        "percentiles": {},
        "midranks": {},
        "values": {},
    }
    if "lang" in frame.columns and n:
        counts = frame["lang"].astype(str).value_counts()
        profile["lang_shares"] = {str(k): int(v) / n for k, v in counts.items()}
    for signal in signals:
        if signal not in frame.columns:
            continue
        present = np.sort(frame[signal].dropna().to_numpy(dtype=float))
        profile["values"][signal] = int(present.size)
        if present.size:
            ranks = [min(math.floor(i / _GRID * present.size + 1e-9), present.size - 1) for i in range(_GRID + 1)]
            values = present[ranks]
            # The share below each value, ties counted half: where the drift checks centre their band.
            below = np.searchsorted(present, values, "left") + np.searchsorted(present, values, "right")
            profile["percentiles"][signal] = [float(v) for v in values]
            profile["midranks"][signal] = [round(float(b) / (2 * present.size), 6) for b in below]
    return profile


@dataclass(frozen=True)
class _Check:
    """One check: its GX expectation, the columns it needs (absent columns skip it, and say so),
    and how a person reads it: `expectation` in words, `bound` as text, `fmt` of the value."""

    check: str
    expectation_type: str
    kwargs: dict
    columns: tuple[str, ...]
    expectation: str = ""
    bound: str = ""
    fmt: str = "number"  # number | share | count
    skip: str | None = None  # a reason not to run it at all (drift with nothing to compare with)
    # (kind, column, value): GX reads a derived column named kwargs["column"], 1.0 where `column`
    # equals `value` ("eq"), or 1.0 below it and 0.5 at it ("below": its mean is the mid-rank share).
    indicator: tuple[str, str, Any] | None = None
    observed: Any = None  # the value shown, when it is not GX's own observed_value
    observed_note: str = ""  # shown after the observed value (drift: today's quantile)
    reference: str = ""  # what a drift bound was derived from ("last run 45.3% ± 5 points")
    previous: Any = None  # the last run's value, for drift checks


def _share(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _checks(spec: SuiteSpec, history: History | None = None, profile: dict | None = None) -> list[_Check]:
    checks = [
        _Check("text_not_null", "expect_column_values_to_not_be_null", {"column": "text"}, ("text",),
               "documents with a text", "100%", "share"),
        # A regex search for any non-space character also rejects whitespace-only documents,
        # which a length >= 1 bound would let through.
        _Check(
            "text_not_blank",
            "expect_column_values_to_match_regex",
            {"column": "text", "regex": r"\S"},
            ("text",),
            "documents with a non-blank text", "100%", "share",
        ),
    ]
    if spec.allowed_langs is not None:
        checks.append(
            _Check(
                "lang_allowed",
                "expect_column_values_to_be_in_set",
                {
                    "column": "lang",
                    "value_set": list(spec.allowed_langs),
                    "mostly": spec.min_allowed_lang_share,
                },
                ("lang",),
                f"kept documents in {', '.join(spec.allowed_langs) or 'no language'}",
                f">= {_share(spec.min_allowed_lang_share)}", "share",
            )
        )
    if spec.max_dup_share < 1.0:
        checks.append(
            _Check(
                "no_duplicates",
                "expect_column_values_to_be_in_set",
                {"column": "is_duplicate", "value_set": [False], "mostly": 1.0 - spec.max_dup_share},
                ("is_duplicate",),
                "kept documents that are not duplicates", f">= {_share(1.0 - spec.max_dup_share)}", "share",
            )
        )
    if spec.quality_min_mean is not None:
        checks.append(
            _Check(
                "quality_mean",
                "expect_column_mean_to_be_between",
                {"column": "quality", "min_value": spec.quality_min_mean},
                ("quality",),
                "mean quality", f">= {_num(spec.quality_min_mean)}",
            )
        )
    if spec.quality_min_q10 is not None:
        # q10 >= m  <=>  at least 90% of values are >= m. Stated this way because GX 1.24's
        # expect_column_quantile_values_to_be_between returns a numpy bool that its own result
        # store cannot serialize under numpy 2 (TypeError inside ValidationDefinition.run).
        checks.append(
            _Check(
                "quality_q10",
                "expect_column_values_to_be_between",
                {
                    "column": "quality",
                    "min_value": spec.quality_min_q10,
                    "mostly": round(1.0 - QUALITY_QUANTILE, 10),
                },
                ("quality",),
                f"quality's {QUALITY_QUANTILE:.0%} quantile", f">= {_num(spec.quality_min_q10)}",
            )
        )
    if spec.require_no_pii:
        for column in PII_COLUMNS:
            kind = column.removeprefix("pii_").removesuffix("_count")
            checks.append(
                _Check(
                    f"no_{column.removesuffix('_count')}",
                    "expect_column_values_to_be_between",
                    {"column": column, "min_value": 0, "max_value": 0},
                    (column,),
                    f"documents with no {kind} left after redaction", "100%", "share",
                )
            )
    checks.append(
        _Check(
            "min_documents",
            "expect_table_row_count_to_be_between",
            {"min_value": spec.min_documents},
            (),
            "kept documents", f">= {_num(spec.min_documents)}", "count",
        )
    )
    if spec.min_tokens is not None:
        checks.append(
            _Check(
                "min_tokens",
                "expect_column_sum_to_be_between",
                {"column": "tokens", "min_value": spec.min_tokens},
                ("n_bytes",),
                "kept tokens (bytes / 4)", f">= {_num(spec.min_tokens)}", "count",
                observed=None if profile is None else profile.get("tokens"),
            )
        )
    if history is not None:
        checks += _drift_checks(spec, history, profile or {})
    return checks


def _drift_checks(spec: SuiteSpec, history: History, profile: dict) -> list[_Check]:
    """The checks against the last validated run; skipped, with the reason, where it cannot be
    compared (none yet, the recipe changed, too few documents, the signals re-scored)."""
    prev = history.previous
    why = None
    if prev is None:
        why = history.previous_run or "no earlier validated run of this recipe to compare with"
    else:
        small = [f"{label} {n:,}" for label, n in (("this run kept", profile.get("documents") or 0),
                                                  ("the last run kept", prev.get("documents") or 0))
                 if n < spec.drift_min_documents]
        if small:
            why = (f"too few documents to compare shares ({', '.join(small)}; drift_min_documents = "
                   f"{spec.drift_min_documents:,})")
    checks: list[_Check] = []

    def skipped(check: str, expectation: str, columns: tuple[str, ...] = (), reason: str | None = None) -> _Check:
        return _Check(check, "", {}, columns, expectation, "-", skip=reason or why)

    d = spec.max_kept_share_drift
    if d is not None:
        what = "kept share of documents"
        n_docs = history.n_documents
        if why or prev.get("kept_share") is None or not n_docs:
            checks.append(skipped("kept_share_drift", what, reason=why or "no kept share to compare"))
        else:
            base = prev["kept_share"]
            lo, hi = max(0.0, base - d), min(1.0, base + d)
            checks.append(_Check(
                "kept_share_drift", "expect_table_row_count_to_be_between",
                {"min_value": math.ceil(lo * n_docs - 1e-9), "max_value": math.floor(hi * n_docs + 1e-9)}, (),
                what, f"{_share(lo)} – {_share(hi)}", "share", observed=profile.get("kept_share"), previous=base,
                reference=f"last run {_share(base)} ± {100 * d:g} points"))
    d = spec.max_lang_share_drift
    if d is not None:
        now, before = profile.get("lang_shares"), (prev or {}).get("lang_shares")
        if why or now is None or before is None:
            checks.append(skipped("lang_share_drift", "each language's share of kept documents",
                                  ("lang",), why or "no language column in one of the runs"))
        else:
            # Below d in both runs no difference can exceed d: only larger languages are listed.
            langs = sorted({x for x, v in [*now.items(), *before.items()] if v >= d},
                           key=lambda x: (-before.get(x, 0.0), x))
            for lang in langs:
                base = before.get(lang, 0.0)
                lo, hi = round(max(0.0, base - d), 6), round(min(1.0, base + d), 6)
                checks.append(_Check(
                    f"lang_share_drift:{lang}", "expect_column_mean_to_be_between",
                    {"column": f"lang={lang}", "min_value": lo, "max_value": hi}, ("lang",),
                    f"share of kept documents in language {lang!r}", f"{_share(lo)} – {_share(hi)}", "share",
                    indicator=("eq", "lang", lang), observed=now.get(lang, 0.0), previous=base,
                    reference=f"last run {_share(base)} ± {100 * d:g} points"))
    d = spec.max_quantile_drift
    if d is not None:
        for signal, qs in spec.drift_quantiles:
            for q in qs:
                check = f"{signal}_q{round(100 * q):02d}_drift"
                what = f"{signal}: share below last run's {q:.0%} quantile"
                grid = ((prev or {}).get("percentiles") or {}).get(signal)
                n = (profile.get("values") or {}).get(signal, 0)
                reason = why or history.signals_changed
                if reason is None and grid is None:
                    reason = f"the last run has no values of {signal}"
                if reason is None and signal in (profile.get("values") or {}) and not n:
                    reason = f"no values of {signal} in this slice"
                if reason is not None:
                    checks.append(skipped(check, what, (signal,), reason))
                    continue
                # Where last run's q-quantile value v falls in today's distribution: the share of
                # documents below v, ties counted half (so heavy ties do not move it). Last run's own
                # share at v is the centre (q, give or take its ties).
                i = round(_GRID * q)
                value = grid[i]
                centre = (((prev or {}).get("midranks") or {}).get(signal) or [None] * (_GRID + 1))[i]
                centre = q if centre is None else centre
                lo, hi = round(max(0.0, centre - d), 6), round(min(1.0, centre + d), 6)
                today = ((profile.get("percentiles") or {}).get(signal) or [None] * (_GRID + 1))[i]
                name = "median" if i == _GRID // 2 else f"{q:.0%} quantile"
                checks.append(_Check(
                    check, "expect_column_mean_to_be_between",
                    {"column": f"{signal} below {_num(value)}", "min_value": lo, "max_value": hi}, (signal,),
                    f"{signal}: share below last run's {name} ({_num(value)})", f"{_share(lo)} – {_share(hi)}",
                    "share", indicator=("below", signal, value), previous=centre,
                    observed_note=f"{name} now {_num(today)}",
                    reference=f"last run {_share(centre)} ± {100 * d:g} points"))
    return checks


def _expectation(check: _Check) -> Any:
    import great_expectations as gx

    cls_name = "".join(part.capitalize() for part in check.expectation_type.split("_"))
    cls = getattr(gx.expectations, cls_name)
    meta: dict[str, Any] = {"check": check.check}
    if check.expectation:
        # Plain text: the suite's page shows it beside the expectation (no markup from the data gets in).
        note = f"{check.expectation}: {check.bound}" + (f" ({check.reference})" if check.reference else "")
        meta["notes"] = {"format": "string", "content": [_plain_note(note)]}
    return cls(**check.kwargs, meta=meta)


def _plain_note(text: str) -> str:
    return "".join(ch for ch in text if ch not in "<>&\"'`")


def build_suite(spec: SuiteSpec, columns: set[str] | None = None, history: History | None = None,
                profile: dict | None = None) -> gx.ExpectationSuite:
    """The GX suite for `spec`; with `columns`, checks needing an absent column are left out.

    With `history` (and the slice's `profile`), the drift checks against the last validated run
    are part of it; checks that cannot run (nothing to compare with) are left out.
    """
    _quiet_gx()
    import great_expectations as gx

    # All at once: add_expectation on a suite saves the whole suite to the active context's
    # store after each one (quadratic, and a file write each with the docs' suite store).
    return gx.ExpectationSuite(name=spec.name, expectations=[
        _expectation(check) for check in _checks(spec, history, profile)
        if check.skip is None and (columns is None or all(c in columns for c in check.columns))])


@dataclass(frozen=True)
class ValidationOutcome:
    success: bool
    statistics: dict
    # One dict per check: check, expectation (in words), bound (text), observed (text),
    # expectation_type, kwargs, success (None when skipped), observed_value (aggregates: the
    # value; column-map checks: share of non-null rows passing; quantiles: the quantile; shares:
    # the share), previous (drift: the last run's value), reference (drift: what the bound was
    # derived from), unexpected_count, unexpected_percent,
    # partial_unexpected (first 5), skipped (reason or None), exception (message or None),
    # message (a failure in one line, else None).
    results: list[dict]
    result_json: str
    docs_path: Path | None
    # Why Data Docs were asked for and not written (docs_path is then None); the validation
    # itself is complete either way.
    docs_error: str | None = None

    def failed_checks(self) -> list[str]:
        return [r["check"] for r in self.results if r["success"] is False]

    def skipped_checks(self) -> list[str]:
        return [r["check"] for r in self.results if r["skipped"]]

    def failure_messages(self) -> list[str]:
        """One line per failed check: what, observed, bound (e.g. the language whose share moved)."""
        return [r["message"] for r in self.results if r["success"] is False]


def _quiet_gx() -> None:
    # GX 1.24 sends no usage analytics, but earlier GX releases did unless this is "false";
    # setting it costs nothing and keeps a downgrade from phoning home.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _to_pandas(df: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(df, pd.DataFrame):
        return df.copy()
    to_pandas = getattr(df, "to_pandas", None)
    if to_pandas is None:
        raise TypeError(f"validate_slice needs a pandas or polars DataFrame, got {type(df).__name__}")
    try:
        return to_pandas()
    except ImportError:  # polars builds without pyarrow
        return pd.DataFrame(df.to_dict(as_series=False))


def _context(docs_dir: Path | None) -> Any:
    """A fresh in-memory context per call: repeated calls share no names and leak nothing.

    With `docs_dir`, validation results and suites are kept as JSON under it, so the Data Docs
    list every run validated into that directory and every suite those runs were checked against.
    (With suites in memory, GX's index builder deleted every other suite's page as "missing"
    while the kept validation results still linked to them: five of six links were dead.)
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults()
    config = DataContextConfig(
        store_backend_defaults=defaults,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={},
    )
    if docs_dir is not None:
        for name, class_name, folder in (
            (defaults.validation_results_store_name, "ValidationResultsStore", "_validation_results"),
            (defaults.expectations_store_name, "ExpectationsStore", "_expectation_suites"),
        ):
            config.stores[name] = {
                "class_name": class_name,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(docs_dir / folder)},
            }
    return gx.get_context(mode="ephemeral", project_config=config)


def validate_slice(
    df: pd.DataFrame | pl.DataFrame,
    spec: SuiteSpec,
    docs_dir: Path | None = None,
    run_name: str = "",
    history: History | None = None,
) -> ValidationOutcome:
    """Validate one slice against `spec`; optionally write Data Docs into `docs_dir`.

    Expected columns: doc_id, text, lang, quality, is_duplicate, pii_*_count, n_bytes and the
    signals in `spec.drift_quantiles`. A check whose column is absent is skipped and reported
    (success None), never raised. With `history` (see History) the kept share and the drift
    checks against the last validated run are part of the suite.
    """
    _quiet_gx()
    started = time.perf_counter()
    from great_expectations.core.run_identifier import RunIdentifier

    frame = _to_pandas(df)
    if "lang" in frame.columns:
        # GX leaves nulls out of the share; an unidentified language must count against it.
        frame["lang"] = frame["lang"].astype(object).where(frame["lang"].notna(), _NULL_LANG)
    if "n_bytes" in frame.columns:
        frame["tokens"] = frame["n_bytes"].astype(float) / store.BYTES_PER_TOKEN
    profile = slice_profile(frame, None if history is None else history.n_documents, spec.quantiles())
    checks = _checks(spec, history, profile)
    for check in checks:
        if check.indicator is not None and check.indicator[1] in frame.columns:
            kind, column, value = check.indicator
            x = frame[column]
            if kind == "eq":
                frame[check.kwargs["column"]] = (x == value).astype(float)
            else:  # nulls stay null, so the share is over documents with a value, like the profile's
                frame[check.kwargs["column"]] = ((x < value).astype(float) + 0.5 * (x == value)).where(x.notna())
    columns = set(map(str, frame.columns))
    # Resolved: GX resolves relative store paths against its own root, not the caller's cwd.
    docs_dir = Path(docs_dir).resolve() if docs_dir is not None else None

    # Data Docs are a report about the validation, not part of it: a folder that cannot be
    # written (read-only, full, a file in the way) costs the report, never the result.
    docs_error = None
    try:
        with gx_errors():
            context = _context(docs_dir)
    except Exception as exc:
        if docs_dir is None:
            raise
        docs_error = _docs_failure(docs_dir, exc)
        context = _context(None)
    run_id = RunIdentifier(run_name=run_name or None)
    suite = build_suite(spec, columns, history, profile)
    try:
        result = _run_suite(context, spec, suite, frame, run_id)
    except OSError as exc:  # the results or the suite kept under docs_dir could not be written
        if docs_dir is None or docs_error is not None:
            raise
        docs_error = _docs_failure(docs_dir, exc)
        context = _context(None)
        result = _run_suite(context, spec, build_suite(spec, columns, history, profile), frame, run_id)

    by_check = {r.expectation_config.meta.get("check"): r for r in result.results}
    rows = [_result_row(check, by_check.get(check.check), columns) for check in checks]
    for row in rows:
        if row["check"] == "quality_q10" and row["success"] is not None:
            row["observed_value"] = _lower_quantile(frame["quality"], QUALITY_QUANTILE)
    for check, row in zip(checks, rows):
        _describe(row, check)
    ran = [r for r in rows if r["success"] is not None]
    success = all(r["success"] for r in ran)
    statistics = {
        "evaluated_expectations": len(ran),
        "successful_expectations": sum(1 for r in ran if r["success"]),
        "unsuccessful_expectations": sum(1 for r in ran if not r["success"]),
        "success_percent": round(100.0 * sum(1 for r in ran if r["success"]) / len(ran), 3) if ran else None,
        "skipped_expectations": sum(1 for r in rows if r["skipped"]),
        "row_count": int(len(frame)),
        "seconds": None,
    }

    docs_path = None
    if docs_dir is not None and docs_error is None:
        try:
            docs_path = build_docs(context, docs_dir, run_id, spec.name)
        except Exception as exc:
            docs_error = _docs_failure(docs_dir, exc)
    statistics["seconds"] = round(time.perf_counter() - started, 3)

    result_json = json.dumps(
        {
            "suite": spec.name,
            "spec": spec.to_dict(),
            "run_name": run_name,
            "success": success,
            "statistics": statistics,
            "results": rows,
            "profile": profile,
            "compared_with": None if history is None else (history.previous_run or None),
            "great_expectations": result.to_json_dict(),
            **({"data_docs_error": docs_error} if docs_error else {}),
        },
        default=str,
        sort_keys=True,
    )
    return ValidationOutcome(success, statistics, rows, result_json, docs_path, docs_error)


def _run_suite(context: Any, spec: SuiteSpec, suite: Any, frame: pd.DataFrame, run_id: Any) -> Any:
    import great_expectations as gx

    batch = (
        context.data_sources.add_pandas("slice")
        .add_dataframe_asset("documents")
        .add_batch_definition_whole_dataframe("whole")
    )
    # add_or_update: with docs_dir the suite store is on disk and holds the suite's last version.
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{spec.name}-validation", data=batch, suite=suite)
    )
    return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY", run_id=run_id)


def _docs_failure(docs_dir: Path, exc: BaseException) -> str:
    why = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:500] or type(exc).__name__
    where = getattr(exc, "filename", None)
    return (f"Data Docs not written to {docs_dir}: {why}"
            + (f" ({where})" if where and str(where) != str(docs_dir) else ""))


def _lower_quantile(values: pd.Series, q: float) -> float | None:
    """The value at rank floor(q*n) of the sorted non-null values (the largest for q = 1).

    Unlike an interpolated quantile, it is >= m exactly when at most q*n values are below m,
    i.e. exactly when the `mostly` check passes, so the report never contradicts the verdict.
    """
    import numpy as np

    present = values.dropna().to_numpy(dtype=float)
    if present.size == 0:
        return None
    rank = min(math.floor(q * present.size + 1e-9), present.size - 1)
    return float(np.partition(present, rank)[rank])


def _result_row(check: _Check, gx_result: Any, columns: set[str]) -> dict:
    row: dict[str, Any] = {
        "check": check.check,
        "expectation": check.expectation,
        "bound": check.bound,
        "observed": None,
        "expectation_type": check.expectation_type,
        "kwargs": dict(check.kwargs),
        "success": None,
        "observed_value": None,
        "previous": _plain(check.previous),
        "reference": check.reference or None,
        "unexpected_count": None,
        "unexpected_percent": None,
        "partial_unexpected": [],
        "skipped": None,
        "exception": None,
        "message": None,
    }
    if check.skip is not None:
        row["skipped"] = check.skip
        return row
    missing = [c for c in check.columns if c not in columns]
    if missing:
        row["skipped"] = f"column(s) absent from the slice: {', '.join(missing)}"
        return row
    if gx_result is None:  # pragma: no cover - every built expectation comes back
        row["exception"] = "no result returned by Great Expectations"
        return row
    detail = gx_result.result or {}
    row["success"] = bool(gx_result.success)
    row["unexpected_count"] = _plain(detail.get("unexpected_count"))
    row["unexpected_percent"] = _plain(detail.get("unexpected_percent"))
    observed = _plain(detail.get("observed_value"))
    if observed is None and row["unexpected_percent"] is not None:
        # Column-map checks: the observed value is the share of non-null rows that pass,
        # the quantity `mostly` is compared with.
        observed = 1.0 - row["unexpected_percent"] / 100.0
    row["observed_value"] = _plain(check.observed) if check.observed is not None else observed
    row["partial_unexpected"] = [
        _plain(v) for v in (detail.get("partial_unexpected_list") or [])[:_PARTIAL_UNEXPECTED_KEEP]
    ]
    info = gx_result.exception_info or {}
    if info.get("raised_exception"):
        row["exception"] = str(info.get("exception_message"))
    return row


def _describe(row: dict, check: _Check) -> None:
    """Fill `observed` (text) and, for a failure, `message` from the row's values."""
    value = row["observed_value"]
    if row["success"] is None:
        row["observed"] = "-"
        return
    text = _share(value) if check.fmt == "share" and value is not None else _num(value)
    if check.fmt == "share" and row.get("unexpected_count"):
        text += f" ({row['unexpected_count']:,} outside)"
    if check.observed_note:
        text += f" ({check.observed_note})"
    row["observed"] = text
    if row["success"] is False:
        what = row["expectation"] or row["check"]
        row["message"] = (f"{row['check']}: {what} is {text}, bound {row['bound'] or '-'}"
                          + (f" ({row['reference']})" if row["reference"] else "")
                          + (f" ({row['exception']})" if row["exception"] else ""))


def _plain(value: Any) -> Any:
    """numpy scalars -> Python, so rows serialize with plain `json`."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (list, dict, str)):
        try:
            return item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- the validation stage: a stored slice against its suite ---------------------------------

# Where the profile of a recipe's last passing validation is kept (the store's meta table):
# older slices are pruned with their validations (recipes._prune_older), so the validations
# table cannot be the memory the drift checks compare with.
_BASELINE_KEY = "validation_baseline:{name}"


def slice_frame(con: duckdb.DuckDBPyConnection, slice_id: str, threshold: float | None,
                signals: Iterable[str] = ()) -> pl.DataFrame:
    """The kept documents of a slice, as the validation suite sees them (text truncated), with
    their bytes and the extra `signals` the store holds (the drift checks' quantiles)."""
    import polars as pl

    dup = "false"
    if threshold is not None:
        dup = ("coalesce((SELECT NOT c.is_representative FROM dup_clusters c "
               "WHERE c.doc_id = d.doc_id AND c.threshold = $threshold), false)")
    has_signals = store.table_exists(con, "signals")
    held = store.signal_columns(con) if has_signals else set()
    fixed = ("lang", "quality", *PII_COLUMNS)
    extra = [c for c in dict.fromkeys(signals) if c in held and c not in fixed]
    cols = ", ".join(f"s.{store.ident(c)}" for c in (*fixed, *extra)) if has_signals else \
        ", ".join(f"NULL AS {c}" for c in fixed)
    sql = f"""
        SELECT d.doc_id, left(d.text, 200) AS text, d.n_bytes,
               ({dup}) OR count(*) OVER (PARTITION BY d.text_hash) > 1 AS is_duplicate, {cols}
        FROM decisions k JOIN documents d USING (doc_id) {'LEFT JOIN signals s USING (doc_id)' if has_signals else ''}
        WHERE k.slice_id = $slice AND k.kept"""
    params = {"slice": slice_id}
    if threshold is not None:
        params["threshold"] = threshold
    return pl.from_arrow(store.arrow(con, sql, params))


def _history(con: duckdb.DuckDBPyConnection, recipe, slice_id: str) -> tuple[History, str | None]:
    """What this slice is compared with: the last passing validation of the same recipe."""
    row = con.execute("SELECT n_documents, signals_version FROM slices WHERE slice_id = ?", [slice_id]).fetchone()
    n_documents, signals_version = row if row else (store.count_rows(con, "documents"), None)
    raw = store.get_meta(con, _BASELINE_KEY.format(name=recipe.name))
    try:
        base = json.loads(raw) if raw else None
    except ValueError:
        base = None
    if not isinstance(base, dict) or not isinstance(base.get("profile"), dict):
        return History(n_documents, None, f"first validated run of recipe {recipe.name!r}: nothing to compare "
                                          "with yet"), signals_version
    label = f"run {base.get('run_id')} (slice {base.get('slice_id')}, validated {str(base.get('validated_at'))[:19]})"
    if base.get("recipe_id") != recipe.recipe_id:
        return History(n_documents, None, f"recipe {recipe.name!r} changed since its last validated {label}: "
                                          "drift is measured from this run on"), signals_version
    changed = None
    if signals_version and base.get("signals_version") and base["signals_version"] != signals_version:
        changed = (f"signals re-scored since {label} (version {base['signals_version']} -> {signals_version}): "
                   "their distributions are not comparable")
    return History(n_documents, base["profile"], label, changed), signals_version


def validate_in_store(con: duckdb.DuckDBPyConnection, db: Path, recipe, slice_id: str, run_id: int | None):
    """Run the recipe's suite (generated once, then editable at store.suite_path) on a stored
    slice and store the result in `validations`; a passing run becomes the recipe's reference
    for the drift checks of the next one."""
    import polars as pl

    path = store.suite_path(db, recipe.name)
    spec = load_suite_spec(path) if path.exists() else None
    frame = slice_frame(con, slice_id, recipe.dedup.near_threshold,
                        (spec or SuiteSpec(name=recipe.name)).quantiles())
    if spec is None:
        tokens = int(frame["n_bytes"].sum() or 0) // store.BYTES_PER_TOKEN if len(frame) else 0
        spec = suite_spec_from_recipe(recipe.to_dict(), first_slice=(len(frame), tokens))
        save_suite_spec(spec, path)
    if recipe.redact_pii and len(frame):
        # What the export writes: every string field redacted, counted over all of them.
        from curate.signals.pii import count_exported, redact_document

        rows = con.execute(
            """SELECT d.doc_id, d.external_id, d.text, d.metadata::VARCHAR
               FROM decisions k JOIN documents d USING (doc_id)
               WHERE k.slice_id = ? AND k.kept ORDER BY d.doc_id""", [slice_id]).fetchall()
        counts = count_exported([redact_document(e, t, m) for _, e, t, m in rows])
        counts = counts.with_columns(pl.Series("doc_id", [r[0] for r in rows], dtype=pl.String))
        frame = frame.drop([c for c in counts.columns if c != "doc_id" and c in frame.columns]).join(
            counts, on="doc_id", how="left")
    history, signals_version = _history(con, recipe, slice_id)
    docs_dir = store.data_docs_dir(db)
    outcome = validate_slice(frame, spec, docs_dir=docs_dir, run_name=f"{slice_id}-run{run_id}", history=history)
    if outcome.docs_error:  # the result is stored all the same (docs_path NULL, the reason in result_json)
        import sys

        print(f"curate: warning: {outcome.docs_error}", file=sys.stderr)
    validated_at = store.now()
    with store.transaction(con):
        store.insert(con, "validations", {
            "slice_id": slice_id, "suite": spec.name, "success": outcome.success,
            "statistics": json.dumps(outcome.statistics, default=str), "result_json": outcome.result_json,
            "docs_path": str(outcome.docs_path) if outcome.docs_path else None, "validated_at": validated_at,
            "run_id": run_id})
        if outcome.success:
            store.set_meta(con, _BASELINE_KEY.format(name=recipe.name), json.dumps({
                "recipe_id": recipe.recipe_id, "slice_id": slice_id, "run_id": run_id,
                "validated_at": str(validated_at), "signals_version": signals_version,
                "profile": json.loads(outcome.result_json)["profile"]}, default=str))
    return outcome


# --- what the Validation page shows ---------------------------------------------------------

_ORDER = {False: 0, True: 1, None: 2}  # failures first, then passes, then what did not run


def validation_report(con: duckdb.DuckDBPyConnection, slice_id: str) -> dict | None:
    """The latest validation of a slice, as the Validation page shows it: one row per check
    (expectation, bound, observed, result; failures first), what drift compared with, the docs.

    Rows stored before bounds were recorded get theirs from the expectation's arguments.
    """
    if not store.table_exists(con, "validations"):
        return None
    row = con.execute(
        """SELECT success, result_json, docs_path, validated_at, run_id, suite FROM validations
           WHERE slice_id = ? ORDER BY validated_at DESC LIMIT 1""", [slice_id]).fetchone()
    if row is None:
        return None
    success, result_json, docs_path, validated_at, run_id, suite = row
    try:
        stored = json.loads(result_json) if result_json else {}
    except ValueError:
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    checks = []
    for r in stored.get("results") or []:
        if not isinstance(r, dict):
            continue
        ok = r.get("success") if r.get("success") in (True, False) else None
        checks.append({
            "check": str(r.get("check") or ""),
            "expectation": str(r.get("expectation") or r.get("check") or ""),
            "bound": str(r.get("bound") or _bound_from_kwargs(r.get("kwargs"))),
            "observed": str(r.get("observed") or _num(_plain_number(r.get("observed_value")))),
            "success": ok,
            "note": str(r.get("skipped") or r.get("exception") or r.get("reference") or ""),
        })
    checks.sort(key=lambda c: _ORDER[c["success"]])
    return {"slice_id": slice_id, "suite": suite, "success": bool(success), "validated_at": validated_at,
            "run_id": run_id, "docs_path": docs_path, "docs_error": stored.get("data_docs_error"),
            "compared_with": stored.get("compared_with"), "checks": checks}


def _plain_number(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else (
        None if value is None else str(value))


def _bound_from_kwargs(kwargs: Any) -> str:
    """A bound in words from a stored expectation's arguments (results stored without one)."""
    if not isinstance(kwargs, dict):
        return "-"
    parts = []
    if kwargs.get("value_set") is not None:
        parts.append("in {" + ", ".join(map(str, kwargs["value_set"])) + "}")
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if lo is not None and hi is not None:
        parts.append(f"{_num(lo)} - {_num(hi)}")
    elif lo is not None:
        parts.append(f">= {_num(lo)}")
    elif hi is not None:
        parts.append(f"<= {_num(hi)}")
    if _is_number(kwargs.get("mostly")) and kwargs["mostly"] < 1:
        parts.append(f"for >= {_share(kwargs['mostly'])} of documents")
    return " ".join(parts) or "-"
