"""kernels/jacobian.py against a dense Jacobian built entry by entry."""

import math

import numpy as np
import pytest

from simulator.kernels import jacobian as jac


def naive_problem(m, n, d, seed, b=0.3):
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


def naive_jacobian(X, a, fires):
    n, d = X.shape
    m = a.shape[0]
    J = np.zeros((n, m * d))
    for i in range(n):
        for r in range(m):
            if fires[i, r]:
                J[i, r * d:(r + 1) * d] = a[r] * X[i] / math.sqrt(m)
    return J


@pytest.mark.parametrize("m,n,d,seed", [(1, 2, 3, 0), (7, 3, 2, 1), (200, 5, 4, 2), (1000, 8, 6, 3)])
@pytest.mark.parametrize("sort", [True, False])
def test_kernels_match_the_dense_jacobian(m, n, d, seed, sort):
    X, W, a, U, b, fires, indptr, indices = naive_problem(m, n, d, seed)
    mark = np.full(m, -1, dtype=np.int64)
    K, kptr, kpts = jac.by_neuron(indptr, indices, mark, sort)
    assert np.all(mark == -1)  # the scratch is left clean
    union = np.flatnonzero(fires.any(axis=0))
    assert np.array_equal(np.sort(K), union)
    if sort:
        assert np.array_equal(K, union)
    for q, r in enumerate(K):
        assert np.array_equal(kpts[kptr[q]:kptr[q + 1]], np.flatnonzero(fires[:, r]))

    J = naive_jacobian(X, a, fires)
    G = J @ J.T
    XXt = X @ X.T
    assert np.allclose(XXt * jac.gram_counts(kptr, kpts, n) / m, G, rtol=1e-12, atol=1e-15)
    v = np.random.default_rng(seed).standard_normal(n)
    assert np.allclose(jac.gram_matvec(K, kptr, kpts, a, X, v), G @ v, rtol=1e-12, atol=1e-14)

    f = np.array([sum(a[r] * max(U[i, r] - b, 0.0) for r in range(m)) / math.sqrt(m) for i in range(n)])
    assert np.allclose(jac.forward(indptr, indices, np.ascontiguousarray(U.T), a, b), f, rtol=1e-12, atol=1e-14)

    g = np.random.default_rng(seed + 1).standard_normal(n)
    dcv = jac.step_coefficients(K, kptr, kpts, a, g)
    dC = np.zeros((K.size, n))
    for q in range(K.size):
        dC[q, kpts[kptr[q]:kptr[q + 1]]] = dcv[kptr[q]:kptr[q + 1]]
    step = (J.T @ g).reshape(m, d)  # W_{t+1} = W_t − Jᵀg
    assert np.allclose(dC @ X, -step[K], rtol=1e-12, atol=1e-14)
    row_of = np.full(m, -1, dtype=np.int64)
    C = np.zeros((K.size + 1, n))
    moved = jac.accumulate_coefficients(row_of, C, 0, K, kptr, kpts, dcv)
    assert moved == K.size and np.array_equal(C[row_of[K]], dC)
    assert jac.accumulate_coefficients(row_of, C, moved, K, kptr, kpts, dcv) == moved  # no new rows
    assert np.array_equal(C[row_of[K]], 2 * dC)
    D = jac.leaf_deltas(kptr, kpts, dcv, XXt)
    assert np.allclose(D, -(step[K] @ X.T), rtol=1e-12, atol=1e-14)
    assert np.array_equal(jac.gather_leaves(np.ascontiguousarray(U.T), K), U[:, K].T)
    # a strided (tree-like) leaf view gives the same answers
    assert np.array_equal(jac.gather_leaves(U.T, K), U[:, K].T)


def test_empty_fire_sets():
    indptr = np.zeros(4, dtype=np.int64)
    indices = np.zeros(0, dtype=np.int64)
    K, kptr, kpts = jac.by_neuron(indptr, indices, np.full(5, -1, dtype=np.int64), True)
    assert K.size == 0 and np.array_equal(kptr, [0]) and kpts.size == 0
    assert np.array_equal(jac.gram_counts(kptr, kpts, 3), np.zeros((3, 3)))


def naive_active(U, b):
    """Neurons firing on some point (ascending) and, per neuron, its points."""
    fires = U > b
    K = np.flatnonzero(fires.any(axis=0))
    return K, [np.flatnonzero(fires[:, r]) for r in K]


def check_active(active, U, b):
    K, kptr, kpts = active
    K_ref, pts_ref = naive_active(U, b)
    assert np.array_equal(K, K_ref)
    for q in range(K.size):
        assert np.array_equal(kpts[kptr[q]:kptr[q + 1]], pts_ref[q])
    indptr, indices = jac.point_major(K, kptr, kpts, U.shape[0])
    for i in range(U.shape[0]):
        assert np.array_equal(indices[indptr[i]:indptr[i + 1]], np.flatnonzero(U[i] > b))


@pytest.mark.parametrize("m,n", [(1, 2), (5, 3), (3000, 6)])
def test_active_set_index(m, n):
    rng = np.random.default_rng(m)
    b = 0.8
    U = rng.standard_normal((n, m))
    LT = np.ascontiguousarray(U.T)
    active = jac.active_from_leaves(LT, b)
    check_active(active, U, b)
    for step in range(6):
        K = active[0]
        rows = 0.3 * rng.standard_normal((K.size, n))
        add = step % 2 == 0
        U[:, K] = (U[:, K] + rows.T) if add else rows.T
        active = jac.active_update(K, rows, add, b, LT)
        assert np.array_equal(LT, U.T)
        # neurons outside K fired nowhere and did not move: the active set is exact for all of U
        check_active(active, U, b)
