"""MinHash signatures for near-duplicate detection, for a whole batch of documents at once.

The signatures are bit-identical to what datasketch 2.x computes with
``MinHash(num_perm, seed=seed, scheme="affine32", hashfunc=H)`` updated with the UTF-8
bytes (``surrogatepass``) of every shingle, where ``H = datasketch_hashfunc(spec)``.
datasketch stays the oracle in tests/test_minhash.py and the baseline in
bench/bench_dedup.py.

This module is the facade: everything outside the package imports from here. Each part
reads alone, and the imports run only down this list:
  * hashing: the shingle hashes H (poly64-fmix64-hi32, xxh32, sha1_hash32), fmix constants;
  * shingling: the shingles of a text, in plain Python (the definition);
  * spec: SignatureSpec, the affine32 permutations, datasketch interop, ShingleBatch;
  * unicode_tables: NFKC and casefold as code point tables for the kernel;
  * kernel: the numba kernel (tokenize, hash, permute, minimum) and its compilation;
  * numpy_backend, numba_backend, torch_backend: the three backends, same bits;
  * dispatch: signatures() and shingle_hashes(), which pick a backend;
  * similarity: exact and estimated Jaccard.
"""
from curate.dedup.lsh_params import band_hashes, lsh_params  # their home; still importable from here
from curate.dedup.minhash.dispatch import BACKENDS, shingle_hashes, signatures
from curate.dedup.minhash.hashing import (
    HASH_NAMES,
    HASH_POLY64,
    HASH_SHA1_32,
    HASH_XXH32,
    poly64_hash32,
    sha1_hash32,
    xxh32_hash32,
)
from curate.dedup.minhash.kernel import numba_available
from curate.dedup.minhash.shingling import shingles
from curate.dedup.minhash.similarity import (
    estimated_jaccard,
    estimated_jaccard_pairs,
    exact_jaccard,
    pair_jaccards,
    set_jaccard,
)
from curate.dedup.minhash.spec import (
    EMPTY_VALUE,
    SCHEME_AFFINE32,
    ShingleBatch,
    SignatureSpec,
    datasketch_hashfunc,
    permutations,
    to_lean_minhash,
)

__all__ = [
    "BACKENDS",
    "EMPTY_VALUE",
    "HASH_NAMES",
    "HASH_POLY64",
    "HASH_SHA1_32",
    "HASH_XXH32",
    "SCHEME_AFFINE32",
    "ShingleBatch",
    "SignatureSpec",
    "band_hashes",
    "datasketch_hashfunc",
    "estimated_jaccard",
    "estimated_jaccard_pairs",
    "exact_jaccard",
    "lsh_params",
    "numba_available",
    "pair_jaccards",
    "permutations",
    "poly64_hash32",
    "set_jaccard",
    "sha1_hash32",
    "shingle_hashes",
    "shingles",
    "signatures",
    "to_lean_minhash",
    "xxh32_hash32",
]
