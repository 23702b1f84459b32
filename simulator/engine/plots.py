"""Figures of one trace, as PNG files: the generic machinery and the timing figure.

``plot_trace(trace, outdir)`` writes one figure per quantity, named
``<trace stem>-<figure>.png``: the figures of seed 002 against its bounds
(``loss``, ``fire``, ``drift``, ``lambda-min``, ``gram-dev``, ``flips``: see
``simulator.engine.figures_seed002``, which takes every bound value and the
Def 4.5 halving judgement from ``simulator.theory.seed002``), then

========== ================================================================
phases     wall-clock seconds per step, stacked by solver phase
========== ================================================================

This module holds what any figure uses: data access (computed rows of a
metric, attrs, bound values read off the trace), the canvas, the scale and
legend rules below, violation marks, and the entry point.

A figure whose metric is absent from the trace (or never computed) is skipped;
the returned list says what was written and its ``skipped`` dict why the rest
was not.  Cadenced metrics are drawn only at their computed rows (NaN / −1 rows
are left out), as markers joined by lines.

Bounds far from the data.  A bound within 5× of the data's range is drawn as a
line on a linear axis; one 5–100× beyond it switches the axis to log scale so
both fit; one more than 100× (two decades) beyond is not drawn in the axes at
all -- it would squash the data into a sliver -- but keeps its legend entry
with its value and "off scale (N× the data)".  Lemma 4.3's conditions and the
halving of Def 4.5 are marked where they fail, with the verdict `validate` gives
(``check_result``): red crosses when the check fails with its premises met,
hollow grey circles labelled "premise not met (m ≥ 36n⁴/λ⁴ (m/m_req = …))" or
"premise not checkable (…)" when it does not (grey shading where the drift left
the radius).

matplotlib is imported only when a figure is drawn (``import simulator`` does
not need it), with the Agg canvas and no pyplot state: nothing is displayed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from simulator.engine.trace import Trace

__all__ = ["FIGURES", "PlotDependencyError", "PlotResult", "plot_trace", "figure_paths"]

#: figure keys, in the order they are drawn (file name: <stem>-<key>.png)
FIGURES = ("loss", "fire", "drift", "lambda-min", "gram-dev", "flips",
           "s001-loss", "s001-union", "s001-work", "s001-lsh",
           "s004-residual", "s004-sparsity", "s004-drift", "s004-sketch", "s004-rank", "phases")

MISSING_MATPLOTLIB = "plotting needs matplotlib: pip install 'simulator[plot]'"

DPI = 150
SIZE = (6.4, 5.2)           # inches (the legend sits below the axes)
LINEAR_LIMIT = 5.0          # a bound up to 5x beyond the data fits a linear axis
LOG_LIMIT = 100.0           # up to 100x: switch to log; beyond: off scale (legend only)
DATA_COLOR = "#1f4e9c"
BOUND_COLOR = "#c0392b"
REF_COLOR = "#555555"
PREMISE_COLOR = "#7f7f7f"   # rows beyond a bound whose premise is not met (or not checkable): no contradiction
BAND_ALPHA = 0.22


class PlotDependencyError(ImportError):
    """matplotlib is not installed."""


class PlotResult(list):
    """The written PNG paths (a list of Path); ``skipped`` maps figure -> reason."""

    def __init__(self, paths=(), skipped=None):
        super().__init__(paths)
        self.skipped: dict[str, str] = dict(skipped or {})


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise PlotDependencyError(MISSING_MATPLOTLIB) from None
    return {"Figure": Figure, "Canvas": FigureCanvasAgg, "Line2D": Line2D, "Patch": Patch,
            "MaxNLocator": MaxNLocator}


# --------------------------------------------------------------------------- data access

def _state_rows(tr, name):
    """(t, values) at the computed rows of a state metric, or None if absent / never computed.

    values has shape (k,) or (k, width); a row counts as computed when every entry is
    finite (floats) or >= 0 (integers, -1 = not computed).
    """
    if name not in tr:
        return None
    arr = np.asarray(tr[name])
    if arr.ndim == 0 or arr.shape[0] == 0:
        return None
    flat = arr.reshape(arr.shape[0], -1)
    if arr.dtype.kind == "f":
        ok = np.all(np.isfinite(flat), axis=1)
    elif arr.dtype.kind in "iu":
        ok = np.all(flat >= 0, axis=1)
    else:
        return None
    if not ok.any():
        return None
    x = np.arange(arr.shape[0]) if tr.kind(name) != "step" else np.arange(1, arr.shape[0] + 1)
    return x[ok], arr[ok].astype(np.float64)


def _attr(tr, key):
    v = tr.attrs.get(key)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _theory_value(tr, fn):
    """fn(tr.attrs) -- a bound read off the trace by the theory module -- or None when the trace
    lacks what it needs (or the value is outside the bound's domain, or not finite)."""
    try:
        v = float(fn(tr.attrs))
    except (KeyError, TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(v, digits=4):
    """A number for a legend: `digits` significant digits, scientific when large or small."""
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e5:
        return f"{v:.{digits}g}"
    mant, exp = f"{v:.{digits - 1}e}".split("e")
    return rf"{mant}$\times10^{{{int(exp)}}}$"


def _subtitle(tr):
    a = tr.attrs
    parts = [str(a.get("scenario_name", "?")), f"solver {a.get('solver', '?')}"]
    dims = [f"{k} = {int(a[k]):,}" for k in ("m", "n", "d") if isinstance(a.get(k), (int, float))]
    if dims:
        parts.append(", ".join(dims))
    theory = []
    if _attr(tr, "b") is not None:
        theory.append(f"b = {_attr(tr, 'b'):.3g}")
    if _attr(tr, "lambda") is not None:
        theory.append(f"λ = {_attr(tr, 'lambda'):.3g}")
    if theory:
        parts.append(", ".join(theory))
    if "seed" in a:
        parts.append(f"seed {a['seed']}")
    status = str(a.get("status", ""))
    if status and status != "completed":
        parts.append(f"status: {status}")
    return "  ·  ".join(parts)


# --------------------------------------------------------------------------- drawing helpers

class _Canvas:
    """One figure: title, subtitle, a single axes; saved to a PNG."""

    def __init__(self, mpl, title, subtitle):
        self.mpl = mpl
        self.fig = mpl["Figure"](figsize=SIZE, dpi=DPI, layout="constrained")
        mpl["Canvas"](self.fig)
        self.fig.suptitle(title, fontsize=12, fontweight="bold")
        self.ax = self.fig.add_subplot()
        self.ax.set_title(subtitle, fontsize=8, color=REF_COLOR)
        self.ax.set_axisbelow(True)
        self.ax.grid(True, which="major", alpha=0.3)
        self.ax.grid(True, which="minor", alpha=0.1)
        self.extra_handles = []

    def integer_x(self, label):
        self.ax.set_xlabel(label)
        self.ax.xaxis.set_major_locator(self.mpl["MaxNLocator"](integer=True))

    def legend(self):
        """Below the axes, so it never hides data whatever the trace holds."""
        handles, labels = self.ax.get_legend_handles_labels()
        handles += self.extra_handles
        labels += [h.get_label() for h in self.extra_handles]
        if handles:
            self.fig.legend(handles, labels, loc="outside lower center", ncol=2 if len(handles) > 3 else 1,
                            fontsize=7.5, frameon=False)


def _bounds_layout(data, bounds, force_log=False):
    """Decide the y scale and which bounds are drawn in the axes.

    data: the finite data values; bounds: [value, ...]. Returns (log, [on_scale: bool], [factor]),
    factor = how far the bound lies beyond the data range (1 if inside).
    """
    data = np.asarray(data, dtype=np.float64)
    data = data[np.isfinite(data)]
    pos = data[data > 0]
    dmax = float(data.max()) if data.size else 1.0
    dmin = float(pos.min()) if pos.size else dmax
    log = force_log or (pos.size > 0 and dmax / dmin > LOG_LIMIT)
    factors = []
    for v in bounds:
        if v is None or not math.isfinite(v) or v <= 0 or dmax <= 0:
            factors.append(1.0)
        else:
            factors.append(max(v / dmax, (dmin / v) if log else 1.0, 1.0))
    on = []
    for f in factors:
        if f <= LINEAR_LIMIT:
            on.append(True)
        elif f <= LOG_LIMIT:
            on.append(True)
            log = True
        else:
            on.append(False)
    return log, on, factors


def _draw_bounds(cv, bounds, on, factors):
    """bounds: [(value, label, style kwargs)]; on-scale ones as horizontal lines, others in the legend.

    The label's "{v}" is replaced by the value (else " = value" is appended)."""
    Line2D = cv.mpl["Line2D"]
    for (value, label, style), inside, f in zip(bounds, on, factors):
        if value is None or not math.isfinite(value):
            continue
        style = {"color": BOUND_COLOR, "linestyle": "--", "linewidth": 1.4, **style}
        text = label.replace("{v}", _fmt(value)) if "{v}" in label else f"{label} = {_fmt(value)}"
        if inside:
            cv.ax.axhline(value, label=text, **style)
        else:
            times = f"{f:,.0f}" if f < 1e6 else _fmt(f, 2)
            note = f"↑ off scale: {times}× the largest value shown"
            cv.extra_handles.append(Line2D([], [], label=f"{text}\n{note}", **style))


def _set_scale(cv, log):
    if log:
        cv.ax.set_yscale("log")


def _band(cv, x, values, label_mean, label_band, color=DATA_COLOR):
    """Mean over points with a min–max band, for (k, n) per-point arrays."""
    mean, lo, hi = values.mean(axis=1), values.min(axis=1), values.max(axis=1)
    cv.ax.fill_between(x, lo, hi, color=color, alpha=BAND_ALPHA, linewidth=0, label=label_band)
    cv.ax.plot(x, mean, "o-", color=color, markersize=_ms(len(x)), linewidth=1.6, label=label_mean)
    return np.concatenate([lo, hi])


def _ms(k, big=4.0):
    """Marker size for a line of k points: full up to 40 points, then smaller so dense runs stay legible."""
    return big if k <= 40 else big * 0.5 if k <= 150 else 0.0


def check_result(tr, key):
    """The result `validate` gives for the check `key` on this trace (the record's own evaluate, so a figure
    shows the same verdict), or None when the record is unknown or cannot read the trace."""
    from simulator import theory

    try:
        return theory.find_check(key).evaluate(tr)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def verdict_label(result):
    """How a figure names the verdict on the bound it draws: "" for fails or no result (the marks are
    violations), else e.g. "premise not met (m ≥ 36n⁴/λ⁴ (m/m_req = 1.7·10⁻¹⁰))" or "premise not checkable
    (m ≥ poly(n, L, 1/λ): not checkable)"."""
    from simulator.theory import PREMISE_NOT_CHECKABLE, PREMISE_NOT_MET

    if not result or result.get("status") not in (PREMISE_NOT_MET, PREMISE_NOT_CHECKABLE):
        return ""
    reason = result.get("premise_reason") or ""
    return f"{result['status']} ({reason})" if reason else result["status"]


def _mark_violations(cv, x, y, bad, label, total=None, noun="rows", result=None):
    """Mark the rows where a bound is not met. `result`: the check's result on this trace (``check_result``):
    when its verdict is "premise not met" or "premise not checkable" the rows are drawn as hollow grey circles
    and the legend says so with the deciding premise (they contradict nothing); otherwise red crosses."""
    if np.any(bad):
        total = len(bad) if total is None else total
        k = len(x)
        size = 9 if k <= 40 else 5 if k <= 150 else 3
        text = f"{label} ({int(np.sum(bad))} of {total} {noun})"
        why = verdict_label(result)
        if why:
            cv.ax.plot(x[bad], y[bad], "o", markerfacecolor="none", markeredgecolor=PREMISE_COLOR, markersize=size,
                       markeredgewidth=1.6 if k <= 40 else 1.0, label=f"{text}:\n{why}", zorder=5)
        else:
            cv.ax.plot(x[bad], y[bad], "x", color=BOUND_COLOR, markersize=size,
                       markeredgewidth=2 if k <= 40 else 1.2, label=text, zorder=5)


def _verdict_note(cv, result, what):
    """A legend line giving `validate`'s verdict on the bound a figure draws without marking rows."""
    if not result or result.get("status") is None:
        return
    why = verdict_label(result)
    text = f"validate, {what}: {why or result['status']}"
    if not why and result.get("premise_reason"):
        text += f" (premise {result['premise_reason']})"
    cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label=text))


# --------------------------------------------------------------------------- the figures

X_STATE = "iteration t (state after t steps)"
X_STEP = "step s (from state s−1 to s)"


def _fig_phases(tr, cv):
    if "phase_seconds" not in tr:
        return "no 'phase_seconds' metric in the trace"
    arr = np.asarray(tr["phase_seconds"], dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        return "'phase_seconds' has no rows"
    ok = np.all(np.isfinite(arr), axis=1)
    if not ok.any():
        return "'phase_seconds' was never recorded"
    s = np.arange(1, arr.shape[0] + 1)[ok]
    arr = arr[ok]
    names = tr.metric_attrs("phase_seconds").get("phases") or [f"phase {j}" for j in range(arr.shape[1])]
    if isinstance(names, str):
        names = [names]
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
    bottom = np.zeros(len(s))
    width = 0.8 if len(s) <= 200 else 1.0
    for j in range(arr.shape[1]):
        label = names[j] if j < len(names) else f"phase {j}"
        cv.ax.bar(s, arr[:, j], width=width, bottom=bottom, color=colors[j % len(colors)],
                  label=f"{label} (median {_fmt(float(np.median(arr[:, j])))} s)",
                  edgecolor="white" if len(s) <= 60 else "none", linewidth=0.4)
        bottom += arr[:, j]
    if "step_seconds" in tr:
        st = np.asarray(tr["step_seconds"], dtype=np.float64)[ok]
        good = np.isfinite(st)
        label = "whole step, timed (phases + rest)"
        if len(s) <= 60:
            cv.ax.plot(s[good], st[good], "k_", markersize=14, markeredgewidth=1.6, label=label)
        else:
            cv.ax.plot(s[good], st[good], "-", color="black", linewidth=0.7, label=label)
    init = _attr(tr, "init_seconds")
    if init is not None:
        cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label=f"init (not shown): {_fmt(init)} s"))
    cv.ax.set_ylim(bottom=0)
    cv.ax.set_ylabel(f"wall-clock time per step ({tr.units('phase_seconds') or 's'})")
    cv.integer_x(X_STEP)
    cv.legend()


def _specs(tr):
    """{figure key: (title, draw function)}: the figures of the papers whose theory applies to the
    trace (its model, simulator.theory), then the timing figure.

    A paper's figures live in simulator.engine.figures_<paper> (it imports this module's helpers,
    so it is loaded here, when figures are drawn, not at import); a paper without one adds none."""
    import importlib

    from simulator import theory

    specs = {}
    for name in theory.MODEL_PAPERS.get(theory.model_of(tr.attrs), ()):
        try:
            module = importlib.import_module(f"simulator.engine.figures_{name}")
        except ModuleNotFoundError:
            continue
        specs.update(module.FIGURES)
    specs["phases"] = ("Time per step by phase", _fig_phases)
    return specs


# --------------------------------------------------------------------------- entry point

def save_figures(drawn, targets, outdir, overwrite):
    """Write the drawn canvases [(key, canvas)] to targets[key] as PNGs; returns the paths. Without
    `overwrite`, refuses (FileExistsError) before writing anything if one exists; each file is written
    beside its target and renamed into place, so a reader never sees half a PNG."""
    if not overwrite:
        existing = [str(targets[key]) for key, _ in drawn if targets[key].exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise FileExistsError(f"{existing[0]} exists{more}; use --overwrite (overwrite=True from Python) to replace")
    if drawn:
        Path(outdir).mkdir(parents=True, exist_ok=True)
    paths = []
    for key, cv in drawn:
        path = targets[key]
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            # "tight" grows the canvas if a long legend would otherwise be cut at the edge
            cv.fig.savefig(tmp, format="png", dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.1)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        paths.append(path)
    return paths


def figure_paths(trace_path, outdir):
    """{figure key: the PNG path it is written to}."""
    stem = Path(os.fspath(trace_path)).stem
    return {key: Path(outdir) / f"{stem}-{key}.png" for key in FIGURES}


def plot_trace(trace_path, outdir, overwrite=False, figures=None) -> PlotResult:
    """Write the figures of a trace as PNGs into outdir (created if needed); returns their paths.

    trace_path is a path or an open Trace. The result is a list of Path with a ``skipped``
    dict (figure -> reason). Raises PlotDependencyError without matplotlib, TraceError for
    a file that is not a trace, FileExistsError when a PNG to be written exists and
    overwrite is false (checked before anything is written; only the figures that have data
    count, so an old PNG of a figure skipped now is left alone). ``figures`` None: every figure
    of the trace's model; a figure asked for by name that its model does not have is skipped
    with that reason.
    """
    mpl = _matplotlib()
    own = not isinstance(trace_path, Trace)
    tr = Trace(trace_path) if own else trace_path
    try:
        targets = figure_paths(tr.path, outdir)
        specs = _specs(tr)
        if figures is None:
            figures = [key for key in FIGURES if key in specs]
        unknown = [f for f in figures if f not in FIGURES]
        if unknown:
            raise ValueError(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
        drawn, result = [], PlotResult()
        subtitle = _subtitle(tr)
        for key in figures:              # drawing is cheap; saving (rendering) is what costs
            if key not in specs:
                result.skipped[key] = "not a figure of this trace's model"
                continue
            title, draw = specs[key]
            cv = _Canvas(mpl, title, subtitle)
            reason = draw(tr, cv)
            if reason:
                result.skipped[key] = reason
            else:
                drawn.append((key, cv))
        result.extend(save_figures(drawn, targets, outdir, overwrite))
        return result
    finally:
        if own:
            tr.close()
