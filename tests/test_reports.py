"""Sweep reports as data (simulator.theory.reports): the ᾱ trade-off of Thm G.2; and issue 12 item 9:
ᾱ = 0 handled (simulator.ntk), the warning when the sketch has at least as many rows as Jᵀ (runner)."""

import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import linregress, norm

from simulator import ntk
from simulator.cli import cli
from simulator.engine.runner import load, run_scenario, sketch_warning
from simulator.engine.trace import Trace
from simulator.theory import reports, seed002
from simulator.theory.reports import (
    alpha_tradeoff_report,
    format_alpha_tradeoff_report,
    loglog_fit,
    thm_g2_width_requirement_log10,
)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# -- formulas ----------------------------------------------------------------------------------
def test_loglog_fit_recovers_a_power_law_and_its_standard_error():
    x = 2.0 ** np.arange(10, 17)
    slope, se, used = loglog_fit(x, 3.0 * x ** 0.7)
    assert slope == pytest.approx(0.7, abs=1e-12) and se == pytest.approx(0.0, abs=1e-12) and used == 7
    rng = np.random.default_rng(3)
    xs = np.repeat(x, 3)
    ys = 2.0 * xs ** 0.8 * np.exp(rng.normal(0, 0.1, xs.size))
    slope, se, used = loglog_fit(xs, ys)
    ref = linregress(np.log(xs), np.log(ys))
    assert slope == pytest.approx(ref.slope, rel=1e-12) and se == pytest.approx(ref.stderr, rel=1e-10)
    # non-positive or non-finite points are left out; too few points give NaN
    slope2, _, used2 = loglog_fit(np.r_[xs, 0.0, 5.0], np.r_[ys, 1.0, np.nan])
    assert used2 == used and slope2 == pytest.approx(slope)
    assert math.isnan(loglog_fit([4.0, 8.0], [1.0, 2.0])[1])
    assert all(math.isnan(v) for v in loglog_fit([4.0, 4.0], [1.0, 2.0])[:2])


def test_thm_g2_width_requirement():
    delta, n, rho, a = 0.5, 8, 0.1, 0.4
    direct = (delta ** -4 * n ** 12 * math.log(n / rho) ** 4) ** (1 / a)
    assert thm_g2_width_requirement_log10(delta, n, rho, a) == pytest.approx(math.log10(direct), rel=1e-12)
    # 1/ᾱ = 25 at the default ᾱ = 0.04: far beyond a float, hence log10
    assert thm_g2_width_requirement_log10(1.0, 8, 0.1, 0.04) > 300
    # ᾱ = 0: the premise is never met
    assert thm_g2_width_requirement_log10(1.0, 8, 0.1, 0.0) == math.inf
    with pytest.raises(ValueError, match="alpha_bar"):
        thm_g2_width_requirement_log10(1.0, 8, 0.1, 1.5)
    with pytest.raises(ValueError, match="delta"):
        thm_g2_width_requirement_log10(0.0, 8, 0.1, 0.5)


# -- the alpha-tradeoff report on hand-made rows ----------------------------------------------------
def _rows(alphas=(0.2, 0.6), ms=(1024, 4096, 16384, 65536), seeds=3, exponent=None, traces=True):
    rows, i = [], 0
    for a in alphas:
        for m in ms:
            for s in range(seeds):
                b = ntk.b_from_alpha_bar(m, a)
                row = {"point": i, "network.alpha_bar": a, "network.m": m, "seed": s, "status": "completed",
                       "n": 8, "m": m, "d": 16, "b": b, "rho": 0.1, "lambda": 0.1 * (1 + a) / math.log(m),
                       "def_4_5": "holds" if s else "fails"}
                if traces:
                    e = (3 + a) / 4 if exponent is None else exponent
                    row.update(fire_max=5.0 * m ** e * (1 + 0.01 * s), fire_mean0=m * norm.sf(b),
                               reg_iterations_mean=2.0 + s, residual_ratio_mean=0.1 * (1 - a), delta=0.9,
                               alpha_bar=a)
                rows.append(row)
                i += 1
    return rows


def test_alpha_tradeoff_report_fits_each_alpha():
    rep = alpha_tradeoff_report(_rows())
    assert [r["alpha_bar"] for r in rep] == [0.2, 0.6]
    for r in rep:
        a = r["alpha_bar"]
        assert r["points"] == 12 and r["exponent_points"] == 12
        assert r["exponent"] == pytest.approx((3 + a) / 4, abs=2e-3)   # fire_max = 5 m^{(3+ᾱ)/4}(1 + 0.01 s)
        assert r["exponent_theory"] == pytest.approx((3 + a) / 4) == seed002.thm_g2_sparsity_exponent(a)
        ms = [w["m"] for w in r["widths"]]
        assert ms == [1024, 4096, 16384, 65536]
        mean_slope = np.polyfit(np.log(ms), np.log([m * norm.sf(ntk.b_from_alpha_bar(m, a)) for m in ms]), 1)[0]
        assert r["exponent_mean"] == pytest.approx(mean_slope, rel=1e-10) and r["exponent_mean"] < (3 + a) / 4
        assert r["exponent_mean0"] == pytest.approx(mean_slope, rel=1e-10)  # the rows' fire_mean0 is m·Q(b)
        assert r["reg_iterations"] == pytest.approx(3.0) and r["contraction"] == pytest.approx(0.1 * (1 - a))
        assert r["def_4_5"] == pytest.approx(2 / 3)
        lam_last = 0.1 * (1 + a) / math.log(65536)
        assert r["lambda_last"] == pytest.approx(lam_last)
        assert r["req_thm_4_1"] == pytest.approx(seed002.thm_4_1_dominant_requirement(lam_last, 8))
        assert r["req_thm_4_1_full"] == pytest.approx(seed002.thm_4_1_width_requirement(lam_last, 8, 16, 0.1))
        assert r["req_g2_log10"] == pytest.approx(thm_g2_width_requirement_log10(0.9, 8, 0.1, a))
    # the trade-off: a larger ᾱ is denser but needs a smaller proven width
    assert rep[0]["exponent"] < rep[1]["exponent"] and rep[0]["req_g2_log10"] > rep[1]["req_g2_log10"]
    text = format_alpha_tradeoff_report(rep)
    assert "| 0.2 | 12 | 0.800 ± " in text and "| 0.6 | 12 | 0.900 ± " in text
    assert "Per width" in text and "10^" in text and "read from the point traces" not in text


def test_alpha_tradeoff_report_without_trace_columns_says_where_they_are():
    rep = alpha_tradeoff_report(_rows(traces=False))
    assert all(math.isnan(r["exponent"]) and not r["traces"] for r in rep)
    text = format_alpha_tradeoff_report(rep)
    assert "| 0.2 | 12 | – | – |" in text and "`simulator validate DIR`" in text
    assert format_alpha_tradeoff_report([]).startswith("alpha trade-off: no completed points")


def test_alpha_tradeoff_report_skips_failed_points_and_rows_without_alpha():
    rows = _rows(alphas=(0.4,), seeds=1)
    rows[0]["status"] = "failed"
    rows.append({"point": 99, "status": "completed", "m": 1024, "n": 8})  # no ᾱ: not part of the report
    (r,) = alpha_tradeoff_report(rows)
    assert r["points"] == 3 and [w["m"] for w in r["widths"]] == [4096, 16384, 65536]


def test_the_report_is_registered_with_its_trace_columns():
    compute, fmt = reports.REPORTS["alpha-tradeoff"]
    assert compute is alpha_tradeoff_report and fmt is format_alpha_tradeoff_report
    assert reports.POINT_COLUMNS["alpha-tradeoff"] is reports.alpha_point_columns


# -- real traces: ᾱ = 0 (item 9) and the point columns ------------------------------------------------
SMALL = ["data.n=4", "data.d=4", "network.m=512", "stopping.max_iterations=3"]


def test_alpha_bar_zero_gives_b_of_half_log_m():
    for m in (64, 4096, 2 ** 20):
        b = ntk.b_from_alpha_bar(m, 0.0)
        assert b == pytest.approx(math.sqrt(0.5 * math.log(m)), rel=1e-15)
        assert m * math.exp(-b * b / 2) == pytest.approx(m ** 0.75, rel=1e-12)   # sparsity m^{3/4}
    assert ntk.sparsity_exponent(0.0) == 0.75 and ntk.sparsity_exponent(0.04) == pytest.approx(0.76)
    assert ntk.b_from_alpha_bar(4096, 0.04) == pytest.approx(ntk.default_b(4096), rel=1e-15)
    for bad in (-0.1, 1.5, float("nan"), True, "x"):
        with pytest.raises(ValueError, match="alpha_bar"):
            ntk.b_from_alpha_bar(64, bad)
        with pytest.raises(ValueError, match="alpha_bar"):
            ntk.sparsity_exponent(bad)


def test_a_run_with_alpha_bar_zero_validates(tmp_path):
    out = tmp_path / "a0.h5"
    res = invoke("run", "sublinear-fast", *[x for s in SMALL for x in ("--set", s)], "--set", "network.alpha_bar=0",
                 "--out", out, "--quiet")
    assert res.exit_code == 0, res.output
    with Trace(out) as tr:
        assert tr.attrs["alpha_bar"] == 0.0 and tr.attrs["b"] == pytest.approx(math.sqrt(0.5 * math.log(512)))
        cols = reports.alpha_point_columns(tr)
        assert cols["alpha_bar"] == 0.0 and cols["fire_max"] == float(np.max(tr["fire_count"]))
        assert cols["fire_mean0"] == float(np.mean(tr["fire_count"][0]))
        if "reg_iterations" in tr:
            assert cols["reg_iterations_mean"] == float(np.mean(tr["reg_iterations"]))
        assert 0 < cols["residual_ratio_mean"] < 1
    assert seed002.thm_g2_sparsity_exponent(0.0) == 0.75
    res = invoke("validate", out, "--json")
    assert res.exit_code in (0, 1), res.output
    import json

    g2 = json.loads(res.output)["checks"]["thm_g_2"]
    assert g2["bound"] == pytest.approx(512 ** 0.75)


# -- the sketch with at least as many rows as Jᵀ (item 9) ----------------------------------------------
def test_sketch_warning_sentence():
    assert sketch_warning(None, 512, 4) == "" and sketch_warning(0, 512, 4) == ""
    assert sketch_warning(2047, 512, 4) == ""
    text = sketch_warning(2048, 512, 4)
    assert "s = 2048 rows" in text and "512·4 = 2048" in text and "compresses nothing" in text
    assert sketch_warning(np.int64(5000), 512, 4).startswith("the sketch has s = 5000 rows")
    assert sketch_warning(True, 1, 1) == ""


@pytest.mark.parametrize("m, warned", [(128, True), (256, True), (512, False)])
def test_a_sketch_with_as_many_rows_as_jt_is_warned_about(tmp_path, m, warned):
    # n = 4, d = 4, s = 1024 rows: Jᵀ has m·d = 512 rows at m = 128, 1024 at m = 256 (equal: warned), 2048 at m = 512
    scenario = load("sublinear-fast", ["data.n=4", "data.d=4", f"network.m={m}", "solver.regression=pcg",
                                       "solver.sketch_rows=1024", "stopping.max_iterations=2"])
    result = run_scenario(scenario, out=tmp_path / "s.h5")
    with Trace(result.path) as tr:
        assert tr.attrs["solver_sketch_rows"] == 1024
        assert ("sketch_warning" in tr.attrs) is warned
        if warned:
            assert tr.attrs["sketch_warning"] == sketch_warning(1024, m, 4)
    assert any("compresses nothing" in w for w in result.warnings) is warned


def test_run_prints_the_sketch_warning_and_exact_runs_have_none(tmp_path):
    res = invoke("run", "sublinear-fast", "--set", "data.n=4", "--set", "data.d=4", "--set", "network.m=128",
                 "--set", "solver.regression=pcg", "--set", "solver.sketch_rows=1024",
                 "--set", "stopping.max_iterations=2", "--out", tmp_path / "w.h5", "--quiet")
    assert res.exit_code == 0
    assert "warning: the sketch has s = 1024 rows, at least as many as Jᵀ's 128·4 = 512" in res.output
    res = invoke("run", "sublinear-fast", "--set", "data.n=4", "--set", "data.d=4", "--set", "network.m=128",
                 "--set", "stopping.max_iterations=2", "--out", tmp_path / "e.h5", "--quiet")
    assert res.exit_code == 0 and "warning" not in res.output
    with Trace(tmp_path / "e.h5") as tr:
        assert "sketch_warning" not in tr.attrs
