"""Operation counts per phase (`phase_flops`, simulator/indexes/ops.py) and the sweep's fits of them.

The counts are checked against quantities computed here independently of the solver: dense sizes
n, m, d; fire sets from thresholding X Wᵀ at b; tree nodes from a fresh tree queried the same way;
G·v products counted by wrapping the kernel. The fits are checked on synthetic rows with a known
exponent. No speed is asserted anywhere.
"""

import math

import numpy as np
import pytest
from scipy import stats

from simulator.engine.sweep import fit_lines, fit_loglog, fit_slope, paper_constant
from simulator.indexes import INDEX_NAMES
from simulator.kernels import jacobian as _jac
from simulator.models.two_layer import make_problem
from simulator.ntk import default_b
from simulator.solvers import SOLVER_MODELS, get_solver
from simulator.streams import streams
from simulator.tree import ThresholdTree


def problem(n=6, d=5, m=512, seed=3):
    rngs = streams(seed)
    X = rngs["data"].standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return make_problem(X, rngs["data"].standard_normal(n), m, default_b(m), rngs)


def started(name, p, **options):
    s = get_solver(name)(p, options)
    assert s.init().error is None
    return s


def stepped(s):
    rec = s.step()
    assert rec.error is None, rec.error
    return rec


def fires(s):
    """Dense fire incidence F (n, m) of the solver's current weights, thresholded here."""
    p = s.problem
    return p.X @ s.weights().T > p.b


def lg(x):
    return math.ceil(math.log2(x)) if x > 1 else 0


# -- every two-layer solver and index records a count per phase ----------------------------------------
TWO_LAYER = [name for name, models in SOLVER_MODELS.items() if "two-layer" in models]
CONFIGS = [("gd", {}), ("gauss-newton", {}), ("bpsw", {})]
CONFIGS += [("sublinear", dict(index=i, leaf_update=u, regression=r))
            for i in ("tree", "fireset", "active") for u in ("inner-product", "gram")
            for r in ("paper", "pcg", "exact-gram")]
CONFIGS += [("sublinear", dict(index=i, step="gd")) for i in ("tree", "fireset", "active")]
CONFIGS += [("sublinear", dict(regression="paper", sketch=k)) for k in ("countsketch", "gaussian", "srht")]
CONFIGS += [("preprocess", dict(index=i, leaf_update=u)) for i in INDEX_NAMES for u in ("inner-product", "gram")
            if u == "inner-product" or i in ("tree", "fireset", "active")]


def test_the_configurations_cover_every_two_layer_solver_and_index():
    assert {name for name, _ in CONFIGS} == set(TWO_LAYER)
    assert {o.get("index") for name, o in CONFIGS if name == "preprocess"} == set(INDEX_NAMES)


@pytest.mark.parametrize("name, options", CONFIGS, ids=[f"{n}-{'-'.join(map(str, o.values()))}" for n, o in CONFIGS])
def test_every_phase_has_a_count(name, options):
    s = started(name, problem(), **options)
    assert "phase_flops" in s.counters
    for t in range(3):
        rec = stepped(s)
        flops = rec.counters["phase_flops"]
        assert flops.shape == (len(s.phases),) and flops.dtype == np.float64
        assert np.all(np.isfinite(flops)) and np.all(flops >= 0) and np.all(flops == np.round(flops))
        assert list(s.op_terms) == list(s.phases)  # the terms behind each entry, by phase
        assert [sum(terms.values()) for terms in s.op_terms.values()] == list(flops)
        fused_query = s.phases[0] == "query" and options.get("index") == "active" and t > 0 \
            and options.get("leaf_update") == "gram" and options.get("regression") not in ("paper", "pcg")
        if fused_query:
            assert flops[0] == 0  # the fused step left f and the counts: the query does nothing
        else:
            assert np.all(flops > 0), dict(zip(s.phases, flops))


def test_counts_are_deterministic():
    a = started("sublinear", problem(), index="tree", regression="paper")
    b = started("sublinear", problem(), index="tree", regression="paper")
    for _ in range(3):
        assert np.array_equal(stepped(a).counters["phase_flops"], stepped(b).counters["phase_flops"])


# -- dense solvers: exact from n, m, d ------------------------------------------------------------------
def dense_forward(m, n, d):
    return 2 * m * n * d + 7 * m * n + n  # U = X Wᵀ (GEMM), F, σ_b (subtract, max), f = σᵀa/√m, Fs


def dense_add_jt(m, n, d):
    return 2 * m * n * d + 2 * m * d + n * d  # g∘X, then W ← W + α (gX)ᵀ Fs in place


@pytest.mark.parametrize("n, d, m", [(6, 5, 512), (4, 3, 300)])
def test_dense_gauss_newton_counts_its_gemms(n, d, m):
    s = started("gauss-newton", problem(n, d, m))
    rec = stepped(s)
    gram = 2 * m * n * n + n * n + 2 * n * n + n * n + (4 * n ** 3) // 3  # FFᵀ, to float64, ∘XXᵀ/m, checks
    solve = n + n ** 3 // 3 + 2 * n * n  # f − y, Cholesky, two triangular solves
    update = dense_add_jt(m, n, d) + dense_forward(m, n, d)
    assert s.phases == ("gram", "solve", "update")
    assert list(rec.counters["phase_flops"]) == [gram, solve, update]


def test_dense_gd_counts():
    n, d, m = 6, 5, 512
    rec = stepped(started("gd", problem(n, d, m)))
    assert list(rec.counters["phase_flops"]) == [n + dense_add_jt(m, n, d), dense_forward(m, n, d)]


def test_bpsw_counts(monkeypatch):
    n, d, m = 6, 5, 512
    s = started("bpsw", problem(n, d, m))
    nnz = int(fires(s).sum())
    rec = stepped(s)
    it, rows = rec.counters["reg_iterations"], s.info["sketch_rows"]
    sketch = (m * n + nnz + n) + nnz * d * 1 + nnz * (d + 1) + 2 * rows * n * n - (2 * n ** 3) // 3 + n ** 3
    gv = 4 * m * n * d + 3 * n * d + n * d * math.ceil(m / 4096)
    regression = n + (it + 1) * gv + it * (4 * n * n + 12 * n) + 4 * n * n + 7 * n
    assert list(rec.counters["phase_flops"]) == [sketch, regression, dense_add_jt(m, n, d) + dense_forward(m, n, d)]


# -- the tree index: its node counts are the kernel's nodes_touched ----------------------------------------
@pytest.mark.parametrize("leaf_update", ["inner-product", "gram"])
def test_tree_node_counts_equal_nodes_touched(leaf_update):
    p = problem()
    s = started("sublinear", p, index="tree", regression="exact-gram", leaf_update=leaf_update)
    k0 = int((s.leaves() > p.b).any(axis=0).sum())  # |K_0|: the index collects K by a scan of its first k0 slots
    for _ in range(3):
        U = s.leaves()
        F = U > p.b
        # an independent tree over the same leaves, in the index's leaf order (K_0 first), queried at b
        fresh = ThresholdTree.from_leaves(U, order=s.index.tree.order)
        before = fresh.nodes_touched
        fresh.query_all(p.b)
        query_nodes = fresh.nodes_touched - before
        rec = stepped(s)
        q, u = s.op_terms["query"], s.op_terms["update"]
        assert q["tree_nodes"] == query_nodes
        assert q["tree_nodes"] + u["tree_nodes"] == rec.counters["nodes_touched"]
        nnz, K = int(F.sum()), np.flatnonzero(F.any(axis=0))
        k = K.size
        assert q == {"tree_nodes": query_nodes, "by_neuron": 3 * nnz + 3 * k + k0, "fire_views": k + p.n,
                     "forward": 3 * nnz}
        moved = {"coefficients": 2 * nnz}
        if leaf_update == "gram":
            moved.update(leaf_deltas=2 * nnz * p.n, leaf_shift=k * p.n)
        else:
            moved.update(rows_explicit=2 * k * p.n * p.d + k * p.d, leaves_ip=2 * k * p.n * p.d)
        assert u == {**moved, "tree_nodes": rec.counters["nodes_touched"] - query_nodes}
        # Alg. 4: at most 1 + 2·|S_i|·log2 M nodes per point
        M = 1 << lg(p.m)
        assert query_nodes <= sum(1 + 2 * c * math.log2(M) for c in F.sum(axis=1))


def test_fireset_and_active_update_counts():
    p = problem()
    for index in ("fireset", "active"):
        s = started("sublinear", p, index=index, regression="exact-gram", leaf_update="gram")
        for _ in range(2):
            F = fires(s)
            nnz, k = int(F.sum()), int(F.any(axis=0).sum())
            rec = stepped(s)
            F_next = fires(s)
            u = s.op_terms["update"]
            base = {"coefficients": 2 * nnz, "leaf_deltas": 2 * nnz * p.n, "leaf_shift": k * p.n,
                    "threshold": k * p.n}
            if index == "fireset":
                assert u == {**base, "memberships": rec.counters["memberships_changed"]}
            else:  # the fused pass: K_{t+1}'s CSR, f_{t+1} and the fire counts of the next query
                nxt = int(F_next.sum())
                assert u == {**base, "csr": nxt, "forward": 3 * nxt, "fire_counts": nxt}


# -- the directions -----------------------------------------------------------------------------------
def test_exact_gram_counts_the_pairs_of_every_fire_set():
    p = problem()
    s = started("sublinear", p, index="active", regression="exact-gram", leaf_update="gram")
    F = fires(s)
    stepped(s)
    n = p.n
    assert s.op_terms["regression"] == {"gram_counts": int((F.sum(axis=0) ** 2).sum()), "gram_scale": 2 * n * n,
                                        "check_gram": n * n + (4 * n ** 3) // 3, "solve_spd": n ** 3 // 3 + 2 * n * n}


@pytest.mark.parametrize("sketch, z", [("osnap", 4), ("countsketch", 1)])
def test_sketch_adds_are_fire_pairs_times_d_times_nnz(sketch, z):
    p = problem()
    s = started("sublinear", p, index="tree", regression="paper", sketch=sketch)
    for _ in range(2):
        F = fires(s)
        stepped(s)
        terms = s.op_terms["sketch"]
        assert s.info["sketch_nnz"] == z
        assert terms["sketch_hashed"] == int(F.sum()) * p.d * z  # Σ_i |S_i|·d·nnz hashed adds
        assert terms["sketch_scale"] == int(F.sum()) * (p.d + 1)
        rows, n = s.info["sketch_rows"], p.n
        assert terms["preconditioner"] == 2 * rows * n * n - (2 * n ** 3) // 3 + n ** 3  # QR of B, then R_B⁻¹


@pytest.mark.parametrize("regression", ["paper", "pcg"])
def test_regression_counts_every_gv_product(monkeypatch, regression):
    p = problem()
    s = started("sublinear", p, index="active", regression=regression, leaf_update="gram")
    calls = []
    real = _jac.gram_matvec

    def counting(kptr, kpts, aK, XXt, v):
        sizes = np.diff(kptr)
        calls.append((sizes.size, int(kpts.shape[0]), int(sizes @ sizes)))
        return real(kptr, kpts, aK, XXt, v)

    monkeypatch.setattr(_jac, "gram_matvec", counting)
    for _ in range(2):
        calls.clear()
        rec = stepped(s)
        it, n = rec.counters["reg_iterations"], p.n
        # each G·v, d-free: per neuron a_r²/m, then per (i, j) ∈ F_r² a multiply-add, per i ∈ F_r one more
        gv = sum(k + 2 * q + 2 * nnz for k, nnz, q in calls)
        if regression == "paper":
            assert len(calls) == 2 * it
            dense = it * (8 * n * n + 4 * n) + 5 * n + 2 * n * n
        else:
            assert len(calls) == it + 1  # one per iteration and the true residual
            dense = it * (4 * n * n + 12 * n) + 4 * n * n + 7 * n
        assert s.op_terms["regression"] == {regression: gv + dense}


def test_gradient_direction_count():
    p = problem()
    s = started("sublinear", p, index="tree", step="gd")
    stepped(s)
    assert s.op_terms["gradient"] == {"step": 2 * p.n}


# -- seed 001's indexes: the kernels' counters enter their terms ---------------------------------------
def test_seed001_index_terms_use_their_counters():
    p = problem()
    s = started("preprocess", p, index="weights-hsr")
    F = fires(s)
    rec = stepped(s)
    nnz, k, d = int(F.sum()), int(F.any(axis=0).sum()), p.d
    q, u = s.op_terms["query"], s.op_terms["update"]
    assert q["balltree_query"] == p.n * (2 * d + 1) + rec.counters["query_nodes"] * (2 * d + 8) + nnz
    assert q["forward"] == nnz * (2 * d + 3)
    assert u["balltree_update"] == k * (s.index.tree.depth + 1) * (3 * d + 2)
    s = started("preprocess", p, index="drift-slack")
    rec = stepped(s)
    assert s.op_terms["query"]["tree_nodes"] == rec.counters["query_nodes"]
    assert s.op_terms["query"]["drift_filter"] == rec.counters["candidates"]  # nothing has moved at t = 0
    s = started("preprocess", p, index="lsh", rehash_every=1)
    rec = stepped(s)
    L, bits = s.options["lsh_tables"], s.options["lsh_bits"]
    assert s.op_terms["query"]["lsh_query"] == 2 * p.n * L * lg(p.m + 1) + rec.counters["candidates"] * (2 * d + 1)
    assert s.op_terms["update"]["lsh_rehash"] == 2 * p.m * d * L * bits + 3 * p.m * L * bits + L * p.m * lg(p.m)


# -- the fits of `sweep --fit` ------------------------------------------------------------------------
def synthetic_rows(exponent, sigma, rng, ms=tuple(2 ** k for k in range(10, 17)), seeds=3, y="ops_per_step",
                   n=16, d=32):
    rows = []
    for m in ms:
        for seed in range(seeds):
            value = 7.0 * n * n * m ** exponent * d * math.exp(sigma * rng.standard_normal())
            rows.append({"network.m": m, "seed": seed, "status": "completed", "n": n, "m": m, "d": d, y: value})
    return rows


def test_fit_recovers_a_known_exponent_exactly_without_noise():
    rows = synthetic_rows(0.76, 0.0, np.random.default_rng(1))
    rows.append({"network.m": 2 ** 18, "m": 2 ** 18, "status": "failed", "ops_per_step": float("nan")})
    fit = fit_loglog(rows, "network.m")
    assert fit.slope == pytest.approx(0.76, abs=1e-12) and fit.se == pytest.approx(0.0, abs=1e-10)
    assert fit.ci_low == pytest.approx(0.76, abs=1e-10) and fit.ci_high == pytest.approx(0.76, abs=1e-10)
    assert (fit.points, fit.values) == (21, 7)
    med, (q1, q3), (lo, hi), k = paper_constant(rows)
    assert med == pytest.approx(7.0) and lo == pytest.approx(7.0) and hi == pytest.approx(7.0) and k == 21


def test_fit_standard_error_is_the_least_squares_one():
    rng = np.random.default_rng(7)
    rows = synthetic_rows(0.76, 0.2, rng)
    fit = fit_loglog(rows, "network.m")
    xs = np.log([r["network.m"] for r in rows])
    ys = np.log([r["ops_per_step"] for r in rows])
    ref = stats.linregress(xs, ys)  # an independent implementation
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12) and fit.se == pytest.approx(ref.stderr, rel=1e-10)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-10)
    assert fit.ci_low < fit.slope < fit.ci_high
    # balanced grid: the same slope as fit_slope's on the log-means at each m
    assert fit.slope == pytest.approx(fit_slope(rows, "network.m", y="ops_per_step")[0], abs=1e-12)
    # the bootstrap is seeded: the same rows give the same interval
    again = fit_loglog(rows, "network.m")
    assert (again.ci_low, again.ci_high) == (fit.ci_low, fit.ci_high)


def test_fit_standard_error_and_intervals_are_calibrated():
    """Over many synthetic sweeps the slopes scatter as the standard errors say, and the intervals cover
    the true exponent about 95% of the time."""
    rng = np.random.default_rng(11)
    sigma, exponent, reps = 0.15, 0.76, 400
    slopes, ses, t_cover, boot_cover = [], [], 0, 0
    t975 = stats.t.ppf(0.975, 21 - 2)
    for _ in range(reps):
        fit = fit_loglog(synthetic_rows(exponent, sigma, rng), "network.m", samples=400)
        slopes.append(fit.slope)
        ses.append(fit.se)
        t_cover += abs(fit.slope - exponent) <= t975 * fit.se
        boot_cover += fit.ci_low <= exponent <= fit.ci_high
    xs = np.log(np.repeat(2.0 ** np.arange(10, 17), 3))
    true_se = sigma / math.sqrt(((xs - xs.mean()) ** 2).sum())
    assert np.std(slopes) == pytest.approx(true_se, rel=0.1)
    assert math.sqrt(np.mean(np.square(ses))) == pytest.approx(true_se, rel=0.1)
    assert abs(np.mean(slopes) - exponent) < 4 * true_se / math.sqrt(reps)
    assert 0.92 <= t_cover / reps <= 0.98
    assert 0.86 <= boot_cover / reps <= 0.98  # percentile bootstrap at N = 21 undercovers slightly


def test_fit_needs_two_values_and_lines_never_raise():
    rows = synthetic_rows(1.0, 0.1, np.random.default_rng(2), ms=(1024,))
    with pytest.raises(ValueError, match="two or more"):
        fit_loglog(rows, "network.m")
    two = synthetic_rows(1.0, 0.0, np.random.default_rng(2), ms=(1024, 2048), seeds=1)
    fit = fit_loglog(two, "network.m")  # two points: a slope, no standard error, no interval
    assert fit.slope == pytest.approx(1.0) and math.isnan(fit.se) and math.isnan(fit.ci_low)
    lines = fit_lines(synthetic_rows(0.76, 0.1, np.random.default_rng(3)), "network.m")
    assert len(lines) == 3
    assert lines[0].startswith("fit        log(median operations/step) vs log(network.m): exponent 0.7")
    assert "bootstrap 95% [" in lines[0] and "21 points at 7 values" in lines[0]
    assert "not enough completed points with median_step_seconds" in lines[1]
    assert lines[2].startswith("constant   C = ops/step / (n²·m^0.76·d) = ") and "(median of 21 points;" in lines[2]
    assert float(lines[2].split(" = ")[2].split()[0]) == pytest.approx(7.0, rel=0.1)
    old = [{k: v for k, v in r.items() if k != "ops_per_step"} for r in synthetic_rows(
        0.5, 0.0, np.random.default_rng(4), y="median_step_seconds")]
    lines = fit_lines(old, "network.m")  # a summary written before ops_per_step existed
    assert "not enough completed points with ops_per_step" in lines[0] and "exponent 0.500" in lines[1]
    assert lines[2] == "constant   no operation counts in the summary (ops_per_step)"
