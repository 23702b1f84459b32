"""Seed 004: the multilayer model, Algorithm 1's solver and the dense reference, checked exactly.

Each exactness claim of docs/theory.md §9 is checked against a plain-NumPy reference (tests/naive.py)
or against the dense solver: the sparse forward equals the dense one, the three ways of keeping ΔW_L
give the same W_L(t), G = (UᵀU)∘(VᵀV) equals J Jᵀ of the explicit Jacobian, and with the exact Gram
the iterates equal dense Gauss-Newton on W_L to round-off.
"""

import json
import math

import numpy as np
import pytest
from naive import (naive_kron_rows, naive_layer, naive_multilayer_forward, naive_multilayer_init)

from simulator.config import ConfigError, load_scenario
from simulator.kernels.multilayer import neuron_major, sparse_forward
from simulator.models import multilayer as ml
from simulator.solvers import get_solver
from simulator.streams import streams


def problem(n=6, d=5, m=256, layers=3, alpha=0.1, seed=3):
    rngs = streams(seed)
    X = rngs["data"].standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rngs["data"].standard_normal(n)
    return ml.make_problem(X, y, m, layers, alpha, rngs)


def started(name, p, **options):
    s = get_solver(name)(p, options)
    rec = s.init()
    assert rec.error is None, rec.error
    return s


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300))


# -- the model --------------------------------------------------------------------------------
def test_initialisation_constants():
    m, alpha = 4096, 0.15
    t = ml.threshold(alpha, m)
    assert t == pytest.approx(math.sqrt(2 * alpha * math.log(m)))
    # κ(t) = E[(Z − t)₊²] by quadrature, and at t = 0 it is 1/2 (the paper's N(0, 2/m))
    from scipy.integrate import quad

    value, _ = quad(lambda z: (z - t) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), t, np.inf)
    assert ml.kappa(t) == pytest.approx(value, rel=1e-9)
    assert ml.kappa(0.0) == pytest.approx(0.5)
    p = problem(m=512, alpha=0.0)
    assert p.b == 0.0 and p.sigma_w == pytest.approx(math.sqrt(2 / 512))


@pytest.mark.parametrize("layers", [2, 3, 4])
def test_problem_follows_the_documented_draws_and_the_naive_forward(layers):
    n, d, m, alpha, seed = 5, 4, 300, 0.05, 11
    p = problem(n=n, d=d, m=m, layers=layers, alpha=alpha, seed=seed)
    rngs = streams(seed)
    X = rngs["data"].standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rngs["data"].standard_normal(n)
    a, Ws, b = naive_multilayer_init(X, m, layers, alpha, rngs["init"])
    assert b == pytest.approx(p.b, rel=1e-14)
    assert np.array_equal(a, p.a) and np.array_equal(Ws[-1], p.WLt)
    f, hs = naive_multilayer_forward(X, a, Ws, p.b)
    assert rel(p.V, hs[-2]) < 1e-13  # v_i = h_{i,L−1}
    assert rel(p.Z0, naive_layer(Ws[-1], hs[-2])) < 1e-13
    assert np.array_equal(p.active_below, np.array([np.count_nonzero(h, axis=1) for h in hs[:-1]]))
    s = started("multilayer", p)
    assert rel(s.predictions(), f) < 1e-12


def test_sparse_forward_equals_dense_layer():
    rng = np.random.default_rng(0)
    for n, m in [(1, 1), (3, 17), (7, 1500), (4, 2049)]:
        H = rng.standard_normal((n, m)) * (rng.random((n, m)) < 0.1)
        H[0] = 0.0  # a point with no active input
        WT = rng.standard_normal((m, m))
        for parallel in (False, True):
            Z = sparse_forward(WT, neuron_major(H), n, parallel=parallel)
            assert rel(Z, naive_layer(WT, H)) < 1e-13
            assert not Z[0].any()


def test_sparsity_is_near_its_expectation_and_below_the_bound():
    p = problem(n=8, d=8, m=4096, alpha=0.15)
    expected = p.m * ml.upper_tail(p.t)
    assert np.abs(p.active_below.mean() - expected) < 0.15 * expected
    assert p.active_below.max() <= p.m ** (1 - p.alpha)


def test_gram_identity_equals_explicit_jacobian():
    p = problem(m=100, alpha=0.05)
    s = started("multilayer-dense", p, jacobian="explicit")
    J = naive_kron_rows(s.U, p.V)
    assert np.array_equal(J, s.jacobian())
    assert rel(p.gram(s.mask), J @ J.T) < 1e-13
    assert rel(s.gram(), J @ J.T) < 1e-13


# -- iterates against the dense reference -----------------------------------------------------
FORMS = [dict(delta_form="factors", rank_max=12), dict(delta_form="factors"), dict(delta_form="pv"),
         dict(delta_form="dense")]


@pytest.mark.parametrize("forward", ["literal", "cached"])
@pytest.mark.parametrize("form", FORMS, ids=lambda f: "-".join(map(str, f.values())))
def test_exact_gram_iterates_equal_dense_gauss_newton(forward, form):
    p = problem()
    ref = started("multilayer-dense", p, jacobian="explicit")
    s = started("multilayer", p, regression="exact", forward=forward, **form)
    assert rel(s.predictions(), ref.predictions()) < 1e-13  # sparse forward against one GEMM
    folds = 0
    for t in range(5):
        r_ref, r = ref.step(), s.step()
        assert r.error is None and r_ref.error is None
        folds += r.counters["folds"]
        assert rel(s.predictions(), ref.predictions()) < 1e-10, t
        assert rel(s.weights(), ref.weights()) < 1e-12, t
        assert np.array_equal(s.mask, ref.mask)
        assert rel(s.drift(), ref.drift()) < 1e-9
        assert r.counters["step_fro_sq"] == pytest.approx(r_ref.counters["step_fro_sq"], rel=1e-9)
        assert r.counters["gGg"] == pytest.approx(r.counters["step_fro_sq"], rel=1e-9)
        assert r.counters["step_rank"] == r_ref.counters["step_rank"] <= p.n
    # the residual fell (Gauss-Newton, exact), and the forms fold as documented
    assert s.loss() < 1e-6 * ref.problem.y @ ref.problem.y
    # rank grows by n = 6 a step: rank_max = 12 folds every second step; pv never; dense every step
    expect = {"factors": 2, "pv": 0, "dense": 5}
    if form["delta_form"] != "factors" or "rank_max" in form:
        assert folds == expect[form["delta_form"]]


def test_delta_forms_give_the_same_weights_under_sketched_steps():
    p = problem()
    runs = [started("multilayer", p, sketch="tensorsketch", sketch_rows=96, **form) for form in FORMS]
    for _ in range(4):
        for s in runs:
            assert s.step().error is None
        W = runs[0].weights()
        for s in runs[1:]:
            assert rel(s.weights(), W) < 1e-12
            assert rel(s.predictions(), runs[0].predictions()) < 1e-10


def test_gradient_descent_equals_dense_gradient_descent():
    p = problem()
    ref = started("multilayer-dense", p, step="gd", jacobian="gram")
    s = started("multilayer", p, step="gd", delta_form="factors", rank_max=6)
    assert s.eta == ref.eta == pytest.approx(1 / np.linalg.eigvalsh(ref.gram())[-1])
    for _ in range(6):
        assert s.step().error is None and ref.step().error is None
        assert rel(s.predictions(), ref.predictions()) < 1e-11
    assert s.loss() < ref.problem.y @ ref.problem.y


def test_preconditioned_iteration_solves_the_exact_system():
    p = problem()
    exact = started("multilayer", p, regression="exact", delta_form="pv")
    pre = started("multilayer", p, regression="preconditioned", sketch="tensor-srht", delta_form="pv",
                  cg_tol=1e-13)
    for _ in range(3):
        rec = pre.step()
        exact.step()
        assert rec.error is None and rec.counters["reg_iterations"] >= 1
        assert rel(pre.predictions(), exact.predictions()) < 1e-8


@pytest.mark.parametrize("sketch", ["tensorsketch", "tensor-srht", "gaussian"])
def test_sketch_and_solve_converges_and_reports_its_distortion(sketch):
    p = problem(m=100 if sketch == "gaussian" else 256, alpha=0.05)
    s = started("multilayer", p, sketch=sketch, sketch_rows=64 * p.n)
    loss0 = s.loss()
    for _ in range(6):
        rec = s.step()
        assert rec.error is None and rec.counters["sketch_rows"] == 64 * p.n
    assert s.loss() < 1e-3 * loss0
    B, G = s.last_sketch()
    assert B.shape == (64 * p.n, p.n) and rel(G, s._gram_from(s._last[1])) == 0.0


def test_flop_counts_are_what_the_forward_does():
    p = problem(m=512)
    s = started("multilayer", p, delta_form="pv", forward="literal", regression="exact")
    rec = s.step()
    flops = dict(zip(s.phases, rec.counters["phase_flops"]))
    nnz_v = int(np.count_nonzero(p.V))
    assert flops["forward"] == 2 * p.m * nnz_v + 2 * p.n * p.n * p.m + 3 * p.n * p.m
    assert flops["fold"] == 0 and flops["regression"] == 2 * p.n ** 2 * p.m + p.n ** 3 // 3
    c = started("multilayer", p, delta_form="pv", forward="cached", regression="exact")
    flops_c = dict(zip(c.phases, c.step().counters["phase_flops"]))
    assert flops_c["forward"] == 2 * p.n * p.n * p.m + 3 * p.n * p.m  # no m·nnz term: W_L(0)·v_i is cached


# -- numerical trouble is reported, never propagated ------------------------------------------
def test_a_point_with_no_active_neuron_is_a_clear_error():
    p = problem()
    p.V[2] = 0.0  # as if layer L−1 were silent on point 2
    p.active_below[-1, 2] = 0
    s = get_solver("multilayer")(p, {})
    rec = s.init()
    assert rec.error is not None and "point 2 has no active neuron in layer 2" in rec.error
    q = problem()
    s = started("multilayer", q, regression="exact")
    s._set_state(np.where(np.arange(q.n)[:, None] == 4, -1.0, s.Z))  # layer L silent on point 4
    f = s.predictions()
    rec = s.step()
    assert rec.error is not None and "point 4 has no active neuron in layer L = 3" in rec.error
    assert np.array_equal(s.predictions(), f) and np.isfinite(f).all()


def test_a_sketch_too_small_is_a_clear_error():
    p = problem()
    s = started("multilayer", p, sketch_rows=2)
    rec = s.step()
    assert rec.error is not None and "sketch" in rec.error and "sketch_rows" in rec.error


# -- scenario keys ----------------------------------------------------------------------------
def test_scenario_keys_are_checked():
    s = load_scenario("multilayer")
    assert s.network.kind == "multilayer" and s.network.layers == 3 and s.network.alpha == 0.15
    t = load_scenario("multilayer", ["network.layers=2", "network.alpha=0"])
    assert t.network.layers == 2 and t.network.alpha == 0.0
    bad = [(["network.layers=1"], "network.layers"), (["network.alpha=1"], "network.alpha"),
           (["network.layers=two"], "network.layers"), (["network.b=0.5"], "network.b"),
           (["network.alpha_bar=0.2"], "network.alpha_bar"), (["solver.name=gd"], "solver.name"),
           (["solver.sketch=count"], "solver.sketch"), (["solver.eps_sketch=2"], "solver.eps_sketch")]
    for overrides, key in bad:
        with pytest.raises(ConfigError) as ei:
            load_scenario("multilayer", overrides)
        assert key in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(ConfigError, match="network.layers: is a setting of network.kind = multilayer"):
        load_scenario("quickstart", ["network.layers=3"])
    with pytest.raises(ConfigError, match="solver \"multilayer\" trains network.kind = multilayer"):
        load_scenario("quickstart", ["solver.name=multilayer"])


# -- end to end: run, inspect, validate, plot -------------------------------------------------
def _invoke(*args):
    from click.testing import CliRunner

    from simulator.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_options_that_cannot_work_are_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "t.h5"
    for args, key in [(["--set", "solver.sketch=gaussian"], "solver.sketch:"),
                      (["--set", "solver.sketch_rows=7"], "solver.sketch_rows:"),
                      (["--set", "network.m=2^20"], "network.m:")]:
        result = _invoke("run", "multilayer", *args, "--out", out)
        assert result.exit_code == 2 and key in result.output, result.output
        assert not out.exists()


def test_run_multilayer_then_inspect_validate_plot(tmp_path):
    from simulator.engine.trace import Trace

    out = tmp_path / "ml.h5"
    result = _invoke("run", "multilayer", "--set", "network.m=1024", "--seed", "1", "--out", out)
    assert result.exit_code == 0, result.output
    with Trace(out) as tr:
        assert tr.status == "completed" and tr.attrs["model"] == "multilayer"
        assert tr.attrs["init_deviation"].startswith("W_l(0) ~ N(0, sigma_w^2)")
        assert tr.data["active_per_layer"].shape == (2, 8)
        flops = tr["phase_flops"]
        assert list(tr.metric_attrs("phase_flops")["phases"]) == ["sketch", "regression", "update", "fold", "forward"]
        assert flops.shape[1] == 5 and (flops[:, -1] > 0).all()
        r = tr["residual_norm"]
        assert r[-1] < 1e-3 * r[0]
    result = _invoke("inspect", out)
    assert result.exit_code == 0 and "multilayer" in result.output
    result = _invoke("validate", out, "--json")
    keys = set(json.loads(result.output)["checks"]) if result.exit_code in (0, 1) else set()
    assert keys and all(k.startswith("s004_") for k in keys), result.output
    pytest.importorskip("matplotlib")
    result = _invoke("plot", out, "-o", tmp_path / "figs")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == sorted(f"ml-{k}.png" for k in ("s004-residual", "s004-sparsity", "s004-drift", "s004-sketch",
                                                     "s004-rank", "phases"))
