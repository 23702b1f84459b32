"""Seed 002, "Training Overparametrized Neural Networks in Sublinear Time": its bounds as data.

What is here, in order:

* ``constants(X, b, rho, alpha_bar)``: the theory attrs a run records (b, λ of the
  exact shifted NTK, δ, R0 = n/λ, ρ, ᾱ).
* The bound formulas of docs/theory.md §2, closed form: Thm 2.13 (λ sandwich), Lemma 2.12
  (¾λ), Lemma 4.2 (scales at W0), Lemma 4.3 (λ/2), Lemma 4.4 (Jacobian
  deviation), Def 4.5 (induction hypothesis: halving, radius R0/√m), Lemma D.3
  (flips), Lemma A.10 / Cor. A.11 (fire counts), Thm G.2 (sparsity), Lemma E.4
  (regression iterations), ε_reg (Algorithm 5) and Thm 4.1 (width). Most hold
  only up to constants (O, Õ, Ω) and only with probability >= 1 − ρ; each
  docstring says "Exact" or "Order".
* The premises' requirements, closed form: Lemma 4.3's width m >= 36n⁴/λ⁴ (the proof's
  radius λ/(6n)), Lemma A.5's m >= b²R0², the constant-free widths of Lemmas 2.12, 4.2,
  4.4 and Thm G.2, the regression accuracy min{1/6, √(λ/n)} of eqs. (13), (19), and
  Lemma D.3's proof run at the realised drift.
* The same bounds read off a trace's attrs (``drift_radius_of``,
  ``lemma_4_3_bound_of``, ...), ``is_default_b`` and ``def_4_5_halving``: the one
  implementation that `validate` and the figures both use; and the premises measured on a
  trace (``width_premise_lemma_4_3``, ``drift_premise``, ...: simulator.theory.Premise values).
* ``CHECKS``: the Check records of this paper, in report order; each returns its measured
  conclusion with its premises, and simulator.theory.verdict makes the status.
* The sweep's width-threshold report (Def 4.5 observed vs Thm 4.1 required).

The exact shifted NTK itself (Def. 2.10, λ of Remark 2.8) and the choice of b
(Cor. A.11, Thm G.2) are in ``simulator.ntk``. `log` is the natural logarithm
everywhere (docs/theory.md).
"""

import math
import tomllib

import numpy as np

from simulator.data import separability
from simulator.ntk import _alpha_bar, _b, _lam, _m, _n, _real, _rho, default_b, expected_fire_count, ntk_lambda
from simulator.theory import (FAILS, HOLDS, NA, RATIO, Premise, at_least, at_most, probability, registrar,
                              unknown_constant, width)
from simulator.theory.seed001 import lemma_3_4_tail

#: ρ of the high-probability bounds when a trace does not record it
DEFAULT_RHO = 0.1
#: |b − √(0.48 ln m)| below which b counts as the default of Cor. A.11
DEFAULT_B_TOL = 1e-12
#: Def. 4.5: the residual norm at least halves per step
DEF_4_5_FACTOR = 0.5
#: residual (relative to the start) at or below which Def 4.5's halving is not judged: round-off
ROUNDOFF = 1e-10
#: relative slack on the halving comparison (the residuals carry round-off)
HALVING_RTOL = 1e-12
#: the fraction of seeds at which Def 4.5 must hold for a width to count as "observed sufficient"
THRESHOLD_FRACTION = 0.9


# --------------------------------------------------------------------------- what a run records


def constants(X, b, rho, alpha_bar=None):
    """The theory attrs of a run on data X (unit rows) with shift b and failure probability ρ.

    {"b", "lambda" (λ_min of the exact shifted NTK, Remark 2.8), "delta" (δ of Def. 2.11),
    "R0" (= n/λ, Def. 4.5; inf when λ <= 0), "lambda_source": "ntk", "rho"}, plus "alpha_bar"
    (Thm G.2) when given.
    """
    n = np.asarray(X).shape[0]
    delta = separability(X)
    lam = ntk_lambda(X, b)
    out = {"b": b, "lambda": lam, "delta": delta, "R0": drift_radius_R0(n, lam) if lam > 0 else math.inf,
           "lambda_source": "ntk", "rho": rho}
    if alpha_bar is not None:
        out["alpha_bar"] = alpha_bar
    return out


# --------------------------------------------------------------------------- bounds (docs/theory.md §2)


def drift_radius_R0(n, lam):
    """R0 = n/λ (Def. 4.5 writes R0 ≈ n/λ; we take the constant as 1)."""
    return _n(n) / _lam(lam)


def drift_radius_from_R0(R0, m):
    """R0/√m for a given R0 (R0 = inf: no finite radius). The radius of Def. 4.5 / Lemma 4.3."""
    try:
        R0 = float(R0)
    except (TypeError, ValueError):
        raise ValueError(f"R0: must be a real number, got {R0!r}") from None
    if math.isnan(R0) or R0 <= 0:
        raise ValueError(f"R0: must be > 0, got {R0}")
    return R0 / math.sqrt(_m(m))


def drift_radius(n, lam, m):
    """The drift radius R0/√m of Def. 4.5 / Lemma 4.3: max_r ||w_r(t) − w_r(0)|| must stay below it."""
    return drift_radius_from_R0(drift_radius_R0(n, lam), m)


def thm_2_13_lambda_bounds(b, delta, n):
    """Theorem 2.13 (Thm F.1 of [47]): e^{−b²/2}·δ/(100 n²) <= λ <= e^{−b²/2}. Exact.

    The theorem assumes δ < √2; δ = √2 (all pairs orthogonal) is accepted here
    because then H = Q(b)·I and the sandwich still holds. n >= 2 (δ needs a pair).
    """
    b = _b(b)
    delta = _real("delta", delta, lo=0.0, hi=math.sqrt(2.0) + 1e-12)
    n = _real("n", n, lo=2.0)
    e = math.exp(-b * b / 2.0)
    return e * delta / (100.0 * n * n), e


def lemma_2_12_bound(lam):
    """Lemma 2.12 (Lemma C.1 of [47]): λ_min(H^dis at W0) >= ¾λ w.p. 1 − ρ
    once m = Ω(λ^{-1} n log(n/ρ)). Returns ¾λ. Exact."""
    return 0.75 * _lam(lam)


def lemma_4_2_weight_norm_order(m):
    """Lemma 4.2 (Lemma D.1): ||W0||_2 = O(√m). Returns √m (report ||W0||_2/√m). Order O."""
    return math.sqrt(_m(m))


def lemma_4_2_output_order():
    """Lemma 4.2: max_i |f(W0, x_i)| = O(1). Returns 1. Order O."""
    return 1.0


def lemma_4_2_jacobian_row_order():
    """Lemma 4.2: max_i ||J_{W0,x_i}||_F = O(1). Returns 1. Order O."""
    return 1.0


def lemma_4_3_gram_deviation_bound(lam):
    """Lemma 4.3 (Lemma D.2): ||G_t − G_0||_F <= λ/2 while max_r drift <= R0/√m. Exact."""
    return 0.5 * _lam(lam)


def lemma_4_3_lambda_min_bound(lam):
    """Lemma 4.3 (Lemma D.2): λ_min(G_t) >= λ/2 while max_r drift <= R0/√m. Exact.
    (The same λ/2 as the deviation bound.)"""
    return lemma_4_3_gram_deviation_bound(lam)


def lemma_4_3_radius_limit(n, lam):
    """The drift radius Lemma 4.3's proof (Lemma D.2) can afford: R <= λ/(6n) keeps ||G_t − G_0||_F <= λ/2.
    Exact (the proof's constant)."""
    return _lam(lam) / (6.0 * _n(n))


def lemma_4_3_width_requirement(n, lam):
    """Lemma 4.3's width premise with the proof's constant: the radius R0/√m = n/(λ√m) must be at most
    λ/(6n) (``lemma_4_3_radius_limit``), i.e. √m >= 6n²/λ², i.e. m >= 36 n⁴/λ⁴ (docs/theory.md §2 "Premises").
    Exact."""
    lam, n = _lam(lam), _n(n)
    return 36.0 * n ** 4 / lam ** 4


def lemma_a5_width_requirement(b, R0):
    """Lemma A.5's premise on the radius, R0/√m <= 1/b, as a width: m >= b²R0² (0 at b = 0: no limit). Exact."""
    b = _b(b)
    R0 = _real("R0", R0, lo=0.0, lo_open=True)
    return (b * R0) ** 2


def lemma_2_12_width_order(n, lam, rho):
    """Lemma 2.12's width premise m = Ω(λ⁻¹ n log(n/ρ)) without its constant: n ln(n/ρ)/λ. Order Ω."""
    n = _n(n)
    return n * math.log(n / _rho(rho)) / _lam(lam)


def lemma_4_2_width_order(d, n, rho):
    """Lemma 4.2's (D.1's) width premise m = Ω(d log(16n/ρ)) without its constant: d ln(16n/ρ). Order Ω."""
    return _real("d", d, lo=1.0) * math.log(16.0 * _n(n) / _rho(rho))


def lemma_4_4_width_order(n, R0):
    """Lemma 4.4's width premise m = Ω̃(n²R0²) without constants or logs: n²R0². Order Ω̃."""
    return (_n(n) * _real("R0", R0, lo=0.0, lo_open=True)) ** 2


def thm_g2_width_log10(delta, n, rho, alpha_bar):
    """log10 of Thm G.2's width premise m = Ω((δ⁻⁴ n¹² log⁴(n/ρ))^{1/ᾱ}) without its constant (as a log: at
    ᾱ = 0.04 the power 25 overflows a float). Order Ω."""
    delta = _real("delta", delta, lo=0.0, lo_open=True)
    n, rho = _n(n), _rho(rho)
    a = _real("alpha_bar", alpha_bar, lo=0.0, lo_open=True, hi=1.0)
    inner = -4 * math.log10(delta) + 12 * math.log10(n) + 4 * math.log10(math.log(n / rho))
    return inner / a


def regression_accuracy_bound(lam, n):
    """The accuracy of each step's regression that the convergence proof uses (eqs. (13), (19), Lemma A.7):
    ||J_tJ_tᵀg_t − (f_t − y)|| <= min{1/6, √(λ/n)}·||f_t − y||. Returns min{1/6, √(λ/n)} (= √(λ/n) whenever
    λ <= n/36). Exact."""
    return min(1.0 / 6.0, math.sqrt(_lam(lam) / _n(n)))


def lemma_4_4_jacobian_deviation_order(n, R0, m):
    """Lemma 4.4 (Lemma D.3): ||J_t − J_0||_F = Õ(√n · R0^{1/2} · m^{−1/4}). Order Õ (returns the
    expression without constants or log factors)."""
    R0 = _real("R0", R0, lo=0.0, lo_open=True)
    return math.sqrt(_n(n) * R0) * _m(m) ** -0.25


def lemma_4_4_jacobian_row_deviation_order(R0, m):
    """Lemma 4.4 (Lemma D.3): ||J_{W,x_i} − J_{W0,x_i}||_2 = Õ(R0^{1/2} m^{−1/4}). Order Õ."""
    R0 = _real("R0", R0, lo=0.0, lo_open=True)
    return math.sqrt(R0) * _m(m) ** -0.25


def lemma_4_4_jacobian_norm_order(n):
    """Lemma 4.4 (Lemma D.3): ||J_t||_F = O(√n). Order O."""
    return math.sqrt(_n(n))


def def_4_5_residual_bound(prev_residual_norm):
    """Def. 4.5 (induction hypothesis): ||f_{t+1} − y|| <= ½||f_t − y||. Returns ½·previous. Exact.
    Judged over a whole run by :func:`def_4_5_halving`."""
    return DEF_4_5_FACTOR * _real("prev_residual_norm", prev_residual_norm, lo=0.0)


def def_4_5_drift_bound(n, lam, m):
    """Def. 4.5 (induction hypothesis): max_r ||w_r(t) − w_r(0)|| <= R0/√m, R0 = n/λ. Exact
    given R0 = n/λ (the paper writes R0 ≈ n/λ)."""
    return drift_radius(n, lam, m)


def def_4_5_loss_envelope(loss0, t):
    """Def. 4.5 on the loss ½||f_t − y||²: the residual halves per step, so loss_t <= L0·4^{−t}. Exact.
    `t` = steps since the start (array or scalar)."""
    return loss0 * (DEF_4_5_FACTOR ** 2) ** np.asarray(t, dtype=np.float64)


def lemma_d3_flip_bound(n, rho, R0, m, include_mean=False):
    """Lemma D.3 (proof of Lemma 4.4): for each i, the number of neurons whose activation on x_i
    differs from t = 0 is <= 2 ln(n/ρ)·R0·√m, w.p. >= 1 − ρ, while max_r drift <= R0/√m
    (R0 >= 1 assumed by the lemma). Exact as printed.

    Paper vs proof: the bound checked is the final line of the proof. The proof's own Hoeffding step,
    Pr[Σ_r s_{i,r} >= (t + 4/5) R0 √m] <= 2 e^{−t²} with t = 2 ln(n/ρ), only supports
    (2 ln(n/ρ) + 4/5)·R0·√m: the mean term (4/5)R0√m (anti-concentration, Lemma A.4) is dropped.
    For ρ <= 0.1 the difference is < 18 %. Pass include_mean=True for the proof's value.
    """
    n = _n(n)
    rho = _rho(rho)
    R0 = _real("R0", R0, lo=0.0, lo_open=True)
    m = _m(m)
    return (2.0 * math.log(n / rho) + (0.8 if include_mean else 0.0)) * R0 * math.sqrt(m)


def lemma_d3_flip_bound_at_drift(n, rho, drift, m):
    """The proof of Lemma D.3 run with the realised drift instead of the radius: a neuron can flip on x_i only
    if |<w_r(0), x_i> − b| <= drift (Appendix A), which has probability <= (4/5)·drift (Lemma A.4), so with
    R0 replaced by √m·drift the proof's (2 ln(n/ρ) + 4/5)·R0·√m becomes (2 ln(n/ρ) + 4/5)·drift·m.
    A diagnostic (drift depends on W0, so this is not a high-probability bound); 0 at drift 0."""
    drift = _real("drift", drift, lo=0.0)
    return (2.0 * math.log(_n(n) / _rho(rho)) + 0.8) * drift * _m(m)


def lemma_a10_fire_bound(m, b):
    """Lemma A.10 (Lemma 3.8 of [47]): k_{i,0} = |S_i(0)| <= 2·m·e^{−b²/2} w.h.p. Exact as used.

    The paper states only O(m e^{−b²/2}); the constant 2 is this project's choice, taken from Cor. A.11 (docs/theory.md §2).
    Since Q(b) <= ½ e^{−b²/2}, the bound is at least 4× the mean m·Q(b).
    """
    b = _b(b)
    return 2.0 * _m(m) * math.exp(-b * b / 2.0)


def cor_a11_fire_bound(m):
    """Cor. A.11: with b = √(0.48 ln m), |S_i(0)| <= 2 m^{0.76} w.h.p. Exact.
    Equals lemma_a10_fire_bound(m, default_b(m))."""
    return 2.0 * _m(m) ** 0.76


def thm_g2_sparsity_exponent(alpha_bar):
    """Thm G.2: with b = √(0.5(1 − ᾱ) ln m) the sparsity is O(m^{(3+ᾱ)/4}); returns (3+ᾱ)/4
    (0.76 at ᾱ = 0.04)."""
    a = _alpha_bar(alpha_bar)  # ᾱ = 0 is allowed: b = √(0.5 ln m), sparsity m^{3/4}
    return (3.0 + a) / 4.0


def thm_g2_sparsity_order(m, alpha_bar):
    """Thm G.2: sparsity (fire count per point) O(m^{(3+ᾱ)/4}). Order O."""
    return _m(m) ** thm_g2_sparsity_exponent(alpha_bar)


def lemma_e4_iterations(n, lam):
    """Lemma E.4: the iterative regression needs O(log(n/λ)) iterations
    (= log(κ/ε_reg) with κ = √(n/λ), ε_reg = √(λ/n)). Returns ln(n/λ). Order O."""
    return math.log(_n(n) / _lam(lam))


def eps_reg(lam, n):
    """ε_reg = (1/6)·√(λ/n) (Algorithm 5, line 30). Exact."""
    return math.sqrt(_lam(lam) / _n(n)) / 6.0


def thm_4_1_dominant_requirement(lam, n):
    """Thm 4.1's dominant width term λ^{-4} n^4. Order Ω (constant unknown)."""
    lam, n = _lam(lam), _n(n)
    return lam ** -4 * n ** 4


def thm_4_1_width_requirement(lam, n, d, rho):
    """Thm 4.1: m = Ω(max{λ^{-4} n^4, λ^{-2} n² d ln(16n/ρ)}). Order Ω (constant unknown).

    Note: the proof of Thm G.2 quotes Thm 4.1 as m = Ω(λ^{-4} n^4 b² log²(n/ρ)) instead.
    """
    lam, n, rho = _lam(lam), _n(n), _rho(rho)
    d = _real("d", d, lo=1.0)
    return max(thm_4_1_dominant_requirement(lam, n), lam ** -2 * n * n * d * math.log(16.0 * n / rho))


def thm_4_1_width_ratio(m, lam, n):
    """m / (λ^{-4} n^4) = m λ⁴/n⁴: how far a run's width is from Thm 4.1's dominant requirement
    (>= 1 up to the unknown constant means inside the proven regime). Order Ω."""
    m = _m(m)
    lam, n = _lam(lam), _n(n)
    return m * lam ** 4 / n ** 4


# --------------------------------------------------------------------------- bounds of a trace
# Each takes a trace's attrs mapping (KeyError when an attr is missing, ValueError outside the
# formula's domain). `validate` and the figures read every bound value through these.


def rho_of(attrs):
    """ρ of the run (attr "rho"; DEFAULT_RHO when the trace does not record it)."""
    return float(attrs.get("rho", DEFAULT_RHO))


def drift_radius_of(attrs):
    """Def. 4.5 / Lemma 4.3: the radius R0/√m, with the R0 the run recorded (inf: no radius)."""
    return drift_radius_from_R0(attrs["R0"], attrs["m"])


def lemma_4_3_bound_of(attrs):
    """Lemma 4.3: λ/2 (bound on ||G_t − G_0||_F and on λ_min(G_t) from below). Exact."""
    return lemma_4_3_gram_deviation_bound(attrs["lambda"])


def lemma_a10_fire_bound_of(attrs):
    """Lemma A.10: 2m·e^{−b²/2}. Exact as used."""
    return lemma_a10_fire_bound(attrs["m"], attrs["b"])


def mean_fire_count_of(attrs):
    """E|S_i(0)| = m·Q(b) (not a bound: the reference the fire counts start from)."""
    return expected_fire_count(attrs["m"], attrs["b"])


def lemma_d3_flip_bound_of(attrs):
    """Lemma D.3: 2 ln(n/ρ)·R0·√m. Exact as printed."""
    return lemma_d3_flip_bound(attrs["n"], rho_of(attrs), attrs["R0"], attrs["m"])


def width_ratio_of(attrs):
    """Thm 4.1: m λ⁴/n⁴. Order Ω."""
    return thm_4_1_width_ratio(attrs["m"], attrs["lambda"], attrs["n"])


def is_default_b(m, b):
    """Whether b is the default √(0.48 ln m) of Cor. A.11 (within DEFAULT_B_TOL)."""
    return abs(float(b) - default_b(m)) < DEFAULT_B_TOL


def def_4_5_halving(residual_norms, t=None):
    """Def. 4.5's halving ||f_{t+1} − y|| <= ½||f_t − y||, judged step by step over a run.

    residual_norms: ||f − y|| at successive rows, the first being the start; t: the rows'
    iteration numbers (default 0, 1, 2, ...): only steps between consecutive iterations are
    judged. A step that starts at round-off -- residual <= ROUNDOFF (1e-10) of the first --
    is not judged (halving is moot there). Returns (judged, fails): boolean arrays over the
    steps k → k+1 (length len − 1), fails ⊆ judged; a NaN residual is judged and fails.
    """
    res = np.asarray(residual_norms, dtype=np.float64).reshape(-1)
    if res.size < 2:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    judged = ~(res[:-1] <= ROUNDOFF * res[0])
    if t is not None:
        judged &= np.diff(np.asarray(t)) == 1
    fails = judged & ~(res[1:] <= DEF_4_5_FACTOR * res[:-1] * (1 + HALVING_RTOL))
    return judged, fails


# --------------------------------------------------------------------------- premises of a trace
# Each returns Premise values (simulator.theory) measured on the trace: the width against a proof's
# requirement, the drift against the radius, the probability level. docs/theory.md §2 "Premises" lists
# them per statement.


def _or_unknown(name):
    """A premise builder that, when the trace's attrs are missing or outside the formula's domain (KeyError,
    TypeError, ValueError: e.g. λ = 0), returns the premise `name` as not checkable instead of raising."""
    def wrap(fn):
        def builder(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (KeyError, TypeError, ValueError) as e:
                return at_least(name, float("nan"), float("nan"), why=f"not computable from the trace: {e}")
        builder.__name__, builder.__qualname__, builder.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        return builder
    return wrap


@_or_unknown("m ≥ 36n⁴/λ⁴")
def width_premise_lemma_4_3(attrs):
    """m >= 36n⁴/λ⁴: the radius R0/√m within λ/(6n), as Lemma 4.3's proof needs."""
    return width("m ≥ 36n⁴/λ⁴", attrs["m"], lemma_4_3_width_requirement(attrs["n"], attrs["lambda"]),
                 why="R0/√m ≤ λ/(6n) in Lemma 4.3's proof")


@_or_unknown("m ≥ b²R0²")
def radius_b_premise(attrs):
    """m >= b²R0²: the radius R0/√m within 1/b (Lemma A.5)."""
    return width("m ≥ b²R0²", attrs["m"], lemma_a5_width_requirement(attrs["b"], attrs["R0"]),
                 why="R0/√m ≤ 1/b, Lemma A.5")


@_or_unknown("m = Ω̃(λ⁻⁴n⁴)")
def thm_4_1_width_premise(attrs):
    """m = Ω̃(λ⁻⁴n⁴) (Thm 4.1): constant not given, never decided; its ratio with constant 1 is reported."""
    return unknown_constant("m = Ω̃(λ⁻⁴n⁴)", attrs["m"], thm_4_1_dominant_requirement(attrs["lambda"], attrs["n"]),
                            why="Thm 4.1, constant not given", symbol="m/m_req")


def drift_premise(drift, radius, bad=None, rows=None):
    """max_r ‖w_r(t) − w_r(0)‖ <= R0/√m, at the rows that matter: when the conclusion fails (`bad`, a mask over
    the rows), at the failing row with the smallest drift (met iff some failing row is inside the radius: a
    failure there contradicts the statement); otherwise over the judged rows `rows` (default: every measured
    row), the largest drift. Not checkable without the metric."""
    name = "drift ≤ R0/√m"
    if drift is None:
        return at_most(name, float("nan"), radius, why="no 'drift_max' in the trace")
    drift = np.asarray(drift, dtype=np.float64)
    ok = np.isfinite(drift)
    if rows is not None:
        ok &= rows
    if bad is not None and np.any(bad & ok):
        return at_most(name, float(np.min(drift[bad & ok])), radius, why="at a failing row")
    if not ok.any():
        return at_most(name, float("nan"), radius, why="drift never measured")
    return at_most(name, float(np.max(drift[ok])), radius, why="largest drift over the judged rows")


@_or_unknown("λ_min(G_t) ≥ λ/2")
def lambda_min_premise(lmin, lam):
    """min_t λ_min(G_t) >= λ/2 (Lemma 4.3's conclusion, which the convergence proof uses), when measured."""
    vals = None if lmin is None else np.asarray(lmin, dtype=np.float64)
    measured = float(np.min(vals[np.isfinite(vals)])) if vals is not None and np.isfinite(vals).any() else float("nan")
    return at_least("λ_min(G_t) ≥ λ/2", measured, lemma_4_3_bound_of({"lambda": lam}),
                    why="Lemma 4.3's conclusion, used at every step")


@_or_unknown("‖JJᵀg − (f−y)‖ ≤ min{1/6, √(λ/n)}‖f−y‖")
def regression_premise(tr):
    """max_t reg_residual <= min{1/6, √(λ/n)}: each step's regression as accurate as the proof needs (not
    checkable without the metric)."""
    a = tr.attrs
    res = _rows(tr, "reg_residual")
    vals = None if res is None else np.asarray(res, dtype=np.float64)
    measured = float(np.max(vals[np.isfinite(vals)])) if vals is not None and np.isfinite(vals).any() else float("nan")
    return at_most("‖JJᵀg − (f−y)‖ ≤ min{1/6, √(λ/n)}‖f−y‖", measured,
                   regression_accuracy_bound(a["lambda"], a["n"]), why="each step's regression, eqs. (13), (19)")


@_or_unknown("n·exp(−3k₀/8) < 1")
def fire_tail_premise(attrs):
    """n·exp(−3k₀/8) < 1 with k₀ = m·e^{−b²/2}: the Bernstein tail that makes |S_i(0)| <= 2k₀ hold for all i
    with positive probability (Lemma A.10, seed 001's Lemma 3.4)."""
    n = int(attrs["n"])
    tail = min(n * lemma_3_4_tail(attrs["m"], attrs["b"]), math.inf)
    return at_most("n·exp(−3k₀/8) < 1", tail, 1.0, why="claimed w.p. ≥ 1 − n·exp(−3k₀/8), k₀ = m·e^{−b²/2}")


@_or_unknown("b > 0")
def positive_b_premise(attrs):
    """b > 0 (Lemma A.10 and Cor. A.11 assume it)."""
    b = float(attrs["b"])
    return Premise("b > 0", b, 0.0, b > 0, ">=", "the lemma assumes it")


# --------------------------------------------------------------------------- the checks
# Read from the trace (attrs, /trace rows); nothing is rerun. Identities used: with unit-norm
# inputs, ||J_t||_F² = Σ_i |S_i(t)|/m and ||J_t − J_0||_F² = Σ_i |S_i(t) Δ S_i(0)|/m (each
# flipped (i, r) changes one block of norm 1/√m), so Lemma 4.4 is checked from fire counts
# and flips. Every record returns its measured conclusion with its premises; simulator.theory.verdict
# makes the status.

_CHECKS = []


_check = registrar(_CHECKS)


def _rows(tr, name):
    return tr[name] if name in tr else None


@_check("thm_2_13", "Thm 2.13", "inequality", "e^{-b²/2}·δ/(100n²) ≤ λ ≤ e^{-b²/2}", measured="λ", bound="e^{−b²/2}")
def _thm_2_13(tr, c):
    a = tr.attrs
    lam = float(a["lambda"])
    lo, hi = thm_2_13_lambda_bounds(float(a["b"]), float(a["delta"]), int(a["n"]))
    premises = [at_least("b ≥ 0", a["b"], 0.0), at_most("δ ≤ √2", a["delta"], math.sqrt(2.0) + 1e-12,
                                                        why="δ-separated unit rows")]
    return c.result(HOLDS if lo <= lam <= hi else FAILS, lam, hi,
                    note=f"lower bound {lo:.4g}; λ from the exact shifted NTK; deterministic", premises=premises)


@_check("lemma_2_12", "Lemma 2.12", "inequality", "λ_min(H^dis at W0) ≥ ¾λ", measured="λ_min(G_0)", bound="¾λ")
def _lemma_2_12(tr, c):
    lmin = _rows(tr, "lambda_min")
    if lmin is not None and np.isfinite(lmin[0]):
        a = tr.attrs
        bound = lemma_2_12_bound(float(a["lambda"]))
        rho = rho_of(a)
        premises = [_lemma_2_12_width(a), probability(rho)]
        return c.result(HOLDS if lmin[0] >= bound else FAILS, lmin[0], bound, premises=premises)
    return c.result(NA, note="no Gram metrics in the trace")


@_or_unknown("m = Ω(λ⁻¹n log(n/ρ))")
def _lemma_2_12_width(a):
    return unknown_constant("m = Ω(λ⁻¹n log(n/ρ))", a["m"], lemma_2_12_width_order(a["n"], a["lambda"], rho_of(a)),
                            symbol="m/m_req")


@_or_unknown("m = Ω(d log(16n/ρ))")
def _lemma_4_2_width(a):
    return unknown_constant("m = Ω(d log(16n/ρ))", a["m"], lemma_4_2_width_order(a["d"], a["n"], rho_of(a)),
                            symbol="m/m_req")


@_or_unknown("m = Ω̃(n²R0²)")
def _lemma_4_4_width(a):
    return unknown_constant("m = Ω̃(n²R0²)", a["m"], lemma_4_4_width_order(a["n"], a["R0"]), symbol="m/m_req")


@_or_unknown("R0 ≥ 1")
def _r0_premise(a, why="assumed by the lemma"):
    return at_least("R0 ≥ 1", a["R0"], 1.0, why=why)


def _lemma_4_2_premises(a):
    return [_lemma_4_2_width(a), probability(rho_of(a), 0.5)]


@_check("lemma_4_2_W0", "Lemma 4.2", "order", "‖W0‖₂ = O(√m): ‖W0‖₂/√m", measured="‖W0‖₂/√m", bound="1")
def _lemma_4_2_W0(tr, c):
    a = tr.attrs
    if "W0_norm_over_sqrt_m" in a:
        # measured is already ‖W0‖₂/√m, so the bound lemma_4_2_weight_norm_order(m) = √m becomes 1
        return c.result(RATIO, a["W0_norm_over_sqrt_m"], 1.0, note="up to a constant", premises=_lemma_4_2_premises(a))
    return None


@_check("lemma_4_2_f0", "Lemma 4.2", "order", "max_i |f0(x_i)| = O(1)", measured="max_i |f(W0, x_i)|", bound="1")
def _lemma_4_2_f0(tr, c):
    a = tr.attrs
    if "f0_max_abs" in a:
        return c.result(RATIO, a["f0_max_abs"], lemma_4_2_output_order(), note="up to a constant",
                        premises=_lemma_4_2_premises(a))
    return None


@_check("lemma_4_2_J0", "Lemma 4.2", "order", "max_i ‖J_{W0,x_i}‖_F = O(1)", measured="max_i ‖J_{W0,x_i}‖_F",
        bound="1")
def _lemma_4_2_J0(tr, c):
    fire = _rows(tr, "fire_count")
    if fire is None:
        return None
    J0_rows = np.sqrt(fire[0] / int(tr.attrs["m"]))
    return c.result(RATIO, J0_rows.max(), lemma_4_2_jacobian_row_order(),
                    note="‖J_{W0,x_i}‖_F = sqrt(|S_i(0)|/m); up to a constant", premises=_lemma_4_2_premises(tr.attrs))


@_check("lemma_4_3", "Lemma 4.3", "inequality",
        "while max_r‖w_r(t)−w_r(0)‖ ≤ R0/√m: ‖G_t−G_0‖_F ≤ λ/2 and λ_min(G_t) ≥ λ/2",
        measured="‖G_t − G_0‖_F", bound="λ/2")
def _lemma_4_3(tr, c):
    """Judged at every row with Gram metrics; the drift premise says whether a failing row is inside R0/√m.
    Absent without drift and Gram metrics."""
    drift, dev, lmin = _rows(tr, "drift_max"), _rows(tr, "gram_dev_fro"), _rows(tr, "lambda_min")
    if drift is None or dev is None or lmin is None:
        return None
    a = tr.attrs
    half = lemma_4_3_bound_of(a)
    radius = drift_radius_of(a)
    taken = np.isfinite(dev) & np.isfinite(lmin) & np.isfinite(drift)
    if not taken.any():
        return c.result(NA, note="no row with the drift and both Gram metrics measured")
    bad = taken & ((dev > half) | (lmin < half))
    inside = taken & (drift <= radius)
    lmin0 = float(lmin[0]) if np.isfinite(lmin[0]) else float("nan")
    premises = [width_premise_lemma_4_3(a), radius_b_premise(a),
                at_least("λ_min(G_0) ≥ ¾λ", lmin0, lemma_2_12_bound(a["lambda"]), why="Lemma 2.12, which the proof uses"),
                drift_premise(drift, radius, bad, taken), probability(rho_of(a))]
    first = int(np.flatnonzero(bad)[0]) if bad.any() else -1
    worst = float(np.max(dev[taken]))
    low = float(np.min(lmin[taken]))
    return c.result(FAILS if bad.any() else HOLDS, worst, half, first,
                    note=f"min λ_min(G_t) = {low:.4g} = {low / half:.3g} × λ/2 over {int(taken.sum())} measured rows "
                         f"({int(inside.sum())} with drift inside R0/√m = {radius:.4g})", premises=premises)


def _lemma_4_4_premises(tr, drift_rows=None):
    a = tr.attrs
    return [_r0_premise(a), _lemma_4_4_width(a),
            drift_premise(_rows(tr, "drift_max"), drift_radius_of(a), rows=drift_rows),
            probability(rho_of(a))]


@_check("lemma_4_4_norm", "Lemma 4.4", "order", "‖J_t‖_F = O(√n)", measured="max_t ‖J_t‖_F", bound="√n")
def _lemma_4_4_norm(tr, c):
    fire = _rows(tr, "fire_count")
    if fire is None:
        return None
    a = tr.attrs
    Jt = np.sqrt(fire.sum(axis=1) / int(a["m"]))
    return c.result(RATIO, Jt.max(), lemma_4_4_jacobian_norm_order(int(a["n"])),
                    note="‖J_t‖_F² = Σ_i|S_i(t)|/m; up to a constant", premises=_lemma_4_4_premises(tr))


def _flip_rows(tr):
    """(flips as float, rows where every entry was computed) or None."""
    flips = _rows(tr, "flips")
    if flips is None:
        return None
    fl = flips.astype(np.float64)
    ok = np.all(fl >= 0, axis=1) & np.all(np.isfinite(fl), axis=1)
    return (fl, ok) if ok.any() else None


@_check("lemma_4_4_dev", "Lemma 4.4", "order", "‖J_t − J_0‖_F = Õ(√n R0^{1/2} m^{-1/4})",
        measured="max_t ‖J_t − J_0‖_F", bound="√n·R0^{1/2}·m^{−1/4}")
def _lemma_4_4_dev(tr, c):
    got = _flip_rows(tr)
    if got is None:
        return None
    fl, ok = got
    a = tr.attrs
    m = int(a["m"])
    dJ = np.sqrt(fl[ok].sum(axis=1) / m)
    bound = lemma_4_4_jacobian_deviation_order(int(a["n"]), float(a["R0"]), m)
    return c.result(RATIO, dJ.max(), bound, note="‖J_t−J_0‖_F² = Σ_i flips_i/m; up to log factors",
                    premises=_lemma_4_4_premises(tr, ok))


def flip_candidate_rows(tr):
    """(flip_candidates as float, rows where every entry was computed) or None: per point, the neurons whose
    margin |<w_r(0), x_i> − b| at t = 0 is within their drift at row t (engine/flip_candidates.py)."""
    cand = _rows(tr, "flip_candidates")
    if cand is None:
        return None
    cd = np.asarray(cand).astype(np.float64)
    if cd.ndim != 2:
        return None
    ok = np.all(cd >= 0, axis=1) & np.all(np.isfinite(cd), axis=1)
    return (cd, ok) if ok.any() else None


@_check("lemma_d_3", "Lemma D.3", "inequality", "flips_i(t) ≤ 2 log(n/ρ)·R0·√m",
        measured="max_i flips_i(t)", bound="2 ln(n/ρ)·R0·√m")
def _lemma_d_3(tr, c):
    """The printed bound, judged at every measured row; beside it the proof's (2 ln(n/ρ) + 4/5)·R0·√m, the
    neurons that can have flipped (their margin at t = 0 within their drift: flip_candidates) and the proof
    run at the realised drift."""
    got = _flip_rows(tr)
    if got is None:
        return None
    fl, ok = got
    a = tr.attrs
    n, m, rho = int(a["n"]), int(a["m"]), rho_of(a)
    bound = lemma_d3_flip_bound_of(a)
    proof = lemma_d3_flip_bound(n, rho, a["R0"], m, include_mean=True)
    per_row = np.where(ok, fl.max(axis=1), -np.inf)
    bad = ok & (per_row > bound)
    drift = _rows(tr, "drift_max")
    premises = [_r0_premise(a, "assumed by the lemma (Hoeffding step)"),
                drift_premise(drift, drift_radius_of(a), bad, ok), probability(rho)]
    worst = float(per_row[ok].max())
    parts = [f"the proof's own bound (2 ln(n/ρ) + 4/5)·R0·√m = {proof:.4g}"]
    extra = {"bound_proof": proof}
    if bound > m:
        parts.append(f"the bound exceeds m = {m:,}: vacuous at this width")
    cand = flip_candidate_rows(tr)
    if cand is not None:
        cd, cok = cand
        both = ok & cok if cd.shape == fl.shape else None
        cmax = float(cd[cok].max())
        extra["candidates_max"] = cmax
        parts.append(f"neurons that can have flipped (margin |<w_r(0), x_i> − b| within their drift): max "
                     f"{cmax:.0f} per point")
        if both is not None and both.any():
            rows = np.flatnonzero(both)
            over = int(np.sum(fl[rows] > cd[rows]))
            parts.append("flips ≤ candidates at every measured (i, t)" if over == 0 else
                         f"flips exceed the candidates at {over} (i, t): the candidate metric or the flips are wrong")
            if drift is not None:
                dr = np.asarray(drift, dtype=np.float64)[rows]
                good = np.isfinite(dr)
                if good.any():
                    at = [lemma_d3_flip_bound_at_drift(n, rho, float(v), m) for v in dr[good]]
                    j = int(np.argmax(dr[good]))
                    extra["bound_realised"] = float(at[j])
                    parts.append(f"the proof at the realised drift (2 ln(n/ρ) + 4/5)·drift·m = {at[j]:.4g} "
                                 f"(t = {int(rows[good][j])}, drift {float(dr[good][j]):.4g})")
    else:
        parts.append("no 'flip_candidates' metric: the neurons able to flip are not recorded")
    return c.result(FAILS if bad.any() else HOLDS, worst, bound, int(np.flatnonzero(bad)[0]) if bad.any() else -1,
                    note="; ".join(parts), premises=premises, **extra)


@_check("def_4_5", "Def 4.5", "inequality",
        "‖f_{t+1}−y‖ ≤ ½‖f_t−y‖ and max_r‖w_r(t+1)−w_r(0)‖ ≤ R0/√m, every t",
        measured="worst ‖f_{t+1}−y‖/‖f_t−y‖", bound="½")
def _def_4_5(tr, c):
    res, drift = _rows(tr, "residual_norm"), _rows(tr, "drift_max")
    if res is None:
        return None
    a = tr.attrs
    if str(a.get("solver_direction", "")) == "gradient":
        return c.result(NA, note="Def 4.5 is the induction hypothesis of the Gauss-Newton analysis (Thm 4.1); "
                                 "this run took gradient steps (solver_direction = gradient), for which the "
                                 "paper claims no halving per step")
    if drift is None or res.shape[0] <= 1:
        return c.result(NA, note="no iteration in the trace", statement="induction hypothesis")
    radius = drift_radius_of(a)
    judged, halving_bad = def_4_5_halving(res)
    drift_bad = np.isfinite(drift) & (drift > radius)
    bad_t = np.flatnonzero(np.concatenate([[False], halving_bad]) | drift_bad)
    worst = float(np.max(res[1:][judged] / res[:-1][judged])) if judged.any() else 0.0
    premises = [width_premise_lemma_4_3(a), radius_b_premise(a), lambda_min_premise(_rows(tr, "lambda_min"), a["lambda"]),
                regression_premise(tr), thm_4_1_width_premise(a), probability(rho_of(a), 2.5)]
    return c.result(FAILS if bad_t.size else HOLDS, worst, DEF_4_5_FACTOR, int(bad_t[0]) if bad_t.size else -1,
                    note=f"measured = worst residual ratio; max drift {np.nanmax(drift):.4g} vs R0/√m = "
                         f"{radius:.4g}; iterations already at round-off (residual ≤ {ROUNDOFF:g} of the start) "
                         "are not judged", premises=premises)


@_check("reg_accuracy", "eqs. (13), (19)", "inequality",
        "‖J_tJ_tᵀg_t − (f_t − y)‖ ≤ min{1/6, √(λ/n)}·‖f_t − y‖ at every step (the regression accuracy Def 4.5's "
        "induction uses)", measured="max_t reg_residual", bound="min{1/6, √(λ/n)}")
def _reg_accuracy(tr, c):
    """Gauss-Newton runs that record `reg_residual` (relative to ‖f_t − y‖); flags steps that stopped at the
    iteration cap (reg_iterations = solver_reg_max_iter, or solver_cg_max_iter)."""
    a = tr.attrs
    direction = a.get("solver_direction")
    if direction is not None and str(direction) == "gradient":
        return c.result(NA, note="a gradient-descent run solves no regression")
    res = _rows(tr, "reg_residual")
    if res is None:
        return c.result(NA, note="no 'reg_residual' metric in the trace (the dense Gauss-Newton solve records none)")
    res = np.asarray(res, dtype=np.float64)
    ok = np.isfinite(res)
    if not ok.any():
        return c.result(NA, note="'reg_residual' was never recorded")
    bound = regression_accuracy_bound(a["lambda"], a["n"])
    bad = ok & (res > bound)
    first = int(np.flatnonzero(bad)[0]) + 1 if bad.any() else -1           # step k+1 is row k of a step metric
    tol_key = next((k for k in ("solver_eps_reg", "solver_cg_tol") if k in a), None)
    cap_key = next((k for k in ("solver_reg_max_iter", "solver_cg_max_iter") if k in a), None)
    iters = _rows(tr, "reg_iterations")
    capped = -1
    if cap_key is not None and iters is not None:
        it = np.asarray(iters, dtype=np.float64)
        capped = int(np.sum(np.isfinite(it) & (it >= float(a[cap_key]))))
    premises = [at_most("ε_reg ≤ min{1/6, √(λ/n)}", float(a[tol_key]) if tol_key else float("nan"), bound,
                        why=f"the solver's stopping tolerance ({tol_key or 'not recorded'})"),
                at_most("steps at the iteration cap = 0", capped if capped >= 0 else float("nan"), 0.0,
                        why=f"{cap_key} = {int(a[cap_key])}" if cap_key else "no iteration cap recorded")]
    parts = [f"measured = the largest relative residual ‖J_tJ_tᵀg_t − (f_t − y)‖/‖f_t − y‖ over {int(ok.sum())} steps"
             f" ({int(bad.sum())} above the bound)"]
    if capped > 0:
        parts.append(f"reg_max_iter hit: {capped} step(s) stopped at the cap {int(a[cap_key])} "
                     f"({cap_key}), not at the tolerance")
    elif capped == 0:
        parts.append(f"no step hit the iteration cap ({cap_key} = {int(a[cap_key])})")
    return c.result(FAILS if bad.any() else HOLDS, float(np.max(res[ok])), bound, first, note="; ".join(parts),
                    premises=premises, capped_steps=capped)


@_check("lemma_a_10", "Lemma A.10", "inequality", "k_{i,0} = |S_i(0)| ≤ 2·m·e^{−b²/2}",
        measured="max_i |S_i(0)|", bound="2m·e^{−b²/2}")
def _lemma_a_10(tr, c):
    fire = _rows(tr, "fire_count")
    if fire is None:
        return None
    k0 = float(fire[0].max())
    bound = lemma_a10_fire_bound_of(tr.attrs)
    return c.result(HOLDS if k0 <= bound else FAILS, k0, bound,
                    premises=[positive_b_premise(tr.attrs), fire_tail_premise(tr.attrs)])


@_check("cor_a_11", "Cor. A.11", "inequality", "with b = √(0.48 log m): k_{i,0} ≤ 2 m^{0.76}",
        measured="max_i |S_i(0)|", bound="2m^{0.76}")
def _cor_a_11(tr, c):
    fire = _rows(tr, "fire_count")
    if fire is None:
        return None
    a = tr.attrs
    m = int(a["m"])
    if not is_default_b(m, float(a["b"])):
        return c.result(NA, note="b is not the default √(0.48 log m)")
    k0 = float(fire[0].max())
    bound = cor_a11_fire_bound(m)
    return c.result(HOLDS if k0 <= bound else FAILS, k0, bound,
                    premises=[positive_b_premise(a), fire_tail_premise(a)])


@_check("thm_g_2", "Thm G.2", "order", "sparsity O(m^{(3+ᾱ)/4})", measured="max_{i,t} |S_i(t)|", bound="m^{(3+ᾱ)/4}")
def _thm_g_2(tr, c):
    fire = _rows(tr, "fire_count")
    a = tr.attrs
    if fire is None or "alpha_bar" not in a:
        return None
    rho = rho_of(a)
    premises = [at_most("ρ < 1/10", rho, 0.1, why="Thm G.2 takes ρ ∈ (0, 1/10)")]
    try:
        k = thm_g2_width_log10(a["delta"], a["n"], rho, a["alpha_bar"])
        premises.append(unknown_constant(f"m = Ω((δ⁻⁴n¹²log⁴(n/ρ))^{{1/ᾱ}}) ≈ 10^{k:.0f}", a["m"],
                                         10.0 ** k if k < 300 else math.inf, symbol="m/m_req"))
    except (KeyError, ValueError):
        pass
    return c.result(RATIO, float(fire.max()), thm_g2_sparsity_order(int(a["m"]), float(a["alpha_bar"])),
                    note="up to a constant", premises=premises)


@_check("lemma_e_4", "Lemma E.4", "order", "regression iterations O(log(n/λ))", measured="max_t reg_iterations",
        bound="ln(n/λ)")
def _lemma_e_4(tr, c):
    """Applies to runs whose step direction is sketched (root attr solver_direction)."""
    a = tr.attrs
    direction = a.get("solver_direction")
    if direction is None:
        return c.result(NA, note="the trace does not record its step direction (attr solver_direction): "
                                 "cannot tell whether the regression was sketched")
    iters = _rows(tr, "reg_iterations")
    if str(direction) != "sketched":
        return c.result(NA, note="no iterative sketched regression in this run")
    if iters is None or not iters.size:
        return c.result(NA, note="sketched step direction, but no regression iterations recorded")
    bound = lemma_e4_iterations(int(a["n"]), float(a["lambda"]))
    eps = _rows(tr, "sketch_eps")
    e = None if eps is None else np.asarray(eps, dtype=np.float64)
    worst_eps = float(np.max(e[np.isfinite(e)])) if e is not None and np.isfinite(e).any() else float("nan")
    premises = [lambda_min_premise(_rows(tr, "lambda_min"), a["lambda"]),
                at_most("sketch ε ≤ ε_sketch", worst_eps, _eps_sketch_target(a), why="an ε-embedding (Def 2.1)")]
    return c.result(RATIO, float(np.max(iters)), bound, note="up to a constant", premises=premises)


def _eps_sketch_target(attrs):
    """ε_sketch of Def. 2.1: attr solver_eps_sketch, else the scenario's [solver] eps_sketch (0.1)."""
    if "solver_eps_sketch" in attrs:
        return float(attrs["solver_eps_sketch"])
    return float(tomllib.loads(attrs.get("scenario_toml", "")).get("solver", {}).get("eps_sketch", 0.1))


@_check("def_2_1", "Def 2.1", "inequality", "‖I − UᵀSᵀSU‖₂ ≤ ε_sketch", measured="max_t ‖I − UᵀSᵀSU‖₂",
        bound="ε_sketch")
def _def_2_1(tr, c):
    eps = _rows(tr, "sketch_eps")
    target = _eps_sketch_target(tr.attrs)
    if eps is not None and np.isfinite(eps).any():
        e = eps[np.isfinite(eps)]
        bad = np.flatnonzero(np.isfinite(eps) & (eps > target))
        rows = tr.attrs.get("solver_sketch_rows")
        premises = [unknown_constant("s = n·poly(1/ε, log(n/δ)) rows", rows if rows else float("nan"),
                                     why="Lemma 2.2, polynomial not given")]
        # sketch_eps row k is step k+1 (state k -> k+1): the first failing step, as for every step metric
        return c.result(FAILS if bad.size else HOLDS, e.max(), target, int(bad[0]) + 1 if bad.size else -1,
                        premises=premises)
    return c.result(NA, note="sketch distortion not recorded (set metrics.sketch_distortion = true)")


@_check("thm_4_1", "Thm 4.1", "order", "m = Ω(max{λ⁻⁴n⁴, λ⁻²n²d log(16n/ρ)}): m / (λ⁻⁴n⁴)", measured="m",
        bound="λ⁻⁴n⁴")
def _thm_4_1(tr, c):
    m = int(tr.attrs["m"])
    ratio = width_ratio_of(tr.attrs)
    return c.result(RATIO, m, m / ratio, note=f"the run is at {ratio:.3g} of the proven width (up to a constant)")


#: the Check records of seed 002, in report order
CHECKS = tuple(_CHECKS)
del _CHECKS


# --------------------------------------------------------------------------- sweeps


def sweep_columns(attrs, results=None):
    """This paper's columns of a sweep's summary row: "width_ratio" (m λ⁴/n⁴, Thm 4.1) when computable,
    and "def_4_5" (the status of the Def 4.5 check, which the width-threshold report counts) when the
    point was validated (`results`: the `validate` results of its trace)."""
    out = {}
    try:
        out["width_ratio"] = width_ratio_of(attrs)
    except (KeyError, TypeError, ValueError):
        pass
    if results is not None:
        out["def_4_5"] = results.get("def_4_5", {}).get("status", "")
    return out


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def width_threshold_report(rows, fraction=THRESHOLD_FRACTION):
    """Observed vs proven width, per n (docs/theory.md §2 Def 4.5, Thm 4.1). One dict per n, n ascending.

    For each n and each width m of the grid: the fraction of points (seeds) whose trace had
    Def 4.5 "holds" (a failed run counts as not holding). ``m_observed`` = the smallest m with
    fraction >= 0.9 (None if none); ``monotone`` = every larger m of the grid met it too.
    λ depends on the data (hence the seed) and on b = sqrt(0.48 ln m) (hence on m), so
    ``lambda_mean`` is the mean over the seeds at m_observed (at the largest m if none met it);
    the requirements are evaluated at that mean: ``req_dominant`` = λ⁻⁴n⁴ and ``req_full`` =
    max{λ⁻⁴n⁴, λ⁻²n²d log(16n/ρ)} (Thm 4.1, order Ω: constant unknown), and ``gap`` =
    req_dominant / m_observed (``gap_full`` likewise).
    """
    by_n = {}
    for r in rows:
        n, m = r.get("n"), r.get("m")
        if not _num(n) or not _num(m) or n <= 0 or m <= 0:
            continue
        by_n.setdefault(int(n), {}).setdefault(int(m), []).append(r)
    out = []
    for n in sorted(by_n):
        per_m = by_n[n]
        ms = sorted(per_m)
        frac = {}
        for m in ms:
            rs = per_m[m]
            frac[m] = sum(r.get("status") == "completed" and r.get("def_4_5") == "holds" for r in rs) / len(rs)
        met = [m for m in ms if frac[m] >= fraction - 1e-12]
        m_obs = met[0] if met else None
        monotone = bool(met) and all(frac[m] >= fraction - 1e-12 for m in ms if m >= m_obs)
        at = m_obs if m_obs is not None else ms[-1]
        lams = [float(r["lambda"]) for r in per_m[at] if _num(r.get("lambda")) and r["lambda"] > 0]
        lam = float(np.mean(lams)) if lams else float("nan")
        ds = [int(r["d"]) for r in per_m[at] if _num(r.get("d")) and r["d"] > 0]
        rhos = [float(r["rho"]) for r in per_m[at] if _num(r.get("rho")) and 0 < r["rho"] < 1]
        d = ds[0] if ds else None
        rho = rhos[0] if rhos else DEFAULT_RHO
        if lam > 0:
            dominant = thm_4_1_dominant_requirement(lam, n)
            full = thm_4_1_width_requirement(lam, n, d, rho) if d else float("nan")
        else:
            dominant = full = float("nan")
        out.append({
            "n": n, "d": d, "seeds": max(len(per_m[m]) for m in ms), "widths": ms, "fraction": frac,
            "m_observed": m_obs, "monotone": monotone, "lambda_at": at, "lambda_mean": lam,
            "req_dominant": dominant, "req_full": full,
            "gap": dominant / m_obs if m_obs else float("nan"),
            "gap_full": full / m_obs if m_obs else float("nan"),
        })
    return out


def _sci(x):
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"


def format_width_threshold_report(report, fraction=THRESHOLD_FRACTION):
    """The report as markdown: the per-n table, then the fraction of seeds holding Def 4.5 per (m, n)."""
    if not report:
        return "width threshold: no completed points with n and m recorded\n"
    lines = [f"Width threshold: smallest m (doubling grid) with Def 4.5 at every iteration for >= "
             f"{fraction:.0%} of seeds, vs Thm 4.1's requirement (order Ω, constant unknown; λ = mean over "
             "seeds at that m)", "",
             "| n | d | seeds | observed m | every larger m too | λ (mean) | λ⁻⁴n⁴ | "
             "max{λ⁻⁴n⁴, λ⁻²n²d log(16n/ρ)} | gap λ⁻⁴n⁴ / m |",
             "|---:|---:|---:|---:|:---:|---:|---:|---:|---:|"]
    for r in report:
        if r["m_observed"] is None:
            obs = f"none ≤ {r['widths'][-1]}"
            gap = f"> {_sci(r['req_dominant'] / r['widths'][-1])}" if math.isfinite(r["req_dominant"]) else "–"
            lam_note = f" (at m={r['lambda_at']})"
        else:
            obs, gap, lam_note = str(r["m_observed"]), _sci(r["gap"]), ""
        lines.append(f"| {r['n']} | {r['d'] if r['d'] else '–'} | {r['seeds']} | {obs} | "
                     f"{'yes' if r['monotone'] else 'no' if r['m_observed'] else '–'} | "
                     f"{r['lambda_mean']:.4g}{lam_note} | {_sci(r['req_dominant'])} | {_sci(r['req_full'])} | {gap} |")
    widths = sorted({m for r in report for m in r["widths"]})
    lines += ["", "Fraction of seeds with Def 4.5 holding:", "",
              "| m | " + " | ".join(f"n={r['n']}" for r in report) + " |",
              "|---:|" + "---:|" * len(report)]
    for m in widths:
        cells = [f"{r['fraction'][m]:.1f}" if m in r["fraction"] else "" for r in report]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
