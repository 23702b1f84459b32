"""Sparse Jacobian operations driven by fire sets (seed 002 Algorithm 5, steps 1-3).

J_t ∈ R^{n×md}: row i, block r = (1/√m)·a_r·x_i·1[r ∈ S_i]. Nothing here ever
forms J or touches a neuron outside K = ∪_i S_i: every kernel costs
O(nnz·d) or O(nnz) with nnz = Σ_i |S_i|. Fire sets come as CSR arrays
(indptr (n+1,), indices). `mark` is a caller-owned int64 scratch of length m,
all −1 on entry and on exit, so no kernel does O(m) work per call.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def union(indptr, indices, mark):
    """K = ∪_i S_i, ascending, and mark[r] = position of r in K for r ∈ K.

    The caller must call `unmark(K, mark)` when done with the positions.
    """
    nnz = indices.shape[0]
    K = np.empty(nnz, dtype=np.int64)
    k = 0
    for p in range(nnz):
        r = indices[p]
        if mark[r] < 0:
            mark[r] = 0
            K[k] = r
            k += 1
    K = np.sort(K[:k])
    for q in range(k):
        mark[K[q]] = q
    return K


@njit(cache=True)
def unmark(K, mark):
    for q in range(K.shape[0]):
        mark[K[q]] = -1


@njit(cache=True)
def forward(indptr, indices, leaves, a, b):
    """f_i = (1/√m) Σ_{r∈S_i} a_r (u_{r,i} − b): predictions from fire sets and leaves only."""
    n = indptr.shape[0] - 1
    m = a.shape[0]
    f = np.zeros(n)
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            s += a[r] * (leaves[i, r] - b)
        f[i] = s / math.sqrt(m)
    return f


@njit(cache=True)
def gram_matvec(indptr, indices, a, X, v, mark, nK):
    """G v = A^T (A v) with A = J^T applied through the fire sets: O(nnz·d).

    mark must hold the positions of K (from `union`); nK = |K|.
    (A v)_r = (a_r/√m) Σ_{i: r∈S_i} v_i x_i, then (Aᵀ·)_i = Σ_{r∈S_i} (a_r/√m)<(A v)_r, x_i>.
    """
    n, d = X.shape
    m = a.shape[0]
    s = 1.0 / math.sqrt(m)
    Av = np.zeros((nK, d))
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            q = mark[r]
            c = a[r] * s * v[i]
            for k in range(d):
                Av[q, k] += c * X[i, k]
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            q = mark[r]
            dot = 0.0
            for k in range(d):
                dot += Av[q, k] * X[i, k]
            acc += a[r] * s * dot
        out[i] = acc
    return out


@njit(cache=True)
def step_coefficients(indptr, indices, a, g, mark, nK):
    """Rows of −J^T g in the basis {x_j}: dC[mark[r], i] = −a_r g_i/√m for r ∈ S_i.

    W_{t+1} = W_t − J_t^T g_t moves w_r by −(a_r/√m) Σ_{i: r∈S_i} g_i x_i (Alg. 5, step 3).
    """
    n = indptr.shape[0] - 1
    m = a.shape[0]
    s = 1.0 / math.sqrt(m)
    dC = np.zeros((nK, n))
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            r = indices[p]
            dC[mark[r], i] = -a[r] * g[i] * s
    return dC


@njit(cache=True)
def gather_leaves(leaves, K):
    """U_rows[q, i] = leaves[i, K[q]]: the current leaf values of the neurons in K."""
    n = leaves.shape[0]
    out = np.empty((K.shape[0], n))
    for q in range(K.shape[0]):
        r = K[q]
        for i in range(n):
            out[q, i] = leaves[i, r]
    return out


@njit(cache=True)
def scatter_leaves(leaves, K, U_rows):
    """leaves[i, K[q]] = U_rows[q, i]."""
    n = leaves.shape[0]
    for q in range(K.shape[0]):
        r = K[q]
        for i in range(n):
            leaves[i, r] = U_rows[q, i]
