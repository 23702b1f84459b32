"""`simulator plot` and simulator.engine.plots: PNGs written, skipped, refused, and the error paths."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib")

import simulator  # noqa: E402
from simulator.cli import cli  # noqa: E402
from simulator.engine import plots  # noqa: E402
from simulator.engine.trace import TraceWriter  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ["network.m=512", "data.n=6", "data.d=5", "stopping.max_iterations=4", "stopping.rel_loss_target=0"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def lines(result, stream="output"):
    """Non-empty lines of stdout+stderr ("output"), or of "stdout" / "stderr" alone."""
    return [ln for ln in getattr(result, stream).splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def tiny_trace(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny.h5"
    return Path(simulator.run("quickstart", overrides=TINY, out=out))


def _is_png(path):
    data = Path(path).read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 10_000


def test_plot_writes_every_figure(tiny_trace, tmp_path):
    out = tmp_path / "figs"
    result = invoke("plot", tiny_trace, "-o", out)
    assert result.exit_code == 0, result.output
    # seed 001's figures of gradient runs, HSR counters and approximate indexes do not apply to this
    # sketched Gauss-Newton run with the tree index: skipped, one line each, with the reason
    not_here = {"s001-loss", "s001-work", "s001-lsh"}
    other_model = {k for k in plots.FIGURES if k.startswith("s004-")}  # the multilayer's: not even listed
    expected = [out / f"tiny-{key}.png" for key in plots.FIGURES if key not in not_here | other_model]
    assert lines(result, "stdout") == [str(p) for p in expected]
    assert sorted(ln.split(":")[0] for ln in lines(result, "stderr")) == sorted(f"skipped {k}" for k in not_here)
    for p in expected:
        assert _is_png(p), p
    assert sorted(out.iterdir()) == sorted(expected)  # no partial files left behind


def _loss_only(path):
    """A trace with one figure's worth of data (keeps the overwrite tests fast)."""
    w = TraceWriter.create(path, attrs={"scenario_name": "loss-only", "solver": "test", "m": 8, "n": 2, "d": 2})
    for t in range(3):
        w.append_iteration(t, state={"loss": 4.0 ** -t})
    w.finish("completed")
    return path


def test_default_directory_is_next_to_the_trace(tmp_path):
    trace = _loss_only(tmp_path / "lo.h5")
    result = invoke("plot", trace)
    assert result.exit_code == 0, result.output
    assert lines(result, "stdout") == [str(tmp_path / "lo-plots" / "lo-loss.png")]
    assert _is_png(tmp_path / "lo-plots" / "lo-loss.png")


def test_refuses_to_overwrite_without_the_flag(tmp_path):
    trace = _loss_only(tmp_path / "lo.h5")
    out = tmp_path / "figs"
    assert invoke("plot", trace, "-o", out).exit_code == 0
    before = {p: p.read_bytes() for p in out.iterdir()}
    assert len(before) == 1
    result = invoke("plot", trace, "-o", out)
    assert result.exit_code == 2
    assert len(lines(result)) == 1 and lines(result)[0].startswith("error: ") and "--overwrite" in result.output
    assert {p: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(FileExistsError):
        plots.plot_trace(trace, out)
    result = invoke("plot", trace, "-o", out, "--overwrite")
    assert result.exit_code == 0 and lines(result, "stdout") == [str(out / "lo-loss.png")]
    # the figures of its model without data are reported on stderr, one line each
    assert len(lines(result, "stderr")) == len([k for k in plots.FIGURES if not k.startswith("s004-")]) - 1
    assert all(ln.startswith("skipped ") for ln in lines(result, "stderr"))


def test_missing_matplotlib_is_one_line_and_exit_2(tiny_trace, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    result = invoke("plot", tiny_trace, "-o", tmp_path / "figs")
    assert result.exit_code == 2
    assert lines(result) == ["error: plotting needs matplotlib: pip install 'simulator[plot]'"]
    assert not (tmp_path / "figs").exists()
    with pytest.raises(plots.PlotDependencyError):
        plots.plot_trace(tiny_trace, tmp_path / "figs")


@pytest.mark.parametrize("content", [b"not a trace at all\n", None])
def test_not_a_trace_exits_2(tmp_path, content):
    bad = tmp_path / "bad.h5"
    if content is not None:
        bad.write_bytes(content)
    result = invoke("plot", bad, "-o", tmp_path / "figs")
    assert result.exit_code == 2
    assert len(lines(result)) == 1 and lines(result)[0].startswith("error: ")
    assert not (tmp_path / "figs").exists()


def test_help():
    result = invoke("plot", "--help")
    assert result.exit_code == 0 and "Usage:" in result.output and "--overwrite" in result.output


def test_import_simulator_does_not_import_matplotlib():
    code = "import sys, simulator, simulator.cli, simulator.engine.plots; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- a synthetic trace: cadence gaps, drift beyond the radius, absent metrics --------------------
def _synthetic(path, with_gram=True):
    attrs = {"scenario_name": "synthetic", "solver": "test", "m": 100, "n": 3, "d": 2, "seed": 1,
             "b": 1.0, "lambda": 0.02, "R0": 150.0, "rho": 0.1}  # radius R0/sqrt(m) = 15
    w = TraceWriter.create(path, attrs=attrs)
    nan = float("nan")
    drift = [0.0, 5.0, nan, 20.0]
    lmin = [0.02, 0.012, nan, 0.005]
    dev = [0.0, 0.004, nan, 0.02]
    flips = [[0, 0, 0], [3, 4, 5], [-1, -1, -1], [6, 7, 9]]
    for t in range(4):
        state = {"loss": 10.0 * 3.0 ** -t, "residual_norm": (20.0 * 3.0 ** -t) ** 0.5,
                 "fire_count": np.array([30, 25, 20]) - t, "flips": np.array(flips[t]),
                 "drift_max": drift[t], "drift_quantiles": np.array([0, 1, 2, 3, drift[t]]) * (drift[t] / 20)}
        if with_gram:
            state.update(lambda_min=lmin[t], gram_dev_fro=dev[t])
        w.append_iteration(t, state=state, step=None if t == 0 else {"step_seconds": 0.1})
    w.finish("interrupted")
    return path


def test_synthetic_trace_all_figures(tmp_path):
    trace = _synthetic(tmp_path / "syn.h5")
    written = plots.plot_trace(trace, tmp_path / "figs")
    seed001 = {k for k in plots.FIGURES if k.startswith("s001-")}  # no seed-001 metrics in this trace
    seed004 = {k for k in plots.FIGURES if k.startswith("s004-")}  # another model's figures: not drawn, not listed
    assert [p.name for p in written] == [f"syn-{k}.png" for k in plots.FIGURES
                                         if k != "phases" and k not in seed001 | seed004]
    assert set(written.skipped) == {"phases"} | seed001 and "phase_seconds" in written.skipped["phases"]
    asked = plots.plot_trace(trace, tmp_path / "figs2", figures=["loss", "s004-residual"])
    assert asked.skipped == {"s004-residual": "not a figure of this trace's model"}
    for p in written:
        assert _is_png(p)


def test_absent_metrics_are_skipped_with_reasons(tmp_path):
    trace = _synthetic(tmp_path / "nogram.h5", with_gram=False)
    result = invoke("plot", trace, "-o", tmp_path / "figs")
    assert result.exit_code == 0, result.output
    assert "skipped lambda-min:" in result.stderr and "skipped gram-dev:" in result.stderr
    assert (tmp_path / "figs" / "nogram-loss.png").exists()
    assert not (tmp_path / "figs" / "nogram-lambda-min.png").exists()


def test_bound_layout_rules():
    # within 5x: linear and drawn; 5-100x: log and drawn; beyond 100x: legend only
    log, on, _ = plots._bounds_layout([0.0, 0.5, 1.6], [6.6])
    assert (log, on) == (False, [True])
    log, on, _ = plots._bounds_layout([325, 712], [9153.0, 689.0])
    assert (log, on) == (True, [True, True])
    log, on, f = plots._bounds_layout([0, 75, 350], [4.4e6])
    assert (log, on) == (False, [False]) and f[0] == pytest.approx(4.4e6 / 350)


# -- verdicts: marks beyond a bound carry the verdict `validate` gives on it ----------------------
def _labels(cv):
    handles, labels = cv.ax.get_legend_handles_labels()
    return labels + [h.get_label() for h in cv.extra_handles], handles


def _gram_trace(path, m):
    """n = 4, λ = 0.5, b = 1, R0 = 8: Lemma 4.3's premises hold for m ≥ 36n⁴/λ⁴ = 147456; ‖G_1 − G_0‖_F > λ/2."""
    attrs = {"scenario_name": "verdict", "solver": "test", "m": m, "n": 4, "d": 3, "b": 1.0, "lambda": 0.5,
             "delta": 1.0, "R0": 8.0, "rho": 0.1}
    with TraceWriter.create(path, attrs=attrs) as w:
        for t, (dev, drift) in enumerate([(0.0, 0.0), (0.3, 1e-3), (0.1, 2e-3)]):
            w.append_iteration(t, state={"loss": 1.0 / (t + 1), "residual_norm": 1.0, "drift_max": drift,
                                         "lambda_min": 0.5, "gram_dev_fro": dev})
    return path


def _draw(trace, key):
    from simulator.engine.trace import Trace

    mpl = plots._matplotlib()
    with Trace(trace) as tr:
        cv = plots._Canvas(mpl, "t", "s")
        assert plots._specs(tr)[key][1](tr, cv) is None
    return cv


def test_marks_say_premise_not_met_instead_of_a_failure(tmp_path):
    cv = _draw(_gram_trace(tmp_path / "narrow.h5", 1024), "gram-dev")
    labels, handles = _labels(cv)
    mark = next(lb for lb in labels if "1 of 3 rows" in lb)
    assert mark.startswith("beyond Lemma 4.3's λ/2 (1 of 3 rows):\npremise not met (m ≥ 36n⁴/λ⁴ (m/m_req = 0.0069)")
    assert not any("violates" in lb for lb in labels)
    line = handles[labels.index(mark)]
    assert line.get_markeredgecolor() == plots.PREMISE_COLOR and line.get_marker() == "o"
    # the same row with every premise met: a violation, red crosses
    cv = _draw(_gram_trace(tmp_path / "wide.h5", 2 ** 18), "gram-dev")
    labels, handles = _labels(cv)
    mark = next(lb for lb in labels if "1 of 3 rows" in lb)
    assert mark == "violates Lemma 4.3 (1 of 3 rows)" and handles[labels.index(mark)].get_marker() == "x"


def test_verdict_label_and_the_synthetic_trace(tmp_path):
    assert plots.verdict_label(None) == "" and plots.verdict_label({"status": "fails"}) == ""
    assert plots.verdict_label({"status": "premise not checkable", "premise_reason": "m ≥ poly: not checkable"}) == \
        "premise not checkable (m ≥ poly: not checkable)"
    # the synthetic trace's last row is outside the radius and beyond λ/2: the drift premise, not a failure
    cv = _draw(_synthetic(tmp_path / "syn.h5"), "gram-dev")
    labels, _ = _labels(cv)
    mark = next(lb for lb in labels if lb.startswith("beyond Lemma 4.3's λ/2 (1 of 3 rows):\npremise not met ("))
    assert "drift ≤ R0/√m met to 0.75" in mark                   # drift 20 at the bad row, radius 15
    cv = _draw(_synthetic(tmp_path / "syn2.h5"), "flips")
    labels, _ = _labels(cv)
    assert "validate, Lemma D.3: holds (premise drift ≤ R0/√m met to 0.75)" in labels     # holds, premise noted
