"""The figures of a trace against the statements of seed 001 (docs/theory.md §8), drawn on plots' canvases.

========== ================================================================
s001-loss  training loss ½‖u(t)−y‖² (log y) with Lemma 5.2's envelope
           ½(1 − ηλ/2)^t‖u(0)−y‖²; gradient runs only
s001-union |∪_i S_i(t)| (neurons firing somewhere) and the mean fire count
           over t, against Lemma 3.4's 2m·e^{−b²/2} (per point) and
           n·2m·e^{−b²/2} (the union, as Lemma 4.1's proof bounds it)
s001-work  per-step work of the half-space-reporting structure in counts
           (Lemma 4.1): query_nodes, update_nodes, d·fire_total and their
           sum, against dense GD's m·n·d per step
s001-lsh   an approximate index (LSH): firing neurons missed and neurons
           falsely reported per step, and the loss gap to exact GD
========== ================================================================

Every bound value and every judgement (Lemma 5.2's rows, the union's growth) comes from
``simulator.theory.seed001``, which `validate` uses too; this module only draws. The keys are prefixed
``s001-`` so they never collide with seed 002's figures. No matplotlib import here: the canvas carries it.
"""

import numpy as np

from simulator.engine.plots import (BOUND_COLOR, DATA_COLOR, REF_COLOR, X_STATE, X_STEP, _attr, _bounds_layout,
                                    _draw_bounds, _fmt, _mark_violations, _ms, _set_scale, _state_rows,
                                    _theory_value, _verdict_note, check_result)
from simulator.theory import seed001

_COLORS = {"query": "#4c72b0", "update": "#dd8452", "fire": "#55a868", "total": "#1a1a1a", "cand": "#8172b3"}


def _legend_note(cv, text):
    cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label=text))


def _fig_loss(tr, cv):
    a = tr.attrs
    direction = seed001.direction_of(a)
    if direction != "gradient":
        what = "does not record its step direction" if direction is None else f"took '{direction}' steps"
        return f"Lemma 5.2 is about gradient descent; this run {what} (solver_direction)"
    rows = _state_rows(tr, "loss")
    if rows is None:
        return "no 'loss' metric in the trace"
    eta, lam = _attr(tr, "solver_learning_rate"), _attr(tr, "lambda")
    if eta is None or lam is None or eta <= 0 or lam <= 0:
        return "the trace does not record η (attr solver_learning_rate) and λ > 0: no Lemma 5.2 envelope"
    factor = seed001.lemma_5_2_factor(eta, lam)
    if factor <= 0:
        return f"ηλ/2 = {eta * lam / 2:.3g} ≥ 1: Lemma 5.2's envelope (1 − ηλ/2)^t is no bound"
    t, loss = rows
    if t[0] != 0:
        return "no loss at t = 0: the envelope needs ‖u(0) − y‖"
    pos = loss > 0
    if not pos.any():
        return "the loss is 0 at every row (nothing to show on a log axis)"
    ax = cv.ax
    tt = np.arange(0, t[-1] + 1)
    res = np.full(tt.size, np.nan)
    res[t.astype(int)] = np.sqrt(2.0 * loss)
    env_sq, judged, fails = seed001.lemma_5_2_judgement(res, eta, lam)
    ax.plot(t[pos], loss[pos], "o-", color=DATA_COLOR, markersize=_ms(int(pos.sum())), linewidth=1.6,
            label=r"loss $\frac{1}{2}\|u(t)-y\|_2^2$")
    ax.plot(tt, 0.5 * env_sq, "--", color=BOUND_COLOR, linewidth=1.4,
            label=rf"Lemma 5.2 envelope $\frac{{1}}{{2}}(1-\eta\lambda/2)^t\|u(0)-y\|^2$" "\n"
                  rf"($\eta\lambda/2$ = {_fmt(eta * lam / 2, 3)})")
    measured = np.isfinite(res)
    bad = (fails & measured)[t.astype(int)]
    result = check_result(tr, "s001_lemma_5_2")
    _mark_violations(cv, t, loss, bad, "above the envelope", total=int((judged & measured).sum()), noun="rows",
                     result=result)
    if not np.any(bad):
        _verdict_note(cv, result, "Lemma 5.2")
    ratio = _theory_value(tr, seed001.lemma_5_2_step_ratio_of)
    if ratio is not None:
        _legend_note(cv, rf"premise $\eta = O(\lambda/n^2)$: $\eta$ = {_fmt(eta)}, "
                         rf"$\eta/(\lambda/n^2)$ = {_fmt(ratio, 3)}")
    errs = seed001.approximate_errors(tr)
    if errs is not None and (errs[0] > 0 or errs[1] > 0):
        _legend_note(cv, "approximate index: the iterates are not GD's (envelope for reference only)")
    if (~pos).any():
        _legend_note(cv, f"{int((~pos).sum())} rows with loss = 0 not shown")
    ax.set_yscale("log")
    lo, hi = loss[pos].min(), loss[pos].max()
    ax.set_ylim(lo / 10 ** 0.7, max(hi, 0.5 * env_sq[0]) * 10 ** 0.7)
    ax.set_ylabel(f"training loss ({tr.units('loss') or 'dimensionless'})")
    cv.integer_x(X_STATE)
    cv.legend()


def _fig_union(tr, cv):
    rows = _state_rows(tr, "union_fire")
    if rows is None:
        return "no 'union_fire' metric in the trace"
    t, union = rows
    ax = cv.ax
    ax.plot(t, union, "o-", color=DATA_COLOR, markersize=_ms(len(t)), linewidth=1.8,
            label=r"$|\cup_i S_i(t)|$: neurons firing on some point")
    values = [union]
    fire = _state_rows(tr, "fire_count")
    if fire is not None and fire[1].ndim == 2:
        tf, k = fire
        mean = k.mean(axis=1)
        ax.plot(tf, mean, "s-", color=REF_COLOR, markersize=_ms(len(tf), 3.0), linewidth=1.2,
                label=r"mean over the points of $|S_i(t)|$")
        values.append(mean)
    bounds = []
    per_point = _theory_value(tr, seed001.lemma_3_4_fire_bound_of)
    n = _attr(tr, "n")
    if per_point is not None:
        label = r"Lemma 3.4 bound on $|S_i(0)|$: $2m\,e^{-b^2/2}$"
        if seed001.is_seed001_b(_attr(tr, "m"), _attr(tr, "b")):
            label += r" $= 2m^{4/5}$"
        bounds.append((per_point, label, {}))
        m = _attr(tr, "m")
        if n is not None:
            label = r"bound on the union: $n\cdot 2m\,e^{-b^2/2}$ (Lemma 4.1's proof)"
            if m is not None and n * per_point > m:
                label += "\nexceeds m: vacuous at this width"
            bounds.append((n * per_point, label, {"linestyle": "-."}))
        bounds.append((_theory_value(tr, seed001.mean_fire_count_of), r"mean at init $m\,Q(b)$",
                       {"color": REF_COLOR, "linestyle": ":"}))
    m = _attr(tr, "m")
    if m is not None:
        bounds.append((m, "width m (all neurons)", {"color": "0.4", "linestyle": "-", "linewidth": 0.8}))
    log, on, f = _bounds_layout(np.concatenate(values), [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    grew = seed001.union_growth(union)
    _mark_violations(cv, t, union, grew, "union grew (never, for steps W − Jᵀg)", noun="rows",
                     result=check_result(tr, "s001_union_monotone"))
    _set_scale(cv, log)
    if not log:
        ax.set_ylim(bottom=0)
    ax.set_ylabel(f"neurons ({tr.units('union_fire') or 'count'})")
    cv.integer_x(X_STATE)
    cv.legend()


def _step_counts(tr, name):
    """(steps, values) of a step metric's computed rows, or None."""
    return _state_rows(tr, name)  # _state_rows numbers step metrics from 1


def _fig_work(tr, cv):
    q = _step_counts(tr, "query_nodes")
    if q is None:
        return "no 'query_nodes' metric: the run used no half-space-reporting index (Lemma 4.1)"
    d = _attr(tr, "d")
    dense = _theory_value(tr, seed001.dense_gd_cost_of)
    if d is None or dense is None:
        return "the trace does not record m, n, d: no dense-GD reference"
    s, qv = q
    series = {"query": (s, qv, "query_nodes: HSR nodes visited by the queries")}
    u = _step_counts(tr, "update_nodes")
    if u is not None:
        series["update"] = (u[0], u[1], "update_nodes: HSR nodes changed by the updates")
    ft = _step_counts(tr, "fire_total")
    if ft is not None:
        series["fire"] = (ft[0], d * ft[1], r"$d\cdot$fire_total: $d\sum_i k_{i,t}$ (forward and gradient)")
    c = _step_counts(tr, "candidates")
    ax = cv.ax
    for key, (x, y, label) in series.items():
        ax.plot(x, y, "o-", color=_COLORS[key], markersize=_ms(len(x), 3.0), linewidth=1.3, label=label)
    common = s
    for x, _, _ in series.values():
        common = np.intersect1d(common, x)
    total = None
    if common.size:
        total = sum(y[np.isin(x, common)] for x, y, _ in series.values())
        frac = total / dense
        ax.plot(common, total, "-", color=_COLORS["total"], linewidth=2.0,
                label=f"Lemma 4.1 total (median {_fmt(float(np.median(frac)), 3)} of m·n·d)")
    if c is not None:
        ax.plot(c[0], d * c[1], ":", color=_COLORS["cand"], linewidth=1.2,
                label=r"$d\cdot$candidates (drift-slack superset, not in the total)")
    ax.axhline(dense, color=BOUND_COLOR, linestyle="--", linewidth=1.4,
               label=f"dense GD per step: m·n·d = {_fmt(dense)}")
    rb = _step_counts(tr, "rebuilds")
    if rb is not None and np.any(rb[1] > 0):
        for i, x in enumerate(rb[0][rb[1] > 0]):
            ax.axvline(x, color="0.5", linewidth=0.8, linestyle=":",
                       label="step with a structure rebuild" if i == 0 else None)
    if u is None:
        _legend_note(cv, "no 'update_nodes' metric (static structure): updates not counted")
    if ft is None:
        _legend_note(cv, "no 'fire_total' metric: the d·Σ_i k_{i,t} term is not shown")
    idx = tr.attrs.get("solver_index")
    if idx is not None:
        _legend_note(cv, f"index: {idx}")
    ax.set_yscale("log")
    vals = np.concatenate([y[y > 0] for _, y, _ in series.values()] + [np.array([dense])])
    ax.set_ylim(vals.min() / 10 ** 0.5, vals.max() * 10 ** 0.5)
    units = tr.units("query_nodes") or "count"
    ax.set_ylabel(f"work per step ({units}: nodes, or d per fire-set incidence)")
    cv.integer_x(X_STEP)
    cv.legend()


def _fig_lsh(tr, cv):
    missed = _step_counts(tr, "missed")
    if missed is None:
        return "no 'missed' metric: an exact index, the iterates are gradient descent's"
    ax = cv.ax
    s, mv = missed
    ax.plot(s, mv, "o-", color=BOUND_COLOR, markersize=_ms(len(s), 3.0), linewidth=1.4,
            label=f"missed: firing neurons not reported (total {int(np.sum(mv)):,})")
    fr = _step_counts(tr, "false_reported")
    values = [mv]
    if fr is not None:
        ax.plot(fr[0], fr[1], "s-", color="#dd8452", markersize=_ms(len(fr[0]), 3.0), linewidth=1.2,
                label=f"false_reported: reported neurons that do not fire (total {int(np.sum(fr[1])):,})")
        values.append(fr[1])
    v = np.concatenate(values)
    ax.set_ylim(bottom=0, top=max(float(v.max()) * 1.15, 1.0))
    ax.set_ylabel(f"fire-set incidences (i, r) per step ({tr.units('missed') or 'count'})")
    gap = _step_counts(tr, "loss_gap")
    if gap is not None:
        ax2 = ax.twinx()
        ax2.plot(gap[0], gap[1], "-", color=DATA_COLOR, linewidth=1.8, marker=".", markersize=_ms(len(gap[0]), 3.0))
        ax2.axhline(0.0, color=DATA_COLOR, linewidth=0.6, alpha=0.5)
        ax2.set_ylabel(f"loss gap to exact GD ({tr.units('loss_gap') or 'dimensionless'})", color=DATA_COLOR)
        cv.extra_handles.append(cv.mpl["Line2D"]([], [], color=DATA_COLOR, linewidth=1.8,
                                                 label=f"loss gap: this run − exact GD (right axis; final "
                                                       f"{_fmt(float(gap[1][-1]))})"))
    else:
        _legend_note(cv, "no 'loss_gap' metric in the trace")
    _legend_note(cv, "approximate index: the iterates are not gradient descent's (Sec. 7)")
    cv.integer_x(X_STEP)
    cv.legend()


#: {figure key: (title, draw function)}, in drawing order
FIGURES = {
    "s001-loss": ("Training loss against Lemma 5.2 (seed 001)", _fig_loss),
    "s001-union": ("Neurons firing somewhere (seed 001)", _fig_union),
    "s001-work": ("Half-space-reporting work per step (Lemma 4.1)", _fig_work),
    "s001-lsh": ("Approximate index: misses and loss gap (seed 001)", _fig_lsh),
}
