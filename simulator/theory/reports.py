"""Sweep reports as data, beyond seed 002's width threshold (which lives in ``seed002``).

A report is a pair ``(compute(rows), format(report))`` over a sweep's summary rows, registered by name
in ``simulator.theory.REPORTS`` and chosen by a scenario's ``[sweep] report``. Some reports need what
only the point traces hold (fire counts at every row, regression iterations, residuals): for those,
``POINT_COLUMNS[name]`` is a function of an open trace returning extra columns, which
``simulator.engine.study`` merges into each summary row before ``compute`` (the theory package reads
traces it is given and never opens files). Without those columns a report prints what the summary
holds and says where the rest comes from.

``alpha-tradeoff`` (seed 002, Thm G.2, docs/theory.md §2 and §4): per ᾱ, with b = √(0.5(1 − ᾱ) ln m),
the fitted exponent of the largest fire count against m (log-log least squares over every (m, seed)
point, with its standard error) beside the theorem's (3 + ᾱ)/4 and beside the exponent of the exact
mean m·Q(b) over the same widths (what a finite range of m can show: Q(b) ≈ e^{−b²/2}/(b√(2π)), so the
mean grows slightly slower than m^{(3+ᾱ)/4}); λ (the exact NTK's, which falls as b grows); the
regression iterations per step; the loss contraction (mean per-step residual ratio ‖f_{t+1} − y‖ /
‖f_t − y‖); Thm 4.1's width requirement at that λ; and Thm G.2's own width premise
m = Ω((δ⁻⁴ n¹² log⁴(n/ρ))^{1/ᾱ}) — what sparsity costs in λ and in the width the theorem needs.

``lemma-4-3-width`` (seed 002, Lemma 4.3 = D.2, docs/theory.md §2 "Premises"): per width m, the measured
max_t ‖G_t − G_0‖_F / (λ/2) of each run (over the rows at the metric cadence; the lemma claims ≤ 1 while
every drift stays inside R0/√m) aggregated over the seeds, beside the lemma's own width premise
m ≥ 36n⁴/λ⁴ as m/m_req (and Lemma A.5's m ≥ b²R0²), and a log-log fit of the median ratio against m (and
the local slope through the two largest widths) with the width at which the fitted ratio would reach 1 —
an extrapolation, said so, with the premise's own fit evaluated there. A run that did not complete never
counts as holding.
"""

import math

import numpy as np

from simulator.fits import loglog_fit  # noqa: F401  (re-exported: the reports and their tests use it)

from simulator import ntk
from simulator.theory import fmt, seed002

# --------------------------------------------------------------------------- formulas


def thm_g2_width_requirement_log10(delta, n, rho, alpha_bar):
    """log10 of Thm G.2's width premise m = Ω((δ⁻⁴ n¹² log⁴(n/ρ))^{1/ᾱ}) (docs/theory.md §2, Premises).
    Order Ω (constant unknown). In log10 because it overflows a float for small ᾱ (10^365 at ᾱ = 0.04,
    n = 8). ᾱ = 0: inf (the premise is never met; the theorem is vacuous there)."""
    delta = ntk._real("delta", delta, lo=0.0, lo_open=True)
    n, rho, a = ntk._n(n), ntk._rho(rho), ntk._alpha_bar(alpha_bar)
    base = -4.0 * math.log10(delta) + 12.0 * math.log10(n) + 4.0 * math.log10(math.log(n / rho))
    if a == 0.0:
        return math.inf if base > 0 else 0.0
    return base / a


def sparsity_exponent(alpha_bar):
    """Thm G.2's (3 + ᾱ)/4 (seed002's formula; ᾱ = 0, where it still reads 3/4, through ntk)."""
    a = ntk._alpha_bar(alpha_bar)
    return ntk.sparsity_exponent(a) if a == 0.0 else seed002.thm_g2_sparsity_exponent(a)


# --------------------------------------------------------------------------- per-point columns


def _nan():
    return float("nan")


def alpha_point_columns(tr):
    """What the alpha-tradeoff report needs from one point's trace (an open Trace):

    ``fire_max``: the largest |S_i(t)| over every point and row (Thm G.2's measured value, as
    `validate` takes it); ``fire_mean0``: the mean of |S_i(0)| over the points (whose expectation is
    exactly m·Q(b)); ``reg_iterations_mean``: the mean of ``reg_iterations`` over the steps (NaN
    when the run solved exactly); ``residual_ratio_mean``: the mean of ‖f_{t+1} − y‖/‖f_t − y‖ over the
    steps Def 4.5 judges (not those already at round-off, seed002.def_4_5_halving); ``delta``,
    ``alpha_bar`` (attrs; NaN when absent).
    """
    a = tr.attrs
    out = {"fire_max": _nan(), "fire_mean0": _nan(), "reg_iterations_mean": _nan(), "residual_ratio_mean": _nan(),
           "delta": float(a["delta"]) if "delta" in a else _nan(),
           "alpha_bar": float(a["alpha_bar"]) if "alpha_bar" in a else _nan()}
    if "fire_count" in tr:
        fire = np.asarray(tr["fire_count"], dtype=np.float64)
        if fire.size:
            out["fire_max"] = float(np.max(fire))
            out["fire_mean0"] = float(np.mean(fire[0]))
    if "reg_iterations" in tr:
        it = np.asarray(tr["reg_iterations"], dtype=np.float64)
        it = it[np.isfinite(it) & (it >= 0)]
        if it.size:
            out["reg_iterations_mean"] = float(np.mean(it))
    if "residual_norm" in tr:
        res = np.asarray(tr["residual_norm"], dtype=np.float64)
        judged, _ = seed002.def_4_5_halving(res)
        if judged.any():
            out["residual_ratio_mean"] = float(np.mean(res[1:][judged] / res[:-1][judged]))
    return out


# --------------------------------------------------------------------------- alpha-tradeoff


def _num(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _alpha_of(row):
    for key in ("alpha_bar", "network.alpha_bar"):
        v = row.get(key)
        if _num(v):
            return float(v)
    return None


def _mean(values):
    vals = [float(v) for v in values if _num(v)]
    return float(np.mean(vals)) if vals else float("nan")


def alpha_tradeoff_report(rows):
    """The ᾱ trade-off of Thm G.2 from summary rows (merged with ``alpha_point_columns`` where the
    traces were read). One dict per ᾱ, ᾱ ascending, each with ``widths`` (one dict per m).

    Per ᾱ: ``exponent``, ``exponent_se``, ``exponent_points`` (the log-log fit of fire_max against m
    over every completed point), ``exponent_mean0``, ``exponent_mean0_se`` (the same fit of the mean
    |S_i(0)| over the points), ``exponent_theory`` = (3 + ᾱ)/4, ``exponent_mean`` (the exact
    m·Q(b) fitted over the same widths), ``lambda_mean`` (over every point), ``lambda_first`` /
    ``lambda_last`` (mean at the smallest / largest m), ``reg_iterations``, ``contraction`` (means of
    the per-point means), ``req_thm_4_1`` = λ⁻⁴n⁴ and ``req_thm_4_1_full`` (Thm 4.1 at ``lambda_last``),
    ``req_g2_log10`` (Thm G.2's width premise, mean over the points of its log10), ``def_4_5`` (the
    fraction of points whose Def 4.5 holds), ``traces`` (whether fire counts were read).
    """
    by_alpha = {}
    for r in rows:
        a = _alpha_of(r)
        if a is None or not _num(r.get("m")) or r.get("status") != "completed":
            continue
        by_alpha.setdefault(a, []).append(r)
    out = []
    for a in sorted(by_alpha):
        rs = by_alpha[a]
        ms = sorted({int(r["m"]) for r in rs})
        n_vals = sorted({int(r["n"]) for r in rs if _num(r.get("n"))})
        d_vals = sorted({int(r["d"]) for r in rs if _num(r.get("d"))})
        rho_vals = sorted({float(r["rho"]) for r in rs if _num(r.get("rho"))})
        n = n_vals[0] if len(n_vals) == 1 else None
        d = d_vals[0] if len(d_vals) == 1 else None
        rho = rho_vals[0] if rho_vals else seed002.DEFAULT_RHO
        xs = [float(r["m"]) for r in rs]
        ys = [r.get("fire_max", float("nan")) for r in rs]
        ys = [float(y) if _num(y) else float("nan") for y in ys]
        slope, se, used = loglog_fit(xs, ys)
        ys0 = [float(r["fire_mean0"]) if _num(r.get("fire_mean0")) else float("nan") for r in rs]
        slope0, se0, _ = loglog_fit(xs, ys0)
        mean_counts = [ntk.expected_fire_count(m, ntk.b_from_alpha_bar(m, a)) for m in ms]
        mean_slope, _, _ = loglog_fit(ms, mean_counts)
        widths = []
        for m, mean_count in zip(ms, mean_counts):
            at = [r for r in rs if int(r["m"]) == m]
            widths.append({
                "m": m, "seeds": len(at), "b": ntk.b_from_alpha_bar(m, a), "mean_count": mean_count,
                "fire_max": _mean(r.get("fire_max") for r in at),
                "fire_mean0": _mean(r.get("fire_mean0") for r in at),
                "bound_order": float(m) ** sparsity_exponent(a),
                "lambda": _mean(r.get("lambda") for r in at),
                "reg_iterations": _mean(r.get("reg_iterations_mean") for r in at),
                "contraction": _mean(r.get("residual_ratio_mean") for r in at),
                "def_4_5": sum(r.get("def_4_5") == "holds" for r in at) / len(at),
            })
        lam_last = widths[-1]["lambda"]
        if n and _num(lam_last) and lam_last > 0:
            req = seed002.thm_4_1_dominant_requirement(lam_last, n)
            req_full = seed002.thm_4_1_width_requirement(lam_last, n, d, rho) if d else float("nan")
        else:
            req = req_full = float("nan")
        g2 = []
        for r in rs:
            delta = r.get("delta")
            if n and _num(delta) and delta > 0:
                g2.append(thm_g2_width_requirement_log10(delta, n, rho, a))
        out.append({
            "alpha_bar": a, "n": n, "d": d, "rho": rho, "points": len(rs), "widths": widths,
            "exponent": slope, "exponent_se": se, "exponent_points": used,
            "exponent_theory": sparsity_exponent(a), "exponent_mean": mean_slope,
            "exponent_mean0": slope0, "exponent_mean0_se": se0,
            "lambda_mean": _mean(r.get("lambda") for r in rs),
            "lambda_first": widths[0]["lambda"], "lambda_last": lam_last,
            "reg_iterations": _mean(r.get("reg_iterations_mean") for r in rs),
            "contraction": _mean(r.get("residual_ratio_mean") for r in rs),
            "req_thm_4_1": req, "req_thm_4_1_full": req_full,
            "req_g2_log10": float(np.mean(g2)) if g2 else float("nan"),
            "def_4_5": sum(r.get("def_4_5") == "holds" for r in rs) / len(rs),
            "traces": used > 0,
        })
    return out


def _g(x, fmt="{:.3g}"):
    return fmt.format(x) if _num(x) else "–"


def _pow10(x):
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return f"10^{x:.0f}" if _num(x) else "–"


def _fit(slope, se):
    if not _num(slope):
        return "–"
    return f"{slope:.3f} ± {se:.3f}" if _num(se) else f"{slope:.3f}"


def format_alpha_tradeoff_report(report):
    """The report as markdown: one row per ᾱ, then the per-(ᾱ, m) breakdown."""
    if not report:
        return "alpha trade-off: no completed points with alpha_bar and m recorded\n"
    ms = sorted({w["m"] for r in report for w in r["widths"]})
    lines = [f"ᾱ trade-off (Thm G.2: b = √(0.5(1 − ᾱ) ln m), sparsity O(m^((3+ᾱ)/4))), m = {ms[0]} … {ms[-1]}. "
             "Exponents: log-log least squares against m over every (m, seed) point, ± standard error, of the "
             "largest fire count max_{i,t}|S_i(t)| and of the mean |S_i(0)|, beside the exact mean m·Q(b) fitted "
             "over the same widths and the theorem's (3 + ᾱ)/4 (m·Q(b) = m^((3+ᾱ)/4)/(b√(2π))·(1 + O(1/b²)): b grows "
             "with m, so a finite range shows a smaller slope). λ: mean over the points (smallest → largest m). "
             "Regression iterations per step and contraction ‖f_{t+1} − y‖/‖f_t − y‖: means over the points. "
             "Width requirements are orders (Ω, constants unknown).", "",
             "| ᾱ | points | exponent of max fire count | exponent of mean \\|S_i(0)\\| | m·Q(b) exponent | (3+ᾱ)/4 | "
             "λ (smallest → largest m) | regression iterations | contraction | Def 4.5 holds | "
             "Thm 4.1 λ⁻⁴n⁴ at the largest m | Thm G.2 width (δ⁻⁴n¹²log⁴(n/ρ))^{1/ᾱ} |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report:
        lines.append(
            f"| {r['alpha_bar']:g} | {r['points']} | {_fit(r['exponent'], r['exponent_se'])} | "
            f"{_fit(r['exponent_mean0'], r['exponent_mean0_se'])} | {_g(r['exponent_mean'], '{:.3f}')} | "
            f"{r['exponent_theory']:.3f} | {_g(r['lambda_first'], '{:.3g}')} → {_g(r['lambda_last'], '{:.3g}')} | "
            f"{_g(r['reg_iterations'], '{:.2f}')} | {_g(r['contraction'], '{:.3g}')} | {r['def_4_5']:.2f} | "
            f"{_g(r['req_thm_4_1'], '{:.2e}')} | {_pow10(r['req_g2_log10'])} |")
    lines += ["", "Per width (means over the seeds):", "",
              "| ᾱ | m | seeds | b | max fire count | mean \\|S_i(0)\\| | m·Q(b) | m^((3+ᾱ)/4) | λ | regression iterations | "
              "contraction | Def 4.5 holds |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report:
        for w in r["widths"]:
            lines.append(
                f"| {r['alpha_bar']:g} | {w['m']} | {w['seeds']} | {w['b']:.3f} | {_g(w['fire_max'], '{:.4g}')} | "
                f"{_g(w['fire_mean0'], '{:.4g}')} | {w['mean_count']:.4g} | {w['bound_order']:.4g} | "
                f"{_g(w['lambda'], '{:.3g}')} | {_g(w['reg_iterations'], '{:.2f}')} | {_g(w['contraction'], '{:.3g}')} | "
                f"{w['def_4_5']:.2f} |")
    if not any(r["traces"] for r in report):
        lines += ["", "Fire counts, regression iterations and the contraction are read from the point traces: "
                      "`simulator validate DIR` prints this report with them."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- lemma-4-3-width


def lemma_4_3_point_columns(tr):
    """What the lemma-4-3-width report needs from one point's trace (an open Trace):

    ``gram_dev_max``: max_t ‖G_t − G_0‖_F over the rows where ``gram_dev_fro`` was measured (the metric
    cadence and the last row; NaN when the trace has no such row); ``gram_rows``: how many rows that is;
    ``drift_ratio_max``: max_t drift_max / (R0/√m) over the rows where the drift was measured (the
    lemma's "while the drift stays inside R0/√m"; NaN without the metric or the attrs).
    """
    out = {"gram_dev_max": _nan(), "gram_rows": 0, "drift_ratio_max": _nan()}
    if "gram_dev_fro" in tr:
        dev = np.asarray(tr["gram_dev_fro"], dtype=np.float64).reshape(-1)
        dev = dev[np.isfinite(dev)]
        out["gram_rows"] = int(dev.size)
        if dev.size:
            out["gram_dev_max"] = float(np.max(dev))
    if "drift_max" in tr:
        drift = np.asarray(tr["drift_max"], dtype=np.float64).reshape(-1)
        drift = drift[np.isfinite(drift)]
        try:
            radius = seed002.drift_radius_of(tr.attrs)
        except (KeyError, TypeError, ValueError):
            radius = _nan()
        if drift.size and _num(radius) and radius > 0:
            out["drift_ratio_max"] = float(np.max(drift)) / radius
    return out


def _line_fit(xs, ys):
    """The log-log least-squares line of ys on xs (``loglog_fit``): (slope, standard error, points used,
    intercept c of ln y = c + slope·ln x over the same points, the smallest and largest x used)."""
    slope, se, used = loglog_fit(xs, ys)
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if not _num(slope):
        return {"slope": slope, "se": se, "points": used, "intercept": _nan(),
                "x_min": _nan(), "x_max": _nan()}
    lx, ly = np.log(x[ok]), np.log(y[ok])
    return {"slope": slope, "se": se, "points": used, "intercept": float(ly.mean() - slope * lx.mean()),
            "x_min": float(np.min(x[ok])), "x_max": float(np.max(x[ok]))}


def _crossing_log10(fit):
    """log10 of the width x ≥ 1 at which the fitted line reaches y = 1 (ln x = −c/slope); NaN without a
    fit, with a zero slope, or when the line reaches 1 only below x = 1 (no width). In log10: the
    premise's crossing overflows a float."""
    s, c = fit["slope"], fit["intercept"]
    if not (_num(s) and _num(c)) or s == 0:
        return _nan()
    x = -c / s / math.log(10.0)
    return x if x >= 0 else _nan()


def _fit_at_log10(fit, log10_x):
    """log10 of the fitted y at x = 10^log10_x (NaN without a fit)."""
    s, c = fit["slope"], fit["intercept"]
    if not (_num(s) and _num(c) and _num(log10_x)):
        return _nan()
    return (c + s * log10_x * math.log(10.0)) / math.log(10.0)


def _median(values):
    vals = [float(v) for v in values if _num(v)]
    return float(np.median(vals)) if vals else _nan()


def lemma_4_3_width_report(rows):
    """Lemma 4.3's ‖G_t − G_0‖_F ≤ λ/2 against the width, from summary rows merged with
    ``lemma_4_3_point_columns`` (docs/theory.md §2). One dict per n (n ascending), each with ``widths``.

    A run's ratio is ``gram_dev_max`` / (λ/2) with its own λ (row ``lambda``); it *holds* when the run
    completed and gram_dev_max ≤ λ/2. Per width m (rows with the same n and m, i.e. the seeds; a point that
    failed before its trace was written records n = m = −1 and is placed by its grid values ``network.m``
    and ``data.n``, or by the sweep's only n; rows that cannot be placed are counted in ``unplaced``):
    ``runs``; ``completed``; ``measured`` (completed runs with a ratio); ``lambda_mean`` (over every run
    that recorded λ: it is the exact NTK's, a property of the data and b, not of the run);
    ``ratio_median``, ``ratio_max`` (over the measured runs only: a failed run's partial trace is not
    used); ``holds`` (count) and ``holds_fraction`` = holds/runs (a failed or unmeasured run does not
    hold); ``drift_inside`` (completed runs whose drift stayed ≤ R0/√m at every measured row, the lemma's
    "while"); ``premise_ratio`` = median over the runs with λ of m/m_req, m_req = 36n⁴/λ⁴
    (``seed002.lemma_4_3_width_requirement``, each run its own λ), ``premise_met`` (runs with m ≥ m_req),
    ``radius_ratio`` = median of m/(b²R0²) (``seed002.lemma_a5_width_requirement``, R0 = n/λ);
    ``b_mean`` and ``b_default`` (whether every run that records b has b = √(0.48 ln m)).

    Per n: ``fit`` (log-log least squares of ratio_median on m over the widths that have one:
    ``slope``, ``se``, ``points``, ``intercept``, ``x_min``, ``x_max``), ``crossing_log10`` (log10 of the
    m where the fitted ratio is 1; NaN if no fit, slope 0 or no such m ≥ 1), ``extrapolated`` (the crossing lies
    outside [x_min, x_max]), ``local_fit`` / ``local_crossing_log10`` / ``local_extrapolated`` (the same
    through the two largest widths with a median only: the local slope, which differs from the fit's when
    the ratio is not a power of m), ``premise_fit`` / ``premise_crossing_log10`` / ``premise_extrapolated`` (the
    same for the median m/m_req), ``premise_at_crossing_log10`` (log10 of the fitted m/m_req at the
    ratio's crossing) and ``premise_at_crossing_extrapolated`` (that crossing outside the premise fit's
    widths), ``m_all_hold`` (the smallest width at which every run holds; None if none),
    ``default_b`` (every run that records b has b = √(0.48 ln m)) and then ``premise_floor_log10``
    (``default_b_premise_floor_log10``: below it the premise cannot hold, whatever the data), ``traces``
    (whether any ratio was measured, i.e. the point traces were read).
    """
    by_n, unplaced = {}, 0
    ns = {int(r["n"]) for r in rows if _positive(r.get("n"))}
    for r in rows:
        n, m = _first_positive(r, "n", "data.n"), _first_positive(r, "m", "network.m")
        if n is None and len(ns) == 1:
            n = next(iter(ns))   # a point whose worker died records only its grid values: the sweep's one n
        if n is None or m is None:
            unplaced += 1
            continue
        by_n.setdefault(n, {}).setdefault(m, []).append(r)
    out = []
    for n in sorted(by_n):
        widths = []
        for m in sorted(by_n[n]):
            rs = by_n[n][m]
            ratios, holds, drift_inside, premise, premise_met, radius, lams, bs = [], 0, 0, [], 0, [], [], []
            completed = 0
            for r in rs:
                lam, b = r.get("lambda"), r.get("b")
                lam = float(lam) if _num(lam) and lam > 0 else None
                if _num(b) and b >= 0:
                    bs.append(float(b))
                if lam is not None:
                    lams.append(lam)
                    req = seed002.lemma_4_3_width_requirement(n, lam)
                    premise.append(m / req)
                    premise_met += m >= req
                    if _num(b) and b > 0:
                        radius.append(m / seed002.lemma_a5_width_requirement(b, seed002.drift_radius_R0(n, lam)))
                if r.get("status") != "completed":
                    continue
                completed += 1
                dev = r.get("gram_dev_max")
                if lam is not None and _num(dev) and dev >= 0:
                    half = seed002.lemma_4_3_gram_deviation_bound(lam)
                    ratios.append(float(dev) / half)
                    holds += dev <= half
                drift = r.get("drift_ratio_max")
                drift_inside += _num(drift) and drift <= 1.0
            widths.append({
                "m": m, "runs": len(rs), "completed": completed, "measured": len(ratios),
                "lambda_mean": float(np.mean(lams)) if lams else _nan(),
                "ratio_median": _median(ratios), "ratio_max": float(np.max(ratios)) if ratios else _nan(),
                "holds": int(holds), "holds_fraction": holds / len(rs), "drift_inside": int(drift_inside),
                "premise_ratio": _median(premise), "premise_met": int(premise_met), "premise_runs": len(premise),
                "radius_ratio": _median(radius),
                "b_mean": float(np.mean(bs)) if bs else _nan(),
                "b_default": bool(bs) and all(seed002.is_default_b(m, b) for b in bs),
            })
        ms = [w["m"] for w in widths]
        fit = _line_fit(ms, [w["ratio_median"] for w in widths])
        premise_fit = _line_fit(ms, [w["premise_ratio"] for w in widths])
        crossing, premise_crossing = _crossing_log10(fit), _crossing_log10(premise_fit)
        last = [w for w in widths if _positive(w["ratio_median"])][-2:]
        local = _line_fit([w["m"] for w in last], [w["ratio_median"] for w in last])
        local_crossing = _crossing_log10(local)
        all_hold = [w["m"] for w in widths if w["runs"] and w["holds"] == w["runs"]]
        with_b = [w for w in widths if _num(w["b_mean"])]
        default_b = bool(with_b) and all(w["b_default"] for w in with_b)
        out.append({
            "n": n, "widths": widths, "fit": fit, "crossing_log10": crossing,
            "extrapolated": _outside(crossing, fit),
            "local_fit": local, "local_crossing_log10": local_crossing,
            "local_extrapolated": _outside(local_crossing, local),
            "premise_fit": premise_fit, "premise_crossing_log10": premise_crossing,
            "premise_extrapolated": _outside(premise_crossing, premise_fit),
            "premise_at_crossing_log10": _fit_at_log10(premise_fit, crossing),
            "premise_at_crossing_extrapolated": _outside(crossing, premise_fit),
            "m_all_hold": all_hold[0] if all_hold else None, "default_b": default_b,
            "premise_floor_log10": default_b_premise_floor_log10(n) if default_b else _nan(),
            "traces": any(w["measured"] for w in widths), "unplaced": unplaced,
        })
    return out


def _positive(v):
    return _num(v) and v > 0


def _first_positive(row, *keys):
    """The first of ``keys`` whose value in ``row`` is a positive number, as int (None if none): a failed
    point's row has n = m = −1 and only its grid values (``network.m``, ``data.n``) say where it belongs."""
    for k in keys:
        if _positive(row.get(k)):
            return int(row[k])
    return None


def _outside(log10_x, fit):
    """Whether 10^log10_x lies outside the widths the fit used (an extrapolation); False without a crossing."""
    if not _num(log10_x):
        return False
    return not (math.log10(fit["x_min"]) - 1e-12 <= log10_x <= math.log10(fit["x_max"]) + 1e-12)


def default_b_premise_floor_log10(n):
    """log10 of the smallest width at which Lemma 4.3's premise m ≥ 36n⁴/λ⁴ can hold with the default
    b = √(0.48 ln m): Thm 2.13's λ ≤ e^{−b²/2} = m^{−0.24} gives m/m_req = mλ⁴/(36n⁴) ≤ m^{0.04}/(36n⁴), which
    is < 1 for every m < (36n⁴)^25 (docs/theory.md §2: "no runnable width meets Lemma 4.3's"). Exact (a
    necessary condition, deterministic)."""
    n = ntk._n(n)
    return 25.0 * math.log10(36.0 * float(n) ** 4)


def _width_text(log10_m):
    """A width given by its log10: "2.6·10⁵ (2^18.0)"; beyond a float's range "10^123.4 (2^410.0)"."""
    if not _num(log10_m):
        return "–"
    log2 = log10_m / math.log10(2.0)
    head = fmt(10.0 ** log10_m, 3) if abs(log10_m) < 300 else f"10^{log10_m:.1f}"
    return f"{head} (2^{log2:.1f})"


def _f(x, digits=4):
    return fmt(x, digits) if _num(x) else "–"


def _count(k, total):
    return f"{k}/{total}"


def _slope_text(fit):
    if not _num(fit["slope"]):
        return f"no fit ({fit['points']} width{'s' if fit['points'] != 1 else ''} with a value; at least 2 needed)"
    se = f" ± {fit['se']:.3f} (s.e.)" if _num(fit["se"]) else " (no standard error with 2 widths)"
    return f"slope {fit['slope']:.3f}{se} over {fit['points']} widths, m = {fit['x_min']:.0f} … {fit['x_max']:.0f}"


def format_lemma_4_3_width_report(report):
    """The report as plain text: the per-(n, m) table (markdown), then per n the fits and what they say,
    every number beside the premise it is read against (never a bare pass/fail)."""
    if not report:
        return "Lemma 4.3 against width: no points with n and m recorded\n"
    lines = ["Lemma 4.3 (= D.2) against width: ‖G_t − G_0‖_F ≤ λ/2 is claimed while every drift stays inside R0/√m, "
             "and proved only for m ≥ 36n⁴/λ⁴ (the proof needs R0/√m ≤ λ/(6n)) and m ≥ b²R0² (Lemma A.5).",
             "ratio = max_t ‖G_t − G_0‖_F / (λ/2) of a run, over the rows measured at the metric cadence, each run "
             "with its own λ; median and max over the completed runs that measured it. \"ratio ≤ 1\": runs that "
             "completed with ratio ≤ 1, out of every run (a failed run counts as failed, not as holding). "
             "\"drift inside\": completed runs whose max drift stayed ≤ R0/√m. m/m_req: median over the runs of "
             "m/(36n⁴/λ⁴), and how many runs meet it; m/(b²R0²) likewise (median).", "",
             "| n | m | b | runs | completed | measured | λ (mean) | ratio median | ratio max | ratio ≤ 1 | "
             "drift inside | m/m_req, m_req = 36n⁴/λ⁴ | premise met | m/(b²R0²) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report:
        for w in r["widths"]:
            b = _g(w["b_mean"], "{:.3f}") + ("" if w["b_default"] or not _num(w["b_mean"]) else " (not default)")
            lines.append(
                f"| {r['n']} | {w['m']} | {b} | {w['runs']} | {w['completed']} | {w['measured']} | "
                f"{_f(w['lambda_mean'])} | {_f(w['ratio_median'], 3)} | {_f(w['ratio_max'], 3)} | "
                f"{_count(w['holds'], w['runs'])} | {_count(w['drift_inside'], w['runs'])} | "
                f"{_f(w['premise_ratio'], 2)} | {_count(w['premise_met'], w['premise_runs'])} | "
                f"{_f(w['radius_ratio'], 2)} |")
    for r in report:
        ws = r["widths"]
        lines += ["", f"n = {r['n']}:"]
        if r["m_all_hold"] is not None:
            w = next(w for w in ws if w["m"] == r["m_all_hold"])
            lines.append(f"  observed: the smallest width at which every run has ratio ≤ 1 is m = {r['m_all_hold']}, "
                         f"where the premise m/m_req is {_f(w['premise_ratio'], 2)} "
                         f"({_count(w['premise_met'], w['premise_runs'])} runs meet it)")
        else:
            lines.append(f"  observed: at no width measured (up to m = {ws[-1]['m']}) does every run have ratio ≤ 1")
        fit, pfit = r["fit"], r["premise_fit"]
        lines.append(f"  fit of log(median ratio) on log m: {_slope_text(fit)}")
        line = _crossing_line("ratio", "≤ 1", fit, r["crossing_log10"], r["extrapolated"])
        if line:
            lines.append(line)
        local = r["local_fit"]
        if fit["points"] > 2 and _num(local["slope"]):
            lines.append(f"  local slope through the two largest widths (m = {local['x_min']:.0f}, {local['x_max']:.0f}): "
                         f"{local['slope']:.3f}")
            line = _crossing_line("ratio", "≤ 1", local, r["local_crossing_log10"], r["local_extrapolated"],
                                  lead="at that slope the", span="those two widths")
            if line:
                lines.append(line)
        lines.append(f"  fit of log(median m/m_req) on log m: {_slope_text(pfit)}")
        line = _crossing_line("m/m_req", "≥ 1 (the premise met)", pfit, r["premise_crossing_log10"],
                              r["premise_extrapolated"])
        if line:
            lines.append(line)
        if _num(r["premise_at_crossing_log10"]):
            how = "extrapolated" if r["premise_at_crossing_extrapolated"] else "interpolated"
            lines.append(f"  at the ratio's fitted crossing the fitted premise m/m_req is "
                         f"{_premise_text(r['premise_at_crossing_log10'])} ({how}): the conclusion "
                         + ("would hold inside the premise" if r["premise_at_crossing_log10"] >= 0
                            else "would hold outside the proven regime (an observation, not a confirmation)"))
        if _num(r["premise_floor_log10"]):
            lines.append(f"  with the default b = √(0.48 ln m), Thm 2.13's λ ≤ e^(−b²/2) = m^(−0.24) gives "
                         f"m/m_req ≤ m^0.04/(36n⁴): the premise cannot hold below m = (36n⁴)^25 ≈ "
                         f"10^{r['premise_floor_log10']:.1f} (exact, not fitted)")
    if report[0]["unplaced"]:
        lines += ["", f"{report[0]['unplaced']} run(s) record neither n nor m (nor the grid keys data.n, network.m) "
                      "and are not in the table"]
    if not any(r["traces"] for r in report):
        lines += ["", "‖G_t − G_0‖_F is read from the point traces: simulator.engine.study.format_sweep_report(name, "
                      "rows, DIR) prints this report with them (`simulator sweep`, `sweep --report-only DIR` and "
                      "`validate DIR` call it for the report their summary names)."]
    return "\n".join(lines) + "\n"


def _crossing_line(what, good, fit, log10_m, extrapolated, lead="the fitted", span="the widths fitted"):
    """Where the fitted `what` reaches 1 and on which side it is `good` (≤ 1 for the ratio, ≥ 1 for the
    premise), saying whether that is inside `span` (the widths the line was fitted on) or an
    extrapolation; None without a fit."""
    if not _num(fit["slope"]):
        return None
    if not _num(log10_m):
        return f"  {lead} {what} reaches 1 at no width m ≥ 1"
    where = f"EXTRAPOLATED outside {span}, not observed" if extrapolated else f"within {span} (interpolated)"
    rising = fit["slope"] > 0
    side = "above" if rising == good.startswith("≥") else "only below"
    return f"  {lead} {what} reaches 1 at m ≈ {_width_text(log10_m)}: {where}; {what} {good} {side} it"


def _premise_text(log10_x):
    return fmt(10.0 ** log10_x, 2) if abs(log10_x) < 300 else f"10^{log10_x:.1f}"


#: report name -> (compute(rows), format(report)); registered in simulator.theory.REPORTS
REPORTS = {"alpha-tradeoff": (alpha_tradeoff_report, format_alpha_tradeoff_report),
           "lemma-4-3-width": (lemma_4_3_width_report, format_lemma_4_3_width_report)}

#: report name -> fn(open Trace) -> {column: value}: what the report reads from each point's trace
POINT_COLUMNS = {"alpha-tradeoff": alpha_point_columns, "lemma-4-3-width": lemma_4_3_point_columns}
