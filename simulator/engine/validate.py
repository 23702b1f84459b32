"""Check a trace against the bounds of seed 002 (SPEC §2).

Each check reports `holds`, `fails` or `not applicable`, with the measured value
and the bound; per-iteration checks give the first iteration that fails. Where a
bound holds only up to a constant (O, Õ, Ω) there is no pass/fail to report:
the check's status is `ratio` and `measured / bound` is what to read.

Everything here is read from the trace (attrs, /trace rows); nothing is rerun.
Identities used: with unit-norm inputs, ‖J_t‖_F² = Σ_i |S_i(t)|/m and
‖J_t − J_0‖_F² = Σ_i |S_i(t) Δ S_i(0)|/m (each flipped (i, r) changes one block
of norm 1/√m), so Lemma 4.4 is checked from fire counts and flips.
"""

import math
import tomllib

import numpy as np

from simulator import ntk

HOLDS, FAILS, NA, RATIO = "holds", "fails", "not applicable", "ratio"


def _result(ref, statement, status, measured=None, bound=None, first_failing=-1, note=""):
    return {"ref": ref, "statement": statement, "status": status,
            "measured": float("nan") if measured is None else float(measured),
            "bound": float("nan") if bound is None else float(bound),
            "ratio": float(measured / bound) if measured is not None and bound not in (None, 0) else float("nan"),
            "first_failing_iteration": int(first_failing), "note": note}


def _rows(tr, name):
    return tr[name] if name in tr else None


def _converged_mask(res, floor=1e-10):
    """Iterations whose residual is already at round-off relative to the start: halving is moot there."""
    return res <= floor * res[0]


def run_checks(tr):
    """All checks of SPEC §2 on an open Trace; returns {check_name: result dict}."""
    a = tr.attrs
    n, m = int(a["n"]), int(a["m"])
    b, lam, delta, rho = float(a["b"]), float(a["lambda"]), float(a["delta"]), float(a.get("rho", 0.1))
    R0 = float(a["R0"])
    radius = R0 / math.sqrt(m)
    out = {}

    lo, hi = ntk.thm_2_13_lambda_bounds(b, delta, n)
    out["thm_2_13"] = _result("Thm 2.13", "e^{-b²/2}·δ/(100n²) ≤ λ ≤ e^{-b²/2}",
                              HOLDS if lo <= lam <= hi else FAILS, lam, hi,
                              note=f"lower bound {lo:.4g}; λ from the exact shifted NTK")

    lmin = _rows(tr, "lambda_min")
    if lmin is not None and np.isfinite(lmin[0]):
        bound = ntk.lemma_2_12_bound(lam)
        out["lemma_2_12"] = _result("Lemma 2.12", "λ_min(H^dis at W0) ≥ ¾λ", HOLDS if lmin[0] >= bound else FAILS,
                                    lmin[0], bound)
    else:
        out["lemma_2_12"] = _result("Lemma 2.12", "λ_min(H^dis at W0) ≥ ¾λ", NA, note="no Gram metrics in the trace")

    fire = _rows(tr, "fire_count")
    if "W0_norm_over_sqrt_m" in a:
        out["lemma_4_2_W0"] = _result("Lemma 4.2", "‖W0‖₂ = O(√m): ‖W0‖₂/√m", RATIO,
                                      a["W0_norm_over_sqrt_m"], 1.0, note="up to a constant")
    if "f0_max_abs" in a:
        out["lemma_4_2_f0"] = _result("Lemma 4.2", "max_i |f0(x_i)| = O(1)", RATIO, a["f0_max_abs"], 1.0,
                                      note="up to a constant")
    if fire is not None:
        J0_rows = np.sqrt(fire[0] / m)
        out["lemma_4_2_J0"] = _result("Lemma 4.2", "max_i ‖J_{W0,x_i}‖_F = O(1)", RATIO, J0_rows.max(), 1.0,
                                      note="‖J_{W0,x_i}‖_F = sqrt(|S_i(0)|/m); up to a constant")

    # Lemma 4.3, conditional on the drift staying inside R0/√m.
    drift = _rows(tr, "drift_max")
    dev = _rows(tr, "gram_dev_fro")
    if drift is not None and dev is not None and lmin is not None:
        taken = np.isfinite(dev) & np.isfinite(lmin) & np.isfinite(drift)
        inside = taken & (drift <= radius)
        bad = inside & ((dev > lam / 2) | (lmin < lam / 2))
        stmt = "while max_r‖w_r(t)−w_r(0)‖ ≤ R0/√m: ‖G_t−G_0‖_F ≤ λ/2 and λ_min(G_t) ≥ λ/2"
        if not inside.any():
            out["lemma_4_3"] = _result("Lemma 4.3", stmt, NA, note="drift never inside R0/√m at a measured row")
        else:
            first = int(np.flatnonzero(bad)[0]) if bad.any() else -1
            worst = float(np.max(dev[inside]))
            out["lemma_4_3"] = _result("Lemma 4.3", stmt, FAILS if bad.any() else HOLDS, worst, lam / 2, first,
                                       note=f"min λ_min(G_t) = {np.min(lmin[inside]):.4g} over {inside.sum()} rows "
                                            "with drift inside the radius")

    flips = _rows(tr, "flips")
    if fire is not None:
        Jt = np.sqrt(fire.sum(axis=1) / m)
        out["lemma_4_4_norm"] = _result("Lemma 4.4", "‖J_t‖_F = O(√n)", RATIO, Jt.max(), math.sqrt(n),
                                        note="‖J_t‖_F² = Σ_i|S_i(t)|/m; up to a constant")
    if flips is not None:
        fl = flips.astype(np.float64)
        ok = np.all(fl >= 0, axis=1) & np.all(np.isfinite(fl), axis=1)
        if ok.any():
            dJ = np.sqrt(fl[ok].sum(axis=1) / m)
            bound = ntk.lemma_4_4_jacobian_deviation_order(n, R0, m)
            out["lemma_4_4_dev"] = _result("Lemma 4.4", "‖J_t − J_0‖_F = Õ(√n R0^{1/2} m^{-1/4})", RATIO,
                                           dJ.max(), bound, note="‖J_t−J_0‖_F² = Σ_i flips_i/m; up to log factors")
            bound = ntk.lemma_d3_flip_bound(n, rho, R0, m)
            per_row = fl[ok].max(axis=1)
            bad = per_row > bound
            rows = np.flatnonzero(ok)
            out["lemma_d_3"] = _result("Lemma D.3", "flips_i(t) ≤ 2 log(n/ρ)·R0·√m", FAILS if bad.any() else HOLDS,
                                       per_row.max(), bound, int(rows[bad][0]) if bad.any() else -1)

    res = _rows(tr, "residual_norm")
    if res is not None and drift is not None and res.shape[0] > 1:
        moot = _converged_mask(res)
        halving = res[1:] <= 0.5 * res[:-1] * (1 + 1e-12)
        halving_bad = ~halving & ~moot[:-1]
        drift_bad = np.isfinite(drift) & (drift > radius)
        bad_t = np.flatnonzero(np.concatenate([[False], halving_bad]) | drift_bad)
        worst = float(np.max(res[1:][~moot[:-1]] / res[:-1][~moot[:-1]])) if (~moot[:-1]).any() else 0.0
        out["def_4_5"] = _result(
            "Def 4.5", "‖f_{t+1}−y‖ ≤ ½‖f_t−y‖ and max_r‖w_r(t+1)−w_r(0)‖ ≤ R0/√m, every t",
            FAILS if bad_t.size else HOLDS, worst, 0.5, int(bad_t[0]) if bad_t.size else -1,
            note=f"measured = worst residual ratio; max drift {np.nanmax(drift):.4g} vs R0/√m = {radius:.4g}; "
                 "iterations already at round-off (residual ≤ 1e-10 of the start) are not judged")
    elif res is not None:
        out["def_4_5"] = _result("Def 4.5", "induction hypothesis", NA, note="no iteration in the trace")

    if fire is not None:
        k0 = float(fire[0].max())
        bound = ntk.lemma_a10_fire_bound(m, b)
        out["lemma_a_10"] = _result("Lemma A.10", "k_{i,0} = |S_i(0)| ≤ 2·m·e^{−b²/2}", HOLDS if k0 <= bound else FAILS,
                                    k0, bound)
        if abs(b - ntk.default_b(m)) < 1e-12:
            bound = ntk.cor_a11_fire_bound(m)
            out["cor_a_11"] = _result("Cor. A.11", "with b = √(0.48 log m): k_{i,0} ≤ 2 m^{0.76}",
                                      HOLDS if k0 <= bound else FAILS, k0, bound)
        else:
            out["cor_a_11"] = _result("Cor. A.11", "with b = √(0.48 log m): k_{i,0} ≤ 2 m^{0.76}", NA,
                                      note="b is not the default √(0.48 log m)")
        if "alpha_bar" in a:
            expo = ntk.thm_g2_sparsity_exponent(float(a["alpha_bar"]))
            out["thm_g_2"] = _result("Thm G.2", "sparsity O(m^{(3+ᾱ)/4})", RATIO, float(fire.max()), m ** expo,
                                     note="up to a constant")

    iters = _rows(tr, "reg_iterations")
    iterative = a.get("solver") == "bpsw" or (a.get("solver") == "sublinear"
                                              and a.get("solver_regression") != "exact-gram")
    if iters is not None and iters.size and iterative:  # a sketched, iterative regression
        bound = ntk.lemma_e4_iterations(n, lam)
        out["lemma_e_4"] = _result("Lemma E.4", "regression iterations O(log(n/λ))", RATIO, float(np.max(iters)),
                                   bound, note="up to a constant")
    else:
        out["lemma_e_4"] = _result("Lemma E.4", "regression iterations O(log(n/λ))", NA,
                                   note="no iterative sketched regression in this run")

    eps = _rows(tr, "sketch_eps")
    target = float(tomllib.loads(a["scenario_toml"]).get("solver", {}).get("eps_sketch", 0.1))
    if eps is not None and np.isfinite(eps).any():
        e = eps[np.isfinite(eps)]
        bad = np.flatnonzero(np.isfinite(eps) & (eps > target))
        out["def_2_1"] = _result("Def 2.1", "‖I − UᵀSᵀSU‖₂ ≤ ε_sketch", FAILS if bad.size else HOLDS, e.max(),
                                 target, int(bad[0]) if bad.size else -1)
    else:
        out["def_2_1"] = _result("Def 2.1", "‖I − UᵀSᵀSU‖₂ ≤ ε_sketch", NA,
                                 note="sketch distortion not recorded (set metrics.sketch_distortion = true)")

    ratio = ntk.thm_4_1_width_ratio(m, lam, n)
    out["thm_4_1"] = _result("Thm 4.1", "m = Ω(max{λ⁻⁴n⁴, λ⁻²n²d log(16n/ρ)}): m / (λ⁻⁴n⁴)", RATIO, m,
                             m / ratio, note=f"the run is at {ratio:.3g} of the proven width (up to a constant)")
    return out


def outcome(results):
    """'fails' if any check fails, else 'holds'."""
    return FAILS if any(r["status"] == FAILS for r in results.values()) else HOLDS
