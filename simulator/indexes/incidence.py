"""The direct fire-set index of docs/theory.md §6 (`index = "fireset"`): the incidence kept as it changes.

Per point an unordered member list with inverse positions, and the leaves neuron-major (m, n); a
changed neuron is added or swap-removed in O(1) per point (kernels/fireset.py). Valid for any
change of any neuron. Counts the memberships it changes.
"""

from simulator.indexes import ops
from simulator.indexes.base import PointMajorIndex
from simulator.tree import FireSetIndex


class IncidenceIndex(PointMajorIndex):
    name = "fireset"
    counters = ("memberships_changed",)

    @classmethod
    def memory_words(cls, n, d, m, k=None):
        return 3 * n * m  # leaves, member lists, positions

    def build(self):
        p = self.problem
        self.incidence = FireSetIndex.from_leaves_by_neuron(p.W0 @ p.X.T, p.b)
        self._LT = self.incidence.leaves_by_neuron
        self._after_build()

    def _csr(self, sort):
        return self.incidence.csr(sort=sort)

    def _set_leaves(self, fs, rows):
        self.incidence.update(fs.K, rows, trusted=True)

    def _shift_leaves(self, fs, deltas):
        self.incidence.add(fs.K, deltas, trusted=True)

    def work(self):
        return {"memberships_changed": self.incidence.memberships_changed}

    def _structure_query_ops(self, fs, work):
        return {"to_csr": ops.to_csr(fs.nnz, self.problem.n)}

    def update_ops(self, k, nnz, work):
        terms = super().update_ops(k, nnz, work)
        terms.update(threshold=ops.threshold(k, self.problem.n),
                     memberships=ops.memberships(work["memberships_changed"]))
        return terms
