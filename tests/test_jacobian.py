"""kernels/jacobian.py against a dense Jacobian built entry by entry."""

import math

import numpy as np
import pytest

from simulator.kernels import active as act
from simulator.kernels import jacobian as jac

from naive import naive_active, naive_jacobian_of_incidence, naive_problem


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

    J = naive_jacobian_of_incidence(X, a, fires)
    G = J @ J.T
    XXt = X @ X.T
    assert np.allclose(XXt * jac.gram_counts(kptr, kpts, n) / m, G, rtol=1e-12, atol=1e-15)
    v = np.random.default_rng(seed).standard_normal(n)
    assert np.allclose(jac.gram_matvec(kptr, kpts, a[K] / math.sqrt(m), XXt, v), G @ v, rtol=1e-12, atol=1e-14)

    f = np.array([sum(a[r] * max(U[i, r] - b, 0.0) for r in range(m)) / math.sqrt(m) for i in range(n)])
    assert np.allclose(jac.forward(indptr, indices, np.ascontiguousarray(U.T), a, b), f, rtol=1e-12, atol=1e-14)

    g = np.random.default_rng(seed + 1).standard_normal(n)
    dcv = jac.step_coefficients(kptr, kpts, a[K] / math.sqrt(m), g)
    dC = np.zeros((K.size, n))
    for q in range(K.size):
        dC[q, kpts[kptr[q]:kptr[q + 1]]] = dcv[kptr[q]:kptr[q + 1]]
    step = (J.T @ g).reshape(m, d)  # W_{t+1} = W_t − Jᵀg
    assert np.allclose(dC @ X, -step[K], rtol=1e-12, atol=1e-14)
    row_of = np.full(m, -1, dtype=np.int64)
    C = np.zeros((K.size + 1, n))
    ids = np.full(K.size + 1, -1, dtype=np.int64)
    moved = jac.accumulate_coefficients(row_of, C, 0, K, kptr, kpts, dcv, ids)
    assert moved == K.size and np.array_equal(C[row_of[K]], dC)
    assert np.array_equal(ids[row_of[K]], K) and ids[-1] == -1  # row k of C is neuron ids[k]'s
    assert jac.accumulate_coefficients(row_of, C, moved, K, kptr, kpts, dcv, ids) == moved  # no new rows
    if K.size:
        with pytest.raises(IndexError):  # a first-time mover with no free row: an error, not a write past C
            jac.accumulate_coefficients(np.full(m, -1, dtype=np.int64), C[:1], 1, K, kptr, kpts, dcv, ids)
    assert np.array_equal(C[row_of[K]], 2 * dC)
    D = jac.leaf_deltas(kptr, kpts, dcv, XXt)
    assert np.allclose(D, -(step[K] @ X.T), rtol=1e-12, atol=1e-14)
    # the largest move of one neuron, from the dense step (|a_r| = 1)
    Wm = W.copy()
    jac.add_step_rows(Wm, K, kptr, kpts, dcv, X)
    assert np.allclose(Wm, W - step, rtol=1e-12, atol=1e-14)
    assert np.allclose(jac.row_deltas(kptr, kpts, dcv, X), -step[K], rtol=1e-12, atol=1e-14)
    moves = np.linalg.norm(step, axis=1)
    assert np.isclose(jac.max_step_norm(kptr, kpts, g, XXt) / math.sqrt(m), moves.max(), rtol=1e-12, atol=1e-15)
    assert np.array_equal(jac.gather_leaves(np.ascontiguousarray(U.T), K), U[:, K].T)
    # a strided (tree-like) leaf view gives the same answers
    assert np.array_equal(jac.gather_leaves(U.T, K), U[:, K].T)


def test_by_neuron_by_a_scan_of_span_marks():
    rng = np.random.default_rng(3)
    m = 50
    indptr = np.array([0, 3, 3, 7, 9], dtype=np.int64)
    indices = np.concatenate([np.sort(rng.choice(30, c, replace=False)) for c in np.diff(indptr)]).astype(np.int64)
    mark = np.full(m, -1, dtype=np.int64)
    sorted_ = jac.by_neuron(indptr, indices, mark, True)
    scanned = jac.by_neuron(indptr, indices, mark, True, 30)  # every index < 30: K by a scan of 30 marks
    for a, b in zip(sorted_, scanned):
        assert np.array_equal(a, b)
    assert np.all(mark == -1)
    with pytest.raises(ValueError, match="span"):  # a bound that is wrong is an error, and the scratch is clean
        jac.by_neuron(indptr, indices, mark, True, int(indices.max()))
    assert np.all(mark == -1)


def test_empty_fire_sets():
    indptr = np.zeros(4, dtype=np.int64)
    indices = np.zeros(0, dtype=np.int64)
    K, kptr, kpts = jac.by_neuron(indptr, indices, np.full(5, -1, dtype=np.int64), True)
    assert K.size == 0 and np.array_equal(kptr, [0]) and kpts.size == 0
    assert np.array_equal(jac.gram_counts(kptr, kpts, 3), np.zeros((3, 3)))


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
    K, kptr, kpts = act.active_from_leaves(LT, b)
    check_active((K, kptr, kpts), U, b)
    LK = LT[K]
    for step in range(6):
        rows = LK + 0.3 * rng.standard_normal((K.size, n))
        U[:, K] = rows.T
        K_old = K
        K, kptr, kpts, LK, keep, left = act.active_update(K, rows, LK, b)
        # neurons outside K fired nowhere and did not move: the active set is exact for all of U
        check_active((K, kptr, kpts), U, b)
        assert np.array_equal(K, K_old[keep]) and np.array_equal(LK, U[:, K].T)
        assert np.array_equal(K_old[left], np.setdiff1d(K_old, K))  # the leavers, by position
        assert np.all(rows[left] <= b)


def test_fused_active_step_equals_the_composed_kernels():
    rng = np.random.default_rng(7)
    m, n, b = 2000, 6, 0.7
    X = rng.standard_normal((n, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    XXt = X @ X.T
    a = rng.choice([-1.0, 1.0], size=m)
    LT = rng.standard_normal((m, n))
    K, kptr, kpts = act.active_from_leaves(LT, b)
    act1 = (K, kptr, kpts, LT[K])
    act2 = (K.copy(), kptr, kpts, a[K] / math.sqrt(m), np.full(K.size, -1, dtype=np.int64), LT[K])  # K: in place
    row1, ids2 = np.full(m, -1, dtype=np.int64), np.full(m, -1, dtype=np.int64)
    C1, C2 = np.zeros((m, n)), np.zeros((m, n))
    moved1 = moved2 = leavers = 0
    for _ in range(4):
        g = rng.standard_normal(n)
        K, kptr, kpts, LK = act1
        dcv = jac.step_coefficients(kptr, kpts, a[K] / math.sqrt(m), g)
        moved1 = jac.accumulate_coefficients(row1, C1, moved1, K, kptr, kpts, dcv, np.full(m, -1, dtype=np.int64))
        rows = LK + jac.leaf_deltas(kptr, kpts, dcv, XXt)
        K1, kptr1, kpts1, LK1, _, left1 = act.active_update(K, rows, LK, b)
        act1 = (K1, kptr1, kpts1, LK1)
        *act2, moved2, left2, left_leaves2, f_next, counts = act.active_gram_step(
            *act2[:3], act2[3], act2[4], act2[5], g, XXt, b, ids2, C2, moved2)
        assert moved1 == moved2 and np.array_equal(C1, C2)
        assert np.array_equal(row1[ids2[:moved2]], np.arange(moved2))  # row k of C is neuron ids2[k]'s
        assert np.array_equal(K[left1], left2) and np.array_equal(rows[left1], left_leaves2)
        leavers += left1.size
        # what the next query needs, bit for bit what it would compute itself
        assert np.array_equal(f_next, act.forward_active(kptr1, kpts1, a[K1] / math.sqrt(m), LK1, b, n))
        assert np.array_equal(counts, np.bincount(kpts1, minlength=n))
        for x, y in zip(act1, (act2[0], act2[1], act2[2], act2[5])):
            assert np.array_equal(x, y)
        assert np.array_equal(act2[3], a[act2[0]] / math.sqrt(m))  # a_r/√m travels with K
        assert np.array_equal(act2[4], row1[act2[0]])  # and so does r's row of C
    assert leavers > 0  # the write-back of leavers' leaves was exercised


def test_forward_active_matches_forward():
    rng = np.random.default_rng(3)
    m, n, b = 500, 5, 0.4
    LT = rng.standard_normal((m, n))
    a = rng.choice([-1.0, 1.0], size=m)
    K, kptr, kpts = act.active_from_leaves(LT, b)
    indptr, indices = jac.point_major(K, kptr, kpts, n)
    assert np.allclose(act.forward_active(kptr, kpts, a[K] / math.sqrt(m), LT[K], b, n),
                       jac.forward(indptr, indices, LT, a, b), rtol=1e-13, atol=1e-15)
