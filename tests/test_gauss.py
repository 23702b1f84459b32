"""Φ and Owen's T (simulator/kernels/gauss.py) against their definitions (tests/naive.py) and SciPy."""

import math

import numpy as np
import pytest
from scipy import special

from simulator.kernels.gauss import ndtr, owens_t
from tests.naive import naive_owens_t


def test_ndtr_against_scipy_and_symmetry():
    x = np.linspace(-8.0, 8.0, 3201)
    got = ndtr(x)
    # both are within ~1e-15 (relative) of 30-digit values at |x| ≤ 5 and ~7e-15 at x = −8 (measured with mpmath)
    np.testing.assert_allclose(got, special.ndtr(x), rtol=1e-14, atol=0)
    np.testing.assert_allclose(got + ndtr(-x), 1.0, rtol=0, atol=2e-16)
    assert ndtr(0.0) == 0.5
    assert ndtr(-np.inf) == 0.0 and ndtr(np.inf) == 1.0
    assert math.isnan(ndtr(np.nan))


@pytest.mark.parametrize("h", [0.0, 0.1, 0.7, 1.5, 3.0, 5.5, 8.0, 12.0])
@pytest.mark.parametrize("a", [0.0, 0.05, 0.3, 0.77, 1.0, 1.6, 7.0, 120.0])
def test_owens_t_against_its_definition(h, a):
    ref = naive_owens_t(h, a)
    got = owens_t(h, a)
    # quad is asked for 2e-14 relative (its floor); the rule itself agrees with 40-digit values to ~1e-16 for a ≤ 1, and the
    # reflection for a > 1 is a difference of tail terms, accurate to ~1e-15 of Q(h)
    tol = 1e-13 * max(abs(ref), 1e-300) + (1e-15 * special.ndtr(-h) if a > 1 else 0.0)
    assert abs(got - ref) <= tol, (got, ref)


def test_owens_t_grid_against_scipy():
    h = np.linspace(0.0, 12.0, 121)[:, None]
    a = np.linspace(0.0, 1.0, 101)[None, :]
    got = owens_t(h, a)
    assert got.shape == (121, 101)
    # SciPy's own error reaches ~2.3e-13 relative on this grid (at h = 3.38, a = 0.86, against 40-digit quadrature)
    np.testing.assert_allclose(got, special.owens_t(h, a), rtol=5e-13, atol=0)


def test_owens_t_identities():
    a = np.linspace(-3.0, 3.0, 61)
    # T(0, a) = arctan(a)/2π; odd in a, even in h
    np.testing.assert_allclose(owens_t(0.0, a), np.arctan(a) / (2 * np.pi), rtol=1e-14, atol=1e-17)
    np.testing.assert_array_equal(owens_t(1.3, -a), -owens_t(1.3, a))
    np.testing.assert_array_equal(owens_t(-1.3, a), owens_t(1.3, a))
    # T(h, 1) = ½Φ(h)(1 − Φ(h)), T(h, 0) = 0, T(h, ∞) = ½Q(|h|)
    h = np.linspace(0.0, 6.0, 31)
    np.testing.assert_allclose(owens_t(h, 1.0), 0.5 * ndtr(h) * ndtr(-h), rtol=1e-13, atol=0)
    assert np.all(owens_t(h, 0.0) == 0.0)
    np.testing.assert_allclose(owens_t(h[1:], np.inf), 0.5 * ndtr(-h[1:]), rtol=1e-15, atol=0)
    assert math.isnan(owens_t(np.nan, 0.5)) and math.isnan(owens_t(0.5, np.nan))


def test_shapes_and_scalars():
    assert isinstance(owens_t(1.0, 0.5), float) and isinstance(ndtr(0.3), float)
    assert owens_t(np.ones((2, 3)), np.array([0.1, 0.2, 0.3])).shape == (2, 3)
    assert ndtr(np.empty((0, 4))).shape == (0, 4)
