"""`simulator compare` and simulator.engine.compare: the table against the traces, the refusals, the figures."""

import json
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import simulator
from simulator.cli import cli
from simulator.engine import compare as cmp
from simulator.engine.trace import Trace, TraceWriter

# one small problem: the scenarios sublinear-fast, gauss-newton and gd share data, width and seed
SMALL = ["network.m=1024", "data.n=6", "data.d=5", "stopping.max_iterations=4"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for name in ("sublinear-fast", "gauss-newton", "gd"):
        out[name] = Path(simulator.run(name, overrides=SMALL, out=d / f"{name}.h5"))
    # the same problem and solver, another fire-set index: only solver_index tells them apart
    out["fireset"] = Path(simulator.run("sublinear-fast", overrides=SMALL + ["solver.index=fireset"],
                                        out=d / "fireset.h5"))
    # not the same problem
    out["n7"] = Path(simulator.run("gd", overrides=[*SMALL[:1], "data.n=7", *SMALL[2:]], out=d / "n7.h5"))
    out["seed1"] = Path(simulator.run("gd", overrides=SMALL, seed=1, out=d / "seed1.h5"))
    return out


def expected_time_to_target(path, rel):
    """From the trace alone: init + the step seconds up to the first state with loss <= rel * loss0."""
    with Trace(path) as tr:
        loss, steps, init = tr["loss"], tr["step_seconds"], tr.attrs["init_seconds"]
    total = init
    for t in range(len(loss)):
        if loss[t] <= rel * loss[0]:
            return total, t
        if t < len(steps):
            total += steps[t]
    return None, None


# -- the table ---------------------------------------------------------------------------------
def test_rows_match_the_traces(runs):
    names = ("sublinear-fast", "gauss-newton", "gd")
    trs = [Trace(runs[k]) for k in names]
    try:
        for rel in (cmp.DEFAULT_TARGET, 0.5):
            rows = cmp.compare_rows(trs, target=rel)
            assert [r["label"] for r in rows] == ["sublinear-fast/sublinear", "gauss-newton/gauss-newton", "gd/gd"]
            for r, tr in zip(rows, trs):
                loss, steps = tr["loss"], tr["step_seconds"]
                assert r["trace"] == str(tr.path) and r["name"] == Path(tr.path).name
                assert r["iterations"] == tr.iterations == len(loss) - 1
                assert r["status"] == "completed"
                assert r["final_loss"] == loss[-1] and r["loss0"] == loss[0]
                assert r["init_seconds"] == tr.attrs["init_seconds"]
                assert r["median_step_seconds"] == pytest.approx(np.median(steps), rel=1e-12)
                seconds, t = expected_time_to_target(tr.path, rel)
                assert r["target_iteration"] == t
                assert (r["time_to_target"] is None) if seconds is None else \
                    r["time_to_target"] == pytest.approx(seconds, rel=1e-12)
                assert r["step_ratio"] == pytest.approx(r["median_step_seconds"] / rows[0]["median_step_seconds"])
        rows = cmp.compare_rows(trs)
        # exact Gauss-Newton (two ways) reaches 1e-6 loss0 within 4 steps; gradient descent does not
        assert rows[0]["time_to_target"] is not None and rows[1]["time_to_target"] is not None
        assert rows[2]["target_iteration"] is None and rows[2]["time_to_target"] is None
        assert rows[0]["step_ratio"] == 1.0
        assert [r["options"]["solver_direction"] for r in rows] == ["exact", "exact", "gradient"]
    finally:
        for tr in trs:
            tr.close()


def test_only_the_options_that_differ_are_shown(runs):
    with Trace(runs["sublinear-fast"]) as a, Trace(runs["fireset"]) as b, Trace(runs["gd"]) as c:
        assert cmp.differing_options([a, b]) == ["solver_direction", "solver_index"]
        shown = cmp.differing_options([a, c])
        assert shown[0] == "solver_direction" and "solver_index" in shown and "solver_learning_rate" in shown
        assert not cmp.problem_differences([a, b, c])


def test_time_to_target_edge_cases():
    loss = [8.0, 4.0, 1.0, 0.5]
    assert cmp.time_to_target(loss, [0.1, 0.2, 0.3], 1.0, 0.125) == (pytest.approx(1.3), 2)
    assert cmp.time_to_target(loss, [0.1, 0.2, 0.3], 1.0, 1.0) == (1.0, 0)      # reached at the start
    assert cmp.time_to_target(loss, [0.1, 0.2, 0.3], 1.0, 0.01) == (None, None)
    assert cmp.time_to_target([8.0, np.nan, 1.0], [0.1, 0.2], 1.0, 0.125) == (pytest.approx(1.3), 2)
    assert cmp.time_to_target(loss, [0.1, 0.2, 0.3], None, 0.125) == (None, 2)  # no init time recorded
    with pytest.raises(ValueError):
        cmp.compare_rows([], target=0.0)


def test_cli_table_and_json(runs):
    paths = [runs[k] for k in ("sublinear-fast", "gauss-newton", "gd")]
    result = invoke("compare", *paths)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("problem  two-layer, m = 1024, n = 6, d = 5")
    table = {ln.split("  ")[0]: ln for ln in lines(out)[1:]}
    assert table["trace"].split()[1:] == ["sublinear-fast.h5", "gauss-newton.h5", "gd.h5"]
    assert table["solver"].split()[1:] == ["sublinear", "gauss-newton", "gd"]
    assert table["solver_direction"].split()[1:] == ["exact", "exact", "gradient"]
    for key in ("solver_index", "solver_learning_rate", "iterations", "status", "final loss", "init (s)",
                "median step (s)", "time to 1e-06·loss0 (s)", "median step / first run's"):
        assert key in table, key
    assert table["time to 1e-06·loss0 (s)"].rstrip().endswith("not reached")
    data = json.loads(invoke("compare", *paths, "--json", "--target", "0.5").stdout)
    assert data["same_problem"] and data["target"] == 0.5 and len(data["runs"]) == 3
    for r, p in zip(data["runs"], paths):
        with Trace(p) as tr:
            assert r["final_loss"] == tr["loss"][-1] and r["iterations"] == tr.iterations
        seconds, t = expected_time_to_target(p, 0.5)
        assert r["target_iteration"] == t and r["time_to_target"] == pytest.approx(seconds, rel=1e-12)


# -- refusals: one line, exit 2 --------------------------------------------------------------
def _one_error_line(result):
    assert result.exit_code == 2, result.output
    out = lines(result.output)
    assert len(out) == 1 and out[0].startswith("error: "), result.output
    return out[0]


def test_different_n_is_refused(runs):
    line = _one_error_line(invoke("compare", runs["gd"], runs["n7"]))
    assert "n differs between gd.h5 (6) and n7.h5 (7)" in line and "--allow-different" in line


def test_different_seed_is_refused(runs):
    line = _one_error_line(invoke("compare", runs["gd"], runs["seed1"]))
    assert "/data/X and /data/y differ between gd.h5 and seed1.h5" in line


def test_allow_different_compares_with_a_warning(runs):
    result = invoke("compare", runs["gd"], runs["seed1"], runs["n7"], "--allow-different")
    assert result.exit_code == 0, result.output
    warn = lines(result.stderr)
    assert len(warn) == 1 and warn[0].startswith("warning: not the same problem")
    assert "seed1.h5" in warn[0] and "n differs" in warn[0]
    assert "gd.h5" in result.stdout and "n7.h5" in result.stdout


@pytest.mark.parametrize("content", [None, b"not a trace\n", "h5-without-schema"])
def test_not_a_trace_is_refused(runs, tmp_path, content):
    path = tmp_path / "x.h5"
    if content == "h5-without-schema":
        with h5py.File(path, "w") as f:
            f["a"] = 1
    elif content is not None:
        path.write_bytes(content)
    line = _one_error_line(invoke("compare", runs["gd"], path))
    assert "x.h5" in line


def test_fewer_than_two_and_the_same_file_twice_are_refused(runs, tmp_path):
    assert "at least two" in _one_error_line(invoke("compare", runs["gd"]))
    assert "at least two" in _one_error_line(invoke("compare"))
    assert "same file" in _one_error_line(invoke("compare", runs["gd"], runs["gd"]))
    link = tmp_path / "alias.h5"
    link.symlink_to(runs["gd"])
    assert "same file" in _one_error_line(invoke("compare", runs["gd"], link))
    assert "--target" in _one_error_line(invoke("compare", runs["gd"], runs["gauss-newton"], "--target", "0"))


def _without_X(src, dst):
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        del f["data/X"]
    return dst


def test_without_data_X_the_seed_and_the_data_table_decide(runs, tmp_path):
    a = _without_X(runs["gd"], tmp_path / "a.h5")
    b = _without_X(runs["gauss-newton"], tmp_path / "b.h5")
    c = _without_X(runs["seed1"], tmp_path / "c.h5")
    with Trace(a) as ta, Trace(b) as tb, Trace(c) as tc:
        assert cmp.problem_differences([ta, tb]) == []
        diffs = cmp.problem_differences([ta, tc])
        assert diffs == ["seed differs between a.h5 (0) and c.h5 (1) (no /data/X to compare)"]
    line = _one_error_line(invoke("compare", a, c))
    assert "seed differs" in line


def test_multilayer_traces_compare_among_themselves(runs, tmp_path):
    ml = [Path(simulator.run(name, overrides=["network.m=256", "stopping.max_iterations=2"], out=tmp_path / f"{name}.h5"))
          for name in ("multilayer", "multilayer-exact")]
    result = invoke("compare", *ml, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["problem"].startswith("multilayer") and [r["solver"] for r in data["runs"]] == ["multilayer"] * 2
    assert {"solver_regression", "solver_delta_form"} <= set(data["runs"][0]["options"])
    line = _one_error_line(invoke("compare", ml[0], runs["gd"]))
    assert "model differs between multilayer.h5 ('multilayer') and gd.h5 ('two-layer')" in line


# -- figures -------------------------------------------------------------------------------------
def _is_png(path):
    data = Path(path).read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 10_000


def test_figures_are_written(runs, tmp_path):
    pytest.importorskip("matplotlib")
    paths = [runs[k] for k in ("sublinear-fast", "gauss-newton", "gd")]
    out = tmp_path / "figs"
    result = invoke("compare", *paths, "-o", out)
    assert result.exit_code == 0, result.output
    expected = [out / f"compare-{k}.png" for k in cmp.COMPARE_FIGURES]
    assert [ln for ln in lines(result.stdout) if ln.endswith(".png")] == [str(p) for p in expected]
    assert all(_is_png(p) for p in expected)
    again = invoke("compare", *paths, "-o", out)
    assert "--overwrite" in _one_error_line(again)
    assert invoke("compare", *paths, "-o", out, "--overwrite").exit_code == 0
    data = json.loads(invoke("compare", *paths, "-o", out, "--overwrite", "--json").stdout)
    assert data["figures"] == [str(p) for p in expected] and data["skipped"] == {}


def test_each_figure_has_labelled_axes_and_a_legend_naming_every_run(runs):
    pytest.importorskip("matplotlib")
    from simulator.engine.plots import _Canvas, _matplotlib

    mpl = _matplotlib()
    trs = [Trace(runs[k]) for k in ("sublinear-fast", "gauss-newton", "gd")]
    try:
        labels = cmp.run_labels(trs)
        assert labels == ["sublinear-fast/sublinear", "gauss-newton/gauss-newton", "gd/gd"]
        for key in cmp.COMPARE_FIGURES:
            title, draw = cmp._SPECS[key]
            cv = _Canvas(mpl, title, "")
            assert draw(list(zip(trs, labels)), cv, 1e-6) is None, key
            assert cv.ax.get_xlabel() and cv.ax.get_ylabel(), key
            legend = cv.fig.legends[0]
            texts = [t.get_text() for t in legend.get_texts()]
            for label in labels:
                assert any(t.startswith(label) for t in texts), (key, label, texts)
    finally:
        for tr in trs:
            tr.close()


def _loss_only(path, seconds):
    attrs = {"scenario_name": "syn", "solver": f"s{seconds}", "model": "two-layer", "n": 2, "d": 2, "m": 8,
             "seed": 0, "init_seconds": 0.5}
    w = TraceWriter.create(path, attrs=attrs)
    w.write_data(X=np.eye(2), y=np.array([1.0, -1.0]))
    for t in range(3):
        w.append_iteration(t, state={"loss": 4.0 ** -t}, step=None if t == 0 else {"step_seconds": seconds})
    w.finish("completed")
    return path


def test_a_panel_no_trace_has_is_skipped_with_the_reason(tmp_path):
    pytest.importorskip("matplotlib")
    a, b = _loss_only(tmp_path / "a.h5", 0.1), _loss_only(tmp_path / "b.h5", 0.2)
    result = invoke("compare", a, b, "-o", tmp_path / "figs", "--target", "0.1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["compare-loss-time.png", "compare-loss.png"]
    err = lines(result.stderr)
    assert "skipped fire: no trace has a 'fire_count' or 'union_fire' metric" in err
    assert "skipped drift: no trace has a 'drift_max' metric" in err
    data = json.loads(invoke("compare", a, b, "--json", "--target", "0.1").stdout)
    # loss 1, 1/4, 1/16: 0.1·loss0 first reached at t = 2 after init 0.5 and two steps
    assert [r["time_to_target"] for r in data["runs"]] == [pytest.approx(0.7), pytest.approx(0.9)]
    assert [r["step_ratio"] for r in data["runs"]] == [1.0, pytest.approx(2.0)]
    assert math.isclose(data["runs"][0]["final_loss"], 1 / 16)


def test_missing_matplotlib_is_one_line(runs, tmp_path, monkeypatch):
    from simulator.engine import plots

    def missing():
        raise plots.PlotDependencyError(plots.MISSING_MATPLOTLIB)

    monkeypatch.setattr(plots, "_matplotlib", missing)
    line = _one_error_line(invoke("compare", runs["gd"], runs["gauss-newton"], "-o", tmp_path / "f"))
    assert "matplotlib" in line and not (tmp_path / "f").exists()


def test_help():
    result = invoke("compare", "--help")
    assert result.exit_code == 0
    for flag in ("--target", "--json", "--out-dir", "--overwrite", "--allow-different"):
        assert flag in result.output
