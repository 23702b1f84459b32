"""The Lemma 4.3 width study: the sweep report ``lemma-4-3-width`` (simulator.theory.reports) on hand-made
rows, whose expectations are worked out here from the definitions (ratio = max_t ‖G_t − G_0‖_F / (λ/2),
m_req = 36n⁴/λ⁴, R0 = n/λ, a log-log least-squares line through the per-width medians), and the
scenario ``width-study`` end to end on a tiny grid."""

import math

import numpy as np
import pytest
from click.testing import CliRunner

from simulator import theory
from simulator.cli import cli
from simulator.config import list_scenarios, load_scenario
from simulator.engine import study
from simulator.engine.sweep import format_report, parse_grid, run_sweep
from simulator.engine.trace import Trace
from simulator.theory import reports
from simulator.theory.reports import format_lemma_4_3_width_report, lemma_4_3_width_report

N = 16


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def b_default(m):
    return math.sqrt(0.48 * math.log(m))


def row(m, lam, ratio, status="completed", drift=0.5, seed=0):
    """A summary row merged with the point columns: ‖G_t − G_0‖_F's max set so that it is `ratio` × λ/2."""
    r = {"network.m": m, "seed": seed, "n": N, "m": m, "d": 8, "b": b_default(m), "lambda": lam, "status": status,
         "drift_ratio_max": drift, "gram_dev_max": float("nan") if ratio is None else ratio * lam / 2}
    return r


def premise(m, lam):
    """m / (36 n⁴ / λ⁴), written out."""
    return m * lam ** 4 / (36 * N ** 4)


def hand_rows():
    rows = []
    # m = 2^12: ratios 4, 8, 16 (median 8, max 16), none ≤ 1; a failed run whose partial trace has ratio 0.5
    # counts as a run, not as holding, and not in the median
    for s, (lam, ratio) in enumerate([(0.02, 4.0), (0.03, 8.0), (0.04, 16.0)]):
        rows.append(row(2 ** 12, lam, ratio, seed=s))
    rows.append(row(2 ** 12, 0.03, 0.5, status="failed", drift=0.1, seed=3))
    # m = 2^14: ratios 1 (exactly λ/2: holds), 4, 6; one drift outside the radius
    for s, (lam, ratio, drift) in enumerate([(0.02, 1.0, 0.5), (0.03, 4.0, 1.5), (0.04, 6.0, 0.9)]):
        rows.append(row(2 ** 14, lam, ratio, drift=drift, seed=s))
    # m = 2^16: ratios 0.5, 2, 3 and a completed run without the metric (not measured, not holding)
    for s, (lam, ratio) in enumerate([(0.02, 0.5), (0.03, 2.0), (0.04, 3.0), (0.03, None)]):
        rows.append(row(2 ** 16, lam, ratio, seed=s))
    # m = 2^18: both points failed before a trace existed: n = m = −1, no λ; only the grid value places them
    for s in range(2):
        rows.append({"network.m": 2 ** 18, "seed": s, "n": -1, "m": -1, "d": -1, "b": float("nan"),
                     "lambda": float("nan"), "status": "failed", "error": "worker: killed"})
    return rows


def test_report_on_hand_made_rows():
    (r,) = lemma_4_3_width_report(hand_rows())
    assert r["n"] == N and [w["m"] for w in r["widths"]] == [2 ** 12, 2 ** 14, 2 ** 16, 2 ** 18]
    w12, w14, w16, w18 = r["widths"]

    assert (w12["runs"], w12["completed"], w12["measured"], w12["holds"]) == (4, 3, 3, 0)
    assert w12["ratio_median"] == pytest.approx(8.0) and w12["ratio_max"] == pytest.approx(16.0)
    assert w12["holds_fraction"] == 0 and w12["drift_inside"] == 3
    assert w12["lambda_mean"] == pytest.approx((0.02 + 0.03 + 0.04 + 0.03) / 4)  # the failed run's λ counts

    assert (w14["runs"], w14["completed"], w14["measured"], w14["holds"]) == (3, 3, 3, 1)
    assert w14["ratio_median"] == pytest.approx(4.0) and w14["ratio_max"] == pytest.approx(6.0)
    assert w14["holds_fraction"] == pytest.approx(1 / 3) and w14["drift_inside"] == 2

    assert (w16["runs"], w16["completed"], w16["measured"], w16["holds"]) == (4, 4, 3, 1)
    assert w16["ratio_median"] == pytest.approx(2.0) and w16["ratio_max"] == pytest.approx(3.0)
    assert w16["holds_fraction"] == pytest.approx(1 / 4)

    # the premise, each run with its own λ; the median λ is 0.03 at every width with λ
    for w in (w12, w14, w16):
        assert w["premise_ratio"] == pytest.approx(premise(w["m"], 0.03), rel=1e-12)
        assert w["premise_met"] == 0 and w["b_default"]
        R0 = N / 0.03
        assert w["radius_ratio"] == pytest.approx(w["m"] / (b_default(w["m"]) ** 2 * R0 ** 2), rel=1e-12)
    assert (w12["premise_runs"], w14["premise_runs"], w16["premise_runs"]) == (4, 3, 4)

    # the width without λ: nothing measured, nothing holds, nothing about the premise
    assert (w18["runs"], w18["completed"], w18["measured"], w18["holds"], w18["premise_runs"]) == (2, 0, 0, 0, 0)
    for key in ("lambda_mean", "ratio_median", "ratio_max", "premise_ratio", "radius_ratio"):
        assert math.isnan(w18[key]), key

    # the fit through (2^12, 8), (2^14, 4), (2^16, 2): ratio = 8·(m/2^12)^(−1/2), so 1 at m = 2^12·8² = 2^18,
    # outside the widths fitted (the width 2^18 has no ratio)
    fit = r["fit"]
    assert fit["points"] == 3 and fit["slope"] == pytest.approx(-0.5, abs=1e-12)
    assert fit["se"] == pytest.approx(0.0, abs=1e-12) and (fit["x_min"], fit["x_max"]) == (2 ** 12, 2 ** 16)
    assert r["crossing_log10"] == pytest.approx(18 * math.log10(2), rel=1e-12) and r["extrapolated"]
    # the local slope through the two largest widths with a ratio (2^14, 2^16) is the same line here
    local = r["local_fit"]
    assert (local["x_min"], local["x_max"]) == (2 ** 14, 2 ** 16) and local["slope"] == pytest.approx(-0.5)
    assert r["local_crossing_log10"] == pytest.approx(18 * math.log10(2), rel=1e-12) and r["local_extrapolated"]
    # the premise's medians are m·0.03⁴/(36n⁴): slope 1, and 1 at m = 36n⁴/0.03⁴
    assert r["premise_fit"]["slope"] == pytest.approx(1.0, abs=1e-12)
    assert r["premise_crossing_log10"] == pytest.approx(math.log10(36 * N ** 4 / 0.03 ** 4), rel=1e-12)
    assert r["premise_extrapolated"]
    assert r["premise_at_crossing_log10"] == pytest.approx(math.log10(premise(2 ** 18, 0.03)), rel=1e-10)
    assert r["m_all_hold"] is None and r["default_b"] and r["unplaced"] == 0
    # default b: λ ≤ e^(−b²/2) = m^(−0.24), so m/m_req ≤ m^0.04/(36n⁴) < 1 below (36n⁴)^25
    assert r["premise_floor_log10"] == pytest.approx(25 * math.log10(36 * N ** 4), rel=1e-12)

    text = format_lemma_4_3_width_report([r])
    assert "| 16 | 4096 | 1.998 | 4 | 3 | 3 | 0.03 | 8 | 16 | 0/4 | 3/4 | " in text
    assert "| 16 | 16384 | 2.158 | 3 | 3 | 3 | 0.03 | 4 | 6 | 1/3 | 2/3 | " in text
    assert "| 16 | 262144 | – | 2 | 0 | 0 | – | – | – | 0/2 | 0/2 | – | 0/0 | – |" in text
    assert "slope -0.500 ± 0.000 (s.e.) over 3 widths, m = 4096 … 65536" in text
    assert "the fitted ratio reaches 1 at m ≈ 2.62·10⁵ (2^18.0): EXTRAPOLATED outside the widths fitted" in text
    assert "; ratio ≤ 1 above it" in text
    assert "local slope through the two largest widths (m = 16384, 65536): -0.500" in text
    assert "at that slope the ratio reaches 1 at m ≈ 2.62·10⁵ (2^18.0): EXTRAPOLATED outside those two" in text
    assert "at no width measured (up to m = 262144) does every run have ratio ≤ 1" in text
    assert "outside the proven regime" in text and "10^159.3" in text
    assert "read from the point traces" not in text


def test_report_interpolated_crossing_all_holding_and_no_fit():
    rows = [row(2 ** 12, 0.02, ratio, seed=s) for s, ratio in enumerate((1.5, 2.0, 3.0))]
    rows += [row(2 ** 16, 0.02, ratio, seed=s) for s, ratio in enumerate((0.25, 0.5, 1.0))]
    (r,) = lemma_4_3_width_report(rows)
    # medians 2 and 0.5: slope ln(1/4)/ln(16) = −1/2, ratio 1 at m = 2^12·2² = 2^14, between the widths
    assert r["fit"]["slope"] == pytest.approx(-0.5) and math.isnan(r["fit"]["se"])
    assert r["crossing_log10"] == pytest.approx(14 * math.log10(2)) and not r["extrapolated"]
    assert r["m_all_hold"] == 2 ** 16
    text = format_lemma_4_3_width_report([r])
    assert "the fitted ratio reaches 1 at m ≈ 16384 (2^14.0): within the widths fitted (interpolated)" in text
    assert "the fitted premise m/m_req is 1.1·10⁻⁹ (interpolated)" in text          # 2^14·0.02⁴/(36n⁴)
    assert "the smallest width at which every run has ratio ≤ 1 is m = 65536" in text
    assert "local slope" not in text                         # two widths: the local slope is the fit's
    # one width: no fit, and no crossing claimed
    (r1,) = lemma_4_3_width_report(rows[:3])
    assert math.isnan(r1["fit"]["slope"]) and math.isnan(r1["crossing_log10"])
    assert "no fit (1 width with a value; at least 2 needed)" in format_lemma_4_3_width_report([r1])


def test_report_without_trace_columns_says_where_they_are():
    rows = [{k: v for k, v in row(m, 0.02, 2.0).items() if k not in ("gram_dev_max", "drift_ratio_max")}
            for m in (2 ** 12, 2 ** 14)]
    (r,) = lemma_4_3_width_report(rows)
    assert not r["traces"] and all(w["measured"] == 0 and w["holds"] == 0 for w in r["widths"])
    assert "read from the point traces" in format_lemma_4_3_width_report([r])
    assert format_lemma_4_3_width_report([]).startswith("Lemma 4.3 against width: no points")


def test_the_report_is_registered_with_its_trace_columns():
    assert theory.REPORTS["lemma-4-3-width"] == (lemma_4_3_width_report, format_lemma_4_3_width_report)
    assert reports.POINT_COLUMNS["lemma-4-3-width"] is reports.lemma_4_3_point_columns
    rows = hand_rows()
    assert format_report("lemma-4-3-width", rows) == format_lemma_4_3_width_report(lemma_4_3_width_report(rows))


# -- the scenario ---------------------------------------------------------------------------------------
def test_the_scenario_loads_and_is_listed():
    s = load_scenario("width-study")
    assert s.name == "width-study" and (s.data.kind, s.data.n, s.data.d, s.data.labels) == ("sphere", 16, 8, "gaussian")
    assert s.network.b is None and s.network.alpha_bar is None          # the default b = √(0.48 ln m)
    assert s.solver.name == "sublinear"
    assert {k: s.solver.options[k] for k in ("regression", "index", "leaf_update")} == \
        {"regression": "exact-gram", "index": "active", "leaf_update": "gram"}
    assert (s.stopping.rel_loss_target, s.stopping.max_iterations) == (1e-6, 20)
    assert s.metrics.every == 1 and s.metrics.gram
    grid = dict(parse_grid(s.sweep.grid))
    assert grid["network.m"] == [4 ** k for k in range(6, 13)] and grid["seed"] == [0, 1, 2, 3, 4]  # 2^12 … 2^24, 4×
    assert s.sweep.workers == 1
    assert s.sweep.report == "lemma-4-3-width"
    assert "width-study" in dict(list_scenarios())
    listed = invoke("list")
    assert listed.exit_code == 0 and "width-study" in listed.output


def test_a_tiny_sweep_end_to_end(tmp_path):
    out = tmp_path / "sw"
    res = run_sweep("width-study", ["network.m=2^8,2^9", "seed=0"], workers=1, out_dir=out, progress=False)
    assert [r["m"] for r in res.rows] == [256, 512] and res.completed == 2
    merged = []
    for row_ in res.rows:
        with Trace(out / row_["trace"]) as tr:
            merged.append({**row_, **reports.lemma_4_3_point_columns(tr)})
    (r,) = lemma_4_3_width_report(merged)
    for w, row_ in zip(r["widths"], res.rows):
        with Trace(out / row_["trace"]) as tr:       # the ratio straight from the trace
            dev = np.asarray(tr["gram_dev_fro"])
            lam = float(tr.attrs["lambda"])
            assert np.isfinite(dev).all() and dev.size == tr.iterations + 1   # every = 1: every row measured
            inside = np.max(tr["drift_max"]) <= float(tr.attrs["R0"]) / math.sqrt(w["m"])
        assert w["measured"] == 1 and w["ratio_median"] == pytest.approx(dev.max() / (lam / 2), rel=1e-12)
        assert w["holds"] == int(dev.max() <= lam / 2) and w["drift_inside"] == int(inside)
        assert w["premise_ratio"] == pytest.approx(w["m"] * lam ** 4 / (36 * N ** 4), rel=1e-12)
    text = study.format_sweep_report("lemma-4-3-width", res.rows, out)
    assert text == format_lemma_4_3_width_report([r])
    assert "| 16 | 256 | " in text and "| 16 | 512 | " in text and "read from the point traces" not in text
    # the CLI prints it from the directory (the summary names the scenario's report)
    cli_out = invoke("sweep", "--report-only", out)
    assert cli_out.exit_code == 0 and text in cli_out.output


def test_the_local_slope_differs_from_the_fit_when_the_ratio_bends():
    # medians 8, 4, 1 at m = 4^6, 4^7, 4^8: in ln m the deviations are −ln4, 0, ln4 and in ln ratio
    # (4/3)ln2, (1/3)ln2, −(5/3)ln2, so the least-squares slope is −6(ln2)² / 8(ln2)² = −3/4; the last two
    # widths alone give ln(1/4)/ln4 = −1, and 1 is reached at their m = 4^8 already
    rows = [row(4 ** k, 0.02, ratio) for k, ratio in ((6, 8.0), (7, 4.0), (8, 1.0))]
    (r,) = lemma_4_3_width_report(rows)
    assert r["fit"]["slope"] == pytest.approx(-0.75) and r["local_fit"]["slope"] == pytest.approx(-1.0)
    assert r["local_crossing_log10"] == pytest.approx(16 * math.log10(2)) and not r["local_extrapolated"]
    assert r["m_all_hold"] == 4 ** 8


def test_every_registered_report_can_be_named_by_a_scenario():
    from simulator.config import SCHEMA

    assert set(SCHEMA["sweep"]["report"].choices) == {""} | set(theory.REPORTS)
