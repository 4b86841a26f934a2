"""The one registry of signals: name, version, meaning, range and source of every column.

The CLI (`curate signals`), the recipes and the dashboard read names, meanings and ranges
from here; the store creates the `signals` columns from it. A duplicate name is an error and
an unknown name lists the known ones (dolma's registry pattern).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

FAMILIES = (
    "shape",
    "gopher_quality",
    "gopher_repetition",
    "c4",
    "fineweb",
    "encoding",
    "pii",
    "language",
    "quality",
    "corpus",
)
DTYPES = ("DOUBLE", "BIGINT", "VARCHAR", "BOOLEAN")


@dataclass(frozen=True)
class Signal:
    name: str
    family: str
    version: str
    dtype: str
    meaning: str
    lo: float | None
    hi: float | None
    source: str
    default_min: float | None
    default_max: float | None
    per_language: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"signal name must be a snake_case identifier: {self.name!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
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


class SignalRegistry:
    """An ordered set of signals, unique by name."""

    def __init__(self, items: Iterable[Signal] = ()) -> None:
        self._by_name: dict[str, Signal] = {}
        for s in items:
            self.register(s)

    def register(self, signal: Signal) -> Signal:
        if signal.name in self._by_name:
            raise ValueError(f"signal {signal.name!r} is already registered")
        self._by_name[signal.name] = signal
        return signal

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
        """Short stable hash of all (name, version) pairs (and `extra`, what every signal
        shares, such as the word segmentation); stored with every score row."""
        key = ";".join(f"{s.name}:{s.version}" for s in self) + (f";{extra}" if extra else "")
        return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
