"""A static structure with drift slack (`index = "drift-slack"`): built once over W0, never updated.

Beyond seed 001, exact. With unit-norm x_i, <w_r(t), x_i> ≤ <w_r(0), x_i> + ‖w_r(t) − w_r(0)‖, so
while every neuron has moved at most D_t, the neurons with <w_r(t), x_i> > b are among those with
<w_r(0), x_i> > b − D_t. A query of the static structure at b − D_t gives that superset, and an
exact filter on the current leaves u_{r,i}(t) = u_{r,i}(0) + Σ_j c_{r,j} <x_j, x_i> (implicit
weights, no d) gives S_i(t): no structure update at all. The structure is seed 002's threshold
trees over the leaves at t = 0 (simulator/tree.py). D_t is kept as an upper bound on the largest
drift (the running max of the moved neurons' drifts, which is all an exact superset needs), with a
relative slack of 1e-12 against round-off. Counts the tree nodes visited and the candidates.
"""

import numpy as np

from simulator.indexes import ops
from simulator.indexes.base import PointMajorIndex
from simulator.kernels import jacobian as _jac
from simulator.kernels.tree import padded_size
from simulator.tree import ThresholdTree

_SLACK = 1e-12  # relative and absolute slack on b − D_t, so that round-off never drops a neuron


class DriftSlack(PointMajorIndex):
    name = "drift-slack"
    counters = ("query_nodes", "candidates")

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        return 2 * n * padded_size(m) + n * m  # the n trees over W0's leaves, and the leaf matrix

    def build(self):
        p = self.problem
        self.tree = ThresholdTree.from_leaves(p.X @ p.W0.T)  # built once: leaves u_{r,i}(0)
        self._LT0 = self.tree.leaves.T
        self.D = 0.0  # ≥ max_r ‖w_r(t) − w_r(0)‖
        self.candidates = 0
        self._after_build()

    def _query(self):
        """(indptr, indices, leaves) of the exact fire sets, through the superset at b − D_t."""
        p = self.problem
        cptr, cidx = self.tree.query_all(p.b - self.D * (1 + _SLACK) - _SLACK)
        self.candidates += int(cidx.shape[0])
        self._cidx = cidx  # the candidates, for the operation counts (the filter's cost depends on them)
        return _jac.filter_by_current_leaves(cptr, cidx, self._LT0, self.W.row, self.W.C, p.XXt, p.b)

    def query(self, point_major=False):
        p = self.problem
        indptr, indices, leaves = self._query()
        return self._fire_sets(indptr, indices, _jac.forward_pairs(indptr, indices, leaves, p.a, p.b))

    def _csr(self, sort):
        indptr, indices, _ = self._query()  # ascending per point: the trees report in order
        return indptr, indices

    def predictions(self):
        p = self.problem
        indptr, indices, leaves = self._query()
        return _jac.forward_pairs(indptr, indices, leaves, p.a, p.b)

    def apply_step(self, fs, g):
        p, W = self.problem, self.W
        W.add_step(fs.K, fs.kptr, fs.kpts, _jac.step_coefficients(fs.kptr, fs.kpts, fs.aK, g))
        c = W.C[W.row[fs.K]]  # the moved neurons' coefficients: drift² = cᵀ (X Xᵀ) c
        if c.shape[0]:
            self.D = max(self.D, float(np.sqrt(max(np.einsum("ij,jk,ik->i", c, p.XXt, c).max(), 0.0))))

    def leaves(self):
        U = self.problem.X @ self.problem.W0.T
        ids = np.flatnonzero(self.W.row >= 0)
        U[:, ids] += self.problem.XXt @ self.W.C[self.W.row[ids]].T
        return U

    def work(self):
        return {"query_nodes": self.tree.nodes_touched, "candidates": self.candidates}

    def _structure_query_ops(self, fs, work):
        """The trees queried at b − D_t, then the exact filter: a test per candidate, and for a candidate
        that has moved its leaf u(0) + c_r·(XXᵀ)_{·i} (2n)."""
        p = self.problem
        moved = int(np.count_nonzero(self.W.row[self._cidx] >= 0))
        return {"tree_nodes": ops.tree_nodes(work["query_nodes"]),
                "drift_filter": ops.drift_filter(work["candidates"], moved, p.n)}

    def update_ops(self, k, nnz, work):
        return {"coefficients": ops.coefficients(nnz), "drift_bound": ops.drift_bound(k, self.problem.n)}
