"""simulator.engine.inspect: how (T, k) metrics are summarised and said to be; and `run`'s summary line."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from simulator.cli import cli
from simulator.engine.inspect import format_metrics, metric_summary, summarize
from simulator.engine.trace import Trace, TraceWriter

FIRE = np.array([[30, 20, 10], [28, 18, 8], [-1, -1, -1], [26, 16, 2]])          # row 2 not computed
QUANT = np.array([[0.0, 0, 0, 0, 0], [1, 2, 3, 4, 5], [np.nan] * 5, [2, 4, 6, 8, 10]])
PHASES = np.array([[0.1, 0.2, 0.3], [0.2, 0.1, 0.1], [0.3, 0.3, 0.6]])           # steps 1..3


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture()
def trace(tmp_path):
    path = tmp_path / "syn.h5"
    w = TraceWriter.create(path, attrs={"scenario_name": "syn", "solver": "test", "m": 40, "n": 3, "d": 2})
    w.describe("phase_seconds", phases=["query", "regression", "update"])
    for t in range(4):
        state = {"loss": 2.0 ** -t, "fire_count": FIRE[t], "drift_quantiles": QUANT[t]}
        step = None if t == 0 else {"step_seconds": PHASES[t - 1].sum(), "phase_seconds": PHASES[t - 1]}
        w.append_iteration(t, state=state, step=step)
    w.finish("completed")
    return path


def test_a_one_value_metric_has_no_reduction_and_a_median(trace):
    with Trace(trace) as tr:
        m = summarize(tr)["metrics"]["loss"]
    assert "reduce" not in m and "width" not in m
    assert (m["first"], m["last"], m["min"], m["max"]) == (1.0, 0.125, 0.125, 1.0)
    assert m["median"] == pytest.approx(np.median([1, 0.5, 0.25, 0.125]))


def test_per_point_metric_is_the_row_mean_and_says_so(trace):
    with Trace(trace) as tr:
        m = summarize(tr)["metrics"]["fire_count"]
    rows = FIRE[[0, 1, 3]].astype(float)            # the computed rows
    assert (m["reduce"], m["width"], m["entries"]) == ("mean", 3, "points")
    assert m["first"] == rows[0].mean() and m["last"] == rows[-1].mean()
    assert m["median"] == np.median(rows.mean(axis=1))
    assert (m["min"], m["max"]) == (2.0, 30.0)      # over every value, not over the row means
    assert "columns" not in m                       # points are not labelled


def test_phases_are_summed_and_each_phase_given_alone(trace):
    with Trace(trace) as tr:
        m = summarize(tr)["metrics"]["phase_seconds"]
    sums = PHASES.sum(axis=1)
    assert (m["reduce"], m["width"], m["entries"]) == ("sum", 3, "phases")
    assert m["first"] == pytest.approx(sums[0]) and m["last"] == pytest.approx(sums[-1])
    assert m["min"] == pytest.approx(sums.min()) and m["max"] == pytest.approx(sums.max())
    assert m["median"] == pytest.approx(np.median(sums))
    assert list(m["columns"]) == ["query", "regression", "update"]
    for j, c in enumerate(m["columns"].values()):
        assert c["median"] == pytest.approx(np.median(PHASES[:, j]))
        assert (c["first"], c["last"]) == (PHASES[0, j], PHASES[-1, j])


def test_quantile_levels_are_given_alone(trace):
    with Trace(trace) as tr:
        m = summarize(tr)["metrics"]["drift_quantiles"]
    assert (m["reduce"], m["entries"]) == ("mean", "quantile levels")
    assert list(m["columns"]) == ["q0.5", "q0.9", "q0.99", "q0.999", "q1 (max)"]
    assert m["columns"]["q1 (max)"]["last"] == 10.0 and m["columns"]["q0.5"]["median"] == 1.0


def test_the_text_says_how_each_metric_was_reduced(trace):
    with Trace(trace) as tr:
        text = format_metrics(summarize(tr)["metrics"])
    rows = {ln.split()[0] + (" " + ln.split()[1] if ln.split()[1].startswith("(") else ""): ln
            for ln in text.splitlines()[1:] if not ln.startswith(("(", " ", "indented"))}
    assert {"loss", "fire_count (mean)", "drift_quantiles (mean)", "phase_seconds (sum)", "step_seconds"} <= set(rows)
    assert text.splitlines()[0].split() == ["metric", "units", "first", "last", "min", "max", "median"]
    for phase in ("query", "regression", "update"):
        assert f"\n  {phase} " in text
    assert "\n  q0.5 " in text
    assert "(mean)  a row holds k values" in text and "(sum)   a row holds one value per phase" in text
    assert "indented rows" in text
    only_loss = format_metrics({"loss": metric_summary([1.0, 0.5]) | {"units": "dimensionless"}})
    assert "(mean)" not in only_loss and "(sum)" not in only_loss


def test_inspect_json_carries_the_reduction(trace):
    result = invoke("inspect", trace, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)["metrics"]
    assert metrics["fire_count"]["reduce"] == "mean" and metrics["phase_seconds"]["reduce"] == "sum"
    assert "update" in metrics["phase_seconds"]["columns"]


# -- `run`'s summary line (its natural home is tests/test_cli.py) --------------------------------
def test_run_prints_the_sizes_of_file_data(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=5)
    data = tmp_path / "pts.csv"
    data.write_text("".join(",".join(str(v) for v in (*X[i], y[i])) + "\n" for i in range(5)))
    toml = tmp_path / "file.toml"
    toml.write_text(f'name = "filedata"\n[data]\nkind = "file"\npath = "{data}"\n'
                    '[network]\nm = 128\n[stopping]\nmax_iterations = 1\n')
    result = invoke("run", toml, "--out", tmp_path / "f.h5", "--quiet")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == "scenario   filedata (solver sublinear, m=128, n=5, d=3, seed=0)", first
