"""Least-squares fits shared by the sweep, the sweep reports and the benchmarks (no simulator imports)."""

import math

import numpy as np


def loglog_fit(x, y):
    """Least squares of ln y on ln x: (slope, standard error of the slope, points used).

    Points with x or y not finite and positive are left out. The standard error is the usual
    √(s²/Σ(ln x − mean)²) with s² = residual sum of squares/(N − 2): NaN with fewer than three points
    (or all at one x: slope NaN too).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    npts = int(lx.size)
    if npts < 2:
        return float("nan"), float("nan"), npts
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    if sxx <= 0:
        return float("nan"), float("nan"), npts
    slope = float(np.sum((lx - lx.mean()) * (ly - ly.mean())) / sxx)
    if npts < 3:
        return slope, float("nan"), npts
    resid = ly - ly.mean() - slope * (lx - lx.mean())
    se = math.sqrt(float(np.sum(resid ** 2)) / (npts - 2) / sxx)
    return slope, se, npts
