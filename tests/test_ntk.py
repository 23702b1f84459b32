"""Tests of simulator.ntk: the closed-form shifted NTK against independent methods
(SciPy's multivariate normal CDF, 1-D quadrature, Monte Carlo, the b = 0 arc-cosine
kernel), Theorem 2.13's sandwich on random data, and the bound formulas (simulator.theory.seed002)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.stats import multivariate_normal, norm

from simulator import data, ntk, theory
from simulator.theory import seed002


def unit_rows(rng, n, d):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# --------------------------------------------------------------------------- orthant probability


@pytest.mark.parametrize("b", [0.0, 0.3, 1.0, 2.5, 5.0])
def test_orthant_special_correlations(b):
    q = norm.sf(b)
    assert ntk.orthant_probability(0.0, b) == pytest.approx(q * q, rel=1e-12)
    # ρ = 1 is exactly the module's own Q(b); it and SciPy's are each within ~1e-15 of the 30-digit value here
    assert ntk.orthant_probability(1.0, b) == ntk._sf(b)
    assert ntk._sf(b) == pytest.approx(q, rel=2e-15)
    # ρ = −1: Z2 = −Z1, and {Z >= b, −Z >= b} is empty for b > 0 (a null set at b = 0).
    assert ntk.orthant_probability(-1.0, b) == 0.0


@pytest.mark.parametrize("b", [-0.2, -1.0, -2.0])
def test_orthant_negative_b_antipodal(b):
    # ρ = −1, b < 0: P(b <= Z <= −b) = Q(b) − Q(−b).
    assert ntk.orthant_probability(-1.0, b) == pytest.approx(norm.sf(b) - norm.sf(-b), rel=1e-12)


def test_orthant_b0_is_sheppard():
    rho = np.linspace(-1, 1, 41)
    expected = 0.25 + np.arcsin(rho) / (2 * np.pi)
    np.testing.assert_allclose(ntk.orthant_probability(rho, 0.0), expected, rtol=0, atol=1e-15)


def test_orthant_against_multivariate_normal_cdf():
    # Independent method: Genz's algorithm inside scipy.stats.multivariate_normal.
    # By symmetry P(Z1 >= b, Z2 >= b) = Φ2(−b, −b; ρ).
    worst = 0.0
    for r in np.linspace(-0.99, 0.99, 23):
        cov = [[1.0, r], [r, 1.0]]
        for b in np.concatenate([np.linspace(0.0, 3.0, 13), [-0.7, -1.5]]):
            ref = multivariate_normal.cdf([-b, -b], mean=[0.0, 0.0], cov=cov, abseps=1e-11, releps=1e-11)
            worst = max(worst, abs(ntk.orthant_probability(r, b) - ref))
    assert worst < 1e-7


def _orthant_by_quadrature(r, b):
    # P = ∫_b^∞ φ(z) · P(Z2 >= b | Z1 = z) dz, Z2 | Z1 = z ~ N(ρz, 1 − ρ²).
    s = math.sqrt(1.0 - r * r)
    val, _ = quad(lambda z: norm.pdf(z) * norm.sf((b - r * z) / s), b, np.inf,
                  epsabs=0.0, epsrel=1e-12, limit=200)
    return val


@pytest.mark.parametrize("r", [-0.999999, -0.9999, -0.99, -0.9, -0.3, 0.0, 0.15, 0.4, 0.999, 0.999999])
@pytest.mark.parametrize("b", [0.0, 0.5, 1.3, 2.0, 3.4])
def test_orthant_against_quadrature(r, b):
    ref = _orthant_by_quadrature(r, b)
    got = ntk.orthant_probability(r, b)
    assert got >= 0.0
    # Absolute accuracy at the scale of the diagonal Q(b) (what H^cts and λ need).
    assert abs(got - ref) <= 1e-12 * norm.sf(b)
    # Near ρ = −1 the value is tiny; the reflected Owen-T form keeps relative accuracy for
    # moderate b (the naive Q(b) − 2T(b, a) returns round-off of size 1e-17, often negative).
    if b <= 2.0:
        assert abs(got - ref) <= 1e-8 * ref + 1e-300


def test_orthant_broadcasting_and_scalar_return():
    rho = np.array([[-0.5], [0.0], [0.5]])
    b = np.array([0.0, 1.0, 2.0, 3.0])
    P = ntk.orthant_probability(rho, b)
    assert P.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert P[i, j] == ntk.orthant_probability(float(rho[i, 0]), float(b[j]))
    assert isinstance(ntk.orthant_probability(0.2, 1.0), float)


def test_orthant_rejects_bad_input():
    with pytest.raises(ValueError, match="rho"):
        ntk.orthant_probability(1.01, 0.5)
    with pytest.raises(ValueError, match="rho"):
        ntk.orthant_probability(np.nan, 0.5)
    with pytest.raises(ValueError, match="b"):
        ntk.orthant_probability(0.5, np.inf)


@settings(max_examples=200, deadline=None)
@given(r=st.floats(-1.0, 1.0), b=st.floats(0.0, 6.0))
def test_orthant_range(r, b):
    q = norm.sf(b)
    p = ntk.orthant_probability(r, b)
    # P = Q(b) − 2T(b, a) with T ≥ 0: P ≤ Q(b) holds exactly for the Q it is built from (libm's erfc, which
    # can differ from SciPy's in the last bit: at ρ = 1, b = 2 SciPy's Q is 1 ulp below P = Q)
    assert 0.0 <= p <= float(ntk._sf(b))
    assert abs(float(ntk._sf(b)) - q) <= 2e-15 * q
    # Slepian: P is increasing in ρ and equals Q(b)² at ρ = 0.
    tol = 1e-12 * q  # measured absolute error is <= ~2e-13·Q(b) (see orthant_probability)
    if r >= 0:
        assert p >= q * q - tol
    else:
        assert p <= q * q + tol


@settings(max_examples=200, deadline=None)
@given(r1=st.floats(-1.0, 1.0), r2=st.floats(-1.0, 1.0), b=st.floats(0.0, 6.0))
def test_orthant_monotone_in_rho(r1, r2, b):
    lo, hi = sorted((r1, r2))
    # dP/dρ = bivariate density > 0; allow the absolute error bound of ~2e-13·Q(b).
    assert ntk.orthant_probability(lo, b) <= ntk.orthant_probability(hi, b) + 1e-12 * norm.sf(b)


# --------------------------------------------------------------------------- shifted NTK


def test_b0_equals_arccos_kernel():
    rng = np.random.default_rng(1)
    X = unit_rows(rng, 12, 4)
    C = np.clip(X @ X.T, -1, 1)
    np.fill_diagonal(C, 1.0)  # arccos is ill-conditioned at 1: use the exact <x_i,x_i> = 1
    expected = C * (np.pi - np.arccos(C)) / (2 * np.pi)
    np.testing.assert_allclose(ntk.shifted_ntk(X, 0.0), expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("b", [0.5, 1.3, 2.0])
def test_shifted_ntk_against_monte_carlo(b):
    rng = np.random.default_rng(20240611)
    n, d, N = 7, 5, 200_000
    X = unit_rows(rng, n, d)
    W = rng.standard_normal((N, d))
    F = (W @ X.T >= b).astype(np.float64)  # Def. 2.10 uses >=; a null-set difference from >
    p_hat = F.T @ F / N  # joint firing frequencies
    C = X @ X.T
    mc = C * p_hat
    # Per-entry standard error of the mean of <x_i,x_j>·1{..}·1{..} (a scaled Bernoulli);
    # 3|ρ|/N covers entries where no joint firing was observed (rule of three).
    se = np.abs(C) * np.sqrt(p_hat * (1 - p_hat) / N)
    H = ntk.shifted_ntk(X, b)
    assert np.all(np.abs(H - mc) <= 4 * se + 3 * np.abs(C) / N)


@pytest.mark.parametrize("b", [0.0, 0.5, 1.3, 2.0, 3.7])
def test_diagonal_is_Q(b):
    rng = np.random.default_rng(3)
    X = unit_rows(rng, 9, 6)
    H = ntk.shifted_ntk(X, b)
    np.testing.assert_array_equal(np.diag(H), np.full(9, ntk._sf(b)))
    np.testing.assert_allclose(np.diag(H), norm.sf(b), rtol=2e-15, atol=0)  # as in test_orthant_special_correlations


@pytest.mark.parametrize("seed", range(4))
def test_symmetric_and_psd(seed):
    rng = np.random.default_rng(seed)
    n, d = 40, 3  # n >> d: many nearly parallel points, small eigenvalues
    X = unit_rows(rng, n, d)
    for b in [0.0, 1.0, 2.5]:
        H = ntk.shifted_ntk(X, b)
        np.testing.assert_array_equal(H, H.T)
        assert np.linalg.eigvalsh(H)[0] >= -1e-13


def test_lambda_orthonormal_and_two_point_cases():
    # Orthonormal points: off-diagonal <x_i,x_j> = 0, so H = Q(b)·I and λ = Q(b).
    X = np.eye(5)[:4]
    for b in [0.0, 1.0, 2.0]:
        assert ntk.ntk_lambda(X, b) == pytest.approx(norm.sf(b), rel=1e-12)
    # Two points at correlation c: H = [[q, cP], [cP, q]], λ = q − |c|·P(c, b).
    for c in [-0.8, -0.1, 0.3, 0.95]:
        X = np.array([[1.0, 0.0], [c, math.sqrt(1 - c * c)]])
        for b in [0.0, 0.7, 1.9]:
            q = norm.sf(b)
            expected = q - abs(c) * ntk.orthant_probability(c, b)
            assert ntk.ntk_lambda(X, b) == pytest.approx(expected, rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("seed", range(12))
def test_theorem_2_13_sandwich(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 21))
    d = int(rng.integers(3, 31))
    X = unit_rows(rng, n, d)
    delta = ntk.separability(X)
    for b in [0.0, 0.5, 1.3, 2.0, ntk.default_b(10_000)]:
        lam = ntk.ntk_lambda(X, b)
        lo, hi = seed002.thm_2_13_lambda_bounds(b, delta, n)
        assert lo <= lam <= hi, (n, d, b, lo, lam, hi)


def test_shifted_ntk_rejects_bad_input():
    rng = np.random.default_rng(0)
    X = unit_rows(rng, 4, 3)
    with pytest.raises(ValueError, match="unit"):
        ntk.shifted_ntk(2.0 * X, 0.5)
    with pytest.raises(ValueError, match="unit"):
        ntk.shifted_ntk(X * (1 + 1e-7), 0.5)
    ntk.shifted_ntk(X * (1 + 1e-11), 0.5)  # within tolerance
    with pytest.raises(ValueError, match="X"):
        ntk.shifted_ntk(X[0], 0.5)
    with pytest.raises(ValueError, match="b"):
        ntk.shifted_ntk(X, -0.1)
    with pytest.raises(ValueError, match="b"):
        ntk.shifted_ntk(X, np.nan)
    with pytest.raises(ValueError, match="b"):
        ntk.ntk_lambda(X, float("inf"))


def test_separability_is_reexported():
    assert ntk.separability is data.separability


# --------------------------------------------------------------------------- b, R0 and bounds


def test_default_b_and_alpha_bar():
    assert ntk.default_b(1) == 0.0
    m = 65536
    assert ntk.default_b(m) == pytest.approx(math.sqrt(0.48 * math.log(m)), rel=1e-15)
    assert ntk.b_from_alpha_bar(m, 0.04) == pytest.approx(ntk.default_b(m), rel=1e-14)
    assert ntk.b_from_alpha_bar(m, 1.0) == 0.0
    assert seed002.thm_g2_sparsity_exponent(0.04) == pytest.approx(0.76, rel=1e-15)


@pytest.mark.parametrize("m", [2, 100, 65536, 10 ** 9])
@pytest.mark.parametrize("alpha_bar", [0.04, 0.3, 1.0])
def test_alpha_bar_gives_claimed_sparsity(m, alpha_bar):
    # Thm G.2's step: m·e^{−b²/2} = m^{(3+ᾱ)/4} at b = √(0.5(1−ᾱ) ln m).
    b = ntk.b_from_alpha_bar(m, alpha_bar)
    assert seed002.lemma_a10_fire_bound(m, b) / 2 == pytest.approx(seed002.thm_g2_sparsity_order(m, alpha_bar),
                                                                   rel=1e-12)
    # Cor. A.11 is Lemma A.10 at the default b.
    assert seed002.lemma_a10_fire_bound(m, ntk.default_b(m)) == pytest.approx(seed002.cor_a11_fire_bound(m),
                                                                              rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(b=st.floats(0.0, 30.0), m=st.integers(1, 10 ** 12))
def test_fire_bound_is_at_least_four_times_mean(b, m):
    # Q(b) <= ½ e^{−b²/2} (b >= 0), so 2m e^{−b²/2} >= 4·E|S_i(0)|.
    assert 4 * ntk.expected_fire_count(m, b) <= seed002.lemma_a10_fire_bound(m, b) * (1 + 1e-12)


def test_bound_values():
    n, lam, m, d, rho = 10, 0.01, 10 ** 6, 5, 0.1
    assert seed002.drift_radius_R0(n, lam) == pytest.approx(1000.0)
    assert seed002.drift_radius(n, lam, m) == pytest.approx(1.0)
    assert seed002.def_4_5_drift_bound(n, lam, m) == seed002.drift_radius(n, lam, m)
    assert seed002.def_4_5_residual_bound(3.0) == 1.5
    lo, hi = seed002.thm_2_13_lambda_bounds(0.0, 1.0, 10)
    assert (lo, hi) == pytest.approx((1e-4, 1.0))
    lo, hi = seed002.thm_2_13_lambda_bounds(2.0, 0.5, 5)
    assert (lo, hi) == pytest.approx((math.exp(-2) * 0.5 / 2500, math.exp(-2)))
    assert seed002.lemma_2_12_bound(lam) == pytest.approx(0.0075)
    assert seed002.lemma_4_3_gram_deviation_bound(lam) == pytest.approx(0.005)
    assert seed002.lemma_4_3_lambda_min_bound(lam) == pytest.approx(0.005)
    assert seed002.lemma_4_4_jacobian_deviation_order(n, 1000.0, m) == pytest.approx(math.sqrt(10 * 1000) / m ** 0.25)
    assert seed002.lemma_4_4_jacobian_row_deviation_order(1000.0, m) == pytest.approx(math.sqrt(1000) / m ** 0.25)
    assert seed002.lemma_4_4_jacobian_norm_order(n) == pytest.approx(math.sqrt(10))
    assert seed002.lemma_4_2_weight_norm_order(m) == pytest.approx(1000.0)
    assert seed002.lemma_d3_flip_bound(n, rho, 1000.0, m) == pytest.approx(2 * math.log(100) * 1000 * 1000)
    assert seed002.lemma_d3_flip_bound(n, rho, 1000.0, m, include_mean=True) == pytest.approx(
        (2 * math.log(100) + 0.8) * 1000 * 1000)
    assert seed002.lemma_a10_fire_bound(m, 2.0) == pytest.approx(2 * m * math.exp(-2))
    assert seed002.cor_a11_fire_bound(m) == pytest.approx(2 * m ** 0.76)
    assert seed002.lemma_e4_iterations(n, lam) == pytest.approx(math.log(1000))
    assert seed002.eps_reg(lam, n) == pytest.approx(math.sqrt(0.001) / 6)
    req = seed002.thm_4_1_width_requirement(lam, n, d, rho)
    assert req == pytest.approx(max(1e8 * 1e4, 1e4 * 100 * 5 * math.log(1600)))
    assert seed002.thm_4_1_width_ratio(m, lam, n) == pytest.approx(m / 1e12)


def test_every_bound_function_is_documented_and_every_check_has_a_kind():
    # BOUND_KINDS is gone: the kind of each checked statement is its Check record's `kind`.
    bound_names = {name for name in dir(seed002)
                   if name.split("_")[0] in {"thm", "lemma", "cor", "def"} or name == "eps_reg"}
    assert bound_names
    assert {c.kind for c in seed002.CHECKS} <= set(theory.KINDS)
    for name in bound_names:
        assert getattr(seed002, name).__doc__


@pytest.mark.parametrize("call, arg", [
    (lambda: ntk.default_b(0), "m"),
    (lambda: ntk.default_b(-3), "m"),
    (lambda: ntk.default_b(float("nan")), "m"),
    (lambda: ntk.b_from_alpha_bar(100, -0.1), "alpha_bar"),
    (lambda: ntk.b_from_alpha_bar(100, 1.5), "alpha_bar"),
    (lambda: seed002.drift_radius_R0(10, 0.0), "lam"),
    (lambda: seed002.drift_radius_R0(0, 0.1), "n"),
    (lambda: seed002.drift_radius(10, 0.1, 0.5), "m"),
    (lambda: seed002.thm_2_13_lambda_bounds(-1.0, 0.5, 10), "b"),
    (lambda: seed002.thm_2_13_lambda_bounds(1.0, 1.5, 10), "delta"),
    (lambda: seed002.thm_2_13_lambda_bounds(1.0, float("inf"), 10), "delta"),
    (lambda: seed002.thm_2_13_lambda_bounds(1.0, 0.5, 1), "n"),
    (lambda: seed002.lemma_d3_flip_bound(10, 0.0, 5.0, 100), "rho"),
    (lambda: seed002.lemma_d3_flip_bound(10, 1.0, 5.0, 100), "rho"),
    (lambda: seed002.lemma_d3_flip_bound(10, 0.1, -5.0, 100), "R0"),
    (lambda: seed002.lemma_a10_fire_bound(100, -0.5), "b"),
    (lambda: seed002.eps_reg(-1.0, 10), "lam"),
    (lambda: seed002.thm_4_1_width_requirement(0.1, 10, 0, 0.1), "d"),
    (lambda: seed002.thm_4_1_width_ratio(True, 0.1, 10), "m"),
    (lambda: ntk.expected_fire_count("many", 1.0), "m"),
])
def test_bad_inputs_raise_naming_argument(call, arg):
    with pytest.raises(ValueError, match=rf"^{arg}:"):
        call()
