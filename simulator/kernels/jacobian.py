"""Sparse Jacobian operations driven by fire sets (seed 002 Algorithm 5, steps 1-3).

J_t ∈ R^{n×md}: row i, block r = (1/√m)·a_r·x_i·1[r ∈ S_i]. Nothing here ever
forms J or touches a neuron outside K = ∪_i S_i: every kernel costs O(nnz·d),
O(nnz·n) or O(nnz), nnz = Σ_i |S_i|.

Two views of the same incidence are used:
- point-major CSR (indptr (n+1,), indices): S_i = indices[indptr[i]:indptr[i+1]],
  what the index returns and the sketch consumes;
- neuron-major CSR over K (kptr (|K|+1,), kpts): F_r = kpts[kptr[q]:kptr[q+1]], the
  points neuron r = K[q] fires on, built once per step by `by_neuron`. Everything
  done per neuron (Gram counts, G·v, the weight step, leaf refresh) walks this
  view, so each neuron's data is visited once, contiguously.
Leaf values are passed neuron-major, LT (m, n) with LT[r, i] = u_{r,i}: a
neuron's n leaves are adjacent in memory (a strided view of the trees works too).
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def by_neuron(indptr, indices, mark, sort):
    """K = ∪_i S_i and the neuron-major CSR (kptr, kpts); points ascending per neuron.

    `mark` is a caller-owned int64 scratch of length m, all −1 on entry and on exit,
    so nothing here costs O(m). K comes out ascending when `sort` (the tree's batched
    update wants it), else in first-seen order.
    """
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    K = np.empty(nnz, dtype=np.int64)
    k = 0
    for p in range(nnz):
        r = indices[p]
        if mark[r] < 0:
            mark[r] = 0
            K[k] = r
            k += 1
    K = K[:k].copy()
    if sort:
        K.sort()
    for q in range(k):
        mark[K[q]] = q
    kptr = np.zeros(k + 1, dtype=np.int64)
    for p in range(nnz):
        kptr[mark[indices[p]] + 1] += 1
    for q in range(k):
        kptr[q + 1] += kptr[q]
    fill = kptr[:k].copy()
    kpts = np.empty(nnz, dtype=np.int64)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            q = mark[indices[p]]
            kpts[fill[q]] = i
            fill[q] += 1
    for q in range(k):
        mark[K[q]] = -1
    return K, kptr, kpts


@njit(cache=True)
def forward(indptr, indices, LT, a, b):
    """f_i = (1/√m) Σ_{r∈S_i} a_r (u_{r,i} − b): predictions from fire sets and leaves only."""
    n = indptr.shape[0] - 1
    f = np.zeros(n)
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            s += a[r] * (LT[r, i] - b)
        f[i] = s / math.sqrt(a.shape[0])
    return f


@njit(cache=True)
def gram_counts(kptr, kpts, n):
    """|S_i ∩ S_j| for all i, j as Σ_r 1[i, j ∈ F_r]: O(Σ_r |F_r|²) (SPEC §6)."""
    C = np.zeros((n, n), dtype=np.int64)
    for q in range(kptr.shape[0] - 1):
        for p in range(kptr[q], kptr[q + 1]):
            i = kpts[p]
            for s in range(kptr[q], kptr[q + 1]):
                C[i, kpts[s]] += 1
    return C


@njit(cache=True)
def gram_matvec(kptr, kpts, aK, X, v):
    """G v = Aᵀ(A v) with A = J_tᵀ applied through the fire sets: O(nnz·d).

    Neuron by neuron (aK[q] = a_r/√m for r = K[q], gathered once per step by the caller: reading
    a[K[q]] scattered over all m neurons cost half of each pass): block r of A v is (a_r/√m) Σ_{j∈F_r} v_j x_j (a d-vector,
    kept in one buffer), and it adds (a_r/√m)<(A v)_r, x_i> to (Aᵀ A v)_i for i ∈ F_r.
    """
    n, d = X.shape
    out = np.zeros(n)
    buf = np.empty(d)
    for q in range(kptr.shape[0] - 1):
        c = aK[q]
        for k in range(d):
            buf[k] = 0.0
        for p in range(kptr[q], kptr[q + 1]):
            j = kpts[p]
            cj = c * v[j]
            for k in range(d):
                buf[k] += cj * X[j, k]
        for p in range(kptr[q], kptr[q + 1]):
            i = kpts[p]
            dot = 0.0
            for k in range(d):
                dot += buf[k] * X[i, k]
            out[i] += c * dot
    return out


@njit(cache=True)
def step_coefficients(kptr, kpts, aK, g):
    """−J_tᵀ g in the basis {x_j}, aligned with kpts: dcv[p] = −a_r g_i/√m for i = kpts[p] ∈ F_r.

    W_{t+1} = W_t − J_tᵀ g_t moves w_r by −(a_r/√m) Σ_{i∈F_r} g_i x_i (Alg. 5, step 3),
    i.e. the coefficient of x_i in w_r changes by dcv[p]. aK[q] = a_r/√m for r = K[q]. O(nnz).
    """
    dcv = np.empty(kpts.shape[0])
    for q in range(kptr.shape[0] - 1):
        c = -aK[q]
        for p in range(kptr[q], kptr[q + 1]):
            dcv[p] = c * g[kpts[p]]
    return dcv


@njit(cache=True)
def accumulate_coefficients(row_of, C, moved, K, kptr, kpts, dcv):
    """c_r += the step's coefficients for r ∈ K, giving first-time movers the next free row of C.

    C must have room for `moved + len(K)` rows. Returns the new number of rows in use.
    """
    for q in range(K.shape[0]):
        r = K[q]
        row = row_of[r]
        if row < 0:
            row = moved
            row_of[r] = row
            moved += 1
        for p in range(kptr[q], kptr[q + 1]):
            C[row, kpts[p]] += dcv[p]
    return moved


@njit(cache=True)
def leaf_deltas(kptr, kpts, dcv, XXt):
    """Change of every leaf of the neurons in K: Δu_{r,i} = Σ_{j∈F_r} Δc_{r,j} <x_j, x_i>.

    O(|F_r|·n) per neuron and no d: the leaf update of SPEC §6.
    """
    nK = kptr.shape[0] - 1
    n = XXt.shape[0]
    D = np.zeros((nK, n))
    for q in range(nK):
        for p in range(kptr[q], kptr[q + 1]):
            j = kpts[p]
            c = dcv[p]
            for i in range(n):
                D[q, i] += c * XXt[j, i]
    return D


@njit(cache=True)
def gather_leaves(LT, K):
    """U_rows[q, i] = u_{K[q], i}: the current leaf values of the neurons in K."""
    n = LT.shape[1]
    out = np.empty((K.shape[0], n))
    for q in range(K.shape[0]):
        r = K[q]
        for i in range(n):
            out[q, i] = LT[r, i]
    return out


@njit(cache=True)
def active_from_leaves(LT, b):
    """Neurons that fire on some point, ascending, with their points: (K, kptr, kpts). O(mn).

    The start of the active-set index (solvers/sublinear.py, index = "active"). Two sequential
    passes (count, then fill) so that nothing of size m is allocated beyond the result;
    `active_from_weights` applies it block by block, so the (m, n) leaves never exist whole.
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
        for i in range(n):
            if LT[r, i] > b:
                kpts[nnz] = i
                nnz += 1
        if nnz > start:
            K[k] = r
            k += 1
            kptr[k] = nnz
    return K, kptr, kpts


#: neurons per block of `active_from_weights`: a (block, n) float64 buffer stays in cache (2 MiB at n = 16)
ACTIVE_BLOCK = 1 << 14


def active_from_weights(W0, X, b, block=ACTIVE_BLOCK):
    """(K, kptr, kpts, LK) of the active-set index at t = 0, from the weights: u_{r,i} = <w_r, x_i>.

    The same result as `active_from_leaves(W0 @ X.T, b)` plus the active neurons' leaves, but the
    (m, n) leaves are computed one block of neurons at a time into one reused buffer, so Init
    reads W0 once and writes only the active part: no O(mn) array is ever allocated (512 MiB at
    m = 2^22, n = 16, whose first-touch page faults cost more than the GEMM itself).
    """
    m = W0.shape[0]
    n = X.shape[0]
    XT = np.ascontiguousarray(X.T)
    buf = np.empty((min(block, m), n))
    parts = []
    for start in range(0, m, block):
        Wb = W0[start:start + block]
        U = buf[:Wb.shape[0]]
        np.matmul(Wb, XT, out=U)
        Kb, kptrb, kptsb = active_from_leaves(U, b)
        parts.append((Kb + start, kptrb, kptsb, U[Kb]))
    K = np.concatenate([q[0] for q in parts])
    kpts = np.concatenate([q[2] for q in parts])
    kptr = np.zeros(K.shape[0] + 1, dtype=np.int64)
    k = nnz = 0
    for Kb, kptrb, kptsb, _ in parts:
        kptr[k + 1:k + 1 + Kb.shape[0]] = kptrb[1:] + nnz
        k += Kb.shape[0]
        nnz += kptsb.shape[0]
    LK = np.concatenate([q[3] for q in parts])
    return K, kptr, kpts, LK


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
        for i in range(n):
            if rows[q, i] > b:
                kpts2[nnz] = i
                nnz += 1
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
def forward_active(kptr, kpts, aK, LK, b, n):
    """f_i = Σ_{r∈S_i} (a_r/√m)(u_{r,i} − b) from the active set, streaming (aK[q] = a_r/√m)."""
    f = np.zeros(n)
    for q in range(kptr.shape[0] - 1):
        for p in range(kptr[q], kptr[q + 1]):
            i = kpts[p]
            f[i] += aK[q] * (LK[q, i] - b)
    return f


@njit(cache=True)
def point_major(K, kptr, kpts, n):
    """The point-major CSR (indptr, indices) of a neuron-major one; neurons keep K's order. O(nnz)."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    for p in range(kpts.shape[0]):
        indptr[kpts[p] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:n].copy()
    indices = np.empty(kpts.shape[0], dtype=np.int64)
    for q in range(K.shape[0]):
        for p in range(kptr[q], kptr[q + 1]):
            i = kpts[p]
            indices[fill[i]] = K[q]
            fill[i] += 1
    return indptr, indices


@njit(cache=True)
def active_gram_step(K, kptr, kpts, aK, rowK, LK, g, XXt, b, row_of, C, moved):
    """The whole weight/leaf update of one step for index = active, leaf_update = gram, in one pass.

    Per active neuron q (r = K[q]): the step's coefficients Δc_{r,j} = −a_r g_j/√m for j ∈ F_r go
    into the implicit weights (C; first-time movers get the next free row, so C needs room for
    moved + len(K) rows), its leaves move by Σ_j Δc_{r,j}<x_j, x_i> (SPEC §6), and the new active
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
            row_of[r] = row
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
