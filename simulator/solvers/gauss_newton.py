"""Dense exact Gauss-Newton (Cai et al. 2019; Zhang, Martens, Grosse 2019).

g = G_t⁻¹ (f_t − y), W ← W − J_tᵀ g. The dense reference every exact variant
of the sublinear method is checked against. O(mnd + mn² + n³) per step.
"""

import numpy as np

from simulator.indexes import ops
from simulator.solvers.base import check_gram, solve_spd
from simulator.solvers.dense import DenseSolver


class GaussNewton(DenseSolver):
    name = "gauss-newton"
    phases = ("gram", "solve", "update")

    def _step(self, record, phase):
        with phase("gram"):
            C = self._overlaps()
            G = self._gram(C)
            check_gram(G, np.diag(C))  # diag(F Fᵀ) = |S_i|: an empty fire set is reported by name
        with phase("solve"):
            g = solve_spd(G, self.f - self.problem.y)
        moved = self._moved(g)  # needs F_t, which the update overwrites; untimed, like every counter
        with phase("update"):
            self._add_jt(-1.0, g)  # W ← W − Jᵀg
            self._forward()
        record.counters["neurons_changed"] = moved
        n, m = self.problem.n, self.problem.m
        self._record_ops(record, {
            "gram": {"dense_overlaps": ops.dense_overlaps(m, n), "gram_scale": ops.gram_scale(n),
                     "check_gram": ops.check_gram(n)},
            "solve": {"residual": n, "solve_spd": ops.solve_spd(n)},
            "update": {"dense_add_jt": self._add_jt_ops(), "dense_forward": self._forward_ops()}})
