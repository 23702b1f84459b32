"""The paper's index (seed 002 Appendix B, Algorithms 2-4): one threshold-search max-tree per point.

Fire sets by Query at b (Alg. 4, O(|S_i| log m) nodes each), leaves refreshed by the batched Update
(Alg. 3: each touched ancestor recomputed once). Counts every tree node it touches; in the operation
counts (indexes/ops.py) a node touched is one operation.

Leaf order: the neurons of K_0 = ∪_i S_i(0) take the first leaf slots, ascending, then the rest. A step
moves only neurons of K_t ⊆ K_0 (docs/theory.md §6), so every leaf Update writes and every hit Query
finds lies in the first |K_0| slots (~5 % of m at 2^22), and their ancestors in equally contiguous runs
one level up: the walks read a few contiguous megabytes instead of lines spread over the n trees' 2nM
nodes. The trees, their answers and the nodes they touch per changed leaf are the paper's; neuron ids in
and out are the user's (the tree maps them).
"""

import math

import numpy as np

from simulator.indexes import ops
from simulator.indexes.base import FireSets, PointMajorIndex
from simulator.kernels import jacobian as _jac
from simulator.kernels.tree import padded_size
from simulator.tree import ThresholdTree


class TreeIndex(PointMajorIndex):
    name = "tree"
    counters = ("nodes_touched",)
    sorted_K = True  # the batched Update walks leaves in ascending order

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        # the n trees, the leaf matrix U0 they are built from, the slot order both ways and a in slot order,
        # K_0's rows of W0
        return 2 * n * padded_size(m) + n * m + 3 * m + (m if k is None else k) * d

    def build(self):
        p = self.problem
        U = p.X @ p.W0.T  # Init: one GEMM for all leaves (Alg. 2)
        fires = U.max(axis=0) > p.b
        order = np.concatenate([np.flatnonzero(fires), np.flatnonzero(~fires)])  # K_0 first
        self.tree = ThresholdTree.from_leaves(U, order=order)
        del U
        k0 = int(np.count_nonzero(fires))
        # the rows of W0 of the neurons that can ever move, contiguous: the inner-product leaf update reads
        # them in order instead of one page of the m × d W0 per neuron
        self.W.hold_rows(order[:k0], p.W0[order[:k0]])
        self._k0 = k0
        self._LT = self.tree.leaves_by_slot.T  # slot-major read-only view into the trees
        self._a = p.a[order]  # a in slot order, for f_t from the slot-major leaves
        self._after_build()

    def _csr(self, sort):
        return self.tree.query_all(self.problem.b)  # neuron ids, ascending

    def query(self, point_major=False):
        # the step works in leaf slots, which all lie in the first |K_0| (a neuron outside K_0 never moves, so
        # never fires): f from the slot-major leaves, K collected by a scan of the first |K_0| marks instead of
        # a sort, a_r from a in slot order. Only K and the point-major CSR go back to neuron ids — ascending,
        # since K_0's slots hold its neurons in ascending order. Nothing here reads an array of m entries at
        # random (the neuron → slot map, a, the scratch did: 48 of the 69 ms of a query at 2^22). The point-major
        # CSR in neuron ids, and a_r per fire pair, only for a direction that reads them (the sketch).
        p = self.problem
        indptr, slots = self.tree.query_slots(p.b)
        f = _jac.forward(indptr, slots, self._LT, self._a, p.b)
        at, kptr, kpts = _jac.by_neuron(indptr, slots, self._mark, True, self._k0)
        fs = FireSets(self.tree.neurons_at(at), kptr, kpts, self._a[at] / math.sqrt(p.m), f, np.diff(indptr), at=at)
        if point_major:
            fs.indptr, fs.indices, fs.a_pairs = indptr, self.tree.neurons_at(slots), self._a[slots]
        return fs

    def _by_neuron_span(self):
        return self._k0

    def _forward(self, indptr, indices):
        return _jac.forward(indptr, self.tree.slots(indices), self._LT, self._a, self.problem.b)

    leaves_by_point = True  # the trees are point-major: each reads its new leaves contiguously

    def _positions_in_held_rows(self, fs):
        return fs.at  # the held rows are K_0's in slot order

    def _set_leaves(self, fs, UT):
        self.tree.set_leaves_at_slots(fs.at, UT)

    def _shift_leaves(self, fs, deltas):
        self.tree.set_leaves_at_slots(fs.at, np.ascontiguousarray((_jac.gather_leaves(self._LT, fs.at) + deltas).T))

    def leaves(self):
        return np.ascontiguousarray(self.tree.leaves)

    def work(self):
        return {"nodes_touched": self.tree.nodes_touched}

    def _structure_query_ops(self, fs, work):
        return {"tree_nodes": ops.tree_nodes(work["nodes_touched"])}  # Query(i, b) for every i

    def update_ops(self, k, nnz, work):
        terms = super().update_ops(k, nnz, work)
        terms["tree_nodes"] = ops.tree_nodes(work["nodes_touched"])  # the batched Update
        return terms
