"""Seed 001 Algorithm 3 (Theorem 6.2), `index = "data-hsr"`: half-space reporting over the data.

A static structure over the n points {x_i} (they never change); each neuron's dual set
S̃_r = {i : <w_r, x_i> > b} is found by querying it with w_r. Init queries every neuron
(Alg. 3 line 4); a step re-queries only the neurons that moved, K = ∪_i S_i (lines 10-13), and
fixes the point-major fire sets S_i by deleting r from the S_i it left and adding it to those it
joined. Exact: the fire sets are those of dense gradient descent. The structure is a ball tree
(simulator/balltree.py) standing in for the Agarwal–Eppstein–Matoušek structure of the paper.
Counts the tree nodes its queries visit and the memberships it changes.
"""

import numpy as np

from simulator.balltree import BallTree
from simulator.indexes import ops
from simulator.indexes.explicit import ExplicitWeightsIndex
from simulator.kernels import fireset as _fs
from simulator.kernels import jacobian as _jac


class DataHSR(ExplicitWeightsIndex):
    name = "data-hsr"
    counters = ("query_nodes", "memberships_changed")

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        return m * d + m * n // 2 + 2 * n * m  # explicit W, positions (int32), member lists; leaves at Init

    def build(self):
        p = self.problem
        self.Wx = p.W0.copy()
        self.tree = BallTree(p.X, leaf_size=int(self.options["hsr_leaf_size"]))
        self._members, self._pos, self._count = _fs.allocate(p.n, p.m)
        self._pos.fill(-1)
        self.memberships_changed = 0
        nptr, npts = self.tree.query_all(self.Wx, p.b)  # S̃_r(0) for every neuron (Alg. 3 line 4)
        _fs.set_memberships(np.arange(p.m, dtype=np.int64), nptr, npts, self._members, self._pos, self._count)
        self._after_build()

    def _csr(self, sort):
        return _fs.to_csr(self._members, self._count, sort)

    def _move(self, fs, dcv):
        p = self.problem
        _jac.add_step_rows(self.Wx, fs.K, fs.kptr, fs.kpts, dcv, p.X)
        # the new S̃_r of the moved neurons (Alg. 3 line 12), read in place from W
        nptr, npts = self.tree.query_all(self.Wx, p.b, sort=False, rows=fs.K, trusted=True)
        self._new_pairs = int(nptr[-1])  # Σ_r |S̃_r| of the moved neurons (operation counts)
        self.memberships_changed += int(_fs.set_memberships(fs.K, nptr, npts, self._members, self._pos,
                                                            self._count))

    def work(self):
        return {"query_nodes": self.tree.nodes_visited, "memberships_changed": self.memberships_changed}

    def _structure_query_ops(self, fs, work):
        return {"to_csr": ops.to_csr(fs.nnz, self.problem.n)}

    def update_ops(self, k, nnz, work):
        """Moved rows, a ball-tree query per moved neuron, and the incidence fixed from the new dual sets
        (a mark per new pair, a test per (neuron, point), the memberships that changed)."""
        p = self.problem
        terms = super().update_ops(k, nnz, work)
        terms.update(balltree_query=ops.balltree_query(k, work["query_nodes"], self._new_pairs, p.d),
                     set_memberships=k * p.n + self._new_pairs,
                     memberships=ops.memberships(work["memberships_changed"]))
        return terms
