"""What cleaning did to the models, said honestly: each slice's models against the models of
`raw` (the uncleaned slice), every difference with its spread over seeds and a verdict in words.

A difference is the mean over a slice's seeds minus the mean over the baseline's seeds. Its 95%
interval is Welch's t interval (the two slices' seeds are independent runs, their spreads may
differ); with a single seed on either side no spread can be computed and the verdict says so.
A difference is *within noise* when that interval covers 0 or the difference is under twice the
standard deviation of a difference of means (sqrt(sd_a²/n_a + sd_b²/n_b)); otherwise it is
*beyond noise*.

A measured gap can be real and still say nothing about the data, when the models are too small
to have learned more than which tokens are frequent. The verdict then says *too small to judge*,
for one of these reasons (each a constant below, explained where it is defined):

- a model saw fewer training tokens than it has parameters (TOKENS_PER_PARAM_FLOOR);
- every model's bits/byte is within UNIGRAM_MARGIN of a unigram model of the validation text,
  one that codes each token by its own frequency in that very text (an optimistic baseline:
  no unigram model trained on any slice does better);
- for the generation metrics: at least JUNK_CEILING of every slice's samples fail the junk rules;
- for memorization: no model continues any duplicated document verbatim.

The exposure metrics (the membership gap per copy count k: how much more predictable a model
finds its training documents duplicated k times than matched documents it never saw) measure
what one model did with data it saw, not which slice trains the better model, so no caveat
applies to them. Held-out bits/byte on junk has no better side (a model that finds spam
predictable has learned spam; one that does not has not): its verdict says *higher* or *lower*.

Plain lists and dicts in, verdicts out (no store, no Streamlit, no pandas), so `curate train`'s
table (train/pipeline.py) and the dashboard's comparison page (curate/dashboard/comparison.py,
its reads and charts) say the same thing.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# --- what is compared ----------------------------------------------------------------------------

BASELINE = "raw"  # the shipped recipe that keeps everything ingested


@dataclass(frozen=True)
class Metric:
    key: str  # the column in train_runs (bpb) or in its metrics JSON
    label: str
    lower_is_better: bool | None  # None: neither side is better (bits/byte on held-out junk)
    share: bool  # a share of samples or probes: shown in %, differences in percentage points
    generation: bool  # measured on generated samples (junk rules apply)
    kind: str = "model"  # which caveat applies: model (bits/byte), generation, memorization, exposure
    bits: bool = False  # in bits/byte

    def value(self, x: float) -> str:
        return f"{x:.1%}" if self.share else f"{x:.3f}"

    def amount(self, x: float) -> str:
        """A difference's magnitude with its unit."""
        if self.share:
            return f"{abs(x) * 100:.1f} points"
        return f"{abs(x):.3f} bits/byte" if self.key == "bpb" or self.bits else f"{abs(x):.3f}"

    def signed(self, x: float) -> str:
        sign = "−" if x < 0 else "+"
        return f"{sign}{abs(x) * 100:.1f} pts" if self.share else f"{sign}{abs(x):.3f}"


# Held-out documents of each kind the `strict` recipe drops, by the family of the rule that
# drops them (train/pipeline.py, HELDOUT_FAMILIES), beside clean held-out text.
HELDOUT_FAMILIES = ("clean", "boilerplate", "repetition", "spam", "mojibake", "language", "duplicates")
# The held-out share of the corpus's distinct texts, by text hash (train/pipeline.py): 5% is
# about 150 documents of the 3,000-document sample, a few of each kind strict drops.
HOLDOUT_PER_MILLE = 50


def is_held_out(text_hash: str) -> bool:
    """Is this text (its xxh3-128 hex text hash) held out of every slice's training data? The
    first 32 bits of the hash, mod 1000, below HOLDOUT_PER_MILLE (train/pipeline.py's SQL)."""
    return int(text_hash[:8], 16) % 1000 < HOLDOUT_PER_MILLE


# Copy counts of training documents, in powers of two (train/pipeline.py, copy_bin).
COPY_BINS = ("k1", "k2", "k3_4", "k5_8", "k9_16", "k17_32", "k33_64", "k65_128", "k129_256", "k257_plus")


def heldout_key(family: str) -> str:
    return f"heldout_bpb_{family}"


def exposure_key(copy_bin: str) -> str:
    return f"exposure_{copy_bin}"


def extracted_key(copy_bin: str) -> str:
    return f"extracted_{copy_bin}"


def verbatim_key(copy_bin: str) -> str:
    return f"verbatim_{copy_bin}"


def copy_bin_label(copy_bin: str) -> str:
    """k2 -> "k=2", k5_8 -> "k=5–8", k257_plus -> "k≥257"."""
    body = copy_bin[1:]
    if body.endswith("_plus"):
        return f"k≥{body[:-5]}"
    return "k=" + body.replace("_", "–")


METRICS = (
    Metric("bpb", "bits/byte", lower_is_better=True, share=False, generation=False),
    Metric("junk_rate", "junk rate", lower_is_better=True, share=True, generation=True, kind="generation"),
    Metric("repetition_4gram", "repetition", lower_is_better=True, share=True, generation=True, kind="generation"),
    Metric("memorization", "memorization", lower_is_better=True, share=True, generation=False, kind="memorization"),
    Metric("quality_mean", "gen. quality", lower_is_better=False, share=False, generation=True, kind="generation"),
    Metric("distinct_2", "distinct-2", lower_is_better=False, share=False, generation=True, kind="generation"),
    Metric("replacement_rate", "gen. replacement chars", lower_is_better=True, share=True, generation=True,
           kind="generation"),
    *(Metric(heldout_key(f), f"held-out {f} bits/byte", lower_is_better=True if f == "clean" else None,
             share=False, generation=False, bits=True) for f in HELDOUT_FAMILIES),
    *(Metric(exposure_key(b), f"exposure {copy_bin_label(b)}", lower_is_better=True, share=False,
             generation=False, kind="exposure", bits=True) for b in COPY_BINS),
    # extracted_<bin> and verbatim_<bin> (train/pipeline.py) are recorded but not judged: below
    # verbatim memorization they count single tokens, and one token's difference between seeds
    # that agree would read "beyond noise"
)
BY_KEY = {m.key: m for m in METRICS}
# the main table's metrics; the rest are in the details
MAIN_METRICS = ("bpb", heldout_key("clean"), "junk_rate", "repetition_4gram", "memorization",
                exposure_key("k2"), exposure_key("k5_8"), exposure_key("k17_32"), exposure_key("k129_256"))

# --- when the models are too small to judge ------------------------------------------------------

# Compute-optimal training sees about 20 tokens per parameter (Hoffmann et al. 2022, "Chinchilla");
# below one token per parameter a model is far from trained, and which slice "wins" can still
# flip with more tokens. (The demo's small preset, 0.85M parameters at 150k tokens, is at 0.18.)
TOKENS_PER_PARAM_FLOOR = 1.0
# A model within 10% of the unigram baseline has learned little more than which tokens are common.
UNIGRAM_MARGIN = 0.10
# When 9 samples in 10 of every model are junk, the samples say nothing about the data.
JUNK_CEILING = 0.9

# --- verdicts --------------------------------------------------------------------------------------

BEYOND = "beyond noise"
WITHIN = "within noise"
ONE_SEED = "one seed: no spread"
TOO_SMALL = "too small to judge"
NOT_MEASURED = "not measured"

# --- Student's t, for Welch's interval (no SciPy at run time: the statistics stay dependency-free)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` (possibly fractional) degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t975(df: float) -> float:
    """The two-sided 95% critical value of Student's t (its 97.5th percentile) for `df` > 0
    degrees of freedom, fractional ones included (Welch's), by bisection on the CDF."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < 0.975:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_cdf(mid, df) < 0.975 else (lo, mid)
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Difference:
    """mean(values) - mean(baseline values), over seeds."""

    diff: float
    n: int
    n_base: int
    se: float | None  # standard deviation of the difference of means; None with one seed on a side
    half_width: float | None  # of the 95% interval

    @property
    def lo(self) -> float | None:
        return None if self.half_width is None else self.diff - self.half_width

    @property
    def hi(self) -> float | None:
        return None if self.half_width is None else self.diff + self.half_width

    @property
    def noise(self) -> str:
        """BEYOND, WITHIN or ONE_SEED."""
        if self.half_width is None or self.se is None:
            return ONE_SEED
        if self.diff == 0 or abs(self.diff) <= self.half_width or abs(self.diff) < 2 * self.se:
            return WITHIN
        return BEYOND


def difference(values: Sequence[float], base: Sequence[float]) -> Difference | None:
    """The difference of the means with its Welch 95% interval; None when a side has no value."""
    a = [float(v) for v in values if v is not None and not math.isnan(v)]
    b = [float(v) for v in base if v is not None and not math.isnan(v)]
    if not a or not b:
        return None
    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Difference(diff, len(a), len(b), None, None)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:  # every seed gave the same value on both sides: no noise to speak of
        return Difference(diff, len(a), len(b), 0.0, 0.0)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))  # Welch–Satterthwaite
    return Difference(diff, len(a), len(b), se, t975(df) * se)


# --- the judgement of one slice on one metric --------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    slice: str
    baseline: str
    metric: Metric
    mean: float | None
    base_mean: float | None
    difference: Difference | None
    too_small: Caveat | None = None  # why the models are too small to judge this metric

    @property
    def better(self) -> bool | None:
        """None when there is no difference or the metric has no better side."""
        d = self.difference
        if d is None or d.diff == 0 or self.metric.lower_is_better is None:
            return None
        return (d.diff < 0) == self.metric.lower_is_better

    @property
    def direction(self) -> str:
        """better / worse, or higher / lower for a metric with no better side."""
        d = self.difference
        if d is None or d.diff == 0:
            return "the same"
        if self.metric.lower_is_better is None:
            return "lower" if d.diff < 0 else "higher"
        return "better" if self.better else "worse"

    @property
    def noise_words(self) -> str:
        """Beyond or within the seed spread, and which way: "better, beyond noise", ..."""
        d = self.difference
        if d is None:
            return NOT_MEASURED
        if d.noise == BEYOND:
            return f"{self.direction}, {BEYOND}"
        if d.noise == ONE_SEED or d.diff == 0:
            return d.noise
        return f"{self.direction}, {WITHIN}"

    @property
    def verdict(self) -> str:
        """A few words for a table cell: beyond or within noise and which way, then the caveat."""
        d = self.difference
        if d is None:
            return NOT_MEASURED
        if self.too_small:
            return f"{self.noise_words}; {TOO_SMALL} ({self.too_small.short})"
        return self.noise_words

    def spread_text(self) -> str:
        """± half-width and the seeds, or why there is no spread."""
        d = self.difference
        assert d is not None
        seeds = (f"{d.n} seed{'s' if d.n > 1 else ''} each" if d.n == d.n_base
                 else f"{d.n} and {d.n_base} seeds")
        if d.half_width is None:
            return (f"{seeds}: no spread can be computed from a single seed; "
                    "train with --seeds 2 or more")
        return f"±{self.metric.amount(d.half_width).split(' ')[0]}, 95% interval over {seeds}"

    def sentence(self) -> str:
        """The judgement as a sentence a reader takes in at a glance."""
        d, m = self.difference, self.metric
        if d is None:
            return f"{self.slice} and {self.baseline}: {m.label} was not measured for both."
        if d.diff == 0:
            claim = f"{self.slice} and {self.baseline} have the same {m.label} ({m.value(self.mean)})"
        elif m.key == "bpb":
            claim = f"{self.slice} is {m.amount(d.diff)} {'better' if self.better else 'worse'} than {self.baseline}"
        elif self.better is None:
            claim = (f"{self.slice}'s {m.label} is {m.amount(d.diff)} {'lower' if d.diff < 0 else 'higher'} than "
                     f"{self.baseline}'s")
        else:
            claim = (f"{self.slice}'s {m.label} is {m.amount(d.diff)} {'lower' if d.diff < 0 else 'higher'} than "
                     f"{self.baseline}'s ({'better' if self.better else 'worse'})")
        spread = self.spread_text()
        if self.too_small:
            noise = "" if d.noise == ONE_SEED else f", {d.noise}"
            return f"{claim} ({spread}{noise}), but the models are too small to judge: {self.too_small.text}."
        if d.noise == ONE_SEED:
            return f"{claim} ({spread})."
        if d.noise == WITHIN:
            return f"{claim} ({spread}): within noise, the seeds disagree as much as the slices do."
        return f"{claim} ({spread}): beyond noise."


# --- the models behind a comparison --------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One trained model: what the statistics need of a train_runs row."""

    slice: str  # the label the slice is shown under
    seed: int
    tokens: int | None = None
    n_params: int | None = None
    metrics: dict = field(default_factory=dict)  # bpb and the generation metrics; None: not measured

    def get(self, key: str) -> float | None:
        v = self.metrics.get(key)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


@dataclass(frozen=True)
class Caveat:
    text: str  # the reason, for a sentence
    short: str  # the same in a few words, for a table cell


@dataclass(frozen=True)
class Caveats:
    """Why the models are too small to judge: for every metric, for the samples, for memorization."""

    models: Caveat | None = None
    generations: Caveat | None = None
    memorization: Caveat | None = None

    def for_metric(self, metric: Metric) -> Caveat | None:
        if metric.kind == "exposure":
            return None
        if self.models:
            return self.models
        if metric.kind == "generation":
            return self.generations
        if metric.kind == "memorization":
            return self.memorization
        return None


def caveats(runs: Sequence[Run], unigram_bpb: float | None = None) -> Caveats:
    """The reasons, if any, the models are too small to judge (see the module's docstring)."""
    found: list[Caveat] = []
    sized = [r for r in runs if r.tokens and r.n_params]
    if sized:
        worst = min(sized, key=lambda r: r.tokens / r.n_params)
        ratio = worst.tokens / worst.n_params
        if ratio < TOKENS_PER_PARAM_FLOOR:
            found.append(Caveat(f"a model saw {worst.tokens:,} training tokens for its {worst.n_params:,} parameters "
                                f"({ratio:.2f} per parameter; below {TOKENS_PER_PARAM_FLOOR:g} a model is far from "
                                "trained, compute-optimal training uses about 20)", f"{ratio:.2g} tokens/parameter"))
    bpbs = [r.get("bpb") for r in runs if r.get("bpb") is not None]
    if unigram_bpb and bpbs and min(bpbs) > (1 - UNIGRAM_MARGIN) * unigram_bpb:
        span = f"{min(bpbs):.2f}" if len(bpbs) == 1 else f"{min(bpbs):.2f}–{max(bpbs):.2f}"
        how = "no better than" if min(bpbs) >= unigram_bpb else f"within {UNIGRAM_MARGIN:.0%} of"
        found.append(Caveat(f"their bits/byte ({span}) is {how} a unigram model's ({unigram_bpb:.2f}, each token "
                            "coded by its frequency in the validation text), so they have learned little beyond "
                            "which tokens are common", "near the unigram baseline"))
    models = Caveat("; and ".join(c.text for c in found), found[0].short) if found else None
    generations = None
    by_slice: dict[str, list[float]] = {}
    for r in runs:
        if r.get("junk_rate") is not None:
            by_slice.setdefault(r.slice, []).append(r.get("junk_rate"))
    if by_slice and all(statistics.fmean(v) >= JUNK_CEILING for v in by_slice.values()):
        low = min(statistics.fmean(v) for v in by_slice.values())
        share = "every generation of every slice fails" if low >= 1 else \
            f"at least {low:.0%} of every slice's generations fail"
        generations = Caveat(f"{share} the junk rules: the models are too small to write readable text at this "
                             "budget", "junk samples")
    memo = [r.get("memorization") for r in runs if r.get("memorization") is not None]
    memorization = (Caveat("no model continues any duplicated training document verbatim for 32 tokens",
                           "nothing memorized") if memo and not any(memo) else None)
    return Caveats(models, generations, memorization)


def judge(runs: Sequence[Run], baseline: str, metrics: Iterable[str] = tuple(BY_KEY),
          unigram_bpb: float | None = None) -> list[Judgement]:
    """Every other slice against `baseline` on every metric measured on either side: the slices
    best bits/byte first (then in order of appearance), each slice's metrics in `metrics` order."""
    cav = caveats(runs, unigram_bpb)
    slices = list(dict.fromkeys(r.slice for r in runs))
    bpb = {s: [r.get("bpb") for r in runs if r.slice == s and r.get("bpb") is not None] for s in slices}
    slices.sort(key=lambda s: statistics.fmean(bpb[s]) if bpb[s] else math.inf)  # the best bits/byte first
    out = []
    for s in slices:
        if s == baseline:
            continue
        for key in metrics:
            m = BY_KEY[key]
            mine = [r.get(key) for r in runs if r.slice == s and r.get(key) is not None]
            base = [r.get(key) for r in runs if r.slice == baseline and r.get(key) is not None]
            if not mine and not base:
                continue
            out.append(Judgement(
                s, baseline, m, statistics.fmean(mine) if mine else None, statistics.fmean(base) if base else None,
                difference(mine, base), cav.for_metric(m)))
    return out


def pick_baseline(kept: dict[str, int | None]) -> tuple[str, str | None]:
    """(the baseline slice, a note when it is not `raw`), from each trained slice's kept documents."""
    if BASELINE in kept:
        return BASELINE, None
    best = max(sorted(kept), key=lambda s: kept[s] or 0)
    return best, (f"no model was trained on `{BASELINE}` (the uncleaned slice): differences are against "
                  f"{best}, the trained slice that keeps the most documents. Train `{BASELINE}` too for the "
                  f"effect of cleaning (one more --slice {BASELINE} when training).")


# --- a unigram model of the validation text ------------------------------------------------------


def unigram_bpb_of_ids(ids: Sequence[int], n_bytes: int) -> float:
    """Bits/byte of `ids` coded by each token's own frequency among them (the best unigram model
    of this very text)."""
    if not ids or n_bytes <= 0:
        raise ValueError("a unigram baseline needs tokens and bytes")
    n = len(ids)
    bits = -sum(c * math.log2(c / n) for c in Counter(ids).values())
    return bits / n_bytes
