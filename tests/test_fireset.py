"""FireSetIndex (docs/theory.md §6) and the Gram-from-incidence identity against naive references."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulator.kernels.fireset import gram_from_csr, gram_from_neuron_major
from simulator.tree import FireSetIndex

from naive import naive_active, naive_fire_sets, naive_jacobian


def check_csr(index, U, b):
    indptr, indices = index.csr()
    expected = naive_fire_sets(U, b)
    assert indptr.shape == (U.shape[0] + 1,)
    for i, e in enumerate(expected):
        assert np.array_equal(indices[indptr[i]:indptr[i + 1]], e)
    assert np.array_equal(index.fire_counts(), [e.size for e in expected])


@pytest.mark.parametrize("m", [1, 2, 17, 256, 4099])
def test_gram_from_incidence_equals_dense_jjt(m):
    rng = np.random.default_rng(m)
    n, d, b = 5, 3, 0.3
    W = rng.standard_normal((m, d))
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    a = rng.choice([-1.0, 1.0], size=m)
    U = X @ W.T
    index = FireSetIndex(U, b)
    check_csr(index, U, b)
    J = naive_jacobian(W, X, a, b)
    assert np.allclose(index.gram(X), J @ J.T, rtol=1e-12, atol=1e-14)
    # ascending ids per point take the merge path, shuffled ones the sort path: the same counts, the same G
    indptr, indices = index.csr()
    shuffled = indices.copy()
    for i in range(n):
        rng.shuffle(shuffled[indptr[i]:indptr[i + 1]])
    XXt = X @ X.T
    G = gram_from_csr(indptr, indices, XXt, m)
    assert np.array_equal(G, gram_from_csr(indptr, shuffled, XXt, m))
    assert np.allclose(G, J @ J.T, rtol=1e-12, atol=1e-14)
    # the same sets by neuron (each neuron's points, as the active-set index keeps them): the same G
    _, points = naive_active(U, b)
    kptr = np.concatenate([[0], np.cumsum([p.size for p in points])]).astype(np.int64)
    kpts = np.concatenate([np.empty(0, np.int64), *points]).astype(np.int64)
    assert kptr[-1] == indices.size and np.array_equal(G, gram_from_neuron_major(kptr, kpts, XXt, m))


def test_updates_keep_the_index_exact():
    rng = np.random.default_rng(1)
    n, m, b = 6, 500, 0.5
    U = rng.standard_normal((n, m))
    index = FireSetIndex(U, b)
    total_flips = 0
    for _ in range(40):
        k = int(rng.integers(0, 60))
        idx = rng.choice(m, size=k, replace=False)
        rows = U[:, idx].T + 0.5 * rng.standard_normal((k, n))
        before = (U[:, idx] > b).copy()
        U[:, idx] = rows.T
        total_flips += int(np.sum(before != (U[:, idx] > b)))
        index.update(idx, rows)
        check_csr(index, U, b)
    assert index.memberships_changed == total_flips > 0


def test_add_moves_leaves_and_membership():
    rng = np.random.default_rng(2)
    n, m, b = 5, 300, 0.2
    U = rng.standard_normal((n, m))
    index = FireSetIndex(U, b)
    for _ in range(20):
        idx = rng.choice(m, size=int(rng.integers(0, 40)), replace=False)
        D = 0.3 * rng.standard_normal((idx.size, n))
        U[:, idx] += D.T
        index.add(idx, D)
        assert np.array_equal(index.leaves, U)
        check_csr(index, U, b)
    unsorted = index.csr(sort=False)
    for i, e in enumerate(naive_fire_sets(U, b)):
        assert np.array_equal(np.sort(unsorted[1][unsorted[0][i]:unsorted[0][i + 1]]), e)


def test_neuron_major_construction_is_the_same_index():
    U = np.random.default_rng(4).standard_normal((4, 333))
    a, b = FireSetIndex(U, 0.3), FireSetIndex.from_leaves_by_neuron(np.ascontiguousarray(U.T), 0.3)
    for x, y in zip(a.csr(), b.csr()):
        assert np.array_equal(x, y)
    assert np.array_equal(a.leaves, b.leaves)
    check_csr(b, U, 0.3)


def test_threshold_is_strict():
    U = np.array([[0.5, 0.5000000001, 0.4999999999]])
    indptr, indices = FireSetIndex(U, 0.5).csr()
    assert np.array_equal(indices, [1])


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 200), n=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_property_update_equals_rebuild(m, n, seed):
    rng = np.random.default_rng(seed)
    U = np.round(rng.standard_normal((n, m)), 1)  # ties at b = 0.0 happen
    index = FireSetIndex(U, 0.0)
    idx = rng.choice(m, size=int(rng.integers(0, m + 1)), replace=False)
    rows = np.round(rng.standard_normal((idx.size, n)), 1)
    U[:, idx] = rows.T
    index.update(idx, rows)
    check_csr(index, U, 0.0)


def test_bad_input():
    with pytest.raises(ValueError, match="U: contains NaN"):
        FireSetIndex(np.array([[np.nan]]), 0.0)
    with pytest.raises(ValueError, match="b: threshold is NaN"):
        FireSetIndex(np.ones((1, 2)), float("nan"))
    index = FireSetIndex(np.ones((2, 3)), 0.0)
    with pytest.raises(ValueError, match="U_rows: expected 2 columns"):
        index.update([0], np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"idx: neuron ids must lie in \[0, 3\)"):
        index.update([3], np.ones((1, 2)))
    with pytest.raises(ValueError, match="X: expected 2 rows"):
        index.gram(np.ones((3, 2)))
