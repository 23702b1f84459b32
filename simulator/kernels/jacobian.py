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
from numba import njit, prange


@njit(inline="always")
def points_above(leaves, b, kpts, p):
    """One neuron's entry of a neuron-major CSR: the points i with leaves[i] > b, appended to kpts from p on, in
    ascending order; returns the new end (the neuron fires somewhere if it is past p)."""
    for i in range(leaves.shape[0]):
        if leaves[i] > b:
            kpts[p] = i
            p += 1
    return p


@njit(cache=True)
def by_neuron(indptr, indices, mark, sort, span=0):
    """K = ∪_i S_i and the neuron-major CSR (kptr, kpts); points ascending per neuron.

    `mark` is a caller-owned int64 scratch of length m, all −1 on entry and on exit,
    so nothing here costs O(m). K comes out ascending when `sort` (the tree's batched
    update wants it), else in first-seen order. span > 0: the caller guarantees every
    index is below span, and K is collected ascending by one scan of mark[:span] instead
    of a sort (the tree's slots all lie in K_0's first |K_0| slots: a scan of 1.7 MB at
    2^22 against a sort of ~2·10⁵ keys).
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
    if sort and span > 0:  # ascending by one scan, each marked id given its position as it is found
        distinct = k
        k = 0
        for r in range(span):
            if mark[r] == 0:
                mark[r] = k
                K[k] = r
                k += 1
        if k != distinct:  # an id at or beyond span: the scan missed it (the caller's bound was wrong)
            for p in range(nnz):
                mark[indices[p]] = -1
            raise ValueError("by_neuron: an index lies at or beyond span")
        K = K[:k].copy()
    else:
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
    """|S_i ∩ S_j| for all i, j as Σ_r 1[i, j ∈ F_r]: O(Σ_r |F_r|²) (docs/theory.md §6)."""
    C = np.zeros((n, n), dtype=np.int64)
    for q in range(kptr.shape[0] - 1):
        for p in range(kptr[q], kptr[q + 1]):
            i = kpts[p]
            for s in range(kptr[q], kptr[q + 1]):
                C[i, kpts[s]] += 1
    return C


@njit(cache=True)
def gram_matvec(kptr, kpts, aK, XXt, v):
    """G v = Aᵀ(A v) with A = J_tᵀ applied through the fire sets, d-free: O(Σ_r |F_r|²).

    Neuron by neuron (aK[q] = a_r/√m for r = K[q], gathered once per step by the caller): block r of A v is
    (a_r/√m) Σ_{j∈F_r} v_j x_j, and its inner product with x_i is (a_r/√m) Σ_{j∈F_r} v_j (XXᵀ)_{ji}. So
    (Aᵀ A v)_i gains (a_r²/m) Σ_{j∈F_r} (XXᵀ)_{ij} v_j for i ∈ F_r — the same product as through the d-vectors
    (docs/theory.md §1 identity), without them: most neurons fire on one point, so this is ~nnz operations
    where the d-vectors cost 4d·nnz.
    """
    n = XXt.shape[0]
    out = np.zeros(n)
    for q in range(kptr.shape[0] - 1):
        c2 = aK[q] * aK[q]
        p0, p1 = kptr[q], kptr[q + 1]
        if p1 - p0 == 1:  # the common case, the same arithmetic without the loops
            i = kpts[p0]
            out[i] += c2 * (XXt[i, i] * v[i])
            continue
        for p in range(p0, p1):
            i = kpts[p]
            dot = 0.0
            for pj in range(p0, p1):
                dot += XXt[i, kpts[pj]] * v[kpts[pj]]
            out[i] += c2 * dot
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
def accumulate_coefficients(row_of, C, moved, K, kptr, kpts, dcv, ids):
    """c_r += the step's coefficients for r ∈ K, giving first-time movers the next free row of C (and
    ids[row] = r: row k of C is neuron ids[k]'s).

    C and ids must have room for every first-time mover. Returns the new number of rows in use.
    """
    for q in range(K.shape[0]):
        r = K[q]
        row = row_of[r]
        if row < 0:
            if moved >= C.shape[0] or moved >= ids.shape[0]:  # too few rows reserved: never write past C or ids
                raise IndexError("accumulate_coefficients: C has no free row for a first-time mover")
            row = moved
            row_of[r] = row
            ids[row] = r
            moved += 1
        for p in range(kptr[q], kptr[q + 1]):
            C[row, kpts[p]] += dcv[p]
    return moved


@njit(cache=True)
def leaf_deltas(kptr, kpts, dcv, XXt):
    """Change of every leaf of the neurons in K: Δu_{r,i} = Σ_{j∈F_r} Δc_{r,j} <x_j, x_i>.

    O(|F_r|·n) per neuron and no d: the leaf update of docs/theory.md §6.
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
def max_step_norm(kptr, kpts, g, XXt):
    """max_r ‖Σ_{i∈F_r} g_i x_i‖ over the neurons of K, through X Xᵀ (no d): O(Σ_r |F_r|²).

    A step W − J_tᵀ g moves w_r by −(a_r/√m) Σ_{i∈F_r} g_i x_i, so its largest move is this value
    over √m (the per-step movement of seed 001's analysis).
    """
    best = 0.0
    for q in range(kptr.shape[0] - 1):
        s = 0.0
        for p in range(kptr[q], kptr[q + 1]):
            i = kpts[p]
            for p2 in range(kptr[q], kptr[q + 1]):
                s += g[i] * g[kpts[p2]] * XXt[i, kpts[p2]]
        if s > best:
            best = s
    return math.sqrt(best)


@njit(cache=True)
def forward_explicit(indptr, indices, W, X, a, b):
    """f_i = (1/√m) Σ_{r∈S_i} a_r (<w_r, x_i> − b) from fire sets and explicit weights W (m, d).

    The forward pass of seed 001 Algorithms 2-3 (line 6): an inner product per fire pair, so the
    d·Σ_i k_{i,t} term of its Lemma 4.1. No leaves are stored.
    """
    n, d = X.shape
    f = np.zeros(n)
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            u = 0.0
            for k in range(d):
                u += W[r, k] * X[i, k]
            s += a[r] * (u - b)
        f[i] = s / math.sqrt(a.shape[0])
    return f


@njit(cache=True)
def row_deltas(kptr, kpts, dcv, X):
    """Δw_r = Σ_{j∈F_r} Δc_{r,j} x_j for the neurons of K, as explicit rows (|K|, d): O(nnz·d)."""
    nK = kptr.shape[0] - 1
    d = X.shape[1]
    out = np.zeros((nK, d))
    for q in range(nK):
        for p in range(kptr[q], kptr[q + 1]):
            c = dcv[p]
            j = kpts[p]
            for k in range(d):
                out[q, k] += c * X[j, k]
    return out


@njit(cache=True)
def filter_by_current_leaves(indptr, indices, LT0, row_of, C, XXt, b):
    """The exact fire sets among candidates: r ∈ S_i iff u_{r,i}(t) > b, with the current leaf
    u_{r,i}(t) = u_{r,i}(0) + Σ_j c_{r,j} <x_j, x_i> from the implicit weights (no d).

    indptr/indices: candidate neurons per point (a superset of S_i, e.g. a static structure over
    W0 queried at b − D_t); LT0 (m, n): the leaves at t = 0; row_of/C: the implicit weights.
    Returns (indptr', indices', leaves') with leaves'[p] = u_{indices'[p], i}(t), candidates' order kept.
    """
    n = indptr.shape[0] - 1
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    out_idx = np.empty(indices.shape[0], dtype=np.int64)
    out_u = np.empty(indices.shape[0])
    k = 0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            u = LT0[r, i]
            row = row_of[r]
            if row >= 0:
                for j in range(n):
                    u += C[row, j] * XXt[j, i]
            if u > b:
                out_idx[k] = r
                out_u[k] = u
                k += 1
        out_ptr[i + 1] = k
    return out_ptr, out_idx[:k].copy(), out_u[:k].copy()


@njit(cache=True)
def forward_pairs(indptr, indices, leaves, a, b):
    """f_i = (1/√m) Σ_{r∈S_i} a_r (u_{r,i} − b) with the leaves given per fire pair (aligned with indices)."""
    n = indptr.shape[0] - 1
    f = np.zeros(n)
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += a[indices[p]] * (leaves[p] - b)
        f[i] = s / math.sqrt(a.shape[0])
    return f


@njit(cache=True)
def add_step_rows(W, K, kptr, kpts, dcv, X):
    """W[K[q]] += Σ_{j∈F_r} Δc_{r,j} x_j in place, for explicit weights W (m, d): the step W − Jᵀg
    on the rows it moves, in one pass (no gathered copy of the rows). O(nnz·d)."""
    d = X.shape[1]
    for q in range(K.shape[0]):
        r = K[q]
        for p in range(kptr[q], kptr[q + 1]):
            c = dcv[p]
            j = kpts[p]
            for k in range(d):
                W[r, k] += c * X[j, k]


#: neurons per task of `explicit_rows`
_ROW_BLOCK = 1024


@njit(cache=True, parallel=True)
def explicit_rows(W0, at, crow, C, X):
    """Explicit rows (k, d) of a batch of neurons: w = W0[at[q]] + Σ_j C[crow[q], j] x_j (crow −1: it never
    moved, w = w_r(0)). A neuron has moved along the few points it fired on, so only its nonzero coefficients
    are added: O(k·d·(1 + moved coefficients))."""
    k = at.shape[0]
    n, d = X.shape
    out = np.empty((k, d))
    for blk in prange((k + _ROW_BLOCK - 1) // _ROW_BLOCK):
        for q in range(blk * _ROW_BLOCK, min(k, (blk + 1) * _ROW_BLOCK)):
            src = W0[at[q]]
            w = out[q]
            for c in range(d):
                w[c] = src[c]
            row = crow[q]
            if row >= 0:
                for j in range(n):
                    cj = C[row, j]
                    if cj != 0.0:
                        for c in range(d):
                            w[c] += cj * X[j, c]
    return out


def explicit_leaves(W0, at, crow, C, X, by_point):
    """The inner-product leaf update (seed 002 Alg. 5): each neuron's explicit row (`explicit_rows`), then
    u_i = <w, x_i> for every point, O(k·n·d), as one BLAS product — (n, k) when by_point (the trees' layout),
    else (k, n). At 2^22 (1.8·10⁵ neurons, n = 16, d = 32) the product took 19 ms where a fused Numba pass's
    inner products took ~40 ms (its loops kept the n sums in memory, not registers)."""
    rows = explicit_rows(W0, at, crow, C, X)
    return X @ rows.T if by_point else rows @ X.T
