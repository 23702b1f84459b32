"""ThresholdTree and its kernels against plain-NumPy naive references."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulator.kernels import tree as kt
from simulator.tree import ThresholdTree

from naive import naive_band, naive_heap_ok, naive_leaves, naive_query, naive_query_nodes


# -- helpers -------------------------------------------------------------------
def rand_problem(m, n=4, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, d)), rng.standard_normal((n, d))


# c in the query cost bound: nodes touched <= C_QUERY · (K + 1) · max(1, log2 m)
C_QUERY = 2


@pytest.mark.parametrize("m", [1, 2, 3, 5, 7, 64, 100, 1000, 2**16])
def test_build_and_query_match_naive(m):
    W, X = rand_problem(m, n=3, d=4, seed=m)
    t = ThresholdTree(W, X)
    U = X @ W.T
    if m <= 1000:
        naive_heap_ok(t.nodes, t.M, U)
    assert np.allclose(t.leaves, naive_leaves(W, X) if m <= 1000 else U, rtol=0, atol=1e-12)
    for i in range(3):
        for tau in [-np.inf, -1.0, 0.0, 0.7, 2.5, np.inf]:
            before = t.nodes_touched
            got = t.query(i, tau)
            expected = naive_query(t.leaves, i, tau)
            assert np.array_equal(got, expected)
            touched = t.nodes_touched - before
            assert touched <= C_QUERY * (len(got) + 1) * max(1.0, math.log2(m)) + 1
            if m <= 1000:  # the walk reads exactly the root and the children of every internal node above tau
                assert touched == naive_query_nodes(t.leaves, i, tau)


@pytest.mark.parametrize("m", [1, 3, 5, 8, 100])
def test_query_all_when_every_leaf_fires(m):
    # every slot a hit, padding leaves read beside them: the hits fill the m-long scratch exactly
    U = np.random.default_rng(m).standard_normal((3, m))
    t = ThresholdTree.from_leaves(U)
    indptr, indices = t.query_all(-np.inf)
    assert np.array_equal(indptr, np.arange(4) * m)
    assert np.array_equal(indices, np.tile(np.arange(m), 3))
    assert np.array_equal(t.report_band(0, -np.inf, np.inf), np.arange(m)) and t.count_band(0, -np.inf, np.inf) == m


def test_ties_exactly_at_tau_are_excluded():
    U = np.array([[0.5, 1.0, 1.0, 0.25, 1.0]])
    t = ThresholdTree.from_leaves(U)
    assert np.array_equal(t.query(0, 1.0), [])
    assert np.array_equal(t.query(0, 0.5), [1, 2, 4])
    assert np.array_equal(t.query(0, 0.25), [0, 1, 2, 4])
    assert np.array_equal(t.report_band(0, 0.25, 1.0), [0, 1, 2, 4])
    assert np.array_equal(t.report_band(0, 0.4, 0.5), [0])
    assert t.count_band(0, 0.5, 1.0) == 3


def test_tau_above_max_touches_only_root_and_below_min_returns_all():
    W, X = rand_problem(1000, seed=3)
    t = ThresholdTree(W, X)
    top = t.leaves[1].max()
    before = t.nodes_touched
    assert t.query(1, top).size == 0
    assert t.nodes_touched - before == 1
    assert np.array_equal(t.query(1, t.leaves[1].min() - 1), np.arange(1000))


def test_band_matches_naive():
    W, X = rand_problem(777, seed=4)
    t = ThresholdTree(W, X)
    for lo, hi in [(-0.1, 0.1), (0.5, 0.6), (1.0, 0.0), (-np.inf, np.inf), (2.0, 10.0)]:
        for i in range(X.shape[0]):
            expected = naive_band(t.leaves, i, lo, hi)
            assert np.array_equal(t.report_band(i, lo, hi), expected)
            assert t.count_band(i, lo, hi) == expected.size


def test_query_all_is_csr_of_queries():
    W, X = rand_problem(3000, n=6, seed=5)
    t = ThresholdTree(W, X)
    indptr, indices = t.query_all(0.8)
    for i in range(6):
        assert np.array_equal(indices[indptr[i]:indptr[i + 1]], naive_query(t.leaves, i, 0.8))


def test_query_all_grows_its_buffer():
    # Every neuron fires everywhere: the output (n·m) is far above the initial buffer.
    U = np.ones((8, 5000))
    indptr, indices = ThresholdTree.from_leaves(U).query_all(0.0)
    assert indptr[-1] == 40000 and np.array_equal(indices[:5000], np.arange(5000))


def heap_ok(t):
    """naive_heap_ok over the slot-ordered leaves, and the neuron-ordered view agrees with the slots."""
    naive_heap_ok(t.nodes, t.M, np.asarray(t.leaves_by_slot))
    assert np.array_equal(t.leaves[:, t.order], t.leaves_by_slot)


@pytest.mark.parametrize("permuted", [False, True])
@pytest.mark.parametrize("m", [1, 2, 5, 33, 512, 1025])
def test_many_rounds_of_updates_then_queries(m, permuted):
    # t_w is driven through weights (update / update_many), t_u through leaves (set_leaves); with permuted,
    # the neurons sit in the leaf slots of a random order (answers and ids are the same either way)
    rng = np.random.default_rng(m)
    n, d = 4, 3
    W, X = rng.standard_normal((m, d)), rng.standard_normal((n, d))
    order = rng.permutation(m) if permuted else None
    t_w, t_u = ThresholdTree(W, X, order=order), ThresholdTree(W, X, order=order)
    Wref = W.copy()
    for round_ in range(30):
        if round_ % 2 == 0:
            j = int(rng.integers(m))
            idx, Z = np.array([j]), rng.standard_normal((1, d))
            t_w.update(j, Z[0])
        else:
            k = int(rng.integers(1, m + 1))
            idx = rng.choice(m, size=k, replace=False)
            Z = Wref[idx] + 0.3 * rng.standard_normal((k, d))
            t_w.update_many(idx, Z)
        t_u.set_leaves(idx, Z @ X.T)
        Wref[idx] = Z
        U = naive_leaves(Wref, X)
        tau = float(rng.normal())
        for t in (t_w, t_u):
            assert np.allclose(t.leaves, U, rtol=0, atol=1e-12)
            heap_ok(t)
            indptr, indices = t.query_all(tau)
            for i in range(n):
                expected = naive_query(np.asarray(t.leaves), i, tau)
                assert np.array_equal(t.query(i, tau), expected)
                assert np.array_equal(indices[indptr[i]:indptr[i + 1]], expected)
                assert np.array_equal(t.report_band(i, tau - 0.5, tau + 0.5), naive_band(U, i, tau - 0.5, tau + 0.5))


@pytest.mark.parametrize("permuted", [False, True])
@pytest.mark.parametrize("m", [1, 7, 64, 1025])
def test_paper_update_mixes_with_leaf_only_updates(m, permuted):
    # Update (Alg. 3) needs only X: it keeps working after set_leaves, on one tree driven both ways
    rng = np.random.default_rng(m + 1)
    n, d = 4, 3
    W, X = rng.standard_normal((m, d)), rng.standard_normal((n, d))
    t = ThresholdTree(W, X, order=rng.permutation(m) if permuted else None)
    Wref = W.copy()
    for round_ in range(24):
        k = int(rng.integers(1, m + 1))
        idx = rng.choice(m, size=k, replace=False)
        Z = Wref[idx] + 0.3 * rng.standard_normal((k, d))
        if round_ % 3 == 0:
            t.set_leaves(idx, Z @ X.T)
        elif round_ % 3 == 1:
            t.update_many(idx, Z)
        else:
            for j, z in zip(idx, Z):
                t.update(int(j), z)
        Wref[idx] = Z
        assert np.allclose(t.leaves, naive_leaves(Wref, X), rtol=0, atol=1e-12)
        heap_ok(t)
        tau = float(rng.normal())
        for i in range(n):
            assert np.array_equal(t.query(i, tau), naive_query(np.asarray(t.leaves), i, tau))
    assert t.weights is None  # set_leaves made the weights unknown; the leaves are still exact


@pytest.mark.parametrize("m", [1, 9, 300])
def test_the_slot_interface_is_the_id_interface_in_slots(m):
    # query_slots / neurons_at / set_leaves_at_slots (the tree index works in slots): the same answers, nodes
    # and counts as query_all / set_leaves by neuron id, on a tree whose leaves are permuted
    rng = np.random.default_rng(m)
    n = 3
    U = rng.standard_normal((n, m))
    order = rng.permutation(m)
    by_id, by_slot = ThresholdTree.from_leaves(U, order=order), ThresholdTree.from_leaves(U, order=order)
    for _ in range(4):
        tau = float(rng.normal())
        indptr, ids = by_id.query_all(tau)
        sptr, slots = by_slot.query_slots(tau)
        assert np.array_equal(sptr, indptr) and by_slot.nodes_touched == by_id.nodes_touched
        for i in range(n):  # ascending slots per point; their neurons are the point's fire set
            got = slots[sptr[i]:sptr[i + 1]]
            assert np.all(np.diff(got) > 0)
            assert np.array_equal(np.sort(by_slot.neurons_at(got)), ids[indptr[i]:indptr[i + 1]])
        k = int(rng.integers(1, m + 1))
        at = np.sort(rng.choice(m, size=k, replace=False)).astype(np.int64)
        values = rng.standard_normal((n, k))
        by_id.set_leaves(by_id.neurons_at(at), values.T)
        by_slot.set_leaves_at_slots(at, values)
        assert np.array_equal(by_slot.nodes, by_id.nodes) and by_slot.nodes_touched == by_id.nodes_touched
        naive_heap_ok(by_slot.nodes, by_slot.M, by_slot.leaves_by_slot)


def test_update_needs_the_points():
    W, X = rand_problem(8)
    t = ThresholdTree(W, X)
    assert np.array_equal(t.weights, W)
    U = naive_leaves(W, X)
    with pytest.raises(ValueError, match="without the points X"):
        ThresholdTree.from_leaves(U).update(0, np.zeros(X.shape[1]))
    t2 = ThresholdTree.from_leaves(U, X)  # with X, Update works on a tree built from leaves
    t2.update(0, np.zeros(X.shape[1]))
    assert np.allclose(t2.leaves[:, 0], 0.0) and np.allclose(t2.leaves[:, 1:], U[:, 1:])
    with pytest.raises(ValueError, match="X: expected 4 rows"):
        ThresholdTree.from_leaves(U, X[:3])


def test_batched_update_refreshes_each_ancestor_once():
    # All leaves of a tree with M = 8 change: each of the 7 internal nodes is recomputed once.
    U = np.zeros((1, 8))
    t = ThresholdTree.from_leaves(U)
    before = t.nodes_touched
    t.set_leaves(np.arange(8), np.arange(1.0, 9.0).reshape(8, 1))
    assert t.nodes_touched - before == 8 + 7
    # Changing leaves to the values they hold touches only those leaves.
    before = t.nodes_touched
    t.set_leaves(np.arange(8), np.arange(1.0, 9.0).reshape(8, 1))
    assert t.nodes_touched - before == 8


def test_k0_first_order_makes_the_batched_update_contiguous():
    # Training's leaf order: the neurons that fire somewhere at b come first. Changing all of them (a step
    # moves every neuron of K) then refreshes one contiguous run per level: at most 3 nodes per changed leaf
    # (the leaf, and at most two parents' worth above it), against ~log2(M/|K|) in neuron-id order.
    rng = np.random.default_rng(5)
    n, m, b = 4, 1 << 14, 2.2
    U = rng.standard_normal((n, m))
    fires = U.max(axis=0) > b
    K = np.flatnonzero(fires)
    order = np.concatenate([K, np.flatnonzero(~fires)])
    new = U[:, K].T + 0.01 * rng.standard_normal((K.size, n))
    touched = {}
    for name, o in (("k0-first", order), ("ids", None)):
        t = ThresholdTree.from_leaves(U, order=o)
        before = t.nodes_touched
        t.set_leaves(K, new)
        touched[name] = t.nodes_touched - before
        U2 = U.copy()
        U2[:, K] = new.T
        assert np.array_equal(t.leaves, U2)
        heap_ok(t)
        indptr, indices = t.query_all(b)
        for i in range(n):
            assert np.array_equal(indices[indptr[i]:indptr[i + 1]], naive_query(U2, i, b))
    assert 0.05 < K.size / m < 0.2
    assert touched["k0-first"] <= 3 * n * K.size
    assert touched["ids"] > 1.5 * touched["k0-first"]


def test_dense_batched_update_refreshes_the_run_above_the_changed_leaves():
    # Changed leaves filling at least half of their run take the streaming path: every node above the run of
    # changed leaves, one run per level, is recomputed (and counted); the heap stays exact round after round.
    rng = np.random.default_rng(11)
    n, m = 3, 1000
    U = rng.standard_normal((n, m))
    t = ThresholdTree.from_leaves(U)
    for _ in range(8):
        run = np.arange(100, 400)
        idx = np.sort(rng.choice(run, size=200, replace=False)).astype(np.int64)
        rows = rng.standard_normal((idx.size, n))
        before = t.nodes_touched
        t.set_leaves(idx, rows)
        U[:, idx] = rows.T
        naive_heap_ok(t.nodes, t.M, U)
        lo, hi, expected = t.M + idx[0], t.M + idx[-1], idx.size
        while lo > 1:
            lo, hi = lo >> 1, hi >> 1
            expected += hi - lo + 1
        assert t.nodes_touched - before == n * expected


def test_bad_order():
    U = np.zeros((2, 5))
    for bad in ([0, 1, 2, 3], [0, 1, 2, 3, 3], [0, 1, 2, 3, 5], [-1, 0, 1, 2, 3], np.arange(5.0)):
        with pytest.raises(ValueError, match="order: must be a permutation of the 5 neuron ids"):
            ThresholdTree.from_leaves(U, order=bad)


def test_single_update_stops_when_ancestor_keeps_its_value():
    U = np.array([[5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    t = ThresholdTree.from_leaves(U)
    before = t.nodes_touched
    t.set_leaves([3], np.array([[1.0]]))  # parent (leaves 2,3) changes 0->1, grandparent max stays 5
    assert t.nodes_touched - before == 1 + 2


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 300),
    n=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    tau=st.floats(-3, 3, allow_nan=False),
    grid=st.booleans(),
)
def test_property_query_equals_brute_force(m, n, seed, tau, grid):
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n, m))
    if grid:  # many exact ties, including at tau
        U = np.round(U * 2) / 2
        tau = round(tau * 2) / 2
    t = ThresholdTree.from_leaves(U)
    for i in range(n):
        before = t.nodes_touched
        got = t.query(i, tau)
        assert np.array_equal(got, naive_query(U, i, tau))
        assert t.nodes_touched - before <= C_QUERY * (got.size + 1) * max(1.0, math.log2(m)) + 1
    k = int(rng.integers(0, m + 1))
    idx = rng.choice(m, size=k, replace=False)
    rows = rng.standard_normal((k, n))
    t.set_leaves(idx, rows)
    U[:, idx] = rows.T
    naive_heap_ok(t.nodes, t.M, U)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ThresholdTree(np.ones((3, 2)), np.ones((4, 5))), "W: expected 5 columns"),
        (lambda: ThresholdTree(np.ones(3), np.ones((4, 3))), "W: expected a 2-D array"),
        (lambda: ThresholdTree(np.array([[np.nan, 1.0]]), np.ones((2, 2))), "W: contains NaN"),
        (lambda: ThresholdTree(np.ones((2, 2)), np.array([[np.inf, 1.0]])), "X: contains NaN"),
        (lambda: ThresholdTree(np.zeros((0, 2)), np.ones((2, 2))), "at least one neuron"),
        (lambda: ThresholdTree(np.array([["a"]]), np.ones((1, 1))), "W: expected real numbers"),
    ],
)
def test_bad_construction(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_calls():
    W, X = rand_problem(10, n=3, d=2)
    t = ThresholdTree(W, X)
    with pytest.raises(ValueError, match="i: point index"):
        t.query(3, 0.0)
    with pytest.raises(ValueError, match="i: point index"):
        t.query(-1, 0.0)
    with pytest.raises(ValueError, match="tau: threshold is NaN"):
        t.query(0, float("nan"))
    with pytest.raises(ValueError, match="j: neuron index"):
        t.update(10, np.zeros(2))
    with pytest.raises(ValueError, match="z: expected 2 columns"):
        t.update(0, np.zeros(3))
    with pytest.raises(ValueError, match="z: contains NaN"):
        t.update(0, np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match=r"idx: neuron ids must lie in \[0, 10\)"):
        t.update_many([0, 10], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="idx: neuron ids must be distinct"):
        t.update_many([1, 1], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Z: expected 2 rows"):
        t.update_many([1, 2], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="U_rows: expected 3 columns"):
        t.set_leaves([1], np.zeros((1, 2)))
    with pytest.raises(ValueError, match="idx: expected a 1-D array of integer"):
        t.set_leaves(np.array([0.5]), np.zeros((1, 3)))


def test_padded_size():
    assert [kt.padded_size(m) for m in [1, 2, 3, 4, 5, 1023, 1024, 1025]] == [1, 2, 4, 4, 8, 1024, 1024, 2048]


def test_parallel_batched_update_equals_serial():
    # the two compilations of one loop body: the same nodes and the same count
    rng = np.random.default_rng(9)
    n, m = 6, 3000
    U = rng.standard_normal((n, m))
    idx = np.sort(rng.choice(m, size=1200, replace=False))
    UT = np.ascontiguousarray(U[:, idx] + rng.standard_normal((n, idx.size)) * (rng.random(idx.size) < 0.7))
    a, b = ThresholdTree.from_leaves(U), ThresholdTree.from_leaves(U)
    na, nb = a.nodes.copy(), b.nodes.copy()
    ta = kt.update_leaves(na, a.M, idx, UT)
    tb = kt.update_leaves_parallel(nb, b.M, idx, UT)
    assert ta == tb and np.array_equal(na, nb)
    U[:, idx] = UT
    naive_heap_ok(na, a.M, U)
