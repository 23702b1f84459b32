"""Flip candidates: per data point, the neurons that can have flipped since t = 0 (docs/theory.md §2, Lemma D.3).

A neuron r flips on x_i when the sign of ⟨w_r(t), x_i⟩ − b differs from that of ⟨w_r(0), x_i⟩ − b. For a unit
x_i, |⟨w_r(t), x_i⟩ − ⟨w_r(0), x_i⟩| ≤ ‖w_r(t) − w_r(0)‖ =: drift_r(t), so r can have flipped on x_i only if its
margin at t = 0 is within its drift:

    candidates_i(t) = #{r : |⟨w_r(0), x_i⟩ − b| ≤ drift_r(t)}  ≥  flips_i(t)   (Appendix A, "Why the flips are few")

This is the quantity the proof of Lemma D.3 bounds (with drift_r ≤ R0/√m, each neuron is a candidate with
probability ≤ (4/5)·R0/√m, Lemma A.4); measured against the realised drift it shows how much of the bound is the
drift and how much is the proof's slack. A neuron whose margin exceeds its drift never flips.

Metrics (engine/metrics.py) compute it from the solver's views, outside the timed step: ``FlipCandidates(solver)``
at t = 0 computes the leaves ⟨w_r(0), x_i⟩ of the neurons of the fire sets from W0 and X and keeps the margins of the neurons that fire
somewhere at t = 0 (only they can ever move: a step W − J_tᵀg moves only neurons of ∪_i S_i(t), and that union never
grows, docs/theory.md §6); each call with the per-neuron drift (or `moved` with the drift of the neurons that moved) returns the row ``{"flip_candidates": (n,) int64}``,
or ``{}`` for a model without W0 (the multilayer model). Plain NumPy, no solver internals.
"""

import numpy as np

#: relative slack on the comparison margin ≤ drift (leaves and drift carry round-off), so that
#: flips ≤ candidates holds in floating point too; the absolute floor covers a drift of 0
RTOL, ATOL = 1e-9, 1e-12
#: the metric's name in the trace
NAME = "flip_candidates"


def sorted_distinct(ids):
    """The distinct ids, ascending (sort and drop repeats: numpy 2's hashing `unique` is ~10× slower here)."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if ids.size else ids


def count_candidates(margins, drift, rtol=RTOL, atol=ATOL):
    """Per row i of `margins` (n, k): the number of columns r with margins[i, r] ≤ drift[r]·(1 + rtol) + atol.

    margins: |⟨w_r(0), x_i⟩ − b| for k neurons (any order), drift: (k,) their drift ‖w_r(t) − w_r(0)‖ in the
    same order. Returns (n,) int64. O(n·k)."""
    margins = np.asarray(margins, dtype=np.float64)
    drift = np.asarray(drift, dtype=np.float64).reshape(-1)
    if margins.ndim != 2 or margins.shape[1] != drift.size:
        raise ValueError(f"margins must be (n, k) with k = drift.size = {drift.size}, got {margins.shape}")
    limit = drift * (1.0 + rtol) + atol
    return np.count_nonzero(margins <= limit[None, :], axis=1).astype(np.int64)


def flip_candidates(leaves0, b, drift):
    """The candidates of every point from the leaves at t = 0 (n, m), the shift b and the drift (m,): the
    plain definition, O(n·m) (FlipCandidates keeps only the neurons that can move)."""
    leaves0 = np.asarray(leaves0, dtype=np.float64)
    return count_candidates(np.abs(leaves0 - float(b)), drift)


class FlipCandidates:
    """The per-iteration metric ``flip_candidates`` of one run: construct at t = 0, call with the drift.

    Keeps |⟨w_r(0), x_i⟩ − b| for the neurons of ∪_i S_i(0) only (n × |∪_i S_i(0)| floats); a neuron outside that
    union never moves under a step W − J_tᵀg. Should one move all the same (a solver that breaks that premise),
    the row is recorded as −1 (not computed) rather than undercounted."""

    def __init__(self, solver, fire_sets=None):
        """fire_sets: the solver's fire sets at t = 0 (CSR) if the caller has them already (the metrics do)."""
        p = solver.problem
        # the two-layer model's rows of W0: from the solver when it holds them (a view), else held or regenerated
        rows_of = getattr(solver, "w0_rows", None) or getattr(p, "w0_rows", None)
        if rows_of is None and hasattr(p, "W0"):
            rows_of = lambda ids: p.W0[ids]  # noqa: E731  (a problem that holds only W0)
        self.enabled = rows_of is not None and hasattr(p, "X")
        if not self.enabled:
            return
        _, indices = fire_sets if fire_sets is not None else solver.fire_sets()
        self.cols = sorted_distinct(indices)
        self.n, self.m = p.X.shape[0], p.m if hasattr(p, "m") else p.W0.shape[0]
        # only the union's leaves ⟨w_r(0), x_i⟩ (n × |K_0|), never an n × m array: at m = 2^26 that is 8 GiB
        margins = p.X @ rows_of(self.cols).T
        self.margins = np.abs(np.subtract(margins, float(p.b), out=margins), out=margins)

    def __call__(self, drift):
        """{"flip_candidates": (n,) int64} for the per-neuron drift (m,) of the current state; {} when disabled."""
        if not self.enabled:
            return {}
        drift = np.asarray(drift, dtype=np.float64).reshape(-1)
        if drift.size != self.m:
            raise ValueError(f"drift must have m = {self.m} entries, got {drift.size}")
        ids = np.flatnonzero(drift)
        return self.moved(ids, drift[ids])

    def moved(self, ids, values):
        """The same from the drift of the neurons that moved (ids ascending, their drift; 0 elsewhere):
        O(k + n·|K_0|) whatever m is."""
        if not self.enabled:
            return {}
        ids = np.asarray(ids, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if np.array_equal(ids, self.cols):  # every neuron of ∪_i S_i(0) moved (the first step moves them all)
            return {NAME: count_candidates(self.margins, values)}
        at = np.searchsorted(self.cols, ids)
        inside = at < self.cols.size
        inside[inside] = self.cols[at[inside]] == ids[inside]
        if np.any(values[~inside] > 0):
            return {NAME: np.full(self.n, -1, dtype=np.int64)}
        drift = np.zeros(self.cols.size)
        drift[at[inside]] = values[inside]
        return {NAME: count_candidates(self.margins, drift)}
