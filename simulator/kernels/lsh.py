"""SimHash (sign random projections) tables over the weights: an approximate fire-set search.

In the style of SLIDE / MONGOOSE: L tables, each hashing a vector v to the k sign bits of
<h_{l,j}, v>; a neuron is a candidate for x_i when it shares x_i's bucket in some table. Vectors
at a small angle collide more often, and a neuron firing on x_i (<w_r, x_i> > b) is at an angle
below arccos(b/‖w_r‖) from it, so it tends to be found — but not always: this search is NOT exact,
and neither are the iterates of a training run that uses it (indexes/lsh.py says how far off).

Tables are kept as, per table, the neuron ids sorted by code (`order`) and the sorted codes
(`sorted_codes`), so a bucket is a range found by binary search.
"""

import numpy as np
from numba import njit

#: neurons hashed per block (keeps the (block, L·k) projections in cache-sized pieces)
HASH_BLOCK = 1 << 15


def simhash_codes(V, H, block=HASH_BLOCK):
    """codes (L, N) int64: bit j of codes[l, r] = [<H[l, j], V[r]> > 0]. H: (L, k, d), k ≤ 62."""
    L, k, d = H.shape
    flat = np.ascontiguousarray(H.reshape(L * k, d).T)  # (d, L·k)
    weights = (1 << np.arange(k, dtype=np.int64))
    codes = np.empty((L, V.shape[0]), dtype=np.int64)
    for start in range(0, V.shape[0], block):
        P = V[start:start + block] @ flat > 0.0  # (b, L·k)
        codes[:, start:start + P.shape[0]] = (P.reshape(-1, L, k) @ weights).T
    return codes


def build_tables(codes):
    """(order, sorted_codes), each (L, N): per table the ids sorted by code (stable) and their codes."""
    order = np.argsort(codes, axis=1, kind="stable")
    return order, np.take_along_axis(codes, order, axis=1)


@njit(cache=True)
def query_all(order, sorted_codes, xcodes, W, X, b, stamp, base):
    """For every point i: the candidates (neurons sharing a bucket with x_i in some table) and,
    among them, those with <w_r, x_i> > b (exact test on the current weights W).

    xcodes (L, n): the points' codes. stamp (m,) int64 scratch, entries < base on entry (a neuron is
    counted once per point without clearing anything). Returns (indptr, indices, leaves, candidates):
    the found fire sets as CSR with their leaves u_{r,i}, and Σ_i |candidates_i|.
    """
    L, m = order.shape
    n, d = X.shape
    cap = 1024
    indices = np.empty(cap, dtype=np.int64)
    leaves = np.empty(cap)
    indptr = np.zeros(n + 1, dtype=np.int64)
    k = 0
    candidates = 0
    for i in range(n):
        s = base + i
        for l in range(L):
            c = xcodes[l, i]
            lo = np.searchsorted(sorted_codes[l], c, side="left")
            hi = np.searchsorted(sorted_codes[l], c, side="right")
            for p in range(lo, hi):
                r = order[l, p]
                if stamp[r] == s:
                    continue
                stamp[r] = s
                candidates += 1
                u = 0.0
                for j in range(d):
                    u += W[r, j] * X[i, j]
                if u > b:
                    if k == indices.shape[0]:
                        grown = np.empty(2 * k, dtype=np.int64)
                        grown[:k] = indices
                        indices = grown
                        grownu = np.empty(2 * k)
                        grownu[:k] = leaves
                        leaves = grownu
                    indices[k] = r
                    leaves[k] = u
                    k += 1
        indptr[i + 1] = k
    return indptr, indices[:k].copy(), leaves[:k].copy(), candidates
