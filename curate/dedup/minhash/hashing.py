"""The shingle hashes H (shingle's UTF-8 bytes -> 32 bits) and the MurmurHash3 finalizers.

Default ``poly64-fmix64-hi32`` (fixed by this specification, so stored signatures survive
library upgrades): for the shingle's UTF-8 bytes x_0..x_{L-1},
``p = sum_i (x_i + 1) * K**i mod 2**64`` with ``K = 0x9E3779B97F4A7C15``, then
``H = fmix64(p XOR L) >> 32`` (fmix64 = MurmurHash3's 64-bit finalizer). Being a
polynomial, it is computable for every shingle of a batch at once from one prefix sum
over the batch's bytes (K is odd, hence invertible mod 2**64), which is what makes it
far faster in numpy than calling xxhash once per shingle from Python. ``xxh32``
(xxhash.xxh32, seed 0) and ``sha1_hash32`` (datasketch's default) are offered as well.

Here: the scalar references (what datasketch is given, see spec.datasketch_hashfunc) and
the whole-batch numpy form (numpy_backend). The numba kernel computes the same polynomial
token by token from these constants (kernel), and unicode_tables stores code points'
polynomials with poly64.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

import numpy as np
import xxhash

HASH_POLY64 = "poly64-fmix64-hi32"
HASH_XXH32 = "xxh32"
HASH_SHA1_32 = "sha1_hash32"
HASH_NAMES = (HASH_POLY64, HASH_XXH32, HASH_SHA1_32)

M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
POLY_K = 0x9E3779B97F4A7C15
POLY_K_INV = pow(POLY_K, -1, 1 << 64)
FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)
FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)


def _fmix64_int(h: int) -> int:
    s1, m1, s2, m2, s3 = FMIX64
    h ^= h >> s1
    h = (h * m1) & _M64
    h ^= h >> s2
    h = (h * m2) & _M64
    return h ^ (h >> s3)


def poly64(data: bytes) -> int:
    """sum (x_i + 1) * K**i mod 2**64 over the bytes x_i: the polynomial before finishing."""
    p = 0
    for x in reversed(data):  # Horner
        p = (p * POLY_K + x + 1) & _M64
    return p


def poly64_hash32(data: bytes) -> int:
    """Scalar reference of ``poly64-fmix64-hi32`` (plain Python ints, no numpy)."""
    return _fmix64_int(poly64(data) ^ len(data)) >> 32


def xxh32_hash32(data: bytes) -> int:
    return xxhash.xxh32_intdigest(data, seed=0)


def sha1_hash32(data: bytes) -> int:
    return struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0]


SCALAR_HASHES: dict[str, Callable[[bytes], int]] = {
    HASH_POLY64: poly64_hash32,
    HASH_XXH32: xxh32_hash32,
    HASH_SHA1_32: sha1_hash32,
}


_POWERS_CACHE: dict[int, np.ndarray] = {}
_POWERS_CACHE_MAX = 1 << 23  # 64 MiB per base; longer buffers are computed uncached


def _powers(k: int, n: int) -> np.ndarray:
    """k**i mod 2**64 for i < n (a view of a cached array when it fits)."""
    cached = _POWERS_CACHE.get(k)
    if cached is not None and len(cached) >= n:
        return cached[:n]
    size = n if n > _POWERS_CACHE_MAX else max(1 << 16, 1 << (n - 1).bit_length())
    out = np.full(size, k, dtype=np.uint64)
    out[0] = 1
    np.multiply.accumulate(out, out=out)  # wraps mod 2**64, as intended
    if size <= _POWERS_CACHE_MAX:
        _POWERS_CACHE[k] = out
    return out[:n]


def _fmix64_np(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = (np.uint64(c) for c in FMIX64)
    h ^= h >> s1
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def poly_span_hashes(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """poly64-fmix64-hi32 of every byte span buf[starts[i]:ends[i]] at once."""
    n = len(buf)
    prefix = np.empty(n + 1, dtype=np.uint64)
    prefix[0] = 0
    v = buf.astype(np.uint64)
    v += np.uint64(1)
    v *= _powers(POLY_K, n)
    np.cumsum(v, out=prefix[1:])
    del v
    # sum over the span of (x_i+1) K**i, shifted to start at K**0 by K**-start
    p = prefix[ends] - prefix[starts]
    p *= _powers(POLY_K_INV, n)[starts]
    p ^= (ends - starts).astype(np.uint64)
    return (_fmix64_np(p) >> np.uint64(32)).astype(np.uint32)
