"""Sweeps (simulator.engine.sweep, `simulator sweep`): grid parsing, parallel runs, summary, reports."""

import csv
import math

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import cli
from simulator.config import load_scenario, scenario_to_toml
from simulator.engine.sweep import (
    SweepInputError,
    fit_slope,
    format_width_threshold_report,
    parse_grid,
    points,
    read_summary,
    run_point,
    run_sweep,
    width_threshold_report,
)
from simulator.engine.trace import Trace
from simulator.theory.seed002 import thm_4_1_width_requirement

SMALL = ("data.n=4", "data.d=3")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# -- grid parsing -------------------------------------------------------------------
def test_parse_grid_lists_ranges_and_doubling_ranges():
    grid = parse_grid(["network.m=2^6..2^9", "seed=0..3", "data.n=4,8,16", "solver.regression=pcg,exact-gram",
                       "theory.rho=0.1, 1e-2", "network.b=2^2"])
    assert grid == [("network.m", [64, 128, 256, 512]), ("seed", [0, 1, 2, 3]), ("data.n", [4, 8, 16]),
                    ("solver.regression", ["pcg", "exact-gram"]), ("theory.rho", [0.1, 0.01]),
                    ("network.b", [4])]
    assert parse_grid(["network.m=2**3..2**4"]) == [("network.m", [8, 16])]
    assert parse_grid(["seed=5..5"]) == [("seed", [5])]
    assert parse_grid("seed=1,2") == [("seed", [1, 2])]


@pytest.mark.parametrize("spec, match", [
    ("network.m", "expected KEY=VALUES"),
    ("network.m=", "no values"),
    ("network.mm=1,2", "unknown key 'network.mm'; did you mean network.m"),
    ("seed=3..1", "empty range"),
    ("network.m=2^5..2^3", "empty range"),
    ("network.m=3^2..3^4", "powers of two"),
    ("theory.rho=0.1..0.5", "a range is a..b"),
    ("seed=1,,2", "empty value"),
    ("output.path=a,b", "cannot be swept"),
    ("sweep.workers=1,2", "cannot be swept"),
    ("seed=0..1000000", "at most"),
])
def test_parse_grid_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match) as err:
        parse_grid([spec])
    assert repr(spec) in str(err.value)


def test_parse_grid_rejects_duplicate_keys():
    with pytest.raises(ValueError, match="appears twice"):
        parse_grid(["seed=0,1", "seed=2"])


def test_points_is_the_cartesian_product():
    grid = parse_grid(["data.n=4,8,16", "network.m=2^6..2^9", "seed=0..4"])
    pts = points(grid)
    assert len(pts) == 3 * 4 * 5
    assert pts[0] == {"data.n": 4, "network.m": 64, "seed": 0}
    assert pts[-1] == {"data.n": 16, "network.m": 512, "seed": 4}
    assert len({tuple(p.items()) for p in pts}) == len(pts)
    assert points([]) == []


# -- a real sweep -----------------------------------------------------------------------
def test_tiny_sweep_two_workers(tmp_path):
    out = tmp_path / "sw"
    result = invoke("sweep", "quickstart", "--grid", "network.m=256,512", "--grid", "seed=0,1",
                    *[x for s in SMALL for x in ("--set", s)], "--set", "stopping.max_iterations=4",
                    "--workers", 2, "--out", out, "--fit", "network.m", "--quiet")
    assert result.exit_code == 0, result.output
    assert "completed  4 of 4" in result.output and "failed" not in result.output
    assert "slope" in result.output
    assert sorted(p.name for p in out.glob("point-*.h5")) == [f"point-{i:04d}.h5" for i in range(4)]
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["point"] for r in rows] == ["0", "1", "2", "3"]
    assert [(r["network.m"], r["seed"]) for r in rows] == [("256", "0"), ("256", "1"), ("512", "0"), ("512", "1")]
    assert all(r["status"] == "completed" and r["validate"] in ("holds", "fails") for r in rows)
    assert all(r["def_4_5"] in ("holds", "fails", "premise not met") for r in rows)  # theory's verdicts
    with h5py.File(out / "summary.h5", "r") as f:
        assert f.attrs["scenario_name"] == "quickstart"
        assert list(f.attrs["grid"]) == ["network.m=256,512", "seed=0,1"]
        assert list(f["network.m"][:]) == [256, 256, 512, 512] and f["network.m"].dtype == np.int64
        assert list(f["seed"][:]) == [0, 1, 0, 1]
        assert [s.decode() for s in f["status"][:]] == ["completed"] * 4
        loss = f["loss"][:]
        assert f["loss"].dtype == np.float64
        assert f["ops_per_step"].dtype == np.float64 and np.all(f["ops_per_step"][:] > 0)
    for i, r in enumerate(rows):
        with Trace(out / r["trace"]) as tr:
            assert tr.status == "completed"
            assert tr.attrs["m"] == int(r["network.m"]) and tr.attrs["seed"] == int(r["seed"])
            assert (tr.attrs["n"], tr.attrs["d"]) == (4, 3)
            assert tr.iterations == int(r["iterations"])
            assert tr["loss"][-1] == loss[i] == float(r["loss"])
            assert float(r["median_step_seconds"]) == pytest.approx(float(np.median(tr["step_seconds"])))
            # counted operations per step (simulator/indexes/ops.py): the phases summed, median over steps
            assert float(r["ops_per_step"]) == float(np.median(tr["phase_flops"].sum(axis=1))) > 0
            assert list(tr.metric_attrs("phase_flops")["phases"]) == ["query", "sketch", "regression", "update"]
            assert tr.validation["def_4_5"]["status"] == r["def_4_5"]
            assert float(r["lambda"]) == tr.attrs["lambda"]
    # the same points again into the same directory: refused unless --overwrite
    again = invoke("sweep", "quickstart", "--grid", "seed=0", "--out", out, "--quiet")
    assert again.exit_code == 2 and again.output.startswith("error: --out:") and "not empty" in again.output
    assert len(list(out.glob("point-*.h5"))) == 4


def test_a_failed_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "sw"
    res = run_sweep("quickstart", ["network.b=50.0,1.0"], workers=2, out_dir=out, progress=False,
                    overrides=[*SMALL, "network.m=256", "solver.name=gauss-newton", "stopping.max_iterations=3"])
    assert (res.completed, res.failed) == (1, 1)
    bad, good = res.rows
    assert bad["status"] == "failed" and "empty fire set" in bad["error"] and bad["network.b"] == 50.0
    assert good["status"] == "completed" and good["error"] == "" and good["iterations"] >= 1
    with Trace(out / bad["trace"]) as tr:
        assert tr.status == "failed"
    rows = read_summary(out)
    assert [r["status"] for r in rows] == ["failed", "completed"]
    assert "empty fire set" in rows[0]["error"]


def test_all_points_failed_exits_1(tmp_path):
    result = invoke("sweep", "quickstart", "--grid", "network.b=50.0", "--set", "solver.name=gauss-newton",
                    *[x for s in SMALL for x in ("--set", s)], "--set", "network.m=128", "--workers", 1,
                    "--out", tmp_path / "sw", "--quiet")
    assert result.exit_code == 1
    assert "completed  0 of 1" in result.output and "failed     1" in result.output


def test_run_point_never_raises(tmp_path):
    text = scenario_to_toml(load_scenario("quickstart", overrides=SMALL))
    row = run_point(text, [("network.m", 128), ("stopping.max_iterations", 2)], tmp_path / "p.h5", 7)
    assert row["point"] == 7 and row["status"] == "completed" and row["network.m"] == 128
    assert row["m"] == 128 and row["n"] == 4 and row["lambda"] > 0 and row["validate"] in ("holds", "fails")
    with Trace(tmp_path / "p.h5") as tr:
        assert "def_4_5" in tr.validation
    # an unusable point (bad value, or its trace path already taken) is a failed row, not an exception
    row = run_point(text, [("network.m", -1)], tmp_path / "q.h5", 1)
    assert row["status"] == "failed" and "network.m" in row["error"] and row["trace"] == ""
    before = (tmp_path / "p.h5").read_bytes()
    row = run_point(text, [("network.m", 128)], tmp_path / "p.h5", 2)
    assert row["status"] == "failed" and "exists" in row["error"] and row["trace"] == ""
    assert (tmp_path / "p.h5").read_bytes() == before


# -- bad input: one line, exit 2, nothing written -------------------------------------------
@pytest.mark.parametrize("args, match", [
    (["--grid", "network.m=2^5..2^3"], "empty range"),
    (["--grid", "network.mm=1,2"], "unknown key"),
    (["--grid", "network.m=-3,4"], "network.m"),
    (["--grid", "seed=0,1", "--set", "data.n=1"], "data.n"),
    (["--grid", "seed=0,1", "--fit", "network.m"], "not a grid key"),
    (["--grid", "solver.regression=pcg,paper", "--fit", "solver.regression"], "positive numbers"),
    ([], "no grid"),
    (["--grid", "seed=0", "--workers", 0], "--workers"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args, match):
    out = tmp_path / "sw"
    result = invoke("sweep", "quickstart", *args, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1 and match in result.output
    assert not out.exists()


def test_bad_scenario_and_missing_name(tmp_path):
    result = invoke("sweep", "no-such-scenario", "--grid", "seed=0", "--out", tmp_path / "sw")
    assert result.exit_code == 2 and "unknown scenario" in result.output and not (tmp_path / "sw").exists()
    assert invoke("sweep").exit_code == 2


def test_refuses_non_empty_out_dir(tmp_path):
    out = tmp_path / "sw"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SweepInputError, match="not empty"):
        run_sweep("quickstart", ["seed=0"], workers=1, out_dir=out, progress=False, overrides=SMALL)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_scenario_grid_is_the_default(tmp_path):
    s = load_scenario("width-threshold")
    assert s.sweep.report == "width-threshold" and s.sweep.workers == 2
    assert s.metrics.every == 1 and s.solver.options["regression"] == "exact-gram"
    grid = parse_grid(s.sweep.grid)
    assert dict(grid)["seed"] == list(range(10))
    # a scenario file with its own [sweep] grid, run without --grid
    path = tmp_path / "mine.toml"
    path.write_text('seed = 0\n[data]\nn = 4\nd = 3\n[network]\nm = 128\n[stopping]\nmax_iterations = 2\n'
                    '[sweep]\ngrid = ["seed=0,1"]\nworkers = 1\n')
    res = run_sweep(str(path), workers=None, out_dir=tmp_path / "sw", progress=False)
    assert res.workers == 1 and [r["seed"] for r in res.rows] == [0, 1] and res.completed == 2


# -- reports -------------------------------------------------------------------------------
def test_fit_slope_recovers_a_known_exponent():
    rows = []
    for m in (2 ** 10, 2 ** 12, 2 ** 14, 2 ** 16):
        for seed, noise in enumerate((0.9, 1.0, 1.1 ** -1)):
            rows.append({"network.m": m, "seed": seed, "status": "completed",
                         "median_step_seconds": 3e-7 * m ** 0.75 * noise})
    rows.append({"network.m": 2 ** 18, "seed": 0, "status": "failed", "median_step_seconds": float("nan")})
    slope, k = fit_slope(rows, "network.m")  # the seeds' spread is the same at every m: averaged out
    assert k == 4 and slope == pytest.approx(0.75, abs=1e-12)
    rows[0]["median_step_seconds"] *= 2 ** 3  # one seed at the smallest m 8x slower: log-mean shifts by ln 2
    slope, _ = fit_slope(rows, "network.m")
    xs = np.log([2 ** 10, 2 ** 12, 2 ** 14, 2 ** 16])
    assert slope == pytest.approx(0.75 + np.polyfit(xs, [math.log(2), 0, 0, 0], 1)[0], abs=1e-12)
    with pytest.raises(ValueError, match="two or more"):
        fit_slope(rows[:3], "network.m")


def _wt_rows(holds):
    """Synthetic rows: holds[(n, m)] = number of 10 seeds where Def 4.5 holds."""
    rows = []
    for (n, m), k in holds.items():
        for seed in range(10):
            rows.append({"n": n, "m": m, "d": 8, "rho": 0.1, "seed": seed, "lambda": 0.1 + 0.01 * seed,
                         "status": "completed",
                         "def_4_5": "holds" if seed < k else "fails"})
    return rows


def test_width_threshold_report_known_answer():
    holds = {(4, 64): 5, (4, 128): 9, (4, 256): 10, (4, 512): 10,
             (8, 64): 2, (8, 128): 10, (8, 256): 8, (8, 512): 10,
             (16, 64): 0, (16, 128): 3, (16, 256): 7, (16, 512): 8}
    rows = _wt_rows(holds)
    # a failed run counts as not holding, even if its def_4_5 column says holds
    for r in rows:
        if (r["n"], r["m"], r["seed"]) == (4, 128, 0):
            r["status"] = "failed"
    rep = width_threshold_report(rows)
    assert [r["n"] for r in rep] == [4, 8, 16]
    r4, r8, r16 = rep
    assert r4["fraction"] == {64: 0.5, 128: 0.8, 256: 1.0, 512: 1.0}
    assert r4["m_observed"] == 256 and r4["monotone"]
    assert r8["m_observed"] == 128 and not r8["monotone"]
    assert r16["m_observed"] is None and not r16["monotone"]
    lam = np.mean([0.1 + 0.01 * s for s in range(10)])
    assert r4["lambda_mean"] == pytest.approx(lam)
    assert r4["req_dominant"] == pytest.approx(lam ** -4 * 4 ** 4)
    assert r4["req_full"] == pytest.approx(thm_4_1_width_requirement(lam, 4, 8, 0.1))
    assert r4["gap"] == pytest.approx(lam ** -4 * 4 ** 4 / 256)
    assert r4["seeds"] == 10
    text = format_width_threshold_report(rep)
    assert "| 4 | 8 | 10 | 256 | yes |" in text and "none ≤ 512" in text
    assert "| 128 | 0.8 | 1.0 | 0.3 |" in text


def test_report_only_recomputes_from_summary_csv(tmp_path):
    rows = _wt_rows({(4, 64): 10, (4, 128): 10, (8, 64): 3, (8, 128): 9})
    cols = ["point", "seed", "status", "error", "def_4_5", "n", "m", "d", "rho", "lambda", "median_step_seconds"]
    with open(tmp_path / "summary.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i, r in enumerate(rows):
            w.writerow([i, r["seed"], r["status"], "", r["def_4_5"], r["n"], r["m"], 8, 0.1, repr(r["lambda"]),
                        1e-3 * r["m"]])
    result = invoke("sweep", "--report-only", tmp_path, "--fit", "m")
    assert result.exit_code == 0, result.output
    assert "40 points, 40 completed" in result.output and "slope 1.000" in result.output
    assert "| 4 | 8 | 10 | 64 | yes |" in result.output and "| 8 | 8 | 10 | 128 | yes |" in result.output
    bad = invoke("sweep", "--report-only", tmp_path / "nowhere")
    assert bad.exit_code == 2 and bad.output.startswith("error: ")


# -- a Dask cluster through the same executor interface ----------------------------------------
def test_sweep_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        out = tmp_path / "sw"
        result = invoke("sweep", "quickstart", "--grid", "seed=0,1", *[x for s in SMALL for x in ("--set", s)],
                        "--set", "network.m=128", "--set", "stopping.max_iterations=2",
                        "--scheduler", address, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert f"scheduler {address}" in result.output and "completed  2 of 2" in result.output
    rows = read_summary(out)
    assert [r["seed"] for r in rows] == [0, 1] and all(r["status"] == "completed" for r in rows)
    for r in rows:
        with Trace(out / r["trace"]) as tr:
            assert tr.status == "completed" and tr.attrs["seed"] == r["seed"]


def test_unreachable_scheduler_is_an_input_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("simulator.engine.sweep.CONNECT_TIMEOUT", 1)
    result = invoke("sweep", "quickstart", "--grid", "seed=0", "--scheduler", "tcp://127.0.0.1:1",
                    "--out", tmp_path / "sw", "--quiet")
    assert result.exit_code == 2 and "--scheduler" in result.output
    assert not (tmp_path / "sw").exists()
