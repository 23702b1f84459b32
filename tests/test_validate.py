"""`validate`: each docs/theory.md §2 check on synthetic traces whose answer is known, and on a real run."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

from simulator import ntk
from simulator.theory import seed002
from simulator.cli import cli
from simulator.engine.trace import Trace, TraceWriter
from simulator.engine.validate import FAILS, HOLDS, NA, PREMISE_NOT_CHECKABLE, PREMISE_NOT_MET, RATIO, run_checks

N, M = 4, 1024
B = ntk.default_b(M)
LAM = 0.02
R0 = N / LAM
RADIUS = R0 / math.sqrt(M)


def synthetic(tmp_path, residual, drift=None, lmin=None, dev=None, fire=None, flips=None, reg=None, eps=None,
              solver="sublinear", b=B, **attrs):
    path = tmp_path / "syn.h5"
    T = len(residual)
    drift = np.zeros(T) if drift is None else np.asarray(drift, float)
    lmin = np.full(T, LAM) if lmin is None else np.asarray(lmin, float)
    dev = np.zeros(T) if dev is None else np.asarray(dev, float)
    fire = np.full((T, N), 50) if fire is None else np.asarray(fire)
    flips = np.zeros((T, N), dtype=np.int64) if flips is None else np.asarray(flips)
    toml = '[solver]\nname = "%s"\neps_sketch = 0.1\n' % solver
    base = dict(n=N, m=M, d=3, b=b, delta=1.0, R0=R0, rho=0.1, scenario_toml=toml, solver=solver, **attrs)
    base["lambda"] = LAM
    with TraceWriter.create(path, attrs=base) as w:
        for t in range(T):
            state = {"residual_norm": residual[t], "loss": 0.5 * residual[t] ** 2, "drift_max": drift[t],
                     "lambda_min": lmin[t], "gram_dev_fro": dev[t], "fire_count": fire[t], "flips": flips[t]}
            step = None
            if t > 0:
                step = {"step_seconds": 0.0}
                if reg is not None:
                    step["reg_iterations"] = reg[t - 1]
                if eps is not None:
                    step["sketch_eps"] = eps[t - 1]
            if t == 0:
                w.append_state(0, state)
            else:
                w.append_iteration(t, state=state, step=step)
    return path


def checks(path):
    with Trace(path) as tr:
        return run_checks(tr)


def test_induction_hypothesis_holds_and_fails_at_the_right_iteration(tmp_path):
    r = checks(synthetic(tmp_path, [1.0, 0.4, 0.1, 0.04]))
    assert r["def_4_5"]["status"] == HOLDS and r["def_4_5"]["measured"] == pytest.approx(0.4)
    p2 = tmp_path / "b"
    p2.mkdir()
    r = checks(synthetic(p2, [1.0, 0.4, 0.3, 0.01]))
    # the halving fails at t = 2, but m = 1024 is far below Lemma 4.3's 36n⁴/λ⁴, which the induction needs
    assert r["def_4_5"]["conclusion"] == FAILS and r["def_4_5"]["first_failing_iteration"] == 2
    assert r["def_4_5"]["status"] == PREMISE_NOT_MET and "m ≥ 36n⁴/λ⁴" in r["def_4_5"]["premise_reason"]


def test_induction_hypothesis_fails_on_drift(tmp_path):
    r = checks(synthetic(tmp_path, [1.0, 0.4, 0.1], drift=[0.0, 0.5 * RADIUS, 1.5 * RADIUS]))
    assert r["def_4_5"]["conclusion"] == FAILS and r["def_4_5"]["first_failing_iteration"] == 2
    assert r["def_4_5"]["status"] == PREMISE_NOT_MET


def test_round_off_floor_is_not_judged(tmp_path):
    r = checks(synthetic(tmp_path, [1.0, 0.3, 1e-12, 2e-12]))
    assert r["def_4_5"]["status"] == HOLDS


def test_lemma_4_3_drift_premise_at_the_failing_rows(tmp_path):
    # the only bad row is outside the radius: the drift premise is not met where the conclusion fails
    r = checks(synthetic(tmp_path, [1.0, 0.4, 0.1], drift=[0, 0.1 * RADIUS, 2 * RADIUS], dev=[0, 0.2 * LAM, 5 * LAM]))
    res = r["lemma_4_3"]
    assert res["status"] == PREMISE_NOT_MET and res["conclusion"] == FAILS and res["first_failing_iteration"] == 2
    drift = res["premise_names"].index("drift ≤ R0/√m")
    assert res["premise_met"][drift] == "not met" and res["premise_measured"][drift] == pytest.approx(2 * RADIUS)
    p2 = tmp_path / "b"
    p2.mkdir()
    r = checks(synthetic(p2, [1.0, 0.4, 0.1], lmin=[LAM, 0.4 * LAM, LAM]))
    res = r["lemma_4_3"]
    assert res["conclusion"] == FAILS and res["first_failing_iteration"] == 1
    # inside the radius, but m = 1024 against 36n⁴/λ⁴ = 5.8·10¹⁰: the width premise is not met
    assert res["status"] == PREMISE_NOT_MET and res["premise_met"][res["premise_names"].index("drift ≤ R0/√m")] == "met"
    width = res["premise_names"].index("m ≥ 36n⁴/λ⁴")
    assert res["premise_required"][width] == pytest.approx(36 * N ** 4 / LAM ** 4)
    assert res["premise_ratio"] == pytest.approx(M * LAM ** 4 / (36 * N ** 4))


def test_fire_bounds_and_flips(tmp_path):
    bound = 2 * M * math.exp(-B * B / 2)
    fire = np.full((2, N), 10)
    fire[0, 2] = int(bound) + 1
    flip_bound = seed002.lemma_d3_flip_bound(N, 0.1, R0, M)
    flips = np.zeros((2, N), dtype=np.int64)
    flips[1, 0] = int(flip_bound) + 1
    r = checks(synthetic(tmp_path, [1.0, 0.4], fire=fire, flips=flips))
    assert r["lemma_a_10"]["status"] == FAILS and r["lemma_a_10"]["measured"] == int(bound) + 1
    assert r["cor_a_11"]["status"] == FAILS
    assert r["lemma_d_3"]["status"] == FAILS and r["lemma_d_3"]["first_failing_iteration"] == 1
    # Lemma 4.4 through the identities ‖J_t‖_F² = Σ|S_i|/m, ‖J_t − J_0‖_F² = Σ flips/m
    assert r["lemma_4_4_norm"]["status"] == RATIO
    assert r["lemma_4_4_norm"]["measured"] == pytest.approx(math.sqrt(fire[0].sum() / M))
    assert r["lemma_4_4_dev"]["measured"] == pytest.approx(math.sqrt(flips[1].sum() / M))


def test_cor_a_11_does_not_apply_to_another_b(tmp_path):
    r = checks(synthetic(tmp_path, [1.0, 0.4], b=1.0))
    assert r["cor_a_11"]["status"] == NA and r["lemma_a_10"]["status"] == HOLDS


def test_sketch_and_regression_checks(tmp_path):
    r = checks(synthetic(tmp_path, [1.0, 0.4, 0.1], reg=[3, 4], eps=[0.05, 0.2], solver_sketch_rows=100,
                         solver_direction="sketched"))
    # the sketch of step 2 is no ε-embedding; Lemma 2.2's row count has no constant: premise not checkable
    assert r["def_2_1"]["conclusion"] == FAILS and r["def_2_1"]["status"] == PREMISE_NOT_CHECKABLE
    assert r["def_2_1"]["first_failing_iteration"] == 2
    assert r["lemma_e_4"]["status"] == RATIO and r["lemma_e_4"]["measured"] == 4
    p2 = tmp_path / "b"
    p2.mkdir()
    r = checks(synthetic(p2, [1.0, 0.4], solver="gauss-newton"))
    assert r["def_2_1"]["status"] == NA and r["lemma_e_4"]["status"] == NA


def test_theorem_2_13_sandwich(tmp_path):
    r = checks(synthetic(tmp_path, [1.0, 0.4]))
    lo, hi = seed002.thm_2_13_lambda_bounds(B, 1.0, N)
    assert r["thm_2_13"]["status"] == (HOLDS if lo <= LAM <= hi else FAILS)
    assert r["thm_4_1"]["status"] == RATIO


def test_validate_command_on_a_real_run(tmp_path):
    out = tmp_path / "q.h5"
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "quickstart", "--set", "network.m=2048", "--set", "metrics.sketch_distortion=true",
                               "--out", str(out), "--quiet"]).exit_code == 0
    result = runner.invoke(cli, ["validate", str(out), "--json"])
    import json

    data = json.loads(result.output)
    assert result.exit_code == (1 if data["outcome"] == FAILS else 0)
    assert data["checks"]["def_2_1"]["status"] in (HOLDS, PREMISE_NOT_CHECKABLE)
    assert data["outcome"] == HOLDS and result.exit_code == 0      # no failure with its premises met
    with Trace(out) as tr:
        stored = tr.validation
        assert set(stored) >= {"def_4_5", "lemma_4_3", "thm_2_13"}
        assert stored["def_4_5"]["status"] == data["checks"]["def_4_5"]["status"]
