"""Exact shifted NTK, λ, R0 and the bound formulas of SPEC §2 (seed 002).

Everything here is closed form, plain NumPy/SciPy, no Monte Carlo.

The shifted NTK (Def. 2.10) for unit-norm data is
    H^cts_ij = <x_i, x_j> · P(Z1 >= b, Z2 >= b),   corr(Z1, Z2) = <x_i, x_j>,
because (<w, x_i>, <w, x_j>) with w ~ N(0, I_d) is a standard bivariate normal
with that correlation. The orthant probability is evaluated through Owen's T
function (`scipy.special.owens_t`). λ := λ_min(H^cts) (Remark 2.8).

The bound functions return the value a run is checked against. Most bounds in
the paper hold only up to constants (O, Õ, Ω) and only with probability
>= 1 − ρ over the initialisation; `BOUND_KINDS` says for each function whether
its value is an exact inequality ("exact") or only an order ("O", "O~",
"Omega"), so a validator reports measured/bound ratios for the latter instead
of a hard pass/fail. `log` is the natural logarithm everywhere (SPEC).
"""

import math

import numpy as np
from scipy.special import owens_t
from scipy.stats import norm

from simulator.data import separability  # noqa: F401  (re-export: δ of Def. 2.11)

# Tolerance on ||x_i|| = 1 for the NTK: the Gaussian-correlation identity needs unit rows.
UNIT_NORM_TOL = 1e-9
# Correlations computed as <x_i, x_j> may leave [-1, 1] by round-off; beyond this it is an error.
_RHO_TOL = 1e-9


# --------------------------------------------------------------------------- validation


def _real(name, value, *, lo=None, lo_open=False, hi=None, hi_open=False):
    """A finite real scalar within the given range, else ValueError naming `name`."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: must be a real number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a real number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite, got {v}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ValueError(f"{name}: must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and (v >= hi if hi_open else v > hi):
        raise ValueError(f"{name}: must be {'<' if hi_open else '<='} {hi}, got {v}")
    return v


def _b(b):
    return _real("b", b, lo=0.0)


def _m(m):
    return _real("m", m, lo=1.0)


def _n(n):
    return _real("n", n, lo=1.0)


def _lam(lam):
    return _real("lam", lam, lo=0.0, lo_open=True)


def _rho(rho):
    # Failure probability of the high-probability bounds (Thm G.2 takes ρ ∈ (0, 1/10)).
    return _real("rho", rho, lo=0.0, lo_open=True, hi=1.0, hi_open=True)


# --------------------------------------------------------------------------- kernel


def orthant_probability(rho, b):
    """P(Z1 >= b, Z2 >= b) for a standard bivariate normal with correlation `rho`.

    Closed form via Owen's T (rho and b broadcast; any finite b, |rho| <= 1).
    With a = sqrt((1 − ρ)/(1 + ρ)) and Q(b) = P(Z >= b), the classical identity
    Φ2(h, h; ρ) = Φ(h) − 2 T(h, a) at h = −b and the evenness of T give
        P = Q(b) − 2 T(b, a)                                       (used for ρ >= 0).
    For ρ < 0 (a > 1) that difference cancels catastrophically (P is tiny,
    both terms are ~Q(b)); Owen's reflection T(h, a) + T(ah, 1/a) =
    ½Q(h) + ½Q(ah) − Q(h)Q(ah) (h >= 0) turns it into, with h = |b|,
        P = [Q(b) − Q(h)] + 2 T(ah, 1/a) − Q(ah)(1 − 2 Q(h)),
    whose terms are all small (≲ Q(ah)), so no error of size eps·Q(b) appears.
    Limits: ρ = 1 gives Q(b); ρ = −1 gives P(b <= Z <= −b) = Q(b) − Q(|b|)
    (0 for b >= 0). b = 0 reduces to Sheppard's 1/4 + arcsin(ρ)/(2π).
    Accuracy: absolute error below ~2e-13·Q(b) (checked against 40-digit quadrature
    for b in [0, 8]; scipy's owens_t is accurate in the absolute sense), which is what
    the NTK entries and λ need. Values far below Q(b)² (ρ < 0 with b >~ 3) are
    not accurate relative to themselves.
    Returns a float for scalar inputs, otherwise an array of the broadcast shape.
    """
    r = np.asarray(rho, dtype=np.float64)
    bb = np.asarray(b, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise ValueError("rho: must be finite")
    if not np.all(np.isfinite(bb)):
        raise ValueError("b: must be finite")
    if r.size and np.max(np.abs(r)) > 1.0 + _RHO_TOL:
        raise ValueError(f"rho: correlations must lie in [-1, 1], got max |rho| = {np.max(np.abs(r))}")
    r, bb = np.broadcast_arrays(np.clip(r, -1.0, 1.0), bb)

    q = norm.sf(bb)
    h = np.abs(bb)
    qh = norm.sf(h)
    floor = q - qh  # the ρ = −1 value; P is nondecreasing in ρ, so this is its minimum
    out = np.empty(r.shape, dtype=np.float64)

    pos = r >= 0.0
    if np.any(pos):
        rp = r[pos]
        a = np.sqrt((1.0 - rp) / (1.0 + rp))  # in [0, 1]; ρ = 1 gives a = 0, T = 0
        out[pos] = q[pos] - 2.0 * owens_t(bb[pos], a)

    neg = (r < 0.0) & (r > -1.0)
    if np.any(neg):
        rn = r[neg]
        a = np.sqrt((1.0 - rn) / (1.0 + rn))  # in (1, ~1.3e8]: finite since ρ > −1 in float
        ah = a * h[neg]
        out[neg] = floor[neg] + 2.0 * owens_t(ah, 1.0 / a) - norm.sf(ah) * (1.0 - 2.0 * qh[neg])

    anti = r == -1.0
    out[anti] = floor[anti]

    # Round-off may step just outside the exact range [P(ρ=−1), P(ρ=1)] = [Q(b) − Q(|b|), Q(b)].
    np.clip(out, floor, q, out=out)
    return float(out) if out.ndim == 0 else out


def _unit_rows(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X: must be a non-empty 2-D array (n, d), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X: must be finite")
    dev = np.max(np.abs(np.linalg.norm(X, axis=1) - 1.0))
    if dev > UNIT_NORM_TOL:
        raise ValueError(
            f"X: rows must have unit l2 norm (SPEC §1, Def. 2.11) within {UNIT_NORM_TOL}; "
            f"max | ||x_i|| - 1 | = {dev:.3g} — normalise the data first (simulator.data.normalize_rows)"
        )
    return X


def shifted_ntk(X, b):
    """H^cts of Def. 2.10 (n×n): H_ij = <x_i,x_j> · P(Z1 >= b, Z2 >= b), corr = <x_i,x_j>.

    X has unit-norm rows (ValueError otherwise). The diagonal is exactly Q(b) = P(Z >= b).
    Only the strict upper triangle is evaluated and mirrored, so H is exactly symmetric.
    """
    X = _unit_rows(X)
    b = _b(b)
    n = X.shape[0]
    C = X @ X.T
    iu = np.triu_indices(n, 1)
    c = np.clip(C[iu], -1.0, 1.0)  # round-off can push |<x_i,x_j>| a hair above 1
    H = np.empty((n, n), dtype=np.float64)
    H[iu] = c * orthant_probability(c, b)
    H.T[iu] = H[iu]
    # i = j: Z1 = Z2, so the entry is P(Z >= b) exactly (do not rely on <x_i,x_i> = 1 in float).
    np.fill_diagonal(H, norm.sf(b))
    return H


def ntk_lambda(X, b):
    """λ = λ_min(H^cts) (Remark 2.8), by the symmetric eigensolver.

    The full spectrum (LAPACK syevd) is faster here than a one-eigenvalue subset (syevr/syevx).
    """
    return float(np.linalg.eigvalsh(shifted_ntk(X, b))[0])


def drift_radius_R0(n, lam):
    """R0 = n/λ (Def. 4.5 writes R0 ≈ n/λ; we take the constant as 1)."""
    return _n(n) / _lam(lam)


def drift_radius(n, lam, m):
    """The drift radius R0/√m of Def. 4.5 / Lemma 4.3: max_r ||w_r(t) − w_r(0)|| must stay below it."""
    return drift_radius_R0(n, lam) / math.sqrt(_m(m))


def default_b(m):
    """b = √(0.48 ln m) (Cor. A.11; Thm G.2 with ᾱ = 0.04), so e^{−b²/2} = m^{−0.24}."""
    return math.sqrt(0.48 * math.log(_m(m)))


def b_from_alpha_bar(m, alpha_bar):
    """b = √(0.5 (1 − ᾱ) ln m) (Thm G.2, ᾱ ∈ [0, 1]), so m·e^{−b²/2} = m^{(3+ᾱ)/4}."""
    a = _real("alpha_bar", alpha_bar, lo=0.0, hi=1.0)
    return math.sqrt(0.5 * (1.0 - a) * math.log(_m(m)))


def expected_fire_count(m, b):
    """E|S_i(0)| = m·Q(b) exactly (each <w_r(0), x_i> ~ N(0,1) for unit x_i). Not a paper bound."""
    return _m(m) * float(norm.sf(_b(b)))


# --------------------------------------------------------------------------- bounds (SPEC §2)


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
    """Lemma 4.3 (Lemma D.2): λ_min(G_t) >= λ/2 while max_r drift <= R0/√m. Exact."""
    return 0.5 * _lam(lam)


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
    """Def. 4.5 (induction hypothesis): ||f_{t+1} − y|| <= ½||f_t − y||. Returns ½·previous. Exact."""
    return 0.5 * _real("prev_residual_norm", prev_residual_norm, lo=0.0)


def def_4_5_drift_bound(n, lam, m):
    """Def. 4.5 (induction hypothesis): max_r ||w_r(t) − w_r(0)|| <= R0/√m, R0 = n/λ. Exact
    given R0 = n/λ (the paper writes R0 ≈ n/λ)."""
    return drift_radius(n, lam, m)


def lemma_d3_flip_bound(n, rho, R0, m, include_mean=False):
    """Lemma D.3 (proof of Lemma 4.4): for each i, the number of neurons whose activation on x_i
    differs from t = 0 is <= 2 ln(n/ρ)·R0·√m, w.p. >= 1 − ρ, while max_r drift <= R0/√m
    (R0 >= 1 assumed by the lemma). Exact as printed.

    Paper vs SPEC: SPEC copies the final line of the proof. The proof's own Hoeffding step,
    Pr[Σ_r s_{i,r} >= (t + 4/5) R0 √m] <= 2 e^{−t²} with t = 2 ln(n/ρ), only supports
    (2 ln(n/ρ) + 4/5)·R0·√m: the mean term (4/5)R0√m (anti-concentration, Lemma A.4) is dropped.
    For ρ <= 0.1 the difference is < 18 %. Pass include_mean=True for the proof's value.
    """
    n = _n(n)
    rho = _rho(rho)
    R0 = _real("R0", R0, lo=0.0, lo_open=True)
    m = _m(m)
    return (2.0 * math.log(n / rho) + (0.8 if include_mean else 0.0)) * R0 * math.sqrt(m)


def lemma_a10_fire_bound(m, b):
    """Lemma A.10 (Lemma 3.8 of [47]): k_{i,0} = |S_i(0)| <= 2·m·e^{−b²/2} w.h.p. Exact as used.

    The paper states only O(m e^{−b²/2}); the constant 2 is SPEC's, taken from Cor. A.11.
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
    a = _real("alpha_bar", alpha_bar, lo=0.0, lo_open=True, hi=1.0)
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


def thm_4_1_width_requirement(lam, n, d, rho):
    """Thm 4.1: m = Ω(max{λ^{-4} n^4, λ^{-2} n² d ln(16n/ρ)}). Order Ω (constant unknown).

    Note: the proof of Thm G.2 quotes Thm 4.1 as m = Ω(λ^{-4} n^4 b² log²(n/ρ)) instead.
    """
    lam, n, rho = _lam(lam), _n(n), _rho(rho)
    d = _real("d", d, lo=1.0)
    return max(lam ** -4 * n ** 4, lam ** -2 * n * n * d * math.log(16.0 * n / rho))


def thm_4_1_width_ratio(m, lam, n):
    """m / (λ^{-4} n^4): how far a run's width is from Thm 4.1's dominant requirement
    (>= 1 up to the unknown constant means inside the proven regime). Order Ω."""
    lam, n = _lam(lam), _n(n)
    return _m(m) * lam ** 4 / n ** 4


# How a validator should treat each bound: "exact" = hard inequality (holds / fails);
# "O", "O~" (Õ, up to log factors) and "Omega" = order only: report measured/bound ratios.
BOUND_KINDS = {
    "thm_2_13_lambda_bounds": "exact",
    "lemma_2_12_bound": "exact",
    "lemma_4_2_weight_norm_order": "O",
    "lemma_4_2_output_order": "O",
    "lemma_4_2_jacobian_row_order": "O",
    "lemma_4_3_gram_deviation_bound": "exact",
    "lemma_4_3_lambda_min_bound": "exact",
    "lemma_4_4_jacobian_deviation_order": "O~",
    "lemma_4_4_jacobian_row_deviation_order": "O~",
    "lemma_4_4_jacobian_norm_order": "O",
    "def_4_5_residual_bound": "exact",
    "def_4_5_drift_bound": "exact",
    "lemma_d3_flip_bound": "exact",
    "lemma_a10_fire_bound": "exact",
    "cor_a11_fire_bound": "exact",
    "thm_g2_sparsity_order": "O",
    "lemma_e4_iterations": "O",
    "eps_reg": "exact",
    "thm_4_1_width_requirement": "Omega",
    "thm_4_1_width_ratio": "Omega",
}
