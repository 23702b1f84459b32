"""Kernels of the active-set index (simulator/indexes/active.py): K_t and what travels with it.

A step moves only neurons of K_t = ∪_i S_i(t); a neuron outside K_t fires on no point and does not
move, so it fires on none at t+1 either: K_{t+1} ⊆ K_t (the active set only shrinks). The index is
therefore K with, aligned with it, each neuron's points (neuron-major CSR kptr, kpts as in
kernels/jacobian.py), its leaves LK[q] = (u_{K[q], i})_i, a_r/√m and its row of the implicit
weights, all compact, so a step streams through them in order and nothing after Init costs O(m).
"""

import numpy as np
from numba import njit

from simulator.kernels.jacobian import points_above


@njit(cache=True)
def active_from_leaves(LT, b):
    """Neurons that fire on some point, ascending, with their points: (K, kptr, kpts). O(mn).

    Two sequential passes (count, then fill), so that nothing of size m is allocated beyond the
    result. (The index's Init is the streamed `init_stream.active_init`, which never forms the leaves.)
    """
    m, n = LT.shape
    k = 0
    nnz = 0
    for r in range(m):
        c = 0
        for i in range(n):
            if LT[r, i] > b:
                c += 1
        nnz += c
        k += c > 0
    K = np.empty(k, dtype=np.int64)
    kptr = np.zeros(k + 1, dtype=np.int64)
    kpts = np.empty(nnz, dtype=np.int64)
    k = 0
    nnz = 0
    for r in range(m):
        start = nnz
        nnz = points_above(LT[r], b, kpts, nnz)
        if nnz > start:
            K[k] = r
            k += 1
            kptr[k] = nnz
    return K, kptr, kpts


@njit(cache=True)
def active_update(K, rows, LK, b):
    """Active neurons K get leaves rows[q]; returns the new active set (K', kptr', kpts', LK', keep, left).

    The active-set index keeps the leaves of the active neurons compact, LK[q] = leaves of K[q], so
    a step streams through them in order. `keep` lists the positions q that stayed, for arrays the
    caller keeps aligned with K; `left` the positions of the neurons that stopped firing everywhere
    (their leaves, rows[left], never change again).

    Exact because a step moves only neurons of K_t = ∪_i S_i(t): a neuron outside K_t fires on
    no point and does not move, so it fires on none at t+1 either, and K_{t+1} ⊆ K_t.
    """
    n = LK.shape[1]
    nK = K.shape[0]
    K2 = np.empty(nK, dtype=np.int64)
    keep = np.empty(nK, dtype=np.int64)
    left = np.empty(nK, dtype=np.int64)
    LK2 = np.empty((nK, n))
    kptr2 = np.zeros(nK + 1, dtype=np.int64)
    kpts2 = np.empty(nK * n, dtype=np.int64)
    k = 0
    nleft = 0
    nnz = 0
    for q in range(nK):
        start = nnz
        nnz = points_above(rows[q], b, kpts2, nnz)
        if nnz > start:
            K2[k] = K[q]
            keep[k] = q
            LK2[k] = rows[q]
            k += 1
            kptr2[k] = nnz
        else:
            left[nleft] = q
            nleft += 1
    # views of the per-neuron arrays, as in `active_gram_step`
    return K2[:k], kptr2[:k + 1], kpts2[:nnz].copy(), LK2[:k], keep[:k], left[:nleft].copy()


@njit(cache=True)
def active_accumulate(K, rowK, ids, C, moved, kptr, kpts, dcv):
    """c_r += the step's coefficients for r ∈ K, with r's row of C read from rowK (aligned with K) instead of
    an m-entry map: first-time movers get the next free row (rowK[q] and ids[row] = r set). C and ids need
    room for moved + len(K) rows. Returns the new number of rows in use."""
    for q in range(K.shape[0]):
        row = rowK[q]
        if row < 0:
            row = moved
            rowK[q] = row
            ids[row] = K[q]
            moved += 1
        for p in range(kptr[q], kptr[q + 1]):
            C[row, kpts[p]] += dcv[p]
    return moved


@njit(cache=True)
def forward_active(kptr, kpts, aK, LK, b, n):
    """f_i = Σ_{r∈S_i} (a_r/√m)(u_{r,i} − b) from the active set, streaming (aK[q] = a_r/√m)."""
    f = np.zeros(n)
    for q in range(kptr.shape[0] - 1):
        for p in range(kptr[q], kptr[q + 1]):
            i = kpts[p]
            f[i] += aK[q] * (LK[q, i] - b)
    return f


@njit(cache=True)
def active_gram_step(K, kptr, kpts, aK, rowK, LK, g, XXt, b, ids, C, moved):
    """The whole weight/leaf update of one step for index = active, leaf_update = gram, in one pass.

    Per active neuron q (r = K[q]): the step's coefficients Δc_{r,j} = −a_r g_j/√m for j ∈ F_r go
    into the implicit weights (C; first-time movers get the next free row, recorded in ids[row] = r, so C and
    ids need room for moved + len(K) rows), its leaves move by Σ_j Δc_{r,j}<x_j, x_i> (docs/theory.md §6), and the new active
    set is read off as in `active_update`. Everything per neuron travels with K — aK[q] = a_r/√m,
    rowK[q] = r's row of C (−1 before it first moves), LK[q] = its leaves — so the pass streams;
    the only scattered writes are for neurons that move for the first time.

    K, aK, rowK and LK are compacted in place (row q moves to k ≤ q after it has been read), so a
    step allocates nothing of size |K|·n and writes only cache lines it has just read; the returned
    K', aK', rowK', LK' are views of them. The same pass also gives what the next step's query needs:
    f_{t+1} (summed in the order `forward_active` uses, so bit-for-bit the same) and the fire count
    of every point.
    Returns (K', kptr', kpts', aK', rowK', LK', moved, left, left_leaves, f_next, counts_next):
    `left` are the neurons that stopped firing everywhere and `left_leaves` their final leaves.
    """
    n = LK.shape[1]
    nK = K.shape[0]
    buf = np.empty(n)
    f_next = np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    left = np.empty(nK, dtype=np.int64)
    left_leaves = np.empty((nK, n))
    nleft = 0
    kptr2 = np.zeros(nK + 1, dtype=np.int64)
    kpts2 = np.empty(nK * n, dtype=np.int64)
    k = 0
    nnz = 0
    for q in range(nK):
        r = K[q]
        aq = aK[q]
        row = rowK[q]
        if row < 0:
            row = moved
            ids[row] = r
            moved += 1
        for i in range(n):
            buf[i] = 0.0
        for p in range(kptr[q], kptr[q + 1]):
            j = kpts[p]
            dc = -aq * g[j]
            C[row, j] += dc
            for i in range(n):
                buf[i] += dc * XXt[j, i]
        start = nnz
        for i in range(n):
            u = LK[q, i] + buf[i]
            buf[i] = u
            if u > b:
                kpts2[nnz] = i
                nnz += 1
                f_next[i] += aq * (u - b)
                counts[i] += 1
        if nnz > start:
            K[k] = r
            aK[k] = aq
            rowK[k] = row
            for i in range(n):
                LK[k, i] = buf[i]
            k += 1
            kptr2[k] = nnz
        else:
            left[nleft] = r
            for i in range(n):
                left_leaves[nleft, i] = buf[i]
            nleft += 1
    return (K[:k], kptr2[:k + 1], kpts2[:nnz].copy(), aK[:k], rowK[:k], LK[:k], moved, left[:nleft].copy(),
            left_leaves[:nleft].copy(), f_next, counts)
