"""What fixes a signature's bits (SignatureSpec), drawn and handed to datasketch as it does.

datasketch 2.x "affine32" (read from datasketch/minhash.py, version 2.0.0):
  * permutations: ``gen = np.random.RandomState(seed)``;
    ``a = gen.randint(0, 2**31, num_perm, dtype=uint32) * 2 + 1`` (odd, so a bijection),
    then ``b = gen.randint(0, 2**32, num_perm, dtype=uint32)``, drawn in that order;
  * every input hash ``h = H(shingle)`` (must fit 32 bits) is pre-mixed once with the
    MurmurHash3 32-bit finalizer ``fmix32``;
  * ``phv_k = (a_k * fmix32(h) + b_k) mod 2**32`` (uint32 wraparound), signature =
    element-wise min over the shingles, stored as uint32; an empty MinHash is all 2**32-1.
  The Mersenne-prime arithmetic ``(a*h+b) % (2**61-1)`` belongs to the pre-2.0 "legacy"
  scheme only, which we do not produce.

Also ShingleBatch, what the shingle hashers (numpy_backend, numba_backend) hand to the
minimum takers (numpy_backend, torch_backend). Used by the backends, dispatch and
similarity; uses only hashing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from curate.dedup.minhash.hashing import HASH_NAMES, HASH_POLY64, SCALAR_HASHES

if TYPE_CHECKING:
    from datasketch import LeanMinHash

SCHEME_AFFINE32 = "affine32"

EMPTY_VALUE = np.uint32(0xFFFFFFFF)  # datasketch's affine32 value of a MinHash that saw nothing


@dataclass(frozen=True)
class SignatureSpec:
    """Everything that fixes a signature's bits; stored next to the signatures."""

    num_perm: int = 128
    seed: int = 1
    ngram: int = 5
    hash_name: str = HASH_POLY64
    scheme: str = SCHEME_AFFINE32

    def __post_init__(self) -> None:
        if self.scheme != SCHEME_AFFINE32:
            raise ValueError(f"scheme must be {SCHEME_AFFINE32!r}, got {self.scheme!r}")
        if self.hash_name not in HASH_NAMES:
            raise ValueError(f"unknown hash_name {self.hash_name!r}; known: {', '.join(HASH_NAMES)}")
        if not 1 <= self.num_perm <= 1 << 16:
            raise ValueError(f"num_perm must be in 1..65536, got {self.num_perm}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if not 0 <= self.seed < 1 << 32:
            raise ValueError(f"seed must fit numpy's RandomState (0..2**32-1), got {self.seed}")

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


def datasketch_hashfunc(spec: SignatureSpec) -> Callable[[bytes], int]:
    """The ``hashfunc`` to give datasketch (it receives one shingle's UTF-8 bytes)."""
    return SCALAR_HASHES[spec.hash_name]


def permutations(spec: SignatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) uint32 [num_perm], drawn exactly as datasketch 2.x draws them for affine32.

    np.random.RandomState is NumPy's frozen legacy generator: its stream is guaranteed not
    to change between NumPy versions, so the parameters are fixed by (seed, num_perm).
    """
    gen = np.random.RandomState(spec.seed)
    a = gen.randint(0, 1 << 31, spec.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, spec.num_perm, dtype=np.uint32)
    return a, b


def to_lean_minhash(sig: np.ndarray, spec: SignatureSpec) -> LeanMinHash:
    from datasketch import LeanMinHash

    return LeanMinHash(seed=spec.seed, hashvalues=np.asarray(sig, dtype=np.uint32), scheme=spec.scheme)


@dataclass(frozen=True)
class ShingleBatch:
    """Hashes of all shingles of a batch, in contiguous runs of one document each."""

    hashes: np.ndarray  # uint32 [S], H(shingle)
    seg_starts: np.ndarray  # int64 [G], first shingle of each run (strictly increasing)
    seg_docs: np.ndarray  # int64 [G], document index of each run
    has_sig: np.ndarray  # bool [n_docs]
