"""Near-duplicate detection: MinHash signatures (pure) and LSH parameters/band keys."""
from curate.dedup.lsh_params import BAND_HASH_NAME, band_hashes, lsh_params
from curate.dedup.minhash import (
    SignatureSpec,
    datasketch_hashfunc,
    estimated_jaccard,
    estimated_jaccard_pairs,
    exact_jaccard,
    pair_jaccards,
    shingle_hashes,
    shingles,
    signatures,
    to_lean_minhash,
)

__all__ = [
    "BAND_HASH_NAME",
    "SignatureSpec",
    "band_hashes",
    "datasketch_hashfunc",
    "estimated_jaccard",
    "estimated_jaccard_pairs",
    "exact_jaccard",
    "lsh_params",
    "pair_jaccards",
    "shingle_hashes",
    "shingles",
    "signatures",
    "to_lean_minhash",
]
