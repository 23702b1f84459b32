"""Seed 004's theory records (simulator.theory.seed004) and figures (engine.figures_seed004) on hand-built
multilayer traces whose answer is known: every record's holds / fails / not-applicable path, the round-off
floors, a trace without the seed-004 metrics, and the figures written or skipped with their reasons.

Until simulator.theory registers the paper for the multilayer model, the `registered` fixture does it for
the test (PAPERS["seed004"], MODEL_PAPERS["multilayer"]); the figure tests also add the s004 keys to
simulator.engine.plots.FIGURES when they are not there yet."""

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simulator import theory
from simulator.engine.trace import Trace, TraceWriter
from simulator.engine.validate import FAILS, HOLDS, NA, PREMISE_NOT_CHECKABLE, RATIO, run_checks
from simulator.theory import seed004

N, M, D, L = 4, 1024, 3, 3
ALPHA = 0.15
INIT = seed004.initialisation(M, ALPHA)
LAM = 0.05
RANK_MAX = 8
SEED004_KEYS = ("s004_thm1", "s004_sparsity", "s004_init", "s004_step_rank", "s004_delta_rank", "s004_sketch_eps",
                "s004_identity", "s004_drift")
FIG_KEYS = ("s004-residual", "s004-sparsity", "s004-drift", "s004-sketch", "s004-rank")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def registered(monkeypatch):
    """The paper registered for the multilayer model (a no-op once simulator.theory does it)."""
    monkeypatch.setitem(theory.PAPERS, "seed004", seed004)
    monkeypatch.setitem(theory.MODEL_PAPERS, "multilayer", ("seed004",))


def base_attrs(**kw):
    a = {"model": "multilayer", "scenario_name": "s004-test", "solver": "multilayer", "m": M, "n": N, "d": D,
         "layers": L, "alpha": ALPHA, **INIT, "init_deviation": "t = sqrt(2 alpha ln m), sigma_w^2 = 1/(m kappa)",
         "lambda": LAM, "lambda_source": "G_0", "rho": 0.1, "solver_direction": "exact", "solver_sketch": "none",
         "solver_sketch_rows": 0, "solver_eps_sketch": 0.1, "solver_delta_form": "factors",
         "solver_rank_max": RANK_MAX, "solver_forward": "cached", "solver_step": "gauss-newton"}
    a.update(kw)
    return {k: v for k, v in a.items() if v is not None}


def make_trace(path, state, step=None, active=None, **attrs):
    """A multilayer trace with `state` rows (name -> T+1 rows), `step` rows (name -> T rows) and, when given,
    /data/active_per_layer; attrs override base_attrs (None removes one)."""
    step = step or {}
    T = len(next(iter(state.values()))) - 1
    with TraceWriter.create(path, attrs=base_attrs(**attrs)) as w:
        if active is not None:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((N, D))
            X /= np.linalg.norm(X, axis=1, keepdims=True)
            w.write_data(X=X, y=np.ones(N), a=np.ones(M), active_per_layer=np.asarray(active, dtype=np.int64))
        for t in range(T + 1):
            row = {k: v[t] for k, v in state.items()}
            srow = {k: v[t - 1] for k, v in step.items()} if t > 0 else None
            w.append_iteration(t, state=row, step=srow or None)
    return path


def evaluate(path, key):
    with Trace(path) as tr:
        return next(c for c in seed004.CHECKS if c.key == key).evaluate(tr)


@pytest.fixture
def p(tmp_path):
    """A fresh trace path per call: p() -> tmp/0.h5, tmp/1.h5, ..."""
    count = iter(range(1000))
    return lambda: tmp_path / f"{next(count)}.h5"


def geometric(T, rate, r0=2.0):
    return [r0 * rate ** t for t in range(T + 1)]


# --------------------------------------------------------------------------- registry and formulas

def test_records_keys_kinds_and_registration(registered):
    keys = tuple(c.key for c in seed004.CHECKS)
    assert keys == SEED004_KEYS and all(len(k) <= 16 for k in keys)      # fits `validate`'s name column
    kinds = {c.key: c.kind for c in seed004.CHECKS}
    assert kinds == {"s004_thm1": "inequality", "s004_sparsity": "inequality", "s004_init": "identity",
                     "s004_step_rank": "inequality", "s004_delta_rank": "inequality", "s004_sketch_eps": "order",
                     "s004_identity": "identity", "s004_drift": "order"}
    assert [c.key for c in theory.checks_for({"model": "multilayer"})] == list(SEED004_KEYS)
    # the two-layer model's records are untouched
    assert not set(keys) & {c.key for c in theory.checks_for({"model": "two-layer"})}


def test_initialisation_formulas():
    t = seed004.threshold(M, ALPHA)
    assert t == pytest.approx(math.sqrt(2 * ALPHA * math.log(M)))
    assert math.exp(-t * t / 2) == pytest.approx(M ** -ALPHA)
    # κ(t) = E[(Z − t)₊²] against quadrature, also where the closed form cancels
    from scipy.integrate import quad
    for tt in (0.0, 1.0, t, 3.0):
        q = quad(lambda z: (z - tt) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), tt, tt + 40)[0]
        assert seed004.kappa(tt) == pytest.approx(q, rel=1e-9)
    assert seed004.kappa(0.0) == pytest.approx(0.5)
    c = seed004.initialisation(M, ALPHA)
    assert c["threshold_t"] == t and c["kappa"] == seed004.kappa(t)
    assert M * c["sigma_w"] ** 2 * c["kappa"] == pytest.approx(1.0)
    assert c["b"] == pytest.approx(t * c["sigma_w"])
    with pytest.raises(ValueError, match="alpha"):
        seed004.threshold(M, 1.0)


def test_initialisation_gives_unit_activations_and_the_expected_sparsity_at_layer_1():
    """Layer 1 of the project's initialisation (x unit): E‖h_1‖² = 1 and E‖h_1‖₀ = m·Q(t), over 64 points."""
    m, alpha, n = 4096, 0.2, 64
    c = seed004.initialisation(m, alpha)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, 64))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    H = np.maximum(X @ (rng.standard_normal((m, 64)) * c["sigma_w"]).T - c["b"], 0.0)
    assert np.mean(np.sum(H * H, axis=1)) == pytest.approx(1.0, abs=0.15)        # per point: rel. std ≈ 0.17
    mean = seed004.expected_active(m, c["threshold_t"])
    active = np.count_nonzero(H, axis=1)
    assert abs(active.mean() - mean) < 5 * math.sqrt(mean / n) * 2
    assert active.max() < seed004.sparsity_bound(m, alpha)


def test_norm_gain_is_the_slope_of_the_layer_map():
    for t in (0.5, 1.58, 2.5):
        def layer(u):                                   # E‖h_ℓ‖² as a function of u = ‖h_{ℓ−1}‖²
            return u * seed004.kappa(t / math.sqrt(u)) / seed004.kappa(t)
        h = 1e-5
        assert seed004.norm_gain(t) == pytest.approx((layer(1 + h) - layer(1 - h)) / (2 * h), rel=1e-6)
    assert seed004.norm_gain(0.0) == 1.0 and seed004.norm_gain(1.58) == pytest.approx(3.07, abs=0.01)


def test_bound_formulas():
    t = seed004.threshold(M, ALPHA)
    mean, mills, bound = (seed004.expected_active(M, t), seed004.expected_active_bound(M, ALPHA),
                          seed004.sparsity_bound(M, ALPHA))
    assert bound == pytest.approx(M ** 0.85)
    assert mean < mills < bound and mills == pytest.approx(bound / (t * math.sqrt(2 * math.pi)))
    assert seed004.thm1_envelope(9.0, [0, 1, 2]) == pytest.approx([9.0, 3.0, 1.0])
    assert seed004.drift_bound(2.0, 0.04) == pytest.approx(15.0)
    assert seed004.step_rank_bound(7) == 7
    assert seed004.delta_rank_bound("factors", 8, 4) == 12 and seed004.delta_rank_bound("pv", 8, 4) == 4
    with pytest.raises(ValueError, match="dense"):
        seed004.delta_rank_bound("dense", 8, 4)
    assert seed004.roundoff_floor(1.0) == 1e-10 and seed004.roundoff_floor(1e-5) == 1e-12


def test_contraction_judgement():
    judged, fails, ratios = seed004.contraction_judgement([1.0, 0.3, 0.2, 0.05, 1e-11, 1e-9])
    # steps 1-4 judged (step 2 contracts by 2/3 only; step 4 lands at round-off); the step from 1e-11 is not
    assert judged.tolist() == [True, True, True, True, False]
    assert fails.tolist() == [False, True, False, False, False]
    assert ratios[1] == pytest.approx(2 / 3)
    # once at round-off, a residual that climbs back above the floor is still not judged
    judged, fails, _ = seed004.contraction_judgement([1.0, 1e-11, 1e-9, 1e-8])
    assert judged.tolist() == [True, False, False] and not fails.any()
    # the absolute floor: a run that starts small
    judged, _, _ = seed004.contraction_judgement([1e-3, 2e-4, 5e-13, 9e-13])
    assert judged.tolist() == [True, True, False]
    # a NaN residual is judged and fails
    judged, fails, _ = seed004.contraction_judgement([1.0, float("nan"), 0.01])
    assert judged.tolist() == [True, True] and fails.tolist() == [True, True]


def test_identity_judgement_and_its_floor():
    a = np.array([1.0, 2.0, 1e-12])
    b = a * (1 + np.array([1e-10, 2e-8, 1e-5]))
    judged, fails, excess = seed004.identity_judgement(a, b)
    assert judged.all() and fails.tolist() == [False, True, True]
    assert excess[0] == pytest.approx(1e-10 / 1e-8, rel=1e-3)
    # with ‖W_L‖_F = 1e3 the floor 1e-13·1e3·1e-6 = 1e-16 covers the third step's 1e-17 deviation
    judged, fails, _ = seed004.identity_judgement(a, b, w_norm=1e3)
    assert fails.tolist() == [False, True, False]
    judged, _, _ = seed004.identity_judgement([1.0, np.nan], [1.0, 1.0])
    assert judged.tolist() == [True, False]


# --------------------------------------------------------------------------- Theorem 1

def test_thm1_holds_with_the_premise_stated(p):
    r = evaluate(make_trace(p(), {"residual_norm": geometric(4, 0.25)}), "s004_thm1")
    assert r["status"] == HOLDS and r["measured"] == pytest.approx(0.25) and r["bound"] == pytest.approx(1 / 3)
    assert r["first_failing_iteration"] == -1
    # the width premise as data: no polynomial in the paper, so not checkable (and stated with the run's numbers)
    assert r["premise_names"] == ["m ≥ poly(n, L, 1/λ)"] and r["premise_met"] == ["not checkable"]
    assert r["premise_measured"] == [M] and "L = 3" in r["premise"] and "not checkable" in r["summary"]


def test_thm1_fails_at_a_known_iteration_with_the_premise_note(p):
    res = geometric(5, 0.25)
    res[3] = 0.5 * res[2]                       # step 3 contracts by ½ only
    res[4], res[5] = res[3] * 0.2, res[3] * 0.04
    r = evaluate(make_trace(p(), {"residual_norm": res}), "s004_thm1")
    # the contraction fails, but the width premise cannot be checked: no contradiction, no exit code 1
    assert r["status"] == PREMISE_NOT_CHECKABLE and r["conclusion"] == FAILS and r["first_failing_iteration"] == 3
    assert r["measured"] == pytest.approx(0.5)
    assert r["summary"].startswith("premise not checkable: worst ‖f_{t+1}−y‖/‖f_t−y‖ = 1.5 × ⅓")
    assert "m ≥ poly(n, L, 1/λ): not checkable" in r["summary"] and r["premise_reason"]
    assert "first: step 3" in r["note"]


def test_thm1_round_off_is_not_judged(p):
    # relative floor: the residual reaches 1e-11·‖f_0−y‖, then round-off noise grows it: not judged
    res = [1.0, 0.2, 0.03, 1e-11, 5e-11, 9e-11]
    r = evaluate(make_trace(p(), {"residual_norm": res}), "s004_thm1")
    assert r["status"] == HOLDS and "over 3 judged steps of 5" in r["note"]
    assert "not judged: 2 step(s) from a residual at round-off" in r["note"]
    assert r["measured"] == pytest.approx(0.2)
    # absolute floor: a start of 1e-4, then 1e-13 (> 1e-10 of the start, below 1e-12)
    res = [1e-4, 1e-5, 1e-13, 8e-13]
    r = evaluate(make_trace(p(), {"residual_norm": res}), "s004_thm1")
    assert r["status"] == HOLDS and "not judged: 1 step(s)" in r["note"]
    # a residual from the loss when residual_norm is absent
    res = [2.0, 0.5, 0.4]
    r = evaluate(make_trace(p(), {"loss": [0.5 * x * x for x in res]}), "s004_thm1")
    assert r["status"] == PREMISE_NOT_CHECKABLE and r["first_failing_iteration"] == 2


def test_thm1_sketched_runs_are_judged(p):
    res = geometric(3, 0.3)
    r = evaluate(make_trace(p(), {"residual_norm": res}, solver_direction="sketched", solver_sketch="tensorsketch",
                            solver_sketch_rows=64), "s004_thm1")
    assert r["status"] == HOLDS and "sketched" in r["note"] and "s = 64" in r["note"]


def test_thm1_not_applicable(p):
    res = {"residual_norm": geometric(3, 0.9)}
    r = evaluate(make_trace(p(), res, solver_direction="gradient", solver_step="gd"), "s004_thm1")
    assert r["status"] == NA and "gradient" in r["note"] and "Gauss-Newton" in r["note"]
    r = evaluate(make_trace(p(), res, solver_step="gd"), "s004_thm1")            # step rule alone says gd
    assert r["status"] == NA and "gradient" in r["note"]
    r = evaluate(make_trace(p(), res, solver_direction=None, solver_step=None), "s004_thm1")
    assert r["status"] == NA and "solver_direction" in r["note"]
    r = evaluate(make_trace(p(), {"drift_fro": [0.0, 1.0]}), "s004_thm1")
    assert r["status"] == NA and "residual_norm" in r["note"]
    r = evaluate(make_trace(p(), {"residual_norm": [1e-13, 1e-14]}), "s004_thm1")
    assert r["status"] == NA and "round-off" in r["note"]


# --------------------------------------------------------------------------- sparsity

def test_sparsity_holds_across_layers_and_iterations(p):
    bound = M ** (1 - ALPHA)
    mean = seed004.expected_active(M, INIT["threshold_t"])
    fire = [[240, 250, 230, 260], [241, 252, 229, 271], [238, 255, 230, 268]]
    path = make_trace(p(), {"fire_count": fire}, active=[[230, 231, 240, 236], [220, 290, 238, 241]])
    r = evaluate(path, "s004_sparsity")
    assert r["status"] == HOLDS and r["measured"] == 290 and r["bound"] == pytest.approx(bound)
    assert r["first_failing_iteration"] == -1
    assert f"{mean:.4g}" in r["note"] and "layer 2: max 290" in r["note"] and "layer 3 (trained): max 271" in r["note"]
    assert f"{seed004.expected_active_bound(M, ALPHA):.4g}" in r["note"] and "initialisation" in r["note"]


def test_sparsity_fails_in_a_fixed_layer_or_in_layer_L(p):
    over = int(M ** (1 - ALPHA)) + 1
    fire = [[240, 250, 230, 260]] * 3
    r = evaluate(make_trace(p(), {"fire_count": fire}, active=[[230, over, 240, 236], [220, 200, 238, 241]]),
                 "s004_sparsity")
    # the same width premise as Theorem 1 (no polynomial): a count above the bound is not a contradiction
    assert r["status"] == PREMISE_NOT_CHECKABLE and r["conclusion"] == FAILS
    assert r["first_failing_iteration"] == 0 and r["measured"] == over
    fire = [[240, 250, 230, 260], [240, 250, 230, 260], [240, over, 230, 260]]
    r = evaluate(make_trace(p(), {"fire_count": fire}, active=[[230, 231, 240, 236], [220, 200, 238, 241]]),
                 "s004_sparsity")
    assert r["status"] == PREMISE_NOT_CHECKABLE and r["first_failing_iteration"] == 2


def test_sparsity_partial_data_and_not_applicable(p):
    r = evaluate(make_trace(p(), {"residual_norm": [1.0, 0.3]}, active=[[230, 231, 240, 236]] * 2), "s004_sparsity")
    assert r["status"] == HOLDS and r["measured"] == 240 and "layer L not checked" in r["note"]
    r = evaluate(make_trace(p(), {"residual_norm": [1.0, 0.3]}), "s004_sparsity")
    assert r["status"] == NA and "active_per_layer" in r["note"]
    r = evaluate(make_trace(p(), {"fire_count": [[1, 2, 3, 4]] * 2}, threshold_t=2.5), "s004_sparsity")
    assert r["status"] == NA and "not √(2α ln m)" in r["note"]
    r = evaluate(make_trace(p(), {"fire_count": [[1, 2, 3, 4]] * 2}, alpha=None), "s004_sparsity")
    assert r["status"] == NA and "alpha" in r["note"]


def test_init_constants(p):
    state = {"residual_norm": [1.0, 0.3]}
    r = evaluate(make_trace(p(), state), "s004_init")
    assert r["status"] == HOLDS and r["measured"] <= 1e-15 and r["bound"] == seed004.INIT_RTOL
    r = evaluate(make_trace(p(), state, sigma_w=INIT["sigma_w"] * 1.01), "s004_init")
    assert r["status"] == FAILS and r["measured"] == pytest.approx(0.01, rel=1e-6) and "sigma_w" in r["note"]
    r = evaluate(make_trace(p(), state, kappa=None), "s004_init")
    assert r["status"] == NA and "kappa" in r["note"]


# --------------------------------------------------------------------------- ranks

def test_step_rank(p):
    state = {"residual_norm": geometric(3, 0.3)}
    r = evaluate(make_trace(p(), state, {"step_rank": [4, 4, 3]}), "s004_step_rank")
    assert r["status"] == HOLDS and r["measured"] == 4 and r["bound"] == N
    r = evaluate(make_trace(p(), state, {"step_rank": [4, 5, 3]}), "s004_step_rank")
    assert r["status"] == FAILS and r["first_failing_iteration"] == 2
    r = evaluate(make_trace(p(), state, {"step_rank": [-1, -1, -1]}), "s004_step_rank")
    assert r["status"] == NA and "never computed" in r["note"]
    r = evaluate(make_trace(p(), state, {"step_seconds": [0.1] * 3}), "s004_step_rank")
    assert r["status"] == NA and "step_rank" in r["note"]


def test_delta_rank_per_storage_form(p):
    state = {"residual_norm": geometric(3, 0.3)}
    r = evaluate(make_trace(p(), state, {"delta_rank": [4, 8, 12], "folds": [0, 0, 1]}), "s004_delta_rank")
    assert r["status"] == HOLDS and r["bound"] == RANK_MAX + N and "folds: 1" in r["note"]
    r = evaluate(make_trace(p(), state, {"delta_rank": [4, 13, 4]}), "s004_delta_rank")
    assert r["status"] == FAILS and r["first_failing_iteration"] == 2
    r = evaluate(make_trace(p(), state, {"delta_rank": [4, 5, 4]}, solver_delta_form="pv"), "s004_delta_rank")
    assert r["status"] == FAILS and r["bound"] == N and r["first_failing_iteration"] == 2
    r = evaluate(make_trace(p(), state, {"delta_rank": [4, 4, 4]}, solver_delta_form="dense"), "s004_delta_rank")
    assert r["status"] == NA and "dense" in r["note"]
    r = evaluate(make_trace(p(), state, {"step_rank": [4, 4, 4]}), "s004_delta_rank")
    assert r["status"] == NA and "delta_rank" in r["note"]
    r = evaluate(make_trace(p(), state, {"delta_rank": [4, 4, 4]}, solver_rank_max=None), "s004_delta_rank")
    assert r["status"] == NA and "solver_rank_max" in r["note"]


# --------------------------------------------------------------------------- sketch, identity, drift

def test_sketch_eps_is_a_ratio_for_sketched_runs_only(p):
    state = {"residual_norm": geometric(3, 0.3)}
    sk = {"solver_direction": "sketched", "solver_sketch": "tensor-srht", "solver_sketch_rows": 40}
    r = evaluate(make_trace(p(), state, {"sketch_eps": [0.05, 0.2, float("nan")]}, **sk), "s004_sketch_eps")
    assert r["status"] == RATIO and r["measured"] == 0.2 and r["bound"] == 0.1 and r["ratio"] == pytest.approx(2.0)
    assert "1 of 2 steps above it" in r["note"] and "s = 40" in r["note"] and "s/n = 10" in r["note"]
    r = evaluate(make_trace(p(), state, {"sketch_eps": [0.05, 0.2, 0.1]}, solver_eps_sketch=None, **sk),
                 "s004_sketch_eps")
    assert r["status"] == RATIO and math.isnan(r["ratio"]) and "solver_eps_sketch" in r["note"]
    r = evaluate(make_trace(p(), state, {"step_rank": [4, 4, 4]}, **sk), "s004_sketch_eps")
    assert r["status"] == NA and "not measured" in r["note"]
    r = evaluate(make_trace(p(), state, {"sketch_eps": [0.05, 0.2, 0.1]}), "s004_sketch_eps")
    assert r["status"] == NA and "exact" in r["note"]


def test_step_identity(p):
    state = {"residual_norm": geometric(3, 0.3)}
    g = [2.0, 0.3, 0.05]
    r = evaluate(make_trace(p(), state, {"step_fro_sq": [x * (1 + 1e-12) for x in g], "gGg": g}), "s004_identity")
    assert r["status"] == HOLDS and r["bound"] == 1.0 and r["measured"] < 1e-3
    bad = [g[0], g[1] * (1 + 1e-6), g[2]]
    r = evaluate(make_trace(p(), state, {"step_fro_sq": bad, "gGg": g}), "s004_identity")
    tol = seed004.identity_tolerance(bad[1], g[1], seed004.W_NORM_SLACK * M * INIT["sigma_w"])
    assert tol == pytest.approx(1e-8 * bad[1] + 1e-13 * 2 * M * INIT["sigma_w"] * math.sqrt(bad[1]))
    assert r["status"] == FAILS and r["first_failing_iteration"] == 2
    assert r["measured"] == pytest.approx((bad[1] - g[1]) / tol, rel=1e-6) and 90 < r["measured"] < 100
    assert "1e-06" in r["note"] and "at step 2" in r["note"]
    r = evaluate(make_trace(p(), state, {"gGg": g}), "s004_identity")
    assert r["status"] == NA and "step_fro_sq" in r["note"]


def test_step_identity_round_off_floor(p):
    """A step at round-off: ‖ΔW‖² = 1e-14 differs by 1e-6 relative, within 1e-13·‖W_L‖_F·‖ΔW‖_F."""
    state = {"residual_norm": geometric(2, 0.3)}
    w = seed004.W_NORM_SLACK * M * INIT["sigma_w"]
    floor = seed004.IDENTITY_ROUNDOFF * w * 1e-7
    g = [1.0, 1e-14]
    fro = [1.0, 1e-14 + 0.5 * floor]
    assert 0.5 * floor > 1e-8 * 1e-14                 # beyond the relative tolerance alone
    r = evaluate(make_trace(p(), state, {"step_fro_sq": fro, "gGg": g}), "s004_identity")
    assert r["status"] == HOLDS and r["measured"] == pytest.approx(0.5, rel=1e-3) and "round-off floor" in r["note"]
    r = evaluate(make_trace(p(), state, {"step_fro_sq": fro, "gGg": g}, sigma_w=None), "s004_identity")
    assert r["status"] == FAILS and "no round-off floor" in r["note"]


def test_drift_ratio(p):
    res = geometric(3, 0.3, r0=2.0)
    bound = 1.5 * 2.0 / math.sqrt(LAM)
    state = {"residual_norm": res, "drift_fro": [0.0, 5.0, float("nan"), 6.0], "lambda_min": [LAM, 0.04, 0.03, 0.045]}
    r = evaluate(make_trace(p(), state), "s004_drift")
    assert r["status"] == RATIO and r["measured"] == 6.0 and r["bound"] == pytest.approx(bound)
    assert r["ratio"] == pytest.approx(6.0 / bound) and "at t = 3" in r["note"] and "0.6" in r["note"]
    r = evaluate(make_trace(p(), state, lambda_source="ntk"), "s004_drift")
    assert "not λ_min(G_0)" in r["note"]
    r = evaluate(make_trace(p(), state, solver_direction="gradient", solver_step="gd"), "s004_drift")
    assert r["status"] == NA and "gradient" in r["note"]
    r = evaluate(make_trace(p(), {"residual_norm": res}), "s004_drift")
    assert r["status"] == NA and "drift_fro" in r["note"]
    r = evaluate(make_trace(p(), state, **{"lambda": None}), "s004_drift")
    assert r["status"] == NA and "lambda" in r["note"]


# --------------------------------------------------------------------------- whole traces

def _full_trace(path, **attrs):
    """A sketched Gauss-Newton run with every seed-004 metric; step 3 contracts by ½ only."""
    T = 6
    res = [2.0, 0.5, 0.12, 0.06, 0.015, 4e-12, 3e-12]
    rng = np.random.default_rng(3)
    fire = [list(240 + rng.integers(-20, 20, N)) for _ in range(T + 1)]
    g = [4.0 * 0.1 ** k for k in range(T)]
    return make_trace(path, {
        "residual_norm": res, "loss": [0.5 * x * x for x in res], "fire_count": fire,
        "drift_fro": [0.0, 3.0, 3.6, 3.8, 3.9, 3.9, 3.9], "lambda_min": [LAM] * (T + 1),
    }, {
        "step_rank": [4, 4, 4, 3, 4, 4], "delta_rank": [4, 8, 12, 4, 8, 12], "folds": [0, 0, 0, 1, 0, 0],
        "sketch_eps": [0.05, 0.08, float("nan"), 0.12, 0.07, 0.06], "sketch_rows": [40] * T,
        "step_fro_sq": g, "gGg": [x * (1 + 1e-12) for x in g], "step_seconds": [0.01] * T,
        "phase_seconds": [[0.004, 0.005]] * T,
    }, active=[[230, 231, 240, 236], [220, 250, 238, 241]],
        **{"solver_direction": "sketched", "solver_sketch": "tensorsketch", "solver_sketch_rows": 40, **attrs})


def test_run_checks_on_a_multilayer_trace(registered, tmp_path):
    path = _full_trace(tmp_path / "full.h5")
    with Trace(path) as tr:
        results = run_checks(tr)
        attrs = dict(tr.attrs)
    assert list(results) == list(SEED004_KEYS)
    status = {k: r["status"] for k, r in results.items()}
    assert status == {"s004_thm1": PREMISE_NOT_CHECKABLE, "s004_sparsity": HOLDS, "s004_init": HOLDS, "s004_step_rank": HOLDS,
                      "s004_delta_rank": HOLDS, "s004_sketch_eps": RATIO, "s004_identity": HOLDS,
                      "s004_drift": RATIO}
    assert results["s004_thm1"]["first_failing_iteration"] == 3
    # 4e-12 is below 1e-10·‖f_0−y‖ = 2e-10: the last step, from there, is not judged
    assert "over 5 judged steps of 6" in results["s004_thm1"]["note"]
    assert "not judged: 1 step(s)" in results["s004_thm1"]["note"]
    cols = theory.sweep_columns(attrs, results)
    assert cols["s004_contraction"] == PREMISE_NOT_CHECKABLE and cols["s004_contraction_worst"] == pytest.approx(0.5)
    assert cols["s004_sparsity_bound"] == pytest.approx(M ** (1 - ALPHA))
    assert cols["s004_expected_active"] == pytest.approx(seed004.expected_active(M, INIT["threshold_t"]))
    assert cols["s004_sparsity_ratio"] == pytest.approx(results["s004_sparsity"]["measured"] / M ** (1 - ALPHA))
    assert cols["s004_drift_ratio"] == pytest.approx(3.9 / (1.5 * 2.0 / math.sqrt(LAM)))
    assert cols["s004_sketch_eps_ratio"] == pytest.approx(1.2)
    assert set(cols) == set(seed004.SWEEP_STATUS_COLUMNS) | set(seed004.SWEEP_NUMBER_COLUMNS)
    # without results: the attrs' columns only; NA records give NaN
    assert set(seed004.sweep_columns(attrs)) == {"s004_sparsity_bound", "s004_expected_active"}
    cols = seed004.sweep_columns(attrs, {**results, "s004_drift": {"status": NA, "ratio": float("nan")}})
    assert math.isnan(cols["s004_drift_ratio"])


def test_validate_cli_on_a_multilayer_trace(registered, tmp_path):
    from simulator.cli import cli

    path = _full_trace(tmp_path / "v.h5")
    result = CliRunner().invoke(cli, ["validate", str(path)], catch_exceptions=False)
    # Theorem 1's contraction fails at step 3, but its width premise cannot be checked: exit code 0
    assert result.exit_code == 0, result.output
    assert "s004_thm1" in result.output and PREMISE_NOT_CHECKABLE in result.output
    with Trace(path) as tr:
        v = tr.validation
    assert v["s004_thm1"]["status"] == PREMISE_NOT_CHECKABLE and v["s004_thm1"]["first_failing_iteration"] == 3
    assert v["s004_thm1"]["conclusion"] == FAILS and v["s004_thm1"]["premise_met"] == ["not checkable"]
    assert "m ≥ poly(n, L, 1/λ)" in v["s004_thm1"]["premise"]


def test_a_multilayer_trace_without_the_seed004_metrics(p):
    bare = make_trace(p(), {"loss": [2.0, 0.5]}, {"step_seconds": [0.1]}, **{k: None for k in base_attrs()
                                                                             if k not in ("model",)})
    with Trace(bare) as tr:
        for c in seed004.CHECKS:
            try:
                res = c.evaluate(tr)
            except (KeyError, ValueError, TypeError) as exc:
                pytest.fail(f"{c.key} raised {exc!r} on a trace without attrs")
            assert res["status"] == NA and res["note"], (c.key, res)


# --------------------------------------------------------------------------- figures

@pytest.fixture
def plots(monkeypatch, registered):
    pytest.importorskip("matplotlib")
    from simulator.engine import plots as module

    missing = tuple(k for k in FIG_KEYS if k not in module.FIGURES)
    monkeypatch.setattr(module, "FIGURES", tuple(module.FIGURES) + missing)
    return module


def _draw(plots, path, key):
    """Draw one figure on a canvas without saving it: (reason or None, canvas)."""
    from simulator.engine import figures_seed004

    title, draw = figures_seed004.FIGURES[key]
    cv = plots._Canvas(plots._matplotlib(), title, "subtitle")
    with Trace(path) as tr:
        return draw(tr, cv), cv


def _line(ax, prefix):
    hits = [ln for ln in ax.get_lines() if ln.get_label().startswith(prefix)]
    assert hits, f"no line labelled {prefix!r} in {[ln.get_label() for ln in ax.get_lines()]}"
    return hits[0]


def test_plot_writes_the_seed004_figures(plots, tmp_path):
    trace = _full_trace(tmp_path / "full.h5")
    written = plots.plot_trace(trace, tmp_path / "figs", figures=FIG_KEYS)
    assert [q.name for q in written] == [f"full-{k}.png" for k in FIG_KEYS] and not written.skipped
    for q in written:
        assert Path(q).read_bytes()[:8] == PNG_MAGIC
    # the whole set, as `simulator plot` draws it: the two-layer figures are not this model's
    result = plots.plot_trace(trace, tmp_path / "all", figures=plots.FIGURES)
    drawn = {q.name.removeprefix("full-").removesuffix(".png") for q in result}
    assert drawn == set(FIG_KEYS) | {"phases"}
    assert result.skipped["loss"] == "not a figure of this trace's model"


def test_residual_figure_marks_the_failing_step(plots, tmp_path):
    reason, cv = _draw(plots, _full_trace(tmp_path / "r.h5"), "s004-residual")
    assert reason is None
    env = _line(cv.ax, "Theorem 1 envelope")
    assert np.allclose(env.get_ydata(), 2.0 * (1 / 3) ** np.arange(7))
    marks = _line(cv.ax, "step with")
    assert marks.get_xdata().tolist() == [3] and "1 of 5 steps" in marks.get_label()
    assert cv.ax.get_yscale() == "log" and cv.ax.get_ylabel().startswith("residual norm")
    assert cv.ax.get_xlabel()
    labels = [h.get_label() for h in cv.extra_handles]
    assert any("not checked" in s for s in labels)
    # a gradient run: the residual, no envelope, and why
    grad = make_trace(tmp_path / "g.h5", {"residual_norm": geometric(3, 0.9)}, solver_direction="gradient",
                      solver_step="gd")
    reason, cv = _draw(plots, grad, "s004-residual")
    assert reason is None and not [ln for ln in cv.ax.get_lines() if "envelope" in ln.get_label()]
    assert any("gradient run" in h.get_label() for h in cv.extra_handles)


def test_sparsity_figure_has_every_layer_and_the_bounds(plots, tmp_path):
    reason, cv = _draw(plots, _full_trace(tmp_path / "s.h5"), "s004-sparsity")
    assert reason is None
    axes = [ax for ax in cv.fig.axes if ax.axison]
    assert len(axes) == 2
    left = next(ax for ax in axes if ax is not cv.ax)
    assert list(left.get_xticks()) == [1, 2, 3] and left.get_xlabel() and left.get_ylabel()
    assert cv.ax.get_xlabel() and cv.ax.get_ylabel()
    bound = _line(cv.ax, r"sparsity bound")
    assert bound.get_ydata()[0] == pytest.approx(M ** (1 - ALPHA))
    mean = _line(cv.ax, r"expected count")
    assert mean.get_ydata()[0] == pytest.approx(seed004.expected_active(M, INIT["threshold_t"]))
    # only the fixed layers: one panel
    only = make_trace(tmp_path / "o.h5", {"residual_norm": [1.0, 0.3]}, active=[[230, 231, 240, 236]] * 2)
    reason, cv = _draw(plots, only, "s004-sparsity")
    assert reason is None and list(cv.ax.get_xticks()) == [1, 2]
    assert any("layer L (trained) not shown" in h.get_label() for h in cv.extra_handles)


def test_rank_and_drift_figures_draw_their_bounds(plots, tmp_path):
    path = _full_trace(tmp_path / "k.h5")
    reason, cv = _draw(plots, path, "s004-rank")
    assert reason is None
    assert _line(cv.ax, "rank$_{\\max}$").get_ydata()[0] == RANK_MAX + N
    assert _line(cv.ax, "$n$").get_ydata()[0] == N
    assert _line(cv.ax, "step with a fold").get_xdata()[0] == 4
    reason, cv = _draw(plots, path, "s004-drift")
    assert reason is None
    drawn = [ln for ln in cv.ax.get_lines() if ln.get_label().startswith("$1.5")]
    handles = [h for h in cv.extra_handles if h.get_label().startswith("$1.5")]
    assert len(drawn) + len(handles) == 1       # on the axes, or off scale in the legend
    line = (drawn or handles)[0]
    assert f"{1.5 * 2.0 / math.sqrt(LAM):.4g}" in line.get_label()


def test_figures_skipped_with_reasons(plots, tmp_path):
    exact = make_trace(tmp_path / "e.h5", {"residual_norm": [1.0, 0.3], "drift_fro": [0.0, 1.0]},
                       {"sketch_eps": [0.1]})
    result = plots.plot_trace(exact, tmp_path / "figs", figures=FIG_KEYS)
    assert [q.name for q in result] == ["e-s004-residual.png", "e-s004-drift.png"]
    assert "not a sketched run" in result.skipped["s004-sketch"] and "'exact'" in result.skipped["s004-sketch"]
    assert "active_per_layer" in result.skipped["s004-sparsity"]
    assert "step_rank" in result.skipped["s004-rank"]
    sketched = make_trace(tmp_path / "k.h5", {"loss": [1.0, 0.3]}, solver_direction="sketched")
    result = plots.plot_trace(sketched, tmp_path / "figs2", figures=FIG_KEYS)
    assert "not measured" in result.skipped["s004-sketch"]
    assert "drift_fro" in result.skipped["s004-drift"]
    assert all(result.skipped.values())
