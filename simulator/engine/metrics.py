"""Per-iteration metrics, computed from a solver's read-only views outside its timed step.

Cheap metrics (loss, residual, fire counts, |K|) are taken every iteration; the
expensive ones (drift, flips against t = 0, Gram eigenvalues, ‖G_t − G_0‖_F,
full spectrum, measured sketch distortion) at the scenario's cadence and at the
last iteration, NaN in the rows in between.
"""

import numpy as np

from simulator.engine.flip_candidates import FlipCandidates, sorted_distinct
from simulator.engine.trace import DRIFT_QUANTILES
from simulator.kernels.sketch import subspace_distortion_gram

CADENCED = ("flips", "flip_candidates", "drift_max", "drift_fro", "drift_quantiles", "moved_fraction", "lambda_min", "lambda_max",
            "gram_dev_fro", "eigvals", "sketch_eps")


def _symmetric_difference_sizes(a, b):
    """|S_i(t) Δ S_i(0)| per point, from two CSR fire-set pairs."""
    (pa, ia), (pb, ib) = a, b
    n = pa.shape[0] - 1
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        x, y = ia[pa[i]:pa[i + 1]], ib[pb[i]:pb[i + 1]]
        common = np.intersect1d(x, y, assume_unique=True).size
        out[i] = x.size + y.size - 2 * common
    return out


def quantiles_with_zeros(values, m, qs):
    """np.quantile (linear interpolation) of the m-vector that holds `values` (all ≥ 0) at some places and 0 at
    the other m − len(values), without forming it: the drift of all m neurons from the k that moved."""
    values = np.asarray(values, dtype=np.float64)
    zeros = m - values.size
    h = (m - 1) * np.asarray(qs, dtype=np.float64)
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, m - 1)
    need = np.unique(np.concatenate([lo, hi]) - zeros)
    need = need[need >= 0]
    part = np.partition(values, need) if need.size else values

    def at(i):
        return np.where(i < zeros, 0.0, part[np.maximum(i - zeros, 0)] if values.size else 0.0)

    a, b, t = at(lo), at(hi), h - lo
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)  # numpy's own _lerp, so the same bits


class Metrics:
    """Collects state metrics (row t: the state after t steps) for one run."""

    def __init__(self, solver, config):
        self.solver = solver
        self.config = config  # MetricsConfig
        self.fire0 = solver.fire_sets()
        self.flip_candidates = FlipCandidates(solver, self.fire0) if config.flips else None
        self.G0 = solver.gram(self.fire0) if config.gram else None

    def state(self, t, full):
        """Metrics of the current state; `full` adds the cadenced ones."""
        s = self.solver
        p = s.problem
        f = s.predictions()
        r = f - p.y
        fire = s.fire_sets()
        indptr, indices = fire
        row = {
            "loss": 0.5 * float(r @ r),
            "residual_norm": float(np.linalg.norm(r)),
            "fire_count": np.diff(indptr),
            "union_fire": int(sorted_distinct(indices).size),
        }
        if not full:
            return row
        # the drift of the neurons that moved; the other m − k are 0 and counted, never stored
        ids, drift = s.drift_moved()
        m = p.m
        row["drift_max"] = float(drift.max()) if drift.size else 0.0
        row["drift_fro"] = float(np.linalg.norm(drift))
        row["drift_quantiles"] = quantiles_with_zeros(drift, m, DRIFT_QUANTILES)
        row["moved_fraction"] = float(np.count_nonzero(drift) / m)
        if self.config.flips:
            row["flips"] = _symmetric_difference_sizes(fire, self.fire0)
            row.update(self.flip_candidates.moved(ids, drift))
        if self.config.gram or self.config.spectrum:
            G = s.gram(fire)
            w = np.linalg.eigvalsh(G)
            if self.config.gram:
                row["lambda_min"] = float(w[0])
                row["lambda_max"] = float(w[-1])
                row["gram_dev_fro"] = float(np.linalg.norm(G - self.G0))
            if self.config.spectrum:
                row["eigvals"] = w
        return row

    def sketch_eps(self):
        """Def. 2.1's ε measured on the sketch of the last step: ‖I − Uᵀ SᵀS U‖₂, U a basis of range(J_tᵀ)."""
        last = self.solver.last_sketch()
        if last is None:
            return None
        B, G = last
        return float(subspace_distortion_gram(B, G))
