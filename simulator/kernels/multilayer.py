"""Kernels of the multilayer network (seed 004, docs/theory.md §9): the forward pass through a dense
m × m layer applied to sparse activations.

Algorithm 1 line 7 computes W·h for each point with h sparse (‖h‖₀ ≈ m·Q(t) ≪ m), which costs
m·nnz(h) per point instead of m². The weights are held transposed, WT = Wᵀ, so that the column c
of W that an active input c selects is the contiguous row WT[c]. The activations come neuron-major
(for each input c that is active on some point, the points and values): each row WT[c] is then read
once, contiguously, for all the points it serves, while the output (n × m, a few MiB) stays in
cache. Memory traffic: |∪_i supp(h_i)|·m words; arithmetic: 2·m·Σ_i nnz(h_i) flops. (Walking the
output in small column tiles instead was 1.5–1.8× slower at m = 2^14: it turns each row into many
short strided reads.)

The loop body is written once and compiled twice (serial, and parallel over as many column blocks
as threads, as umap's layouts do): the blocks write disjoint columns, so threads never share a row.
"""

import numba
import numpy as np
from numba import njit, prange

def _sparse_forward_body(WT, cols, cptr, rows, vals, out, nblocks):
    m = WT.shape[1]
    width = (m + nblocks - 1) // nblocks
    for block in prange(nblocks):
        lo = block * width
        hi = min(lo + width, m)
        for k in range(cols.shape[0]):
            c = cols[k]
            w = WT[c, lo:hi]  # row slices: the loop below vectorises (indexing out[i, j] directly
            for p in range(cptr[k], cptr[k + 1]):  # measured 1.4x slower at m = 2^14)
                o = out[rows[p], lo:hi]
                v = vals[p]
                for j in range(hi - lo):
                    o[j] += v * w[j]


_sparse_forward_serial = njit(cache=True)(_sparse_forward_body)
_sparse_forward_parallel = njit(cache=True, parallel=True)(_sparse_forward_body)


def neuron_major(H):
    """The nonzeros of H (n, m) grouped by column: (cols, cptr, rows, vals) with the points i and
    values H[i, cols[k]] of column cols[k] at positions cptr[k]:cptr[k+1]; columns ascending."""
    H = np.asarray(H, dtype=np.float64)
    cs, ps = np.nonzero(H.T)  # in C order of Hᵀ: by column c of H, then by point
    cols, counts = np.unique(cs, return_counts=True)
    cptr = np.zeros(cols.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=cptr[1:])
    return cols.astype(np.int64), cptr, ps.astype(np.int64), H[ps, cs].astype(np.float64)


def sparse_forward(WT, sparse_h, n, parallel=True):
    """Z (n, m) with Z[i] = W·h_i = Σ_c h_i[c]·WT[c], from the neuron-major nonzeros of the h_i
    (`neuron_major`). O(m·Σ_i nnz(h_i)) flops, |∪ supp|·m words read."""
    cols, cptr, rows, vals = sparse_h
    out = np.zeros((n, WT.shape[1]))
    if parallel:
        _sparse_forward_parallel(WT, cols, cptr, rows, vals, out, max(1, numba.get_num_threads()))
    else:
        _sparse_forward_serial(WT, cols, cptr, rows, vals, out, 1)
    return out
