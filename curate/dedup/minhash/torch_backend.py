"""The ``torch`` backend (the default on GPUs): permutations and minimum on the device.

The shingle hashes come from the CPU (numba_backend, or numpy_backend without numba);
this module only premixes them with fmix32, applies the permutations and takes the
per-document minimum with a scatter, in int64 because torch has no unsigned 32-bit
multiply. torch is imported on first use. Called by dispatch.
"""
from __future__ import annotations

import numpy as np

from curate.dedup.minhash.hashing import FMIX32, M32
from curate.dedup.minhash.spec import ShingleBatch, SignatureSpec, permutations


def _mul32_exact(x, c_lo, c_hi):
    """(x * c) mod 2**32 in int64 without overflow: c = c_hi * 2**16 + c_lo, x < 2**32.

    Both partial products stay below 2**48, so no intermediate leaves int64's range; torch
    has no unsigned 32/64-bit multiply to lean on.
    """
    return (x * c_lo + (((x * c_hi) & 0xFFFF) << 16)) & M32


def minhash(batch: ShingleBatch, spec: SignatureSpec, sigs: np.ndarray, device: str, chunk: int) -> None:
    """sigs[d] = the signature of each document d of the batch on ``device``, ``chunk``
    shingles at a time."""
    import torch

    dev = torch.device(device)
    a_np, b_np = permutations(spec)
    a = torch.from_numpy(a_np.astype(np.int64)).to(dev)
    a_lo, a_hi = a & 0xFFFF, a >> 16
    b = torch.from_numpy(b_np.astype(np.int64)).to(dev)

    h = torch.from_numpy(batch.hashes.astype(np.int64)).to(dev)
    s1, m1, s2, m2, s3 = FMIX32
    h = h ^ (h >> s1)
    h = _mul32_exact(h, m1 & 0xFFFF, m1 >> 16)
    h = h ^ (h >> s2)
    h = _mul32_exact(h, m2 & 0xFFFF, m2 >> 16)
    h = h ^ (h >> s3)

    n_sh = np.diff(np.append(batch.seg_starts, len(batch.hashes)))
    seg_of = torch.from_numpy(np.repeat(np.arange(len(n_sh), dtype=np.int64), n_sh)).to(dev)
    mins = torch.full((len(n_sh), spec.num_perm), M32, dtype=torch.int64, device=dev)
    for c0 in range(0, len(h), chunk):
        hc = h[c0 : c0 + chunk, None]
        phv = (_mul32_exact(hc, a_lo, a_hi) + b) & M32
        idx = seg_of[c0 : c0 + chunk, None].expand_as(phv)
        mins.scatter_reduce_(0, idx, phv, reduce="amin", include_self=True)
    sigs[batch.seg_docs] = mins.cpu().numpy().astype(np.uint32)
