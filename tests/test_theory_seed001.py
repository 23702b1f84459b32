"""Seed 001's theory records (simulator.theory.seed001) and figures (engine.figures_seed001) on hand-built
traces whose answer is known: every record's holds / fails / not-applicable path, a trace without the
seed-001 metrics, and `plot` writing or skipping the s001 figures."""

import math
from pathlib import Path

import numpy as np
import pytest

import simulator
from simulator import ntk, theory
from simulator.engine.trace import Trace, TraceWriter
from simulator.engine.validate import FAILS, HOLDS, NA, PREMISE_NOT_CHECKABLE, PREMISE_NOT_MET, RATIO, run_checks
from simulator.theory import seed001, seed002

N, M, D = 4, 1024, 3
B = ntk.default_b(M)                      # seed 002's b; Remark 3.5's is seed001.remark_3_5_b(M)
LAM = 0.02
ETA = 2.0
SEED001_KEYS = ("s001_lemma_3_4", "s001_remark_3_5", "s001_prop_5_1", "s001_lemma_5_2", "s001_lemma_4_1",
                "s001_union_monotone", "s001_step_move", "s001_approximate")


def make_trace(path, state, step=None, **attrs):
    """A trace with `state` rows (name -> T+1 rows) and `step` rows (name -> T rows); attrs override the
    defaults (None removes one)."""
    base = {"model": "two-layer", "scenario_name": "s001-test", "solver": "preprocess", "n": N, "m": M, "d": D,
            "b": B, "lambda": LAM, "delta": 1.0, "R0": N / LAM, "rho": 0.1,
            "scenario_toml": '[solver]\nname = "preprocess"\n'}
    base.update(attrs)
    base = {k: v for k, v in base.items() if v is not None}
    step = step or {}
    T = len(next(iter(state.values()))) - 1
    with TraceWriter.create(path, attrs=base) as w:
        for t in range(T + 1):
            row = {k: v[t] for k, v in state.items()}
            srow = {k: v[t - 1] for k, v in step.items()} if t > 0 else None
            w.append_iteration(t, state=row, step=srow or None)
    return path


def gd_attrs(**kw):
    return {"solver_direction": "gradient", "solver_learning_rate": ETA, **kw}


def geometric(T, rate, r0=2.0):
    """Residual norms whose squares shrink by exactly `rate` per step."""
    return [r0 * rate ** (t / 2) for t in range(T + 1)]


def checks(path):
    with Trace(path) as tr:
        return run_checks(tr)


def evaluate(path, key):
    with Trace(path) as tr:
        return next(c for c in seed001.CHECKS if c.key == key).evaluate(tr)


@pytest.fixture
def p(tmp_path):
    """A fresh trace path per call: p() -> tmp/0.h5, tmp/1.h5, ..."""
    count = iter(range(1000))
    return lambda: tmp_path / f"{next(count)}.h5"


# --------------------------------------------------------------------------- registry and formulas

def test_seed001_is_registered_for_the_two_layer_model():
    assert theory.PAPERS["seed001"] is seed001
    assert theory.MODEL_PAPERS["two-layer"] == ("seed002", "seed001")
    keys = [c.key for c in seed001.CHECKS]
    assert tuple(keys) == SEED001_KEYS and all(k.startswith("s001_") for k in keys)
    assert not set(keys) & {c.key for c in seed002.CHECKS}
    assert [c.key for c in theory.checks_for({"model": "two-layer"})] == [c.key for c in seed002.CHECKS] + keys
    kinds = {c.key: c.kind for c in seed001.CHECKS}
    assert kinds["s001_lemma_4_1"] == kinds["s001_approximate"] == "order"
    assert all(kinds[k] == "inequality" for k in SEED001_KEYS if k not in ("s001_lemma_4_1", "s001_approximate"))
    assert seed001.sweep_columns({"m": 4}) == {}


def test_formulas():
    m = 10 ** 6
    b = seed001.remark_3_5_b(m)
    assert seed001.lemma_3_4_k0(m, b) == pytest.approx(m ** 0.8)
    assert seed001.lemma_3_4_fire_bound(m, b) == pytest.approx(seed001.remark_3_5_fire_bound(m))
    assert seed001.is_seed001_b(m, b) and not seed001.is_seed001_b(m, ntk.default_b(m))
    assert b == pytest.approx(ntk.b_from_alpha_bar(m, 0.2))              # ᾱ = 0.2
    k0 = seed001.lemma_3_4_k0(100, 2.0)
    assert seed001.lemma_3_4_tail(100, 2.0) == pytest.approx(math.exp(-3 * k0 / 8))
    # Prop. 5.1 is the lower half of seed 002's Thm 2.13
    assert seed001.prop_5_1_lambda_bound(1.5, 0.7, 9) == pytest.approx(seed002.thm_2_13_lambda_bounds(1.5, 0.7, 9)[0])
    assert seed001.lemma_5_2_envelope(4.0, 0.5, 0.2, [0, 1, 2]) == pytest.approx([4.0, 3.8, 3.61])
    with pytest.raises(ValueError, match="envelope"):
        seed001.lemma_5_2_envelope(1.0, 30.0, 0.1, 1)
    assert seed001.step_move_bound(0.5, 4, 16, 3.0) == pytest.approx(0.5 * 0.5 * 3.0)
    assert seed001.lemma_4_1_cost([1, 2], [3, 4], [5, 6], 10) == pytest.approx([54, 66])
    assert seed001.dense_gd_cost(8, 2, 3) == 48
    assert seed001.lemma_5_2_iterations(0.1, 4, 0.01) == pytest.approx(1600 * math.log(400))
    env, judged, fails = seed001.lemma_5_2_judgement([1.0, 0.9, 1e-11, 0.5], 1.0, 0.4)   # factor 0.8
    assert judged.tolist() == [False, True, False, True] and fails.tolist() == [False, True, False, False]
    assert seed001.union_growth([5, 4, np.nan, 6, 6]).tolist() == [False, False, False, True, False]


# --------------------------------------------------------------------------- Lemma 3.4, Remark 3.5, Prop. 5.1

def test_lemma_3_4_holds_fails_and_states_the_tail_probability(p):
    bound = 2 * M * math.exp(-B * B / 2)
    ok = make_trace(p(), {"fire_count": [[10, 20, 30, 40], [1, 2, 3, 4]]})
    r = evaluate(ok, "s001_lemma_3_4")
    assert r["status"] == HOLDS and r["measured"] == 40 and r["bound"] == pytest.approx(bound)
    tail = math.exp(-3 * M * math.exp(-B * B / 2) / 8)
    assert "exp(−3k_0/8)" in r["note"] and f"{tail:.3g}" in r["note"]
    bad = make_trace(p(), {"fire_count": [[10, int(bound) + 1, 3, 4], [1, 2, 3, 4]]})
    assert evaluate(bad, "s001_lemma_3_4")["status"] == FAILS
    r = evaluate(make_trace(p(), {"loss": [1.0, 0.5]}), "s001_lemma_3_4")
    assert r["status"] == NA and "fire_count" in r["note"]


def test_remark_3_5_only_for_its_b(p):
    b = seed001.remark_3_5_b(M)
    r = evaluate(make_trace(p(), {"fire_count": [[10, 20, 30, 40]] * 2}), "s001_remark_3_5")
    assert r["status"] == NA and "0.4 log m" in r["note"]
    r = evaluate(make_trace(p(), {"fire_count": [[10, 20, 30, 40]] * 2}, b=b), "s001_remark_3_5")
    assert r["status"] == HOLDS and r["bound"] == pytest.approx(2 * M ** 0.8)
    over = int(2 * M ** 0.8) + 1
    assert evaluate(make_trace(p(), {"fire_count": [[over, 1, 1, 1]] * 2}, b=b), "s001_remark_3_5")["status"] == FAILS


def test_prop_5_1(p):
    lo = 0.01 * math.exp(-B * B / 2) * 1.0 / N ** 2
    r = evaluate(make_trace(p(), {"loss": [1.0, 0.5]}), "s001_prop_5_1")
    assert r["status"] == HOLDS and r["measured"] == LAM and r["bound"] == pytest.approx(lo)
    assert evaluate(make_trace(p(), {"loss": [1.0, 0.5]}, **{"lambda": 0.5 * lo}), "s001_prop_5_1")["status"] == FAILS
    r = evaluate(make_trace(p(), {"loss": [1.0, 0.5]}, delta=None), "s001_prop_5_1")
    assert r["status"] == NA and "delta" in r["note"]


# --------------------------------------------------------------------------- Lemma 5.2

def test_lemma_5_2_holds_and_reports_the_premise(p):
    factor = 1 - ETA * LAM / 2                             # 0.98
    res = geometric(5, 0.9)
    r = evaluate(make_trace(p(), {"residual_norm": res, "loss": [0.5 * x * x for x in res]}, **gd_attrs()),
                 "s001_lemma_5_2")
    assert r["status"] == HOLDS and r["first_failing_iteration"] == -1
    assert r["measured"] == pytest.approx(0.9) and r["bound"] == pytest.approx(factor)
    ratio = ETA / (LAM / N ** 2)
    assert "η/(λ/n²)" in r["note"] and f"{ratio:.3g}" in r["note"]
    # the premises as data: η = O(λ/n²) and the width have no constant in the seed (not checkable)
    assert r["premise_names"][:2] == ["η = O(λ/n²)", "m = poly(n, 1/δ, log(n/ρ))"]
    assert r["premise_met"][:2] == ["not checkable", "not checkable"] and r["premise_status"] == "not checkable"
    assert r["premise_measured"][0] == ETA and r["premise_required"][0] == pytest.approx(LAM / N ** 2)
    assert r["premise_ratios"][0] == pytest.approx(1 / ratio) and "η/(λ/n²)" in r["premise"]


def test_lemma_5_2_fails_at_the_first_row_above_the_envelope(p):
    factor = 1 - ETA * LAM / 2
    res = geometric(4, 0.9)
    res[3] = res[0] * math.sqrt(factor ** 3) * 1.01         # above the envelope at k = 3 only
    r = evaluate(make_trace(p(), {"residual_norm": res}, **gd_attrs()), "s001_lemma_5_2")
    # the envelope is crossed, but η = O(λ/n²) and the width premise have no constant: no contradiction
    assert r["status"] == PREMISE_NOT_CHECKABLE and r["conclusion"] == FAILS and r["first_failing_iteration"] == 3
    assert r["measured"] > factor and "η = O(λ/n²)" in r["premise_reason"]


def test_lemma_5_2_from_the_loss_and_round_off_rows(p):
    res = [1.0, 0.5, 1e-12, 1e-12, 1e-12]                     # stuck at round-off: not judged
    r = evaluate(make_trace(p(), {"loss": [0.5 * x * x for x in res]}, **gd_attrs()), "s001_lemma_5_2")
    assert r["status"] == HOLDS and "round-off" in r["note"]


def test_lemma_5_2_not_applicable_with_reasons(p):
    res = {"residual_norm": geometric(3, 0.9)}
    r = evaluate(make_trace(p(), res, solver_direction="sketched", solver_learning_rate=ETA), "s001_lemma_5_2")
    assert r["status"] == NA and "sketched" in r["note"] and "gradient" in r["note"]
    r = evaluate(make_trace(p(), res), "s001_lemma_5_2")
    assert r["status"] == NA and "solver_direction" in r["note"]
    r = evaluate(make_trace(p(), res, solver_direction="gradient"), "s001_lemma_5_2")
    assert r["status"] == NA and "solver_learning_rate" in r["note"]
    r = evaluate(make_trace(p(), res, **gd_attrs(solver_learning_rate=200.0)), "s001_lemma_5_2")   # ηλ/2 = 2
    assert r["status"] == NA and "1 − ηλ/2 ≤ 0" in r["note"]


def test_lemma_5_2_and_approximate_indexes(p):
    res = {"residual_norm": geometric(3, 0.9)}
    r = evaluate(make_trace(p(), res, {"missed": [0, 2, 1], "false_reported": [0, 0, 0]}, **gd_attrs()),
                 "s001_lemma_5_2")
    assert r["status"] == NA and "not gradient descent's" in r["note"]
    # an approximate index that happened to miss nothing: the iterates are GD's, the lemma is judged
    r = evaluate(make_trace(p(), res, {"missed": [0, 0, 0], "false_reported": [0, 0, 0]}, **gd_attrs()),
                 "s001_lemma_5_2")
    assert r["status"] == HOLDS


# --------------------------------------------------------------------------- Lemma 4.1

def test_lemma_4_1_reports_the_fraction_of_dense_gd(p):
    q, u, ft = [100, 200, 300], [10, 20, 30], [40, 50, 60]
    cost = [q[k] + u[k] + D * ft[k] for k in range(3)]
    dense = M * N * D
    path = make_trace(p(), {"loss": [1.0, 0.5, 0.25, 0.1]},
                      {"query_nodes": q, "update_nodes": u, "fire_total": ft, "rebuilds": [0, 1, 0]},
                      solver_index="weights-hsr")
    r = evaluate(path, "s001_lemma_4_1")
    assert r["status"] == RATIO and r["measured"] == pytest.approx(np.median(cost)) and r["bound"] == dense
    assert r["ratio"] == pytest.approx(np.median(cost) / dense)
    assert f"{np.median(cost) / dense:.3g}" in r["note"] and "below 1" in r["note"]
    assert "weights-hsr" in r["note"] and "rebuilds: 1" in r["note"]


def test_lemma_4_1_fallbacks_and_not_applicable(p):
    # a static structure (no update_nodes) and Σ_i k_{i,t} from fire_count
    fire = [[1, 2, 3, 4], [2, 2, 2, 2], [0, 1, 0, 1]]
    r = evaluate(make_trace(p(), {"fire_count": fire}, {"query_nodes": [5, 7]}), "s001_lemma_4_1")
    assert r["status"] == RATIO and r["measured"] == pytest.approx(np.median([5 + D * 10, 7 + D * 8]))
    assert "update_nodes" in r["note"] and "fire_count" in r["note"]
    r = evaluate(make_trace(p(), {"fire_count": fire}, {"fire_total": [10, 8]}), "s001_lemma_4_1")
    assert r["status"] == NA and "query_nodes" in r["note"]


# --------------------------------------------------------------------------- derived: union, movement

@pytest.mark.parametrize("direction", ["gradient", "exact", "sketched", None])
def test_union_never_grows_for_every_direction(p, direction):
    r = evaluate(make_trace(p(), {"union_fire": [50, 40, 40, 31]}, solver_direction=direction),
                 "s001_union_monotone")
    assert r["status"] == HOLDS and r["measured"] == 0 and r["first_failing_iteration"] == -1
    r = evaluate(make_trace(p(), {"union_fire": [50, 40, 42, 31]}, solver_direction=direction),
                 "s001_union_monotone")
    assert r["status"] == FAILS and r["first_failing_iteration"] == 2 and r["measured"] == 2


def test_union_not_applicable(p):
    r = evaluate(make_trace(p(), {"loss": [1.0, 0.5]}), "s001_union_monotone")
    assert r["status"] == NA and "union_fire" in r["note"]
    # an approximate index: misses keep the premise (a missed neuron does not move); a false report that
    # entered the step would not, so a growing union with false reports is "premise not met", not a failure
    r = evaluate(make_trace(p(), {"union_fire": [50, 52]}, {"missed": [3], "false_reported": [1]}),
                 "s001_union_monotone")
    assert r["status"] == PREMISE_NOT_MET and r["conclusion"] == FAILS and r["first_failing_iteration"] == 1
    assert r["premise_names"] == ["false reports = 0"] and r["premise_met"] == ["not met"]
    assert "false reports = 0" in r["premise_reason"] and "1 false reports" in r["note"]
    r = evaluate(make_trace(p(), {"union_fire": [50, 52]}, {"missed": [3], "false_reported": [0]}),
                 "s001_union_monotone")
    assert r["status"] == FAILS and r["first_failing_iteration"] == 1
    r = evaluate(make_trace(p(), {"union_fire": [50, 48]}, {"missed": [3], "false_reported": [1]}),
                 "s001_union_monotone")
    assert r["status"] == HOLDS and "3 misses" in r["note"]


def test_step_move_holds_and_fails_at_the_step(p):
    res = [2.0, 1.0, 0.5]
    scale = ETA * math.sqrt(N / M)
    good = [0.5 * scale * r for r in res[:2]]
    r = evaluate(make_trace(p(), {"residual_norm": res}, {"move_max": good}, **gd_attrs()), "s001_step_move")
    assert r["status"] == HOLDS and r["measured"] == pytest.approx(0.5) and r["bound"] == 1.0
    bad = [0.5 * scale * res[0], 1.5 * scale * res[1]]
    r = evaluate(make_trace(p(), {"residual_norm": res}, {"move_max": bad}, **gd_attrs()), "s001_step_move")
    assert r["status"] == FAILS and r["first_failing_iteration"] == 2 and r["measured"] == pytest.approx(1.5)


def test_step_move_not_applicable(p):
    res = {"residual_norm": [2.0, 1.0]}
    r = evaluate(make_trace(p(), res, {"move_max": [0.01]}, solver_direction="exact", solver_learning_rate=ETA),
                 "s001_step_move")
    assert r["status"] == NA and "exact" in r["note"]
    r = evaluate(make_trace(p(), res, {"step_seconds": [0.1]}, **gd_attrs()), "s001_step_move")
    assert r["status"] == NA and "move_max" in r["note"]


# --------------------------------------------------------------------------- approximate index

def test_approximate_record_is_a_diagnostic_never_holds(p):
    fire = [[10, 10, 10, 10]] * 3
    path = make_trace(p(), {"fire_count": fire, "residual_norm": [2.0, 1.5, 1.2]},
                      {"missed": [4, 0], "false_reported": [1, 2], "loss_gap": [0.01, 0.03]}, **gd_attrs())
    r = evaluate(path, "s001_approximate")
    assert r["status"] == RATIO and r["measured"] == 4 and r["bound"] == 80 and r["ratio"] == pytest.approx(0.05)
    assert "not gradient descent's" in r["note"] and "0.03" in r["note"] and "3 false reports" in r["note"]
    zero = make_trace(p(), {"fire_count": fire}, {"missed": [0, 0], "false_reported": [0, 0]})
    r = evaluate(zero, "s001_approximate")
    assert r["status"] == RATIO and r["measured"] == 0 and "by luck" in r["note"]
    r = evaluate(make_trace(p(), {"fire_count": fire}), "s001_approximate")
    assert r["status"] == NA and "missed" in r["note"]


# --------------------------------------------------------------------------- traces without the new metrics

def test_a_trace_without_the_seed001_metrics(p):
    path = make_trace(p(), {"loss": [2.0, 0.5, 0.1], "residual_norm": [2.0, 1.0, math.sqrt(0.2)],
                            "fire_count": [[10, 20, 30, 40]] * 3})
    r = checks(path)                                           # every record of both papers, no exception
    assert set(SEED001_KEYS) <= set(r)
    for key in SEED001_KEYS:
        assert r[key]["status"] in (HOLDS, NA), (key, r[key])
        if r[key]["status"] == NA:
            assert r[key]["note"], key
    assert r["s001_lemma_3_4"]["status"] == HOLDS and r["s001_prop_5_1"]["status"] == HOLDS
    for key in ("s001_remark_3_5", "s001_lemma_5_2", "s001_lemma_4_1", "s001_union_monotone", "s001_step_move",
                "s001_approximate"):
        assert r[key]["status"] == NA, key
    # not even the attrs of the bounds: still no exception
    bare = make_trace(p(), {"loss": [2.0, 0.5], "residual_norm": [2.0, 1.0], "fire_count": [[1, 2, 3, 4]] * 2,
                            "union_fire": [5, 4]},
                      {"query_nodes": [3], "move_max": [0.1], "missed": [0]}, delta=None, **{"lambda": None},
                      R0=None, b=None, m=None, d=None, solver_direction="gradient", solver_learning_rate=ETA)
    with Trace(bare) as tr:
        for c in seed001.CHECKS:
            try:
                res = c.evaluate(tr)
            except KeyError:
                pytest.fail(f"{c.key} raised on a trace without b / lambda")
            assert res is None or res["status"] in (HOLDS, NA, FAILS, RATIO)


def _full_trace(path):
    """A gradient run with every seed-001 metric: HSR counters and an approximate index's counters."""
    T = 5
    res = geometric(T, 0.8)
    scale = ETA * math.sqrt(N / M)
    return make_trace(path, {
        "loss": [0.5 * x * x for x in res], "residual_norm": res,
        "fire_count": [[20 - t, 18 - t, 22 - t, 19 - t] for t in range(T + 1)],
        "union_fire": [60 - 2 * t for t in range(T + 1)],
        "drift_max": [0.1 * t for t in range(T + 1)],
    }, {
        "query_nodes": [300 - 10 * k for k in range(T)], "update_nodes": [120 - 5 * k for k in range(T)],
        "fire_total": [79 - 4 * k for k in range(T)], "rebuilds": [0, 0, 1, 0, 0],
        "candidates": [100 - 4 * k for k in range(T)], "move_max": [0.5 * scale * x for x in res[:T]],
        "missed": [0, 2, 1, 0, 3], "false_reported": [1, 0, 0, 2, 0], "loss_gap": [0.0, 1e-3, 2e-3, 2e-3, 4e-3],
        "step_seconds": [0.01] * T,
    }, **gd_attrs(solver_index="lsh"))


def test_plot_writes_the_seed001_figures(tmp_path):
    pytest.importorskip("matplotlib")
    from simulator.engine import plots

    trace = _full_trace(tmp_path / "full.h5")
    keys = [k for k in plots.FIGURES if k.startswith("s001-")]
    assert keys == ["s001-loss", "s001-union", "s001-work", "s001-lsh"]
    written = plots.plot_trace(trace, tmp_path / "figs", figures=keys)
    assert [q.name for q in written] == [f"full-{k}.png" for k in keys] and not written.skipped
    for q in written:
        assert Path(q).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_skips_the_seed001_figures_with_reasons(tmp_path):
    pytest.importorskip("matplotlib")
    from simulator.engine import plots

    trace = make_trace(tmp_path / "bare.h5", {"loss": [2.0, 0.5, 0.1], "fire_count": [[10, 20, 30, 40]] * 3})
    keys = [k for k in plots.FIGURES if k.startswith("s001-")]
    result = plots.plot_trace(trace, tmp_path / "figs", figures=keys)
    assert list(result) == [] and set(result.skipped) == set(keys)
    assert "solver_direction" in result.skipped["s001-loss"]
    assert "union_fire" in result.skipped["s001-union"]
    assert "query_nodes" in result.skipped["s001-work"]
    assert "missed" in result.skipped["s001-lsh"]
    # a Gauss-Newton run: Lemma 5.2's figure is about gradient descent
    gn = make_trace(tmp_path / "gn.h5", {"loss": [2.0, 0.5], "union_fire": [9, 8]}, solver_direction="exact")
    result = plots.plot_trace(gn, tmp_path / "figs2", figures=["s001-loss", "s001-union"])
    assert [q.name for q in result] == ["gn-s001-union.png"] and "exact" in result.skipped["s001-loss"]
    # and the whole set of its model, as `simulator plot` draws it: every key written or skipped with a reason
    result = plots.plot_trace(trace, tmp_path / "figs3")
    drawn = {q.name.removeprefix("bare-").removesuffix(".png") for q in result}
    two_layer = {k for k in plots.FIGURES if not k.startswith("s004-")}
    assert drawn | set(result.skipped) == two_layer and not drawn & set(result.skipped)
    assert all(result.skipped.values())


# --------------------------------------------------------------------------- a real gradient run

def test_records_on_a_real_gradient_run(tmp_path):
    out = tmp_path / "gd.h5"
    overrides = ["network.m=1024", "data.n=8", "data.d=6", "stopping.max_iterations=3", "solver.step=gd",
                 "solver.index=active", "solver.leaf_update=gram"]
    with Trace(simulator.run("quickstart", overrides=overrides, out=out)) as tr:
        results = run_checks(tr)
        has_move = "move_max" in tr
    assert results["s001_union_monotone"]["status"] == HOLDS         # exact for every step W − Jᵀg
    assert results["s001_lemma_3_4"]["status"] in (HOLDS, FAILS)
    assert results["s001_lemma_5_2"]["status"] in (HOLDS, PREMISE_NOT_CHECKABLE)     # its premises have no constant
    assert "η/(λ/n²)" in results["s001_lemma_5_2"]["note"]
    assert results["s001_step_move"]["status"] == (HOLDS if has_move else NA)   # derived, exact
    assert results["s001_lemma_4_1"]["status"] == NA and results["s001_approximate"]["status"] == NA
