"""The one registry of signals: name, version, meaning, range and source of every column.

The CLI (`curate signals`), the recipes and the dashboard read names, meanings and ranges
from here; the store creates the `signals` columns from it. A duplicate name is an error and
an unknown name lists the known ones (dolma's registry pattern).

A signal is declared once, by keyword, in the module that computes it, through its
`Family`; the function computing the family's columns is registered with the same
signals (`@FAMILY.computes(*SIGNALS)`). The registry is built from the families and runs
each function once on a probe batch, so a family whose columns disagree with its
declaration (order, a missing or an extra column) is refused at import, not mid-run.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.signals.batch import Batch

DTYPES = ("DOUBLE", "BIGINT", "VARCHAR", "BOOLEAN")
Compute = Callable[[Batch], pl.DataFrame]


@dataclass(frozen=True, kw_only=True)
class Signal:
    """One score column. Keyword-only, so that a declaration says which number is which
    bound; the range (lo, hi) and the published keep-rule (default_min, default_max) are
    open (None) unless given."""

    name: str
    family: str
    version: str
    dtype: str
    meaning: str
    lo: float | None = None
    hi: float | None = None
    source: str
    default_min: float | None = None
    default_max: float | None = None
    per_language: bool = False

    def __post_init__(self) -> None:
        for field, value in (("signal", self.name), ("family", self.family)):
            if not value.isidentifier() or value != value.lower():
                raise ValueError(f"{field} name must be a snake_case identifier: {value!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"{self.name}: dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"{self.name}: lo {self.lo} > hi {self.hi}")

    def keeps(self, value: float | None) -> bool:
        """The published keep-rule: default_min <= value <= default_max (None bound = open).

        A missing value passes: a signal that could not be computed is not evidence against
        the document (the quality signal is null when no model was given).
        """
        if value is None:
            return True
        if self.default_min is not None and value < self.default_min:
            return False
        if self.default_max is not None and value > self.default_max:
            return False
        return True

    @property
    def has_default(self) -> bool:
        return self.default_min is not None or self.default_max is not None


class Family:
    """Signals computed together by one function: what they share, declared once.

    `signal(...)` declares a signal with the family's name and source filled in (a signal
    may cite its own source); `computes(*signals)` registers the function that returns
    their columns, in that order.
    """

    def __init__(self, name: str, *, source: str) -> None:
        self.name = name
        self.source = source
        self.signals: tuple[Signal, ...] = ()
        self.compute: Compute | None = None

    def __repr__(self) -> str:
        return f"Family({self.name!r})"

    def signal(self, **fields) -> Signal:
        return Signal(family=self.name, **{"source": self.source, **fields})

    def computes(self, *signals: Signal) -> Callable[[Compute], Compute]:
        """Decorator: `fn(batch)` returns one column per signal, in this order (checked when
        the registry is built); `fn` itself is returned unchanged."""
        if self.compute is not None:
            raise ValueError(f"family {self.name!r}: a compute function is already registered")
        strangers = [s.name for s in signals if s.family != self.name]
        if strangers:
            raise ValueError(f"family {self.name!r}: signals of another family: {', '.join(strangers)}")

        def register(fn: Compute) -> Compute:
            self.signals, self.compute = signals, fn
            return fn

        return register

    def check(self, probe: Batch) -> None:
        """Refuse a family whose function's columns are not its declared signals, in order."""
        if self.compute is None:
            raise ValueError(f"family {self.name!r}: no function is registered to compute its signals")
        declared = [s.name for s in self.signals]
        computed = self.compute(probe).columns
        if computed != declared:
            raise ValueError(f"family {self.name!r}: {_disagreement(declared, computed)}")


def _disagreement(declared: list[str], computed: list[str]) -> str:
    """The first way the computed columns differ from the declared ones, by signal name."""
    missing = [n for n in declared if n not in computed]
    if missing:
        return f"declared signal {missing[0]!r} is not computed"
    extra = [n for n in computed if n not in declared]
    if extra:
        return f"computes {extra[0]!r}, which is not declared"
    i = next(i for i, (d, c) in enumerate(zip(declared, computed)) if d != c)
    return (f"signal {computed[i]!r} is computed at position {i} but declared at position "
            f"{declared.index(computed[i])} (declared order: {', '.join(declared)})")


def probe_batch() -> Batch:
    """What every compute function is run on once, when the registry is built: a text with
    words, lines and paragraphs, and a blank one (scorers take other paths with no rows).
    The languages are given, so the probe loads no language model."""
    texts = ["A probe sentence. Another one!\nA second line.\n\nA new paragraph.", ""]
    return Batch(texts, detected=(["und"] * len(texts), np.zeros(len(texts))))


class SignalRegistry:
    """The signals of a list of families, in family order, unique by name."""

    def __init__(self, families: Iterable[Family]) -> None:
        self.families = tuple(families)
        self._by_name: dict[str, Signal] = {}
        probe = probe_batch()
        seen: set[str] = set()
        for family in self.families:
            if family.name in seen:
                raise ValueError(f"family {family.name!r} is registered twice")
            seen.add(family.name)
            family.check(probe)
            for s in family.signals:
                self._register(s)

    def _register(self, signal: Signal) -> None:
        if signal.name in self._by_name:
            raise ValueError(f"signal {signal.name!r} is already registered")
        self._by_name[signal.name] = signal

    def get(self, name: str) -> Signal:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name)
            raise KeyError(f"unknown signal {name!r}; known signals: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Signal]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def family(self, family: str) -> list[Signal]:
        return [s for s in self if s.family == family]

    def version_hash(self, extra: str = "") -> str:
        return version_hash(self, extra)


def version_hash(signals: Iterable[Signal], extra: str = "") -> str:
    """Short stable hash of all (name, version) pairs (and `extra`, what every signal
    shares, such as the word segmentation); stored with every score row."""
    key = ";".join(f"{s.name}:{s.version}" for s in signals) + (f";{extra}" if extra else "")
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
