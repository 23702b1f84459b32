"""What the half-space-reporting indexes of seed 001 share: explicit weights, moved by the step.

Seed 001's algorithms keep the weights themselves (m, d) — its structures are over vectors w_r, or
are queried with them — and compute each fire pair's leaf <w_r, x_i> when it is needed (the d·Σk
term of its Lemma 4.1), so no (m, n) leaf array exists. A step W − Jᵀg moves the rows of K:
Δw_r = Σ_{j∈F_r} Δc_{r,j} x_j (also kept in the solver's implicit weights, which give drift).
"""

from simulator.indexes import ops
from simulator.indexes.base import PointMajorIndex
from simulator.kernels import jacobian as _jac


class ExplicitWeightsIndex(PointMajorIndex):
    """Subclasses keep the current weights in `self.Wx` (m, d) (or a view of their structure's)."""

    def apply_step(self, fs, g):
        dcv = _jac.step_coefficients(fs.kptr, fs.kpts, fs.aK, g)
        self.W.add_step(fs.K, fs.kptr, fs.kpts, dcv)
        self._move(fs, dcv)

    def _move(self, fs, dcv):
        """Neurons fs.K move by Δw_r = Σ_{j∈F_r} dcv x_j: update the weights and the structure."""
        raise NotImplementedError

    def _forward(self, indptr, indices):
        p = self.problem
        return _jac.forward_explicit(indptr, indices, self.Wx, p.X, p.a, p.b)

    def _forward_ops(self, nnz):
        return ops.forward_explicit(nnz, self.problem.d)

    def update_ops(self, k, nnz, work):
        """The step's coefficients and the moved rows Δw_r = Σ_j Δc_{r,j} x_j (2·nnz·d); a subclass adds
        what its structure does with them."""
        return {"coefficients": ops.coefficients(nnz), "row_deltas": 2 * nnz * self.problem.d}

    def leaves(self):
        return self.problem.X @ self.Wx.T
