"""`curate sweep`: build one slice per value of a rule's bound, train one model per slice and seed
at one token budget, and tag the models with the sweep (curate/sweeps.py holds the recipes, the
sweep's identity and its curve).

Resuming is the default: a (slice, seed) the sweep has a model for, or one `curate train` (or a
sweep killed before it tagged its model) trained with the same setup, trains nothing. A killed
sweep rerun with the same command therefore trains only what is missing.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from curate import recipes, sweeps
from curate.errors import UsageError
from curate.recipes import Recipe, SliceResult
from train.pipeline import TrainPlan, check_plan, load_prompts, load_val_text, train_slices


@dataclass(frozen=True)
class SweepSpec:
    recipe: Recipe  # the base recipe
    signal: str
    values: tuple[float, ...]
    plan: TrainPlan
    bound: str | None = None  # None: the side the recipe's rule has

    def key(self) -> sweeps.SweepKey:
        _, bound = sweeps.sweep_rule(self.recipe, self.signal, self.bound)
        return sweeps.SweepKey(self.recipe, self.signal, bound, self.plan.tokens, self.plan.preset,
                               self.plan.batch_size)


@dataclass
class SweepReport:
    sweep_id: str
    bound: str
    slices: dict[float, SliceResult] = field(default_factory=dict)
    trained: list[str] = field(default_factory=list)  # train_run_ids trained by this run
    recorded: list[str] = field(default_factory=list)  # already the sweep's: nothing trained
    adopted: list[str] = field(default_factory=list)  # trained alike before, now tagged
    empty: list[float] = field(default_factory=list)  # values whose slice keeps no document


def check_spec(spec: SweepSpec) -> tuple[sweeps.SweepKey, list[Recipe]]:
    """Everything that can be refused before the store is opened: the rule, the values, the plan."""
    if not spec.values:
        raise UsageError("--values: at least one value is needed")
    key = spec.key()
    derived = [sweeps.derive(spec.recipe, spec.signal, key.bound, v) for v in spec.values]
    check_plan(spec.plan)
    return key, derived


def run_sweep(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    spec: SweepSpec,
    *,
    val_text_path: Path,
    prompts_path: Path | None,
    quality_model=None,
    run_id: int | None = None,
    on_log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Build every value's slice, then train the (slice, seed) pairs the sweep lacks."""
    say = on_log or (lambda m: None)
    key, derived = check_spec(spec)
    load_val_text(val_text_path)
    if prompts_path:
        load_prompts(prompts_path)
    values = sorted(set(float(v) for v in spec.values))
    config = {"recipe": spec.recipe.name, "recipe_origin": spec.recipe.origin, "signal": spec.signal,
              "bound": key.bound, "values": values, "seeds": list(spec.plan.seeds),
              "plan": dataclasses.asdict(spec.plan), "val_text": str(val_text_path),
              "prompts": None if prompts_path is None else str(prompts_path)}
    sweep_id = sweeps.record_sweep(con, key, config)
    report = SweepReport(sweep_id, key.bound)
    by_value = {float(v): r for v, r in zip(spec.values, derived)}
    # every slice first: cheap, and a slice that cannot be built stops the sweep before any training
    for value in values:
        res = recipes.build_slice(con, by_value[value], run_id)
        report.slices[value] = res
        say(f"slice {res.slice_id}: {spec.signal} {key.bound} {sweeps.value_text(value)} keeps "
            f"{res.n_kept:,} of {res.n_documents:,} documents")
        if res.n_kept == 0:
            report.empty.append(value)
    for value in values:
        res = report.slices[value]
        if res.n_kept == 0:
            continue
        for seed in spec.plan.seeds:
            done = sweeps.recorded_model(con, sweep_id, res.slice_id, seed)
            if done:
                report.recorded.append(done)
                continue
            alike = sweeps.model_trained_alike(con, key, res.slice_id, seed, str(val_text_path))
            if alike:
                sweeps.tag_model(con, sweep_id, value, res.slice_id, seed, alike)
                report.adopted.append(alike)
                continue
            rows = train_slices(con, db, [res.slice_id], dataclasses.replace(spec.plan, seeds=(seed,)),
                                val_text_path=val_text_path, prompts_path=prompts_path,
                                quality_model=quality_model, on_log=on_log)
            for row in rows:
                sweeps.tag_model(con, sweep_id, value, res.slice_id, seed, row["train_run_id"])
                report.trained.append(row["train_run_id"])
    return report
