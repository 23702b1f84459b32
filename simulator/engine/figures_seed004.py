"""The figures of a multilayer trace against the claims of seed 004, drawn on plots' canvases.

============= ================================================================
s004-residual ‖f_t − y‖₂ per iteration (log y) with Theorem 1's envelope
              (1/3)^t·‖f_0 − y‖, the steps that contract by less than ⅓ marked
              and the round-off floor (not judged) shaded; Gauss-Newton runs
              get the envelope, gradient runs only the residual
s004-sparsity active neurons per point ‖h_{i,ℓ}‖₀: left, every layer at
              initialisation (layers 1..L−1 are fixed during training);
              right, layer L (the trained one) per iteration; against
              m^{1−α} (the bound) and m·Q(t) (the expectation)
s004-drift    ‖W_L(t) − W_L(0)‖_F against 1.5·‖f_0 − y‖/√λ_min(G_0)
s004-sketch   the measured distortion ε of each step's sketch against the
              solver's target (sketched runs only)
s004-rank     rank of each step ΔW and of the stored factorisation of
              W_L(t) − W_L(0), against n and rank_max + n (or n), folds marked
============= ================================================================

Every bound value and every judgement (Theorem 1's steps, the round-off floor) comes from
``simulator.theory.seed004``, which `validate` uses too; this module only draws. The keys are prefixed
``s004-``. No matplotlib import here: the canvas carries it.
"""

import math

import numpy as np

from simulator.engine.plots import (BOUND_COLOR, DATA_COLOR, REF_COLOR, X_STATE, X_STEP, _attr, _band,
                                    _bounds_layout, _draw_bounds, _fmt, _mark_violations, _ms, _set_scale,
                                    _state_rows, _theory_value, _verdict_note, check_result)
from simulator.theory import seed004

_COLORS = {"step": "#1f4e9c", "delta": "#dd8452", "fold": "0.45"}


def _legend_note(cv, text):
    cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label=text))


def _premise_label():
    return ("width premise m ≥ poly(n, L, 1/λ): constant not given, not checked;\n"
            "a marked step means the run is not (yet) in the theorem's regime")


def _verdict(cv, tr, key, what, marked):
    """The result `validate` gives for `key`: its verdict labels the marks; a legend line says it when no row is
    marked."""
    result = check_result(tr, key)
    if not np.any(marked):
        _verdict_note(cv, result, what)
    return result


# --------------------------------------------------------------------------- residual


def _fig_residual(tr, cv):
    res = seed004.residuals(tr)
    if res is None:
        return "no 'residual_norm' or 'loss' metric in the trace"
    if res.size == 0 or not math.isfinite(res[0]):
        return "no residual at t = 0: the envelope needs ‖f_0 − y‖"
    t_all = np.arange(res.size)
    finite = np.isfinite(res)
    pos = finite & (res > 0)
    if not pos.any():
        return "the residual is 0 at every row (nothing to show on a log axis)"
    ax = cv.ax
    t, r = t_all[pos], res[pos]
    ax.plot(t, r, "o-", color=DATA_COLOR, markersize=_ms(len(t)), linewidth=1.6,
            label=r"residual norm $\|f_t-y\|_2$")
    gradient = seed004.is_gradient_run(tr.attrs)
    lo, hi = float(r.min()), float(r.max())
    if gradient is False:
        env = seed004.thm1_envelope(res[0], t_all)
        ax.plot(t_all, env, "--", color=BOUND_COLOR, linewidth=1.4,
                label=r"Theorem 1 envelope $(1/3)^t\,\|f_0-y\|_2$")
        judged, fails, _ = seed004.contraction_judgement(res)
        bad_state = np.concatenate([[False], fails]) & pos          # step s fails: mark state s
        _mark_violations(cv, t_all[pos], res[pos], bad_state[pos],
                         r"step with $\|f_{t+1}-y\| > \frac{1}{3}\|f_t-y\|$", total=int(judged.sum()), noun="steps",
                         result=_verdict(cv, tr, "s004_thm1", "Theorem 1", bad_state[pos]))
        _legend_note(cv, _premise_label())
        if seed004.direction_of(tr.attrs) == "sketched":
            _legend_note(cv, f"sketched steps ({seed004.text_attr(tr.attrs, 'solver_sketch', '?')})")
    elif gradient:
        _legend_note(cv, "gradient run: Theorem 1 is about Gauss-Newton steps (no envelope)")
    else:
        _legend_note(cv, "step direction not recorded (solver_direction): no envelope")
    ax.set_yscale("log")
    bottom, top = lo / 10 ** 0.7, hi * 10 ** 0.7
    floor = seed004.roundoff_floor(res[0])
    if lo <= floor * 10:
        ax.axhspan(min(bottom, floor / 10), floor, color="0.6", alpha=0.2, linewidth=0,
                   label=rf"round-off: $\leq 10^{{{math.log10(seed004.ROUNDOFF):.0f}}}\|f_0-y\|$ "
                         rf"or $\leq 10^{{{math.log10(seed004.ROUNDOFF_ABS):.0f}}}$ (later steps not judged)")
        bottom = min(bottom, floor / 10)
    ax.set_ylim(bottom, top)     # the envelope may leave the axes: the data set the range
    if (finite & ~pos).any():
        _legend_note(cv, f"{int((finite & ~pos).sum())} rows with residual = 0 not shown")
    units = tr.units("residual_norm") if "residual_norm" in tr else (tr.units("loss") if "loss" in tr else "")
    ax.set_ylabel(f"residual norm $\\|f_t-y\\|_2$ ({units or 'dimensionless'})")
    cv.integer_x(X_STATE)
    cv.legend()


# --------------------------------------------------------------------------- sparsity


def _two_panels(cv, width_ratios=(1.0, 2.0)):
    """Split the canvas into a left panel (returned) and cv.ax on the right; the run's subtitle moves to an
    invisible header spanning both."""
    fig = cv.fig
    subtitle = cv.ax.get_title()
    gs = fig.add_gridspec(2, 2, height_ratios=(0.001, 1.0), width_ratios=width_ratios)
    head = fig.add_subplot(gs[0, :])
    head.axis("off")
    head.set_title(subtitle, fontsize=8, color=REF_COLOR)
    cv.ax.set_subplotspec(gs[1, 1])
    cv.ax.set_title("")
    left = fig.add_subplot(gs[1, 0], sharey=cv.ax)
    left.set_axisbelow(True)
    left.grid(True, which="major", alpha=0.3)
    left.grid(True, which="minor", alpha=0.1)
    return left


def _layer_strips(ax, layers, bound):
    """Per layer, the per-point counts as a strip of dots, the mean as a bar and points above the bound as
    red crosses. layers: [(ℓ, counts)]."""
    for j, (ell, counts) in enumerate(layers):
        c = np.asarray(counts, dtype=np.float64)
        c = c[np.isfinite(c)]
        if not c.size:
            continue
        x = ell + (np.linspace(-0.25, 0.25, c.size) if c.size > 1 else np.zeros(1))
        ax.plot(x, c, ".", color=DATA_COLOR, alpha=0.6, markersize=3.0 if c.size <= 200 else 1.5,
                label="t = 0, per point and layer" if j == 0 else None)
        ax.plot([ell - 0.32, ell + 0.32], [c.mean()] * 2, "-", color="black", linewidth=2.0,
                label="t = 0, mean over the points of a layer" if j == 0 else None)
        if bound is not None and np.any(c > bound):
            ax.plot(x[c > bound], c[c > bound], "x", color=BOUND_COLOR, markersize=7, markeredgewidth=1.6)
    ells = [ell for ell, _ in layers]
    ax.set_xticks(ells)
    ax.set_xlim(min(ells) - 0.6, max(ells) + 0.6)


def _fig_sparsity(tr, cv):
    a = tr.attrs
    low = seed004.active_per_layer(tr)
    fire = _state_rows(tr, "fire_count")
    if fire is not None and fire[1].ndim != 2:
        fire = None
    if low is None and fire is None:
        return "neither /data/active_per_layer (layers 1..L−1) nor 'fire_count' (layer L) in the trace"
    L = int(a["layers"]) if isinstance(a.get("layers"), (int, float)) else (low.shape[0] + 1 if low is not None
                                                                             else None)
    bound = _theory_value(tr, seed004.sparsity_bound_of)
    mean = _theory_value(tr, seed004.expected_active_of)
    mismatch = None
    try:
        mismatch = seed004.threshold_mismatch(a)
    except (KeyError, TypeError, ValueError):
        pass
    bounds = []
    if bound is not None:
        label = r"sparsity bound $m^{1-\alpha}$ = {v}"
        if mismatch:
            label += "\n(t is not √(2α ln m): the bound is not this run's)"
        bounds.append((bound, label, {}))
    if mean is not None:
        bounds.append((mean, r"expected count $m\,Q(t)$ = {v}", {"color": REF_COLOR, "linestyle": ":"}))
    layers = []
    if low is not None:
        layers += [(ell, row) for ell, row in enumerate(low, start=1)]
    if fire is not None and fire[0][0] == 0 and L is not None:
        layers.append((L, fire[1][0]))
    values = [np.asarray(c, dtype=np.float64) for _, c in layers]
    if fire is not None:
        values.append(fire[1].ravel())
    data = np.concatenate(values)
    log, on, f = _bounds_layout(data, [v for v, _, _ in bounds])
    ax = cv.ax
    if layers and fire is not None:
        left = _two_panels(cv)
        _layer_strips(left, layers, bound)
        left.set_title("every layer at t = 0", fontsize=9, color="black")
        cv.extra_handles += left.get_legend_handles_labels()[0]
        left.set_xlabel(r"layer $\ell$ (1..L−1 fixed; L trained)")
        left.set_ylabel(r"active neurons per point $\|h_{i,\ell}\|_0$ (count)")
        for (v, _, style), inside in zip(bounds, on):
            if v is not None and inside:
                left.axhline(v, **{"color": BOUND_COLOR, "linestyle": "--", "linewidth": 1.4, **style})
        ax.set_title(f"layer L = {L} (trained), per iteration", fontsize=9, color="black")
    if fire is not None:
        t, k = fire
        _band(cv, t, k, f"layer {L if L is not None else 'L'}: mean over the n points",
              "min – max over the points")
        if bound is not None:
            mx = k.max(axis=1)
            _mark_violations(cv, t, mx, mx > bound, "max above the bound", noun="rows",
                             result=_verdict(cv, tr, "s004_sparsity", "sparsity", mx > bound))
        ylabel = (r"active neurons per point in layer L, $\|h_{i,L}\|_0$ (count)" if not layers
                  else r"$\|h_{i,L}\|_0$ (count)")
        ax.set_ylabel(ylabel)
        cv.integer_x(X_STATE)
        if t[-1] - t[0] < 2:                    # one or two rows: keep integer ticks
            ax.set_xlim(t[0] - 0.5, t[-1] + 0.5)
            ax.set_xticks(np.arange(int(t[0]), int(t[-1]) + 1))
        if low is None:
            _legend_note(cv, "no /data/active_per_layer: layers 1..L−1 not shown")
    else:
        _layer_strips(ax, layers, bound)       # on cv.ax: its labels reach the legend by themselves
        ax.set_xlabel(r"layer $\ell$ (at initialisation; fixed during training)")
        ax.set_ylabel(r"active neurons per point $\|h_{i,\ell}\|_0$ (count)")
        _legend_note(cv, "no 'fire_count': layer L (trained) not shown")
    _draw_bounds(cv, bounds, on, f)
    if bound is not None and low is not None and np.any(low > bound):
        _legend_note(cv, f"{int(np.sum(low > bound))} (layer, point) counts above the bound at t = 0 (red ×)")
    alpha, t_thr = _attr(tr, "alpha"), _theory_value(tr, seed004.threshold_of)
    if alpha is not None and t_thr is not None:
        _legend_note(cv, f"α = {alpha:g}, t = {t_thr:.3g}; the project's initialisation (σ_w² = 1/(mκ(t)), b = tσ_w), "
                         "not the paper's")
    _set_scale(cv, log)
    if not log:
        ax.set_ylim(bottom=0)
    cv.legend()


# --------------------------------------------------------------------------- drift


def _fig_drift(tr, cv):
    rows = _state_rows(tr, "drift_fro")
    if rows is None:
        return "no 'drift_fro' metric in the trace (or never computed)"
    t, d = rows
    ax = cv.ax
    ax.plot(t, d, "o-", color=DATA_COLOR, markersize=_ms(len(t)), linewidth=1.8,
            label=r"$\|W_L(t)-W_L(0)\|_F$")
    bounds = []
    gradient = seed004.is_gradient_run(tr.attrs)
    res = seed004.residuals(tr)
    bound = None
    if gradient is False and res is not None and res.size and math.isfinite(res[0]):
        bound = _theory_value(tr, lambda attrs: seed004.drift_bound_of(attrs, res[0]))
    if bound is not None:
        bounds.append((bound, r"$1.5\,\|f_0-y\|_2/\sqrt{\lambda_{\min}(G_0)}$ = {v}" "\n"
                              "(from the proof of Theorem 1; order, not a hard bound)", {}))
    elif gradient:
        _legend_note(cv, "gradient run: the bound sums Gauss-Newton steps (not drawn)")
    else:
        _legend_note(cv, "no bound: needs a Gauss-Newton run, ‖f_0 − y‖ and λ = λ_min(G_0) (attr lambda)")
    log, on, f = _bounds_layout(d, [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    if bound is not None and d.max() > 0:
        _legend_note(cv, f"max drift / bound = {_fmt(float(d.max()) / bound, 3)}")
    _set_scale(cv, log)
    if not log:
        ax.set_ylim(bottom=0)
    ax.set_ylabel(f"drift of the trained layer $\\|W_L(t)-W_L(0)\\|_F$ ({tr.units('drift_fro') or 'dimensionless'})")
    cv.integer_x(X_STATE)
    cv.legend()


# --------------------------------------------------------------------------- sketch


def _fig_sketch(tr, cv):
    a = tr.attrs
    direction = seed004.direction_of(a)
    if direction != "sketched":
        what = "does not record its step direction" if direction is None else f"took '{direction}' steps"
        return f"not a sketched run: this run {what} (solver_direction), so there is no sketch distortion"
    rows = _state_rows(tr, "sketch_eps")
    if rows is None:
        return "sketched run, but 'sketch_eps' was not measured (metrics.sketch_distortion = true measures it)"
    s, eps = rows
    ax = cv.ax
    ax.plot(s, eps, "o-", color=DATA_COLOR, markersize=_ms(len(s)), linewidth=1.6,
            label=r"measured $\varepsilon$: eigenvalues of $G^{-1/2}\tilde G G^{-1/2}$ in $[1-\varepsilon, 1+\varepsilon]$")
    bounds = []
    target = _theory_value(tr, seed004.eps_sketch_target_of)
    if target is not None:
        bounds.append((target, r"solver's target $\varepsilon$ (solver_eps_sketch) = {v}", {}))
    log, on, f = _bounds_layout(eps, [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    if target is not None:
        _mark_violations(cv, s, eps, eps > target, "above the target", noun="measured steps")
    else:
        _legend_note(cv, "the trace does not record the solver's target (solver_eps_sketch)")
    rows_attr = a.get("solver_sketch_rows")
    n = _attr(tr, "n")
    if rows_attr:
        _legend_note(cv, f"sketch {seed004.text_attr(a, 'solver_sketch', '?')}, s = {int(rows_attr):,} rows"
                         + (f" (s/n = {_fmt(int(rows_attr) / n, 3)})" if n else "")
                         + "\ns = Õ(n) hides constants: a ratio, not a pass/fail")
    _set_scale(cv, log)
    if not log:
        ax.set_ylim(bottom=0)
    ax.set_ylabel(f"sketch distortion $\\varepsilon$ ({tr.units('sketch_eps') or 'dimensionless'})")
    cv.integer_x(X_STEP)
    cv.legend()


# --------------------------------------------------------------------------- rank


def _fig_rank(tr, cv):
    a = tr.attrs
    sr, dr = _state_rows(tr, "step_rank"), _state_rows(tr, "delta_rank")
    if sr is None and dr is None:
        return "no 'step_rank' or 'delta_rank' metric in the trace (or never computed)"
    ax = cv.ax
    values = []
    n_bound = _theory_value(tr, seed004.step_rank_bound_of)
    d_bound = _theory_value(tr, seed004.delta_rank_bound_of)
    form = seed004.text_attr(a, "solver_delta_form")
    if sr is not None:
        s, r = sr
        ax.plot(s, r, "o-", color=_COLORS["step"], markersize=_ms(len(s), 3.0), linewidth=1.4,
                label=r"rank of the step $\Delta W = -\sum_i g_i u_i v_i^\top$")
        values.append(r)
        if n_bound is not None:
            _mark_violations(cv, s, r, r > n_bound, "step rank above n", noun="steps")
    if dr is not None:
        s2, r2 = dr
        ax.plot(s2, r2, "s-", color=_COLORS["delta"], markersize=_ms(len(s2), 3.0), linewidth=1.4,
                label=rf"rank of the stored $W_L(t)-W_L(0)$ ({form or 'form not recorded'})")
        values.append(r2)
        if d_bound is not None:
            _mark_violations(cv, s2, r2, r2 > d_bound, "stored rank above its bound", noun="steps")
    bounds = []
    if n_bound is not None:
        bounds.append((n_bound, r"$n$ (bound on rank $\Delta W$) = {v}", {"linestyle": ":"}))
    if d_bound is not None and form == "factors":
        bounds.append((d_bound, r"rank$_{\max}$ + $n$ (bound on the stored rank) = {v}", {}))
    elif form == "dense":
        _legend_note(cv, "W_L stored densely (solver_delta_form = dense): no factorisation to bound")
    log, on, f = _bounds_layout(np.concatenate(values), [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    folds = _state_rows(tr, "folds")
    if folds is not None and np.any(folds[1] > 0):
        at = folds[0][folds[1] > 0]
        for i, x in enumerate(at):
            ax.axvline(x, color=_COLORS["fold"], linewidth=0.8, linestyle="--", alpha=0.7,
                       label=f"step with a fold ({at.size} in all)" if i == 0 else None)
    _set_scale(cv, log)
    if not log:
        ax.set_ylim(bottom=0)
    units = tr.units("step_rank") if sr is not None else tr.units("delta_rank")
    ax.set_ylabel(f"rank ({units or 'count'})")
    cv.integer_x(X_STEP)
    cv.legend()


#: {figure key: (title, draw function)}, in drawing order
FIGURES = {
    "s004-residual": ("Residual norm against Theorem 1's ⅓ contraction (seed 004)", _fig_residual),
    "s004-sparsity": ("Active neurons per layer against m^(1−α) (seed 004)", _fig_sparsity),
    "s004-drift": ("Drift of the trained layer W_L (seed 004)", _fig_drift),
    "s004-sketch": ("Sketch distortion ε per step (seed 004)", _fig_sketch),
    "s004-rank": ("Rank of the step and of the stored ΔW (seed 004)", _fig_rank),
}

