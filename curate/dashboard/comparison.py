"""The comparison page's reads, tables and charts; the statistics and verdicts are in
curate/comparison.py (shared with `curate train`'s table). The reads take an open connection,
as `queries` does, and the charts import Altair only when drawn.
"""
from __future__ import annotations

import importlib.util
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from curate.comparison import (
    BEYOND,
    BY_KEY,
    COPY_BINS,
    JUNK_CEILING,
    Judgement,
    Run,
    copy_bin_label,
    exposure_key,
    unigram_bpb_of_ids,
)
from curate.store import table_exists

if TYPE_CHECKING:
    import pandas as pd


def _shipped_tokenizer() -> Path | None:
    # find_spec on a top-level package locates it without running its __init__ (which imports torch)
    spec = importlib.util.find_spec("train")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "tokenizer.json"
    return path if path.is_file() else None


def unigram_bpb(con, val_text: str | None) -> float | None:
    """The unigram baseline of the validation text at `val_text` with the shipped tokenizer (the
    one every model shares); None when either cannot be read. `con` is unused: the signature of a
    dashboard read, so the result is cached with the store's."""
    if not val_text:
        return None
    path, tok = Path(val_text), _shipped_tokenizer()
    if tok is None or not path.is_file():
        return None
    try:
        from tokenizers import Tokenizer

        text = path.read_text(encoding="utf-8")
        ids = Tokenizer.from_file(str(tok)).encode(text, add_special_tokens=False).ids
        return unigram_bpb_of_ids(ids, len(text.encode("utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, ImportError):
        return None


# --- reads ---------------------------------------------------------------------------------------

RUN_COLUMNS = ["train_run_id", "slice_id", "slice_name", "slice", "seed", "tokens", "n_params", "preset",
               "token_budget", "val_text", "setup", "created_at", "documents_kept", *BY_KEY, "memorization_probes",
               "unigram_bpb"]


def train_runs(con) -> pd.DataFrame:
    """One row per trained model: slice (a unique label), seed, tokens, size, its training setup
    (preset, token budget, validation text: only models of one setup are compared), every metric."""
    import pandas as pd

    if not table_exists(con, "train_runs"):
        return pd.DataFrame(columns=RUN_COLUMNS)
    rows = con.execute(
        """SELECT t.train_run_id, t.slice_id, t.slice_name, t.seed, t.tokens, t.n_params, t.config, t.val_text,
                  t.bpb, t.metrics, t.created_at, s.n_kept
           FROM train_runs t LEFT JOIN slices s USING (slice_id) ORDER BY t.slice_name, t.slice_id, t.seed"""
    ).fetchall()
    out = []
    for run_id, sid, name, seed, tokens, n_params, config, val_text, bpb, metrics, created, kept in rows:
        cfg, met = _json_object(config), _json_object(metrics)
        preset, budget = cfg.get("preset"), cfg.get("token_budget")
        setup = ((f"{preset} preset, " if preset else "") + f"{int(budget or tokens):,} tokens"
                 + (f", bits/byte on {val_text}" if val_text else ""))
        out.append({"train_run_id": run_id, "slice_id": sid, "slice_name": name, "slice": name, "seed": seed,
                    "tokens": tokens, "n_params": n_params, "preset": preset, "token_budget": budget,
                    "val_text": val_text, "setup": setup, "created_at": created, "documents_kept": kept,
                    "bpb": bpb, **{k: _number(met.get(k)) for k in BY_KEY if k != "bpb"},
                    "memorization_probes": _number(met.get("memorization_probes")),
                    "unigram_bpb": _number(met.get("unigram_bpb"))})
    df = pd.DataFrame(out, columns=RUN_COLUMNS)
    # two slices of one name (a recipe edited since) are told apart by their id
    names = df.groupby("slice_name")["slice_id"].nunique()
    twice = df["slice_name"].map(names) > 1
    df.loc[twice, "slice"] = df.loc[twice, "slice_name"] + " (" + df.loc[twice, "slice_id"].str[:12] + ")"
    return df


def _json_object(text) -> dict:
    try:
        v = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return v if isinstance(v, dict) else {}


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def setups(runs: pd.DataFrame) -> list[str]:
    """The training setups, the one with the most slices first (then the latest)."""
    if runs.empty:
        return []
    g = runs.groupby("setup").agg(slices=("slice_id", "nunique"), latest=("created_at", "max"))
    return list(g.sort_values(["slices", "latest"], ascending=False).index)


def runs_of(runs: pd.DataFrame) -> list[Run]:
    return [Run(r["slice"], int(r["seed"]), _int(r["tokens"]), _int(r["n_params"]),
                {k: _number(r[k]) for k in BY_KEY}) for _, r in runs.iterrows()]


def _int(v) -> int | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)


def generation_health(con, run_ids: list[str]) -> dict[str, int]:
    """Over these models' samples: how many, how many junk, blank, holding a replacement character."""
    empty = {"samples": 0, "junk": 0, "blank": 0, "replacement": 0}
    if not run_ids or not table_exists(con, "generations"):
        return empty
    marks = ", ".join("?" for _ in run_ids)
    row = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE junk), count(*) FILTER (WHERE regexp_matches(sample, '^\\s*$')),
                   count(*) FILTER (WHERE contains(sample, '\ufffd'))
            FROM generations WHERE train_run_id IN ({marks})""", list(run_ids)).fetchone()
    return dict(zip(empty, (int(v or 0) for v in row)))


# --- tables and sentences ------------------------------------------------------------------------


def table(judgements: Sequence[Judgement], baseline: str) -> pd.DataFrame:
    """The comparison as short strings, one row per slice and metric: it fits the page."""
    import pandas as pd

    rows = []
    for j in judgements:
        d = j.difference
        diff = "—" if d is None else (j.metric.signed(d.diff) + ("" if d.half_width is None else
                                                                 f" ± {j.metric.signed(d.half_width)[1:]}"))
        rows.append({"slice": j.slice, "metric": j.metric.label,
                     baseline: "—" if j.base_mean is None else j.metric.value(j.base_mean),
                     "this slice": "—" if j.mean is None else j.metric.value(j.mean),
                     "difference (95%)": diff,
                     "seeds": "—" if d is None else f"{d.n} / {d.n_base}",
                     "verdict": j.verdict})
    return pd.DataFrame(rows, columns=["slice", "metric", baseline, "this slice", "difference (95%)", "seeds",
                                       "verdict"])


def exposure_means(runs: pd.DataFrame) -> pd.DataFrame:
    """Per slice: its exposure at each copy count measured, as "mean ± sd" over its seeds (bits/byte:
    held-out clean text minus training documents the corpus holds k times)."""
    import pandas as pd

    cols = [exposure_key(b) for b in COPY_BINS if exposure_key(b) in runs and runs[exposure_key(b)].notna().any()]
    if runs.empty or not cols:
        return pd.DataFrame()
    rows = []
    for name, g in runs.groupby("slice", sort=False):
        row = {"slice": name, "seeds": str(len(g))}
        for c in cols:
            v = g[c].dropna()
            row[copy_bin_label(c.removeprefix("exposure_"))] = (
                "—" if v.empty else f"{v.mean():+.3f}" + (f" ± {v.std():.3f}" if len(v) > 1 else ""))
        rows.append(row)
    return pd.DataFrame(rows)


def chart_data(judgements: Sequence[Judgement], metric: str) -> pd.DataFrame:
    """One row per slice for the difference chart: the difference, its interval, the verdict."""
    import pandas as pd

    m = BY_KEY[metric]
    scale = 100.0 if m.share else 1.0
    rows = [{"slice": j.slice, "difference": j.difference.diff * scale,
             "lo": None if j.difference.lo is None else j.difference.lo * scale,
             "hi": None if j.difference.hi is None else j.difference.hi * scale,
             "verdict": j.verdict, "seeds": f"{j.difference.n} / {j.difference.n_base}",
             "reading": j.verdict if j.verdict in _READINGS else _NOT_BEYOND}
            for j in judgements if j.metric.key == metric and j.difference is not None]
    return pd.DataFrame(rows, columns=["slice", "difference", "lo", "hi", "verdict", "seeds", "reading"])


_NOT_BEYOND = "within noise, one seed or too small to judge"
_READINGS = {f"better, {BEYOND}": "#2e7d32", f"worse, {BEYOND}": "#c62828", f"higher, {BEYOND}": "#1565c0",
             f"lower, {BEYOND}": "#1565c0", _NOT_BEYOND: "#9e9e9e"}


def difference_chart(data: pd.DataFrame, metric: str, baseline: str):
    """Horizontal bars from 0 to each slice's difference to the baseline, its 95% interval as a
    line; the axis always holds 0, so a small gap looks small."""
    import altair as alt

    m = BY_KEY[metric]
    unit = " (percentage points)" if m.share else (" (bits/byte)" if m.key == "bpb" or m.bits else "")
    good = ("neither side of 0 is better" if m.lower_is_better is None else
            f"{'left' if m.lower_is_better else 'right'} of 0 is better")
    title = alt.TitleParams(f"{m.label}: difference to {baseline}{unit}",
                            subtitle=f"bar: mean over seeds; line: 95% interval; {good}")
    base = alt.Chart(data)
    x = alt.X("difference:Q", title=f"difference to {baseline}{unit}", scale=alt.Scale(zero=True))
    y = alt.Y("slice:N", title=None, sort=None)
    tip = ["slice", alt.Tooltip("difference:Q", format=".3f"), alt.Tooltip("lo:Q", format=".3f"),
           alt.Tooltip("hi:Q", format=".3f"), "seeds", "verdict"]
    colour = alt.Color("reading:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=400),
                       scale=alt.Scale(domain=list(_READINGS), range=list(_READINGS.values())))
    bars = base.mark_bar(opacity=0.6).encode(x=x, y=y, color=colour, tooltip=tip)
    whiskers = base.mark_rule(strokeWidth=2, color="black").encode(x=alt.X("lo:Q", scale=alt.Scale(zero=True)),
                                                                   x2="hi:Q", y=y, tooltip=tip)
    zero = alt.Chart(data).mark_rule(color="gray").encode(x=alt.datum(0))
    # a band of 36 px a slice: the plot grows with the slices, title, axis and legend on top of it
    return alt.layer(bars, whiskers, zero).properties(title=title, height=alt.Step(36))


def absolute_chart(runs: pd.DataFrame, metric: str):
    """Each slice's mean as a bar from 0 and each seed as a dot."""
    import altair as alt

    m = BY_KEY[metric]
    base = alt.Chart(runs.dropna(subset=[metric]))
    y = alt.Y("slice:N", title=None, sort=None)
    bars = base.mark_bar(opacity=0.5).encode(x=alt.X(f"mean({metric}):Q", title=m.label, scale=alt.Scale(zero=True)),
                                             y=y)
    dots = base.mark_circle(size=60, color="black").encode(x=f"{metric}:Q", y=y, tooltip=["slice", "seed", metric])
    return alt.layer(bars, dots).properties(title=f"{m.label} per slice (bar: mean, dots: seeds)",
                                            height=alt.Step(36))


# --- generations, legibly ------------------------------------------------------------------------

_BREAKS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def legible(sample: str, max_chars: int = 600) -> str:
    """A generated sample as one plain line a reader can see whole: every line break shown as ⏎,
    runs of spaces and tabs as one space, other invisible characters (controls, zero-width
    marks) named as ⟨U+XXXX⟩, a replacement character left as � (it is what the model wrote).
    The result still has to reach the page as plain text (st.text), never as Markdown."""
    text = _BREAKS.sub(" ⏎ ", sample)
    text = "".join(f"⟨U+{ord(ch):04X}⟩" if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") and ch != "\t"
                   else ch for ch in text)
    text = _SPACES.sub(" ", text).strip()
    if not text:
        return "(blank: the model wrote nothing)" if not sample else "(blank: only whitespace)"
    if len(text) > max_chars:
        text = text[:max_chars] + f" … ({len(text) - max_chars:,} more characters)"
    return text


def samples_caveat(health: dict[str, int]) -> str | None:
    """What a reader must know before reading these samples: none when most are readable."""
    n = health.get("samples", 0)
    if not n:
        return None
    junk, blank, repl = health["junk"], health["blank"], health["replacement"]
    if junk / n < JUNK_CEILING and (blank + repl) / n < 0.5:
        return None
    parts = [f"{junk / n:.0%} of the {n:,} samples fail the junk rules"]
    if blank:
        parts.append(f"{blank / n:.0%} are blank")
    if repl:
        parts.append(f"{repl / n:.0%} hold replacement characters (�, bytes that are not UTF-8)")
    return ("The models are too small to generate readable text at this budget (" + ", ".join(parts)
            + "): compare bits/byte above, not these samples.")


def prompts(con, run_ids: Sequence[str]) -> list[tuple[int, str, str | None]]:
    """(prompt number, prompt, kind) of the prompts these models were sampled on."""
    if not run_ids or not table_exists(con, "generations"):
        return []
    marks = ", ".join("?" for _ in run_ids)
    return con.execute(f"""SELECT prompt_no, any_value(prompt), any_value(kind) FROM generations
                           WHERE train_run_id IN ({marks}) GROUP BY prompt_no ORDER BY prompt_no""",
                       list(run_ids)).fetchall()


def samples(con, prompt_no: int, run_ids: Sequence[str]) -> pd.DataFrame:
    """Each of these models' sample for one prompt."""
    import pandas as pd

    cols = ["train_run_id", "sample", "quality", "junk"]
    if not run_ids or not table_exists(con, "generations"):
        return pd.DataFrame(columns=cols)
    marks = ", ".join("?" for _ in run_ids)
    rows = con.execute(f"""SELECT train_run_id, sample, quality, junk FROM generations
                           WHERE prompt_no = ? AND train_run_id IN ({marks}) ORDER BY train_run_id""",
                       [int(prompt_no), *run_ids]).fetchall()
    return pd.DataFrame(rows, columns=cols)
