"""Probabilities over seeds (simulator.engine.study, `simulator validate DIR`): the binomial intervals,
the tally with known failure rates, and a real sweep directory end to end."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import binomtest

from simulator import theory
from simulator.cli import cli
from simulator.engine import study
from simulator.engine.study import (
    FAILS,
    HOLDS,
    NA,
    PREMISE_NOT_CHECKABLE,
    PREMISE_NOT_MET,
    STATEMENTS,
    Statement,
    clopper_pearson,
    tally,
)
from simulator.engine.sweep import run_sweep


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# -- Clopper–Pearson ------------------------------------------------------------------------
@pytest.mark.parametrize("k, n", [(0, 1), (0, 40), (1, 40), (4, 40), (20, 40), (39, 40), (40, 40), (3, 7), (0, 1000)])
def test_clopper_pearson_matches_scipy_exact_interval(k, n):
    lo, hi = clopper_pearson(k, n)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert lo == pytest.approx(ref.low, abs=1e-12) and hi == pytest.approx(ref.high, abs=1e-12)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_clopper_pearson_closed_forms_at_the_ends():
    # k = 0: upper = 1 − (α/2)^{1/n}; k = n: lower = (α/2)^{1/n}
    for n in (1, 10, 40):
        assert clopper_pearson(0, n) == (0.0, pytest.approx(1 - 0.025 ** (1 / n), rel=1e-12))
        assert clopper_pearson(n, n) == (pytest.approx(0.025 ** (1 / n), rel=1e-12), 1.0)
    assert clopper_pearson(0, 40)[1] == pytest.approx(0.0881, abs=1e-4)  # the "rule of three" region
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))
    with pytest.raises(ValueError, match="k: must be in"):
        clopper_pearson(5, 4)


def test_the_statuses_are_the_theory_packages():
    assert PREMISE_NOT_MET == "premise not met" and PREMISE_NOT_CHECKABLE == "premise not checkable"
    assert (HOLDS, FAILS, NA) == (theory.HOLDS, theory.FAILS, theory.NA)
    keys = [s.key for s in STATEMENTS]
    assert len(keys) == len(set(keys))
    known = {c.key for paper in theory.PAPERS.values() for c in paper.CHECKS}
    assert set(keys) <= known, set(keys) - known
    # Def 4.5 is Thm 4.1's conclusion, with probability 1 − (5/2)ρ; the others 1 − ρ
    assert {s.key: s.factor for s in STATEMENTS}["def_4_5"] == 2.5
    assert all(s.factor == 1.0 for s in STATEMENTS if s.key != "def_4_5")


# -- the tally: known failure rates ------------------------------------------------------------
ONE = (Statement("lemma_2_12", "Lemma 2.12", 1.0, "1 − ρ"),)


def _points(group, statuses, rho=0.1, key="lemma_2_12"):
    return [{"group": group, "rho": rho, "statuses": None if s is None else ({} if s == "absent" else {key: s})}
            for s in statuses]


def test_tally_counts_failures_premises_and_leaves_out_what_has_no_verdict():
    g = (("network.m", 1024),)
    pts = _points(g, [HOLDS] * 30 + [FAILS] * 2 + [PREMISE_NOT_MET] * 5 + [PREMISE_NOT_CHECKABLE] * 3
                  + [NA] * 4 + ["absent"] + [None] * 2)
    (row,) = tally(pts, ONE)
    assert row["group"] == {"network.m": 1024} and row["seeds"] == 47
    assert (row["n"], row["holds"], row["fails"], row["premise_not_met"], row["premise_not_checkable"]) == (40, 30, 2, 5, 3)
    assert (row["not_applicable"], row["unread"]) == (5, 2)
    assert row["fail_frequency"] == 2 / 40 and row["premise_frequency"] == 5 / 40
    assert row["not_checkable_frequency"] == 3 / 40
    assert row["fail_interval"] == list(clopper_pearson(2, 40))
    assert row["premise_interval"] == list(clopper_pearson(5, 40))
    assert (row["rho"], row["bound"]) == (0.1, 0.1)
    assert row["consistent"] is True                      # 2/40: the interval starts at 0.006 ≤ 0.1
    assert row["consistent_if_checkable"] is True         # 5/40: starts at 0.042 ≤ 0.1


def test_a_known_failure_rate_far_above_rho_is_inconsistent_and_premise_failures_never_count():
    g1, g2, g3 = (("network.m", 128),), (("network.m", 1024),), (("network.m", 8192),)
    pts = (_points(g1, [FAILS] * 20 + [HOLDS] * 20)            # 50% with premises met: inconsistent
           + _points(g2, [PREMISE_NOT_MET] * 40)               # the conclusion always fails, outside the premise
           + _points(g3, [PREMISE_NOT_CHECKABLE] * 20 + [HOLDS] * 20))
    rows = {r["group"]["network.m"]: r for r in tally(pts, ONE)}
    assert rows[128]["consistent"] is False and rows[128]["fail_interval"][0] > 0.1
    assert rows[1024]["consistent"] is True and rows[1024]["fails"] == 0 and rows[1024]["premise_frequency"] == 1.0
    assert rows[1024]["consistent_if_checkable"] is None
    assert rows[8192]["consistent"] is True and rows[8192]["consistent_if_checkable"] is False


@pytest.mark.parametrize("p, consistent", [(0.02, True), (0.1, True), (0.3, False)])
def test_a_simulated_study_with_a_known_failure_rate(p, consistent):
    """400 seeds failing independently with probability p against ρ = 0.1: the interval covers p, and the
    data are consistent with "fails with probability ≤ ρ" exactly when p is not far above ρ."""
    rng = np.random.default_rng(12)
    fails = rng.random(400) < p
    (row,) = tally(_points((), [FAILS if f else HOLDS for f in fails]), ONE)
    lo, hi = row["fail_interval"]
    assert row["n"] == 400 and row["fails"] == int(fails.sum())
    assert lo <= p <= hi
    assert row["consistent"] is consistent


def test_the_bound_is_factor_times_rho_from_the_traces():
    st = (Statement("def_4_5", "Def 4.5", 2.5, "1 − (5/2)ρ"),)
    pts = _points((), [FAILS] * 6 + [HOLDS] * 14, rho=0.05, key="def_4_5")
    (row,) = tally(pts, st)
    assert row["bound"] == pytest.approx(0.125) and row["rho"] == 0.05
    assert row["consistent"] is True  # 6/20: interval starts at 0.119 ≤ 0.125
    (row,) = tally(_points((), [FAILS] * 6 + [HOLDS] * 14, rho=0.05, key="def_4_5"),
                   (Statement("def_4_5", "Def 4.5", 1.0, "1 − ρ"),))
    assert row["consistent"] is False  # the same data against 0.05


def test_statements_without_any_verdict_give_no_row():
    assert tally(_points((), [NA, "absent", None]), ONE) == []


# -- a sweep directory end to end ----------------------------------------------------------------
@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "sw"
    res = run_sweep("seed-study", ["network.m=2^6,2^7", "seed=0..3"], workers=1, out_dir=out, progress=False,
                    overrides=["data.n=4", "data.d=3", "stopping.max_iterations=3"])
    assert len(res.rows) == 8
    return out


def test_study_of_a_sweep_directory_groups_by_the_grid_but_the_seed(sweep_dir):
    result = study.study(sweep_dir)
    assert result["scenario"] == "seed-study" and result["points"] == 8 and result["traces_read"] == 8
    assert result["grid_keys"] == ["network.m", "seed"] and result["group_keys"] == ["network.m"]
    keys = [r["key"] for r in result["rows"]]
    assert "lemma_2_12" in keys and "lemma_a_10" in keys and "def_4_5" in keys
    for r in result["rows"]:
        assert r["group"]["network.m"] in (64, 128) and r["seeds"] == 4
        assert r["n"] + r["not_applicable"] + r["unread"] == 4
        assert r["consistent"] == (r["fail_interval"][0] <= r["bound"])
    # the verdicts are validate's: recount one statement from the traces
    from simulator.engine.trace import Trace
    from simulator.engine.validate import run_checks

    statuses = []
    for p in sorted(sweep_dir.glob("point-000[0-3].h5")):  # m = 64
        with Trace(p) as tr:
            statuses.append(run_checks(tr)["lemma_a_10"]["status"])
    row = next(r for r in result["rows"] if r["key"] == "lemma_a_10" and r["group"]["network.m"] == 64)
    assert row["fails"] == statuses.count(FAILS) and row["holds"] == statuses.count(HOLDS)
    text = study.format_study(result)
    assert "| Lemma A.10 | 64 | 4 |" in text and "Clopper–Pearson" in text and text.rstrip().splitlines()[-1].startswith("outcome:")


def test_validate_dir_prints_the_study_and_json(sweep_dir):
    res = invoke("validate", sweep_dir)
    assert res.exit_code in (0, 1), res.output
    consistent = study.study(sweep_dir)["consistent"]
    assert res.exit_code == (0 if consistent else 1)
    assert "fails, premises met" in res.output and "outcome:" in res.output
    res = invoke("validate", sweep_dir, "--json")
    doc = json.loads(res.output)
    assert doc["group_keys"] == ["network.m"] and doc["points"] == 8
    assert {"key", "group", "n", "fails", "fail_interval", "bound", "consistent", "premise_not_met"} <= set(doc["rows"][0])
    assert all(s["key"] and s["probability"] for s in doc["statements"])


def test_validate_dir_exits_1_only_for_failures_with_premises_met(sweep_dir, monkeypatch):
    def fake(status):
        def run_checks(tr):
            return {"lemma_2_12": {"status": status}, "lemma_a_10": {"status": HOLDS}}
        return run_checks
    monkeypatch.setattr(study, "run_checks", fake(FAILS))
    res = invoke("validate", sweep_dir)
    assert res.exit_code == 1
    assert "inconsistent" in res.output and "Lemma 2.12 at network.m=64" in res.output
    for status in (PREMISE_NOT_MET, PREMISE_NOT_CHECKABLE, HOLDS, NA):
        monkeypatch.setattr(study, "run_checks", fake(status))
        res = invoke("validate", sweep_dir)
        assert res.exit_code == 0, (status, res.output)
        assert "outcome: consistent" in res.output


def test_an_unreadable_point_is_counted_apart(sweep_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    (copy / "point-0001.h5").unlink()
    (copy / "point-0002.h5").write_bytes(b"not hdf5")
    result = study.study(copy)
    assert result["traces_read"] == 6 and set(result["unread"]) == {1, 2}
    row = next(r for r in result["rows"] if r["key"] == "lemma_a_10" and r["group"]["network.m"] == 64)
    assert row["unread"] == 2 and row["n"] == 2
    assert "unreadable" in study.format_study(result)


def test_validate_refuses_a_directory_that_is_not_a_sweep(tmp_path):
    res = invoke("validate", tmp_path)
    assert res.exit_code == 2 and "summary.csv" in res.output
    (tmp_path / "summary.csv").write_text("point,status\n", encoding="utf-8")
    res = invoke("validate", tmp_path)
    assert res.exit_code == 2 and "no points" in res.output


def test_format_sweep_report_reads_the_traces_only_with_a_directory(sweep_dir):
    from simulator.engine.sweep import read_summary

    rows = read_summary(sweep_dir)
    assert study.format_sweep_report("", rows, sweep_dir) == ""
    text = study.format_sweep_report("width-threshold", rows, sweep_dir)
    assert "Width threshold" in text
    with pytest.raises(ValueError, match="unknown sweep report"):
        study.format_sweep_report("no-such-report", rows)


def test_validate_dir_prints_the_sweeps_report_with_the_point_traces(tmp_path):
    """A sweep whose summary names the alpha-tradeoff report: `validate DIR` computes it with the columns
    read from the traces (fire counts, regression iterations, contraction), which the summary lacks."""
    import h5py

    from simulator.engine.sweep import read_summary

    toml = tmp_path / "alpha.toml"
    from simulator.config import SCENARIO_DIR

    text = (SCENARIO_DIR / "alpha-tradeoff.toml").read_text(encoding="utf-8")
    toml.write_text("\n".join(line for line in text.splitlines() if not line.startswith("report")), encoding="utf-8")
    out = tmp_path / "sw"
    run_sweep(str(toml), ["network.alpha_bar=0.2,0.6", "network.m=2^7..2^9", "seed=0,1"], workers=1, out_dir=out,
              progress=False, overrides=["data.n=4", "data.d=8", "solver.regression=exact-gram",
                                         "stopping.max_iterations=3"])
    with h5py.File(out / "summary.h5", "a") as f:
        f.attrs["report"] = "alpha-tradeoff"
    result = study.study(out)
    assert result["report"] == "alpha-tradeoff" and result["group_keys"] == ["network.alpha_bar", "network.m"]
    assert "| 0.2 | 6 | 0." in result["report_text"] and "| 0.6 | 6 | 0." in result["report_text"]
    assert "read from the point traces" not in result["report_text"]
    res = invoke("validate", out)
    assert "ᾱ trade-off" in res.output and res.exit_code in (0, 1)
    # without the directory the report has no fire counts, and says where they are
    rows = read_summary(out)
    assert "read from the point traces" in study.format_sweep_report("alpha-tradeoff", rows)
    assert "read from the point traces" not in study.format_sweep_report("alpha-tradeoff", rows, out)
