"""The paper's index (seed 002 Appendix B, Algorithms 2-4): one threshold-search max-tree per point.

Fire sets by Query at b (Alg. 4, O(|S_i| log m) nodes each), leaves refreshed by the batched Update
(Alg. 3: each touched ancestor recomputed once). Counts every tree node it touches; in the operation
counts (indexes/ops.py) a node touched is one operation.
"""

from simulator.indexes import ops
from simulator.indexes.base import PointMajorIndex
from simulator.kernels import jacobian as _jac
from simulator.kernels.tree import padded_size
from simulator.tree import ThresholdTree


class TreeIndex(PointMajorIndex):
    name = "tree"
    counters = ("nodes_touched",)
    sorted_K = True  # the batched Update walks leaves in ascending order

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        return 2 * n * padded_size(m) + n * m  # the n trees, and the leaf matrix U0 they are built from

    def build(self):
        p = self.problem
        self.tree = ThresholdTree.from_leaves(p.X @ p.W0.T)  # Init: one GEMM for all leaves (Alg. 2)
        self._LT = self.tree.leaves.T  # neuron-major read-only view into the trees
        self._after_build()

    def _csr(self, sort):
        return self.tree.query_all(self.problem.b)  # ascending by construction

    def _set_leaves(self, fs, rows):
        self.tree.set_leaves(fs.K, rows, trusted=True)

    def _shift_leaves(self, fs, deltas):
        self.tree.set_leaves(fs.K, _jac.gather_leaves(self._LT, fs.K) + deltas, trusted=True)

    def work(self):
        return {"nodes_touched": self.tree.nodes_touched}

    def _structure_query_ops(self, fs, work):
        return {"tree_nodes": ops.tree_nodes(work["nodes_touched"])}  # Query(i, b) for every i

    def update_ops(self, k, nnz, work):
        terms = super().update_ops(k, nnz, work)
        terms["tree_nodes"] = ops.tree_nodes(work["nodes_touched"])  # the batched Update
        return terms
