"""BallTree (half-space reporting stand-in, seed 001) and its kernels against naive references."""


import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulator.balltree import BallTree
from simulator.kernels import balltree as kb

from naive import naive_balltree_fresh, naive_balltree_ok, naive_halfspace

CASES = [  # (N, d, leaf_size)
    (1, 1, 16), (1, 4, 1), (5, 2, 16), (7, 3, 1), (16, 2, 16), (17, 2, 16), (100, 1, 4),
    (333, 4, 8), (1000, 32, 16), (2000, 2, 1), (4096, 3, 16),
]


# -- helpers -------------------------------------------------------------------
def arrays(t):
    return t.points, t.order, t.start, t.end, t.centres, t.radii, t.leaf_of, t.leaf_size, t.tree_points


def inner(P, x):
    """<p_i, x> summed coordinate by coordinate, as the kernel and the naive reference do."""
    v = np.zeros(P.shape[0])
    for j in range(P.shape[1]):
        v += P[:, j] * x[j]
    return v


def thresholds(P, x, rng):
    """Thresholds worth testing for x: outside the range, at quantiles, and exactly at a point's
    computed inner product (a tie: that point must not be reported)."""
    v = inner(P, x)
    return [float(v.min()) - 1.0, float(v.max()) + 1.0, float(v[rng.integers(v.size)]),
            *[float(q) for q in np.quantile(v, [0.1, 0.5, 0.9, 0.99])], 0.0]


def check_queries(t, rng, nq=4):
    P = np.asarray(t.points)
    xs = [rng.standard_normal(t.d) * rng.choice([0.1, 1.0, 10.0]) for _ in range(nq)] + [np.zeros(t.d)]
    for x in xs:
        for b in thresholds(P, x, rng):
            assert np.array_equal(t.query(x, b), naive_halfspace(P, x, b)), (x, b)
    Q = np.array(xs)
    b = float(rng.normal())
    indptr, indices = t.query_all(Q, b)
    assert indptr.shape == (len(xs) + 1,) and indptr[0] == 0
    for r, x in enumerate(xs):
        assert np.array_equal(indices[indptr[r]:indptr[r + 1]], naive_halfspace(P, x, b))


# -- build ---------------------------------------------------------------------
@pytest.mark.parametrize("N, d, leaf_size", CASES)
def test_build_matches_naive(N, d, leaf_size):
    rng = np.random.default_rng(N * 100 + d)
    P = rng.standard_normal((N, d))
    t = BallTree(P, leaf_size=leaf_size)
    depth, n_nodes = kb.layout(N, leaf_size)
    assert (t.depth, t.n_nodes) == (depth, n_nodes) == (t.depth, 2 ** (t.depth + 1) - 1)
    assert np.array_equal(t.points, P)
    naive_balltree_fresh(*arrays(t))
    assert t.degradation() == 1.0 and not t.needs_rebuild(1.0)
    assert t.build_work >= 2 * N * (depth + 1)


def test_layout():
    assert kb.layout(1, 1) == (0, 1)
    assert kb.layout(16, 16) == (0, 1)
    assert kb.layout(17, 16) == (1, 3)
    assert kb.layout(3, 1) == (2, 7)
    assert kb.layout(20000, 16) == (11, 4095)


def test_duplicates_and_constant_coordinates():
    # many equal points (zero radii, runs of equal keys in the selection) and a constant coordinate
    rng = np.random.default_rng(1)
    P = np.repeat(rng.integers(-2, 3, size=(20, 3)).astype(float), 50, axis=0)
    P[:, 1] = 7.0
    for leaf_size in (1, 3, 16):
        t = BallTree(P, leaf_size=leaf_size)
        naive_balltree_fresh(*arrays(t))
        check_queries(t, rng)
    same = BallTree(np.ones((40, 2)), leaf_size=4)
    assert np.all(same.radii == 0.0)
    assert np.array_equal(same.query([1.0, 1.0], 1.999), np.arange(40))
    assert same.query([1.0, 1.0], 2.0).size == 0


# -- query ---------------------------------------------------------------------
@pytest.mark.parametrize("N, d, leaf_size", CASES)
def test_query_matches_brute_force(N, d, leaf_size):
    rng = np.random.default_rng(N + 7 * d)
    t = BallTree(rng.standard_normal((N, d)), leaf_size=leaf_size)
    check_queries(t, rng)


def test_query_kernel_direct():
    rng = np.random.default_rng(2)
    P = rng.standard_normal((500, 3))
    (Pt, order, pos, start, end, centres, radii, cnorm, leaf_of), depth = kb.allocate(500, 3, 8)
    kb.build(P, Pt, order, pos, start, end, centres, radii, cnorm, leaf_of)
    naive_balltree_fresh(P, order, start, end, centres, radii, leaf_of, 8, Pt)
    assert np.array_equal(order[pos], np.arange(500))
    assert np.allclose(cnorm, np.linalg.norm(centres, axis=1))
    out = np.empty(500, dtype=np.int64)
    x = rng.standard_normal(3)
    K, visited = kb.query(Pt, order, start, end, centres, radii, cnorm, x, 0.5, out)
    assert np.array_equal(out[:K], naive_halfspace(P, x, 0.5))
    assert 1 <= visited <= radii.shape[0]
    z = np.array([9.0, 0.0, 0.0])
    grown, growth = kb.update(P, Pt, pos, centres, radii, leaf_of, 3, z)
    assert grown == depth + 1 and growth > 0
    assert np.array_equal(P[3], z) and np.array_equal(Pt[pos[3]], z)
    naive_balltree_ok(P, order, start, end, centres, radii, leaf_of, 8, Pt)


@pytest.mark.parametrize("leaf_size", [1, 2, 16])
@pytest.mark.parametrize("x, b", [((1.0, 2.0), 3.0), ((1.0, -3.0), 0.0), ((1.0, 0.5), -2.5)])
def test_ties_at_b_are_excluded_and_just_above_included(leaf_size, x, b):
    # Integer grid points (every <p, x> exact in float64), each twice, plus for every point on
    # the hyperplane <p, x> = b a copy 2^-30 above it and one 2^-30 below (x[0] = 1, so exact).
    g = np.arange(-4.0, 5.0)
    grid = np.array([(u, v) for u in g for v in g])
    x = np.array(x)
    on = grid[grid @ x == b]
    assert len(on) >= 2
    delta = np.array([2.0 ** -30, 0.0])
    P = np.vstack([grid, grid, on + delta, on - delta])
    exact = P[:, 0] * x[0] + P[:, 1] * x[1]  # exact: small dyadic numbers
    t = BallTree(P, leaf_size=leaf_size)
    got = t.query(x, b)
    assert np.array_equal(got, np.flatnonzero(exact > b))
    assert np.array_equal(got, naive_halfspace(P, x, b))
    n = len(grid)
    above = np.arange(2 * n, 2 * n + len(on))
    ties = np.flatnonzero(exact == b)
    assert len(ties) == 2 * len(on) and not np.isin(ties, got).any()
    assert np.isin(above, got).all()
    # every point on the hyperplane: nothing is reported at b, everything just below b
    t_on = BallTree(np.vstack([on] * 5), leaf_size=leaf_size)
    assert t_on.query(x, b).size == 0
    assert np.array_equal(t_on.query(x, b - 2.0 ** -30), np.arange(5 * len(on)))
    # and in 3-D, with a scaled query
    P3 = np.array([(u, v, w) for u in g for v in g for w in (-1.0, 0.0, 1.0)])
    x3 = np.array([2.0, -1.0, 4.0])
    t3 = BallTree(P3, leaf_size=leaf_size)
    for b3 in (0.0, 4.0, -6.0, 13.0):
        assert np.array_equal(t3.query(x3, b3), np.flatnonzero(P3 @ x3 > b3))


def test_b_outside_the_range_visits_only_the_root():
    rng = np.random.default_rng(3)
    P = rng.standard_normal((5000, 3))
    t = BallTree(P)
    x = rng.standard_normal(3)
    v = inner(P, x)
    before = t.nodes_visited
    assert t.query(x, float(v.max()) + 10.0).size == 0
    assert t.nodes_visited - before == 1  # root pruned
    before = t.nodes_visited
    assert np.array_equal(t.query(x, float(v.min()) - 10.0), np.arange(5000))
    assert t.nodes_visited - before == 1  # root taken whole


def test_query_all_grows_its_buffer():
    P = np.random.default_rng(4).standard_normal((3000, 2))
    t = BallTree(P)
    Q = np.tile([1.0, 0.0], (10, 1))
    indptr, indices = t.query_all(Q, -100.0)  # every point in every row: 30000 ids
    assert indptr[-1] == 30000 and np.array_equal(indices[3000:6000], np.arange(3000))
    assert t.query_all(np.zeros((0, 2)), 0.0)[0].tolist() == [0]


def test_pruning_in_low_dimension():
    # d = 2, N = 20000, b selective (about 0.6% of points fire): far fewer nodes than the tree has
    rng = np.random.default_rng(5)
    P = rng.standard_normal((20000, 2))
    t = BallTree(P, leaf_size=16)
    visits, hits = [], []
    for _ in range(20):
        x = rng.standard_normal(2)
        x /= np.linalg.norm(x)
        before = t.nodes_visited
        got = t.query(x, 2.5)
        assert np.array_equal(got, naive_halfspace(P, x, 2.5))
        visits.append(t.nodes_visited - before)
        hits.append(got.size)
    assert max(visits) < t.n_nodes / 10
    # about one root-to-leaf path per leaf's worth of hits (measured: 145 visits for 125 hits)
    assert np.mean(visits) < 2 * (t.depth + 1) * (np.mean(hits) / t.leaf_size + 1)
    assert t.queries_since_build == 20 and t.visited_since_build == sum(visits)
    assert t.reported_since_build == sum(hits)


# -- update --------------------------------------------------------------------
def test_update_of_one_point_changes_at_most_depth_plus_one_radii():
    rng = np.random.default_rng(6)
    P = rng.standard_normal((3000, 3))
    t = BallTree(P, leaf_size=8)
    t.update(17, P[17])  # moving a point onto itself grows nothing
    assert t.nodes_changed == 0 and t.degradation() == 1.0
    for _ in range(50):
        i = int(rng.integers(3000))
        before = t.nodes_changed
        t.update(i, t.points[i] + 0.3 * rng.standard_normal(3))
        assert 0 <= t.nodes_changed - before <= t.depth + 1
    before = t.nodes_changed
    t.update(5, np.array([1e3, 0.0, 0.0]))  # outside every ball on its path: all depth+1 grow
    assert t.nodes_changed - before == t.depth + 1
    naive_balltree_ok(*arrays(t))
    assert t.degradation() > 1.0 and t.needs_rebuild(1.0) and not t.needs_rebuild(1e9)


@pytest.mark.parametrize("N, d, leaf_size", [(1, 2, 16), (9, 1, 2), (600, 2, 1), (1500, 4, 16), (800, 32, 8)])
def test_many_rounds_of_moves_then_queries(N, d, leaf_size):
    rng = np.random.default_rng(N + d + leaf_size)
    P = rng.standard_normal((N, d))
    t = BallTree(P, leaf_size=leaf_size)
    ref = P.copy()
    fixed_x = rng.standard_normal((6, d))
    t.query_all(fixed_x, 0.5)
    visits0 = t.nodes_visited
    last = 1.0
    for round_ in range(12):
        k = int(rng.integers(1, N + 1))
        ids = rng.choice(N, size=k, replace=False)
        kind = round_ % 3
        if kind == 0:  # small moves
            Z = ref[ids] + 0.05 * rng.standard_normal((k, d))
        elif kind == 1:  # large moves: anywhere in a wider cloud
            Z = 5.0 * rng.standard_normal((k, d))
        else:  # one point at a time
            Z = ref[ids] + rng.standard_normal((k, d))
        if kind == 2:
            for i, z in zip(ids, Z):
                t.update(int(i), z)
        else:
            t.update(ids, Z)
        ref[ids] = Z
        assert np.array_equal(t.points, ref)
        naive_balltree_ok(*arrays(t))
        check_queries(t, rng, nq=2)
        assert t.degradation() >= last
        last = t.degradation()
    # the visited set only grows with the radii: the same queries cost at least as much now
    v = t.nodes_visited
    t.query_all(fixed_x, 0.5)
    assert t.nodes_visited - v >= visits0
    t.rebuild()
    assert t.rebuilds == 1 and t.degradation() == 1.0 and t.queries_since_build == 0
    assert np.array_equal(t.points, ref)
    naive_balltree_fresh(*arrays(t))
    check_queries(t, rng)


@settings(max_examples=40, deadline=None)
@given(
    N=st.integers(1, 120),
    d=st.integers(1, 4),
    leaf_size=st.integers(1, 10),
    seed=st.integers(0, 2**31 - 1),
    b=st.integers(-4, 4),
)
def test_property_grid_points_with_moves(N, d, leaf_size, seed, b):
    # small integers: many exact ties at b, before and after moves
    rng = np.random.default_rng(seed)
    P = rng.integers(-3, 4, size=(N, d)).astype(float)
    t = BallTree(P, leaf_size=leaf_size)
    x = rng.integers(-2, 3, size=d).astype(float)
    assert np.array_equal(t.query(x, b), naive_halfspace(P, x, b))
    for _ in range(3):
        ids = rng.choice(N, size=int(rng.integers(0, N + 1)), replace=False)
        Z = rng.integers(-6, 7, size=(ids.size, d)).astype(float)
        t.update(ids, Z)
        P[ids] = Z
        naive_balltree_ok(*arrays(t))
        assert np.array_equal(t.query(x, b), naive_halfspace(P, x, b))
        assert np.array_equal(t.query(x, b), np.flatnonzero(P @ x > b))
    t.rebuild()
    naive_balltree_fresh(*arrays(t))
    assert np.array_equal(t.query(x, b), naive_halfspace(P, x, b))


def test_views_are_read_only():
    t = BallTree(np.random.default_rng(7).standard_normal((50, 2)))
    for view in (t.points, t.tree_points, t.order, t.start, t.end, t.centres, t.radii, t.leaf_of):
        with pytest.raises(ValueError):
            view[0] = 0


# -- bad inputs ----------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: BallTree(np.ones(3)), "P: expected a 2-D array"),
        (lambda: BallTree(np.zeros((0, 2))), "P: need at least one point"),
        (lambda: BallTree(np.zeros((3, 0))), "P: need at least one point"),
        (lambda: BallTree(np.array([[np.nan, 1.0]])), "P: contains NaN"),
        (lambda: BallTree(np.array([[np.inf, 1.0]])), "P: contains NaN"),
        (lambda: BallTree(np.array([["a"]])), "P: expected real numbers"),
        (lambda: BallTree(np.ones((2, 2)) * 1j), "P: expected real numbers"),
        (lambda: BallTree(np.ones((2, 2)), leaf_size=0), "leaf_size: expected a positive integer"),
        (lambda: BallTree(np.ones((2, 2)), leaf_size=2.0), "leaf_size: expected a positive integer"),
        (lambda: BallTree(np.ones((2, 2)), leaf_size=True), "leaf_size: expected a positive integer"),
    ],
)
def test_bad_construction(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_calls():
    t = BallTree(np.random.default_rng(8).standard_normal((10, 3)), leaf_size=2)
    cases = [
        (lambda: t.query(np.zeros(2), 0.0), "x: expected 3 columns"),
        (lambda: t.query(np.zeros((1, 3)), 0.0), "x: expected a 1-D array"),
        (lambda: t.query(np.array([np.nan, 0, 0]), 0.0), "x: contains NaN"),
        (lambda: t.query(np.zeros(3), float("nan")), "b: threshold must be finite"),
        (lambda: t.query(np.zeros(3), np.inf), "b: threshold must be finite"),
        (lambda: t.query(np.zeros(3), "0"), "b: expected a real number"),
        (lambda: t.query(np.zeros(3), None), "b: expected a real number"),
        (lambda: t.query_all(np.zeros((2, 4)), 0.0), "Q: expected 3 columns"),
        (lambda: t.query_all(np.zeros(3), 0.0), "Q: expected a 2-D array"),
        (lambda: t.query_all(np.zeros((2, 3)), -np.inf), "b: threshold must be finite"),
        (lambda: t.update([10], np.zeros((1, 3))), r"ids: point ids must lie in \[0, 10\)"),
        (lambda: t.update([-1], np.zeros((1, 3))), r"ids: point ids must lie in \[0, 10\)"),
        (lambda: t.update([1, 1], np.zeros((2, 3))), "ids: point ids must be distinct"),
        (lambda: t.update(np.array([0.5]), np.zeros((1, 3))), "ids: expected a 1-D array of integer"),
        (lambda: t.update([[0]], np.zeros((1, 3))), "ids: expected a 1-D array of integer"),
        (lambda: t.update([1, 2], np.zeros((3, 3))), "Z: expected 2 rows"),
        (lambda: t.update([1], np.zeros((1, 2))), "Z: expected 3 columns"),
        (lambda: t.update([1], np.array([[0, np.inf, 0]])), "Z: contains NaN"),
        (lambda: t.update(10, np.zeros(3)), r"ids: point ids must lie in \[0, 10\)"),
        (lambda: t.needs_rebuild(0.5), "factor: expected a finite number >= 1"),
        (lambda: t.needs_rebuild(float("nan")), "factor: expected a finite number >= 1"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    # nothing above moved a point or counted a change
    assert t.nodes_changed == 0 and t.degradation() == 1.0
    t.update([], np.zeros((0, 3)))  # an empty batch is fine
    assert t.query(np.zeros(3), -1.0).size == 10


def test_unsorted_and_row_subset_queries_equal_brute_force():
    rng = np.random.default_rng(11)
    P = rng.standard_normal((3000, 4))
    Q = rng.standard_normal((40, 4))
    t = BallTree(P, leaf_size=8)
    want_ptr, want_idx = t.query_all(Q, 1.5)
    ptr, idx = t.query_all(Q, 1.5, sort=False)
    assert np.array_equal(ptr, want_ptr)
    for r in range(Q.shape[0]):
        assert np.array_equal(np.sort(idx[ptr[r]:ptr[r + 1]]), want_idx[want_ptr[r]:want_ptr[r + 1]])
        assert np.array_equal(want_idx[want_ptr[r]:want_ptr[r + 1]], naive_halfspace(P, Q[r], 1.5))
    rows = np.array([7, 3, 30], dtype=np.int64)
    ptr, idx = t.query_all(Q, 1.5, rows=rows)
    for q, r in enumerate(rows):
        assert np.array_equal(idx[ptr[q]:ptr[q + 1]], naive_halfspace(P, Q[r], 1.5))
    with pytest.raises(ValueError, match="rows"):
        t.query_all(Q, 1.5, rows=[0, 40])
