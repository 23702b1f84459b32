"""simulator.theory: the Check records and their registry, the shared bound helpers of seed 002,
and the "order" records on a real run."""

from pathlib import Path

import numpy as np
import pytest

import simulator
from simulator import ntk, theory
from simulator.engine.sweep import format_report
from simulator.engine.trace import Trace
from simulator.engine.validate import NA, RATIO, run_checks
from simulator.theory import seed001, seed002

#: the /validation keys of seed 002 (every one used before the checks became records)
SEED002_KEYS = {"thm_2_13", "lemma_2_12", "lemma_4_2_W0", "lemma_4_2_f0", "lemma_4_2_J0", "lemma_4_3",
                "lemma_4_4_norm", "lemma_4_4_dev", "lemma_d_3", "def_4_5", "lemma_a_10", "cor_a_11", "thm_g_2",
                "lemma_e_4", "def_2_1", "thm_4_1", "reg_accuracy"}
#: the /validation keys of seed 001, which also studies the two-layer model (tests/test_theory_seed001.py)
SEED001_KEYS = {"s001_lemma_3_4", "s001_remark_3_5", "s001_prop_5_1", "s001_lemma_5_2", "s001_lemma_4_1",
                "s001_union_monotone", "s001_step_move", "s001_approximate"}


def test_checks_for_two_layer_unique_keys_and_valid_kinds():
    records = theory.checks_for({"model": "two-layer"})
    keys = [c.key for c in records]
    assert len(keys) == len(set(keys))
    assert set(keys) == SEED002_KEYS | SEED001_KEYS
    # seed 002's records: all of them, first, in its own order
    assert {c.key for c in seed002.CHECKS} == SEED002_KEYS
    assert records[:len(seed002.CHECKS)] == seed002.CHECKS
    assert records[len(seed002.CHECKS):] == seed001.CHECKS
    for c in records:
        assert isinstance(c, theory.Check) and c.kind in theory.KINDS
        assert c.ref and c.statement and callable(c.evaluate)
    # traces written before the root attr `model` existed are two-layer traces
    assert theory.checks_for({}) == records
    assert theory.PAPERS["seed002"] is seed002 and theory.PAPERS["seed001"] is seed001
    assert theory.MODEL_PAPERS == {"two-layer": ("seed002", "seed001"), "multilayer": ("seed004",)}


def test_unknown_model_and_kind_are_errors():
    with pytest.raises(ValueError, match="model"):
        theory.checks_for({"model": "three-layer"})
    with pytest.raises(ValueError, match="kind"):
        theory.Check("x", "Lemma 0", "nothing", "exact", lambda tr: None)


@pytest.fixture(scope="module")
def real_trace(tmp_path_factory):
    """A small sketched run with ᾱ set, so that every order record of seed 002 applies."""
    out = tmp_path_factory.mktemp("run") / "order.h5"
    overrides = ["network.m=1024", "network.alpha_bar=0.04", "data.n=8", "data.d=6",
                 "stopping.max_iterations=4", "stopping.rel_loss_target=0"]
    return Path(simulator.run("quickstart", overrides=overrides, out=out))


def test_order_records_report_ratio_on_a_real_trace(real_trace):
    with Trace(real_trace) as tr:
        order = [c for c in theory.checks_for(tr.attrs) if c.kind == "order"]
        assert order
        for c in order:
            if c.key in SEED001_KEYS:
                continue
            r = c.evaluate(tr)
            assert r is not None and r["status"] == RATIO, (c.key, r)
        # seed 001's order records count half-space-reporting work and an approximate index's misses:
        # a sketched run with the tree index has neither, and says so
        for c in seed001.CHECKS:
            if c.kind == "order":
                r = c.evaluate(tr)
                assert r["status"] == NA and r["note"], (c.key, r)
        results = run_checks(tr)
    assert list(results) == [c.key for c in theory.checks_for({}) if c.key in results]


class _Attrs:
    """Just enough of a Trace for the checks that read attrs and step rows."""

    def __init__(self, attrs, rows=None):
        self.attrs, self._rows = attrs, rows or {}

    def __contains__(self, name):
        return name in self._rows

    def __getitem__(self, name):
        return np.asarray(self._rows[name])


def _record(key):
    return next(c for c in seed002.CHECKS if c.key == key)


def test_lemma_e4_follows_the_recorded_step_direction():
    rows = {"reg_iterations": [3, 5]}
    attrs = {"n": 4, "lambda": 0.02, "solver": "bpsw"}
    r = _record("lemma_e_4").evaluate(_Attrs(attrs, rows))
    assert r["status"] == NA and "solver_direction" in r["note"]
    r = _record("lemma_e_4").evaluate(_Attrs({**attrs, "solver_direction": "sketched"}, rows))
    assert r["status"] == RATIO and r["measured"] == 5 and r["bound"] == pytest.approx(np.log(4 / 0.02))
    for direction in ("exact", "gradient"):
        assert _record("lemma_e_4").evaluate(_Attrs({**attrs, "solver_direction": direction}, rows))["status"] == NA


def test_def_2_1_reads_eps_sketch_from_the_solver_attr():
    rows = {"sketch_eps": [0.05, 0.2]}
    toml = '[solver]\neps_sketch = 0.1\n'
    r = _record("def_2_1").evaluate(_Attrs({"scenario_toml": toml}, rows))
    assert r["conclusion"] == "fails" and r["status"] == "premise not checkable"   # Lemma 2.2's s has no constant
    r = _record("def_2_1").evaluate(_Attrs({"scenario_toml": toml, "solver_eps_sketch": 0.5}, rows))
    assert r["status"] == "holds" and r["bound"] == 0.5


def test_def_4_5_halving_and_default_b():
    judged, fails = seed002.def_4_5_halving([1.0, 0.4, 0.3, 1e-12, 2e-12])
    assert judged.tolist() == [True, True, True, False] and fails.tolist() == [False, True, False, False]
    judged, fails = seed002.def_4_5_halving([1.0, 0.4, 0.3], t=[0, 1, 3])  # 1 -> 3 is not one step
    assert judged.tolist() == [True, False] and not fails.any()
    assert seed002.def_4_5_halving([1.0])[0].size == 0
    assert seed002.is_default_b(4096, ntk.default_b(4096)) and not seed002.is_default_b(4096, 1.0)


def test_attrs_bounds_match_the_formulas():
    attrs = {"n": 10, "m": 10 ** 6, "lambda": 0.01, "R0": 1000.0, "b": 2.0, "rho": 0.1}
    assert seed002.drift_radius_of(attrs) == pytest.approx(seed002.drift_radius(10, 0.01, 10 ** 6))
    assert seed002.lemma_4_3_bound_of(attrs) == seed002.lemma_4_3_lambda_min_bound(0.01) == 0.005
    assert seed002.lemma_a10_fire_bound_of(attrs) == seed002.lemma_a10_fire_bound(10 ** 6, 2.0)
    assert seed002.lemma_d3_flip_bound_of(attrs) == seed002.lemma_d3_flip_bound(10, 0.1, 1000.0, 10 ** 6)
    assert seed002.width_ratio_of(attrs) == seed002.thm_4_1_width_ratio(10 ** 6, 0.01, 10)
    assert theory.sweep_columns(attrs) == {"width_ratio": seed002.width_ratio_of(attrs)}
    assert theory.sweep_columns({"n": 10, "m": 100, "lambda": 0.0}) == {}


def test_constants_of_a_run():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    b = ntk.default_b(512)
    c = seed002.constants(X, b, 0.1, alpha_bar=0.04)
    assert c["lambda"] == ntk.ntk_lambda(X, b) and c["delta"] == ntk.separability(X)
    assert c["R0"] == pytest.approx(6 / c["lambda"]) and c["lambda_source"] == "ntk"
    assert (c["b"], c["rho"], c["alpha_bar"]) == (b, 0.1, 0.04)
    assert "alpha_bar" not in seed002.constants(X, b, 0.1)


def test_sweep_report_registry():
    rows = [{"n": 4, "m": 64, "d": 3, "rho": 0.1, "lambda": 0.1, "status": "completed", "def_4_5": "holds"}]
    text = format_report("width-threshold", rows)
    assert text == seed002.format_width_threshold_report(seed002.width_threshold_report(rows))
    assert format_report("", rows) == ""
    with pytest.raises(ValueError, match="unknown sweep report"):
        format_report("nope", rows)


def test_gradient_runs_are_not_judged_by_the_gauss_newton_hypothesis(tmp_path):
    # which checks apply follows from what the trace records: a gradient-descent run (here GD
    # through the active-set index) gets Def 4.5 and Lemma E.4 as "not applicable", with the reason
    out = tmp_path / "gd.h5"
    overrides = ["network.m=1024", "data.n=8", "data.d=6", "stopping.max_iterations=3", "solver.step=gd",
                 "solver.index=active", "solver.leaf_update=gram"]
    with Trace(simulator.run("quickstart", overrides=overrides, out=out)) as tr:
        assert tr.attrs["solver_direction"] == "gradient" and tr.attrs["solver_step"] == "gd"
        results = run_checks(tr)
    assert results["def_4_5"]["status"] == NA and "gradient" in results["def_4_5"]["note"]
    assert results["lemma_e_4"]["status"] == NA
    assert results["lemma_4_3"]["status"] != NA  # the Gram stays a statement about any weights in the radius
