"""The standard normal distribution function and Owen's T function, compiled.

The exact shifted NTK (simulator/ntk.py) needs both; SciPy has them, but importing `scipy.special` costs
~0.35 s, a tenth of a whole `simulator run` at m = 2^22. Here they are two small Numba kernels:

    ndtr(x)   = Φ(x) = P(Z ≤ x) = erfc(−x/√2)/2                     (the C library's erfc)
    owens_t(h, a) = (1/2π) ∫_0^a exp(−h²(1 + t²)/2) / (1 + t²) dt     (Owen 1956)

For |a| ≤ 1 the integral is taken by 64-point Gauss–Legendre on [0, |a|]: the integrand is analytic there
(its poles are at t = ±i), so the rule converges geometrically; 48 points already agree with 40-digit
quadrature to ~1e-16 relative over h ∈ [0, 37], a ∈ [0, 1] (tests/test_gauss.py checks 64 against
SciPy's quad). For |a| > 1, Owen's reflection T(h, a) = ½Q(h) + ½Q(ah) − Q(h)Q(ah) − T(ah, 1/a) (h ≥ 0,
Q = 1 − Φ) brings it back to |a| < 1. T is even in h and odd in a.
"""

import math

import numpy as np
from numba import njit

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)
_SQRT1_2 = 0.7071067811865476
_INV_2PI = 0.15915494309189535


@njit(cache=True)
def _ndtr(x):
    return 0.5 * math.erfc(-x * _SQRT1_2)


@njit(cache=True)
def _owens_t_unit(h, a):
    """T(h, a) for 0 ≤ a ≤ 1 by Gauss–Legendre on [0, a]."""
    half = 0.5 * a
    hh = -0.5 * h * h
    s = 0.0
    for k in range(_NODES.shape[0]):
        t = half * (_NODES[k] + 1.0)
        u = 1.0 + t * t
        s += _WEIGHTS[k] * math.exp(hh * u) / u
    return half * s * _INV_2PI


@njit(cache=True)
def _owens_t(h, a):
    if math.isnan(h) or math.isnan(a):
        return math.nan
    h = abs(h)
    sign = 1.0
    if a < 0.0:
        a, sign = -a, -1.0
    if a <= 1.0:
        return sign * _owens_t_unit(h, a)
    if math.isinf(a):  # T(h, ∞) = ½Q(h) for h > 0 (¼ at h = 0)
        q = _ndtr(-h) if h > 0.0 else 0.5
        return sign * 0.5 * q
    ah = a * h
    qh, qah = _ndtr(-h), _ndtr(-ah)
    return sign * (0.5 * qh + 0.5 * qah - qh * qah - _owens_t_unit(ah, 1.0 / a))


@njit(cache=True)
def _ndtr_flat(x, out):
    for i in range(x.shape[0]):
        out[i] = _ndtr(x[i])


@njit(cache=True)
def _owens_t_flat(h, a, out):
    for i in range(h.shape[0]):
        out[i] = _owens_t(h[i], a[i])


def ndtr(x):
    """Φ(x), elementwise."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape)
    _ndtr_flat(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out[()]  # a NumPy scalar for scalar input, as a ufunc returns


def owens_t(h, a):
    """Owen's T(h, a), elementwise over the broadcast of h and a."""
    h, a = np.broadcast_arrays(np.asarray(h, dtype=np.float64), np.asarray(a, dtype=np.float64))
    out = np.empty(h.shape)
    _owens_t_flat(np.ascontiguousarray(h).reshape(-1), np.ascontiguousarray(a).reshape(-1), out.reshape(-1))
    return out[()]  # a NumPy scalar for scalar input, as a ufunc returns
