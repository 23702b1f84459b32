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
"""

import math

import numpy as np

from simulator.fits import loglog_fit  # noqa: F401  (re-exported: the reports and their tests use it)

from simulator import ntk
from simulator.theory import seed002

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


#: report name -> (compute(rows), format(report)); registered in simulator.theory.REPORTS
REPORTS = {"alpha-tradeoff": (alpha_tradeoff_report, format_alpha_tradeoff_report)}

#: report name -> fn(open Trace) -> {column: value}: what the report reads from each point's trace
POINT_COLUMNS = {"alpha-tradeoff": alpha_point_columns}
