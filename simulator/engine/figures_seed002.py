"""The figures of a trace against the bounds of seed 002 (docs/theory.md §2), drawn on plots' canvases.

========== ================================================================
loss       training loss ½‖f−y‖² per iteration (log y) with Def 4.5's envelope
           L₀·4^{−t} (the residual norm halves per step, so the loss quarters)
fire       neurons firing per data point |S_i(t)|: mean and min–max band over
           the n points, against Lemma A.10's 2m·e^{−b²/2} and the mean m·Q(b)
drift      max_r ‖w_r(t)−w_r(0)‖ and the quantiles of ``drift_quantiles``
           against the radius R0/√m of Def 4.5
lambda-min λ_min(G_t) against Lemma 4.3's λ/2, with λ = λ_min(H^cts)
gram-dev   ‖G_t − G_0‖_F against Lemma 4.3's λ/2
flips      activation flips per data point against Lemma D.3's 2 ln(n/ρ)·R0·√m,
           with the neurons able to flip (``flip_candidates``) when recorded
========== ================================================================

Every bound value, and the judgement of Def 4.5's halving, comes from
``simulator.theory.seed002`` (the functions `validate` uses too), and the marks
of rows beyond a bound carry the verdict of the record that judges it
(``plots.check_result``: "premise not met (…)" rather than a failure when its
premise does not hold); this module only draws. The generic machinery (canvas, scale rules, legend, the entry point
``plot_trace``) is ``simulator.engine.plots``, which loads this module when it
draws. No matplotlib import here: the canvas carries it.
"""

import math

import numpy as np

from simulator.engine.plots import (BOUND_COLOR, DATA_COLOR, REF_COLOR, X_STATE, _attr, _band, _bounds_layout,
                                    _draw_bounds, _fmt, _mark_violations, _ms, _set_scale, _state_rows,
                                    _theory_value, _verdict_note, check_result, verdict_label)
from simulator.theory import seed002


def _shade_outside_radius(cv, tr):
    """Grey spans over the iterations whose drift exceeds R0/√m (Lemma 4.3 assumes it does not)."""
    radius = _theory_value(tr, seed002.drift_radius_of)
    rows = _state_rows(tr, "drift_max")
    if rows is None or radius is None:
        return None
    t, drift = rows
    out = t[drift > radius]
    for i, tt in enumerate(out):
        cv.ax.axvspan(tt - 0.5, tt + 0.5, color="0.6", alpha=0.25, linewidth=0,
                      label="drift > R0/√m: premise of the lemma not met" if i == 0 else None)
    return radius


def _fig_loss(tr, cv):
    rows = _state_rows(tr, "loss")
    if rows is None:
        return "no 'loss' metric in the trace"
    t, loss = rows
    pos = loss > 0
    if not pos.any():
        return "the loss is 0 at every row (nothing to show on a log axis)"
    ax = cv.ax
    t0 = t[0]
    tt = np.arange(t0, t[-1] + 1)
    env = seed002.def_4_5_loss_envelope(loss[0], tt - t0)
    ax.plot(t[pos], loss[pos], "o-", color=DATA_COLOR, markersize=_ms(int(pos.sum())), linewidth=1.6,
            label=r"loss $\frac{1}{2}\|f_t-y\|_2^2$")
    ax.plot(tt, env, "--", color=BOUND_COLOR, linewidth=1.4,
            label=r"Def 4.5 envelope $L_0\cdot 4^{-t}$" "\n" r"($\|f_t-y\|$ halves per step)")
    # Def 4.5 is per step: ||f_{t+1} - y|| <= ½||f_t - y||, judged on the residual norm ||f - y|| = sqrt(2·loss)
    # exactly as `validate` judges it (steps starting at round-off are not judged).
    judged, fails = seed002.def_4_5_halving(np.sqrt(2.0 * loss), t)
    bad = np.concatenate([[False], fails])
    _mark_violations(cv, t, loss, bad, r"step without $\|f-y\|$ halving", total=int(judged.sum()), noun="steps",
                     result=check_result(tr, "def_4_5"))
    if (~pos).any():
        cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none",
                                                 label=f"{int((~pos).sum())} rows with loss = 0 not shown"))
    ax.set_yscale("log")
    lo, hi = loss[pos].min(), loss[pos].max()
    bottom = lo / 10 ** 0.7
    ax.set_ylim(bottom, hi * 10 ** 0.7)  # the envelope may leave the axes: the data set the range
    floor = loss[0] * seed002.ROUNDOFF ** 2  # the loss at a residual of ROUNDOFF times the start
    if lo < floor:
        ax.axhspan(bottom, floor, color="0.6", alpha=0.2, linewidth=0,
                   label=rf"round-off: $\|f-y\| \leq 10^{{{math.log10(seed002.ROUNDOFF):.0f}}}\|f_0-y\|$ (not judged)")
    ax.set_ylabel(f"training loss ({tr.units('loss') or 'dimensionless'})")
    cv.integer_x(X_STATE)
    cv.legend()


def _fig_fire(tr, cv):
    rows = _state_rows(tr, "fire_count")
    if rows is None:
        return "no 'fire_count' metric in the trace"
    t, k = rows
    if k.ndim != 2:
        return "'fire_count' is not per data point"
    bounds = []
    bound = _theory_value(tr, seed002.lemma_a10_fire_bound_of)
    if bound is not None:
        label = r"Lemma A.10 bound on $|S_i(0)|$: $2m\,e^{-b^2/2}$"
        if seed002.is_default_b(_attr(tr, "m"), _attr(tr, "b")):
            label += r" $= 2m^{0.76}$"
        bounds.append((bound, label, {}))
        bounds.append((_theory_value(tr, seed002.mean_fire_count_of), r"mean at init $m\,Q(b)$",
                       {"color": REF_COLOR, "linestyle": ":"}))
    span = _band(cv, t, k, "mean over the n points", "min – max over the points")
    log, on, f = _bounds_layout(span, [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    if bound is not None:
        _verdict_note(cv, check_result(tr, "lemma_a_10"), "Lemma A.10")
    _set_scale(cv, log)
    cv.ax.set_ylabel(f"neurons firing on $x_i$, $|S_i(t)|$ ({tr.units('fire_count') or 'count'})")
    cv.integer_x(X_STATE)
    cv.legend()


def _fig_drift(tr, cv):
    rows = _state_rows(tr, "drift_max")
    qrows = _state_rows(tr, "drift_quantiles")
    if rows is None and qrows is None:
        return "no 'drift_max' / 'drift_quantiles' metric in the trace (or never computed)"
    ax = cv.ax
    values = []
    if rows is not None:
        t, d = rows
        ax.plot(t, d, "o-", color=DATA_COLOR, markersize=_ms(len(t)), linewidth=1.8, zorder=4, label="max over neurons r")
        values.append(d)
    if qrows is not None:
        tq, q = qrows
        levels = [float(v) for v in (tr.metric_attrs("drift_quantiles").get("quantiles") or [])][:q.shape[1]]
        styles = [":", "--", "-.", "-"]
        shades = ["#08519c", "#3182bd", "#6baed6", "#9ecae1"]
        j = 0
        for c in sorted(range(len(levels)), key=lambda c: -levels[c]):
            if levels[c] >= 1.0 and rows is not None:
                continue  # the 1.0 quantile is the max, drawn above
            name = "median" if levels[c] == 0.5 else f"{levels[c] * 100:g}th percentile"
            zero = " (= 0 throughout)" if not np.any(q[:, c]) else ""
            ax.plot(tq, q[:, c], styles[j % 4], color=shades[min(j, 3)], marker=".", markersize=_ms(len(tq), 3.0),
                    linewidth=1.2, label=f"{name}{zero}")
            values.append(q[:, c])
            j += 1
    bounds = []
    radius = _theory_value(tr, seed002.drift_radius_of)
    if radius is not None:
        label = rf"Def 4.5 radius $R_0/\sqrt{{m}}$ = {{v}}" "\n" rf"($R_0 = n/\lambda$ = {_fmt(_attr(tr, 'R0'))})"
        bounds.append((radius, label, {}))
    data = np.concatenate(values)
    log, on, f = _bounds_layout(data, [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    if rows is not None and bounds:
        _mark_violations(cv, t, d, d > radius, "outside the radius", result=check_result(tr, "def_4_5"))
    _set_scale(cv, log)
    if not log:
        ax.set_ylim(bottom=0)
    mf = _state_rows(tr, "moved_fraction")
    if mf is not None:
        label = f"neurons moved at t = {int(mf[0][-1])}: {mf[1][-1] * 100:.3g} %"
        cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label=label))
    units = tr.units("drift_max") if "drift_max" in tr else "dimensionless"
    ax.set_ylabel(f"weight drift $\\|w_r(t)-w_r(0)\\|_2$ ({units})")
    cv.integer_x(X_STATE)
    cv.legend()


def _lemma_4_3(tr, cv, name, ylabel, lower):
    rows = _state_rows(tr, name)
    if rows is None:
        return f"no '{name}' metric in the trace (metrics.gram = false?) or it was never computed"
    t, y = rows
    half = _theory_value(tr, seed002.lemma_4_3_bound_of)
    _shade_outside_radius(cv, tr)
    label = r"$\lambda_{\min}(G_t)$" if lower else r"$\|G_t-G_0\|_F$"
    cv.ax.plot(t, y, "o-", color=DATA_COLOR, markersize=_ms(len(t)), linewidth=1.6, label=label)
    bounds = []
    if half is not None:
        bounds.append((half, r"Lemma 4.3 bound $\lambda/2$", {}))
        if lower:
            bounds.append((_attr(tr, "lambda"), r"$\lambda = \lambda_{\min}(H^{cts})$",
                           {"color": REF_COLOR, "linestyle": ":"}))
    log, on, f = _bounds_layout(y, [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    if half is not None:
        # every measured row is judged, as `validate` does; its verdict (the drift and width premises) labels the marks
        bad = y < half if lower else y > half
        result = check_result(tr, "lemma_4_3")
        _mark_violations(cv, t, y, bad, "beyond Lemma 4.3's λ/2" if verdict_label(result) else "violates Lemma 4.3",
                         result=result)
    else:
        cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label="λ not in the trace: no bound"))
    _set_scale(cv, log)
    if not log and not lower:
        cv.ax.set_ylim(bottom=0)
    cv.ax.set_ylabel(f"{ylabel} ({tr.units(name) or 'dimensionless'})")
    cv.integer_x(X_STATE)
    cv.legend()


def _fig_lambda_min(tr, cv):
    return _lemma_4_3(tr, cv, "lambda_min", r"smallest Gram eigenvalue $\lambda_{\min}(G_t)$", lower=True)


def _fig_gram_dev(tr, cv):
    return _lemma_4_3(tr, cv, "gram_dev_fro", r"Gram deviation $\|G_t-G_0\|_F$", lower=False)


def _fig_flips(tr, cv):
    rows = _state_rows(tr, "flips")
    if rows is None:
        return "no 'flips' metric in the trace (metrics.flips = false?) or it was never computed"
    t, fl = rows
    if fl.ndim != 2:
        return "'flips' is not per data point"
    span = _band(cv, t, fl, "mean over the n points", "min – max over the points")
    values = [span]
    cand = _state_rows(tr, "flip_candidates")
    if cand is not None and cand[1].ndim == 2:
        tc, c = cand
        cmax = c.max(axis=1)
        cv.ax.plot(tc, cmax, "s--", color=REF_COLOR, markersize=_ms(len(tc), 3.0), linewidth=1.2,
                   label="neurons able to flip (margin at t = 0 within their drift),\nmax over the points")
        values.append(cmax)
    bounds = []
    v = _theory_value(tr, seed002.lemma_d3_flip_bound_of)
    if v is not None:
        rho = seed002.rho_of(tr.attrs)
        label = rf"Lemma D.3 bound $2\ln(n/\rho)\,R_0\sqrt{{m}}$ = {{v}} ($\rho$ = {rho:g})"
        m = _attr(tr, "m")
        if v > m:
            label += f"\nexceeds m = {int(m):,}: vacuous at this width"
        bounds.append((v, label, {}))
    log, on, f = _bounds_layout(np.concatenate(values), [v for v, _, _ in bounds])
    _draw_bounds(cv, bounds, on, f)
    if v is not None:
        result = check_result(tr, "lemma_d_3")
        above = fl.max(axis=1) > v
        _mark_violations(cv, t, fl.max(axis=1), above, "max over the points above the bound", result=result)
        if not above.any():
            _verdict_note(cv, result, "Lemma D.3")
        if result and "bound_realised" in result:
            cv.extra_handles.append(cv.mpl["Line2D"]([], [], linestyle="none", label=(
                rf"proof at the realised drift $(2\ln(n/\rho)+4/5)\cdot$drift$\cdot m$ = "
                f"{_fmt(result['bound_realised'])}")))
    _set_scale(cv, log)
    if not log:
        cv.ax.set_ylim(bottom=0)
    cv.ax.set_ylabel(f"neurons flipped on $x_i$ since t = 0 ({tr.units('flips') or 'count'})")
    cv.integer_x(X_STATE)
    cv.legend()


#: {figure key: (title, draw function)}, in drawing order
FIGURES = {
    "loss": ("Training loss per iteration", _fig_loss),
    "fire": ("Active neurons per data point", _fig_fire),
    "drift": ("Weight drift from initialisation", _fig_drift),
    "lambda-min": ("Smallest eigenvalue of the Gram matrix", _fig_lambda_min),
    "gram-dev": ("Gram matrix deviation from initialisation", _fig_gram_dev),
    "flips": ("Activation flips per data point", _fig_flips),
}
