"""The exact shifted NTK and λ (seed 002, Def. 2.10, Remark 2.8), and the choice of the shift b.

Everything here is closed form, plain NumPy, no Monte Carlo.

The shifted NTK (Def. 2.10) for unit-norm data is
    H^cts_ij = <x_i, x_j> · P(Z1 >= b, Z2 >= b),   corr(Z1, Z2) = <x_i, x_j>,
because (<w, x_i>, <w, x_j>) with w ~ N(0, I_d) is a standard bivariate normal
with that correlation. The orthant probability is evaluated through Owen's T
function (`simulator.kernels.gauss.owens_t`). λ := λ_min(H^cts) (Remark 2.8).

b is √(0.48 ln m) by default (Cor. A.11) or √(0.5 (1 − ᾱ) ln m) (Thm G.2, ᾱ ∈ [0, 1]: ᾱ = 0 is
allowed and gives √(0.5 ln m), see `_alpha_bar`);
E|S_i(0)| = m·Q(b) is the mean fire count at initialisation. The paper's bound
formulas (docs/theory.md §2: Thm 2.13, Lemmas 2.12, 4.2-4.4, Def 4.5, Lemma D.3,
Lemma A.10, Cor. A.11, Thm G.2, Lemma E.4, Thm 4.1) and R0 = n/λ are in
``simulator.theory.seed002``, which uses the input checks below. `log` is the
natural logarithm everywhere (docs/theory.md).
"""

import math

import numpy as np
from simulator.kernels.gauss import ndtr, owens_t  # not SciPy's: importing scipy.special alone is ~0.35 s

from simulator.data import separability  # noqa: F401  (re-export: δ of Def. 2.11)

# Tolerance on ||x_i|| = 1 for the NTK: the Gaussian-correlation identity needs unit rows.
UNIT_NORM_TOL = 1e-9
# Correlations computed as <x_i, x_j> may leave [-1, 1] by round-off; beyond this it is an error.
_RHO_TOL = 1e-9


# --------------------------------------------------------------------------- validation
# Input checks, shared with the bound formulas of simulator.theory.seed002.


def _sf(x):
    """The standard normal upper tail Q(x) = P(Z > x) = Φ(−x)."""
    return ndtr(-np.asarray(x, dtype=np.float64))


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
    for b in [0, 8]), which is what
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

    q = _sf(bb)
    h = np.abs(bb)
    qh = _sf(h)
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
        out[neg] = floor[neg] + 2.0 * owens_t(ah, 1.0 / a) - _sf(ah) * (1.0 - 2.0 * qh[neg])

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
            f"X: rows must have unit l2 norm (docs/theory.md §1, Def. 2.11) within {UNIT_NORM_TOL}; "
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
    np.fill_diagonal(H, _sf(b))
    return H


def ntk_lambda(X, b):
    """λ = λ_min(H^cts) (Remark 2.8), by the symmetric eigensolver.

    The full spectrum (LAPACK syevd) is faster here than a one-eigenvalue subset (syevr/syevx).
    """
    return float(np.linalg.eigvalsh(shifted_ntk(X, b))[0])


def default_b(m):
    """b = √(0.48 ln m) (Cor. A.11; Thm G.2 with ᾱ = 0.04), so e^{−b²/2} = m^{−0.24}."""
    return math.sqrt(0.48 * math.log(_m(m)))


def _alpha_bar(alpha_bar):
    """ᾱ of Thm G.2, a finite real in [0, 1] (ValueError naming alpha_bar otherwise).

    ᾱ = 0 is a valid choice of b: b = √(0.5 ln m), fire sets of order m·e^{−b²/2} = m^{3/4}
    (Lemma A.10 holds for every b > 0). What ᾱ = 0 loses is Thm G.2's own width premise,
    m = Ω((δ⁻⁴ n¹² log⁴(n/ρ))^{1/ᾱ}), which is infinite there: the theorem is vacuous, its
    sparsity statement still reads m^{(3+ᾱ)/4} = m^{3/4}. Everything that takes ᾱ checks it here.
    """
    return _real("alpha_bar", alpha_bar, lo=0.0, hi=1.0)


def b_from_alpha_bar(m, alpha_bar):
    """b = √(0.5 (1 − ᾱ) ln m) (Thm G.2, ᾱ ∈ [0, 1]), so m·e^{−b²/2} = m^{(3+ᾱ)/4}.
    ᾱ = 0 gives b = √(0.5 ln m) (m^{3/4}); ᾱ = 1 gives b = 0 (half the neurons fire)."""
    a = _alpha_bar(alpha_bar)
    return math.sqrt(0.5 * (1.0 - a) * math.log(_m(m)))


def sparsity_exponent(alpha_bar):
    """(3 + ᾱ)/4 for ᾱ ∈ [0, 1]: with b = b_from_alpha_bar(m, ᾱ), m·e^{−b²/2} = m^{(3+ᾱ)/4} exactly
    (3/4 at ᾱ = 0, 0.76 at ᾱ = 0.04, the default b). The mean fire count m·Q(b) grows slightly slower
    over any finite range of m, by the factor 1/(b√(2π)) of Q(b) ≈ e^{−b²/2}/(b√(2π))."""
    return (3.0 + _alpha_bar(alpha_bar)) / 4.0


def expected_fire_count(m, b):
    """E|S_i(0)| = m·Q(b) exactly (each <w_r(0), x_i> ~ N(0,1) for unit x_i). Not a paper bound."""
    return _m(m) * float(_sf(_b(b)))
