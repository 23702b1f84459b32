"""Solvers against dense and naive references (seed 002 Alg. 5, seed 003, GD, Gauss-Newton)."""

import itertools
import math

import numpy as np
import pytest

from simulator.models.two_layer import make_problem
from simulator.streams import streams
from simulator.ntk import default_b
from simulator.solvers import SOLVER_MODELS, get_solver

from naive import naive_forward, naive_gauss_newton_step, naive_gd_step, naive_jacobian


# -- problems ------------------------------------------------------------------
def problem(n=16, d=16, m=4096, seed=1, b=None, y=None):
    rngs = streams(seed)
    X = rngs["data"].standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    if y is None:
        y = rngs["data"].standard_normal(n)
    return make_problem(X, y, m, default_b(m) if b is None else b, rngs)


def started(name, p, **options):
    s = get_solver(name)(p, options)
    assert s.init().error is None
    return s


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


SUBLINEAR_VARIANTS = [dict(regression=r, index=i, leaf_update=u)
                      for r, i, u in itertools.product(("paper", "pcg", "exact-gram"), ("tree", "fireset", "active"),
                                                       ("inner-product", "gram"))]


def test_gauss_newton_matches_naive():
    p = problem(n=6, d=5, m=300)
    s = started("gauss-newton", p)
    W = p.W0.copy()
    for _ in range(3):
        assert s.step().error is None
        W = naive_gauss_newton_step(W, p.X, p.y, p.a, p.b)
        assert rel(s.weights(), W) < 1e-12
        assert rel(s.predictions(), naive_forward(W, p.X, p.a, p.b)) < 1e-10


def test_gd_matches_naive():
    p = problem(n=6, d=5, m=300)
    s = started("gd", p, learning_rate=0.7)
    W = p.W0.copy()
    for _ in range(5):
        rec = s.step()
        assert rec.error is None
        W_prev, W = W, naive_gd_step(W, p.X, p.y, p.a, p.b, 0.7)
        assert rel(s.weights(), W) < 1e-13
        assert rel(s.predictions(), naive_forward(W, p.X, p.a, p.b)) < 1e-12
        assert rec.counters["move_max"] == pytest.approx(np.linalg.norm(W - W_prev, axis=1).max(), rel=1e-10)


def test_gd_auto_learning_rate_is_inverse_largest_gram_eigenvalue():
    p = problem(n=6, d=5, m=300)
    s = started("gd", p)
    J = naive_jacobian(p.W0, p.X, p.a, p.b)
    assert s.eta == pytest.approx(1.0 / np.linalg.eigvalsh(J @ J.T)[-1], rel=1e-12)


@pytest.mark.parametrize("options", SUBLINEAR_VARIANTS, ids=lambda o: "-".join(o.values()))
def test_sublinear_reproduces_dense_gauss_newton(options):
    p = problem()
    ref = started("gauss-newton", p)
    s = started("sublinear", p, eps_reg=1e-13, reg_max_iter=1000, **options)
    for t in range(5):
        # identical fire sets every iteration (the tree/fireset index against the dense threshold)
        for got, want in zip(s.fire_sets(), ref.fire_sets()):
            assert np.array_equal(got, want)
        assert s.step().error is None and ref.step().error is None
        assert rel(s.predictions(), ref.predictions()) < 1e-8
        assert rel(s.weights(), ref.weights()) < 1e-8
        assert rel(s.drift(), ref.drift()) < 1e-8
        # every neuron's leaves, including those that left the active set, are <w_r(t), x_i>
        assert np.abs(s.leaves() - p.X @ s.weights().T).max() < 1e-12
        # the Gram view (from the index's neuron-major sets when it keeps them) is the dense one's, bit for bit
        assert np.array_equal(s.gram(), ref.gram())


def test_bpsw_matches_gauss_newton_within_its_tolerance():
    p = problem()
    ref = started("gauss-newton", p)
    s = started("bpsw", p, cg_tol=1e-12)
    for _ in range(3):
        rec = s.step()
        assert rec.error is None and rec.counters["reg_residual"] <= 1e-12
        ref.step()
        assert rel(s.weights(), ref.weights()) < 1e-9


@pytest.mark.parametrize("sketch", ["osnap", "countsketch", "gaussian", "srht"])
def test_every_sketch_preconditions_the_paper_iteration(sketch):
    p = problem(n=8, d=4, m=512)
    ref = started("gauss-newton", p)
    s = started("sublinear", p, sketch=sketch, eps_reg=1e-12, reg_max_iter=500)
    rec = s.step()
    ref.step()
    assert rec.error is None and rec.counters["reg_residual"] <= 1e-12
    # a good preconditioner: the iteration contracts fast (Lemma E.4: O(log(n/λ)) iterations)
    assert rec.counters["reg_iterations"] < 60
    assert rel(s.weights(), ref.weights()) < 1e-9


@pytest.mark.parametrize("index", ["tree", "fireset", "active"])
def test_the_step_sketch_is_the_sketch_of_its_fire_sets(index):
    # the fire sets each index hands the sketch (its CSR, in slots or ids inside) are the exact ones: the step's
    # B is the public sketch_jt of the fire sets queried before the step, bit for bit, and S·Jᵀ to round-off
    from simulator.kernels.sketch import osnap_matrix, dense_jt, sketch_jt
    p = problem(n=8, d=4, m=512)
    s = started("sublinear", p, index=index)
    for t in range(2):
        fs = s.index.query(point_major=True)
        indptr, indices = fs.indptr, fs.indices
        assert s.step().error is None
        B, _ = s.last_sketch()
        rows, nnz = s.info["sketch_rows"], s.info["sketch_nnz"]
        np.testing.assert_array_equal(B, sketch_jt(indptr, indices, p.a, p.X, p.m, rows, nnz, p.sketch_seed + t))
        ref = osnap_matrix(p.m, p.d, rows, nnz, p.sketch_seed + t) @ dense_jt(indptr, indices, p.a, p.X, p.m)
        np.testing.assert_allclose(B, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,options", [("gauss-newton", {}), ("sublinear", {}),
                                          ("sublinear", dict(regression="exact-gram", index="fireset",
                                                             leaf_update="gram"))])
def test_loss_halves_every_iteration_in_the_ntk_regime(name, options):
    # Definition 4.5: ‖f_{t+1} − y‖ ≤ ½‖f_t − y‖, checked until round-off is reached.
    p = problem(n=8, d=16, m=2**14, seed=3)
    s = started(name, p, **options)
    res0 = res = math.sqrt(2 * s.loss())
    for _ in range(5):
        assert s.step().error is None
        new = math.sqrt(2 * s.loss())
        if res < 1e-10 * res0:
            break
        assert new <= 0.5 * res
        res = new


def test_sublinear_counters_are_costs_not_times():
    p = problem(n=8, d=8, m=2048)
    s = started("sublinear", p)
    indptr, indices = s.fire_sets()
    rec = s.step()
    assert rec.counters["neurons_changed"] == np.unique(indices).size
    assert rec.counters["fire_total"] == indptr[-1]
    # per tree: the query touches ≤ 1 + 2·K_i·log2 M nodes; the batched update ≤ log2 M + 1 per changed leaf
    log2M = math.log2(s.index.tree.M)
    query_bound = p.n + 2 * indptr[-1] * log2M
    update_bound = p.n * rec.counters["neurons_changed"] * (log2M + 1)
    assert 0 < rec.counters["nodes_touched"] <= query_bound + update_bound
    assert set(rec.phase_seconds) == {"query", "sketch", "regression", "update"}


@pytest.mark.parametrize("name", [name for name, kinds in SOLVER_MODELS.items() if "two-layer" in kinds])
def test_empty_fire_set_is_reported_not_propagated(name):
    # b far above every <w_r, x_i>: no neuron fires, G_t = 0.
    p = problem(n=4, d=3, m=64, b=50.0)
    s = get_solver(name)(p, {})
    init = s.init()
    if init.error is None and name == "gd":
        pytest.fail("gd must refuse a zero Gram")
    if init.error is not None:
        assert "fire" in init.error or "G_0" in init.error
        return
    f0 = s.predictions()
    rec = s.step()
    assert rec.error is not None and "empty fire set" in rec.error
    assert np.array_equal(s.predictions(), f0) and np.isfinite(s.predictions()).all()


def test_zero_residual_is_a_normal_state():
    for name, options in [("sublinear", {}), ("sublinear", {"regression": "pcg"}),
                          ("sublinear", {"regression": "exact-gram"}), ("bpsw", {}), ("gauss-newton", {}),
                          ("gd", {})]:
        p = problem(n=6, d=5, m=512)
        s = started(name, p, **options)
        p.y = s.predictions()  # labels equal to the network's own output: already converged
        rec = s.step()
        assert rec.error is None, (name, rec.error)
        direct = options.get("regression") == "exact-gram"  # one direct solve, counted as one
        assert rec.counters.get("reg_iterations", 0) == (1 if direct else 0)
        assert np.array_equal(s.weights(), p.W0), name


def test_one_seed_reproduces_a_run():
    runs = []
    for _ in range(2):
        s = started("sublinear", problem(n=6, d=5, m=1024, seed=9))
        for _ in range(3):
            s.step()
        runs.append((s.predictions(), s.weights()))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def test_unknown_option_is_rejected():
    with pytest.raises(ValueError, match="solver.regresion"):
        get_solver("sublinear")(problem(n=4, d=3, m=16), {"regresion": "pcg"})


@pytest.mark.parametrize("index,leaf_update", list(itertools.product(("active", "tree", "fireset"),
                                                                      ("gram", "inner-product"))))
@pytest.mark.parametrize("learning_rate", ["auto", 0.7])
def test_gradient_descent_through_an_index_equals_dense_gd(index, leaf_update, learning_rate):
    # one index × the gradient direction (a combination the solver gets for free): its iterates
    # must be those of dense `gd` every iteration, fire sets identical
    p = problem(n=8, d=8, m=2048)
    ref = started("gd", p, learning_rate=learning_rate)
    s = started("sublinear", p, step="gd", index=index, leaf_update=leaf_update, learning_rate=learning_rate)
    assert s.info["learning_rate"] == pytest.approx(ref.eta, rel=1e-13)
    assert s.phases == ("query", "gradient", "update") and s.info["direction"] == "gradient"
    loss0 = s.loss()
    for t in range(6):
        for got, want in zip(s.fire_sets(), ref.fire_sets()):
            assert np.array_equal(got, want)
        W_prev = s.weights()
        rec = s.step()
        assert rec.error is None and ref.step().error is None
        assert rec.counters["move_max"] == pytest.approx(np.linalg.norm(s.weights() - W_prev, axis=1).max(), rel=1e-9)
        assert rel(s.predictions(), ref.predictions()) < 1e-12
        assert rel(s.weights(), ref.weights()) < 1e-12
        assert rel(s.drift(), ref.drift()) < 1e-11
        assert np.abs(s.leaves() - p.X @ s.weights().T).max() < 1e-12
    assert s.loss() < loss0  # and it trains
