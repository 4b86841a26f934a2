"""Great Expectations (1.x) suites for cleaned slices, and their Data Docs.

A slice's contract is a small `SuiteSpec` (derived from its recipe, editable as JSON/YAML);
`build_suite` turns it into a GX `ExpectationSuite`, `validate_slice` runs it on a dataframe.

GX is imported lazily: importing it takes ~4 s, and `curate --help` must stay instant.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate import store
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


@dataclass(frozen=True)
class SuiteSpec:
    """The data contract of one slice. `None` (or a share of 1.0 for duplicates) switches a check off."""

    name: str
    allowed_langs: tuple[str, ...] | None = None
    min_allowed_lang_share: float = 0.99
    max_dup_share: float = 0.0
    quality_min_mean: float | None = None
    quality_min_q10: float | None = None
    require_no_pii: bool = False
    min_documents: int = 1

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
        if not isinstance(self.require_no_pii, bool):
            raise ValueError(f"require_no_pii: must be true or false, got {self.require_no_pii!r}")
        if isinstance(self.min_documents, bool) or not isinstance(self.min_documents, int):
            raise ValueError(f"min_documents: must be an integer, got {self.min_documents!r}")
        if self.min_documents < 0:
            raise ValueError(f"min_documents: must be >= 0, got {self.min_documents}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def suite_spec_from_recipe(recipe: dict) -> SuiteSpec:
    """Restate a recipe's promises as expectations on the slice it builds.

    The `lang` filter's `allow` list fixes the allowed languages; the `quality` filter's `min`
    bounds both the mean and the 10% quantile (every kept document passed that `min`, so both
    must hold). Other signals' filters have no column in the validated slice and are ignored.
    Any dedup setting means no duplicate may be kept; PII redaction on export means every
    pii_* count must be 0.
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
        min_documents=1,
    )


def save_suite_spec(spec: SuiteSpec, path: str | Path) -> Path:
    """Write the spec as JSON (.json) or YAML (.yaml/.yml)."""
    path = Path(path)
    data = asdict(spec)
    if data["allowed_langs"] is not None:
        data["allowed_langs"] = list(data["allowed_langs"])
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
class _Check:
    """One expectation plus the columns it needs (absent columns skip it, and say so)."""

    check: str
    expectation_type: str
    kwargs: dict
    columns: tuple[str, ...]


def _checks(spec: SuiteSpec) -> list[_Check]:
    checks = [
        _Check("text_not_null", "expect_column_values_to_not_be_null", {"column": "text"}, ("text",)),
        # A regex search for any non-space character also rejects whitespace-only documents,
        # which a length >= 1 bound would let through.
        _Check(
            "text_not_blank",
            "expect_column_values_to_match_regex",
            {"column": "text", "regex": r"\S"},
            ("text",),
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
            )
        )
    if spec.max_dup_share < 1.0:
        checks.append(
            _Check(
                "no_duplicates",
                "expect_column_values_to_be_in_set",
                {"column": "is_duplicate", "value_set": [False], "mostly": 1.0 - spec.max_dup_share},
                ("is_duplicate",),
            )
        )
    if spec.quality_min_mean is not None:
        checks.append(
            _Check(
                "quality_mean",
                "expect_column_mean_to_be_between",
                {"column": "quality", "min_value": spec.quality_min_mean},
                ("quality",),
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
            )
        )
    if spec.require_no_pii:
        for column in PII_COLUMNS:
            checks.append(
                _Check(
                    f"no_{column.removesuffix('_count')}",
                    "expect_column_values_to_be_between",
                    {"column": column, "min_value": 0, "max_value": 0},
                    (column,),
                )
            )
    checks.append(
        _Check(
            "min_documents",
            "expect_table_row_count_to_be_between",
            {"min_value": spec.min_documents},
            (),
        )
    )
    return checks


def _expectation(check: _Check) -> Any:
    import great_expectations as gx

    cls_name = "".join(part.capitalize() for part in check.expectation_type.split("_"))
    cls = getattr(gx.expectations, cls_name)
    return cls(**check.kwargs, meta={"check": check.check})


def build_suite(spec: SuiteSpec, columns: set[str] | None = None) -> gx.ExpectationSuite:
    """The GX suite for `spec`; with `columns`, checks needing an absent column are left out."""
    _quiet_gx()
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=spec.name)
    for check in _checks(spec):
        if columns is None or all(c in columns for c in check.columns):
            suite.add_expectation(_expectation(check))
    return suite


@dataclass(frozen=True)
class ValidationOutcome:
    success: bool
    statistics: dict
    # One dict per check: check, expectation_type, kwargs, success (None when skipped),
    # observed_value (aggregates: the value; column-map checks: share of non-null rows passing;
    # quality_q10: the 10% quantile), unexpected_count, unexpected_percent, partial_unexpected
    # (first 5), skipped (reason or None), exception (message or None).
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

    With `docs_dir`, validation results are kept as JSON under it so the Data Docs index lists
    every run validated into that directory, not only the latest.
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
        config.stores[defaults.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir / "_validation_results"),
            },
        }
        config.data_docs_sites = {
            "curate": {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                # The suite store is in memory, so by default GX would delete every other
                # suite's page from the site as "missing"; keep them.
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "skip_and_clean_missing": False,
                },
            }
        }
    return gx.get_context(mode="ephemeral", project_config=config)


def validate_slice(
    df: pd.DataFrame | pl.DataFrame,
    spec: SuiteSpec,
    docs_dir: Path | None = None,
    run_name: str = "",
) -> ValidationOutcome:
    """Validate one slice against `spec`; optionally write Data Docs into `docs_dir`.

    Expected columns: doc_id, text, lang, quality, is_duplicate, pii_*_count. A check whose column
    is absent is skipped and reported (success None), never raised.
    """
    _quiet_gx()
    started = time.perf_counter()
    from great_expectations.core.run_identifier import RunIdentifier

    frame = _to_pandas(df)
    if "lang" in frame.columns:
        # GX leaves nulls out of the share; an unidentified language must count against it.
        frame["lang"] = frame["lang"].astype(object).where(frame["lang"].notna(), "<null>")
    columns = set(map(str, frame.columns))
    checks = _checks(spec)
    # Resolved: GX resolves relative store paths against its own root, not the caller's cwd.
    docs_dir = Path(docs_dir).resolve() if docs_dir is not None else None

    # Data Docs are a report about the validation, not part of it: a folder that cannot be
    # written (read-only, full, a file in the way) costs the report, never the result.
    docs_error = None
    try:
        with _gx_errors():
            context = _context(docs_dir)
    except Exception as exc:
        if docs_dir is None:
            raise
        docs_error = _docs_failure(docs_dir, exc)
        context = _context(None)
    run_id = RunIdentifier(run_name=run_name or None)
    try:
        result = _run_suite(context, spec, columns, frame, run_id)
    except OSError as exc:  # the validation results kept under docs_dir could not be written
        if docs_dir is None or docs_error is not None:
            raise
        docs_error = _docs_failure(docs_dir, exc)
        context = _context(None)
        result = _run_suite(context, spec, columns, frame, run_id)

    by_check = {r.expectation_config.meta.get("check"): r for r in result.results}
    rows = [_result_row(check, by_check.get(check.check), columns) for check in checks]
    for row in rows:
        if row["check"] == "quality_q10" and row["success"] is not None:
            row["observed_value"] = _lower_quantile(frame["quality"], QUALITY_QUANTILE)
    skipped = [r["check"] for r in rows if r["skipped"]]
    statistics = {
        **{k: v for k, v in result.statistics.items()},
        "skipped_expectations": len(skipped),
        "row_count": int(len(frame)),
        "seconds": round(time.perf_counter() - started, 3),
    }
    success = bool(result.success)

    docs_path = None
    if docs_dir is not None and docs_error is None:
        try:
            docs_path = _build_docs(context, docs_dir, run_id)
        except Exception as exc:
            docs_error = _docs_failure(docs_dir, exc)

    result_json = json.dumps(
        {
            "suite": spec.name,
            "spec": asdict(spec),
            "run_name": run_name,
            "success": success,
            "statistics": statistics,
            "results": rows,
            "great_expectations": result.to_json_dict(),
            **({"data_docs_error": docs_error} if docs_error else {}),
        },
        default=str,
        sort_keys=True,
    )
    return ValidationOutcome(success, statistics, rows, result_json, docs_path, docs_error)


def _run_suite(context: Any, spec: SuiteSpec, columns: set[str], frame: pd.DataFrame, run_id: Any) -> Any:
    import great_expectations as gx

    batch = (
        context.data_sources.add_pandas("slice")
        .add_dataframe_asset("documents")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(build_suite(spec, columns))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{spec.name}-validation", data=batch, suite=suite)
    )
    return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY", run_id=run_id)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _gx_errors():
    """GX logs a page it failed to write (with a traceback) and goes on; collect those errors
    instead of printing them, and raise the first one as the reason the docs failed."""
    gx_logger = logging.getLogger("great_expectations")
    handler, propagate = _Collect(), gx_logger.propagate
    gx_logger.addHandler(handler)
    gx_logger.propagate = False
    try:
        yield
    finally:
        gx_logger.removeHandler(handler)
        gx_logger.propagate = propagate
    if handler.records:
        text = handler.records[0].getMessage()
        detail = text.split("Detailed information follows:", 1)[-1].split("Traceback:", 1)[0]
        raise OSError(" ".join(detail.split()).rstrip(". ")[:500] or "Great Expectations reported an error")


def _build_docs(context: Any, docs_dir: Path, run_id: Any) -> Path:
    docs_dir.mkdir(parents=True, exist_ok=True)
    # Render only this run's page (and its suite): older runs' pages are already on disk.
    this_run = [k for k in context.validation_results_store.list_keys() if k.run_id == run_id]
    this_suite = context.expectations_store.list_keys()
    with _gx_errors():
        urls = context.build_data_docs(site_names=["curate"], resource_identifiers=[*this_run, *this_suite])
    docs_path = docs_dir / "index.html"
    if not docs_path.is_file():
        raise OSError(f"the Data Docs build reported {urls} but wrote no {docs_path}")
    return docs_path


def _docs_failure(docs_dir: Path, exc: BaseException) -> str:
    why = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:500] or type(exc).__name__
    where = getattr(exc, "filename", None)
    return (f"Data Docs not written to {docs_dir}: {why}"
            + (f" ({where})" if where and str(where) != str(docs_dir) else ""))


def _lower_quantile(values: pd.Series, q: float) -> float | None:
    """The value at rank floor(q*n) of the sorted non-null values.

    Unlike an interpolated quantile, it is >= m exactly when at most q*n values are below m,
    i.e. exactly when the `mostly` check passes, so the report never contradicts the verdict.
    """
    import numpy as np

    present = values.dropna().to_numpy(dtype=float)
    if present.size == 0:
        return None
    rank = math.floor(q * present.size + 1e-9)
    return float(np.partition(present, rank)[rank])


def _result_row(check: _Check, gx_result: Any, columns: set[str]) -> dict:
    row: dict[str, Any] = {
        "check": check.check,
        "expectation_type": check.expectation_type,
        "kwargs": dict(check.kwargs),
        "success": None,
        "observed_value": None,
        "unexpected_count": None,
        "unexpected_percent": None,
        "partial_unexpected": [],
        "skipped": None,
        "exception": None,
    }
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
    row["observed_value"] = observed
    row["partial_unexpected"] = [
        _plain(v) for v in (detail.get("partial_unexpected_list") or [])[:_PARTIAL_UNEXPECTED_KEEP]
    ]
    info = gx_result.exception_info or {}
    if info.get("raised_exception"):
        row["exception"] = str(info.get("exception_message"))
    return row


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


def slice_frame(con: duckdb.DuckDBPyConnection, slice_id: str, threshold: float | None) -> pl.DataFrame:
    """The kept documents of a slice, as the validation suite sees them (text truncated)."""
    import polars as pl

    dup = "false"
    if threshold is not None:
        dup = ("coalesce((SELECT NOT c.is_representative FROM dup_clusters c "
               "WHERE c.doc_id = d.doc_id AND c.threshold = $threshold), false)")
    pii = ", ".join(f"s.{c}" for c in PII_COLUMNS)
    has_signals = store.table_exists(con, "signals")
    sql = f"""
        SELECT d.doc_id, left(d.text, 200) AS text, s.lang, s.quality,
               ({dup}) OR count(*) OVER (PARTITION BY d.text_hash) > 1 AS is_duplicate, {pii}
        FROM decisions k JOIN documents d USING (doc_id) {'LEFT JOIN signals s USING (doc_id)' if has_signals else ''}
        WHERE k.slice_id = $slice AND k.kept"""
    params = {"slice": slice_id}
    if threshold is not None:
        params["threshold"] = threshold
    return pl.from_arrow(store.arrow(con, sql, params))


def validate_in_store(con: duckdb.DuckDBPyConnection, db: Path, recipe, slice_id: str, run_id: int | None):
    """Run the recipe's suite (generated once, then editable at store.suite_path) on a stored
    slice and store the result in `validations`."""
    import polars as pl

    path = store.suite_path(db, recipe.name)
    if path.exists():
        spec = load_suite_spec(path)
    else:
        spec = suite_spec_from_recipe(recipe.to_dict())
        save_suite_spec(spec, path)
    frame = slice_frame(con, slice_id, recipe.dedup.near_threshold)
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
    docs_dir = store.data_docs_dir(db)
    outcome = validate_slice(frame, spec, docs_dir=docs_dir, run_name=f"{slice_id}-run{run_id}")
    if outcome.docs_error:  # the result is stored all the same (docs_path NULL, the reason in result_json)
        import sys

        print(f"curate: warning: {outcome.docs_error}", file=sys.stderr)
    store.insert(con, "validations", {
        "slice_id": slice_id, "suite": spec.name, "success": outcome.success,
        "statistics": json.dumps(outcome.statistics, default=str), "result_json": outcome.result_json,
        "docs_path": str(outcome.docs_path) if outcome.docs_path else None, "validated_at": store.now(),
        "run_id": run_id})
    return outcome
