"""Naive reference implementations that the kernel tests check against.

Every kernel in ``simulator`` is checked against one of these functions.
They are written as plain loops and plain NumPy, straight from the
definitions (seed 002 / docs/theory.md), with no attempt at speed.

This module must not import anything from ``simulator``: a reference that
shares code with what it checks could not catch that code's bugs.

Test modules import from here as ``from naive import ...``; pytest puts
``tests/`` on ``sys.path`` because ``tests/`` has no ``__init__.py``.
"""

import math

import numpy as np

__all__ = [
    # two-layer network: forward pass, Jacobian, steps
    "naive_forward",
    "naive_jacobian",
    "naive_jacobian_of_incidence",
    "naive_gauss_newton_step",
    "naive_gd_step",
    # fire sets / active sets
    "naive_problem",
    "naive_fire_sets",
    "naive_active",
    # threshold tree
    "naive_leaves",
    "naive_query",
    "naive_band",
    "naive_heap_ok",
    # data
    "naive_separability",
    # sketches
    "M64",
    "GOLDEN",
    "naive_mix",
    "naive_entry",
    "naive_osnap_matrix",
    "naive_dense_jt",
    "naive_sketch_jt",
]


# -- two-layer network: forward pass, Jacobian, steps --------------------------
def naive_forward(W, X, a, b):
    """f(x) = Σ_r a_r max(<w_r, x> − b, 0) / √m, one point at a time."""
    m = W.shape[0]
    return np.array([sum(a[r] * max(W[r] @ x - b, 0.0) for r in range(m)) / math.sqrt(m) for x in X])


def naive_jacobian_of_incidence(X, a, fires):
    """J (n, m·d) from a given incidence: row i, block r = a_r x_i / √m where
    fires[i, r] is true, zero elsewhere; built entry by entry.

    Use this form when the kernel under test is fed fire sets computed
    elsewhere (e.g. from U = X Wᵀ), so that the reference sees exactly the
    same fire sets, including at the threshold."""
    n, d = X.shape
    m = a.shape[0]
    J = np.zeros((n, m * d))
    for i in range(n):
        for r in range(m):
            if fires[i, r]:
                for c in range(d):
                    J[i, r * d + c] = a[r] * X[i, c] / math.sqrt(m)
    return J


def naive_jacobian(W, X, a, b):
    """J (n, m·d): row i, block r = a_r x_i 1[<w_r, x_i> > b] / √m, built entry by
    entry (each <w_r, x_i> is its own dot product)."""
    m = W.shape[0]
    n = X.shape[0]
    fires = np.zeros((n, m), dtype=bool)
    for i in range(n):
        for r in range(m):
            fires[i, r] = np.dot(W[r], X[i]) > b
    return naive_jacobian_of_incidence(X, a, fires)


def naive_gauss_newton_step(W, X, y, a, b):
    """W − Jᵀ (J Jᵀ)⁻¹ (f − y), reshaped to W's shape."""
    J = naive_jacobian(W, X, a, b)
    g = np.linalg.solve(J @ J.T, naive_forward(W, X, a, b) - y)
    return W - (J.T @ g).reshape(W.shape)


def naive_gd_step(W, X, y, a, b, eta):
    """W − η Jᵀ (f − y), reshaped to W's shape."""
    J = naive_jacobian(W, X, a, b)
    return W - eta * (J.T @ (naive_forward(W, X, a, b) - y)).reshape(W.shape)


# -- fire sets / active sets -----------------------------------------------------
def naive_problem(m, n, d, seed, b=0.3):
    """A small random problem with its fire sets, as dense incidence and as CSR.

    Returns X (unit rows), W, a (±1), U = X Wᵀ, b, fires = U > b, indptr, indices."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((m, d))
    a = rng.choice([-1.0, 1.0], size=m)
    U = X @ W.T
    fires = U > b
    indptr = np.concatenate([[0], np.cumsum(fires.sum(axis=1))]).astype(np.int64)
    indices = np.concatenate([np.flatnonzero(row) for row in fires]).astype(np.int64)
    return X, W, a, U, b, fires, indptr, indices


def naive_fire_sets(U, b):
    """Per point i, the neurons r with U[i, r] > b (ascending, int64)."""
    return [naive_query(U, i, b) for i in range(U.shape[0])]


def naive_active(U, b):
    """Neurons firing on some point (ascending) and, per neuron, its points."""
    fires = U > b
    K = np.flatnonzero(fires.any(axis=0))
    return K, [np.flatnonzero(fires[:, r]) for r in K]


# -- threshold tree --------------------------------------------------------------
def naive_leaves(W, X):
    """U (n, m): U[i, r] = <w_r, x_i>, one dot product per entry."""
    return np.array([[float(np.dot(W[r], X[i])) for r in range(W.shape[0])] for i in range(X.shape[0])])


def naive_query(U, i, tau):
    """The neurons r with U[i, r] > tau (ascending, int64)."""
    return np.array([r for r in range(U.shape[1]) if U[i, r] > tau], dtype=np.int64)


def naive_band(U, i, lo, hi):
    """The neurons r with lo < U[i, r] <= hi (ascending, int64)."""
    return np.array([r for r in range(U.shape[1]) if lo < U[i, r] <= hi], dtype=np.int64)


def naive_heap_ok(nodes, M, U):
    """Every leaf holds its u (or -inf padding); every internal node the max of its children.

    Asserts (raises AssertionError) rather than returning a flag."""
    n, m = U.shape
    for i in range(n):
        leaves = nodes[i, M:]
        assert np.array_equal(leaves[:m], U[i])
        assert np.all(np.isneginf(leaves[m:]))
        for k in range(1, M):
            assert nodes[i, k] == max(nodes[i, 2 * k], nodes[i, 2 * k + 1])


# -- data --------------------------------------------------------------------------
def naive_separability(X):
    """Reference: O(n²) double loop over pairs, straight from Def. 2.11."""
    n = X.shape[0]
    best = np.inf
    for i in range(n):
        for j in range(n):
            if i != j:
                best = min(best, np.linalg.norm(X[i] - X[j]), np.linalg.norm(X[i] + X[j]))
    return best


# -- sketches ----------------------------------------------------------------------
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def naive_mix(z):
    """splitmix64 finaliser in Python integers."""
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def naive_entry(seed, r, c, k, d, s, nnz):
    """Documented hash, in Python integers: key = mix(seed + γ), counter
    (r·d + c)·nnz + k, h = mix(key + γ·(counter + 1)); row from the top 32
    bits inside block k, sign from bit 0."""
    key = naive_mix(int(seed) + GOLDEN)
    h = naive_mix(key + GOLDEN * ((r * d + c) * nnz + k + 1))
    lo = k * s // nnz
    size = (k + 1) * s // nnz - lo
    return lo + (((h >> 32) * size) >> 32), (1.0 if h & 1 == 0 else -1.0)


def naive_osnap_matrix(m, d, s, nnz, seed):
    """The dense OSNAP matrix S (s, m·d), entry by entry from naive_entry."""
    S = np.zeros((s, m * d))
    for r in range(m):
        for c in range(d):
            for k in range(nnz):
                row, sign = naive_entry(seed, r, c, k, d, s, nnz)
                S[row, r * d + c] += sign / math.sqrt(nnz)
    return S


def naive_dense_jt(indptr, indices, a, X, m):
    """A = Jᵀ (m·d, n) from CSR fire sets, entry by entry (the transpose of
    naive_jacobian_of_incidence, with m given explicitly)."""
    n, d = X.shape
    A = np.zeros((m * d, n))
    for i in range(n):
        for r in indices[indptr[i]:indptr[i + 1]]:
            for c in range(d):
                A[r * d + c, i] = a[r] * X[i, c] / math.sqrt(m)
    return A


def naive_sketch_jt(indptr, indices, a, X, m, s, nnz, seed):
    """B = S·Jᵀ as a dense product of the two naive matrices."""
    return naive_osnap_matrix(m, X.shape[1], s, nnz, seed) @ naive_dense_jt(
        indptr, indices, a, X, m)
