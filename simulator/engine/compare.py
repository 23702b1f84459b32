"""Runs on one problem side by side, for `simulator compare`: a table and overlaid figures.

``problem_differences(traces)`` says whether the traces are runs on the same problem (the
model's sizes and parameters, then the data); ``compare_rows(traces, target)`` gives one row
(a dict) per run: solver and the options that tell the runs apart, iterations, status, losses,
timings and the time to reach ``target``·loss₀; ``format_table(rows)`` lays them out with one
column per run; ``plot_compare(traces, outdir)`` draws the figures below, one line per run.

============== ==============================================================
loss           training loss against iteration t (log y)
loss-time      training loss against wall-clock seconds: init + the timed steps so far
fire           fire-set sizes against t: mean |S_i(t)| over the points (solid) and
               |∪_i S_i(t)| (dashed)
drift          max_r ‖w_r(t) − w_r(0)‖ against t
============== ==============================================================

The same problem: the root attrs in ``PROBLEM_ATTRS`` agree (``b`` and, for the multilayer
model, ``layers``, ``alpha`` and ``seed`` — its frozen layers are drawn from the seed — are the
network's parameters besides the sizes), and /data/X and /data/y are equal; a trace without
/data/X is matched on ``seed`` and the scenario's [data] table instead. The initial weights are
not compared: runs from different initialisations of one problem may be compared.

No click here (the command line is thin); matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path

import numpy as np

from simulator.engine.trace import Trace

__all__ = ["COMPARE_FIGURES", "DEFAULT_TARGET", "PROBLEM_ATTRS", "compare_rows", "differing_options",
           "display_names", "figure_paths", "format_table", "plot_compare", "problem_differences",
           "problem_summary", "run_labels", "time_to_target"]

#: default of --target: the loss to reach, relative to each run's initial loss
DEFAULT_TARGET = 1e-6
#: root attrs that define the problem (compared when either trace has them)
PROBLEM_ATTRS = ("model", "n", "d", "m", "b", "layers", "alpha")
#: per model, further root attrs that define the problem
MODEL_ATTRS = {"multilayer": ("seed",)}
#: the keys of the scenario's [data] table that matter, per data kind (the rest are ignored by data.py)
DATA_KEYS = {"sphere": ("kind", "n", "d", "labels"),
             "clusters": ("kind", "n", "d", "labels", "clusters", "noise"),
             "file": ("kind", "n", "d", "path")}
#: figure keys in the order drawn; the file is <outdir>/compare-<key>.png
COMPARE_FIGURES = ("loss", "loss-time", "fire", "drift")

_COLORS = ("#1f4e9c", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
           "#ccb974", "#64b5cd")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


# --------------------------------------------------------------------------- naming

def display_names(traces):
    """A short name per trace for tables and messages: the file name, or the path when two names clash."""
    paths = [os.fspath(tr.path) for tr in traces]
    base = [os.path.basename(p) for p in paths]
    return base if len(set(base)) == len(base) else paths


def run_labels(traces):
    """A legend label per run, ``scenario/solver``; the trace's stem is added where two runs share one."""
    labels = [f"{tr.attrs.get('scenario_name', '?')}/{tr.attrs.get('solver', '?')}" for tr in traces]
    dup = {lab for lab in labels if labels.count(lab) > 1}
    return [f"{lab} [{Path(os.fspath(tr.path)).stem}]" if lab in dup else lab for lab, tr in zip(labels, traces)]


# --------------------------------------------------------------------------- same problem?

def _same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return a == b


def _show(v):
    return "absent" if v is None else f"{v:.6g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)


def _data_table(tr):
    """The scenario's [data] table, restricted to the keys its kind uses ({} if unreadable)."""
    try:
        data = tomllib.loads(str(tr.attrs.get("scenario_toml", ""))).get("data", {})
    except tomllib.TOMLDecodeError:
        return {}
    keys = DATA_KEYS.get(data.get("kind"), tuple(data))
    return {k: data.get(k) for k in keys}


def _array(tr, name):
    return np.asarray(tr[name]) if name in tr else None


def problem_differences(traces, names=None):
    """What makes the traces different problems: one message per difference, each against the first trace.

    Empty when they are runs on the same problem. Attribute differences come first; another model
    is the only difference reported for its trace, and the data are compared only when n and d
    agree (else the size difference says it all).
    """
    names = names or display_names(traces)
    out = []
    for tr, name in zip(traces[1:], names[1:]):
        out += _pair_differences(traces[0], names[0], tr, name)
    return out


def _pair_differences(first, ref, tr, name):
    model, other = first.attrs.get("model"), tr.attrs.get("model")
    if not _same_value(model, other):
        return [f"model differs between {ref} ({_show(model)}) and {name} ({_show(other)})"]
    out, sized = [], True
    for key in PROBLEM_ATTRS[1:] + MODEL_ATTRS.get(model, ()):
        a, b = first.attrs.get(key), tr.attrs.get(key)
        if (a is not None or b is not None) and not _same_value(a, b):
            out.append(f"{key} differs between {ref} ({_show(a)}) and {name} ({_show(b)})")
            sized = sized and key not in ("n", "d")
    if not sized:
        return out
    X0, X1 = _array(first, "data/X"), _array(tr, "data/X")
    if X0 is not None and X1 is not None:
        pairs = (("/data/X", X0, X1), ("/data/y", _array(first, "data/y"), _array(tr, "data/y")))
        differ = [key for key, u, v in pairs if u is None or v is None or u.shape != v.shape
                  or not np.array_equal(u, v)]
        if differ:
            out.append(f"{' and '.join(differ)} differ{'s' if len(differ) == 1 else ''} between {ref} and {name}")
        return out
    # a trace without /data/X: the seed and the scenario's data table regenerate it
    a, b = first.attrs.get("seed"), tr.attrs.get("seed")
    if not _same_value(a, b) and "seed" not in MODEL_ATTRS.get(model, ()):
        out.append(f"seed differs between {ref} ({_show(a)}) and {name} ({_show(b)}) (no /data/X to compare)")
    da, db = _data_table(first), _data_table(tr)
    for key in sorted(set(da) | set(db)):
        if not _same_value(da.get(key), db.get(key)):
            out.append(f"data.{key} differs between {ref} ({_show(da.get(key))}) and {name} "
                       f"({_show(db.get(key))}) (no /data/X to compare)")
    return out


def problem_summary(traces):
    """The shared problem in one line (of the first trace), e.g. 'two-layer, m = 16384, n = 16, d = 32, b = 2.158'."""
    a = traces[0].attrs
    parts = [str(a.get("model", "?"))]
    parts += [f"{k} = {a[k]:.4g}" if isinstance(a[k], float) else f"{k} = {a[k]}"
              for k in ("m", "n", "d", "b", "layers", "alpha") if k in a]
    seeds = {tr.attrs.get("seed") for tr in traces}
    if len(seeds) == 1 and None not in seeds:
        parts.append(f"seed {seeds.pop()}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- the table

def _finite(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _loss_and_steps(tr):
    loss = np.asarray(tr["loss"], dtype=np.float64) if "loss" in tr else np.zeros(0)
    steps = np.asarray(tr["step_seconds"], dtype=np.float64) if "step_seconds" in tr else np.zeros(0)
    return loss, steps


def time_to_target(loss, step_seconds, init_seconds, target):
    """(seconds, t) to the first state t with loss[t] <= target·loss[0]: init + the first t step times.

    (None, None) when no state gets there; (None, t) when it does but a time it needs is missing.
    """
    loss = np.asarray(loss, dtype=np.float64)
    if loss.size == 0 or not math.isfinite(loss[0]):
        return None, None
    hit = np.flatnonzero(np.isfinite(loss) & (loss <= target * loss[0]))
    if hit.size == 0:
        return None, None
    t = int(hit[0])
    steps = np.asarray(step_seconds, dtype=np.float64)[:t]
    init = _finite(init_seconds)
    if init is None or steps.size < t or not np.all(np.isfinite(steps)):
        return None, t
    return init + float(steps.sum()), t


def _option_value(v):
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return v


def differing_options(traces):
    """The solver_* attrs shown: solver_direction, then those whose value differs between the runs
    (a run without the attr counts as different), sorted."""
    keys = sorted({k for tr in traces for k in tr.attrs if k.startswith("solver_")} - {"solver_direction"})
    out = ["solver_direction"]
    for key in keys:
        values = [tr.attrs.get(key) for tr in traces]
        if any(v is None for v in values) or any(not _same_value(values[0], v) for v in values[1:]):
            out.append(key)
    return out


def compare_rows(traces, target=DEFAULT_TARGET, names=None):
    """One dict per run (in the given order).

    Keys: trace (path), name (short), label (scenario/solver), scenario, solver, options
    ({solver_* attr: value} for ``differing_options``; None where the run lacks it), iterations,
    status, loss0, final_loss (the last finite loss), init_seconds, median_step_seconds,
    time_to_target (init + step seconds until loss <= target·loss0; None if never),
    target_iteration, step_ratio (median step / the first run's). Missing numbers are None.
    """
    if not (target > 0 and math.isfinite(target)):
        raise ValueError(f"target must be a positive number, got {target}")
    names = names or display_names(traces)
    labels = run_labels(traces)
    options = differing_options(traces)
    rows = []
    for tr, name, label in zip(traces, names, labels):
        a = tr.attrs
        loss, steps = _loss_and_steps(tr)
        finite = loss[np.isfinite(loss)]
        ok_steps = steps[np.isfinite(steps)]
        seconds, t_hit = time_to_target(loss, steps, a.get("init_seconds"), target)
        rows.append({
            "trace": os.fspath(tr.path),
            "name": name,
            "label": label,
            "scenario": a.get("scenario_name"),
            "solver": a.get("solver"),
            "options": {k: _option_value(a.get(k)) for k in options},
            "iterations": tr.iterations,
            "status": tr.status,
            "loss0": _finite(loss[0]) if loss.size else None,
            "final_loss": float(finite[-1]) if finite.size else None,
            "init_seconds": _finite(a.get("init_seconds")),
            "median_step_seconds": float(np.median(ok_steps)) if ok_steps.size else None,
            "time_to_target": seconds,
            "target_iteration": t_hit,
        })
    base = rows[0]["median_step_seconds"]
    for r in rows:
        s = r["median_step_seconds"]
        r["step_ratio"] = s / base if s is not None and base else None
    return rows


def _cell(v, fmt):
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, fmt)
    return str(v)


def format_table(rows, target=DEFAULT_TARGET):
    """The rows as text, one column per run (headed by the trace's short name), one line per quantity."""
    lines = [("trace", [r["name"] for r in rows]),
             ("scenario", [_cell(r["scenario"], "") for r in rows]),
             ("solver", [_cell(r["solver"], "") for r in rows])]
    for key in rows[0]["options"]:
        lines.append((key, [_cell(r["options"].get(key), ".4g") for r in rows]))
    lines += [("iterations", [str(r["iterations"]) for r in rows]),
              ("status", [r["status"] or "-" for r in rows]),
              ("loss0", [_cell(r["loss0"], ".4e") for r in rows]),
              ("final loss", [_cell(r["final_loss"], ".4e") for r in rows]),
              ("init (s)", [_cell(r["init_seconds"], ".4g") for r in rows]),
              ("median step (s)", [_cell(r["median_step_seconds"], ".4g") for r in rows])]
    reach = []
    for r in rows:
        if r["target_iteration"] is None:
            reach.append("not reached")
        elif r["time_to_target"] is None:
            reach.append(f"? (t={r['target_iteration']})")
        else:
            reach.append(f"{r['time_to_target']:.4g} (t={r['target_iteration']})")
    lines.append((f"time to {target:g}·loss0 (s)", reach))
    lines.append(("median step / first run's",
                  [f"{r['step_ratio']:.3g}×" if r["step_ratio"] is not None else "-" for r in rows]))
    w0 = max(len(label) for label, _ in lines)
    widths = [max(len(cells[j]) for _, cells in lines) for j in range(len(rows))]
    out = []
    for label, cells in lines:
        out.append(f"{label:{w0}s}  " + "  ".join(f"{c:{w}s}" for c, w in zip(cells, widths)).rstrip())
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- the figures

def figure_paths(outdir):
    """{figure key: the PNG it is written to}."""
    return {key: Path(outdir) / f"compare-{key}.png" for key in COMPARE_FIGURES}


def _style(j, runs, k, stacked=True):
    """Line style of run j of `runs`, drawn with k points: its colour and hollow marker. stacked (the
    figures against iteration, where exact solvers' curves coincide): earlier runs are drawn wider and
    beneath, so every run stays visible."""
    wider = min(runs - 1 - j, 4) if stacked else 0
    return {"color": _COLORS[j % len(_COLORS)], "marker": _MARKERS[j % len(_MARKERS)], "markerfacecolor": "none",
            "markersize": _ms_for(k) * (1 + 0.35 * wider) if _ms_for(k) else 0.0,
            "linewidth": 1.3 + 0.9 * wider, "markeredgewidth": 1.2, "zorder": 2 + j}


def _ms_for(k):
    return 5.0 if k <= 40 else 3.0 if k <= 150 else 0.0


def _cadence_note(cv, label, t, tr):
    """A legend note when a run's metric was taken at only some states (metrics.every)."""
    if tr.iterations + 1 > len(t) and len(t) > 0:
        _note(cv, f"{label}: taken at {len(t)} of {tr.iterations + 1} states (metrics.every), joined by lines")


def _note(cv, text):
    cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label=text))


def _log_if_wide(ax, values, axis="y"):
    """Log scale when the positive values span more than two decades; returns whether it did."""
    from simulator.engine.plots import LOG_LIMIT

    v = np.concatenate([np.ravel(x) for x in values]) if values else np.zeros(0)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() / v.min() > LOG_LIMIT:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        return True
    return False


def _missing(cv, labels, lacking, metric):
    if lacking:
        _note(cv, f"no '{metric}' in: {', '.join(labels[j] for j in lacking)}")


def _fig_loss(runs, cv, target):
    from simulator.engine.plots import X_STATE, _state_rows

    drawn, lacking, loss0 = 0, [], []
    for j, (tr, label) in enumerate(runs):
        rows = _state_rows(tr, "loss")
        if rows is None:
            lacking.append(j)
            continue
        t, loss = rows
        pos = loss > 0
        if t[0] == 0:
            loss0.append(loss[0])
        cv.ax.plot(t[pos], loss[pos], label=label, **_style(j, len(runs), int(pos.sum())))
        drawn += 1
    if not drawn:
        return "no trace has a 'loss' metric"
    _target_line(cv, loss0, len(runs), target)
    _missing(cv, [lab for _, lab in runs], lacking, "loss")
    cv.ax.set_yscale("log")
    cv.ax.set_ylabel("training loss ½‖f − y‖² (log scale)")
    cv.integer_x(X_STATE)
    cv.legend()


def _target_line(cv, loss0, k, target):
    if target is None or not loss0:
        return
    if len(loss0) == k and np.allclose(loss0, loss0[0], rtol=1e-9, atol=0):
        cv.ax.axhline(target * loss0[0], color="0.35", linestyle=":", linewidth=1.2,
                      label=f"target {target:g}·loss₀")
    else:
        _note(cv, f"target {target:g}·loss₀ differs between runs (their loss₀ differ): not drawn")


def _fig_loss_time(runs, cv, target):
    from simulator.engine.plots import _state_rows

    drawn, lacking, loss0, xs = 0, [], [], []
    for j, (tr, label) in enumerate(runs):
        rows = _state_rows(tr, "loss")
        init = _finite(tr.attrs.get("init_seconds"))
        if rows is None or init is None or "step_seconds" not in tr:
            lacking.append(j)
            continue
        t, loss = rows
        steps = np.asarray(tr["step_seconds"], dtype=np.float64)
        clock = init + np.concatenate([[0.0], np.cumsum(steps)])    # seconds at state t
        keep = (t < clock.size) & (loss > 0)
        t, loss = t[keep].astype(int), loss[keep]
        x = clock[t]
        keep = np.isfinite(x)
        if not keep.any():
            lacking.append(j)
            continue
        if t[0] == 0:
            loss0.append(loss[0])
        cv.ax.plot(x[keep], loss[keep], label=label, **_style(j, len(runs), int(keep.sum()), stacked=False))
        xs.append(x[keep])
        drawn += 1
    if not drawn:
        return "no trace has 'loss', 'step_seconds' and the attr init_seconds"
    _target_line(cv, loss0, len(runs), target)
    if lacking:
        _note(cv, "no loss, step_seconds or init_seconds in: " + ", ".join(runs[j][1] for j in lacking))
    cv.ax.set_yscale("log")
    log_x = _log_if_wide(cv.ax, xs, axis="x")
    cv.ax.set_ylabel("training loss ½‖f − y‖² (log scale)")
    cv.ax.set_xlabel("wall-clock seconds: init + timed steps so far" + (" (log scale)" if log_x else ""))
    _note(cv, "the first point of each run is at its init time (t = 0)")
    cv.legend()


def _fig_fire(runs, cv, target):
    from simulator.engine.plots import X_STATE, _state_rows

    drawn, lacking, values = 0, [], []
    for j, (tr, label) in enumerate(runs):
        fire, union = _state_rows(tr, "fire_count"), _state_rows(tr, "union_fire")
        if fire is None and union is None:
            lacking.append(j)
            continue
        if fire is not None:
            t, k = fire
            mean = k.mean(axis=1) if k.ndim == 2 else k
            cv.ax.plot(t, mean, **_style(j, len(runs), len(t)), label=f"{label}: mean over points of |S_i|")
            values.append(mean)
            _cadence_note(cv, f"{label} fire_count", t, tr)
        if union is not None:
            t, u = union
            cv.ax.plot(t, u, **{**_style(j, len(runs), len(t)), "linestyle": "--"}, label=f"{label}: |∪_i S_i|")
            values.append(u)
            _cadence_note(cv, f"{label} union_fire", t, tr)
        drawn += 1
    if not drawn:
        return "no trace has a 'fire_count' or 'union_fire' metric"
    if lacking:
        _note(cv, "no 'fire_count' or 'union_fire' in: " + ", ".join(runs[j][1] for j in lacking))
    log = _log_if_wide(cv.ax, values)
    cv.ax.set_ylabel("neurons (count)" + (" (log scale)" if log else ""))
    cv.integer_x(X_STATE)
    cv.legend()


def _fig_drift(runs, cv, target):
    from simulator.engine.plots import X_STATE, _state_rows

    drawn, lacking, values = 0, [], []
    for j, (tr, label) in enumerate(runs):
        rows = _state_rows(tr, "drift_max")
        if rows is None:
            lacking.append(j)
            continue
        t, v = rows
        cv.ax.plot(t, v, label=label, **_style(j, len(runs), len(t)))
        _cadence_note(cv, label, t, tr)
        values.append(v)
        drawn += 1
    if not drawn:
        return "no trace has a 'drift_max' metric"
    _missing(cv, [lab for _, lab in runs], lacking, "drift_max")
    log = _log_if_wide(cv.ax, values)
    if not log:
        cv.ax.set_ylim(bottom=0)
    cv.ax.set_ylabel("max drift max_r ‖w_r(t) − w_r(0)‖₂" + (" (log scale)" if log else ""))
    cv.integer_x(X_STATE)
    cv.legend()


_SPECS = {"loss": ("Loss by iteration", _fig_loss),
          "loss-time": ("Loss against wall-clock time", _fig_loss_time),
          "fire": ("Fire-set sizes", _fig_fire),
          "drift": ("Largest neuron drift", _fig_drift)}


def plot_compare(traces, outdir, overwrite=False, target=DEFAULT_TARGET, labels=None):
    """Write the figures overlaying the runs into outdir (created if needed) as compare-<key>.png.

    traces: open Traces or paths. Returns a plots.PlotResult (the written paths, ``skipped``:
    figure -> reason, for a figure whose metric no trace has). Raises PlotDependencyError
    without matplotlib; FileExistsError when a PNG to be written exists and overwrite is false
    (checked before anything is written).
    """
    from simulator.engine.plots import PlotResult, _Canvas, _matplotlib, save_figures

    mpl = _matplotlib()
    opened = [Trace(t) for t in traces if not isinstance(t, Trace)]
    it = iter(opened)
    trs = [t if isinstance(t, Trace) else next(it) for t in traces]
    try:
        labels = labels or run_labels(trs)
        runs = list(zip(trs, labels))
        subtitle = f"{len(trs)} runs  ·  " + problem_summary(trs)
        targets = figure_paths(outdir)
        drawn, result = [], PlotResult()
        for key in COMPARE_FIGURES:
            title, draw = _SPECS[key]
            cv = _Canvas(mpl, title, subtitle)
            reason = draw(runs, cv, target)
            if reason:
                result.skipped[key] = reason
            else:
                drawn.append((key, cv))
        result.extend(save_figures(drawn, targets, outdir, overwrite))
        return result
    finally:
        for tr in opened:
            tr.close()
